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
"""

from __future__ import annotations

import hashlib
import inspect
import io
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from bayesal import __version__
from bayesal._atomic import atomic_write
from bayesal.acquisition import get_strategy
from bayesal.acquisition.base import (
    EMBEDDINGS,
    LABELLED_EMBEDDINGS,
    POOL_LOG_PROBS,
    TARGET_LOG_PROBS,
    Selection,
    Strategy,
    is_pointwise,
    strategy_inputs,
)
from bayesal.data.pool import MISSING, IdArray, Pool, as_id_array
from bayesal.data.source import ArrayInputs, PoolInputs, as_pool_inputs
from bayesal.device import DeviceLike, model_dtype, resolve_device, to_model_input
from bayesal.errors import InvalidInputError
from bayesal.posterior import FitSeeds, FittedPosterior, PosteriorMethod, get_posterior
from bayesal.posterior.base import PosteriorDraw, evaluation_mode
from bayesal.posterior.methods import DEFAULT_NUM_SAMPLES
from bayesal.registry import accepted_parameters
from bayesal.scoring.checks import check_score_chunk, check_scores_rank, check_selection
from bayesal.scoring.engine import (
    DEFAULT_MAX_LOG_PROBS_BYTES,
    EXECUTORS,
    ScoringReport,
    check_prefilter,
    finish_selection,
    log_probs_bytes,
    plan_scoring,
    range_seconds,
    resolve_prefilter,
    score_is_deterministic,
    score_locally,
)
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

# Independent random streams (the first element of the SeedSequence spawn key). The
# first seven are those of the original simulation loop, so its results do not change.
_INITIAL, _MODEL_INIT, _TRAIN, _SUBSET, _DRAW, _SELECT, _TARGET, _COLD = range(8)
# The tie-breaking keys of a joint strategy's prefilter (bayesal.scoring).
_PREFILTER = 8

#: Cold-start methods for a query with no label yet.
COLD_STARTS: tuple[str, ...] = ("random", "kcenter")
#: The named ways to embed inputs for embedding strategies (``embed=``; or a callable).
EMBEDS: tuple[str, ...] = ("auto", "features", "inputs")

_STATE_FORMAT = 1
# In-memory pools up to this size are saved with the learner, so load() needs no pool.
_SAVE_POOL_MAX_BYTES = 1 << 30


def stream_seed(seed: int, stream: int, *keys: int) -> int:
    """A 63-bit seed for one random stream of the run ``seed`` (e.g. round r's training)."""
    state = np.random.SeedSequence(seed, spawn_key=(stream, *keys)).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Oracle(Protocol):
    """Anything that labels ids: ``oracle(ids) -> labels`` (ints in ``[0, C)``)."""

    def __call__(self, ids: IdArray) -> ArrayLike: ...


class SimulatedOracle:
    """The true labels of a simulation: ``labels[i]`` is the label of id ``ids[i]``
    (default ids ``0 .. N-1``)."""

    def __init__(self, labels: ArrayLike | Tensor, ids: ArrayLike | None = None) -> None:
        self._labels = as_id_array(labels, "labels")
        self._pool = Pool(len(self._labels)) if ids is None else Pool.from_ids(as_id_array(ids))
        if len(self._pool) != len(self._labels):
            raise InvalidInputError(f"{len(self._pool)} ids but {len(self._labels)} labels")
        # Pool.from_ids sorts: keep the label of each id with it.
        order = np.argsort(as_id_array(ids)) if ids is not None else None
        self._sorted_labels = self._labels if order is None else self._labels[order]

    def __call__(self, ids: IdArray) -> NDArray[np.int64]:
        return self._sorted_labels[self._pool.positions(ids)]


@dataclass(frozen=True)
class QueryTimings:
    """Wall-clock seconds of the last query: ``fit`` training (0 when the fitted posterior
    was reused), ``score`` the subset draw, posterior draw and log-probs (and pointwise
    scores), ``select`` the strategy's selection (for a streamed pool: merging the
    scored ranges and selecting; see :attr:`ActiveLearner.last_scoring`)."""

    fit: float = 0.0
    score: float = 0.0
    select: float = 0.0


def kcenter_greedy(
    inputs: PoolInputs,
    rows: NDArray[np.int64],
    n: int,
    generator: torch.Generator,
    *,
    embed: Callable[[Tensor], Tensor] | None = None,
    chunk_size: int = 4096,
    device: torch.device | None = None,
) -> NDArray[np.int64]:
    """``n`` of ``rows`` chosen by k-center greedy (farthest-first traversal) in Euclidean
    distance on the flattened inputs (or on ``embed(inputs)``, run without gradients on
    ``device``): the first at random, each next one the farthest from those chosen.
    Streams the inputs in chunks (one pass per pick); memory ``O(len(rows))``. Returns
    positions into ``rows``, in pick order."""
    if n > len(rows):
        raise InvalidInputError(f"cannot pick {n} of {len(rows)} items")

    def features(batch: Tensor) -> Tensor:
        if embed is not None:
            with torch.no_grad():
                batch = embed(batch.to(device)).cpu()
        return batch.reshape(len(batch), -1).double()

    first = int(torch.randint(len(rows), (1,), generator=generator))
    picks = [first]
    min_dist = torch.full((len(rows),), math.inf, dtype=torch.float64)
    centre = features(inputs.take(rows[[first]]))
    for _ in range(n - 1):
        start = 0
        for batch in inputs.batches(rows, chunk_size):
            f = features(batch)
            d = ((f - centre) ** 2).sum(dim=1)
            min_dist[start : start + len(f)] = torch.minimum(min_dist[start : start + len(f)], d)
            start += len(f)
        min_dist[picks] = -1.0
        nxt = int(torch.argmax(min_dist))
        picks.append(nxt)
        centre = features(inputs.take(rows[[nxt]]))
    return np.asarray(picks, dtype=np.int64)


def _no_model(seed: int) -> nn.Module:
    """The model builder of a learner without a model (``model=None``): posteriors that
    train no network never call it."""
    raise InvalidInputError(
        "this learner has no model (model=None); give one to use a posterior that trains one"
    )


def _model_builder(model: Any) -> Callable[[int], nn.Module]:
    """``seed -> fresh model`` from a zero-argument factory, a ``seed -> model`` factory,
    a registered model name or an import path."""
    if isinstance(model, str):
        from bayesal.models.registry import check_model

        check_model(model, {})
        return _NamedModel(model)
    if isinstance(model, nn.Module):
        raise InvalidInputError(
            "model must build a fresh network each round: pass a factory (e.g. a class or "
            "a function returning a new nn.Module), not a model instance"
        )
    if not callable(model):
        raise InvalidInputError(f"model must be callable or an import path, got {model!r}")
    return _SeededModel(model)


class _NamedModel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, seed: int) -> nn.Module:
        from bayesal.models.registry import build_model

        return build_model(self.name, seed=seed)


