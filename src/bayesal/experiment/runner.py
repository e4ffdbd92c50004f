"""Run every strategy x seed of an experiment config, resumably, locally or on Ray.

Each trial (one strategy arm, one seed) is an independent active-learning run
(:mod:`.trial`). A trial that finishes is written atomically to
``out_dir/trials/<label>__seed<seed>.csv``, stamped with the digest of what it was
computed from and a checksum of its rows (:mod:`.results`). On start, every trial file
is checked on its own (:func:`~bayesal.experiment.results.check_trial`): one that
passes is skipped, one that fails is reported, set aside as ``<name>.rejected-<time>``
and recomputed. So a grid killed at any moment (even ``kill -9``) resumes where it
stopped and loses only the trials in flight, and a trial file of another config, or a
damaged one, is never counted. At the end ``results.csv`` is assembled from every
valid trial file of the directory's grid (see :func:`run_experiment`).

A run holds an exclusive lock on the directory
(:func:`~bayesal.experiment.results.lock_results_dir`): a second run on the same
directory fails at once, naming the first one's pid.

Before anything is written, :func:`check_experiment` checks what the config alone could
not (the labelling budget against the dataset, loaded once here), and the run-time
registrations to ship to worker processes are checked to pickle.
``config.resolved.yaml``, which records the directory's grid and guards it against
trials of another config, is written just before the first trial file, so a run that
fails (or is killed) before finishing a trial leaves a directory that any corrected
config can use.

A config with an ``encoder`` section (:mod:`bayesal.encoders`) has its encoder trained
(or loaded from the cache) here, in :func:`check_experiment`, before any trial is fanned
out; its record (training time apart from every round's cost) is written to
``out_dir/encoder.json`` beside the resolved config, and printed unless quiet.

The pieces: :mod:`.trial` (one trial), :mod:`.snapshots` (posterior pictures),
:mod:`.local_executor` (worker processes), :mod:`.ray_executor` (Ray tasks),
:mod:`.registrations` (run-time registrations shipped to workers), :mod:`.results` (files).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch  # noqa: F401  (bayesal.experiment.runner.torch: reached by tests)
import yaml
from tqdm.auto import tqdm

from bayesal._yaml import load_yaml
from bayesal.errors import BayesalError, ConfigError, DataNotFoundError, InvalidInputError
from bayesal.experiment.config import ExperimentConfig
from bayesal.experiment.data_checks import dataset_file_problems
from bayesal.experiment.local_executor import run_parallel, threads_per_trial, torch_threads
from bayesal.experiment.plugin_errors import plugin_errors
from bayesal.experiment.registrations import Registrations, shippable_registrations
from bayesal.experiment.results import (
    LOCK_FILE,
    RESOLVED_CONFIG_FILE,
    TRIALS_DIR,
    ResultsDirInUseError,
    assemble_results,
    atomic_write_text,
    check_trial,
    lock_results_dir,
    remove_stale_temp_files,
    set_aside,
    snapshot_path,
    trial_path,
)
from bayesal.experiment.snapshots import SnapshotRecorder
from bayesal.experiment.trial import (
    SHARED_FIELDS,
    TEST_SUBSET_SEED,
    TrialResult,
    check_budget,
    check_model_on_data,
    compute_trial,
    encoder_identity,
    fill_data_params,
    load_trial_dataset,
    run_trial,
    save_trial,
    snapshot_wanted,
    stop_set_size_of,
    task_of,
    trial_digest,
    trial_encoder_record,
)
from bayesal.results_schema import trial_file_name

__all__ = [
    "EXECUTORS",
    "TEST_SUBSET_SEED",
    "NoTestSetWarning",
    "ResultsDirInUseError",
    "SnapshotRecorder",
    "TrialRejectedWarning",
    "TrialResult",
    "check_experiment",
    "compute_trial",
    "load_trial_dataset",
    "run_experiment",
    "run_trial",
    "save_trial",
]

#: Fields of the config that a trial's results depend on besides its arm and seed
#: (:data:`bayesal.experiment.trial.SHARED_FIELDS`).
_SHARED_FIELDS = SHARED_FIELDS

#: The encoder's record in a results directory (configs with an ``encoder`` section):
#: its training time, epochs, loss curve, versions, the pool's digest, cache hits.
ENCODER_FILE = "encoder.json"

#: Executors of :func:`run_experiment`.
EXECUTORS: tuple[str, ...] = ("local", "ray")


class NoTestSetWarning(UserWarning):
    """The dataset has no test set: the run will measure no accuracy (said before it
    starts; ``bayesal run`` prints it as one ``bayesal: note:`` line)."""


class TrialRejectedWarning(UserWarning):
    """A trial file failed its check: it is not counted (and is recomputed by a run)."""


def _with_new_defaults(resolved: dict[str, Any]) -> dict[str, Any]:
    """A resolved config written by an older bayesal, with fields added since filled in
    (so that a directory it wrote still resumes)."""
    posts = [resolved.get("posterior")]
    posts += [arm.get("posterior") for arm in resolved.get("strategies") or [] if arm]
    for post in posts:
        if isinstance(post, dict):
            post.setdefault("params", {})
    return resolved


def _read_resolved(out_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(the directory's resolved config, None)``; ``(None, None)`` when there is none;
    ``(None, why)`` when it cannot be read."""
    resolved = out_dir / RESOLVED_CONFIG_FILE
    if not resolved.is_file():
        return None, None
    try:
        old = load_yaml(resolved.read_bytes(), RESOLVED_CONFIG_FILE)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or type(exc).__name__})"
    except ConfigError as exc:  # duplicate keys included: YAML would keep the last
        return None, f"not valid YAML ({exc})"
    if not isinstance(old, dict):
        return None, "not a mapping of fields"
    arms = old.get("strategies")
    if not isinstance(arms, list) or not all(
        isinstance(arm, dict) and isinstance(arm.get("label"), str) for arm in arms
    ):
        return None, "its strategies are not a list of labelled arms"
    seeds = old.get("seeds")
    if not isinstance(seeds, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in seeds
    ):
        return None, "its seeds are not a list of integers"
    return _with_new_defaults(old), None


