"""Labels in and out of a session: CSV, Parquet and Label Studio.

``export_labels`` writes the current labels (one row per labelled item: ``item_id``,
``ref``, ``label``, ``label_index``, ``annotator``, ``time`` in ISO 8601 UTC,
``source``) as CSV or Parquet, or the session as Label Studio tasks: the current ranked
queue with the model's predictions and scores, and every labelled item with its label
as an annotation, so that an export read back by ``import_labels`` loses nothing.

``import_labels`` reads labels from a CSV (columns ``item_id`` or ``ref``, and
``label``: a name or an index; optional ``annotator``) or from a Label Studio JSON
export, checks every row first (unknown items or labels: nothing is imported, the error
names the rows), then records them as label events in one transaction. A label equal to
the item's current label is not recorded again, so importing a file twice is harmless.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from bayesal._atomic import atomic_write, atomic_write_text
from bayesal.errors import DataNotFoundError, InvalidInputError
from bayesal.session.session import LabellingSession
from bayesal.session.store import check_name

if TYPE_CHECKING:
    from bayesal.session.labelstudio import Kind

__all__ = ["EXPORT_FORMATS", "ImportSummary", "export_labels", "import_labels", "labels_frame"]

EXPORT_FORMATS = ("csv", "parquet", "label-studio")
#: The largest file ``import_labels`` reads.
MAX_IMPORT_BYTES = 512 * 2**20
#: Label Studio's prefix for files served from local storage (its ``?d=`` parameter is
#: the path relative to ``LOCAL_FILES_DOCUMENT_ROOT``).
LOCAL_FILES_PREFIX = "/data/local-files/?d="
_SHOW = 5


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).isoformat()


def _parse_time(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    try:
        stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp()


def labels_frame(session: LabellingSession) -> pd.DataFrame:
    """The current labels, one row per labelled item, ordered by item id."""
    rows = session.store.conn.execute(
        "SELECT c.item_id, i.ref, c.label, e.annotator, e.time, e.source "
        "FROM current_labels c JOIN items i ON i.item_id = c.item_id "
        "JOIN events e ON e.event_id = c.event_id ORDER BY c.item_id"
    ).fetchall()
    names = session.label_names
    return pd.DataFrame(
        {
            "item_id": pd.Series([r[0] for r in rows], dtype="int64"),
            "ref": [r[1] for r in rows],
            "label": [names[r[2]] for r in rows],
            "label_index": pd.Series([r[2] for r in rows], dtype="int64"),
            "annotator": [r[3] for r in rows],
            "time": [_iso(r[4]) for r in rows],
            "source": [r[5] for r in rows],
        }
    )


def _task_data(session: LabellingSession, item_id: int, ref: str, prefix: str) -> dict[str, Any]:
    if session.item_kind == "image":
        return {"image": prefix + ref}
    return dict(session.item_fields(item_id))


def export_labels(
    session: LabellingSession,
    out: str | Path,
    format: Literal["csv", "parquet", "label-studio"] = "csv",
    *,
    image_prefix: str = LOCAL_FILES_PREFIX,
) -> Path:
    """Write the session's labels (or Label Studio tasks) to ``out``, atomically.

    Raises:
        InvalidInputError: an unknown format.
        DataNotFoundError: Parquet without pyarrow installed.
    """
    out = Path(out)
    if format == "csv":
        frame = labels_frame(session)
        return atomic_write_text(out, frame.to_csv(index=False))
    if format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise DataNotFoundError(
                "writing Parquet needs pyarrow: pip install 'bayesal[parquet]'"
            ) from None
        frame = labels_frame(session)
        return atomic_write(out, lambda fh: frame.to_parquet(fh, index=False))
    if format == "label-studio":
        from bayesal.session.labelstudio import QueueTask, export_tasks

        kind: Kind = "image" if session.item_kind == "image" else "table"
        names = session.label_names
        labelled = labels_frame(session)
        # A queued item may have been labelled since the queue was ranked: keep its label.
        current = {
            int(row.item_id): (str(row.label), str(row.annotator))
            for row in labelled.itertuples(index=False)
        }
        tasks = []
        for entry in session.store.queue():
            item_id, ref, _ = session.check_item(entry.item_id)
            label, annotator = current.get(item_id, (None, None))
            tasks.append(
                QueueTask(
                    item_id=item_id,
                    data=_task_data(session, item_id, ref, image_prefix),
                    rank=entry.rank,
                    score=entry.score,
                    predicted=None if entry.predicted is None else names[entry.predicted],
                    predicted_prob=entry.predicted_prob,
                    label=label,
                    annotator=annotator,
                )
            )
        queued = {t.item_id for t in tasks}
        for row in labelled.itertuples(index=False):
            if int(row.item_id) in queued:
                continue
            tasks.append(
                QueueTask(
                    item_id=int(row.item_id),
                    data=_task_data(session, int(row.item_id), str(row.ref), image_prefix),
                    rank=len(tasks),
                    score=None,
                    predicted=None,
                    predicted_prob=None,
                    label=str(row.label),
                    annotator=str(row.annotator),
                )
            )
        return atomic_write_text(
            out, json.dumps(export_tasks(tasks, names, kind=kind), indent=1, allow_nan=False)
        )
    raise InvalidInputError(f"unknown export format {format!r}; use one of {EXPORT_FORMATS}")


@dataclass(frozen=True)
class ImportSummary:
    """What ``import_labels`` did: label events recorded, rows equal to the current
    label (not recorded again)."""

    recorded: int
    unchanged: int


def _csv_rows(session: LabellingSession, path: Path) -> list[tuple[int, int, str | None, Any]]:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: not a readable CSV ({exc})") from None
    if "label" not in frame.columns or not ({"item_id", "ref"} & set(frame.columns)):
        raise InvalidInputError(
            f"{path}: needs a 'label' column and an 'item_id' or 'ref' column; it has "
            f"{list(frame.columns)[:20]}"
        )
    rows, bad = [], []
    for n, record in enumerate(frame.to_dict("records")):
        try:
            if str(record.get("item_id", "")).strip():
                item_id = session.check_item(str(record["item_id"]))[0]
            else:
                found = session.store.item_by_ref(str(record.get("ref", "")))
                if found is None:
                    raise InvalidInputError(f"no item with ref {record.get('ref')!r}")
                item_id = found
            label = session.label_index(str(record["label"]))
            annotator = record.get("annotator")
            annotator = check_name(annotator) if annotator else None  # a bad one names its row
            rows.append((item_id, label, annotator, _parse_time(record.get("time"))))
        except InvalidInputError as exc:
            bad.append(f"row {n + 2}: {exc}")
    if bad:
        more = f" (and {len(bad) - _SHOW} more)" if len(bad) > _SHOW else ""
        raise InvalidInputError(f"{path}: nothing imported; " + "; ".join(bad[:_SHOW]) + more)
    return rows


def _label_studio_rows(
    session: LabellingSession, path: Path
) -> list[tuple[int, int, str | None, Any]]:
    from bayesal.session.labelstudio import read_export

    refs = {ref: item_id for item_id, ref, _ in session.store.items()}
    imported = read_export(path, session.label_names, ref_to_id=refs)
    rows: list[tuple[int, int, str | None, Any]] = []
    for label in imported:
        item_id = session.check_item(label.item_id)[0]
        rows.append(
            (item_id, session.label_index(label.label), label.annotator, _parse_time(label.time))
        )
    return rows


def import_labels(
    session: LabellingSession, path: str | Path, *, annotator: str | None = None
) -> ImportSummary:
    """Import labels from a CSV or a Label Studio JSON export (``.json``).

    ``annotator`` names the annotator of rows that name none (default: ``import``).

    Raises:
        DataNotFoundError: no such file.
        InvalidInputError: a file too large, unreadable, or with an unknown item or
            label (nothing is imported then).
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path} does not exist")
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise InvalidInputError(f"{path} is larger than {MAX_IMPORT_BYTES // 2**20} MiB")
    default = check_name(annotator) if annotator is not None else "import"
    if path.suffix.lower() == ".json":
        rows = _label_studio_rows(session, path)
    else:
        rows = _csv_rows(session, path)
    current = session.labels()
    # An item whose last label in the file is its label now is settled: none of its rows
    # is recorded again (so a file that labels an item twice imports twice harmlessly).
    last = {item_id: label for item_id, label, _, _ in rows}
    settled = {item_id for item_id, label in last.items() if current.get(item_id) == label}
    events, times, unchanged = [], [], 0
    for item_id, label, who, when in rows:
        if item_id in settled or current.get(item_id) == label:
            unchanged += 1
            continue
        current[item_id] = label
        events.append((item_id, label, check_name(who) if who else default))
        times.append(when)
    source = check_name(f"import:{path.name}"[:100], "source")
    if events:
        session.store.add_labels(events, source=source, times=times, shown=False)
    return ImportSummary(recorded=len(events), unchanged=unchanged)
