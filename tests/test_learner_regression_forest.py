"""``ActiveLearner(model=None, task="regression", posterior="forest")``: each regression
tree is one sample, a Gaussian per input: the tree's prediction and the (floored)
variance of the training targets in the input's leaf. Checked against the fitted trees,
brute force, the task's scores and metrics, seeds, save and load, and ``bayesal run``."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from scipy.stats import norm
from sklearn.datasets import make_friedman1
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

from bayesal import ActiveLearner
from bayesal.cli import main
from bayesal.errors import InvalidInputError
from bayesal.learner.seeds import _MODEL_INIT, stream_seed
from bayesal.posterior.forest import (
    DEFAULT_MIN_VARIANCE,
    REGRESSION_MIN_SAMPLES_LEAF,
    ForestMethod,
    ForestRegressionPosterior,
)
from bayesal.posterior.heads import GaussianHead
from bayesal.results_schema import TASK_METRIC_COLUMNS, result_columns
from bayesal.tasks import regression


def _data() -> tuple[np.ndarray, np.ndarray]:
    x, y = make_friedman1(n_samples=90, n_features=5, random_state=0)
    return x.astype(np.float32), ((y - y.mean()) / y.std()).astype(np.float64)


def _learner(strategy: str = "bald", **params: Any) -> ActiveLearner:
    x, _ = _data()
    return ActiveLearner(
        x[:60],
        model=None,
        task="regression",
        posterior="forest",
        posterior_params={"n_estimators": 12, **params},
        strategy=strategy,
        seed=0,
    )


def _taught(strategy: str = "bald", n: int = 25, **params: Any) -> ActiveLearner:
    _, y = _data()
    learner = _learner(strategy, **params)
    ids = learner.query(n)  # cold start
    learner.teach(ids, y[ids])
    return learner


def _ensemble(learner: ActiveLearner) -> Any:
    fitted = learner.fit()
    return fitted.extra["forest"]["ensemble"]


def _leaf_variance(tree: Any, x_L: np.ndarray, y_L: np.ndarray, w_L: np.ndarray, x: np.ndarray):
    """Brute force: the weighted variance of the training targets sharing x's leaf."""
    leaves_L = tree.apply(x_L)
    out = []
    for leaf in tree.apply(x):
        here = (leaves_L == leaf) & (w_L > 0)
        w, t = w_L[here], y_L[here]
        mean = (w * t).sum() / w.sum()
        out.append((w * (t - mean) ** 2).sum() / w.sum())
    return np.asarray(out)


@pytest.mark.parametrize("kind", ["random_forest", "extra_trees"])
def test_samples_are_each_trees_prediction_and_its_leaf_variance(kind: str) -> None:
    x, y = _data()
    learner = _taught(kind=kind)
    ensemble = _ensemble(learner)
    assert isinstance(
        ensemble, RandomForestRegressor if kind == "random_forest" else ExtraTreesRegressor
    )
    assert ensemble.min_samples_leaf == REGRESSION_MIN_SAMPLES_LEAF
    # Seeded from the learner's seeds: the round's model-initialisation seed.
    assert ensemble.random_state == stream_seed(0, _MODEL_INIT, learner.round, 0) % 2**32
    samples = learner.predict_samples(x[60:]).numpy()
    assert samples.shape == (30, 12, 2) and samples.dtype == np.float32
    labelled = learner.labelled_ids
    x_L, y_L = x[labelled], y[labelled]
    for k, tree in enumerate(ensemble.estimators_):
        np.testing.assert_allclose(samples[:, k, 0], tree.predict(x[60:]), rtol=1e-5, atol=1e-6)
        if kind == "random_forest":  # bootstrap: in-bag samples counted with multiplicity
            w_L = np.bincount(ensemble.estimators_samples_[k], minlength=len(y_L)).astype(float)
        else:  # extra trees, no bootstrap: every labelled target once
            w_L = np.ones(len(y_L))
        variance = _leaf_variance(tree, x_L, y_L, w_L, x[60:])
        expected = np.log(np.maximum(variance, DEFAULT_MIN_VARIANCE))
        np.testing.assert_allclose(samples[:, k, 1], expected, rtol=1e-5, atol=1e-5)


