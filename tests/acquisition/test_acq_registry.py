"""The strategy registry, and one suite that every registered strategy must pass."""

from __future__ import annotations

import math
import pickle

import pytest
import torch

from bayesal.acquisition import (
    EMBEDDINGS,
    LABELLED_EMBEDDINGS,
    POOL_LOG_PROBS,
    BADGEStrategy,
    BatchBALDStrategy,
    CoresetStrategy,
    EPIGStrategy,
    PointwiseStrategy,
    Selection,
    StochasticEPIGStrategy,
    StochasticStrategy,
    Strategy,
    TopKStrategy,
    TypiClustStrategy,
    available_strategies,
    bald,
    batchbald,
    epig,
    get_strategy,
    register_strategy,
    strategy_inputs,
    unregister_strategy,
)
from bayesal.errors import InvalidInputError, UnknownStrategyError

SCORE_NAMES = [
    "random",
    "least_confidence",
    "margin",
    "entropy",
    "variation_ratios",
    "mean_std",
    "bald",
]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _log_probs(N: int = 12, K: int = 5, C: int = 3, seed: int = 0) -> torch.Tensor:
    logits = 2.0 * torch.randn(N, K, C, generator=_gen(seed), dtype=torch.float64)
    return torch.log_softmax(logits, dim=-1)


def _embeddings(N: int = 12, D: int = 4, seed: int = 50) -> torch.Tensor:
    return torch.randn(N, D, generator=_gen(seed), dtype=torch.float64)


#: Registered strategies that read embeddings (``select(..., embeddings_N_D=...)``).
EMBEDDING_NAMES = [
    name for name in available_strategies() if EMBEDDINGS in strategy_inputs(get_strategy(name))
]


# ---------------------------------------------------------------- the registry itself


def test_builtin_names() -> None:
    expected = set(SCORE_NAMES)
    for score in SCORE_NAMES[1:]:
        expected |= {f"softmax_{score}", f"softrank_{score}"}
        if score != "margin":
            expected.add(f"power_{score}")
    names = available_strategies()
    assert names == sorted(names)
    assert set(names) >= expected
    assert {"power_epig", "softmax_epig", "softrank_epig"} <= set(names)
    assert "power_margin" not in names
    assert not any(name.endswith("_random") for name in names)


def test_topk_and_stochastic_kinds() -> None:
    assert isinstance(get_strategy("bald"), TopKStrategy)
    strategy = get_strategy("power_bald", temperature=0.25)
    assert isinstance(strategy, StochasticStrategy)
    assert (strategy.mode, strategy.temperature, strategy.score_fn) == ("power", 0.25, bald)
    assert get_strategy("softrank_margin").temperature == 1.0


def test_batch_and_target_strategies_are_registered() -> None:
    strategy = get_strategy("batchbald", num_samples=500, exact_budget=64, prune=False)
    assert isinstance(strategy, BatchBALDStrategy) and not isinstance(strategy, PointwiseStrategy)
    assert (strategy.num_samples, strategy.exact_budget, strategy.prune) == (500, 64, False)
    assert strategy.needs_target is False
    target_strategy = get_strategy("epig", chunk_budget=1000)
    assert isinstance(target_strategy, EPIGStrategy) and target_strategy.needs_target is True
    assert target_strategy.chunk_budget == 1000
    power = get_strategy("power_epig", temperature=0.5, chunk_budget=1000)
    assert isinstance(power, StochasticEPIGStrategy) and power.needs_target is True
    assert (power.mode, power.temperature, power.chunk_budget) == ("power", 0.5, 1000)


def test_registered_batchbald_and_epig_equal_the_functions() -> None:
    log_probs = _log_probs(N=20, K=6, C=3, seed=4)
    target = _log_probs(N=9, K=6, C=3, seed=5)
    # exact_budget 3^2 * 6 = 54 < 3^3 * 6: steps 1-3 exact, step 4 sampled.
    selection = get_strategy("batchbald", num_samples=300, exact_budget=54).select(
        log_probs, 4, generator=_gen(2)
    )
    expected = batchbald(log_probs, 4, num_samples=300, exact_budget=54, generator=_gen(2))
    assert torch.equal(selection.indices_B, expected.indices_B)
    assert torch.equal(selection.scores_B, expected.scores_B)
    chosen = get_strategy("epig").select(
        log_probs, 3, generator=_gen(0), log_probs_target_M_K_C=target
    )
    assert chosen.indices_B.tolist() == epig(log_probs, target).topk(3).indices.tolist()


