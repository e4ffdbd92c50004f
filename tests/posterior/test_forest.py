"""The ``forest`` posterior: sklearn tree ensembles, one estimator per sample."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bayesal.errors import InvalidInputError
from bayesal.posterior import FitSeeds, ForestMethod, ForestPosterior, get_posterior
from bayesal.posterior.forest import DEFAULT_MIN_PROB
from bayesal.training import TrainConfig

GEN = torch.Generator().manual_seed(0)
X = torch.randn(60, 4, generator=GEN)
# Labels 0 and 2 only: class 1 (and 3) have no label, as early in a study.
Y = torch.where(X[:, 0] > 0, 2, 0)
SEEDS = FitSeeds(init=lambda m: 123 + m, train=lambda m: 456 + m)
KINDS = ("random_forest", "extra_trees", "bagging")


def _fit(
    method: ForestMethod,
    x: torch.Tensor = X,
    y: torch.Tensor = Y,
    seeds: FitSeeds = SEEDS,
    num_classes: int | None = 4,
):
    return method.fit(
        None,
        x,
        y,
        train_config=TrainConfig(),
        seeds=seeds,
        device=torch.device("cpu"),
        num_classes=num_classes,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_classes_and_floor(kind: str) -> None:
    fitted = _fit(ForestMethod(kind=kind, n_estimators=12))
    assert fitted.models == [] and fitted.num_samples == 12
    log_probs = fitted.draw(torch.Generator().manual_seed(1)).log_probs(X[:9])
    assert log_probs.shape == (9, 12, 4) and log_probs.dtype == torch.float32
    assert torch.isfinite(log_probs).all()
    probs = log_probs.exp()
    assert torch.allclose(probs.sum(-1), torch.ones(9, 12), atol=1e-5)
    # Classes without a label get only the floor; the floor bounds every log-prob.
    assert torch.allclose(probs[..., 1], torch.full((9, 12), DEFAULT_MIN_PROB), rtol=1e-3)
    assert log_probs.min() >= np.log(DEFAULT_MIN_PROB) - 1e-3
    # Labelled classes carry the mass, on the right side.
    assert (probs[..., 2].mean(1) > 0.5).tolist() == (X[:9, 0] > 0).tolist()


@pytest.mark.parametrize("kind", KINDS)
def test_samples_are_the_estimators(kind: str) -> None:
    """Each sample is one estimator: their mean is the ensemble's own predict_proba
    (up to the floor), whatever estimator lacks a class (bagging) or uses a feature
    subset (bagging with max_features)."""
    extra = {"max_features": 0.5} if kind == "bagging" else {}
    fitted = _fit(ForestMethod(kind=kind, n_estimators=15, **extra), num_classes=3)
    ensemble = fitted.extra["forest"]["ensemble"]
    mean = fitted.draw(torch.Generator()).log_probs(X).exp().double().mean(1)
    expected = np.zeros((len(X), 3))
    expected[:, ensemble.classes_] = ensemble.predict_proba(X.numpy())
    assert np.allclose(mean.numpy(), expected, atol=1e-5)
    predictive = fitted.predict_log_probs(X, chunk_size=7).exp()
    assert torch.allclose(predictive.double(), mean, atol=1e-6)


class _Stub:
    """An estimator fitted on a subset of the ensemble's classes (encoded indices)."""

    def __init__(self, classes: list[int], probs: list[float]) -> None:
        self.classes_ = np.asarray(classes, dtype=float)
        self._probs = np.asarray(probs)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.tile(self._probs, (len(x), 1))


class _StubEnsemble:
    classes_ = np.asarray([0, 2])  # labels seen by the ensemble; class 1 and 3 unseen
    estimators_ = [_Stub([0], [1.0]), _Stub([0, 1], [0.25, 0.75]), _Stub([1], [1.0])]


def test_estimator_missing_a_class_is_aligned() -> None:
    """An estimator whose sample lacked a class (a bootstrap without any of its labels)
    predicts fewer columns: they land on their classes, not shifted."""
    posterior = ForestPosterior(_StubEnsemble(), num_classes=4, min_prob=1e-6)
    probs = posterior.draw(3, torch.Generator()).log_probs(torch.zeros(2, 5)).exp().double()
    floor = 1e-6
    expected = torch.tensor(
        [[1.0, floor, floor, floor], [0.25, floor, 0.75, floor], [floor, floor, 1.0, floor]],
        dtype=torch.float64,
    )
    expected = expected.clamp_min(floor) / expected.clamp_min(floor).sum(-1, keepdim=True)
    assert torch.allclose(probs, expected.expand(2, 3, 4), atol=1e-6)


