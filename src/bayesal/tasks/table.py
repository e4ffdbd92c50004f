"""Which strategies apply to which task, and the scores and metrics behind each name.

The learner reads these tables (through its task seam) to build a task's strategies and
its ``evaluate`` metrics; ``bayesal strategies`` reads :data:`TASK_STRATEGIES` to say which
strategy applies to which task. Each task's posterior output is one tensor:

* ``classification``: log-probabilities ``[N, K, C]`` (the strategy registry,
  :mod:`bayesal.acquisition.registry`);
* ``multilabel``: Bernoulli log-probabilities ``log p(y_l = 1)``, ``[N, K, L]``;
* ``regression``: ``[N, K, 2]``, a mean and a log-variance per sample
  (:func:`~bayesal.tasks.regression.split_output`);
* ``segmentation``: log-probabilities ``[N, K, C, H, W]``.

Every score in :data:`TASK_SCORES` maps that tensor to ``scores_N`` (higher = acquire
first); ``random`` also takes ``generator=``, as the classification scores do, so each
composes with the selectors of :mod:`bayesal.acquisition.scored` (e.g.
``ScoredStrategy(name, TASK_SCORES[task][name], TopKSelector())``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import Tensor

from bayesal.errors import InvalidInputError
from bayesal.tasks import multilabel, regression, segmentation

__all__ = [
    "TASKS",
    "TASK_METRICS",
    "TASK_SCORES",
    "TASK_STRATEGIES",
    "RegressionOutputScore",
    "regression_metrics",
    "regression_random",
    "strategies_for",
    "tasks_for",
]

#: The task types, classification first (the default).
TASKS: tuple[str, ...] = ("classification", "multilabel", "regression", "segmentation")

#: The built-in strategies of each task (top-k of a score unless the name says otherwise).
#: Classification lists the strategy registry's built-in names (a test keeps them equal);
#: strategies registered by plugins read ``[N, K, C]`` and so apply to classification.
#: For regression, ``bald`` is :func:`~bayesal.tasks.regression.gaussian_mutual_information`
#: (the mutual information BALD is defined as, under a Gaussian approximation) and
#: ``epistemic_variance`` its variance analogue (Depeweg et al. 2018).
TASK_STRATEGIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "classification": (
            "random",
            "least_confidence",
            "margin",
            "entropy",
            "variation_ratios",
            "mean_std",
            "bald",
            *(
                f"{mode}_{score}"
                for mode in ("power", "softmax", "softrank")
                for score in (
                    "least_confidence",
                    "margin",
                    "entropy",
                    "variation_ratios",
                    "mean_std",
                    "bald",
                )
                if (mode, score) != ("power", "margin")
            ),
            "batchbald",
            "epig",
            "power_epig",
            "softmax_epig",
            "softrank_epig",
            "badge",
            "coreset",
            "typiclust",
            "probcover",
            "budget_aware",
        ),
        "multilabel": ("random", "entropy", "bald", "margin"),
        "regression": ("random", "predictive_variance", "epistemic_variance", "bald"),
        "segmentation": ("random", "entropy", "bald", "margin"),
    }
)


@dataclass(frozen=True)
class RegressionOutputScore:
    """A regression score of ``(mean_N_K, var_N_K)`` applied to the posterior output
    ``[N, K, 2]`` (mean, log-variance), through
    :func:`~bayesal.tasks.regression.split_output`. Pickleable."""

    fn: Callable[[Tensor, Tensor], Tensor]

    def __call__(self, output_N_K_2: Tensor) -> Tensor:
        """``output_N_K_2 [N, K, 2] -> scores_N [N]``."""
        return self.fn(*regression.split_output(output_N_K_2))


def regression_random(output_N_K_2: Tensor, *, generator: torch.Generator | int) -> Tensor:
    """:func:`~bayesal.tasks.regression.random` of the posterior output ``[N, K, 2]``."""
    return regression.random(*regression.split_output(output_N_K_2), generator=generator)


def regression_metrics(y_true_N: object, output_N_K_2: Tensor) -> dict[str, float]:
    """:func:`~bayesal.tasks.regression.metrics` of the posterior output ``[N, K, 2]``."""
    return regression.metrics(y_true_N, *regression.split_output(output_N_K_2))


#: ``TASK_SCORES[task][strategy]``: the score of each strategy of :data:`TASK_STRATEGIES`
#: for the tasks of this package (not classification), a function of the task's
#: posterior output. Segmentation scores reduce per image by the mean; build another
#: reduction with :class:`~bayesal.tasks.segmentation.ImageScore`.
TASK_SCORES: Mapping[str, Mapping[str, Callable[..., Tensor]]] = MappingProxyType(
    {
        "multilabel": MappingProxyType(
            {
                "random": multilabel.random,
                "entropy": multilabel.entropy,
                "bald": multilabel.bald,
                "margin": multilabel.margin,
            }
        ),
        "regression": MappingProxyType(
            {
                "random": regression_random,
                "predictive_variance": RegressionOutputScore(regression.predictive_variance),
                "epistemic_variance": RegressionOutputScore(regression.epistemic_variance),
                "bald": RegressionOutputScore(regression.gaussian_mutual_information),
            }
        ),
        "segmentation": MappingProxyType(
            {
                "random": segmentation.random,
                "entropy": segmentation.ImageScore("entropy", "mean"),
                "bald": segmentation.ImageScore("bald", "mean"),
                "margin": segmentation.ImageScore("margin", "mean"),
            }
        ),
    }
)

#: ``TASK_METRICS[task](y_true, posterior_output) -> {name: value}``: the metrics
#: ``evaluate`` reports for the tasks of this package.
TASK_METRICS: Mapping[str, Callable[..., dict[str, float]]] = MappingProxyType(
    {
        "multilabel": multilabel.metrics,
        "regression": regression_metrics,
        "segmentation": segmentation.metrics,
    }
)


def _check_task(task: object) -> str:
    if task not in TASK_STRATEGIES:
        raise InvalidInputError(f"unknown task {task!r}; choose one of {list(TASKS)}.")
    return str(task)


def strategies_for(task: str) -> tuple[str, ...]:
    """The built-in strategy names that apply to ``task``.

    Raises:
        InvalidInputError: for an unknown task.
    """
    return TASK_STRATEGIES[_check_task(task)]


def tasks_for(strategy: str) -> tuple[str, ...]:
    """The tasks whose built-in strategies include ``strategy`` (in :data:`TASKS` order;
    empty for a name no task lists, e.g. a plugin's, which applies to classification)."""
    return tuple(task for task in TASKS if strategy in TASK_STRATEGIES[task])
