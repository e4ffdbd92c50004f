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
from bayesal.data.text import read_text, read_text_features
from bayesal.errors import BayesalError, ConfigError, InvalidInputError
from bayesal.learner import ActiveLearner, stream_seed
from bayesal.models import build_model
from bayesal.models.registry import check_model
from bayesal.registry import accepted_parameters
from bayesal.session.agreement import annotator_agreement
from bayesal.session.config import SessionConfig, load_session_config, parse_session_config
from bayesal.session.masks import (
    MAX_MASK_PIXELS,
    check_mask,
    decode_mask,
    encode_mask,
    mask_payload,
    parse_mask_payload,
)
from bayesal.session.store import (
    DATA_ANNOTATOR,
    DB_NAME,
    MAX_COMMENT,
    REVIEWER,
    LabelEvent,
    LeaseHeldError,
    QueueEntry,
    RoundRow,
    SessionStore,
    StoreError,
    check_name,
)
from bayesal.stopping import RoundEvidence, StopDecision, cohen_kappa, get_stopping_rule
from bayesal.tasks import multilabel as multilabel_scores
from bayesal.tasks import regression as regression_scores
from bayesal.tasks import segmentation as segmentation_scores

__all__ = [
    "ConflictError",
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
_DATA_ANNOTATOR = DATA_ANNOTATOR
#: Predictions of the pool computed per chunk of items at a retrain.
_PREDICT_CHUNK = 1024
#: The most stop-set pixels a segmentation round records for the agreement between
#: rounds (a regular subsample beyond it).
_STOP_PIXELS = 200_000
#: The level of a regression guess's central interval (the page shows it).
GUESS_LEVEL = 0.9


class RetrainBusyError(BayesalError):
    """Another process is retraining this session."""


class ConflictError(InvalidInputError):
    """A request the session's resolve rule does not allow (e.g. a correction of another
    annotator's label where labels are decided by majority or by a reviewer)."""


#: A label as the session hands it out: a class name, a sorted list of class names
#: (multi-label) or a number (regression).
LabelValue = str | list[str] | float


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
    #: The item's text (``kind`` ``text``: a text-table session), else None.
    text: str | None = None
    #: The resolved label of a multi-label (sorted class names) or regression (a number)
    #: item; ``label`` is then None. Classification: ``label`` as before.
    value: list[str] | float | None = None
    #: Classes someone said this item is not (negative observations); ``predicted`` is
    #: never one of them (None instead).
    negatives: tuple[str, ...] = ()
    #: Annotated but unresolved (a disagreement the rule leaves open, or a label a
    #: negative observation contradicts): waiting for a reviewer.
    conflict: bool = False
    #: The latest trained round's guess for a multi-label or regression item (None
    #: before the first trained round, and for classification, whose guess is
    #: ``predicted``): multi-label ``{"round", "labels" (the classes predicted present,
    #: mean probability >= 0.5, none the item has a "no" for), "probs" ({class name:
    #: mean probability}), "probability" (of exactly that set), "uncertainty" (BALD
    #: summed over labels, nats)}``; regression ``{"round", "mean", "low", "high" (the
    #: predictive mixture's central 90% interval), "level" (0.9), "uncertainty" (BALD
    #: under a Gaussian approximation, nats)}``.
    guess: Mapping[str, Any] | None = None


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
    #: Annotator agreement (:func:`~bayesal.session.agreement.annotator_agreement`):
    #: ``{"kappa", "method", "items", "annotators"}``.
    agreement: dict[str, Any]
    #: Cohen's kappa of this round's and the previous round's predictions on the stop
    #: set (what the stabilizing-predictions rule reads); before issue 22 this was
    #: ``agreement``.
    model_agreement: float | None
    mean_uncertainty: dict[str, float]
    stopping: list[tuple[str, StopDecision]]
    active_leases: int
    #: Items in conflict (annotated, unresolved), waiting for a reviewer.
    conflicts: int = 0
    task: str = "classification"
    resolve: str = "first"
    overlap: float = 0.0

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
    if config.data.kind == "text":  # features fitted on the whole file (the pool)
        return read_text_features(path, seed=config.seed, **params)[0]
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
    """The session's label names and the data's labels mapped onto them (a multi-label
    or regression session: the configured names, or none, and no label from the data)."""
    y = data.y.copy()
    if config.task != "classification":
        if (y != MISSING).any() or data.class_names:
            raise ConfigError(
                f"task {config.task}: the data carries class labels (class folders or a "
                "label column), which are single classes; leave them out and import the "
                f"labels with `bayesal session import` (a {config.task} label per row)"
            )
        return list(config.labels or []), y
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
        self._texts: tuple[str, ...] | None = None

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
        # Regression models output a mean and a log-variance per item (DESIGN.md).
        outputs = 2 if config.task == "regression" else len(names)
        params = _model_params(config, data, outputs)
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
        mask_size: list[int] | None = None
        if config.task == "segmentation":
            shape = tuple(data.x.shape)
            if len(shape) != 4:
                raise ConfigError(
                    "task segmentation: the items must be images [N, channels, H, W], got "
                    f"items of shape {list(data.input_shape)}"
                )
            mask_size = [int(shape[2]), int(shape[3])]
            if mask_size[0] * mask_size[1] > MAX_MASK_PIXELS:
                raise ConfigError(
                    f"task segmentation: images of {mask_size} are larger than "
                    f"{MAX_MASK_PIXELS} pixels; set data.params.size smaller"
                )
            expected = (len(x), outputs, *mask_size)
            if tuple(logits.shape) != expected:
                raise ConfigError(
                    f"model {config.model.name!r} returns shape {list(logits.shape)} for "
                    f"{len(x)} images of shape {list(data.input_shape)}; a segmentation "
                    f"model returns per-pixel logits {list(expected)} (one per class and "
                    "pixel, at the image's size)"
                )
        elif tuple(logits.shape) != (len(x), outputs):
            raise ConfigError(
                f"model {config.model.name!r} returns shape {list(logits.shape)} for "
                f"{len(x)} items; expected [{len(x)}, {outputs}] ("
                + ("mean and log-variance" if config.task == "regression" else f"{outputs} labels")
                + ")"
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
                if mask_size is not None:
                    store.set_meta(conn, "mask_size", mask_size)
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

    def label_index(self, label: object) -> int:
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
        leased = self.store.lease_next(
            annotator, self.config.lease_seconds, overlap=self.config.overlap
        )
        if leased is None:
            return None
        item_id, from_queue = leased
        return self.item_view(item_id, from_queue=from_queue)

    def label(
        self,
        item_id: object,
        label: object,
        annotator: str = "default",
        *,
        source: str = "api",
        correct: bool = False,
        unsure: bool | None = None,
        comment: str | None = None,
    ) -> LabelEvent:
        """Record ``annotator``'s ``label`` for ``item_id``: on disk when this returns.

        ``label``: a class name or index (classification); a list / set of class names
        or indices, or a comma-separated string, possibly empty (multi-label, see
        :meth:`label_value`); a finite number (regression).

        Every annotation is kept as an event; another annotator's annotation is never
        overwritten. The item's label is resolved by the session's ``resolve`` rule
        (``first``: the first annotator's; the same annotator labelling it again changes
        it; ``correct=True`` replaces another annotator's label, recorded with which
        label event it replaces, :attr:`LabelEvent.corrects`). ``unsure`` / ``comment``:
        the annotator's note on the item, stored with the event.

        Raises:
            InvalidInputError: no such item, or an unknown label or annotator name, a bad
                comment.
            ConflictError: ``correct=True`` under ``resolve: majority`` or ``reviewer``
                (a reviewer decides there: :meth:`resolve_conflict`).
            LeaseHeldError: the item is leased to another annotator (the message names
                them); nothing is recorded.
        """
        found = self.check_item(item_id)
        stored = self.stored_label(label)
        annotator = check_name(annotator)
        if correct and self.config.resolve != "first":
            raise ConflictError(
                f"resolve: {self.config.resolve}: another annotator's label is not replaced "
                "by a correction here; your label is kept as your annotation, and a reviewer "
                "resolves a disagreement (resolve_conflict, `bayesal session resolve`)"
            )
        text = _check_comment(comment)
        flag = self._note_flag(found[0], annotator, unsure, text)
        return self.store.add_labels(
            [(found[0], stored, annotator)],
            source=check_name(source, "source"),
            correct=bool(correct),
            check_leases=True,
            unsure=flag,
            comment=text,
        )[0]

    def _note_flag(
        self, item_id: int, annotator: str, unsure: bool | None, comment: str | None
    ) -> bool | None:
        """The ``unsure`` to record with a label: None (no note) for ``unsure=False``
        without a comment when the annotator has no note on the item (a plain label),
        else the flag (False then clears their earlier unsure flag)."""
        if unsure is None or unsure or comment is not None:
            return None if unsure is None and comment is None else bool(unsure)
        earlier = self.store.notes(item_id=item_id, annotator=annotator)
        return False if earlier else None

    # ------------------------------------------------------------------ label values

    @property
    def task(self) -> str:
        return self.config.task

    def label_value(self, label: object) -> int | float:
        """``label`` as the store keeps it: a class index (classification), a bit mask
        of class indices (multi-label: bit ``c`` for class ``c``), a float (regression).

        Multi-label: a list, tuple or set of class names or indices, or a string of
        comma-separated names (``"cat,dog"``); the empty set (``[]``, ``""``) is a valid
        answer ("none of these classes"); a class named twice counts once. Regression:
        an int or float, or a string of one, finite.

        Raises:
            InvalidInputError: an unknown class (named), a NaN or infinite number, a bool,
                a wrong type.
        """
        if self.task == "classification":
            return self.label_index(label)
        if self.task == "segmentation":
            raise InvalidInputError(
                "a segmentation label is a mask of class indices [H, W], not a class: post "
                "it to POST /api/mask, give it to LabellingSession.label_mask, or import "
                "masks with `bayesal session import-masks`"
            )
        if self.task == "regression":
            if isinstance(label, bool):
                raise InvalidInputError(f"a regression label must be a number, got {label!r}")
            if isinstance(label, str):
                try:
                    number = float(label.strip())
                except ValueError:
                    raise InvalidInputError(
                        f"a regression label must be a number, got {label[:100]!r}"
                    ) from None
            elif isinstance(label, int | float | np.integer | np.floating):
                number = float(label)
            else:
                raise InvalidInputError(
                    f"a regression label must be a number, got {type(label).__name__}"
                )
            if not math.isfinite(number):
                raise InvalidInputError(f"a regression label must be finite, got {number!r}")
            return number
        if isinstance(label, str):
            parts = [part.strip() for part in label.split(",")]
            values: list[object] = [part for part in parts if part]
        elif isinstance(label, list | tuple | set | frozenset):
            values = list(label)
        else:
            raise InvalidInputError(
                "a multi-label label is a list of class names (or a comma-separated "
                f"string), got {type(label).__name__}"
            )
        mask = 0
        for value in values:
            mask |= 1 << self.label_index(value)
        return mask

    def stored_label(self, label: object) -> int | float | np.ndarray:
        """:meth:`label_value`, or for a segmentation session the checked mask
        (:meth:`check_mask`)."""
        if self.task == "segmentation":
            return self.check_mask(label)
        return self.label_value(label)

    # ------------------------------------------------------------------ masks

    @property
    def mask_size(self) -> tuple[int, int]:
        """``(H, W)`` of a segmentation session's masks (the image size the model sees).

        Raises:
            InvalidInputError: not a segmentation session.
        """
        size = self.store.meta("mask_size")
        if self.task != "segmentation" or size is None:
            raise InvalidInputError("this is not a segmentation session: it has no masks")
        return int(size[0]), int(size[1])

    def check_mask(self, mask: object) -> np.ndarray:
        """A segmentation label as stored: an ``[H, W]`` array (or nested lists) of
        class indices, or a posted mask ``{"height", "width", "data"}`` (base64 of the
        bytes, :func:`~bayesal.session.masks.parse_mask_payload`), checked: the session's
        mask size, classes in ``[0, C)``. Returns ``uint8`` ``[H, W]``.

        Raises:
            InvalidInputError: what is wrong (size, class, payload), named.
        """
        height, width = self.mask_size
        if isinstance(mask, Mapping):
            return parse_mask_payload(mask, height, width, self.num_classes)
        return check_mask(mask, height, width, self.num_classes)

    def label_mask(
        self, item_id: object, mask: object, annotator: str = "default", *, source: str = "api"
    ) -> LabelEvent:
        """Record ``annotator``'s mask for ``item_id`` (see :meth:`check_mask`; on disk
        when this returns); :meth:`label` with a mask."""
        return self.label(item_id, self.check_mask(mask), annotator, source=source)

    def label_masks(
        self, pairs: Sequence[tuple[object, object]], annotator: str, *, source: str = "import"
    ) -> int:
        """Record ``annotator``'s masks ``(item_id, mask)`` in one transaction, every one
        checked first (nothing is recorded if one is bad; the error names its item).
        Returns how many were recorded."""
        annotator = check_name(annotator)
        checked: list[tuple[int, int | float | np.ndarray, str]] = []
        seen: set[int] = set()
        for item_id, mask in pairs:
            try:
                found = self.check_item(item_id)
                if found[0] in seen:
                    raise InvalidInputError("given twice")
                checked.append((found[0], self.check_mask(mask), annotator))
            except InvalidInputError as exc:
                raise InvalidInputError(f"item {item_id!r:.30}: {exc}") from None
            seen.add(found[0])
        events = self.store.add_labels(checked, source=check_name(source, "source"), shown=False)
        return len(events)

    def mask_of(self, item_id: object) -> np.ndarray | None:
        """The item's resolved mask (``uint8`` ``[H, W]``), or None (unlabelled, in
        conflict)."""
        found = self.store.label_of(self.check_item(item_id)[0])
        return None if found is None else self.store.mask(found[1].event_id)

    def mask_rows(self, *, annotations: bool = False) -> list[tuple[int, str, np.ndarray]]:
        """``(item_id, annotator, mask)`` of every resolved mask (the annotator whose
        event resolved it), or of every annotator's mask annotation, by item id."""
        if annotations:
            pairs = [(i, e) for i, _, e in self.store.annotation_mask_events()]
        else:
            pairs = sorted(self.store.resolved_mask_events().items())
        out = []
        for item_id, event_id in pairs:
            event = self.store.event(event_id)
            mask = self.store.mask(event_id)
            assert event is not None and mask is not None
            out.append((item_id, event.annotator, mask))
        return out

    def guess_mask(self, item_id: object) -> np.ndarray | None:
        """The latest trained round's predicted mask of an item (``uint8`` ``[H, W]``:
        the per-pixel argmax of the MC-averaged predictive), or None before one."""
        found = self.check_item(item_id)
        row = self.store.conn.execute(
            "SELECT probs FROM predictions WHERE item_id = ?", (found[0],)
        ).fetchone()
        if row is None or row[0] is None or self.task != "segmentation":
            return None
        height, width = self.mask_size
        return decode_mask(row[0], height, width)

    def display_label(self, stored: int | float | None) -> LabelValue | None:
        """A stored label (see :meth:`label_value`) as the session hands it out: a class
        name, a sorted list of class names (multi-label, in class order), a float;
        segmentation: ``"mask"`` (the mask itself: :meth:`mask_of`)."""
        if self.task == "segmentation":
            return "mask"
        if stored is None:
            return None
        if self.task == "regression":
            return float(stored)
        if self.task == "multilabel":
            return [name for c, name in enumerate(self.label_names) if int(stored) >> c & 1]
        return self.label_names[int(stored)]

    def _event_label(self, event: LabelEvent) -> LabelValue | None:
        return self.display_label(event.value if event.label is None else event.label)

    # ------------------------------------------------------------------ several annotators

    def edit(
        self,
        event_id: object,
        label: object,
        annotator: str = "default",
        *,
        source: str = "api",
        unsure: bool | None = None,
        comment: str | None = None,
    ) -> LabelEvent:
        """``annotator`` changes one of their own label events (from :meth:`history`):
        a new label event naming the event it corrects (``corrects``). It replaces their
        annotation of the item; another annotator's annotation is never touched.

        Raises:
            InvalidInputError: no such label event, someone else's, or undone; a bad label.
        """
        annotator = check_name(annotator)
        if isinstance(event_id, bool) or not isinstance(event_id, int | np.integer):
            raise InvalidInputError(f"event id must be an integer, got {event_id!r:.100}")
        event = self.store.event(int(event_id))
        if event is None or event.kind != "label":
            raise InvalidInputError(f"no label event {event_id}")
        if event.annotator != annotator:
            raise InvalidInputError(
                f"event {event_id} is {event.annotator!r}'s label; {annotator!r} can edit only "
                "their own (label the item as yours instead)"
            )
        undone = self.store.conn.execute(
            "SELECT 1 FROM events WHERE kind = 'undo' AND undoes = ?", (event.event_id,)
        ).fetchone()
        if undone is not None:
            raise InvalidInputError(f"event {event_id} was undone; label the item again instead")
        stored = self.stored_label(label)
        text = _check_comment(comment)
        return self.store.add_labels(
            [(event.item_id, stored, annotator)],
            source=check_name(source, "source"),
            corrects=[event.event_id],
            release_leases=False,
            shown=False,
            role=event.role,
            unsure=self._note_flag(event.item_id, annotator, unsure, text),
            comment=text,
        )[0]

    def history(self, annotator: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """``annotator``'s label events, newest first, ``limit`` from ``offset``: each
        ``{"event_id", "item_id", "ref", "label", "time", "source", "role", "corrects",
        "corrected", "corrected_by", "undone", "current", "unsure", "comment"}``.
        ``label`` as :meth:`display_label`; ``corrected``: a later event names this one
        in ``corrects`` (an edit or a correction), ``corrected_by`` the latest such;
        ``current``: it is the annotator's annotation of the item now (or a reviewer
        decision in force); ``unsure`` / ``comment``: the note made with this event."""
        annotator = check_name(annotator)
        limit = _check_count(limit, "limit", 1, 10_000)
        offset = _check_count(offset, "offset", 0, 2**62)
        rows = self.store.history(annotator, limit, offset)
        ids = [int(row["event"].event_id) for row in rows]
        marks = ",".join("?" * len(ids))
        own_notes = {
            int(r[0]): (bool(r[1]), r[2])
            for r in self.store.conn.execute(
                f"SELECT event_id, unsure, comment FROM item_notes WHERE event_id IN ({marks})",
                ids,
            )
        }
        refs: dict[int, str] = {}
        out = []
        for row in rows:
            event: LabelEvent = row["event"]
            if event.item_id not in refs:
                found = self.store.item(event.item_id)
                refs[event.item_id] = "" if found is None else found[1]
            note = own_notes.get(event.event_id)
            out.append(
                {
                    "event_id": event.event_id,
                    "item_id": event.item_id,
                    "ref": refs[event.item_id],
                    "label": self._event_label(event),
                    "time": event.time,
                    "source": event.source,
                    "role": event.role,
                    "corrects": event.corrects,
                    "corrected": row["corrected"],
                    "corrected_by": row["corrected_by"],
                    "undone": row["undone"],
                    "current": row["current"],
                    "unsure": None if note is None else note[0],
                    "comment": None if note is None else note[1],
                }
            )
        return out

    def note(
        self,
        item_id: object,
        annotator: str = "default",
        *,
        unsure: bool = True,
        comment: str | None = None,
        source: str = "api",
    ) -> int:
        """``annotator`` flags ``item_id`` as unsure and/or leaves a comment (without
        labelling it; :meth:`label` takes ``unsure`` / ``comment`` too). Their latest
        note on an item counts; on disk when this returns. Returns the note's id."""
        found = self.check_item(item_id)
        return self.store.add_note(
            found[0],
            check_name(annotator),
            check_name(source, "source"),
            unsure=bool(unsure),
            comment=_check_comment(comment),
        )

    def notes(
        self,
        *,
        item_id: object = None,
        annotator: str | None = None,
        unsure: bool | None = None,
        with_comment: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Each annotator's latest note per item (``note_id``, ``item_id``, ``annotator``,
        ``time``, ``unsure``, ``comment``, ``event_id``), filtered: one item, one
        annotator, unsure or not, with a comment or without."""
        return self.store.notes(
            item_id=None if item_id is None else self.check_item(item_id)[0],
            annotator=None if annotator is None else check_name(annotator),
            unsure=unsure,
            with_comment=with_comment,
        )

    def negative(
        self, item_id: object, label: object, annotator: str = "default", *, source: str = "api"
    ) -> int:
        """Record that ``item_id`` is *not* class ``label`` (a "no" in the yes/no mode),
        by ``annotator``: a negative observation, not a label. The item stays unlabelled
        (it goes on to the ordinary queue); the session never resolves it to that class
        (a label of that class becomes a conflict for a reviewer, unless the same
        annotator gives it later), and :meth:`yes_no_candidates` for that class skips it.
        The learner does not train on it. Returns its id.

        Raises:
            InvalidInputError: a regression session, no such item or class.
            LeaseHeldError: the item is leased to another annotator.
        """
        if self.task in ("regression", "segmentation"):
            raise InvalidInputError(
                f"a {self.task} session takes no negative observations (no item-level "
                "classes to say no to)"
            )
        found = self.check_item(item_id)
        index = self.label_index(label)
        annotator = check_name(annotator)
        lease = self.store.lease_of(found[0])
        if lease is not None and lease.annotator != annotator:
            raise LeaseHeldError(found[0], lease.annotator, lease.expires - time.time())
        return self.store.add_negative(found[0], index, annotator, check_name(source, "source"))

    def negatives(self, *, item_id: object = None, label: object = None) -> list[dict[str, Any]]:
        """Negative observations (``negative_id``, ``item_id``, ``label`` (a class name),
        ``annotator``, ``time``, ``source``), oldest first, optionally of one item or
        class."""
        rows = self.store.negatives(
            item_id=None if item_id is None else self.check_item(item_id)[0],
            label=None if label is None else self.label_index(label),
        )
        return [{**row, "label": self.label_names[row["label"]]} for row in rows]

    def yes_no_candidates(
        self,
        class_name: object,
        n: int = 20,
        *,
        annotator: str | None = None,
        include_skipped: bool = False,
    ) -> list[ItemView]:
        """The ``n`` unlabelled items the model thinks most probably are ``class_name``,
        most probable first, for the yes/no mode ("is this a *two*?"): from the latest
        round's predictions of the pool (class probabilities of every item, recorded at
        each retrain). Items anyone annotated, items with a negative observation for this
        class, and items leased to someone other than ``annotator`` are left out, and so
        are the items ``annotator`` skipped, unless ``include_skipped``: then they come
        after all the others (most probable first), so a skipped item is offered again
        only when nothing else is left. Empty before the first trained round. Leases
        nothing (:meth:`hold` leases one).

        Raises:
            InvalidInputError: a regression session, an unknown class, a bad ``n``.
        """
        if self.task == "regression":
            raise InvalidInputError("a regression session has no classes for the yes/no mode")
        index = self.label_index(class_name)
        n = _check_count(n, "n", 1, 10_000)
        who = None if annotator is None else check_name(annotator)
        rows = self.store.conn.execute(
            "SELECT p.item_id, p.probs, EXISTS (SELECT 1 FROM events s WHERE s.kind = 'skip' "
            "AND s.annotator = ? AND s.item_id = p.item_id) FROM predictions p "
            "WHERE p.probs IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = p.item_id) "
            "AND NOT EXISTS (SELECT 1 FROM current_labels c WHERE c.item_id = p.item_id) "
            "AND NOT EXISTS (SELECT 1 FROM negatives g WHERE g.item_id = p.item_id "
            "AND g.label = ?) AND NOT EXISTS (SELECT 1 FROM leases l WHERE "
            "l.item_id = p.item_id AND l.expires > ? AND l.annotator != ?)",
            (who or "", index, time.time(), who or ""),
        ).fetchall()
        if not include_skipped:
            rows = [row for row in rows if not row[2]]
        if not rows:
            return []
        probs = np.stack([np.frombuffer(b, dtype=np.float16) for _, b, _ in rows])[:, index]
        order = np.argsort(-probs.astype(np.float64), kind="stable")
        skipped = np.array([bool(rows[k][2]) for k in order])
        order = order[np.argsort(skipped, kind="stable")][:n]  # skipped ones last
        return [self.item_view(int(rows[k][0])) for k in order]

    def predictions(self) -> list[dict[str, Any]]:
        """The latest round's predictions of every pool item: ``{"item_id", "round",
        "predicted" (class name or None), "probability", "uncertainty" (BALD, nats),
        "probs" ({class name: probability})}``, by item id. Empty before the first
        trained round. Multi-label and regression sessions: "predicted" is None, "probs"
        the mean probability of each class (multi-label; regression: empty), and
        "guess" the item's guess as :attr:`ItemView.guess` describes it."""
        out = []
        for item_id, r, predicted, prob, uncertainty, blob in self.store.predictions():
            entry = {
                "item_id": item_id,
                "round": r,
                "predicted": None if predicted is None else self.label_names[predicted],
                "probability": prob,
                "uncertainty": uncertainty,
                "probs": self._probs_of(blob),
            }
            if self.task != "classification":
                entry["guess"] = self._guess(r, prob, uncertainty, blob)
            out.append(entry)
        return out

    def _probs_of(self, blob: bytes | None) -> dict[str, float]:
        if blob is None or self.task in ("regression", "segmentation"):
            return {}
        return _class_probs(self.label_names, blob)

    def prediction(self, item_id: object) -> dict[str, Any] | None:
        """The latest trained round's prediction of one item (in the queue or not), as
        an entry of :meth:`predictions`; None before the first trained round."""
        found = self.check_item(item_id)
        row = self.store.conn.execute(
            "SELECT round, predicted, prob, uncertainty, probs FROM predictions WHERE item_id = ?",
            (found[0],),
        ).fetchone()
        if row is None:
            return None
        out = {
            "item_id": found[0],
            "round": int(row[0]),
            "predicted": None if row[1] is None else self.label_names[int(row[1])],
            "probability": row[2],
            "uncertainty": row[3],
            "probs": self._probs_of(row[4]),
        }
        if self.task != "classification":
            out["guess"] = self._guess(int(row[0]), row[2], row[3], row[4])
        return out

    def conflicts(self, *, disagreements: bool = False) -> list[dict[str, Any]]:
        """The review queue: items annotated but unresolved (annotators disagree and the
        rule leaves it open, or a label contradicts a negative observation), by item id:
        ``{"item_id", "ref", "label" (the resolved label, None in conflict),
        "annotations": [{"event_id", "annotator", "label", "time"}], "negatives":
        [{"annotator", "label"}]}``. ``disagreements=True`` also lists the items whose
        annotators disagree although the rule resolved them (under ``first``), for a
        reviewer to check."""
        out = []
        resolved = self.store.resolved()
        for item_id in self.store.conflicts(disagreements=disagreements):
            found = self.store.item(item_id)
            out.append(
                {
                    "item_id": item_id,
                    "ref": "" if found is None else found[1],
                    "label": (
                        self.display_label(resolved[item_id][0]) if item_id in resolved else None
                    ),
                    "annotations": [
                        {
                            "event_id": e.event_id,
                            "annotator": e.annotator,
                            "label": self._event_label(e),
                            "time": e.time,
                        }
                        for e in self.store.annotation_rows(item_id)
                    ],
                    "negatives": [
                        {"annotator": g["annotator"], "label": self.label_names[g["label"]]}
                        for g in self.store.negatives(item_id=item_id)
                    ],
                }
            )
        return out

    def resolve_conflict(
        self,
        item_id: object,
        label: object,
        reviewer: str,
        *,
        source: str = "api",
        comment: str | None = None,
    ) -> LabelEvent:
        """A reviewer decides ``item_id``'s label: a label event with the role
        ``reviewer``, which resolves the item under every rule (and over negative
        observations). Works on any item, in conflict or not (a review may overrule a
        resolved label too). Leases are not checked: a reviewer may decide an item
        someone holds. Undo with :meth:`undo` as the reviewer.

        Raises:
            InvalidInputError: no such item, a bad label, or ``reviewer`` not among the
                configured ``reviewers``.
        """
        found = self.check_item(item_id)
        stored = self.stored_label(label)
        reviewer = check_name(reviewer, "reviewer")
        allowed = self.config.reviewers
        if allowed is not None and reviewer not in allowed:
            raise InvalidInputError(
                f"{reviewer!r} is not a reviewer of this session (reviewers: {allowed})"
            )
        return self.store.add_labels(
            [(found[0], stored, reviewer)],
            source=check_name(source, "source"),
            role=REVIEWER,
            shown=False,
            comment=_check_comment(comment),
        )[0]

    def agreement(self) -> dict[str, Any]:
        """Annotator agreement over the items two or more annotators labelled (the data's
        labels excluded): ``{"kappa", "method", "items", "annotators"}``, see
        :func:`~bayesal.session.agreement.annotator_agreement`."""
        if self.task == "segmentation":  # masks: not a kappa of labels (not computed)
            return {"kappa": None, "method": None, "items": 0, "annotators": []}
        by_item: dict[int, dict[str, int | float]] = {}
        for (item_id, who), value in self.store.annotations().items():
            assert value is not None
            if who != _DATA_ANNOTATOR:
                by_item.setdefault(item_id, {})[who] = value
        return annotator_agreement(by_item, max(1, self.num_classes), self.task)

    def label_of(self, item_id: object) -> tuple[LabelValue, LabelEvent] | None:
        """The item's resolved label now (a class name; multi-label: a list of names;
        regression: a number) and the event that set it (None: unlabelled, or in
        conflict)."""
        found = self.store.label_of(self.check_item(item_id)[0])
        if found is None:
            return None
        shown = self.display_label(found[0])
        assert shown is not None
        return shown, found[1]

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
        """``item_id -> class index`` (multi-label: bit mask) of every item with a
        resolved label now (regression values: :meth:`resolved_labels`)."""
        return {i: label for i, (label, _) in self.store.current_labels().items()}

    def resolved_labels(self) -> dict[int, LabelValue]:
        """``item_id -> label`` of every item with a resolved label, as
        :meth:`display_label` gives it. Items in conflict are not here."""
        out: dict[int, LabelValue] = {}
        for i, (stored, _) in self.store.resolved().items():
            shown = self.display_label(stored)
            assert shown is not None
            out[i] = shown
        return out

    # ------------------------------------------------------------------ showing items

    @property
    def item_kind(self) -> str:
        if self.config.data.kind == "text":
            return "text"
        return "image" if self.config.data.kind == "image_folder" else "row"

    def item_view(self, item_id: object, *, from_queue: bool = False) -> ItemView:
        """How ``item_id`` is shown (see :class:`ItemView`)."""
        item, ref, row = self.check_item(item_id)
        entry = self.store.queue_entry(item)
        current = self.store.conn.execute(
            "SELECT label, value FROM current_labels WHERE item_id = ?", (item,)
        ).fetchone()
        shown = (
            None
            if current is None
            else self.display_label(current[1] if current[0] is None else current[0])
        )
        negated = sorted({int(g["label"]) for g in self.store.negatives(item_id=item)})
        conflict = current is None and (
            self.store.conn.execute(
                "SELECT 1 FROM annotations WHERE item_id = ? LIMIT 1", (item,)
            ).fetchone()
            is not None
        )
        fields = self.item_fields(item) if self.item_kind == "row" else {}
        return ItemView(
            item_id=item,
            ref=ref,
            kind=self.item_kind,
            label=shown if isinstance(shown, str) else None,
            value=None if isinstance(shown, str) else shown,
            negatives=tuple(self.label_names[c] for c in negated),
            conflict=conflict,
            predicted=(
                None
                if entry is None or entry.predicted is None or entry.predicted in negated
                else self.label_names[entry.predicted]
            ),
            predicted_prob=None if entry is None else entry.predicted_prob,
            uncertainty=None if entry is None else entry.uncertainty,
            score=None if entry is None else entry.score,
            rank=None if entry is None else entry.rank,
            round=None if entry is None else entry.round,
            from_queue=from_queue,
            fields=fields,
            text=self.item_text(item) if self.item_kind == "text" else None,
            guess=None if self.task == "classification" else self.task_guess(item, negated),
        )

    def task_guess(self, item_id: int, negated: Sequence[int] = ()) -> dict[str, Any] | None:
        """The latest trained round's guess for a multi-label or regression item (see
        :attr:`ItemView.guess`), from the round's predictions of the whole pool; None
        before the first trained round. ``negated``: classes the item has a "no" for
        (left out of a multi-label guess)."""
        row = self.store.conn.execute(
            "SELECT round, prob, uncertainty, probs FROM predictions WHERE item_id = ?",
            (int(item_id),),
        ).fetchone()
        if row is None:
            return None
        return self._guess(int(row[0]), row[1], row[2], row[3], negated)

    def _guess(
        self,
        r: int,
        prob: float | None,
        uncertainty: float | None,
        blob: bytes | None,
        negated: Sequence[int] = (),
    ) -> dict[str, Any] | None:
        if blob is None or self.task == "classification":
            return None
        if self.task == "segmentation":
            height, width = self.mask_size
            return {
                "round": r,
                "mask": mask_payload(decode_mask(blob, height, width)),
                "confidence": prob,
                "uncertainty": uncertainty,
            }
        if self.task == "regression":
            mean, low, high = (float(v) for v in np.frombuffer(blob, dtype=np.float64)[:3])
            return {
                "round": r,
                "mean": mean,
                "low": low,
                "high": high,
                "level": GUESS_LEVEL,
                "uncertainty": uncertainty,
            }
        probs = _class_probs(self.label_names, blob)
        present = [
            name
            for c, name in enumerate(self.label_names)
            if probs[name] >= 0.5 and c not in negated
        ]
        dropped = any(probs[self.label_names[c]] >= 0.5 for c in negated)
        return {
            "round": r,
            "labels": present,
            "probs": probs,
            "probability": None if dropped else prob,
            "uncertainty": uncertainty,
        }

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

    def item_text(self, item_id: int) -> str:
        """A text session's item text, as the file holds it (read once, not featurized)."""
        _, _, row = self.check_item(item_id)
        if self._texts is None:
            params = self.config.data.params
            columns = ("text_column", "label_column", "id_column", "format")
            self._texts = read_text(
                self.data_root, **{k: params[k] for k in columns if k in params}
            ).texts
        return self._texts[row]

    def item_fields(self, item_id: int) -> dict[str, Any]:
        """A table item's row as ``column -> value`` (the file's own values); for array
        data, the first features; a text session's item: ``{"text": its text}``."""
        _, _, row = self.check_item(item_id)
        if self.config.data.kind == "text":  # exports (Label Studio tasks) carry the text
            return {"text": self.item_text(item_id)}
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
            task=config.task,
            num_classes=None if config.task == "regression" else self.num_classes,
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

    def round_learner(self, round: int | None = None) -> ActiveLearner:
        """The learner a trained round saved (default: the latest trained round), with
        the session's pool and model: its posterior, labels (regression: standardised,
        see :meth:`retrain`) and round counter as the retrain left them, so
        ``learner.draw_for_round(r)`` is the draw round ``r`` ranked its queue with.

        Raises:
            InvalidInputError: no such round, or a round without a saved learner (no
                label yet, or pruned: the newest ``KEEP_STATES`` rounds are kept).
        """
        rows = [row for row in self.store.rounds() if round is None or row.round == round]
        rows = [row for row in rows if row.state_path is not None]
        if not rows:
            raise InvalidInputError(f"no saved learner for round {round} in this session")
        state_path = rows[-1].state_path
        assert state_path is not None
        path = self.directory / state_path
        if not path.exists():
            raise InvalidInputError(f"round {rows[-1].round}'s learner was pruned (older rounds)")
        stored = self.store.items()
        x = self._read_data().x[np.asarray([r for _, _, r in stored], dtype=np.int64)]
        params = self.store.meta("model_params")
        return ActiveLearner.load(
            path, model=partial(_seeded_model, self.config.model.name, params), pool=x
        )

    def _retrain(self) -> RoundRow:
        if self.task != "classification":
            return self._retrain_task()
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
        metrics_negatives = self._teach_negatives(learner, y == MISSING, ids)
        last = self.store.current_round()
        r = 0 if last is None else last + 1
        learner.round = r
        size = min(self.config.queue_size, int((y == MISSING).sum()))
        metrics: dict[str, Any] = {
            "round": r,
            "n_labels": len(labels),
            "n_negatives_used": metrics_negatives,
        }
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
                # The guess, score and uncertainty shown are conditioned on the item's
                # negative observations, as the queue's ranking was.
                log_probs = learner.condition_pool_log_probs(picked, self._predict(learner, x_q))
                log_probs_K = learner.condition_pool_log_probs(picked, draw.log_probs(x_q).cpu())
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
            pool_predictions = self._pool_predictions(learner, draw, x, ids, r)
            metrics["pool_predict_seconds"] = time.time() - pool_predictions[0]
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
        if len(labels):
            self.store.set_predictions(r, pool_predictions[1])
        self._prune_states(r)
        result = self.store.last_round()
        assert result is not None
        return result

    def _teach_negatives(
        self, learner: ActiveLearner, unlabelled: np.ndarray, ids: np.ndarray
    ) -> int:
        """Hand the session's negative observations of unlabelled items to ``learner``
        (:meth:`~bayesal.learner.ActiveLearner.teach_negative`), so the queue, the
        guesses and the round's predictions are conditioned on them. Items with a
        resolved label are left out (their label says more), so is a "no" its annotator
        took back (they annotated the item with that class), and so is an item whose
        negatives cover every class (contradictory: nothing to condition on). Returns
        how many observations (distinct item and class) the learner got."""
        open_items = {int(i) for i in ids[unlabelled]}
        annotations = self.store.annotations()
        by_item: dict[int, set[int]] = {}
        for row in self.store.negatives():
            own = annotations.get((row["item_id"], row["annotator"]))
            if row["item_id"] in open_items and own != row["label"]:
                by_item.setdefault(int(row["item_id"]), set()).add(int(row["label"]))
        pairs = [
            (item, c)
            for item, classes in sorted(by_item.items())
            if len(classes) < self.num_classes
            for c in sorted(classes)
        ]
        if pairs:
            learner.teach_negative([i for i, _ in pairs], [c for _, c in pairs])
        return len(pairs)

    def _pool_predictions(
        self, learner: ActiveLearner, draw: Any, x: np.ndarray, ids: np.ndarray, r: int
    ) -> tuple[float, list[tuple[int, int | None, float | None, float | None, bytes | None]]]:
        """The round's predictions of every pool item (the yes/no mode's candidates and
        the browse view read them): predicted class, its probability, BALD, and the class
        probabilities as float16 bytes; in chunks of :data:`_PREDICT_CHUNK` items."""
        started = time.time()
        rows: list[tuple[int, int | None, float | None, float | None, bytes | None]] = []
        for start in range(0, len(ids), _PREDICT_CHUNK):
            x_c = torch.as_tensor(x[start : start + _PREDICT_CHUNK])
            ids_c = ids[start : start + _PREDICT_CHUNK]
            probs_B_C = learner.condition_pool_log_probs(ids_c, self._predict(learner, x_c))
            probs_B_C = probs_B_C.exp().cpu()
            bald_B = mutual_information(
                learner.condition_pool_log_probs(ids_c, draw.log_probs(x_c).cpu())
            )
            prob_B, predicted_B = probs_B_C.max(-1)
            half = probs_B_C.numpy().astype(np.float16)
            for k in range(len(x_c)):
                rows.append(
                    (
                        int(ids[start + k]),
                        int(predicted_B[k]),
                        float(prob_B[k]),
                        float(bald_B[k]),
                        half[k].tobytes(),
                    )
                )
        return started, rows

    def _retrain_task(self) -> RoundRow:
        """A round of a multi-label or regression session: the task's learner
        (``ActiveLearner(task=...)``) is taught the resolved labels, ranks the items
        nobody labelled by the configured strategy (the task's score on the round's
        posterior draw), and predicts every pool item (:attr:`ItemView.guess`).

        Regression targets are standardised for training (the labels' mean and standard
        deviation, recorded as round metrics ``target_offset`` / ``target_scale``); the
        guesses are in the labels' own units. With no label, the queue is the cold start."""
        started = time.time()
        data = self._read_data()
        stored = self.store.items()
        ids = np.asarray([i for i, _, _ in stored], dtype=np.int64)
        rows = np.asarray([r for _, _, r in stored], dtype=np.int64)
        masks: dict[int, np.ndarray] = {}
        resolved: Mapping[int, int | float | None]
        if self.task == "segmentation":
            masks, last_event = self.store.resolved_mask_snapshot()
            resolved = dict.fromkeys(masks)
        else:
            resolved, last_event = self.store.resolved_snapshot()
        position = {int(i): p for p, i in enumerate(ids)}
        x = data.x[rows]
        offset, scale = 0.0, 1.0
        y: np.ndarray
        if self.task == "multilabel":
            y = np.full((len(ids), self.num_classes), -1, dtype=np.int64)
            bits = np.arange(self.num_classes)
            for item, bitmask in resolved.items():
                assert bitmask is not None
                y[position[item]] = (int(bitmask) >> bits) & 1
        elif self.task == "segmentation":
            y = np.full((len(ids), *self.mask_size), -1, dtype=np.int64)
            for item, mask in masks.items():
                y[position[item]] = mask
        else:
            values = np.asarray(list(resolved.values()), dtype=np.float64)
            offset, scale = _target_scaling(values)
            y = np.full(len(ids), np.nan, dtype=np.float64)
            for item, value in resolved.items():
                assert value is not None
                y[position[item]] = (float(value) - offset) / scale
        learner = self._learner(x, ids, y)
        last = self.store.current_round()
        r = 0 if last is None else last + 1
        learner.round = r
        size = min(self.config.queue_size, len(ids) - len(resolved))
        picked = learner.query(size) if size else np.zeros(0, dtype=np.int64)
        metrics: dict[str, Any] = {
            "round": r,
            "n_labels": len(resolved),
            "task": self.task,
            "fit_seconds": learner.last_timings.fit,
            "select_seconds": learner.last_timings.score + learner.last_timings.select,
        }
        if self.task == "regression":
            metrics["target_offset"] = offset
            metrics["target_scale"] = scale
        stop_predictions: bytes | None = None
        predictions: list[tuple[int, int | None, float | None, float | None, bytes | None]] = []
        if not resolved:
            queue = [
                QueueEntry(r, rank, int(i), None, None, None, None) for rank, i in enumerate(picked)
            ]
        else:
            draw = learner.draw_for_round(r)
            t0 = time.time()
            guesses = (
                self._segmentation_guesses(learner, draw, x)
                if self.task == "segmentation"
                else self._task_guesses(draw, x, offset, scale)
            )
            metrics["pool_predict_seconds"] = time.time() - t0
            scores = None
            if len(picked) and is_pointwise(learner.strategy):
                picked_rows = np.asarray([position[int(i)] for i in picked], dtype=np.int64)
                generator = torch.Generator().manual_seed(
                    stream_seed(self.config.seed, _SESSION_STREAM, 2, r)
                )
                if self.task == "segmentation":  # flat [n, K, C*H*W], in chunks
                    parts = [
                        draw.log_probs(torch.as_tensor(x[chunk])).cpu()
                        for chunk in self._segmentation_chunks(learner, draw, x, picked_rows)
                    ]
                    scores = learner.strategy.score(torch.cat(parts), generator=generator)
                else:
                    output = draw.log_probs(torch.as_tensor(x[picked_rows])).cpu()
                    scores = learner.strategy.score(output, generator=generator)
            queue = []
            for rank, item in enumerate(picked):
                guess = guesses[position[int(item)]]
                score = None if scores is None else float(scores[rank])
                queue.append(QueueEntry(r, rank, int(item), score, None, guess[0], guess[1]))
            predictions = [
                (int(ids[p]), None, prob, uncertainty, blob)
                for p, (prob, uncertainty, blob, _) in enumerate(guesses)
            ]
            stop_ids = np.asarray(self.store.meta("stop_set"), dtype=np.int64)
            stop_rows = [position[int(i)] for i in stop_ids]
            metrics["stop_mean_bald"] = float(np.mean([guesses[p][1] for p in stop_rows]))
            if self.task == "segmentation":
                metrics["stop_mean_entropy"] = float(np.mean([guesses[p][3] for p in stop_rows]))
                # Agreement of the predicted pixels with the previous round's, over the
                # stop set's images (what stabilizing_predictions reads): every pixel, or
                # every k-th of them past _STOP_PIXELS (the same ones each round).
                height, width = self.mask_size
                stop = np.concatenate(
                    [decode_mask(guesses[p][2], height, width).reshape(-1) for p in stop_rows]
                ).astype(np.int16)
                stop = stop[:: max(1, -(-len(stop) // _STOP_PIXELS))]
                stop_predictions = stop.tobytes()
                previous = self._previous_stop_predictions()
                metrics["agreement"] = (
                    None
                    if previous is None or len(previous) != len(stop)
                    else cohen_kappa(previous, stop, self.num_classes)
                )
            elif self.task == "multilabel":
                metrics["stop_mean_entropy"] = float(np.mean([guesses[p][3] for p in stop_rows]))
                # Agreement of the per-label decisions (present / absent) with the
                # previous round's, over the stop set's items and labels.
                decided = np.stack(
                    [np.frombuffer(guesses[p][2], dtype=np.float16) >= 0.5 for p in stop_rows]
                )
                stop = decided.reshape(-1).astype(np.int16)
                stop_predictions = stop.tobytes()
                previous = self._previous_stop_predictions()
                metrics["agreement"] = (
                    None
                    if previous is None or len(previous) != len(stop)
                    else cohen_kappa(previous, stop, 2)
                )
            else:
                metrics["agreement"] = None
        state = self.directory / "rounds" / f"round-{r}"
        if resolved:
            learner.save(state, include_pool=False)
        self.store.add_round(
            round=r,
            started=started,
            n_labels=len(resolved),
            last_event_id=last_event,
            state_path=str(state.relative_to(self.directory)) if resolved else None,
            metrics=metrics,
            stop_predictions=stop_predictions,
            queue=queue,
        )
        if resolved:
            self.store.set_predictions(r, predictions)
        self._prune_states(r)
        result = self.store.last_round()
        assert result is not None
        return result

    @staticmethod
    def _segmentation_output(learner: ActiveLearner, draw: Any, x: np.ndarray) -> torch.Tensor:
        """``[n, K, C, H, W]`` log-probabilities of images ``x`` under the round's draw."""
        flat = draw.log_probs(torch.as_tensor(x)).cpu()
        out: torch.Tensor = learner.task.unflatten(flat)  # type: ignore[attr-defined]
        return out

    def _segmentation_chunks(
        self, learner: ActiveLearner, draw: Any, x: np.ndarray, rows: np.ndarray
    ) -> list[np.ndarray]:
        """``rows`` in chunks of at most :data:`~bayesal.learner.segmentation.CHUNK_BYTES`
        of float32 log-probabilities ``[n, K, C, H, W]`` (at least one image)."""
        from bayesal.learner.segmentation import CHUNK_BYTES

        if len(rows) == 0:
            return []
        probe = self._segmentation_output(learner, draw, x[rows[:1]])
        per_image = max(1, int(probe[0].numel()) * 4)
        size = max(1, CHUNK_BYTES // per_image)
        return [rows[start : start + size] for start in range(0, len(rows), size)]

    @torch.no_grad()
    def _segmentation_guesses(
        self, learner: ActiveLearner, draw: Any, x: np.ndarray
    ) -> list[tuple[float | None, float, bytes, float]]:
        """Per pool row, under the round's draw: ``(confidence, uncertainty, blob,
        entropy)``: the mean over pixels of the predicted class's MC-averaged probability,
        per-pixel BALD and predictive entropy averaged over the image (nats), and the
        predicted mask (per-pixel argmax of the MC-averaged predictive,
        :func:`bayesal.tasks.segmentation.predict`) as
        :func:`~bayesal.session.masks.encode_mask` bytes. In chunks of at most 64 MiB of
        log-probabilities."""
        out: list[tuple[float | None, float, bytes, float]] = []
        rows = np.arange(len(x))
        for chunk in self._segmentation_chunks(learner, draw, x, rows):
            log_p = self._segmentation_output(learner, draw, x[chunk])
            k = log_p.shape[1]
            mean_log = torch.logsumexp(log_p.double(), 1) - math.log(k)  # [n, C, H, W]
            confidence = mean_log.exp().max(1).values.mean((1, 2))
            predicted = segmentation_scores.predict(log_p).numpy().astype(np.uint8)
            bald = segmentation_scores.bald(log_p, "mean")
            entropy = segmentation_scores.entropy(log_p, "mean")
            for j in range(len(chunk)):
                out.append(
                    (
                        float(confidence[j]),
                        float(bald[j]),
                        encode_mask(predicted[j]),
                        float(entropy[j]),
                    )
                )
        return out

    @torch.no_grad()
    def _task_guesses(
        self, draw: Any, x: np.ndarray, offset: float, scale: float
    ) -> list[tuple[float | None, float, bytes, float]]:
        """Per pool row, under the round's draw: ``(probability, uncertainty, blob,
        entropy)``. Multi-label: the probability of the predicted set (classes with mean
        probability >= 0.5) under the posterior, BALD summed over labels, the mean
        probabilities as float16 bytes, the summed entropy. Regression: no probability,
        BALD (Gaussian), ``[mean, low, high]`` (the central :data:`GUESS_LEVEL` interval of
        the predictive mixture, in the labels' units) as float64 bytes, no entropy (0).
        In chunks of :data:`_PREDICT_CHUNK` items."""
        out: list[tuple[float | None, float, bytes, float]] = []
        for start in range(0, len(x), _PREDICT_CHUNK):
            output = draw.log_probs(torch.as_tensor(x[start : start + _PREDICT_CHUNK])).cpu()
            if self.task == "multilabel":
                log_p = output.double().clamp_max(0.0)
                probs = multilabel_scores.mean_probs(log_p)
                present = (probs >= 0.5)[:, None, :]
                log_not = torch.log(-torch.expm1(log_p))  # log(1 - p), -inf where p = 1
                log_set_K = torch.where(present, log_p, log_not).sum(-1)
                log_set = torch.logsumexp(log_set_K, 1) - math.log(log_set_K.shape[1])
                bald = multilabel_scores.bald(log_p)
                entropy = multilabel_scores.entropy(log_p)
                half = probs.numpy().astype(np.float16)
                for k in range(len(output)):
                    out.append(
                        (
                            float(log_set[k].exp()),
                            float(bald[k]),
                            half[k].tobytes(),
                            float(entropy[k]),
                        )
                    )
            else:
                mean_B_K, var_B_K = regression_scores.split_output(output.double())
                mean = mean_B_K.mean(1) * scale + offset
                low, high = regression_scores.interval(mean_B_K, var_B_K, level=GUESS_LEVEL)
                bald = regression_scores.gaussian_mutual_information(mean_B_K, var_B_K)
                ends = torch.stack([mean, low * scale + offset, high * scale + offset], 1)
                blobs = ends.numpy().astype(np.float64)
                for k in range(len(output)):
                    out.append((None, float(bald[k]), blobs[k].tobytes(), 0.0))
        return out

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
        by_label = store.counts_by_label() if self.task == "classification" else {}
        if self.task == "segmentation":  # the masks in which each class appears
            by_label = store.mask_class_counts()
        if self.task == "multilabel":
            for mask, count in store.counts_by_label().items():
                for c in range(self.num_classes):
                    if mask >> c & 1:
                        by_label[c] = by_label.get(c, 0) + count
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
            agreement=self.agreement(),
            model_agreement=m.get("agreement"),
            mean_uncertainty={
                key: float(m[f"stop_mean_{key}"])
                for key in ("entropy", "bald")
                if m.get(f"stop_mean_{key}") is not None
            },
            stopping=self.stopping(),
            active_leases=len(store.leases()),
            conflicts=len(store.conflicts()),
            task=self.task,
            resolve=self.config.resolve,
            overlap=self.config.overlap,
        )

    def __repr__(self) -> str:
        return f"LabellingSession({str(self.directory)!r})"


def _target_scaling(values: np.ndarray) -> tuple[float, float]:
    """``(offset, scale)`` that standardise regression labels: their mean and standard
    deviation (scale 1 for fewer than two distinct values)."""
    if len(values) == 0:
        return 0.0, 1.0
    offset = float(values.mean())
    scale = float(values.std())
    if not math.isfinite(scale) or scale <= 1e-12 * max(1.0, abs(offset)):
        scale = 1.0
    return offset, scale


def _class_probs(names: Sequence[str], blob: bytes) -> dict[str, float]:
    """``{class name: probability}`` of a row of float16 class probabilities."""
    probs = np.frombuffer(blob, dtype=np.float16)
    return {name: float(p) for name, p in zip(names, probs, strict=True)}


def _check_comment(comment: object) -> str | None:
    """A comment: None, or text of at most MAX_COMMENT characters (line breaks and tabs
    allowed, other control characters not); blank text is None."""
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise InvalidInputError(f"a comment must be text, got {type(comment).__name__}")
    text = comment.strip()
    if len(text) > MAX_COMMENT:
        raise InvalidInputError(f"a comment is at most {MAX_COMMENT} characters, got {len(text)}")
    if any(not (ch.isprintable() or ch in "\n\t") for ch in text):
        raise InvalidInputError("a comment cannot hold control characters")
    return text or None


def _check_count(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidInputError(f"{what} must be an integer, got {value!r:.100}")
    if not low <= int(value) <= high:
        raise InvalidInputError(f"{what} must be {low} to {high}, got {int(value)}")
    return int(value)


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