@pytest.mark.parametrize(
    ("name", "params", "pattern"),
    [
        ("batchbald", {"num_samples": 0}, "num_samples must be a positive integer"),
        ("batchbald", {"exact_budget": 1.5e6}, "exact_budget must be a positive integer"),
        ("batchbald", {"chunk_budget": True}, "chunk_budget must be a positive integer"),
        ("batchbald", {"prune": "yes"}, "prune must be true or false"),
        ("batchbald", {"temperature": 1.0}, "accepted: num_samples, exact_budget"),
        ("epig", {"chunk_budget": -1}, "chunk_budget must be a positive integer"),
        ("epig", {"num_samples": 10}, "accepted: chunk_budget"),
        ("softrank_epig", {"temperature": -1.0}, "temperature"),
        ("power_epig", {"mode": "softmax"}, "accepted: temperature, chunk_budget"),
        ("badge", {"temperature": 1.0}, "accepted: none"),
        ("coreset", {"chunk_budget": 0}, "chunk_budget must be a positive integer"),
        ("typiclust", {"max_clusters": 0}, "max_clusters must be a positive integer"),
        ("typiclust", {"min_cluster_size": -1}, "min_cluster_size must be an integer >= 0"),
        ("typiclust", {"num_neighbours": 2.5}, "num_neighbours must be a positive integer"),
        ("typiclust", {"k": 3}, "accepted: max_clusters, min_cluster_size"),
    ],
)
def test_batch_strategy_parameters_are_checked_when_built(name, params, pattern) -> None:
    with pytest.raises(InvalidInputError, match=pattern):
        get_strategy(name, **params)


def test_unknown_name_lists_names_and_suggests_a_close_match() -> None:
    with pytest.raises(UnknownStrategyError) as info:
        get_strategy("badl")
    message = str(info.value)
    assert "unknown acquisition strategy 'badl'" in message
    assert "Did you mean 'bald'" in message
    assert "Available: badge, bald, batchbald, budget_aware, coreset, entropy, epig" in message
    assert isinstance(info.value, KeyError)  # old callers catching KeyError still work


def test_unknown_name_suggestion_ignores_case() -> None:
    with pytest.raises(UnknownStrategyError, match="Did you mean 'power_bald'"):
        get_strategy("POWER_BALD")


def test_unexpected_parameter() -> None:
    with pytest.raises(InvalidInputError, match=r"'bald' does not accept.*accepted: none"):
        get_strategy("bald", temperature=0.5)
    with pytest.raises(InvalidInputError, match="accepted: temperature"):
        get_strategy("softmax_entropy", beta=2.0)


def test_bad_temperature_fails_when_the_strategy_is_built() -> None:
    with pytest.raises(InvalidInputError, match="temperature must be a finite number > 0"):
        get_strategy("softmax_entropy", temperature=0.0)


class _FirstK:
    """A minimal custom strategy: the first ``batch_size`` positions."""

    name = "first_k"
    needs_target = False

    def select(self, log_probs_N_K_C, batch_size, *, generator, log_probs_target_M_K_C=None):
        indices_B = torch.arange(batch_size)
        return Selection(indices_B=indices_B, scores_B=torch.zeros(batch_size))


def test_register_a_strategy_in_one_call() -> None:
    register_strategy("first_k", _FirstK)
    try:
        assert "first_k" in available_strategies()
        strategy = get_strategy("first_k")
        assert isinstance(strategy, Strategy)
        assert not isinstance(strategy, PointwiseStrategy)
        assert strategy.select(_log_probs(), 2, generator=_gen(0)).indices_B.tolist() == [0, 1]
        with pytest.raises(InvalidInputError, match="already registered; pass overwrite=True"):
            register_strategy("first_k", _FirstK)
        register_strategy("first_k", lambda: _FirstK(), overwrite=True)
        assert isinstance(get_strategy("first_k"), _FirstK)
    finally:
        unregister_strategy("first_k")
    assert "first_k" not in available_strategies()


