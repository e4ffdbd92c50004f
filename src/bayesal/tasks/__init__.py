"""Task types beyond single-label classification: their scores and metrics.

Pure functions of tensors, as :mod:`bayesal.acquisition` is for classification, one
module per task:

* :mod:`~bayesal.tasks.multilabel`: Bernoulli log-probabilities ``[N, K, L]``; entropy,
  BALD and margin summed or averaged over labels; F1 (micro, macro) and mean average
  precision;
* :mod:`~bayesal.tasks.regression`: a Gaussian per item and sample, ``mean_N_K`` and
  ``var_N_K``; predictive and epistemic variance, the Gaussian mutual information; RMSE,
  the mixture's NLL and the coverage of its central interval;
* :mod:`~bayesal.tasks.segmentation`: log-probabilities ``[N, K, C, H, W]``; per-pixel
  entropy, BALD and margin reduced per image (mean, sum, top-q), streamed over chunks of
  images; per-class and mean IoU, pixel accuracy.

:mod:`~bayesal.tasks.table` says which strategies apply to which task, maps each name
to its score and each task to its metrics, and builds a task's strategy by name
(:func:`build_strategy`). This package imports only
:mod:`bayesal.errors` and :mod:`bayesal.acquisition` (whose per-pixel scores segmentation
reuses). Wiring a task into the learner, the config and the labelling session is the
learner's task seam, not this package.
"""

from bayesal.tasks import multilabel, regression, segmentation
from bayesal.tasks.table import (
    TASK_METRICS,
    TASK_SCORES,
    TASK_STRATEGIES,
    TASKS,
    RegressionOutputScore,
    build_strategy,
    regression_metrics,
    regression_random,
    strategies_for,
    tasks_for,
)

__all__ = [
    "TASKS",
    "TASK_METRICS",
    "TASK_SCORES",
    "TASK_STRATEGIES",
    "RegressionOutputScore",
    "build_strategy",
    "multilabel",
    "regression",
    "regression_metrics",
    "regression_random",
    "segmentation",
    "strategies_for",
    "tasks_for",
]
