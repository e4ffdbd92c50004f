"""Devices by name: ``auto | cpu | cuda | cuda:N | mps``.

``resolve_device("auto")`` picks CUDA when available, then Apple's MPS, else the CPU.
A device that does not exist on this machine raises :class:`InvalidInputError` naming
what is available, before any work starts.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor, nn

from bayesal.errors import InvalidInputError

DeviceLike = str | torch.device

_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Devices usable on this machine, e.g. ``["cpu", "cuda:0"]``."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        found.append("mps")
    return found


def resolve_device(device: DeviceLike | None = "auto") -> torch.device:
    """The :class:`torch.device` for ``device`` (``None`` means ``"auto"``).

    Raises:
        InvalidInputError: an unknown name, or a device this machine does not have.
    """
    if isinstance(device, torch.device):
        name = str(device)
    elif device is None:
        name = "auto"
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise InvalidInputError(f"device must be a string or torch.device, got {device!r}")
    if not _PATTERN.match(name):
        raise InvalidInputError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidInputError(
                f"device {name!r} asked for, but CUDA is not available on this machine "
                f"(available: {', '.join(available_devices())})"
            )
        index = int(name.split(":")[1]) if ":" in name else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise InvalidInputError(
                f"device {name!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
        return torch.device("cuda", index)
    if name == "mps" and not _mps_available():
        raise InvalidInputError(
            f"device 'mps' asked for, but MPS is not available on this machine "
            f"(available: {', '.join(available_devices())})"
        )
    return torch.device(name)


def rng_devices(device: torch.device) -> list[int]:
    """The CUDA device indices whose RNG :func:`torch.random.fork_rng` must fork and seed
    when work runs on ``device`` (none for the CPU: its generator is always forked)."""
    if device.type == "cuda":
        return [device.index if device.index is not None else torch.cuda.current_device()]
    return []


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (the CPU for a parameterless model)."""
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of ``model``'s first floating-point parameter (None when it has none)."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return None


def to_model_input(inputs: Tensor, device: torch.device, dtype: torch.dtype | None) -> Tensor:
    """``inputs`` on ``device``, floating-point inputs converted to ``dtype`` (integer inputs,
    such as token ids, keep theirs). Returns ``inputs`` itself, not a copy, when nothing
    changes. Host-to-CUDA copies are asynchronous (``non_blocking``); copies towards the
    CPU are not, so their result is complete when this returns."""
    target_dtype = dtype if dtype is not None and inputs.is_floating_point() else None
    return inputs.to(device=device, dtype=target_dtype, non_blocking=device.type == "cuda")


def log_probs_dtype(logits_dtype: torch.dtype) -> torch.dtype:
    """The dtype log-probs are computed in from logits of ``logits_dtype``: float32 for
    bfloat16 / float16 logits (a log-softmax in 8 bits of mantissa would blur the small
    differences BALD is made of), else the logits' own."""
    return torch.promote_types(logits_dtype, torch.float32)
