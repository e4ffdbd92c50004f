"""Top-k over a pool that is scored piece by piece, without keeping every score.

Two candidate sets, both fed one scored chunk at a time (``push``) and mergeable across
shards (``merge``):

* :class:`TopKCandidates` keeps every position that can still be among the ``k`` best:
  those whose score is at least the ``k``-th best seen so far, *ties included*. From
  them :func:`select_top_k` returns exactly what
  :func:`~bayesal.acquisition.selection.top_k` returns on the whole ``scores_N``: the
  same positions in the same order and the same scores, for the same generator, because
  it draws the same tie-breaking permutation ``randperm(N)`` and reads it only at the
  candidates. Memory: ``O(k + ties)`` candidates plus, once at the end, the ``[N]``
  permutation (8 bytes per pool item; the scores themselves are never all held).
* :class:`BestCandidates` keeps exactly the ``m`` best rows under a strict order (score
  descending, then a seeded hash of the position, then the position), with a payload per
  row (the candidates' log-probs ``[m, K, C]``): the cheap first pass that chooses the
  candidate set of a joint strategy (BatchBALD). The hash breaks ties without favouring
  early positions and does not depend on how the pool was split into chunks or shards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from bayesal.acquisition._checks import check_batch_size, check_generator, check_scores
from bayesal.acquisition.base import Selection
from bayesal.errors import InvalidInputError

__all__ = ["BestCandidates", "TopKCandidates", "position_keys", "select_top_k"]

_MASK63 = (1 << 63) - 1


def position_keys(positions: Tensor, seed: int) -> Tensor:
    """A seeded pseudo-random int64 key in ``[0, 2^63)`` per pool position (splitmix64 of
    ``position ^ seed``): the same for a position whatever chunk or shard it is in."""
    with np.errstate(over="ignore"):
        x = positions.cpu().numpy().astype(np.uint64) ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return torch.from_numpy((x & np.uint64(_MASK63)).astype(np.int64))


@dataclass
class TopKCandidates:
    """Positions (into the scored pool) that may still be among the ``k`` highest scores.

    Every position with ``score >= kth`` is kept, where ``kth`` is the ``k``-th highest
    score pushed so far; so the final top ``k`` (with ties broken at random over the
    whole pool) is always among them.
    """

    k: int
    positions: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    scores: Tensor | None = None

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {self.k!r}")
        self._threshold: Tensor | None = None  # the k-th best score once k are held

    def __len__(self) -> int:
        return len(self.positions)

    def push(self, positions_n: Tensor, scores_n: Tensor) -> None:
        """Add a chunk's ``positions_n [n]`` (int64) and ``scores_n [n]`` (no NaN)."""
        check_scores(scores_n)
        scores_n = scores_n.detach().cpu()
        positions_n = positions_n.to(torch.int64).cpu()
        if self._threshold is not None:
            keep = scores_n >= self._threshold
            positions_n, scores_n = positions_n[keep], scores_n[keep]
            if len(positions_n) == 0:
                return
        if self.scores is None:
            self.positions, self.scores = positions_n.clone(), scores_n.clone()
        else:
            if scores_n.dtype != self.scores.dtype:
                raise InvalidInputError(
                    f"scores changed dtype between chunks ({self.scores.dtype} -> {scores_n.dtype})"
                )
            self.positions = torch.cat([self.positions, positions_n])
            self.scores = torch.cat([self.scores, scores_n])
        self._prune()

    def _prune(self) -> None:
        assert self.scores is not None
        if len(self.scores) < self.k:
            return
        kth = torch.topk(self.scores, self.k, sorted=False).values.min()
        self._threshold = kth
        keep = self.scores >= kth
        if not bool(keep.all()):
            self.positions, self.scores = self.positions[keep], self.scores[keep]

    @classmethod
    def merge(cls, parts: list[TopKCandidates]) -> TopKCandidates:
        """One candidate set from those of disjoint parts of the pool (shards)."""
        if not parts:
            raise InvalidInputError("nothing to merge")
        merged = cls(parts[0].k)
        for part in parts:
            if part.k != merged.k:
                raise InvalidInputError(f"cannot merge top-{part.k} into top-{merged.k}")
            if part.scores is not None and len(part):
                merged.push(part.positions, part.scores)
        return merged

    def __getstate__(self) -> dict[str, object]:
        return {"k": self.k, "positions": self.positions, "scores": self.scores}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._threshold = None
        if self.scores is not None:
            self._prune()


