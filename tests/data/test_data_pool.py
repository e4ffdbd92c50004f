"""Pool bookkeeping: invariants, all-or-nothing labelling, balanced initial sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesal.data.pool import Pool, balanced_initial_ids
from bayesal.errors import InvalidInputError


def test_new_pool_is_all_unlabelled() -> None:
    pool = Pool(5)
    assert pool.labelled_ids.tolist() == []
    assert pool.unlabelled_ids.tolist() == [0, 1, 2, 3, 4]
    assert pool.unlabelled_ids.dtype == np.int64
    assert len(pool) == 5


def test_label_moves_ids_and_keeps_them_sorted() -> None:
    pool = Pool(6)
    pool.label([4, 1])
    pool.label(torch.tensor([5]))
    assert pool.labelled_ids.tolist() == [1, 4, 5]
    assert pool.unlabelled_ids.tolist() == [0, 2, 3]
    assert pool.num_labelled == 3 and pool.num_unlabelled == 3
    assert pool.is_labelled([0, 4]).tolist() == [False, True]


def test_returned_arrays_are_copies() -> None:
    pool = Pool(3)
    view = pool.unlabelled_ids
    view[0] = 99
    assert pool.unlabelled_ids.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    "bad, match",
    [([7], "unknown"), ([-1], "unknown"), ([2, 2], "duplicate"), ([1, 3], "already labelled")],
)
def test_bad_label_raises_and_changes_nothing(bad: list[int], match: str) -> None:
    pool = Pool(5)
    pool.label([3])
    with pytest.raises(InvalidInputError, match=match):
        pool.label(bad)
    assert pool.labelled_ids.tolist() == [3]


def test_label_rejects_non_integer_ids() -> None:
    with pytest.raises(InvalidInputError, match="integers"):
        Pool(3).label(np.array([0.0, 1.0]))


def test_from_ids_uses_dataset_ids_not_positions() -> None:
    pool = Pool.from_ids([30, 10, 20], labelled_ids=[20])
    assert pool.unlabelled_ids.tolist() == [10, 30]
    with pytest.raises(InvalidInputError, match="unknown"):
        pool.label([0])  # position 0 is not an id
    with pytest.raises(InvalidInputError, match="distinct"):
        Pool.from_ids([1, 1])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.lists(st.integers(0, 39), max_size=40), st.integers(0, 10_000))
def test_partition_invariant(n: int, batches: list[int], seed: int) -> None:
    pool = Pool(n)
    rng = np.random.default_rng(seed)
    for size in batches:
        if pool.num_unlabelled == 0:
            break
        size = min(size % 5 + 1, pool.num_unlabelled)
        pool.label(rng.choice(pool.unlabelled_ids, size=size, replace=False))
        both = np.concatenate([pool.labelled_ids, pool.unlabelled_ids])
        assert sorted(both.tolist()) == list(range(n))
        assert np.intersect1d(pool.labelled_ids, pool.unlabelled_ids).size == 0


def test_subset_unlabelled_is_seeded_sorted_and_unlabelled() -> None:
    pool = Pool(100)
    pool.label(np.arange(0, 100, 2))
    a = pool.subset_unlabelled(10, np.random.default_rng(1))
    b = pool.subset_unlabelled(10, np.random.default_rng(1))
    assert a.tolist() == b.tolist()
    assert len(np.unique(a)) == 10 and (np.diff(a) > 0).all()
    assert (a % 2 == 1).all()
    assert pool.subset_unlabelled(500, np.random.default_rng(0)).tolist() == list(range(1, 100, 2))


def test_balanced_initial_ids_splits_evenly() -> None:
    labels = np.repeat(np.arange(3), 20)
    for seed in range(5):
        ids = balanced_initial_ids(labels, 10, 3, np.random.default_rng(seed))
        counts = np.bincount(labels[ids], minlength=3)
        assert sorted(counts.tolist()) == [3, 3, 4]
        assert len(np.unique(ids)) == 10
    first = balanced_initial_ids(labels, 10, 3, np.random.default_rng(7))
    again = balanced_initial_ids(labels, 10, 3, np.random.default_rng(7))
    assert first.tolist() == again.tolist()


def test_balanced_initial_ids_extra_goes_to_random_classes() -> None:
    labels = np.repeat(np.arange(2), 10)
    extra_classes = {
        int(
            np.argmax(
                np.bincount(labels[balanced_initial_ids(labels, 3, 2, np.random.default_rng(s))])
            )
        )
        for s in range(20)
    }
    assert extra_classes == {0, 1}


def test_balanced_initial_ids_errors_when_a_class_is_short() -> None:
    labels = np.array([0, 0, 0, 0, 1])
    with pytest.raises(InvalidInputError, match="class 1 has 1 examples"):
        balanced_initial_ids(labels, 4, 2, np.random.default_rng(0))
