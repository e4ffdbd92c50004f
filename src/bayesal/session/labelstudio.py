"""Label Studio interoperability: send a labelling queue out, bring the labels back.

bayesal ranks the unlabelled items of a session by how much the model wants them
labelled. This module turns such a queue into files that `Label Studio
<https://labelstud.io>`_ imports, and reads Label Studio's exports back into label
events. It is pure: no web framework, no database, no network; only the standard
library.

Going out:

* :func:`labelling_config` writes the project's labelling configuration (XML): one
  object tag that shows the item (``Image``, ``Text`` or ``Table``) and one single-choice
  ``Choices`` control with a ``Choice`` per label name.
* :func:`export_tasks` turns :class:`QueueTask` objects into Label Studio's task JSON
  (https://labelstud.io/guide/tasks#Basic-Label-Studio-JSON-format), with the model's
  guess as a *prediction* (pre-annotation, https://labelstud.io/guide/predictions) and
  an item's existing human label as an *annotation*. bayesal's own fields ride in
  ``data``: ``item_id`` (how an export finds its way back), ``bayesal_rank`` and
  ``bayesal_score`` (sort the Data Manager by them).
* :func:`write_tasks` writes that JSON atomically.

Coming back:

* :func:`read_export` reads a Label Studio export, in the ``JSON`` format (a list of
  tasks with their ``annotations``, https://labelstud.io/guide/export#JSON) or the
  ``JSON_MIN`` format (one flat record per annotation,
  https://labelstud.io/guide/export#JSON-MIN), and returns one :class:`ImportedLabel` per
  submitted annotation, oldest first. A session records each as that annotator's
  annotation; its ``resolve`` rule decides the item's label.

Every problem raises :class:`~bayesal.errors.InvalidInputError` (or
:class:`~bayesal.errors.DataNotFoundError` for a missing file) with a message that names
the task or item and says what to do.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from bayesal._atomic import atomic_write_text
from bayesal.errors import DataNotFoundError, InvalidInputError

__all__ = [
    "AUTHOR_KEY",
    "DATA_KEYS",
    "DEFAULT_ANNOTATOR",
    "DEFAULT_FROM_NAME",
    "JSON_MIN_META_KEYS",
    "MAX_EXPORT_BYTES",
    "RESERVED_DATA_KEYS",
    "RESOLVED_KEY",
    "ROLE_KEY",
    "ImportedLabel",
    "Kind",
    "QueueTask",
    "export_tasks",
    "labelling_config",
    "normalise_ref",
    "read_export",
    "write_tasks",
]

#: What Label Studio shows: an image (by URL), a text, or a table row (key/value pairs).
Kind = Literal["image", "table", "text"]

#: The task ``data`` key that the object tag of each kind reads (``value="$image"``, ...).
DATA_KEYS: Mapping[str, str] = {"image": "image", "text": "text", "table": "row"}

#: The name of the ``Choices`` control tag, and so the ``from_name`` of its results.
DEFAULT_FROM_NAME = "label"

#: The annotator of an annotation whose export names nobody (no ``completed_by``).
DEFAULT_ANNOTATOR = "labelstudio"

#: The largest export :func:`read_export` reads from a file (512 MiB). Label Studio's
#: own import limit is far smaller; a bigger file is more likely a mistake.
MAX_EXPORT_BYTES = 512 * 2**20

#: The ``data`` keys :func:`export_tasks` writes itself.
RESERVED_DATA_KEYS = ("item_id", "bayesal_rank", "bayesal_score")

#: The keys Label Studio's JSON_MIN export adds beside a task's data fields (it copies the
#: data, then overwrites these, so a data field with one of these names would be lost).
JSON_MIN_META_KEYS = (
    "id",
    "annotator",
    "annotation_id",
    "created_at",
    "updated_at",
    "lead_time",
    "agreement",
)

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_INT_RE = re.compile(r"^-?[0-9]+$")
_UPLOAD_RE = re.compile(r"/data/upload/[0-9]+/[0-9a-fA-F]{8}-(?P<name>[^/]+)$")
_INT64 = 2**63
_EXACT_FLOAT_INT = 2**53
_SHOW = 10  # how many allowed names an error message lists
_NO_TIME = datetime.min.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------------------
# The labelling configuration
# --------------------------------------------------------------------------------------


def labelling_config(
    label_names: Sequence[str],
    kind: Kind = "image",
    *,
    from_name: str = DEFAULT_FROM_NAME,
    to_name: str | None = None,
) -> str:
    """The Label Studio labelling configuration (XML) for single-choice classification.

    For ``kind="image"`` and the labels ``cat``, ``dog``::

        <View>
          <Image name="image" value="$image"/>
          <Choices name="label" toName="image" choice="single" showInline="true">
            <Choice value="cat"/>
            <Choice value="dog"/>
          </Choices>
        </View>

    The object tag per kind (https://labelstud.io/tags): ``<Image value="$image"/>`` (the
    task's ``data["image"]`` is a URL), ``<Text value="$text"/>`` (``data["text"]`` is the
    text itself), ``<Table value="$row"/>`` (``data["row"]`` is a ``{column: value}``
    mapping, shown as a two-column table). The ``Choices`` control
    (https://labelstud.io/tags/choices) allows one choice per annotation.

    Args:
        label_names: the class names, in class-index order; each becomes a ``Choice``,
            XML-escaped, so any printable text is allowed (no control characters).
        kind: what the annotator sees: ``"image"``, ``"text"`` or ``"table"``.
        from_name: the name of the ``Choices`` tag (the ``from_name`` of its results).
        to_name: the name of the object tag (the ``to_name`` of results); default: the kind.

    Returns:
        The XML text, ending in a newline.

    Raises:
        InvalidInputError: an unknown kind, bad tag names, or bad label names (none,
            duplicates, blank, control characters).
    """
    names = _check_label_names(label_names)
    data_key = _check_kind(kind)
    from_name, to_name = _check_tag_names(kind, from_name, to_name)
    obj_tag = {"image": "Image", "text": "Text", "table": "Table"}[kind]
    lines = [
        "<View>",
        f'  <{obj_tag} name="{_attr(to_name)}" value="${data_key}"/>',
        f'  <Choices name="{_attr(from_name)}" toName="{_attr(to_name)}" choice="single"'
        ' showInline="true">',
        *(f'    <Choice value="{_attr(name)}"/>' for name in names),
        "  </Choices>",
        "</View>",
    ]
    return "\n".join(lines) + "\n"


def _attr(text: str) -> str:
    """``text`` escaped for a double-quoted XML attribute."""
    return escape(text, {'"': "&quot;"})


# --------------------------------------------------------------------------------------
# Tasks going out
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueTask:
    """One item of a labelling queue, as it goes to Label Studio.

    Attributes:
        item_id: the session's integer id of the item (kept in ``data["item_id"]``).
        data: what Label Studio shows, keyed as the labelling config reads it: e.g.
            ``{"image": "/data/local-files/?d=cats/1.png"}`` or ``{"text": "..."}``; for
            tables ``{"row": {column: value, ...}}`` or the row's fields themselves.
        rank: the item's place in the queue, 0 = label first.
        score: the acquisition score (higher = label first), or None.
        predicted: the model's most probable label name, or None.
        predicted_prob: the model's probability of ``predicted``, in ``[0, 1]``, or None.
        label: the item's existing human label, or None.
        annotator: who gave ``label``, or None.
        annotations: every annotation of the item, each ``(label, author, time)``
            (``time`` ISO 8601 or None), ``(label, author, time, role)`` (role
            ``reviewer`` marks a reviewer's decision) or ``(label, author, time, role,
            "resolved")`` (the item's resolved label); when given, these are written
            instead of ``label``.
    """

    item_id: int
    data: Mapping[str, Any]
    rank: int
    score: float | None = None
    predicted: str | None = None
    predicted_prob: float | None = None
    label: str | None = None
    annotator: str | None = None
    annotations: tuple[tuple[str | None, ...], ...] = ()


#: The key of an exported annotation that names its author (Label Studio keeps only its
#: own user ids in ``completed_by``); :func:`read_export` reads it back.
AUTHOR_KEY = "bayesal_annotator"
#: The keys that mark a reviewer's decision and the item's resolved label.
ROLE_KEY = "bayesal_role"
RESOLVED_KEY = "bayesal_resolved"


def export_tasks(
    tasks: Iterable[QueueTask],
    label_names: Sequence[str],
    *,
    kind: Kind = "image",
    from_name: str = DEFAULT_FROM_NAME,
    to_name: str | None = None,
    model_version: str = "bayesal",
) -> list[dict[str, Any]]:
    """Label Studio task JSON for a queue, in rank order, ready to import.

    The format is Label Studio's basic JSON task format with pre-annotations
    (https://labelstud.io/guide/tasks#Basic-Label-Studio-JSON-format,
    https://labelstud.io/guide/predictions). Each task is::

        {"data": {**task.data, "item_id": 12, "bayesal_rank": 0, "bayesal_score": 0.41},
         "predictions": [{"model_version": "bayesal", "score": 0.62,
                          "result": [{"id": "bayesal-p12", "from_name": "label",
                                      "to_name": "image", "type": "choices",
                                      "value": {"choices": ["cat"]}}]}],
         "annotations": [{"result": [...same shape, id "bayesal-a12"...],
                          "was_cancelled": false, "ground_truth": false}]}

    ``predictions`` is there only when ``task.predicted`` is set (its ``score`` only when
    ``predicted_prob`` is a number), ``annotations`` only when ``task.label`` or
    ``task.annotations`` is. No task ``id`` is written: Label Studio numbers imported
    tasks itself. With ``task.annotations``, every annotation is written with its author
    under ``"bayesal_annotator"`` (Label Studio's ``completed_by`` takes only its own user
    ids, and it attributes an imported annotation to the user who imports it; bayesal's
    import reads the author back from this key), its time as ``created_at``, and a
    reviewer's decision with ``"ground_truth": true``.

    Non-finite scores and probabilities (NaN, inf) become JSON ``null``, so the result
    always serialises with ``json.dumps(..., allow_nan=False)``.

    Args:
        tasks: the queue. Ids must be unique.
        label_names: the class names (as given to :func:`labelling_config`).
        kind, from_name, to_name: as for :func:`labelling_config`; use the same values.
            For ``kind="table"`` a ``data`` without a ``"row"`` key is taken as the row
            and wrapped as ``{"row": data}``.
        model_version: the predictions' ``model_version`` (Label Studio filters by it).

    Returns:
        A list of JSON-ready dicts (plain ``int``, ``float``, ``str``, lists, dicts).

    Raises:
        InvalidInputError: a bad id (not an integer, out of int64, repeated), ``data``
            without the key the config reads, ``data`` keys that collide with bayesal's
            or Label Studio's own (``item_id``, ``bayesal_rank``, ``bayesal_score``,
            ``from_name``, the JSON_MIN keys ``id``, ``annotator``, ...), a predicted or
            existing label not in ``label_names``, a probability outside ``[0, 1]``.
    """
    names = _check_label_names(label_names)
    allowed = set(names)
    data_key = _check_kind(kind)
    from_name, to_name = _check_tag_names(kind, from_name, to_name)
    if not isinstance(model_version, str) or not model_version.strip():
        raise InvalidInputError(f"model_version must be a non-empty string, not {model_version!r}")

    queue = list(tasks)
    seen: set[int] = set()
    rows: list[tuple[int, int, dict[str, Any]]] = []
    for position, task in enumerate(queue):
        if not isinstance(task, QueueTask):
            raise InvalidInputError(
                f"tasks[{position}] is a {type(task).__name__}, not a QueueTask"
            )
        item_id = _check_item_id(task.item_id, f"tasks[{position}].item_id")
        where = f"item {item_id}"
        if item_id in seen:
            raise InvalidInputError(f"{where} is in the queue twice; each item goes out once")
        seen.add(item_id)
        rank = _check_int(task.rank, f"{where}: rank")
        data = _task_data(task.data, kind, data_key, from_name, where)
        data["item_id"] = item_id
        data["bayesal_rank"] = rank
        data["bayesal_score"] = _finite_or_none(task.score, f"{where}: score")
        out: dict[str, Any] = {"data": data}
        if task.predicted is not None:
            predicted = _check_choice(task.predicted, allowed, names, f"{where}: predicted")
            prediction: dict[str, Any] = {
                "model_version": model_version,
                "result": [_choice_result(f"bayesal-p{item_id}", from_name, to_name, predicted)],
            }
            prob = _finite_or_none(task.predicted_prob, f"{where}: predicted_prob")
            if prob is not None:
                if not 0.0 <= prob <= 1.0:
                    raise InvalidInputError(
                        f"{where}: predicted_prob {prob!r} is not a probability in [0, 1]"
                    )
                prediction["score"] = prob
            out["predictions"] = [prediction]
        if task.annotations:
            written = []
            for number, entry in enumerate(task.annotations):
                label = _check_choice(entry[0], allowed, names, f"{where}: annotation {number}")
                author = entry[1] if len(entry) > 1 else None
                when = entry[2] if len(entry) > 2 else None
                role = entry[3] if len(entry) > 3 else None
                resolved = len(entry) > 4 and entry[4] == "resolved"
                annotation: dict[str, Any] = {
                    "result": [
                        _choice_result(f"bayesal-a{item_id}-{number}", from_name, to_name, label)
                    ],
                    "was_cancelled": False,
                    "ground_truth": role == "reviewer",
                }
                if author is not None:
                    annotation[AUTHOR_KEY] = str(author)
                if when is not None:
                    annotation["created_at"] = str(when)
                if role == "reviewer":
                    annotation[ROLE_KEY] = "reviewer"
                if resolved:
                    annotation[RESOLVED_KEY] = True
                written.append(annotation)
            out["annotations"] = written
        elif task.label is not None:
            label = _check_choice(task.label, allowed, names, f"{where}: label")
            out["annotations"] = [
                {
                    "result": [_choice_result(f"bayesal-a{item_id}", from_name, to_name, label)],
                    "was_cancelled": False,
                    "ground_truth": False,
                }
            ]
        rows.append((rank, position, out))
    rows.sort(key=lambda row: (row[0], row[1]))
    return [row[2] for row in rows]


def write_tasks(path: str | os.PathLike[str], tasks_json: Sequence[Mapping[str, Any]]) -> Path:
    """Write task JSON (from :func:`export_tasks`) to ``path`` atomically, as UTF-8.

    A reader sees the old file or the whole new one, never a part (see
    :mod:`bayesal._atomic`). Missing parent folders are created.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InvalidInputError: ``tasks_json`` is not a list of objects, or holds something
            JSON cannot carry (NaN, infinity, a set, ...); nothing is written then.
    """
    if isinstance(tasks_json, str | bytes) or not isinstance(tasks_json, Sequence):
        raise InvalidInputError(
            f"tasks_json must be a list of task objects, not {type(tasks_json).__name__}"
        )
    for index, task in enumerate(tasks_json):
        if not isinstance(task, Mapping):
            raise InvalidInputError(
                f"tasks_json[{index}] is a {type(task).__name__}, not a task object"
            )
    try:
        text = json.dumps(
            [dict(task) for task in tasks_json], ensure_ascii=False, allow_nan=False, indent=2
        )
        text.encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"the tasks cannot be written as JSON ({exc}); build them with export_tasks"
        ) from exc
    return atomic_write_text(path, text + "\n")


def _choice_result(result_id: str, from_name: str, to_name: str, choice: str) -> dict[str, Any]:
    return {
        "id": result_id,
        "from_name": from_name,
        "to_name": to_name,
        "type": "choices",
        "value": {"choices": [choice]},
    }


def _task_data(data: Any, kind: str, data_key: str, from_name: str, where: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{where}: data must be a mapping, not {type(data).__name__}")
    for key in data:
        if not isinstance(key, str):
            raise InvalidInputError(f"{where}: data keys must be strings, not {key!r}")
    out = dict(data)
    if kind == "table" and data_key not in out:
        out = {data_key: out}
    if data_key not in out:
        raise InvalidInputError(
            f"{where}: data has no {data_key!r} key, which the {kind} config shows "
            f'(value="${data_key}"); data keys: {sorted(out)}'
        )
    if kind == "table" and not isinstance(out[data_key], Mapping):
        raise InvalidInputError(
            f"{where}: data[{data_key!r}] must be a {{column: value}} mapping for a table"
        )
    clashes = sorted(key for key in out if key in RESERVED_DATA_KEYS or key in JSON_MIN_META_KEYS)
    if from_name in out:
        clashes.append(from_name)
    if clashes:
        raise InvalidInputError(
            f"{where}: data keys {clashes} collide with the keys bayesal or Label Studio "
            f"write ({', '.join(RESERVED_DATA_KEYS)}, the choice name {from_name!r}, "
            f"and JSON_MIN's {', '.join(JSON_MIN_META_KEYS)}); rename them"
        )
    return out


def _finite_or_none(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{what} must be a number or None, not {value!r}")
    number = float(value)
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------------------
# Labels coming back
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedLabel:
    """One submitted annotation read from a Label Studio export.

    Attributes:
        item_id: the session's id of the labelled item.
        label: the chosen label name (one of the ``label_names`` given).
        annotator: who chose it: the Label Studio user's e-mail where the export has it,
            else ``"labelstudio:<user id>"``, else :data:`DEFAULT_ANNOTATOR` (or the
            ``default_annotator`` given).
        time: when the annotation got this label (its ``updated_at``, else
            ``created_at``), ISO 8601 in UTC (``2024-05-02T10:00:00+00:00``), or None.
        source_task: Label Studio's task id, or None.
        role: ``reviewer`` for a reviewer's decision exported by bayesal
            (``"bayesal_role"``), else None.
        resolved: bayesal exported this annotation as the item's resolved label
            (``"bayesal_resolved": true``).
    """

    item_id: int
    label: str
    annotator: str
    time: str | None = None
    source_task: int | None = None
    role: str | None = None
    resolved: bool = False


def normalise_ref(value: str) -> str:
    """The file reference inside a Label Studio data URL, for :func:`read_export`'s
    ``ref_to_id``.

    * Local files storage, ``/data/local-files/?d=<path>`` (with or without a host in
      front): ``<path>``, URL-decoded (``%20`` becomes a space; ``+`` stays ``+``).
    * Uploaded files, ``/data/upload/<project>/<8 hex digits>-<name>``: ``<name>``
      (Label Studio puts 8 hex digits and a hyphen before an uploaded file's name).
    * Anything else: unchanged.

    Backslashes become ``/`` in both file forms.
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"a data reference must be a string, not {value!r}")
    parts = urlsplit(value)
    if parts.path.endswith("/data/local-files/") or parts.path.endswith("/data/local-files"):
        for field in parts.query.split("&"):
            if field.startswith("d="):
                return unquote(field[2:]).replace("\\", "/")
    match = _UPLOAD_RE.search(parts.path)
    if match is not None:
        return unquote(match["name"]).replace("\\", "/")
    return value


def read_export(
    source: str | os.PathLike[str] | Sequence[Any],
    label_names: Sequence[str],
    *,
    from_name: str | None = None,
    ref_to_id: Mapping[str, int] | None = None,
    default_annotator: str = DEFAULT_ANNOTATOR,
    max_bytes: int = MAX_EXPORT_BYTES,
) -> list[ImportedLabel]:
    """The labels in a Label Studio export, one per submitted annotation, oldest first.

    Two export formats are read, and may even be mixed in one list:

    * ``JSON`` (https://labelstud.io/guide/export#JSON): a list of tasks
      ``{"id", "data", "annotations": [{"id", "completed_by", "created_at",
      "updated_at", "was_cancelled", "result": [{"from_name", "to_name",
      "type": "choices", "value": {"choices": [...]}}]}]}`` (the pre-1.0 name
      ``completions`` is read too). A record with an ``annotations`` or ``completions``
      list, or a ``data`` object, is read as a task.
    * ``JSON_MIN`` (https://labelstud.io/guide/export#JSON-MIN): one flat record per
      annotation: the task's data fields, ``id`` (the task), ``annotator``,
      ``annotation_id``, ``created_at``, ``updated_at``, and the choice under the
      ``from_name`` key (a string, or ``{"choices": [...]}`` when several were picked).
      Without ``from_name`` the key ``"label"`` (:data:`DEFAULT_FROM_NAME`) is read.

    Skipped: cancelled (skipped) annotations, annotations with no choice, tasks without
    annotations, and results of other controls (text areas, ratings, ...). Every other
    annotation is kept, so an item labelled twice (two annotators, or one task imported
    twice) gives two labels; they are sorted by time (labels without a time first, in file
    order). A session records each as that annotator's annotation and its ``resolve``
    rule decides the item's label. An annotation's author is read from
    ``"bayesal_annotator"`` (:data:`AUTHOR_KEY`, written by :func:`export_tasks`) before
    ``completed_by``.

    The item of a task is ``data["item_id"]`` (an integer, or a string of digits). Without
    it, ``ref_to_id`` maps the task's file references to item ids. Each string value of
    ``data`` is looked up (1) as is, (2) as :func:`normalise_ref` makes it, (3) with its
    leading folders dropped one at a time, longest first (``pets/cats/1.png``,
    ``cats/1.png``, ``1.png``: so keys relative to the data folder match whatever folder
    Label Studio's document root adds in front), and (4) by its file name alone, when
    exactly one key ends in that name (uploaded files keep only their name). All matching
    values must agree on one item.

    Args:
        source: the export file (a path), or its already parsed list of records.
        label_names: the allowed label names.
        from_name: read only results of this ``Choices`` tag; None: any ``choices``
            result (an error when one annotation holds choices of several tags).
        ref_to_id: file reference -> item id, for tasks without ``data["item_id"]``.
        default_annotator: the annotator of annotations whose export names nobody.
        max_bytes: refuse a file larger than this (default :data:`MAX_EXPORT_BYTES`).

    Raises:
        DataNotFoundError: the file does not exist.
        InvalidInputError: the file is too large, not JSON, not a list of objects; a
            choice not in ``label_names`` (the message names the task and the allowed
            names); several choices in one annotation; a labelled task whose item cannot
            be found (the message names the task and says what to pass).
    """
    names = _check_label_names(label_names)
    allowed = set(names)
    if from_name is not None and (not isinstance(from_name, str) or not from_name):
        raise InvalidInputError(f"from_name must be a non-empty string or None, not {from_name!r}")
    if not isinstance(default_annotator, str) or not default_annotator.strip():
        raise InvalidInputError(
            f"default_annotator must be a non-empty string, not {default_annotator!r}"
        )
    refs = _check_ref_to_id(ref_to_id)
    records, origin = _load_records(source, max_bytes)

    found: list[tuple[datetime, int, ImportedLabel]] = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidInputError(
                f"{origin}: record {index} is a {type(record).__name__}, not an object; "
                "export the project as JSON or JSON_MIN"
            )
        reader = _read_task if _is_full_task(record) else _read_min_record
        for label in reader(record, index, allowed, names, from_name, refs, default_annotator):
            # Labels without a time sort first: nothing says they are the latest.
            moment = _NO_TIME if label.time is None else _parse_time(label.time, "")
            found.append((moment, len(found), label))
    found.sort(key=lambda entry: (entry[0], entry[1]))
    return [entry[2] for entry in found]


def _is_full_task(record: Mapping[str, Any]) -> bool:
    if isinstance(record.get("annotations"), list) or isinstance(record.get("completions"), list):
        return True
    return isinstance(record.get("data"), Mapping)


def _read_task(
    record: Mapping[str, Any],
    index: int,
    allowed: set[str],
    names: Sequence[str],
    from_name: str | None,
    refs: _Refs | None,
    default_annotator: str,
) -> list[ImportedLabel]:
    task_id = _task_id(record.get("id"))
    where = _where(index, task_id)
    data = record.get("data", {})
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{where}: 'data' must be an object, not {type(data).__name__}")
    annotations = record.get("annotations", record.get("completions", []))
    if annotations is None:
        annotations = []
    if not isinstance(annotations, list):
        raise InvalidInputError(f"{where}: 'annotations' must be a list")
    out: list[ImportedLabel] = []
    item_id: int | None = None
    for number, annotation in enumerate(annotations):
        if not isinstance(annotation, Mapping):
            raise InvalidInputError(f"{where}, annotation {number}: must be an object")
        ann_where = f"{where}, annotation {annotation.get('id', number)}"
        if annotation.get("was_cancelled") or annotation.get("skipped"):
            continue
        result = annotation.get("result") or []
        if not isinstance(result, list):
            raise InvalidInputError(f"{ann_where}: 'result' must be a list")
        choice = _choice_from_results(result, from_name, ann_where)
        if choice is None:
            continue
        label = _check_choice(choice, allowed, names, ann_where)
        if item_id is None:
            item_id = _item_of(data, refs, where, ())
        out.append(
            ImportedLabel(
                item_id=item_id,
                label=label,
                annotator=_annotator(
                    annotation.get(AUTHOR_KEY, annotation.get("completed_by")), default_annotator
                ),
                time=_label_time(annotation, ann_where),
                source_task=task_id,
                role="reviewer" if annotation.get(ROLE_KEY) == "reviewer" else None,
                resolved=annotation.get(RESOLVED_KEY) is True,
            )
        )
    return out


def _read_min_record(
    record: Mapping[str, Any],
    index: int,
    allowed: set[str],
    names: Sequence[str],
    from_name: str | None,
    refs: _Refs | None,
    default_annotator: str,
) -> list[ImportedLabel]:
    task_id = _task_id(record.get("id"))
    annotation_id = record.get("annotation_id")
    where = _where(index, task_id)
    if annotation_id is not None:
        where += f", annotation {annotation_id}"
    key = from_name if from_name is not None else DEFAULT_FROM_NAME
    if key not in record:
        return []  # a task without annotations, or an annotation with an empty result
    choices = _min_choices(record[key], where)
    if len(choices) > 1:
        raise _multi_choice_error(where, choices)
    if not choices:
        return []
    label = _check_choice(choices[0], allowed, names, where)
    skip = {key, *JSON_MIN_META_KEYS}
    item_id = _item_of(record, refs, where, skip)
    return [
        ImportedLabel(
            item_id=item_id,
            label=label,
            annotator=_annotator(record.get("annotator"), default_annotator),
            time=_label_time(record, where),
            source_task=task_id,
        )
    ]


def _min_choices(value: Any, where: str) -> list[Any]:
    """The choices in a JSON_MIN value (Label Studio's ``prettify_result``: a lone
    choice as a string, else ``{"choices": [...]}``, or a list of those)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        choices = value.get("choices")
        if not isinstance(choices, list):
            raise InvalidInputError(
                f"{where}: the choice value {value!r} has no 'choices' list; is from_name "
                "the name of a Choices tag?"
            )
        return _distinct(choices)
    if isinstance(value, list):
        out: list[Any] = []
        for part in value:
            out.extend(_min_choices(part, where))
        return _distinct(out)
    if value is None:
        return []
    raise InvalidInputError(f"{where}: the choice value {value!r} is not a label name")


def _choice_from_results(result: list[Any], from_name: str | None, where: str) -> str | None:
    """The one choice of an annotation's results, or None when it has none."""
    tags: set[str] = set()
    choices: list[Any] = []
    for item in result:
        if not isinstance(item, Mapping):
            raise InvalidInputError(f"{where}: a result must be an object, not {item!r}")
        value = item.get("value")
        kind = item.get("type")
        is_choices = kind == "choices" or (
            kind is None and isinstance(value, Mapping) and "choices" in value
        )
        if not is_choices:
            continue
        name = item.get("from_name")
        if from_name is not None and name != from_name:
            continue
        if not isinstance(value, Mapping) or not isinstance(value.get("choices"), list):
            raise InvalidInputError(f"{where}: a choices result without a 'choices' list")
        tags.add(str(name))
        choices.extend(value["choices"])
    if len(tags) > 1:
        raise InvalidInputError(
            f"{where}: choices of several tags {sorted(tags)}; pass from_name= to pick one"
        )
    choices = _distinct(choices)
    if len(choices) > 1:
        raise _multi_choice_error(where, choices)
    if not choices:
        return None
    return str(choices[0])


def _multi_choice_error(where: str, choices: list[Any]) -> InvalidInputError:
    return InvalidInputError(
        f"{where}: several choices {choices!r} in one annotation; bayesal labels are single "
        'choice (use choice="single" in the labelling config, as labelling_config does)'
    )


def _distinct(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def _item_of(
    data: Mapping[str, Any],
    refs: _Refs | None,
    where: str,
    skip: Iterable[str],
) -> int:
    if "item_id" in data and data["item_id"] is not None:
        return _parse_item_id(data["item_id"], where)
    skipped = set(skip) | set(RESERVED_DATA_KEYS)
    values = [v for k, v in data.items() if k not in skipped and isinstance(v, str)]
    if refs is None:
        raise InvalidInputError(
            f"{where}: the task has no data['item_id'], so bayesal cannot tell which item "
            "it is; import tasks exported by bayesal, or pass ref_to_id (file reference "
            "-> item id)"
        )
    ids = {item for item in (refs.lookup(value) for value in values) if item is not None}
    if len(ids) == 1:
        return ids.pop()
    if not ids:
        shown = ", ".join(repr(v) for v in values[:3]) or "none"
        raise InvalidInputError(
            f"{where}: no data['item_id'] and no data value found in ref_to_id (values: "
            f"{shown}; looked up as is, as normalise_ref makes them, and without leading "
            "folders)"
        )
    raise InvalidInputError(
        f"{where}: no data['item_id'] and its data values name several items {sorted(ids)}"
    )


@dataclass(frozen=True)
class _Refs:
    """``ref_to_id`` with an index by file name (the last path component)."""

    ids: Mapping[str, int]
    by_name: Mapping[str, frozenset[int]]

    def lookup(self, value: str) -> int | None:
        """The item of a data value: the value as is, then normalised, then without its
        leading folders (longest first), then by its file name alone when one item has
        that name; None when nothing matches."""
        if value in self.ids:
            return self.ids[value]
        ref = normalise_ref(value)
        parts = [part for part in ref.split("/") if part]
        for candidate in (ref, *("/".join(parts[i:]) for i in range(len(parts)))):
            if candidate in self.ids:
                return self.ids[candidate]
        if parts:
            named = self.by_name.get(parts[-1], frozenset())
            if len(named) == 1:
                return next(iter(named))
        return None


def _parse_item_id(value: Any, where: str) -> int:
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        value = int(value.strip())
    elif isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_FLOAT_INT:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{where}: data['item_id'] {value!r} is not an integer id")
    if not -_INT64 <= value < _INT64:
        raise InvalidInputError(f"{where}: data['item_id'] {value} is outside int64")
    return value


def _annotator(value: Any, default: str) -> str:
    if isinstance(value, Mapping):
        email = value.get("email")
        if isinstance(email, str) and email.strip():
            return email.strip()
        value = value.get("id")
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, int):
        return f"labelstudio:{value}"
    if isinstance(value, str) and value.strip():
        return value.strip()
    return default


def _label_time(annotation: Mapping[str, Any], where: str) -> str | None:
    for key in ("updated_at", "created_at"):
        value = annotation.get(key)
        if value is not None and value != "":
            if not isinstance(value, str):
                raise InvalidInputError(f"{where}: {key} {value!r} is not an ISO 8601 time")
            return _parse_time(value, f"{where}: {key}").isoformat()
    return None


def _parse_time(value: str, where: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{where} {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _task_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        return int(value.strip())
    return None


def _where(index: int, task_id: int | None) -> str:
    return f"record {index} (task {task_id})" if task_id is not None else f"record {index}"


def _load_records(source: Any, max_bytes: int) -> tuple[list[Any], str]:
    if isinstance(source, list | tuple):
        return list(source), "the export"
    if not isinstance(source, str | os.PathLike):
        raise InvalidInputError(
            f"source must be a path to a Label Studio export or its parsed list, not "
            f"{type(source).__name__}"
        )
    path = Path(source)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataNotFoundError(
            f"{path}: no such file; export the Label Studio project as JSON and give its path"
        ) from None
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder; give the export's JSON file")
    if size > max_bytes:
        raise InvalidInputError(
            f"{path} is {size} bytes, over the limit of {max_bytes} bytes for a Label Studio "
            "export; export fewer tasks (a filtered snapshot) or split the file"
        )
    with open(path, "rb") as fh:
        raw = fh.read(max_bytes + 1)
    if len(raw) > max_bytes:  # it grew while we looked
        raise InvalidInputError(f"{path} is over the limit of {max_bytes} bytes")
    try:
        parsed = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not UTF-8 text ({exc})") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "export the project as JSON or JSON_MIN"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError(f"{path} cannot be read as JSON ({exc})") from None
    if not isinstance(parsed, list):
        raise InvalidInputError(
            f"{path} holds a JSON {type(parsed).__name__}, not a list of tasks; Label "
            "Studio's JSON and JSON_MIN exports are lists (a single task file from cloud "
            "storage: wrap it in [ ])"
        )
    return parsed, str(path)


# --------------------------------------------------------------------------------------
# Checks shared by both directions
# --------------------------------------------------------------------------------------


def _check_label_names(label_names: Any) -> tuple[str, ...]:
    if isinstance(label_names, str | bytes) or not isinstance(label_names, Iterable):
        raise InvalidInputError(
            f"label_names must be a list of strings, not {type(label_names).__name__}"
        )
    names = tuple(label_names)
    if not names:
        raise InvalidInputError("label_names is empty; give at least one class name")
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise InvalidInputError(f"label names must be strings, not {name!r}")
        if not name.strip():
            raise InvalidInputError(f"label name {name!r} is blank")
        bad = [ch for ch in name if unicodedata.category(ch) in ("Cc", "Cs")]
        if bad:
            raise InvalidInputError(
                f"label name {name!r} holds control characters or lone surrogates {bad!r}, "
                "which XML and Label Studio cannot carry"
            )
        if name in seen:
            raise InvalidInputError(f"label name {name!r} appears twice in label_names")
        seen.add(name)
    return names


def _check_choice(choice: Any, allowed: set[str], names: Sequence[str], where: str) -> str:
    if not isinstance(choice, str) or choice not in allowed:
        shown = ", ".join(repr(n) for n in names[:_SHOW])
        more = f", ... ({len(names)} in all)" if len(names) > _SHOW else ""
        raise InvalidInputError(
            f"{where}: the label {choice!r} is not one of the session's label names "
            f"({shown}{more}); fix the labelling config's Choice values or the session's "
            "label names"
        )
    return choice


def _check_kind(kind: Any) -> str:
    if kind not in DATA_KEYS:
        raise InvalidInputError(f"kind must be one of {sorted(DATA_KEYS)}, not {kind!r}")
    return DATA_KEYS[kind]


def _check_tag_names(kind: str, from_name: Any, to_name: Any) -> tuple[str, str]:
    to_name = kind if to_name is None else to_name
    for what, value in (("from_name", from_name), ("to_name", to_name)):
        if not isinstance(value, str) or not _NAME_RE.match(value):
            raise InvalidInputError(
                f"{what} {value!r} is not a tag name (a letter or _, then letters, digits, _ . -)"
            )
    if from_name == to_name:
        raise InvalidInputError(f"from_name and to_name must differ (both {from_name!r})")
    return from_name, to_name


def _check_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(f"{what} must be an integer, not {value!r}")
    return int(value)


def _check_item_id(value: Any, what: str) -> int:
    item_id = _check_int(value, what)
    if not -_INT64 <= item_id < _INT64:
        raise InvalidInputError(f"{what} {item_id} is outside int64")
    return item_id


def _check_ref_to_id(ref_to_id: Any) -> _Refs | None:
    if ref_to_id is None:
        return None
    if not isinstance(ref_to_id, Mapping):
        raise InvalidInputError(
            f"ref_to_id must be a mapping of file reference -> item id, not "
            f"{type(ref_to_id).__name__}"
        )
    ids: dict[str, int] = {}
    by_name: dict[str, set[int]] = {}
    for key, value in ref_to_id.items():
        if not isinstance(key, str):
            raise InvalidInputError(f"ref_to_id keys must be strings, not {key!r}")
        ids[key] = _check_item_id(value, f"ref_to_id[{key!r}]")
        name = key.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        by_name.setdefault(name, set()).add(ids[key])
    return _Refs(ids, {name: frozenset(items) for name, items in by_name.items()})
