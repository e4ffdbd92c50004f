"""Negative observations ("item i is not class c"): per-sample conditioning of the
scored log-probs, checked against brute force; in-memory and streamed paths agree; saved
and loaded; bad input refused."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from bayesal import ActiveLearner
from bayesal.acquisition import get_strategy
from bayesal.errors import InvalidInputError
from bayesal.learner import _SELECT, _generator, stream_seed
from bayesal.scoring.exclusions import Exclusions, condition_log_probs

DIGITS = load_digits()
X = (DIGITS.data / 16.0).astype(np.float32)[:600]
Y = DIGITS.target[:600]
FAST = {"epochs": 1, "min_steps": 20, "batch_size": 32, "lr": 1e-2}


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 10))


def _learner(**kwargs: Any) -> ActiveLearner:
    args: dict[str, Any] = dict(
        model=make_model, num_samples=8, training=FAST, device="cpu", seed=0, chunk_size=64
    )
    args.update(kwargs)
    learner = ActiveLearner(X, **args)
    learner.teach(np.arange(30), Y[:30])
    return learner


def _brute_force(log_probs: torch.Tensor, excluded: torch.Tensor) -> torch.Tensor:
    """Per sample: zero the excluded classes' probabilities, divide by what is left."""
    p = log_probs.double().exp()
    keep = (~excluded).double()
    if p.dim() == 3:
        keep = keep[:, None, :]
    q = p * keep
    return (q / q.sum(-1, keepdim=True)).log()


