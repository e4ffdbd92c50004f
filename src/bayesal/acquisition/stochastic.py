"""Stochastic batch acquisition: sample a batch with probabilities that grow with the score.

Kirsch, Farquhar, Atighehchian, Jesson, Branchaud-Charron & Gal (2023), "Stochastic Batch
Acquisition: A Simple Baseline for Deep Active Learning", TMLR. Taking the top-k of a
pointwise score picks k near-duplicates; sampling k distinct points without replacement
with probability proportional to a weight ``w_n`` that increases with the score ``s_n``
gives diverse batches at no extra cost. Three weightings, each with β = 1 / temperature:

* ``power``:    ``w_n = s_n^β``         (needs ``s_n >= 0``),
* ``softmax``:  ``w_n = exp(β s_n)``,
* ``softrank``: ``w_n = r_n^(-β)``      (``r_n`` = rank of ``s_n``, 1 = highest score).

Sampling uses the Gumbel-top-k trick: with ``g_n`` i.i.d. standard Gumbel noise, the
positions of the k largest ``log w_n + g_n`` are distributed as k draws without
replacement, each with probability ``w_n / Σ_{m not yet drawn} w_m`` (Kool, van Hoof &
Welling 2019, "Stochastic Beams and Where to Find Them", ICML).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

from bayesal.acquisition._checks import (
    check_batch_size,
    check_generator,
    check_scores,
    check_temperature,
)
from bayesal.acquisition.base import Selection
from bayesal.acquisition.selection import top_k
from bayesal.errors import InvalidInputError

__all__ = ["STOCHASTIC_MODES", "StochasticMode", "stochastic_batch", "stochastic_log_weights"]

StochasticMode = Literal["power", "softmax", "softrank"]
#: The valid values of ``mode``.
STOCHASTIC_MODES: tuple[StochasticMode, ...] = get_args(StochasticMode)


def _key_dtype(scores_N: Tensor) -> torch.dtype:
    # float64 keeps Gumbel keys of nearby weights apart; MPS has no float64.
    return torch.float32 if scores_N.device.type == "mps" else torch.float64


def _descending_rank(scores_N: Tensor) -> Tensor:
    """Competition rank ``1 + #{m : s_m > s_n}``: rank 1 = highest; ties share a rank."""
    sorted_ascending_N = torch.sort(scores_N).values
    num_greater_N = scores_N.shape[0] - torch.searchsorted(sorted_ascending_N, scores_N, right=True)
    return num_greater_N + 1


def stochastic_log_weights(
    scores_N: Tensor, *, mode: StochasticMode, temperature: float = 1.0
) -> Tensor:
    """Log of the unnormalised sampling weights ``log w_n`` for ``mode``.

    Equations (β = 1 / temperature): ``power``: ``β log s_n`` (``-inf`` for ``s_n = 0``);
    ``softmax``: ``β s_n``; ``softrank``: ``-β log r_n`` with ``r_n = 1 + #{m : s_m > s_n}``
    (tied scores share the best rank, so they get equal weight).

    Shapes: ``scores_N [N] -> log_weights_N [N]`` (float64, float32 on MPS).

    Reference: Kirsch et al. (2023), "Stochastic Batch Acquisition: A Simple Baseline for
    Deep Active Learning", TMLR.

    Raises:
        InvalidInputError: for an unknown mode, a temperature that is not > 0, NaN scores,
            or negative scores with ``mode="power"``.
    """
    check_scores(scores_N)
    beta = check_temperature(temperature)
    values_N = scores_N.to(_key_dtype(scores_N))
    if mode == "power":
        if bool((values_N < 0).any()):
            raise InvalidInputError(
                f"mode='power' needs non-negative scores (w = s^β), but the smallest score is "
                f"{float(values_N.min()):.4g}; use mode='softmax' or 'softrank' for scores "
                "that can be negative (e.g. margin)."
            )
        return beta * torch.log(values_N)
    if mode == "softmax":
        return beta * values_N
    if mode == "softrank":
        return -beta * torch.log(_descending_rank(values_N).to(values_N.dtype))
    raise InvalidInputError(
        f"unknown stochastic mode {mode!r}; choose one of {', '.join(STOCHASTIC_MODES)}."
    )


def stochastic_batch(
    scores_N: Tensor,
    k: int,
    *,
    mode: StochasticMode,
    temperature: float = 1.0,
    generator: torch.Generator,
) -> Selection:
    """Sample ``k`` distinct positions without replacement, with probabilities ∝ ``w_n``.

    Equation: ``indices_B = top-k_n (log w_n + g_n)``, ``g_n ~ Gumbel(0, 1)`` i.i.d. from
    ``generator``, with ``log w_n`` from :func:`stochastic_log_weights`. The first pick is
    n with probability ``w_n / Σ_m w_m``, each later pick is proportional to ``w_n`` among
    the points not yet picked. As ``temperature -> 0`` the sample becomes the top-k of
    the scores; as ``temperature -> ∞`` it becomes uniform. Points with weight 0 (score
    0 under ``power``) are only picked once every positive-weight point is, uniformly at
    random among themselves.

    Args:
        scores_N: pointwise scores, shape ``[N]``, higher = acquire first; no NaN.
        k: batch size, ``1 <= k <= N``.
        mode: ``"power"``, ``"softmax"`` or ``"softrank"``.
        temperature: ``> 0``; β = 1 / temperature. Default 1.0.
        generator: the source of randomness; required.

    Returns:
        :class:`Selection`: ``indices_B`` (int64, shape ``[k]``, distinct, in draw order)
        and ``scores_B = scores_N[indices_B]`` (the original scores, not the keys).

    Reference: Kirsch et al. (2023), "Stochastic Batch Acquisition: A Simple Baseline for
    Deep Active Learning", TMLR; Gumbel-top-k: Kool et al. (2019), ICML.

    Raises:
        InvalidInputError: as :func:`stochastic_log_weights`, or for ``k`` out of range or
            a missing generator.
    """
    check_generator(generator, "stochastic_batch")
    check_scores(scores_N)
    check_batch_size(k, scores_N.shape[0])
    log_weights_N = stochastic_log_weights(scores_N, mode=mode, temperature=temperature)
    dtype = log_weights_N.dtype
    noise_dtype = torch.float64 if generator.device.type != "mps" else torch.float32
    uniform_N = torch.rand(
        scores_N.shape[0], generator=generator, device=generator.device, dtype=noise_dtype
    )
    # rand is in [0, 1): keep it off 0 so that the Gumbel noise -log(-log u) stays finite.
    uniform_N = uniform_N.clamp_min(torch.finfo(noise_dtype).tiny)
    gumbel_N = -torch.log(-torch.log(uniform_N))
    keys_N = log_weights_N + gumbel_N.to(device=scores_N.device, dtype=dtype)
    # Keys tie only at ±inf (weight 0 or infinite); top_k breaks those ties at random.
    indices_B = top_k(keys_N, k, generator=generator).indices_B
    return Selection(indices_B=indices_B, scores_B=scores_N[indices_B])
