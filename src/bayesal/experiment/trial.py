"""One trial of an experiment grid: one strategy arm, one seed, one active-learning run.

:func:`compute_trial` runs it in the calling process and returns a :class:`TrialResult`
(picklable: it comes back from worker processes and Ray tasks); :func:`save_trial`
writes it atomically, stamped with the digest of what it was computed from
(:func:`trial_digest`); :func:`run_trial` does both. The dataset every trial of a config
runs on (:func:`load_trial_dataset`, with the fixed ``test_subset`` draw) is cached per
process, and :func:`check_budget` checks a config's labelling budget against it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bayesal.data.dataset import Dataset
from bayesal.data.registry import load_dataset
from bayesal.errors import InvalidInputError
from bayesal.experiment.config import ExperimentConfig
from bayesal.experiment.plugin_errors import plugin_errors
from bayesal.experiment.results import atomic_save_npz, snapshot_path, write_trial
from bayesal.experiment.snapshots import SnapshotRecorder
from bayesal.loop import RoundContext, RoundRecord, run_active_learning

#: Seed of the test subset draw (``test_subset``): fixed, so every trial of every config
#: with the same dataset and subset size is evaluated on the same examples.
TEST_SUBSET_SEED = 0


#: Fields of the config that a trial's results depend on besides its arm and seed; a
#: resumed run must agree on them with the trials already on disk. (``device`` is not
#: among them: a grid may be resumed on another machine.)
#: The scoring settings that can change a trial's picks, at their defaults.
_SCORING_DEFAULTS: dict[str, object] = {"prefilter": "auto", "max_log_probs_bytes": 2**30}

SHARED_FIELDS: tuple[str, ...] = (
    "dataset",
    "model",
    "posterior",
    "training",
    "initial_labels",
    "acquisition_size",
    "rounds",
    "pool_subset",
    "num_target_samples",
    "test_subset",
)


def stop_set_size_of(resolved: Mapping[str, Any] | None) -> int | None:
    """The stop set size a resolved config (a JSON-like mapping) records stopping
    evidence with, or None when it records none (no ``stopping`` section)."""
    stopping = resolved.get("stopping") if isinstance(resolved, Mapping) else None
    if not isinstance(stopping, Mapping):
        return None
    size = stopping.get("stop_set_size")
    return int(size) if isinstance(size, int) and not isinstance(size, bool) else None


def trial_digest(resolved: Mapping[str, Any], label: str, seed: int) -> str:
    """The sha256 digest of what trial (``label``, ``seed``) is computed from.

    ``resolved`` is a resolved config as a JSON-like mapping
    (``config.model_dump(mode="json")``, or a ``config.resolved.yaml`` read back). The
    digest is taken of the canonical JSON (sorted keys, no spaces) of
    ``{"shared": {f: resolved[f] for f in SHARED_FIELDS}, "strategy": <the arm labelled
    label>, "seed": seed}``, plus ``"stop_set_size": n`` when the config records
    stopping evidence (:func:`stop_set_size_of`; its rules do not enter: the report
    alone reads them), plus the ``scoring`` section's ``prefilter`` and
    ``max_log_probs_bytes`` where they are not the defaults (where the pool is scored does
    not change the picks), plus ``"encoder": ...`` (:func:`encoder_identity`) when the
    config runs on an encoder's features, plus ``"task": ...`` for a task other than
    classification (a classification config digests as before ``task:`` existed).
    Raises InvalidInputError when no arm is labelled ``label``.
    """
    arms = [arm for arm in resolved.get("strategies") or [] if isinstance(arm, Mapping)]
    arm = next((a for a in arms if a.get("label") == label), None)
    if arm is None:
        raise InvalidInputError(f"no strategy labelled {label!r} in the resolved config")
    payload = {
        "shared": {field: resolved.get(field) for field in SHARED_FIELDS},
        "strategy": arm,
        "seed": seed,
    }
    stop_set_size = stop_set_size_of(resolved)
    if stop_set_size is not None:
        payload["stop_set_size"] = stop_set_size
    encoder = encoder_identity(resolved)
    if encoder is not None:  # a config without an encoder digests as before it existed
        payload["encoder"] = encoder
    task = task_of(resolved)
    if task != "classification":  # and one of classification as before task: existed
        payload["task"] = task
    scoring = resolved.get("scoring")
    if isinstance(scoring, Mapping):
        # What can change the picks (BatchBALD's candidates), where it is not the
        # default (a section of defaults computes what no section does); where the pool
        # is scored cannot change them.
        changed = {
            key: scoring.get(key)
            for key, default in _SCORING_DEFAULTS.items()
            if scoring.get(key, default) != default
        }
        if changed:
            payload["scoring"] = changed
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def task_of(resolved: Mapping[str, Any] | None) -> str:
    """The task of a resolved config (a JSON-like mapping): its ``task``, else
    ``"classification"`` (a config of classification dumps no ``task``)."""
    task = resolved.get("task") if isinstance(resolved, Mapping) else None
    return str(task) if isinstance(task, str) else "classification"


def config_trial_digest(config: ExperimentConfig, label: str, seed: int) -> str:
    """:func:`trial_digest` of a validated config."""
    return trial_digest(config.model_dump(mode="json"), label, seed)


@lru_cache(maxsize=4)
def _cached_dataset(spec_json: str, test_subset: int | None) -> Dataset:
    spec = json.loads(spec_json)
    dataset = load_dataset(spec["name"], **spec["params"])
    n_test = len(dataset.test_y)
    if test_subset is None or test_subset >= n_test:
        return dataset
    keep = torch.randperm(n_test, generator=torch.Generator().manual_seed(TEST_SUBSET_SEED))
    keep = keep[:test_subset].sort().values  # original order, as the full test set
    return dataclasses.replace(dataset, test_x=dataset.test_x[keep], test_y=dataset.test_y[keep])


def load_trial_dataset(config: ExperimentConfig) -> Dataset:
    """The dataset every trial of ``config`` runs on (cached per process).

    With ``config.test_subset = m``, the test set is ``m`` examples drawn without
    replacement by ``torch.randperm`` under seed :data:`TEST_SUBSET_SEED`, kept in their
    original order (the full test set when ``m`` is at least its size).
    """
    spec = json.dumps(config.dataset.model_dump(mode="json"), sort_keys=True)
    if config.encoder is None:
        return _cached_dataset(spec, config.test_subset)
    return _cached_encoded(spec, config.test_subset, _encoder_json(config))[0]


def data_param_values(dataset: Dataset) -> dict[str, int]:
    """What ``dataset`` determines of a model's parameters
    (:data:`~bayesal.experiment.config.DATA_PARAMS`): ``num_classes``, ``in_features``
    (the product of an input's shape: an encoder's feature width for encoded data), and
    for square images ``[C, H, H]`` ``in_channels`` and ``image_size``."""
    shape = tuple(int(d) for d in dataset.input_shape)
    values = {"num_classes": int(dataset.num_classes), "in_features": int(np.prod(shape))}
    if len(shape) == 3 and shape[1] == shape[2]:
        values["in_channels"], values["image_size"] = shape[0], shape[1]
    return values


def fill_data_params(config: ExperimentConfig, dataset: Dataset) -> ExperimentConfig:
    """``config`` with the model parameters that its factory requires and the config
    leaves out filled in from ``dataset`` (:func:`data_param_values`), as a labelling
    session does; ``config`` itself when none is left out."""
    return config.with_data_params(data_param_values(dataset))


def encoder_identity(resolved: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What a resolved config's features depend on (its ``encoder`` section without
    ``cache_dir``), or None when it has no encoder."""
    encoder = resolved.get("encoder") if isinstance(resolved, Mapping) else None
    if not isinstance(encoder, Mapping):
        return None
    return {key: value for key, value in encoder.items() if key != "cache_dir"}


