"""Chunked validation and scoring: the same bits and the same errors as one pass.

``check_log_probs`` and every pointwise score run chunk by chunk over N (bounded
temporaries). The chunk size is a module constant, patched small here so that chunk
boundaries (and a short tail merged into the chunk before it) are exercised on small
inputs; the reference is the same function with one chunk (the constant patched huge).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from bayesal.acquisition import (
    _chunks,
    available_strategies,
    check_log_probs,
    get_strategy,
    information,
    is_pointwise,
    scores,
)
from bayesal.acquisition._chunks import map_row_chunks, row_chunks
from bayesal.errors import InvalidInputError

ONE_CHUNK = 1 << 62

FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "least_confidence": scores.least_confidence,
    "margin": scores.margin,
    "entropy": scores.entropy,
    "variation_ratios": scores.variation_ratios,
    "mean_std": scores.mean_std,
    "bald": scores.bald,
    "mean_log_probs": information.mean_log_probs,
    "predictive_entropy": information.predictive_entropy,
    "expected_entropy": information.expected_entropy,
    "mutual_information": information.mutual_information,
}


def _log_probs(
    N: int, K: int, C: int, dtype: torch.dtype = torch.float32, seed: int = 0
) -> torch.Tensor:
    """Peaky log-probs with some exact zeros (-inf) and some rows whose samples agree."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(N, K, C, generator=g, dtype=torch.float64) * 4
    if C > 1:
        mask = torch.rand(N, K, C, generator=g) < 0.2
        mask[..., 0] = False  # one finite class per row
        logits = logits.masked_fill(mask, -math.inf)
    agree = torch.rand(N, generator=g) < 0.2
    logits[agree] = logits[agree][:, :1].expand(-1, K, -1)
    log_probs = torch.log_softmax(logits, dim=-1)
    if dtype in (torch.float16, torch.bfloat16):
        return log_probs.float().to(dtype)
    return log_probs.to(dtype)


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The tensor's bytes, so that NaN and -0.0 compare as bits."""
    return t.contiguous().view(torch.uint8)


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(_bits(a), _bits(b))


