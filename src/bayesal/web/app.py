"""The labelling server: an ASGI app (FastAPI) over one labelling session.

:func:`create_app` builds the app; :func:`serve` runs it with uvicorn (one process;
requests run in its thread pool, each thread with its own SQLite connection).

What it serves (see ``docs/labelling.md``):

* Pages (plain HTML forms, Post/Redirect/Get; a small script adds the keys): ``/``
  (start: the annotator's name), ``/label`` (the next item, the model's guess and
  uncertainty, one button and key per class, skip, undo, progress), ``POST /label``,
  ``/skip``, ``/undo``, ``/start``, and ``GET /items/{id}/image`` (the item's image,
  only ever a file under the session's data root).
* A JSON API under ``/api``: ``POST /api/next``, ``/api/label``, ``/api/undo``,
  ``/api/skip``; ``GET /api/status``, ``/api/items/{id}``, ``/api/queue``. A
  segmentation session: ``POST /api/mask`` (a painted mask, base64 of its class bytes)
  and ``GET /api/items/{id}/mask`` (the resolved and the predicted mask).
* Label Studio's ML-backend protocol (:mod:`bayesal.web.labelstudio_backend`):
  ``GET /health``, ``POST /setup``, ``/predict``, ``/train``, ``/webhook``.

Labels are durable when the request that gives them returns (the session's store
commits with ``synchronous=FULL`` first). Retraining never runs in a request: after each
label or undo a background thread is woken, and when ``retrain_every`` labels are
waiting it starts the session's retrain worker, a separate, low-priority process
(:class:`bayesal.session.worker.RetrainScheduler`).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote

import numpy as np
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from bayesal.errors import BayesalError, InvalidInputError
from bayesal.session.masks import MAX_MASK_CHARS, mask_payload
from bayesal.session.session import ItemView, LabellingSession, RetrainBusyError
from bayesal.session.store import (
    DB_NAME,
    MAX_COMMENT,
    MAX_NAME,
    SQLITE_BUSY,
    SQLITE_FULL,
    SQLITE_LOCKED,
    LeaseHeldError,
    StoreError,
    check_name,
    sqlite_error,
)
from bayesal.session.worker import RetrainScheduler
from bayesal.web.pages import (
    SCRIPT,
    STYLE,
    ItemPage,
    class_keys,
    empty_page,
    item_page,
    start_page,
)
from bayesal.web.pool import peek_after, pool_prediction
from bayesal.web.script import MASK_SCRIPT
from bayesal.web.security import Auth, Guard, TokenBook, auth_of, is_loopback

__all__ = ["WebState", "create_app", "serve"]

logger = logging.getLogger("bayesal.web")

#: How often the background thread checks whether a retrain is due, besides being woken
#: after each label.
RETRAIN_POLL_S = 2.0
#: The longest queue ``GET /api/queue`` returns.
QUEUE_LIMIT = 100
ANNOTATOR_COOKIE = "bayesal_annotator"
FLASH_COOKIE = "bayesal_flash"
#: Media types of the image files served (the suffixes ``read_image_folder`` reads).
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
#: Images at most this many pixels wide and high are shown enlarged, pixel for pixel.
SMALL_IMAGE = 96

_INT64 = 2**63
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]
ItemId = Annotated[StrictInt, Field(ge=-_INT64, lt=_INT64)]
LabelValue = StrictInt | Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]
#: A label of any task: a class (name or index), a list of class names (multi-label), a
#: number (regression).
AnyLabel = (
    StrictInt
    | StrictFloat
    | Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]
    | Annotated[
        list[Annotated[str, StringConstraints(max_length=MAX_NAME)]], Field(max_length=1000)
    ]
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NextRequest(_Body):
    """``POST /api/next``: lease the next item to ``annotator``."""

    annotator: Name | None = None
    #: Also name the item most likely to come after this one (``after``), unleased.
    prefetch: StrictBool = False


class LabelRequest(_Body):
    """``POST /api/label``: ``label`` is a label name or a class index; ``correct``
    replaces another annotator's label of the item (a recorded correction), else theirs
    stays and this one is kept as an annotation."""

    item_id: ItemId
    label: AnyLabel
    annotator: Name | None = None
    correct: StrictBool = False
    prefetch: StrictBool = False
    #: Flag the item as unsure, and/or a comment (saved with the label as a note).
    unsure: StrictBool | None = None
    comment: Annotated[str, StringConstraints(max_length=MAX_COMMENT)] | None = None


class MaskData(_Body):
    """A posted segmentation mask: ``data`` is base64 of ``height * width`` bytes, one
    class index per pixel, row-major (checked by
    :func:`~bayesal.session.masks.parse_mask_payload`)."""

    height: Annotated[StrictInt, Field(ge=1, le=4096)]
    width: Annotated[StrictInt, Field(ge=1, le=4096)]
    data: Annotated[str, StringConstraints(max_length=MAX_MASK_CHARS)]


class MaskRequest(_Body):
    """``POST /api/mask``: ``annotator``'s mask for ``item_id`` (a segmentation session)."""

    item_id: ItemId
    mask: MaskData
    annotator: Name | None = None
    prefetch: StrictBool = False
    unsure: StrictBool | None = None
    comment: Annotated[str, StringConstraints(max_length=MAX_COMMENT)] | None = None


