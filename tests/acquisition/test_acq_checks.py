"""Input validation of the acquisition package: type, message content, and what is allowed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bayesal.acquisition import (
    bald,
    check_batch_size,
    check_log_probs,
    entropy,
    least_confidence,
    margin,
    mean_std,
    random,
    variation_ratios,
)
from bayesal.errors import InvalidInputError


def _valid(N: int = 3, K: int = 2, C: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.log_softmax(torch.randn(N, K, C, generator=g), dim=-1)


def test_valid_input_passes() -> None:
    check_log_probs(_valid())
    check_log_probs(_valid().double())
    check_log_probs(_valid().half())
    check_log_probs(_valid().bfloat16())


def test_minus_inf_is_a_valid_log_probability() -> None:
    log_probs = torch.tensor([[[0.0, -math.inf], [math.log(0.5), math.log(0.5)]]])
    check_log_probs(log_probs)


def test_empty_pool_is_allowed() -> None:
    check_log_probs(torch.empty(0, 3, 2))


def test_not_a_tensor() -> None:
    with pytest.raises(InvalidInputError, match=r"torch\.Tensor.*got ndarray"):
        check_log_probs(np.zeros((1, 1, 1)))


def test_integer_dtype() -> None:
    with pytest.raises(InvalidInputError, match=r"floating-point.*torch\.int64.*log_softmax"):
        check_log_probs(torch.zeros(2, 2, 2, dtype=torch.int64))


@pytest.mark.parametrize("shape", [(4,), (3, 4), (1, 2, 3, 4)])
def test_wrong_rank_names_expected_and_actual_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_log_probs(torch.zeros(shape))
    message = str(info.value)
    assert "[N, K, C]" in message
    assert str(list(shape)) in message


@pytest.mark.parametrize("shape", [(2, 0, 3), (2, 3, 0), (0, 0, 3)])
def test_zero_samples_or_classes(shape: tuple[int, int, int]) -> None:
    with pytest.raises(InvalidInputError, match=r"at least one parameter sample \(K\)"):
        check_log_probs(torch.zeros(shape))


def test_nan() -> None:
    log_probs = _valid()
    log_probs[1, 0, 2] = math.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        check_log_probs(log_probs)


def test_plus_inf() -> None:
    log_probs = _valid()
    log_probs[0, 1, 0] = math.inf
    with pytest.raises(InvalidInputError, match=r"\+inf.*log_softmax"):
        check_log_probs(log_probs)


def test_logits_are_rejected_with_position_and_hint() -> None:
    log_probs = _valid(N=3, K=2)
    log_probs[2, 1] += 0.5  # this row now sums to e^0.5 in probability space
    with pytest.raises(InvalidInputError) as info:
        check_log_probs(log_probs)
    message = str(info.value)
    assert "[n=2, k=1]" in message
    assert "0.5" in message
    assert "log_softmax(logits)" in message


def test_probabilities_instead_of_log_probabilities_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="normalised log-probabilities"):
        check_log_probs(_valid().exp())


def test_all_minus_inf_row_is_rejected() -> None:
    log_probs = _valid()
    log_probs[0, 0] = -math.inf
    with pytest.raises(InvalidInputError, match="normalised"):
        check_log_probs(log_probs)


def test_small_round_off_is_tolerated() -> None:
    check_log_probs(_valid() + 5e-4)


def test_custom_name_in_message() -> None:
    with pytest.raises(InvalidInputError, match="log_probs_target_M_K_C"):
        check_log_probs(torch.zeros(3, 4), name="log_probs_target_M_K_C")


SCORE_FUNCTIONS = [least_confidence, margin, entropy, variation_ratios, mean_std, bald]


@pytest.mark.parametrize("score_fn", SCORE_FUNCTIONS, ids=lambda f: f.__name__)
def test_every_score_validates_its_input(score_fn) -> None:
    bad = _valid()
    bad[0, 0, 0] = math.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        score_fn(bad)
    with pytest.raises(InvalidInputError, match=r"\[N, K, C\]"):
        score_fn(_valid()[0])


def test_random_validates_input_and_generator() -> None:
    with pytest.raises(InvalidInputError, match=r"\[N, K, C\]"):
        random(torch.zeros(3), generator=torch.Generator())
    with pytest.raises(InvalidInputError, match=r"torch\.Generator.*manual_seed"):
        random(_valid(), generator=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("batch_size", [1, 5, np.int64(3)])
def test_batch_size_in_range(batch_size: int) -> None:
    check_batch_size(batch_size, 5)


@pytest.mark.parametrize(
    ("batch_size", "pattern"),
    [
        (0, "at least 1, got 0 .pool size 5"),
        (-2, "at least 1, got -2"),
        (6, "batch size 6 is larger than the pool size 5"),
        (2.0, "must be an integer"),
        (True, "must be an integer"),
        ("3", "must be an integer"),
    ],
)
def test_batch_size_out_of_range(batch_size: object, pattern: str) -> None:
    with pytest.raises(InvalidInputError, match=pattern):
        check_batch_size(batch_size, 5)
