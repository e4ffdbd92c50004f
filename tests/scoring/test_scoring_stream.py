"""Streamed scoring selects what the in-memory path selects, bit for bit.

The in-memory path is the learner's original one: pointwise scores of every chunk
concatenated, then ``select_from_scores``; for other strategies the whole ``[N, K, C]``
(and EPIG's targets) then ``select``. The streamed path is
:func:`~bayesal.scoring.engine.plan_scoring` + :func:`~bayesal.scoring.stream.score_range`
over one range or many shards + :func:`~bayesal.scoring.engine.finish_selection`.

The fake posterior draw returns seeded random log-probs for the row ids it is given,
plus a tiny offset that depends on the chunk's length: a forward pass's float sums can
depend on its batch, and the streamed path must compute exactly the chunks the in-memory
path computes (a moved chunk boundary would change bits, and this test would see it).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from bayesal.acquisition import available_strategies, get_strategy
from bayesal.acquisition.base import (
    POOL_LOG_PROBS,
    TARGET_LOG_PROBS,
    Strategy,
    is_pointwise,
    strategy_inputs,
)
from bayesal.acquisition.epig import epig
from bayesal.data.source import ArrayInputs
from bayesal.errors import InvalidInputError
from bayesal.posterior.base import PosteriorDraw
from bayesal.scoring.engine import (
    finish_selection,
    plan_scoring,
    resolve_prefilter,
    score_is_deterministic,
    score_locally,
    uses_top_k_selector,
)
from bayesal.scoring.stream import (
    ScorePlan,
    ShardRange,
    epig_row_block,
    score_range,
    shard_ranges,
)

N_ROWS, K, C = 700, 6, 4


class TableDraw(PosteriorDraw):
    """Log-probs of row ids from a fixed random table, shifted by a function of the
    chunk length (so that chunking shows in the bits)."""

    def __init__(self, logits_R_K_C: Tensor) -> None:
        self.logits = logits_R_K_C

    @property
    def num_samples(self) -> int:
        return self.logits.shape[1]

    def log_probs(self, inputs_N: Tensor) -> Tensor:
        ids = inputs_N[:, 0].long()
        shift = 1e-3 * (len(inputs_N) % 7) / 7
        return torch.log_softmax(self.logits[ids] * (1 + shift), dim=-1)


def _setup(seed: int, dtype: torch.dtype = torch.float32) -> tuple[TableDraw, ArrayInputs]:
    gen = torch.Generator().manual_seed(seed)
    spread = torch.rand(N_ROWS, 1, 1, generator=gen, dtype=torch.float64) * 4
    logits = (torch.randn(N_ROWS, 1, C, generator=gen, dtype=torch.float64) * 2) + spread * (
        torch.randn(N_ROWS, K, C, generator=gen, dtype=torch.float64)
    )
    # Duplicate rows: exact score ties across the pool.
    logits[100:110] = logits[5]
    ids = np.arange(N_ROWS, dtype=np.float32)[:, None]
    return TableDraw(logits.to(dtype)), ArrayInputs(ids)


def _in_memory(
    draw: TableDraw,
    inputs: ArrayInputs,
    rows: np.ndarray,
    strategy: Strategy,
    batch: int,
    chunk: int,
    targets: Tensor | None,
    seed: int,
):
    gen = torch.Generator().manual_seed(seed)
    if is_pointwise(strategy):
        scores = torch.cat(
            [strategy.score(draw.log_probs(x), generator=gen) for x in inputs.batches(rows, chunk)]  # type: ignore[attr-defined]
        )
        return strategy.select_from_scores(scores, batch, generator=gen)  # type: ignore[attr-defined]
    lp = torch.cat([draw.log_probs(x) for x in inputs.batches(rows, chunk)])
    return strategy.select(lp, batch, generator=gen, log_probs_target_M_K_C=targets)


def _streamed(
    draw: TableDraw,
    inputs: ArrayInputs,
    rows: np.ndarray,
    strategy: Strategy,
    batch: int,
    chunk: int,
    targets: Tensor | None,
    seed: int,
    shards: int,
    prefilter: int | None = None,
):
    gen = torch.Generator().manual_seed(seed)
    plan = plan_scoring(
        strategy,
        num_items=len(rows),
        batch_size=batch,
        num_classes=C,
        chunk_size=chunk,
        num_targets=None if targets is None else len(targets),
        prefilter=prefilter,
        seed=seed,
    )
    if shards == 1:
        results = score_locally(
            draw, inputs, rows, plan, strategy, generator=gen, log_probs_target_M_K_C=targets
        )
    else:
        assert score_is_deterministic(strategy, plan)
        results = []
        for r in shard_ranges(plan, shards)[::-1]:  # any order, any place
            sub = rows[r.compute_start : r.compute_stop]
            results.append(
                score_range(
                    draw,
                    inputs,
                    sub,
                    plan,
                    r,
                    strategy,
                    generator=torch.Generator().manual_seed(99),
                    log_probs_target_M_K_C=targets,
                )
            )
    selection, _, _ = finish_selection(
        plan, results, strategy, batch, generator=gen, log_probs_target_M_K_C=targets
    )
    return selection, plan


# Every registered strategy that reads log-probs only (embedding strategies, which read
# features of the pool, are outside the learner's scoring path).
STRATEGIES = [
    s
    for s in available_strategies()
    if strategy_inputs(get_strategy(s)) <= {POOL_LOG_PROBS, TARGET_LOG_PROBS}
]


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_streams_to_the_in_memory_selection(name: str) -> None:
    params = {"num_samples": 500} if name == "batchbald" else {}
    strategy = get_strategy(name, **params)
    draw, inputs = _setup(seed=len(name))
    rng = np.random.default_rng(len(name))
    rows = np.sort(rng.choice(N_ROWS, 650, replace=False)).astype(np.int64)
    targets = None
    if getattr(strategy, "needs_target", False):
        targets = draw.log_probs(inputs.take(np.arange(37, dtype=np.int64)))
    for chunk in (64, 100, 650):
        for batch in (1, 7):
            want = _in_memory(draw, inputs, rows, strategy, batch, chunk, targets, seed=3)
            shard_counts = [1]
            plan = plan_scoring(
                strategy,
                num_items=len(rows),
                batch_size=batch,
                num_classes=C,
                chunk_size=chunk,
                num_targets=None if targets is None else len(targets),
                prefilter=None,
            )
            if score_is_deterministic(strategy, plan):
                shard_counts += [2, 3, 5]
            for shards in shard_counts:
                got, plan = _streamed(
                    draw, inputs, rows, strategy, batch, chunk, targets, seed=3, shards=shards
                )
                assert torch.equal(got.indices_B, want.indices_B), (name, chunk, batch, shards)
                assert torch.equal(got.scores_B, want.scores_B), (name, chunk, batch, shards)


def test_epig_streamed_in_its_row_blocks_gives_the_one_call_scores() -> None:
    draw, inputs = _setup(seed=1, dtype=torch.float32)
    rows = np.arange(N_ROWS, dtype=np.int64)
    lp = torch.cat([draw.log_probs(x) for x in inputs.batches(rows, 128)])
    targets = lp[:50].clone()
    strategy = get_strategy("softmax_epig", chunk_budget=16 * 50 * 9)  # blocks of 9 rows
    plan = plan_scoring(
        strategy,
        num_items=N_ROWS,
        batch_size=3,
        num_classes=C,
        chunk_size=128,
        num_targets=50,
        prefilter=None,
    )
    assert plan.mode == "scores" and plan.score_block == 9 == epig_row_block(16 * 50 * 9, 50, C)
    want = epig(lp, targets, chunk_budget=16 * 50 * 9)
    for shards in (1, 4):
        results = [
            score_range(
                draw,
                inputs,
                rows[r.compute_start : r.compute_stop],
                plan,
                r,
                strategy,
                generator=torch.Generator(),
                log_probs_target_M_K_C=targets,
            )
            for r in shard_ranges(plan, shards)
        ]
        got = torch.cat([r.scores for r in results if r.scores is not None])
        assert torch.equal(got, want)


def test_shard_ranges_cover_the_pool_in_whole_chunks_and_blocks() -> None:
    for n, chunk, block, shards in [
        (1000, 64, 64, 3),
        (1000, 64, 9, 4),
        (5, 64, 2, 3),
        (999, 10, 7, 7),
    ]:
        plan = ScorePlan("scores", n, chunk, block)
        ranges = shard_ranges(plan, shards)
        assert ranges[0].own_start == 0 and ranges[-1].own_stop == n
        for a, b in zip(ranges[:-1], ranges[1:], strict=True):
            assert a.own_stop == b.own_start
        for r in ranges:
            assert r.own_start % block == 0 and r.compute_start % chunk == 0
            assert r.compute_start <= r.own_start < r.own_stop <= r.compute_stop
            assert r.compute_stop % chunk == 0 or r.compute_stop == n
            assert r.compute_stop - r.own_stop < chunk + block
        assert len(ranges) <= shards


def test_prefilter_keeps_the_best_by_bald_and_does_not_depend_on_shards() -> None:
    draw, inputs = _setup(seed=4)
    rows = np.arange(N_ROWS, dtype=np.int64)
    strategy = get_strategy("batchbald", num_samples=300)
    picks = []
    for shards in (1, 3):
        selection, plan = _streamed(
            draw, inputs, rows, strategy, 5, 64, None, seed=2, shards=shards, prefilter=50
        )
        assert plan.mode == "prefilter" and plan.keep == 50
        picks.append(selection.indices_B)
    assert torch.equal(picks[0], picks[1])
    # With a candidate set as large as the pool, the prefilter is the exact selection.
    exact = _in_memory(draw, inputs, rows, strategy, 5, 64, None, seed=2)
    assert resolve_prefilter(N_ROWS, num_items=N_ROWS, fits=True, batch_size=5) is None
    full, _ = _streamed(draw, inputs, rows, strategy, 5, 64, None, seed=2, shards=1, prefilter=None)
    assert torch.equal(full.indices_B, exact.indices_B)
    # The candidates are the top 50 by BALD: every pick is among them.
    from bayesal.acquisition import bald

    lp = torch.cat([draw.log_probs(x) for x in inputs.batches(rows, 64)])
    top50 = set(torch.topk(bald(lp), 50).indices.tolist())
    assert set(picks[0].tolist()) <= top50


def test_resolve_prefilter_rules() -> None:
    assert resolve_prefilter("auto", num_items=10**6, fits=False, batch_size=10) == 2000
    assert resolve_prefilter("auto", num_items=10**6, fits=True, batch_size=10) is None
    assert resolve_prefilter("auto", num_items=1500, fits=False, batch_size=10) is None
    assert resolve_prefilter(100, num_items=1000, fits=True, batch_size=10) == 100
    assert resolve_prefilter(5, num_items=1000, fits=True, batch_size=10) == 10
    assert resolve_prefilter(None, num_items=10**6, fits=False, batch_size=10) is None
    for bad in (0, -1, 1.5, "all", True):
        with pytest.raises(InvalidInputError, match="prefilter"):
            resolve_prefilter(bad, num_items=10, fits=True, batch_size=1)  # type: ignore[arg-type]


def test_plans_by_strategy() -> None:
    assert uses_top_k_selector(get_strategy("bald"))
    assert not uses_top_k_selector(get_strategy("power_bald"))
    common = dict(num_items=100, batch_size=2, num_classes=C, chunk_size=10, num_targets=None)
    assert plan_scoring(get_strategy("bald"), prefilter=None, **common).mode == "top_k"
    assert plan_scoring(get_strategy("power_bald"), prefilter=None, **common).mode == "scores"
    assert plan_scoring(get_strategy("batchbald"), prefilter=None, **common).mode == "log_probs"
    assert plan_scoring(get_strategy("batchbald"), prefilter=20, **common).mode == "prefilter"
    random_plan = plan_scoring(get_strategy("random"), prefilter=None, **common)
    assert not score_is_deterministic(get_strategy("random"), random_plan)


def test_score_range_checks_its_rows() -> None:
    draw, inputs = _setup(seed=0)
    plan = ScorePlan("log_probs", 10, 4, 4)
    with pytest.raises(InvalidInputError, match="rows for positions"):
        score_range(
            draw,
            inputs,
            np.arange(3),
            plan,
            ShardRange(0, 10, 0, 10),
            None,
            generator=torch.Generator(),
        )
    with pytest.raises(InvalidInputError, match="needs the strategy"):
        score_range(
            draw,
            inputs,
            np.arange(10),
            ScorePlan("top_k", 10, 4, 4, keep=1),
            ShardRange(0, 10, 0, 10),
            None,
            generator=torch.Generator(),
        )
    with pytest.raises(InvalidInputError, match="unknown scoring mode"):
        ScorePlan("everything", 10, 4, 4)  # type: ignore[arg-type]
