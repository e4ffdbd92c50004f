"""History and edits, the conflicts queue and its reviewer.

* ``GET /api/history?annotator=NAME&limit=&offset=`` -> ``{"annotator", "items",
  "total"}``: that annotator's label events, newest first (with a per-annotator token,
  only one's own). ``POST /api/history/edit`` ``{"event_id", "label"}``: a new label
  event that names the event it corrects (``corrects``); only one's own events.
  ``/history`` lists them with a change form on each row.
* ``GET /api/conflicts`` -> ``{"items"}`` and ``POST /api/resolve`` ``{"item_id",
  "label", "comment"}``: the review queue and a reviewer's decision; ``/review``. Only a
  reviewer: an annotator named in the session's ``reviewers`` (by their per-annotator
  token, or by name on a server without tokens); without ``reviewers`` in the config,
  the holder of the shared token, or anyone on a server without tokens (this machine
  only). Anyone else gets 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field, StrictBool, StrictInt, StringConstraints

from bayesal.errors import BayesalError, InvalidInputError
from bayesal.session.store import MAX_COMMENT
from bayesal.web.app import ItemId, LabelValue, Name, _Body
from bayesal.web.security import auth_of
from bayesal.web.team_pages import history_page, review_page

if TYPE_CHECKING:
    from bayesal.web.app import WebState

__all__ = ["add_review_routes", "is_reviewer"]

Comment = Annotated[str, StringConstraints(max_length=MAX_COMMENT)]
HISTORY_PAGE = 50


class EditRequest(_Body):
    """``POST /api/history/edit``: change ``annotator``'s label event ``event_id``."""

    event_id: Annotated[StrictInt, Field(ge=1, lt=2**63)]
    label: LabelValue | list[Annotated[str, StringConstraints(max_length=100)]] | float
    annotator: Name | None = None
    unsure: StrictBool | None = None
    comment: Comment | None = None


class ResolveRequest(_Body):
    """``POST /api/resolve``: a reviewer decides ``item_id``'s label."""

    item_id: ItemId
    label: LabelValue | list[Annotated[str, StringConstraints(max_length=100)]] | float
    reviewer: Name | None = None
    comment: Comment | None = None


def is_reviewer(state: WebState, request: Request, name: str | None) -> bool:
    """Whether the request may review (see the module docstring)."""
    auth = auth_of(request.state)
    allowed = state.session.config.reviewers
    if allowed is not None:
        return name is not None and name in allowed and auth.how in ("open", "annotator", "token")
    return auth.how in ("open", "token")


