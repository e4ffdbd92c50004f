"""Multi-label and regression sessions train the task's learner (issue 23): a retrain
teaches ``ActiveLearner(task=...)`` the resolved labels, ranks the queue by the task's
score on the round's own posterior draw, and the guess shown for an item is that
learner's prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bayesal.data.images import read_image_folder
from bayesal.errors import ConfigError
from bayesal.session import LabellingSession
from bayesal.session.config import parse_session_config
from bayesal.tasks import multilabel as multilabel_scores
from bayesal.tasks import regression as regression_scores
from tests.session.conftest import fast_digits_config

NAMES = ["even", "big", "loop"]


def _digit(ref: str, truth: np.ndarray) -> int:
    return int(truth[int(ref[3:7])])  # img0007.png -> the 8th image's class


def _classes(digit: int) -> list[str]:
    """The multi-label answer for a digit: even, big (>= 5), has a loop."""
    flags = [digit % 2 == 0, digit >= 5, digit in (0, 6, 8, 9)]
    return [name for name, flag in zip(NAMES, flags, strict=True) if flag]


def _value(digit: int) -> float:
    """The regression answer for a digit (far from zero mean and unit scale, so the
    session's standardisation of targets is exercised)."""
    return 100.0 + 12.5 * digit


def _label_some(session: LabellingSession, truth: np.ndarray, n: int) -> None:
    for _ in range(n):
        view = session.next_item("ann")
        assert view is not None
        digit = _digit(view.ref, truth)
        answer = _classes(digit) if session.task == "multilabel" else _value(digit)
        session.label(view.item_id, answer, "ann")


def _pool_inputs(session: LabellingSession, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Item ids and their inputs, read from the data as the session reads it."""
    data = read_image_folder(folder)
    stored = session.store.items()
    ids = np.asarray([i for i, _, _ in stored], dtype=np.int64)
    rows = np.asarray([r for _, _, r in stored], dtype=np.int64)
    return ids, data.x[rows]


def _task_session(make_session, task: str, name: str = "session") -> LabellingSession:
    if task == "multilabel":
        return make_session(name, task="multilabel", labels=NAMES)
    return make_session(name, task="regression", labels=None, strategy={"name": "bald"})


@pytest.mark.parametrize("task", ["multilabel", "regression"])
def test_a_task_session_retrains_its_learner_and_queues_by_the_task_score_of_its_draw(
    make_session, digits_folder, task: str
) -> None:
    folder, truth = digits_folder
    session = _task_session(make_session, task)
    _label_some(session, truth, 12)
    row = session.retrain()
    assert row.round == 1 and row.n_labels == 12 and row.state_path == "rounds/round-1"
    assert row.metrics["task"] == task and row.metrics["stop_mean_bald"] >= 0

    learner = session.round_learner()
    assert learner.task.name == task and learner.pool.num_labelled == 12
    ids, x = _pool_inputs(session, folder)
    unlabelled = learner.pool.unlabelled_ids
    position = {int(i): p for p, i in enumerate(ids)}
    output = learner.draw_for_round(row.round).log_probs(
        torch.as_tensor(x[[position[int(i)] for i in unlabelled]])
    )
    scores = learner.strategy.score(output, generator=torch.Generator().manual_seed(0))
    order = unlabelled[np.argsort(-scores.numpy(), kind="stable")]
    queue = session.store.queue()
    assert len(queue) == 10
    assert [q.item_id for q in queue] == order[: len(queue)].tolist()
    queued_scores = [q.score for q in queue]
    assert queued_scores == sorted(queued_scores, reverse=True)
    expected = np.sort(scores.numpy())[::-1][: len(queue)]
    np.testing.assert_allclose(queued_scores, expected, rtol=1e-5, atol=1e-7)


def test_the_multilabel_guess_shown_is_the_learners_prediction(make_session, digits_folder) -> None:
    folder, truth = digits_folder
    session = _task_session(make_session, "multilabel")
    _label_some(session, truth, 12)
    row = session.retrain()
    learner = session.round_learner()
    ids, x = _pool_inputs(session, folder)
    output = learner.draw_for_round(row.round).log_probs(torch.as_tensor(x))
    probs = multilabel_scores.mean_probs(output).numpy()
    bald = multilabel_scores.bald(output).numpy()
    view = session.next_item("ann")
    assert view is not None and view.from_queue and view.guess is not None
    p = int(np.flatnonzero(ids == view.item_id)[0])
    assert view.guess["round"] == row.round
    shown = [view.guess["probs"][name] for name in NAMES]
    np.testing.assert_allclose(shown, probs[p], atol=1e-3)  # stored as float16
    assert view.guess["labels"] == [n for n, q in zip(NAMES, probs[p], strict=True) if q >= 0.5]
    assert view.guess["uncertainty"] == pytest.approx(float(bald[p]), rel=1e-4)
    present = torch.as_tensor(probs[p] >= 0.5)
    log_p = output[p].double()
    log_set_K = torch.where(present, log_p, torch.log(-torch.expm1(log_p))).sum(-1)
    assert view.guess["probability"] == pytest.approx(float(log_set_K.exp().mean()), rel=1e-5)
    # Every pool item has the round's guess, in the queue or not.
    predictions = session.predictions()
    assert len(predictions) == len(ids) and all(e["guess"] for e in predictions)
    assert all(e["predicted"] is None for e in predictions)


def test_the_regression_guess_is_the_learners_mean_and_90_percent_interval_in_label_units(
    make_session, digits_folder
) -> None:
    folder, truth = digits_folder
    session = _task_session(make_session, "regression")
    _label_some(session, truth, 12)
    row = session.retrain()
    values = np.asarray(list(session.resolved_labels().values()), dtype=np.float64)
    offset, scale = row.metrics["target_offset"], row.metrics["target_scale"]
    assert offset == pytest.approx(values.mean()) and scale == pytest.approx(values.std())
    learner = session.round_learner()
    # The learner was taught the standardised labels.
    taught = learner.labels(learner.labelled_ids)
    assert taught.mean() == pytest.approx(0.0, abs=1e-9)
    assert taught.std() == pytest.approx(1.0)
    ids, x = _pool_inputs(session, folder)
    output = learner.draw_for_round(row.round).log_probs(torch.as_tensor(x)).double()
    mean_N_K, var_N_K = regression_scores.split_output(output)
    low, high = regression_scores.interval(mean_N_K, var_N_K, level=0.9)
    view = session.next_item("ann")
    assert view is not None and view.guess is not None
    p = int(np.flatnonzero(ids == view.item_id)[0])
    guess = view.guess
    assert guess["level"] == 0.9 and guess["round"] == row.round
    assert guess["mean"] == pytest.approx(offset + scale * float(mean_N_K[p].mean()), rel=1e-6)
    assert guess["low"] == pytest.approx(offset + scale * float(low[p]), rel=1e-6)
    assert guess["high"] == pytest.approx(offset + scale * float(high[p]), rel=1e-6)
    assert guess["low"] < guess["mean"] < guess["high"]
    mi = regression_scores.gaussian_mutual_information(mean_N_K, var_N_K)
    assert guess["uncertainty"] == pytest.approx(float(mi[p]), rel=1e-6)
    assert session.prediction(view.item_id)["guess"] == guess


@pytest.mark.parametrize("task", ["multilabel", "regression"])
def test_task_sessions_with_the_same_seed_and_labels_rank_and_guess_the_same(
    make_session, digits_folder, task: str
) -> None:
    _, truth = digits_folder
    sessions = [_task_session(make_session, task, name) for name in ("a", "b")]
    for session in sessions:
        _label_some(session, truth, 8)
        session.retrain()
    first, second = ([(q.item_id, q.score) for q in s.store.queue()] for s in sessions)
    assert first == second
    assert sessions[0].predictions() == sessions[1].predictions()


def test_a_task_sessions_first_round_is_the_learners_cold_start(make_session) -> None:
    session = _task_session(make_session, "regression")
    row = session.store.last_round()
    assert row is not None and row.round == 0 and row.state_path is None
    queue = session.store.queue()
    assert len(queue) == 10 and all(q.score is None for q in queue)
    view = session.next_item("ann")
    assert view is not None and view.guess is None  # no model before the first label


def test_a_failed_task_retrain_is_logged_and_loses_no_label(
    make_session, digits_folder, monkeypatch, capsys
) -> None:
    from bayesal.session import worker

    _, truth = digits_folder
    session = _task_session(make_session, "multilabel")
    _label_some(session, truth, 5)
    labels = session.resolved_labels()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no memory left")

    monkeypatch.setattr(LabellingSession, "_task_guesses", broken)
    threads = torch.get_num_threads()
    try:
        code = worker.main([str(session.directory), "--nice", "0"])
    finally:
        torch.set_num_threads(threads)
    assert code == 1
    log = capsys.readouterr().out
    assert "retrain failed: RuntimeError: no memory left" in log and "labels are kept" in log
    assert [r.round for r in session.store.rounds()] == [0]  # nothing half-recorded
    assert session.resolved_labels() == labels
    assert session.next_item("ann") is not None  # the previous queue still serves
    monkeypatch.undo()
    assert session.retrain().n_labels == 5


def test_task_session_configs_check_strategy_and_posterior_against_the_task(
    digits_folder,
) -> None:
    folder = digits_folder[0]
    regression = {"task": "regression", "labels": None}
    config = parse_session_config(
        {**fast_digits_config(folder, **regression), "strategy": {"name": "epistemic_variance"}}
    )
    assert config.strategy.name == "epistemic_variance"
    again = parse_session_config(config.model_dump(mode="json"))  # as a session reopens it
    assert again.strategy.name == "epistemic_variance"
    with pytest.raises(ConfigError, match="'batchbald' does not apply to task regression"):
        parse_session_config(
            {**fast_digits_config(folder, **regression), "strategy": {"name": "batchbald"}}
        )
    with pytest.raises(ConfigError, match="unknown acquisition strategy 'epistemic_variance'"):
        parse_session_config(fast_digits_config(folder, strategy={"name": "epistemic_variance"}))
    with pytest.raises(ConfigError, match="takes no parameter"):
        parse_session_config(
            fast_digits_config(
                folder,
                task="multilabel",
                labels=NAMES,
                strategy={"name": "bald", "params": {"q": 1}},
            )
        )
    with pytest.raises(ConfigError, match="posterior 'laplace' supports classification only"):
        laplace = {"posterior": {"name": "laplace"}}
        parse_session_config(fast_digits_config(folder, **laplace, **regression))
    raw = fast_digits_config(folder, task="multilabel", labels=NAMES)
    del raw["model"]
    assert parse_session_config(raw).model.name == "mlp"  # the default model


@pytest.mark.parametrize("task", ["multilabel", "regression"])
def test_session_next_on_the_command_line_prints_the_task_guess(
    make_session, digits_folder, task: str
) -> None:
    from click.testing import CliRunner

    from bayesal.cli import main

    _, truth = digits_folder
    session = _task_session(make_session, task)
    _label_some(session, truth, 8)
    session.retrain()
    first = session.store.queue()[0].item_id
    guess = session.item_view(first).guess
    assert guess is not None
    result = CliRunner().invoke(main, ["session", "next", str(session.directory)])
    assert result.exit_code == 0, result.output
    item, _, shown = result.output.strip().split("\t")
    assert int(item) == first
    if task == "multilabel":
        assert shown == (",".join(guess["labels"]) or "(none)")
    else:
        assert shown == f"{guess['mean']:.4g} [{guess['low']:.4g}, {guess['high']:.4g}]"


def test_a_multilabel_round_reports_the_agreement_of_its_stop_set_decisions_with_the_last(
    make_session, digits_folder
) -> None:
    _, truth = digits_folder
    session = _task_session(make_session, "multilabel")
    _label_some(session, truth, 6)
    first = session.retrain()
    assert first.metrics["agreement"] is None  # no earlier trained round
    _label_some(session, truth, 6)
    second = session.retrain()
    kappa = second.metrics["agreement"]
    assert isinstance(kappa, float) and -1.0 <= kappa <= 1.0
    stop = np.frombuffer(second.stop_predictions, dtype=np.int16)
    assert len(stop) == 20 * len(NAMES) and set(stop.tolist()) <= {0, 1}
    assert session.status().model_agreement == kappa
    assert session.status().mean_uncertainty["bald"] == second.metrics["stop_mean_bald"]


def test_the_background_worker_process_trains_a_regression_sessions_learner(
    make_session, digits_folder
) -> None:
    import subprocess
    import sys

    _, truth = digits_folder
    session = _task_session(make_session, "regression")
    _label_some(session, truth, 5)  # retrain_every: 5
    assert session.needs_retrain()
    done = subprocess.run(
        [sys.executable, "-m", "bayesal.session.worker", str(session.directory), "--nice", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "round 1: 5 labels"
    row = session.store.last_round()
    assert row is not None and row.state_path == "rounds/round-1"
    assert row.metrics["task"] == "regression" and not session.needs_retrain()
    assert session.next_item("ann").guess is not None
