"""The team routes of the labelling app: browse and bulk-label, the yes/no mode.

* ``GET /api/items`` (filters: :mod:`bayesal.web.browse`) -> ``{"items", "total",
  "limit", "offset"}``; ``POST /api/items/label`` ``{"item_ids", "label"}``: one label
  event per item; ``/browse`` (the grid, filters as a GET form) and ``POST /browse/label``.
* The yes/no mode for one class: ``/yesno?label=NAME`` (``y`` / ``n`` / ``s``),
  ``POST /yesno``; ``POST /api/yesno/next`` ``{"label"}`` and ``POST /api/yesno``
  ``{"item_id", "label", "answer": "yes" | "no" | "skip"}``. Candidates are the items the
  latest model thinks most probably are that class
  (:meth:`~bayesal.session.session.LabellingSession.yes_no_candidates`); the one shown is
  leased to the annotator. "yes" is a label, "no" a negative observation (not a label),
  "skip" passes the item (not shown again in this mode while others remain).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field

from bayesal.errors import BayesalError, InvalidInputError
from bayesal.session.session import ItemView
from bayesal.web.app import ItemId, LabelValue, Name, _Body
from bayesal.web.browse import BROWSE_PARAMS, parse_filters
from bayesal.web.browse import browse as browse_items
from bayesal.web.team_pages import browse_page, yesno_page

if TYPE_CHECKING:
    from bayesal.web.app import WebState

__all__ = ["add_team_routes"]

#: The most items one bulk label request takes.
MAX_BULK = 500
#: Candidates read per yes/no request (those this annotator skipped come last).
YESNO_WINDOW = 50


class BulkLabelRequest(_Body):
    """``POST /api/items/label``: ``label`` for every item of ``item_ids``."""

    item_ids: Annotated[list[ItemId], Field(min_length=1, max_length=MAX_BULK)]
    label: LabelValue
    annotator: Name | None = None


class YesNoNextRequest(_Body):
    """``POST /api/yesno/next``: the best candidate for class ``label``, leased."""

    label: LabelValue
    annotator: Name | None = None


class YesNoRequest(_Body):
    """``POST /api/yesno``: ``annotator``'s answer for ``item_id`` and class ``label``."""

    item_id: ItemId
    label: LabelValue
    answer: Literal["yes", "no", "skip"]
    annotator: Name | None = None


