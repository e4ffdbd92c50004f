"""Tests of bayesal.session.session: init (labels from the data, checks before anything is
written), labelling input checks, retrain rounds and their queue, determinism, the
retrain lock, status and stopping, item views (image paths, table rows), and durability
under SIGKILL."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesal.errors import BayesalError, ConfigError, DataNotFoundError, InvalidInputError
from bayesal.session import LabellingSession, RetrainBusyError, StoreError
from bayesal.session.config import parse_session_config
from bayesal.session.session import ACCURACY_WINDOW
from bayesal.session.store import DB_NAME
from bayesal.stopping import cohen_kappa

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SMALL = {"epochs": 2, "min_steps": 5, "batch_size": 32}


def config_over(folder: Path, **overrides: object):
    raw = {
        "data": {"kind": "image_folder", "path": str(folder)},
        "labels": DIGITS,
        "model": {"name": "mlp", "params": {"hidden": 32}},
        "posterior": {"name": "mc_dropout", "num_samples": 4},
        "training": SMALL,
        "queue_size": 10,
        "retrain_every": 5,
        "stop_set_size": 20,
    }
    raw.update(overrides)
    return parse_session_config(raw)


def label_ids(session: LabellingSession, ids, truth, annotator: str = "ann") -> None:
    session.store.add_labels([(int(i), int(truth[int(i)]), annotator) for i in ids], source="api")


# --------------------------------------------------------------------------- init


def test_init_records_class_folders_as_initial_labels_mapped_onto_label_names(
    tmp_path: Path, write_digits_fn
) -> None:
    folder = tmp_path / "digits"
    write_digits_fn(folder, n=10, labelled_per_class=2)
    session = LabellingSession.init(tmp_path / "s", config_over(folder))
    assert session.label_names == DIGITS  # the config's order, not the folders' sorted one
    items = {i: ref for i, ref, _ in session.store.items()}
    labels = session.labels()
    assert len(labels) == 20 and len(items) == 30
    for item_id, label in labels.items():
        assert items[item_id].split("/")[0] == DIGITS[label]
    events = session.store.events()
    assert {(e.kind, e.annotator, e.source) for e in events} == {("label", "data", "initial")}
    assert session.status().per_annotator == {"data": 20}
    assert session.status().per_class == dict.fromkeys(DIGITS, 2)
    # Labels known: round 0 is a trained model, its queue holds only unlabelled items.
    round0 = session.store.last_round()
    assert round0 is not None and round0.round == 0 and round0.n_labels == 20
    assert {q.item_id for q in session.store.queue()} <= set(items) - set(labels)

    without_names = LabellingSession.init(tmp_path / "s2", config_over(folder, labels=None))
    assert without_names.label_names == sorted(DIGITS)  # the folders' names, sorted
    for item_id, label in without_names.labels().items():
        assert items[item_id].split("/")[0] == without_names.label_names[label]


def test_without_label_names_or_class_folders_init_asks_for_labels(
    tmp_path: Path, digits_folder
) -> None:
    with pytest.raises(ConfigError, match="labels: give the label names"):
        LabellingSession.init(tmp_path / "s", config_over(digits_folder[0], labels=None))
    assert not (tmp_path / "s").exists()


def test_a_class_folder_that_labels_does_not_name_is_a_config_error(
    tmp_path: Path, write_digits_fn
) -> None:
    folder = tmp_path / "digits"
    write_digits_fn(folder, n=5, labelled_per_class=1)
    (folder / "zero").rename(folder / "nought")
    with pytest.raises(ConfigError, match="nought"):
        LabellingSession.init(tmp_path / "s", config_over(folder))
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("params", "match"),
    [({"in_features": 10}, "fails on the data"), ({"num_classes": 3}, r"expected \[2, 10\]")],
)
@pytest.mark.parametrize("existing", [False, True])
def test_a_model_that_does_not_fit_the_data_creates_nothing(
    tmp_path: Path, digits_folder, params: dict, match: str, existing: bool
) -> None:
    target = tmp_path / "s"
    if existing:
        target.mkdir()
    config = config_over(digits_folder[0], model={"name": "mlp", "params": params})
    with pytest.raises(ConfigError, match=match):
        LabellingSession.init(target, config)
    assert list(target.iterdir()) == [] if existing else not target.exists()


def test_bad_model_params_and_missing_data_create_nothing(tmp_path: Path, digits_folder) -> None:
    with pytest.raises(BayesalError, match="hidden"):
        LabellingSession.init(
            tmp_path / "a",
            config_over(digits_folder[0], model={"name": "mlp", "params": {"hidden": 0}}),
        )
    with pytest.raises(DataNotFoundError):
        LabellingSession.init(tmp_path / "b", config_over(tmp_path / "nowhere"))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_init_refuses_a_non_empty_directory_or_a_file(tmp_path: Path, digits_folder) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not an empty directory"):
        LabellingSession.init(busy, config_over(digits_folder[0]))
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(InvalidInputError):
        LabellingSession.init(afile, config_over(digits_folder[0]))


def test_open_refuses_what_is_not_a_session(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a labelling session"):
        LabellingSession.open(tmp_path)
    (tmp_path / DB_NAME).write_bytes(b"")
    with pytest.raises(StoreError, match="not a labelling session"):
        LabellingSession.open(tmp_path)


# --------------------------------------------------------------------------- labelling input


def test_label_by_name_index_or_digits_and_reject_the_rest(make_session) -> None:
    session = make_session()
    assert session.label(0, "three").label == 3
    assert session.label(1, 4).label == 4
    assert session.label("2", " 7 ").label == 7
    assert session.label(np.int64(3), np.int64(9)).label == 9
    assert session.labels() == {0: 3, 1: 4, 2: 7, 3: 9}
    for bad_item in (999, -1, "abc", "--5", "²", "9" * 5000, 1.0, True, None, 2**70):
        with pytest.raises(InvalidInputError):
            session.label(bad_item, 1)
    for bad_label in (10, -1, "ten", "²", "9" * 5000, True, 1.0, None, "", "-1"):
        with pytest.raises(InvalidInputError):
            session.label(5, bad_label)
    assert session.labels() == {0: 3, 1: 4, 2: 7, 3: 9}  # nothing recorded by the refusals


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "a\tb", "a\x00b", "line\nbreak", 5])
def test_annotator_names_are_checked(make_session, name: object) -> None:
    session = make_session()
    with pytest.raises(InvalidInputError, match="annotator"):
        session.label(0, 1, name)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="annotator"):
        session.next_item(name)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="annotator"):
        session.undo(name)  # type: ignore[arg-type]
    assert session.store.events() == []
    assert session.label(0, 1, "  ok name  ").annotator == "ok name"
    assert session.label(1, 1, "x" * 100).annotator == "x" * 100


def test_undo_and_skip_through_the_session(make_session) -> None:
    session = make_session()
    assert session.undo("ann") is None
    session.label(4, "one", "ann")
    session.label(4, "two", "ann")
    assert session.item_view(4).label == "two"
    session.undo("ann")
    assert session.item_view(4).label == "one"
    session.undo("ann")
    assert session.item_view(4).label is None
    view = session.next_item("ann")
    assert view is not None
    session.skip(view.item_id, "ann")
    again = session.next_item("ann")
    assert again is not None and again.item_id != view.item_id
    with pytest.raises(InvalidInputError):
        session.skip(999, "ann")


def test_next_item_from_four_threads_hands_out_each_item_once(make_session) -> None:
    session = make_session()
    got: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(t: int) -> None:
        try:
            barrier.wait()
            for k in range(15):
                view = session.next_item(f"t{t}-{k}")
                assert view is not None
                got.append(view.item_id)
        except BaseException as exc:  # noqa: BLE001  reported below
            errors.append(exc)
        finally:
            session.close()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(got) == list(range(60))
    assert session.next_item("late") is None  # all 60 are leased
    assert session.status().active_leases == 60


# --------------------------------------------------------------------------- retrain


def test_retrain_rounds_and_their_queue(make_session, digits_folder) -> None:
    truth = digits_folder[1]
    session = make_session()
    assert [r.round for r in session.store.rounds()] == [0]
    cold = session.store.queue()
    assert len(cold) == 10 and all(q.score is None and q.predicted is None for q in cold)
    label_ids(session, range(0, 40, 3), truth)
    for expected_round in (1, 2):
        labelled = set(session.labels())
        row = session.retrain()
        assert row.round == expected_round and row.n_labels == len(labelled)
        assert row.last_event_id == max(e.event_id for e in session.store.events())
        queue = session.store.queue()
        assert [q.rank for q in queue] == list(range(10))
        assert len({q.item_id for q in queue}) == 10
        assert not {q.item_id for q in queue} & labelled
        scores = [q.score for q in queue]
        assert all(s is not None for s in scores)
        assert all(a >= b for a, b in zip(scores, scores[1:], strict=False)), scores
        for q in queue:
            assert q.predicted in range(10)
            assert q.predicted_prob is not None and 0.0 <= q.predicted_prob <= 1.0
            assert q.predicted_prob >= 0.1 - 1e-6  # the most probable of 10 classes
            assert q.uncertainty is not None and q.uncertainty >= 0.0
        view = session.item_view(queue[0].item_id)
        assert view.rank == 0 and view.round == expected_round
        assert view.predicted == DIGITS[queue[0].predicted]
        label_ids(session, [queue[0].item_id], truth)
    assert [r.round for r in session.store.rounds()] == [0, 1, 2]
    assert (session.directory / "rounds" / "round-2").exists()
    assert session.store.last_round().state_path == "rounds/round-2"
    session.retrain()
    session.retrain()
    kept = sorted(p.name for p in (session.directory / "rounds").iterdir())
    assert kept == ["round-2", "round-3", "round-4"]  # the newest KEEP_STATES


def test_the_queue_shrinks_to_the_unlabelled_items_and_empties(make_session, digits_folder):
    truth = digits_folder[1]
    session = make_session()
    label_ids(session, range(56), truth)
    session.retrain()
    assert sorted(q.item_id for q in session.store.queue()) == [56, 57, 58, 59]
    label_ids(session, range(56, 60), truth)
    row = session.retrain()
    assert session.store.queue() == [] and row.n_labels == 60
    assert session.next_item("ann") is None


def test_same_config_and_labels_give_the_same_queue(make_session, digits_folder) -> None:
    truth = digits_folder[1]
    a, b = make_session("a"), make_session("b")
    assert [q.item_id for q in a.store.queue()] == [q.item_id for q in b.store.queue()]
    for session in (a, b):
        label_ids(session, [3, 17, 29, 41, 8, 55], truth)
        session.retrain()
    qa, qb = a.store.queue(), b.store.queue()
    assert [(q.item_id, q.predicted) for q in qa] == [(q.item_id, q.predicted) for q in qb]
    assert [q.score for q in qa] == pytest.approx([q.score for q in qb], abs=1e-6)
    assert a.store.last_round().stop_predictions == b.store.last_round().stop_predictions


def test_needs_retrain_after_retrain_every_labels_or_undos(make_session) -> None:
    session = make_session()  # retrain_every: 5
    assert not session.needs_retrain()
    for i in range(4):
        session.label(i, 1, "ann")
    assert not session.needs_retrain()
    session.skip(10, "ann")
    assert not session.needs_retrain()  # a skip is no new evidence
    session.undo("ann")
    assert session.needs_retrain()
    session.retrain()
    assert not session.needs_retrain()
    assert session.status().labels_since_round == 0


def test_retrain_without_waiting_is_refused_while_another_runs(make_session) -> None:
    session = make_session()
    other = LabellingSession.open(session.directory)
    with session._retrain_lock(wait=True):
        with pytest.raises(RetrainBusyError, match="retrain is running"):
            other.retrain(wait=False)
        with pytest.raises(RetrainBusyError):
            session.retrain(wait=False)
    assert other.retrain(wait=False).round == 1


def test_retrain_waits_for_a_lock_held_by_another_thread(make_session) -> None:
    session = make_session()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with session._retrain_lock(wait=True):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(30)
    result: list[int] = []
    waiter = threading.Thread(target=lambda: result.append(session.retrain().round))
    waiter.start()
    waiter.join(0.3)
    assert result == []  # still waiting on the lock (whatever the machine's speed)
    release.set()
    holder.join()
    waiter.join(60)
    assert result == [1]


def test_data_changed_after_init_is_a_clear_store_error(tmp_path: Path, write_digits_fn) -> None:
    folder = tmp_path / "digits"
    write_digits_fn(folder, n=12)
    session = LabellingSession.init(tmp_path / "s", config_over(folder, queue_size=3))
    session.close()
    (folder / "img0005.png").unlink()
    reopened = LabellingSession.open(tmp_path / "s")
    with pytest.raises(StoreError, match="changed since the session was created"):
        reopened.retrain()
    # The labels stay usable without the model.
    reopened.label(3, 1, "ann")
    assert reopened.labels() == {3: 1}


# --------------------------------------------------------------------------- progress


def test_status_counts_and_the_budget_rule(make_session) -> None:
    session = make_session(stopping=[{"name": "budget", "params": {"max_labels": 6}}])
    status = session.status()
    assert (status.num_items, status.num_labelled, status.round) == (60, 0, 0)
    assert not status.should_stop
    for item, label, who in [
        (0, 1, "ann"),
        (1, 1, "ann"),
        (2, 2, "bob"),
        (3, 9, "bob"),
        (4, 9, "cy"),
    ]:
        session.label(item, label, who)
    session.label(2, 1, "ann", correct=True)  # class one now; bob's annotation is kept
    status = session.status()
    assert status.num_labelled == 5
    assert status.per_class == {**dict.fromkeys(DIGITS, 0), "one": 3, "nine": 2}
    assert status.per_annotator == {"ann": 3, "bob": 2, "cy": 1}  # annotations each gave
    assert status.labels_since_round == 6
    assert [name for name, _ in status.stopping] == ["budget"]
    assert not status.should_stop
    session.label(5, 0, "cy")
    status = session.status()
    assert status.should_stop and status.stopping[0][1].stop
    assert "6" in status.stopping[0][1].reason
    as_dict = status.as_dict()
    assert as_dict["should_stop"] is True and as_dict["stopping"][0]["rule"] == "budget"


def test_estimated_accuracy_is_the_share_of_shown_predictions_that_were_right(
    make_session, digits_folder
) -> None:
    truth = digits_folder[1]
    session = make_session(queue_size=20)
    assert session.estimated_accuracy() == (None, 0)
    label_ids(session, range(0, 60, 6), truth)  # cold-start labels: no prediction shown
    session.retrain()
    assert session.estimated_accuracy() == (None, 0)
    right = []
    for k in range(8):
        view = session.next_item("ann")
        assert view is not None and view.from_queue and view.predicted is not None
        given = DIGITS[int(truth[view.item_id])] if k % 3 else view.predicted  # some right
        session.label(view.item_id, given, "ann")
        right.append(view.predicted == given)
    # A correction replaces the item's earlier label in the count.
    session.label(view.item_id, "zero" if given != "zero" else "one", "bob", correct=True)
    right[-1] = view.predicted == ("zero" if given != "zero" else "one")
    # An undone label is no label: it does not count.
    wrong = next(d for d in DIGITS if d != session.store.queue()[-1].predicted)
    session.label(session.store.queue()[-1].item_id, wrong, "cy")
    session.undo("cy")
    # An imported label was not shown with a prediction: it does not count either.
    from bayesal.session.exchange import import_labels

    queued = next(q for q in session.store.queue() if q.item_id not in session.labels())
    csv = session.directory.parent / "imported.csv"
    csv.write_text(f"item_id,label\n{queued.item_id},{DIGITS[int(truth[queued.item_id])]}\n")
    assert import_labels(session, csv).recorded == 1
    accuracy, n = session.estimated_accuracy()
    assert n == len(right) == 8
    assert accuracy == pytest.approx(sum(right) / len(right))
    status = session.status()
    assert (status.estimated_accuracy, status.estimated_accuracy_from) == (accuracy, n)
    assert ACCURACY_WINDOW >= n


def test_stop_set_agreement_appears_from_the_second_trained_round(
    make_session, digits_folder
) -> None:
    truth = digits_folder[1]
    session = make_session()
    assert session.store.last_round().metrics.get("agreement") is None  # cold start
    assert session.store.last_round().stop_predictions is None
    label_ids(session, range(0, 60, 4), truth)
    first = session.retrain()
    assert first.metrics["agreement"] is None and first.stop_predictions is not None
    assert session.status().model_agreement is None
    label_ids(session, range(1, 60, 4), truth)
    second = session.retrain()
    previous = np.frombuffer(first.stop_predictions, dtype=np.int16)
    current = np.frombuffer(second.stop_predictions, dtype=np.int16)
    assert len(current) == 20 and set(current.tolist()) <= set(range(10))
    assert second.metrics["agreement"] == pytest.approx(cohen_kappa(previous, current, 10))
    assert session.status().model_agreement == second.metrics["agreement"]
    evidence = session.evidence()
    assert [e.agreement for e in evidence][:2] == [None, None]
    assert 0.0 <= second.metrics["stop_mean_bald"] <= second.metrics["stop_mean_entropy"]
    assert second.metrics["stop_mean_entropy"] <= np.log(10) + 1e-6


# --------------------------------------------------------------------------- showing items


def test_image_path_stays_under_the_data_root(tmp_path: Path, write_digits_fn) -> None:
    folder = tmp_path / "data" / "digits"
    write_digits_fn(folder, n=6)
    secret = tmp_path / "data" / "secret.png"
    shutil.copy(folder / "img0000.png", secret)
    (folder / "img9999.png").symlink_to(secret)
    session = LabellingSession.init(tmp_path / "s", config_over(folder, queue_size=3))
    refs = {ref: i for i, ref, _ in session.store.items()}
    assert session.image_path(refs["img0002.png"]) == (folder / "img0002.png").resolve()
    with pytest.raises(InvalidInputError, match="not under the data root"):
        session.image_path(refs["img9999.png"])  # a link out of the root
    conn = sqlite3.connect(session.directory / DB_NAME)
    conn.execute("UPDATE items SET ref = '../secret.png' WHERE item_id = ?", (refs["img0001.png"],))
    conn.execute("UPDATE items SET ref = ? WHERE item_id = ?", (str(secret), refs["img0003.png"]))
    conn.commit()
    conn.close()
    for item in (refs["img0001.png"], refs["img0003.png"]):
        with pytest.raises(InvalidInputError, match="not under the data root"):
            session.image_path(item)
    with pytest.raises(InvalidInputError):
        session.image_path(999)


def write_table(path: Path, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(n, 3)).round(3)
    names = np.array(["ant", "bee", "cow"])[np.argmax(features, axis=1)]
    frame = pd.DataFrame(
        {
            "f1": features[:, 0],
            "uid": 1000 + 7 * np.arange(n),
            "f2": features[:, 1],
            "kind": np.where(np.arange(n) % 4 == 0, names, ""),
            "f3": features[:, 2],
        }
    )
    frame.to_csv(path, index=False)
    return frame


def test_a_table_session_uses_its_ids_and_shows_the_original_row(tmp_path: Path) -> None:
    frame = write_table(tmp_path / "animals.csv")
    config = parse_session_config(
        {
            "data": {
                "kind": "table",
                "path": "animals.csv",
                "params": {"label_column": "kind", "id_column": "uid"},
            },
            "labels": ["cow", "bee", "ant"],
            "model": {"name": "mlp", "params": {"hidden": 16}},
            "posterior": {"name": "mc_dropout", "num_samples": 4},
            "training": SMALL,
            "queue_size": 5,
            "stop_set_size": 10,
        }
    )
    session = LabellingSession.init(tmp_path / "s", config, config_root=tmp_path)
    assert session.item_kind == "row"
    assert [i for i, _, _ in session.store.items()] == frame["uid"].tolist()
    expected = {
        int(uid): ["cow", "bee", "ant"].index(kind)
        for uid, kind in zip(frame["uid"], frame["kind"], strict=True)
        if kind
    }
    assert session.labels() == expected and len(expected) == 10
    row = frame.iloc[5]
    fields = session.item_fields(int(row["uid"]))
    assert fields == {
        "f1": row["f1"],
        "uid": int(row["uid"]),
        "f2": row["f2"],
        "kind": None,
        "f3": row["f3"],
    }
    labelled = frame.iloc[4]
    view = session.item_view(int(labelled["uid"]))
    assert view.kind == "row" and view.label == labelled["kind"]
    assert view.fields["kind"] == labelled["kind"]
    with pytest.raises(InvalidInputError, match="table rows"):
        session.image_path(int(labelled["uid"]))
    with pytest.raises(InvalidInputError):
        session.label(5, "ant")  # a position, not an id
    assert session.label(1007, "ant").item_id == 1007
    assert session.retrain().round == 1
    assert {q.item_id for q in session.store.queue()} <= set(frame["uid"]) - set(expected) - {1007}


# --------------------------------------------------------------------------- durability

_LABELLER = textwrap.dedent(
    """
    import sys
    from bayesal.session import LabellingSession

    session = LabellingSession.open(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    n = session.store.num_items()
    item_id = int(sys.argv[2])
    while True:  # round and round (corrections, same label) until killed
        session.label(item_id, item_id % 10, "killed")
        print(item_id, flush=True)
        item_id = (item_id + 3) % n
    """
)


def test_every_acknowledged_label_survives_sigkill(make_session) -> None:
    session = make_session()
    directory = session.directory
    session.close()
    rng = random.Random(7)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _LABELLER, str(directory), str(k)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for k in range(3)
    ]
    acknowledged: set[int] = set()
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdin is not None
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
            child.stdin.write("go\n")
            child.stdin.flush()
            for _ in range(rng.randint(1, 40)):
                line = child.stdout.readline()
                if not line:
                    break
                acknowledged.add(int(line))
            os.kill(child.pid, signal.SIGKILL)
            for line in child.stdout:  # what was printed before the kill
                acknowledged.add(int(line))
            code = child.wait(30)
            assert code == -signal.SIGKILL, child.stderr.read()  # type: ignore[union-attr]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert acknowledged
    reopened = LabellingSession.open(directory)
    assert reopened.store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    labels = reopened.labels()
    assert acknowledged <= set(labels)
    assert all(labels[i] == i % 10 for i in acknowledged)
    before = reopened.store.current_labels()
    reopened.store.rebuild_current_labels()
    assert reopened.store.current_labels() == before
    assert reopened.next_item("after") is not None
