"""Browsing the pool: the filters of ``GET /api/items`` and ``/browse``, checked, and the
query that answers them (read-only SQL over the session's tables: items, the latest
round's predictions of the whole pool, annotations, resolved labels, notes).

Every query parameter is checked: an unknown name, a value of the wrong type or out of
range, an unknown class name is an :class:`~bayesal.errors.InvalidInputError` naming the
parameter (HTTP 422). An empty value means "not set" (what an HTML form sends for a
field left blank).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bayesal.errors import InvalidInputError
from bayesal.session.session import LabellingSession
from bayesal.session.store import MAX_NAME, check_name

__all__ = ["BROWSE_PARAMS", "MAX_LIMIT", "Filters", "browse", "parse_filters"]

#: The most items one browse request returns.
MAX_LIMIT = 500
SORTS = ("uncertainty", "probability", "id")
ORDERS = ("desc", "asc")
BROWSE_PARAMS = frozenset(
    {
        "predicted",
        "min_prob",
        "max_prob",
        "min_uncertainty",
        "max_uncertainty",
        "labelled",
        "annotator",
        "q",
        "unsure",
        "sort",
        "order",
        "limit",
        "offset",
    }
)


@dataclass(frozen=True)
class Filters:
    """What to show: ``predicted`` (a class name the model predicts), probability and
    uncertainty (BALD, nats) ranges, ``labelled`` (annotated or resolved; None: either),
    ``annotator`` (items that annotator labelled), ``q`` (text in the item's ref, any
    case), ``unsure`` (someone's latest note flags it unsure), the order and the page."""

    predicted: str | None = None
    min_prob: float | None = None
    max_prob: float | None = None
    min_uncertainty: float | None = None
    max_uncertainty: float | None = None
    labelled: bool | None = None
    annotator: str | None = None
    q: str | None = None
    unsure: bool | None = None
    sort: str = "uncertainty"
    order: str = "desc"
    limit: int = 48
    offset: int = 0

    def query(self) -> dict[str, str]:
        """The filters as query parameters (those set, and the order and page)."""
        out: dict[str, str] = {}
        for name in BROWSE_PARAMS:
            value = getattr(self, name)
            if value is None:
                continue
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return out


def _number(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInputError(f"{name} must be a number, got {raw[:50]!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidInputError(f"{name} must be between {low:g} and {high:g}, got {raw[:50]!r}")
    return value


def _integer(name: str, raw: str, low: int, high: int) -> int:
    text = raw.strip()
    if not text.lstrip("-").isdigit() or len(text) > 12:
        raise InvalidInputError(f"{name} must be a whole number, got {raw[:50]!r}")
    value = int(text)
    if not low <= value <= high:
        raise InvalidInputError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _boolean(name: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise InvalidInputError(f"{name} must be true or false, got {raw[:50]!r}")


def parse_filters(
    params: Sequence[tuple[str, str]], label_names: Sequence[str], *, default_limit: int = 48
) -> Filters:
    """:class:`Filters` from query parameters (``(name, value)`` pairs, as sent).

    Raises:
        InvalidInputError: an unknown or repeated parameter, or a bad value (the message
            names the parameter and what it accepts).
    """
    seen: dict[str, str] = {}
    for name, value in params:
        if name not in BROWSE_PARAMS:
            known = ", ".join(sorted(BROWSE_PARAMS))
            raise InvalidInputError(f"unknown query parameter {name[:50]!r} (known: {known})")
        if name in seen:
            raise InvalidInputError(f"query parameter {name!r} is given twice")
        seen[name] = value
    given = {k: v for k, v in seen.items() if v.strip() != ""}
    out: dict[str, Any] = {"limit": default_limit}
    if "predicted" in given:
        name = given["predicted"].strip()
        if name not in label_names:
            raise InvalidInputError(
                f"predicted must be one of the session's labels, got {name[:MAX_NAME]!r}"
            )
        out["predicted"] = name
    for key in ("min_prob", "max_prob"):
        if key in given:
            out[key] = _number(key, given[key], 0.0, 1.0)
    for key in ("min_uncertainty", "max_uncertainty"):
        if key in given:
            out[key] = _number(key, given[key], 0.0, 1e6)
    for key in ("labelled", "unsure"):
        if key in given:
            out[key] = _boolean(key, given[key])
    if "annotator" in given:
        out["annotator"] = check_name(given["annotator"])
    if "q" in given:
        text = given["q"]
        if len(text) > 200 or not text.isprintable():
            raise InvalidInputError("q must be at most 200 printable characters")
        out["q"] = text
    if "sort" in given:
        if given["sort"] not in SORTS:
            raise InvalidInputError(f"sort must be one of {', '.join(SORTS)}")
        out["sort"] = given["sort"]
    if "order" in given:
        if given["order"] not in ORDERS:
            raise InvalidInputError("order must be desc or asc")
        out["order"] = given["order"]
    if "limit" in given:
        out["limit"] = _integer("limit", given["limit"], 1, MAX_LIMIT)
    if "offset" in given:
        out["offset"] = _integer("offset", given["offset"], 0, 10**9)
    filters = Filters(**out)
    for low, high in (("min_prob", "max_prob"), ("min_uncertainty", "max_uncertainty")):
        a, b = getattr(filters, low), getattr(filters, high)
        if a is not None and b is not None and a > b:
            raise InvalidInputError(f"{low} ({a:g}) is above {high} ({b:g})")
    return filters


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_LABELLED = (
    "(EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = t.item_id) OR "
    "EXISTS (SELECT 1 FROM current_labels c WHERE c.item_id = t.item_id))"
)
_UNSURE = (
    "EXISTS (SELECT 1 FROM item_notes n WHERE n.item_id = t.item_id AND n.unsure = 1 AND "
    "n.note_id = (SELECT MAX(m.note_id) FROM item_notes m WHERE m.item_id = n.item_id "
    "AND m.annotator = n.annotator))"
)


def browse(session: LabellingSession, filters: Filters) -> tuple[list[dict[str, Any]], int]:
    """The items that pass ``filters``, in their order, one page of them; and how many
    pass in all. Each item: ``item_id``, ``ref``, ``kind``, ``image_url``, ``text`` (a text
    session's item text, else None), ``label`` (its
    resolved label, or None), ``conflict``, ``prediction`` (``label``, ``probability``,
    ``uncertainty``, ``round`` from the latest round's predictions of the pool, or None),
    ``annotators`` (who labelled it), ``unsure`` (someone's latest note says so)."""
    names = list(session.label_names)
    where: list[str] = []
    args: dict[str, Any] = {}
    if filters.predicted is not None:
        where.append("p.predicted = :predicted")
        args["predicted"] = names.index(filters.predicted)
    for key, column, op in (
        ("min_prob", "p.prob", ">="),
        ("max_prob", "p.prob", "<="),
        ("min_uncertainty", "p.uncertainty", ">="),
        ("max_uncertainty", "p.uncertainty", "<="),
    ):
        value = getattr(filters, key)
        if value is not None:
            where.append(f"{column} {op} :{key}")
            args[key] = value
    if filters.labelled is not None:
        where.append(_LABELLED if filters.labelled else f"NOT {_LABELLED}")
    if filters.annotator is not None:
        where.append(
            "EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = t.item_id "
            "AND a.annotator = :annotator)"
        )
        args["annotator"] = filters.annotator
    if filters.q is not None:
        where.append("t.ref LIKE :q ESCAPE '\\'")
        args["q"] = _like(filters.q)
    if filters.unsure is not None:
        where.append(_UNSURE if filters.unsure else f"NOT {_UNSURE}")
    column = {"uncertainty": "p.uncertainty", "probability": "p.prob", "id": "t.item_id"}[
        filters.sort
    ]
    direction = "DESC" if filters.order == "desc" else "ASC"
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    base = "FROM items t LEFT JOIN predictions p ON p.item_id = t.item_id" + clause
    conn = session.store.conn
    total = int(conn.execute(f"SELECT COUNT(*) {base}", args).fetchone()[0])
    rows = conn.execute(
        "SELECT t.item_id, t.ref, p.predicted, p.prob, p.uncertainty, p.round "
        f"{base} ORDER BY {column} IS NULL, {column} {direction}, t.item_id "
        "LIMIT :limit OFFSET :offset",
        {**args, "limit": filters.limit, "offset": filters.offset},
    ).fetchall()
    ids = [int(r[0]) for r in rows]
    annotators: dict[int, list[str]] = {i: [] for i in ids}
    unsure: set[int] = set()
    if ids:
        marks = ",".join("?" * len(ids))
        for item_id, who in conn.execute(
            f"SELECT item_id, annotator FROM annotations WHERE item_id IN ({marks}) "
            "ORDER BY event_id",
            ids,
        ):
            annotators[int(item_id)].append(str(who))
        unsure = {
            int(r[0])
            for r in conn.execute(
                f"SELECT t.item_id FROM items t WHERE t.item_id IN ({marks}) AND {_UNSURE}", ids
            )
        }
    items = []
    for item_id, ref, predicted, prob, uncertainty, round_ in rows:
        view = session.item_view(int(item_id))
        items.append(
            {
                "item_id": int(item_id),
                "ref": str(ref),
                "text": view.text,
                "kind": view.kind,
                "image_url": f"/items/{item_id}/image" if view.kind == "image" else None,
                "label": view.label if view.value is None else view.value,
                "conflict": bool(view.conflict),
                "prediction": (
                    None
                    if predicted is None
                    else {
                        "label": names[int(predicted)],
                        "probability": _finite(prob),
                        "uncertainty": _finite(uncertainty),
                        "round": None if round_ is None else int(round_),
                    }
                ),
                "annotators": annotators[int(item_id)],
                "unsure": int(item_id) in unsure,
            }
        )
    return items, total


def _finite(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def filters_from_mapping(values: Mapping[str, str], label_names: Sequence[str]) -> Filters:
    """:func:`parse_filters` of a mapping (one value per name)."""
    return parse_filters(list(values.items()), label_names)
