"""Tests of bayesal.session.store: schema versions and migrations, the append-only event
log against a pure-Python model of its semantics, and leases (also from threads)."""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayesal.session.store as store_module
from bayesal.session.store import (
    DB_NAME,
    MIGRATIONS,
    SCHEMA_VERSION,
    QueueEntry,
    SessionStore,
    StoreError,
)


def new_store(folder: Path, n: int = 10) -> SessionStore:
    """A store of ``n`` items, ids 0..n-1, whose fallback order is the reverse id order."""
    store = SessionStore.create(folder / DB_NAME)
    with store.write() as conn:
        store.add_items(
            conn, list(range(n)), [f"i{i}.png" for i in range(n)], [n - 1 - i for i in range(n)]
        )
        store.set_meta(conn, "label_names", ["a", "b", "c"])
    return store


def add_queue(store: SessionStore, item_ids: list[int]) -> None:
    r = (store.current_round() or -1) + 1
    store.add_round(
        round=r,
        started=0.0,
        n_labels=store.num_labelled(),
        last_event_id=0,
        state_path=None,
        metrics={},
        stop_predictions=None,
        queue=[QueueEntry(r, k, i, 1.0 / (k + 1), 0, 0.5, 0.1) for k, i in enumerate(item_ids)],
    )


def event_rows(store: SessionStore) -> list[tuple]:
    return store.conn.execute("SELECT * FROM events ORDER BY event_id").fetchall()


class Clock:
    """A stand-in for the store module's ``time``: ``time()`` returns ``now``."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(store_module, "time", fake)
    return fake


# --------------------------------------------------------------------------- schema


def test_create_writes_the_latest_schema_version_and_refuses_an_existing_file(
    tmp_path: Path,
) -> None:
    store = new_store(tmp_path)
    assert store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
    store.close()
    assert SessionStore.open(tmp_path / DB_NAME).schema_version() == SCHEMA_VERSION
    with pytest.raises(StoreError, match="already exists"):
        SessionStore.create(tmp_path / DB_NAME)


def test_a_file_of_a_newer_bayesal_is_refused_naming_both_versions(tmp_path: Path) -> None:
    new_store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    conn.close()
    with pytest.raises(StoreError) as caught:
        SessionStore.open(tmp_path / DB_NAME)
    message = str(caught.value)
    assert f"version {SCHEMA_VERSION + 3}" in message
    assert str(SCHEMA_VERSION) in message and "upgrade" in message


def test_a_new_migration_upgrades_an_old_file_and_keeps_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(tmp_path, n=4)
    store.add_labels([(1, 2, "ann"), (3, 0, "bob")], source="api")
    store.undo_last("bob", "api")
    before_events, before_items = event_rows(store), store.items()
    store.close()

    migration = "CREATE TABLE notes (item_id INTEGER PRIMARY KEY, note TEXT NOT NULL)"
    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, migration])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    upgraded = SessionStore.open(tmp_path / DB_NAME)
    assert upgraded.schema_version() == SCHEMA_VERSION + 1
    upgraded.conn.execute("INSERT INTO notes VALUES (1, 'blurry')")
    assert event_rows(upgraded) == before_events
    assert upgraded.items() == before_items
    assert upgraded.current_labels() == {1: (2, 1)}
    upgraded.close()
    # Opening again runs nothing twice.
    assert SessionStore.open(tmp_path / DB_NAME).schema_version() == SCHEMA_VERSION + 1


def test_a_failing_migration_leaves_the_file_at_its_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(tmp_path, n=3)
    store.add_labels([(0, 1, "ann")], source="api")
    store.close()
    broken = "CREATE TABLE notes (a INTEGER); INSERT INTO no_such_table VALUES (1)"
    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, broken])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises((sqlite3.Error, StoreError)):
        SessionStore.open(tmp_path / DB_NAME)
    monkeypatch.undo()
    reopened = SessionStore.open(tmp_path / DB_NAME)
    assert reopened.schema_version() == SCHEMA_VERSION
    tables = {r[0] for r in reopened.conn.execute("SELECT name FROM sqlite_master")}
    assert "notes" not in tables
    assert reopened.current_labels() == {0: (1, 1)}


def test_connections_are_durable_wal_connections(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):  # an event of no item is refused
        store.add_labels([(999, 0, "ann")], source="api")
    assert store.events() == []


def test_random_bytes_are_not_a_session_file(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(StoreError, match="not a labelling session"):
        SessionStore.open(path)
    with pytest.raises(StoreError, match="does not exist"):
        SessionStore.open(tmp_path / "missing.sqlite")


@pytest.mark.parametrize("kind", ["other program", "empty file"])
def test_an_sqlite_file_that_is_no_session_is_refused_and_left_alone(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "other.sqlite"
    if kind == "empty file":
        path.write_bytes(b"")
    else:
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE mine (a INTEGER)")
        conn.commit()
        conn.close()
    with pytest.raises(StoreError, match="not a labelling session"):
        SessionStore.open(path)
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    assert tables == (set() if kind == "empty file" else {"mine"})  # no session tables added
    assert version == 0


# --------------------------------------------------------------------------- events


class LogModel:
    """The event log's semantics in plain Python: an item's label is its first label
    event not undone, replaced by a later one only when that is by the same annotator as
    the label then, or a correction; an undo takes back the annotator's latest label not
    undone."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int | None, str, int | None]] = []
        self.corrections: set[int] = set()
        self.undone: set[int] = set()

    def label(self, item: int, label: int, annotator: str, correct: bool = False) -> None:
        if correct:
            self.corrections.add(len(self.events))
        self.events.append(("label", item, label, annotator, None))

    def skip(self, item: int, annotator: str) -> None:
        self.events.append(("skip", item, None, annotator, None))

    def undo(self, annotator: str) -> int | None:
        for index in range(len(self.events) - 1, -1, -1):
            kind, item, _, who, _ = self.events[index]
            if kind == "label" and who == annotator and index not in self.undone:
                self.undone.add(index)
                self.events.append(("undo", item, None, annotator, index + 1))
                return index + 1
        return None

    def current(self) -> dict[int, tuple[int, int]]:
        out: dict[int, tuple[int, int]] = {}
        by: dict[int, str] = {}
        for index, (kind, item, label, who, _) in enumerate(self.events):
            if kind == "label" and index not in self.undone:
                assert label is not None
                if item not in out or by[item] == who or index in self.corrections:
                    out[item] = (label, index + 1)
                    by[item] = who
        return out


