"""Strategies as a score composed with a selector; declared inputs; pointwise scoring."""

from __future__ import annotations

import pickle

import pytest
import torch

from bayesal.acquisition import (
    EMBEDDINGS,
    LABELLED_EMBEDDINGS,
    POOL_LOG_PROBS,
    TARGET_LOG_PROBS,
    BatchBALDStrategy,
    EPIGScore,
    EPIGStrategy,
    FunctionScore,
    PointwiseStrategy,
    ScoredStrategy,
    Selection,
    StochasticEPIGStrategy,
    StochasticSelector,
    StochasticStrategy,
    TopKSelector,
    TopKStrategy,
    as_score,
    available_strategies,
    bald,
    epig,
    get_strategy,
    is_pointwise,
    random,
    stochastic_batch,
    strategy_inputs,
    top_k,
)
from bayesal.errors import InvalidInputError


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _log_probs(N: int = 12, K: int = 5, C: int = 3, seed: int = 0) -> torch.Tensor:
    logits = 2.0 * torch.randn(N, K, C, generator=_gen(seed), dtype=torch.float64)
    return torch.log_softmax(logits, dim=-1)


def test_constants() -> None:
    assert (POOL_LOG_PROBS, TARGET_LOG_PROBS, EMBEDDINGS, LABELLED_EMBEDDINGS) == (
        "pool_log_probs",
        "target_log_probs",
        "embeddings",
        "labelled_embeddings",
    )


#: Built-in joint strategies (not a score composed with a selector), with their inputs.
JOINT_INPUTS = {
    "batchbald": {POOL_LOG_PROBS},
    "badge": {POOL_LOG_PROBS, EMBEDDINGS},
    "coreset": {EMBEDDINGS, LABELLED_EMBEDDINGS},
    "typiclust": {EMBEDDINGS, LABELLED_EMBEDDINGS},
    "probcover": {EMBEDDINGS, LABELLED_EMBEDDINGS},
    "budget_aware": {POOL_LOG_PROBS, EMBEDDINGS, LABELLED_EMBEDDINGS},
}


@pytest.mark.parametrize("name", available_strategies())
def test_every_builtin_declares_its_inputs(name: str) -> None:
    strategy = get_strategy(name)
    assert isinstance(strategy.inputs, frozenset)
    assert strategy_inputs(strategy) == strategy.inputs
    target = name == "epig" or name.endswith("_epig")
    joint = name in JOINT_INPUTS
    if joint:
        expected = JOINT_INPUTS[name]
    else:
        expected = {POOL_LOG_PROBS, TARGET_LOG_PROBS} if target else {POOL_LOG_PROBS}
    assert strategy.inputs == expected
    assert strategy.needs_target is target
    # Every built-in but the joint ones is a score composed with a selector.
    assert isinstance(strategy, ScoredStrategy) is (not joint)
    assert is_pointwise(strategy) is (not joint and not target)
    assert is_pointwise(strategy, given_target=True) is (not joint)
    assert isinstance(strategy, PointwiseStrategy) is is_pointwise(strategy)


class _Legacy:
    """A third-party strategy written before ``inputs`` existed."""

    name = "legacy"

    def __init__(self, needs_target: bool) -> None:
        self.needs_target = needs_target

    def select(self, log_probs_N_K_C, batch_size, *, generator, log_probs_target_M_K_C=None):
        return Selection(torch.arange(batch_size), torch.zeros(batch_size))

    def score(self, log_probs_N_K_C, *, generator):
        return torch.zeros(log_probs_N_K_C.shape[0], dtype=torch.float64)

    def select_from_scores(self, scores_N, batch_size, *, generator):
        return top_k(scores_N, batch_size, generator=generator)


def test_inputs_of_strategies_that_only_say_needs_target() -> None:
    assert strategy_inputs(_Legacy(False)) == {POOL_LOG_PROBS}
    assert strategy_inputs(_Legacy(True)) == {POOL_LOG_PROBS, TARGET_LOG_PROBS}
    assert is_pointwise(_Legacy(False)) and isinstance(_Legacy(False), PointwiseStrategy)
    # Its score cannot take the targets, so it is not pointwise even given them.
    assert not is_pointwise(_Legacy(True), given_target=True)
    assert not isinstance(_Legacy(True), PointwiseStrategy)


def test_declared_inputs_win_and_are_checked() -> None:
    embedding = _Legacy(False)
    embedding.inputs = frozenset({POOL_LOG_PROBS, EMBEDDINGS})  # type: ignore[attr-defined]
    assert strategy_inputs(embedding) == {POOL_LOG_PROBS, EMBEDDINGS}
    assert not is_pointwise(embedding) and not is_pointwise(embedding, given_target=True)
    wrong = _Legacy(False)
    wrong.inputs = POOL_LOG_PROBS  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError, match="inputs must be a set"):
        strategy_inputs(wrong)
    assert not is_pointwise(object())


def test_composed_strategy_equals_the_legacy_classes() -> None:
    log_probs = _log_probs(N=30, seed=1)
    composed = ScoredStrategy("bald", bald, TopKSelector())
    legacy = TopKStrategy("bald", bald)
    assert (legacy.name, legacy.scorer, legacy.selector) == (
        composed.name,
        composed.scorer,
        composed.selector,
    )
    a = composed.select(log_probs, 5, generator=_gen(0))
    b = legacy.select(log_probs, 5, generator=_gen(0))
    assert torch.equal(a.indices_B, b.indices_B) and torch.equal(a.scores_B, b.scores_B)
    assert (legacy.score_fn, legacy.score_uses_generator) == (bald, False)
    stochastic = ScoredStrategy("softrank_bald", bald, StochasticSelector("softrank", 0.5))
    old = StochasticStrategy("softrank_bald", bald, "softrank", 0.5)
    a = stochastic.select(log_probs, 6, generator=_gen(3))
    b = old.select(log_probs, 6, generator=_gen(3))
    assert torch.equal(a.indices_B, b.indices_B) and torch.equal(a.scores_B, b.scores_B)
    assert (old.mode, old.temperature, old.score_fn) == ("softrank", 0.5, bald)
    assert isinstance(old, ScoredStrategy) and old.selector == StochasticSelector("softrank", 0.5)


