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

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import Tensor

from bayesal.acquisition.base import Strategy
from bayesal.acquisition.registry import get_strategy
from bayesal.acquisition.scored import ScoredStrategy, StochasticSelector, TopKSelector
from bayesal.acquisition.stochastic import STOCHASTIC_MODES
from bayesal.errors import InvalidInputError, UnknownStrategyError
from bayesal.tasks import multilabel, regression, segmentation

__all__ = [
    "TASKS",
    "TASK_METRICS",
    "TASK_SCORES",
    "TASK_STRATEGIES",
    "RegressionOutputScore",
    "build_strategy",
    "regression_metrics",
    "regression_random",
    "strategies_for",
    "tasks_for",
]

#: The task types, classification first (the default).
TASKS: tuple[str, ...] = ("classification", "multilabel", "regression", "segmentation")

#: The scores of each task of this package, as :data:`TASK_SCORES` names them.
_SCORE_NAMES: dict[str, tuple[str, ...]] = {
    "multilabel": ("random", "entropy", "bald", "margin"),
    "regression": ("random", "predictive_variance", "epistemic_variance", "bald"),
    "segmentation": ("random", "entropy", "bald", "margin"),
}
#: Scores that are never positive (negated margins): no ``power_`` variant (``s^β``).
_NON_POSITIVE = frozenset({"margin"})


def _with_stochastic(scores: tuple[str, ...]) -> tuple[str, ...]:
    """The top-k names, then ``<mode>_<score>`` for every score but ``random``."""
    stochastic = tuple(
        f"{mode}_{score}"
        for mode in STOCHASTIC_MODES
        for score in scores
        if score != "random" and not (mode == "power" and score in _NON_POSITIVE)
    )
    return (*scores, *stochastic)


#: The built-in strategies of each task: the top-k of a score, or, named
#: ``power_`` / ``softmax_`` / ``softrank_<score>``, a stochastic batch drawn with weights
#: from it (Kirsch et al. 2023; no ``power_margin``: margins are never positive), as for
#: classification. :func:`build_strategy` builds any of them. Classification lists the
#: strategy registry's built-in names (a test keeps them equal); strategies registered by
#: plugins read ``[N, K, C]`` and so apply to classification.
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
        **{task: _with_stochastic(scores) for task, scores in _SCORE_NAMES.items()},
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


#: ``TASK_SCORES[task][score]``: the score behind each top-k strategy of
#: :data:`TASK_STRATEGIES` (and of its stochastic variants) for the tasks of this package
#: (not classification), a function of the task's posterior output. Segmentation scores
#: reduce per image by the mean: :func:`build_strategy` (or
#: :class:`~bayesal.tasks.segmentation.ImageScore`) takes another reduction.
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


def _score(task: str, score_name: str, params: dict[str, object]) -> Callable[..., Tensor]:
    """The score of ``task`` named ``score_name``, configured by (and consuming) the
    ``reduction`` / ``q`` entries of ``params``."""
    if task == "segmentation" and score_name != "random":
        reduction = params.pop("reduction", "mean")
        q = params.pop("q", 0.1)
        return segmentation.ImageScore(score_name, reduction, q)  # type: ignore[arg-type]
    if task == "multilabel" and score_name == "margin" and "reduction" in params:
        reduction = params.pop("reduction")
        if reduction not in ("mean", "min"):
            raise InvalidInputError(f"margin reduction must be 'mean' or 'min', got {reduction!r}.")
        return functools.partial(multilabel.margin, reduction=reduction)
    return TASK_SCORES[task][score_name]


def build_strategy(task: str, name: str, /, **params: object) -> Strategy:
    """The strategy ``name`` of ``task``, ready for ``select(output, batch_size,
    generator=...)`` on the task's posterior output.

    Classification is the strategy registry's (:func:`~bayesal.acquisition.get_strategy`,
    plugins included). For the other tasks, ``name`` is one of :data:`TASK_STRATEGIES`:
    a :class:`~bayesal.acquisition.ScoredStrategy` of the score :data:`TASK_SCORES` names,
    with a top-k selector, or a stochastic one for a ``power_`` / ``softmax_`` /
    ``softrank_`` name. Parameters:

    * ``temperature`` (stochastic names only, default 1.0);
    * segmentation scores: ``reduction`` (``"mean"``, ``"sum"``, ``"top_q"``; default
      ``"mean"``) and ``q`` (default 0.1), see :mod:`~bayesal.tasks.segmentation`;
    * multi-label ``margin``: ``reduction`` (``"mean"`` or ``"min"``).

    Raises:
        InvalidInputError: for an unknown task, or parameters the strategy does not take.
        UnknownStrategyError: for a name that does not apply to the task; the message
            lists the ones that do.
    """
    task = _check_task(task)
    if task == "classification":
        return get_strategy(name, **params)
    if name not in TASK_STRATEGIES[task]:
        raise UnknownStrategyError(
            f"strategy {name!r} does not apply to task {task!r}; its strategies are "
            f"{', '.join(TASK_STRATEGIES[task])}."
        )
    mode, _, rest = name.partition("_")
    stochastic = mode in STOCHASTIC_MODES and rest in TASK_SCORES[task]
    score_name = rest if stochastic else name
    remaining = dict(params)
    temperature = remaining.pop("temperature", 1.0) if stochastic else 1.0
    score = _score(task, score_name, remaining)
    if remaining:
        raise InvalidInputError(
            f"strategy {name!r} of task {task!r} takes no parameter(s) "
            f"{', '.join(sorted(remaining))}."
        )
    if stochastic:
        selector: Callable[..., object] = StochasticSelector(mode, temperature)  # type: ignore[arg-type]
    else:
        selector = TopKSelector()
    return ScoredStrategy(name, score, selector)  # type: ignore[arg-type]
