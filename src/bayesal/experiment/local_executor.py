"""Run trials in local worker processes (``bayesal run --executor local``).

Workers are spawned processes, each running torch with ``cores // workers`` threads.
Each worker computes trials (:func:`~bayesal.experiment.trial.compute_trial`) and sends
the results back; the driver writes the files, as with Ray. A worker is started with the
driver's run-time registrations and the config's plugins
(:mod:`bayesal.experiment.registrations`), and dies with the driver: on Linux the kernel
kills it the moment the driver dies (``PR_SET_PDEATHSIG``), elsewhere a watchdog thread
within a second, so a killed run leaves no orphan computing queued trials.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Any

import torch

from bayesal.experiment.config import ExperimentConfig
from bayesal.experiment.registrations import Registrations, prepare_worker
from bayesal.experiment.trial import TrialResult, compute_trial

_PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)


def _kill_me_with_parent() -> bool:
    """Linux: have the kernel SIGKILL this process the moment its parent dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _exit_with_parent(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:  # the runner was killed: stop, do not run orphaned
            os._exit(1)


def _init_worker(
    threads: int,
    parent_pid: int,
    plugins: Iterable[str] = (),
    registrations: Registrations | None = None,
) -> None:
    torch.set_num_threads(threads)
    # A killed runner's workers must not go on with queued trials. On Linux the kernel
    # kills them at once; elsewhere, and as a fallback, a watchdog thread notices within
    # a second.
    _kill_me_with_parent()
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    # What the driver registered at run time (and its plugins) must exist here too.
    prepare_worker(plugins, registrations or {})


def threads_per_trial(workers: int) -> int:
    """Torch threads of one local trial: the cores this process may use, shared by ``workers``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // workers)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the body with ``threads`` torch threads (``None``: leave them as they are)."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_parallel(
    config: ExperimentConfig,
    todo: list[tuple[str, int]],
    workers: int,
    *,
    registrations: Registrations,
    save: Callable[[TrialResult], Any],
) -> None:
    """Compute the trials in ``todo`` in ``workers`` spawned processes; ``save`` each result
    in this process as it arrives.

    When a trial fails, trials not yet started are cancelled, the running ones are
    awaited (and saved when they succeed: finished work is kept), and the first error is
    raised.
    """
    threads = threads_per_trial(workers)  # from the requested workers, not len(todo)
    workers = min(workers, len(todo))
    error: BaseException | None = None
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads, os.getpid(), list(config.plugins), dict(registrations)),
    ) as pool:
        pending: set[Future[TrialResult]] = {
            pool.submit(compute_trial, config, label, seed) for label, seed in todo
        }
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                if future.cancelled():
                    continue
                failure = future.exception()
                if failure is not None:
                    if error is None:
                        error = failure
                        for other in pending:
                            other.cancel()
                    continue
                save(future.result())
    if error is not None:
        raise error