def test_the_leaf_variance_on_a_tiny_problem_by_hand_and_its_floor() -> None:
    # One feature, 10 targets: with min_samples_leaf=5 and no bootstrap every extra tree
    # either keeps one leaf (all 10) or splits 5 | 5 at x in (4, 5).
    x = np.arange(10, dtype=np.float32)[:, None]
    y = np.array([1.0, 1, 1, 1, 1, 0, 2, 0, 2, 0])
    method = ForestMethod(kind="extra_trees", n_estimators=4)
    method.head = GaussianHead()
    seeds = type("S", (), {"init": staticmethod(lambda m: 7)})()
    fitted = method.fit(
        None, torch.from_numpy(x), torch.from_numpy(y), train_config=None, seeds=seeds,
        device=torch.device("cpu"),
    )  # fmt: skip
    assert isinstance(fitted.posterior, ForestRegressionPosterior)
    out = fitted.draw(torch.Generator().manual_seed(0)).log_probs(torch.tensor([[0.0], [9.0]]))
    for k, tree in enumerate(fitted.extra["forest"]["ensemble"].estimators_):
        if tree.tree_.node_count == 1:  # no split: mean 0.9, variance 0.49
            assert out[:, k, 0].tolist() == pytest.approx([0.9, 0.9])
            assert out[:, k, 1].exp().tolist() == pytest.approx([0.49, 0.49], rel=1e-5)
        else:  # left: five 1s, variance 0 -> the floor; right: 0,2,0,2,0 -> 0.8, 0.96
            assert out[0, k, 0].item() == pytest.approx(1.0)
            assert out[0, k, 1].item() == pytest.approx(math.log(DEFAULT_MIN_VARIANCE), rel=1e-6)
            assert out[1, k, 0].item() == pytest.approx(0.8)
            assert out[1, k, 1].exp().item() == pytest.approx(0.96, rel=1e-5)


@pytest.mark.parametrize(
    ("strategy", "score"),
    [
        ("bald", regression.gaussian_mutual_information),
        ("epistemic_variance", regression.epistemic_variance),
        ("predictive_variance", regression.predictive_variance),
    ],
)
def test_query_picks_the_top_scores_of_the_task_function(strategy: str, score: Any) -> None:
    x, _ = _data()
    learner = _taught(strategy)
    r = learner.round
    ids = learner.query(5)
    unlabelled = learner.unlabelled_ids  # query does not teach: the pool it scored
    output = learner.draw_for_round(r).log_probs(torch.from_numpy(x[unlabelled]))
    assert output.shape == (len(unlabelled), 12, 2)
    scores = score(*regression.split_output(output))
    top = torch.topk(scores, 5).values
    # Trees with few leaves give many items the same Gaussians: the picks are a top 5
    # (ties broken either way), so their scores are the top-5 scores.
    picked = scores[torch.from_numpy(np.searchsorted(unlabelled, ids))]
    torch.testing.assert_close(picked.sort(descending=True).values, top)
    if top[-1] > scores[torch.topk(scores, 6).indices[-1]]:  # no tie at the cut
        expected = unlabelled[torch.topk(scores, 5).indices.numpy()]
        assert sorted(ids.tolist()) == sorted(expected.tolist())
    assert learner.last_scores["max"] == pytest.approx(float(scores.max()), rel=1e-6)


