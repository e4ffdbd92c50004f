"""TwoMoons loader and the dataset registry."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from bayesal.data import available_datasets, load_dataset, load_two_moons
from bayesal.errors import InvalidInputError


def test_two_moons_shapes_and_types() -> None:
    ds = load_two_moons(n_train=50, n_test=30, noise=0.1, seed=0)
    assert ds.train_x.shape == (50, 2) and ds.test_x.shape == (30, 2)
    assert ds.train_x.dtype == torch.float32 and ds.train_y.dtype == torch.int64
    assert ds.num_classes == 2
    assert set(ds.train_y.tolist()) == {0, 1}


def test_two_moons_is_deterministic_in_seed() -> None:
    a = load_two_moons(n_train=40, n_test=10, seed=3)
    b = load_two_moons(n_train=40, n_test=10, seed=3)
    c = load_two_moons(n_train=40, n_test=10, seed=4)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, c.train_x)


def test_two_moons_without_noise_lies_on_the_moons() -> None:
    ds = load_two_moons(n_train=100, n_test=1, noise=0.0, seed=0)
    upper = ds.train_x[ds.train_y == 0]  # class 0: unit half circle centred at the origin
    assert torch.allclose(upper.norm(dim=1), torch.ones(len(upper)), atol=1e-5)


def test_registry() -> None:
    assert "two_moons" in available_datasets()
    ds = load_dataset("two_moons", n_train=20, n_test=5, seed=1)
    assert torch.equal(ds.train_x, load_two_moons(n_train=20, n_test=5, seed=1).train_x)
    with pytest.raises(InvalidInputError, match="unknown dataset 'nope'"):
        load_dataset("nope")
    with pytest.raises(InvalidInputError, match="n_train"):
        load_dataset("two_moons", size=3)


def test_mnist_loaders_are_registered_lazily() -> None:
    if importlib.util.find_spec("bayesal.data.mnist") is None:
        pytest.skip("bayesal.data.mnist is not part of this installation")
    assert {"mnist", "fashion_mnist", "repeated_mnist"} <= set(available_datasets())
    with pytest.raises(InvalidInputError, match="dataset 'fashion_mnist'.*bogus"):
        load_dataset("fashion_mnist", bogus=1)  # rejected before any file is read
