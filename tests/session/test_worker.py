"""Tests of bayesal.session.worker: the background retrain process and its scheduler."""

from __future__ import annotations

import subprocess
import sys

import torch

from bayesal.session import LabellingSession
from bayesal.session.worker import RetrainScheduler, main


def test_the_scheduler_retrains_in_a_process_of_its_own_once_at_a_time(make_session) -> None:
    session = make_session()  # retrain_every: 5
    for item in range(5):
        session.label(item, item % 10, "ann")
    assert session.needs_retrain()
    scheduler = RetrainScheduler(session.directory)
    assert scheduler.wait(1) is None  # nothing started yet
    assert scheduler.start() is True
    try:
        assert scheduler.start() is False  # the first one still starts up (imports torch)
        assert scheduler.running
    finally:
        code = scheduler.wait(300)
    assert code == 0, (session.directory / "retrain.log").read_text()
    assert not scheduler.running and scheduler.started == 1
    row = session.store.last_round()
    assert row is not None and row.round == 1 and row.n_labels == 5
    assert len(session.store.queue()) == 10 and not session.needs_retrain()
    assert "round 1: 5 labels" in (session.directory / "retrain.log").read_text()


def test_python_m_worker_once_records_a_round_even_when_none_is_due(make_session) -> None:
    session = make_session()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bayesal.session.worker",
            str(session.directory),
            "--once",
            "--nice",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "round 1: 0 labels"
    assert [r.round for r in session.store.rounds()] == [0, 1]


def test_the_worker_leaves_quietly_while_another_retrain_runs(make_session) -> None:
    session = make_session()
    for item in range(6):
        session.label(item, 1, "ann")
    threads = torch.get_num_threads()
    try:
        with session._retrain_lock(wait=True):
            assert main([str(session.directory), "--nice", "0"]) == 0
            assert main([str(session.directory), "--once", "--nice", "0"]) == 0
        assert session.store.current_round() == 0  # nothing recorded while busy
        assert main([str(session.directory), "--nice", "0"]) == 0  # due: one round
        assert main([str(session.directory), "--nice", "0"]) == 0  # not due: none
    finally:
        torch.set_num_threads(threads)
    assert [r.round for r in LabellingSession.open(session.directory).store.rounds()] == [0, 1]