def test_register_validation() -> None:
    with pytest.raises(InvalidInputError, match="non-empty string"):
        register_strategy("  ", _FirstK)
    with pytest.raises(InvalidInputError, match="must be callable"):
        register_strategy("x_strategy", 3)  # type: ignore[arg-type]
    with pytest.raises(UnknownStrategyError, match="'never_registered'"):
        unregister_strategy("never_registered")


def test_factory_returning_a_non_strategy_is_reported() -> None:
    register_strategy("broken_strategy", lambda: object())
    try:
        with pytest.raises(InvalidInputError, match="does not satisfy the Strategy protocol"):
            get_strategy("broken_strategy")
    finally:
        unregister_strategy("broken_strategy")


def test_builtin_strategies_keep_their_name_and_pickle() -> None:
    for name in available_strategies():
        strategy = get_strategy(name)
        clone = pickle.loads(pickle.dumps(strategy))
        assert clone.name == name
        assert type(clone) is type(strategy)


# ------------------------------------------- the suite every registered strategy passes


@pytest.fixture(params=available_strategies())
def strategy(request: pytest.FixtureRequest) -> Strategy:
    return get_strategy(request.param)


def _select(strategy: Strategy, log_probs_N_K_C: torch.Tensor, batch_size: int, seed: int):
    """``strategy.select`` with the inputs it declares: target log-probs for EPIG, pool
    embeddings (one row per row of the log-probs, even malformed ones) and three labelled
    embeddings for the embedding strategies."""
    target = _log_probs(N=7, seed=99) if strategy.needs_target else None
    inputs = strategy_inputs(strategy)
    extra = {}
    if EMBEDDINGS in inputs:
        rows = log_probs_N_K_C.shape[0] if log_probs_N_K_C.dim() == 3 else 12
        extra["embeddings_N_D"] = _embeddings(N=rows)
    if LABELLED_EMBEDDINGS in inputs:
        extra["labelled_embeddings_L_D"] = _embeddings(N=3, seed=51)
    return strategy.select(
        log_probs_N_K_C,
        batch_size,
        generator=_gen(seed),
        log_probs_target_M_K_C=target,
        **extra,
    )


