"""Strategies composed of a pointwise score and a selector.

A :class:`ScoredStrategy` is ``(name, scorer, selector)``: the scorer turns
``log_probs_N_K_C [N, K, C]`` into ``scores_N [N]`` (higher = acquire first), the selector
turns ``scores_N`` into a batch. Every built-in strategy except BatchBALD is one:

* scorers: any function ``log_probs_N_K_C -> scores_N`` (wrapped in
  :class:`FunctionScore`; ``random`` also takes ``generator=``), and
  :class:`~bayesal.acquisition.epig.EPIGScore`, which also reads the target log-probs;
* selectors: :class:`TopKSelector` (:func:`~bayesal.acquisition.selection.top_k`) and
  :class:`StochasticSelector` (:func:`~bayesal.acquisition.stochastic.stochastic_batch`
  with ``mode`` and ``temperature``).

:class:`TopKStrategy`, :class:`StochasticStrategy` and, in
:mod:`~bayesal.acquisition.epig`, ``EPIGStrategy`` and ``StochasticEPIGStrategy`` are
ScoredStrategy subclasses that only keep the older constructors and attribute names.

A new pointwise score needs no class of its own::

    ScoredStrategy("my_score", my_score_fn, TopKSelector())
    ScoredStrategy("softmax_my_score", my_score_fn, StochasticSelector("softmax", 0.5))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from bayesal.acquisition._checks import check_batch_size, check_generator, check_temperature
from bayesal.acquisition.base import POOL_LOG_PROBS, TARGET_LOG_PROBS, Score, Selection, Selector
from bayesal.acquisition.selection import top_k
from bayesal.acquisition.stochastic import STOCHASTIC_MODES, StochasticMode, stochastic_batch
from bayesal.errors import InvalidInputError

__all__ = [
    "FunctionScore",
    "ScoreFn",
    "ScoredStrategy",
    "StochasticSelector",
    "StochasticStrategy",
    "TopKSelector",
    "TopKStrategy",
    "as_score",
]

#: A pointwise score ``log_probs_N_K_C -> scores_N``; ``random`` also takes ``generator=``.
ScoreFn = Callable[..., Tensor]


def _takes_generator(fn: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    parameter = parameters.get("generator")
    return parameter is not None and parameter.kind is not parameter.POSITIONAL_ONLY


@dataclass(frozen=True)
class FunctionScore:
    """A :class:`~bayesal.acquisition.base.Score` made of a plain function.

    Attributes:
        fn: ``log_probs_N_K_C [N, K, C] -> scores_N [N]``, higher = acquire first.
        uses_generator: True when ``fn`` takes ``generator=`` (``random``).
    """

    fn: ScoreFn
    uses_generator: bool = False
    #: A function of the pool's log-probs only.
    inputs: ClassVar[frozenset[str]] = frozenset({POOL_LOG_PROBS})

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise InvalidInputError(
                f"a score must be callable (log_probs_N_K_C -> scores_N), got {self.fn!r}."
            )

    def __call__(
        self,
        log_probs_N_K_C: Tensor,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
    ) -> Tensor:
        """``fn(log_probs_N_K_C)`` (with ``generator=`` when it uses one); the target
        log-probs are not read."""
        if self.uses_generator:
            return self.fn(log_probs_N_K_C, generator=generator)
        return self.fn(log_probs_N_K_C)


def as_score(score: Score | ScoreFn) -> Score:
    """``score`` itself when it declares ``inputs``, otherwise a :class:`FunctionScore`
    around it (passing ``generator=`` when its signature has that parameter).

    Raises:
        InvalidInputError: when ``score`` is not callable.
    """
    if callable(score) and getattr(score, "inputs", None) is not None:
        return score  # type: ignore[return-value]
    if not callable(score):
        raise InvalidInputError(
            f"a score must be callable (log_probs_N_K_C -> scores_N), got {score!r}."
        )
    return FunctionScore(score, _takes_generator(score))


@dataclass(frozen=True)
class TopKSelector:
    """The ``batch_size`` highest scores, ties broken at random with the generator; see
    :func:`~bayesal.acquisition.selection.top_k`."""

    def __call__(
        self, scores_N: Tensor, batch_size: int, *, generator: torch.Generator
    ) -> Selection:
        """Top ``batch_size`` of ``scores_N [N]``."""
        return top_k(scores_N, batch_size, generator=generator)


@dataclass(frozen=True)
class StochasticSelector:
    """A batch sampled without replacement with weights from the scores; see
    :func:`~bayesal.acquisition.stochastic.stochastic_batch` (Kirsch et al. 2023, TMLR).

    Attributes:
        mode: ``"power"`` (``s^β``), ``"softmax"`` (``exp(β s)``) or ``"softrank"``
            (``rank^(-β)``).
        temperature: ``> 0``; β = 1 / temperature. Default 1.0.

    Raises:
        InvalidInputError: for an unknown mode or a temperature that is not > 0.
    """

    mode: StochasticMode
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in STOCHASTIC_MODES:
            raise InvalidInputError(
                f"unknown stochastic mode {self.mode!r}; "
                f"choose one of {', '.join(STOCHASTIC_MODES)}."
            )
        check_temperature(self.temperature)

    def __call__(
        self, scores_N: Tensor, batch_size: int, *, generator: torch.Generator
    ) -> Selection:
        """Sample ``batch_size`` positions from ``scores_N [N]``."""
        return stochastic_batch(
            scores_N,
            batch_size,
            mode=self.mode,
            temperature=self.temperature,
            generator=generator,
        )


@dataclass(frozen=True)
class ScoredStrategy:
    """A strategy that is a pointwise score composed with a selector.

    ``select(lp, b, generator=g)`` is ``selector(scorer(lp, generator=g), b,
    generator=g)``. The scorer's ``inputs`` are the strategy's: a strategy whose scorer
    reads only the pool is a :class:`~bayesal.acquisition.base.PointwiseStrategy`; one
    whose scorer also reads target log-probs (EPIG) is pointwise given them
    (:func:`~bayesal.acquisition.base.is_pointwise` with ``given_target=True``): pass
    them to :meth:`score` with every chunk.

    Attributes:
        name: the registry name.
        scorer: a :class:`~bayesal.acquisition.base.Score`; a plain function
            ``log_probs_N_K_C -> scores_N`` is wrapped in :class:`FunctionScore`.
        selector: a :class:`~bayesal.acquisition.base.Selector`, e.g.
            :class:`TopKSelector` or :class:`StochasticSelector`.

    Raises:
        InvalidInputError: for an empty name, or a scorer or selector that is not callable.
    """

    name: str
    scorer: Score
    selector: Selector

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInputError(
                f"a strategy name must be a non-empty string, got {self.name!r}."
            )
        object.__setattr__(self, "scorer", as_score(self.scorer))  # frozen: set once, here
        if not callable(self.selector):
            raise InvalidInputError(
                f"strategy {self.name!r}: the selector must be callable "
                f"(scores_N, batch_size, *, generator) -> Selection, got {self.selector!r}."
            )

    @property
    def inputs(self) -> frozenset[str]:
        """The inputs read, those of the scorer (see :mod:`~bayesal.acquisition.base`)."""
        return frozenset(self.scorer.inputs)

    @property
    def needs_target(self) -> bool:
        """``TARGET_LOG_PROBS in inputs`` (kept for older callers)."""
        return TARGET_LOG_PROBS in self.inputs

    def _check_target(self, log_probs_target_M_K_C: Tensor | None) -> None:
        if log_probs_target_M_K_C is None and self.needs_target:
            raise InvalidInputError(
                f"strategy {self.name!r} needs log_probs_target_M_K_C: log-probs [M, K, C] of "
                "target inputs under the same K parameter samples as the pool."
            )

    def score(
        self,
        log_probs_N_K_C: Tensor,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
    ) -> Tensor:
        """``scores_N [N]`` of ``log_probs_N_K_C [N, K, C]``; safe to call chunk by chunk.

        Strategies that need a target (``needs_target``) score against
        ``log_probs_target_M_K_C [M, K, C]``, the same for every chunk; the others ignore it.
        """
        check_generator(generator, f"strategy {self.name!r}")
        self._check_target(log_probs_target_M_K_C)
        return self.scorer(
            log_probs_N_K_C, generator=generator, log_probs_target_M_K_C=log_probs_target_M_K_C
        )

    def select_from_scores(
        self, scores_N: Tensor, batch_size: int, *, generator: torch.Generator
    ) -> Selection:
        """The selector's batch of ``batch_size`` positions from ``scores_N [N]``."""
        return self.selector(scores_N, batch_size, generator=generator)

    def select(
        self,
        log_probs_N_K_C: Tensor,
        batch_size: int,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
    ) -> Selection:
        """Score ``log_probs_N_K_C [N, K, C]`` and select ``batch_size`` positions.

        ``log_probs_target_M_K_C`` is required when ``needs_target`` and ignored otherwise.
        """
        check_generator(generator, f"strategy {self.name!r}")
        self._check_target(log_probs_target_M_K_C)
        if isinstance(log_probs_N_K_C, Tensor) and log_probs_N_K_C.dim() == 3:
            check_batch_size(batch_size, log_probs_N_K_C.shape[0])  # before the scoring
        scores_N = self.score(
            log_probs_N_K_C, generator=generator, log_probs_target_M_K_C=log_probs_target_M_K_C
        )
        check_batch_size(batch_size, scores_N.shape[0])
        return self.select_from_scores(scores_N, batch_size, generator=generator)


