"""Labels in and out of a session: CSV, Parquet and Label Studio.

``export_labels`` writes the current labels (one row per labelled item: ``item_id``,
``ref``, ``label``, ``label_index``, ``annotator``, ``time`` in ISO 8601 UTC,
``source``) as CSV or Parquet, or the session as Label Studio tasks: the current ranked
queue with the model's predictions and scores, and every labelled item with its label
as an annotation, so that an export read back by ``import_labels`` loses nothing.

CSV cells that a spreadsheet would run as a formula (text beginning with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) are written with a single quote in front, as
spreadsheet-safe CSV writers do (a cell that begins with a quote and then one of those,
or a second quote, gets one more quote, so that ``import_labels`` reads every cell back
exactly). The Label Studio export also writes the project's labelling config beside the
tasks (:func:`labelling_config_path`).

``import_labels`` reads labels from a CSV (columns ``item_id`` or ``ref``, and
``label``: a name or an index; optional ``annotator`` and ``time``, ISO 8601) or from a
Label Studio JSON export, checks every row first (unknown items or labels, bad times,
two different labels for one item by one annotator: nothing is imported, the error
names the rows), then records them as label events in one transaction. Rows repeated
exactly count once; a file may hold at most :func:`max_import_rows` rows (20 per item
of the session, at least 1,000). A label equal to the item's label now, or to the
annotator's own annotation of it, is not recorded again, so importing a file twice is
harmless. An item labelled by another annotator keeps that label (the imported one is
kept beside it as an annotation) unless ``correct=True``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
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

__all__ = [
    "EXPORT_FORMATS",
    "ImportSummary",
    "export_labels",
    "import_labels",
    "labelling_config_path",
    "labels_frame",
    "max_import_rows",
]

EXPORT_FORMATS = ("csv", "parquet", "label-studio")
#: The largest file ``import_labels`` reads.
MAX_IMPORT_BYTES = 512 * 2**20
#: Label Studio's prefix for files served from local storage (its ``?d=`` parameter is
#: the path relative to ``LOCAL_FILES_DOCUMENT_ROOT``).
LOCAL_FILES_PREFIX = "/data/local-files/?d="
_SHOW = 5
#: Rows an import may hold per item of the session, and at least.
ROWS_PER_ITEM = 20
MIN_IMPORT_ROWS = 1000
#: The first characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def max_import_rows(num_items: int) -> int:
    """The most rows an import into a session of ``num_items`` items may hold."""
    return max(ROWS_PER_ITEM * int(num_items), MIN_IMPORT_ROWS)


def spreadsheet_safe(value: str) -> str:
    """``value`` as a CSV cell no spreadsheet runs: a single quote in front of text that
    begins with ``= + - @``, a tab or a carriage return, or with a quote followed by one
    of those or a quote (so that :func:`from_spreadsheet_safe` undoes it exactly). A
    plain number (``-0.5``, ``+3``, ``1e-3``: a regression label) is no formula and stays
    as it is."""
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    if value.startswith(FORMULA_STARTS) or (
        value.startswith("'") and value[1:2] != "" and value[1:2] in (*FORMULA_STARTS, "'")
    ):
        return "'" + value
    return value


def from_spreadsheet_safe(value: str) -> str:
    """The cell :func:`spreadsheet_safe` was given (a cell it did not change is kept)."""
    if value.startswith("'") and value[1:2] != "" and value[1:2] in (*FORMULA_STARTS, "'"):
        return value[1:]
    return value


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).isoformat()


def _parse_time(value: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (UTC when it names no zone); None for
    an empty cell.

    Raises:
        InvalidInputError: not an ISO 8601 time.
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"time {text[:100]!r} is not an ISO 8601 time (e.g. 2024-05-01T12:00:00Z)"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp()


def label_cell(session: LabellingSession, label: int | None, value: float | None) -> str:
    """A stored label as a table cell: the class name; multi-label: the class names in
    class order joined by commas (empty: none of them); regression: the number (``repr``,
    so that it reads back exactly)."""
    shown = session.display_label(value if label is None else label)
    if isinstance(shown, list):
        return ",".join(shown)
    return repr(shown) if isinstance(shown, float) else str(shown)


def labels_frame(session: LabellingSession) -> pd.DataFrame:
    """The resolved labels, one row per item with a resolved label (items in conflict
    have none), ordered by item id: ``item_id``, ``ref``, ``label``, ``label_index``
    (classification only), ``annotator`` (whose event set it: a reviewer's for a
    decision), ``time``, ``source``."""
    rows = session.store.conn.execute(
        "SELECT c.item_id, i.ref, c.label, c.value, e.annotator, e.time, e.source "
        "FROM current_labels c JOIN items i ON i.item_id = c.item_id "
        "JOIN events e ON e.event_id = c.event_id ORDER BY c.item_id"
    ).fetchall()
    columns: dict[str, Any] = {
        "item_id": pd.Series([r[0] for r in rows], dtype="int64"),
        "ref": [r[1] for r in rows],
        "label": [label_cell(session, r[2], r[3]) for r in rows],
    }
    if session.task == "classification":
        columns["label_index"] = pd.Series([r[2] for r in rows], dtype="int64")
    columns["annotator"] = [r[4] for r in rows]
    columns["time"] = [_iso(r[5]) for r in rows]
    columns["source"] = [r[6] for r in rows]
    return pd.DataFrame(columns)


def annotations_frame(session: LabellingSession) -> pd.DataFrame:
    """One row per annotation (each annotator's annotation of each item, and each
    reviewer decision in force), ordered by item and event: ``item_id``, ``annotator``,
    ``label``, ``time``, ``role`` (``annotator`` or ``reviewer``), ``unsure`` (bool),
    ``comment`` (the annotator's latest note on the item; empty when none),
    ``event_id``, ``source``, ``ref``."""
    rows = session.store.conn.execute(
        "SELECT e.item_id, e.annotator, e.label, e.value, e.time, e.role, e.event_id, "
        "e.source, i.ref FROM events e JOIN items i ON i.item_id = e.item_id "
        "WHERE e.event_id IN (SELECT event_id FROM annotations) OR (e.role = 'reviewer' "
        "AND e.event_id IN (SELECT event_id FROM current_labels)) "
        "ORDER BY e.item_id, e.event_id"
    ).fetchall()
    notes = {(n["item_id"], n["annotator"]): n for n in session.store.notes()}
    empty: dict[str, Any] = {}
    return pd.DataFrame(
        {
            "item_id": pd.Series([r[0] for r in rows], dtype="int64"),
            "annotator": [r[1] for r in rows],
            "label": [label_cell(session, r[2], r[3]) for r in rows],
            "time": [_iso(r[4]) for r in rows],
            "role": [r[5] or "annotator" for r in rows],
            "unsure": pd.Series(
                [bool(notes.get((r[0], r[1]), empty).get("unsure")) for r in rows], dtype=bool
            ),
            "comment": [notes.get((r[0], r[1]), empty).get("comment") or "" for r in rows],
            "event_id": pd.Series([r[6] for r in rows], dtype="int64"),
            "source": [r[7] for r in rows],
            "ref": [r[8] for r in rows],
        }
    )


def negatives_frame(session: LabellingSession) -> pd.DataFrame:
    """One row per negative observation ("this item is not that class"), oldest first:
    ``item_id``, ``label`` (the class it is not), ``annotator``, ``time``, ``source``."""
    rows = session.store.negatives()
    return pd.DataFrame(
        {
            "item_id": pd.Series([r["item_id"] for r in rows], dtype="int64"),
            "label": [session.label_names[r["label"]] for r in rows],
            "annotator": [r["annotator"] for r in rows],
            "time": [_iso(r["time"]) for r in rows],
            "source": [r["source"] for r in rows],
        }
    )


_FRAMES = {"labels": labels_frame, "annotations": annotations_frame, "negatives": negatives_frame}


def _task_data(session: LabellingSession, item_id: int, ref: str, prefix: str) -> dict[str, Any]:
    if session.item_kind == "image":
        return {"image": prefix + ref}
    return dict(session.item_fields(item_id))


def labelling_config_path(out: str | Path) -> Path:
    """Where a Label Studio export to ``out`` writes the project's labelling config:
    beside it, ``tasks.json`` -> ``tasks.labelling.xml``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.labelling.xml")


def export_labels(
    session: LabellingSession,
    out: str | Path,
    format: Literal["csv", "parquet", "label-studio"] = "csv",
    *,
    image_prefix: str = LOCAL_FILES_PREFIX,
    what: Literal["labels", "annotations", "negatives"] = "labels",
) -> Path:
    """Write the session's labels (or Label Studio tasks) to ``out``, atomically.

    ``what`` (CSV and Parquet): ``labels``, the resolved label per item
    (:func:`labels_frame`); ``annotations``, one row per annotation
    (:func:`annotations_frame`); ``negatives``, the negative observations
    (:func:`negatives_frame`). CSV cells are spreadsheet-safe (see the module
    docstring). ``label-studio`` writes every item of the queue and every annotated item
    with each annotation and its author, and the labelling config (XML: the item and a
    single-choice ``Choices`` of the session's labels) to :func:`labelling_config_path`.

    Raises:
        InvalidInputError: an unknown format or ``what``; ``label-studio`` of a
            multi-label or regression session, or with ``what`` other than labels.
        DataNotFoundError: Parquet without pyarrow installed.
    """
    if session.task == "segmentation":
        raise InvalidInputError(
            "a segmentation session's labels are masks: use "
            "export_masks (`bayesal session export-masks`)"
        )
    out = Path(out)
    if what not in _FRAMES:
        raise InvalidInputError(f"unknown export {what!r}; use one of {sorted(_FRAMES)}")
    if format == "csv":
        frame = _FRAMES[what](session)
        for column in ("ref", "label", "annotator", "time", "source", "role", "comment"):
            if column in frame.columns:
                frame[column] = [spreadsheet_safe(str(v)) for v in frame[column]]
        return atomic_write_text(out, frame.to_csv(index=False))
    if format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise DataNotFoundError(
                "writing Parquet needs pyarrow: pip install 'bayesal[parquet]'"
            ) from None
        frame = _FRAMES[what](session)
        return atomic_write(out, lambda fh: frame.to_parquet(fh, index=False))
    if format == "label-studio":
        if what != "labels":
            raise InvalidInputError(
                "the Label Studio export carries every annotation already; --annotations "
                "and --negatives are CSV or Parquet exports"
            )
        if session.task != "classification":
            raise InvalidInputError(
                f"the Label Studio export writes single-choice tasks; this session's task "
                f"is {session.task}: export CSV or Parquet"
            )
        from bayesal.session.labelstudio import QueueTask, export_tasks, labelling_config

        kind: Kind = "image" if session.item_kind == "image" else "table"
        names = session.label_names
        # Every annotation of every annotated item, with its author and time.
        # The resolved label's annotation first, and marked: imported back, a reviewer's
        # decision stays one and a corrected label stays corrected (resolve: first).
        resolved = {e for _, e in session.store.resolved().values()}
        given: dict[int, list[tuple[str | None, ...]]] = {}
        refs: dict[int, str] = {}
        frame = annotations_frame(session)
        frame = frame.assign(first=~frame["event_id"].isin(resolved)).sort_values(
            ["item_id", "first", "event_id"], kind="stable"
        )
        for row in frame.itertuples(index=False):
            given.setdefault(int(row.item_id), []).append(
                (
                    str(row.label),
                    str(row.annotator),
                    str(row.time),
                    str(row.role),
                    "" if row.first else "resolved",
                )
            )
            refs[int(row.item_id)] = str(row.ref)
        tasks = []
        for entry in session.store.queue():
            item_id, ref, _ = session.check_item(entry.item_id)
            tasks.append(
                QueueTask(
                    item_id=item_id,
                    data=_task_data(session, item_id, ref, image_prefix),
                    rank=entry.rank,
                    score=entry.score,
                    predicted=None if entry.predicted is None else names[entry.predicted],
                    predicted_prob=entry.predicted_prob,
                    annotations=tuple(given.get(item_id, ())),
                )
            )
        queued = {t.item_id for t in tasks}
        for item_id, annotations in given.items():
            if item_id in queued:
                continue
            tasks.append(
                QueueTask(
                    item_id=item_id,
                    data=_task_data(session, item_id, refs[item_id], image_prefix),
                    rank=len(tasks),
                    annotations=tuple(annotations),
                )
            )
        text = json.dumps(export_tasks(tasks, names, kind=kind), indent=1, allow_nan=False)
        atomic_write_text(labelling_config_path(out), labelling_config(names, kind))
        return atomic_write_text(out, text)
    raise InvalidInputError(f"unknown export format {format!r}; use one of {EXPORT_FORMATS}")


@dataclass(frozen=True)
class ImportSummary:
    """What ``import_labels`` did: label events recorded; rows equal to the item's label
    or to the annotator's own annotation (not recorded again); rows that repeat an
    earlier row exactly (counted once); and of the recorded, those kept as annotations
    beside another annotator's label (the item's label did not change)."""

    recorded: int
    unchanged: int
    duplicates: int = 0
    kept: int = 0


@dataclass(frozen=True)
class _Row:
    line: str  # "row 3" (CSV, counting the header as row 1) or "record 2 (task 7)"
    item_id: int
    label: int | float
    annotator: str | None
    time: float | None
    role: str | None = None
    resolved: bool = False


def _fail(path: Path, bad: list[str]) -> InvalidInputError:
    more = f" (and {len(bad) - _SHOW} more)" if len(bad) > _SHOW else ""
    return InvalidInputError(f"{path}: nothing imported; " + "; ".join(bad[:_SHOW]) + more)


def _csv_rows(session: LabellingSession, path: Path) -> list[_Row]:
    limit = max_import_rows(session.store.num_items())
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=limit + 1)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: not a readable CSV ({exc})") from None
    if len(frame) > limit:
        raise InvalidInputError(
            f"{path}: nothing imported; more than {limit} rows for a session of "
            f"{session.store.num_items()} items (at most {ROWS_PER_ITEM} rows per item, at "
            f"least {MIN_IMPORT_ROWS}): is it the right file? Split it, or remove repeats"
        )
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
                ref = from_spreadsheet_safe(str(record.get("ref", "")))
                found = session.store.item_by_ref(ref)
                if found is None:
                    raise InvalidInputError(f"no item with ref {ref[:200]!r}")
                item_id = found
            label = session.label_value(from_spreadsheet_safe(str(record["label"])))
            given = from_spreadsheet_safe(str(record.get("annotator") or ""))
            who = check_name(given) if given else None  # a bad one names its row
            when = _parse_time(record.get("time"))
            rows.append(_Row(f"row {n + 2}", item_id, label, who, when))
        except InvalidInputError as exc:
            bad.append(f"row {n + 2}: {exc}")
    if bad:
        raise _fail(path, bad)
    return rows