class _SeededModel:
    """Calls the factory with the global RNG seeded privately (fork_rng), passing the seed
    when the factory has a parameter named ``seed``."""

    def __init__(self, factory: Callable[..., nn.Module]) -> None:
        self.factory = factory
        self.takes_seed = False
        try:
            params = list(inspect.signature(factory).parameters.values())
        except (TypeError, ValueError):
            return
        self.takes_seed = any(p.name == "seed" for p in params)
        required = [
            p.name
            for p in params
            if p.default is p.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name != "seed"
        ]
        if required:
            raise InvalidInputError(
                f"the model factory needs argument(s) {required}; pass a callable that "
                "builds the model with no argument (or only seed=), e.g. "
                "functools.partial(factory, ...)"
            )

    def __call__(self, seed: int) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            model = self.factory(seed=seed) if self.takes_seed else self.factory()
        if not isinstance(model, nn.Module):
            raise InvalidInputError(
                f"the model factory returned {type(model).__name__}, not a torch.nn.Module"
            )
        return model


def _train_config(training: TrainConfig | Mapping[str, Any] | None) -> TrainConfig:
    if training is None:
        return TrainConfig()
    if isinstance(training, TrainConfig):
        return training
    if isinstance(training, Mapping):
        try:
            return TrainConfig(**training)
        except Exception as exc:  # pydantic's ValidationError: one clear line
            raise InvalidInputError(f"invalid training settings: {exc}".splitlines()[0]) from None
    raise InvalidInputError(f"training must be a TrainConfig or a dict, got {type(training)}")


