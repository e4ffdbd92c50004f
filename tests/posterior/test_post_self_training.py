"""The ``self_training`` posterior: pseudo-labels above the threshold only (against a
hand computation and against the teacher recomputed apart), groups with their own
pseudo-labels, the exact reduction to the base at threshold 1.0, errors, the learner."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from bayesal import ActiveLearner
from bayesal.data.source import ArrayInputs
from bayesal.errors import InvalidInputError
from bayesal.posterior import FitSeeds, FittedPosterior, get_posterior
from bayesal.posterior.self_training import pseudo_labels, weighted_cross_entropy
from bayesal.training import TrainConfig

SEEDS = FitSeeds(init=lambda m: 3 + m, train=lambda m: 40 + m)
TRAIN = TrainConfig(epochs=1, min_steps=30, batch_size=32, lr=0.01)
FOREST = {"name": "forest", "params": {"n_estimators": 20}}


def _blobs(n_per: int = 20, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Three Gaussian blobs in 2-D (labels 0, 1, 2), close enough to overlap a little."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    x = np.concatenate([c + rng.normal(size=(n_per, 2)) for c in centres])
    return torch.tensor(x, dtype=torch.float32), np.repeat(np.arange(3), n_per)


ROWS = np.array([0, 1, 20, 21, 40, 41])


def _build(seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def _fit(name: str, rows: np.ndarray = ROWS, **params: Any) -> FittedPosterior:
    x, y = _blobs()
    method = get_posterior(name, **params)
    extra: dict[str, Any] = {}
    if method.reads_pool:
        extra = {"pool": ArrayInputs(x), "labelled_rows": rows}
    if not method.needs_model:
        extra["num_classes"] = 3
    return method.fit(
        _build,
        x[rows],
        torch.as_tensor(y[rows]),
        train_config=TRAIN,
        seeds=SEEDS,
        device=torch.device("cpu"),
        **extra,
    )


def test_pseudo_labels_strictly_above_threshold_equal_hand_computation() -> None:
    probs = np.array(
        [
            [0.95, 0.03, 0.02],  # confident: class 0
            [0.10, 0.90, 0.00],  # exactly at the threshold: not taken
            [0.05, 0.05, 0.90001],  # just above: class 2
            [0.40, 0.30, 0.30],  # unsure
            [0.00, 1.00, 0.00],  # certain: class 1
        ]
    )
    positions, labels = pseudo_labels(probs, 0.9)
    assert positions.tolist() == [0, 2, 4]
    assert labels.tolist() == [0, 2, 1]
    positions, labels = pseudo_labels(probs, 1.0)
    assert len(positions) == 0 and len(labels) == 0
    positions, _ = pseudo_labels(probs, 0.0)
    assert positions.tolist() == [0, 1, 2, 3, 4]


def test_weighted_cross_entropy_equals_hand_computation() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    target = torch.tensor([[0.0, 1.0], [1.0, 0.25]])
    log_softmax = torch.log_softmax(logits, -1)
    expected = -(1.0 * log_softmax[0, 0] + 0.25 * log_softmax[1, 1]) / 2
    assert torch.allclose(weighted_cross_entropy(logits, target), expected)


def test_spreading_teacher_pseudo_labels_equal_the_teacher_recomputed_by_hand() -> None:
    """Group g's pseudo-labels: the unlabelled items whose mean probability over the
    teacher's member block g (members 4g..4g+3 of 8 with groups 2) is above 0.7."""
    x, y = _blobs()
    graph = {"members": 8, "k": 5, "alpha": 0.9}
    fitted = _fit(
        "self_training",
        base={"name": "forest", "params": {"n_estimators": 20}},
        graph=graph,
        threshold=0.7,
        groups=2,
    )
    teacher = get_posterior("label_spreading", **graph).fit(
        None,
        x[ROWS],
        torch.as_tensor(y[ROWS]),
        train_config=TrainConfig(),
        seeds=SEEDS,
        device=torch.device("cpu"),
        num_classes=3,
        pool=ArrayInputs(x),
        labelled_rows=ROWS,
    )
    unlabelled = np.setdiff1d(np.arange(len(x)), ROWS)
    got = fitted.extra["pseudo_labels"]
    assert isinstance(got, list) and len(got) == 2
    for g, block in enumerate([[0, 1, 2, 3], [4, 5, 6, 7]]):
        p = teacher.posterior.probs(x[unlabelled], block).mean(1).double().numpy()  # type: ignore[attr-defined]
        keep = p.max(1) > 0.7
        rows, labels = got[g]
        assert rows.tolist() == unlabelled[keep].tolist()
        assert labels.tolist() == p[keep].argmax(1).tolist()
        assert not set(rows.tolist()) & set(ROWS.tolist())  # only unlabelled items
    assert any(len(r) for r, _ in got)


def test_groups_get_their_own_pseudo_labels_and_samples_disagree() -> None:
    fitted = _fit(
        "self_training", base=FOREST, graph={"members": 20, "k": 5}, threshold=0.6, groups=5
    )
    sets = [tuple(rows.tolist()) for rows, _ in fitted.extra["pseudo_labels"]]  # type: ignore[attr-defined]
    assert len(set(sets)) > 1  # the groups' teachers (bootstrap blocks) differ
    x, _ = _blobs()
    probs = fitted.draw(torch.Generator().manual_seed(0)).log_probs(x).exp()
    assert probs.shape == (60, 20, 3)
    # The K samples disagree on some items (positive BALD), so uncertainty survives.
    mean = probs.mean(1)
    entropy = -(mean * mean.clamp_min(1e-12).log()).sum(-1)
    expected_entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean(1)
    assert (entropy - expected_entropy).max() > 0.05


