"""The ``digits`` dataset: scikit-learn's 8x8 digits as images, split by class."""

from __future__ import annotations

import numpy as np
import pytest

from bayesal.data import load_dataset
from bayesal.errors import InvalidInputError


def test_digits_are_8x8_images_in_unit_range_split_stratified() -> None:
    data = load_dataset("digits")
    assert data.train_x.shape == (1257, 1, 8, 8) and data.test_x.shape == (540, 1, 8, 8)
    assert float(data.train_x.min()) == 0.0 and float(data.train_x.max()) == 1.0
    assert data.num_classes == 10
    train_share = np.bincount(data.train_y.numpy()) / 1257
    test_share = np.bincount(data.test_y.numpy()) / 540
    assert np.abs(train_share - test_share).max() < 0.01
    again = load_dataset("digits")
    assert (again.train_x == data.train_x).all()


def test_digits_refuses_a_bad_split() -> None:
    with pytest.raises(InvalidInputError, match="test_fraction"):
        load_dataset("digits", test_fraction=1.5)