def _check_resumable(config: ExperimentConfig, out_dir: Path) -> dict[str, Any] | None:
    """Refuse to mix trials of a different config into ``out_dir``; returns the
    directory's resolved config (None when it has none or it is unreadable: then every
    trial file is checked by its own stamp only)."""
    old, _ = _read_resolved(out_dir)
    if old is None:
        return None
    new = config.model_dump(mode="json")
    differ = [f for f in _SHARED_FIELDS if old.get(f) != new.get(f)]
    if stop_set_size_of(old) != stop_set_size_of(new):
        # Trials with and without the stopping evidence (or of another stop set) do not
        # mix; the rules alone may change (only the report reads them).
        differ.append("stopping.stop_set_size (the stopping evidence recorded)")
    if encoder_identity(old) != encoder_identity(new):
        differ.append("encoder")
    if task_of(old) != task_of(new):
        differ.append("task")
    old_arms = {arm.get("label"): arm for arm in old.get("strategies") or [] if arm}
    differ += [
        f"strategies[{arm['label']}]"
        for arm in new["strategies"]
        if arm["label"] in old_arms and old_arms[arm["label"]] != arm
    ]
    if differ:
        resolved = out_dir / RESOLVED_CONFIG_FILE
        trials = out_dir / TRIALS_DIR
        empty = not (trials.is_dir() and any(trials.glob("*.csv")))
        hint = f" (it holds no finished trial: delete {resolved} to reuse it)" if empty else ""
        raise ConfigError(
            f"{out_dir} holds results of a different config (differs in: {', '.join(differ)})"
            f"{hint}; use another --out directory, or delete it to start over"
        )
    return old


def _directory_grid(config: ExperimentConfig, old: dict[str, Any] | None) -> dict[str, Any]:
    """The directory's grid, as a resolved config: ``config`` with the arms and seeds of
    the resolved config already there (``old``, which agrees with ``config``) added to
    its own (old ones first, in their order). So a run narrowed with ``--strategies`` or
    ``--seeds`` keeps the trials of the runs before it in ``results.csv``."""
    grid = config.model_dump(mode="json")
    if old is None:
        return grid
    labels = [arm["label"] for arm in old["strategies"]]
    new_arms = {arm["label"]: arm for arm in grid["strategies"]}
    arms = [new_arms.get(arm["label"], arm) for arm in old["strategies"]]
    arms += [arm for arm in grid["strategies"] if arm["label"] not in labels]
    seeds = list(old["seeds"]) + [s for s in grid["seeds"] if s not in old["seeds"]]
    return {**grid, "strategies": arms, "seeds": seeds}


def _grid_trials(grid: dict[str, Any]) -> list[tuple[str, int]]:
    return [(arm["label"], seed) for arm in grid["strategies"] for seed in grid["seeds"]]


