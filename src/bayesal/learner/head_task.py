"""What the task types whose posterior output goes through an output head
(:mod:`bayesal.posterior.heads`) share: :class:`HeadTask`, the base of
:class:`~bayesal.learner.multilabel.MultilabelTask` and
:class:`~bayesal.learner.regression.RegressionTask`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from numpy.typing import NDArray
from torch import Tensor, nn

from bayesal.acquisition.base import POOL_LOG_PROBS, Strategy, strategy_inputs
from bayesal.errors import InvalidInputError
from bayesal.learner.task import Task
from bayesal.posterior import PosteriorMethod
from bayesal.posterior.heads import OutputHead
from bayesal.tasks import TASK_STRATEGIES, build_strategy

if TYPE_CHECKING:
    from bayesal.learner import ActiveLearner

__all__ = ["HeadTask"]


class HeadTask(Task):
    """What the tasks whose posterior output goes through a head
    (:mod:`bayesal.posterior.heads`) share: strategies from :mod:`bayesal.tasks`, a
    posterior method that supports heads, metrics from the posterior's K samples."""

    #: The strategy inputs the learner provides: the pool's posterior output only.
    PROVIDES = frozenset({POOL_LOG_PROBS})

    def head(self) -> OutputHead:
        """The task's output head."""
        raise NotImplementedError

    def make_strategy(self, strategy: object, params: Mapping[str, Any] | None) -> Strategy:
        if isinstance(strategy, str):
            if strategy not in TASK_STRATEGIES[self.name]:
                raise InvalidInputError(
                    f"strategy {strategy!r} does not apply to task {self.name!r}; its "
                    f"strategies are {', '.join(TASK_STRATEGIES[self.name])} (or a Strategy "
                    f"object that reads the task's posterior output)"
                )
            return build_strategy(self.name, strategy, **dict(params or {}))
        from bayesal.learner.validation import strategy_of

        return strategy_of(strategy, params)  # a Strategy object (params refused)

    def check_strategy(self, strategy: Strategy) -> None:
        unsupported = strategy_inputs(strategy) - self.PROVIDES
        if unsupported:
            raise InvalidInputError(
                f"strategy {strategy.name!r} needs {sorted(unsupported)}; for task "
                f"{self.name!r} the learner provides the pool's posterior output only"
            )

    def configure_method(self, method: PosteriorMethod) -> PosteriorMethod:
        if not method.supports_heads and self.name not in method.head_tasks:
            tasks = " and ".join(("classification", *method.head_tasks))
            also = " or 'forest'" if self.name == "regression" else ""
            raise InvalidInputError(
                f"posterior {method.name!r} supports {tasks} only; task "
                f"{self.name!r} needs 'mc_dropout' or 'ensemble'{also}"
            )
        configured = copy.copy(method)
        configured.head = self.head()
        return configured

    def predict(self, learner: ActiveLearner, inputs: Any) -> Tensor:
        return learner.predict_samples(inputs)

    def wrap_model(
        self, build: Callable[[int], nn.Module], width: int
    ) -> Callable[[int], nn.Module]:
        return build

    def saved_label_shape(self, width: int, labels: NDArray[Any]) -> tuple[int, ...]:
        return self.label_shape(width)

    def chunk_size(self, chunk_size: int, method: PosteriorMethod, width: int) -> int:
        return chunk_size