def _label_studio_rows(session: LabellingSession, path: Path) -> list[_Row]:
    from bayesal.session.labelstudio import read_export

    if session.task != "classification":
        raise InvalidInputError(
            f"{path}: Label Studio exports hold single-choice labels; this session's task is "
            f"{session.task}: import a CSV (item_id, label) instead"
        )
    refs = {ref: item_id for item_id, ref, _ in session.store.items()}
    imported = read_export(path, session.label_names, ref_to_id=refs)
    limit = max_import_rows(session.store.num_items())
    if len(imported) > limit:
        raise InvalidInputError(
            f"{path}: nothing imported; {len(imported)} annotations for a session of "
            f"{session.store.num_items()} items (at most {ROWS_PER_ITEM} per item, at least "
            f"{MIN_IMPORT_ROWS}): is it the right file?"
        )
    rows: list[_Row] = []
    bad = []
    for n, label in enumerate(imported):
        where = f"annotation {n + 1} (task {label.source_task})"
        try:
            item_id = session.check_item(label.item_id)[0]
            annotator = check_name(label.annotator)  # refused whole, never cut
            rows.append(
                _Row(
                    where,
                    item_id,
                    session.label_index(label.label),
                    annotator,
                    _parse_time(label.time),
                    label.role,
                    label.resolved,
                )
            )
        except InvalidInputError as exc:
            bad.append(f"{where}: {exc}")
    if bad:
        raise _fail(path, bad)
    return rows


