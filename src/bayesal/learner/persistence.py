"""Saving and loading a learner: the save file's format and its checks.

A save file is ``torch.save`` of one dict (format :data:`STATE_FORMAT`, 1 since the
first release): the learner's settings, ids, labelled mask and labels in pool order,
round, the fitted posterior (its models' state dicts, extra state and fit round), the
pool inputs when they are an in-memory array under 1 GiB, and a fingerprint of a few
pool inputs. :func:`save` writes it atomically; :func:`load` checks it
(:func:`check_saved_state`: an edited or damaged file is refused naming the problem),
builds the learner with the saved settings and restores labels, round and posterior so
that the next query proposes what the saved learner's would have.

Negative observations (``ActiveLearner.teach_negative``) are saved under
``"negatives"`` (``ids`` and ``classes``, one pair per observation) only when there are
any, so the file of a learner without them is what it always was.

Compatibility: settings added after the first release are optional when loading (their
defaults of that time apply); loading ignores settings it does not know; and ``task`` is
written only for a task other than classification. So files go both ways between
versions: ``tests/test_learner_persistence.py`` loads files written before the learner
was split into modules and checks that saving them again gives the same state. The file
is a pickle: load only files you trust.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from bayesal import __version__
from bayesal._atomic import atomic_write
from bayesal.data.source import ArrayInputs, as_pool_inputs
from bayesal.device import DeviceLike
from bayesal.errors import InvalidInputError
from bayesal.learner.seeds import _MODEL_INIT, stream_seed
from bayesal.learner.task import ClassificationTask, get_task
from bayesal.learner.validation import device_exists, no_model, posterior_method
from bayesal.scoring.engine import DEFAULT_MAX_LOG_PROBS_BYTES

if TYPE_CHECKING:
    from bayesal.learner import ActiveLearner

__all__ = ["STATE_FORMAT", "check_saved_state", "load", "pool_fingerprint", "save"]

#: The save file's format number (``state["format"]``).
STATE_FORMAT = 1
# In-memory pools up to this size are saved with the learner, so load() needs no pool.
_SAVE_POOL_MAX_BYTES = 1 << 30
#: Keys of a saved learner's state and of its settings that :func:`load` reads without
#: a default (settings added later have defaults there).
_STATE_KEYS = ("settings", "callables", "ids", "labelled", "labels", "round", "fitted",
               "pool", "pool_len", "pool_fingerprint")  # fmt: skip
_SETTING_KEYS = ("strategy", "posterior", "model", "num_classes", "training", "cold_start",
                 "seed", "pool_subset", "num_target_samples", "chunk_size", "device",
                 "target_inputs")  # fmt: skip
_CALLABLES = ("train_transform", "cold_start_embed", "embed")


def pool_fingerprint(learner: ActiveLearner) -> str:
    """A hash of a few pool inputs (first, middle, last), so that ``load`` notices a
    different pool of the same length."""
    n = len(learner.inputs)
    rows = np.unique(np.asarray([0, n // 2, n - 1], dtype=np.int64))
    x = learner.inputs.take(rows).contiguous().cpu()
    return hashlib.sha256(x.numpy().tobytes() + str(x.dtype).encode()).hexdigest()


def save(learner: ActiveLearner, path: str | Path, *, include_pool: bool | None = None) -> Path:
    """Write ``learner``'s state to ``path`` atomically
    (:meth:`~bayesal.learner.ActiveLearner.save`)."""
    if include_pool is None:
        include_pool = (
            isinstance(learner.inputs, ArrayInputs)
            and learner.inputs.in_memory
            and learner.inputs.array.nbytes <= _SAVE_POOL_MAX_BYTES
        )
    if include_pool and not isinstance(learner.inputs, ArrayInputs):
        raise InvalidInputError("only array pools can be saved with the learner")
    fitted = None
    if learner._fitted is not None and learner._fitted_version == learner._label_version:
        fitted = {
            "models": [
                {k: v.cpu() for k, v in m.state_dict().items()} for m in learner._fitted.models
            ],
            "extra": learner._fitted.extra,
            "round": learner._fit_round,
        }
    settings: dict[str, Any] = {
        "strategy": learner._strategy_spec,
        "posterior": learner._posterior_spec,
        "model": learner._model_spec if isinstance(learner._model_spec, str) else None,
        "num_classes": learner.num_classes,
        "training": learner.training.model_dump(),
        "cold_start": learner.cold_start,
        "embed": learner.embed if isinstance(learner.embed, str) else None,
        "seed": learner.seed,
        "pool_subset": learner.pool_subset,
        "num_target_samples": learner.num_target_samples,
        "chunk_size": learner.chunk_size,
        "device": str(learner.device),
        "target_inputs": learner.target_inputs,
        "prefilter": learner.prefilter,
        "max_log_probs_bytes": learner.max_log_probs_bytes,
        "score_executor": learner.score_executor,
        "ray_address": learner.ray_address,
        "score_shards": learner.score_shards,
    }
    if learner.task.name != ClassificationTask.name:  # files of older versions have none
        settings["task"] = learner.task.name
    state = {
        "format": STATE_FORMAT,
        "bayesal_version": __version__,
        "settings": settings,
        "callables": sorted(
            name
            for name in _CALLABLES
            if getattr(learner, name) is not None and not isinstance(getattr(learner, name), str)
        ),
        "ids": learner.ids_in_pool_order(),
        "labelled": learner.pool.labelled_mask(),
        "labels": learner.pool.labels(),
        "round": learner.round,
        "fitted": fitted,
        "pool": learner.inputs.array if include_pool else None,  # type: ignore[attr-defined]
        "pool_len": len(learner.inputs),
        "pool_fingerprint": pool_fingerprint(learner),
    }
    if learner._negatives:  # files without negative observations stay as they were
        pairs = [(i, c) for i, cs in sorted(learner._negatives.items()) for c in sorted(cs)]
        state["negatives"] = {
            "ids": np.asarray([i for i, _ in pairs], dtype=np.int64),
            "classes": np.asarray([c for _, c in pairs], dtype=np.int64),
        }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write(path, lambda fh: fh.write(buffer.getvalue()))


def load(
    cls: type[ActiveLearner],
    path: str | Path,
    *,
    model: Any = None,
    pool: Any = None,
    device: DeviceLike | None = None,
    train_transform: Callable[[Tensor], Tensor] | None = None,
    cold_start_embed: Callable[[Tensor], Tensor] | None = None,
    embed: Callable[[Tensor], Tensor] | None = None,
    num_workers: int = 0,
) -> ActiveLearner:
    """A learner of class ``cls`` restored from a save file
    (:meth:`~bayesal.learner.ActiveLearner.load`)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"no saved learner at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file
        raise InvalidInputError(f"{path} is not a saved ActiveLearner ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise InvalidInputError(f"{path} is not a saved ActiveLearner (format {STATE_FORMAT})")
    settings = check_saved_state(state, path)
    given = {
        "train_transform": train_transform,
        "cold_start_embed": cold_start_embed,
        "embed": embed,
    }
    missing = [name for name in state["callables"] if given[name] is None]
    if missing:
        raise InvalidInputError(
            f"the saved learner used {', '.join(missing)}: pass "
            + ", ".join(f"{m}=" for m in missing)
            + " to load() (callables are not saved)"
        )
    model = model if model is not None else settings["model"]
    strategy, strategy_params = settings["strategy"]
    posterior, posterior_params, num_samples = settings["posterior"]
    needs_model = posterior_method(posterior, posterior_params, num_samples).needs_model
    if model is None and needs_model:
        raise InvalidInputError("load() needs model=: the saved learner used a model factory")
    if pool is None:
        pool = state["pool"]
        if pool is None:
            raise InvalidInputError(
                "the pool was not saved with this learner (a torch Dataset, memory-mapped "
                "or large array): pass pool= to load()"
            )
    pool_len = len(as_pool_inputs(pool))
    if pool_len != state["pool_len"]:
        raise InvalidInputError(
            f"the pool has {pool_len} items, the saved learner's {state['pool_len']}"
        )
    if device is None:
        device = str(settings["device"])
        if device != "cpu" and not device_exists(device):
            warnings.warn(
                f"the saved learner ran on {device}, which this machine lacks: using "
                "device='auto' (results may differ in the last digits)",
                stacklevel=3,  # the caller of ActiveLearner.load
            )
            device = "auto"
    learner = cls(
        pool,
        model=model,
        task=settings.get("task", ClassificationTask.name),
        strategy=strategy,
        strategy_params=strategy_params or None,
        posterior=posterior,
        posterior_params=posterior_params,
        num_samples=num_samples,
        num_classes=settings["num_classes"],
        ids=state["ids"],
        training=settings["training"],
        cold_start=settings["cold_start"],
        device=device,
        seed=settings["seed"],
        pool_subset=settings["pool_subset"],
        num_target_samples=settings["num_target_samples"],
        target_inputs=settings["target_inputs"],
        chunk_size=settings["chunk_size"],
        num_workers=num_workers,
        train_transform=train_transform,
        cold_start_embed=cold_start_embed,
        embed=embed if embed is not None else settings.get("embed") or "auto",
        # Files saved before these settings existed: the defaults of that time.
        prefilter=settings.get("prefilter", "auto"),
        max_log_probs_bytes=settings.get("max_log_probs_bytes", DEFAULT_MAX_LOG_PROBS_BYTES),
        score_executor=settings.get("score_executor", "local"),
        ray_address=settings.get("ray_address"),
        score_shards=settings.get("score_shards"),
    )
    if pool_fingerprint(learner) != state["pool_fingerprint"]:
        raise InvalidInputError(
            "the pool given to load() is not the saved learner's pool (its inputs differ)"
        )
    labelled = np.asarray(state["labelled"], dtype=bool)
    learner.task.restore_labels(learner.pool, labelled, np.asarray(state["labels"]))
    learner.round = int(state["round"])
    learner._label_version = 1
    negatives = state.get("negatives")  # files of older versions have none
    if negatives is not None:
        try:
            learner.teach_negative(negatives["ids"], negatives["classes"])
        except (InvalidInputError, KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"{path}: its negative observations are refused ({exc}) (an edited or "
                "damaged save file; save the learner again)"
            ) from None
    fitted = state["fitted"]
    if fitted is not None:
        models = []
        for m, weights in enumerate(fitted["models"]):
            build = learner._build_model or no_model
            net = build(stream_seed(learner.seed, _MODEL_INIT, 0, m))
            try:
                net.load_state_dict(weights)
            except RuntimeError as exc:
                first = str(exc).splitlines()[0]
                raise InvalidInputError(
                    f"the model factory does not build the saved architecture: {first}"
                ) from None
            models.append(net.to(learner.device).eval())
        learner._fitted = learner.method.wrap(models)
        learner._fitted.extra = dict(fitted["extra"])
        if learner.training.autocast_dtype is not None:  # saved from a low-precision copy
            learner._fitted = learner.method.in_precision(
                learner._fitted, learner.training.autocast_dtype
            )
        learner._fitted_version = learner._label_version
        learner._fit_round = int(fitted["round"])
    return learner


def _whole(value: object, low: int) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        return False
    return bool(value >= low)


def check_saved_state(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """The settings of a saved learner's ``state``, after checking what ``load`` reads:
    every key present, the round and counts whole and in range, ids / labelled mask /
    labels one per pool item, and every label value one the task accepts (a class in
    ``[0, num_classes)``).

    Raises:
        InvalidInputError: naming the file and the first problem (an edited or damaged
            save file is refused here, not with an IndexError at the next training).
    """

    def bad(problem: str) -> InvalidInputError:
        return InvalidInputError(
            f"{path}: {problem} (an edited or damaged save file; save the learner again)"
        )

    missing = [key for key in _STATE_KEYS if key not in state]
    if missing:
        raise bad(f"the saved learner lacks {', '.join(missing)}")
    settings = state["settings"]
    if not isinstance(settings, dict):
        raise bad(f"its settings are a {type(settings).__name__}, not a mapping")
    missing = [key for key in _SETTING_KEYS if key not in settings]
    if missing:
        raise bad(f"its settings lack {', '.join(missing)}")
    strategy, posterior = settings["strategy"], settings["posterior"]
    if not isinstance(strategy, list | tuple) or len(strategy) != 2:
        raise bad(f"settings.strategy is {strategy!r}, not (name, params)")
    if not isinstance(posterior, list | tuple) or len(posterior) != 3:
        raise bad(f"settings.posterior is {posterior!r}, not (name, params, num_samples)")
    callables = state["callables"]
    if not isinstance(callables, list | tuple) or not set(callables) <= set(_CALLABLES):
        raise bad(f"callables is {callables!r}, not a list among {list(_CALLABLES)}")
    if not _whole(state["round"], 0):
        raise bad(f"round is {state['round']!r}, not a whole number >= 0")
    try:
        task = get_task(settings.get("task", ClassificationTask.name))
    except InvalidInputError as exc:
        raise bad(f"settings.task: {exc}") from None
    num_classes = settings["num_classes"]
    if not _whole(num_classes, task.min_width):
        raise bad(
            f"settings.num_classes is {num_classes!r}, not a whole number >= {task.min_width}"
        )
    if not _whole(settings["seed"], 0):
        raise bad(f"settings.seed is {settings['seed']!r}, not a whole number >= 0")
    pool_len = state["pool_len"]
    if not _whole(pool_len, 1):
        raise bad(f"pool_len is {pool_len!r}, not a whole number >= 1")
    arrays = {}
    for key in ("ids", "labelled", "labels"):
        try:
            arrays[key] = np.asarray(state[key])
        except (TypeError, ValueError) as exc:
            raise bad(f"{key} is not an array ({exc})") from None
        shape = (
            (pool_len, *task.saved_label_shape(num_classes, arrays[key]))
            if key == "labels"
            else (pool_len,)
        )
        if arrays[key].shape != shape:
            expected = ", ".join(str(d) for d in shape)
            raise bad(f"{key} has shape {list(arrays[key].shape)}, not [{expected}] (pool_len)")
    if arrays["labelled"].dtype != np.bool_:
        raise bad(f"labelled has dtype {arrays['labelled'].dtype}, not bool")
    # The task checks the values (classification: class ids in [0, C), MISSING elsewhere).
    problem = task.saved_labels_problem(arrays["labels"], arrays["labelled"], num_classes)
    if problem is not None:
        raise bad(problem)
    fitted = state["fitted"]
    if fitted is not None:
        if not isinstance(fitted, dict) or not {"models", "extra", "round"} <= set(fitted):
            raise bad("fitted is not a mapping of models, extra and round")
        if not isinstance(fitted["models"], list) or not isinstance(fitted["extra"], dict):
            raise bad("fitted.models is not a list or fitted.extra not a mapping")
        if not _whole(fitted["round"], 0):
            raise bad(f"fitted.round is {fitted['round']!r}, not a whole number >= 0")
    return settings
