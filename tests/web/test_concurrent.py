"""Four annotators at once against a real server while background retrains run.

Each simulated annotator is a thread with its own HTTP client. It labels only what the
server hands it (``/api/next``, or the ``next`` item of a label or skip response), with
a short random pause, now and then skipping an item or taking its latest label back.
Every handout and every acknowledged (200) action is recorded. The run lasts
``BAYESAL_CONCURRENCY_SECONDS`` (default 120, two minutes). Then:

* no item was handed to a second annotator while the first still held it (an item
  moves on only after its holder let it go: a skip of it, or an undo, which gives the
  holder the undone item back instead), and no item was labelled by two annotators;
* no label was lost: every acknowledged label, undo and skip is in the event log, as
  acknowledged;
* every event is accounted for: the log holds exactly the acknowledged actions, per
  annotator and kind;
* retrains ran meanwhile: at least three rounds, and labels were logged while they ran
  (an event's time between a round's start and finish, both from the session's
  records) in at least half the retrains that started and finished while the annotators
  labelled; the log agrees with ``current_labels``.

Request latency is not measured here (a shared machine makes a timing assertion
flaky): ``benchmarks/bench_session_latency.py`` measures it, results in
``benchmarks/results/session_latency/``.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter, defaultdict

import httpx
import pytest

from bayesal.session import LabellingSession

pytestmark = pytest.mark.slow

ANNOTATORS = 4
SECONDS = float(os.environ.get("BAYESAL_CONCURRENCY_SECONDS", "120"))


class Annotator(threading.Thread):
    def __init__(self, name: str, url: str, truth: dict[int, int], seed: int, until: float):
        super().__init__(daemon=True)
        self.name_ = name
        self.url = url
        self.truth = truth
        self.rng = random.Random(seed)
        self.until = until
        self.handouts: list[tuple[int, float]] = []  # item, when the response came
        self.acks: list[tuple[str, int | None, int, int | None]] = []  # kind, event id, item, label
        self.errors: list[str] = []

    def _post(self, client: httpx.Client, path: str, body: dict) -> dict | None:
        try:
            response = client.post(path, json={**body, "annotator": self.name_})
        except httpx.HTTPError as exc:
            self.errors.append(f"{path}: {type(exc).__name__}: {exc}")
            return None
        if response.status_code != 200:
            self.errors.append(f"{path}: {response.status_code} {response.text[:300]}")
            return None
        return response.json()

    def _handed(self, item: dict | None) -> int | None:
        if item is None:
            return None
        self.handouts.append((int(item["item_id"]), time.time()))
        return int(item["item_id"])

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            item: int | None = None
            while time.monotonic() < self.until and not self.errors:
                if item is None:
                    body = self._post(client, "/api/next", {})
                    if body is None:
                        return
                    item = self._handed(body["item"])
                    if item is None:
                        time.sleep(0.2)  # everything labelled or leased: ask again later
                        continue
                time.sleep(self.rng.uniform(0.02, 0.2))  # looking at the item
                roll = self.rng.random()
                if roll < 0.08:
                    body = self._post(client, "/api/skip", {"item_id": item})
                    if body is None:
                        return
                    self.acks.append(("skip", None, item, None))
                    item = self._handed(body["next"])
                elif roll < 0.12:
                    body = self._post(client, "/api/undo", {})
                    if body is None:
                        return
                    if body["undone"] is not None:
                        undone = body["undone"]
                        self.acks.append(("undo", undone["event_id"], undone["item_id"], None))
                        item = self._handed(body["item"])  # the undone item, held again
                    # (with nothing to undo, keep the item we hold)
                else:
                    label = self.truth[item]
                    body = self._post(client, "/api/label", {"item_id": item, "label": label})
                    if body is None:
                        return
                    self.acks.append(("label", body["event_id"], item, label))
                    item = self._handed(body["next"])


def test_four_annotators_with_background_retrains(large_session_factory, server_for):
    session_dir, truth = large_session_factory(
        6000, retrain_every=25, queue_size=100, stop_set_size=200
    )
    server = server_for(session_dir)
    until = time.monotonic() + SECONDS
    annotators = [
        Annotator(f"annotator{i}", server.url, truth, seed=i, until=until)
        for i in range(ANNOTATORS)
    ]
    for annotator in annotators:
        annotator.start()
    retraining_seen = 0
    polls = 0
    while any(a.is_alive() for a in annotators):
        status = httpx.get(f"{server.url}/api/status", timeout=30).json()
        retraining_seen += bool(status["retraining"])
        polls += 1
        time.sleep(1.0)
    for annotator in annotators:
        annotator.join()
    status = httpx.get(f"{server.url}/api/status", timeout=30).json()

    errors = [e for a in annotators for e in a.errors]
    assert not errors, errors[:5]

    session = LabellingSession.open(session_dir)
    try:
        logged = session.store.events()
        rounds = session.store.rounds()
        skip_times: dict[tuple[str, int], list[float]] = defaultdict(list)
        undo_times: dict[str, list[float]] = defaultdict(list)
        for event in logged:
            if event.kind == "skip":
                skip_times[(event.annotator, event.item_id)].append(event.time)
            elif event.kind == "undo":
                undo_times[event.annotator].append(event.time)

        # 1. One holder at a time: an item moves to another annotator only after the
        # first let it go: a skip of it, or an undo (the undone item replaces the one
        # held, which goes back to the pool).
        handouts = sorted((when, item, a.name_) for a in annotators for item, when in a.handouts)
        holder: dict[int, tuple[str, float]] = {}
        for when, item, who in handouts:
            before = holder.get(item)
            if before is not None and before[0] != who:
                name, since = before
                skipped = any(t <= when for t in skip_times[(name, item)])
                undid = any(since <= t <= when for t in undo_times[name])
                assert skipped or undid, f"item {item} handed to {who} while {name} held it"
            holder[item] = (who, when)
        # Labels still standing (not undone) of an item all come from one annotator.
        undone = {event.undoes for event in logged if event.kind == "undo"}
        labellers: dict[int, set[str]] = defaultdict(set)
        for event in logged:
            if event.kind == "label" and event.event_id not in undone:
                labellers[event.item_id].add(event.annotator)
        shared = {item: names for item, names in labellers.items() if len(names) > 1}
        assert not shared, f"items labelled by several annotators: {shared}"

        # 2. No acknowledged action lost, each as acknowledged.
        by_id = {event.event_id: event for event in logged}
        for annotator in annotators:
            for kind, event_id, item, label in annotator.acks:
                if event_id is None:
                    continue
                event = by_id.get(event_id)
                assert event is not None, f"acknowledged {kind} {event_id} lost"
                assert (event.kind, event.item_id, event.label, event.annotator) == (
                    kind, item, label, annotator.name_,
                )  # fmt: skip

        # 3. Every event accounted for: the log is exactly the acknowledged actions.
        made = Counter((a.name_, kind) for a in annotators for kind, *_ in a.acks)
        assert Counter((e.annotator, e.kind) for e in logged) == made
        skips = Counter((e.annotator, e.item_id) for e in logged if e.kind == "skip")
        acked_skips = Counter(
            (a.name_, item) for a in annotators for kind, _, item, _ in a.acks if kind == "skip"
        )
        assert skips == acked_skips

        # 4. Retrains ran while people labelled: labels were logged during them.
        assert len(rounds) >= 3
        label_times = sorted(e.time for e in logged if e.kind == "label")
        first_handout = min(when for a in annotators for _, when in a.handouts)
        retrains = [
            r
            for r in rounds
            if r.round > 0 and first_handout <= r.started and r.finished <= label_times[-1]
        ]
        overlapped = [r for r in retrains if any(r.started < t < r.finished for t in label_times)]
        assert retrains and 2 * len(overlapped) >= len(retrains), (
            f"labels logged during {len(overlapped)} of {len(retrains)} retrains"
        )
        # ... and the state is consistent.
        current = session.store.current_labels()
        session.store.rebuild_current_labels()
        assert session.store.current_labels() == current
        assert session.labels() == {i: truth[i] for i in session.labels()}
    finally:
        session.close()

    print(
        f"concurrency: {SECONDS:.0f} s, {len(logged)} events, {status['num_labelled']} labelled, "
        f"{len(rounds) - 1} retrains, labels logged during {len(overlapped)} of the "
        f"{len(retrains)} retrains inside the labelling, retraining in {retraining_seen}/{polls} "
        "polls"
    )