ANNOTATORS = ["ann", "bob", "cy"]
_item = st.integers(0, 3)
_who = st.sampled_from(ANNOTATORS)
OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("label"),
            st.lists(st.tuples(_item, st.integers(0, 2), _who), min_size=1, max_size=3),
            st.booleans(),
        ),
        st.tuples(st.just("undo"), _who),
        st.tuples(st.just("skip"), _item, _who),
    ),
    max_size=20,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_event_log_is_append_only_and_current_labels_follow_the_model(ops: list) -> None:
    """Also: another annotator's label never replaces the item's label without a
    correction, and corrections name the event they replace."""
    with tempfile.TemporaryDirectory() as folder:
        store = new_store(Path(folder), n=4)
        model = LogModel()
        rows = event_rows(store)
        for op in ops:
            if op[0] == "label":
                before = store.current_labels()
                events = store.add_labels(op[1], source="api", correct=op[2])
                for item, label, who in op[1]:
                    model.label(item, label, who, correct=op[2])
                assert [e.event_id for e in events] == list(
                    range(len(model.events) - len(op[1]) + 1, len(model.events) + 1)
                )
                if op[2] and len(op[1]) == 1:
                    corrected = before.get(op[1][0][0])
                    assert events[0].corrects == (None if corrected is None else corrected[1])
                elif not op[2]:
                    assert all(e.corrects is None for e in events)
            elif op[0] == "undo":
                undone = model.undo(op[1])
                event = store.undo_last(op[1], "api")
                if undone is None:
                    assert event is None
                else:
                    assert event is not None and event.undoes == undone
                    assert event.kind == "undo" and event.annotator == op[1]
            else:
                store.add_skip(op[1], op[2], "api")
                model.skip(op[1], op[2])
            after = event_rows(store)
            assert after[: len(rows)] == rows, "an earlier event row changed or vanished"
            rows = after
            assert store.current_labels() == model.current()
        assert [(e.kind, e.item_id, e.label, e.annotator, e.undoes) for e in store.events()] == (
            model.events
        )
        assert [e.event_id for e in store.events()] == list(range(1, len(model.events) + 1))
        store.rebuild_current_labels()
        assert store.current_labels() == model.current()
        assert event_rows(store) == rows
        store.close()


