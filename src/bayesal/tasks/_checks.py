"""Input validation shared by the task modules.

Every check raises :class:`bayesal.errors.InvalidInputError` with a message that says what
is wrong and what to pass instead.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from bayesal.errors import InvalidInputError


def check_float_tensor(value: object, name: str, shape_doc: str, rank: int) -> Tensor:
    """``value`` as a floating-point tensor of rank ``rank`` without NaN.

    Raises:
        InvalidInputError: for another type, an integer dtype, another rank or NaN.
    """
    if not isinstance(value, Tensor):
        raise InvalidInputError(
            f"{name} must be a torch.Tensor of shape {shape_doc}, got {type(value).__name__}."
        )
    if not value.is_floating_point():
        raise InvalidInputError(
            f"{name} must be a floating-point tensor, got dtype {value.dtype}; "
            f"convert it with .double() or .float()."
        )
    if value.dim() != rank:
        raise InvalidInputError(
            f"{name} must have shape {shape_doc}, got shape {list(value.shape)} with "
            f"{value.dim()} dimension(s)."
        )
    if bool(torch.isnan(value).any()):
        raise InvalidInputError(
            f"{name} contains NaN; check the model output (e.g. a diverged training run)."
        )
    return value


def check_samples(value: Tensor, name: str, shape_doc: str) -> None:
    """At least one parameter sample (dimension 1) and a non-empty last dimension."""
    if value.shape[1] == 0 or (value.dim() > 2 and value.shape[2] == 0):
        raise InvalidInputError(
            f"{name} must have at least one parameter sample (K) and one output per "
            f"sample, got shape {shape_doc} = {list(value.shape)}."
        )


def compute_dtype(value: Tensor) -> Tensor:
    """float32 for half-precision input, the input itself otherwise."""
    if value.dtype in (torch.float16, torch.bfloat16):
        return value.float()
    return value


def as_float64_array(value: object, name: str) -> NDArray[np.float64]:
    """``value`` (a tensor, an array or nested lists) as a float64 numpy array.

    Raises:
        InvalidInputError: when it cannot be converted, or holds NaN.
    """
    if isinstance(value, Tensor):
        value = value.detach().cpu().double().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(
            f"{name} must be an array of numbers, got {type(value).__name__} ({error})."
        ) from None
    if np.isnan(array).any():
        raise InvalidInputError(f"{name} contains NaN.")
    return array


def as_int64_array(value: object, name: str) -> NDArray[np.int64]:
    """``value`` (a tensor, an array or nested lists of integers) as an int64 array.

    Raises:
        InvalidInputError: for non-integer values.
    """
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise InvalidInputError(f"{name} must hold integer class labels.")
    elif array.dtype.kind not in "iub":
        raise InvalidInputError(f"{name} must hold integer class labels, got dtype {array.dtype}.")
    return array.astype(np.int64)


def check_binary(array: NDArray[np.float64], name: str) -> NDArray[np.bool_]:
    """``array`` of 0 / 1 values as booleans.

    Raises:
        InvalidInputError: for any other value.
    """
    if not np.all((array == 0) | (array == 1)):
        bad = array[(array != 0) & (array != 1)][:3].tolist()
        raise InvalidInputError(f"{name} must hold 0 / 1 labels, found {bad}.")
    result: NDArray[np.bool_] = array == 1
    return result


def check_same_shape(a: NDArray[np.generic], b: NDArray[np.generic], names: str) -> None:
    """``a`` and ``b`` have one shape."""
    if a.shape != b.shape:
        raise InvalidInputError(
            f"{names} must have the same shape, got {list(a.shape)} and {list(b.shape)}."
        )


def check_fraction(value: object, name: str, *, closed_low: bool = False) -> float:
    """A number in ``(0, 1]`` (``[0, 1]`` when ``closed_low``) as a float.

    Raises:
        InvalidInputError: otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name} must be a number, got {value!r}.")
    x = float(value)
    low_ok = x >= 0.0 if closed_low else x > 0.0
    if not (math.isfinite(x) and low_ok and x <= 1.0):
        interval = "[0, 1]" if closed_low else "(0, 1]"
        raise InvalidInputError(f"{name} must lie in {interval}, got {value!r}.")
    return x


def check_generator(generator: object, who: str) -> torch.Generator:
    """``generator`` as a ``torch.Generator``; an ``int`` seeds a fresh CPU generator.

    Raises:
        InvalidInputError: for anything else (no global random state is ever read).
    """
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    if not isinstance(generator, torch.Generator):
        raise InvalidInputError(
            f"{who} needs an explicit torch.Generator (or an integer seed) for its "
            f"randomness, got {type(generator).__name__}; pass e.g. "
            "generator=torch.Generator().manual_seed(0)."
        )
    return generator


def uniform_scores(N: int, generator: torch.Generator, like: Tensor) -> Tensor:
    """``N`` i.i.d. ``U[0, 1)`` scores drawn on the generator's device, returned on the
    device of ``like`` in its compute dtype."""
    dtype = compute_dtype(like).dtype
    scores_N = torch.rand(N, generator=generator, device=generator.device, dtype=dtype)
    return scores_N.to(like.device)