class TestEveryStrategy:
    def test_is_a_strategy(self, strategy: Strategy) -> None:
        assert isinstance(strategy, Strategy)
        assert isinstance(strategy.name, str) and strategy.name in available_strategies()
        assert isinstance(strategy.needs_target, bool)

    @pytest.mark.parametrize("batch_size", [1, 4, 12])
    def test_selects_distinct_positions(self, strategy: Strategy, batch_size: int) -> None:
        selection = _select(strategy, _log_probs(), batch_size, seed=0)
        assert isinstance(selection, Selection)
        indices = selection.indices_B.tolist()
        assert selection.indices_B.dtype == torch.int64
        assert len(indices) == batch_size == len(set(indices))
        assert all(0 <= i < 12 for i in indices)
        assert selection.scores_B.shape == (batch_size,)
        assert not torch.isnan(selection.scores_B).any()

    def test_seeded_reproducibility_without_global_rng(self, strategy: Strategy) -> None:
        log_probs = _log_probs()
        torch.manual_seed(0)
        state = torch.get_rng_state()
        first = _select(strategy, log_probs, 5, seed=3)
        again = _select(strategy, log_probs, 5, seed=3)
        assert torch.equal(first.indices_B, again.indices_B)
        assert torch.equal(first.scores_B, again.scores_B)
        assert torch.equal(torch.get_rng_state(), state)

    def test_float32_input(self, strategy: Strategy) -> None:
        selection = _select(strategy, _log_probs().float(), 3, seed=0)
        assert len(set(selection.indices_B.tolist())) == 3

    def test_pointwise_select_equals_score_then_select(self, strategy: Strategy) -> None:
        if not isinstance(strategy, PointwiseStrategy):
            pytest.skip("not a pointwise strategy")
        log_probs = _log_probs()
        generator = _gen(5)
        scores_N = strategy.score(log_probs, generator=generator)
        assert scores_N.shape == (12,)
        split = strategy.select_from_scores(scores_N, 4, generator=generator)
        whole = strategy.select(log_probs, 4, generator=_gen(5))
        assert torch.equal(split.indices_B, whole.indices_B)

    def test_pointwise_scores_chunk_by_chunk(self, strategy: Strategy) -> None:
        if not isinstance(strategy, PointwiseStrategy) or strategy.name == "random":
            pytest.skip("deterministic pointwise strategies only")
        log_probs = _log_probs(N=10)
        whole = strategy.score(log_probs, generator=_gen(0))
        chunks = [strategy.score(c, generator=_gen(0)) for c in log_probs.split(3)]
        assert torch.allclose(torch.cat(chunks), whole, rtol=0, atol=1e-12)

    @pytest.mark.parametrize(
        ("mutate", "pattern"),
        [
            (lambda lp: lp[0], r"shape \[N, K, C\]"),
            (lambda lp: lp.unsqueeze(0), r"shape \[N, K, C\]"),
            (lambda lp: lp.index_fill(2, torch.tensor([0]), math.nan), "NaN"),
            (lambda lp: lp.index_fill(2, torch.tensor([1]), math.inf), r"\+inf"),
            (lambda lp: lp + 0.1, "normalised log-probabilities"),
            (lambda lp: lp.exp(), "normalised log-probabilities"),
        ],
        ids=["rank2", "rank4", "nan", "posinf", "unnormalised", "probabilities"],
    )
    def test_rejects_bad_log_probs(self, strategy: Strategy, mutate, pattern: str) -> None:
        with pytest.raises(InvalidInputError, match=pattern):
            _select(strategy, mutate(_log_probs()), 2, seed=0)

    @pytest.mark.parametrize(
        ("batch_size", "pattern"),
        [(13, "batch size 13 is larger than the pool size 12"), (0, "at least 1, got 0")],
    )
    def test_rejects_bad_batch_size(self, strategy: Strategy, batch_size: int, pattern) -> None:
        with pytest.raises(InvalidInputError, match=pattern):
            _select(strategy, _log_probs(), batch_size, seed=0)

    def test_requires_a_generator(self, strategy: Strategy) -> None:
        with pytest.raises(InvalidInputError, match=r"torch\.Generator"):
            strategy.select(_log_probs(), 2, generator=None)  # type: ignore[arg-type]

    def test_declared_inputs_are_known_names(self, strategy: Strategy) -> None:
        known = {POOL_LOG_PROBS, "target_log_probs", EMBEDDINGS, LABELLED_EMBEDDINGS}
        assert strategy_inputs(strategy) <= known
        assert strategy_inputs(strategy)  # reads something


# ---------------------------------- what every strategy that reads embeddings also passes


def test_the_embedding_strategies_are_registered() -> None:
    assert {"badge", "coreset", "typiclust"} <= set(EMBEDDING_NAMES)
    assert isinstance(get_strategy("badge"), BADGEStrategy)
    assert isinstance(get_strategy("coreset", chunk_budget=64), CoresetStrategy)
    typiclust = get_strategy("typiclust", max_clusters=7, num_neighbours=3)
    assert isinstance(typiclust, TypiClustStrategy)
    assert (typiclust.max_clusters, typiclust.num_neighbours) == (7, 3)


@pytest.fixture(params=EMBEDDING_NAMES)
def embedding_strategy(request: pytest.FixtureRequest) -> Strategy:
    return get_strategy(request.param)


def _embedding_kwargs(strategy: Strategy, **overrides: object) -> dict[str, object]:
    inputs = strategy_inputs(strategy)
    kwargs: dict[str, object] = {"embeddings_N_D": _embeddings()}
    if LABELLED_EMBEDDINGS in inputs:
        kwargs["labelled_embeddings_L_D"] = _embeddings(N=3, seed=51)
    kwargs.update(overrides)
    return kwargs