def _positive_int(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


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
            tree ensemble; ``num_classes`` is then required).
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
        self.inputs: PoolInputs = as_pool_inputs(pool, num_workers=num_workers)
        n = len(self.inputs)
        if n == 0:
            raise InvalidInputError("the pool is empty")
        self.seed = _positive_int("seed", seed, 0)
        self.device = resolve_device(device)
        self.training = _train_config(training)
        self.chunk_size = _positive_int("chunk_size", chunk_size)
        self.num_target_samples = _positive_int("num_target_samples", num_target_samples)
        self.pool_subset = (
            None if pool_subset is None else _positive_int("pool_subset", pool_subset)
        )
        if cold_start not in COLD_STARTS:
            raise InvalidInputError(f"cold_start must be one of {COLD_STARTS}, got {cold_start!r}")
        self.cold_start = cold_start
        self.cold_start_embed = cold_start_embed
        self.embed = _check_embed(embed)
        #: Which embeddings the last query gave an embedding strategy: ``"features"``,
        #: ``"inputs"`` or ``"callable"`` (None when it read none).
        self.last_embed: str | None = None
        self.target_inputs = target_inputs
        self.train_transform = train_transform
        self.prefilter = check_prefilter(prefilter)
        self.max_log_probs_bytes = _positive_int("max_log_probs_bytes", max_log_probs_bytes)
        self.score_executor = _check_executor(score_executor)
        if ray_address is not None and not isinstance(ray_address, str):
            raise InvalidInputError(f"ray_address must be a string or None, got {ray_address!r}")
        self.ray_address = ray_address
        self.score_shards = (
            None if score_shards is None else _positive_int("score_shards", score_shards)
        )
        self._ray_scorer: Any = None
        self._model_spec = model
        self._build_model: Callable[[int], nn.Module] | None = (
            None if model is None else _model_builder(model)
        )

        self._strategy_spec = (strategy, dict(strategy_params or {}))
        if isinstance(strategy, str):
            self.strategy: Strategy = get_strategy(strategy, **(strategy_params or {}))
        elif isinstance(strategy, Strategy):
            if strategy_params:
                raise InvalidInputError("strategy_params need a strategy name, not an object")
            self.strategy = strategy
        else:
            raise InvalidInputError(f"strategy must be a name or a Strategy, got {strategy!r}")

        unsupported = strategy_inputs(self.strategy) - {
            POOL_LOG_PROBS,
            TARGET_LOG_PROBS,
            EMBEDDINGS,
            LABELLED_EMBEDDINGS,
        }
        if unsupported:
            raise InvalidInputError(
                f"strategy {self.strategy.name!r} needs {sorted(unsupported)}, which the "
                "learner does not provide (it provides pool and target log-probs, pool "
                "embeddings and labelled embeddings)"
            )
        self._posterior_spec = (posterior, dict(posterior_params or {}), num_samples)
        self.method = _posterior_method(posterior, posterior_params, num_samples)
        if self._build_model is None and self.method.needs_model:
            raise InvalidInputError(
                f"posterior {self.method.name!r} trains a network: pass model= (a factory, a "
                "registered model name such as 'mlp', or an import path); model=None works "
                "only with a posterior that needs no model, such as 'forest'"
            )

        # Ids: the pool sorts them; _rows maps a pool position to the input row.
        if ids is None:
            self.pool = Pool(n)
            self._rows: NDArray[np.int64] = np.arange(n, dtype=np.int64)
        else:
            given = as_id_array(ids)
            if len(given) != n:
                raise InvalidInputError(f"{len(given)} ids for a pool of {n} inputs")
            self.pool = Pool.from_ids(given)
            self._rows = np.argsort(given, kind="stable").astype(np.int64)
        wanted = None if num_classes is None else _positive_int("num_classes", num_classes, 2)
        self.num_classes: int = (
            self._check_model(wanted) if model is not None else self._check_model_free(wanted)
        )

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

        if labels is not None:
            values = as_id_array(labels, "labels")
            if len(values) != n:
                raise InvalidInputError(f"{len(values)} labels for a pool of {n} inputs")
            known = values != MISSING
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

    def _check_model(self, num_classes: int | None) -> int:
        """Build the model once and run it on the first pool input: it must return logits
        ``[1, C]`` with C >= 2 (and C = ``num_classes`` when given). Returns C."""
        assert self._build_model is not None
        x = self.inputs.take(np.zeros(1, np.int64))
        model = self._build_model(0).to(self.device)
        try:
            with torch.no_grad(), evaluation_mode(model):
                out = model(to_model_input(x, self.device, model_dtype(model)))
        except Exception as exc:  # the user's model: any error means a mismatch
            raise InvalidInputError(
                f"the model does not run on the pool's inputs (one input of shape "
                f"{tuple(x.shape[1:])}, dtype {x.dtype}): {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(out, Tensor) or out.ndim != 2 or len(out) != 1:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise InvalidInputError(f"the model must return logits [N, C], got {shape} for N=1")
        width = int(out.shape[1])
        if width < 2:
            raise InvalidInputError(f"the model returns {width} class(es); need >= 2")
        if num_classes is not None and num_classes != width:
            raise InvalidInputError(
                f"num_classes={num_classes}, but the model returns {width} logits per input"
            )
        return width

    def _check_model_free(self, num_classes: int | None) -> int:
        """C for a learner without a model (a posterior that trains none): it must be
        given, and the pool's inputs must be numbers."""
        if num_classes is None:
            raise InvalidInputError(
                "model=None needs num_classes= (the number of classes C; without a model "
                "there is no output width to read it from)"
            )
        x = self.inputs.take(np.zeros(1, np.int64))
        if not isinstance(x, Tensor) or x.is_complex() or x.dtype == torch.bool:
            raise InvalidInputError(
                f"posterior {self.method.name!r} needs numeric pool inputs, got "
                f"{getattr(x, 'dtype', type(x).__name__)}"
            )
        return num_classes

    def teach(self, ids: ArrayLike, labels: ArrayLike, *, overwrite: bool = False) -> None:
        """Record ``labels`` (ints in ``[0, C)``) for ``ids`` (pool ids, any order).

        All-or-nothing: on any error nothing is recorded. Teaching an id the label it
        already has is a no-op; another label needs ``overwrite=True`` (a correction).

        Raises:
            InvalidInputError: unknown ids, duplicate ids, lengths that differ, labels
                that are not integers in ``[0, C)``, or a conflicting label without
                ``overwrite``.
        """
        ids_arr = as_id_array(np.atleast_1d(ids) if np.isscalar(ids) else ids)
        if isinstance(labels, Tensor):
            labels = labels.detach().cpu().numpy()
        raw = np.atleast_1d(np.asarray(labels))
        if raw.dtype.kind == "f" and raw.size and not np.all(np.equal(np.mod(raw, 1), 0)):
            raise InvalidInputError("labels must be integers (class indices)")
        values = as_id_array(raw.astype(np.int64) if raw.dtype.kind == "f" else raw, "labels")
        if len(values) != len(ids_arr):
            raise InvalidInputError(f"{len(ids_arr)} ids but {len(values)} labels")
        bad = (values < 0) | (values >= self.num_classes)
        if bad.any():
            raise InvalidInputError(
                f"labels must lie in [0, {self.num_classes}); got {values[bad][:5].tolist()} "
                f"for ids {ids_arr[bad][:5].tolist()}"
            )
        before = self.pool.labels().copy(), self.pool.labelled_mask()
        self.pool.label(ids_arr, values, overwrite=overwrite)
        if not (
            np.array_equal(before[0], self.pool.labels())
            and np.array_equal(before[1], self.pool.labelled_mask())
        ):
            self._label_version += 1

    def forget(self, ids: ArrayLike) -> None:
        """Remove the labels of ``ids`` (they become unlabelled again)."""
        ids_arr = as_id_array(np.atleast_1d(ids) if np.isscalar(ids) else ids)
        if self.pool.is_labelled(ids_arr).any():
            self.pool.unlabel(ids_arr)
            self._label_version += 1

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
            self._build_model or _no_model,
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
        batch_size = _positive_int("batch_size", batch_size)
        executor = self.score_executor if executor is None else _check_executor(executor)
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
        selection, t1 = self._score_and_select(
            draw,
            scored_ids,
            batch_size,
            _generator(stream_seed(self.seed, _SELECT, r)),
            targets,
            executor=executor,
            fitted=fitted,
            draw_seed=draw_seed,
            r=r,
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

    @torch.no_grad()
    def _score_and_select(
        self,
        draw: PosteriorDraw,
        scored_ids: IdArray,
        batch_size: int,
        generator: torch.Generator,
        targets_M: Tensor | None,
        *,
        executor: str = "local",
        fitted: FittedPosterior | None = None,
        draw_seed: int = 0,
        r: int = 0,
    ) -> tuple[Selection, float]:
        """The strategy's selection among ``scored_ids`` under one draw, and the time at
        which scoring ended. Inputs stream chunk by chunk (the pool is never copied).

        A pool whose log-probs fit (``max_log_probs_bytes``), scored locally without a
        prefilter, takes the in-memory path (:meth:`_score_in_memory`, unchanged);
        otherwise the pool is streamed (:meth:`_score_streaming`)."""
        rows = self._rows_of(scored_ids)
        n_items = len(rows)
        fits = log_probs_bytes(n_items, draw.num_samples, self.num_classes) <= (
            self.max_log_probs_bytes
        )
        prefilter = None
        if not is_pointwise(self.strategy, given_target=True):
            prefilter = resolve_prefilter(
                self.prefilter, num_items=n_items, fits=fits, batch_size=batch_size
            )
        if executor == "local" and fits and prefilter is None:
            self.last_scoring = ScoringReport("in_memory", None, n_items)
            return self._score_in_memory(draw, rows, batch_size, generator, targets_M)
        return self._score_streaming(
            draw,
            rows,
            batch_size,
            generator,
            targets_M,
            executor=executor,
            prefilter=prefilter,
            fitted=fitted,
            draw_seed=draw_seed,
            tie_seed=stream_seed(self.seed, _PREFILTER, r),
        )

    def _score_in_memory(
        self,
        draw: PosteriorDraw,
        rows: NDArray[np.int64],
        batch_size: int,
        generator: torch.Generator,
        targets_M: Tensor | None,
    ) -> tuple[Selection, float]:
        """The original scoring path: pointwise scores chunk by chunk, concatenated; or,
        for other strategies, the whole ``[N, K, C]`` (and EPIG's targets) in memory."""
        strategy = self.strategy
        if is_pointwise(strategy):
            # Only scores_N is kept, never [N, K, C] of the whole pool. (EPIG is held
            # whole here; _score_streaming scores it in its own row blocks, with the
            # same bits, for pools that do not fit.)
            # Each chunk's scores are checked as the strategy returns them (a plugin may
            # return the wrong length or NaN: bayesal.scoring.checks).
            if getattr(strategy, "score_uses_generator", True):
                scores_N = torch.cat(
                    [
                        _chunk_scores(strategy, draw.log_probs(x).cpu(), generator)
                        for x in self.inputs.batches(rows, self.chunk_size)
                    ]
                )
            else:
                # Scored where the draw computes (a GPU): the scores come to the host
                # once, not [n, K, C] per chunk (on the CPU the same computation).
                scores_N = torch.cat(
                    [
                        _chunk_scores(strategy, draw.log_probs(x), generator)
                        for x in self.inputs.batches(rows, self.chunk_size)
                    ]
                ).cpu()
            scored = time.perf_counter()
            finite = scores_N[torch.isfinite(scores_N)]
            check_scores_rank(strategy.name, len(finite), len(scores_N))
            self.last_scores = (
                {"mean": float(finite.mean()), "max": float(finite.max())} if len(finite) else {}
            )
            selection = strategy.select_from_scores(scores_N, batch_size, generator=generator)
            return check_selection(strategy.name, selection, batch_size, len(rows)), scored
        log_probs_N_K_C = None
        if POOL_LOG_PROBS in strategy_inputs(strategy):  # coreset, TypiClust: embeddings only
            log_probs_N_K_C = torch.cat(
                [draw.log_probs(x).cpu() for x in self.inputs.batches(rows, self.chunk_size)]
            )
        log_probs_target_M_K_C = None
        if targets_M is not None:
            log_probs_target_M_K_C = torch.cat(
                [
                    draw.log_probs(targets_M[i : i + self.chunk_size]).cpu()
                    for i in range(0, len(targets_M), self.chunk_size)
                ]
            )
        extra = self._embedding_inputs(rows)
        scored = time.perf_counter()
        self.last_scores = {}
        selection = strategy.select(
            log_probs_N_K_C,  # type: ignore[arg-type]
            batch_size,
            generator=generator,
            log_probs_target_M_K_C=log_probs_target_M_K_C,
            **extra,
        )
        return check_selection(strategy.name, selection, batch_size, len(rows)), scored

    def _score_streaming(
        self,
        draw: PosteriorDraw,
        rows: NDArray[np.int64],
        batch_size: int,
        generator: torch.Generator,
        targets_M: Tensor | None,
        *,
        executor: str,
        prefilter: int | None,
        fitted: FittedPosterior | None,
        draw_seed: int,
        tie_seed: int,
    ) -> tuple[Selection, float]:
        """Stream the pool (here or as Ray tasks, :mod:`bayesal.scoring`), keeping only
        what the selection needs; then merge and select."""
        strategy = self.strategy
        t0 = time.perf_counter()
        log_probs_target_M_K_C = None
        if targets_M is not None:
            log_probs_target_M_K_C = torch.cat(
                [
                    draw.log_probs(targets_M[i : i + self.chunk_size]).cpu()
                    for i in range(0, len(targets_M), self.chunk_size)
                ]
            )
        plan = plan_scoring(
            strategy,
            num_items=len(rows),
            batch_size=batch_size,
            num_classes=self.num_classes,
            chunk_size=self.chunk_size,
            num_targets=None if targets_M is None else len(targets_M),
            prefilter=prefilter,
            seed=tie_seed,
        )
        if executor == "ray" and not score_is_deterministic(strategy, plan):
            warnings.warn(
                f"strategy {strategy.name!r} draws random numbers while scoring, in pool "
                "order: it is scored in this process, so that its picks match a local run",
                stacklevel=5,  # the caller of query()
            )
            executor = "local"
        shards = 1
        if executor == "ray":
            assert fitted is not None
            results, seconds, shards = self._ray().score(
                fitted,
                draw_seed,
                self.inputs,
                rows,
                plan,
                strategy,
                log_probs_target_M_K_C=log_probs_target_M_K_C,
            )
        else:
            results = score_locally(
                draw,
                self.inputs,
                rows,
                plan,
                strategy,
                generator=generator,
                log_probs_target_M_K_C=log_probs_target_M_K_C,
            )
            seconds = {"ship": 0.0, "score": time.perf_counter() - t0}
        scored = time.perf_counter()
        selection, summary, kept = finish_selection(
            plan,
            results,
            strategy,
            batch_size,
            generator=generator,
            log_probs_target_M_K_C=log_probs_target_M_K_C,
            select_inputs=lambda positions: self._embedding_inputs(rows[positions.numpy()]),
        )
        seconds["merge"] = time.perf_counter() - scored
        self.last_scores = summary
        self.last_scoring = ScoringReport(
            path="ray" if executor == "ray" else "stream",
            mode=plan.mode,
            num_items=len(rows),
            num_shards=shards,
            prefilter=plan.keep if plan.mode == "prefilter" else None,
            candidates=kept,
            seconds={**seconds, **range_seconds(results)},
        )
        return selection, scored

    # ------------------------------------------------------------------ embeddings

    def _embedding_inputs(self, rows: NDArray[np.int64]) -> dict[str, Tensor]:
        """The embedding keyword inputs of the strategy's ``select`` for the input rows
        ``rows`` (the items it selects among, in that order): ``embeddings_N_D`` and
        ``labelled_embeddings_L_D`` (every labelled item, sorted by id) as it declares
        them (``{}`` for a strategy that reads none). Chunked, on the CPU."""
        inputs = strategy_inputs(self.strategy)
        if not inputs & {EMBEDDINGS, LABELLED_EMBEDDINGS}:
            self.last_embed = None
            return {}
        embed, kind = self._embedder()
        self.last_embed = kind
        pool_N_D = self._embed_rows(embed, rows)
        extra: dict[str, Tensor] = {}
        if EMBEDDINGS in inputs:
            extra["embeddings_N_D"] = pool_N_D
        if LABELLED_EMBEDDINGS in inputs:
            labelled = self._rows_of(self.pool.labelled_ids)
            extra["labelled_embeddings_L_D"] = (
                self._embed_rows(embed, labelled)
                if len(labelled)
                else pool_N_D.new_zeros(0, pool_N_D.shape[1])
            )
        return extra

    def _embedder(self) -> tuple[Callable[[Tensor], Tensor], str]:
        """``(x -> embeddings, kind)`` for the ``embed`` setting and the fitted model."""
        if callable(self.embed):
            user = self.embed
            return (lambda x: user(x.to(self.device))), "callable"
        if self.embed == "inputs":
            return (lambda x: x), "inputs"
        models = list(getattr(self.fit(), "models", None) or [])
        model = models[0] if models else None
        if not (isinstance(model, nn.Module) and callable(getattr(model, "features", None))):
            if self.embed == "features":
                raise InvalidInputError(
                    f"embed='features', but the trained model ({type(model).__name__}) has "
                    "no features(x) method returning its penultimate features [n, D]; add "
                    "one (see bayesal.models.features.FeatureModel), or pass "
                    "embed='inputs' or a callable x -> [n, D]"
                )
            return (lambda x: x), "inputs"
        net: nn.Module = model
        dtype = model_dtype(net)

        def features(x: Tensor) -> Tensor:
            with evaluation_mode(net):
                # features(x) was checked to exist above; nn.Module does not declare it.
                out: Tensor = net.features(to_model_input(x, self.device, dtype))  # type: ignore[operator]
                return out

        return features, "features"

    def _embed_rows(self, embed: Callable[[Tensor], Tensor], rows: NDArray[np.int64]) -> Tensor:
        """``[len(rows), D]`` embeddings of the input rows, chunk by chunk, on the CPU
        (float32 unless the embedder returns float64)."""
        parts = []
        with torch.no_grad():
            for x in self.inputs.batches(rows, self.chunk_size):
                out = embed(x)
                if not isinstance(out, Tensor) or out.ndim < 1 or len(out) != len(x):
                    got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                    raise InvalidInputError(
                        f"embed must map {len(x)} inputs to embeddings [{len(x)}, D], got {got}"
                    )
                out = out.detach().reshape(len(x), -1).cpu()
                if out.dtype != torch.float64:
                    out = out.float()
                parts.append(out)
        return torch.cat(parts)

    def _ray(self) -> Any:
        if self._ray_scorer is None:
            from bayesal.scoring.distributed import RayScorer

            self._ray_scorer = RayScorer(address=self.ray_address, num_shards=self.score_shards)
        return self._ray_scorer

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
        or torch Dataset), on the CPU. Trains the posterior first if the labels changed."""
        fitted = self.fit()  # outside no_grad: it may train
        source = as_pool_inputs(inputs)
        rows = np.arange(len(source), dtype=np.int64)
        with torch.no_grad():
            return torch.cat(
                [fitted.predict_log_probs(x).cpu() for x in source.batches(rows, self.chunk_size)]
            )

    def evaluate(self, inputs: Any, labels: ArrayLike | Tensor) -> dict[str, float]:
        """Accuracy and mean negative log-likelihood of the posterior's predictive on a
        labelled test set: ``{"accuracy": ..., "nll": ...}`` (NaN for an empty one).

        It may train first: it evaluates the posterior of the *current* labels
        (:meth:`fit`), so after labels changed (a :meth:`teach` since the last fit) it
        retrains the posterior, with the current round's seeds, before predicting; with
        unchanged labels it reuses the fitted posterior and trains nothing. The retrained
        posterior is the one the next :meth:`query` uses (no second training). To
        evaluate the posterior a query was scored with, call it before teaching that
        query's labels.
        """
        y = torch.as_tensor(as_id_array(labels, "labels"))
        if len(y) == 0:
            return {"accuracy": math.nan, "nll": math.nan}
        if int(y.min()) < 0 or int(y.max()) >= self.num_classes:
            raise InvalidInputError(
                f"test labels must lie in [0, {self.num_classes}), got [{int(y.min())}, "
                f"{int(y.max())}]"
            )
        log_probs_N_C = self.predict_log_probs(inputs)
        if len(log_probs_N_C) != len(y):
            raise InvalidInputError(f"{len(log_probs_N_C)} inputs but {len(y)} labels")
        accuracy = (log_probs_N_C.argmax(-1) == y).double().mean().item()
        nll = -log_probs_N_C.gather(1, y[:, None]).double().mean().item()
        return {"accuracy": accuracy, "nll": nll}

    def metrics(self) -> dict[str, Any]:
        """What the learner can report without a test set: label counts (in all and per
        class), the round, and the last query's mean and max score (pointwise strategies;
        for BALD, the pool's mean mutual information)."""
        labels = self.pool.labels(self.pool.labelled_ids)
        per_class = np.bincount(labels[labels >= 0], minlength=self.num_classes or 0)
        return {
            "round": self.round,
            "n_labelled": self.pool.num_labelled,
            "n_unlabelled": self.pool.num_unlabelled,
            "labels_per_class": per_class.tolist(),
            "last_query_mean_score": self.last_scores.get("mean", math.nan),
            "last_query_max_score": self.last_scores.get("max", math.nan),
        }

    # ------------------------------------------------------------------ persistence

    def _pool_fingerprint(self) -> str:
        """A hash of a few pool inputs (first, middle, last), so that ``load`` notices a
        different pool of the same length."""
        n = len(self.inputs)
        rows = np.unique(np.asarray([0, n // 2, n - 1], dtype=np.int64))
        x = self.inputs.take(rows).contiguous().cpu()
        return hashlib.sha256(x.numpy().tobytes() + str(x.dtype).encode()).hexdigest()

    def save(self, path: str | Path, *, include_pool: bool | None = None) -> Path:
        """Write the learner's state to ``path`` atomically: settings, ids and labels,
        round, the fitted posterior (its models' weights and any extra state), fixed
        target inputs, and (by default for in-memory pools under 1 GiB) the pool inputs,
        so that :meth:`load` resumes exactly. Callables (``train_transform``,
        ``cold_start_embed``, a callable ``embed``) cannot be saved: ``load`` asks for them
        again.

        The file is a pickle (``torch.save``): load only files you trust.
        """
        if include_pool is None:
            include_pool = (
                isinstance(self.inputs, ArrayInputs)
                and self.inputs.in_memory
                and self.inputs.array.nbytes <= _SAVE_POOL_MAX_BYTES
            )
        if include_pool and not isinstance(self.inputs, ArrayInputs):
            raise InvalidInputError("only array pools can be saved with the learner")
        fitted = None
        if self._fitted is not None and self._fitted_version == self._label_version:
            fitted = {
                "models": [
                    {k: v.cpu() for k, v in m.state_dict().items()} for m in self._fitted.models
                ],
                "extra": self._fitted.extra,
                "round": self._fit_round,
            }
        state = {
            "format": _STATE_FORMAT,
            "bayesal_version": __version__,
            "settings": {
                "strategy": self._strategy_spec,
                "posterior": self._posterior_spec,
                "model": self._model_spec if isinstance(self._model_spec, str) else None,
                "num_classes": self.num_classes,
                "training": self.training.model_dump(),
                "cold_start": self.cold_start,
                "embed": self.embed if isinstance(self.embed, str) else None,
                "seed": self.seed,
                "pool_subset": self.pool_subset,
                "num_target_samples": self.num_target_samples,
                "chunk_size": self.chunk_size,
                "device": str(self.device),
                "target_inputs": self.target_inputs,
                "prefilter": self.prefilter,
                "max_log_probs_bytes": self.max_log_probs_bytes,
                "score_executor": self.score_executor,
                "ray_address": self.ray_address,
                "score_shards": self.score_shards,
            },
            "callables": sorted(
                name
                for name in ("train_transform", "cold_start_embed", "embed")
                if getattr(self, name) is not None and not isinstance(getattr(self, name), str)
            ),
            "ids": self.ids_in_pool_order(),
            "labelled": self.pool.labelled_mask(),
            "labels": self.pool.labels(),
            "round": self.round,
            "fitted": fitted,
            "pool": self.inputs.array if include_pool else None,  # type: ignore[attr-defined]
            "pool_len": len(self.inputs),
            "pool_fingerprint": self._pool_fingerprint(),
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return atomic_write(path, lambda fh: fh.write(buffer.getvalue()))

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
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"no saved learner at {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # a truncated or foreign file
            raise InvalidInputError(f"{path} is not a saved ActiveLearner ({exc})") from None
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            raise InvalidInputError(f"{path} is not a saved ActiveLearner (format {_STATE_FORMAT})")
        settings = _check_saved_state(state, path)
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
        needs_model = _posterior_method(posterior, posterior_params, num_samples).needs_model
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
            if device != "cpu" and not _device_exists(device):
                warnings.warn(
                    f"the saved learner ran on {device}, which this machine lacks: using "
                    "device='auto' (results may differ in the last digits)",
                    stacklevel=2,
                )
                device = "auto"
        learner = cls(
            pool,
            model=model,
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
        if learner._pool_fingerprint() != state["pool_fingerprint"]:
            raise InvalidInputError(
                "the pool given to load() is not the saved learner's pool (its inputs differ)"
            )
        labelled = np.asarray(state["labelled"], dtype=bool)
        values = np.asarray(state["labels"], dtype=np.int64)
        sorted_ids = learner.pool.ids
        with_value = labelled & (values != MISSING)
        learner.pool.label(sorted_ids[with_value], values[with_value])
        if (labelled & ~with_value).any():
            learner.pool.label(sorted_ids[labelled & ~with_value])
        learner.round = int(state["round"])
        learner._label_version = 1
        fitted = state["fitted"]
        if fitted is not None:
            models = []
            for m, weights in enumerate(fitted["models"]):
                build = learner._build_model or _no_model
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

    def __repr__(self) -> str:
        return (
            f"ActiveLearner(items={len(self.pool)}, labelled={self.pool.num_labelled}, "
            f"strategy={self.strategy.name!r}, posterior={self.method.name!r}, "
            f"round={self.round}, device={str(self.device)!r})"
        )


#: Keys of a saved learner's state and of its settings that :meth:`ActiveLearner.load`
#: reads without a default (settings added later have defaults there).
_STATE_KEYS = ("settings", "callables", "ids", "labelled", "labels", "round", "fitted",
               "pool", "pool_len", "pool_fingerprint")  # fmt: skip
_SETTING_KEYS = ("strategy", "posterior", "model", "num_classes", "training", "cold_start",
                 "seed", "pool_subset", "num_target_samples", "chunk_size", "device",
                 "target_inputs")  # fmt: skip
_CALLABLES = ("train_transform", "cold_start_embed", "embed")


def _whole(value: object, low: int) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        return False
    return bool(value >= low)


def _check_saved_state(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """The settings of a saved learner's ``state``, after checking what ``load`` reads:
    every key present, the round and counts whole and in range, ids / labelled mask /
    labels one per pool item, and every label value a class in ``[0, num_classes)``.

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
    num_classes = settings["num_classes"]
    if not _whole(num_classes, 2):
        raise bad(f"settings.num_classes is {num_classes!r}, not a whole number >= 2")
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
        if arrays[key].shape != (pool_len,):
            raise bad(f"{key} has shape {list(arrays[key].shape)}, not [{pool_len}] (pool_len)")
    if arrays["labelled"].dtype != np.bool_:
        raise bad(f"labelled has dtype {arrays['labelled'].dtype}, not bool")
    labels = arrays["labels"]
    if not np.issubdtype(labels.dtype, np.integer):
        raise bad(f"labels have dtype {labels.dtype}, not integers")
    known = labels[arrays["labelled"] & (labels != MISSING)]
    out = known[(known < 0) | (known >= num_classes)]
    if len(out):
        raise bad(
            f"{len(out)} label(s) outside the {num_classes} classes [0, {num_classes}) "
            f"(e.g. {int(out[0])})"
        )
    if (labels[~arrays["labelled"]] != MISSING).any():
        raise bad(f"unlabelled items carry label values (should be {MISSING})")
    fitted = state["fitted"]
    if fitted is not None:
        if not isinstance(fitted, dict) or not {"models", "extra", "round"} <= set(fitted):
            raise bad("fitted is not a mapping of models, extra and round")
        if not isinstance(fitted["models"], list) or not isinstance(fitted["extra"], dict):
            raise bad("fitted.models is not a list or fitted.extra not a mapping")
        if not _whole(fitted["round"], 0):
            raise bad(f"fitted.round is {fitted['round']!r}, not a whole number >= 0")
    return settings


def _chunk_scores(strategy: Any, log_probs_n_K_C: Tensor, generator: torch.Generator) -> Tensor:
    """``strategy.score`` of one chunk, checked (shape ``[n]``, floating, no NaN)."""
    scores = strategy.score(log_probs_n_K_C, generator=generator)
    return check_score_chunk(strategy.name, scores, len(log_probs_n_K_C))


def _check_embed(embed: object) -> str | Callable[[Tensor], Tensor]:
    if isinstance(embed, str) and embed in EMBEDS:
        return embed
    if callable(embed):  # a function, or a feature extractor nn.Module
        return embed
    raise InvalidInputError(
        f"embed must be one of {', '.join(repr(e) for e in EMBEDS)} or a callable "
        f"x -> [n, D] (embeddings of a batch of inputs), got {embed!r}"
    )


def _check_executor(executor: object) -> str:
    if executor not in EXECUTORS:
        raise InvalidInputError(
            f"the scoring executor must be one of {', '.join(EXECUTORS)}, got {executor!r}"
        )
    return str(executor)


def _device_exists(name: str) -> bool:
    try:
        resolve_device(name)
    except InvalidInputError:
        return False
    return True


def _posterior_method(
    posterior: str | PosteriorMethod, params: Mapping[str, Any] | None, num_samples: int
) -> PosteriorMethod:
    if isinstance(posterior, PosteriorMethod):
        if params:
            raise InvalidInputError("posterior_params need a posterior name, not an object")
        return posterior
    if not isinstance(posterior, str):
        raise InvalidInputError(f"posterior must be a name or a PosteriorMethod, got {posterior!r}")
    from bayesal.posterior import POSTERIORS

    kwargs = dict(params or {})
    accepted = accepted_parameters(POSTERIORS.resolve(posterior))
    if "num_samples" not in kwargs and accepted is not None and "num_samples" in accepted:
        kwargs["num_samples"] = _positive_int("num_samples", num_samples)
    return get_posterior(posterior, **kwargs)