def test_ensemble_members_train_on_their_own_pseudo_labels_and_differ() -> None:
    fitted = _fit(
        "self_training",
        base={"name": "ensemble", "params": {"members": 3}},
        teacher="self",
        threshold=0.6,
    )
    assert len(fitted.models) == 3 and fitted.num_samples == 3
    assert len(fitted.extra["pseudo_labels"]) == 3  # type: ignore[arg-type]
    x, _ = _blobs()
    log_probs = fitted.draw(torch.Generator().manual_seed(0)).log_probs(x)
    assert not torch.allclose(log_probs[:, 0], log_probs[:, 1])


@pytest.mark.parametrize(
    ("base", "teacher"),
    [
        (FOREST, "label_spreading"),
        (FOREST, "self"),
        ({"name": "mc_dropout", "params": {"num_samples": 6}}, "label_spreading"),
        ({"name": "ensemble", "params": {"members": 2}}, "self"),
    ],
)
def test_threshold_one_is_exactly_the_base_posterior(base: dict[str, Any], teacher: str) -> None:
    fitted = _fit("self_training", base=base, teacher=teacher, threshold=1.0, **_graph_for(teacher))
    reference = _fit(base["name"], **base["params"])
    assert "pseudo_labels" not in fitted.extra
    x, _ = _blobs()
    a = fitted.draw(torch.Generator().manual_seed(5)).log_probs(x)
    b = reference.draw(torch.Generator().manual_seed(5)).log_probs(x)
    assert torch.equal(a, b)
    assert torch.equal(fitted.predict_log_probs(x), reference.predict_log_probs(x))


def _graph_for(teacher: str) -> dict[str, Any]:
    return {"graph": {"k": 5}} if teacher == "label_spreading" else {}


def test_pseudo_labels_change_the_fit_and_same_seeds_give_same_samples() -> None:
    base = {"name": "mc_dropout", "params": {"num_samples": 5}}
    params = {"base": base, "teacher": "self", "threshold": 0.5}
    first = _fit("self_training", **params)
    second = _fit("self_training", **params)
    plain = _fit("mc_dropout", num_samples=5)
    x, _ = _blobs()
    draw = lambda f: f.draw(torch.Generator().manual_seed(1)).log_probs(x)  # noqa: E731
    assert torch.equal(draw(first), draw(second))
    assert not torch.allclose(draw(first), draw(plain))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"base": "laplace"}, "base must be one of forest, mc_dropout, ensemble"),
        ({"base": {"params": {}}}, "base must be a posterior name or a mapping"),
        ({"base": {"name": "forest", "params": {"n_trees": 3}}}, "n_trees"),
        ({"teacher": "oracle"}, "teacher must be one of label_spreading, self"),
        ({"threshold": 1.5}, r"threshold must be a number in \[0, 1\]"),
        ({"threshold": "high"}, r"threshold must be a number in \[0, 1\]"),
        ({"weight": 0}, r"weight must be a number in \(0, 1\]"),
        ({"weight": float("nan")}, r"weight must be a number in \(0, 1\]"),
        ({"groups": 3}, r"groups \(3\) must divide the forest's n_estimators \(100\)"),
        ({"groups": 0}, "groups must be an integer >= 1"),
        ({"base": "mc_dropout", "groups": 2}, "groups applies to a forest base"),
        ({"teacher": "self", "graph": {"k": 5}}, "graph applies to teacher: label_spreading"),
        ({"graph": {"members": 2}}, r"members \(2\) must be at least the groups \(5\)"),
        ({"graph": {"k": 0}}, "k must be an integer >= 1"),
        ({"max_candidates": 0}, "max_candidates must be an integer >= 1"),
    ],
)
def test_bad_parameters_raise_clear_errors(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        get_posterior("self_training", **params)


def test_fit_without_the_pool_says_to_use_the_learner() -> None:
    x, y = _blobs()
    method = get_posterior("self_training")
    with pytest.raises(InvalidInputError, match="reads the unlabelled pool"):
        method.fit(
            None,  # type: ignore[arg-type]
            x[ROWS],
            torch.as_tensor(y[ROWS]),
            train_config=TRAIN,
            seeds=SEEDS,
            device=torch.device("cpu"),
        )


def test_learner_queries_and_a_saved_learner_restores_the_grouped_forest(tmp_path: Any) -> None:
    x, y = _blobs()
    learner = ActiveLearner(
        x.numpy(),
        model=None,
        num_classes=3,
        posterior="self_training",
        posterior_params={"base": FOREST, "graph": {"k": 5}, "threshold": 0.6},
        strategy="bald",
        seed=0,
    )
    assert learner.method.reads_pool and not learner.method.needs_model
    learner.teach(ROWS, y[ROWS])
    picked = learner.query(2)
    assert len(set(picked.tolist())) == 2 and not set(picked.tolist()) & set(ROWS.tolist())
    assert "forests" in learner.fit().extra  # pseudo-labels were used this round
    before = learner.predict_log_probs(x.numpy())
    learner.save(tmp_path / "l.pt")
    loaded = ActiveLearner.load(tmp_path / "l.pt")
    assert torch.allclose(loaded.predict_log_probs(x.numpy()), before)
