"""No acknowledged team action is lost when the server dies: ``kill -9`` while a client
bulk-labels, answers yes/no, edits from its history, resolves as a reviewer and labels
with unsure flags and comments over HTTP. Every acknowledged label event and negative
observation is in the session afterwards, as acknowledged, and SQLite finds the file
intact."""

from __future__ import annotations

import contextlib
import random
import signal
import sqlite3
import threading
import time

import httpx
import pytest

from bayesal.session import LabellingSession

from .conftest import FAST_TRAINING, label_and_retrain

pytestmark = pytest.mark.slow

KILLS = 5
ME = {"annotator": "team"}
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


class TeamClient(threading.Thread):
    """Cycles through the team actions as fast as the server answers."""

    def __init__(self, url: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.events: list[tuple[int, int, str]] = []  # event id, item, what
        self.negatives: list[tuple[int, int, str]] = []  # negative id, item, class
        self.failures = 0
        self.errors: list[str] = []

    def _ok(self, response: httpx.Response) -> dict:
        if response.status_code != 200:
            path = response.request.url.path
            self.errors.append(f"{path} {response.status_code}: {response.text[:200]}")
            raise httpx.TransportError("unexpected status")
        return response.json()

    def _post(self, client: httpx.Client, path: str, **payload: object) -> dict:
        return self._ok(client.post(path, json=payload))

    def _get(self, client: httpx.Client, path: str) -> dict:
        return self._ok(client.get(path))

    def bulk(self, client: httpx.Client) -> None:
        items = self._get(client, "/api/items?labelled=false&limit=3")["items"]
        if items:
            ids = [it["item_id"] for it in items]
            body = self._post(client, "/api/items/label", item_ids=ids, label="four", **ME)
            self.events += [(d["event_id"], d["item_id"], "bulk") for d in body["labelled"]]

    def yes_no(self, client: httpx.Client) -> None:
        name = self.rng.choice(NAMES)
        item = self._post(client, "/api/yesno/next", label=name, **ME)["item"]
        if item is None:
            return
        reply = self.rng.choice(["yes", "no"])
        item_id = item["item_id"]
        body = self._post(client, "/api/yesno", item_id=item_id, label=name, answer=reply, **ME)
        if reply == "yes":
            self.events.append((body["event_id"], item_id, "yes"))
        else:
            self.negatives.append((body["negative_id"], item_id, name))

    def edit(self, client: httpx.Client) -> None:
        history = self._get(client, "/api/history?annotator=team&limit=1")["items"]
        if history and not history[0]["undone"] and not history[0]["corrected"]:
            event_id = history[0]["event_id"]
            body = self._post(client, "/api/history/edit", event_id=event_id, label="five", **ME)
            self.events.append((body["event_id"], body["item_id"], "edit"))

    def resolve(self, client: httpx.Client) -> None:
        item = self.rng.randrange(0, 120)
        body = self._post(client, "/api/resolve", item_id=item, label="six", reviewer="rev")
        self.events.append((body["event_id"], item, "resolve"))

    def unsure(self, client: httpx.Client, step: int) -> None:
        nxt = self._post(client, "/api/next", **ME)["item"]
        if nxt is not None:
            item_id = nxt["item_id"]
            body = self._post(
                client, "/api/label", item_id=item_id, label="seven", unsure=True,
                comment=f"step {step}", **ME,
            )  # fmt: skip
            self.events.append((body["event_id"], item_id, "unsure"))

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            step = 0
            while not self.stop.is_set():
                step += 1
                try:
                    what = step % 5
                    if what == 0:
                        self.bulk(client)
                    elif what == 1:
                        self.yes_no(client)
                    elif what == 2:
                        self.edit(client)
                    elif what == 3:
                        self.resolve(client)
                    else:
                        self.unsure(client, step)
                except httpx.TransportError:
                    self.failures += 1
                    time.sleep(0.02)


def test_kill_9_during_team_actions_loses_no_acknowledged_annotation(session_factory, server_for):
    session_dir, truth = session_factory(
        n=120, training=FAST_TRAINING, stop_set_size=20, queue_size=30
    )
    label_and_retrain(session_dir, truth, 10)
    rng = random.Random(7)
    server = server_for(session_dir, "--no-retrain")
    client = TeamClient(server.url, seed=3)
    client.start()
    counts = []
    try:
        for _ in range(KILLS):
            deadline = time.monotonic() + 120
            before = len(client.events) + len(client.negatives)
            while len(client.events) + len(client.negatives) <= before and not client.errors:
                assert time.monotonic() < deadline, "nothing acknowledged within 120 s"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.2, 1.5))
            counts.append(len(client.events))
            server.stop(signal.SIGKILL)
            server.start()
        time.sleep(1.0)
    finally:
        client.stop.set()
        client.join(30)
    server.stop(signal.SIGKILL)
    print(f"team crash test: {len(client.events)} events, {len(client.negatives)} negatives, "
          f"{client.failures} requests cut off, {KILLS} kills")  # fmt: skip
    assert not client.errors, client.errors[:3]
    assert {kind for _, _, kind in client.events} == {"bulk", "yes", "edit", "resolve", "unsure"}
    assert client.negatives

    with contextlib.closing(sqlite3.connect(session_dir / "session.sqlite")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        logged = {
            int(r[0]): (int(r[1]), r[2], r[3], r[4])
            for r in conn.execute("SELECT event_id, item_id, kind, annotator, role FROM events")
        }
        negatives = {
            int(r[0]): (int(r[1]), int(r[2]))
            for r in conn.execute("SELECT negative_id, item_id, label FROM negatives")
        }
    lost = [e for e in client.events if e[0] not in logged]
    assert not lost, f"{len(lost)} acknowledged events lost: {lost[:5]}"
    for event_id, item, kind in client.events:
        assert logged[event_id][:2] == (item, "label"), (event_id, kind)
        assert logged[event_id][2] == ("rev" if kind == "resolve" else "team")
    for negative_id, item, name in client.negatives:
        assert negatives[negative_id] == (item, NAMES.index(name))
    session = LabellingSession.open(session_dir)
    try:
        current = session.store.current_labels()
        session.store.rebuild_current_labels()
        assert session.store.current_labels() == current
        session.status()
    finally:
        session.close()
