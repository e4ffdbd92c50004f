"""``ActiveLearner(task="multilabel")``: labels ``[n, L]`` in {0, 1}, a network with L
logits, posterior samples ``[N, K, L]`` of Bernoulli log-probabilities, the scores of
:mod:`bayesal.tasks.multilabel`, metrics equal to scikit-learn's, save and load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import make_multilabel_classification
from sklearn.metrics import average_precision_score, f1_score
from torch import nn

from bayesal import ActiveLearner
from bayesal.errors import InvalidInputError
from bayesal.learner import SimulatedOracle
from bayesal.learner.seeds import _MODEL_INIT, _TRAIN, stream_seed
from bayesal.posterior.heads import MultilabelHead
from bayesal.tasks import multilabel
from bayesal.training import TrainConfig, fit

TRAINING = {"epochs": 1, "min_steps": 30, "batch_size": 16}
L = 4


def _data() -> tuple[np.ndarray, np.ndarray]:
    x, y = make_multilabel_classification(
        n_samples=90, n_features=6, n_classes=L, n_labels=2, random_state=0
    )
    return (x / x.max()).astype(np.float32), y.astype(np.int64)


def make_net() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, L))


def _learner(strategy: str = "bald", **kwargs: Any) -> ActiveLearner:
    x, _ = _data()
    return ActiveLearner(
        x[:60],
        model=make_net,
        task="multilabel",
        strategy=strategy,
        seed=0,
        training=TRAINING,
        device="cpu",
        **{"num_samples": 8, **kwargs},
    )


def _taught(strategy: str = "bald", **kwargs: Any) -> ActiveLearner:
    _, y = _data()
    learner = _learner(strategy, **kwargs)
    ids = learner.query(8)  # cold start
    learner.teach(ids, y[ids])
    return learner


def _pool_output(learner: ActiveLearner, r: int) -> tuple[np.ndarray, torch.Tensor]:
    """The unlabelled ids and their posterior output under round ``r``'s draw."""
    x, _ = _data()
    unlabelled = learner.unlabelled_ids
    draw = learner.draw_for_round(r)  # outside no_grad: it may train
    with torch.no_grad():
        output = draw.log_probs(torch.from_numpy(x[unlabelled]))
    return unlabelled, output


@pytest.mark.parametrize(
    ("strategy", "score"),
    [("bald", multilabel.bald), ("entropy", multilabel.entropy), ("margin", multilabel.margin)],
)
def test_query_picks_the_top_scores_of_the_task_function(strategy: str, score: Any) -> None:
    learner = _taught(strategy)
    r = learner.round
    ids = learner.query(5)
    unlabelled, output = _pool_output(learner, r)
    assert output.shape == (len(unlabelled), 8, L)
    assert float(output.max()) <= 0.0  # Bernoulli log-probabilities
    scores = score(output)
    expected = unlabelled[torch.topk(scores, 5).indices.numpy()]
    assert sorted(ids.tolist()) == sorted(expected.tolist())
    assert learner.last_scores["max"] == pytest.approx(float(scores.max()), rel=1e-6)
    assert learner.last_scores["mean"] == pytest.approx(float(scores.mean()), rel=1e-5)


def test_random_strategy_and_margin_reduction_are_accepted() -> None:
    assert len(_taught("random").query(4)) == 4
    learner = _taught("margin", strategy_params={"reduction": "min"})
    r = learner.round
    ids = learner.query(3)
    unlabelled, output = _pool_output(learner, r)
    scores = multilabel.margin(output, reduction="min")
    assert sorted(ids.tolist()) == sorted(unlabelled[torch.topk(scores, 3).indices].tolist())


def test_samples_are_logsigmoid_of_the_network_under_each_mask() -> None:
    """An ensemble's samples are exactly its members' logsigmoid outputs."""
    x, y = _data()
    learner = _taught(posterior="ensemble", posterior_params={"members": 3}, num_samples=3)
    fitted = learner.fit()
    inputs = torch.from_numpy(x[:10])
    output = fitted.draw(torch.Generator().manual_seed(0)).log_probs(inputs)
    with torch.no_grad():
        expected = torch.stack([F.logsigmoid(m(inputs)) for m in fitted.models], dim=1)
    torch.testing.assert_close(output, expected)