def add_team_routes(app: FastAPI, state: WebState) -> None:
    """Add the browse, bulk and yes/no routes to ``app``."""
    from bayesal.web.app import (
        FLASH_COOKIE,
        _annotator,
        _page_annotator,
        _redirect,
        _take_flash,
    )

    session = state.session

    def bulk(item_ids: list[int], label: object, annotator: str, source: str) -> dict[str, Any]:
        if len(set(item_ids)) != len(item_ids):
            raise InvalidInputError("item_ids lists an item twice")
        index = session.label_index(label)
        done: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for raw in item_ids:
            try:
                with state.write_lock:
                    item = state.check_item(raw)
                    state.check_lease(item, annotator)
                    event = session.label(item, index, annotator, source=source)
            except BayesalError as exc:
                refused.append({"item_id": raw, "error": str(exc)})
                continue
            done.append({"item_id": item, "event_id": event.event_id})
        if done:
            state.poke()
        return {
            "label": state.label_names[index],
            "annotator": annotator,
            "labelled": done,
            "refused": refused,
        }

    # ------------------------------------------------------------ browse and bulk

    @app.get("/api/items")
    def api_items(request: Request) -> dict[str, Any]:
        filters = parse_filters(
            list(request.query_params.multi_items()), state.label_names, default_limit=100
        )
        items, total = browse_items(session, filters)
        return {"items": items, "total": total, "limit": filters.limit, "offset": filters.offset}

    @app.post("/api/items/label")
    def api_bulk_label(request: Request, body: BulkLabelRequest) -> dict[str, Any]:
        annotator = _annotator(request, body.annotator)
        return bulk(body.item_ids, body.label, annotator, "api-bulk")

    @app.get("/browse", response_class=HTMLResponse)
    def browse_view(request: Request) -> Response:
        annotator = _page_annotator(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        flash, kind = _take_flash(request)
        try:
            filters = parse_filters(list(request.query_params.multi_items()), state.label_names)
        except InvalidInputError as exc:
            html = browse_page(state, annotator, request, None, [], 0, str(exc), "bad")
            return HTMLResponse(html, status_code=422, headers={"cache-control": "no-store"})
        items, total = browse_items(session, filters)
        html = browse_page(state, annotator, request, filters, items, total, flash, kind)
        response = HTMLResponse(html, headers={"cache-control": "no-store"})
        if flash:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    @app.post("/browse/label")
    def browse_label(
        request: Request,
        item_ids: Annotated[list[int], Form(max_length=MAX_BULK)],
        label: Annotated[str, Form(min_length=1, max_length=100)],
        back: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        annotator = _page_annotator(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        try:
            keep = parse_filters(
                [(k, v) for k, v in _pairs(back) if k in BROWSE_PARAMS], state.label_names
            )
            target = "/browse?" + urlencode(keep.query())
        except InvalidInputError:
            target = "/browse"
        try:
            out = bulk(item_ids, label, annotator, "ui-bulk")
        except BayesalError as exc:
            return _redirect(target, str(exc), "bad")
        message = f"Labelled {len(out['labelled'])} items as {out['label']}."
        if out["refused"]:
            first = out["refused"][0]
            message += f" {len(out['refused'])} refused (item {first['item_id']}: {first['error']})"
        return _redirect(target, message, "bad" if out["refused"] else "good")

    # ------------------------------------------------------------ yes / no

    def candidate(label: object, annotator: str) -> ItemView | None:
        """The most probable candidate for ``label`` this annotator did not skip (else the
        most probable one), leased to them."""
        views = session.yes_no_candidates(
            label, YESNO_WINDOW, annotator=annotator, include_skipped=True
        )
        with state.write_lock:
            for view in views:
                if session.hold(view.item_id, annotator):
                    return view
        return None

    def answer(
        item_id: int, label: object, reply: str, annotator: str, source: str
    ) -> dict[str, Any]:
        """Record ``reply``; returns ``message`` and the id of what was recorded
        (``event_id`` of a yes or a skip, ``negative_id`` of a no)."""
        out: dict[str, Any] = {"event_id": None, "negative_id": None}
        with state.write_lock:
            item = state.check_item(item_id)
            state.check_lease(item, annotator)
            if reply == "yes":
                event = session.label(item, label, annotator, source=source)
                out["event_id"] = event.event_id
                name = state.label_names[int(event.label or 0)]
                out["message"] = f"Saved item {item} as {name}."
            elif reply == "no":
                out["negative_id"] = session.negative(item, label, annotator, source=source)
                name = session.label_names[session.label_index(label)]
                out["message"] = f"Item {item} is not {name}: noted."
            else:
                session.skip(item, annotator, source=source)
                out["message"] = f"Skipped item {item}."
        state.poke()
        return out

    @app.post("/api/yesno/next")
    def api_yesno_next(request: Request, body: YesNoNextRequest) -> dict[str, Any]:
        annotator = _annotator(request, body.annotator)
        name = state.label_names[session.label_index(body.label)]
        return {
            "label": name,
            "annotator": annotator,
            "item": state.item_json(candidate(name, annotator)),
        }

    @app.post("/api/yesno")
    def api_yesno(request: Request, body: YesNoRequest) -> dict[str, Any]:
        annotator = _annotator(request, body.annotator)
        name = state.label_names[session.label_index(body.label)]
        done = answer(body.item_id, name, body.answer, annotator, "api-yesno")
        return {
            "label": name,
            "annotator": annotator,
            "answer": body.answer,
            **done,
            "next": state.item_json(candidate(name, annotator)),
        }

    @app.get("/yesno", response_class=HTMLResponse)
    def yesno_view(request: Request, label: str | None = None) -> Response:
        annotator = _page_annotator(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        unknown = set(request.query_params) - {"label"}
        flash, kind = _take_flash(request)
        status = 200
        view = None
        name = None
        if unknown:
            flash, kind, status = f"unknown query parameter {sorted(unknown)[0][:50]!r}", "bad", 422
        elif label:
            try:
                name = state.label_names[session.label_index(label)]
                view = candidate(name, annotator)
            except InvalidInputError as exc:
                flash, kind, status, name = str(exc), "bad", 422, None
        html = yesno_page(state, annotator, request, name, state.item_json(view), flash, kind)
        response = HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})
        if flash and status == 200:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    @app.post("/yesno")
    def yesno_form(
        request: Request,
        item_id: Annotated[int, Form(ge=-(2**63), lt=2**63)],
        label: Annotated[str, Form(min_length=1, max_length=100)],
        answer_: Annotated[Literal["yes", "no", "skip"], Form(alias="answer")],
    ) -> Response:
        annotator = _page_annotator(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        try:
            name = state.label_names[session.label_index(label)]
        except InvalidInputError as exc:
            return _redirect("/yesno", str(exc), "bad")
        target = "/yesno?" + urlencode({"label": name})
        try:
            message = answer(item_id, name, answer_, annotator, "ui-yesno")["message"]
        except BayesalError as exc:
            return _redirect(target, str(exc), "bad")
        return _redirect(target, message, "good" if answer_ != "skip" else "info")


def _pairs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query.lstrip("?"), keep_blank_values=True)[:50]
