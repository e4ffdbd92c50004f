"""A labelling session: a person labels the items the model most wants labelled.

A session is a directory::

    SESSION/
      session.sqlite     items, label events, rounds, queue, leases (bayesal.session.store)
      session.yaml       the validated config, copied at init
      rounds/round-N/    the learner's saved state of the latest rounds
      retrain.lock       held while a retrain runs (one at a time)

:meth:`LabellingSession.init` reads the data, checks the model on it, records every item
with a stable id, the labels the data already has (annotator ``data``), and a first
queue (the cold start when nothing is labelled). Then annotators ask for the next item
(:meth:`~LabellingSession.next_item`, a lease), label it
(:meth:`~LabellingSession.label`: on disk when it returns), undo, skip; after every
``retrain_every`` labels a retrain (:meth:`~LabellingSession.retrain`, normally in a
background process: :mod:`bayesal.session.worker`) fits the posterior on the labels so
far and writes a new ranked queue, which the next lease uses at once.
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from bayesal._atomic import atomic_write_text
from bayesal.acquisition.base import is_pointwise
from bayesal.acquisition.information import mutual_information, predictive_entropy
from bayesal.data.files import MISSING, ArrayData, read_arrays, read_table
from bayesal.data.images import read_image_folder
from bayesal.errors import BayesalError, ConfigError, InvalidInputError
from bayesal.learner import ActiveLearner, stream_seed
from bayesal.models import build_model
from bayesal.models.registry import check_model
from bayesal.registry import accepted_parameters
from bayesal.session.config import SessionConfig, load_session_config, parse_session_config
from bayesal.session.store import (
    DB_NAME,
    LabelEvent,
    LeaseHeldError,
    QueueEntry,
    RoundRow,
    SessionStore,
    StoreError,
    check_name,
)
from bayesal.stopping import RoundEvidence, StopDecision, cohen_kappa, get_stopping_rule

__all__ = [
    "ItemView",
    "LabellingSession",
    "LeaseHeldError",
    "RetrainBusyError",
    "SessionStatus",
]

CONFIG_NAME = "session.yaml"
#: Seed stream of the session's own draws (stop set, fallback order), apart from the
#: learner's streams 0..7.
_SESSION_STREAM = 100
#: Saved learner states kept (the newest rounds); older ones are removed.
KEEP_STATES = 3
#: Labels whose shown prediction estimates the accuracy (the latest ones).
ACCURACY_WINDOW = 50
_DATA_ANNOTATOR = "data"


class RetrainBusyError(BayesalError):
    """Another process is retraining this session."""


@dataclass(frozen=True)
class ItemView:
    """What an annotator is shown of one item.

    ``kind`` is ``image`` (``ref`` a path under the data root) or ``row`` (a table row:
    ``fields``). ``predicted`` / ``predicted_prob`` / ``uncertainty`` / ``score`` come
    from the latest round's queue (None outside it, or before any model).
    """

    item_id: int
    ref: str
    kind: str
    label: str | None
    predicted: str | None = None
    predicted_prob: float | None = None
    uncertainty: float | None = None
    score: float | None = None
    rank: int | None = None
    round: int | None = None
    from_queue: bool = False
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionStatus:
    """``bayesal session status``: progress, the model, the stopping rules."""

    num_items: int
    num_labelled: int
    per_class: dict[str, int]
    per_annotator: dict[str, int]
    round: int | None
    round_labels: int | None
    labels_since_round: int
    retrain_every: int
    estimated_accuracy: float | None
    estimated_accuracy_from: int
    agreement: float | None
    mean_uncertainty: dict[str, float]
    stopping: list[tuple[str, StopDecision]]
    active_leases: int

    @property
    def should_stop(self) -> bool:
        return any(decision.stop for _, decision in self.stopping)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "stopping"}
        out["stopping"] = [
            {"rule": name, "stop": d.stop, "reason": d.reason, "value": d.value}
            for name, d in self.stopping
        ]
        out["should_stop"] = self.should_stop
        return out


def _seeded_model(name: str, params: Mapping[str, Any], seed: int) -> torch.nn.Module:
    return build_model(name, seed=seed, **params)


def _read_data(config: SessionConfig, root: Path) -> ArrayData:
    path = Path(config.data.path)
    if not path.is_absolute():
        path = root / path
    params = dict(config.data.params)
    if config.data.kind == "image_folder":
        return read_image_folder(path, **params)
    if config.data.kind == "table":
        return read_table(path, **params)
    return read_arrays(path, **params)


def _data_path(config: SessionConfig, root: Path) -> Path:
    path = Path(config.data.path).expanduser()
    return (path if path.is_absolute() else root / path).resolve()


def _item_ids_and_refs(data: ArrayData) -> tuple[np.ndarray, list[str]]:
    """Stable ids: a table's integer ``id_column`` as is, else 0..N-1 in data order;
    refs: the item names (image paths, table ids) or ``row:<i>``."""
    n = data.num_items
    if data.item_names is None:
        return np.arange(n, dtype=np.int64), [f"row:{i}" for i in range(n)]
    names = list(data.item_names)
    if all(name.isdigit() and len(name) < 19 for name in names):
        ids = np.asarray([int(name) for name in names], dtype=np.int64)
        if len(np.unique(ids)) == n:
            return ids, names
    return np.arange(n, dtype=np.int64), names


def _class_names(config: SessionConfig, data: ArrayData) -> tuple[list[str], np.ndarray]:
    """The session's label names and the data's labels mapped onto them."""
    y = data.y.copy()
    if config.labels is None:
        if not data.class_names:  # None, or an image folder without class folders: ()
            raise ConfigError(
                "labels: give the label names (e.g. labels: [cat, dog]); the data holds no "
                "class names"
            )
        if len(data.class_names) < 2:
            raise ConfigError(
                f"labels: the data names only {list(data.class_names)}; give every label name"
            )
        return list(data.class_names), y
    names = list(config.labels)
    if data.class_names is not None:
        position = {name: i for i, name in enumerate(names)}
        missing = [name for name in data.class_names if name not in position]
        if missing:
            raise ConfigError(f"labels: the data has classes {missing} that labels does not name")
        mapping = np.asarray([position[name] for name in data.class_names], dtype=np.int64)
        known = y != MISSING
        y[known] = mapping[y[known]]
    elif len(y) and int(y.max()) >= len(names):
        raise ConfigError(
            f"the data holds class index {int(y.max())} but labels names only {len(names)}"
        )
    return names, y


def _model_params(config: SessionConfig, data: ArrayData, num_classes: int) -> dict[str, Any]:
    """The model's params with what the data tells filled in where the factory takes
    it and the config does not set it: ``num_classes``, ``in_features`` (features per
    item), ``in_channels`` and ``image_size`` (square images)."""
    params = dict(config.model.params)
    accepted = accepted_parameters(check_model(config.model.name, {}))
    shape = data.input_shape
    inferred: dict[str, Any] = {
        "num_classes": num_classes,
        "in_features": int(np.prod(shape)),
    }
    if len(shape) == 3 and shape[1] == shape[2]:
        inferred["in_channels"] = int(shape[0])
        inferred["image_size"] = int(shape[1])
    for name, value in inferred.items():
        if name not in params and (accepted is None or name in accepted):
            params[name] = value
    return params


class LabellingSession:
    """One labelling session directory (see the module docstring).

    Open with :meth:`open` (or create with :meth:`init`). Safe to use from several
    threads; several processes may open the same session (the web server and the
    retrain worker do).
    """

    def __init__(self, directory: Path, store: SessionStore, config: SessionConfig) -> None:
        self.directory = directory
        self.store = store
        self.config = config
        self.label_names: list[str] = list(store.meta("label_names"))
        self.data_root = Path(store.meta("data_path"))
        self.config_root = Path(store.meta("config_root"))
        self._label_index = {name: i for i, name in enumerate(self.label_names)}
        self._data: ArrayData | None = None
        self._table: Any = None

    # ------------------------------------------------------------------ create, open

    @classmethod
    def init(
        cls,
        directory: str | Path,
        config: str | Path | SessionConfig,
        *,
        config_root: str | Path | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> LabellingSession:
        """Create the session ``directory`` (which must not exist or be empty) from a
        config file (or a validated config, whose data paths are relative to
        ``config_root``, default the working directory).

        Everything is checked before the session is created: the config, the data
        (read whole), label names against the data's classes, the model on two items.
        The session's file appears complete or not at all.

        Raises:
            ConfigError, DataNotFoundError, InvalidInputError: what is wrong, named.
        """
        say = progress or (lambda message: None)
        directory = Path(directory)
        if isinstance(config, SessionConfig):
            root = Path(config_root or ".").resolve()
        else:
            config, root = load_session_config(config)
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise InvalidInputError(
                f"{directory} exists and is not an empty directory: choose a new session path"
            )
        say(f"reading {config.data.kind} {_data_path(config, root)}")
        data = _read_data(config, root)
        names, y = _class_names(config, data)
        ids, refs = _item_ids_and_refs(data)
        params = _model_params(config, data, len(names))
        model = _seeded_model(config.model.name, params, 0)
        x = torch.as_tensor(data.x[:2])
        try:
            with torch.no_grad():
                logits = model.eval()(x)
        except Exception as exc:  # noqa: BLE001  the user's model on the user's data
            raise ConfigError(
                f"model {config.model.name!r} (params {params}) fails on the data's items of "
                f"shape {list(data.input_shape)}: {type(exc).__name__}: {exc}"
            ) from None
        if tuple(logits.shape) != (len(x), len(names)):
            raise ConfigError(
                f"model {config.model.name!r} returns shape {list(logits.shape)} for "
                f"{len(x)} items; expected [{len(x)}, {len(names)}] ({len(names)} labels)"
            )

        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{DB_NAME}.init"
        tmp.unlink(missing_ok=True)
        try:
            store = SessionStore.create(tmp)
            n = data.num_items
            rng = np.random.default_rng(stream_seed(config.seed, _SESSION_STREAM, 0))
            stop_rows = np.sort(rng.choice(n, size=min(config.stop_set_size, n), replace=False))
            fallback = np.random.default_rng(stream_seed(config.seed, _SESSION_STREAM, 1))
            with store.write() as conn:
                store.add_items(conn, ids.tolist(), refs, fallback.permutation(n).tolist())
                store.set_meta(conn, "label_names", names)
                store.set_meta(conn, "data_path", str(_data_path(config, root)))
                store.set_meta(conn, "config_root", str(root))
                store.set_meta(conn, "config", config.model_dump(mode="json"))
                store.set_meta(conn, "model_params", params)
                store.set_meta(conn, "num_items", n)
                store.set_meta(conn, "stop_set", ids[stop_rows].tolist())
                store.set_meta(conn, "created", time.time())
            known = np.flatnonzero(y != MISSING)
            if len(known):
                store.add_labels(
                    [(int(ids[i]), int(y[i]), _DATA_ANNOTATOR) for i in known],
                    source="initial",
                    shown=False,
                )
            store.close()
            atomic_write_text(
                directory / CONFIG_NAME,
                yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False),
            )
            os.replace(tmp, directory / DB_NAME)
        except BaseException:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                leftover.unlink(missing_ok=True)
            raise
        session = cls.open(directory)
        session._data = data
        say(f"{n} items, {len(known)} labelled from the data; ranking the first queue")
        session.retrain()
        return session

    @classmethod
    def open(cls, directory: str | Path) -> LabellingSession:
        """The session in ``directory``.

        Raises:
            StoreError: not a session directory, or one of a newer bayesal.
        """
        directory = Path(directory)
        if not (directory / DB_NAME).is_file():
            raise StoreError(
                f"{directory} is not a labelling session (no {DB_NAME}); create one with "
                "`bayesal session init`"
            )
        store = SessionStore.open(directory / DB_NAME)
        config = parse_session_config(store.meta("config"), f"{directory}/{DB_NAME}")
        return cls(directory, store, config)

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ checks

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def label_index(self, label: int | str) -> int:
        """The class index of ``label``: a label name, or an index (int or digits).

        Raises:
            InvalidInputError: an unknown name or an index out of range.
        """
        if isinstance(label, bool):
            raise InvalidInputError(f"label must be a name or an index, got {label!r}")
        if isinstance(label, str):
            text = label.strip()
            if text in self._label_index:
                return self._label_index[text]
            try:
                if not text.isdigit():
                    raise ValueError(text)
                label = int(text)  # fails on "²" and on more digits than int() reads
            except ValueError:
                raise InvalidInputError(
                    f"unknown label {text[:100]!r}; the labels are {self.label_names}"
                ) from None
        if isinstance(label, int | np.integer):
            if 0 <= int(label) < self.num_classes:
                return int(label)
            raise InvalidInputError(
                f"label index {int(label)} out of range: 0 to {self.num_classes - 1}"
            )
        raise InvalidInputError(f"label must be a name or an index, got {type(label).__name__}")

    def check_item(self, item_id: object) -> tuple[int, str, int]:
        """``(item_id, ref, row)`` of an existing item.

        Raises:
            InvalidInputError: not an integer id, or no such item.
        """
        if isinstance(item_id, str) and item_id.strip().lstrip("-").isdigit():
            raw = item_id
            try:
                item_id = int(raw.strip())
            except ValueError:  # "--5", "²", more digits than int() reads
                raise InvalidInputError(f"item id must be an integer, got {raw[:100]!r}") from None
        if isinstance(item_id, bool) or not isinstance(item_id, int | np.integer):
            raise InvalidInputError(f"item id must be an integer, got {item_id!r:.100}")
        if not -(2**63) <= int(item_id) < 2**63:
            raise InvalidInputError(f"no item {item_id}")
        found = self.store.item(int(item_id))
        if found is None:
            raise InvalidInputError(f"no item {item_id} in this session")
        return found

    # ------------------------------------------------------------------ labelling

    def next_item(self, annotator: str = "default") -> ItemView | None:
        """Lease the next item to ``annotator`` (for ``lease_seconds``) and show it; the
        same item again while the lease holds and it is unlabelled. None when every item
        is labelled or leased to someone else."""
        annotator = check_name(annotator)
        leased = self.store.lease_next(annotator, self.config.lease_seconds)
        if leased is None:
            return None
        item_id, from_queue = leased
        return self.item_view(item_id, from_queue=from_queue)

    def label(
        self,
        item_id: object,
        label: int | str,
        annotator: str = "default",
        *,
        source: str = "api",
        correct: bool = False,
    ) -> LabelEvent:
        """Record ``annotator``'s ``label`` for ``item_id``: on disk when this returns.

        Every annotation is kept as an event. The item's label is the first annotator's:
        the same annotator labelling it again changes it (their own correction), another
        annotator's label is kept beside it as an annotation and does not replace it,
        unless ``correct=True``: an explicit correction, recorded with who made it and
        which label event it replaces (:attr:`LabelEvent.corrects`). See
        :meth:`label_of` for the item's label after the call.

        Raises:
            InvalidInputError: no such item, or an unknown label or annotator name.
            LeaseHeldError: the item is leased to another annotator (the message names
                them); nothing is recorded.
        """
        found = self.check_item(item_id)
        index = self.label_index(label)
        annotator = check_name(annotator)
        return self.store.add_labels(
            [(found[0], index, annotator)],
            source=check_name(source, "source"),
            correct=bool(correct),
            check_leases=True,
        )[0]

    def label_of(self, item_id: object) -> tuple[str, LabelEvent] | None:
        """The item's label name now and the event that set it (None: unlabelled)."""
        found = self.store.label_of(self.check_item(item_id)[0])
        return None if found is None else (self.label_names[found[0]], found[1])

    def undo(self, annotator: str = "default", *, source: str = "api") -> LabelEvent | None:
        """Take back ``annotator``'s latest label (the item gets its earlier label back,
        or none). Returns the undo event, or None if there was nothing to undo."""
        return self.store.undo_last(check_name(annotator), check_name(source))

    def skip(self, item_id: object, annotator: str = "default", *, source: str = "api") -> None:
        """``annotator`` passes on ``item_id``: it is not offered to them again while
        other items remain."""
        found = self.check_item(item_id)
        self.store.add_skip(found[0], check_name(annotator), check_name(source))

    def hold(self, item_id: object, annotator: str = "default") -> bool:
        """Lease ``item_id`` to ``annotator`` now (after an undo, to show the item
        again), unless another annotator holds it: then False."""
        found = self.check_item(item_id)
        return self.store.hold(found[0], check_name(annotator), self.config.lease_seconds)

    def labels(self) -> dict[int, int]:
        """``item_id -> class index`` of every labelled item now."""
        return {i: label for i, (label, _) in self.store.current_labels().items()}

    # ------------------------------------------------------------------ showing items

    @property
    def item_kind(self) -> str:
        return "image" if self.config.data.kind == "image_folder" else "row"

    def item_view(self, item_id: object, *, from_queue: bool = False) -> ItemView:
        """How ``item_id`` is shown (see :class:`ItemView`)."""
        item, ref, row = self.check_item(item_id)
        entry = self.store.queue_entry(item)
        current = self.store.conn.execute(
            "SELECT label FROM current_labels WHERE item_id = ?", (item,)
        ).fetchone()
        fields = self.item_fields(item) if self.item_kind == "row" else {}
        return ItemView(
            item_id=item,
            ref=ref,
            kind=self.item_kind,
            label=None if current is None else self.label_names[int(current[0])],
            predicted=(
                None
                if entry is None or entry.predicted is None
                else self.label_names[entry.predicted]
            ),
            predicted_prob=None if entry is None else entry.predicted_prob,
            uncertainty=None if entry is None else entry.uncertainty,
            score=None if entry is None else entry.score,
            rank=None if entry is None else entry.rank,
            round=None if entry is None else entry.round,
            from_queue=from_queue,
            fields=fields,
        )

    def image_path(self, item_id: object) -> Path:
        """The image file of an item of an image-folder session, checked to lie under
        the data root (a ref that escapes it is refused, links included).

        Raises:
            InvalidInputError: not an image session, no such item, or a path outside
                the data root.
        """
        if self.item_kind != "image":
            raise InvalidInputError("this session's items are table rows, not images")
        _, ref, _ = self.check_item(item_id)
        root = self.data_root.resolve()
        path = (root / ref).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise InvalidInputError(f"item {item_id}: its file is not under the data root")
        return path

    def item_fields(self, item_id: int) -> dict[str, Any]:
        """A table item's row as ``column -> value`` (the file's own values); for array
        data, the first features."""
        _, _, row = self.check_item(item_id)
        if self.config.data.kind == "table":
            if self._table is None:
                from bayesal.data.files import _read_frame, _table_format

                fmt = _table_format(self.data_root, self.config.data.params.get("format"))
                self._table = _read_frame(self.data_root, fmt)
            values = self._table.iloc[row].to_dict()
            return {str(k): _plain(v) for k, v in values.items()}
        x = self._read_data().x[row].reshape(-1)[:50]
        return {f"x{i}": float(v) for i, v in enumerate(x)}

    # ------------------------------------------------------------------ the model

    def _read_data(self) -> ArrayData:
        if self._data is None:
            data = _read_data(self.config, self.config_root)
            ids, refs = _item_ids_and_refs(data)
            stored = self.store.items()
            if len(stored) != data.num_items or [r for _, r, _ in stored] != refs:
                raise StoreError(
                    f"the data at {self.data_root} changed since the session was created "
                    f"({data.num_items} items now, {len(stored)} recorded); restore it or "
                    "start a new session"
                )
            self._data = data
        return self._data

    def _learner(self, x: np.ndarray, ids: np.ndarray, labels: np.ndarray) -> ActiveLearner:
        config = self.config
        params = self.store.meta("model_params")
        return ActiveLearner(
            x,
            model=partial(_seeded_model, config.model.name, params),
            strategy=config.strategy.name,
            strategy_params=config.strategy.params,
            posterior=config.posterior.name,
            posterior_params=config.posterior.method_params(),
            num_classes=self.num_classes,
            ids=ids,
            labels=labels,
            training=config.training,
            cold_start=config.cold_start,
            device=config.device,
            seed=config.seed,
        )

    @contextmanager
    def _retrain_lock(self, wait: bool) -> Iterator[None]:
        path = self.directory / "retrain.lock"
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise RetrainBusyError(f"{self.directory}: a retrain is running") from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def needs_retrain(self) -> bool:
        """True when ``retrain_every`` labels (or undos) came in since the last round."""
        last = self.store.last_round()
        since = self.store.label_events_since(0 if last is None else last.last_event_id)
        return since >= self.config.retrain_every

    def retrain(self, *, wait: bool = True) -> RoundRow:
        """Fit the posterior on the labels now, rank the unlabelled items, record the
        round and its queue (the next lease uses it). With no label, the queue is the
        cold start (``cold_start``). One retrain at a time per session.

        Raises:
            RetrainBusyError: ``wait=False`` and another retrain is running.
        """
        with self._retrain_lock(wait):
            return self._retrain()

    @torch.no_grad()
    def _predict(self, learner: ActiveLearner, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        return learner.predict_log_probs(x)

    def _retrain(self) -> RoundRow:
        started = time.time()
        data = self._read_data()
        stored = self.store.items()
        ids = np.asarray([i for i, _, _ in stored], dtype=np.int64)
        rows = np.asarray([r for _, _, r in stored], dtype=np.int64)
        labels, last_event = self.store.labelled_snapshot()
        y = np.full(len(ids), MISSING, dtype=np.int64)
        position = {int(i): p for p, i in enumerate(ids)}
        for item, label in labels.items():
            y[position[item]] = label
        x = data.x[rows]
        learner = self._learner(x, ids, y)
        last = self.store.current_round()
        r = 0 if last is None else last + 1
        learner.round = r
        size = min(self.config.queue_size, int((y == MISSING).sum()))
        metrics: dict[str, Any] = {"round": r, "n_labels": len(labels)}
        queue: list[QueueEntry] = []
        stop_predictions: bytes | None = None
        picked = learner.query(size) if size else np.zeros(0, dtype=np.int64)
        metrics["fit_seconds"] = learner.last_timings.fit
        metrics["select_seconds"] = learner.last_timings.score + learner.last_timings.select
        if len(labels) == 0:
            queue = [
                QueueEntry(r, rank, int(i), None, None, None, None) for rank, i in enumerate(picked)
            ]
        else:
            draw = learner.draw_for_round(r)
            picked_rows = np.asarray([position[int(i)] for i in picked], dtype=np.int64)
            scores = None
            if len(picked_rows):
                x_q = torch.as_tensor(x[picked_rows])
                log_probs = self._predict(learner, x_q)
                log_probs_K = draw.log_probs(x_q).cpu()
                if is_pointwise(learner.strategy):
                    generator = torch.Generator().manual_seed(
                        stream_seed(self.config.seed, _SESSION_STREAM, 2, r)
                    )
                    scores = learner.strategy.score(log_probs_K, generator=generator)
                uncertainty = mutual_information(log_probs_K)
                probs, predicted = log_probs.exp().max(-1)
                queue = [
                    QueueEntry(
                        r,
                        rank,
                        int(picked[rank]),
                        None if scores is None else float(scores[rank]),
                        int(predicted[rank]),
                        float(probs[rank]),
                        float(uncertainty[rank]),
                    )
                    for rank in range(len(picked))
                ]
            stop_ids = np.asarray(self.store.meta("stop_set"), dtype=np.int64)
            stop_rows = np.asarray([position[int(i)] for i in stop_ids], dtype=np.int64)
            entropy, bald, preds = [], [], []
            for start in range(0, len(stop_rows), 1024):
                x_s = torch.as_tensor(x[stop_rows[start : start + 1024]])
                preds.append(self._predict(learner, x_s).argmax(-1))
                log_probs_K = draw.log_probs(x_s).cpu()
                entropy.append(predictive_entropy(log_probs_K))
                bald.append(mutual_information(log_probs_K))
            stop = torch.cat(preds).numpy().astype(np.int16)
            stop_predictions = stop.tobytes()
            metrics["stop_mean_entropy"] = float(torch.cat(entropy).double().mean())
            metrics["stop_mean_bald"] = float(torch.cat(bald).double().mean())
            previous = self._previous_stop_predictions()
            metrics["agreement"] = (
                None
                if previous is None or len(previous) != len(stop)
                else cohen_kappa(previous, stop, self.num_classes)
            )
        state = self.directory / "rounds" / f"round-{r}"
        if len(labels):
            learner.save(state, include_pool=False)
        self.store.add_round(
            round=r,
            started=started,
            n_labels=len(labels),
            last_event_id=last_event,
            state_path=str(state.relative_to(self.directory)) if len(labels) else None,
            metrics=metrics,
            stop_predictions=stop_predictions,
            queue=queue,
        )
        self._prune_states(r)
        result = self.store.last_round()
        assert result is not None
        return result

    def _previous_stop_predictions(self) -> np.ndarray | None:
        for row in reversed(self.store.rounds()):
            if row.stop_predictions is not None:
                return np.frombuffer(row.stop_predictions, dtype=np.int16)
        return None

    def _prune_states(self, newest: int) -> None:
        folder = self.directory / "rounds"
        if not folder.is_dir():
            return
        for state in folder.glob("round-*"):
            suffix = state.name.removeprefix("round-")
            if suffix.isdigit() and int(suffix) <= newest - KEEP_STATES:
                if state.is_dir():
                    shutil.rmtree(state, ignore_errors=True)
                else:
                    state.unlink(missing_ok=True)

    # ------------------------------------------------------------------ progress

    def evidence(self) -> list[RoundEvidence]:
        """Each round's evidence for the stopping rules."""
        out = []
        for row in self.store.rounds():
            m = row.metrics
            uncertainty = {
                key: float(m[f"stop_mean_{key}"])
                for key in ("entropy", "bald")
                if m.get(f"stop_mean_{key}") is not None
            }
            out.append(
                RoundEvidence(
                    n_labels=row.n_labels,
                    agreement=m.get("agreement"),
                    uncertainty=uncertainty,
                    accuracy=None,
                )
            )
        return out

    def stopping(self) -> list[tuple[str, StopDecision]]:
        """Each configured rule's decision on the rounds so far; the budget rule also
        sees the labels made since the last round."""
        history = self.evidence()
        now = self.store.num_labelled()
        if history:
            last = history[-1]
            history[-1] = RoundEvidence(now, last.agreement, last.uncertainty, last.accuracy)
        else:
            history = [RoundEvidence(now, None, {}, None)]
        decisions = []
        for rule_config in self.config.stopping:
            rule = get_stopping_rule(rule_config.name, **rule_config.params)
            decisions.append((rule_config.label or rule_config.name, rule(history)))
        return decisions

    def estimated_accuracy(self) -> tuple[float | None, int]:
        """The share of the latest labels (up to :data:`ACCURACY_WINDOW`) that the model
        predicted right when the item was shown, and how many labels that is. The items
        are the ones the model was least sure of, so this underestimates its accuracy on
        the pool as a whole."""
        pairs = self.store.recent_predicted_labels(ACCURACY_WINDOW)
        if not pairs:
            return None, 0
        return sum(p == y for p, y in pairs) / len(pairs), len(pairs)

    def status(self) -> SessionStatus:
        store = self.store
        by_label = store.counts_by_label()
        last = store.last_round()
        accuracy, accuracy_n = self.estimated_accuracy()
        m = {} if last is None else last.metrics
        return SessionStatus(
            num_items=store.num_items(),
            num_labelled=store.num_labelled(),
            per_class={name: by_label.get(i, 0) for i, name in enumerate(self.label_names)},
            per_annotator=store.counts_by_annotator(),
            round=None if last is None else last.round,
            round_labels=None if last is None else last.n_labels,
            labels_since_round=store.label_events_since(0 if last is None else last.last_event_id),
            retrain_every=self.config.retrain_every,
            estimated_accuracy=accuracy,
            estimated_accuracy_from=accuracy_n,
            agreement=m.get("agreement"),
            mean_uncertainty={
                key: float(m[f"stop_mean_{key}"])
                for key in ("entropy", "bald")
                if m.get(f"stop_mean_{key}") is not None
            },
            stopping=self.stopping(),
            active_leases=len(store.leases()),
        )

    def __repr__(self) -> str:
        return f"LabellingSession({str(self.directory)!r})"


def _plain(value: Any) -> Any:
    """A JSON-safe scalar of a table cell."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def item_ids_of(session: LabellingSession, values: Sequence[object]) -> list[int]:
    """Checked item ids (see :meth:`LabellingSession.check_item`)."""
    return [session.check_item(v)[0] for v in values]
