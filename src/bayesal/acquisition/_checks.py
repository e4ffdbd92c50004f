"""Input validation shared by the acquisition functions.

Every check raises :class:`bayesal.errors.InvalidInputError` with a message that says what
is wrong and how to fix it. The checks are cheap compared with scoring (one pass over the
tensor), so every public function runs them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NoReturn

import torch
from torch import Tensor

from bayesal.acquisition._chunks import map_row_chunks, row_chunks
from bayesal.errors import InvalidInputError

#: Tolerance on ``|logsumexp_c log p_c|`` for float32/float64 inputs.
NORMALISATION_ATOL = 1e-3


def check_log_probs(log_probs_N_K_C: object, name: str = "log_probs_N_K_C") -> None:
    """Check that ``log_probs_N_K_C`` is a valid ``[N, K, C]`` tensor of log-probabilities.

    Valid means: a floating-point ``torch.Tensor`` of rank 3 with ``K >= 1`` and ``C >= 1``
    (``N == 0`` is allowed), no NaN, no ``+inf`` (``-inf`` is fine: it is the log of a
    probability of 0), and every ``[n, k, :]`` row sums to 1 in probability space, i.e.
    ``|logsumexp_c log_probs[n, k, c]| <= 1e-3`` (looser for half precision).

    The values are checked chunk by chunk over N (see :mod:`~bayesal.acquisition._chunks`),
    so the check needs a few MB besides the input, not a copy of it.

    Raises:
        InvalidInputError: naming the first violated condition.
    """
    check_chunk = log_probs_checker(log_probs_N_K_C, name)
    if check_chunk is None:
        return
    assert isinstance(log_probs_N_K_C, Tensor)  # checked by log_probs_checker
    for start, end in row_chunks(log_probs_N_K_C):
        check_chunk(log_probs_N_K_C[start:end])


def log_probs_checker(
    log_probs_N_K_C: object, name: str = "log_probs_N_K_C"
) -> Callable[[Tensor], None] | None:
    """Check the form of ``log_probs_N_K_C`` (type, dtype, rank, ``K, C >= 1``) now, and
    return the check of its values, to run on every row chunk ``log_probs_N_K_C[a:b]``
    (None when the tensor is empty: nothing to check).

    The returned function raises when its chunk has a row that is not normalised; the
    error then names the first violated condition of the *whole* tensor (NaN anywhere,
    then ``+inf`` anywhere, then the worst row), exactly as :func:`check_log_probs` does.

    Raises:
        InvalidInputError: for a malformed tensor (now) or malformed values (when called).
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
        return None
    whole = log_probs_N_K_C
    atol = max(NORMALISATION_ATOL, 4 * torch.finfo(whole.dtype).eps)

    def check_chunk(chunk_n_K_C: Tensor) -> None:
        # One pass covers the common case: a NaN or +inf entry makes its row's logsumexp
        # NaN or +inf, so only a failing tensor pays for the diagnosis.
        if not bool((_deviation(chunk_n_K_C) <= atol).all()):
            _raise_first_violation(whole, name, atol)

    return check_chunk


def _deviation(log_probs_n_K_C: Tensor) -> Tensor:
    """``|logsumexp_c log_probs[n, k, c]|``, ``[n, K]``; half precision in float32."""
    values = log_probs_n_K_C
    if values.dtype in (torch.float16, torch.bfloat16):
        values = values.float()
    return torch.logsumexp(values, dim=-1).abs()


def _raise_first_violation(log_probs_N_K_C: Tensor, name: str, atol: float) -> NoReturn:
    """Raise for the first violated condition of a tensor whose values failed the check:
    NaN anywhere, then ``+inf`` anywhere, then the worst row (the first one of the worst)."""
    chunks = [log_probs_N_K_C[start:end] for start, end in row_chunks(log_probs_N_K_C)]
    if any(bool(torch.isnan(chunk).any()) for chunk in chunks):
        raise InvalidInputError(
            f"{name} contains NaN; check the model output (e.g. a diverged training run)."
        )
    if any(bool(torch.isposinf(chunk).any()) for chunk in chunks):
        raise InvalidInputError(
            f"{name} contains +inf, which is not a log-probability; "
            "pass log-probabilities, e.g. log_softmax(logits)."
        )
    K = log_probs_N_K_C.shape[1]
    worst = -math.inf
    worst_index = 0
    offset = 0
    for chunk in chunks:
        deviation_n_K = _deviation(chunk)  # rows that are all -inf have deviation +inf
        chunk_worst = float(deviation_n_K.max())
        if chunk_worst > worst:  # strictly: the first of equal maxima, as argmax
            worst = chunk_worst
            worst_index = offset * K + int(deviation_n_K.argmax())
        offset += chunk.shape[0]
    n, k = divmod(worst_index, K)
    raise InvalidInputError(
        f"{name} rows must be normalised log-probabilities over the C classes, but at "
        f"[n={n}, k={k}] |logsumexp over C| = {worst:.3g} > {atol:g}; "
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
    size = int(batch_size)
    if size < 1:
        raise InvalidInputError(
            f"batch size must be at least 1, got {size} (pool size {pool_size})."
        )
    if size > pool_size:
        raise InvalidInputError(
            f"batch size {size} is larger than the pool size {pool_size}; "
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


def check_generator(generator: object, who: str) -> torch.Generator:
    """Check that ``generator`` is a ``torch.Generator`` (no global RNG is ever used).

    Returns:
        ``generator``, typed as a ``torch.Generator``.

    Raises:
        InvalidInputError: when it is missing or of another type.
    """
    if not isinstance(generator, torch.Generator):
        raise InvalidInputError(
            f"{who} needs an explicit torch.Generator for its randomness, got "
            f"{type(generator).__name__}; pass e.g. generator=torch.Generator().manual_seed(0)."
        )
    return generator


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


def checked_row_map(
    fn: Callable[[Tensor], Tensor], log_probs_N_K_C: object, name: str = "log_probs_N_K_C"
) -> Tensor:
    """Validate ``log_probs_N_K_C`` as :func:`check_log_probs` does and return
    ``fn(log_probs_N_K_C)``, both chunk by chunk over N (one pass: each chunk is checked,
    then scored), so the temporaries of ``fn`` are those of one chunk.

    ``fn`` maps ``[n, K, C]`` to ``[n, ...]`` row by row, without validation. The output
    is bit for bit that of ``fn`` on the whole tensor (see
    :mod:`~bayesal.acquisition._chunks`); errors are those of :func:`check_log_probs`.

    Raises:
        InvalidInputError: for malformed log-probs.
    """
    check_chunk = log_probs_checker(log_probs_N_K_C, name)
    assert isinstance(log_probs_N_K_C, Tensor)  # checked by log_probs_checker
    return map_row_chunks(fn, log_probs_N_K_C, check_chunk)
