"""Score a pool split into shards across a Ray cluster, and select as a local run would.

Each shard is one Ray task over a range of whole chunks of the scored pool
(:func:`~.stream.shard_ranges`). What travels:

* the fitted posterior (the trained models) with ``ray.put``, **once** per fit: later
  queries on the same fitted posterior reuse the object reference;
* the draw's *seed*: every task makes the draw ``fitted.draw(Generator().manual_seed(s))``
  itself, the same K parameter samples as the driver's (a draw is a deterministic
  function of its generator; MC-dropout masks come from per-layer streams seeded by it);
* a reference to the pool (:func:`~bayesal.data.source.portable_inputs`: a memory-mapped
  ``.npy`` or a Parquet file is opened again in the worker, so every node needs the file
  at the same path; an in-memory array travels once through the object store; a torch
  Dataset is pickled), and each shard's rows;
* the strategy and, for EPIG, the target log-probs (computed once on the driver).

Tasks return only what the plan keeps (top-k candidates, scores, a prefilter's candidate
set); the driver merges them and selects (:func:`~.engine.finish_selection`). Since the
shards compute log-probs in the chunks a local run uses and the draw is the same, the
picks are those of a local run with the same seed.

Ray is an optional dependency (``pip install 'bayesal[ray]'``), imported only here.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from bayesal.acquisition.base import Strategy
from bayesal.data.source import PoolInputs, portable_inputs
from bayesal.errors import BayesalError, InvalidInputError
from bayesal.posterior.methods import FittedPosterior
from bayesal.scoring.exclusions import Exclusions
from bayesal.scoring.stream import RangeResult, ScorePlan, ShardRange, score_range, shard_ranges

__all__ = ["RAY_INSTALL", "RayScoringUnavailableError", "RayScorer", "import_ray"]

#: How to install the optional dependency; quoted in the error when Ray is missing.
RAY_INSTALL = "pip install 'bayesal[ray]'"


class RayScoringUnavailableError(BayesalError, ImportError):
    """Scoring on Ray was asked for, but the ``ray`` package cannot be imported."""


def import_ray() -> ModuleType:
    """The ``ray`` module, or :class:`RayScoringUnavailableError` saying how to get it."""
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise RayScoringUnavailableError(
            f"scoring on Ray needs the optional dependency ray ({exc}); install it with "
            f"{RAY_INSTALL}, or score locally (executor='local')"
        ) from None


def _score_shard(
    fitted: FittedPosterior,
    draw_seed: int,
    inputs: PoolInputs,
    rows: NDArray[np.int64],
    plan: ScorePlan,
    shard: ShardRange,
    strategy: Strategy | None,
    targets: Tensor | None,
    threads: int,
    exclusions: Exclusions | None = None,
) -> RangeResult:
    """The body of one Ray task: the draw, then :func:`~.stream.score_range`."""
    torch.set_num_threads(threads)
    draw = fitted.draw(torch.Generator().manual_seed(draw_seed))
    # Sharded scores draw no random numbers (checked by the caller): any generator does.
    return score_range(
        draw,
        inputs,
        rows,
        plan,
        shard,
        strategy,
        generator=torch.Generator().manual_seed(0),
        log_probs_target_M_K_C=targets,
        exclusions=exclusions,
    )


def _cause(ray: ModuleType, exc: BaseException) -> BaseException:
    cause = getattr(exc, "cause", None)
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, BaseException):
        return cause
    return exc


class RayScorer:
    """Scores pools as Ray tasks; keeps the connection and the shipped posterior between
    queries.

    Args:
        address: a running cluster (``ray.init(address=...)``: ``"auto"``,
            ``"ray://head:10001"``); None starts a local cluster with every core of this
            machine (kept until :meth:`close` or the end of the process). When Ray is
            already initialised in this process, that connection is used (and left open).
        num_shards: shards per query (default: the cluster's CPUs, one task per CPU).
        cpus_per_shard: CPUs each task reserves; torch runs with that many threads.
        init_kwargs: extra keyword arguments of ``ray.init`` (e.g. ``_temp_dir``).

    Raises:
        RayScoringUnavailableError: ``ray`` is not installed (when first used).
        InvalidInputError: ``num_shards`` or ``cpus_per_shard`` below 1.
    """

    def __init__(
        self,
        *,
        address: str | None = None,
        num_shards: int | None = None,
        cpus_per_shard: int = 1,
        init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        for name, value in (("num_shards", num_shards), ("cpus_per_shard", cpus_per_shard)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise InvalidInputError(f"{name} must be an integer >= 1, got {value!r}")
        self.address = address
        self.num_shards = num_shards
        self.cpus_per_shard = cpus_per_shard
        self.init_kwargs = dict(init_kwargs or {})
        self._started = False
        self._job: object = None  # the Ray job the cached references belong to
        self._fitted: tuple[FittedPosterior, Any] | None = None
        self._inputs: tuple[PoolInputs, Any] | None = None
        self._task: Any = None

    def _ray(self) -> ModuleType:
        ray = import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, **self.init_kwargs}
            if self.address is None:
                kwargs.setdefault("num_cpus", os.cpu_count() or 1)
            ray.init(address=self.address, **kwargs)
            self._started = True
        job = ray.get_runtime_context().get_job_id()
        if job != self._job:  # a new connection: earlier object references are gone
            self._job, self._fitted, self._inputs = job, None, None
        if self._task is None:
            self._task = ray.remote(num_cpus=self.cpus_per_shard, max_retries=0)(_score_shard)
        return ray

    def shards_for(self, ray: ModuleType) -> int:
        """Shards per query: ``num_shards``, else the cluster's CPUs / ``cpus_per_shard``."""
        if self.num_shards is not None:
            return self.num_shards
        cpus = int(ray.cluster_resources().get("CPU", 1))
        return max(1, cpus // self.cpus_per_shard)

    def score(
        self,
        fitted: FittedPosterior,
        draw_seed: int,
        inputs: PoolInputs,
        rows: NDArray[np.int64],
        plan: ScorePlan,
        strategy: Strategy,
        *,
        log_probs_target_M_K_C: Tensor | None = None,
        exclusions: Exclusions | None = None,
    ) -> tuple[list[RangeResult], dict[str, float], int]:
        """Score the pool ``rows`` (positions ``0..N-1``) in shards on the cluster,
        conditioned on ``exclusions`` (negative observations, :mod:`~.exclusions`).

        Returns the shards' results, the seconds spent shipping (``ray.put``) and
        scoring (submit to last result), and the number of shards.

        Raises:
            InvalidInputError: models that are not on the CPU (workers score on CPUs).
            Exception: whatever a task raised (re-raised as its original exception).
        """
        for model in fitted.models:
            for tensor in list(model.parameters()) + list(model.buffers()):
                if tensor.device.type != "cpu":
                    raise InvalidInputError(
                        "scoring on Ray runs on the workers' CPUs: train on device='cpu' "
                        f"(the model has a tensor on {tensor.device})"
                    )
        ray = self._ray()
        t0 = time.perf_counter()
        if self._fitted is None or self._fitted[0] is not fitted:
            self._fitted = (fitted, ray.put(fitted))
        if self._inputs is None or self._inputs[0] is not inputs:
            self._inputs = (inputs, ray.put(portable_inputs(inputs)))
        strategy_ref = ray.put(strategy if plan.mode in ("top_k", "scores") else None)
        targets_ref = ray.put(log_probs_target_M_K_C)
        exclusions_ref = ray.put(exclusions)
        t1 = time.perf_counter()
        ranges = shard_ranges(plan, self.shards_for(ray))
        pending = [
            self._task.remote(
                self._fitted[1],
                draw_seed,
                self._inputs[1],
                np.ascontiguousarray(rows[r.compute_start : r.compute_stop]),
                plan,
                r,
                strategy_ref,
                targets_ref,
                self.cpus_per_shard,
                exclusions_ref,
            )
            for r in ranges
        ]
        try:
            results = ray.get(pending)
        except Exception as exc:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise _cause(ray, exc) from None
        t2 = time.perf_counter()
        return list(results), {"ship": t1 - t0, "score": t2 - t1}, len(ranges)

    def close(self) -> None:
        """Forget the shipped objects; shut Ray down if this scorer started it."""
        self._fitted = self._inputs = None
        self._task = self._job = None
        if self._started:
            import_ray().shutdown()
            self._started = False