def import_labels(
    session: LabellingSession,
    path: str | Path,
    *,
    annotator: str | None = None,
    correct: bool = False,
) -> ImportSummary:
    """Import labels from a CSV or a Label Studio JSON export (``.json``).

    ``annotator`` names the annotator of rows that name none (default: ``import``).
    Each annotator gives one label per item: two different labels for one item by one
    annotator are refused, naming the item and the rows; rows repeated exactly count
    once. Rows by several annotators for one item are each kept as that annotator's
    annotation; the item's label is the one it has (or the first row's), unless
    ``correct=True``: then the file's label replaces another annotator's, recorded as a
    correction.

    Raises:
        DataNotFoundError: no such file.
        InvalidInputError: a file too large or with too many rows (see
            :func:`max_import_rows`), unreadable, with an unknown item or label, a bad
            time or conflicting rows (nothing is imported then).
    """
    if session.task == "segmentation":
        raise InvalidInputError(
            "a segmentation session's labels are masks: use "
            "import_masks (`bayesal session import-masks`)"
        )
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
    if correct and session.config.resolve != "first":
        raise InvalidInputError(
            f"resolve: {session.config.resolve}: imported labels are added as annotations; "
            "--correct (replacing another annotator's label) works with resolve: first only"
        )

    def shown(label: int | float) -> object:
        return session.display_label(label)

    # One label per item and annotator: a repeat counts once, a different one is refused.
    first: dict[tuple[int, str], _Row] = {}
    unique: list[tuple[_Row, str]] = []
    conflicts: list[str] = []
    duplicates = 0
    for row in rows:
        who = row.annotator or default
        seen = first.get((row.item_id, who))
        if seen is None:
            first[(row.item_id, who)] = row
            unique.append((row, who))
        elif seen.label == row.label:
            duplicates += 1
        else:
            conflicts.append(
                f"item {row.item_id}: {seen.line} gives {shown(seen.label)!r} and {row.line} "
                f"gives {shown(row.label)!r} (annotator {who!r})"
            )
    if correct:  # corrections replace labels: two of them for one item would race
        by_item: dict[int, _Row] = {}
        for row, _ in unique:
            seen = by_item.setdefault(row.item_id, row)
            if seen.label != row.label:
                conflicts.append(
                    f"item {row.item_id}: {seen.line} gives {shown(seen.label)!r} and "
                    f"{row.line} gives {shown(row.label)!r} (with --correct, one label per item)"
                )
    if conflicts:
        raise InvalidInputError(
            f"{path}: nothing imported; conflicting labels, one annotator gives one label "
            "per item: "
            + "; ".join(conflicts[:_SHOW])
            + (f" (and {len(conflicts) - _SHOW} more)" if len(conflicts) > _SHOW else "")
        )
    current = {i: v for i, (v, _) in session.store.resolved().items()}
    own = session.store.annotations()
    events, times, unchanged = [], [], 0
    roles: list[str | None] = []
    corrections: list[bool] = []
    # A bayesal Label Studio export marks the item's resolved label: with resolve: first
    # it is recorded as a correction (so a corrected label stays corrected).
    keep_resolved = session.config.resolve == "first"
    for row, who in unique:
        if current.get(row.item_id) == row.label or own.get((row.item_id, who)) == row.label:
            unchanged += 1
            continue
        events.append((row.item_id, row.label, who))
        times.append(row.time)
        roles.append(row.role)
        corrections.append(correct or (row.resolved and keep_resolved and row.role is None))
    source = check_name(f"import:{path.name}"[:100], "source")
    kept = 0
    if events:
        recorded = session.store.add_labels(
            events,
            source=source,
            times=times,
            shown=False,
            roles=roles,
            corrections=corrections,
        )
        now = session.store.current_labels()
        kept = sum(now.get(e.item_id, (None, None))[1] != e.event_id for e in recorded)
    return ImportSummary(
        recorded=len(events), unchanged=unchanged, duplicates=duplicates, kept=kept
    )
