"""Entropies and mutual information of the ``[N, K, C]`` predictive: the shared building blocks.

``log_probs_N_K_C[n, k, c] = log p(y = c | x_n, θ_k)`` for N inputs, K parameter samples
θ_k and C classes. With ``p_k(c) = exp(log_probs_N_K_C[n, k, c])`` and the MC-averaged
predictive ``p̄(c) = (1/K) Σ_k p_k(c)``:

* :func:`mean_log_probs`: ``log p̄(c) = logsumexp_k log p_k(c) - log K``, ``[N, C]``;
* :func:`predictive_entropy`: ``H[p̄]`` (total uncertainty), ``[N]``;
* :func:`expected_entropy`: ``(1/K) Σ_k H[p_k]`` (aleatoric part), ``[N]``;
* :func:`mutual_information`: ``I[y; θ | x] = H[p̄] - (1/K) Σ_k H[p_k]`` (the BALD score,
  epistemic part), ``[N]``,

with ``H[p] = -Σ_c p(c) log p(c)`` in nats and ``0 log 0 = 0``. The acquisition scores
(:mod:`~bayesal.acquisition.scores`), EPIG, BatchBALD and the TwoMoons snapshots all use
these, so each quantity is computed one way everywhere. Half-precision inputs are
computed in float32; other dtypes keep their precision.

The private kernels (``_``-prefixed) skip validation and dtype promotion: they are for the
modules of this package, which validate once and then call them, and they fix the order
of the floating-point operations, which committed study results depend on bit for bit.
Two entropy kernels exist for that reason: :func:`_entropy_of_log_probs` (``p log p`` from
log-probs, used by the pointwise scores) and :func:`_entropy_of_probs` (``xlogy(p, p)``
from probabilities, used by EPIG and BatchBALD); they agree to round-off, not bit for bit.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from bayesal.acquisition._checks import checked_row_map

__all__ = ["expected_entropy", "mean_log_probs", "mutual_information", "predictive_entropy"]


def _as_compute_dtype(log_probs: Tensor) -> Tensor:
    """float32 for half-precision input, the input itself otherwise."""
    if log_probs.dtype in (torch.float16, torch.bfloat16):
        return log_probs.float()
    return log_probs


def _log_mean_exp(log_values: Tensor, dim: int) -> Tensor:
    """``log((1/n) Σ exp(x))`` along ``dim`` (n its size): ``logsumexp - log n``."""
    return torch.logsumexp(log_values, dim=dim) - math.log(log_values.shape[dim])


def _mean_log_probs(log_probs_N_K_C: Tensor) -> Tensor:
    """``log p̄``: ``[N, K, C] -> [N, C]``, no validation."""
    return _log_mean_exp(log_probs_N_K_C, dim=1)


def _entropy_of_log_probs(log_probs_C: Tensor) -> Tensor:
    """``-Σ_c p_c log p_c`` over the last dim from log-probs; ``-inf`` entries give 0, not NaN."""
    # 0 * -inf would be NaN; the limit p log p -> 0 as p -> 0 makes the term exactly 0.
    terms = torch.where(
        torch.isneginf(log_probs_C),
        torch.zeros((), dtype=log_probs_C.dtype, device=log_probs_C.device),
        log_probs_C.exp() * log_probs_C,
    )
    return -terms.sum(dim=-1)


def _entropy_of_probs(probs_C: Tensor) -> Tensor:
    """``-Σ_c p_c log p_c`` over the last dim from probabilities (``xlogy``: 0 log 0 = 0)."""
    terms: Tensor = torch.special.xlogy(probs_C, probs_C)
    return -terms.sum(dim=-1)


def _predictive_entropy(log_probs_N_K_C: Tensor) -> Tensor:
    """``H[p̄]``, ``[N]``, unclamped, no validation."""
    return _entropy_of_log_probs(_mean_log_probs(log_probs_N_K_C))


def _expected_entropy(log_probs_N_K_C: Tensor) -> Tensor:
    """``(1/K) Σ_k H[p_k]``, ``[N]``, unclamped, no validation."""
    return _entropy_of_log_probs(log_probs_N_K_C).mean(dim=1)


def _mutual_information(log_probs_N_K_C: Tensor) -> Tensor:
    """``H[p̄] - (1/K) Σ_k H[p_k]``, ``[N]``, clamped at 0, no validation."""
    predictive_entropy_N = _predictive_entropy(log_probs_N_K_C)
    expected_entropy_N = _expected_entropy(log_probs_N_K_C)
    return (predictive_entropy_N - expected_entropy_N).clamp_min(0.0)


# What the public functions compute on each chunk of rows (any dtype, no validation).


def _mean_log_probs_rows(log_probs_n_K_C: Tensor) -> Tensor:
    return _mean_log_probs(_as_compute_dtype(log_probs_n_K_C))


def _predictive_entropy_rows(log_probs_n_K_C: Tensor) -> Tensor:
    return _predictive_entropy(_as_compute_dtype(log_probs_n_K_C)).clamp_min(0.0)


def _expected_entropy_rows(log_probs_n_K_C: Tensor) -> Tensor:
    values = _as_compute_dtype(log_probs_n_K_C)
    return _entropy_of_log_probs(values).clamp_min(0.0).mean(dim=1)


def _mutual_information_rows(log_probs_n_K_C: Tensor) -> Tensor:
    return _mutual_information(_as_compute_dtype(log_probs_n_K_C))


def mean_log_probs(log_probs_N_K_C: Tensor) -> Tensor:
    """Log of the MC-averaged predictive, ``log p̄(c) = logsumexp_k log p_k(c) - log K``.

    Shapes: ``[N, K, C] -> [N, C]``. Computed in log space, so probabilities far below
    float precision (and exact zeros, ``-inf``) are handled without underflow.

    Raises:
        InvalidInputError: for malformed log-probs (see
            :func:`~bayesal.acquisition.check_log_probs`).
    """
    return checked_row_map(_mean_log_probs_rows, log_probs_N_K_C)


def predictive_entropy(log_probs_N_K_C: Tensor) -> Tensor:
    """Entropy of the MC-averaged predictive (total uncertainty).

    Equation: ``H[p̄] = -Σ_c p̄(c) log p̄(c)`` with ``log p̄`` from :func:`mean_log_probs`,
    in ``[0, log C]`` nats; round-off below 0 is clamped to 0. The ``entropy``
    acquisition score is this function.

    Shapes: ``log_probs_N_K_C [N, K, C] -> [N]``.

    Reference: Shannon (1948), "A Mathematical Theory of Communication".

    Raises:
        InvalidInputError: for malformed log-probs.
    """
    return checked_row_map(_predictive_entropy_rows, log_probs_N_K_C)


def expected_entropy(log_probs_N_K_C: Tensor) -> Tensor:
    """Expected entropy of the per-sample predictives (aleatoric uncertainty).

    Equation: ``(1/K) Σ_k H[p_k]`` with ``H[p_k] = -Σ_c p_k(c) log p_k(c)`` (each clamped
    at 0 against round-off), in ``[0, log C]`` nats.

    Shapes: ``log_probs_N_K_C [N, K, C] -> [N]``.

    Reference: Houlsby, Huszár, Ghahramani & Lengyel (2011), "Bayesian Active Learning for
    Classification and Preference Learning", arXiv:1112.5745 (the second term of BALD).

    Raises:
        InvalidInputError: for malformed log-probs.
    """
    return checked_row_map(_expected_entropy_rows, log_probs_N_K_C)


def mutual_information(log_probs_N_K_C: Tensor) -> Tensor:
    """Mutual information between the label and the parameters (epistemic uncertainty).

    Equation: ``I[y; θ | x] ≈ H[p̄] - (1/K) Σ_k H[p_k]``, the difference of the two
    unclamped entropies above, clamped at 0 (it is non-negative by Jensen's inequality;
    only round-off goes below), in ``[0, log C]`` nats; ``K = 1`` gives 0. The ``bald``
    acquisition score is this function.

    Shapes: ``log_probs_N_K_C [N, K, C] -> [N]``.

    Reference: Houlsby, Huszár, Ghahramani & Lengyel (2011), "Bayesian Active Learning for
    Classification and Preference Learning", arXiv:1112.5745.

    Raises:
        InvalidInputError: for malformed log-probs.
    """
    return checked_row_map(_mutual_information_rows, log_probs_N_K_C)
