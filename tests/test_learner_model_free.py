"""The learner without a torch model: a posterior that trains none (``forest``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bayesal import ActiveLearner
from bayesal.errors import InvalidInputError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(150, 6)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.8).astype(np.int64)  # 3 classes
FOREST = {"posterior": "forest", "posterior_params": {"n_estimators": 15}}


def _learner(**kwargs: object) -> ActiveLearner:
    settings: dict[str, object] = {**FOREST, "num_classes": 4, "seed": 3, "device": "cpu"}
    settings.update(kwargs)
    return ActiveLearner(X, **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["bald", "margin", "entropy", "batchbald", "epig"])
def test_query_with_no_model(strategy: str) -> None:
    learner = _learner(strategy=strategy, num_target_samples=20)
    cold = learner.query(5)  # the cold start needs no posterior
    learner.teach(cold, Y[cold])
    ids = learner.query(3)
    assert len(set(ids.tolist())) == 3 and not set(ids.tolist()) & set(cold.tolist())
    assert learner.fitted is not None and learner.fitted.models == []
    # Class 3 never has a label: still a column of the C = 4 log-probs.
    log_probs = learner.draw_for_round(1).log_probs(torch.from_numpy(X[:4]))
    assert log_probs.shape == (4, 15, 4) and torch.isfinite(log_probs).all()
    metrics = learner.evaluate(X, Y)
    assert 0.4 < metrics["accuracy"] <= 1 and np.isfinite(metrics["nll"])


def test_same_seed_same_picks_and_resume(tmp_path: Path) -> None:
    picks = []
    for _ in range(2):
        learner = _learner()
        learner.teach(np.arange(12), Y[:12])
        picks.append(learner.query(4))
    assert np.array_equal(picks[0], picks[1])
    learner.teach(picks[0], Y[picks[0]])
    path = learner.save(tmp_path / "state.pt")
    loaded = ActiveLearner.load(path)  # no model= needed
    assert loaded._build_model is None and loaded.fitted is None  # labels changed since fit
    assert np.array_equal(loaded.query(2), learner.query(2))
    learner.fit()
    path = learner.save(tmp_path / "fitted.pt")
    restored = ActiveLearner.load(path)
    assert restored.fitted is not None
    x = torch.from_numpy(X[:10])
    assert torch.equal(restored.predict_log_probs(x), learner.predict_log_probs(x))


def test_errors_name_what_to_do() -> None:
    with pytest.raises(InvalidInputError, match="posterior 'mc_dropout' trains a network"):
        ActiveLearner(X, num_classes=3)
    with pytest.raises(InvalidInputError, match="posterior 'ensemble' trains a network"):
        ActiveLearner(X, posterior="ensemble", num_classes=3)
    with pytest.raises(InvalidInputError, match="model=None needs num_classes="):
        ActiveLearner(X, posterior="forest")
    learner = _learner(train_transform=lambda x: x)
    learner.teach(np.arange(6), Y[:6])
    with pytest.raises(InvalidInputError, match="cannot apply train_transform"):
        learner.query(1)


def test_a_model_given_to_a_forest_is_not_trained() -> None:
    built: list[int] = []

    def make() -> nn.Module:
        built.append(1)
        return nn.Linear(6, 3)

    learner = ActiveLearner(X, model=make, **FOREST, device="cpu")  # type: ignore[arg-type]
    assert learner.num_classes == 3 and len(built) == 1  # checked once, as always
    learner.teach(np.arange(10), Y[:10])
    learner.query(2)
    assert len(built) == 1 and learner.fitted is not None and learner.fitted.models == []
