"""``ActiveLearner(task="regression")``: float labels, a network returning ``[N, 2]``
(mean, log-variance) or ``[N, 1]`` (mean, with a learned noise variance), posterior
samples ``[N, K, 2]``, the scores of :mod:`bayesal.tasks.regression`, metrics checked
against scikit-learn and brute force, save and load."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.datasets import make_friedman1
from sklearn.metrics import mean_squared_error
from torch import nn

from bayesal import ActiveLearner
from bayesal.errors import InvalidInputError
from bayesal.learner import SimulatedOracle
from bayesal.learner.regression import WithLearnedNoise
from bayesal.learner.seeds import _MODEL_INIT, _TRAIN, stream_seed
from bayesal.posterior.heads import LOG_VAR_MIN, GaussianHead, LearnedNoise
from bayesal.tasks import regression
from bayesal.training import TrainConfig, fit

TRAINING = {"epochs": 1, "min_steps": 40, "batch_size": 16}


def _data() -> tuple[np.ndarray, np.ndarray]:
    x, y = make_friedman1(n_samples=90, n_features=5, random_state=0)
    return x.astype(np.float32), ((y - y.mean()) / y.std()).astype(np.float64)


def make_net(width: int = 2) -> nn.Module:
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, width))


def make_mean_net() -> nn.Module:
    return make_net(1)


def _learner(strategy: str = "bald", model: Any = make_net, **kwargs: Any) -> ActiveLearner:
    x, _ = _data()
    return ActiveLearner(
        x[:60],
        model=model,
        task="regression",
        strategy=strategy,
        seed=0,
        training=TRAINING,
        device="cpu",
        **{"num_samples": 8, **kwargs},
    )


def _taught(strategy: str = "bald", **kwargs: Any) -> ActiveLearner:
    _, y = _data()
    learner = _learner(strategy, **kwargs)
    ids = learner.query(10)  # cold start
    learner.teach(ids, y[ids])
    return learner


def _pool_output(learner: ActiveLearner, r: int) -> tuple[np.ndarray, torch.Tensor]:
    x, _ = _data()
    unlabelled = learner.unlabelled_ids
    draw = learner.draw_for_round(r)  # outside no_grad: it may train
    with torch.no_grad():
        output = draw.log_probs(torch.from_numpy(x[unlabelled]))
    return unlabelled, output


@pytest.mark.parametrize(
    ("strategy", "score"),
    [
        ("bald", regression.gaussian_mutual_information),
        ("epistemic_variance", regression.epistemic_variance),
        ("predictive_variance", regression.predictive_variance),
    ],
)
@pytest.mark.parametrize("model", [make_net, make_mean_net])
def test_query_picks_the_top_scores_of_the_task_function(
    strategy: str, score: Any, model: Any
) -> None:
    learner = _taught(strategy, model=model)
    r = learner.round
    ids = learner.query(5)
    unlabelled, output = _pool_output(learner, r)
    assert output.shape == (len(unlabelled), 8, 2)
    mean_N_K, var_N_K = regression.split_output(output)
    scores = score(mean_N_K, var_N_K)
    expected = unlabelled[torch.topk(scores, 5).indices.numpy()]
    assert sorted(ids.tolist()) == sorted(expected.tolist())
    assert learner.last_scores["max"] == pytest.approx(float(scores.max()), rel=1e-6)


def test_bald_ranks_as_epistemic_variance_with_a_learned_noise_variance() -> None:
    """A mean-only network has one noise variance in every MC-dropout sample: the
    Gaussian mutual information is then a monotone function of Var_k[mu]."""
    learner = _taught(model=make_mean_net)
    _, output = _pool_output(learner, learner.round)
    mean_N_K, var_N_K = regression.split_output(output)
    assert torch.allclose(var_N_K, var_N_K[0, 0].expand_as(var_N_K))
    bald = regression.gaussian_mutual_information(mean_N_K, var_N_K)
    epistemic = regression.epistemic_variance(mean_N_K, var_N_K)
    torch.testing.assert_close(bald, 0.5 * torch.log1p(epistemic / var_N_K[:, 0]))


def test_random_strategy_is_accepted() -> None:
    assert len(_taught("random").query(4)) == 4


def test_samples_are_mean_and_floored_log_variance_of_each_member() -> None:
    x, _ = _data()
    learner = _taught(posterior="ensemble", posterior_params={"members": 3}, num_samples=3)
    fitted = learner.fit()
    inputs = torch.from_numpy(x[:10])
    output = fitted.draw(torch.Generator().manual_seed(0)).log_probs(inputs)
    with torch.no_grad():
        raw = torch.stack([m(inputs) for m in fitted.models], dim=1)
    torch.testing.assert_close(output[..., 0], raw[..., 0])
    torch.testing.assert_close(output[..., 1], raw[..., 1].clamp_min(LOG_VAR_MIN))


@pytest.mark.parametrize("model", [make_net, make_mean_net])
def test_training_minimises_the_gaussian_nll(model: Any) -> None:
    """The learner's network is ``training.fit`` with the Gaussian NLL, bit for bit; a
    mean-only network gets a learned noise parameter, trained away from its start."""
    x, y = _data()
    learner = _taught(model=model)
    fitted = learner.fit()
    labelled = learner.labelled_ids
    r = learner._fit_round
    build = WithLearnedNoise(lambda seed: model()) if model is make_mean_net else model
    torch.manual_seed(stream_seed(0, _MODEL_INIT, r, 0))
    net = build(0) if model is make_mean_net else build()
    trained = fit(
        net,
        torch.from_numpy(x[labelled]),
        torch.from_numpy(y[labelled]),
        TrainConfig(**TRAINING),
        seed=stream_seed(0, _TRAIN, r, 0),
        loss=GaussianHead().loss,
    )
    weights = fitted.models[0].state_dict()
    assert list(weights) == list(trained.state_dict())
    for a, b in zip(trained.state_dict().values(), weights.values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    if model is make_mean_net:
        assert isinstance(fitted.models[0][-1], LearnedNoise)
        assert float(weights["1.log_var"]) != 0.0


def test_gaussian_nll_loss_is_the_formula() -> None:
    raw = torch.tensor([[0.5, math.log(2.0)], [-1.0, -30.0]])
    y = torch.tensor([1.0, -1.0])
    expected = (0.5 * (math.log(2.0) + 0.25 / 2.0) + 0.5 * LOG_VAR_MIN) / 2
    assert float(GaussianHead().loss(raw, y)) == pytest.approx(expected)


def test_evaluate_equals_sklearn_and_brute_force_on_the_rounds_draw() -> None:
    x, y = _data()
    learner = _taught()
    learner.query(4)
    metrics = learner.evaluate(x[60:], y[60:])
    assert set(metrics) == {"rmse", "nll", "coverage_90"}
    with torch.no_grad():
        output = learner.draw_for_round().log_probs(torch.from_numpy(x[60:])).double()
    mean = output[..., 0].numpy()
    std = np.exp(output[..., 1].numpy() / 2)
    assert metrics["rmse"] == pytest.approx(
        math.sqrt(mean_squared_error(y[60:], mean.mean(axis=1))), rel=1e-6
    )
    density = norm.pdf(y[60:, None], loc=mean, scale=std).mean(axis=1)
    assert metrics["nll"] == pytest.approx(-np.log(density).mean(), rel=1e-5)
    low, high = regression.interval(*regression.split_output(output), level=0.9)
    inside = (y[60:] >= low.numpy()) & (y[60:] <= high.numpy())
    assert metrics["coverage_90"] == pytest.approx(inside.mean())
    empty = learner.evaluate(x[:0], y[:0])
    assert set(empty) == set(metrics) and all(np.isnan(v) for v in empty.values())


def test_teach_stores_floats_and_metrics_summarise_them() -> None:
    _, y = _data()
    learner = _taught()
    labelled = learner.labelled_ids
    assert learner.labels(labelled).tolist() == y[labelled].tolist()
    assert np.isnan(learner.labels(learner.unlabelled_ids)).all()
    assert learner.metrics()["label_mean"] == pytest.approx(y[labelled].mean())
    version = learner._label_version
    learner.teach(labelled[:2], y[labelled[:2]])  # a repeat is a no-op
    assert learner._label_version == version
    with pytest.raises(InvalidInputError, match="overwrite=True"):
        learner.teach(labelled[:1], y[labelled[:1]] + 1)
    learner.teach(labelled[:1], y[labelled[:1]] + 1, overwrite=True)
    learner.teach(learner.unlabelled_ids[:2], torch.tensor([[0.5], [1.5]]))  # [n, 1] too
    learner.forget(labelled[:1])
    assert np.isnan(learner.labels(labelled[:1])).all()


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.array([0.5, np.nan]), "finite"),
        (np.array([0.5, np.inf]), "finite"),
        (np.zeros((2, 2)), r"shape \[n\]"),
        (np.array([1.0, 2.0, 3.0]), "2 ids but 3 labels"),
        (np.array(["a", "b"]), "numbers"),
    ],
)
def test_bad_labels_are_refused_and_nothing_is_recorded(labels: Any, message: str) -> None:
    learner = _learner()
    with pytest.raises(InvalidInputError, match=message):
        learner.teach(np.array([0, 1]), labels)
    assert learner.pool.num_labelled == 0


def test_a_network_that_is_not_a_regressor_or_a_strategy_that_does_not_apply() -> None:
    with pytest.raises(InvalidInputError, match=r"\[N, 2\] \(mean, log-variance\)"):
        _learner(model=lambda: make_net(3))
    with pytest.raises(InvalidInputError, match="does not apply to task 'regression'"):
        _learner("entropy")
    with pytest.raises(InvalidInputError, match="supports classification only"):
        _learner(posterior="laplace")


def test_constructor_labels_mark_missing_with_nan() -> None:
    x, y = _data()
    labels = np.full(60, np.nan)
    labels[:5] = y[:5]
    learner = ActiveLearner(x[:60], model=make_net, task="regression", labels=labels)
    assert learner.labelled_ids.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("model", [make_net, make_mean_net])
def test_save_and_load_resume_the_same_queries(tmp_path: Path, model: Any) -> None:
    learner = _taught(model=model)
    learner.query(3)  # fits the posterior, saved with the learner
    learner.save(tmp_path / "reg.pt")
    state = torch.load(tmp_path / "reg.pt", weights_only=False)
    assert state["settings"]["task"] == "regression"
    assert state["labels"].dtype == np.float64
    loaded = ActiveLearner.load(tmp_path / "reg.pt", model=model)
    assert loaded.num_classes == learner.num_classes
    np.testing.assert_array_equal(loaded.labels(), learner.labels())
    assert loaded.query(4).tolist() == learner.query(4).tolist()
    state["labels"][learner.unlabelled_ids[0]] = 1.0
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(InvalidInputError, match="should be NaN"):
        ActiveLearner.load(tmp_path / "bad.pt", model=model)


def test_a_streamed_pool_picks_what_the_in_memory_one_does() -> None:
    """A pool over max_log_probs_bytes is scored chunk by chunk (bayesal.scoring), with
    the same picks; predict_log_probs (classification's predictive) is refused."""
    in_memory = _taught("bald")
    streamed = _taught("bald", max_log_probs_bytes=1, chunk_size=7)
    assert streamed.query(5).tolist() == in_memory.query(5).tolist()
    assert streamed.last_scoring is not None and streamed.last_scoring.path == "stream"
    x, _ = _data()
    with pytest.raises(InvalidInputError, match="use predict_samples"):
        in_memory.predict_log_probs(x[:2])


def test_a_simulated_oracle_answers_with_the_tasks_labels() -> None:
    _, y = _data()
    oracle = SimulatedOracle(y[:60])
    learner = _learner()
    for _ in range(2):
        ids = learner.query(4)
        learner.teach(ids, oracle(ids))
    np.testing.assert_array_equal(learner.labels(learner.labelled_ids), y[learner.labelled_ids])
