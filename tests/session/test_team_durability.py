"""A team's acknowledged annotations survive ``kill -9`` (issue 22): two annotators on
overlapping items, notes, negative observations, edits and reviewer decisions, each
printed once it is on disk, then the process is killed at a random moment; the reopened
session holds every acknowledged one and recomputes the same resolved labels."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap

from bayesal.session import LabellingSession

_TEAM = textwrap.dedent(
    """
    import sys
    from bayesal.session import LabellingSession

    session = LabellingSession.open(sys.argv[1])
    k = int(sys.argv[2])
    print("ready", flush=True)
    sys.stdin.readline()
    step = 0
    while True:
        for who in (f"ann{k}", f"bob{k}"):
            view = session.next_item(who)
            if view is None:
                continue
            event = session.label(view.item_id, (view.item_id + len(who)) % 10, who,
                                  unsure=step % 3 == 0, comment=f"c{step}")
            print("label", event.event_id, flush=True)
            if step % 4 == 0:
                edit = session.edit(event.event_id, (view.item_id + 1) % 10, who)
                print("label", edit.event_id, flush=True)
            if step % 5 == 0:
                neg = session.negative((view.item_id + 7) % 60, "two", who)
                print("negative", neg, flush=True)
            if step % 6 == 0:
                decision = session.resolve_conflict(view.item_id, 9, "rita")
                print("label", decision.event_id, flush=True)
            note = session.note((view.item_id + 11) % 60, who, comment=f"n{step}")
            print("note", note, flush=True)
            step += 1
    """
)


def test_every_acknowledged_team_action_survives_sigkill(make_session) -> None:
    session = make_session(overlap=0.5, resolve="majority")
    directory = session.directory
    session.close()
    rng = random.Random(11)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    acknowledged: dict[str, set[int]] = {"label": set(), "negative": set(), "note": set()}
    for k in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", _TEAM, str(directory), str(k)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert child.stdout is not None and child.stdin is not None
            assert child.stdout.readline().strip() == "ready", child.stderr.read()  # type: ignore[union-attr]
            child.stdin.write("go\n")
            child.stdin.flush()
            for _ in range(rng.randint(5, 60)):
                line = child.stdout.readline()
                if not line:
                    break
                kind, number = line.split()
                acknowledged[kind].add(int(number))
            os.kill(child.pid, signal.SIGKILL)
            for line in child.stdout:  # what was printed before the kill
                kind, number = line.split()
                acknowledged[kind].add(int(number))
            assert child.wait(30) == -signal.SIGKILL, child.stderr.read()  # type: ignore[union-attr]
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert all(acknowledged.values()), acknowledged
    reopened = LabellingSession.open(directory)
    store = reopened.store
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    events = {e.event_id for e in store.events() if e.kind == "label"}
    assert acknowledged["label"] <= events
    assert acknowledged["negative"] <= {n["negative_id"] for n in store.negatives()}
    notes = {r[0] for r in store.conn.execute("SELECT note_id FROM item_notes")}
    assert acknowledged["note"] <= notes
    before = (store.resolved(), store.annotations(), store.conflicts())
    store.rebuild_current_labels()
    assert (store.resolved(), store.annotations(), store.conflicts()) == before
    assert reopened.next_item("after") is not None
