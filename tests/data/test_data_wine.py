"""The built-in wine dataset: sizes, stratified split, train-only standardisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bayesal.data.registry import available_datasets, load_dataset
from bayesal.errors import InvalidInputError


def test_wine_split_and_scaling() -> None:
    d = load_dataset("wine")
    assert "wine" in available_datasets()
    assert d.train_x.shape == (124, 13) and d.test_x.shape == (54, 13)
    assert d.train_x.dtype == torch.float32 and d.train_y.dtype == torch.int64
    assert d.num_classes == 3
    # Stratified: each class keeps its share (59 / 71 / 48 of 178) on both sides.
    assert np.bincount(d.train_y.numpy()).tolist() == [41, 50, 33]
    assert np.bincount(d.test_y.numpy()).tolist() == [18, 21, 15]
    # Standardised with the training split's statistics only.
    assert torch.allclose(d.train_x.mean(0), torch.zeros(13), atol=1e-5)
    assert torch.allclose(d.train_x.std(0, unbiased=False), torch.ones(13), atol=1e-5)
    assert not torch.allclose(d.test_x.mean(0), torch.zeros(13), atol=1e-3)


def test_wine_is_deterministic_in_its_seed() -> None:
    a, b, c = load_dataset("wine"), load_dataset("wine"), load_dataset("wine", seed=1)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, c.train_x)
    raw = load_dataset("wine", standardize=False, test_fraction=0.5)
    assert len(raw.train_y) == 89 and raw.train_x.max() > 100  # proline, in mg/l


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"seed": -1}, "seed"),
        ({"test_fraction": 0.001}, "test_fraction"),
    ],
)
def test_wine_bad_parameters(params: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_dataset("wine", **params)
