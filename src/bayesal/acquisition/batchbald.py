"""BatchBALD: greedy batch acquisition by the joint mutual information of the batch labels.

Kirsch, van Amersfoort & Gal (2019), "BatchBALD: Efficient and Diverse Batch Acquisition for
Deep Bayesian Active Learning", NeurIPS.

With ``p_k(y_n) = exp(log_probs_N_K_C[n, k, y_n])`` the predictive of parameter sample θ_k
and θ uniform over the K samples, the BatchBALD score of a batch ``B = {x_1..x_b}`` is

    a(B) = I(y_1..y_b; θ) = H(y_1..y_b) - Σ_i (1/K) Σ_k H[p_k(y_i)],

with ``p(y_1..y_b) = (1/K) Σ_k Π_i p_k(y_i)``. It is submodular and non-decreasing, so the
batch is built greedily: at step b, pick the candidate n that maximises
``a(B ∪ {n}) = a(B) + H(y_n | y_B) - (1/K) Σ_k H[p_k(y_n)]``.

How the conditional entropy ``H(y_n | y_B)`` is computed. Write a *configuration* of the
chosen labels as ``y_B``, its weight ``v(y_B)`` and the posterior over parameter samples
``w_k(y_B) = Π_i p_k(y_i) / Σ_k' Π_i p_k'(y_i)``. Then

    H(y_n | y_B) = Σ_{y_B} v(y_B) H[Σ_k w_k(y_B) p_k(y_n)].

* Exact: all ``C^(b-1)`` configurations with ``v(y_B) = p(y_B)``, used while the table of
  joint log-probabilities ``[C^(b-1), K]`` has at most ``exact_budget`` entries.
* Sampled: ``num_samples`` configurations drawn from the joint predictive by ancestral
  sampling (θ index k first, stratified over the K samples, then each chosen label from
  ``p_k``), each with weight ``1/num_samples``; repeated configurations are merged. The
  estimate is unbiased for ``E_{y_B}[H(y_n | y_B = ·)]``. Later picks extend the same
  configurations with one more sampled label (valid because labels are independent given
  θ), so consecutive steps share their random numbers.

The score reported for pick b is ``a({x_1..x_b})`` accumulated by the chain rule
``a(B ∪ {n}) = a(B) + gain(n)``; in the exact regime this equals the joint MI exactly.

Numerics: the configuration table is kept in log space in float64 and turned into the
posteriors ``w_k`` with a softmax over k; the candidate mixtures ``Σ_k w_k p_k(y_n)`` are
one matrix product per candidate chunk in the compute dtype (float64 for float64 input,
float32 otherwise: relative error ~1e-6 nats, far below the gaps that decide a pick), and
scores accumulate in float64.

Speed: most candidates cannot win a step, and certified bounds show it cheaply (see
:class:`_Step`): a concavity (Jensen) upper bound and a lower bound computed on a table in
which most configurations are pooled, plus, in the exact regime, last step's gain, which
bounds this step's by submodularity (the lazy greedy of Minoux 1978, "Accelerated greedy
algorithms for maximizing submodular set functions"). Only candidates whose upper bound
reaches the best lower bound are evaluated exactly, so the picks and scores equal those of
evaluating every candidate (``prune=False``) up to round-off, in both regimes.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import torch
from torch import Tensor

from bayesal.acquisition._checks import check_batch_size, check_generator, check_log_probs
from bayesal.acquisition.base import POOL_LOG_PROBS, TARGET_LOG_PROBS, Selection
from bayesal.acquisition.information import _entropy_of_probs, _log_mean_exp
from bayesal.errors import InvalidInputError

__all__ = [
    "DEFAULT_CHUNK_BUDGET",
    "DEFAULT_EXACT_BUDGET",
    "BatchBALDStrategy",
    "batchbald",
    "exact_joint_entropy",
    "sampled_joint_entropy",
]

#: Largest exact table ``C^(b-1) * K`` (entries, float64: 8 MiB).
DEFAULT_EXACT_BUDGET = 2**20
#: Largest candidate intermediate ``[chunk, configurations, C]`` (elements).
DEFAULT_CHUNK_BUDGET = 2**20


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _compute_dtype(log_probs: Tensor) -> torch.dtype:
    return torch.float64 if log_probs.dtype == torch.float64 else torch.float32


@dataclass
class _Configurations:
    """Weighted configurations of the chosen labels.

    ``log_joint_U_K[u, k] = Σ_i log p_k(y_ui)`` (float64) and ``weights_U`` (float64, sums
    to 1); rows with probability 0 under every θ_k are dropped.
    """

    log_joint_U_K: Tensor
    weights_U: Tensor

    @cached_property
    def posterior64_U_K(self) -> Tensor:
        """``w_k(y_u)``: softmax over k of the log joint, float64 ``[U, K]``."""
        return torch.softmax(self.log_joint_U_K, dim=1)

    def posterior(self, dtype: torch.dtype) -> Tensor:
        """``w_k(y_u)`` in ``dtype``, ``[U, K]``."""
        return self.posterior64_U_K.to(dtype)

    @cached_property
    def pooling_order(self) -> tuple[Tensor, Tensor]:
        """Configurations by decreasing ``v_u (1 - max_k w_uk)``, and ``argmax_k w_uk``."""
        max_U, argmax_U = self.posterior64_U_K.max(dim=1)
        order_U = torch.argsort(self.weights_U * (1.0 - max_U), descending=True, stable=True)
        return order_U, argmax_U

    def entropy(self) -> Tensor:
        """``H(y_B) = -Σ_u v_u log p(y_u)`` (exact table) or its sample mean."""
        log_p_U = _log_mean_exp(self.log_joint_U_K, dim=1)
        return -(self.weights_U * log_p_U).sum()


def _exact_configurations(log_probs_B_K_C: Tensor) -> _Configurations:
    """All ``C^B`` configurations of B labels, weighted by ``p(y_1..y_B)``."""
    B, K, _ = log_probs_B_K_C.shape
    log_joint_U_K = torch.zeros(1, K, dtype=torch.float64, device=log_probs_B_K_C.device)
    for i in range(B):
        log_probs_C_K = log_probs_B_K_C[i].to(torch.float64).T
        # Row (u, c) of the new table is configuration u extended by y_i = c.
        log_joint_U_K = (log_joint_U_K[:, None, :] + log_probs_C_K[None, :, :]).reshape(-1, K)
        # A label impossible under every θ_k has p = 0: drop it (its softmax would be NaN).
        log_joint_U_K = log_joint_U_K[torch.isfinite(log_joint_U_K.max(dim=1).values)]
    log_p_U = _log_mean_exp(log_joint_U_K, dim=1)
    return _Configurations(log_joint_U_K, log_p_U.exp())


class _Particles:
    """``M`` sampled configurations: parameter index ``k_M`` and chosen labels ``labels_M_B``.

    Ancestral sampling from ``p(y_B) = (1/K) Σ_k Π_i p_k(y_i)``: k first (stratified: each
    index ``floor(M/K)`` times, the remainder without replacement), then every label
    independently from ``p_k``. A new chosen point only appends one label per particle.
    """

    def __init__(
        self, num_samples: int, K: int, generator: torch.Generator, device: torch.device
    ) -> None:
        repeats, remainder = divmod(num_samples, K)
        k_M = torch.arange(K, device=device).repeat(repeats)
        if remainder:
            extra = torch.randperm(K, generator=generator, device=generator.device)[:remainder]
            k_M = torch.cat([k_M, extra.to(device)])
        self.k_M = k_M
        self.labels_M_B = torch.empty(num_samples, 0, dtype=torch.long, device=device)
        # Each configuration as one integer (base C digits) while C^B fits in int64:
        # deduplicating integers is much faster than deduplicating rows.
        self.keys_M: Tensor | None = torch.zeros(num_samples, dtype=torch.long, device=device)
        self.generator = generator

    def append(self, log_probs_K_C: Tensor) -> None:
        """Sample one more label per particle from ``p_{k_m}`` (inverse CDF)."""
        probs_M_C = log_probs_K_C.to(torch.float64).exp()[self.k_M]
        cdf_M_C = probs_M_C.cumsum(dim=1)
        u_M = torch.rand(
            len(self.k_M),
            generator=self.generator,
            device=self.generator.device,
            dtype=torch.float64,
        ).to(cdf_M_C.device)
        # right=True: a class of probability 0 (flat CDF step) is never drawn.
        labels_M = torch.searchsorted(cdf_M_C, (u_M * cdf_M_C[:, -1])[:, None], right=True)
        labels_M = labels_M.clamp_max(cdf_M_C.shape[1] - 1)
        self.labels_M_B = torch.cat([self.labels_M_B, labels_M], dim=1)
        C, B = cdf_M_C.shape[1], self.labels_M_B.shape[1]
        if self.keys_M is not None and C**B < 2**62:
            self.keys_M = self.keys_M * C + labels_M[:, 0]
        else:
            self.keys_M = None

    def configurations(self, log_probs_B_K_C: Tensor) -> _Configurations:
        """Distinct sampled configurations with weights ``count / M``."""
        if self.keys_M is not None:
            keys_U, inverse_M, counts_U = torch.unique(
                self.keys_M, return_inverse=True, return_counts=True
            )
            # Any particle with the key gives the labels; scatter keeps one of them.
            first_U = torch.empty_like(keys_U).scatter_(
                0, inverse_M, torch.arange(len(inverse_M), device=inverse_M.device)
            )
            unique_U_B = self.labels_M_B[first_U]
        else:
            unique_U_B, counts_U = torch.unique(self.labels_M_B, dim=0, return_counts=True)
        B, K, _ = log_probs_B_K_C.shape
        log_joint_U_K = torch.zeros(
            len(unique_U_B), K, dtype=torch.float64, device=log_probs_B_K_C.device
        )
        for i in range(B):
            log_joint_U_K += log_probs_B_K_C[i].to(torch.float64).T[unique_U_B[:, i]]
        weights_U = counts_U.to(torch.float64) / len(self.k_M)
        return _Configurations(log_joint_U_K, weights_U)


def _conditional_entropies(
    posterior_U_K: Tensor,
    weights_R_U: Tensor,
    log_probs_n_K_C: Tensor,
) -> Tensor:
    """``Σ_u v_ru H[Σ_k w_uk p_k(y_n)]`` for R weight rows and n candidates, ``[R, n]`` float64.

    With ``v`` the configuration weights this is ``H(y_n | y_B)``; other rows give partial
    sums over a subset of the configurations (zero weight elsewhere).
    """
    n, K, C = log_probs_n_K_C.shape
    probs_K_nC = log_probs_n_K_C.to(posterior_U_K.dtype).exp().permute(1, 0, 2).reshape(K, n * C)
    mixture_U_nC = posterior_U_K @ probs_K_nC
    # 0 log 0 = 0: clamping inside the log leaves the product 0.
    terms_U_nC = mixture_U_nC.clamp_min(torch.finfo(mixture_U_nC.dtype).tiny).log_()
    terms_U_nC.mul_(mixture_U_nC)
    entropies_R_nC = -(weights_R_U.to(terms_U_nC.dtype) @ terms_U_nC)
    return entropies_R_nC.view(weights_R_U.shape[0], n, C).sum(dim=2).to(torch.float64)


def exact_joint_entropy(log_probs_B_K_C: Tensor) -> Tensor:
    """Exact joint entropy of B labels under the K-sample predictive, by enumeration.

    Equation: ``H(y_1..y_B) = -Σ_{y_1..y_B} p(y_1..y_B) log p(y_1..y_B)`` with
    ``p(y_1..y_B) = (1/K) Σ_k Π_i p_k(y_i)``; cost ``O(C^B K)``.

    Shapes: ``log_probs_B_K_C [B, K, C] -> scalar`` (float64, nats).

    Reference: Kirsch, van Amersfoort & Gal (2019), "BatchBALD", NeurIPS.
    """
    check_log_probs(log_probs_B_K_C, "log_probs_B_K_C")
    if log_probs_B_K_C.shape[0] == 0:
        return torch.zeros((), dtype=torch.float64)
    return _exact_configurations(log_probs_B_K_C).entropy()


def sampled_joint_entropy(
    log_probs_B_K_C: Tensor, num_samples: int, *, generator: torch.Generator
) -> Tensor:
    """Monte Carlo estimate of the joint entropy of B labels (the estimator BatchBALD uses).

    Equation: ``Ĥ = -(1/M) Σ_m log p(y^m_1..y^m_B)`` with ``M = num_samples``
    configurations ``y^m`` drawn by ancestral sampling (k stratified over the K samples,
    then ``y_i ~ p_k``) and ``p(y) = (1/K) Σ_k Π_i p_k(y_i)`` evaluated exactly. Unbiased;
    its standard error is ``sqrt(Var[-log p(y)] / M)``.

    Shapes: ``log_probs_B_K_C [B, K, C] -> scalar`` (float64, nats).

    Reference: Kirsch, van Amersfoort & Gal (2019), "BatchBALD", NeurIPS.
    """
    check_log_probs(log_probs_B_K_C, "log_probs_B_K_C")
    check_generator(generator, "sampled_joint_entropy")
    num_samples = _check_positive_int(num_samples, "num_samples")
    B, K, _ = log_probs_B_K_C.shape
    particles = _Particles(num_samples, K, generator, log_probs_B_K_C.device)
    for i in range(B):
        particles.append(log_probs_B_K_C[i])
    return particles.configurations(log_probs_B_K_C).entropy()


def batchbald(
    log_probs_N_K_C: Tensor,
    batch_size: int,
    *,
    num_samples: int = 10_000,
    generator: torch.Generator | None = None,
    exact_budget: int = DEFAULT_EXACT_BUDGET,
    chunk_budget: int = DEFAULT_CHUNK_BUDGET,
    prune: bool = True,
) -> Selection:
    """Greedy BatchBALD batch: maximise the joint mutual information of labels and θ.

    Equation: pick ``x_b = argmax_n a({x_1..x_(b-1)} ∪ {x_n})`` with
    ``a(B) = H(y_B) - Σ_{i∈B} (1/K) Σ_k H[p_k(y_i)]`` and
    ``p(y_B) = (1/K) Σ_k Π_{i∈B} p_k(y_i)``. See the module docstring for the exact and
    sampled joint entropies and the pruned search.

    Args:
        log_probs_N_K_C: ``log p(y = c | x_n, θ_k)``, shape ``[N, K, C]``; the K samples
            must be the same parameter draws for every input.
        batch_size: number of picks, ``1 <= batch_size <= N``.
        num_samples: configurations sampled once the exact table is over budget.
        generator: source of randomness for sampling; required only when a step is
            sampled (``C^(batch_size-1) * K > exact_budget``). The exact regime uses none.
        exact_budget: largest exact table ``C^(b-1) * K`` (entries) before sampling.
        chunk_budget: largest ``[chunk, configurations, C]`` intermediate (elements);
            memory stays ``O(chunk_budget + N K + num_samples K)`` beyond the input.
        prune: skip candidates whose certified upper bound cannot win (same picks and
            scores as ``prune=False``, which evaluates every candidate, up to round-off).

    Returns:
        :class:`Selection`: ``indices_B`` (int64 ``[batch_size]``, distinct, in pick order)
        and ``scores_B`` (float64 ``[batch_size]``), ``scores_B[b] = a({x_1..x_(b+1)})``,
        non-decreasing up to round-off and sampling noise, in ``[0, log K]``. Exact ties
        go to the lowest index; with ``K = 1`` every gain is 0 and the picks are
        ``0..batch_size-1``.

    Raises:
        InvalidInputError: for malformed log-probs (rank, NaN, not normalised), a batch
            size outside ``[1, N]``, a non-positive budget, or a missing generator when a
            step has to be sampled.

    Reference: Kirsch, van Amersfoort & Gal (2019), "BatchBALD: Efficient and Diverse
    Batch Acquisition for Deep Bayesian Active Learning", NeurIPS.
    """
    check_log_probs(log_probs_N_K_C)
    N, K, C = log_probs_N_K_C.shape
    check_batch_size(batch_size, N)
    num_samples = _check_positive_int(num_samples, "num_samples")
    exact_budget = _check_positive_int(exact_budget, "exact_budget")
    chunk_budget = _check_positive_int(chunk_budget, "chunk_budget")
    if generator is not None:
        check_generator(generator, "batchbald")
    if C ** (batch_size - 1) * K > exact_budget and generator is None:
        raise InvalidInputError(
            f"batchbald with batch_size={batch_size}, C={C}, K={K} must sample label "
            f"configurations (C^(batch_size-1) * K > exact_budget={exact_budget}); pass "
            "generator=torch.Generator().manual_seed(...), or raise exact_budget."
        )
    device = log_probs_N_K_C.device
    if K == 1:  # one parameter sample: every mutual information is exactly 0
        zeros = torch.zeros(batch_size, dtype=torch.float64, device=device)
        return Selection(torch.arange(batch_size, device=device), zeros)
    step = _Step(log_probs_N_K_C, chunk_budget, prune)

    # Step 1: the gains are the BALD scores. Later, gains_N holds each candidate's last
    # exact gain or certified upper bound, and -inf for chosen points.
    gains_N = step.predictive_N - step.expected_N
    evaluated_E = torch.arange(N, device=device)
    chosen: list[int] = []
    scores: list[float] = []
    particles: _Particles | None = None
    for b in range(batch_size):
        if b > 0:
            chosen_B_K_C = log_probs_N_K_C[chosen]
            exact = C**b * K <= exact_budget
            if exact:
                configs = _exact_configurations(chosen_B_K_C)
            else:
                assert generator is not None  # checked above
                if particles is None:
                    particles = _Particles(num_samples, K, generator, device)
                    for i in range(b - 1):
                        particles.append(chosen_B_K_C[i])
                particles.append(chosen_B_K_C[-1])
                configs = particles.configurations(chosen_B_K_C)
            # Submodularity makes last step's gains upper bounds, but only for exact gains.
            gains_N, evaluated_E = step.run(configs, gains_N, previous_are_bounds=exact)
        values_E = gains_N[evaluated_E]
        top = values_E.max()
        best = int(evaluated_E[values_E == top].min())  # ties: lowest index
        chosen.append(best)
        scores.append((scores[-1] if scores else 0.0) + float(gains_N[best]))
        gains_N[best] = -math.inf
    return Selection(
        torch.tensor(chosen, dtype=torch.long, device=device),
        torch.tensor(scores, dtype=torch.float64, device=device),
    )


#: Head sizes, as fractions of the configurations, of the pooled tables used as bounds
#: (0: every configuration pooled by its most probable θ_k).
_BOUND_FRACTIONS = (0.0, 1 / 16, 1 / 4)
#: Candidates evaluated exactly before any bound, for a strong lower bound early.
_SEEDS = 8


class _Step:
    """One greedy step: the gains of the candidates that can still win.

    Pruning uses two certified bounds on ``H(y_n | y_B) = Σ_u v_u H[q_u]`` with
    ``q_u = Σ_k w_uk p_k(y_n)``:

    * upper (Jensen): pool configurations into groups; ``Σ_{u∈g} v_u H[q_u] <=
      V_g H[Σ_{u∈g} v_u q_u / V_g]`` since H is concave. The configurations with the
      largest ``v_u (1 - max_k w_uk)`` stay alone; the rest, whose posteriors are nearly
      one-hot, are pooled by ``argmax_k w_uk`` (at most K groups), where the bound is tight.
    * lower: ``H[q_u] >= Σ_k w_uk H[p_k(y_n)]`` (concavity again) for the pooled ones.

    Both hold for any weights, so they bound the sampled estimate exactly as they bound
    the exact value. Tables with more and more configurations left alone are tried in
    turn; a candidate is dropped once its upper bound is below the best lower bound (or
    the best exact gain found so far), and the survivors are evaluated exactly in order of
    decreasing upper bound until the next bound falls below the best gain found.
    """

    def __init__(self, log_probs_N_K_C: Tensor, chunk_budget: int, prune: bool) -> None:
        self.log_probs_N_K_C = log_probs_N_K_C
        self.dtype = _compute_dtype(log_probs_N_K_C)
        # Round-off of the compute dtype, with a wide margin: bounds only prune beyond it.
        self.tolerance = 1e-9 if self.dtype == torch.float64 else 1e-4
        self.chunk_budget = chunk_budget
        self.prune = prune
        N, K, C = log_probs_N_K_C.shape
        device = log_probs_N_K_C.device
        #: H[p_k(y_n)] per point and sample, [N, K] in the compute dtype (lower bounds only).
        self.entropies_N_K = torch.empty(N, K, dtype=self.dtype, device=device)
        #: (1/K) Σ_k H[p_k(y_n)] and H[p̄(y_n)], float64 [N].
        self.expected_N = torch.empty(N, dtype=torch.float64, device=device)
        self.predictive_N = torch.empty(N, dtype=torch.float64, device=device)
        chunk = max(1, chunk_budget // (K * C))
        for start in range(0, N, chunk):
            stop = start + chunk
            probs_n_K_C = log_probs_N_K_C[start:stop].to(torch.float64).exp()
            entropies_n_K = _entropy_of_probs(probs_n_K_C)
            self.entropies_N_K[start:stop] = entropies_n_K
            self.expected_N[start:stop] = entropies_n_K.mean(dim=1)
            self.predictive_N[start:stop] = _entropy_of_probs(probs_n_K_C.mean(dim=1))

    def _max_chunk(self, rows: int) -> int:
        return max(1, self.chunk_budget // (rows * self.log_probs_N_K_C.shape[2]))

    def exact_gains(self, posterior_U_K: Tensor, weights_1_U: Tensor, idx: Tensor) -> Tensor:
        """``H(y_n | y_B) - E_k H[p_k(y_n)]`` for the candidates ``idx`` (one chunk)."""
        lp = self.log_probs_N_K_C[idx]
        return _conditional_entropies(posterior_U_K, weights_1_U, lp)[0] - self.expected_N[idx]

    def bounds(
        self, configs: _Configurations, head: int, positions_A: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Certified upper and lower bounds on the gains of ``positions_A``.

        The ``head`` configurations with the most mass off their most probable θ_k stay
        alone; the others are pooled by that θ_k.
        """
        posterior_U_K, weights_U = configs.posterior64_U_K, configs.weights_U
        K = posterior_U_K.shape[1]
        order_U, argmax_U = configs.pooling_order
        head_H, tail_T = order_U[:head], order_U[head:]
        tail_weighted_T_K = weights_U[tail_T, None] * posterior_U_K[tail_T]
        pooled_G_K = torch.zeros(K, K, dtype=torch.float64, device=weights_U.device)
        pooled_G_K.index_add_(0, argmax_U[tail_T], tail_weighted_T_K)
        pooled_weights_G = pooled_G_K.sum(dim=1)
        nonempty_G = pooled_weights_G > 0
        pooled_weights_G = pooled_weights_G[nonempty_G]
        pooled_G_K = pooled_G_K[nonempty_G] / pooled_weights_G[:, None]
        table_R_K = torch.cat([posterior_U_K[head_H], pooled_G_K]).to(self.dtype)
        head_weights_H = weights_U[head_H]
        # Row 0: head + pooled groups (upper bound); row 1: head only (for the lower bound).
        weights_2_R = torch.stack(
            [
                torch.cat([head_weights_H, pooled_weights_G]),
                torch.cat([head_weights_H, torch.zeros_like(pooled_weights_G)]),
            ]
        )
        tail_mass_K = tail_weighted_T_K.sum(dim=0)
        upper_A = torch.empty(len(positions_A), dtype=torch.float64, device=weights_U.device)
        lower_A = torch.empty_like(upper_A)
        size = self._max_chunk(len(table_R_K))
        for start in range(0, len(positions_A), size):
            idx = positions_A[start : start + size]
            parts_2_n = _conditional_entropies(table_R_K, weights_2_R, self.log_probs_N_K_C[idx])
            expected_n = self.expected_N[idx]
            upper_A[start : start + size] = parts_2_n[0] - expected_n
            lower_A[start : start + size] = (
                parts_2_n[1]
                + (self.entropies_N_K[idx] @ tail_mass_K.to(self.dtype)).to(torch.float64)
                - expected_n
            )
        return upper_A, lower_A

    def run(
        self, configs: _Configurations, previous_N: Tensor, *, previous_are_bounds: bool
    ) -> tuple[Tensor, Tensor]:
        """Gains of one step given the configurations of the chosen labels.

        ``previous_N`` holds last step's gains (-inf for chosen points); they are upper
        bounds on this step's gains when ``previous_are_bounds`` and otherwise only set the
        order of evaluation. Returns ``gains_N`` (exact where evaluated, an upper bound
        elsewhere, -inf for chosen points) and the evaluated positions ``evaluated_E``.
        """
        posterior_U_K = configs.posterior(self.dtype)
        weights_U = configs.weights_U
        weights_1_U = weights_U[None]
        U, K = posterior_U_K.shape
        gains_N = previous_N.clone()
        candidates_A = torch.nonzero(previous_N > -math.inf).flatten()
        max_chunk = self._max_chunk(U)
        if not self.prune:
            for start in range(0, len(candidates_A), max_chunk):
                idx = candidates_A[start : start + max_chunk]
                gains_N[idx] = self.exact_gains(posterior_U_K, weights_1_U, idx)
            return gains_N, candidates_A

        if previous_are_bounds:
            upper_A = previous_N[candidates_A]
        else:
            upper_A = torch.full(
                candidates_A.shape, math.inf, dtype=torch.float64, device=previous_N.device
            )
        done_A = torch.zeros(candidates_A.shape, dtype=torch.bool, device=previous_N.device)
        seeds_S = torch.topk(previous_N[candidates_A], min(_SEEDS, len(candidates_A))).indices
        seed_gains_S = self.exact_gains(posterior_U_K, weights_1_U, candidates_A[seeds_S])
        gains_N[candidates_A[seeds_S]] = seed_gains_S
        upper_A[seeds_S] = seed_gains_S
        done_A[seeds_S] = True
        # A lower bound on the winning gain: the best exact gain or the best lower bound.
        lower = float(seed_gains_S.max())
        for fraction in _BOUND_FRACTIONS:
            head = math.ceil(U * fraction)
            if head + K >= U // 2:
                break
            open_A = torch.nonzero(~done_A & (upper_A + self.tolerance >= lower)).flatten()
            if len(open_A) <= _SEEDS:
                break
            upper_bound_O, lower_bound_O = self.bounds(configs, head, candidates_A[open_A])
            upper_A[open_A] = torch.minimum(upper_A[open_A], upper_bound_O)
            gains_N[candidates_A[open_A]] = upper_A[open_A]
            lower = max(lower, float(lower_bound_O.max()))

        # Exact gains of the survivors, most promising first, until none can win.
        open_A = torch.nonzero(~done_A & (upper_A + self.tolerance >= lower)).flatten()
        open_A = open_A[torch.sort(upper_A[open_A], descending=True, stable=True).indices]
        start, chunk = 0, min(max_chunk, _SEEDS)
        while start < len(open_A) and float(upper_A[open_A[start]]) + self.tolerance >= lower:
            block = open_A[start : start + chunk]
            gains = self.exact_gains(posterior_U_K, weights_1_U, candidates_A[block])
            gains_N[candidates_A[block]] = gains
            done_A[block] = True
            lower = max(lower, float(gains.max()))
            start += len(block)
            chunk = min(max_chunk, 2 * chunk)
        return gains_N, candidates_A[done_A]