def test_evaluate_gives_rmse_nll_and_coverage_of_the_trees_mixture() -> None:
    x, y = _data()
    learner = _taught()
    metrics = learner.evaluate(x[60:], y[60:])
    assert set(metrics) == {"rmse", "nll", "coverage_90"}
    output = learner.predict_samples(x[60:]).double()
    mean, std = output[..., 0].numpy(), np.exp(output[..., 1].numpy() / 2)
    assert metrics["rmse"] == pytest.approx(
        math.sqrt(((mean.mean(axis=1) - y[60:]) ** 2).mean()), rel=1e-6
    )
    density = norm.pdf(y[60:, None], loc=mean, scale=std).mean(axis=1)
    assert metrics["nll"] == pytest.approx(-np.log(density).mean(), rel=1e-5)
    assert 0.0 <= metrics["coverage_90"] <= 1.0
    with pytest.raises(InvalidInputError, match="predict_samples"):
        learner.predict_log_probs(x[60:])


def test_same_seed_same_picks_and_samples_another_seed_other_trees() -> None:
    x, _ = _data()
    a, b = _taught(), _taught()
    assert a.query(5).tolist() == b.query(5).tolist()
    torch.testing.assert_close(a.predict_samples(x[60:]), b.predict_samples(x[60:]))
    c = ActiveLearner(
        x[:60], model=None, task="regression", posterior="forest", seed=1,
        posterior_params={"n_estimators": 12},
    )  # fmt: skip
    c.teach(a.labelled_ids, a.labels(a.labelled_ids))
    assert not torch.equal(c.predict_samples(x[60:]), a.predict_samples(x[60:]))


def test_width_is_two_and_a_wrong_num_classes_or_criterion_is_refused() -> None:
    assert _learner().num_classes == 2
    x, _ = _data()
    with pytest.raises(InvalidInputError, match="num_classes=3"):
        ActiveLearner(x, model=None, task="regression", posterior="forest", num_classes=3)
    learner = _learner(estimator_params={"criterion": "absolute_error"})
    learner.teach(np.arange(10), _data()[1][:10])
    with pytest.raises(InvalidInputError, match="squared_error"):
        learner.fit()
    with pytest.raises(InvalidInputError, match="classification and regression only"):
        ActiveLearner(x, model=None, task="multilabel", posterior="forest", num_classes=3)


def test_save_and_load_resume_the_same_queries(tmp_path: Path) -> None:
    learner = _taught()
    learner.query(3)
    learner.save(tmp_path / "forest.pt")
    loaded = ActiveLearner.load(tmp_path / "forest.pt", model=None)
    assert loaded.num_classes == 2
    assert loaded.query(4).tolist() == learner.query(4).tolist()


TINY: dict[str, Any] = {
    "name": "tiny_reg_forest",
    "task": "regression",
    "dataset": {"name": "diabetes"},
    "posterior": {"name": "forest", "params": {"n_estimators": 8}},
    "strategies": ["random", "bald", "epistemic_variance"],
    "seeds": 2,
    "initial_labels": 12,
    "acquisition_size": 4,
    "rounds": 2,
    "device": "cpu",
}


def _run(tmp_path: Path, out: str) -> list[dict[str, str]]:
    config = tmp_path / "forest.yaml"
    config.write_text(yaml.safe_dump(TINY))
    result = CliRunner().invoke(
        main, ["run", str(config), "--out", str(tmp_path / out), "--workers", "1", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    with open(tmp_path / out / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_bayesal_run_of_a_regression_forest_study(tmp_path: Path) -> None:
    rows = _run(tmp_path, "a")
    assert tuple(rows[0]) == result_columns(False, "regression")
    assert len(rows) == 3 * 2 * 3  # arms x seeds x rounds 0..2
    for row in rows:
        values = {m: float(row[m]) for m in TASK_METRIC_COLUMNS["regression"]}
        assert all(math.isfinite(v) for v in values.values())
        assert values["rmse"] >= 0.0 and 0.0 <= values["coverage_90"] <= 1.0
        assert int(row["n_labels"]) == 12 + 4 * int(row["round"])
    drop = ("train_seconds", "score_seconds", "select_seconds", "eval_seconds")
    again = _run(tmp_path, "b")
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows] == [
        {k: v for k, v in r.items() if k not in drop} for r in again
    ]