def test_undo_restores_the_previous_label_then_unlabelled_then_nothing(tmp_path: Path) -> None:
    store = new_store(tmp_path, n=3)
    assert store.undo_last("ann", "api") is None
    store.add_labels([(0, 1, "ann")], source="api")
    store.add_labels([(0, 2, "ann")], source="api")  # a correction
    store.add_labels([(1, 0, "bob")], source="api")
    assert store.current_labels() == {0: (2, 2), 1: (0, 3)}
    assert store.undo_last("ann", "api").undoes == 2  # type: ignore[union-attr]
    assert store.current_labels()[0] == (1, 1)
    assert store.undo_last("ann", "api").undoes == 1  # type: ignore[union-attr]
    assert 0 not in store.current_labels()
    assert store.undo_last("ann", "api") is None
    assert store.current_labels() == {1: (0, 3)}  # bob's label is untouched
    assert store.label_events_since(0) == 5  # 3 labels and 2 undos; skips do not count
    store.add_skip(2, "ann", "api")
    assert store.label_events_since(0) == 5


# --------------------------------------------------------------------------- leases


def test_two_annotators_never_get_the_same_item_and_one_keeps_its_own(
    tmp_path: Path, clock: Clock
) -> None:
    store = new_store(tmp_path, n=3)
    a = store.lease_next("ann", 60)
    b = store.lease_next("bob", 60)
    assert a is not None and b is not None and a[0] != b[0]
    assert a == (2, False)  # no queue yet: the fallback order (reverse ids here)
    clock.now += 30
    assert store.lease_next("ann", 60) == a  # the same item while the lease holds...
    assert {(le.item_id, le.annotator) for le in store.leases()} == {(a[0], "ann"), (b[0], "bob")}
    assert [le.expires for le in store.leases() if le.annotator == "ann"] == [clock.now + 60]
    c = store.lease_next("cy", 60)
    assert c is not None and c[0] not in (a[0], b[0])
    assert store.lease_next("dee", 60) is None  # every item is leased


def test_an_expired_lease_goes_to_the_next_annotator(tmp_path: Path, clock: Clock) -> None:
    store = new_store(tmp_path, n=3)
    first = store.lease_next("ann", 10)
    assert first is not None
    clock.now += 9.5
    assert store.lease_next("bob", 10) != first
    clock.now += 0.5  # ann's lease ends now
    taken = store.lease_next("cy", 10)
    assert taken is not None and taken[0] == first[0]
    assert [le.annotator for le in store.leases() if le.item_id == first[0]] == ["cy"]


def test_labelling_releases_the_lease(tmp_path: Path, clock: Clock) -> None:
    store = new_store(tmp_path, n=4)
    item, _ = store.lease_next("ann", 60)  # type: ignore[misc]
    store.add_labels([(item, 0, "ann")], source="api")
    assert store.leases() == []
    nxt = store.lease_next("ann", 60)
    assert nxt is not None and nxt[0] != item
    # Someone else labelling the item ann holds frees ann too.
    store.add_labels([(nxt[0], 1, "bob")], source="api")
    third = store.lease_next("ann", 60)
    assert third is not None and third[0] not in (item, nxt[0])


def test_the_queue_comes_first_then_the_fallback_order(tmp_path: Path, clock: Clock) -> None:
    store = new_store(tmp_path, n=6)
    add_queue(store, [1, 4, 2])
    store.add_labels([(4, 0, "data")], source="initial")
    got = []
    for _ in range(4):
        leased = store.lease_next("ann", 60)
        assert leased is not None
        assert store.lease_next("ann", 60) == leased  # held: the same, from where it came
        got.append(leased)
        store.add_labels([(leased[0], 1, "ann")], source="api")
    assert got == [(1, True), (2, True), (5, False), (3, False)]


