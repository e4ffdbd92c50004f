"""Pointwise scores against hand-computed values and limiting cases."""

from __future__ import annotations

import math

import pytest
import torch

from bayesal.acquisition import (
    bald,
    entropy,
    least_confidence,
    margin,
    mean_log_probs,
    mean_std,
    random,
    variation_ratios,
)
from bayesal.errors import InvalidInputError

NEG_INF = -math.inf
DETERMINISTIC = [least_confidence, margin, entropy, variation_ratios, mean_std, bald]


def _log(probs: list) -> torch.Tensor:
    """Log of a nested list of probabilities, float64 (log 0 = -inf)."""
    return torch.tensor(probs, dtype=torch.float64).log()


def _close(actual: torch.Tensor, expected: list[float], atol: float = 1e-12) -> None:
    assert actual.dtype == torch.float64
    assert actual.tolist() == pytest.approx(expected, abs=atol)


# Two deterministic samples that disagree completely: sample 1 says class 0, sample 2
# says class 1. p̄ = [0.5, 0.5].
DISAGREE = _log([[[1.0, 0.0], [0.0, 1.0]]])


def test_two_disagreeing_deterministic_samples() -> None:
    _close(bald(DISAGREE), [math.log(2)])  # H[p̄] = log 2, each H[p_k] = 0
    _close(entropy(DISAGREE), [math.log(2)])
    _close(variation_ratios(DISAGREE), [0.5])  # modal class holds 1 of 2 votes
    _close(mean_std(DISAGREE), [0.5])  # population std of {1, 0} is 0.5, for both classes
    _close(least_confidence(DISAGREE), [0.5])
    _close(margin(DISAGREE), [0.0])


def test_entropy_two_classes_by_hand() -> None:
    # H([1/4, 3/4]) = -(1/4) ln(1/4) - (3/4) ln(3/4)
    expected = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    _close(entropy(_log([[[0.25, 0.75]]])), [expected])
    # The same predictive as the mean of two samples [0.5, 0.5] and [0, 1].
    _close(entropy(_log([[[0.5, 0.5], [0.0, 1.0]]])), [expected])


def test_bald_by_hand() -> None:
    # samples [0.5, 0.5] and [0, 1]: H[p̄] = H([1/4, 3/4]); mean_k H[p_k] = (ln 2 + 0) / 2
    h_mean = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    _close(bald(_log([[[0.5, 0.5], [0.0, 1.0]]])), [h_mean - math.log(2) / 2])


def test_agreeing_samples_have_zero_bald_but_full_entropy() -> None:
    log_probs = _log([[[1 / 3, 1 / 3, 1 / 3]] * 4])
    _close(bald(log_probs), [0.0])
    _close(entropy(log_probs), [math.log(3)])
    _close(variation_ratios(log_probs), [0.0])  # every sample argmaxes to class 0
    _close(mean_std(log_probs), [0.0])


def test_least_confidence_and_margin_by_hand() -> None:
    log_probs = _log([[[0.5, 0.3, 0.2]], [[0.1, 0.1, 0.8]], [[1.0, 0.0, 0.0]]])
    _close(least_confidence(log_probs), [0.5, 0.2, 0.0])
    _close(margin(log_probs), [-0.2, -0.7, -1.0], atol=1e-12)


def test_margin_sign_rule_prefers_the_smaller_gap() -> None:
    log_probs = _log([[[0.9, 0.1]], [[0.55, 0.45]]])
    scores = margin(log_probs)
    assert scores[1] > scores[0]
    assert (scores <= 0).all()


def test_margin_uses_mean_predictive() -> None:
    # samples [0.9, 0.1, 0] and [0.1, 0.5, 0.4]: p̄ = [0.5, 0.3, 0.2], gap 0.2
    _close(margin(_log([[[0.9, 0.1, 0.0], [0.1, 0.5, 0.4]]])), [-0.2])


def test_margin_needs_two_classes() -> None:
    with pytest.raises(InvalidInputError, match="at least 2 classes, got C = 1"):
        margin(torch.zeros(3, 2, 1))


def test_variation_ratios_from_hand_built_argmaxes() -> None:
    # argmax per sample: 0, 0, 1, 2, 0 -> mode 0 has 3 of 5 votes -> 1 - 3/5
    one_hot = torch.eye(3, dtype=torch.float64)
    probs_K_C = 0.1 + 0.7 * one_hot[[0, 0, 1, 2, 0]]  # rows: 0.8 / 0.1 / 0.1
    second = 0.1 + 0.7 * one_hot[[2, 1, 1, 2, 2]]  # votes 1, 2 -> mode 2 has 3 -> 1 - 3/5
    third = 0.1 + 0.7 * one_hot[[0, 1, 2, 0, 1]]  # modal count 2 -> 1 - 2/5
    log_probs = torch.stack([probs_K_C, second, third]).log()
    _close(variation_ratios(log_probs), [0.4, 0.4, 0.6])