def _negatives_on_top_items(strategy: str, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` items a learner without negatives picks first and, for each, its two
    most probable classes (so the negatives move exactly the items that would be picked)."""
    learner = _learner(strategy=strategy)
    samples = learner.predict_samples(X)
    top = learner.query(n)
    classes = samples.exp().mean(1)[top].argsort(-1, descending=True)[:, :2].numpy()
    return np.repeat(top, 2), classes.reshape(-1)


def test_conditioning_equals_brute_force_per_sample() -> None:
    g = torch.Generator().manual_seed(0)
    lp = torch.log_softmax(torch.randn(5, 4, 6, generator=g), -1)
    excluded = torch.zeros(5, 6, dtype=torch.bool)
    excluded[0, 2] = True
    excluded[1, [0, 1, 5]] = True
    excluded[3, :5] = True  # one class left: probability one in every sample
    got = condition_log_probs(lp, excluded)
    want = _brute_force(lp, excluded)
    assert torch.isneginf(got[excluded[:, None, :].expand_as(got)]).all()
    finite = torch.isfinite(want)
    torch.testing.assert_close(got.double()[finite], want[finite], atol=1e-6, rtol=1e-6)
    assert torch.equal(got[[2, 4]], lp[[2, 4]] - torch.logsumexp(lp[[2, 4]], -1, keepdim=True))
    torch.testing.assert_close(got.exp().sum(-1), torch.ones(5, 4))
    # The [n, C] predictive is conditioned the same way.
    torch.testing.assert_close(
        condition_log_probs(lp[:, 0], excluded).double()[finite[:, 0]],
        want[:, 0][finite[:, 0]],
    )
    # A sample that gives every remaining class probability zero: uniform over them.
    impossible = torch.tensor([[[0.0, -math.inf, -math.inf]]])
    out = condition_log_probs(impossible, torch.tensor([[True, False, False]]))
    torch.testing.assert_close(out.exp(), torch.tensor([[[0.0, 0.5, 0.5]]]))


def test_exclusions_condition_only_the_rows_in_the_block() -> None:
    lp = torch.log_softmax(torch.randn(10, 3, 4), -1)
    exclusions = Exclusions(torch.tensor([2, 7]), torch.tensor([[1, 0, 0, 0], [0, 0, 1, 1]]).bool())
    block = exclusions.block(5, lp[5:10])
    assert torch.equal(block[[0, 1, 3, 4]], lp[[5, 6, 8, 9]])
    assert torch.isneginf(block[2, :, 2:]).all()
    assert exclusions.block(8, lp[8:]) is lp[8:] or torch.equal(exclusions.block(8, lp[8:]), lp[8:])


@pytest.mark.parametrize("strategy", ["bald", "margin", "entropy", "batchbald"])
def test_picks_are_the_strategy_on_the_conditioned_log_probs(strategy: str) -> None:
    plain = _learner(strategy=strategy)
    learner = _learner(strategy=strategy)
    ids, classes = _negatives_on_top_items(strategy)
    learner.teach_negative(ids, classes)
    assert learner.negatives[int(ids[0])] == tuple(sorted(classes[:2].tolist()))
    r = learner.round
    unlabelled = learner.unlabelled_ids
    samples = learner.predict_samples(X[unlabelled])
    excluded = torch.zeros(len(unlabelled), 10, dtype=torch.bool)
    for i, c in zip(ids, classes, strict=True):
        excluded[int(np.searchsorted(unlabelled, i)), int(c)] = True
    conditioned = _brute_force(samples, excluded).float()
    torch.testing.assert_close(
        learner.predict_pool_samples(unlabelled), conditioned, atol=1e-5, rtol=1e-5
    )
    expected = get_strategy(strategy).select(
        conditioned, 4, generator=_generator(stream_seed(0, _SELECT, r))
    )
    picks = learner.query(4)
    assert picks.tolist() == unlabelled[expected.indices_B.numpy()].tolist()
    assert picks.tolist() != plain.query(4).tolist()  # the negatives changed the ranking


@pytest.mark.parametrize("strategy", ["bald", "power_bald", "batchbald"])
def test_streamed_path_picks_what_the_in_memory_path_picks(strategy: str) -> None:
    picks = []
    for settings in ({}, {"max_log_probs_bytes": 1, "prefilter": 200}):
        learner = _learner(strategy=strategy, **settings)
        learner.teach_negative(*_negatives_on_top_items(strategy))
        picks.append(learner.query(5).tolist())
        assert learner.last_scoring is not None
    assert picks[0] == picks[1]


def test_pool_predictive_is_conditioned_and_other_inputs_are_not() -> None:
    learner = _learner()
    learner.teach_negative([100, 100, 200], [3, 4, 0])
    before = learner.predict_log_probs(X[[100, 200, 300]])
    pool = learner.predict_pool_log_probs([100, 200, 300])
    excluded = torch.zeros(3, 10, dtype=torch.bool)
    excluded[0, [3, 4]] = True
    excluded[1, 0] = True
    torch.testing.assert_close(pool.double(), _brute_force(before, excluded))
    assert torch.equal(pool[2], before[2])
    torch.testing.assert_close(learner.predict_log_probs(X[[100]]), before[:1])  # never


def test_save_load_round_trip_and_files_without_negatives(tmp_path: Path) -> None:
    learner = _learner()
    plain = tmp_path / "plain.pt"
    learner.save(plain)
    assert "negatives" not in torch.load(plain, weights_only=False)
    learner.teach_negative([100, 100, 200], [3, 4, 0])
    path = tmp_path / "neg.pt"
    learner.save(path)
    loaded = ActiveLearner.load(path, model=make_model)
    assert loaded.negatives == {100: (3, 4), 200: (0,)}
    assert loaded.query(4).tolist() == learner.query(4).tolist()
    assert ActiveLearner.load(plain, model=make_model).negatives == {}
    state = torch.load(path, weights_only=False)
    state["negatives"]["classes"][0] = 99
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(InvalidInputError, match="negative observations are refused"):
        ActiveLearner.load(tmp_path / "bad.pt", model=make_model)


def test_bad_negatives_are_refused_and_record_nothing() -> None:
    learner = _learner()
    learner.teach_negative([100], [1])
    cases: list[tuple[Any, Any, str]] = [
        ([100], [10], "integers in"),
        ([100], [-1], "integers in"),
        ([100], [1.5], "integers in"),
        ([100, 101], [1], "one class per id"),
        ([10_000], [1], "unknown|not in"),
        ([0], [int(Y[0])], "labelled class"),
        ([100] * 9, [0, 2, 3, 4, 5, 6, 7, 8, 9], "all 10 classes"),
    ]
    for ids, classes, match in cases:
        with pytest.raises(InvalidInputError, match=match):
            learner.teach_negative(ids, classes)
    assert learner.negatives == {100: (1,)}
    learner.forget_negatives([100])
    assert learner.negatives == {}
    regression = ActiveLearner(
        X[:50],
        model=lambda: nn.Linear(64, 2),
        task="regression",
        training=FAST,
        device="cpu",
    )
    with pytest.raises(InvalidInputError, match="classification"):
        regression.teach_negative([1], [0])
