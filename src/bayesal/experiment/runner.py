"""Run every strategy x seed of an experiment config, resumably, locally or on Ray.

Each trial (one strategy arm, one seed) is an independent active-learning run
(:mod:`.trial`). A trial that finishes is written atomically to
``out_dir/trials/<label>__seed<seed>.csv``; on start, trials whose file already exists
are skipped, so a grid killed at any moment (even ``kill -9``) resumes where it stopped
and loses only the trials in flight. At the end ``results.csv`` is assembled from the
trial files (see :mod:`.results`).

Before anything is written, :func:`check_experiment` checks what the config alone could
not (the labelling budget against the dataset, loaded once here), and the run-time
registrations to ship to worker processes are checked to pickle.
``config.resolved.yaml``, which guards the directory against trials of another config,
is written just before the first trial file, so a run that fails (or is killed) before
finishing a trial leaves a directory that any corrected config can use.

The pieces: :mod:`.trial` (one trial), :mod:`.snapshots` (posterior pictures),
:mod:`.local_executor` (worker processes), :mod:`.ray_executor` (Ray tasks),
:mod:`.registrations` (run-time registrations shipped to workers), :mod:`.results` (files).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch  # noqa: F401  (bayesal.experiment.runner.torch: reached by tests)
import yaml
from tqdm.auto import tqdm

from bayesal.errors import ConfigError, DataNotFoundError, InvalidInputError
from bayesal.experiment.config import ExperimentConfig
from bayesal.experiment.local_executor import run_parallel, threads_per_trial, torch_threads
from bayesal.experiment.registrations import Registrations, shippable_registrations
from bayesal.experiment.results import (
    RESOLVED_CONFIG_FILE,
    TRIALS_DIR,
    assemble_results,
    atomic_write_text,
    remove_stale_temp_files,
    snapshot_path,
    trial_path,
)
from bayesal.experiment.snapshots import SnapshotRecorder
from bayesal.experiment.trial import (
    TEST_SUBSET_SEED,
    TrialResult,
    check_budget,
    compute_trial,
    load_trial_dataset,
    run_trial,
    save_trial,
    snapshot_wanted,
)

__all__ = [
    "EXECUTORS",
    "TEST_SUBSET_SEED",
    "SnapshotRecorder",
    "TrialResult",
    "check_experiment",
    "compute_trial",
    "load_trial_dataset",
    "run_experiment",
    "run_trial",
    "save_trial",
]

#: Fields of the config that a trial's results depend on besides its arm and seed; a
#: resumed run must agree on them with the trials already on disk. (``device`` is not
#: among them: a grid may be resumed on another machine.)
_SHARED_FIELDS = (
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

#: Executors of :func:`run_experiment`.
EXECUTORS: tuple[str, ...] = ("local", "ray")


def _with_new_defaults(resolved: dict[str, Any]) -> dict[str, Any]:
    """A resolved config written by an older bayesal, with fields added since filled in
    (so that a directory it wrote still resumes)."""
    posts = [resolved.get("posterior")]
    posts += [arm.get("posterior") for arm in resolved.get("strategies") or [] if arm]
    for post in posts:
        if isinstance(post, dict):
            post.setdefault("params", {})
    return resolved


def _check_resumable(config: ExperimentConfig, out_dir: Path) -> None:
    """Refuse to mix trials of a different config into ``out_dir``."""
    resolved = out_dir / RESOLVED_CONFIG_FILE
    if not resolved.is_file():
        return
    try:
        old = yaml.safe_load(resolved.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return  # unreadable: it is rewritten; trial files carry no config of their own
    if not isinstance(old, dict):
        return
    old = _with_new_defaults(old)
    new = config.model_dump(mode="json")
    differ = [f for f in _SHARED_FIELDS if old.get(f) != new.get(f)]
    old_arms = {arm.get("label"): arm for arm in old.get("strategies") or [] if arm}
    differ += [
        f"strategies[{arm['label']}]"
        for arm in new["strategies"]
        if arm["label"] in old_arms and old_arms[arm["label"]] != arm
    ]
    if differ:
        trials = out_dir / TRIALS_DIR
        empty = not (trials.is_dir() and any(trials.glob("*.csv")))
        hint = f" (it holds no finished trial: delete {resolved} to reuse it)" if empty else ""
        raise ConfigError(
            f"{out_dir} holds results of a different config (differs in: {', '.join(differ)})"
            f"{hint}; use another --out directory, or delete it to start over"
        )


def _trial_done(config: ExperimentConfig, out_dir: Path, label: str, seed: int) -> bool:
    if not trial_path(out_dir, label, seed).is_file():
        return False
    if snapshot_wanted(config, seed) and load_trial_dataset(config).input_shape == (2,):
        return snapshot_path(out_dir, label, seed).is_file()
    return True


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
    try:
        dataset = load_trial_dataset(config)
    except DataNotFoundError as exc:
        if data_required:
            raise
        warnings.warn(f"the labelling budget is not checked before the run: {exc}", stacklevel=2)
    else:
        check_budget(config, dataset)


class _ResolvedConfig:
    """Writes ``config.resolved.yaml`` once, the first time it is called."""

    def __init__(self, config: ExperimentConfig, out_dir: Path) -> None:
        self.config, self.out_dir, self.written = config, out_dir, False

    def __call__(self) -> None:
        if not self.written:
            atomic_write_text(self.out_dir / RESOLVED_CONFIG_FILE, self.config.to_yaml())
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
    """Run every trial of ``config`` not yet on disk, then assemble ``results.csv``.

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
        collect_only: run nothing; assemble ``results.csv`` from the trials of
            ``config`` already finished (a look at a long run in progress, or a
            partial grid). DataNotFoundError when none is.

    Everything checkable is checked before ``out_dir`` is created or touched: the
    arguments, Ray's presence, the budget against the dataset
    (:func:`check_experiment`) and the resume guard. ``config.resolved.yaml`` is written
    just before the first trial file of this run (or, when every trial was already
    done, before ``results.csv``), so a run that fails before finishing a trial leaves
    no resolved config behind.

    Both executors write the same files, from this process: a trial's file appears,
    atomically, only when the trial is complete, and trials whose file exists are
    skipped. Run-time registrations of this process (strategies, models, datasets,
    posteriors) and the config's plugins are installed in every worker and Ray task.

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
    _check_resumable(config, out)
    if collect_only:
        # Touch nothing a run in progress here owns: its temp files, its resolved config.
        done = [t for t in config.trials() if _trial_done(config, out, *t)]
        if not done:
            raise DataNotFoundError(f"{out} holds no finished trial of this config to collect")
        if not (out / RESOLVED_CONFIG_FILE).is_file():
            atomic_write_text(out / RESOLVED_CONFIG_FILE, config.to_yaml())
        return assemble_results(out, done)

    check_experiment(config, data_required=not (executor == "ray" and ray_address is not None))
    trials = config.trials()
    todo = [(label, seed) for label, seed in trials if not _trial_done(config, out, label, seed)]
    in_process = executor == "local" and (workers == 1 or len(todo) <= 1)
    # Trials run elsewhere need this process's run-time registrations (checked to pickle).
    registrations: Registrations = {} if in_process else shippable_registrations(config)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out)
    write_resolved = _ResolvedConfig(config, out)

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
    try:
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
    except BaseException:
        if created and not any(out.iterdir()):
            out.rmdir()  # this run created it and wrote nothing: leave no trace
        raise
    write_resolved()
    return assemble_results(out, trials)