def test_training_minimises_binary_cross_entropy() -> None:
    """The learner's network is ``training.fit`` with the BCE-with-logits loss, bit for
    bit, on the labelled 0/1 rows."""
    x, y = _data()
    learner = _taught()
    fitted = learner.fit()
    labelled = learner.labelled_ids
    r = learner._fit_round
    net = make_net()
    torch.manual_seed(stream_seed(0, _MODEL_INIT, r, 0))
    net = make_net()
    trained = fit(
        net,
        torch.from_numpy(x[labelled]),
        torch.from_numpy(y[labelled]),
        TrainConfig(**TRAINING),
        seed=stream_seed(0, _TRAIN, r, 0),
        loss=MultilabelHead().loss,
    )
    weights = fitted.models[0].state_dict().values()
    for a, b in zip(trained.state_dict().values(), weights, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_evaluate_equals_sklearn_on_the_rounds_draw() -> None:
    x, y = _data()
    learner = _taught()
    learner.query(4)
    metrics = learner.evaluate(x[60:], y[60:])
    assert set(metrics) == {"f1_micro", "f1_macro", "mean_average_precision"}
    with torch.no_grad():
        output = learner.draw_for_round().log_probs(torch.from_numpy(x[60:]))
    probs = multilabel.mean_probs(output).double().numpy()
    predicted = (probs >= 0.5).astype(int)
    assert metrics == multilabel.metrics(y[60:], output)
    assert metrics["f1_micro"] == pytest.approx(f1_score(y[60:], predicted, average="micro"))
    assert metrics["f1_macro"] == pytest.approx(
        f1_score(y[60:], predicted, average="macro", zero_division=0)
    )
    assert y[60:].any(axis=0).all()  # every label has a positive: sklearn's mAP is defined
    assert metrics["mean_average_precision"] == pytest.approx(
        average_precision_score(y[60:], probs, average="macro")
    )
    empty = learner.evaluate(x[:0], y[:0])
    assert set(empty) == set(metrics) and all(np.isnan(v) for v in empty.values())


def test_teach_stores_vectors_and_metrics_count_positives() -> None:
    _, y = _data()
    learner = _taught()
    labelled = learner.labelled_ids
    assert learner.labels(labelled).tolist() == y[labelled].tolist()
    assert (learner.labels(learner.unlabelled_ids) == -1).all()
    assert learner.metrics()["positives_per_label"] == y[labelled].sum(axis=0).tolist()
    version = learner._label_version
    learner.teach(labelled[:2], y[labelled[:2]])  # a repeat is a no-op
    assert learner._label_version == version
    flipped = 1 - y[labelled[:1]]
    with pytest.raises(InvalidInputError, match="overwrite=True"):
        learner.teach(labelled[:1], flipped)
    learner.teach(labelled[:1], flipped, overwrite=True)
    assert learner.labels(labelled[:1]).tolist() == flipped.tolist()
    # One id with its [L] row, and bool or float 0/1 rows, are labels too.
    one = int(learner.unlabelled_ids[0])
    learner.teach(one, y[one])
    assert learner.labels([one]).tolist() == [y[one].tolist()]
    ids = learner.unlabelled_ids[:2]
    learner.teach(ids, y[ids].astype(bool))
    learner.teach(learner.unlabelled_ids[:1], y[learner.unlabelled_ids[:1]].astype(float))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.zeros((2, L + 1)), r"shape \[n, L\] = \[n, 4\]"),
        (np.zeros(2), r"shape \[n, L\]"),
        (np.full((2, L), np.nan), "NaN"),
        (np.full((2, L), 2), "must be 0 or 1"),
        (np.full((2, L), 0.5), "must be 0 or 1"),
        (np.zeros((3, L)), "2 ids but 3 labels"),
        (np.array([["a"] * L] * 2), "numbers"),
    ],
)
def test_bad_labels_are_refused_and_nothing_is_recorded(labels: Any, message: str) -> None:
    learner = _learner()
    with pytest.raises(InvalidInputError, match=message):
        learner.teach(np.array([0, 1]), labels)
    assert learner.pool.num_labelled == 0
    if len(labels) == 2:  # test labels are checked alike, before anything is trained
        x, _ = _data()
        with pytest.raises(InvalidInputError, match=message):
            learner.evaluate(x[:2], labels)


def test_a_network_that_is_not_multilabel_or_a_strategy_that_does_not_apply() -> None:
    x, _ = _data()
    with pytest.raises(InvalidInputError, match=r"logits \[N, L\]"):
        ActiveLearner(x, model=_Bad, task="multilabel")
    with pytest.raises(InvalidInputError, match="does not apply to task 'multilabel'"):
        _learner("batchbald")
    with pytest.raises(InvalidInputError, match="supports classification only"):
        _learner(posterior="laplace")


class _Bad(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :2, None]


def test_constructor_labels_mark_missing_rows() -> None:
    x, y = _data()
    labels = np.full((60, L), -1)
    labels[:5] = y[:5]
    learner = ActiveLearner(
        x[:60], model=make_net, task="multilabel", labels=labels, training=TRAINING
    )
    assert learner.labelled_ids.tolist() == [0, 1, 2, 3, 4]


def test_save_and_load_resume_the_same_queries(tmp_path: Path) -> None:
    _, y = _data()
    learner = _taught()
    learner.query(3)  # fits the posterior, saved with the learner
    learner.save(tmp_path / "ml.pt")
    state = torch.load(tmp_path / "ml.pt", weights_only=False)
    assert state["settings"]["task"] == "multilabel"
    assert state["labels"].shape == (60, L) and state["labels"].dtype == np.int64
    loaded = ActiveLearner.load(tmp_path / "ml.pt", model=make_net)
    assert loaded.task.name == "multilabel"
    assert loaded.labels().tolist() == learner.labels().tolist()
    assert loaded.query(4).tolist() == learner.query(4).tolist()
    state["labels"][learner.labelled_ids[0]] = 2
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(InvalidInputError, match="other than 0 and 1"):
        ActiveLearner.load(tmp_path / "bad.pt", model=make_net)


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
