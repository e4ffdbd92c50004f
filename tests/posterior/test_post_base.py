"""Posterior base helpers: chunking shares one draw; evaluation_mode restores flags; the
model's device and dtype, and inputs moved to them."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from bayesal.errors import InvalidInputError
from bayesal.posterior.base import (
    Posterior,
    PosteriorDraw,
    evaluation_mode,
    log_probs_in_chunks,
    model_device,
    model_dtype,
    to_model_input,
)


class CountingDraw(PosteriorDraw):
    """Log-probs that depend on the input and a fixed offset; counts calls."""

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self.calls: list[int] = []

    @property
    def num_samples(self) -> int:
        return 2

    def log_probs(self, inputs_N: Tensor) -> Tensor:
        self.calls.append(len(inputs_N))
        logits = torch.stack([inputs_N, inputs_N + self.offset], dim=1)  # [N, K=2]
        logits_N_K_C = torch.stack([logits, -logits], dim=-1)
        return torch.log_softmax(logits_N_K_C, dim=-1)


class CountingPosterior(Posterior):
    def __init__(self) -> None:
        self.draws: list[CountingDraw] = []

    def draw(self, num_samples: int, generator: torch.Generator) -> CountingDraw:
        offset = float(torch.rand((), generator=generator))
        self.draws.append(CountingDraw(offset))
        return self.draws[-1]


def test_chunks_share_one_draw_and_concatenate() -> None:
    posterior = CountingPosterior()
    x = torch.arange(10.0)
    out = posterior.log_probs(x, 2, torch.Generator().manual_seed(0), chunk_size=4)
    assert len(posterior.draws) == 1
    assert posterior.draws[0].calls == [4, 4, 2]
    whole = posterior.draws[0].log_probs(x)
    torch.testing.assert_close(out, whole)


def test_chunking_errors_and_empty_input() -> None:
    draw = CountingDraw(0.5)
    with pytest.raises(InvalidInputError, match="chunk_size"):
        log_probs_in_chunks(draw, torch.zeros(3), 0)
    with pytest.raises(InvalidInputError, match="torch.Tensor"):
        log_probs_in_chunks(draw, [1.0, 2.0], 2)  # type: ignore[arg-type]
    assert log_probs_in_chunks(draw, torch.zeros(0), 2).shape == (0, 2, 2)


def test_evaluation_mode_restores_each_flag() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Dropout(0.5))
    model.train()
    model[1].eval()
    with evaluation_mode(model):
        assert not any(m.training for m in model.modules())
    assert [m.training for m in model.modules()] == [True, True, False, True]
    with pytest.raises(RuntimeError), evaluation_mode(model):
        raise RuntimeError("boom")
    assert [m.training for m in model.modules()] == [True, True, False, True]


def test_model_device_and_dtype(device: torch.device) -> None:
    model = nn.Sequential(nn.Embedding(3, 2), nn.Linear(2, 2)).to(device)
    assert model_device(model).type == device.type
    assert model_dtype(model) == torch.float32
    assert model_device(nn.ReLU()) == torch.device("cpu")  # no parameters
    assert model_dtype(nn.ReLU()) is None
    assert model_dtype(nn.Linear(2, 2).double()) == torch.float64


def test_to_model_input(device: torch.device) -> None:
    x = torch.randn(4, 3)
    assert to_model_input(x, torch.device("cpu"), torch.float32) is x  # nothing to do: no copy
    moved = to_model_input(x.double(), device, torch.float32)
    assert moved.dtype == torch.float32 and moved.device.type == device.type
    assert torch.equal(moved.cpu(), x)
    ids = torch.arange(5)
    assert to_model_input(ids, device, torch.float32).dtype == torch.int64  # ids stay ids
    assert to_model_input(x, device, None).dtype == torch.float32
