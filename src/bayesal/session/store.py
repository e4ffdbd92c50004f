"""The labelling session's SQLite store: one file, WAL mode, durable commits.

Tables (schema version :data:`SCHEMA_VERSION`, migrated forward on open):

- ``meta``: key / JSON value (the config, label names, the data root, the stop set).
- ``items``: the items, ``item_id`` (stable, never a position) and ``ref`` (where the
  item's data lives: a path under the data root, or a table row name) and ``row`` (its
  position in the data as read, for training).
- ``events``: append only. Every label, undo and skip, with its annotator, time and
  source; an undo is an ``undo`` event naming the event it takes back. Nothing is ever
  updated or deleted. Every annotator's annotation is kept as its own ``label`` event;
  an explicit correction of another annotator's label names the event it replaces
  (``corrects``, schema version 2).
- ``current_labels``: each labelled item's label now, kept in step with ``events`` in the
  same transaction (a cache that :meth:`SessionStore.rebuild_current_labels` can
  recompute from the events). The rule (:func:`resolve_label`): the item's first label
  event not undone sets it; a later one replaces it only when it is by the same
  annotator (they change their mind) or an explicit correction. Another annotator's
  different label is kept as an annotation, never written over the first.
- ``rounds``: each retrain (labels it saw, metrics, the stop-set predictions, where the
  learner's state was saved) and ``queue``: the ranked items of each round, with score,
  prediction and uncertainty.
- ``leases``: which annotator holds which item until when.

Durability: ``synchronous=FULL`` in WAL mode, so a label is on disk when
:meth:`SessionStore.add_label` returns; a process killed at any moment leaves the file
consistent (SQLite's own guarantee), and the next open recovers the WAL.

Each thread gets its own connection (SQLite connections are not shared across threads);
writers take the database lock up front (``BEGIN IMMEDIATE``) and wait up to
:data:`BUSY_TIMEOUT_S` for it.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bayesal.errors import BayesalError, InvalidInputError
from bayesal.session.masks import decode_mask, encode_mask, mask_digest

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "LabelEvent",
    "Lease",
    "LeaseHeldError",
    "QueueEntry",
    "RoundRow",
    "SessionStore",
    "StoreError",
    "resolve_label",
    "sqlite_error",
]

DB_NAME = "session.sqlite"
BUSY_TIMEOUT_S = 30.0
#: The longest annotator name and source string accepted.
MAX_NAME = 100


class StoreError(BayesalError):
    """The session file is missing, from a newer bayesal, damaged, or not a session;
    or SQLite failed on it (``sqlite_code``: its primary result code, see
    :func:`sqlite_error`)."""

    sqlite_code: int | None = None


#: SQLite's primary result codes that :func:`sqlite_error` words (sqlite3.h).
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR = 5, 6, 8, 10
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 11, 13, 26


def sqlite_error(exc: sqlite3.Error, path: str | Path) -> StoreError:
    """A one-line :class:`StoreError` for an error SQLite raised on the session file at
    ``path``: a full disk, a damaged file, a busy or read-only database; its
    ``sqlite_code`` attribute is SQLite's primary result code (None when unknown)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else int(code) & 0xFF
    if primary == SQLITE_FULL:
        text = (
            f"{path}: the disk is full ({exc}): what this asked for was not recorded (labels "
            "given before are on disk); free some space and try again"
        )
    elif primary in (SQLITE_CORRUPT, SQLITE_NOTADB):
        text = (
            f"{path}: the session file is damaged ({exc}); restore it from a backup "
            "(sqlite3's `.recover` command saves what is still readable)"
        )
    elif primary in (SQLITE_BUSY, SQLITE_LOCKED):
        text = f"{path}: the session is busy ({exc}): another process holds it; try again"
    elif primary == SQLITE_READONLY:
        text = f"{path}: cannot write the session file ({exc}): check its permissions"
    elif primary == SQLITE_IOERR:
        text = f"{path}: the disk could not read or write the session file ({exc})"
    else:
        text = f"{path}: database error ({exc})"
    error = StoreError(text)
    error.sqlite_code = primary
    return error


class LeaseHeldError(BayesalError):
    """The item is leased to another annotator: labelling it now would take it from them."""

    def __init__(self, item_id: int, holder: str, seconds_left: float) -> None:
        super().__init__(
            f"item {item_id} is leased to annotator {holder!r} for {seconds_left:.0f} s more: "
            "label another item (or wait until the lease ends)"
        )
        self.item_id = item_id
        self.holder = holder


