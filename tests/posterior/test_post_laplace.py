"""Last-layer Laplace against a brute-force Laplace of a multinomial logistic regression:
the Hessian of the negative log joint by autograd, the exact Gaussian it defines, and
the samples the posterior draws from it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

pytest.importorskip("laplace", reason="laplace-torch is not installed (`make laplace-deps`)")

from bayesal.errors import InvalidInputError  # noqa: E402
from bayesal.learner import ActiveLearner  # noqa: E402
from bayesal.posterior import FitSeeds, get_posterior  # noqa: E402
from bayesal.posterior.laplace import LastLayerLaplacePosterior  # noqa: E402
from bayesal.training import TrainConfig  # noqa: E402

D, C, N = 3, 3, 30
X = torch.randn(N, D, generator=torch.Generator().manual_seed(0))
Y = torch.randint(0, C, (N,), generator=torch.Generator().manual_seed(1))
SEEDS = FitSeeds(init=lambda m: 10 + m, train=lambda m: 20 + m)
PRIOR = 2.0


def _logreg(seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(D, C))


def _fit(hessian: str, prior_precision: float | str = PRIOR, k: int = 20):
    method = get_posterior(
        "laplace", hessian=hessian, prior_precision=prior_precision, num_samples=k
    )
    config = TrainConfig(epochs=50, min_steps=200, batch_size=N, lr=0.05)
    return method.fit(_logreg, X, Y, train_config=config, seeds=SEEDS, device=torch.device("cpu"))


def _brute_force_precision(layer: nn.Linear, prior: float) -> torch.Tensor:
    """Hessian of sum_i CE(W x_i + b, y_i) + prior/2 |theta|^2 at the trained theta,
    theta = (W row-major, b): laplace-torch's parameter order."""
    theta = torch.cat([layer.weight.detach().reshape(-1), layer.bias.detach()]).double()

    def neg_log_joint(t: torch.Tensor) -> torch.Tensor:
        w, b = t[: C * D].reshape(C, D), t[C * D :]
        nll = F.cross_entropy(X.double() @ w.T + b, Y, reduction="sum")
        return nll + 0.5 * prior * (t**2).sum()

    return torch.autograd.functional.hessian(neg_log_joint, theta)


def test_full_hessian_matches_brute_force_and_samples_follow_it() -> None:
    fitted = _fit("full")
    layer = fitted.models[0][1]
    precision = _brute_force_precision(layer, PRIOR)
    la = fitted.posterior.la
    assert torch.allclose(la.posterior_precision.double(), precision, rtol=1e-4, atol=1e-5)

    # The draw's log-probs are log_softmax of the sampled last layer on the features.
    generator = torch.Generator().manual_seed(3)
    samples = la.sample(20, generator=torch.Generator().manual_seed(3))
    log_probs = fitted.draw(generator).log_probs(X[:4])
    for k in range(5):
        w, b = samples[k, : C * D].reshape(C, D), samples[k, C * D :]
        assert torch.allclose(log_probs[:, k], F.log_softmax(X[:4] @ w.T + b, -1), atol=1e-5)

    # Many samples: their mean and covariance are the Gaussian's.
    draws = LastLayerLaplacePosterior(la).draw(20000, torch.Generator().manual_seed(4))
    theta = torch.cat([draws._weight.reshape(20000, -1), draws._bias], 1).double()
    mean = torch.cat([layer.weight.detach().reshape(-1), layer.bias.detach()]).double()
    covariance = torch.linalg.inv(precision)
    assert torch.allclose(theta.mean(0), mean, atol=4 * covariance.diag().max().sqrt() / 100)
    scale = covariance.abs().max()
    assert (torch.cov(theta.T) - covariance).abs().max() < 0.05 * scale


def test_diag_hessian_is_the_brute_force_diagonal() -> None:
    fitted = _fit("diag")
    precision = _brute_force_precision(fitted.models[0][1], PRIOR)
    got = fitted.posterior.la.posterior_precision.double()
    assert torch.allclose(got, precision.diag(), rtol=1e-4, atol=1e-5)


def test_kron_and_auto_prior_precision() -> None:
    fitted = _fit("kron", "auto")
    prior = fitted.extra["prior_precision"]
    assert np.isfinite(prior) and prior > 0 and prior != 1.0
    log_probs = fitted.draw(torch.Generator().manual_seed(0)).log_probs(X)
    assert log_probs.shape == (N, 20, C)
    predictive = fitted.predict_log_probs(X)
    assert torch.allclose(predictive.exp().sum(-1), torch.ones(N), atol=1e-5)


def test_bad_parameters() -> None:
    with pytest.raises(InvalidInputError, match="hessian must be one of"):
        get_posterior("laplace", hessian="lowrank")
    for bad in (0, -1.0, float("nan"), "big", True):
        with pytest.raises(InvalidInputError, match="prior_precision"):
            get_posterior("laplace", prior_precision=bad)
    method = get_posterior("laplace")

    def no_linear(seed: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Softmax(-1))

    with pytest.raises(InvalidInputError, match="last layer is nn.Linear"):
        method.new_laplace(no_linear(0))


def test_learner_save_and_load_keep_the_posterior(tmp_path) -> None:
    x = torch.randn(60, D, generator=torch.Generator().manual_seed(5)).numpy()
    y = (x[:, 0] > 0).astype(np.int64)
    learner = ActiveLearner(
        x, model=_logreg, posterior="laplace", num_classes=C, training={"min_steps": 50}
    )
    ids = learner.query(10)
    learner.teach(ids, y[ids])
    picked = learner.query(5)
    before = learner.draw_for_round(learner.round - 1).log_probs(torch.as_tensor(x))
    learner.save(tmp_path / "state")
    loaded = ActiveLearner.load(tmp_path / "state", model=_logreg)
    after = loaded.draw_for_round(loaded.round - 1).log_probs(torch.as_tensor(x))
    assert torch.equal(before, after)
    assert len(picked) == 5
