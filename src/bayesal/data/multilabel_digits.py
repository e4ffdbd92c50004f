"""Digits with several binary labels per image: a multi-label task from scikit-learn's
bundled 8x8 digits (``task: multilabel``)."""

from __future__ import annotations

import numpy as np
import torch

from bayesal.data._split import stratified_split
from bayesal.data.task_dataset import TaskDataset

#: The binary labels of an image of digit d, in column order.
#: ``even``: d in {0, 2, 4, 6, 8}; ``greater_than_4``: d >= 5; ``closed_loop``: the
#: written digit has an enclosed region, d in {0, 6, 8, 9} (4 is written open in this
#: data more often than closed, so it counts as open); ``prime``: d in {2, 3, 5, 7}.
DIGIT_LABELS: dict[str, frozenset[int]] = {
    "even": frozenset({0, 2, 4, 6, 8}),
    "greater_than_4": frozenset({5, 6, 7, 8, 9}),
    "closed_loop": frozenset({0, 6, 8, 9}),
    "prime": frozenset({2, 3, 5, 7}),
}


def digit_label_rows(digits: np.ndarray) -> np.ndarray:
    """The ``[n, 4]`` int64 0/1 rows of :data:`DIGIT_LABELS` for digits ``[n]`` (0..9)."""
    digits = np.asarray(digits)
    return np.stack(
        [np.isin(digits, sorted(members)) for members in DIGIT_LABELS.values()], axis=1
    ).astype(np.int64)


def load_digits_multilabel(test_fraction: float = 0.3, seed: int = 0) -> TaskDataset:
    """Digits as a multi-label :class:`~bayesal.data.task_dataset.TaskDataset`: float32
    images ``[N, 1, 8, 8]`` in [0, 1] and int64 labels ``[N, 4]`` in {0, 1}, the columns
    of :data:`DIGIT_LABELS` (even, greater than 4, has a closed loop, prime).

    The images and the split are those of the ``digits`` dataset
    (``sklearn.datasets.load_digits``, pixels divided by 16, ``train_test_split(
    test_size=test_fraction, stratify=digit, random_state=seed)``): with the defaults
    1,257 pool images and 540 test images. The labels are functions of the digit, so
    they are correlated: the 10 digits give 8 distinct label vectors (5 and 7 share one,
    and so do 6 and 8, so the labels do not tell those digits apart). ``even`` and
    ``greater_than_4`` are about 50% positive, ``closed_loop`` and ``prime`` about 40%.
    Deterministic in ``seed``.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    x, y = sklearn_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = stratified_split(x, y, test_fraction, seed)

    def images(a: object) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0

    return TaskDataset(
        name="digits_multilabel",
        train_x=images(x_tr),
        train_y=torch.from_numpy(digit_label_rows(y_tr)),
        test_x=images(x_te),
        test_y=torch.from_numpy(digit_label_rows(y_te)),
        num_classes=len(DIGIT_LABELS),
        task="multilabel",
    )
