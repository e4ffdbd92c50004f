"""The shared entropy and mutual-information building blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bayesal.acquisition import (
    bald,
    entropy,
    expected_entropy,
    mean_log_probs,
    mutual_information,
    predictive_entropy,
)
from bayesal.acquisition import information as info
from bayesal.errors import InvalidInputError


def _log_probs(N: int, K: int, C: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    logits = 2.5 * torch.randn(N, K, C, generator=torch.Generator().manual_seed(seed))
    return torch.log_softmax(logits.double(), dim=-1).to(dtype)


def _entropy_np(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(-1)


@pytest.mark.parametrize(("N", "K", "C"), [(7, 1, 2), (9, 5, 3), (4, 12, 10)])
def test_against_brute_force(N: int, K: int, C: int) -> None:
    log_probs = _log_probs(N, K, C, seed=N + K)
    p = log_probs.exp().numpy()
    predictive = _entropy_np(p.mean(axis=1))
    expected = _entropy_np(p).mean(axis=1)
    np.testing.assert_allclose(predictive_entropy(log_probs).numpy(), predictive, atol=1e-12)
    np.testing.assert_allclose(expected_entropy(log_probs).numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(
        mutual_information(log_probs).numpy(), np.maximum(predictive - expected, 0), atol=1e-12
    )
    np.testing.assert_allclose(
        mean_log_probs(log_probs).exp().numpy(), p.mean(axis=1), rtol=1e-12, atol=0
    )
    for values in (predictive_entropy(log_probs), expected_entropy(log_probs)):
        assert (values >= 0).all() and (values <= math.log(C) + 1e-12).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_scores_are_the_shared_functions_bit_for_bit(dtype: torch.dtype) -> None:
    log_probs = _log_probs(30, 8, 4, seed=1, dtype=dtype)
    log_probs[:3, :, 0] = -math.inf  # exact zeros
    log_probs = log_probs.log_softmax(-1)
    assert torch.equal(entropy(log_probs), predictive_entropy(log_probs))
    assert torch.equal(bald(log_probs), mutual_information(log_probs))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_expected_entropy_equals_the_per_sample_entropies_bit_for_bit(dtype) -> None:
    # The TwoMoons snapshot used to compute it as the entropy of each sample on its own.
    log_probs = _log_probs(25, 6, 3, seed=2, dtype=dtype)
    P, K, C = log_probs.shape
    per_sample = entropy(log_probs.reshape(P * K, 1, C)).reshape(P, K).mean(1)
    assert torch.equal(expected_entropy(log_probs), per_sample)


def test_entropy_kernels_agree_to_round_off() -> None:
    log_probs = _log_probs(20, 4, 5, seed=3)
    log_probs[0, 0] = torch.tensor([0.0, -math.inf, -math.inf, -math.inf, -math.inf])
    from_log = info._entropy_of_log_probs(log_probs)
    from_probs = info._entropy_of_probs(log_probs.exp())
    assert not torch.isnan(from_log).any() and not torch.isnan(from_probs).any()
    assert torch.allclose(from_log, from_probs, rtol=0, atol=1e-12)


def test_known_values() -> None:
    # Two confident samples that disagree: H[p̄] = log 2, E_k H[p_k] = 0, MI = log 2.
    log_probs = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64).log()
    assert predictive_entropy(log_probs).item() == pytest.approx(math.log(2))
    assert expected_entropy(log_probs).item() == 0.0
    assert mutual_information(log_probs).item() == pytest.approx(math.log(2))


def test_half_precision_is_computed_in_float32() -> None:
    log_probs = _log_probs(6, 3, 4, seed=4)
    for fn in (predictive_entropy, expected_entropy, mutual_information, mean_log_probs):
        got = fn(log_probs.bfloat16())
        assert got.dtype == torch.float32
        assert torch.allclose(got.double(), fn(log_probs), atol=3e-2)


@pytest.mark.parametrize(
    "fn", [predictive_entropy, expected_entropy, mutual_information, mean_log_probs]
)
def test_inputs_are_validated(fn) -> None:
    with pytest.raises(InvalidInputError, match=r"shape \[N, K, C\]"):
        fn(torch.zeros(3, 2))
    with pytest.raises(InvalidInputError, match="normalised log-probabilities"):
        fn(_log_probs(3, 2, 2, seed=5).exp())
