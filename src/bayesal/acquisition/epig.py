"""EPIG: expected predictive information gain about the labels of target inputs.

Bickford Smith, Kirsch, Farquhar, Gal, Foster & Rainforth (2023), "Prediction-Oriented
Bayesian Active Learning", AISTATS.

BALD asks how much a label tells about the parameters θ; EPIG asks how much it tells
about the predictions that matter, the labels ``y*`` of target inputs ``x* ~ p*(x*)``:

    EPIG(x) = E_{x*~p*}[ I(y; y* | x, x*) ]
            ≈ (1/M) Σ_m Σ_{y, y*} p(y, y*) log[ p(y, y*) / (p(y) p(y*)) ],

over M target inputs ``x*_m`` sampled from ``p*``, with the joint predictive of the two
labels ``p(y, y*) = (1/K) Σ_k p_k(y | x) p_k(y* | x*_m)`` (y and y* are independent given
θ) and its marginals ``p(y) = (1/K) Σ_k p_k(y | x)``, ``p(y*) = (1/K) Σ_k p_k(y* | x*_m)``.
The K samples must be the *same* parameter draws for pool and targets, otherwise the
joint is meaningless; pass both tensors from one posterior draw.

Numerics: ``I(y; y*) = H[p(y)] + H[p(y*)] - H[p(y, y*)]``. The joint ``[C, C]`` tables of
a chunk of pool inputs against a chunk of targets are one matrix product; their entropies
are reduced in the compute dtype (float64 for float64 input, float32 otherwise, error
~1e-6 nats) and accumulated over targets in float64; the marginal entropies come from
float64 logsumexp. The result is clamped to ``[0, log C]`` (round-off only: the mutual
information is non-negative and at most ``H[p(y)] <= log C``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from bayesal.acquisition._checks import check_log_probs
from bayesal.acquisition.base import POOL_LOG_PROBS, TARGET_LOG_PROBS
from bayesal.acquisition.information import _entropy_of_probs, _mean_log_probs
from bayesal.acquisition.scored import (
    ScoredStrategy,
    StochasticSelector,
    StochasticSelectorFields,
    TopKSelector,
)
from bayesal.acquisition.stochastic import STOCHASTIC_MODES, StochasticMode
from bayesal.errors import InvalidInputError

__all__ = [
    "DEFAULT_EPIG_CHUNK_BUDGET",
    "EPIGScore",
    "EPIGStrategy",
    "StochasticEPIGStrategy",
    "epig",
]

#: Largest ``[n_chunk, C, m_chunk, C]`` joint table held at once (elements).
DEFAULT_EPIG_CHUNK_BUDGET = 2**22


def _predictive_entropies(log_probs_N_K_C: Tensor) -> Tensor:
    """``H[(1/K) Σ_k p_k]`` per input, float64 ``[N]``."""
    return _entropy_of_probs(_mean_log_probs(log_probs_N_K_C.to(torch.float64)).exp())


def epig(
    log_probs_pool_N_K_C: Tensor,
    log_probs_target_M_K_C: Tensor,
    *,
    chunk_budget: int = DEFAULT_EPIG_CHUNK_BUDGET,
) -> Tensor:
    """EPIG score of every pool input against M target inputs.

    Equation: ``EPIG(x_n) = (1/M) Σ_m I(y_n; y*_m)`` with
    ``I(y; y*) = Σ_{y,y*} p(y,y*) log[p(y,y*) / (p(y) p(y*))]`` and
    ``p(y, y*) = (1/K) Σ_k p_k(y | x_n) p_k(y* | x*_m)``.

    Args:
        log_probs_pool_N_K_C: ``log p(y = c | x_n, θ_k)``, shape ``[N, K, C]``.
        log_probs_target_M_K_C: the same K parameter samples on M target inputs drawn
            from the target distribution ``p*``, shape ``[M, K, C]``.
        chunk_budget: largest joint table ``[n_chunk, C, m_chunk, C]`` (elements) held at
            once; memory is ``O(chunk_budget + (N + M) K C)``.

    Returns:
        ``scores_N``, float64 ``[N]``, in ``[0, log C]``, higher = acquire first; 0 when
        ``K = 1`` (labels are then independent).

    Raises:
        InvalidInputError: for malformed log-probs, ``M = 0``, or pool and target with
            different K or C.

    Reference: Bickford Smith, Kirsch, Farquhar, Gal, Foster & Rainforth (2023),
    "Prediction-Oriented Bayesian Active Learning", AISTATS.
    """
    check_log_probs(log_probs_pool_N_K_C, "log_probs_pool_N_K_C")
    check_log_probs(log_probs_target_M_K_C, "log_probs_target_M_K_C")
    N, K, C = log_probs_pool_N_K_C.shape
    M, K_target, C_target = log_probs_target_M_K_C.shape
    if (K_target, C_target) != (K, C):
        raise InvalidInputError(
            f"pool and target log-probs must share K (parameter samples) and C (classes): "
            f"pool [N, K, C] = {list(log_probs_pool_N_K_C.shape)}, target [M, K, C] = "
            f"{list(log_probs_target_M_K_C.shape)}; compute both from one posterior draw."
        )
    if M == 0:
        raise InvalidInputError(
            "log_probs_target_M_K_C has no target inputs (M = 0); EPIG needs at least one "
            "target input sampled from the distribution you want to predict well on."
        )
    if isinstance(chunk_budget, bool) or not isinstance(chunk_budget, numbers.Integral):
        raise InvalidInputError(f"chunk_budget must be a positive integer, got {chunk_budget!r}.")
    if chunk_budget < 1:
        raise InvalidInputError(f"chunk_budget must be a positive integer, got {chunk_budget}.")
    device = log_probs_pool_N_K_C.device
    dtype = torch.float64 if log_probs_pool_N_K_C.dtype == torch.float64 else torch.float32
    scores_N = torch.empty(N, dtype=torch.float64, device=device)
    if N == 0:
        return scores_N
    if K == 1:  # one parameter sample: y and y* are independent, exactly
        return scores_N.zero_()

    # Targets once, as [K, M*C] probabilities scaled by 1/K so one product gives p(y, y*).
    target_K_MC = (
        log_probs_target_M_K_C.to(device=device, dtype=dtype)
        .exp()
        .permute(1, 0, 2)
        .reshape(K, M * C)
        / K
    )
    mean_target_entropy = float(_predictive_entropies(log_probs_target_M_K_C).mean())
    m_chunk = min(M, max(1, chunk_budget // (C * C)))
    n_chunk = max(1, chunk_budget // (C * C * m_chunk))
    tiny = torch.finfo(dtype).tiny
    for start in range(0, N, n_chunk):
        lp_n_K_C = log_probs_pool_N_K_C[start : start + n_chunk]
        n = lp_n_K_C.shape[0]
        pool_nC_K = lp_n_K_C.to(dtype).exp().permute(0, 2, 1).reshape(n * C, K)
        joint_entropy_n = torch.zeros(n, dtype=torch.float64, device=device)
        for m_start in range(0, M, m_chunk):
            columns = slice(m_start * C, min(M, m_start + m_chunk) * C)
            joint_nC_mC = pool_nC_K @ target_K_MC[:, columns]
            # -Σ p log p with 0 log 0 = 0 (clamping inside the log leaves the product 0).
            terms_nC_mC = joint_nC_mC.clamp_min(tiny).log_().mul_(joint_nC_mC)
            joint_entropy_n -= terms_nC_mC.sum(dim=1).view(n, C).sum(dim=1).to(torch.float64)
        pool_entropy_n = _predictive_entropies(lp_n_K_C)
        mutual_information_n = pool_entropy_n + mean_target_entropy - joint_entropy_n / M
        scores_N[start : start + n] = mutual_information_n
    return scores_N.clamp_(0.0, math.log(C))


def _check_chunk_budget(value: object, who: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidInputError(f"{who}: chunk_budget must be a positive integer, got {value!r}.")


@dataclass(frozen=True)
class EPIGScore:
    """:func:`epig` as a :class:`~bayesal.acquisition.base.Score`: reads the pool's and the
    target inputs' log-probs.

    Each pool input's score depends only on its own log-probs and on the targets, so the
    pool can be scored chunk by chunk with the same ``log_probs_target_M_K_C`` (up to
    round-off of the joint tables' matrix products, ~1e-15 nats in float64).

    Attributes:
        chunk_budget: passed to :func:`epig`.

    Raises:
        InvalidInputError: when ``chunk_budget`` is not a positive integer.
    """

    chunk_budget: int = DEFAULT_EPIG_CHUNK_BUDGET
    #: Pool and target log-probs, under the same K parameter samples.
    inputs: ClassVar[frozenset[str]] = frozenset({POOL_LOG_PROBS, TARGET_LOG_PROBS})

    def __post_init__(self) -> None:
        _check_chunk_budget(self.chunk_budget, "EPIG")

    def __call__(
        self,
        log_probs_N_K_C: Tensor,
        *,
        generator: object = None,
        log_probs_target_M_K_C: Tensor | None = None,
    ) -> Tensor:
        """``epig(log_probs_N_K_C, log_probs_target_M_K_C)``, float64 ``[N]``; the
        generator is not used."""
        if log_probs_target_M_K_C is None:
            raise InvalidInputError(
                "EPIG needs log_probs_target_M_K_C: log-probs [M, K, C] of target inputs "
                "under the same K parameter samples as the pool."
            )
        return epig(log_probs_N_K_C, log_probs_target_M_K_C, chunk_budget=self.chunk_budget)


class EPIGStrategy(ScoredStrategy):
    """The strategy for :func:`epig`: top-k of EPIG.

    ``ScoredStrategy("epig", EPIGScore(chunk_budget), TopKSelector())``. Needs
    ``log_probs_target_M_K_C`` (the same K parameter samples on target inputs); its
    ``score`` takes them too, so the pool can be scored chunk by chunk against one set of
    targets and selected from once. Ties are broken uniformly at random with the generator
    (see :func:`~bayesal.acquisition.selection.top_k`).

    Registered as ``epig``. The loop draws the targets: ``num_target_samples`` inputs of
    the unlabelled pool per round (a sample of ``p*`` = the pool distribution), or the
    fixed ``target_inputs`` it is given, scored with the same posterior draw as the pool.

    Args:
        chunk_budget: passed to :func:`epig`.

    Raises:
        InvalidInputError: when ``chunk_budget`` is not a positive integer.
    """

    def __init__(self, chunk_budget: int = DEFAULT_EPIG_CHUNK_BUDGET) -> None:
        _check_chunk_budget(chunk_budget, "strategy 'epig'")
        super().__init__("epig", EPIGScore(chunk_budget), TopKSelector())

    @property
    def chunk_budget(self) -> int:
        """Passed to :func:`epig`."""
        return self.scorer.chunk_budget  # type: ignore[attr-defined, no-any-return]


class StochasticEPIGStrategy(StochasticSelectorFields, ScoredStrategy):
    """A stochastic batch drawn with weights from EPIG instead of its top-k.

    ``ScoredStrategy(f"{mode}_epig", EPIGScore(chunk_budget), StochasticSelector(mode,
    temperature))``: :func:`~bayesal.acquisition.stochastic.stochastic_batch` (Kirsch et
    al. 2023) over :func:`epig` scores. A pointwise score's top-k takes near-copies of the
    best input; sampling without replacement with weights ``s^β`` (``power``),
    ``exp(β s)`` (``softmax``) or ``rank^(-β)`` (``softrank``) spreads the batch.
    Registered as ``power_epig``, ``softmax_epig`` and ``softrank_epig``; needs target
    log-probs like :class:`EPIGStrategy`.

    Args:
        mode: ``"power"``, ``"softmax"`` or ``"softrank"``.
        temperature: ``> 0``; β = 1 / temperature. Default 1.0.
        chunk_budget: passed to :func:`epig`.

    Raises:
        InvalidInputError: for an unknown mode, a temperature that is not > 0 or a
            ``chunk_budget`` that is not a positive integer.
    """

    def __init__(
        self,
        mode: StochasticMode,
        temperature: float = 1.0,
        chunk_budget: int = DEFAULT_EPIG_CHUNK_BUDGET,
    ) -> None:
        if mode not in STOCHASTIC_MODES:
            raise InvalidInputError(
                f"unknown stochastic mode {mode!r} for EPIG; "
                f"choose one of {', '.join(STOCHASTIC_MODES)}."
            )
        name = f"{mode}_epig"
        selector = StochasticSelector(mode, temperature)
        _check_chunk_budget(chunk_budget, f"strategy {name!r}")
        super().__init__(name, EPIGScore(chunk_budget), selector)

    @property
    def chunk_budget(self) -> int:
        """Passed to :func:`epig`."""
        return self.scorer.chunk_budget  # type: ignore[attr-defined, no-any-return]
