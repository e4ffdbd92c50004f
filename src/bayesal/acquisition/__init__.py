"""Acquisition: pure functions of log-probabilities ``[N, K, C]`` that choose what to label.

Entropies and mutual information (:mod:`~bayesal.acquisition.information`), pointwise scores
(higher = acquire first), top-k and stochastic selectors, strategies composed of a score
and a selector (:class:`ScoredStrategy`), BatchBALD (joint batch selection), EPIG
(information about predictions on target inputs), embedding strategies (BADGE, coreset,
TypiClust: they also read embeddings) and a registry of named strategies.
Strategies declare the inputs they read (:func:`strategy_inputs`) and whether they can be
scored chunk by chunk (:func:`is_pointwise`); see :mod:`~bayesal.acquisition.base`. This
package imports nothing else from bayesal except :mod:`bayesal.errors` and
:mod:`bayesal.registry`.
"""

from bayesal.acquisition._checks import check_batch_size, check_log_probs
from bayesal.acquisition.base import (
    EMBEDDINGS,
    LABELLED_EMBEDDINGS,
    POOL_LOG_PROBS,
    TARGET_LOG_PROBS,
    PointwiseStrategy,
    Score,
    Selection,
    Selector,
    Strategy,
    is_pointwise,
    strategy_inputs,
)
from bayesal.acquisition.batchbald import (
    BatchBALDStrategy,
    batchbald,
    exact_joint_entropy,
    sampled_joint_entropy,
)
from bayesal.acquisition.coverage import (
    BudgetAwareStrategy,
    ProbCoverStrategy,
    probcover,
    purity_radius,
)
from bayesal.acquisition.embedding import (
    BADGEStrategy,
    CoresetStrategy,
    KMeansResult,
    TypiClustStrategy,
    badge,
    coreset,
    kmeans,
    typicality,
    typiclust,
)
from bayesal.acquisition.epig import EPIGScore, EPIGStrategy, StochasticEPIGStrategy, epig
from bayesal.acquisition.information import (
    expected_entropy,
    mutual_information,
    predictive_entropy,
)
from bayesal.acquisition.registry import (
    available_strategies,
    get_strategy,
    register_strategy,
    unregister_strategy,
)
from bayesal.acquisition.scored import (
    FunctionScore,
    ScoredStrategy,
    StochasticSelector,
    StochasticStrategy,
    TopKSelector,
    TopKStrategy,
    as_score,
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
    "EMBEDDINGS",
    "LABELLED_EMBEDDINGS",
    "POOL_LOG_PROBS",
    "STOCHASTIC_MODES",
    "TARGET_LOG_PROBS",
    "BADGEStrategy",
    "BatchBALDStrategy",
    "CoresetStrategy",
    "EPIGScore",
    "EPIGStrategy",
    "FunctionScore",
    "KMeansResult",
    "PointwiseStrategy",
    "Score",
    "ScoredStrategy",
    "Selection",
    "Selector",
    "StochasticEPIGStrategy",
    "StochasticMode",
    "StochasticSelector",
    "StochasticStrategy",
    "Strategy",
    "TopKSelector",
    "TopKStrategy",
    "TypiClustStrategy",
    "BudgetAwareStrategy",
    "ProbCoverStrategy",
    "as_score",
    "available_strategies",
    "badge",
    "bald",
    "batchbald",
    "check_batch_size",
    "check_log_probs",
    "coreset",
    "entropy",
    "epig",
    "exact_joint_entropy",
    "expected_entropy",
    "get_strategy",
    "is_pointwise",
    "kmeans",
    "least_confidence",
    "margin",
    "mean_log_probs",
    "mean_std",
    "mutual_information",
    "predictive_entropy",
    "random",
    "register_strategy",
    "sampled_joint_entropy",
    "stochastic_batch",
    "stochastic_log_weights",
    "strategy_inputs",
    "top_k",
    "typicality",
    "typiclust",
    "probcover",
    "purity_radius",
    "unregister_strategy",
    "variation_ratios",
]
