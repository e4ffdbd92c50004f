"""Input validation shared by the acquisition functions.

Every check raises :class:`bayesal.errors.InvalidInputError` with a message that says what
is wrong and how to fix it. The checks are cheap compared with scoring (one pass over the
tensor), so every public function runs them.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from bayesal.errors import InvalidInputError

#: Tolerance on ``|logsumexp_c log p_c|`` for float32/float64 inputs.
NORMALISATION_ATOL = 1e-3


def check_log_probs(log_probs_N_K_C: object, name: str = "log_probs_N_K_C") -> None:
    """Check that ``log_probs_N_K_C`` is a valid ``[N, K, C]`` tensor of log-probabilities.

    Valid means: a floating-point ``torch.Tensor`` of rank 3 with ``K >= 1`` and ``C >= 1``
    (``N == 0`` is allowed), no NaN, no ``+inf`` (``-inf`` is fine: it is the log of a
    probability of 0), and every ``[n, k, :]`` row sums to 1 in probability space, i.e.
    ``|logsumexp_c log_probs[n, k, c]| <= 1e-3`` (looser for half precision).

    Raises:
        InvalidInputError: naming the first violated condition.
    """
    if not isinstance(log_probs_N_K_C, Tensor):
        raise InvalidInputError(
            f"{name} must be a torch.Tensor of shape [N, K, C], "
            f"got {type(log_probs_N_K_C).__name__}."
        )
    if not log_probs_N_K_C.is_floating_point():
        raise InvalidInputError(
            f"{name} must be a floating-point tensor of log-probabilities, got dtype "
            f"{log_probs_N_K_C.dtype}; pass log-probabilities, e.g. log_softmax(logits)."
        )
    if log_probs_N_K_C.dim() != 3:
        raise InvalidInputError(
            f"{name} must have shape [N, K, C] (inputs, parameter samples, classes), got "
            f"shape {list(log_probs_N_K_C.shape)} with {log_probs_N_K_C.dim()} dimension(s)."
        )
    _, K, C = log_probs_N_K_C.shape
    if K == 0 or C == 0:
        raise InvalidInputError(
            f"{name} must have at least one parameter sample (K) and one class (C), got shape "
            f"[N, K, C] = {list(log_probs_N_K_C.shape)}."
        )
    if log_probs_N_K_C.numel() == 0:
        return
    # Half-precision inputs are checked in float32, with a tolerance a few ulps wide.
    values = log_probs_N_K_C
    if values.dtype in (torch.float16, torch.bfloat16):
        values = values.float()
    atol = max(NORMALISATION_ATOL, 4 * torch.finfo(log_probs_N_K_C.dtype).eps)
    # One pass covers the common case: a NaN or +inf entry makes its row's logsumexp NaN or
    # +inf, so only a failing tensor pays for the diagnosis below.
    deviation_N_K = torch.logsumexp(values, dim=-1).abs()
    if bool((deviation_N_K <= atol).all()):
        return
    if torch.isnan(log_probs_N_K_C).any():
        raise InvalidInputError(
            f"{name} contains NaN; check the model output (e.g. a diverged training run)."
        )
    if torch.isposinf(log_probs_N_K_C).any():
        raise InvalidInputError(
            f"{name} contains +inf, which is not a log-probability; "
            "pass log-probabilities, e.g. log_softmax(logits)."
        )
    worst = deviation_N_K.max()  # rows that are all -inf have deviation +inf
    n, k = divmod(int(deviation_N_K.argmax()), deviation_N_K.shape[1])
    raise InvalidInputError(
        f"{name} rows must be normalised log-probabilities over the C classes, but at "
        f"[n={n}, k={k}] |logsumexp over C| = {float(worst):.3g} > {atol:g}; "
        "pass log-probabilities, e.g. log_softmax(logits), not logits or probabilities."
    )


def check_batch_size(batch_size: object, pool_size: int) -> None:
    """Check ``1 <= batch_size <= pool_size`` with ``batch_size`` an integer.

    Raises:
        InvalidInputError: saying both numbers.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise InvalidInputError(
            f"batch size must be an integer, got {batch_size!r} "
            f"({type(batch_size).__name__}); the pool has {pool_size} point(s)."
        )
    if batch_size < 1:
        raise InvalidInputError(
            f"batch size must be at least 1, got {batch_size} (pool size {pool_size})."
        )
    if batch_size > pool_size:
        raise InvalidInputError(
            f"batch size {batch_size} is larger than the pool size {pool_size}; "
            f"ask for at most {pool_size} point(s)."
        )


def check_scores(scores_N: object, name: str = "scores_N") -> None:
    """Check that ``scores_N`` is a 1-D floating-point tensor without NaN (``±inf`` allowed).

    Raises:
        InvalidInputError: naming the violated condition.
    """
    if not isinstance(scores_N, Tensor):
        raise InvalidInputError(
            f"{name} must be a 1-D torch.Tensor of scores, got {type(scores_N).__name__}."
        )
    if not scores_N.is_floating_point():
        raise InvalidInputError(
            f"{name} must be a floating-point tensor, got dtype {scores_N.dtype}; "
            "convert with scores_N.float()."
        )
    if scores_N.dim() != 1:
        raise InvalidInputError(
            f"{name} must have shape [N] (one score per input), got shape {list(scores_N.shape)}."
        )
    if torch.isnan(scores_N).any():
        raise InvalidInputError(
            f"{name} contains NaN at position(s) "
            f"{torch.nonzero(torch.isnan(scores_N)).flatten()[:5].tolist()}; "
            "fix the scoring function or its input."
        )


def check_generator(generator: object, who: str) -> None:
    """Check that ``generator`` is a ``torch.Generator`` (no global RNG is ever used).

    Raises:
        InvalidInputError: when it is missing or of another type.
    """
    if not isinstance(generator, torch.Generator):
        raise InvalidInputError(
            f"{who} needs an explicit torch.Generator for its randomness, got "
            f"{type(generator).__name__}; pass e.g. generator=torch.Generator().manual_seed(0)."
        )


def check_temperature(temperature: object) -> float:
    """Check ``temperature`` is a finite number > 0 with a finite ``1 / temperature``.

    Returns:
        β = 1 / temperature.

    Raises:
        InvalidInputError: when it is not.
    """
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise InvalidInputError(
            f"temperature must be a positive number, got {temperature!r} "
            f"({type(temperature).__name__})."
        )
    t = float(temperature)
    if not (math.isfinite(t) and t > 0.0 and math.isfinite(1.0 / t)):
        raise InvalidInputError(
            f"temperature must be a finite number > 0 (β = 1/temperature), got {temperature!r}; "
            "smaller temperatures approach top-k, larger ones approach uniform sampling."
        )
    return 1.0 / t
