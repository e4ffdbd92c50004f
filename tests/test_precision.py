"""bfloat16 precision (``TrainConfig.precision``): training under autocast, scoring and
evaluation on a bfloat16 copy with float32 log-softmax; off by default and invisible in
the dumps of configs that do not set it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bayesal.device import log_probs_dtype
from bayesal.errors import InvalidInputError
from bayesal.experiment.config import config_from_dict
from bayesal.experiment.trial import config_trial_digest
from bayesal.learner import ActiveLearner
from bayesal.posterior import EnsemblePosterior, MCDropoutPosterior
from bayesal.posterior.mc_dropout import DEFAULT_MEMORY_BUDGET, default_memory_budget
from bayesal.posterior.methods import get_posterior
from bayesal.training import TrainConfig, fit


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 32), nn.ReLU(),
        nn.Dropout(0.3), nn.Linear(32, 2),
    )  # fmt: skip


def _data(n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, 2, generator=g)
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).long()


def test_default_precision_is_left_out_of_dumps() -> None:
    assert "precision" not in TrainConfig().model_dump()
    assert "precision" not in TrainConfig().model_dump(mode="json")
    assert TrainConfig(precision="bfloat16").model_dump()["precision"] == "bfloat16"
    assert TrainConfig().autocast_dtype is None
    assert TrainConfig(precision="bfloat16").autocast_dtype is torch.bfloat16
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="float16")  # type: ignore[arg-type]


def test_precision_enters_the_trial_digest_only_when_set() -> None:
    raw = {
        "name": "p",
        "dataset": {"name": "two_moons"},
        "model": {"name": "two_moons_mlp"},
        "strategies": ["bald"],
        "rounds": 1,
    }
    plain = config_from_dict(raw)
    explicit = config_from_dict({**raw, "training": {"precision": "float32"}})
    low = config_from_dict({**raw, "training": {"precision": "bfloat16"}})
    assert config_trial_digest(plain, "bald", 0) == config_trial_digest(explicit, "bald", 0)
    assert config_trial_digest(plain, "bald", 0) != config_trial_digest(low, "bald", 0)


def test_bf16_training_keeps_float32_weights_learns_and_repeats() -> None:
    x, y = _data()
    config = TrainConfig(precision="bfloat16", min_steps=300)
    a = fit(_net(), x, y, config, seed=5)
    b = fit(_net(), x, y, config, seed=5)
    assert all(p.dtype == torch.float32 for p in a.parameters())
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    with torch.no_grad():
        accuracy = (a(x).argmax(-1) == y).float().mean().item()
    assert accuracy > 0.9
    full = fit(_net(), x, y, TrainConfig(min_steps=300), seed=5)
    assert any(
        not torch.equal(pa, pf) for pa, pf in zip(a.parameters(), full.parameters(), strict=True)
    )


def test_bf16_training_fits_as_well_as_float32() -> None:
    # The forward pass must see every step's updated weights: an autocast context held
    # across optimiser steps reuses stale bfloat16 weight copies (this net then stays at
    # chance, 0.50).
    def conv_net() -> nn.Module:
        torch.manual_seed(1)
        return nn.Sequential(
            nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.2), nn.Linear(288, 2)
        )

    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].sum((1, 2)) > x[:, 0, 4:].sum((1, 2))).long()
    accuracy = {}
    for precision in ("float32", "bfloat16"):
        config = TrainConfig(precision=precision, min_steps=300, lr=3e-3)
        model = fit(conv_net(), x, y, config, seed=2)
        with torch.no_grad():
            accuracy[precision] = (model(x).argmax(-1) == y).float().mean().item()
    assert accuracy["float32"] > 0.95
    assert accuracy["bfloat16"] > accuracy["float32"] - 0.05


def test_log_probs_of_low_precision_logits_are_float32() -> None:
    assert log_probs_dtype(torch.bfloat16) == torch.float32
    assert log_probs_dtype(torch.float16) == torch.float32
    assert log_probs_dtype(torch.float32) == torch.float32
    assert log_probs_dtype(torch.float64) == torch.float64


@pytest.mark.parametrize("fast_path", [True, False])
def test_mc_dropout_on_a_bf16_copy_is_close_to_float32(fast_path: bool) -> None:
    x, y = _data()
    model = fit(_net(), x, y, TrainConfig(min_steps=200), seed=1)
    low = _net().to(torch.bfloat16)
    low.load_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(0)
    lp32 = MCDropoutPosterior(model, fast_path=fast_path).draw(16, g).log_probs(x)
    g = torch.Generator().manual_seed(0)
    lp16 = MCDropoutPosterior(low, fast_path=fast_path).draw(16, g).log_probs(x)
    assert lp16.dtype == torch.float32 and lp16.shape == lp32.shape
    assert torch.allclose(lp16.exp().sum(-1), torch.ones(len(x), 16), atol=1e-5)
    # Same masks, bf16 arithmetic: probabilities agree to bf16's few digits.
    assert (lp16.exp() - lp32.exp()).abs().max() < 0.05


def test_ensemble_of_bf16_members_gives_float32_log_probs() -> None:
    members = [_net(s).to(torch.bfloat16) for s in range(3)]
    lp = EnsemblePosterior(members).draw(3, torch.Generator()).log_probs(_data(10)[0])
    assert lp.dtype == torch.float32 and lp.shape == (10, 3, 2)


@pytest.mark.parametrize("posterior", ["mc_dropout", "ensemble"])
def test_learner_in_bf16_scores_a_bf16_copy_and_repeats(posterior: str, tmp_path) -> None:
    x, y = _data(300)
    labels = np.full(300, -1)
    labels[:20] = y[:20].numpy()
    kwargs = {
        "model": _net,
        "posterior": posterior,
        "posterior_params": {"members": 2} if posterior == "ensemble" else None,
        "training": {"precision": "bfloat16", "min_steps": 50},
        "seed": 4,
        "labels": labels,
        "device": "cpu",
    }
    first = ActiveLearner(x.numpy(), **kwargs)
    picks = first.query(5)
    assert first.fitted is not None
    assert all(next(m.parameters()).dtype == torch.bfloat16 for m in first.fitted.models)
    assert np.array_equal(picks, ActiveLearner(x.numpy(), **kwargs).query(5))
    predictive = first.predict_log_probs(x.numpy()[:7])
    assert predictive.dtype == torch.float32 and predictive.shape == (7, 2)

    path = first.save(tmp_path / "learner.pt")
    again = ActiveLearner.load(path, model=_net, device="cpu")
    assert again.fitted is not None
    assert all(next(m.parameters()).dtype == torch.bfloat16 for m in again.fitted.models)
    assert np.array_equal(again.query(5), first.query(5))


def test_methods_without_a_cast_keep_full_precision() -> None:
    method = get_posterior("mc_dropout", num_samples=4)
    fitted = method.wrap([_net()])
    assert method.in_precision(fitted, torch.float32) is fitted  # already float32
    cast = method.in_precision(fitted, torch.bfloat16)
    assert next(cast.models[0].parameters()).dtype == torch.bfloat16
    assert next(fitted.models[0].parameters()).dtype == torch.float32  # a copy

    class Plain(type(method)):  # type: ignore[misc]
        casts_to_precision = False

    plain = Plain(num_samples=4)
    assert plain.in_precision(fitted, torch.bfloat16) is fitted


def test_cpu_memory_budget_is_unchanged() -> None:
    assert default_memory_budget(torch.device("cpu")) == DEFAULT_MEMORY_BUDGET
    with pytest.raises(InvalidInputError, match="memory_budget_bytes"):
        MCDropoutPosterior(_net(), memory_budget_bytes=10)