def _trial_problem(
    out_dir: Path, grid: dict[str, Any], label: str, seed: int, legacy_ok: bool
) -> str | None:
    """Why the (existing) trial file of ``label``, ``seed`` cannot be counted, or None."""
    return check_trial(
        trial_path(out_dir, label, seed),
        label=label,
        seed=seed,
        config_digest=trial_digest(grid, label, seed),
        rounds=grid["rounds"],
        initial_labels=grid["initial_labels"],
        acquisition_size=grid["acquisition_size"],
        legacy_ok=legacy_ok,
        stopping=stop_set_size_of(grid) is not None,
        task=task_of(grid),
    )


def _reject(path: Path, problem: str, *, set_it_aside: bool) -> None:
    if set_it_aside:
        moved = set_aside(path)
        action = f"moved to {moved.name}, recomputed"
    else:
        action = "a run recomputes it"
    # stacklevel: the caller of run_experiment (_reject < _valid_trials < _run_locked or
    # _collect < run_experiment < caller).
    warnings.warn(f"{path}: not counted: {problem} ({action})", TrialRejectedWarning, stacklevel=5)


def _snapshot_missing(config: ExperimentConfig, out_dir: Path, label: str, seed: int) -> bool:
    return (
        snapshot_wanted(config, seed)
        and load_trial_dataset(config).input_shape == (2,)
        and not snapshot_path(out_dir, label, seed).is_file()
    )


def _valid_trials(
    out_dir: Path,
    grid: dict[str, Any],
    trials: list[tuple[str, int]],
    legacy_ok: bool,
    *,
    report: bool,
    set_aside_bad: bool = False,
) -> list[tuple[str, int]]:
    """The trials among ``trials`` whose file exists and passes its check. With
    ``report``, each failing file is reported (a TrialRejectedWarning) and, with
    ``set_aside_bad``, renamed out of the way."""
    valid = []
    for label, seed in trials:
        path = trial_path(out_dir, label, seed)
        if not path.is_file():
            continue
        problem = _trial_problem(out_dir, grid, label, seed, legacy_ok)
        if problem is None:
            valid.append((label, seed))
        elif report:
            _reject(path, problem, set_it_aside=set_aside_bad)
    return valid


def _with_data_params(
    config: ExperimentConfig, out: Path, *, collect_only: bool
) -> ExperimentConfig:
    """``config`` with the model parameters the data determines filled in
    (:func:`~bayesal.experiment.trial.fill_data_params`), before the resume guard
    compares it with the directory's resolved config. ``collect_only`` takes them from
    that resolved config when it has them (nothing is loaded), else from the data."""
    if config.model is None or not (missing := config.model.data_params()):
        return config
    if collect_only:
        old, _ = _read_resolved(out)
        model = (old or {}).get("model")
        if isinstance(model, dict) and model.get("name") == config.model.name:
            params = model.get("params")
            if isinstance(params, dict) and set(missing) <= set(params):
                return config.with_data_params({k: params[k] for k in missing})
    problems = dataset_file_problems(config.dataset.name, config.dataset.params)
    if problems:
        error = DataNotFoundError if any("does not exist" in p for p in problems) else ConfigError
        raise error(f"dataset {config.dataset.name!r}: " + "; ".join(problems))
    try:
        dataset = _load_checked(config)
    except DataNotFoundError as exc:
        raise DataNotFoundError(
            f"{exc} (model.params {', '.join(missing)} are filled in from the data: give "
            "them in the config to run without it here)"
        ) from None
    return fill_data_params(config, dataset)


def _load_checked(config: ExperimentConfig) -> Any:
    """:func:`load_trial_dataset`, a loader's plugin error or wrong-typed parameter as
    one line."""
    try:
        with plugin_errors(config, f"loading dataset {config.dataset.name!r}"):
            return load_trial_dataset(config)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, BayesalError):
            raise
        # A parameter of the right name but the wrong type (YAML reads 1e-1 as text).
        raise InvalidInputError(
            f"dataset {config.dataset.name!r} with params {config.dataset.params}: "
            f"{type(exc).__name__}: {exc} (a value of the wrong type?)"
        ) from None


