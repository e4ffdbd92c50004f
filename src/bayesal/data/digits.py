"""Digits: scikit-learn's bundled 8x8 handwritten digits, a small image benchmark."""

from __future__ import annotations

import torch

from bayesal.data._split import stratified_split
from bayesal.data.dataset import Dataset


def load_digits(test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """Digits as a :class:`Dataset`: float32 images ``[N, 1, 8, 8]`` in [0, 1], int64
    labels in 0..9.

    ``sklearn.datasets.load_digits`` (1,797 images of 8x8 pixels with 17 grey levels,
    bundled with scikit-learn, no download), pixels divided by 16, split by
    ``train_test_split(test_size=test_fraction, stratify=labels, random_state=seed)``:
    with the defaults 1,257 training images (the pool) and 540 test images.
    Deterministic in ``seed``.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    x, y = sklearn_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = stratified_split(x, y, test_fraction, seed)

    def images(a: object) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0

    return Dataset(
        name="digits",
        train_x=images(x_tr),
        train_y=torch.as_tensor(y_tr, dtype=torch.int64),
        test_x=images(x_te),
        test_y=torch.as_tensor(y_te, dtype=torch.int64),
        num_classes=10,
    )
