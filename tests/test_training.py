"""fit(): determinism under the seed, global RNG untouched, step counts, it learns."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from bayesal.data.two_moons import load_two_moons
from bayesal.errors import InvalidInputError
from bayesal.training import TrainConfig, fit


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
