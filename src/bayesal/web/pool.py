"""Read-only views of a session's pool for the web app: which item an annotator is
likely to be given after the one they hold (for prefetching), and the model's
predictions per item (for browsing, and the yes/no mode's candidates).

These are hints and lists, never leases: nothing here writes. The lease itself is
always taken by the store (:meth:`bayesal.session.store.SessionStore.lease_next` or
:meth:`~bayesal.session.store.SessionStore.hold`), so a hint that turns out wrong (the
queue was re-ranked, another annotator took the item) only costs a prefetch.
"""

from __future__ import annotations

import sqlite3

from bayesal.session.store import QueueEntry, SessionStore

__all__ = ["peek_after", "pool_prediction", "predictions"]


def peek_after(store: SessionStore, annotator: str, exclude: int | None = None) -> int | None:
    """The item the store would most likely lease to ``annotator`` next, once the item it
    holds now is labelled: the first free queue item of the current round that the
    annotator did not skip, else the first such item in the fallback order. ``exclude``
    (the held item) is never returned. None when there is nothing else.

    :meth:`SessionStore.peek_next`: the query of :meth:`SessionStore.lease_next` for
    items nobody annotated, read without a lease (a hint for prefetching; the lease is
    taken when the item is asked for). With ``overlap``, the store first serves items one
    other annotator labelled: those are not foreseen here, so their images are not loaded
    ahead."""
    return store.peek_next(annotator, exclude)


def predictions(store: SessionStore) -> dict[int, QueueEntry]:
    """The model's prediction per item of the current round: ``item_id -> entry``
    (predicted class, its probability, BALD uncertainty, score, rank). Only items the
    round ranked have one: the first ``queue_size`` (set ``queue_size`` to the pool's
    size to have every item predicted). Empty before the first model."""
    return {entry.item_id: entry for entry in store.queue() if entry.predicted is not None}


def pool_prediction(
    store: SessionStore, item_id: int
) -> tuple[int, float | None, float | None, int] | None:
    """The latest round's prediction of one item from the predictions of the whole pool
    (recorded at each retrain): ``(predicted class, probability, uncertainty, round)``,
    or None (no trained round yet, or a session without that table)."""
    try:
        row = store.conn.execute(
            "SELECT predicted, prob, uncertainty, round FROM predictions WHERE item_id = ?",
            (int(item_id),),
        ).fetchone()
    except sqlite3.OperationalError:  # an older session file, before the table
        return None
    if row is None or row[0] is None:
        return None
    return int(row[0]), row[1], row[2], int(row[3])
