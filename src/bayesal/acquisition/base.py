"""What every acquisition strategy looks like to the loop: the strategy protocol.

**Score, selector, strategy.** A *score* is a pure function ``log_probs_N_K_C -> scores_N``
(higher = acquire first). A *selector* turns ``scores_N`` into a batch: top-k, or a
stochastic sample. A *strategy* turns log-probs into the positions of a batch to acquire.
Most strategies are a score composed with a selector
(:class:`~bayesal.acquisition.scored.ScoredStrategy`); joint batch methods such as
BatchBALD choose the whole batch at once. Strategies are looked up by name in the registry
(:mod:`bayesal.acquisition.registry`).

**The protocol.** A strategy has

* ``name: str``, its registry name;
* ``select(log_probs_N_K_C, batch_size, *, generator, log_probs_target_M_K_C=None) ->
  Selection`` (:class:`Strategy`);
* ``inputs: frozenset[str]``, the tensors it reads, out of :data:`POOL_LOG_PROBS`
  (``log_probs_N_K_C``; every strategy but ``coreset`` and ``typiclust``),
  :data:`TARGET_LOG_PROBS` (``log_probs_target_M_K_C``, EPIG), :data:`EMBEDDINGS`
  (``embeddings_N_D``, pool embeddings such as the model's penultimate-layer features:
  BADGE, coreset, TypiClust) and :data:`LABELLED_EMBEDDINGS` (``labelled_embeddings_L_D``,
  the same features of the L labelled inputs, ``L = 0`` allowed: coreset, TypiClust).
  The caller computes exactly these. Every built-in strategy declares it;
  :func:`strategy_inputs` reads it, and derives it from ``needs_target`` for strategies
  written before it existed;
* ``needs_target: bool``, kept for compatibility: ``TARGET_LOG_PROBS in inputs``.

**Embedding inputs.** A strategy whose ``inputs`` hold :data:`EMBEDDINGS` or
:data:`LABELLED_EMBEDDINGS` takes them as keyword arguments of ``select``:
``embeddings_N_D=`` (``[N, D]``, one row per row of ``log_probs_N_K_C``, same order) and
``labelled_embeddings_L_D=`` (``[L, D]``, same D). Other strategies keep the signature
above, so a caller passes these keywords only to strategies that declare them. A strategy
without :data:`POOL_LOG_PROBS` in its inputs accepts ``None`` for ``log_probs_N_K_C``
(a tensor is still checked). Embedding strategies are never pointwise: their batch
depends on the geometry of the whole pool. The caller's recipe::

    inputs = strategy_inputs(strategy)
    extra = {}
    if TARGET_LOG_PROBS in inputs:
        extra["log_probs_target_M_K_C"] = log_probs_target_M_K_C
    if EMBEDDINGS in inputs:
        extra["embeddings_N_D"] = embeddings_N_D                    # pool features
    if LABELLED_EMBEDDINGS in inputs:
        extra["labelled_embeddings_L_D"] = labelled_embeddings_L_D  # [0, D] if none
    pool = log_probs_N_K_C if POOL_LOG_PROBS in inputs else None
    selection = strategy.select(pool, batch_size, generator=g, **extra)

**Pointwise strategies.** When the batch depends on the pool only through one score per
input, the strategy also has ``score(log_probs_N_K_C, *, generator) -> scores_N`` and
``select_from_scores(scores_N, batch_size, *, generator) -> Selection``
(:class:`PointwiseStrategy`), with ``select(lp, b, generator=g) ==
select_from_scores(score(lp, generator=g), b, generator=g)``. The scores of a pool input
do not depend on the other pool inputs, so a caller can score a large pool chunk by chunk
(never holding ``[N, K, C]``), concatenate, and select once. :func:`is_pointwise` says
whether a strategy can be used that way. EPIG is pointwise *given* the target log-probs:
its ``score`` also takes ``log_probs_target_M_K_C=``, and
``is_pointwise(strategy, given_target=True)`` is True for it. The caller's recipe::

    inputs = strategy_inputs(strategy)
    if is_pointwise(strategy, given_target=True):
        extra = {}
        if TARGET_LOG_PROBS in inputs:          # computed once, for the whole pool
            extra["log_probs_target_M_K_C"] = log_probs_target_M_K_C
        scores_N = torch.cat(
            [strategy.score(chunk_n_K_C, generator=g, **extra) for chunk_n_K_C in chunks]
        )
        selection = strategy.select_from_scores(scores_N, batch_size, generator=g)
    else:                                       # joint methods: the whole [N, K, C]
        selection = strategy.select(log_probs_N_K_C, batch_size, generator=g, ...)

``isinstance(strategy, PointwiseStrategy)`` equals ``is_pointwise(strategy)`` (no target).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Protocol, TypeGuard, runtime_checkable

import torch
from torch import Tensor

from bayesal.errors import InvalidInputError

__all__ = [
    "EMBEDDINGS",
    "LABELLED_EMBEDDINGS",
    "POOL_LOG_PROBS",
    "TARGET_LOG_PROBS",
    "PointwiseStrategy",
    "Score",
    "Selection",
    "Selector",
    "Strategy",
    "is_pointwise",
    "strategy_inputs",
]

#: Input name: the pool's log-probabilities ``log_probs_N_K_C`` ``[N, K, C]``.
POOL_LOG_PROBS = "pool_log_probs"
#: Input name: target inputs' log-probabilities ``log_probs_target_M_K_C`` ``[M, K, C]``
#: under the same K parameter samples as the pool (EPIG).
TARGET_LOG_PROBS = "target_log_probs"
#: Input name: embeddings of the pool inputs ``embeddings_N_D`` ``[N, D]`` (embedding
#: methods: BADGE, coreset, TypiClust), passed to ``select`` as ``embeddings_N_D=``.
EMBEDDINGS = "embeddings"
#: Input name: embeddings of the labelled inputs ``labelled_embeddings_L_D`` ``[L, D]``
#: (coreset, TypiClust; ``L = 0`` allowed), passed to ``select`` as
#: ``labelled_embeddings_L_D=``.
LABELLED_EMBEDDINGS = "labelled_embeddings"


@dataclass(frozen=True)
class Selection:
    """A chosen batch: ``indices_B`` are positions along N of the scored tensor, in pick
    order; ``scores_B`` is the score of each pick (the greedy joint score for batch
    methods)."""

    indices_B: Tensor
    scores_B: Tensor


@runtime_checkable
class Strategy(Protocol):
    """A named way to choose ``batch_size`` of N scored inputs.

    Built-in strategies also declare ``inputs: frozenset[str]`` (see the module docstring
    and :func:`strategy_inputs`); it is optional for third-party strategies. Strategies
    that read embeddings also take ``embeddings_N_D=`` / ``labelled_embeddings_L_D=``
    keyword arguments in ``select`` (see the module docstring).
    """

    # Read-only members: a plain attribute, a frozen dataclass field or a property meets them.
    @property
    def name(self) -> str:
        """The registry name."""
        ...

    @property
    def needs_target(self) -> bool:
        """True when the strategy also needs ``log_probs_target_M_K_C`` (EPIG)."""
        ...

    def select(
        self,
        log_probs_N_K_C: Tensor,
        batch_size: int,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
    ) -> Selection:
        """Choose ``batch_size`` distinct positions along N."""
        ...


class _PointwiseMeta(type(Protocol)):  # type: ignore[misc]
    """``isinstance(s, PointwiseStrategy)`` is :func:`is_pointwise` (``s`` needs no target):
    having ``score`` is not enough when the score also reads target log-probs."""

    def __instancecheck__(cls, instance: object) -> bool:
        if cls is PointwiseStrategy:
            return is_pointwise(instance)
        return bool(super().__instancecheck__(instance))


@runtime_checkable
class PointwiseStrategy(Strategy, Protocol, metaclass=_PointwiseMeta):
    """A strategy whose batch depends on the pool only through one score per input.

    The loop can then score a large pool chunk by chunk (never holding the whole
    ``[N, K, C]``), concatenate the ``scores_N`` and select once at the end;
    ``select(log_probs, b, generator=g)`` equals
    ``select_from_scores(score(log_probs, generator=g), b, generator=g)``.
    ``isinstance(s, PointwiseStrategy)`` is ``is_pointwise(s)``: strategies whose score
    needs target log-probs (EPIG) are pointwise only given them, see :func:`is_pointwise`.
    """

    def score(self, log_probs_N_K_C: Tensor, *, generator: torch.Generator) -> Tensor:
        """``scores_N`` of shape ``[N]`` for ``log_probs_N_K_C`` of shape ``[N, K, C]``;
        higher = acquire first."""
        ...

    def select_from_scores(
        self, scores_N: Tensor, batch_size: int, *, generator: torch.Generator
    ) -> Selection:
        """Choose ``batch_size`` distinct positions along N from precomputed scores."""
        ...


@runtime_checkable
class Score(Protocol):
    """A pointwise score that declares its inputs (the score half of a composed strategy).

    ``__call__`` returns ``scores_N [N]`` for ``log_probs_N_K_C [N, K, C]``, higher =
    acquire first; row n depends only on row n of the pool (and on the targets, which are
    the same for every chunk), so the pool can be scored chunk by chunk. A plain function
    ``log_probs_N_K_C -> scores_N`` becomes a Score with
    :class:`~bayesal.acquisition.scored.FunctionScore`.
    """

    @property
    def inputs(self) -> frozenset[str]:
        """The tensors read: ``{POOL_LOG_PROBS}``, plus ``TARGET_LOG_PROBS`` for EPIG."""
        ...

    def __call__(
        self,
        log_probs_N_K_C: Tensor,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
    ) -> Tensor:
        """``scores_N [N]``."""
        ...


@runtime_checkable
class Selector(Protocol):
    """Turns pointwise scores into a batch (the selector half of a composed strategy):
    top-k (:class:`~bayesal.acquisition.scored.TopKSelector`) or a stochastic sample
    (:class:`~bayesal.acquisition.scored.StochasticSelector`)."""

    def __call__(
        self, scores_N: Tensor, batch_size: int, *, generator: torch.Generator
    ) -> Selection:
        """Choose ``batch_size`` distinct positions along N of ``scores_N [N]``."""
        ...


def strategy_inputs(strategy: object) -> frozenset[str]:
    """The inputs ``strategy`` reads (see the module docstring).

    Its ``inputs`` attribute when it has one; otherwise, for strategies that only say
    ``needs_target``, ``{POOL_LOG_PROBS}`` plus ``TARGET_LOG_PROBS`` when ``needs_target``
    is true.

    Raises:
        InvalidInputError: when ``inputs`` is a string or not an iterable of strings.
    """
    declared = getattr(strategy, "inputs", None)
    if declared is None:
        default = {POOL_LOG_PROBS}
        if getattr(strategy, "needs_target", False):
            default.add(TARGET_LOG_PROBS)
        return frozenset(default)
    name = getattr(strategy, "name", type(strategy).__name__)
    if isinstance(declared, str):
        raise InvalidInputError(
            f"strategy {name!r}: inputs must be a set of input names, got the string "
            f"{declared!r}; write inputs = frozenset({{{declared!r}}})."
        )
    try:
        inputs = frozenset(declared)
    except TypeError:
        raise InvalidInputError(
            f"strategy {name!r}: inputs must be a set of input names such as "
            f"{POOL_LOG_PROBS!r}, got {declared!r}."
        ) from None
    if not all(isinstance(item, str) for item in inputs):
        raise InvalidInputError(
            f"strategy {name!r}: inputs must be a set of strings, got {sorted(map(repr, inputs))}."
        )
    return inputs


def _accepts_keyword(function: object, keyword: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return any(
        p.kind is p.VAR_KEYWORD
        or (p.name == keyword and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        for p in parameters
    )


def is_pointwise(strategy: object, *, given_target: bool = False) -> TypeGuard[PointwiseStrategy]:
    """Whether the batch of ``strategy`` depends on the pool only through one score per
    input, so that a caller can score the pool chunk by chunk and select once.

    True when ``strategy`` is a :class:`Strategy` with callable ``score`` and
    ``select_from_scores`` and reads only the pool's log-probs. With
    ``given_target=True`` it may also read target log-probs, provided its ``score``
    takes them as ``log_probs_target_M_K_C=`` (EPIG: the targets are computed once and
    passed with every chunk).
    """
    if not isinstance(strategy, Strategy):
        return False
    score = getattr(strategy, "score", None)
    if not (callable(score) and callable(getattr(strategy, "select_from_scores", None))):
        return False
    inputs = strategy_inputs(strategy)
    if inputs <= {POOL_LOG_PROBS}:
        return True
    return (
        given_target
        and inputs <= {POOL_LOG_PROBS, TARGET_LOG_PROBS}
        and _accepts_keyword(score, "log_probs_target_M_K_C")
    )
