"""Run every strategy x seed of an experiment config, resumably, on local processes.

Each trial (one strategy arm, one seed) is an independent active-learning run. A trial
that finishes is written atomically to ``out_dir/trials/<label>__seed<seed>.csv``; on
start, trials whose file already exists are skipped, so a grid killed at any moment
(even ``kill -9``) resumes where it stopped and loses only the trials in flight. At the
end ``results.csv`` is assembled from the trial files (see :mod:`.results`).
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import yaml
from torch import nn
from tqdm.auto import tqdm

from bayesal.acquisition import entropy, get_strategy, mean_log_probs
from bayesal.data.dataset import Dataset
from bayesal.data.registry import load_dataset
from bayesal.errors import ConfigError, DataNotFoundError, InvalidInputError
from bayesal.experiment.config import ExperimentConfig
from bayesal.experiment.results import (
    RESOLVED_CONFIG_FILE,
    assemble_results,
    atomic_save_npz,
    atomic_write_text,
    remove_stale_temp_files,
    snapshot_path,
    trial_path,
    write_trial,
)
from bayesal.loop import RoundContext, RoundRecord, run_active_learning
from bayesal.posterior.base import log_probs_in_chunks

#: Fields of the config that a trial's results depend on besides its arm and seed; a
#: resumed run must agree on them with the trials already on disk.
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


#: Seed of the test subset draw (``test_subset``): fixed, so every trial of every config
#: with the same dataset and subset size is evaluated on the same examples.
TEST_SUBSET_SEED = 0


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
    return _cached_dataset(spec, config.test_subset)


class _ModelBuilder:
    """``seed -> fresh model`` for the loop; a class (not a closure) so it pickles."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        self.name, self.params = name, params

    def __call__(self, seed: int) -> nn.Module:
        from bayesal.models import build_model

        return build_model(self.name, seed=seed, **self.params)


def _grid_axes(train_x_N_2: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    low, high = train_x_N_2.min(axis=0), train_x_N_2.max(axis=0)
    margin = 0.15 * (high - low)
    return tuple(  # type: ignore[return-value]
        np.linspace(low[d] - margin[d], high[d] + margin[d], resolution, dtype=np.float32)
        for d in range(2)
    )


class SnapshotRecorder:
    """An ``on_round`` callback that records the posterior on a 2-D grid.

    For each listed round: ``mean_prob`` (p(class 1) averaged over the K samples of the
    round's posterior draw), ``predictive_entropy`` H[mean_k p_k] and
    ``expected_entropy`` mean_k H[p_k] (their difference is BALD), all ``[G, G]`` indexed
    ``[iy, ix]`` at ``(grid_x[ix], grid_y[iy])``; ``labelled_mask`` (labelled before the
    round's acquisition) and ``acquired_mask`` (acquired in the round) over the N
    training ids.
    """

    def __init__(self, dataset: Dataset, rounds: list[int], resolution: int) -> None:
        self.train_x = dataset.train_x.numpy().astype(np.float32)
        self.train_y = dataset.train_y.numpy().astype(np.int64)
        self.grid_x, self.grid_y = _grid_axes(self.train_x, resolution)
        yy, xx = np.meshgrid(self.grid_y, self.grid_x, indexing="ij")
        self.points_P_2 = torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], axis=1))
        self.wanted = set(rounds)
        self.taken: dict[str, list[np.ndarray]] = {}
        self.rounds: list[int] = []

    def __call__(self, ctx: RoundContext) -> None:
        if ctx.record.round not in self.wanted:
            return
        g = len(self.grid_x)
        with torch.no_grad():
            log_probs_P_K_C = log_probs_in_chunks(ctx.draw, self.points_P_2, 4096).double()
        p, k, c = log_probs_P_K_C.shape
        fields = {
            "mean_prob": mean_log_probs(log_probs_P_K_C)[:, 1].exp(),
            "predictive_entropy": entropy(log_probs_P_K_C),
            # entropy of each sample's own predictive (a "posterior" of one sample), averaged
            "expected_entropy": entropy(log_probs_P_K_C.reshape(p * k, 1, c)).reshape(p, k).mean(1),
        }
        labelled = np.zeros(len(self.train_y), dtype=bool)
        labelled[ctx.labelled_ids] = True
        acquired = np.zeros(len(self.train_y), dtype=bool)
        acquired[list(ctx.record.acquired_ids)] = True
        for name, values_P in fields.items():
            self.taken.setdefault(name, []).append(values_P.reshape(g, g).float().numpy())
        self.taken.setdefault("labelled_mask", []).append(labelled)
        self.taken.setdefault("acquired_mask", []).append(acquired)
        self.rounds.append(ctx.record.round)

    def arrays(self) -> dict[str, np.ndarray]:
        """The snapshot arrays in the documented ``.npz`` format."""
        return {
            "grid_x": self.grid_x,
            "grid_y": self.grid_y,
            "rounds": np.asarray(self.rounds, dtype=np.int64),
            **{name: np.stack(values) for name, values in self.taken.items()},
            "train_x": self.train_x,
            "train_y": self.train_y,
        }


