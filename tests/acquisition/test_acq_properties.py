"""Property tests over random shapes: brute-force references, bounds, invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesal.acquisition import (
    STOCHASTIC_MODES,
    bald,
    entropy,
    least_confidence,
    margin,
    mean_std,
    stochastic_batch,
    top_k,
    variation_ratios,
)

SETTINGS = settings(max_examples=40, deadline=None)
DETERMINISTIC = [least_confidence, margin, entropy, variation_ratios, mean_std, bald]


@st.composite
def log_probs_tensors(draw, min_n: int = 0, min_c: int = 2, max_k: int = 5) -> torch.Tensor:
    """Valid float64 ``[N, K, C]`` log-probs, sometimes with exact zeros (``-inf``)."""
    N = draw(st.integers(min_n, 6))
    K = draw(st.integers(1, max_k))
    C = draw(st.integers(min_c, 5))
    scale = draw(st.sampled_from([0.01, 1.0, 5.0, 40.0]))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(N, K, C, generator=g, dtype=torch.float64)
    if draw(st.booleans()):  # zero out some classes, keeping at least one per row
        mask = torch.rand(N, K, C, generator=g) < 0.4
        mask[..., 0] = False
        logits = logits.masked_fill(mask, -math.inf)
    return torch.log_softmax(logits, dim=-1)


# Brute-force references: plain Python loops over numpy arrays, written independently.


def _ref_mean_probs(lp: np.ndarray) -> np.ndarray:
    N, K, C = lp.shape
    out = np.zeros((N, C))
    for n in range(N):
        for c in range(C):
            out[n, c] = sum(math.exp(lp[n, k, c]) for k in range(K)) / K
    return out


def _ref_h(p: np.ndarray) -> float:
    return -sum(x * math.log(x) for x in p if x > 0)


def _ref_scores(name: str, lp: np.ndarray) -> list[float]:
    N, K, C = lp.shape
    pbar = _ref_mean_probs(lp)
    out = []
    for n in range(N):
        probs = [[math.exp(lp[n, k, c]) for c in range(C)] for k in range(K)]
        if name == "least_confidence":
            out.append(1 - max(pbar[n]))
        elif name == "margin":
            first, second = sorted(pbar[n], reverse=True)[:2]
            out.append(-(first - second))
        elif name == "entropy":
            out.append(_ref_h(pbar[n]))
        elif name == "bald":
            out.append(_ref_h(pbar[n]) - sum(_ref_h(np.array(p)) for p in probs) / K)
        elif name == "variation_ratios":
            votes = [int(np.argmax(lp[n, k])) for k in range(K)]
            out.append(1 - max(votes.count(c) for c in range(C)) / K)
        elif name == "mean_std":
            stds = []
            for c in range(C):
                column = [probs[k][c] for k in range(K)]
                mu = sum(column) / K
                stds.append(math.sqrt(sum((x - mu) ** 2 for x in column) / K))
            out.append(sum(stds) / C)
    return out


@pytest.mark.parametrize("score_fn", DETERMINISTIC, ids=lambda f: f.__name__)
@SETTINGS
@given(log_probs=log_probs_tensors())
def test_matches_brute_force(score_fn, log_probs: torch.Tensor) -> None:
    expected = _ref_scores(score_fn.__name__, log_probs.numpy())
    got = score_fn(log_probs)
    assert got.shape == (log_probs.shape[0],)
    assert got.tolist() == pytest.approx(expected, abs=1e-9)


@SETTINGS
@given(log_probs=log_probs_tensors(min_c=1))
def test_bounds(log_probs: torch.Tensor) -> None:
    C = log_probs.shape[2]
    eps = 1e-9
    for score_fn, upper in [
        (entropy, math.log(C)),
        (bald, math.log(C)),
        (least_confidence, 1 - 1 / C),
        (variation_ratios, 1 - 1 / C),
        (mean_std, 0.5),  # a [0, 1] variable has std <= 1/2
    ]:
        scores = score_fn(log_probs)
        assert (scores >= 0).all(), score_fn.__name__
        assert (scores <= upper + eps).all(), score_fn.__name__
    assert (bald(log_probs) <= entropy(log_probs) + eps).all()
    if C >= 2:
        scores = margin(log_probs)
        assert ((scores >= -1 - eps) & (scores <= 0)).all()


@pytest.mark.parametrize("score_fn", DETERMINISTIC, ids=lambda f: f.__name__)
@SETTINGS
@given(log_probs=log_probs_tensors(), seed=st.integers(0, 1000))
def test_permuting_inputs_permutes_scores_and_samples_do_not_matter(
    score_fn, log_probs: torch.Tensor, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    N, K, _ = log_probs.shape
    perm_N = torch.randperm(N, generator=g)
    perm_K = torch.randperm(K, generator=g)
    scores = score_fn(log_probs)
    assert torch.allclose(score_fn(log_probs[perm_N]), scores[perm_N], rtol=0, atol=1e-12)
    assert torch.allclose(score_fn(log_probs[:, perm_K]), scores, rtol=0, atol=1e-12)


@SETTINGS
@given(log_probs=log_probs_tensors(max_k=1))
def test_single_sample(log_probs: torch.Tensor) -> None:
    zeros = torch.zeros(log_probs.shape[0], dtype=torch.float64)
    assert torch.equal(bald(log_probs), zeros)
    assert torch.equal(variation_ratios(log_probs), zeros)
    assert torch.equal(mean_std(log_probs), zeros)


@SETTINGS
@given(
    n=st.integers(1, 40),
    data=st.data(),
    seed=st.integers(0, 2**31 - 1),
    ties=st.booleans(),
)
def test_top_k_returns_the_k_largest_in_order(n: int, data, seed: int, ties: bool) -> None:
    k = data.draw(st.integers(1, n))
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, generator=g, dtype=torch.float64)
    if ties:
        scores = scores.round()  # many equal values
    selection = top_k(scores, k, generator=g)
    picked = selection.indices_B.tolist()
    assert len(set(picked)) == k
    assert selection.scores_B.tolist() == sorted(scores.tolist(), reverse=True)[:k]


@SETTINGS
@given(
    n=st.integers(1, 40),
    data=st.data(),
    seed=st.integers(0, 2**31 - 1),
    mode=st.sampled_from(STOCHASTIC_MODES),
    temperature=st.sampled_from([0.01, 0.3, 1.0, 10.0]),
)
def test_stochastic_batch_is_a_valid_batch(
    n: int, data, seed: int, mode: str, temperature: float
) -> None:
    k = data.draw(st.integers(1, n))
    g = torch.Generator().manual_seed(seed)
    scores = torch.rand(n, generator=g)
    scores[torch.rand(n, generator=g) < 0.2] = 0.0  # weight-0 points under power
    selection = stochastic_batch(scores, k, mode=mode, temperature=temperature, generator=g)
    picked = selection.indices_B.tolist()
    assert len(set(picked)) == k and all(0 <= i < n for i in picked)
    assert torch.equal(selection.scores_B, scores[selection.indices_B])