class _FunctionScoreFields:
    """``score_fn`` / ``score_uses_generator`` of a strategy built on a
    :class:`FunctionScore` (the attributes of the classes before score + selector)."""

    scorer: Any

    @property
    def score_fn(self) -> ScoreFn:
        """The wrapped score function."""
        return self.scorer.fn  # type: ignore[no-any-return]

    @property
    def score_uses_generator(self) -> bool:
        """True when the score function takes ``generator=``."""
        return self.scorer.uses_generator  # type: ignore[no-any-return]


class StochasticSelectorFields:
    """``mode`` / ``temperature`` of a strategy built on a :class:`StochasticSelector`."""

    selector: Any

    @property
    def mode(self) -> StochasticMode:
        """The stochastic mode of the selector."""
        return self.selector.mode  # type: ignore[no-any-return]

    @property
    def temperature(self) -> float:
        """The temperature of the selector."""
        return self.selector.temperature  # type: ignore[no-any-return]


class TopKStrategy(_FunctionScoreFields, ScoredStrategy):
    """Acquire the ``batch_size`` highest scores of a pointwise score (ties: at random).

    ``TopKStrategy(name, score_fn)`` is ``ScoredStrategy(name, FunctionScore(score_fn),
    TopKSelector())``.

    Args:
        name: the registry name.
        score_fn: ``log_probs_N_K_C [N, K, C] -> scores_N [N]``, higher = acquire first.
        score_uses_generator: True when ``score_fn`` takes ``generator=`` (``random``).
    """

    def __init__(self, name: str, score_fn: ScoreFn, score_uses_generator: bool = False) -> None:
        super().__init__(name, FunctionScore(score_fn, score_uses_generator), TopKSelector())


