"""Streaming top-k selects exactly what top_k selects on the whole score vector; the
prefilter's candidate set does not depend on how the pool was chunked or sharded."""

from __future__ import annotations

import pickle
import zlib

import pytest
import torch

from bayesal.acquisition.selection import top_k
from bayesal.errors import InvalidInputError
from bayesal.scoring.topk import BestCandidates, TopKCandidates, position_keys, select_top_k


def _splits(n: int, gen: torch.Generator) -> list[tuple[int, int]]:
    cuts = sorted(set(torch.randint(0, n + 1, (5,), generator=gen).tolist()) | {0, n})
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def _scores(n: int, kind: str, dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    if kind == "ties":  # few distinct values: ties at the k-th score
        return torch.randint(0, 4, (n,), generator=gen).to(dtype)
    if kind == "inf":
        s = torch.rand(n, generator=gen, dtype=torch.float64).to(dtype)
        s[torch.randint(0, n, (3,), generator=gen)] = float("inf")
        s[torch.randint(0, n, (n // 2,), generator=gen)] = float("-inf")
        return s
    if kind == "equal":
        return torch.zeros(n, dtype=dtype)
    return torch.rand(n, generator=gen, dtype=torch.float64).to(dtype)


@pytest.mark.parametrize("kind", ["random", "ties", "inf", "equal"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_streaming_top_k_equals_top_k_bit_for_bit(kind: str, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(zlib.crc32(f"{kind}{dtype}".encode()))
    for trial in range(20):
        n = int(torch.randint(1, 300, (1,), generator=gen))
        k = int(torch.randint(1, n + 1, (1,), generator=gen))
        scores = _scores(n, kind, dtype, gen)
        # Shards, each streamed in chunks, then merged.
        shards = []
        for a, b in _splits(n, gen):
            part = TopKCandidates(k)
            for c, d in _splits(b - a, gen):
                part.push(torch.arange(a + c, a + d), scores[a + c : a + d])
            shards.append(part)
        merged = TopKCandidates.merge(shards)
        assert len(merged) >= k
        expected = top_k(scores, k, generator=torch.Generator().manual_seed(trial))
        got = select_top_k(merged, n, k, generator=torch.Generator().manual_seed(trial))
        assert torch.equal(got.indices_B, expected.indices_B), (kind, n, k)
        assert torch.equal(got.scores_B, expected.scores_B)
        assert got.scores_B.dtype == dtype


def test_streaming_top_k_keeps_few_candidates_for_distinct_scores() -> None:
    scores = torch.rand(100_000, generator=torch.Generator().manual_seed(0))
    top = TopKCandidates(10)
    for a in range(0, len(scores), 4096):
        top.push(torch.arange(a, min(a + 4096, len(scores))), scores[a : a + 4096])
    assert len(top) == 10


def test_streaming_top_k_uses_the_generator_as_top_k_does() -> None:
    scores = torch.rand(50, generator=torch.Generator().manual_seed(1))
    top = TopKCandidates(5)
    top.push(torch.arange(50), scores)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    select_top_k(top, 50, 5, generator=g1)
    top_k(scores, 5, generator=g2)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


def test_top_k_candidates_pickle_and_reject_bad_input() -> None:
    top = TopKCandidates(2)
    top.push(torch.arange(4), torch.tensor([0.1, 0.5, 0.3, 0.5]))
    again = pickle.loads(pickle.dumps(top))
    assert torch.equal(again.positions, top.positions)
    again.push(torch.tensor([9]), torch.tensor([0.05]))  # below the threshold: dropped
    assert 9 not in again.positions.tolist()
    with pytest.raises(InvalidInputError, match="NaN"):
        top.push(torch.tensor([5]), torch.tensor([float("nan")]))
    with pytest.raises(InvalidInputError, match="k must be"):
        TopKCandidates(0)
    with pytest.raises(InvalidInputError, match="candidate"):
        select_top_k(TopKCandidates(3), 10, 3, generator=torch.Generator())
    with pytest.raises(InvalidInputError, match="larger than the pool"):
        select_top_k(top, 1, 2, generator=torch.Generator())


def _brute_best(scores: torch.Tensor, m: int, seed: int) -> list[int]:
    keys = position_keys(torch.arange(len(scores)), seed)
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), int(keys[i]), i))
    return order[:m]


@pytest.mark.parametrize("kind", ["random", "ties", "equal"])
def test_best_candidates_are_the_m_best_whatever_the_split(kind: str) -> None:
    gen = torch.Generator().manual_seed(3)
    for _ in range(15):
        n = int(torch.randint(1, 200, (1,), generator=gen))
        m = int(torch.randint(1, n + 1, (1,), generator=gen))
        scores = _scores(n, kind, torch.float32, gen)
        payload = torch.arange(n, dtype=torch.float32)[:, None, None].expand(n, 2, 3).clone()
        parts = []
        for a, b in _splits(n, gen):
            part = BestCandidates(m, seed=11)
            for c, d in _splits(b - a, gen):
                sl = slice(a + c, a + d)
                part.push(torch.arange(a + c, a + d), scores[sl], payload[sl])
            parts.append(part)
        merged = BestCandidates.merge(parts)
        positions, kept_scores, kept_payload = merged.in_position_order()
        assert positions.tolist() == sorted(_brute_best(scores, m, 11))
        assert torch.equal(kept_scores, scores[positions])
        assert torch.equal(kept_payload[:, 0, 0], positions.float())


def test_position_keys_are_seeded_and_split_free() -> None:
    a = position_keys(torch.arange(10), 5)
    assert torch.equal(a[3:7], position_keys(torch.arange(3, 7), 5))
    assert not torch.equal(a, position_keys(torch.arange(10), 6))
    assert bool((a >= 0).all())