def check_experiment(config: ExperimentConfig, *, data_required: bool = True) -> None:
    """Check what the validated ``config`` alone could not, before anything is written:
    loads the dataset (once per process, cached for the trials run here) and checks the
    labelling budget against it (:func:`~bayesal.experiment.trial.check_budget`).

    With ``data_required=False`` (a Ray cluster may hold data this machine lacks) a
    dataset that is not available here is a warning, not an error.

    Raises:
        InvalidInputError: a budget the dataset cannot meet (the message names the
            fields to change). DataNotFoundError: the dataset is not available.
    """
    # Every missing file and column of a file dataset at once (the loader stops at its
    # first); with data on a Ray cluster only, the loader's warning below says it.
    problems = dataset_file_problems(config.dataset.name, config.dataset.params)
    if problems and data_required:
        error = DataNotFoundError if any("does not exist" in p for p in problems) else ConfigError
        raise error(f"dataset {config.dataset.name!r}: " + "; ".join(problems))
    try:
        dataset = _load_checked(config)
    except DataNotFoundError as exc:
        if data_required:
            raise
        warnings.warn(f"the labelling budget is not checked before the run: {exc}", stacklevel=2)
    else:
        if len(dataset.test_y) == 0:
            warnings.warn(
                f"dataset {config.dataset.name!r} has no test set, so this run measures no "
                "accuracy (results.csv gets label counts and acquired ids only, and no "
                "summary): give the dataset test_fraction (e.g. 0.2, a random hold-out of "
                "the labelled rows) or test_path for accuracy tables",
                NoTestSetWarning,
                stacklevel=2,
            )
        check_budget(config, dataset)
        config = fill_data_params(config, dataset)  # a no-op when run_experiment did it
        with plugin_errors(config, "checking the model on the data"):
            check_model_on_data(config, dataset)


