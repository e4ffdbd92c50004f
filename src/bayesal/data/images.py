"""A folder of images, one subfolder per class, read with Pillow.

Layout::

    root/
      cat/      001.png  002.jpg ...   labelled "cat"
      dog/      a.jpeg ...             labelled "dog"
      x.png  y.jpg ...                 unlabelled (label MISSING)

Class indices follow the sorted class folder names (an empty class folder still counts
as a class). Images are PNG or JPEG (``.png``, ``.jpg``, ``.jpeg``, any case), read
directly inside ``root`` or a class folder (not deeper); other files and names starting
with ``.`` are ignored. Pillow is imported only when images are read.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesal.data.dataset import Dataset
from bayesal.data.files import (
    MISSING,
    ArrayData,
    PathLike,
    _check_fraction,
    _check_seed,
    _dataset,
    _require_labels,
    _split_or_test,
)
from bayesal.errors import DataNotFoundError, InvalidInputError

__all__ = ["IMAGE_SUFFIXES", "load_image_folder", "read_image_folder"]

#: File name endings read as images (compared case-insensitively).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_MODES = {"L": 1, "RGB": 3}


def _existing_dir(root: PathLike, what: str) -> Path:
    if not isinstance(root, str | os.PathLike):
        raise InvalidInputError(f"{what} must be a path, got {type(root).__name__}")
    folder = Path(root).expanduser()
    if not folder.exists():
        raise DataNotFoundError(
            f"{what} {str(root)!r} does not exist (looked for {folder.absolute()}; relative "
            "paths are relative to the current working directory)"
        )
    if not folder.is_dir():
        raise InvalidInputError(f"{what} {str(root)!r} is not a folder")
    return folder


def _check_size(size: Any) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size, size)
    if (
        isinstance(size, Sequence)
        and not isinstance(size, str)
        and len(size) == 2
        and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in size)
        and all(s > 0 for s in size)
    ):
        return int(size[0]), int(size[1])
    raise InvalidInputError(f"size must be (height, width) in pixels, or one int; got {size!r}")


def _check_mode(mode: Any) -> int:
    if mode not in _MODES:
        raise InvalidInputError(f"mode must be 'L' (grayscale) or 'RGB', got {mode!r}")
    return _MODES[mode]


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )


def _read_image(file: Path, mode: str, size: tuple[int, int] | None) -> NDArray[np.uint8]:
    """One image as uint8 ``[H, W]`` (mode L) or ``[H, W, 3]`` (RGB)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(file) as opened:
            image = ImageOps.exif_transpose(opened).convert(mode)
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidInputError(f"{file}: cannot read it as an image ({exc})") from None


def read_image_folder(
    root: PathLike, *, size: Sequence[int] | int | None = None, mode: str = "L"
) -> ArrayData:
    """Read ``root/<class>/*.png|jpg|jpeg`` (labelled) and ``root/*.png|jpg|jpeg``
    (unlabelled) into features and labels.

    Args:
        root: the folder (see the module docstring for the layout).
        size: ``(height, width)`` (or one int for a square): every image is resized to it
            (bilinear). None keeps the images' size, which must then be the same for all.
        mode: ``"L"`` (grayscale, one channel) or ``"RGB"`` (three channels).

    Returns:
        ArrayData with ``x`` float32 ``[N, channels, H, W]``, pixels scaled to ``[0, 1]``;
        ``y`` the class index (sorted class folder names, ``class_names``) or
        :data:`MISSING` for images directly in ``root``; ``item_names`` the paths relative
        to ``root`` (``"cat/001.png"``). Items are ordered by class folder, then file
        name, then the unlabelled images by file name.

    Raises:
        DataNotFoundError: ``root`` does not exist.
        InvalidInputError: no images, an unreadable image, images of different sizes
            without ``size``, a bad ``size`` or ``mode``.
    """
    folder = _existing_dir(root, "image folder")
    channels, size = _check_mode(mode), _check_size(size)
    class_names = tuple(
        sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    )
    files: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(class_names):
        found = _images_in(folder / name)
        files += found
        labels += [index] * len(found)
    unlabelled = _images_in(folder)
    files += unlabelled
    labels += [MISSING] * len(unlabelled)
    if not files:
        raise InvalidInputError(
            f"{folder}: no images found; expected {folder}/<class>/*.png (or .jpg, .jpeg) "
            "in one folder per class, and / or unlabelled images directly inside it"
        )

    x: NDArray[np.float32] | None = None
    for i, file in enumerate(files):
        pixels = _read_image(file, mode, size)
        if x is None:
            x = np.empty((len(files), channels, *pixels.shape[:2]), dtype=np.float32)
            first = file
        elif pixels.shape[:2] != x.shape[2:]:
            h0, w0 = x.shape[2:]
            h, w = pixels.shape[:2]
            raise InvalidInputError(
                f"images differ in size: {first} is {h0}x{w0}, {file} is {h}x{w} (height x "
                "width); pass size=(height, width) to resize every image"
            )
        x[i] = (pixels.reshape(*pixels.shape[:2], channels).transpose(2, 0, 1)) / 255.0
    assert x is not None
    item_names = tuple(f.relative_to(folder).as_posix() for f in files)
    return ArrayData(x, np.asarray(labels, dtype=np.int64), class_names, item_names)


def load_image_folder(
    root: PathLike,
    test_root: PathLike | None = None,
    test_fraction: float = 0.0,
    size: Sequence[int] | int | None = None,
    mode: str = "L",
    seed: int = 0,
) -> Dataset:
    """A labelled image folder as a :class:`Dataset` (registered as ``image_folder``).

    Args:
        root: ``root/<class>/*.png|jpg|jpeg`` (see :func:`read_image_folder`); every image
            must be in a class folder (a simulated study needs every label).
        test_root: a second folder of the same layout, the test set; class names of both
            folders are merged (sorted union).
        test_fraction: without ``test_root``, the fraction of images moved to the test set
            (``round(test_fraction * N)``, at least one, drawn by
            ``numpy.random.default_rng(seed)``; both parts keep their order).
        size: ``(height, width)`` to resize every image to; needed when sizes differ.
        mode: ``"L"`` (grayscale) or ``"RGB"``.
        seed: the seed of the test split.

    Returns:
        Dataset named after the folder: inputs float32 ``[N, channels, H, W]`` in
        ``[0, 1]``, ``num_classes`` the number of class folders (both roots).

    Raises:
        DataNotFoundError, InvalidInputError: as :func:`read_image_folder`; also for
            unlabelled images, or both ``test_root`` and ``test_fraction``.
    """
    test_fraction, seed = _check_fraction(test_fraction), _check_seed(seed)
    train = read_image_folder(root, size=size, mode=mode)
    _require_labels(train, str(root), "read_image_folder")
    test = None
    if test_root is not None:
        test = read_image_folder(test_root, size=size, mode=mode)
        _require_labels(test, str(test_root), "read_image_folder")
        if test.input_shape != train.input_shape and size is None:
            raise InvalidInputError(
                f"images of {test_root} have shape {list(test.input_shape)} but images of "
                f"{root} have shape {list(train.input_shape)}; pass size=(height, width)"
            )
    train_x, train_y, test_x, test_y, num_classes = _split_or_test(
        train, test, test_fraction, seed, str(root), str(test_root)
    )
    name = Path(root).expanduser().resolve().name or "image_folder"
    return _dataset(name, train_x, train_y, test_x, test_y, num_classes)