def test_deterministic_under_seeds_and_consistent_draws() -> None:
    method = ForestMethod(kind="extra_trees", n_estimators=10)
    a, b = _fit(method), _fit(method)
    x = torch.randn(25, 4, generator=torch.Generator().manual_seed(3))
    draw_a = a.draw(torch.Generator().manual_seed(0))
    assert torch.equal(draw_a.log_probs(x), b.draw(torch.Generator().manual_seed(9)).log_probs(x))
    # The same K samples for every chunk.
    parts = torch.cat([draw_a.log_probs(x[:4]), draw_a.log_probs(x[4:])])
    assert torch.equal(parts, draw_a.log_probs(x))
    other = _fit(method, seeds=FitSeeds(init=lambda m: 5, train=lambda m: 6))
    assert not torch.equal(other.draw(torch.Generator()).log_probs(x), draw_a.log_probs(x))


def test_fewer_samples_than_estimators_is_a_seeded_subset() -> None:
    fitted = _fit(ForestMethod(n_estimators=20))
    d1 = fitted.posterior.draw(5, torch.Generator().manual_seed(1))
    d2 = fitted.posterior.draw(5, torch.Generator().manual_seed(1))
    assert d1.num_samples == 5 and d1.which == d2.which and len(set(d1.which)) == 5
    assert torch.equal(d1.log_probs(X), d2.log_probs(X))
    with pytest.raises(InvalidInputError, match="at most 20 samples"):
        fitted.posterior.draw(21, torch.Generator())


def test_registry_and_default_num_classes() -> None:
    method = get_posterior("forest", kind="random_forest", n_estimators=7, max_depth=3)
    assert isinstance(method, ForestMethod) and not method.needs_model
    assert method.num_samples == 7
    fitted = _fit(method, num_classes=None)  # C = largest label + 1
    assert fitted.draw(torch.Generator()).log_probs(X[:2]).shape == (2, 7, 3)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kind": "boosting"}, "kind must be one of"),
        ({"n_estimators": 0}, "n_estimators must be an integer"),
        ({"num_samples": 4}, "accepted"),
        ({"min_prob": 0.0}, "min_prob must be"),
        ({"min_prob": 0.5}, "min_prob must be"),
        ({"estimator_params": {"no_such_param": 1}}, "no_such_param"),
        ({"estimator_params": {"random_state": 1}}, "cannot set 'random_state'"),
        ({"max_depth": 2, "estimator_params": {"max_depth": 3}}, "given twice"),
        ({"bootstrap": "yes"}, "bootstrap must be"),
    ],
)
def test_bad_parameters(params: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        get_posterior("forest", **params)


def test_fit_errors() -> None:
    method = ForestMethod(n_estimators=3)
    with pytest.raises(InvalidInputError, match="train_transform"):
        method.fit(
            None,
            X,
            Y,
            train_config=TrainConfig(),
            seeds=SEEDS,
            device=torch.device("cpu"),
            transform=lambda x: x,
        )
    with pytest.raises(InvalidInputError, match="finite"):
        _fit(method, x=torch.full((4, 4), float("nan")), y=torch.zeros(4, dtype=torch.long))
    with pytest.raises(InvalidInputError, match=r"labels must lie in \[0, 2\)"):
        _fit(method, num_classes=2)
    with pytest.raises(InvalidInputError, match="max_features"):
        _fit(ForestMethod(n_estimators=3, max_features="bogus"))
    with pytest.raises(InvalidInputError, match="no torch models"):
        method.wrap([torch.nn.Linear(2, 2)])
    with pytest.raises(InvalidInputError, match="not torch models"):
        method.posterior([])


def test_image_shaped_inputs_are_flattened() -> None:
    x = torch.randn(30, 1, 2, 2, generator=torch.Generator().manual_seed(4))
    fitted = _fit(ForestMethod(n_estimators=4), x=x, y=Y[:30])
    assert fitted.draw(torch.Generator()).log_probs(x[:3]).shape == (3, 4, 4)