def add_review_routes(app: FastAPI, state: WebState) -> None:
    """Add the history, edit and review routes to ``app``."""
    from bayesal.web.app import (
        FLASH_COOKIE,
        _annotator,
        _page_annotator,
        _redirect,
        _take_flash,
    )

    session = state.session

    def history(annotator: str, limit: int, offset: int) -> dict[str, Any]:
        items = session.history(annotator, limit=limit, offset=offset)
        return {
            "annotator": annotator,
            "items": items,
            "total": session.store.count_history(annotator),
            "limit": limit,
            "offset": offset,
        }

    def reviewer_name(request: Request, given: str | None) -> str:
        auth = auth_of(request.state)
        if auth.annotator is not None:
            name = _annotator(request, given)
        elif given is not None:
            name = given
        else:
            name = _page_annotator(request) or "reviewer"
        if not is_reviewer(state, request, name):
            raise HTTPException(403, f"{name!r} is not a reviewer of this session")
        return name

    @app.get("/api/history")
    def api_history(
        request: Request, annotator: str | None = None, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        unknown = set(request.query_params) - {"annotator", "limit", "offset"}
        if unknown:
            raise InvalidInputError(f"unknown query parameter {sorted(unknown)[0][:50]!r}")
        if not 1 <= limit <= 1000:
            raise InvalidInputError(f"limit must be between 1 and 1000, got {limit}")
        if not 0 <= offset < 2**62:
            raise InvalidInputError(f"offset must be 0 or more, got {offset}")
        return history(_annotator(request, annotator), limit, offset)

    @app.post("/api/history/edit")
    def api_edit(request: Request, body: EditRequest) -> dict[str, Any]:
        annotator = _annotator(request, body.annotator)
        with state.write_lock:
            event = session.edit(
                body.event_id,
                body.label,
                annotator,
                source="api",
                unsure=body.unsure,
                comment=body.comment,
            )
        state.poke()
        return {
            "event_id": event.event_id,
            "item_id": event.item_id,
            "corrects": event.corrects,
            "annotator": annotator,
            "label": session.display_label(_stored(event)),
        }

    @app.get("/history", response_class=HTMLResponse)
    def history_view(request: Request, offset: int = 0) -> Response:
        annotator = _page_annotator(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        flash, kind = _take_flash(request)
        data = history(annotator, HISTORY_PAGE, max(0, offset))
        html = history_page(state, annotator, request, data, flash, kind)
        response = HTMLResponse(html, headers={"cache-control": "no-store"})
        if flash:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    @app.post("/history/edit")
    def history_edit(
        request: Request,
        event_id: Annotated[int, Form(ge=0, lt=2**63)],
        label: Annotated[str, Form(min_length=1, max_length=1000)],
    ) -> Response:
        annotator = _page_annotator(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        try:
            with state.write_lock:
                event = session.edit(event_id, label, annotator, source="ui")
        except BayesalError as exc:
            return _redirect("/history", str(exc), "bad")
        state.poke()
        shown = session.display_label(_stored(event))
        return _redirect(
            "/history",
            f"Changed your label of item {event.item_id} to {_text(shown)} "
            f"(event {event.event_id} corrects {event.corrects}).",
            "good",
        )

    @app.get("/api/conflicts")
    def api_conflicts(request: Request) -> dict[str, Any]:
        reviewer_name(request, None)
        return {"items": session.conflicts()}

    @app.post("/api/resolve")
    def api_resolve(request: Request, body: ResolveRequest) -> dict[str, Any]:
        reviewer = reviewer_name(request, body.reviewer)
        with state.write_lock:
            event = session.resolve_conflict(
                body.item_id, body.label, reviewer, source="api", comment=body.comment
            )
        state.poke()
        return {
            "event_id": event.event_id,
            "item_id": event.item_id,
            "reviewer": reviewer,
            "label": session.display_label(_stored(event)),
            "conflicts": len(session.store.conflicts()),
        }

    @app.get("/review", response_class=HTMLResponse)
    def review_view(request: Request) -> Response:
        annotator = _page_annotator(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        flash, kind = _take_flash(request)
        allowed = is_reviewer(state, request, annotator)
        items = session.conflicts() if allowed else []
        html = review_page(state, annotator, request, items, allowed, flash, kind)
        response = HTMLResponse(
            html, status_code=200 if allowed else 403, headers={"cache-control": "no-store"}
        )
        if flash:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    @app.post("/review/resolve")
    def review_resolve(
        request: Request,
        item_id: Annotated[int, Form(ge=-(2**63), lt=2**63)],
        label: Annotated[str, Form(min_length=1, max_length=1000)],
    ) -> Response:
        annotator = _page_annotator(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        if not is_reviewer(state, request, annotator):
            return _redirect("/review", f"{annotator!r} is not a reviewer of this session", "bad")
        try:
            with state.write_lock:
                event = session.resolve_conflict(item_id, label, annotator, source="ui")
        except BayesalError as exc:
            return _redirect("/review", str(exc), "bad")
        state.poke()
        shown = session.display_label(_stored(event))
        return _redirect("/review", f"Item {event.item_id} resolved as {_text(shown)}.", "good")


def _stored(event: Any) -> int | float | None:
    """An event's stored label: the class index (or multi-label mask), else its number."""
    stored: int | float | None = event.value if event.label is None else event.label
    return stored


def _text(value: object) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