class TestEveryEmbeddingStrategy:
    def test_is_not_pointwise(self, embedding_strategy: Strategy) -> None:
        assert not isinstance(embedding_strategy, PointwiseStrategy)
        assert embedding_strategy.needs_target is False

    def test_without_log_probs_when_it_does_not_read_them(
        self, embedding_strategy: Strategy
    ) -> None:
        kwargs = _embedding_kwargs(embedding_strategy)
        if POOL_LOG_PROBS in strategy_inputs(embedding_strategy):
            with pytest.raises(InvalidInputError, match="log_probs_N_K_C must be a torch"):
                embedding_strategy.select(None, 2, generator=_gen(0), **kwargs)
            return
        without = embedding_strategy.select(None, 4, generator=_gen(0), **kwargs)
        with_lp = embedding_strategy.select(_log_probs(), 4, generator=_gen(0), **kwargs)
        assert torch.equal(without.indices_B, with_lp.indices_B)

    def test_cold_start_with_no_labelled_points(self, embedding_strategy: Strategy) -> None:
        kwargs = _embedding_kwargs(embedding_strategy)
        if LABELLED_EMBEDDINGS in kwargs:
            kwargs["labelled_embeddings_L_D"] = torch.zeros(0, 4, dtype=torch.float64)
        selection = embedding_strategy.select(_log_probs(), 5, generator=_gen(1), **kwargs)
        assert len(set(selection.indices_B.tolist())) == 5

    def test_float32_embeddings(self, embedding_strategy: Strategy) -> None:
        kwargs = {
            key: value.float()  # type: ignore[union-attr]
            for key, value in _embedding_kwargs(embedding_strategy).items()
        }
        selection = embedding_strategy.select(_log_probs(), 4, generator=_gen(0), **kwargs)
        assert len(set(selection.indices_B.tolist())) == 4
        assert not torch.isnan(selection.scores_B).any()

    @pytest.mark.parametrize("missing", ["embeddings_N_D", "labelled_embeddings_L_D"])
    def test_missing_input_says_what_to_pass(
        self, embedding_strategy: Strategy, missing: str
    ) -> None:
        kwargs = _embedding_kwargs(embedding_strategy)
        if missing not in kwargs:
            pytest.skip(f"{embedding_strategy.name} does not read {missing}")
        del kwargs[missing]
        with pytest.raises(InvalidInputError, match=f"reads {missing}.*but got none; pass"):
            embedding_strategy.select(_log_probs(), 2, generator=_gen(0), **kwargs)

    @pytest.mark.parametrize(
        ("key", "value", "pattern"),
        [
            ("embeddings_N_D", _embeddings()[0], r"shape \[N, D\]"),
            ("embeddings_N_D", _embeddings()[None], r"shape \[N, D\]"),
            ("embeddings_N_D", _embeddings(N=11), "has 11 row"),
            ("embeddings_N_D", _embeddings()[:, :0], "at least one feature column"),
            ("embeddings_N_D", _embeddings().long(), "floating-point"),
            ("embeddings_N_D", _embeddings().tolist(), "must be a torch.Tensor"),
            ("embeddings_N_D", _embeddings().index_fill(0, torch.tensor([3]), math.nan), "NaN"),
            ("embeddings_N_D", _embeddings().index_fill(1, torch.tensor([0]), math.inf), "inf"),
            ("labelled_embeddings_L_D", _embeddings(N=3, D=5), "D = 5 column"),
            ("labelled_embeddings_L_D", _embeddings(N=3)[0], r"shape \[L, D\]"),
        ],
        ids=[
            "rank1",
            "rank3",
            "rows",
            "no-columns",
            "integer",
            "list",
            "nan",
            "inf",
            "labelled-width",
            "labelled-rank1",
        ],
    )
    def test_rejects_bad_embeddings(
        self, embedding_strategy: Strategy, key: str, value: object, pattern: str
    ) -> None:
        kwargs = _embedding_kwargs(embedding_strategy)
        if key not in kwargs:
            pytest.skip(f"{embedding_strategy.name} does not read {key}")
        kwargs[key] = value
        with pytest.raises(InvalidInputError, match=pattern):
            embedding_strategy.select(_log_probs(), 2, generator=_gen(0), **kwargs)