def select_top_k(
    candidates: TopKCandidates, num_items: int, k: int, *, generator: torch.Generator
) -> Selection:
    """``top_k(scores_N, k, generator=generator)`` of the whole pool from its candidates.

    ``num_items`` is N, the pool size the candidates were drawn from. Same checks, same
    use of the generator (one ``randperm(N)``), same positions in the same order and the
    same scores as :func:`~bayesal.acquisition.selection.top_k` on the full ``scores_N``.

    Raises:
        InvalidInputError: for ``k`` out of range, a missing generator, or fewer than
            ``k`` candidates.
    """
    check_generator(generator, "top_k")
    check_batch_size(k, num_items)
    if candidates.scores is None or len(candidates) < k:
        raise InvalidInputError(
            f"{len(candidates)} candidate(s) kept for a batch of {k}: push every chunk first"
        )
    # top_k: perm = randperm(N); stable sort of scores[perm], descending. Among equal
    # scores, the one earlier in perm comes first: order by (score desc, rank in perm).
    perm_N = torch.randperm(num_items, generator=generator, device=generator.device).cpu()
    rank_N = torch.empty_like(perm_N)
    rank_N[perm_N] = torch.arange(num_items, dtype=perm_N.dtype)
    rank_c = rank_N[candidates.positions]
    del perm_N, rank_N
    by_rank = torch.argsort(rank_c)
    scores_c = candidates.scores[by_rank]
    order = torch.sort(scores_c, descending=True, stable=True).indices[:k]
    indices_B = candidates.positions[by_rank][order]
    return Selection(indices_B=indices_B, scores_B=scores_c[order])


@dataclass
class BestCandidates:
    """The ``m`` best positions under a strict order, with a payload row each.

    Order: score descending, then :func:`position_keys` ascending, then position
    ascending; so the set does not depend on how the pool was chunked or sharded.
    ``payload`` rows (e.g. log-probs ``[m, K, C]``) travel with their positions.
    """

    m: int
    seed: int
    positions: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    scores: Tensor | None = None
    keys: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    payload: Tensor | None = None

    def __post_init__(self) -> None:
        if isinstance(self.m, bool) or not isinstance(self.m, int) or self.m < 1:
            raise InvalidInputError(f"the candidate set size must be >= 1, got {self.m!r}")

    def __len__(self) -> int:
        return len(self.positions)

    def push(
        self, positions_n: Tensor, scores_n: Tensor, payload_n: Tensor, keys_n: Tensor | None = None
    ) -> None:
        """Add a chunk: ``positions_n [n]``, ``scores_n [n]``, ``payload_n [n, ...]``."""
        check_scores(scores_n)
        positions_n = positions_n.to(torch.int64).cpu()
        scores_n = scores_n.detach().cpu()
        if keys_n is None:
            keys_n = position_keys(positions_n, self.seed)
        if self.scores is not None and len(self.scores) >= self.m:
            worst = self.scores.min()
            keep = scores_n >= worst  # a superset of the rows that enter the set
            if not bool(keep.any()):
                return
            if not bool(keep.all()):
                positions_n, scores_n, keys_n = positions_n[keep], scores_n[keep], keys_n[keep]
                payload_n = payload_n[keep]
        payload_n = payload_n.detach().cpu()
        if self.scores is None or self.payload is None:
            positions, scores, keys, payload = positions_n, scores_n, keys_n, payload_n
        else:
            positions = torch.cat([self.positions, positions_n])
            scores = torch.cat([self.scores, scores_n])
            keys = torch.cat([self.keys, keys_n])
            payload = torch.cat([self.payload, payload_n])
        # Lexicographic (score desc, key asc, position asc) by stable sorts, last key first.
        order = torch.argsort(positions, stable=True)
        order = order[torch.argsort(keys[order], stable=True)]
        order = order[torch.sort(scores[order], descending=True, stable=True).indices]
        order = order[: self.m]
        self.positions, self.scores = positions[order], scores[order]
        self.keys, self.payload = keys[order], payload[order]

    @classmethod
    def merge(cls, parts: list[BestCandidates]) -> BestCandidates:
        """The ``m`` best of the union of disjoint parts (shards)."""
        if not parts:
            raise InvalidInputError("nothing to merge")
        merged = cls(parts[0].m, parts[0].seed)
        for part in parts:
            if (part.m, part.seed) != (merged.m, merged.seed):
                raise InvalidInputError("cannot merge candidate sets of different settings")
            if part.scores is not None and part.payload is not None and len(part):
                merged.push(part.positions, part.scores, part.payload, part.keys)
        return merged

    def in_position_order(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(positions, scores, payload)`` sorted by position: a canonical order, the
        same however the pool was split."""
        if self.scores is None or self.payload is None:
            raise InvalidInputError("no candidate was pushed")
        order = torch.argsort(self.positions)
        return self.positions[order], self.scores[order], self.payload[order]