@dataclass(frozen=True)
class BatchBALDStrategy:
    """The :class:`~bayesal.acquisition.base.Strategy` for :func:`batchbald`.

    Registered as ``batchbald``; in an experiment config::

        strategies:
          - name: batchbald
            params: {num_samples: 10000, exact_budget: 1048576}

    Attributes:
        num_samples: configurations sampled once the exact table is over budget.
        exact_budget: largest exact table ``C^(b-1) * K`` (entries).
        chunk_budget: largest ``[chunk, configurations, C]`` intermediate (elements).
        prune: certified pruning of candidates (see :func:`batchbald`).

    Raises:
        InvalidInputError: when built with a non-positive integer budget or sample count,
            or a ``prune`` that is not a bool (so a bad config fails before any training).
    """

    num_samples: int = 10_000
    exact_budget: int = DEFAULT_EXACT_BUDGET
    chunk_budget: int = DEFAULT_CHUNK_BUDGET
    prune: bool = True
    name: str = field(default="batchbald", init=False)
    #: A joint method on the pool's log-probs (not pointwise: no ``score``).
    inputs: ClassVar[frozenset[str]] = frozenset({POOL_LOG_PROBS})

    def __post_init__(self) -> None:
        for attribute in ("num_samples", "exact_budget", "chunk_budget"):
            value = getattr(self, attribute)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise InvalidInputError(
                    f"strategy 'batchbald': {attribute} must be a positive integer, got {value!r}."
                )
        if not isinstance(self.prune, bool):
            raise InvalidInputError(
                f"strategy 'batchbald': prune must be true or false, got {self.prune!r}."
            )

    @property
    def needs_target(self) -> bool:
        """``TARGET_LOG_PROBS in inputs``: False (kept for older callers)."""
        return TARGET_LOG_PROBS in self.inputs

    def select(
        self,
        log_probs_N_K_C: Tensor,
        batch_size: int,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
    ) -> Selection:
        """Greedy BatchBALD batch of ``log_probs_N_K_C [N, K, C]``; the target is ignored."""
        check_generator(generator, "strategy 'batchbald'")
        return batchbald(
            log_probs_N_K_C,
            batch_size,
            num_samples=self.num_samples,
            generator=generator,
            exact_budget=self.exact_budget,
            chunk_budget=self.chunk_budget,
            prune=self.prune,
        )