def test_skipped_items_come_back_only_when_nothing_else_is_left(
    tmp_path: Path, clock: Clock
) -> None:
    store = new_store(tmp_path, n=4)
    add_queue(store, [0, 1])
    assert store.lease_next("ann", 60) == (0, True)
    store.add_skip(0, "ann", "api")
    assert store.leases() == []
    assert store.lease_next("ann", 60) == (1, True)
    store.add_skip(1, "ann", "api")
    assert store.lease_next("bob", 60) == (0, True)  # bob did not skip it
    store.add_skip(0, "bob", "api")
    leased = store.lease_next("ann", 60)
    assert leased is not None and leased[0] in (2, 3)
    store.add_labels([(2, 0, "x"), (3, 0, "x")], source="api")
    # Only items ann skipped remain: 1 is free, 0 too now that bob passed on it.
    again = store.lease_next("ann", 60)
    assert again is not None and again[0] in (0, 1)
    store.add_labels([(0, 0, "x"), (1, 0, "x")], source="api")
    assert store.lease_next("ann", 60) is None  # every item is labelled


def test_peek_next_foresees_lease_next_without_leasing(tmp_path: Path, clock: Clock) -> None:
    store = new_store(tmp_path, n=6)
    add_queue(store, [1, 4, 2])
    store.add_labels([(4, 0, "data")], source="initial")
    before = event_rows(store)
    assert store.peek_next("ann") == 1
    assert store.leases() == [] and event_rows(store) == before  # read only
    held = store.lease_next("ann", 60)
    assert held == (1, True)
    # While ann holds 1: the item after it, in the queue, then in the fallback order.
    assert store.peek_next("ann", exclude=1) == 2
    store.add_labels([(1, 1, "ann")], source="api")
    assert store.lease_next("ann", 60) == (2, True)
    assert store.peek_next("ann", exclude=2) == 5  # queue done: fallback order (reverse id)
    assert store.peek_next("bob") == 5  # 2 is leased to ann
    store.add_skip(5, "bob", "api")
    assert store.peek_next("bob") == 3  # bob skipped 5; ann did not
    assert store.peek_next("ann", exclude=2) == 5
    clock.now += 120  # ann's lease on 2 expired: free for anyone again
    assert store.peek_next("bob") == 2
    store.add_labels([(i, 0, "x") for i in (0, 2, 3, 5)], source="api")
    assert store.peek_next("ann") is None  # every item is annotated


def test_four_threads_of_new_annotators_get_200_distinct_items(tmp_path: Path) -> None:
    store = new_store(tmp_path, n=250)
    add_queue(store, list(range(0, 250, 5)))
    got: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(t: int) -> None:
        try:
            barrier.wait()
            for k in range(50):
                leased = store.lease_next(f"t{t}-{k}", 600)
                assert leased is not None
                got.append(leased[0])
        except BaseException as exc:  # noqa: BLE001  reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(got) == 200 and len(set(got)) == 200
    assert set(range(0, 250, 5)) <= set(got)  # the whole queue went out first
    assert len(store.leases()) == 200


def test_four_threads_labelling_what_they_lease_never_share_an_item(tmp_path: Path) -> None:
    store = new_store(tmp_path, n=200)
    got: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(t: int) -> None:
        mine = got.setdefault(f"t{t}", [])
        try:
            barrier.wait()
            while True:
                leased = store.lease_next(f"t{t}", 600)
                if leased is None:
                    return
                mine.append(leased[0])
                store.add_labels([(leased[0], t % 3, f"t{t}")], source="api")
        except BaseException as exc:  # noqa: BLE001  reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    every = [i for items in got.values() for i in items]
    assert sorted(every) == list(range(200))  # each item leased exactly once
    assert store.num_labelled() == 200 and store.leases() == []