def test_mean_std_by_hand() -> None:
    # samples [0.2, 0.8] and [0.6, 0.4]: class-wise population std 0.2 and 0.2
    _close(mean_std(_log([[[0.2, 0.8], [0.6, 0.4]]])), [0.2])
    # three samples of class 0 probability 0, 0.5, 1: std sqrt(1/6) for both classes
    _close(mean_std(_log([[[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]])), [math.sqrt(1 / 6)])


def test_single_sample_gives_zero_epistemic_scores() -> None:
    g = torch.Generator().manual_seed(3)
    log_probs = torch.log_softmax(torch.randn(7, 1, 4, generator=g, dtype=torch.float64), -1)
    assert torch.equal(bald(log_probs), torch.zeros(7, dtype=torch.float64))
    assert torch.equal(variation_ratios(log_probs), torch.zeros(7, dtype=torch.float64))
    assert torch.equal(mean_std(log_probs), torch.zeros(7, dtype=torch.float64))


def test_mean_log_probs_is_log_of_mean_probability() -> None:
    log_probs = _log([[[0.2, 0.8], [0.6, 0.4]]])
    assert mean_log_probs(log_probs).exp().tolist()[0] == pytest.approx([0.4, 0.6])


def test_mean_predictive_does_not_underflow() -> None:
    # log p = -800 underflows to 0 in probability space; the mean must stay -800 - log 2.
    log_probs = torch.tensor([[[-800.0, 0.0], [-800.0, 0.0]]], dtype=torch.float64)
    assert mean_log_probs(log_probs)[0, 0].item() == pytest.approx(-800.0)
    log_probs[0, 1] = torch.tensor([0.0, -800.0], dtype=torch.float64)
    assert mean_log_probs(log_probs)[0, 0].item() == pytest.approx(-math.log(2))


@pytest.mark.parametrize("score_fn", DETERMINISTIC, ids=lambda f: f.__name__)
def test_probability_zero_gives_finite_scores(score_fn) -> None:
    log_probs = _log([[[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]], [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])
    scores = score_fn(log_probs)
    assert torch.isfinite(scores).all()


def test_certain_prediction_scores_zero() -> None:
    log_probs = _log([[[0.0, 1.0, 0.0]] * 3])
    for score_fn in (least_confidence, entropy, variation_ratios, mean_std, bald):
        _close(score_fn(log_probs), [0.0])


@pytest.mark.parametrize("score_fn", DETERMINISTIC, ids=lambda f: f.__name__)
def test_empty_pool_gives_empty_scores(score_fn) -> None:
    scores = score_fn(torch.empty(0, 3, 4))
    assert scores.shape == (0,)


@pytest.mark.parametrize("score_fn", DETERMINISTIC, ids=lambda f: f.__name__)
def test_half_precision_is_scored_in_float32(score_fn) -> None:
    g = torch.Generator().manual_seed(1)
    log_probs = torch.log_softmax(torch.randn(5, 3, 4, generator=g), dim=-1)
    scores = score_fn(log_probs.bfloat16())
    assert scores.dtype == torch.float32
    # bfloat16 keeps ~3 significant digits: the scores agree with float32 to that precision.
    assert torch.allclose(scores, score_fn(log_probs), atol=3e-2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("score_fn", DETERMINISTIC, ids=lambda f: f.__name__)
def test_output_dtype_follows_input(score_fn, dtype: torch.dtype) -> None:
    log_probs = torch.log_softmax(torch.zeros(2, 3, 4, dtype=dtype), dim=-1)
    assert score_fn(log_probs).dtype == dtype


def test_random_is_seeded_uniform_and_leaves_global_rng_alone() -> None:
    log_probs = torch.log_softmax(torch.zeros(1000, 2, 3), dim=-1)
    torch.manual_seed(1234)
    global_state = torch.get_rng_state()
    first = random(log_probs, generator=torch.Generator().manual_seed(7))
    again = random(log_probs, generator=torch.Generator().manual_seed(7))
    other = random(log_probs, generator=torch.Generator().manual_seed(8))
    assert torch.equal(torch.get_rng_state(), global_state)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert first.shape == (1000,)
    assert ((first >= 0) & (first < 1)).all()
    # Uniform on [0, 1): mean 1/2 (std of the mean ~ 0.009), each decile ~ 100 points.
    assert first.mean().item() == pytest.approx(0.5, abs=0.05)
    counts = torch.histc(first, bins=10, min=0.0, max=1.0)
    assert counts.min() > 60 and counts.max() < 140


def test_random_takes_an_integer_seed() -> None:
    log_probs = torch.log_softmax(torch.zeros(50, 2, 3), dim=-1)
    assert torch.equal(
        random(log_probs, generator=7),
        random(log_probs, generator=torch.Generator().manual_seed(7)),
    )
    with pytest.raises(InvalidInputError, match="torch.Generator"):
        random(log_probs, generator=True)