class _ResolvedConfig:
    """Writes ``config.resolved.yaml`` (the directory's grid) once, the first time it is
    called."""

    def __init__(
        self, grid: dict[str, Any], out_dir: Path, encoder_record: dict[str, Any] | None = None
    ) -> None:
        self.grid, self.out_dir, self.written = grid, out_dir, False
        self.encoder_record = encoder_record

    def __call__(self) -> None:
        if not self.written:
            if self.encoder_record is not None:  # beside the resolved config, as late
                text = json.dumps(self.encoder_record, indent=1, sort_keys=True) + "\n"
                atomic_write_text(self.out_dir / ENCODER_FILE, text)
            text = yaml.safe_dump(self.grid, sort_keys=False)
            atomic_write_text(self.out_dir / RESOLVED_CONFIG_FILE, text)
            self.written = True


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | os.PathLike[str],
    *,
    workers: int | None = 1,
    progress: bool = True,
    executor: Literal["local", "ray"] = "local",
    ray_address: str | None = None,
    ray_init_kwargs: Mapping[str, Any] | None = None,
    collect_only: bool = False,
) -> Path:
    """Run every trial of ``config`` not yet validly on disk, then assemble ``results.csv``.

    Args:
        config: a validated :class:`ExperimentConfig`.
        out_dir: results directory (created); an existing one is resumed, provided it was
            written by a compatible config (ConfigError otherwise).
        workers: ``"local"``: parallel worker processes (spawned; ``None``: one per CPU
            core), each with ``cores // workers`` torch threads. ``"ray"``: at most this
            many trials submitted at a time (``None``: all of them; a local cluster then
            gets every core). Results are bitwise repeatable for the same number of
            torch threads per trial: with ``"local"`` that is ``cores // workers``
            (``workers=1``: torch's default) whatever is left to do, so a resumed run
            matches an uninterrupted one run with the same ``workers`` on the same
            machine. (Another thread count sums
            gradients in another order: last-digit differences that can change a pick.)
        progress: tqdm bars over trials (and over rounds when one local worker runs).
        executor: ``"local"`` (processes on this machine) or ``"ray"`` (Ray tasks, see
            :func:`bayesal.experiment.ray_executor.run_on_ray`; needs the ``ray`` extra).
        ray_address: the Ray cluster to join (``ray.init(address=...)``); ``None``
            starts a local one. Only with ``executor="ray"``.
        ray_init_kwargs: extra keyword arguments of ``ray.init``.
        collect_only: run nothing; assemble ``results.csv`` from exactly the trials of
            ``config`` (after its overrides) whose files pass their check (a partial
            grid, or a chosen part of one). DataNotFoundError when none does.

    Everything checkable is checked before ``out_dir`` is created or touched: the
    arguments, Ray's presence, the budget against the dataset
    (:func:`check_experiment`) and the resume guard. Then the directory is locked
    (:func:`~bayesal.experiment.results.lock_results_dir`; collecting too): while this
    call runs, another one on the same directory raises
    :class:`~bayesal.experiment.results.ResultsDirInUseError` at once. Stale temporary
    files are removed, and every trial file of ``config`` is checked
    (:func:`~bayesal.experiment.results.check_trial`): one that fails is reported (a
    :class:`TrialRejectedWarning`), renamed to ``<name>.rejected-<time>`` and
    recomputed. ``config.resolved.yaml`` is written just before the first trial file
    of this run (or, when every trial was already done, before ``results.csv``), so a
    run that fails before finishing a trial leaves no resolved config behind.

    The resolved config records the directory's *grid*: the arms and seeds of every
    compatible run into ``out_dir``, this one's added to those already there. At the
    end ``results.csv`` is assembled from every trial file of that grid that passes its
    check, not only from this run's arms and seeds: ``--strategies random`` and then
    ``--strategies bald`` on one directory give a table of both. (A failing file of an
    arm this run does not compute is reported and left where it is.)

    Both executors write the same files, from this process: a trial's file appears,
    atomically, only when the trial is complete. Run-time registrations of this
    process (strategies, models, datasets, posteriors) and the config's plugins are
    installed in every worker and Ray task.

    Returns the path of ``results.csv``.
    """
    if executor not in EXECUTORS:
        raise InvalidInputError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if executor == "local" and workers is None:
        workers = os.cpu_count() or 1
    if workers is not None and workers < 1:
        raise InvalidInputError(f"workers must be >= 1, got {workers}")
    if executor != "ray" and (ray_address is not None or ray_init_kwargs):
        raise InvalidInputError("ray_address and ray_init_kwargs need executor='ray'")
    if executor == "ray" and not collect_only:
        from bayesal.experiment.ray_executor import import_ray

        import_ray()  # fail before any work when Ray is missing
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out} exists and is not a directory")
    data_required = not (executor == "ray" and ray_address is not None)
    config = _with_data_params(config, out, collect_only=collect_only)
    old = _check_resumable(config, out)
    if collect_only:
        if not out.is_dir():
            raise DataNotFoundError(f"{out} holds no finished trial of this config to collect")
        with lock_results_dir(out):
            return _collect(config, out)

    check_experiment(config, data_required=data_required)
    # A first look (read only) decides whether trials run in this process; those run
    # elsewhere need this process's run-time registrations, checked to pickle now.
    grid = _directory_grid(config, old)
    valid = _valid_trials(out, grid, config.trials(), old is not None, report=False)
    guess = [t for t in config.trials() if t not in valid or _snapshot_missing(config, out, *t)]
    in_process = executor == "local" and (workers == 1 or len(guess) <= 1)
    registrations: Registrations = {} if in_process else shippable_registrations(config)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    lock_created = not (out / LOCK_FILE).exists()
    with lock_results_dir(out) as lock:
        try:
            return _run_locked(
                config,
                out,
                workers=workers,
                progress=progress,
                executor=executor,
                ray_address=ray_address,
                ray_init_kwargs=ray_init_kwargs,
                registrations=registrations,
            )
        except BaseException:
            # This run wrote nothing: leave no trace (no lock file, no directory it made).
            trials_dir = out / TRIALS_DIR
            if trials_dir.is_dir() and not any(trials_dir.iterdir()):
                trials_dir.rmdir()  # made by the write check below, or left empty
            if lock_created and {p.name for p in out.iterdir()} <= {lock.name}:
                lock.unlink(missing_ok=True)
                if created:
                    out.rmdir()
            raise


def encoder_summary(record: dict[str, Any]) -> str:
    """One line on the encoder a run's trials use: its training time (apart from every
    round's cost) and whether it came from the cache."""
    if record.get("pretrained"):
        trained = "pretrained (no training)"
    else:
        where = "loaded from the cache" if record.get("encoder_loaded") else "trained now"
        trained = (
            f"trained in {float(record.get('train_seconds', 0.0)):.1f} s "
            f"({record.get('epochs')} epochs, {where})"
        )
    seconds = float(record.get("feature_seconds", 0.0))
    loaded = record.get("features_loaded")
    features = "features loaded" if loaded else f"features computed in {seconds:.1f} s"
    return (
        f"bayesal: encoder {record.get('encoder')}: {trained}; {features}; "
        f"{record.get('feature_dim')}-d; cache {record.get('cache_path')}"
    )


