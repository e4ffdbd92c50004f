"""The suite every registered posterior method passes: fit on a tiny problem, then
``[N, K, C]`` draws that are normalised, consistent across inputs and chunks, seeded,
and leave the global RNG alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bayesal.data.source import ArrayInputs
from bayesal.errors import InvalidInputError
from bayesal.posterior import (
    POSTERIORS,
    FitSeeds,
    FittedPosterior,
    PosteriorMethod,
    get_posterior,
)
from bayesal.training import TrainConfig

X = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0] > 0).long()
SEEDS = FitSeeds(init=lambda m: 10 + m, train=lambda m: 20 + m)


def _build(seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))


def _fit(name: str) -> FittedPosterior:
    if name == "laplace":
        pytest.importorskip(
            "laplace", reason="laplace-torch is not installed (`make laplace-deps`)"
        )
    method = get_posterior(name)
    # A semi-supervised method also reads the pool: here X, every row labelled.
    pool = {"pool": ArrayInputs(X), "labelled_rows": np.arange(len(X))} if method.reads_pool else {}
    return method.fit(
        _build,
        X,
        Y,
        train_config=TrainConfig(epochs=1, min_steps=10, batch_size=16),
        seeds=SEEDS,
        device=torch.device("cpu"),
        **pool,  # type: ignore[arg-type]
    )


@pytest.fixture(params=POSTERIORS.names())
def fitted(request: pytest.FixtureRequest) -> FittedPosterior:
    return _fit(request.param)


def test_shape_and_normalisation(fitted: FittedPosterior) -> None:
    draw = fitted.draw(torch.Generator().manual_seed(1))
    log_probs = draw.log_probs(X[:7])
    assert log_probs.shape == (7, fitted.num_samples, 2)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(7, fitted.num_samples), atol=1e-5)
    assert fitted.predict_log_probs(X[:7]).shape == (7, 2)


def test_same_draws_for_every_input_and_chunk(fitted: FittedPosterior) -> None:
    draw = fitted.draw(torch.Generator().manual_seed(1))
    whole = draw.log_probs(X)
    parts = torch.cat([draw.log_probs(X[:13]), draw.log_probs(X[13:])])
    assert torch.allclose(whole, parts, atol=1e-6)


def test_seeded_and_global_rng_untouched(fitted: FittedPosterior) -> None:
    torch.manual_seed(5)
    state = torch.get_rng_state()
    a = fitted.draw(torch.Generator().manual_seed(3)).log_probs(X)
    b = fitted.draw(torch.Generator().manual_seed(3)).log_probs(X)
    assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("name", POSTERIORS.names())
def test_fit_is_deterministic_under_its_seeds(name: str) -> None:
    torch.manual_seed(7)
    state = torch.get_rng_state()
    first = _fit(name)
    assert torch.equal(torch.get_rng_state(), state)  # training leaves the global RNG alone
    second = _fit(name)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(
        first.draw(generator.manual_seed(0)).log_probs(X),
        second.draw(generator.manual_seed(0)).log_probs(X),
    )
    for m1, m2 in zip(first.models, second.models, strict=True):
        for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
            assert torch.equal(p1, p2)


def test_registry_errors_and_custom_methods() -> None:
    with pytest.raises(InvalidInputError, match="Did you mean 'ensemble'"):
        get_posterior("ensembel")
    with pytest.raises(InvalidInputError, match="accepted: members"):
        get_posterior("ensemble", num_samples=3)
    with pytest.raises(InvalidInputError, match="num_samples must be a positive integer"):
        get_posterior("mc_dropout", num_samples=0)
    method = get_posterior("bayesal.posterior.methods:EnsembleMethod", members=2)
    assert isinstance(method, PosteriorMethod) and method.num_samples == 2
