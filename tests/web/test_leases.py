"""Leases through the web API: annotators never get the same item, a lease that runs out
hands the item on (and the late label is refused), skip passes an item on."""

from __future__ import annotations

import threading
import time
from collections import Counter

from fastapi.testclient import TestClient

from bayesal.web import create_app


def _next(client: TestClient, who: str) -> int | None:
    item = client.post("/api/next", json={"annotator": who}).json()["item"]
    return None if item is None else int(item["item_id"])


def test_two_annotators_never_get_the_same_item(digits_session, client_for, read_events):
    session_dir, truth = digits_session
    client = client_for(session_dir)
    seen: dict[int, str] = {}
    holding = {"alice": _next(client, "alice"), "bob": _next(client, "bob")}
    assert holding["alice"] != holding["bob"]
    for step in range(40):
        who = "alice" if step % 3 else "bob"
        item = holding[who]
        assert item is not None
        assert seen.setdefault(item, who) == who, f"item {item} given to two annotators"
        other = "bob" if who == "alice" else "alice"
        assert item != holding[other]
        body = client.post(
            "/api/label", json={"item_id": item, "label": truth[item], "annotator": who}
        ).json()
        holding[who] = None if body["next"] is None else body["next"]["item_id"]
    labelled = [e[1] for e in read_events(session_dir) if e[2] == "label"]
    assert len(labelled) == len(set(labelled)) == 40


def test_concurrent_clients_get_distinct_items(digits_session, read_events):
    session_dir, truth = digits_session
    app = create_app(session_dir, retrain=False)
    given: list[tuple[str, int]] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def annotate(who: str) -> None:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            barrier.wait()
            item = _next(client, who)
            while item is not None:
                with lock:
                    given.append((who, item))
                response = client.post(
                    "/api/label", json={"item_id": item, "label": truth[item], "annotator": who}
                )
                if response.status_code != 200:
                    errors.append(response.text)
                    return
                nxt = response.json()["next"]
                item = None if nxt is None else nxt["item_id"]

    threads = [threading.Thread(target=annotate, args=(f"a{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    # Every item was handed out exactly once, and labelled once, by whoever got it.
    counts = Counter(item for _, item in given)
    assert sorted(counts) == sorted(truth) and set(counts.values()) == {1}
    labels = [(e[4], e[1]) for e in read_events(session_dir) if e[2] == "label"]
    assert sorted(labels) == sorted(given)


def test_an_expired_lease_hands_the_item_on(session_factory, client_for, read_events):
    session_dir, truth = session_factory(n=30, lease_seconds=1.0)
    client = client_for(session_dir)
    first = _next(client, "alice")
    time.sleep(1.3)  # alice's lease runs out; the item goes to the next who asks
    assert _next(client, "carol") == first
    late = client.post(
        "/api/label", json={"item_id": first, "label": truth[first], "annotator": "alice"}
    )
    assert late.status_code == 409 and "leased to another annotator" in late.json()["error"]
    # Alice asks again: a new item, not carol's.
    assert _next(client, "alice") != first
    ok = client.post(
        "/api/label", json={"item_id": first, "label": truth[first], "annotator": "carol"}
    )
    assert ok.status_code == 200
    assert [(e[1], e[4]) for e in read_events(session_dir)] == [(first, "carol")]


def test_a_leased_item_cannot_be_labelled_by_another(digits_session, client_for):
    session_dir, truth = digits_session
    client = client_for(session_dir)
    item = _next(client, "alice")
    taken = client.post(
        "/api/label", json={"item_id": item, "label": truth[item], "annotator": "bob"}
    )
    assert taken.status_code == 409


def test_skip_passes_the_item_to_others(digits_session, client_for, read_events):
    session_dir, _ = digits_session
    client = client_for(session_dir)
    item = _next(client, "alice")
    after = client.post("/api/skip", json={"item_id": item, "annotator": "alice"}).json()
    assert after["next"]["item_id"] != item
    assert _next(client, "bob") == item  # free again, and bob did not skip it
    assert [e[2] for e in read_events(session_dir)] == ["skip"]
    # Alice is not offered it again while other items remain.
    for _ in range(5):
        nxt = client.post(
            "/api/skip", json={"item_id": _next(client, "alice"), "annotator": "alice"}
        ).json()["next"]
        assert nxt["item_id"] != item