def test_hold_leases_an_item_back_unless_someone_else_holds_it(make_session) -> None:
    session = make_session()
    first = session.next_item("ann")
    other = session.next_item("bob")
    assert first is not None and other is not None
    assert session.store.lease_of(first.item_id).annotator == "ann"
    assert not session.hold(first.item_id, "bob")  # ann holds it
    assert session.store.lease_of(other.item_id).annotator == "bob"  # bob keeps his
    assert session.hold(first.item_id, "ann")  # renewing one's own lease is fine
    free = next(i for i, _, _ in session.store.items() if session.store.lease_of(i) is None)
    assert session.hold(free, "bob")  # bob's other lease is released
    assert session.store.lease_of(other.item_id) is None
    assert session.store.lease_of(free).annotator == "bob"
    assert session.store.current_event(free) == 0
    event = session.label(free, 3, "bob")
    assert session.store.current_event(free) == event.event_id


# --------------------------------------------------------------------------- annotations


def test_another_annotators_label_is_kept_beside_the_first_and_replaces_it_only_as_a_correction(
    tmp_path: Path,
) -> None:
    store = new_store(tmp_path, n=3)
    store.add_labels([(0, 1, "ann")], source="api")
    (bob,) = store.add_labels([(0, 2, "bob")], source="api")
    assert store.current_labels() == {0: (1, 1)}  # still ann's
    assert bob.corrects is None and store.annotations() == {(0, "ann"): 1, (0, "bob"): 2}
    (own,) = store.add_labels([(0, 0, "ann")], source="api")  # ann changes her own mind
    assert store.current_labels() == {0: (0, own.event_id)}
    (fix,) = store.add_labels([(0, 2, "cy")], source="api", correct=True)
    assert fix.corrects == own.event_id and store.current_labels() == {0: (2, fix.event_id)}
    assert store.event(fix.event_id) == fix
    store.rebuild_current_labels()
    assert store.current_labels() == {0: (2, fix.event_id)}
    assert [e.kind for e in store.events()] == ["label"] * 4  # every annotation kept


def test_check_leases_refuses_an_item_leased_to_another_annotator_naming_them(
    tmp_path: Path, clock: Clock
) -> None:
    store = new_store(tmp_path, n=3)
    assert store.hold(1, "bob", 60)
    with pytest.raises(store_module.LeaseHeldError, match="leased to annotator 'bob' for 60 s"):
        store.add_labels([(1, 0, "ann")], source="api", check_leases=True)
    assert store.events() == [] and store.lease_of(1) is not None
    store.add_labels([(1, 0, "bob")], source="api", check_leases=True)  # the holder may
    clock.now += 61
    store.add_labels([(1, 2, "ann")], source="api", check_leases=True)  # lease over
    assert store.current_labels() == {1: (0, 1)}


def test_a_schema_1_session_file_opens_migrated_to_the_latest_with_the_corrects_column(
    tmp_path: Path,
) -> None:
    path = tmp_path / DB_NAME
    with sqlite3.connect(path) as conn:  # a file as bayesal wrote it before version 2
        for statement in store_module._statements(MIGRATIONS[0]):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO items VALUES (0, 'a.png', 0, 0)")
        conn.execute(
            "INSERT INTO events(item_id, kind, label, annotator, time, source) "
            "VALUES (0, 'label', 1, 'ann', 5.0, 'api')"
        )
        conn.execute("INSERT INTO current_labels VALUES (0, 1, 1)")
    conn.close()
    store = SessionStore.open(path)
    assert store.schema_version() == SCHEMA_VERSION
    (old,) = store.events()
    assert (old.annotator, old.label, old.corrects) == ("ann", 1, None)
    store.add_labels([(0, 2, "bob")], source="api", correct=True)
    assert store.events()[-1].corrects == 1 and store.current_labels() == {0: (2, 2)}


def test_sqlite_error_words_a_full_disk_and_keeps_its_code(tmp_path: Path) -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    error = store_module.sqlite_error(full, tmp_path / DB_NAME)
    assert error.sqlite_code == store_module.SQLITE_FULL
    assert "the disk is full" in str(error) and "\n" not in str(error)
