"""Pointwise acquisition scores: pure functions ``log_probs_N_K_C -> scores_N``.

``log_probs_N_K_C[n, k, c] = log p(y = c | x_n, θ_k)`` for N inputs, K parameter samples
θ_k of the approximate posterior, and C classes. Every function returns ``scores_N``
(one float per input) and follows one sign rule: **higher = acquire first**.

Notation used in the docstrings:

* ``p_k(c) = exp(log_probs_N_K_C[n, k, c])``, the predictive of sample k;
* ``p̄(c) = (1/K) Σ_k p_k(c)``, the MC-averaged predictive, computed in log space as
  ``logsumexp_k log p_k(c) - log K``;
* ``H[p] = -Σ_c p(c) log p(c)`` (natural log, nats), with ``0 log 0 = 0``.

The entropies and the mutual information come from
:mod:`~bayesal.acquisition.information` (``entropy`` is its ``predictive_entropy``, ``bald``
its ``mutual_information``). Half-precision inputs are scored in float32; other dtypes keep
their precision.

Every score validates and computes chunk by chunk over N
(:func:`~bayesal.acquisition._checks.checked_row_map`): its temporaries are a few MB
whatever N, and its output is bit for bit that of one pass over the whole tensor.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bayesal.acquisition._checks import (
    check_generator,
    check_log_probs,
    checked_row_map,
    log_probs_checker,
)
from bayesal.acquisition._chunks import map_row_chunks
from bayesal.acquisition.information import (
    _as_compute_dtype,
    _mean_log_probs,
    mean_log_probs,
    mutual_information,
    predictive_entropy,
)
from bayesal.errors import InvalidInputError

__all__ = [
    "bald",
    "entropy",
    "least_confidence",
    "margin",
    "mean_log_probs",
    "mean_std",
    "random",
    "variation_ratios",
]


def random(log_probs_N_K_C: Tensor, *, generator: torch.Generator | int) -> Tensor:
    """Uniform random scores, the baseline every other score must beat.

    Equation: ``s_n ~ U[0, 1)`` i.i.d., drawn from ``generator`` (never the global RNG), so
    that top-k of these scores is a uniformly random batch. Only the shape of the input is
    used.

    Args:
        log_probs_N_K_C: log-probabilities ``[N, K, C]`` (validated, otherwise unused).
        generator: the source of randomness, or an integer seed for a fresh CPU
            generator; required.

    Returns:
        ``scores_N``, shape ``[N]``, on the input's device.

    Reference: the standard baseline, e.g. Gal, Islam & Ghahramani (2017), "Deep Bayesian
    Active Learning with Image Data", ICML.
    """
    if isinstance(generator, int) and not isinstance(generator, bool):
        generator = torch.Generator().manual_seed(generator)
    generator = check_generator(generator, "random")
    check_log_probs(log_probs_N_K_C)
    dtype = _as_compute_dtype(log_probs_N_K_C).dtype
    N = log_probs_N_K_C.shape[0]
    # Drawn on the generator's device, so a CPU generator gives the same scores anywhere.
    scores_N = torch.rand(N, generator=generator, device=generator.device, dtype=dtype)
    return scores_N.to(log_probs_N_K_C.device)


def least_confidence(log_probs_N_K_C: Tensor) -> Tensor:
    """Least confidence: one minus the probability of the most likely class.

    Equation: ``s_n = 1 - max_c p̄(c)``, in ``[0, 1 - 1/C]`` (round-off below 0 is clamped).

    Shapes: ``log_probs_N_K_C [N, K, C] -> scores_N [N]``.

    Reference: Lewis & Gale (1994), "A Sequential Algorithm for Training Text
    Classifiers", SIGIR; applied to the MC-averaged predictive as in Gal et al. (2017).
    """
    return checked_row_map(_least_confidence_rows, log_probs_N_K_C)


def _least_confidence_rows(log_probs_N_K_C: Tensor) -> Tensor:
    mean_log_probs_N_C = _mean_log_probs(_as_compute_dtype(log_probs_N_K_C))
    # Round-off can push max p̄ a hair above 1; the score itself is never negative.
    return (1.0 - mean_log_probs_N_C.max(dim=-1).values.exp()).clamp_min(0.0)


def margin(log_probs_N_K_C: Tensor) -> Tensor:
    """Margin: the gap between the two most likely classes, **negated**.

    Equation: ``s_n = -(p̄_(1) - p̄_(2))`` where ``p̄_(1) >= p̄_(2)`` are the two largest
    entries of ``p̄``. A small gap means the model hesitates between two classes; the
    minus sign turns that into a high score, so the sign rule (higher = acquire first)
    holds. Scores lie in ``[-1, 0]``: they are never positive, which is why the
    ``power`` stochastic mode cannot use them.

    Shapes: ``log_probs_N_K_C [N, K, C] -> scores_N [N]``; needs ``C >= 2``.

    Reference: Scheffer, Decomain & Wrobel (2001), "Active Hidden Markov Models for
    Information Extraction", IDA.
    """
    check_chunk = log_probs_checker(log_probs_N_K_C)
    if log_probs_N_K_C.shape[2] < 2:
        check_log_probs(log_probs_N_K_C)  # malformed values are reported first
        raise InvalidInputError(
            f"margin needs at least 2 classes, got C = {log_probs_N_K_C.shape[2]} "
            f"(shape {list(log_probs_N_K_C.shape)})."
        )
    return map_row_chunks(_margin_rows, log_probs_N_K_C, check_chunk)


def _margin_rows(log_probs_N_K_C: Tensor) -> Tensor:
    mean_probs_N_C = _mean_log_probs(_as_compute_dtype(log_probs_N_K_C)).exp()
    top_N_2 = mean_probs_N_C.topk(2, dim=-1).values
    return -(top_N_2[:, 0] - top_N_2[:, 1])


def entropy(log_probs_N_K_C: Tensor) -> Tensor:
    """Predictive entropy: the entropy of the MC-averaged predictive.

    Equation: ``s_n = H[p̄] = -Σ_c p̄(c) log p̄(c)``, in ``[0, log C]`` (nats).
    Round-off below 0 is clamped to 0.

    Shapes: ``log_probs_N_K_C [N, K, C] -> scores_N [N]``.

    Reference: Shannon (1948), "A Mathematical Theory of Communication"; as an
    acquisition function with MC dropout: Gal, Islam & Ghahramani (2017), "Deep Bayesian
    Active Learning with Image Data", ICML.
    """
    return predictive_entropy(log_probs_N_K_C)


def variation_ratios(log_probs_N_K_C: Tensor) -> Tensor:
    """Variation ratios: the fraction of samples that disagree with the modal prediction.

    Equation: with ``ŷ_k = argmax_c p_k(c)`` the prediction of sample k,
    ``s_n = 1 - max_c |{k : ŷ_k = c}| / K``, in ``[0, 1 - 1/C]``; ``K = 1`` gives 0.
    Within one sample, a tie between classes goes to the lowest class index.

    Shapes: ``log_probs_N_K_C [N, K, C] -> scores_N [N]``.

    Reference: Freeman (1965), "Elementary Applied Statistics"; as an acquisition function:
    Gal, Islam & Ghahramani (2017), "Deep Bayesian Active Learning with Image Data", ICML.
    """
    return checked_row_map(_variation_ratios_rows, log_probs_N_K_C)


def _variation_ratios_rows(log_probs_N_K_C: Tensor) -> Tensor:
    values = _as_compute_dtype(log_probs_N_K_C)
    N, K, C = values.shape
    predictions_N_K = values.argmax(dim=-1)
    counts_N_C = torch.zeros(N, C, dtype=values.dtype, device=values.device)
    ones_N_K = torch.ones_like(predictions_N_K, dtype=values.dtype)
    counts_N_C.scatter_add_(1, predictions_N_K, ones_N_K)
    return 1.0 - counts_N_C.max(dim=-1).values / K


def mean_std(log_probs_N_K_C: Tensor) -> Tensor:
    """Mean standard deviation: the spread of the class probabilities across samples.

    Equation: ``s_n = (1/C) Σ_c sqrt( (1/K) Σ_k (p_k(c) - p̄(c))² )`` (population
    standard deviation over K, averaged over classes); ``>= 0``, and 0 when ``K = 1``.

    Shapes: ``log_probs_N_K_C [N, K, C] -> scores_N [N]``.

    Reference: Kampffmeyer, Salberg & Jenssen (2016), "Semantic Segmentation of Small
    Objects and Modeling of Uncertainty in Urban Remote Sensing Images Using Deep
    Convolutional Neural Networks", CVPR Workshops; used by Gal et al. (2017).
    """
    return checked_row_map(_mean_std_rows, log_probs_N_K_C)


def _mean_std_rows(log_probs_N_K_C: Tensor) -> Tensor:
    probs_N_K_C = _as_compute_dtype(log_probs_N_K_C).exp()
    deviation_N_K_C = probs_N_K_C - probs_N_K_C.mean(dim=1, keepdim=True)
    std_N_C = deviation_N_K_C.square().mean(dim=1).sqrt()
    return std_N_C.mean(dim=-1)


def bald(log_probs_N_K_C: Tensor) -> Tensor:
    """BALD: the mutual information between the label and the model parameters.

    Equation: ``s_n = I[y; θ | x_n] ≈ H[p̄] - (1/K) Σ_k H[p_k]``, the predictive entropy
    minus the expected entropy of the per-sample predictives, in ``[0, log C]`` (nats).
    High when the samples are individually confident but disagree. It is non-negative by
    Jensen's inequality; round-off below 0 is clamped to 0. ``K = 1`` gives 0.

    Shapes: ``log_probs_N_K_C [N, K, C] -> scores_N [N]``.

    Reference: Houlsby, Huszár, Ghahramani & Lengyel (2011), "Bayesian Active Learning for
    Classification and Preference Learning", arXiv:1112.5745; with MC dropout: Gal, Islam
    & Ghahramani (2017), "Deep Bayesian Active Learning with Image Data", ICML.
    """
    return mutual_information(log_probs_N_K_C)
