"""Run the trials of an experiment grid as Ray tasks (``bayesal run --executor ray``).

Each trial is one Ray task that runs :func:`~bayesal.experiment.trial.compute_trial` and
returns its records (and snapshot) to the driver; the *driver* writes the trial files,
atomically, as tasks finish. So the nodes of a cluster need bayesal, torch and the data
set, but no shared file system, and the results directory, the resume rule (a trial
whose file exists and passes its check is not run again) and ``results.csv`` are
exactly those of the local executor. A driver killed at any moment loses only the
trials in flight.

Each task first imports the config's ``plugins`` and installs the driver's run-time
registrations, shipped with the task (:mod:`bayesal.experiment.registrations`). When the
config's device resolves to CUDA on the driver, each task asks Ray for one GPU and
trains on the GPU Ray assigns it.

Ray is an optional dependency (``pip install 'bayesal[ray]'``), imported only when this
executor runs.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from bayesal.device import resolve_device
from bayesal.errors import BayesalError, InvalidInputError
from bayesal.experiment.config import ExperimentConfig
from bayesal.experiment.registrations import Registrations, shippable_registrations

#: How to install the optional dependency; quoted in the error when Ray is missing.
RAY_INSTALL = "pip install 'bayesal[ray]'"


class RayUnavailableError(BayesalError, ImportError):
    """``--executor ray`` was asked for, but the ``ray`` package cannot be imported."""


def import_ray() -> ModuleType:
    """The ``ray`` module, or :class:`RayUnavailableError` saying how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise RayUnavailableError(
            f"the Ray executor needs the optional dependency ray ({exc}); install it with "
            f"{RAY_INSTALL}, or run with --executor local"
        ) from None


def _ray_trial(
    config: ExperimentConfig,
    label: str,
    seed: int,
    threads: int,
    registrations: Registrations | None = None,
) -> Any:
    """The body of one Ray task: one trial, computed in the Ray worker process, after the
    config's plugins and the driver's run-time registrations are installed there."""
    import torch

    from bayesal.experiment.registrations import prepare_worker
    from bayesal.experiment.trial import compute_trial

    prepare_worker(config.plugins, registrations or {})
    # The worker process runs one trial at a time on the CPUs the task reserved.
    torch.set_num_threads(threads)
    return compute_trial(config, label, seed)


def gpus_per_trial(config: ExperimentConfig) -> int:
    """1 when ``config.device`` resolves to CUDA on this machine (the driver), else 0."""
    return 1 if resolve_device(config.device).type == "cuda" else 0


def _cause(ray: ModuleType, exc: BaseException) -> BaseException:
    """The exception raised inside a failed task (so a BayesalError stays one)."""
    cause = getattr(exc, "cause", None)
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, BaseException):
        return cause
    return exc


def run_on_ray(
    config: ExperimentConfig,
    out_dir: str | os.PathLike[str],
    todo: list[tuple[str, int]],
    *,
    address: str | None = None,
    max_in_flight: int | None = None,
    cpus_per_trial: int = 1,
    init_kwargs: Mapping[str, Any] | None = None,
    on_done: Callable[[], Any] | None = None,
    registrations: Registrations | None = None,
    save: Callable[[Any], Any] | None = None,
) -> None:
    """Run the ``(label, seed)`` trials in ``todo`` as Ray tasks; write each trial's files.

    Args:
        config: the validated experiment config.
        out_dir: the results directory; trial files and snapshots are written there by
            this process (the driver) with :func:`~bayesal.experiment.trial.save_trial`
            (or ``save``).
        todo: trials to run (the caller has already skipped those on disk).
        address: a running cluster (``ray.init(address=...)``, e.g. ``"auto"`` or
            ``"ray://head:10001"``). ``None`` starts a local cluster with
            ``max_in_flight * cpus_per_trial`` CPUs (default: every core), shut down at
            the end. When Ray is already initialised in this process, that connection is
            used and left open.
        max_in_flight: at most this many trials submitted at a time (``None``: all; the
            cluster's free CPUs then decide how many run at once).
        cpus_per_trial: CPUs each task reserves; it runs torch with that many threads.
        init_kwargs: extra keyword arguments of ``ray.init`` (e.g. ``_temp_dir``).
        on_done: called once per finished trial (a progress bar's ``update``).
        registrations: run-time registrations to install in every task (default: this
            process's, see :mod:`bayesal.experiment.registrations`).
        save: writes one finished :class:`~bayesal.experiment.trial.TrialResult`
            (default: ``save_trial(out_dir, result)``).

    Each task reserves ``cpus_per_trial`` CPUs and, when the config's device is CUDA,
    one GPU (:func:`gpus_per_trial`); it then trains on ``cuda`` (the GPU Ray gave it).

    Raises:
        RayUnavailableError: ``ray`` is not installed.
        InvalidInputError: ``max_in_flight`` or ``cpus_per_trial`` below 1.
        Whatever a trial raised (a task's error is re-raised as its original exception,
        after the other tasks are cancelled).
    """
    from bayesal.experiment.trial import save_trial

    if max_in_flight is not None and max_in_flight < 1:
        raise InvalidInputError(f"max_in_flight must be >= 1 or None, got {max_in_flight}")
    if cpus_per_trial < 1:
        raise InvalidInputError(f"cpus_per_trial must be >= 1, got {cpus_per_trial}")
    ray = import_ray()
    if not todo:
        return
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, **(init_kwargs or {})}
        if address is None:
            kwargs.setdefault("num_cpus", (max_in_flight or os.cpu_count() or 1) * cpus_per_trial)
        ray.init(address=address, **kwargs)
        started = True
    try:
        gpus = gpus_per_trial(config)
        if gpus:  # Ray shows a task only its own GPU: cuda:N would not exist there
            config = config.model_copy(update={"device": "cuda"})
        task = ray.remote(num_cpus=cpus_per_trial, num_gpus=gpus, max_retries=0)(_ray_trial)
        config_ref = ray.put(config)
        if registrations is None:
            registrations = shippable_registrations(config)
        registrations_ref = ray.put(dict(registrations))
        queue = list(todo)
        limit = max_in_flight or len(queue)
        pending: list[Any] = []
        while queue or pending:
            while queue and len(pending) < limit:
                label, seed = queue.pop(0)
                pending.append(
                    task.remote(config_ref, label, seed, cpus_per_trial, registrations_ref)
                )
            done, pending = ray.wait(pending, num_returns=1)
            try:
                result = ray.get(done[0])
            except Exception as exc:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise _cause(ray, exc) from None
            if save is not None:
                save(result)
            else:
                save_trial(Path(out_dir), result)
            if on_done is not None:
                on_done()
    finally:
        if started:
            ray.shutdown()