def _encoder_json(config: ExperimentConfig) -> str:
    assert config.encoder is not None
    return json.dumps(config.encoder.model_dump(mode="json"), sort_keys=True)


@lru_cache(maxsize=2)
def _cached_encoded(
    spec_json: str, test_subset: int | None, encoder_json: str
) -> tuple[Dataset, dict[str, Any]]:
    from bayesal.encoders import encode_dataset

    encoder = json.loads(encoder_json)
    return encode_dataset(
        _cached_dataset(spec_json, test_subset),
        encoder["name"],
        encoder["params"],
        seed=encoder["seed"],
        cache_dir=encoder["cache_dir"],
        standardize_features=encoder["standardize"],
        reduce=encoder.get("reduce"),
    )


def trial_encoder_record(config: ExperimentConfig) -> dict[str, Any] | None:
    """The record of the encoder ``config``'s trials run on (trained or loaded once per
    process, see :func:`load_trial_dataset`), or None when the config has none."""
    if config.encoder is None:
        return None
    spec = json.dumps(config.dataset.model_dump(mode="json"), sort_keys=True)
    return _cached_encoded(spec, config.test_subset, _encoder_json(config))[1]


def check_budget(config: ExperimentConfig, dataset: Dataset) -> None:
    """Check that every trial of ``config`` can run on ``dataset`` to its last round.

    The labelling budget ``initial_labels + rounds * acquisition_size`` must fit in the
    training pool, ``pool_subset`` must not exceed the pool, and the class-balanced
    initial set (``initial_labels // num_classes`` of every class, the remainder spread
    over classes drawn at random) must exist.

    For a task other than classification the initial set is drawn uniformly (there are
    no classes to balance over), and the dataset must be of the config's task.

    Raises:
        InvalidInputError: naming the fields to change.
    """
    from bayesal.data.task_dataset import dataset_task

    n_train, name = dataset.num_train, config.dataset.name
    if dataset_task(dataset) != config.task:
        raise InvalidInputError(
            f"the config's task is {config.task!r}, but dataset {name!r} is a "
            f"{dataset_task(dataset)} dataset; set task: {dataset_task(dataset)} or choose a "
            f"{config.task} dataset"
        )
    needed = config.initial_labels + config.rounds * config.acquisition_size
    if needed > n_train:
        raise InvalidInputError(
            f"initial_labels ({config.initial_labels}) + rounds ({config.rounds}) x "
            f"acquisition_size ({config.acquisition_size}) = {needed} labels, but dataset "
            f"{name!r} has {n_train} training examples; lower rounds, acquisition_size or "
            "initial_labels"
        )
    if config.pool_subset is not None and config.pool_subset > n_train:
        raise InvalidInputError(
            f"pool_subset ({config.pool_subset}) exceeds the {n_train} training examples of "
            f"dataset {name!r}; lower it, or set pool_subset: null to score the whole pool"
        )
    if config.task != "classification":
        return
    classes = dataset.num_classes
    counts_C = np.bincount(dataset.train_y.cpu().numpy(), minlength=classes)
    share, extra = divmod(config.initial_labels, classes)
    # Each class gets `share`; `extra` classes drawn at random (per seed) get one more, so
    # every class needs share + 1 for every seed to work when there is a remainder.
    need = share + (1 if extra else 0)
    short = [c for c in range(classes) if counts_C[c] < need]
    if short:
        shown = ", ".join(f"class {c} has {int(counts_C[c])}" for c in short[:10])
        raise InvalidInputError(
            f"the class-balanced initial set of initial_labels={config.initial_labels} over "
            f"{classes} classes needs {need} training examples of every class, but in "
            f"dataset {name!r} {shown}{' ...' if len(short) > 10 else ''}; lower "
            "initial_labels"
        )