def _check_trials_dir_writable(out: Path) -> None:
    """Fail now, not after the first trial has trained for hours, when ``trials/`` cannot
    be created or written (a file in its place, no space, a read-only file system)."""
    trials_dir = out / TRIALS_DIR
    trials_dir.mkdir(exist_ok=True)
    probe = atomic_write_text(trials_dir / ".write-check", "")
    probe.unlink()


def _collect(config: ExperimentConfig, out: Path) -> Path:
    """``collect_only``, with the directory locked."""
    old = _check_resumable(config, out)  # again: it may have changed while unlocked
    remove_stale_temp_files(out)
    grid = _directory_grid(config, old)
    valid = _valid_trials(out, grid, config.trials(), old is not None, report=True)
    done = [t for t in valid if not _snapshot_missing(config, out, *t)]
    if not done:
        raise DataNotFoundError(f"{out} holds no finished trial of this config to collect")
    if not (out / RESOLVED_CONFIG_FILE).is_file():
        _ResolvedConfig(grid, out)()
    return assemble_results(out, done, rounds=config.rounds)


def _run_locked(
    config: ExperimentConfig,
    out: Path,
    *,
    workers: int | None,
    progress: bool,
    executor: Literal["local", "ray"],
    ray_address: str | None,
    ray_init_kwargs: Mapping[str, Any] | None,
    registrations: Registrations,
) -> Path:
    """The run itself, with the directory locked."""
    old = _check_resumable(config, out)  # again: it may have changed while unlocked
    _, unreadable = _read_resolved(out)
    if unreadable is not None:
        warnings.warn(
            f"{out / RESOLVED_CONFIG_FILE} is unreadable ({unreadable}): each trial file is "
            "checked against its own stamp (one without a stamp is recomputed), and the "
            "file is rewritten",
            TrialRejectedWarning,
            stacklevel=3,
        )
    legacy_ok = old is not None
    grid = _directory_grid(config, old)
    remove_stale_temp_files(out)
    _check_trials_dir_writable(out)
    trials = config.trials()
    valid = _valid_trials(out, grid, trials, legacy_ok, report=True, set_aside_bad=True)
    todo = [t for t in trials if t not in valid or _snapshot_missing(config, out, *t)]
    in_process = executor == "local" and (workers == 1 or len(todo) <= 1)
    if not in_process and not registrations:
        registrations = shippable_registrations(config)
    encoder_record = trial_encoder_record(config)
    if encoder_record is not None and progress:
        print(encoder_summary(encoder_record), file=sys.stderr)
    write_resolved = _ResolvedConfig(grid, out, encoder_record)

    def save(result: TrialResult) -> Path:
        write_resolved()
        return save_trial(out, result)

    bar = tqdm(
        total=len(trials),
        initial=len(trials) - len(todo),
        desc=f"{config.name} trials",
        unit="trial",
        disable=not progress,
    )
    with bar:
        if executor == "ray":
            from bayesal.experiment.ray_executor import run_on_ray

            run_on_ray(
                config,
                out,
                todo,
                address=ray_address,
                max_in_flight=workers,
                init_kwargs=ray_init_kwargs,
                on_done=bar.update,
                registrations=registrations,
                save=save,
            )
        elif in_process:
            # workers == 1: torch's own default, as the in-process run always had.
            threads = None if workers in (None, 1) else threads_per_trial(workers)
            with torch_threads(threads):
                for label, seed in todo:
                    bar.set_postfix_str(f"{label} seed {seed}")
                    run_trial(
                        config, out, label, seed, progress=progress, before_save=write_resolved
                    )
                    bar.update()
        else:

            def saved(result: TrialResult) -> None:
                save(result)
                bar.update()

            assert workers is not None  # set above for the local executor
            run_parallel(config, todo, workers, registrations=registrations, save=saved)
    write_resolved()
    grid_trials = _grid_trials(grid)
    counted = _valid_trials(out, grid, grid_trials, legacy_ok, report=True)
    names = {trial_file_name(label, seed) for label, seed in grid_trials}
    for path in sorted((out / TRIALS_DIR).glob("*.csv")):
        if path.name not in names:
            warnings.warn(
                f"{path}: not counted: not a trial of this directory's grid (the arms and "
                f"seeds in {RESOLVED_CONFIG_FILE})",
                TrialRejectedWarning,
                stacklevel=3,
            )
    return assemble_results(out, counted, rounds=config.rounds)