@pytest.fixture
def chunk_elements(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    def set_(elements: int) -> None:
        monkeypatch.setattr(_chunks, "CHUNK_ELEMENTS", elements)

    return set_


def _error(fn: Callable[[], object]) -> str | None:
    try:
        fn()
    except InvalidInputError as error:
        return str(error)
    return None


# --- the chunk layout -------------------------------------------------------------------


@pytest.mark.parametrize("N", [0, 1, 2, 5, 9, 10, 11, 100, 101])
@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("elements", [1, 12, 30, 1 << 20])
def test_row_chunks_cover_the_rows_in_order(
    N: int,
    threads: int,
    elements: int,
    chunk_elements: Callable[[int], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chunk_elements(elements)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    K, C = 2, 3
    bounds = row_chunks(torch.zeros(N, K, C))
    assert bounds[0][0] == 0
    assert bounds[-1][1] == N
    assert all(end == start for (_, end), (start, _) in zip(bounds, bounds[1:], strict=False))
    rows = max(elements // (K * C), threads)
    for start, end in bounds:
        # every chunk has at least `threads` rows (unless N is smaller), so that a
        # reduction splits its work along N as it does on the whole tensor
        assert end - start >= min(N, threads)
        assert end - start < 2 * rows or len(bounds) == 1
    if N > 2 * rows:
        assert len(bounds) > 1


def test_non_contiguous_input_is_one_chunk(chunk_elements: Callable[[int], None]) -> None:
    chunk_elements(1)
    strided = torch.zeros(3, 50, 4).transpose(0, 1)  # [50, 3, 4], not contiguous
    assert row_chunks(strided) == [(0, 50)]
    assert len(row_chunks(strided.contiguous())) > 1


def test_map_row_chunks_checks_each_chunk_before_computing_it(
    chunk_elements: Callable[[int], None],
) -> None:
    chunk_elements(8)
    x = torch.arange(40.0).reshape(10, 2, 2)
    seen: list[tuple[str, int]] = []

    def check(chunk: torch.Tensor) -> None:
        seen.append(("check", int(chunk[0, 0, 0])))

    def fn(chunk: torch.Tensor) -> torch.Tensor:
        seen.append(("fn", int(chunk[0, 0, 0])))
        return chunk.sum(dim=(1, 2))

    out = map_row_chunks(fn, x, check)
    assert torch.equal(out, x.sum(dim=(1, 2)))
    assert len(seen) > 2
    assert [kind for kind, _ in seen] == ["check", "fn"] * (len(seen) // 2)


# --- same bits --------------------------------------------------------------------------

SHAPES = [(1, 5, 3), (7, 3, 2), (37, 20, 10), (64, 17, 33), (50, 1, 5), (40, 8, 1)]
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
# Chunk budgets in elements: 1 (one row per chunk, or one per thread), and sizes that do
# not divide the row count.
BUDGETS = [1, 100, 997, 4096]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_function_gives_the_same_bits_chunked(
    shape: tuple[int, int, int], dtype: torch.dtype, chunk_elements: Callable[[int], None]
) -> None:
    log_probs = _log_probs(*shape, dtype=dtype, seed=sum(shape))
    chunk_elements(ONE_CHUNK)
    expected = {}
    for name, fn in FUNCTIONS.items():
        if name == "margin" and shape[2] < 2:
            continue
        expected[name] = fn(log_probs)
    for budget in BUDGETS:
        chunk_elements(budget)
        if budget == 1 and shape[0] > 1:
            assert len(row_chunks(log_probs)) > 1
        for name, reference in expected.items():
            assert _same_bits(FUNCTIONS[name](log_probs), reference), (name, budget)


POINTWISE = [name for name in available_strategies() if is_pointwise(get_strategy(name))]


def test_every_registered_pointwise_strategy_is_covered() -> None:
    assert {"random", "bald", "mean_std", "power_bald", "softmax_margin"} <= set(POINTWISE)


@pytest.mark.parametrize("name", POINTWISE)
def test_every_pointwise_strategy_scores_the_same_bits_chunked(
    name: str, chunk_elements: Callable[[int], None]
) -> None:
    strategy = get_strategy(name)
    for dtype in (torch.float32, torch.float64):
        log_probs = _log_probs(45, 6, 7, dtype=dtype, seed=3)
        chunk_elements(ONE_CHUNK)
        expected = strategy.score(log_probs, generator=torch.Generator().manual_seed(1))
        for budget in (1, 50, 300):
            chunk_elements(budget)
            assert len(row_chunks(log_probs)) > 1
            actual = strategy.score(log_probs, generator=torch.Generator().manual_seed(1))
            assert _same_bits(actual, expected), (name, dtype, budget)


def test_large_input_with_the_default_chunk_size_gives_the_same_bits(
    chunk_elements: Callable[[int], None],
) -> None:
    log_probs = _log_probs(2500, 50, 10, seed=11)  # 1.25M elements: two default chunks
    assert len(row_chunks(log_probs)) == 2
    chunked = {name: fn(log_probs) for name, fn in FUNCTIONS.items()}
    chunk_elements(ONE_CHUNK)
    for name, fn in FUNCTIONS.items():
        assert _same_bits(chunked[name], fn(log_probs)), name


def test_a_non_contiguous_input_gives_the_values_of_its_contiguous_copy() -> None:
    log_probs = _log_probs(30, 4, 5, dtype=torch.float64, seed=2)
    strided = log_probs.transpose(0, 1).contiguous().transpose(0, 1)
    assert not strided.is_contiguous()
    for name, fn in FUNCTIONS.items():
        torch.testing.assert_close(fn(strided), fn(log_probs), rtol=0, atol=1e-12, msg=name)


# --- same errors ------------------------------------------------------------------------


def _bad_inputs() -> dict[str, torch.Tensor]:
    base = _log_probs(40, 3, 4, seed=5)
    cases: dict[str, torch.Tensor] = {}
    x = base.clone()
    x[2, 0] += 0.5  # an early chunk fails its normalisation...
    x[39, 2, 3] = math.nan  # ...but a NaN in the last chunk is what gets reported
    cases["nan_after_unnormalised"] = x
    x = base.clone()
    x[1, 1] += 0.5
    x[38, 0, 0] = math.inf
    cases["inf_after_unnormalised"] = x
    x = base.clone()
    x[3, 1] += 0.2
    x[33, 2] += 0.7  # the worst row is in a later chunk
    cases["worst_row_late"] = x
    x = base.clone()
    x[5, 0] += 0.4
    x[30, 1] += 0.4  # equal deviations: the first one is reported
    cases["tie"] = x
    x = base.clone()
    x[20] = -math.inf  # all-zero probability rows
    x[1, 0] -= 0.1
    cases["all_minus_inf_rows"] = x
    x = base.clone()
    x[39, 2] += 1.0005e-3  # just over the tolerance, in the last row
    cases["just_over_the_tolerance"] = x
    cases["logits"] = base.exp() * 3
    cases["half_nan_late"] = base.half()
    cases["half_nan_late"][35, 0, 0] = math.nan
    return cases


@pytest.mark.parametrize("budget", [1, 24, 100, 1000])
@pytest.mark.parametrize("case", sorted(_bad_inputs()))
def test_errors_are_the_same_chunked(
    case: str, budget: int, chunk_elements: Callable[[int], None]
) -> None:
    log_probs = _bad_inputs()[case]
    chunk_elements(ONE_CHUNK)
    expected = _error(lambda: check_log_probs(log_probs))
    assert expected is not None
    chunk_elements(budget)
    assert _error(lambda: check_log_probs(log_probs)) == expected
    for fn in FUNCTIONS.values():
        assert _error(lambda fn=fn: fn(log_probs)) == expected


def test_errors_name_the_row_across_chunks(chunk_elements: Callable[[int], None]) -> None:
    chunk_elements(12)  # one row per chunk (or one per thread)
    cases = _bad_inputs()
    with pytest.raises(InvalidInputError, match="NaN"):
        check_log_probs(cases["nan_after_unnormalised"])
    with pytest.raises(InvalidInputError, match=r"\+inf"):
        check_log_probs(cases["inf_after_unnormalised"])
    with pytest.raises(InvalidInputError, match=r"\[n=33, k=2\]"):
        check_log_probs(cases["worst_row_late"])
    with pytest.raises(InvalidInputError, match=r"\[n=5, k=0\]"):
        check_log_probs(cases["tie"])
    with pytest.raises(InvalidInputError, match=r"\[n=20, k=0\] \|logsumexp over C\| = inf"):
        check_log_probs(cases["all_minus_inf_rows"])


def test_margin_reports_bad_values_before_too_few_classes(
    chunk_elements: Callable[[int], None],
) -> None:
    chunk_elements(1)
    one_class = torch.zeros(10, 2, 1)
    with pytest.raises(InvalidInputError, match="at least 2 classes"):
        scores.margin(one_class)
    one_class[9, 1, 0] = math.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        scores.margin(one_class)


def test_empty_pool_is_scored_as_before(chunk_elements: Callable[[int], None]) -> None:
    chunk_elements(1)
    empty = torch.empty(0, 3, 4)
    for name, fn in FUNCTIONS.items():
        out = fn(empty)
        assert out.shape[0] == 0, name
