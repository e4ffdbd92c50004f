"""Shapes: a synthetic semantic-segmentation dataset generated in code (no download).

Each image is a grey ``image_size x image_size`` picture with one to ``max_shapes``
filled shapes (a circle, an axis-aligned square or a triangle) on a noisy background; its
mask gives every pixel's class:

====== ============
class  what
====== ============
0      background
1      circle
2      square
3      triangle
====== ============

How an image is drawn (numpy ``default_rng(seed)``, one stream for the whole dataset, so
the same arguments give the same tensors):

* background: a level ``U[0, 0.2)`` plus a horizontal or vertical ramp of slope up to
  ``0.1`` across the image;
* each shape: a type chosen uniformly, a size ``U[0.12, 0.28) * image_size`` (a circle's
  radius, half a square's side, two thirds of a triangle's circumradius: the three
  cover similar areas), a centre at least half that size from the border (a shape may
  still be cut by it), an intensity from its type's band (circle ``U[0.85, 1.0)``, square
  ``U[0.65, 0.8)``, triangle ``U[0.45, 0.6)``); a triangle has a random rotation. Later
  shapes are painted over earlier ones, in the image and the mask alike;
* then i.i.d. Gaussian noise of standard deviation ``noise`` (default 0.1) on every
  pixel, and a clip to ``[0, 1]``.

The bands are 0.05 apart and the noise spreads each pixel by 0.1, so a single pixel's
brightness does not tell its class: a network has to pool its neighbourhood (and can use
the outline). Measured while choosing these settings (a U-Net of
:mod:`bayesal.models.unet`, base 8, 500 Adam steps at 3e-3, one training run each): with
the first drafts (one
intensity range for every type) 36 labelled images gave a mIoU near 0.35 (the types were
not told apart); with these bands, about 0.6 at 8 images and 0.86 at 36.

``load_shapes()`` with the defaults: 400 training images (the pool) and 200 test images
of ``[1, 32, 32]`` (float32), masks ``[32, 32]`` (int64, classes 0..3); the test images
are drawn after the training images from the same stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from bayesal.data.task_dataset import TaskDataset
from bayesal.errors import InvalidInputError

__all__ = ["SHAPE_CLASSES", "SegmentationDataset", "load_shapes", "make_shapes"]

# Intensity bands of the shape types (class -> [low, high)): overlapping each other's and
# the background's once the pixel noise is added.
_INTENSITY = {1: (0.85, 1.0), 2: (0.65, 0.8), 3: (0.45, 0.6)}

#: The class names of the shapes dataset, by class index.
SHAPE_CLASSES: tuple[str, ...] = ("background", "circle", "square", "triangle")


@dataclass(frozen=True)
class SegmentationDataset(TaskDataset):
    """A :class:`~bayesal.data.task_dataset.TaskDataset` of task ``"segmentation"`` whose
    labels are masks: images ``[N, channels, H, W]`` and int64 masks ``[N, H, W]`` with
    classes in ``[0, num_classes)`` (the per-pixel labels of
    ``ActiveLearner(task="segmentation")`` and of a config's ``task: segmentation``)."""

    task: str = "segmentation"

    def __post_init__(self) -> None:
        if self.task != "segmentation":
            raise InvalidInputError(
                f"a SegmentationDataset's task is 'segmentation', got {self.task!r}"
            )
        pairs = [("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)]
        if self.val_x is not None or self.val_y is not None:
            if self.val_x is None or self.val_y is None:
                raise InvalidInputError("val_x and val_y must be given together")
            pairs.append(("val", self.val_x, self.val_y))
        for split, x, y in pairs:
            if x.ndim != 4 or y.ndim != 3:
                raise InvalidInputError(
                    f"{split}: images must be [N, channels, H, W] and masks [N, H, W], got "
                    f"{tuple(x.shape)} and {tuple(y.shape)}"
                )
            if len(x) != len(y) or tuple(x.shape[2:]) != tuple(y.shape[1:]):
                raise InvalidInputError(
                    f"{split}: masks {tuple(y.shape)} do not match images {tuple(x.shape)}"
                )
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise InvalidInputError(
                    f"{split} mask classes must lie in [0, {self.num_classes}), "
                    f"got [{int(y.min())}, {int(y.max())}]"
                )


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _draw_image(
    rng: np.random.Generator, size: int, max_shapes: int, noise: float
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    level = rng.uniform(0.0, 0.2)
    slope = rng.uniform(-0.1, 0.1)
    ramp = (xx if rng.random() < 0.5 else yy) / size
    image = level + slope * ramp
    mask = np.zeros((size, size), dtype=np.int64)
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        kind = int(rng.integers(1, 4))
        extent = rng.uniform(0.12, 0.28) * size
        cy, cx = rng.uniform(0.5 * extent, size - 0.5 * extent, size=2)
        intensity = rng.uniform(*_INTENSITY[kind])
        if kind == 1:  # circle of radius `extent`
            inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= extent**2
        elif kind == 2:  # square of half-side `extent`
            inside = (np.abs(yy - cy) <= extent) & (np.abs(xx - cx) <= extent)
        else:  # triangle of circumradius 1.5 `extent`, rotated by `angle`
            angle = rng.uniform(0.0, 2 * math.pi)
            radius = 1.5 * extent
            corners = [
                (cx + radius * math.cos(angle + t), cy + radius * math.sin(angle + t))
                for t in (0.0, 2 * math.pi / 3, 4 * math.pi / 3)
            ]
            signs = []
            for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
                signs.append((x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0) >= 0)
            inside = (signs[0] & signs[1] & signs[2]) | (~signs[0] & ~signs[1] & ~signs[2])
        image[inside] = intensity
        mask[inside] = kind
    image = image + rng.normal(0.0, noise, size=image.shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32), mask


def make_shapes(
    n: int, *, image_size: int = 32, max_shapes: int = 3, noise: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` shapes images ``[n, 1, image_size, image_size]`` (float32 in [0, 1]) and
    their masks ``[n, image_size, image_size]`` (int64 in 0..3), from
    ``numpy.random.default_rng(seed)`` (see the module docstring).

    Raises:
        InvalidInputError: ``n < 0``, ``image_size < 8``, ``max_shapes < 1``, a negative
            or non-finite ``noise`` or a negative seed.
    """
    n = _check_int("n", n, 0)
    image_size = _check_int("image_size", image_size, 8)
    max_shapes = _check_int("max_shapes", max_shapes, 1)
    seed = _check_int("seed", seed, 0)
    if (
        isinstance(noise, bool)
        or not isinstance(noise, int | float)
        or not (math.isfinite(noise) and noise >= 0)
    ):
        raise InvalidInputError(f"noise must be a finite number >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    images = np.empty((n, 1, image_size, image_size), dtype=np.float32)
    masks = np.empty((n, image_size, image_size), dtype=np.int64)
    for i in range(n):
        images[i, 0], masks[i] = _draw_image(rng, image_size, max_shapes, float(noise))
    return torch.from_numpy(images), torch.from_numpy(masks)


def load_shapes(
    n_train: int = 400,
    n_test: int = 200,
    image_size: int = 32,
    max_shapes: int = 3,
    noise: float = 0.1,
    seed: int = 0,
) -> SegmentationDataset:
    """The shapes dataset (module docstring) as a :class:`SegmentationDataset`:
    ``n_train`` pool images and ``n_test`` test images, 4 classes (:data:`SHAPE_CLASSES`).
    The test images follow the training images in one seeded stream, so ``n_train``
    changes them; the same arguments give the same tensors."""
    n_train = _check_int("n_train", n_train, 1)
    n_test = _check_int("n_test", n_test, 0)
    x, y = make_shapes(
        n_train + n_test, image_size=image_size, max_shapes=max_shapes, noise=noise, seed=seed
    )
    return SegmentationDataset(
        name="shapes",
        train_x=x[:n_train].clone(),
        train_y=y[:n_train].clone(),
        test_x=x[n_train:].clone(),
        test_y=y[n_train:].clone(),
        num_classes=len(SHAPE_CLASSES),
    )