# Each entry upgrades the schema from version i to i + 1; never edit a released one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE items (
        item_id INTEGER PRIMARY KEY,
        ref TEXT NOT NULL UNIQUE,
        row INTEGER NOT NULL UNIQUE,
        fallback_order INTEGER NOT NULL
    );
    CREATE INDEX items_fallback ON items(fallback_order);
    CREATE TABLE events (
        event_id INTEGER PRIMARY KEY AUTOINCREMENT,
        item_id INTEGER NOT NULL REFERENCES items(item_id),
        kind TEXT NOT NULL CHECK (kind IN ('label', 'undo', 'skip')),
        label INTEGER,
        annotator TEXT NOT NULL,
        time REAL NOT NULL,
        source TEXT NOT NULL,
        undoes INTEGER REFERENCES events(event_id),
        predicted INTEGER,
        round INTEGER
    );
    CREATE INDEX events_item ON events(item_id, event_id);
    CREATE INDEX events_annotator ON events(annotator, kind, event_id);
    CREATE TABLE current_labels (
        item_id INTEGER PRIMARY KEY REFERENCES items(item_id),
        label INTEGER NOT NULL,
        event_id INTEGER NOT NULL REFERENCES events(event_id)
    );
    CREATE TABLE rounds (
        round INTEGER PRIMARY KEY,
        started REAL NOT NULL,
        finished REAL NOT NULL,
        n_labels INTEGER NOT NULL,
        last_event_id INTEGER NOT NULL,
        state_path TEXT,
        metrics TEXT NOT NULL,
        stop_predictions BLOB
    );
    CREATE TABLE queue (
        round INTEGER NOT NULL REFERENCES rounds(round),
        rank INTEGER NOT NULL,
        item_id INTEGER NOT NULL REFERENCES items(item_id),
        score REAL,
        predicted INTEGER,
        predicted_prob REAL,
        uncertainty REAL,
        PRIMARY KEY (round, rank)
    );
    CREATE INDEX queue_item ON queue(round, item_id);
    CREATE TABLE leases (
        item_id INTEGER PRIMARY KEY REFERENCES items(item_id),
        annotator TEXT NOT NULL,
        expires REAL NOT NULL
    );
    CREATE INDEX leases_annotator ON leases(annotator);
    """,
    # 2: an explicit correction names the label event (of another annotator) it replaces.
    """
    ALTER TABLE events ADD COLUMN corrects INTEGER REFERENCES events(event_id);
    """,
    # 3 (issue 22): several annotators with a resolve rule, reviewers, multi-label and
    # regression values, unsure flags and comments, negative observations, the latest
    # round's predictions for the whole pool. ``current_labels`` becomes the *resolved*
    # label (label or value may be NULL now) and ``annotations`` caches each annotator's
    # annotation; both are recomputed from the events right after this migration.
    """
    ALTER TABLE events ADD COLUMN value REAL;
    ALTER TABLE events ADD COLUMN role TEXT;
    CREATE INDEX events_corrects ON events(corrects);
    CREATE INDEX events_undoes ON events(undoes);
    CREATE TABLE current_labels_v3 (
        item_id INTEGER PRIMARY KEY REFERENCES items(item_id),
        label INTEGER,
        value REAL,
        event_id INTEGER NOT NULL REFERENCES events(event_id)
    );
    INSERT INTO current_labels_v3(item_id, label, event_id)
        SELECT item_id, label, event_id FROM current_labels;
    DROP TABLE current_labels;
    ALTER TABLE current_labels_v3 RENAME TO current_labels;
    CREATE TABLE annotations (
        item_id INTEGER NOT NULL REFERENCES items(item_id),
        annotator TEXT NOT NULL,
        event_id INTEGER NOT NULL REFERENCES events(event_id),
        label INTEGER,
        value REAL,
        PRIMARY KEY (item_id, annotator)
    );
    CREATE INDEX annotations_annotator ON annotations(annotator, event_id);
    CREATE TABLE item_notes (
        note_id INTEGER PRIMARY KEY AUTOINCREMENT,
        item_id INTEGER NOT NULL REFERENCES items(item_id),
        annotator TEXT NOT NULL,
        time REAL NOT NULL,
        source TEXT NOT NULL,
        unsure INTEGER NOT NULL CHECK (unsure IN (0, 1)),
        comment TEXT,
        event_id INTEGER REFERENCES events(event_id)
    );
    CREATE INDEX item_notes_item ON item_notes(item_id, annotator, note_id);
    CREATE TABLE negatives (
        negative_id INTEGER PRIMARY KEY AUTOINCREMENT,
        item_id INTEGER NOT NULL REFERENCES items(item_id),
        label INTEGER NOT NULL,
        annotator TEXT NOT NULL,
        time REAL NOT NULL,
        source TEXT NOT NULL,
        after_event INTEGER NOT NULL
    );
    CREATE INDEX negatives_item ON negatives(item_id, label);
    CREATE INDEX negatives_label ON negatives(label, item_id);
    CREATE TABLE predictions (
        item_id INTEGER PRIMARY KEY REFERENCES items(item_id),
        round INTEGER NOT NULL,
        predicted INTEGER,
        prob REAL,
        uncertainty REAL,
        probs BLOB
    );
    """,
    # 4 (issue 23): segmentation masks, one per label event (zlib-compressed uint8
    # [height, width] class indices; digest: what two annotations are compared by;
    # classes: bit c set when class c appears in the mask).
    """
    CREATE TABLE masks (
        event_id INTEGER PRIMARY KEY REFERENCES events(event_id),
        item_id INTEGER NOT NULL REFERENCES items(item_id),
        height INTEGER NOT NULL,
        width INTEGER NOT NULL,
        data BLOB NOT NULL,
        digest INTEGER NOT NULL,
        classes INTEGER NOT NULL
    );
    CREATE INDEX masks_item ON masks(item_id, event_id);
    """,
]
#: The schema version from which ``current_labels`` holds resolved labels and
#: ``annotations`` exists (both recomputed from the events when a file reaches it).
RESOLVED_SCHEMA = 3
SCHEMA_VERSION = len(MIGRATIONS)
_EVENT_COLUMNS = (
    "event_id, item_id, kind, label, annotator, time, source, undoes, predicted, round, "
    "corrects, value, role"
)
#: How an item's label is resolved from its annotations (config ``resolve``).
RESOLVE_RULES = ("first", "majority", "reviewer")
#: The task types a session stores labels of (config ``task``).
TASKS = ("classification", "multilabel", "regression", "segmentation")
#: The role of a reviewer's label event (a decision that resolves the item).
REVIEWER = "reviewer"
#: The longest comment accepted.
MAX_COMMENT = 2000


@dataclass(frozen=True)
class LabelEvent:
    """One row of the event log."""

    event_id: int
    item_id: int
    kind: str
    label: int | None
    annotator: str
    time: float
    source: str
    undoes: int | None = None
    predicted: int | None = None
    round: int | None = None
    #: The label event this one replaced by an explicit correction, or (an edit) the
    #: annotator's own earlier event it replaces (None: neither).
    corrects: int | None = None
    #: A regression label (``label`` is None then).
    value: float | None = None
    #: ``reviewer`` for a reviewer's decision; None for an annotator's annotation.
    role: str | None = None


def resolve_label(events: Iterable[tuple[int, int, str, int | None]]) -> tuple[int, int] | None:
    """An item's label from its label events not undone, ``(event_id, label, annotator,
    corrects)`` in event order: the first sets it; a later one replaces it only when by
    the annotator of the label now, or when it is an explicit correction (``corrects``
    set). Returns ``(label, event_id)``, or None when there is no event."""
    current: tuple[int, int, str] | None = None
    for event_id, label, annotator, corrects in events:
        if current is None or annotator == current[2] or corrects is not None:
            current = (int(label), int(event_id), str(annotator))
    return None if current is None else (current[0], current[1])


@dataclass(frozen=True)
class Vote:
    """A label event not undone, as :func:`resolve_item` reads it: ``key`` is what two
    annotations are compared by (the class index, the multi-label bit mask, or the
    regression value); ``corrects_annotator`` the annotator of the event it corrects."""

    event_id: int
    key: float
    annotator: str
    role: str | None = None
    corrects_annotator: str | None = None


def resolve_item(
    votes: Sequence[Vote],
    rule: str = "first",
    negated: Iterable[tuple[int, str, int]] = (),
    *,
    multilabel: bool = False,
) -> tuple[Vote | None, dict[str, Vote]]:
    """An item's resolved label and each annotator's annotation, from its label events
    not undone (``votes``, in event order).

    - An annotator's annotation is their latest event (a reviewer's decisions are not
      annotations).
    - A reviewer's latest decision resolves the item, under every rule.
    - Otherwise the rule: ``first``: the first annotation sets the label; a later event
      replaces it only when by the same annotator or when it is a correction of another
      annotator's event (today's behaviour, :func:`resolve_label`). ``majority``: the
      value most annotators gave; a tie is unresolved. ``reviewer``: the annotators'
      value when they all agree; any disagreement is unresolved.
    - A negative observation (``negated``: ``(class, annotator, after_event)``, "this is
      not that class") that the same annotator has not taken back by a later annotation
      of that class leaves an item whose rule-resolved label is (multi-label: includes)
      that class unresolved: the session never resolves an item to a class someone said
      it is not, unless a reviewer decides.

    Returns ``(resolved vote or None, {annotator: vote})``; None with annotations is a
    *conflict*.
    """
    annotations: dict[str, Vote] = {}
    decision: Vote | None = None
    current: Vote | None = None
    for vote in votes:
        if vote.role == REVIEWER:
            decision = vote
            continue
        annotations[vote.annotator] = vote
        if (
            current is None
            or vote.annotator == current.annotator
            or (vote.corrects_annotator is not None and vote.corrects_annotator != vote.annotator)
        ):
            current = vote
    if decision is not None:
        return decision, annotations
    if not annotations:
        return None, annotations
    resolved: Vote | None
    if rule == "first":
        resolved = current
    else:
        counts: dict[float, int] = {}
        for vote in annotations.values():
            counts[vote.key] = counts.get(vote.key, 0) + 1
        best = max(counts.values())
        winners = [key for key, n in counts.items() if n == best]
        if len(winners) > 1 or (rule == "reviewer" and len(counts) > 1):
            return None, annotations
        resolved = min(
            (v for v in annotations.values() if v.key == winners[0]), key=lambda v: v.event_id
        )
    assert resolved is not None
    for label, annotator, after_event in negated:
        own = annotations.get(annotator)
        if (
            own is not None
            and own.event_id > after_event
            and _has_class(own.key, label, multilabel)
        ):
            continue  # they labelled it that class since: the "no" is taken back
        if _has_class(resolved.key, label, multilabel):
            return None, annotations
    return resolved, annotations


def _vote_key(label: int | None, value: float | None, digest: int | None) -> float:
    """What two annotations are compared by: the class index or bit mask, the regression
    value, or a segmentation mask's digest (equal masks only)."""
    if label is not None:
        return int(label)
    if value is not None:
        return float(value)
    return int(digest or 0)


def _stored(label: int | None, value: float | None) -> int | float | None:
    """A stored label: the class index or bit mask, the value, or None (a mask: in
    ``masks``, by its event)."""
    if label is not None:
        return int(label)
    return None if value is None else float(value)


def _has_class(key: float, label: int, multilabel: bool) -> bool:
    if multilabel:
        return bool(int(key) >> label & 1)
    return key == label


@dataclass(frozen=True)
class QueueEntry:
    """An item of a round's ranked queue (score: higher is wanted more)."""

    round: int
    rank: int
    item_id: int
    score: float | None
    predicted: int | None
    predicted_prob: float | None
    uncertainty: float | None


@dataclass(frozen=True)
class Lease:
    item_id: int
    annotator: str
    expires: float


@dataclass(frozen=True)
class RoundRow:
    round: int
    started: float
    finished: float
    n_labels: int
    last_event_id: int
    state_path: str | None
    metrics: dict[str, Any]
    stop_predictions: bytes | None


def check_name(value: object, what: str = "annotator") -> str:
    """An annotator (or source) name: a non-empty printable string of at most MAX_NAME."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, got {type(value).__name__}")
    name = value.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InvalidInputError(
            f"{what} must be 1 to {MAX_NAME} printable characters, got {value[:MAX_NAME]!r}"
        )
    return name


def _none_if_nan(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class SessionStore:
    """The SQLite file of one session. Create with :meth:`create`, open with
    :meth:`open`; every method is safe to call from several threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    # ------------------------------------------------------------------ connections

    @classmethod
    def create(cls, path: str | Path) -> SessionStore:
        """A new, empty store at ``path`` (which must not exist), at the latest schema."""
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path} already exists")
        store = cls(path)
        store._migrate(new=True)
        return store

    @classmethod
    def open(cls, path: str | Path) -> SessionStore:
        """The existing store at ``path``, migrated to the latest schema if older.

        Raises:
            StoreError: no such file, not a session file, or one written by a newer
                bayesal (schema version above :data:`SCHEMA_VERSION`).
        """
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path} does not exist: not a labelling session")
        store = cls(path)
        try:
            store._migrate(new=False)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:  # a damaged file, a full disk, ...
            store.close()
            raise sqlite_error(exc, path) from None
        return store

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=True
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            conn.close()
            if getattr(exc, "sqlite_errorcode", SQLITE_NOTADB) & 0xFF == SQLITE_NOTADB:
                raise StoreError(f"{self.path}: not a labelling session file ({exc})") from None
            raise sqlite_error(exc, self.path) from None
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database lock from its start; committed (and
        on disk) when the block ends, rolled back on any exception."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # SQLite ends the transaction itself on some errors (a full disk): a ROLLBACK
            # then would raise "no transaction is active" and hide the real error.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _migrate(self, *, new: bool) -> None:
        with self.write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0 and not new:
                # Only create() starts from nothing: an existing file at version 0 is
                # some other SQLite database (or an empty file), never migrated into one.
                raise StoreError(
                    f"{self.path}: not a labelling session file (an SQLite file without "
                    "bayesal's schema)"
                )
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this bayesal's "
                    f"{SCHEMA_VERSION}: upgrade bayesal to open it"
                )
            for target in range(version, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[target]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target + 1}")
            if not new and version < RESOLVED_SCHEMA <= SCHEMA_VERSION:
                # Resolved labels and the annotations cache, from the events (same
                # transaction: the file is migrated whole or not at all).
                self._rebuild(conn)

    def _settings(self, conn: sqlite3.Connection) -> tuple[str, str]:
        """``(resolve rule, task)`` of the session's config (``first`` and
        ``classification`` when the config says nothing, as in sessions made before
        issue 22)."""
        cached: tuple[str, str] | None = getattr(self, "_cached_settings", None)
        if cached is not None:
            return cached
        row = conn.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        config = {} if row is None else json.loads(row[0])
        settings = (
            str(config.get("resolve") or "first"),
            str(config.get("task") or "classification"),
        )
        if row is not None:  # a store being created has no config yet: read it again
            self._cached_settings = settings
        return settings

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    # ------------------------------------------------------------------ meta and items

    def set_meta(self, conn: sqlite3.Connection, key: str, value: Any) -> None:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def add_items(
        self,
        conn: sqlite3.Connection,
        item_ids: Sequence[int],
        refs: Sequence[str],
        fallback_order: Sequence[int],
    ) -> None:
        conn.executemany(
            "INSERT INTO items(item_id, ref, row, fallback_order) VALUES (?, ?, ?, ?)",
            [
                (int(i), str(ref), row, int(order))
                for row, (i, ref, order) in enumerate(
                    zip(item_ids, refs, fallback_order, strict=True)
                )
            ],
        )

    def items(self) -> list[tuple[int, str, int]]:
        """Every item as ``(item_id, ref, row)``, in row order."""
        return [
            (int(a), str(b), int(c))
            for a, b, c in self.conn.execute("SELECT item_id, ref, row FROM items ORDER BY row")
        ]

    def item(self, item_id: int) -> tuple[int, str, int] | None:
        row = self.conn.execute(
            "SELECT item_id, ref, row FROM items WHERE item_id = ?", (int(item_id),)
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]), int(row[2]))

    def item_by_ref(self, ref: str) -> int | None:
        row = self.conn.execute("SELECT item_id FROM items WHERE ref = ?", (ref,)).fetchone()
        return None if row is None else int(row[0])

    def num_items(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    # ------------------------------------------------------------------ events

    def _insert_event(
        self,
        conn: sqlite3.Connection,
        item_id: int,
        kind: str,
        label: int | None,
        annotator: str,
        source: str,
        undoes: int | None = None,
        predicted: int | None = None,
        round: int | None = None,
        when: float | None = None,
        corrects: int | None = None,
        value: float | None = None,
        role: str | None = None,
    ) -> LabelEvent:
        now = time.time() if when is None else float(when)
        cursor = conn.execute(
            "INSERT INTO events(item_id, kind, label, annotator, time, source, undoes, "
            "predicted, round, corrects, value, role) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item_id,
                kind,
                label,
                annotator,
                now,
                source,
                undoes,
                predicted,
                round,
                corrects,
                value,
                role,
            ),
        )
        return LabelEvent(
            int(cursor.lastrowid or 0),
            item_id,
            kind,
            label,
            annotator,
            now,
            source,
            undoes,
            predicted,
            round,
            corrects,
            value,
            role,
        )

    def add_labels(
        self,
        labels: Iterable[tuple[int, int | float | np.ndarray, str]],
        *,
        source: str,
        times: Sequence[float | None] | None = None,
        release_leases: bool = True,
        shown: bool = True,
        correct: bool = False,
        check_leases: bool = False,
        role: str | None = None,
        corrects: Sequence[int | None] | None = None,
        roles: Sequence[str | None] | None = None,
        corrections: Sequence[bool] | None = None,
        unsure: bool | None = None,
        comment: str | None = None,
    ) -> list[LabelEvent]:
        """Record ``(item_id, label, annotator)`` label events in one transaction (on
        disk when this returns). The caller has checked the ids and labels: ``label`` is
        a class index (classification), a bit mask of class indices (multi-label: bit
        ``c`` set for class ``c``), a float (regression, stored as the event's
        ``value``) or a checked ``uint8`` ``[H, W]`` mask (segmentation: stored in
        ``masks``, the event's label and value NULL). ``shown``: a person saw the item
        with the current round's prediction (not an import), which is then stored with
        the event for the estimated accuracy.

        Every event is kept; the item's resolved label is then worked out again from its
        events by the session's rule (:func:`resolve_item`). ``correct=True``: the event
        names the item's label event now (``corrects``), a correction; ``corrects``
        (one per label) names the event an edit replaces instead. ``role="reviewer"``:
        a reviewer's decision, which resolves the item. ``roles`` / ``corrections`` (one
        per label) give the role and ``correct`` of each label instead. ``unsure`` /
        ``comment`` (when
        either is given) are recorded as the annotator's note on each item, tied to
        its event.

        Raises:
            LeaseHeldError: ``check_leases`` and an item is leased to another annotator
                (nothing is recorded).
        """
        out = []
        with self.write() as conn:
            current = self._current_round(conn)
            now = time.time()
            for n, (item_id, label, annotator) in enumerate(labels):
                if check_leases:
                    held = conn.execute(
                        "SELECT annotator, expires FROM leases WHERE item_id = ? AND "
                        "expires > ? AND annotator != ?",
                        (item_id, now, annotator),
                    ).fetchone()
                    if held is not None:
                        raise LeaseHeldError(item_id, str(held[0]), float(held[1]) - now)
                predicted = None
                if current is not None and shown:
                    row = conn.execute(
                        "SELECT predicted FROM queue WHERE round = ? AND item_id = ?",
                        (current, item_id),
                    ).fetchone()
                    predicted = None if row is None else row[0]
                names = corrects[n] if corrects is not None else None
                this_role = roles[n] if roles is not None else role
                if (corrections[n] if corrections is not None else correct) and names is None:
                    now_label = conn.execute(
                        "SELECT event_id FROM current_labels WHERE item_id = ?", (item_id,)
                    ).fetchone()
                    names = None if now_label is None else int(now_label[0])
                when = None if times is None else times[n]
                is_mask = isinstance(label, np.ndarray)
                is_value = isinstance(label, float)
                event = self._insert_event(
                    conn,
                    item_id,
                    "label",
                    None if is_value or is_mask else int(label),
                    annotator,
                    source,
                    predicted=predicted,
                    round=current,
                    when=when,
                    corrects=names,
                    value=float(label) if is_value else None,
                    role=this_role,
                )
                if is_mask:
                    assert isinstance(label, np.ndarray)
                    conn.execute(
                        "INSERT INTO masks(event_id, item_id, height, width, data, digest, "
                        "classes) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            event.event_id,
                            item_id,
                            int(label.shape[0]),
                            int(label.shape[1]),
                            encode_mask(label),
                            mask_digest(label),
                            sum(1 << int(c) for c in np.unique(label)),
                        ),
                    )
                if unsure is not None or comment is not None:
                    self._insert_note(
                        conn, item_id, annotator, source, bool(unsure), comment, event.event_id
                    )
                self._restore_current(conn, item_id)
                if release_leases:
                    conn.execute("DELETE FROM leases WHERE item_id = ?", (item_id,))
                out.append(event)
        return out

    def label_of(self, item_id: int) -> tuple[int | float | None, LabelEvent] | None:
        """The item's resolved label now (a class index, a multi-label bit mask or a
        regression value) and the event that set it (None: unlabelled or in conflict)."""
        row = self.conn.execute(
            "SELECT event_id, label, value FROM current_labels WHERE item_id = ?",
            (int(item_id),),
        ).fetchone()
        if row is None:
            return None
        event = self.event(int(row[0]))
        assert event is not None
        return _stored(row[1], row[2]), event

    def event(self, event_id: int) -> LabelEvent | None:
        row = self.conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE event_id = ?", (int(event_id),)
        ).fetchone()
        return None if row is None else LabelEvent(*row)

    def annotations(self) -> dict[tuple[int, str], int | float | None]:
        """``(item_id, annotator) -> label`` of each annotator's annotation (their latest
        label event not undone; a reviewer's decisions are not annotations), for every
        item: a class index, a multi-label bit mask, or a regression value. The item's
        resolved label itself is :meth:`current_labels`."""
        return {
            (int(item_id), str(annotator)): _stored(label, value)
            for item_id, annotator, label, value in self.conn.execute(
                "SELECT item_id, annotator, label, value FROM annotations"
            )
        }

    def undo_last(self, annotator: str, source: str) -> LabelEvent | None:
        """Take back ``annotator``'s latest label event that is not yet undone: the item
        returns to its label before that event (or to unlabelled). Returns the undo
        event, or None when there is nothing to undo."""
        with self.write() as conn:
            row = conn.execute(
                "SELECT event_id, item_id FROM events e WHERE annotator = ? AND kind = 'label' "
                "AND NOT EXISTS (SELECT 1 FROM events u WHERE u.kind = 'undo' "
                "AND u.undoes = e.event_id) ORDER BY event_id DESC LIMIT 1",
                (annotator,),
            ).fetchone()
            if row is None:
                return None
            target, item_id = int(row[0]), int(row[1])
            event = self._insert_event(
                conn, item_id, "undo", None, annotator, source, undoes=target
            )
            self._restore_current(conn, item_id)
            return event

    def _restore_current(self, conn: sqlite3.Connection, item_id: int) -> None:
        """Work out ``item_id``'s resolved label (``current_labels``) and each annotator's
        annotation (``annotations``) again from its events (:func:`resolve_item`)."""
        rule, task = self._settings(conn)
        rows = conn.execute(
            "SELECT e.event_id, e.label, e.value, e.annotator, e.role, c.annotator, m.digest "
            "FROM events e LEFT JOIN events c ON c.event_id = e.corrects "
            "LEFT JOIN masks m ON m.event_id = e.event_id "
            "WHERE e.item_id = ? AND e.kind = 'label' AND NOT EXISTS (SELECT 1 FROM events u "
            "WHERE u.kind = 'undo' AND u.undoes = e.event_id) ORDER BY e.event_id",
            (item_id,),
        ).fetchall()
        votes = [
            Vote(
                int(r[0]),
                _vote_key(r[1], r[2], r[6]),
                str(r[3]),
                r[4],
                None if r[5] is None else str(r[5]),
            )
            for r in rows
        ]
        stored = {int(r[0]): (r[1], r[2]) for r in rows}
        negated = [
            (int(a), str(b), int(c))
            for a, b, c in conn.execute(
                "SELECT label, annotator, after_event FROM negatives WHERE item_id = ?",
                (item_id,),
            )
        ]
        resolved, annotations = resolve_item(votes, rule, negated, multilabel=task == "multilabel")
        conn.execute("DELETE FROM annotations WHERE item_id = ?", (item_id,))
        conn.executemany(
            "INSERT INTO annotations(item_id, annotator, event_id, label, value) "
            "VALUES (?, ?, ?, ?, ?)",
            [(item_id, v.annotator, v.event_id, *stored[v.event_id]) for v in annotations.values()],
        )
        if resolved is None:
            conn.execute("DELETE FROM current_labels WHERE item_id = ?", (item_id,))
        else:
            label, value = stored[resolved.event_id]
            conn.execute(
                "INSERT INTO current_labels(item_id, label, value, event_id) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(item_id) DO UPDATE SET label = excluded.label, "
                "value = excluded.value, event_id = excluded.event_id",
                (item_id, label, value, resolved.event_id),
            )

    def _rebuild(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM current_labels")
        conn.execute("DELETE FROM annotations")
        ids = [r[0] for r in conn.execute("SELECT DISTINCT item_id FROM events")]
        ids += [r[0] for r in conn.execute("SELECT DISTINCT item_id FROM negatives")]
        for item_id in sorted(set(ids)):
            self._restore_current(conn, int(item_id))

    def rebuild_current_labels(self) -> None:
        """Recompute ``current_labels`` (and the ``annotations`` cache) from the event
        log and the negative observations."""
        with self.write() as conn:
            self._rebuild(conn)

    def add_skip(self, item_id: int, annotator: str, source: str) -> LabelEvent:
        with self.write() as conn:
            event = self._insert_event(conn, item_id, "skip", None, annotator, source)
            conn.execute(
                "DELETE FROM leases WHERE item_id = ? AND annotator = ?", (item_id, annotator)
            )
            return event

    def events(self, after: int = 0) -> list[LabelEvent]:
        rows = self.conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE event_id > ? ORDER BY event_id",
            (after,),
        ).fetchall()
        return [LabelEvent(*row) for row in rows]

    def current_labels(self) -> dict[int, tuple[int, int]]:
        """``item_id -> (label, event_id)`` of every item with a resolved class index (or
        multi-label bit mask); regression values: :meth:`resolved`."""
        return {
            int(i): (int(label), int(e))
            for i, label, e in self.conn.execute(
                "SELECT item_id, label, event_id FROM current_labels WHERE label IS NOT NULL"
            )
        }

    def resolved(self) -> dict[int, tuple[int | float | None, int]]:
        """``item_id -> (label, event_id)`` of every item with a resolved label: a class
        index, a multi-label bit mask or a regression value."""
        return {
            int(i): (_stored(label, value), int(e))
            for i, label, value, e in self.conn.execute(
                "SELECT item_id, label, value, event_id FROM current_labels"
            )
        }

    def labelled_snapshot(self) -> tuple[dict[int, int], int]:
        """The current labels and the last event id they include, read consistently."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            labels = {
                int(i): int(label)
                for i, label in conn.execute(
                    "SELECT item_id, label FROM current_labels WHERE label IS NOT NULL"
                )
            }
            last = conn.execute("SELECT COALESCE(MAX(event_id), 0) FROM events").fetchone()[0]
        finally:
            conn.execute("COMMIT")
        return labels, int(last)

    def resolved_snapshot(self) -> tuple[dict[int, int | float | None], int]:
        """Every resolved label (a class index, a multi-label bit mask or a regression
        value) and the last event id they include, read consistently."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            labels = {
                int(i): _stored(label, value)
                for i, label, value in conn.execute(
                    "SELECT item_id, label, value FROM current_labels"
                )
            }
            last = conn.execute("SELECT COALESCE(MAX(event_id), 0) FROM events").fetchone()[0]
        finally:
            conn.execute("COMMIT")
        return labels, int(last)

    def num_labelled(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM current_labels").fetchone()[0])

    def label_events_since(self, event_id: int) -> int:
        """Label and undo events after ``event_id`` (what a retrain has not seen)."""
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM events WHERE event_id > ? AND kind IN ('label', 'undo')",
                (event_id,),
            ).fetchone()[0]
        )

    # ------------------------------------------------------------------ rounds and queue

    @staticmethod
    def _current_round(conn: sqlite3.Connection) -> int | None:
        row = conn.execute("SELECT MAX(round) FROM rounds").fetchone()
        return None if row[0] is None else int(row[0])

    def current_round(self) -> int | None:
        return self._current_round(self.conn)

    def add_round(
        self,
        *,
        round: int,
        started: float,
        n_labels: int,
        last_event_id: int,
        state_path: str | None,
        metrics: dict[str, Any],
        stop_predictions: bytes | None,
        queue: Sequence[QueueEntry],
    ) -> None:
        """Record a finished retrain and its ranked queue in one transaction; the new
        queue replaces the old one for every later :meth:`lease_next`."""
        with self.write() as conn:
            if conn.execute("SELECT 1 FROM rounds WHERE round = ?", (round,)).fetchone():
                raise StoreError(f"round {round} is already recorded")
            conn.execute(
                "INSERT INTO rounds(round, started, finished, n_labels, last_event_id, "
                "state_path, metrics, stop_predictions) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    round,
                    started,
                    time.time(),
                    n_labels,
                    last_event_id,
                    state_path,
                    json.dumps(metrics, allow_nan=False, default=_json_default),
                    stop_predictions,
                ),
            )
            conn.executemany(
                "INSERT INTO queue(round, rank, item_id, score, predicted, predicted_prob, "
                "uncertainty) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        round,
                        q.rank,
                        q.item_id,
                        _none_if_nan(q.score),
                        q.predicted,
                        _none_if_nan(q.predicted_prob),
                        _none_if_nan(q.uncertainty),
                    )
                    for q in queue
                ],
            )

    def rounds(self) -> list[RoundRow]:
        rows = self.conn.execute(
            "SELECT round, started, finished, n_labels, last_event_id, state_path, metrics, "
            "stop_predictions FROM rounds ORDER BY round"
        ).fetchall()
        return [RoundRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7]) for r in rows]

    def last_round(self) -> RoundRow | None:
        rows = self.rounds()
        return rows[-1] if rows else None

    def queue(self, round: int | None = None) -> list[QueueEntry]:
        """The ranked queue of ``round`` (default: the latest), best first."""
        if round is None:
            round = self.current_round()
            if round is None:
                return []
        rows = self.conn.execute(
            "SELECT round, rank, item_id, score, predicted, predicted_prob, uncertainty "
            "FROM queue WHERE round = ? ORDER BY rank",
            (round,),
        ).fetchall()
        return [QueueEntry(*row) for row in rows]

    def queue_entry(self, item_id: int, round: int | None = None) -> QueueEntry | None:
        if round is None:
            round = self.current_round()
            if round is None:
                return None
        row = self.conn.execute(
            "SELECT round, rank, item_id, score, predicted, predicted_prob, uncertainty "
            "FROM queue WHERE round = ? AND item_id = ?",
            (round, int(item_id)),
        ).fetchone()
        return None if row is None else QueueEntry(*row)

    # ------------------------------------------------------------------ leases

    def lease_next(
        self, annotator: str, lease_seconds: float, *, overlap: float = 0.0
    ) -> tuple[int, bool] | None:
        """Lease the best item for ``annotator``: the item it already holds (lease
        renewed) while it still wants it; else an *overlap* item that one other
        annotator has labelled (oldest first; see :func:`overlap_sql`: a share
        ``overlap`` of the items goes to a second, different annotator, for the agreement
        figure); else the first item of the current queue that nobody has annotated,
        not leased and not skipped by this annotator; else such an item outside the
        queue (in the session's fixed shuffled order); else one it skipped. Returns
        ``(item_id, from_queue)``, or None when every item is labelled or leased.

        One transaction holding the write lock, so two annotators never get the same
        item."""
        ov = _overlap_threshold(overlap)
        with self.write() as conn:
            now = time.time()  # after the lock is ours: the lease starts now
            conn.execute("DELETE FROM leases WHERE expires <= ?", (now,))
            # An overlap item one other annotator labelled (and nobody else), resolved.
            second = (
                "(" + overlap_sql("{t}") + " < :ov AND NOT EXISTS (SELECT 1 FROM annotations "
                "a WHERE a.item_id = {i} AND a.annotator = :a) AND (SELECT COUNT(*) FROM "
                "annotations a WHERE a.item_id = {i} AND a.annotator != :data) = 1 "
                "AND EXISTS (SELECT 1 FROM current_labels c WHERE c.item_id = {i}))"
            )
            params = {"a": annotator, "ov": ov, "data": DATA_ANNOTATOR, "now": now}
            held = conn.execute(
                "SELECT l.item_id FROM leases l JOIN items t ON t.item_id = l.item_id "
                "WHERE l.annotator = :a AND ("
                + _UNANNOTATED.format(i="l.item_id")
                + " OR "
                + second.format(i="l.item_id", t="t")
                + ") ORDER BY l.expires LIMIT 1",
                params,
            ).fetchone()
            from_queue = True
            current = self._current_round(conn)
            if held is not None:
                item_id = int(held[0])
                conn.execute("DELETE FROM leases WHERE annotator = ?", (annotator,))
                from_queue = (
                    current is not None
                    and conn.execute(
                        "SELECT 1 FROM queue WHERE round = ? AND item_id = ?", (current, item_id)
                    ).fetchone()
                    is not None
                )
            else:
                row = None
                if ov > 0:
                    row = conn.execute(
                        "SELECT t.item_id FROM items t WHERE "
                        + second.format(i="t.item_id", t="t")
                        + " AND "
                        + _NOT_LEASED.format(i="t.item_id")
                        + " AND "
                        + _NOT_SKIPPED.format(i="t.item_id")
                        + " ORDER BY (SELECT MIN(a.event_id) FROM annotations a "
                        "WHERE a.item_id = t.item_id) LIMIT 1",
                        params,
                    ).fetchone()
                    from_queue = False
                if row is None:
                    first = self._first_free(conn, annotator, current, now)
                    if first is not None:
                        row, from_queue = (first[0],), first[1]
                if row is None:
                    row = conn.execute(
                        "SELECT t.item_id FROM items t WHERE "
                        + _UNANNOTATED.format(i="t.item_id")
                        + " AND "
                        + _NOT_LEASED.format(i="t.item_id")
                        + " ORDER BY t.fallback_order LIMIT 1",
                        {"now": now},
                    ).fetchone()
                    from_queue = False
                if row is None:
                    return None
                item_id = int(row[0])
            conn.execute(
                "INSERT INTO leases(item_id, annotator, expires) VALUES (?, ?, ?)",
                (item_id, annotator, now + lease_seconds),
            )
            return item_id, from_queue

    def _first_free(
        self,
        conn: sqlite3.Connection,
        annotator: str,
        current: int | None,
        now: float,
        exclude: int | None = None,
    ) -> tuple[int, bool] | None:
        """The first item of round ``current``'s queue that nobody annotated, not leased
        at ``now`` and not skipped by ``annotator``, else the first such item in the
        fallback order: ``(item_id, from_queue)``, or None. ``exclude`` is never
        returned. The query :meth:`lease_next` leases from and :meth:`peek_next` reads."""
        params: dict[str, object] = {"a": annotator, "now": now}
        other = ""
        if exclude is not None:
            other = " AND {i} != :x"
            params["x"] = int(exclude)
        free = " AND ".join((_UNANNOTATED, _NOT_LEASED, _NOT_SKIPPED)) + other
        if current is not None:
            row = conn.execute(
                "SELECT q.item_id FROM queue q WHERE q.round = :r AND "
                + free.format(i="q.item_id")
                + " ORDER BY q.rank LIMIT 1",
                {**params, "r": current},
            ).fetchone()
            if row is not None:
                return int(row[0]), True
        row = conn.execute(
            "SELECT t.item_id FROM items t WHERE "
            + free.format(i="t.item_id")
            + " ORDER BY t.fallback_order LIMIT 1",
            params,
        ).fetchone()
        return None if row is None else (int(row[0]), False)

    def peek_next(self, annotator: str, exclude: int | None = None) -> int | None:
        """The item :meth:`lease_next` would most likely lease to ``annotator`` once the
        item it holds (``exclude``, never returned) is labelled: the first item of the
        current queue that nobody annotated, not leased and not skipped by this
        annotator, else the first such item in the fallback order; None when there is
        none. Read only: leases nothing, writes nothing (a hint for prefetching; the
        lease is taken by :meth:`lease_next` when the item is asked for). With
        ``overlap``, :meth:`lease_next` first serves items one other annotator labelled;
        those are not foreseen here, nor a fallback to items the annotator skipped."""
        conn = self.conn
        found = self._first_free(conn, annotator, self._current_round(conn), time.time(), exclude)
        return None if found is None else found[0]

    def leases(self) -> list[Lease]:
        now = time.time()
        return [
            Lease(int(i), str(a), float(e))
            for i, a, e in self.conn.execute(
                "SELECT item_id, annotator, expires FROM leases WHERE expires > ?", (now,)
            )
        ]

    def hold(self, item_id: int, annotator: str, lease_seconds: float) -> bool:
        """Lease ``item_id`` to ``annotator`` (e.g. the item of a label they undid, so
        that they see it again) unless another annotator holds it; their other lease is
        released. False when someone else holds it."""
        with self.write() as conn:
            now = time.time()
            row = conn.execute(
                "SELECT annotator, expires FROM leases WHERE item_id = ?", (item_id,)
            ).fetchone()
            if row is not None and row[0] != annotator and float(row[1]) > now:
                return False
            conn.execute(
                "DELETE FROM leases WHERE annotator = ? OR item_id = ?", (annotator, item_id)
            )
            conn.execute(
                "INSERT INTO leases(item_id, annotator, expires) VALUES (?, ?, ?)",
                (item_id, annotator, now + lease_seconds),
            )
        return True

    def lease_of(self, item_id: int) -> Lease | None:
        """The unexpired lease on ``item_id``, if any."""
        row = self.conn.execute(
            "SELECT item_id, annotator, expires FROM leases WHERE item_id = ? AND expires > ?",
            (item_id, time.time()),
        ).fetchone()
        return None if row is None else Lease(int(row[0]), str(row[1]), float(row[2]))

    def current_event(self, item_id: int) -> int:
        """The event id of the item's label now (0: unlabelled)."""
        row = self.conn.execute(
            "SELECT event_id FROM current_labels WHERE item_id = ?", (item_id,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def release(self, annotator: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM leases WHERE annotator = ?", (annotator,))

    # ------------------------------------------------------------------ notes, negatives

    def _insert_note(
        self,
        conn: sqlite3.Connection,
        item_id: int,
        annotator: str,
        source: str,
        unsure: bool,
        comment: str | None,
        event_id: int | None,
    ) -> int:
        cursor = conn.execute(
            "INSERT INTO item_notes(item_id, annotator, time, source, unsure, comment, "
            "event_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (item_id, annotator, time.time(), source, int(unsure), comment, event_id),
        )
        return int(cursor.lastrowid or 0)

    def add_note(
        self, item_id: int, annotator: str, source: str, *, unsure: bool, comment: str | None
    ) -> int:
        """Record ``annotator``'s note on ``item_id`` (an unsure flag and an optional
        comment; it replaces their earlier note on the item, which stays in the log).
        On disk when this returns; returns the note's id."""
        with self.write() as conn:
            return self._insert_note(conn, item_id, annotator, source, unsure, comment, None)

    def notes(
        self,
        *,
        item_id: int | None = None,
        annotator: str | None = None,
        unsure: bool | None = None,
        with_comment: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Each annotator's latest note per item (``note_id``, ``item_id``,
        ``annotator``, ``time``, ``unsure``, ``comment``, ``event_id``: the label event
        it came with, or None), filtered by the arguments given, by item then annotator."""
        where = [
            "n.note_id = (SELECT MAX(m.note_id) FROM item_notes m WHERE m.item_id = n.item_id "
            "AND m.annotator = n.annotator)"
        ]
        params: list[Any] = []
        if item_id is not None:
            where.append("n.item_id = ?")
            params.append(int(item_id))
        if annotator is not None:
            where.append("n.annotator = ?")
            params.append(annotator)
        if unsure is not None:
            where.append("n.unsure = ?")
            params.append(int(unsure))
        if with_comment is not None:
            where.append(
                "COALESCE(n.comment, '') != ''" if with_comment else "COALESCE(n.comment, '') = ''"
            )
        rows = self.conn.execute(
            "SELECT n.note_id, n.item_id, n.annotator, n.time, n.unsure, n.comment, n.event_id "
            "FROM item_notes n WHERE " + " AND ".join(where) + " ORDER BY n.item_id, n.annotator",
            params,
        ).fetchall()
        return [
            {
                "note_id": int(r[0]),
                "item_id": int(r[1]),
                "annotator": str(r[2]),
                "time": float(r[3]),
                "unsure": bool(r[4]),
                "comment": r[5],
                "event_id": None if r[6] is None else int(r[6]),
            }
            for r in rows
        ]

    def add_negative(
        self, item_id: int, label: int, annotator: str, source: str, *, release_lease: bool = True
    ) -> int:
        """Record a negative observation: ``annotator`` says ``item_id`` is *not* class
        ``label`` (a "no" in the yes/no mode). Not a label: the item's resolved label is
        worked out again (it cannot be that class now, :func:`resolve_item`). On disk
        when this returns; returns its id."""
        with self.write() as conn:
            last = conn.execute("SELECT COALESCE(MAX(event_id), 0) FROM events").fetchone()[0]
            cursor = conn.execute(
                "INSERT INTO negatives(item_id, label, annotator, time, source, after_event) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (item_id, label, annotator, time.time(), source, int(last)),
            )
            self._restore_current(conn, item_id)
            if release_lease:
                conn.execute(
                    "DELETE FROM leases WHERE item_id = ? AND annotator = ?", (item_id, annotator)
                )
            return int(cursor.lastrowid or 0)

    def negatives(
        self, *, item_id: int | None = None, label: int | None = None
    ) -> list[dict[str, Any]]:
        """Every negative observation (``negative_id``, ``item_id``, ``label``,
        ``annotator``, ``time``, ``source``), oldest first, optionally of one item or
        class."""
        where, params = ["1"], []
        if item_id is not None:
            where.append("item_id = ?")
            params.append(int(item_id))
        if label is not None:
            where.append("label = ?")
            params.append(int(label))
        return [
            {
                "negative_id": int(r[0]),
                "item_id": int(r[1]),
                "label": int(r[2]),
                "annotator": str(r[3]),
                "time": float(r[4]),
                "source": str(r[5]),
            }
            for r in self.conn.execute(
                "SELECT negative_id, item_id, label, annotator, time, source FROM negatives "
                "WHERE " + " AND ".join(where) + " ORDER BY negative_id",
                params,
            )
        ]

    # ------------------------------------------------------------------ review, history

    def conflicts(self, *, disagreements: bool = False) -> list[int]:
        """Items in conflict: annotated, but the rule (or a negative observation) leaves
        them without a resolved label; by item id. ``disagreements=True`` adds the items
        whose annotators disagree although the rule resolved them (``first`` does), for
        a review."""
        unresolved = "NOT EXISTS (SELECT 1 FROM current_labels c WHERE c.item_id = a.item_id)"
        if disagreements:
            unresolved = (
                f"({unresolved} OR (SELECT COUNT(DISTINCT COALESCE(b.label, b.value)) FROM "
                "annotations b WHERE b.item_id = a.item_id) > 1)"
            )
        return [
            int(r[0])
            for r in self.conn.execute(
                f"SELECT DISTINCT a.item_id FROM annotations a WHERE {unresolved} "
                "ORDER BY a.item_id"
            )
        ]

    def annotation_rows(self, item_id: int | None = None) -> list[LabelEvent]:
        """The label events that are annotations now (each annotator's latest per item),
        by item then event."""
        where = "" if item_id is None else " WHERE a.item_id = ?"
        params = () if item_id is None else (int(item_id),)
        return [
            LabelEvent(*row)
            for row in self.conn.execute(
                "SELECT "
                + ", ".join(f"e.{c.strip()}" for c in _EVENT_COLUMNS.split(","))
                + " FROM annotations a JOIN events e ON e.event_id = a.event_id"
                + where
                + " ORDER BY a.item_id, a.event_id",
                params,
            )
        ]

    def history(self, annotator: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """``annotator``'s label events, newest first: ``event`` (the
        :class:`LabelEvent`), ``corrected`` (a later event names it in ``corrects``),
        ``corrected_by`` (that event's id, the latest), ``undone``, ``current`` (it is
        their annotation of the item now, or a reviewer decision in force)."""
        rows = self.conn.execute(
            "SELECT "
            + ", ".join(f"e.{c.strip()}" for c in _EVENT_COLUMNS.split(","))
            + ", (SELECT MAX(f.event_id) FROM events f WHERE f.corrects = e.event_id), "
            "EXISTS (SELECT 1 FROM events u WHERE u.kind = 'undo' AND u.undoes = e.event_id), "
            "(EXISTS (SELECT 1 FROM annotations a WHERE a.event_id = e.event_id) OR EXISTS "
            "(SELECT 1 FROM current_labels c WHERE c.event_id = e.event_id)) "
            "FROM events e WHERE e.annotator = ? AND e.kind = 'label' "
            "ORDER BY e.event_id DESC LIMIT ? OFFSET ?",
            (annotator, int(limit), int(offset)),
        ).fetchall()
        width = len(_EVENT_COLUMNS.split(","))
        return [
            {
                "event": LabelEvent(*row[:width]),
                "corrected": row[width] is not None,
                "corrected_by": None if row[width] is None else int(row[width]),
                "undone": bool(row[width + 1]),
                "current": bool(row[width + 2]),
            }
            for row in rows
        ]

    def count_history(self, annotator: str) -> int:
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM events WHERE annotator = ? AND kind = 'label'", (annotator,)
            ).fetchone()[0]
        )

    # ------------------------------------------------------------------ predictions

    def set_predictions(
        self,
        round: int,
        rows: Sequence[tuple[int, int | None, float | None, float | None, bytes | None]],
    ) -> None:
        """Replace the pool's predictions by ``round``'s: ``(item_id, predicted, prob,
        uncertainty, probs)`` with ``probs`` the class probabilities as float16 bytes."""
        with self.write() as conn:
            conn.execute("DELETE FROM predictions")
            conn.executemany(
                "INSERT INTO predictions(item_id, round, predicted, prob, uncertainty, probs) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(int(i), round, p, _none_if_nan(q), _none_if_nan(u), b) for i, p, q, u, b in rows],
            )

    def predictions(self) -> list[tuple[int, int, int | None, float | None, float | None, bytes]]:
        """The latest predictions of the pool: ``(item_id, round, predicted, prob,
        uncertainty, probs)`` by item id."""
        return [
            (int(r[0]), int(r[1]), r[2], r[3], r[4], r[5])
            for r in self.conn.execute(
                "SELECT item_id, round, predicted, prob, uncertainty, probs FROM predictions "
                "ORDER BY item_id"
            )
        ]

    # ------------------------------------------------------------------ summaries

    def mask(self, event_id: int) -> np.ndarray | None:
        """The segmentation mask of a label event (``uint8`` ``[H, W]``), or None."""
        row = self.conn.execute(
            "SELECT height, width, data FROM masks WHERE event_id = ?", (int(event_id),)
        ).fetchone()
        return None if row is None else decode_mask(row[2], int(row[0]), int(row[1]))

    def resolved_mask_snapshot(self) -> tuple[dict[int, np.ndarray], int]:
        """Every resolved mask (``item_id -> uint8 [H, W]``) and the last event id they
        include, read consistently."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            masks = {
                int(i): decode_mask(data, int(h), int(w))
                for i, h, w, data in conn.execute(
                    "SELECT c.item_id, m.height, m.width, m.data FROM current_labels c "
                    "JOIN masks m ON m.event_id = c.event_id"
                )
            }
            last = conn.execute("SELECT COALESCE(MAX(event_id), 0) FROM events").fetchone()[0]
        finally:
            conn.execute("COMMIT")
        return masks, int(last)

    def mask_class_counts(self) -> dict[int, int]:
        """``class -> number of resolved masks in which it appears``."""
        out: dict[int, int] = {}
        for classes, count in self.conn.execute(
            "SELECT m.classes, COUNT(*) FROM current_labels c "
            "JOIN masks m ON m.event_id = c.event_id GROUP BY m.classes"
        ):
            bits = int(classes)
            for c in range(bits.bit_length()):
                if bits >> c & 1:
                    out[c] = out.get(c, 0) + int(count)
        return out

    def resolved_mask_events(self) -> dict[int, int]:
        """``item_id -> event_id`` of every item whose resolved label is a mask."""
        return {
            int(i): int(e)
            for i, e in self.conn.execute(
                "SELECT c.item_id, c.event_id FROM current_labels c "
                "JOIN masks m ON m.event_id = c.event_id"
            )
        }

    def annotation_mask_events(self) -> list[tuple[int, str, int]]:
        """``(item_id, annotator, event_id)`` of every annotator's mask annotation."""
        return [
            (int(i), str(a), int(e))
            for i, a, e in self.conn.execute(
                "SELECT a.item_id, a.annotator, a.event_id FROM annotations a "
                "JOIN masks m ON m.event_id = a.event_id ORDER BY a.item_id, a.annotator"
            )
        ]

    def counts_by_annotator(self) -> dict[str, int]:
        """Annotations per annotator (the items each has labelled now; with several
        annotators per item, each counts). Reviewers' decisions are not annotations."""
        return {
            str(a): int(n)
            for a, n in self.conn.execute(
                "SELECT annotator, COUNT(*) FROM annotations GROUP BY annotator ORDER BY annotator"
            )
        }

    def counts_by_label(self) -> dict[int, int]:
        return {
            int(label): int(n)
            for label, n in self.conn.execute(
                "SELECT label, COUNT(*) FROM current_labels WHERE label IS NOT NULL GROUP BY label"
            )
        }

    def recent_predicted_labels(self, limit: int) -> list[tuple[int, int]]:
        """``(predicted, label)`` of the latest ``limit`` labels made while a model's
        prediction was shown, counting only each item's current label (a label later
        corrected or undone does not count; nor do imports and the data's labels)."""
        rows = self.conn.execute(
            "SELECT e.predicted, e.label FROM current_labels c "
            "JOIN events e ON e.event_id = c.event_id WHERE e.predicted IS NOT NULL "
            "ORDER BY e.event_id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [(int(p), int(y)) for p, y in rows]


#: The annotator of the labels the data came with.
DATA_ANNOTATOR = "data"
# SQL conditions on an item ``{i}``: nobody annotated it (no annotation, no resolved
# label), nobody holds a lease on it at ``:now``, annotator ``:a`` did not skip it.
_UNANNOTATED = (
    "NOT EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = {i}) "
    "AND NOT EXISTS (SELECT 1 FROM current_labels c WHERE c.item_id = {i})"
)
_NOT_LEASED = "NOT EXISTS (SELECT 1 FROM leases l WHERE l.item_id = {i} AND l.expires > :now)"
_NOT_SKIPPED = (
    "NOT EXISTS (SELECT 1 FROM events s WHERE s.kind = 'skip' "
    "AND s.annotator = :a AND s.item_id = {i})"
)
_OVERLAP_SCALE = 1_000_000_000
_OVERLAP_STEP = 618_033_989  # the golden ratio's fraction, times the scale


def overlap_sql(items: str = "items") -> str:
    """SQL of an item's place in ``[0, 10^9)`` for the overlap: its fallback order
    (a seeded permutation) times the golden ratio, modulo 1, scaled. Items whose place is
    below ``overlap * 10^9`` form the overlap share: spread evenly over the fallback
    order, a fixed set per session, of size ``overlap * N`` (to within a few items)."""
    return f"(({items}.fallback_order * {_OVERLAP_STEP}) % {_OVERLAP_SCALE})"


def _overlap_threshold(overlap: float) -> int:
    if not 0.0 <= overlap <= 1.0:
        raise InvalidInputError(f"overlap must be a share in [0, 1], got {overlap!r}")
    return round(overlap * _OVERLAP_SCALE)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
