"""Coverage strategies for small budgets: ProbCover, and a strategy that moves from
coverage to an uncertainty score once the labels cover the pool.

* :func:`probcover`: Yehuda, Dekel, Hacohen and Weinshall (2022), "Active Learning
  Through a Covering Lens", NeurIPS. Balls of radius ``delta`` around the labelled
  points cover part of the embedding space; each pick is the unlabelled point whose ball
  holds the most uncovered points (greedy max coverage).
* :func:`purity_radius`: the paper's choice of ``delta``: the largest radius at which at
  least ``purity`` (0.95) of the balls hold points of one k-means cluster only (k = the
  number of classes).
* :class:`BudgetAwareStrategy` (``budget_aware``): ProbCover while the labelled points'
  balls cover less than ``switch_coverage`` of the scored pool, then an uncertainty
  score (BALD by default). The rule follows the paper's own diagnosis: ProbCover's gain
  comes from uncovered, pure regions; once the balls cover the pool, its picks are no
  better than random (their Fig. 4), while uncertainty scores need a model that is
  already right in most regions to be worth anything (Hacohen et al. 2022). Coverage is a
  pure function of the embeddings, so the switch needs no held-out data and no knowledge
  of the budget.

Embeddings: ``embeddings_N_D`` ``[N, D]`` for the scored pool rows and
``labelled_embeddings_L_D`` ``[L, D]`` (``L = 0`` allowed), Euclidean distances,
computed in blocks. Ties are broken by a random order drawn from ``generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from bayesal.acquisition._checks import check_batch_size, check_generator, check_log_probs
from bayesal.acquisition.base import (
    EMBEDDINGS,
    LABELLED_EMBEDDINGS,
    POOL_LOG_PROBS,
    TARGET_LOG_PROBS,
    Selection,
)
from bayesal.acquisition.embedding import (
    DEFAULT_DISTANCE_CHUNK_BUDGET,
    _check_embeddings,
    _check_labelled,
    _check_log_probs_rows,
    _check_positive_int,
    _compute_dtype,
    _missing,
    _random_rank,
    kmeans,
)
from bayesal.errors import InvalidInputError, UnknownStrategyError

__all__ = [
    "BudgetAwareStrategy",
    "ProbCoverStrategy",
    "coverage",
    "probcover",
    "purity_radius",
]


def _pairwise_blocks(
    a_M_D: Tensor, b_N_D: Tensor, chunk_budget: int
) -> Any:  # yields (start, squared distances [rows, N])
    b_sq = (b_N_D * b_N_D).sum(1)
    step = max(1, chunk_budget // max(1, len(b_N_D)))
    for start in range(0, len(a_M_D), step):
        a = a_M_D[start : start + step]
        d2 = (a * a).sum(1, keepdim=True) + b_sq[None, :] - 2.0 * (a @ b_N_D.T)
        yield start, d2.clamp_min_(0.0)


def purity_radius(
    points_M_D: Tensor,
    num_clusters: int,
    *,
    generator: torch.Generator,
    purity: float = 0.95,
    chunk_budget: int = DEFAULT_DISTANCE_CHUNK_BUDGET,
) -> float:
    """The largest ``delta`` at which at least ``purity`` of the points' ``delta``-balls
    hold only points of their own k-means cluster (Yehuda et al. 2022, Sec. 4.1).

    A ball around x is pure exactly when ``delta`` is below the distance from x to the
    nearest point of another cluster, ``d_other(x)``; so the answer is the
    ``(1 - purity)`` quantile of ``d_other`` (no grid search).

    Args:
        points_M_D: the points (labelled and pool together).
        num_clusters: k of k-means (the paper: the number of classes).
        generator: for the k-means seeding.
        purity: in (0, 1].
        chunk_budget: largest block of distances held at once (elements).

    Returns:
        ``delta`` (0.0 when the points form one cluster... of one point).
    """
    if not isinstance(purity, int | float) or not 0 < purity <= 1:
        raise InvalidInputError(f"purity must be in (0, 1], got {purity!r}")
    points = _check_embeddings(points_M_D, "points_M_D").to(_compute_dtype(points_M_D))
    k = min(_check_positive_int(num_clusters, "num_clusters"), len(points))
    if k < 2:
        return math.inf
    # 20 Lloyd iterations: the radius is a quantile over all points, and the clustering
    # only decides which neighbours count as "another cluster" (kmeans' cap is 100).
    labels_M = kmeans(
        points, k, generator=generator, max_iter=20, chunk_budget=chunk_budget
    ).assignments_M
    d_other_M = torch.empty(len(points), dtype=torch.float64)
    for start, d2 in _pairwise_blocks(points, points, chunk_budget):
        same = labels_M[start : start + len(d2), None] == labels_M[None, :]
        d2 = d2.masked_fill(same, math.inf)
        d_other_M[start : start + len(d2)] = d2.min(1).values.double().sqrt()
    return float(torch.quantile(d_other_M, 1.0 - purity))


def coverage(
    embeddings_N_D: Tensor,
    labelled_embeddings_L_D: Tensor,
    delta: float,
    *,
    chunk_budget: int = DEFAULT_DISTANCE_CHUNK_BUDGET,
) -> float:
    """The share of the N pool points within ``delta`` of some labelled point."""
    if len(labelled_embeddings_L_D) == 0 or len(embeddings_N_D) == 0:
        return 0.0
    covered = 0
    for _, d2 in _pairwise_blocks(embeddings_N_D, labelled_embeddings_L_D, chunk_budget):
        covered += int((d2 <= delta * delta).any(1).sum())
    return covered / len(embeddings_N_D)


def probcover(
    embeddings_N_D: Tensor,
    batch_size: int,
    *,
    generator: torch.Generator,
    labelled_embeddings_L_D: Tensor | None = None,
    delta: float | None = None,
    num_clusters: int = 10,
    purity: float = 0.95,
    chunk_budget: int = DEFAULT_DISTANCE_CHUNK_BUDGET,
) -> Selection:
    """ProbCover: greedy maximum coverage by ``delta``-balls (Yehuda et al. 2022).

    Every point (labelled or pool) covers the points within ``delta`` of it. Points the
    labelled set covers are covered from the start. Each pick is the unpicked pool point
    whose ball holds the most uncovered points (its score); its ball's points become
    covered. When nothing is left uncovered, the remaining picks are the unpicked points
    in a random order (score 0), as in the authors' code.

    Args:
        embeddings_N_D: ``[N, D]`` pool embeddings.
        batch_size: ``1 <= batch_size <= N``.
        generator: the source of randomness (k-means seeding, ties).
        labelled_embeddings_L_D: ``[L, D]`` labelled embeddings; None means L = 0.
        delta: the ball radius; None: :func:`purity_radius` of all points with
            ``num_clusters`` and ``purity``.
        num_clusters: k-means clusters for the radius (the number of classes).
        purity: the share of pure balls for the radius.
        chunk_budget: largest block of distances held at once (elements).

    Returns:
        :class:`Selection` (pick order; scores = newly covered points per pick).
    """
    check_generator(generator, "probcover")
    pool = _check_embeddings(embeddings_N_D, "embeddings_N_D")
    labelled = _check_labelled(labelled_embeddings_L_D, pool)
    N = len(pool)
    check_batch_size(batch_size, N)
    dtype = _compute_dtype(pool, labelled)
    pool, labelled = pool.to(dtype), labelled.to(dtype)
    if delta is None:
        delta = purity_radius(
            torch.cat([labelled, pool]),
            num_clusters,
            generator=generator,
            purity=purity,
            chunk_budget=chunk_budget,
        )
    elif not isinstance(delta, int | float) or not delta >= 0:
        raise InvalidInputError(f"delta must be a number >= 0, got {delta!r}")
    radius2 = float(delta) ** 2
    # Ball membership among the pool points, sparse: rows = ball centre, cols = covered.
    centres, members = [], []
    for start, d2 in _pairwise_blocks(pool, pool, chunk_budget):
        r, c = torch.nonzero(d2 <= radius2, as_tuple=True)
        centres.append(r + start)
        members.append(c)
    centre_E = torch.cat(centres)
    member_E = torch.cat(members)
    uncovered_N = torch.ones(N, dtype=torch.bool)
    if len(labelled):
        for start, d2 in _pairwise_blocks(pool, labelled, chunk_budget):
            uncovered_N[start : start + len(d2)] &= ~(d2 <= radius2).any(1)
    rank_N = _random_rank(N, generator, torch.device("cpu")).to(torch.float64)
    unpicked_N = torch.ones(N, dtype=torch.bool)
    indices: list[int] = []
    scores: list[float] = []
    for _ in range(batch_size):
        live = uncovered_N[member_E]
        degree_N = torch.zeros(N, dtype=torch.float64).index_add_(
            0, centre_E[live], torch.ones(int(live.sum()), dtype=torch.float64)
        )
        # Highest degree first, ties by the random rank (a fraction below 1).
        key = degree_N + rank_N / (N + 1)
        key[~unpicked_N] = -math.inf
        pick = int(key.argmax())
        indices.append(pick)
        scores.append(float(degree_N[pick]))
        unpicked_N[pick] = False
        uncovered_N[member_E[centre_E == pick]] = False
    return Selection(
        torch.tensor(indices, dtype=torch.long), torch.tensor(scores, dtype=torch.float64)
    )


def _embeddings(
    name: str, embeddings_N_D: Tensor | None, labelled_embeddings_L_D: Tensor | None
) -> tuple[Tensor, Tensor]:
    who = f"strategy {name!r}"
    if embeddings_N_D is None:
        raise _missing(who, "embeddings_N_D")
    if labelled_embeddings_L_D is None:
        raise _missing(who, "labelled_embeddings_L_D")
    pool = _check_embeddings(embeddings_N_D, "embeddings_N_D")
    return pool, _check_labelled(labelled_embeddings_L_D, pool)


def _check_fraction(name: str, value: object, *, allow_one: bool = True) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (0 < value <= 1 if allow_one else 0 < value < 1):  # type: ignore[operator]
        raise InvalidInputError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ProbCoverStrategy:
    """The strategy for :func:`probcover`, registered as ``probcover``. Reads the pool's
    and the labelled inputs' embeddings, not the log-probs (checked when given).

    Attributes:
        delta: a fixed radius (None: the purity radius each round).
        num_clusters: k-means clusters for the radius (set it to the number of classes).
        purity: see :func:`purity_radius`.
        chunk_budget: largest block of distances held at once (elements).
    """

    delta: float | None = None
    num_clusters: int = 10
    purity: float = 0.95
    chunk_budget: int = DEFAULT_DISTANCE_CHUNK_BUDGET
    name: str = field(default="probcover", init=False)
    inputs: ClassVar[frozenset[str]] = frozenset({EMBEDDINGS, LABELLED_EMBEDDINGS})

    def __post_init__(self) -> None:
        try:
            _check_positive_int(self.num_clusters, "num_clusters")
            _check_fraction("purity", self.purity)
            _check_positive_int(self.chunk_budget, "chunk_budget")
            if self.delta is not None and (
                not isinstance(self.delta, int | float) or not self.delta >= 0
            ):
                raise InvalidInputError(f"delta must be a number >= 0, got {self.delta!r}")
        except InvalidInputError as error:
            raise InvalidInputError(f"strategy {self.name!r}: {error}") from None

    @property
    def needs_target(self) -> bool:
        return TARGET_LOG_PROBS in self.inputs

    def select(
        self,
        log_probs_N_K_C: Tensor | None,
        batch_size: int,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
        embeddings_N_D: Tensor | None = None,
        labelled_embeddings_L_D: Tensor | None = None,
    ) -> Selection:
        check_generator(generator, f"strategy {self.name!r}")
        pool, labelled = _embeddings(self.name, embeddings_N_D, labelled_embeddings_L_D)
        if log_probs_N_K_C is not None:
            check_log_probs(log_probs_N_K_C)
        _check_log_probs_rows(log_probs_N_K_C, pool)
        return probcover(
            pool,
            batch_size,
            generator=generator,
            labelled_embeddings_L_D=labelled,
            delta=self.delta,
            num_clusters=self.num_clusters,
            purity=self.purity,
            chunk_budget=self.chunk_budget,
        )


@dataclass(frozen=True)
class BudgetAwareStrategy:
    """ProbCover until the labelled set covers ``switch_coverage`` of the scored pool at
    the purity radius, then ``late`` (registered as ``budget_aware``).

    Each round: ``delta = purity_radius(labelled + pool)``; ``coverage`` = share of the
    scored pool points within ``delta`` of a labelled point. Below ``switch_coverage``
    the batch is ProbCover's; from there on it is the ``late`` strategy's (any registered
    strategy that reads only the pool's log-probs: ``bald``, ``margin``, ``entropy``,
    ``power_bald``, ``batchbald``, ...). :attr:`last_phase` is not kept (the strategy is
    a pure function): the phase of a round is ``coverage < switch_coverage``, which
    :func:`coverage` recomputes.

    Attributes:
        late: the strategy after the switch (default ``bald``).
        switch_coverage: the coverage at which to switch, in (0, 1] (default 0.9).
        purity: see :func:`purity_radius`.
        chunk_budget: largest block of distances held at once (elements).
    """

    late: str = "bald"
    switch_coverage: float = 0.9
    purity: float = 0.95
    chunk_budget: int = DEFAULT_DISTANCE_CHUNK_BUDGET
    name: str = field(default="budget_aware", init=False)
    inputs: ClassVar[frozenset[str]] = frozenset({POOL_LOG_PROBS, EMBEDDINGS, LABELLED_EMBEDDINGS})

    def __post_init__(self) -> None:
        from bayesal.acquisition.base import strategy_inputs
        from bayesal.acquisition.registry import get_strategy  # registry imports this module

        try:
            _check_fraction("switch_coverage", self.switch_coverage)
            _check_fraction("purity", self.purity)
            _check_positive_int(self.chunk_budget, "chunk_budget")
            try:
                late = get_strategy(self.late) if isinstance(self.late, str) else None
            except UnknownStrategyError:
                late = None
            if late is None or strategy_inputs(late) != frozenset({POOL_LOG_PROBS}):
                raise InvalidInputError(
                    f"late must name a strategy that reads only the pool's log-probs "
                    f"(bald, margin, entropy, power_bald, batchbald, ...), got {self.late!r}"
                )
        except InvalidInputError as error:
            raise InvalidInputError(f"strategy {self.name!r}: {error}") from None
        object.__setattr__(self, "_late", late)

    @property
    def needs_target(self) -> bool:
        return False

    def select(
        self,
        log_probs_N_K_C: Tensor,
        batch_size: int,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
        embeddings_N_D: Tensor | None = None,
        labelled_embeddings_L_D: Tensor | None = None,
    ) -> Selection:
        check_generator(generator, f"strategy {self.name!r}")
        check_log_probs(log_probs_N_K_C)
        pool, labelled = _embeddings(self.name, embeddings_N_D, labelled_embeddings_L_D)
        _check_log_probs_rows(log_probs_N_K_C, pool)
        dtype = _compute_dtype(pool, labelled)
        pool, labelled = pool.to(dtype), labelled.to(dtype)
        delta = purity_radius(
            torch.cat([labelled, pool]),
            int(log_probs_N_K_C.shape[-1]),
            generator=generator,
            purity=self.purity,
            chunk_budget=self.chunk_budget,
        )
        covered = coverage(pool, labelled, delta, chunk_budget=self.chunk_budget)
        if covered < self.switch_coverage:
            check_batch_size(batch_size, len(pool))
            return probcover(
                pool,
                batch_size,
                generator=generator,
                labelled_embeddings_L_D=labelled,
                delta=delta,
                chunk_budget=self.chunk_budget,
            )
        late: Any = self._late  # type: ignore[attr-defined]
        selection: Selection = late.select(log_probs_N_K_C, batch_size, generator=generator)
        return selection
