"""Label Studio's ML-backend protocol, so a Label Studio project can use bayesal's ranking.

Connect the server in Label Studio (project settings, *Model*, URL of ``bayesal
serve``; with a token, use basic auth with the token as the password). Label Studio then
calls (https://labelstud.io/guide/ml_create):

* ``GET /health`` -> ``{"status": "UP", "model_class": "bayesal"}``.
* ``POST /setup`` ``{"project", "schema", ...}`` -> ``{"model_version"}``: the schema's
  ``Choices`` must name the session's labels.
* ``POST /predict`` ``{"tasks": [...], "label_config", ...}`` -> ``{"results": [one
  prediction per task, in order]}``. A task is found by ``data["item_id"]`` (tasks
  exported by ``bayesal session export --format labelstudio`` carry it) or by a file
  reference in its data that names an item (``/data/local-files/?d=digits/img7.png`` ->
  the item ``img7.png``). An item in the current ranked queue gets the model's guess as
  a ``choices`` result and a ``score`` that orders the queue: ``rank / queue length``,
  0 for the item bayesal wants labelled first. Label Studio's Data Manager, sorted by
  prediction score ascending (its active-learning order), then shows bayesal's ranking.
  Items outside the queue get an empty result and score 1.
* ``POST /webhook`` with ``ANNOTATION_CREATED`` / ``ANNOTATION_UPDATED`` records the
  annotation's choice as a label (annotator ``labelstudio:<user>`` or their e-mail, whole:
  one over 100 characters is refused, never cut; an item another annotator labelled
  keeps their label and this one is kept as an annotation),
  ``START_TRAINING`` starts a retrain; ``POST /train`` (older Label Studio versions)
  starts a retrain too. Retrains run in the background worker, as for the UI.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bayesal.errors import InvalidInputError
from bayesal.session.labelstudio import normalise_ref, read_export
from bayesal.session.store import check_name
from bayesal.web.security import auth_of

if TYPE_CHECKING:
    from bayesal.web.app import WebState

__all__ = ["MAX_TASKS", "add_ml_backend"]

#: The most tasks one ``/predict`` request may carry.
MAX_TASKS = 1000
MAX_CONFIG = 64 * 1024
TRAIN_EVENTS = ("START_TRAINING",)
LABEL_EVENTS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")

LabelConfig = Annotated[str, StringConstraints(max_length=MAX_CONFIG)]


class _LSBody(BaseModel):
    # Label Studio sends more fields than these (and more with each version).
    model_config = ConfigDict(extra="allow")


class SetupRequest(_LSBody):
    project: str | int | None = None
    schema_: LabelConfig | None = Field(default=None, alias="schema")


class PredictRequest(_LSBody):
    tasks: list[dict[str, Any]] = Field(max_length=MAX_TASKS)
    label_config: LabelConfig | None = None
    project: str | int | None = None


class WebhookRequest(_LSBody):
    action: Annotated[str, StringConstraints(max_length=100)]
    project: dict[str, Any] | None = None
    task: dict[str, Any] | None = None
    annotation: dict[str, Any] | None = None


def _choices_tag(label_config: str | None) -> tuple[str | None, str | None, list[str]]:
    """``(name, toName, choice values)`` of the first ``Choices`` tag of a labelling
    config, or Nones when there is no config."""
    if not label_config:
        return None, None, []
    try:
        root = ET.fromstring(label_config)
    except ET.ParseError as exc:
        raise InvalidInputError(f"label_config is not valid XML ({exc})") from None
    for element in root.iter():
        if element.tag.lower() == "choices":
            values = [c.get("value", "") for c in element if c.tag.lower() == "choice"]
            return element.get("name"), element.get("toName"), values
    raise InvalidInputError(
        "label_config has no <Choices> tag; bayesal predicts single-choice classification"
    )


def _model_version(state: WebState) -> str:
    current = state.session.store.current_round()
    return "bayesal-cold-start" if current is None else f"bayesal-round-{current}"


def _item_of_task(state: WebState, task: dict[str, Any]) -> int | None:
    data = task.get("data")
    if not isinstance(data, dict):
        return None
    store = state.session.store
    raw = data.get("item_id")
    if raw is not None:
        if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
            raw = int(raw.strip())
        if isinstance(raw, int) and not isinstance(raw, bool) and -(2**63) <= raw < 2**63:
            found = store.item(raw)
            return None if found is None else found[0]
        return None
    for value in data.values():
        if not isinstance(value, str) or len(value) > 4096:
            continue
        ref = normalise_ref(value)
        parts = [part for part in ref.split("/") if part]
        for start in range(len(parts)):
            item = store.item_by_ref("/".join(parts[start:]))
            if item is not None:
                return item
    return None


def add_ml_backend(app: FastAPI, state: WebState) -> None:
    """Add Label Studio's ML-backend routes to ``app`` (see the module docstring)."""
    session = state.session
    names = state.label_names

    def check_choices(values: list[str]) -> None:
        unknown = [v for v in values if v not in names]
        if unknown:
            raise InvalidInputError(
                f"the labelling config's choices {unknown[:10]} are not this session's "
                f"labels {names}; use the config `bayesal session export` writes"
            )

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "UP", "model_class": "bayesal"}

    @app.post("/setup")
    def setup(body: SetupRequest) -> dict[str, Any]:
        _, _, values = _choices_tag(body.schema_)
        check_choices(values)
        return {"model_version": _model_version(state)}

    @app.post("/predict")
    def predict(body: PredictRequest) -> dict[str, Any]:
        from_name, to_name, values = _choices_tag(body.label_config)
        check_choices(values)
        from_name = from_name or "label"
        to_name = to_name or ("image" if session.item_kind == "image" else "table")
        version = _model_version(state)
        queue = {entry.item_id: entry for entry in session.store.queue()}
        size = max(len(queue), 1)
        results = []
        for task in body.tasks:
            item = _item_of_task(state, task)
            entry = None if item is None else queue.get(item)
            if entry is None:
                results.append({"model_version": version, "score": 1.0, "result": []})
                continue
            result = []
            if entry.predicted is not None:
                result.append(
                    {
                        "id": f"bayesal-{item}",
                        "from_name": from_name,
                        "to_name": to_name,
                        "type": "choices",
                        "value": {"choices": [names[entry.predicted]]},
                    }
                )
            results.append({"model_version": version, "score": entry.rank / size, "result": result})
        return {"results": results, "model_version": version}

    @app.post("/train", status_code=201)
    def train() -> dict[str, Any]:
        return {"status": state.force_retrain(), "job": _model_version(state)}

    @app.post("/webhook")
    def webhook(request: Request, body: WebhookRequest) -> JSONResponse:
        if body.action in TRAIN_EVENTS:
            return JSONResponse(
                {"status": "ok", "result": {"retrain": state.force_retrain()}}, status_code=201
            )
        if body.action not in LABEL_EVENTS:
            return JSONResponse({"status": "Unknown event"}, status_code=200)
        if body.task is None or body.annotation is None:
            raise InvalidInputError(f"{body.action} without a task and an annotation")
        from_name = None
        if body.project and isinstance(body.project.get("label_config"), str):
            from_name = _choices_tag(body.project["label_config"][:MAX_CONFIG])[0]
        record = {
            "id": body.task.get("id"),
            "data": body.task.get("data", {}),
            "annotations": [body.annotation],
        }
        item = _item_of_task(state, record)
        if item is not None:
            record["data"] = {**record["data"], "item_id": item}
        labels = read_export([record], names, from_name=from_name)
        recorded = []
        fixed = auth_of(request.state).annotator  # a per-annotator token labels as its own
        # Whole names only: cutting two long e-mails to 100 characters could merge two
        # people into one annotator.
        annotators = [fixed or check_name(imported.annotator) for imported in labels]
        with state.write_lock:
            for imported, annotator in zip(labels, annotators, strict=True):
                event = session.label(
                    state.check_item(imported.item_id),
                    imported.label,
                    annotator,
                    source="labelstudio",
                )
                recorded.append({"event_id": event.event_id, "item_id": event.item_id})
        state.poke()
        return JSONResponse({"status": "ok", "result": {"recorded": recorded}}, status_code=201)
