"""fit(): determinism under the seed, global RNG untouched, step counts, it learns; on every
device of the ``device`` fixture; input dtypes; the training-only ``transform``."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from torch import nn

from bayesal.data.two_moons import load_two_moons
from bayesal.errors import InvalidInputError
from bayesal.models import build_model
from bayesal.posterior import MCDropoutPosterior
from bayesal.training import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_MIN_STEPS, TrainConfig, fit


class SpyMLP(nn.Module):
    """A small dropout MLP that counts forward calls and records the train flag."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2))
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        self.calls = 0
        self.modes: set[bool] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.modes.add(self.training)
        return self.net(x)


CFG = TrainConfig(lr=1e-2, epochs=5, batch_size=8, min_steps=40)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    ds = load_two_moons(n_train=30, n_test=1, noise=0.1, seed=0)
    return ds.train_x, ds.train_y


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_same_seed_same_model_whatever_the_global_state() -> None:
    x, y = _data()
    torch.manual_seed(1)
    a = fit(SpyMLP(0), x, y, CFG, seed=5)
    torch.manual_seed(2)
    b = fit(SpyMLP(0), x, y, CFG, seed=5)
    c = fit(SpyMLP(0), x, y, CFG, seed=6)
    assert all(torch.equal(p, q) for p, q in zip(_params(a), _params(b), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(_params(a), _params(c), strict=True))


def test_global_rng_state_is_untouched() -> None:
    x, y = _data()
    model = SpyMLP(0)  # nn.Linear's own init reads the global RNG: build it first
    torch.manual_seed(123)
    before = torch.get_rng_state()
    fit(model, x, y, CFG, seed=0)
    assert torch.equal(torch.get_rng_state(), before)


def test_trains_with_dropout_on_and_returns_eval_mode() -> None:
    x, y = _data()
    model = SpyMLP(0)
    fit(model, x, y, CFG, seed=0)
    assert model.modes == {True}
    assert not model.training
    # 30 examples at batch 8: 4 steps per epoch; min_steps 40 -> 10 epochs (> epochs=5)
    assert CFG.num_epochs(30) == 10
    assert model.calls == 40


def test_epochs_win_on_large_sets() -> None:
    cfg = TrainConfig(epochs=50, batch_size=64, min_steps=500)
    assert cfg.num_epochs(10) == 500  # one step per epoch
    assert cfg.num_epochs(1000) == 50  # 16 steps per epoch, 800 steps


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_it_learns_two_moons(optimizer: str) -> None:
    x, y = _data()
    cfg = TrainConfig(optimizer=optimizer, lr=0.1 if optimizer == "sgd" else 1e-2, min_steps=300)
    model = fit(SpyMLP(0), x, y, cfg, seed=0)
    with torch.no_grad():
        accuracy = (model(x).argmax(-1) == y).float().mean().item()
    assert accuracy >= 0.9


def test_bad_inputs() -> None:
    x, y = _data()
    with pytest.raises(InvalidInputError, match="same N"):
        fit(SpyMLP(0), x, y[:-1], CFG, seed=0)
    with pytest.raises(InvalidInputError, match="empty"):
        fit(SpyMLP(0), x[:0], y[:0], CFG, seed=0)
    with pytest.raises(ValidationError):
        TrainConfig(lr=0)
    with pytest.raises(ValidationError):
        TrainConfig(optimizer="rmsprop")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 10**23}, "less than or equal to 100000"),
        ({"epochs": 1e23}, "must be a whole number (an int), got float 1e+23"),
        ({"epochs": 50.0}, "must be a whole number (an int), got float 50.0"),
        ({"epochs": True}, "must be a whole number (an int), got bool True"),
        ({"min_steps": MAX_MIN_STEPS + 1}, "less than or equal to 10000000"),
        ({"min_steps": 500.0}, "must be a whole number"),
        ({"batch_size": MAX_BATCH_SIZE + 1}, "less than or equal to 1000000"),
        ({"lr": float("inf")}, "finite number"),
        ({"weight_decay": float("nan")}, "finite number"),
        ({"weight_decay": float("inf")}, "finite number"),
    ],
)
def test_config_refuses_non_finite_and_absurd_numbers(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        TrainConfig(**kwargs)


def test_config_bounds_are_generous_and_accept_numpy_ints() -> None:
    cfg = TrainConfig(epochs=MAX_EPOCHS, min_steps=MAX_MIN_STEPS, batch_size=MAX_BATCH_SIZE)
    assert (cfg.epochs, cfg.min_steps, cfg.batch_size) == (100_000, 10_000_000, 1_000_000)
    assert TrainConfig(epochs=np.int64(3), batch_size=np.int32(8)).num_epochs(16) == 250


# ---- devices, dtypes, transforms --------------------------------------------------------


def _rng_states(device: torch.device) -> list[torch.Tensor]:
    states = [torch.get_rng_state()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    return states


def test_deterministic_on_the_device_and_rng_untouched(device: torch.device) -> None:
    x, y = _data()  # stays on the CPU: batches are moved one at a time
    a_model, b_model, c_model = SpyMLP(0), SpyMLP(0), SpyMLP(0)
    torch.manual_seed(1)
    before = _rng_states(device)
    a = fit(a_model, x, y, CFG, seed=5, device=device)
    assert all(torch.equal(s, t) for s, t in zip(before, _rng_states(device), strict=True))
    torch.manual_seed(2)
    if device.type == "cuda":
        torch.cuda.manual_seed(2)
    b = fit(b_model, x, y, CFG, seed=5, device=str(device))
    c = fit(c_model, x, y, CFG, seed=6, device=device)
    assert a is a_model and not a.training
    assert all(p.device.type == device.type for p in a.parameters())
    assert all(torch.equal(p, q) for p, q in zip(_params(a), _params(b), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(_params(a), _params(c), strict=True))
    assert x.device.type == "cpu"


def test_device_none_keeps_the_models_device(device: torch.device) -> None:
    x, y = _data()
    model = SpyMLP(0).to(device)
    fit(model, x, y, CFG, seed=0)
    assert all(p.device.type == device.type for p in model.parameters())
    # Inputs already on the device work too, and give the same model.
    again = fit(SpyMLP(0).to(device), x.to(device), y.to(device), CFG, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(_params(model), _params(again), strict=True))


def test_gal_cnn_trains_on_the_device(device: torch.device) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(10, 1, 28, 28, generator=gen)
    y = torch.arange(10) % 10
    cfg = TrainConfig(epochs=1, min_steps=3, batch_size=4)
    model = build_model("gal_cnn", seed=0)
    before = _rng_states(device)
    fit(model, x, y, cfg, seed=1, device=device)
    assert all(torch.equal(s, t) for s, t in zip(before, _rng_states(device), strict=True))
    assert all(p.device.type == device.type for p in model.parameters())
    assert torch.isfinite(torch.cat([p.flatten() for p in model.parameters()])).all()


def test_unknown_or_missing_device_is_a_clear_error() -> None:
    x, y = _data()
    with pytest.raises(InvalidInputError, match="device"):
        fit(SpyMLP(0), x, y, CFG, seed=0, device="tpu")
    with pytest.raises(InvalidInputError, match="cuda:99"):
        fit(SpyMLP(0), x, y, CFG, seed=0, device="cuda:99")


def test_float64_inputs_train_a_float32_model(device: torch.device) -> None:
    """numpy-derived float64 inputs are cast per batch; float32 values cast back exactly,
    so the model is the one trained on the float32 inputs."""
    x, y = _data()
    expected = fit(SpyMLP(0), x, y, CFG, seed=3, device=device)
    got = fit(SpyMLP(0), x.double(), y.int(), CFG, seed=3, device=device)
    assert all(p.dtype == torch.float32 for p in got.parameters())
    assert all(torch.equal(p, q) for p, q in zip(_params(got), _params(expected), strict=True))
    # And a float64 model gets float32 inputs cast up.
    double = fit(SpyMLP(0).double(), x, y, CFG, seed=3, device=device)
    assert all(p.dtype == torch.float64 for p in double.parameters())


def test_integer_inputs_are_passed_unchanged() -> None:
    """Token ids (an Embedding model) are not cast to the parameter dtype."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 7, (20, 3), generator=gen)
    y = (x.sum(1) % 2).long()
    model = nn.Sequential(nn.Embedding(7, 4), nn.Flatten(), nn.Dropout(0.1), nn.Linear(12, 2))
    fit(model, x, y, CFG, seed=0)
    assert not model.training


def test_transform_is_applied_in_training_only(device: torch.device) -> None:
    x, y = _data()
    seen: list[tuple[torch.dtype, str, int]] = []

    def noisy(batch: torch.Tensor) -> torch.Tensor:
        seen.append((batch.dtype, batch.device.type, len(batch)))
        return batch + 0.1 * torch.randn_like(batch)  # the seeded global generator

    model = SpyMLP(0)  # nn.Linear's own init reads the global RNG: build it first
    before = _rng_states(device)
    a = fit(model, x.double(), y, CFG, seed=4, device=device, transform=noisy)
    assert all(torch.equal(s, t) for s, t in zip(before, _rng_states(device), strict=True))
    # Every training batch went through it, on the device, in the model's dtype.
    assert len(seen) == a.calls == 40
    assert {(dtype, kind) for dtype, kind, _ in seen} == {(torch.float32, device.type)}
    assert sum(n for _, _, n in seen) == CFG.num_epochs(30) * 30
    # Deterministic under the seed, and it changes training.
    b = fit(SpyMLP(0), x, y, CFG, seed=4, device=device, transform=noisy)
    plain = fit(SpyMLP(0), x, y, CFG, seed=4, device=device)
    assert all(torch.equal(p, q) for p, q in zip(_params(a), _params(b), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(_params(a), _params(plain), strict=True))
    # Not part of the trained model: prediction and scoring never call it.
    seen.clear()
    with torch.no_grad():
        a(x.to(device))
    MCDropoutPosterior(a.net).log_probs(x, 4, torch.Generator().manual_seed(0))
    assert seen == []


def test_transform_must_be_callable() -> None:
    x, y = _data()
    with pytest.raises(InvalidInputError, match="transform"):
        fit(SpyMLP(0), x, y, CFG, seed=0, transform="flip")  # type: ignore[arg-type]