def test_plain_functions_become_scores() -> None:
    assert as_score(bald) == FunctionScore(bald, uses_generator=False)
    assert as_score(random) == FunctionScore(random, uses_generator=True)
    score = EPIGScore(chunk_budget=100)
    assert as_score(score) is score
    # The generator is detected from the signature and passed on.
    strategy = ScoredStrategy("my_random", random, TopKSelector())
    log_probs = _log_probs()
    scores_N = strategy.score(log_probs, generator=_gen(4))
    assert torch.equal(scores_N, random(log_probs, generator=_gen(4)))
    got = get_strategy("random").select(log_probs, 3, generator=_gen(4))
    assert torch.equal(strategy.select(log_probs, 3, generator=_gen(4)).indices_B, got.indices_B)


def test_bad_parts_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="score must be callable"):
        ScoredStrategy("x", 3, TopKSelector())  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="selector must be callable"):
        ScoredStrategy("x", bald, "top_k")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="non-empty string"):
        ScoredStrategy("", bald, TopKSelector())
    with pytest.raises(InvalidInputError, match="unknown stochastic mode 'top'"):
        StochasticSelector("top")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="temperature"):
        StochasticSelector("power", temperature=-1.0)
    with pytest.raises(InvalidInputError, match="chunk_budget"):
        EPIGScore(chunk_budget=0)


def test_composed_strategies_pickle_and_compare() -> None:
    strategy = ScoredStrategy("softmax_bald", bald, StochasticSelector("softmax", 0.1))
    clone = pickle.loads(pickle.dumps(strategy))
    assert clone == strategy and type(clone) is ScoredStrategy
    assert get_strategy("power_epig", temperature=0.5) == StochasticEPIGStrategy("power", 0.5)
    assert get_strategy("epig") != get_strategy("power_epig")


@pytest.mark.parametrize("name", ["epig", "softrank_epig", "power_epig"])
def test_epig_scores_chunk_by_chunk_given_the_targets(name: str) -> None:
    pool = _log_probs(N=23, K=6, C=4, seed=5)
    target = _log_probs(N=9, K=6, C=4, seed=6)
    strategy = get_strategy(name)
    assert isinstance(strategy, EPIGStrategy | StochasticEPIGStrategy)
    generator = _gen(7)
    chunks = [
        strategy.score(chunk, generator=generator, log_probs_target_M_K_C=target)
        for chunk in pool.split(5)
    ]
    scores_N = torch.cat(chunks)
    assert torch.allclose(scores_N, epig(pool, target), rtol=0, atol=1e-12)
    split = strategy.select_from_scores(scores_N, 4, generator=generator)
    whole = strategy.select(pool, 4, generator=_gen(7), log_probs_target_M_K_C=target)
    assert torch.equal(split.indices_B, whole.indices_B)
    with pytest.raises(InvalidInputError, match="log_probs_target_M_K_C"):
        strategy.score(pool, generator=_gen(0))


def test_the_recipe_in_base_docstring() -> None:
    pool = _log_probs(N=40, K=6, C=3, seed=8)
    target = _log_probs(N=7, K=6, C=3, seed=9)
    embeddings = torch.randn(40, 3, generator=_gen(10), dtype=torch.float64)
    labelled = torch.randn(2, 3, generator=_gen(11), dtype=torch.float64)
    for name in available_strategies():
        strategy = get_strategy(name)
        inputs = strategy_inputs(strategy)
        # The recipe for strategies that read embeddings (base docstring).
        extra: dict[str, torch.Tensor] = {}
        if EMBEDDINGS in inputs:
            extra["embeddings_N_D"] = embeddings
        if LABELLED_EMBEDDINGS in inputs:
            extra["labelled_embeddings_L_D"] = labelled
        whole = strategy.select(
            pool if POOL_LOG_PROBS in inputs else None,
            5,
            generator=_gen(1),
            log_probs_target_M_K_C=target if strategy.needs_target else None,
            **extra,
        )
        assert len(set(whole.indices_B.tolist())) == 5
        if not is_pointwise(strategy, given_target=True):
            assert isinstance(strategy, BatchBALDStrategy) or EMBEDDINGS in inputs
            continue
        extra = {}
        if TARGET_LOG_PROBS in strategy_inputs(strategy):
            extra["log_probs_target_M_K_C"] = target
        generator = _gen(1)
        scores_N = torch.cat(
            [strategy.score(chunk, generator=generator, **extra) for chunk in pool.split(16)]
        )
        split = strategy.select_from_scores(scores_N, 5, generator=generator)
        if name != "random":  # random draws its scores per chunk from the generator
            assert torch.equal(split.indices_B, whole.indices_B), name


def test_stochastic_selector_is_stochastic_batch() -> None:
    scores_N = torch.rand(20, generator=_gen(0), dtype=torch.float64)
    got = StochasticSelector("power", 0.5)(scores_N, 4, generator=_gen(1))
    expected = stochastic_batch(scores_N, 4, mode="power", temperature=0.5, generator=_gen(1))
    assert torch.equal(got.indices_B, expected.indices_B)
    got = TopKSelector()(scores_N, 4, generator=_gen(1))
    assert torch.equal(got.indices_B, top_k(scores_N, 4, generator=_gen(1)).indices_B)
