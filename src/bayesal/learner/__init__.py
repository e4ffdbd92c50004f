"""The ask/tell active learner: ``query`` which items to label, ``teach`` their labels.

::

    learner = ActiveLearner(pool, model=make_model, strategy="bald", seed=0)
    ids = learner.query(10)          # stable pool ids, none of them labelled yet
    learner.teach(ids, labels)       # label values, from a person or a simulation
    learner.save("state.pt")         # and later: ActiveLearner.load("state.pt", model=...)

Every ``query`` is one *round* ``r``: the posterior (a registered method: MC dropout,
an ensemble, ...) is trained on the labelled items unless it already was for the same
labels, drawn once, the pool is scored chunk by chunk, and the strategy selects. With
no label at all, ``query`` uses the cold start (random, or k-center greedy on the inputs).

Large pools (``docs/scale.md``): a pool whose log-probs ``[N, K, C]`` fit in
``max_log_probs_bytes`` (1 GiB) is scored as it always was. A larger one is streamed
(:mod:`bayesal.scoring`): pointwise strategies keep a streaming top-k (or all N scores
for stochastic selectors), EPIG is scored against its targets chunk by chunk, and joint
strategies (BatchBALD) select among the ``prefilter`` best items by BALD. With
``score_executor="ray"`` (or ``query(n, executor="ray")``) the pool is scored in shards
on a Ray cluster, with the same picks as a local run.

Seeding: every random choice reads its own stream derived from the learner ``seed`` by
``numpy.random.SeedSequence(seed, spawn_key=(stream, round, member))``, so the same
seed, pool, labels and calls give the same ids, and a learner saved and loaded proposes
what it would have proposed without stopping. The model's initialisation and training
depend on the seed, the round and the labelled set only, never on the strategy.

How the learner is organised: this module is the ask/tell story (the constructor,
``teach``, ``fit``, ``query``, ``evaluate``); each of the other concerns is a module of
its own, which the class calls:

* :mod:`bayesal.learner.validation`: the constructor's inputs, checked and resolved
  (strategy and posterior names, the model builder and its output's width, ids,
  training settings, ...);
* :mod:`bayesal.learner.task`: the task seam (:class:`~bayesal.learner.task.Task`):
  label checks, the model's output width, which strategies apply, the metrics of
  ``evaluate``; one class per task type, :class:`~bayesal.learner.task.ClassificationTask`
  now;
* :mod:`bayesal.learner.dispatch`: where and how a query scores its pool (in memory,
  streamed, on Ray);
* :mod:`bayesal.learner.embeddings`: the embeddings embedding strategies read, and the
  k-center cold start;
* :mod:`bayesal.learner.persistence`: ``save`` and ``load``, the save file's format and
  its checks;
* :mod:`bayesal.learner.seeds`: the random streams; :mod:`bayesal.learner.oracles`: the
  oracles.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from bayesal.acquisition.base import TARGET_LOG_PROBS, Strategy, strategy_inputs
from bayesal.data.pool import IdArray, as_id_array
from bayesal.data.source import PoolInputs, as_pool_inputs
from bayesal.device import DeviceLike, resolve_device
from bayesal.errors import InvalidInputError
from bayesal.learner import dispatch, persistence
from bayesal.learner import multilabel as _multilabel  # noqa: F401  (registers the task)
from bayesal.learner import regression as _regression  # noqa: F401  (registers the task)
from bayesal.learner import segmentation as _segmentation  # noqa: F401  (registers the task)
from bayesal.learner.embeddings import kcenter_greedy
from bayesal.learner.oracles import Oracle, SimulatedOracle
from bayesal.learner.seeds import _COLD, _DRAW, _MODEL_INIT, _SUBSET, _TARGET, _TRAIN, stream_seed

# Re-exported: the simulation loop and tests import these streams from here.
from bayesal.learner.seeds import _INITIAL as _INITIAL
from bayesal.learner.seeds import _PREFILTER as _PREFILTER
from bayesal.learner.seeds import _SELECT as _SELECT
from bayesal.learner.seeds import generator as _generator
from bayesal.learner.task import Task, get_task
from bayesal.learner.validation import (
    COLD_STARTS,
    EMBEDS,
    check_cold_start,
    check_embed,
    check_executor,
    model_builder,
    model_free_width,
    model_output_width,
    no_model,
    pool_and_rows,
    positive_int,
    posterior_method,
    train_config,
)
from bayesal.posterior import FitSeeds, FittedPosterior, PosteriorMethod
from bayesal.posterior.base import PosteriorDraw
from bayesal.posterior.methods import DEFAULT_NUM_SAMPLES
from bayesal.scoring.engine import DEFAULT_MAX_LOG_PROBS_BYTES, ScoringReport, check_prefilter
from bayesal.scoring.exclusions import Exclusions, condition_log_probs
from bayesal.training import TrainConfig

__all__ = [
    "COLD_STARTS",
    "EMBEDS",
    "ActiveLearner",
    "Oracle",
    "QueryTimings",
    "SimulatedOracle",
    "kcenter_greedy",
    "stream_seed",
]


@dataclass(frozen=True)
class QueryTimings:
    """Wall-clock seconds of the last query: ``fit`` training (0 when the fitted posterior
    was reused), ``score`` the subset draw, posterior draw and log-probs (and pointwise
    scores), ``select`` the strategy's selection (for a streamed pool: merging the
    scored ranges and selecting; see :attr:`ActiveLearner.last_scoring`)."""

    fit: float = 0.0
    score: float = 0.0
    select: float = 0.0


class ActiveLearner:
    """Ask/tell Bayesian active learning over any pool and model.

    Args:
        pool: the unlabelled inputs: a numpy array (any numeric dtype, memory-mapped
            too), a tensor, a map-style ``torch.utils.data.Dataset`` (items ``x`` or
            ``(x, ...)``; read through a DataLoader, never materialised), a Parquet file
            (:class:`~bayesal.data.source.ParquetInputs`), or the path of a ``.npy``
            (memory-mapped) or Parquet file.
        model: builds a fresh network returning logits ``[N, C]``: a zero-argument
            callable (a class, a function), a ``seed -> nn.Module`` callable, a
            registered model name or an import path ``package.module:factory``.
            None for a posterior that trains no network (``forest``: a scikit-learn
            tree ensemble; ``num_classes`` is then required, except for
            ``task="regression"``, where it is 2: mean and log-variance per tree).
        task: the task type (:mod:`bayesal.learner.task`): ``"classification"``
            (default; labels are class indices, the model returns logits ``[N, C]``) or
            ``"multilabel"`` (labels ``[n, L]`` in {0, 1}, the model returns ``[N, L]``
            logits: :mod:`bayesal.learner.multilabel`) or ``"regression"`` (float labels,
            the model returns ``[N, 2]`` mean and log-variance or ``[N, 1]`` mean:
            :mod:`bayesal.learner.regression`) or ``"segmentation"`` (masks ``[n, H, W]``,
            the model returns per-pixel logits ``[N, C, H, W]``:
            :mod:`bayesal.learner.segmentation`). The task fixes the strategies that
            apply, the training loss and the metrics of :meth:`evaluate`.
        strategy: a registered strategy name, an import path, or a
            :class:`~bayesal.acquisition.base.Strategy` object; ``strategy_params``
            are passed to its factory.
        posterior: a registered posterior method name (``mc_dropout``, ``ensemble``),
            an import path, or a :class:`~bayesal.posterior.PosteriorMethod`;
            ``posterior_params`` are passed to its factory. ``num_samples`` (K) is
            passed to methods that take it (MC dropout) unless set in the params.
        num_classes: C. Default: the width of the model's output.
        ids: stable ids of the pool's items (distinct non-negative ints, in pool order);
            default ``0 .. N-1``. Every id the learner returns or takes is one of these.
        labels: labels already known, in pool order, :data:`~bayesal.data.pool.MISSING`
            (-1) where unknown.
        training: a :class:`~bayesal.training.TrainConfig` or a dict of its fields.
        cold_start: how ``query`` picks with no label at all: ``"random"`` or
            ``"kcenter"`` (k-center greedy on the inputs, or on ``cold_start_embed(x)``).
        embed: the embeddings handed to strategies that read them (``badge``,
            ``coreset``, ``typiclust``; ignored by others), for the scored pool items and
            the labelled ones. ``"auto"`` (default): the trained model's penultimate
            features when it has a ``features(x)`` method
            (:class:`~bayesal.models.features.FeatureModel`; every built-in model has
            one), computed in eval mode (dropout off) by the first trained model (the
            MC-dropout network, the first ensemble member, Laplace's MAP network); else
            the flattened inputs. ``"features"``: the model's features, an error at query
            time when the model has none. ``"inputs"``: the pool's inputs flattened to
            ``[n, D]`` (right for a pool that already holds features of a frozen
            encoder). A callable ``x -> [n, D]``: run without gradients on the learner's
            device, for each chunk of inputs. Embeddings are computed only for the items
            the strategy selects among (a prefilter's candidates on a large pool).
        device: ``auto`` (CUDA, then MPS, else CPU), ``cpu``, ``cuda``, ``cuda:N``,
            ``mps``: training, scoring and evaluation run there.
        seed: every random stream derives from it (>= 0).
        pool_subset: score only a fresh random subset of this many unlabelled items per
            query (None: all of them).
        num_target_samples: for strategies that need target inputs (EPIG), the number
            drawn from the unlabelled pool per query, unless ``target_inputs`` are given.
        chunk_size: inputs per forward pass when scoring.
        num_workers: DataLoader worker processes for a torch Dataset pool.
        train_transform: applied to each training batch (augmentation); never to
            scoring or evaluation.
        prefilter: for joint strategies (BatchBALD, any strategy that is not pointwise):
            select among this many candidates, the best of the pool by BALD (a cheap
            first pass that keeps their log-probs), instead of the whole pool. ``"auto"``
            (default): 2,000 candidates when the pool's log-probs ``[N, K, C]`` exceed
            ``max_log_probs_bytes``, else the exact selection over the whole pool (as
            before). An int: that many candidates whenever the pool is larger. None:
            always exact (the whole ``[N, K, C]`` is held). Pointwise strategies (EPIG
            included) are always exact.
        max_log_probs_bytes: pools whose float32 log-probs ``[N, K, C]`` take at most
            this many bytes (1 GiB) are scored in memory as before; larger ones are
            streamed chunk by chunk, keeping only what the selection needs.
        score_executor: ``"local"`` (this process) or ``"ray"``: score the pool in shards
            as Ray tasks (the fitted posterior shipped once per fit; same picks as a
            local run). ``query(n, executor=...)`` overrides it for one query.
        ray_address: the Ray cluster for ``score_executor="ray"`` (``ray.init(address=)``:
            ``"auto"``, ``"ray://head:10001"``); None starts a local cluster with every
            core, or uses the one this process is already connected to.
        score_shards: shards per query on Ray (default: one per CPU of the cluster).

    Raises:
        InvalidInputError: any bad argument (unknown names, a device this machine does
            not have, ids of the wrong length, labels out of range, ...).
    """

    def __init__(
        self,
        pool: Any,
        *,
        model: Any = None,
        task: str = "classification",
        strategy: str | Strategy = "bald",
        posterior: str | PosteriorMethod = "mc_dropout",
        num_samples: int = DEFAULT_NUM_SAMPLES,
        num_classes: int | None = None,
        ids: ArrayLike | None = None,
        labels: ArrayLike | None = None,
        training: TrainConfig | Mapping[str, Any] | None = None,
        strategy_params: Mapping[str, Any] | None = None,
        posterior_params: Mapping[str, Any] | None = None,
        cold_start: str = "random",
        cold_start_embed: Callable[[Tensor], Tensor] | None = None,
        embed: str | Callable[[Tensor], Tensor] = "auto",
        device: DeviceLike = "auto",
        seed: int = 0,
        pool_subset: int | None = None,
        num_target_samples: int = 100,
        target_inputs: Tensor | None = None,
        chunk_size: int = 4096,
        num_workers: int = 0,
        train_transform: Callable[[Tensor], Tensor] | None = None,
        prefilter: int | str | None = "auto",
        max_log_probs_bytes: int = DEFAULT_MAX_LOG_PROBS_BYTES,
        score_executor: str = "local",
        ray_address: str | None = None,
        score_shards: int | None = None,
    ) -> None:
        # Settings, each checked by bayesal.learner.validation (in the order of the
        # errors a user meets first).
        self.inputs: PoolInputs = as_pool_inputs(pool, num_workers=num_workers)
        n = len(self.inputs)
        if n == 0:
            raise InvalidInputError("the pool is empty")
        self.seed = positive_int("seed", seed, 0)
        self.device = resolve_device(device)
        self.training = train_config(training)
        self.chunk_size = positive_int("chunk_size", chunk_size)
        self.num_target_samples = positive_int("num_target_samples", num_target_samples)
        self.pool_subset = None if pool_subset is None else positive_int("pool_subset", pool_subset)
        self.cold_start = check_cold_start(cold_start)
        self.cold_start_embed = cold_start_embed
        self.embed = check_embed(embed)
        #: Which embeddings the last query gave an embedding strategy: ``"features"``,
        #: ``"inputs"`` or ``"callable"`` (None when it read none).
        self.last_embed: str | None = None
        self.target_inputs = target_inputs
        self.train_transform = train_transform
        self.prefilter = check_prefilter(prefilter)
        self.max_log_probs_bytes = positive_int("max_log_probs_bytes", max_log_probs_bytes)
        self.score_executor = check_executor(score_executor)
        if ray_address is not None and not isinstance(ray_address, str):
            raise InvalidInputError(f"ray_address must be a string or None, got {ray_address!r}")
        self.ray_address = ray_address
        self.score_shards = (
            None if score_shards is None else positive_int("score_shards", score_shards)
        )
        self._ray_scorer: Any = None
        self._model_spec = model
        self._build_model: Callable[[int], nn.Module] | None = (
            None if model is None else model_builder(model)
        )
        #: The task type (:mod:`bayesal.learner.task`): label checks, metrics, strategies.
        self.task: Task = get_task(task)
        self._strategy_spec = (strategy, dict(strategy_params or {}))
        self.strategy: Strategy = self.task.make_strategy(strategy, strategy_params)
        self.task.check_strategy(self.strategy)
        self._posterior_spec = (posterior, dict(posterior_params or {}), num_samples)
        self.method = self.task.configure_method(
            posterior_method(posterior, posterior_params, num_samples)
        )
        if self._build_model is None and self.method.needs_model:
            raise InvalidInputError(
                f"posterior {self.method.name!r} trains a network: pass model= (a factory, a "
                "registered model name such as 'mlp', or an import path); model=None works "
                "only with a posterior that needs no model, such as 'forest'"
            )

        # Ids: the pool sorts them; _rows maps a pool position to the input row.
        self.pool, self._rows = pool_and_rows(ids, n)
        wanted = (
            None
            if num_classes is None
            else positive_int("num_classes", num_classes, self.task.min_width)
        )
        #: The width of the model's output (C classes), as the task read it.
        self.num_classes: int = (
            model_output_width(self.task, self._build_model, self.inputs, self.device, wanted)
            if self._build_model is not None
            else model_free_width(self.method, self.inputs, wanted, self.task.model_free_width)
        )
        if self._build_model is not None:
            self._build_model = self.task.wrap_model(self._build_model, self.num_classes)
        self.pool = self.task.label_store(self.pool, self.num_classes)
        self.chunk_size = self.task.chunk_size(self.chunk_size, self.method, self.num_classes)

        # The state of the story: the round, the labels' version and the fitted posterior.
        self.round = 0
        self._label_version = 0
        self._fitted: FittedPosterior | None = None
        self._fitted_version = -1
        self._fit_round = -1
        self.last_timings = QueryTimings()
        self.last_scores: dict[str, float] = {}
        #: How the last query scored its pool (None before the first scored query).
        self.last_scoring: ScoringReport | None = None
        self._last_draw: tuple[int, PosteriorDraw] | None = None
        # Negative observations: item id -> the classes it is not (teach_negative).
        self._negatives: dict[int, frozenset[int]] = {}

        if labels is not None:
            known, values = self.task.known_labels(labels, n)
            pool_ids = self.ids_in_pool_order()
            if known.any():
                self.teach(pool_ids[known], values[known])

    # ------------------------------------------------------------------ ids and labels

    def ids_in_pool_order(self) -> IdArray:
        """The item ids in the order of the pool's inputs."""
        ids = np.empty(len(self.pool), dtype=np.int64)
        ids[self._rows] = self.pool.ids
        return ids

    def _rows_of(self, ids: IdArray) -> NDArray[np.int64]:
        return self._rows[self.pool.positions(ids)]

    @property
    def labelled_ids(self) -> IdArray:
        """Sorted ids that have a label."""
        return self.pool.labelled_ids

    @property
    def unlabelled_ids(self) -> IdArray:
        """Sorted ids without a label."""
        return self.pool.unlabelled_ids

    def labels(self, ids: ArrayLike | None = None) -> IdArray:
        """Label values of ``ids`` (default: all ids, sorted), -1 where missing."""
        return self.pool.labels(ids)

    def teach(self, ids: ArrayLike, labels: ArrayLike, *, overwrite: bool = False) -> None:
        """Record ``labels`` (ints in ``[0, C)``; for another task its label form, e.g.
        ``[n, L]`` 0/1 rows for ``"multilabel"``) for ``ids`` (pool ids, any order).

        All-or-nothing: on any error nothing is recorded. Teaching an id the label it
        already has is a no-op; another label needs ``overwrite=True`` (a correction).

        Raises:
            InvalidInputError: unknown ids, duplicate ids, lengths that differ, labels
                that are not integers in ``[0, C)``, or a conflicting label without
                ``overwrite``.
        """
        ids_arr = as_id_array(np.atleast_1d(ids) if np.isscalar(ids) else ids)
        values = self.task.check_labels(ids_arr, labels, self.num_classes)
        before = self.pool.labels().copy(), self.pool.labelled_mask()
        self.pool.label(ids_arr, values, overwrite=overwrite)
        if not (
            np.array_equal(before[0], self.pool.labels(), equal_nan=True)
            and np.array_equal(before[1], self.pool.labelled_mask())
        ):
            self._label_version += 1

    def forget(self, ids: ArrayLike) -> None:
        """Remove the labels of ``ids`` (they become unlabelled again)."""
        ids_arr = as_id_array(np.atleast_1d(ids) if np.isscalar(ids) else ids)
        if self.pool.is_labelled(ids_arr).any():
            self.pool.unlabel(ids_arr)
            self._label_version += 1

    # ------------------------------------------------------------------ negative observations

    def teach_negative(self, ids: ArrayLike, classes: ArrayLike) -> None:
        """Record negative observations: item ``ids[j]`` is *not* class ``classes[j]``
        (a "no" to "is this a *two*?"). Classification only. Not a label: the item stays
        unlabelled and training is unchanged.

        What it changes: wherever the learner scores a pool item (``query``, in memory,
        streamed or on Ray) and in :meth:`predict_pool_log_probs` /
        :meth:`predict_pool_samples`, that item's class distribution under each
        posterior sample is conditioned on the label not being any of its negated
        classes: those classes get log-probability ``-inf`` and each sample is
        renormalised over the others (:func:`~bayesal.scoring.exclusions.condition_log_probs`).
        BALD, entropy, margin, ... of the item are those of the conditioned ``[K, C]``.
        Inputs that are not pool items (``predict_log_probs``, ``evaluate``) are never
        conditioned. Saved and loaded with the learner.

        All-or-nothing: on any error nothing is recorded. A pair given again is a no-op.

        Args:
            ids: pool ids (one per observation; an id may appear several times).
            classes: the class each id is not, ints in ``[0, C)``, as many as ``ids``.

        Raises:
            InvalidInputError: a task other than classification, unknown ids, lengths
                that differ, classes out of range, a class the item is labelled with, or
                observations that would negate every class of an item.
        """
        if self.task.name != "classification":
            raise InvalidInputError(
                f"negative observations are for classification; this learner's task is "
                f"{self.task.name!r}"
            )
        ids_arr = as_id_array(np.atleast_1d(ids) if np.isscalar(ids) else ids)
        raw = np.atleast_1d(np.asarray(classes))
        if raw.ndim != 1 or len(raw) != len(ids_arr):
            raise InvalidInputError(
                f"{len(ids_arr)} ids but classes of shape {list(raw.shape)}: give one class per id"
            )
        if len(raw) and (
            raw.dtype == np.bool_
            or not np.issubdtype(raw.dtype, np.integer)
            or raw.min() < 0
            or raw.max() >= self.num_classes
        ):
            raise InvalidInputError(
                f"classes must be integers in [0, {self.num_classes}), got {raw.tolist()[:5]}"
            )
        self.pool.positions(ids_arr)  # unknown ids raise here
        merged = dict(self._negatives)
        for item, c in zip(ids_arr.tolist(), raw.tolist(), strict=True):
            merged[item] = merged.get(item, frozenset()) | {int(c)}
        labelled = self.pool.is_labelled(ids_arr)
        for item in set(ids_arr.tolist()):
            if len(merged[item]) >= self.num_classes:
                raise InvalidInputError(
                    f"item {item} would be negated for all {self.num_classes} classes: "
                    "its label would be none of them"
                )
        for item, is_labelled in zip(ids_arr.tolist(), labelled.tolist(), strict=True):
            if is_labelled:
                label = int(self.pool.labels(np.asarray([item]))[0])
                if label in merged[item]:
                    raise InvalidInputError(
                        f"item {item} is labelled class {label}: it cannot also be not {label} "
                        "(forget the label first)"
                    )
        self._negatives = merged

    def forget_negatives(self, ids: ArrayLike | None = None) -> None:
        """Remove the negative observations of ``ids`` (default: all of them).

        Args:
            ids: pool ids; None: every item.

        Raises:
            InvalidInputError: unknown ids.
        """
        if ids is None:
            self._negatives = {}
            return
        ids_arr = as_id_array(np.atleast_1d(ids) if np.isscalar(ids) else ids)
        self.pool.positions(ids_arr)
        drop = set(ids_arr.tolist())
        self._negatives = {i: c for i, c in self._negatives.items() if i not in drop}

    @property
    def negatives(self) -> dict[int, tuple[int, ...]]:
        """The negative observations: item id -> the classes it is not (sorted)."""
        return {i: tuple(sorted(c)) for i, c in sorted(self._negatives.items())}

    def _excluded(self, ids: IdArray) -> tuple[NDArray[np.int64], Tensor] | None:
        """Positions in ``ids`` of the items with negative observations and their
        ``[P, C]`` excluded classes (None when none of ``ids`` has any)."""
        if not self._negatives:
            return None
        negated = np.fromiter(self._negatives, dtype=np.int64, count=len(self._negatives))
        positions = np.flatnonzero(np.isin(np.asarray(ids), negated)).astype(np.int64)
        if len(positions) == 0:
            return None
        excluded = torch.zeros((len(positions), self.num_classes), dtype=torch.bool)
        for row, p in enumerate(positions.tolist()):
            excluded[row, sorted(self._negatives[int(ids[p])])] = True
        return positions, excluded

    def _exclusions(self, ids: IdArray) -> Exclusions | None:
        """The :class:`~bayesal.scoring.exclusions.Exclusions` of the scored ``ids``."""
        found = self._excluded(ids)
        if found is None:
            return None
        return Exclusions(torch.from_numpy(found[0]), found[1])

    def predict_pool_log_probs(self, ids: ArrayLike) -> Tensor:
        """``[n, C]`` log predictive of pool items ``ids`` (as :meth:`predict_log_probs`
        of their inputs), conditioned on their negative observations: the predictive
        ``p(y | x)`` becomes ``p(y | x, y not in E)``, renormalised over the classes
        not excluded. Items without negative observations: exactly ``predict_log_probs``.

        Args:
            ids: pool ids.

        Raises:
            InvalidInputError: unknown ids, or a task other than classification.
        """
        ids_arr = as_id_array(np.atleast_1d(ids) if np.isscalar(ids) else ids)
        log_probs = self.predict_log_probs(self.inputs.take(self._rows_of(ids_arr)))
        return self.condition_pool_log_probs(ids_arr, log_probs)

    def predict_pool_samples(self, ids: ArrayLike) -> Tensor:
        """``[n, K, C]`` log-probs of pool items ``ids`` under the current round's draw
        (as :meth:`predict_samples`), each sample conditioned on the items' negative
        observations: what ``query`` scores them with.

        Args:
            ids: pool ids.

        Raises:
            InvalidInputError: unknown ids.
        """
        ids_arr = as_id_array(np.atleast_1d(ids) if np.isscalar(ids) else ids)
        samples = self.predict_samples(self.inputs.take(self._rows_of(ids_arr)))
        return self.condition_pool_log_probs(ids_arr, samples)

    def condition_pool_log_probs(self, ids: ArrayLike, log_probs: Tensor) -> Tensor:
        """``log_probs`` of pool items ``ids`` (``[n, C]`` or ``[n, K, C]``, row ``j``
        for ``ids[j]``) conditioned on their negative observations (each row, and each
        sample, renormalised over the classes not excluded); the same tensor when none
        of ``ids`` has any. For log-probs computed elsewhere (another round's draw).

        Args:
            ids: pool ids, one per row of ``log_probs``.
            log_probs: their log-probabilities.

        Raises:
            InvalidInputError: a length that differs from ``ids``.
        """
        ids_arr = as_id_array(np.atleast_1d(ids) if np.isscalar(ids) else ids)
        if len(ids_arr) != len(log_probs):
            raise InvalidInputError(f"{len(ids_arr)} ids but {len(log_probs)} rows of log-probs")
        found = self._excluded(ids_arr)
        if found is None:
            return log_probs
        positions = torch.from_numpy(found[0])
        out = log_probs.clone()
        out[positions] = condition_log_probs(log_probs[positions], found[1])
        return out

    # ------------------------------------------------------------------ training

    def _seeds(self, r: int) -> FitSeeds:
        return FitSeeds(
            init=lambda m: stream_seed(self.seed, _MODEL_INIT, r, m),
            train=lambda m: stream_seed(self.seed, _TRAIN, r, m),
        )

    def fit(self) -> FittedPosterior:
        """The posterior trained on the current labels (trained now unless it already was
        for the same labels). Models are trained with the seeds of the current round."""
        if self._fitted is not None and self._fitted_version == self._label_version:
            return self._fitted
        labelled = self.pool.labelled_ids
        if len(labelled) == 0:
            raise InvalidInputError(
                "no labels yet: teach some first (query() works without labels: cold start)"
            )
        x_L = self.inputs.take(self._rows_of(labelled))
        y_L = torch.from_numpy(self.pool.labels(labelled))
        fitted = self.method.fit(
            self._build_model or no_model,
            x_L,
            y_L,
            train_config=self.training,
            seeds=self._seeds(self.round),
            device=self.device,
            transform=self.train_transform,
            # A model-free method (forest) learns C here: a class may have no label yet.
            **({} if self.method.needs_model else {"num_classes": self.num_classes}),
            # A semi-supervised method reads the whole pool, not only x_L.
            **(
                {"pool": self.inputs, "labelled_rows": self._rows_of(labelled)}
                if self.method.reads_pool
                else {}
            ),
        )
        if self.training.autocast_dtype is not None:
            fitted = self.method.in_precision(fitted, self.training.autocast_dtype)
        self._fitted = fitted
        self._fitted_version = self._label_version
        self._fit_round = self.round
        return self._fitted

    @property
    def fitted(self) -> FittedPosterior | None:
        """The last fitted posterior (None before the first fit)."""
        return self._fitted

    # ------------------------------------------------------------------ querying

    def draw_for_round(self, r: int | None = None) -> PosteriorDraw:
        """The posterior draw of round ``r`` (default: the current one), from its seeded
        stream; the same K samples ``query`` used (or will use) in that round."""
        r = self.round if r is None else r
        if self._last_draw is not None and self._last_draw[0] == r:
            return self._last_draw[1]
        return self.fit().draw(_generator(stream_seed(self.seed, _DRAW, r)))

    def query(self, batch_size: int, *, executor: str | None = None) -> IdArray:
        """The ids of the ``batch_size`` unlabelled items to label next, in pick order.

        Works with no label at all (the cold start). Each call is one round: the seeds
        of round ``learner.round`` are used, then the round counter advances.

        Args:
            batch_size: how many ids.
            executor: where to score the pool for this query, ``"local"`` or ``"ray"``
                (default: the learner's ``score_executor``). Both give the same ids.

        Raises:
            InvalidInputError: ``batch_size`` < 1 or larger than the unlabelled pool (or
                than ``pool_subset``), a strategy that returns a bad selection, or an
                unknown executor.
            RayScoringUnavailableError: ``executor="ray"`` without ray installed.
        """
        batch_size = positive_int("batch_size", batch_size)
        executor = self.score_executor if executor is None else check_executor(executor)
        unlabelled = self.pool.unlabelled_ids
        if batch_size > len(unlabelled):
            raise InvalidInputError(
                f"batch_size {batch_size} is larger than the {len(unlabelled)} unlabelled items"
            )
        if self.pool_subset is not None and batch_size > self.pool_subset:
            raise InvalidInputError(
                f"batch_size {batch_size} is larger than pool_subset {self.pool_subset}"
            )
        r = self.round
        if self.pool.num_labelled == 0:
            ids = self._cold_start(unlabelled, batch_size, r)
        else:
            ids = self._query_with_model(unlabelled, batch_size, r, executor)
        self.round += 1
        return ids

    def _cold_start(self, unlabelled: IdArray, batch_size: int, r: int) -> IdArray:
        t0 = time.perf_counter()
        generator = _generator(stream_seed(self.seed, _COLD, r))
        if self.cold_start == "random":
            picks = torch.randperm(len(unlabelled), generator=generator)[:batch_size].numpy()
        else:
            picks = kcenter_greedy(
                self.inputs,
                self._rows_of(unlabelled),
                batch_size,
                generator,
                embed=self.cold_start_embed,
                chunk_size=self.chunk_size,
                device=self.device,
            )
        self.last_timings = QueryTimings(select=time.perf_counter() - t0)
        self.last_scores = {}
        return unlabelled[np.asarray(picks, dtype=np.int64)]

    def _query_with_model(
        self, unlabelled: IdArray, batch_size: int, r: int, executor: str = "local"
    ) -> IdArray:
        """Fit (unless fitted for these labels), draw, score the pool and select
        (:func:`bayesal.learner.dispatch.score_and_select`)."""
        t_fit = time.perf_counter()
        before = self._fitted
        fitted = self.fit()
        t0 = time.perf_counter()
        if self.pool_subset is None:
            scored_ids = unlabelled
        else:
            rng = np.random.default_rng(stream_seed(self.seed, _SUBSET, r))
            scored_ids = self.pool.subset_unlabelled(self.pool_subset, rng)
        draw_seed = stream_seed(self.seed, _DRAW, r)
        draw = fitted.draw(_generator(draw_seed))
        self._last_draw = (r, draw)
        targets = None
        if TARGET_LOG_PROBS in strategy_inputs(self.strategy):
            if self.target_inputs is None:
                target_rng = np.random.default_rng(stream_seed(self.seed, _TARGET, r))
                target_ids = self.pool.subset_unlabelled(self.num_target_samples, target_rng)
                targets = self.inputs.take(self._rows_of(target_ids))
            else:
                targets = self.target_inputs
        selection, t1 = dispatch.score_and_select(
            self,
            draw,
            scored_ids,
            batch_size,
            _generator(stream_seed(self.seed, _SELECT, r)),
            targets,
            executor=executor,
            fitted=fitted,
            draw_seed=draw_seed,
            r=r,
            exclusions=self._exclusions(scored_ids),
        )
        t2 = time.perf_counter()
        positions = selection.indices_B.cpu().numpy().astype(np.int64)
        if len(positions) != batch_size or len(np.unique(positions)) != batch_size:
            raise InvalidInputError(
                f"strategy {self.strategy.name!r} returned {len(positions)} positions "
                f"({len(np.unique(positions))} distinct), expected {batch_size} distinct"
            )
        if positions.min() < 0 or positions.max() >= len(scored_ids):
            raise InvalidInputError(f"strategy {self.strategy.name!r} returned bad positions")
        fit_s = t0 - t_fit if fitted is not before else 0.0
        self.last_timings = QueryTimings(fit=fit_s, score=t1 - t0, select=t2 - t1)
        return scored_ids[positions]

    def close(self) -> None:
        """Release what scoring on Ray holds: the shipped posterior and pool reference,
        and the local Ray cluster if this learner started it. The learner stays usable
        (a later Ray query connects again)."""
        if self._ray_scorer is not None:
            self._ray_scorer.close()
            self._ray_scorer = None

    # ------------------------------------------------------------------ evaluation

    def predict_log_probs(self, inputs: Any) -> Tensor:
        """``[N, C]`` log predictive of the fitted posterior for ``inputs`` (array, tensor
        or torch Dataset), on the CPU. Trains the posterior first if the labels changed.

        Classification only: for another task (an output head), :meth:`predict_samples`
        gives the per-sample output its metrics read."""
        if self.method.head is not None:
            raise InvalidInputError(
                f"predict_log_probs is the classification predictive [N, C]; for task "
                f"{self.task.name!r} use predict_samples(inputs) (the [N, K, ...] samples)"
            )
        fitted = self.fit()  # outside no_grad: it may train
        source = as_pool_inputs(inputs)
        rows = np.arange(len(source), dtype=np.int64)
        with torch.no_grad():
            return torch.cat(
                [fitted.predict_log_probs(x).cpu() for x in source.batches(rows, self.chunk_size)]
            )

    def predict_samples(self, inputs: Any) -> Tensor:
        """The posterior's output per parameter sample for ``inputs`` (array, tensor or
        torch Dataset), on the CPU: ``[N, K, C]`` log-probabilities for classification,
        the task's ``[N, K, ...]`` otherwise (multi-label ``[N, K, L]`` Bernoulli
        log-probabilities, regression ``[N, K, 2]`` mean and log-variance). The K samples
        are the draw of the current round (:meth:`draw_for_round`), the one the next
        query scores with. Trains the posterior first if the labels changed."""
        draw = self.draw_for_round()  # outside no_grad: it may train
        source = as_pool_inputs(inputs)
        rows = np.arange(len(source), dtype=np.int64)
        with torch.no_grad():
            chunks = [draw.log_probs(x).cpu() for x in source.batches(rows, self.chunk_size)]
        if not chunks:
            return torch.zeros((0, draw.num_samples, self.num_classes))
        return torch.cat(chunks)

    def evaluate(self, inputs: Any, labels: ArrayLike | Tensor) -> dict[str, float]:
        """Accuracy and mean negative log-likelihood of the posterior's predictive on a
        labelled test set: ``{"accuracy": ..., "nll": ...}`` (NaN for an empty one).
        (The metrics are the task's: :meth:`bayesal.learner.task.Task.metrics`.)

        It may train first: it evaluates the posterior of the *current* labels
        (:meth:`fit`), so after labels changed (a :meth:`teach` since the last fit) it
        retrains the posterior, with the current round's seeds, before predicting; with
        unchanged labels it reuses the fitted posterior and trains nothing. The retrained
        posterior is the one the next :meth:`query` uses (no second training). To
        evaluate the posterior a query was scored with, call it before teaching that
        query's labels.
        """
        y = self.task.test_labels(labels, self.num_classes)
        if len(y) == 0:
            return self.task.empty_metrics()
        predictive = self.task.predict(self, inputs)
        if len(predictive) != len(y):
            raise InvalidInputError(f"{len(predictive)} inputs but {len(y)} labels")
        return self.task.metrics(predictive, y)

    def metrics(self) -> dict[str, Any]:
        """What the learner can report without a test set: label counts (in all and per
        class), the round, and the last query's mean and max score (pointwise strategies;
        for BALD, the pool's mean mutual information)."""
        labels = self.pool.labels(self.pool.labelled_ids)
        return {
            "round": self.round,
            "n_labelled": self.pool.num_labelled,
            "n_unlabelled": self.pool.num_unlabelled,
            **self.task.label_counts(labels, self.num_classes),
            "last_query_mean_score": self.last_scores.get("mean", math.nan),
            "last_query_max_score": self.last_scores.get("max", math.nan),
        }

    # ------------------------------------------------------------------ persistence

    def _pool_fingerprint(self) -> str:
        return persistence.pool_fingerprint(self)

    def save(self, path: str | Path, *, include_pool: bool | None = None) -> Path:
        """Write the learner's state to ``path`` atomically: settings, ids and labels,
        round, the fitted posterior (its models' weights and any extra state), fixed
        target inputs, and (by default for in-memory pools under 1 GiB) the pool inputs,
        so that :meth:`load` resumes exactly. Callables (``train_transform``,
        ``cold_start_embed``, a callable ``embed``) cannot be saved: ``load`` asks for them
        again. The format: :mod:`bayesal.learner.persistence`.

        The file is a pickle (``torch.save``): load only files you trust.
        """
        return persistence.save(self, path, include_pool=include_pool)

    @classmethod
    def load(
        cls,
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
        """A learner restored from :meth:`save`: same settings, labels, round and fitted
        posterior, so its next ``query`` returns what the saved learner's would have.

        Args:
            model: the model factory (needed unless the learner was built from a model
                name or import path); it must build the saved architecture.
            pool: the pool inputs; needed when they were not saved (torch Dataset pools,
                memory-mapped or very large arrays). Must be the saved pool: its length
                and a fingerprint of a few inputs are checked.
            device: run on another device (default: the saved one; ``auto``, with a
                warning, if that device does not exist here).
            train_transform: required again when the saved learner had one (callables
                are not saved).
            cold_start_embed: likewise.
            embed: likewise (a named ``embed`` is saved).
            num_workers: DataLoader workers for a torch Dataset pool.

        Raises:
            InvalidInputError: not a saved learner, a missing or different pool, a model
                that does not fit the saved weights, or a missing callable.
        """
        return persistence.load(
            cls,
            path,
            model=model,
            pool=pool,
            device=device,
            train_transform=train_transform,
            cold_start_embed=cold_start_embed,
            embed=embed,
            num_workers=num_workers,
        )

    def __repr__(self) -> str:
        return (
            f"ActiveLearner(items={len(self.pool)}, labelled={self.pool.num_labelled}, "
            f"strategy={self.strategy.name!r}, posterior={self.method.name!r}, "
            f"round={self.round}, device={str(self.device)!r})"
        )