def check_model_on_data(config: ExperimentConfig, dataset: Dataset) -> None:
    """Check that the config's model runs on the dataset's inputs and returns one logit
    per class, by building the learner of the first arm once (one forward pass).

    Raises:
        InvalidInputError: the model does not take the inputs, or its output width is not
            the dataset's number of classes.
    """
    from bayesal.learner import ActiveLearner

    spec = config.strategies[0]
    try:
        ActiveLearner(
            dataset.train_x[:1],
            model=model_builder(config),
            strategy=config.build_strategy(spec),
            posterior=config.posterior_for(spec).build(),
            num_classes=_learner_width(config, dataset),
            device="cpu",
            task=config.task,
        )
    except InvalidInputError as exc:
        what = (
            f"model {config.model.name!r}"
            if config.model is not None
            else f"posterior {config.posterior_for(spec).name!r}"
        )
        raise InvalidInputError(
            f"{what} on dataset {config.dataset.name!r} ({dataset.num_classes} classes): {exc}"
        ) from None


def _learner_width(config: ExperimentConfig, dataset: Dataset) -> int | None:
    """The learner's ``num_classes`` for the model check: the dataset's, except for a
    task whose network may have another width (regression: ``[N, 1]`` or ``[N, 2]``)."""
    from bayesal.loop import TASK_RUNS

    if config.task in TASK_RUNS:
        return TASK_RUNS[config.task].learner_width(dataset)
    return dataset.num_classes


def model_builder(config: ExperimentConfig) -> _ModelBuilder | None:
    """The config's ``seed -> fresh model``, or None for a model-free study (``forest``)."""
    if config.model is None:
        return None
    return _ModelBuilder(config.model.name, dict(config.model.params))


