"""No acknowledged label is lost when the server dies: ``kill -9`` at random moments.

A client thread labels through the HTTP API as fast as it can (and now and then takes a
label back), keeping every label and undo whose response was 200. Meanwhile the server
(with background retraining on) is killed with SIGKILL ten times, after seeded random
delays, and started again each time. At the end the session opens, every acknowledged
event is in its log as acknowledged, the log and the ``current_labels`` table agree
(:meth:`SessionStore.rebuild_current_labels` changes nothing), and SQLite finds the file
intact.
"""

from __future__ import annotations

import itertools
import random
import signal
import threading
import time

import httpx
import pytest

from bayesal.session import LabellingSession

pytestmark = pytest.mark.slow

KILLS = 10


class Labeller(threading.Thread):
    """Labels as fast as the server answers; records what was acknowledged."""

    def __init__(self, url: str, truth: dict[int, int], seed: int) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.truth = truth
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.acknowledged: list[tuple[int, int, str, int | None]] = []  # id, item, kind, label
        self.failures = 0
        self.errors: list[str] = []

    def run(self) -> None:
        item: int | None = None
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                try:
                    if item is None:
                        got = client.post("/api/next", json={"annotator": "crash"})
                        self._check(got)
                        item = None if got.json()["item"] is None else got.json()["item"]["item_id"]
                        if item is None:  # all labelled: correct a random one
                            item = self.rng.choice(sorted(self.truth))
                    if self.rng.random() < 0.05:
                        undo = client.post("/api/undo", json={"annotator": "crash"})
                        self._check(undo)
                        if undo.json()["undone"] is not None:
                            event = undo.json()["undone"]
                            self.acknowledged.append(
                                (event["event_id"], event["item_id"], "undo", None)
                            )
                        item = None
                        continue
                    label = self.truth[item]
                    response = client.post(
                        "/api/label", json={"item_id": item, "label": label, "annotator": "crash"}
                    )
                    self._check(response)
                    body = response.json()
                    self.acknowledged.append((body["event_id"], item, "label", label))
                    item = None if body["next"] is None else body["next"]["item_id"]
                except httpx.TransportError:
                    self.failures += 1  # the server is down (or died mid-request)
                    item = None
                    time.sleep(0.02)

    def _check(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            self.errors.append(f"{response.status_code}: {response.text[:300]}")
            raise httpx.TransportError("unexpected status")


def _wait_for_acknowledgement(labeller: Labeller, after: int, timeout: float = 120.0) -> None:
    """Wait until ``labeller`` holds more than ``after`` acknowledged events (a deadline,
    not a timing claim: a restarted server must take labels again)."""
    deadline = time.monotonic() + timeout
    while len(labeller.acknowledged) <= after and not labeller.errors:
        assert time.monotonic() < deadline, f"nothing acknowledged within {timeout} s"
        time.sleep(0.01)


def test_kill_9_loses_no_acknowledged_label(session_factory, server_for):
    session_dir, truth = session_factory(n=300, retrain_every=10, queue_size=20)
    rng = random.Random(1234)
    server = server_for(session_dir)
    labeller = Labeller(server.url, truth, seed=5)
    labeller.start()
    counts = []  # events acknowledged before each kill
    try:
        for _ in range(KILLS):
            # Each server (the first, and each restart) acknowledges labels before it
            # is killed, at a seeded random moment after that.
            _wait_for_acknowledgement(labeller, counts[-1] if counts else 0)
            time.sleep(rng.uniform(0.2, 2.0))
            before = len(labeller.acknowledged)
            server.stop(signal.SIGKILL)
            counts.append(before)
            server.start()
        _wait_for_acknowledgement(labeller, counts[-1])
        time.sleep(1.0)
    finally:
        labeller.stop.set()
        labeller.join(30)
    server.stop(signal.SIGKILL)

    print(
        f"crash test: {len(labeller.acknowledged)} acknowledged events, {KILLS} kills, "
        f"{labeller.failures} requests cut off, acknowledged before each kill: {counts}"
    )
    assert not labeller.errors, labeller.errors[:3]
    assert len(counts) == KILLS and labeller.failures > 0
    acknowledged = labeller.acknowledged
    # Labels were acknowledged before the first kill, between every pair of kills, and
    # after the last one.
    assert counts[0] > 0
    assert all(earlier < later for earlier, later in itertools.pairwise(counts)), counts
    assert len(acknowledged) > counts[-1]

    session = LabellingSession.open(session_dir)
    try:
        logged = {e.event_id: e for e in session.store.events()}
        lost = [a for a in acknowledged if a[0] not in logged]
        assert not lost, f"{len(lost)} acknowledged events lost: {lost[:5]}"
        for event_id, item, kind, label in acknowledged:
            event = logged[event_id]
            assert (event.item_id, event.kind, event.label, event.annotator) == (
                item, kind, label, "crash",
            )  # fmt: skip
        assert session.store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        current = session.store.current_labels()
        session.store.rebuild_current_labels()
        assert session.store.current_labels() == current
        assert session.labels() == {i: truth[i] for i in session.labels()}
        session.status()  # the session works as a whole
    finally:
        session.close()
