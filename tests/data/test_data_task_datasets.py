"""The multi-label digits and the regression tables (diabetes, make_friedman1): shapes,
splits, labels against brute force, standardisation on the train split only, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bayesal.data.dataset import Dataset
from bayesal.data.multilabel_digits import DIGIT_LABELS, digit_label_rows
from bayesal.data.registry import load_dataset
from bayesal.data.task_dataset import TaskDataset, dataset_task
from bayesal.errors import InvalidInputError


def test_digit_label_rows_match_a_hand_written_table() -> None:
    # digit: even, > 4, closed loop, prime
    table = {
        0: [1, 0, 1, 0], 1: [0, 0, 0, 0], 2: [1, 0, 0, 1], 3: [0, 0, 0, 1], 4: [1, 0, 0, 0],
        5: [0, 1, 0, 1], 6: [1, 1, 1, 0], 7: [0, 1, 0, 1], 8: [1, 1, 1, 0], 9: [0, 1, 1, 0],
    }  # fmt: skip
    rows = digit_label_rows(np.arange(10))
    assert rows.tolist() == [table[d] for d in range(10)]
    assert list(DIGIT_LABELS) == ["even", "greater_than_4", "closed_loop", "prime"]
    # 8 distinct label vectors over the 10 digits: 5 and 7 share one, so do 6 and 8.
    assert len({tuple(r) for r in rows.tolist()}) == 8
    assert rows[5].tolist() == rows[7].tolist() and rows[6].tolist() == rows[8].tolist()


def test_digits_multilabel_has_the_digits_split_and_four_label_columns() -> None:
    ml = load_dataset("digits_multilabel")
    digits = load_dataset("digits")
    assert isinstance(ml, TaskDataset) and dataset_task(ml) == "multilabel"
    assert ml.train_x.shape == (1257, 1, 8, 8) and ml.test_x.shape == (540, 1, 8, 8)
    assert ml.train_y.shape == (1257, 4) and ml.train_y.dtype == torch.int64
    assert ml.num_classes == 4
    # The same images as the digits dataset, labelled from its digit classes.
    assert torch.equal(ml.train_x, digits.train_x) and torch.equal(ml.test_x, digits.test_x)
    assert torch.equal(ml.train_y, torch.from_numpy(digit_label_rows(digits.train_y.numpy())))
    assert torch.equal(ml.test_y, torch.from_numpy(digit_label_rows(digits.test_y.numpy())))


@pytest.mark.parametrize(
    ("name", "n_train", "n_test", "width"),
    [("diabetes", 309, 133, 10), ("friedman1", 700, 300, 10)],
)
def test_regression_tables_have_the_documented_sizes(
    name: str, n_train: int, n_test: int, width: int
) -> None:
    data = load_dataset(name)
    assert isinstance(data, TaskDataset) and dataset_task(data) == "regression"
    assert data.train_x.shape == (n_train, width) and data.test_x.shape == (n_test, width)
    assert data.train_y.shape == (n_train,) and data.train_y.dtype == torch.float32
    assert data.num_classes == 2  # a network's (mean, log-variance) output


@pytest.mark.parametrize("name", ["diabetes", "friedman1"])
def test_regression_tables_are_standardised_on_the_train_split_only(name: str) -> None:
    data = load_dataset(name)
    x, y = data.train_x.double(), data.train_y.double()
    assert torch.allclose(x.mean(0), torch.zeros(x.shape[1], dtype=torch.float64), atol=1e-5)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(x.shape[1], dtype=torch.float64),
                          atol=1e-5)  # fmt: skip
    assert abs(float(y.mean())) < 1e-5 and abs(float(y.std(unbiased=False)) - 1) < 1e-5
    # The test split is scaled with the train split's statistics, so it is not exactly
    # standardised itself.
    assert abs(float(data.test_y.double().mean())) > 1e-4


def test_diabetes_is_scikit_learns_table_split_and_standardised_by_hand() -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0, shuffle=True)
    data = load_dataset("diabetes")
    expected = (y_te - y_tr.mean()) / y_tr.std()
    np.testing.assert_allclose(data.test_y.numpy(), expected, rtol=1e-5, atol=1e-5)
    expected_x = (x_tr - x_tr.mean(0)) / x_tr.std(0)
    np.testing.assert_allclose(data.train_x.numpy(), expected_x, rtol=1e-4, atol=1e-5)


def test_friedman1_is_deterministic_in_its_seed_and_changes_with_it() -> None:
    a, b = load_dataset("friedman1", seed=3), load_dataset("friedman1", seed=3)
    c = load_dataset("friedman1", seed=4)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.train_y, b.train_y)
    assert not torch.equal(a.train_y, c.train_y)
    small = load_dataset("friedman1", n_samples=100, n_features=6, test_fraction=0.2)
    assert small.train_x.shape == (80, 6) and small.test_x.shape == (20, 6)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_samples": 5}, "n_samples must be an integer >= 10"),
        ({"n_features": 4}, "n_features must be an integer >= 5"),
        ({"noise": -1.0}, "noise must be a number >= 0"),
        ({"test_fraction": 1.0}, r"test_fraction must lie in \(0, 1\)"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_bad_friedman1_parameters_are_refused(params: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        load_dataset("friedman1", **params)


def test_task_dataset_checks_its_labels() -> None:
    x = torch.zeros(3, 2)
    with pytest.raises(InvalidInputError, match=r"\[n, L\] with L = num_classes = 2"):
        TaskDataset("bad", x, torch.zeros(3, 3, dtype=torch.int64), x, torch.zeros(3, 3), 2)
    with pytest.raises(InvalidInputError, match="must be 0 or 1"):
        two = torch.full((3, 2), 2, dtype=torch.int64)
        TaskDataset("bad", x, two, x, two, 2)
    with pytest.raises(InvalidInputError, match="must be floats"):
        ints = torch.zeros(3, dtype=torch.int64)
        TaskDataset("bad", x, ints, x, ints, 2, task="regression")
    with pytest.raises(InvalidInputError, match="must be finite"):
        y = torch.tensor([0.0, float("nan"), 1.0])
        TaskDataset("bad", x, y, x, y, 2, task="regression")
    with pytest.raises(InvalidInputError, match="'multilabel' or 'regression'"):
        TaskDataset("bad", x, torch.zeros(3), x, torch.zeros(3), 2, task="ranking")
    labels = torch.zeros(3, dtype=torch.int64)
    assert dataset_task(Dataset("c", x, labels, x, labels, 2)) == "classification"