def _snapshot_wanted(config: ExperimentConfig, seed: int) -> bool:
    return config.snapshots is not None and seed in config.snapshots.seeds


def _trial_done(config: ExperimentConfig, out_dir: Path, label: str, seed: int) -> bool:
    if not trial_path(out_dir, label, seed).is_file():
        return False
    if _snapshot_wanted(config, seed) and load_trial_dataset(config).input_shape == (2,):
        return snapshot_path(out_dir, label, seed).is_file()
    return True


@dataclass(frozen=True)
class TrialResult:
    """One finished trial, in memory: its round records and, for snapshot seeds of 2-D
    datasets, the snapshot arrays (else None). Picklable, so it can come back from a
    worker process or a Ray task."""

    label: str
    seed: int
    records: list[RoundRecord]
    snapshot: dict[str, np.ndarray] | None = None


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

    ``on_round`` is called after every round (after the snapshot recorder, if any).
    """
    spec = config.strategy(label)
    post = config.posterior_for(spec)
    dataset = load_trial_dataset(config)
    recorder: SnapshotRecorder | None = None
    if _snapshot_wanted(config, seed) and config.snapshots is not None:
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
        get_strategy(spec.name, **spec.params),
        build_model=_ModelBuilder(config.model.name, dict(config.model.params)),
        train_config=config.training,
        initial_labels=config.initial_labels,
        acquisition_size=config.acquisition_size,
        rounds=config.rounds,
        seed=seed,
        posterior=post.name,
        num_samples=post.k,
        ensemble_size=post.k,
        pool_subset=config.pool_subset,
        num_target_samples=config.num_target_samples,
        chunk_size=config.chunk_size,
        on_round=_chain(recorder, on_round),
        progress=progress,
    )
    return TrialResult(label, seed, records, recorder.arrays() if recorder is not None else None)


def save_trial(out_dir: str | os.PathLike[str], result: TrialResult) -> Path:
    """Write a finished trial's snapshot (if any), then its trial file, each atomically.

    In that order, so that an existing trial file implies its snapshot. Returns the
    trial file's path.
    """
    if result.snapshot is not None:
        atomic_save_npz(snapshot_path(out_dir, result.label, result.seed), result.snapshot)
    return write_trial(out_dir, result.label, result.seed, result.records)


def run_trial(
    config: ExperimentConfig,
    out_dir: str | os.PathLike[str],
    label: str,
    seed: int,
    *,
    progress: bool = False,
) -> Path:
    """Run one trial and write its file (and snapshot) atomically; returns the trial path."""
    return save_trial(out_dir, compute_trial(config, label, seed, progress=progress))


def _check_resumable(config: ExperimentConfig, out_dir: Path) -> None:
    """Refuse to mix trials of a different config into ``out_dir``."""
    resolved = out_dir / RESOLVED_CONFIG_FILE
    if not resolved.is_file():
        return
    try:
        old = yaml.safe_load(resolved.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return  # unreadable: it is rewritten below; trial files carry no config of their own
    new = config.model_dump(mode="json")
    differ = [f for f in _SHARED_FIELDS if old.get(f) != new.get(f)]
    old_arms = {arm.get("label"): arm for arm in old.get("strategies") or []}
    differ += [
        f"strategies[{arm['label']}]"
        for arm in new["strategies"]
        if arm["label"] in old_arms and old_arms[arm["label"]] != arm
    ]
    if differ:
        raise ConfigError(
            f"{out_dir} holds results of a different config (differs in: {', '.join(differ)}); "
            "use another --out directory, or delete it to start over"
        )


_PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)


def _kill_me_with_parent() -> bool:
    """Linux: have the kernel SIGKILL this process the moment its parent dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _exit_with_parent(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:  # the runner was killed: stop, do not run orphaned
            os._exit(1)


def _init_worker(threads: int, parent_pid: int) -> None:
    torch.set_num_threads(threads)
    # A killed runner's workers must not go on with queued trials (they would write trial
    # files after the kill, racing a resumed run). On Linux the kernel kills them at once;
    # elsewhere, and as a fallback, a watchdog thread notices within a second.
    _kill_me_with_parent()
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


#: Executors of :func:`run_experiment`.
EXECUTORS: tuple[str, ...] = ("local", "ray")


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

    Both executors write the same files: a trial's file appears, atomically, only when
    the trial is complete, and trials whose file exists are skipped.

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
    out.mkdir(parents=True, exist_ok=True)
    _check_resumable(config, out)
    if collect_only:
        # Touch nothing a run in progress here owns: its temp files, its resolved config.
        done = [t for t in config.trials() if _trial_done(config, out, *t)]
        if not done:
            raise DataNotFoundError(f"{out} holds no finished trial of this config to collect")
        if not (out / RESOLVED_CONFIG_FILE).is_file():
            atomic_write_text(out / RESOLVED_CONFIG_FILE, config.to_yaml())
        return assemble_results(out, done)
    atomic_write_text(out / RESOLVED_CONFIG_FILE, config.to_yaml())
    remove_stale_temp_files(out)

    trials = config.trials()
    todo = [(label, seed) for label, seed in trials if not _trial_done(config, out, label, seed)]
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
            )
        elif workers == 1 or len(todo) <= 1:
            # workers == 1: torch's own default, as the in-process run always had.
            threads = None if workers == 1 else _threads_per_trial(int(workers))  # type: ignore[arg-type]
            with _torch_threads(threads):
                for label, seed in todo:
                    bar.set_postfix_str(f"{label} seed {seed}")
                    run_trial(config, out, label, seed, progress=progress)
                    bar.update()
        else:
            _run_parallel(config, out, todo, int(workers), bar.update)  # type: ignore[arg-type]
    return assemble_results(out, trials)


def _threads_per_trial(workers: int) -> int:
    """Torch threads of one local trial: the cores this process may use, shared by ``workers``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // workers)


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run the body with ``threads`` torch threads (``None``: leave them as they are)."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_parallel(
    config: ExperimentConfig,
    out: Path,
    todo: list[tuple[str, int]],
    workers: int,
    on_done: Callable[[], Any],
) -> None:
    threads = _threads_per_trial(workers)  # from the requested workers, not len(todo)
    workers = min(workers, len(todo))
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads, os.getpid()),
    ) as pool:
        pending = {pool.submit(run_trial, config, out, label, seed) for label, seed in todo}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                if future.exception() is not None:
                    for other in pending:
                        other.cancel()
                    raise future.exception()  # type: ignore[misc]
                on_done()