class UndoRequest(_Body):
    """``POST /api/undo``: take back ``annotator``'s latest label."""

    annotator: Name | None = None
    prefetch: StrictBool = False


class SkipRequest(_Body):
    """``POST /api/skip``: ``annotator`` passes on ``item_id``."""

    item_id: ItemId
    annotator: Name | None = None
    prefetch: StrictBool = False


class LeasedElsewhereError(BayesalError):
    """The item is leased to another annotator (HTTP 409)."""


class UnknownItemError(InvalidInputError):
    """No such item, or no file for it (HTTP 404)."""


class WebState:
    """What the app's routes share: the open session, the tokens, the retrain worker.

    Writes of this process (lease, label, undo, skip) go through :attr:`write_lock`, so
    that the server's own threads never wait on each other inside SQLite's busy loop.
    """

    def __init__(
        self, directory: Path, session: LabellingSession, tokens: TokenBook, retrain: bool
    ) -> None:
        self.directory = directory
        self.session = session
        self.tokens = tokens
        self.label_names = list(session.label_names)
        self.keys = class_keys(len(self.label_names))
        self.write_lock = threading.Lock()
        self.scheduler = RetrainScheduler(directory) if retrain else None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._forced = False  # the running retrain was asked for (Label Studio's train)

    @property
    def name(self) -> str:
        return self.directory.resolve().name

    # ------------------------------------------------------------ background retraining

    def start_background(self) -> None:
        """Start the thread that starts retrains when due (and check once now)."""
        if self.scheduler is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="bayesal-retrain", daemon=True)
        self._thread.start()
        self._wake.set()

    def stop_background(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def poke(self) -> None:
        """A label came in: check soon whether a retrain is due (never in the request)."""
        self._wake.set()

    def _loop(self) -> None:
        assert self.scheduler is not None
        try:
            while not self._stop.is_set():
                self._wake.wait(RETRAIN_POLL_S)
                self._wake.clear()
                if self._stop.is_set():
                    break
                try:
                    if self.session.needs_retrain() and self.scheduler.start():
                        self._forced = False
                except Exception:  # noqa: BLE001  keep the loop alive; the next poll retries
                    logger.exception("bayesal: could not start a retrain")
        finally:
            self.session.store.close()

    def retraining(self) -> bool:
        """True while a retrain started by this server runs."""
        return self.scheduler is not None and self.scheduler.running

    def force_retrain(self) -> str:
        """Start one retrain now even if fewer than ``retrain_every`` labels wait (Label
        Studio's train request): ``started``, ``running`` (one runs already) or
        ``disabled`` (the server was started without retraining)."""
        if self.scheduler is None:
            return "disabled"
        if not self.scheduler.start(once=True):
            return "running"
        self._forced = True
        return "started"

    # ------------------------------------------------------------ items and leases

    def check_item(self, item_id: object) -> int:
        try:
            return self.session.check_item(item_id)[0]
        except InvalidInputError as exc:
            raise UnknownItemError(str(exc)) from None

    def current_event(self, item_id: int) -> int:
        """The event id of the item's label now (0: unlabelled)."""
        return self.session.store.current_event(item_id)

    def check_lease(self, item_id: int, annotator: str) -> None:
        """Refuse to label an item leased to someone else (it was handed on)."""
        lease = self.session.store.lease_of(item_id)
        if lease is not None and lease.annotator != annotator:
            wait = max(0.0, lease.expires - time.time())
            raise LeasedElsewhereError(
                f"item {item_id} is leased to another annotator (for {wait:.0f} s more): "
                "yours had expired; ask for the next item"
            )

    def hold(self, item_id: int, annotator: str) -> bool:
        """Lease ``item_id`` back to ``annotator`` after an undo (see
        :meth:`LabellingSession.hold`)."""
        return self.session.hold(item_id, annotator)

    def display(self, event: Any) -> Any:
        """A label event's label as the session hands it out (a class name, a list of
        class names, a number)."""
        stored = event.value if event.label is None else event.label
        return self.session.display_label(stored)

    def after_json(self, annotator: str, held: ItemView | None) -> dict[str, Any] | None:
        """The item ``annotator`` will most likely be given after ``held`` (not leased:
        a hint for prefetching its image; see :func:`bayesal.web.pool.peek_after`)."""
        if held is None:
            return None
        after = peek_after(self.session.store, annotator, held.item_id)
        return None if after is None else self.item_json(self.session.item_view(after))

    def item_json(self, view: ItemView | None) -> dict[str, Any] | None:
        if view is None:
            return None
        prediction = None
        if view.predicted is not None:
            prediction = {
                "label": view.predicted,
                "probability": _finite(view.predicted_prob),
                "uncertainty": _finite(view.uncertainty),
                "score": _finite(view.score),
                "round": view.round,
            }
        elif self.session.task == "classification":
            # Outside the ranked queue: the round's prediction of the whole pool (unless
            # someone said the item is not that class).
            found = pool_prediction(self.session.store, view.item_id)
            if found is not None and self.label_names[found[0]] not in view.negatives:
                prediction = {
                    "label": self.label_names[found[0]],
                    "probability": _finite(found[1]),
                    "uncertainty": _finite(found[2]),
                    "score": None,
                    "round": found[3],
                }
        elif view.guess is not None:  # multi-label, regression, segmentation: the guess
            guess: dict[str, Any] = {**_plain(dict(view.guess)), "score": _finite(view.score)}
            labels = guess.get("labels")
            if "mask" in guess:
                guess["label"] = "predicted mask"
            else:
                guess["label"] = (
                    f"{guess['mean']:.4g}"
                    if labels is None
                    else ", ".join(labels) or "none of them"
                )
            prediction = guess
        return {
            "item_id": view.item_id,
            "kind": view.kind,
            "ref": view.ref,
            "image_url": f"/items/{view.item_id}/image" if view.kind == "image" else None,
            "fields": _plain(dict(view.fields)),
            "text": view.text,
            "label": view.label,
            "value": view.value,
            "prediction": prediction,
            "rank": view.rank,
            "round": view.round,
            "from_queue": view.from_queue,
        }

    def status_json(self) -> dict[str, Any]:
        out = self.session.status().as_dict()
        out["label_names"] = self.label_names
        out["keys"] = self.keys
        # A worker with nothing left to do is only exiting: not "retraining".
        out["retraining"] = self.retraining() and (self._forced or out["labels_since_round"] > 0)
        out["lease_seconds"] = float(self.session.config.lease_seconds)
        plain: dict[str, Any] = _plain(out)
        return plain


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _plain(value: Any) -> Any:
    """JSON-safe: non-finite floats become None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _event_json(state: WebState, event: Any) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "item_id": event.item_id,
        "kind": event.kind,
        "label": None if event.label is None else state.label_names[event.label],
        "annotator": event.annotator,
        "time": event.time,
        "undoes": event.undoes,
    }


# ---------------------------------------------------------------- who is labelling


def _cookie_annotator(request: Request) -> str | None:
    raw = request.cookies.get(ANNOTATOR_COOKIE)
    if not raw:
        return None
    try:
        return check_name(unquote(raw))
    except InvalidInputError:
        return None


def _annotator(request: Request, given: str | None) -> str:
    """The annotator of an API request: the one a per-annotator token names (another
    name is refused), else the one given, else the browser's cookie."""
    auth: Auth = auth_of(request.state)
    if auth.annotator is not None:
        if given is not None and given.strip() != auth.annotator:
            raise HTTPException(
                403, f"this token belongs to annotator {auth.annotator!r} and labels as them only"
            )
        return auth.annotator
    if given is not None:
        return check_name(given)
    found = _cookie_annotator(request)
    if found is None:
        raise InvalidInputError("annotator is required: give your name as 'annotator'")
    return found


def _page_annotator(request: Request) -> str | None:
    auth: Auth = auth_of(request.state)
    return auth.annotator if auth.annotator is not None else _cookie_annotator(request)


def _redirect(path: str, flash: str = "", kind: str = "info") -> RedirectResponse:
    response = RedirectResponse(path, status_code=303)
    if flash:
        response.set_cookie(
            FLASH_COOKIE,
            quote(f"{kind}|{flash[:300]}"),
            max_age=60,
            httponly=True,
            samesite="lax",
            path="/",
        )
    return response


def _take_flash(request: Request) -> tuple[str, str]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return "", "info"
    kind, _, text = unquote(raw).partition("|")
    return text[:300], kind if kind in ("info", "good", "bad") else "info"


# ---------------------------------------------------------------- the app


def create_app(
    session_dir: str | Path,
    *,
    token: str | None = None,
    annotator_tokens: Mapping[str, str] | None = None,
    retrain: bool = True,
) -> FastAPI:
    """The labelling app over the session in ``session_dir``.

    Args:
        session_dir: a session made by ``bayesal session init``.
        token: a shared secret; when set (or ``annotator_tokens`` is), every request
            needs it (see :mod:`bayesal.web.security`). At least 8 characters.
        annotator_tokens: token -> annotator name; a request with such a token acts as
            that annotator only.
        retrain: start background retrains when ``retrain_every`` labels are waiting
            (on by default; off, the queue stays as it is until ``bayesal session
            retrain``).

    Raises:
        StoreError: ``session_dir`` is not a labelling session.
        InvalidInputError: a bad token or annotator name.
    """
    directory = Path(session_dir)
    tokens = TokenBook(token, annotator_tokens)
    session = LabellingSession.open(directory)
    state = WebState(directory, session, tokens, retrain)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start_background()
        try:
            yield
        finally:
            state.stop_background()

    app = FastAPI(
        title="bayesal labelling",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.bayesal = state
    app.add_middleware(Guard, tokens=tokens)
    _add_error_handlers(app)
    _add_pages(app, state)
    _add_api(app, state)
    from bayesal.web.labelstudio_backend import add_ml_backend

    add_ml_backend(app, state)
    from bayesal.web.team import add_team_routes

    add_team_routes(app, state)
    from bayesal.web.review import add_review_routes

    add_review_routes(app, state)
    return app


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        response = _error(exc.status_code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {k: v for k, v in error.items() if k in ("loc", "msg", "type")}
            for error in exc.errors()
        ]
        by_field: dict[str, list[str]] = {}
        for error in errors:
            loc = [str(p) for p in error["loc"] if p != "body"]
            where = loc[0] if loc else "body"
            if error["msg"] not in by_field.setdefault(where, []):
                by_field[where].append(str(error["msg"]))
        message = "; ".join(f"{k}: {' or '.join(v)}" for k, v in list(by_field.items())[:5])
        return _error(422, message or "invalid request", detail=jsonable_encoder(errors))

    @app.exception_handler(BayesalError)
    async def bayesal_error(request: Request, exc: BayesalError) -> Response:
        if isinstance(exc, UnknownItemError):
            return _error(404, str(exc))
        if isinstance(exc, LeasedElsewhereError | LeaseHeldError | RetrainBusyError):
            return _error(409, str(exc))
        if isinstance(exc, StoreError):
            return _store_error(exc)
        return _error(422, str(exc))

    @app.exception_handler(sqlite3.DatabaseError)
    async def database(request: Request, exc: sqlite3.DatabaseError) -> Response:
        if isinstance(exc, sqlite3.IntegrityError):
            raise exc  # a bug: the server's own 500, with its traceback in the log
        logger.warning("bayesal: database error: %s", exc)
        return _store_error(sqlite_error(exc, DB_NAME))


def _store_error(exc: StoreError) -> Response:
    """A failure of the session file: 503 while busy (try again), 507 on a full disk
    (nothing of the request was recorded), else 500; one line, never a traceback."""
    if exc.sqlite_code in (SQLITE_BUSY, SQLITE_LOCKED):
        return _error(503, str(exc))
    if exc.sqlite_code == SQLITE_FULL:
        return _error(507, str(exc))
    return _error(500, str(exc))


def _add_pages(app: FastAPI, state: WebState) -> None:
    session = state.session

    @app.get("/static/style.css", include_in_schema=False)
    def style() -> Response:
        return Response(STYLE, media_type="text/css", headers={"cache-control": "max-age=300"})

    @app.get("/static/keys.js", include_in_schema=False)
    def script() -> Response:
        return Response(
            SCRIPT, media_type="text/javascript", headers={"cache-control": "max-age=300"}
        )

    @app.get("/static/mask.js", include_in_schema=False)
    def mask_script() -> Response:
        return Response(
            MASK_SCRIPT, media_type="text/javascript", headers={"cache-control": "max-age=300"}
        )

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        if _page_annotator(request) is not None:
            return RedirectResponse("/label", status_code=303)
        return _start(request)

    def _start(request: Request, error: str = "", status: int = 200) -> Response:
        if auth_of(request.state).annotator is not None:
            return RedirectResponse("/label", status_code=303)
        store = session.store
        html = start_page(state.name, store.num_items(), store.num_labelled(), error)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    @app.get("/start", response_class=HTMLResponse)
    def start_form(request: Request) -> Response:
        return _start(request)

    @app.post("/start")
    def start(request: Request, annotator: Annotated[str, Form(max_length=200)]) -> Response:
        try:
            name = check_name(annotator)
        except InvalidInputError as exc:
            return _start(request, str(exc), status=422)
        response = RedirectResponse("/label", status_code=303)
        response.set_cookie(
            ANNOTATOR_COOKIE,
            quote(name),
            max_age=30 * 24 * 3600,
            httponly=True,
            samesite="lax",
            path="/",
        )
        return response

    def _context(request: Request, annotator: str) -> ItemPage:
        status = state.status_json()
        flash, kind = _take_flash(request)
        return ItemPage(
            task=session.task,
            session_name=state.name,
            annotator=annotator,
            annotator_fixed=auth_of(request.state).annotator is not None,
            label_names=state.label_names,
            keys=state.keys,
            status=status,
            retraining=bool(status["retraining"]),
            flash=flash,
            flash_kind=kind,
            your_labels=int(status["per_annotator"].get(annotator, 0)),
        )

    @app.get("/label", response_class=HTMLResponse)
    def label_page(request: Request) -> Response:
        annotator = _page_annotator(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        with state.write_lock:
            view = session.next_item(annotator)
        page = _context(request, annotator)
        if view is None:
            left = page.status["num_items"] - page.status["num_labelled"]
            reason = (
                "Every item is labelled."
                if left <= 0
                else f"The {left} unlabelled items are being labelled by others right now "
                f"(each is held for up to {session.config.lease_seconds:.0f} s)."
            )
            html = empty_page(page, reason)
        else:
            page.item = state.item_json(view)
            page.expect = state.current_event(view.item_id)
            page.image_small = view.kind == "image" and _is_small_image(session, view.item_id)
            if session.task == "segmentation":
                page.extra["mask_size"] = session.mask_size
            html = item_page(page)
        response = HTMLResponse(html, headers={"cache-control": "no-store"})
        if page.flash:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    @app.post("/label")
    def label_form(
        request: Request,
        item_id: Annotated[int, Form(ge=-_INT64, lt=_INT64)],
        label: Annotated[str, Form(max_length=MAX_NAME)] = "",
        labels: Annotated[list[str] | None, Form(max_length=1000)] = None,
        value: Annotated[str, Form(max_length=100)] = "",
        expect: Annotated[int, Form(ge=0, lt=_INT64)] = 0,
        unsure: Annotated[bool, Form()] = False,
        comment: Annotated[str, Form(max_length=MAX_COMMENT)] = "",
    ) -> Response:
        annotator = _page_annotator(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        if session.task == "segmentation":
            return _redirect(
                "/label",
                "A mask is painted and saved with JavaScript (or imported: `bayesal session "
                "import-masks`); nothing was recorded.",
                "bad",
            )
        given: Any = label
        if session.task == "multilabel":
            given = [name for name in labels or [] if name]
        elif session.task == "regression":
            given = value
        elif not label:
            return _redirect("/label", "No label was given.", "bad")
        try:
            with state.write_lock:
                item = state.check_item(item_id)
                if state.current_event(item) != expect:
                    return _redirect(
                        "/label",
                        f"Item {item} was labelled meanwhile (another tab or annotator); "
                        "your label for it was not recorded.",
                        "bad",
                    )
                state.check_lease(item, annotator)
                event = session.label(
                    item,
                    given,
                    annotator,
                    source="ui",
                    unsure=True if unsure else None,
                    comment=comment or None,
                )
        except BayesalError as exc:
            return _redirect("/label", str(exc), "bad")
        state.poke()
        shown = state.display(event)
        if isinstance(shown, list):
            shown = ", ".join(shown) or "none of the classes"
        return _redirect("/label", f"Saved item {item} as {shown}.", "good")

    @app.post("/skip")
    def skip_form(
        request: Request, item_id: Annotated[int, Form(ge=-_INT64, lt=_INT64)]
    ) -> Response:
        annotator = _page_annotator(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        try:
            with state.write_lock:
                session.skip(state.check_item(item_id), annotator, source="ui")
        except BayesalError as exc:
            return _redirect("/label", str(exc), "bad")
        return _redirect("/label", f"Skipped item {item_id}.")

    @app.post("/undo")
    def undo_form(request: Request) -> Response:
        annotator = _page_annotator(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        with state.write_lock:
            event = session.undo(annotator, source="ui")
            if event is not None:
                state.hold(event.item_id, annotator)
        if event is None:
            return _redirect("/label", "Nothing to undo: you have no label left to take back.")
        state.poke()
        return _redirect("/label", f"Took back your label of item {event.item_id}.")

    @app.get("/items/{item_id}/image")
    def image(item_id: int) -> Response:
        path = _image_file(state, item_id)
        return FileResponse(
            path,
            media_type=IMAGE_TYPES[path.suffix.lower()],
            headers={"cache-control": "private, max-age=3600"},
        )


def _image_file(state: WebState, item_id: int) -> Path:
    """The item's image file: under the data root (links resolved), a known type."""
    state.check_item(item_id)
    try:
        path = state.session.image_path(item_id)
    except InvalidInputError as exc:
        raise UnknownItemError(str(exc)) from None
    if path.suffix.lower() not in IMAGE_TYPES:
        raise UnknownItemError(f"item {item_id}: not a PNG or JPEG file")
    return path


def _is_small_image(session: LabellingSession, item_id: int) -> bool:
    try:
        from PIL import Image

        with Image.open(session.image_path(item_id)) as img:
            return max(img.size) <= SMALL_IMAGE
    except Exception:  # noqa: BLE001  only decides how the image is drawn
        return False


def _add_api(app: FastAPI, state: WebState) -> None:
    session = state.session

    @app.post("/api/next")
    def api_next(request: Request, body: NextRequest | None = None) -> dict[str, Any]:
        annotator = _annotator(request, None if body is None else body.annotator)
        with state.write_lock:
            view = session.next_item(annotator)
        out = {
            "annotator": annotator,
            "item": state.item_json(view),
            "lease_seconds": float(session.config.lease_seconds),
        }
        if body is not None and body.prefetch:
            out["after"] = state.after_json(annotator, view)
        return out

    @app.post("/api/label")
    def api_label(request: Request, body: LabelRequest) -> dict[str, Any]:
        annotator = _annotator(request, body.annotator)
        with state.write_lock:
            item = state.check_item(body.item_id)
            index: Any = (
                session.label_index(body.label)
                if session.task == "classification"
                else session.label_value(body.label)
            )
            state.check_lease(item, annotator)
            event = session.label(
                item,
                index if session.task == "classification" else body.label,
                annotator,
                source="api",
                correct=body.correct,
                unsure=body.unsure,
                comment=body.comment,
            )
            now = session.label_of(item)
            view = session.next_item(annotator)
        state.poke()
        out = {
            "event_id": event.event_id,
            "item_id": item,
            "label": state.display(event),
            "label_index": index if session.task == "classification" else None,
            "annotator": annotator,
            "corrects": event.corrects,
            "item_label": None if now is None else now[0],
            "item_label_by": None if now is None else now[1].annotator,
            "next": state.item_json(view),
        }
        if body.prefetch:
            out["after"] = state.after_json(annotator, view)
        return out

    @app.post("/api/mask")
    def api_mask(request: Request, body: MaskRequest) -> dict[str, Any]:
        """A segmentation mask (see :class:`MaskRequest`): checked (the session's size,
        classes in range: 422 naming the problem), then on disk before the answer."""
        annotator = _annotator(request, body.annotator)
        if session.task != "segmentation":
            raise InvalidInputError(f"this is a {session.task} session: label with POST /api/label")
        with state.write_lock:
            item = state.check_item(body.item_id)
            mask = session.check_mask(body.mask.model_dump())
            state.check_lease(item, annotator)
            event = session.label(
                item,
                mask,
                annotator,
                source="api",
                unsure=body.unsure,
                comment=body.comment,
            )
            view = session.next_item(annotator)
        state.poke()
        out = {
            "event_id": event.event_id,
            "item_id": item,
            "label": "mask",
            "annotator": annotator,
            "classes": sorted(int(c) for c in np.unique(mask)),
            "next": state.item_json(view),
        }
        if body.prefetch:
            out["after"] = state.after_json(annotator, view)
        return out

    @app.get("/api/items/{item_id}/mask")
    def api_item_mask(item_id: int) -> dict[str, Any]:
        """The item's resolved mask (``{"height", "width", "data"}``) and its latest
        predicted mask, each None when there is none."""
        item = state.check_item(item_id)
        if session.task != "segmentation":
            raise InvalidInputError(f"this is a {session.task} session: it has no masks")
        resolved = session.mask_of(item)
        guess = session.guess_mask(item)
        return {
            "item_id": item,
            "class_names": state.label_names,
            "mask": None if resolved is None else mask_payload(resolved),
            "guess": None if guess is None else mask_payload(guess),
        }

    @app.post("/api/undo")
    def api_undo(request: Request, body: UndoRequest | None = None) -> dict[str, Any]:
        annotator = _annotator(request, None if body is None else body.annotator)
        view = None
        with state.write_lock:
            event = session.undo(annotator, source="api")
            if event is not None:
                state.hold(event.item_id, annotator)
                view = session.item_view(event.item_id)
        if event is not None:
            state.poke()
        out = {
            "annotator": annotator,
            "undone": None if event is None else _event_json(state, event),
            "item": state.item_json(view),
        }
        if body is not None and body.prefetch:
            out["after"] = state.after_json(annotator, view)
        return out

    @app.post("/api/skip")
    def api_skip(request: Request, body: SkipRequest) -> dict[str, Any]:
        annotator = _annotator(request, body.annotator)
        with state.write_lock:
            item = state.check_item(body.item_id)
            session.skip(item, annotator, source="api")
            view = session.next_item(annotator)
        out = {"annotator": annotator, "skipped": item, "next": state.item_json(view)}
        if body.prefetch:
            out["after"] = state.after_json(annotator, view)
        return out

    @app.get("/api/status")
    def api_status() -> dict[str, Any]:
        return state.status_json()

    @app.get("/api/items/{item_id}")
    def api_item(item_id: int) -> dict[str, Any]:
        item = state.check_item(item_id)
        out = state.item_json(session.item_view(item))
        assert out is not None
        return out

    @app.get("/api/queue")
    def api_queue() -> dict[str, Any]:
        store = session.store
        entries = store.queue()[:QUEUE_LIMIT]
        ids = [entry.item_id for entry in entries]
        labelled: set[int] = set()
        if ids:
            marks = ",".join("?" * len(ids))
            labelled = {
                int(row[0])
                for row in store.conn.execute(
                    f"SELECT item_id FROM current_labels WHERE item_id IN ({marks})", ids
                )
            }
        leased = {lease.item_id for lease in store.leases()}
        return {
            "round": store.current_round(),
            "items": [
                {
                    "rank": entry.rank,
                    "item_id": entry.item_id,
                    "score": _finite(entry.score),
                    "predicted": (
                        None if entry.predicted is None else state.label_names[entry.predicted]
                    ),
                    "predicted_prob": _finite(entry.predicted_prob),
                    "uncertainty": _finite(entry.uncertainty),
                    "labelled": entry.item_id in labelled,
                    "leased": entry.item_id in leased,
                }
                for entry in entries
            ],
        }


def check_bind(host: str, token: str | None, annotator_tokens: Mapping[str, str] | None) -> None:
    """Refuse to listen beyond this machine without a token.

    Raises:
        InvalidInputError: ``host`` is not a loopback address and no token is set.
    """
    if not is_loopback(host) and token is None and not annotator_tokens:
        raise InvalidInputError(
            f"refusing to serve on {host!r} without a token: anyone who can reach that "
            "address could read the data and label. Give --token (or --annotator-tokens), "
            "or bind to 127.0.0.1"
        )


def serve(
    session_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    annotator_tokens: Mapping[str, str] | None = None,
    retrain: bool = True,
    log_level: str = "warning",
) -> None:
    """Serve the labelling UI of the session in ``session_dir`` until stopped (Ctrl-C
    or SIGTERM). Binds to ``127.0.0.1`` unless told otherwise; any other address needs
    a token.

    Raises:
        InvalidInputError: a non-loopback ``host`` without a token, or a bad token.
        StoreError: ``session_dir`` is not a labelling session.
    """
    import uvicorn

    check_bind(host, token, annotator_tokens)
    app = create_app(session_dir, token=token, annotator_tokens=annotator_tokens, retrain=retrain)
    shown = f"[{host}]" if ":" in host else host
    hint = " (open it once with ?token=<your token> added)" if token or annotator_tokens else ""
    print(f"bayesal: labelling {session_dir} at http://{shown}:{port}/{hint}", flush=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,  # addresses may carry ?token=
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