class _ModelBuilder:
    """``seed -> fresh model`` for the loop; a class (not a closure) so it pickles."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        self.name, self.params = name, params

    def __call__(self, seed: int) -> nn.Module:
        from bayesal.models import build_model

        return build_model(self.name, seed=seed, **self.params)


def snapshot_wanted(config: ExperimentConfig, seed: int) -> bool:
    """Whether the trials of ``seed`` record snapshots (2-D datasets only)."""
    return config.snapshots is not None and seed in config.snapshots.seeds


@dataclass(frozen=True)
class TrialResult:
    """One finished trial, in memory: its round records, for snapshot seeds of 2-D
    datasets the snapshot arrays (else None), and the digest of what it was computed
    from (:func:`trial_digest`, stamped into its file). Picklable, so it can come back
    from a worker process or a Ray task."""

    label: str
    seed: int
    records: list[RoundRecord]
    snapshot: dict[str, np.ndarray] | None = None
    config_digest: str = ""


def _chain(
    first: Callable[[RoundContext], None] | None, second: Callable[[RoundContext], None] | None
) -> Callable[[RoundContext], None] | None:
    if first is None or second is None:
        return first or second

    def both(ctx: RoundContext) -> None:
        first(ctx)
        second(ctx)

    return both


def compute_trial(
    config: ExperimentConfig,
    label: str,
    seed: int,
    *,
    progress: bool = False,
    on_round: Callable[[RoundContext], None] | None = None,
) -> TrialResult:
    """Run one trial (arm ``label``, ``seed``) in this process; writes nothing.

    The posterior method is built from the arm's posterior config, the strategy from its
    name and params (both through their registries: names registered at run time must be
    registered in this process, see :mod:`bayesal.experiment.registrations`). ``on_round``
    is called after every round (after the snapshot recorder, if any).

    Raises:
        PluginError: plugin code (not bayesal's) raised; the message names it, its file
            and line, and the trial (:mod:`bayesal.experiment.plugin_errors`).
    """
    # Plugin code that raises (a strategy, score, model or dataset factory that is not
    # bayesal's) is one line naming it, not a traceback (bayesal's own bugs keep theirs).
    with plugin_errors(config, f"trial {label!r} seed {seed}"):
        return _compute_trial(config, label, seed, progress=progress, on_round=on_round)


def _compute_trial(
    config: ExperimentConfig,
    label: str,
    seed: int,
    *,
    progress: bool,
    on_round: Callable[[RoundContext], None] | None,
) -> TrialResult:
    spec = config.strategy(label)
    method = config.posterior_for(spec).build()
    dataset = load_trial_dataset(config)
    config = fill_data_params(config, dataset)  # the runner's own filling: a no-op then
    recorder: SnapshotRecorder | None = None
    if snapshot_wanted(config, seed) and config.snapshots is not None:
        if dataset.input_shape == (2,):
            recorder = SnapshotRecorder(
                dataset, config.snapshots.rounds, config.snapshots.resolution
            )
        else:
            warnings.warn(
                f"snapshots need 2-D inputs; {dataset.name} has shape {dataset.input_shape}: "
                "skipped",
                stacklevel=2,
            )
    records = run_active_learning(
        dataset,
        config.build_strategy(spec),
        build_model=model_builder(config),
        train_config=config.training,
        initial_labels=config.initial_labels,
        acquisition_size=config.acquisition_size,
        rounds=config.rounds,
        seed=seed,
        posterior=method,
        pool_subset=config.pool_subset,
        num_target_samples=config.num_target_samples,
        chunk_size=config.chunk_size,
        on_round=_chain(recorder, on_round),
        progress=progress,
        device=config.device,
        stop_set_size=config.stopping.stop_set_size if config.stopping is not None else None,
        scoring=config.scoring.learner_kwargs() if config.scoring is not None else None,
        task=config.task,
    )
    return TrialResult(
        label,
        seed,
        records,
        recorder.arrays() if recorder is not None else None,
        config_trial_digest(config, label, seed),
    )


def save_trial(out_dir: str | os.PathLike[str], result: TrialResult) -> Path:
    """Write a finished trial's snapshot (if any), then its trial file (stamped with
    ``result.config_digest``), each atomically.

    In that order, so that an existing trial file implies its snapshot. Returns the
    trial file's path.
    """
    if result.snapshot is not None:
        atomic_save_npz(snapshot_path(out_dir, result.label, result.seed), result.snapshot)
    return write_trial(
        out_dir, result.label, result.seed, result.records, config_digest=result.config_digest
    )


def run_trial(
    config: ExperimentConfig,
    out_dir: str | os.PathLike[str],
    label: str,
    seed: int,
    *,
    progress: bool = False,
    before_save: Callable[[], Any] | None = None,
) -> Path:
    """Run one trial and write its file (and snapshot) atomically; returns the trial path.

    ``before_save`` is called once the trial has finished, just before its files are
    written (the runner writes ``config.resolved.yaml`` there).
    """
    result = compute_trial(config, label, seed, progress=progress)
    if before_save is not None:
        before_save()
    return save_trial(out_dir, result)
