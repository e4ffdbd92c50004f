"""Acquisition: pure functions of log-probabilities ``[N, K, C]`` that choose what to label.

Pointwise scores (higher = acquire first), top-k and stochastic batch selection, BatchBALD
(joint batch selection), EPIG (information about predictions on target inputs), and a
registry of named strategies. This package imports nothing else from bayesal except
:mod:`bayesal.errors`.
"""

from bayesal.acquisition._checks import check_batch_size, check_log_probs
from bayesal.acquisition.base import PointwiseStrategy, Selection, Strategy
from bayesal.acquisition.batchbald import (
    BatchBALDStrategy,
    batchbald,
    exact_joint_entropy,
    sampled_joint_entropy,
)
from bayesal.acquisition.epig import EPIGStrategy, StochasticEPIGStrategy, epig
from bayesal.acquisition.registry import (
    StochasticStrategy,
    TopKStrategy,
    available_strategies,
    get_strategy,
    register_strategy,
    unregister_strategy,
)
from bayesal.acquisition.scores import (
    bald,
    entropy,
    least_confidence,
    margin,
    mean_log_probs,
    mean_std,
    random,
    variation_ratios,
)
from bayesal.acquisition.selection import top_k
from bayesal.acquisition.stochastic import (
    STOCHASTIC_MODES,
    StochasticMode,
    stochastic_batch,
    stochastic_log_weights,
)

__all__ = [
    "STOCHASTIC_MODES",
    "BatchBALDStrategy",
    "EPIGStrategy",
    "PointwiseStrategy",
    "Selection",
    "StochasticEPIGStrategy",
    "StochasticMode",
    "StochasticStrategy",
    "Strategy",
    "TopKStrategy",
    "available_strategies",
    "bald",
    "batchbald",
    "check_batch_size",
    "check_log_probs",
    "entropy",
    "epig",
    "exact_joint_entropy",
    "get_strategy",
    "least_confidence",
    "margin",
    "mean_log_probs",
    "mean_std",
    "random",
    "register_strategy",
    "sampled_joint_entropy",
    "stochastic_batch",
    "stochastic_log_weights",
    "top_k",
    "unregister_strategy",
    "variation_ratios",
]
