"""The registry that finds acquisition strategies by name.

A strategy is looked up with ``get_strategy(name, **params)``. Every built-in strategy
except ``batchbald`` is a pointwise score composed with a selector
(:class:`~bayesal.acquisition.scored.ScoredStrategy`). Built-in names:

* ``random``, ``least_confidence``, ``margin``, ``entropy``, ``variation_ratios``,
  ``mean_std``, ``bald``: the top-k of that score
  (:class:`~bayesal.acquisition.scored.TopKStrategy`);
* ``power_<score>``, ``softmax_<score>``, ``softrank_<score>``: a stochastic batch drawn
  with weights from that score (:class:`~bayesal.acquisition.scored.StochasticStrategy`,
  Kirsch et al. 2023), for every score except ``random``; there is no ``power_margin``
  because margin scores are never positive. These accept ``temperature`` (default 1.0).
* ``batchbald``: greedy BatchBALD (:class:`~.batchbald.BatchBALDStrategy`, Kirsch et al.
  2019); accepts ``num_samples``, ``exact_budget``, ``chunk_budget``, ``prune``.
* ``epig``: top-k of EPIG (:class:`~.epig.EPIGStrategy`, Bickford Smith et al. 2023);
  reads target log-probs (``needs_target``); accepts ``chunk_budget``.
* ``power_epig``, ``softmax_epig``, ``softrank_epig``: a stochastic batch drawn with
  weights from EPIG (:class:`~.epig.StochasticEPIGStrategy`); reads target log-probs;
  accept ``temperature`` and ``chunk_budget``.
* ``badge``: k-means++ seeding on gradient embeddings (:class:`~.embedding.BADGEStrategy`,
  Ash et al. 2020); reads the pool's log-probs and embeddings (``embeddings_N_D=``).
* ``coreset``: greedy k-center (:class:`~.embedding.CoresetStrategy`, Sener & Savarese
  2018); reads pool and labelled embeddings (``embeddings_N_D=``,
  ``labelled_embeddings_L_D=``), not log-probs; accepts ``chunk_budget``.
* ``typiclust``: most typical point of the largest uncovered k-means cluster
  (:class:`~.embedding.TypiClustStrategy`, Hacohen et al. 2022); reads pool and labelled
  embeddings; accepts ``max_clusters``, ``min_cluster_size``, ``num_neighbours``,
  ``max_iter``, ``chunk_budget``.
* ``probcover``: greedy maximum coverage by purity-radius balls
  (:class:`~.coverage.ProbCoverStrategy`, Yehuda et al. 2022); reads pool and labelled
  embeddings; accepts ``delta``, ``num_clusters``, ``purity``, ``chunk_budget``.
* ``budget_aware``: ProbCover until the labels cover ``switch_coverage`` of the scored
  pool, then ``late`` (default ``bald``) (:class:`~.coverage.BudgetAwareStrategy`);
  reads the pool's log-probs and pool and labelled embeddings.

Adding a strategy is one call, e.g. ``register_strategy("my_method", MyStrategy)``, where
the factory (here a class) is called with the keyword parameters of :func:`get_strategy`
and returns an object satisfying :class:`~bayesal.acquisition.base.Strategy` (for a new
pointwise score, ``ScoredStrategy("my_method", my_score, TopKSelector())``). Factories
should pickle (module-level classes or functions, not lambdas) so that the grid runner
can ship them to workers. Strategies hold no random state: the ``torch.Generator`` is
passed to every ``select``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bayesal.acquisition import scores as _scores
from bayesal.acquisition.base import Strategy
from bayesal.acquisition.batchbald import BatchBALDStrategy
from bayesal.acquisition.coverage import BudgetAwareStrategy, ProbCoverStrategy
from bayesal.acquisition.embedding import BADGEStrategy, CoresetStrategy, TypiClustStrategy
from bayesal.acquisition.epig import (
    DEFAULT_EPIG_CHUNK_BUDGET,
    EPIGStrategy,
    StochasticEPIGStrategy,
)
from bayesal.acquisition.scored import ScoreFn, StochasticStrategy, TopKStrategy
from bayesal.acquisition.stochastic import STOCHASTIC_MODES, StochasticMode
from bayesal.errors import InvalidInputError, UnknownStrategyError
from bayesal.registry import Registry

__all__ = [
    "STRATEGIES",
    "StochasticStrategy",
    "TopKStrategy",
    "available_strategies",
    "get_strategy",
    "register_strategy",
    "unregister_strategy",
]


# Factories are small classes rather than closures, so that strategies pickle (the grid
# runner ships them to worker processes).
@dataclass(frozen=True)
class _TopKFactory:
    name: str
    score_fn: ScoreFn
    score_uses_generator: bool

    def __call__(self) -> TopKStrategy:
        return TopKStrategy(self.name, self.score_fn, self.score_uses_generator)


@dataclass(frozen=True)
class _StochasticFactory:
    name: str
    score_fn: ScoreFn
    mode: StochasticMode
    score_uses_generator: bool

    def __call__(self, *, temperature: float = 1.0) -> StochasticStrategy:
        return StochasticStrategy(
            self.name, self.score_fn, self.mode, temperature, self.score_uses_generator
        )


@dataclass(frozen=True)
class _StochasticEPIGFactory:
    mode: StochasticMode

    def __call__(
        self, *, temperature: float = 1.0, chunk_budget: int = DEFAULT_EPIG_CHUNK_BUDGET
    ) -> StochasticEPIGStrategy:
        return StochasticEPIGStrategy(self.mode, temperature, chunk_budget)


#: The strategy registry (see :mod:`bayesal.registry`): names and import paths.
STRATEGIES: Registry[Strategy] = Registry(
    "strategy", unknown_error=UnknownStrategyError, describe="acquisition strategy"
)


def register_strategy(
    name: str, factory: Callable[..., Strategy], *, overwrite: bool = False
) -> None:
    """Make ``get_strategy(name, **params)`` return ``factory(**params)``.

    Args:
        name: the strategy name used in configs and on the command line.
        factory: called with the keyword parameters given to :func:`get_strategy`; must
            return an object satisfying :class:`~bayesal.acquisition.base.Strategy`.
        overwrite: replace an existing registration instead of raising.

    Raises:
        InvalidInputError: for an empty name, a non-callable factory, or a name that is
            already registered without ``overwrite=True``.
    """
    STRATEGIES.register(name, factory, overwrite=overwrite)


def unregister_strategy(name: str) -> None:
    """Remove ``name`` from the registry.

    Raises:
        UnknownStrategyError: when ``name`` is not registered.
    """
    STRATEGIES.unregister(name)


def available_strategies() -> list[str]:
    """The registered strategy names, sorted."""
    return STRATEGIES.names()


def get_strategy(name: str, **params: object) -> Strategy:
    """The strategy registered as ``name`` (or at the import path ``package.module:factory``),
    built with ``params`` (e.g. ``temperature``).

    Raises:
        UnknownStrategyError: for a name that is not registered; the message lists the
            available names and suggests close matches.
        InvalidInputError: for parameters the strategy does not accept, an import path that
            does not import, or a factory that does not return a
            :class:`~bayesal.acquisition.base.Strategy`.
    """
    strategy = STRATEGIES.build(name, **params)
    if not isinstance(strategy, Strategy):
        raise InvalidInputError(
            f"the factory registered as {name!r} returned {type(strategy).__name__}, which "
            "does not satisfy the Strategy protocol (name, needs_target, select)."
        )
    return strategy


# (score function, uses generator, allowed stochastic modes)
_BUILTIN_SCORES: dict[str, tuple[ScoreFn, bool, tuple[StochasticMode, ...]]] = {
    "random": (_scores.random, True, ()),
    "least_confidence": (_scores.least_confidence, False, STOCHASTIC_MODES),
    # margin scores are <= 0, so s^β is undefined: no power_margin.
    "margin": (_scores.margin, False, ("softmax", "softrank")),
    "entropy": (_scores.entropy, False, STOCHASTIC_MODES),
    "variation_ratios": (_scores.variation_ratios, False, STOCHASTIC_MODES),
    "mean_std": (_scores.mean_std, False, STOCHASTIC_MODES),
    "bald": (_scores.bald, False, STOCHASTIC_MODES),
}


def _register_builtins() -> None:
    for score_name, (score_fn, uses_generator, modes) in _BUILTIN_SCORES.items():
        register_strategy(score_name, _TopKFactory(score_name, score_fn, uses_generator))
        for mode in modes:
            name = f"{mode}_{score_name}"
            register_strategy(name, _StochasticFactory(name, score_fn, mode, uses_generator))
    # BatchBALD and EPIG: the class is its own factory (its constructor's parameters are
    # the accepted ones, validated when it is built).
    register_strategy("batchbald", BatchBALDStrategy)
    register_strategy("epig", EPIGStrategy)
    for mode in STOCHASTIC_MODES:
        register_strategy(f"{mode}_epig", _StochasticEPIGFactory(mode))
    # Embedding strategies (they read embeddings_N_D=, and coreset / typiclust also
    # labelled_embeddings_L_D=, in select).
    register_strategy("badge", BADGEStrategy)
    register_strategy("coreset", CoresetStrategy)
    register_strategy("typiclust", TypiClustStrategy)
    register_strategy("probcover", ProbCoverStrategy)
    register_strategy("budget_aware", BudgetAwareStrategy)


_register_builtins()
STRATEGIES.mark_builtin()
