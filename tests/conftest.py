"""Shared fixtures: the ``device`` parametrisation ("cpu" always, "cuda" when available).

A test that takes the ``device`` fixture runs once per device; its ids end in ``[cpu]``
and ``[cuda]``, so ``pytest -k cuda`` selects the CUDA half. Without CUDA the ``cuda``
case is skipped with a reason, not silently dropped.
"""

from __future__ import annotations

import pytest
import torch

_NO_CUDA = "CUDA is not available on this machine (torch.cuda.is_available() is False)"

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=_NO_CUDA),
    ),
]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """A :class:`torch.device` to run the test on: the CPU, then CUDA when present."""
    return torch.device(request.param)