class StochasticStrategy(_FunctionScoreFields, StochasticSelectorFields, ScoredStrategy):
    """Sample a batch without replacement with weights from a pointwise score.

    ``StochasticStrategy(name, score_fn, mode, temperature)`` is
    ``ScoredStrategy(name, FunctionScore(score_fn), StochasticSelector(mode, temperature))``;
    see :func:`~.stochastic.stochastic_batch` (Kirsch et al. 2023, TMLR).

    Args:
        name: the registry name.
        score_fn: ``log_probs_N_K_C [N, K, C] -> scores_N [N]``, higher = acquire first.
        mode: ``"power"``, ``"softmax"`` or ``"softrank"``.
        temperature: ``> 0``; β = 1 / temperature. Default 1.0.
        score_uses_generator: True when ``score_fn`` takes ``generator=``.

    Raises:
        InvalidInputError: for an unknown mode or a temperature that is not > 0.
    """

    def __init__(
        self,
        name: str,
        score_fn: ScoreFn,
        mode: StochasticMode,
        temperature: float = 1.0,
        score_uses_generator: bool = False,
    ) -> None:
        if mode not in STOCHASTIC_MODES:
            raise InvalidInputError(
                f"unknown stochastic mode {mode!r} for strategy {name!r}; "
                f"choose one of {', '.join(STOCHASTIC_MODES)}."
            )
        super().__init__(
            name,
            FunctionScore(score_fn, score_uses_generator),
            StochasticSelector(mode, temperature),
        )
