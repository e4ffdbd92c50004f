"""The task seam: what a kind of label means to the learner.

A :class:`Task` owns everything in :class:`~bayesal.learner.ActiveLearner` that depends
on the form of a label and of the network's output; the learner's ask/tell story
(query, teach, fit, evaluate) calls it and has no branch on the task:

* :meth:`Task.output_width`: checks the model's output on one pool input (classification:
  logits ``[1, C]``, ``C >= 2``) and returns its width, the learner's ``num_classes``;
* :meth:`Task.check_labels`: turns what ``teach`` was given into the values the pool
  stores (classification: class indices in ``[0, C)``);
* :meth:`Task.check_strategy`: refuses a strategy that does not apply to the task (that
  reads inputs the learner does not provide for it);
* :meth:`Task.test_labels`, :meth:`Task.metrics`, :meth:`Task.empty_metrics`: the
  metrics of ``evaluate`` (classification: ``accuracy`` and ``nll``);
* :meth:`Task.label_counts`: the label summary of ``metrics()`` (classification:
  ``labels_per_class``);
* :meth:`Task.saved_label_problem`: the check of the labels in a save file.

Hooks every task type implements as well (a task other than classification overrides
them): :meth:`Task.make_strategy` (the strategy by name), :meth:`Task.configure_method`
(the posterior method, with the task's output head: :mod:`bayesal.posterior.heads`),
:meth:`Task.wrap_model` (the model builder), :meth:`Task.label_store` (the pool that keeps
the label values: int64 class indices, ``-1`` missing, for classification; a
:class:`~bayesal.learner.labels.ValuePool` for float or ``[L]``-vector labels),
:meth:`Task.known_labels` (the constructor's ``labels=``), :meth:`Task.predict` (the
test-set output ``evaluate`` reads), :meth:`Task.label_shape`,
:meth:`Task.saved_labels_problem` and :meth:`Task.restore_labels` (the save file).

Task types: :class:`ClassificationTask` (``task="classification"``, the default; its
behaviour is the learner's before the seam existed, bit for bit),
:class:`~bayesal.learner.multilabel.MultilabelTask` (``"multilabel"``) and
:class:`~bayesal.learner.regression.RegressionTask` (``"regression"``) and
:class:`~bayesal.learner.segmentation.SegmentationTask` (``"segmentation"``). Adding one is a
subclass of :class:`Task` in a module of its own, whose methods read the scores and
metrics of :mod:`bayesal.tasks`, registered in :data:`TASK_TYPES` (the learner package
imports the built-in ones). The save file (:mod:`bayesal.learner.persistence`) writes the
task's name only for a task other than classification (so files of classification
learners stay readable by older versions).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from bayesal.acquisition.base import (
    EMBEDDINGS,
    LABELLED_EMBEDDINGS,
    POOL_LOG_PROBS,
    TARGET_LOG_PROBS,
    Strategy,
    strategy_inputs,
)
from bayesal.data.pool import MISSING, IdArray, Pool, as_id_array
from bayesal.errors import InvalidInputError
from bayesal.posterior import PosteriorMethod

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from bayesal.learner import ActiveLearner

__all__ = ["TASK_TYPES", "ClassificationTask", "Task", "get_task"]


class Task:
    """A kind of label (the base of every task type; see the module's docstring).

    ``width`` is the learner's ``num_classes``: the width of the network's output per
    input, as :meth:`output_width` returned it."""

    #: The task's name, as ``ActiveLearner(task=...)`` and a save file spell it.
    name: ClassVar[str]
    #: The smallest output width (``num_classes``) the task accepts.
    min_width: ClassVar[int] = 2
    #: The output width of a posterior that trains no network (``model=None``), when the
    #: task fixes it (regression: 2, mean and log-variance); None: ``num_classes`` given.
    model_free_width: ClassVar[int | None] = None

    def output_width(self, out: object, expected: int | None) -> int:
        """The width of the model's output ``out`` for one input (``expected``: the
        width the user asked for, or None)."""
        raise NotImplementedError

    def check_labels(self, ids: IdArray, labels: ArrayLike | Tensor, width: int) -> IdArray:
        """The values the pool stores for ``labels`` of ``ids`` (as ``teach`` got them)."""
        raise NotImplementedError

    def check_strategy(self, strategy: Strategy) -> None:
        """Raise if ``strategy`` does not apply to this task."""
        raise NotImplementedError

    def test_labels(self, labels: ArrayLike | Tensor, width: int) -> Tensor:
        """The labels of a test set, checked (before anything is trained)."""
        raise NotImplementedError

    def empty_metrics(self) -> dict[str, float]:
        """``evaluate`` on an empty test set: every metric NaN."""
        raise NotImplementedError

    def metrics(self, predictive: Tensor, labels: Tensor) -> dict[str, float]:
        """The metrics of ``evaluate`` from the posterior's predictive for the test
        inputs and their labels (as :meth:`test_labels` returned them)."""
        raise NotImplementedError

    def label_counts(self, labels: IdArray, width: int) -> dict[str, Any]:
        """The label summary of ``ActiveLearner.metrics()`` for the labelled values."""
        raise NotImplementedError

    def saved_label_problem(self, known: IdArray, width: int) -> str | None:
        """What is wrong with the known label values of a save file (None: nothing)."""
        raise NotImplementedError

    # ---- hooks (:class:`ClassificationTask` has the classification behaviour)

    def make_strategy(self, strategy: object, params: Mapping[str, Any] | None) -> Strategy:
        """The strategy of ``strategy=`` and ``strategy_params=`` (classification: the strategy
        registry's, :func:`~bayesal.learner.validation.strategy_of`)."""
        raise NotImplementedError

    def configure_method(self, method: PosteriorMethod) -> PosteriorMethod:
        """The posterior method the learner uses (classification: ``method`` itself)."""
        raise NotImplementedError

    def wrap_model(
        self, build: Callable[[int], nn.Module], width: int
    ) -> Callable[[int], nn.Module]:
        """The model builder the learner trains, given the user's ``build`` whose output
        has ``width`` columns (classification: ``build`` itself)."""
        raise NotImplementedError

    def label_store(self, pool: Pool, width: int) -> Pool:
        """The pool that keeps the label values, for a model output of ``width`` columns
        (classification: ``pool``, int64 class ids)."""
        raise NotImplementedError

    def label_shape(self, width: int) -> tuple[int, ...]:
        """The shape of one stored label value (classification: a scalar)."""
        raise NotImplementedError

    def known_labels(self, labels: ArrayLike, n: int) -> tuple[NDArray[np.bool_], Any]:
        """The constructor's ``labels=`` (one per pool input, missing marked): which are
        known, and the values (classification: ints, :data:`~bayesal.data.pool.MISSING` = -1)."""
        raise NotImplementedError

    def predict(self, learner: ActiveLearner, inputs: Any) -> Tensor:
        """What :meth:`metrics` reads for test ``inputs`` (classification: the log predictive
        ``[N, C]``, :meth:`~bayesal.learner.ActiveLearner.predict_log_probs`)."""
        raise NotImplementedError

    def saved_labels_problem(
        self, labels: NDArray[Any], labelled: NDArray[np.bool_], width: int
    ) -> str | None:
        """What is wrong with a save file's label values ``labels`` (of the shape
        :meth:`label_shape` gives per item; ``labelled`` the labelled mask). Classification:
        integers, :meth:`saved_label_problem` of the known ones, MISSING elsewhere."""
        raise NotImplementedError

    def restore_labels(self, pool: Pool, labelled: NDArray[np.bool_], labels: NDArray[Any]) -> None:
        """Put a save file's labels (checked, in the pool's sorted id order) into
        ``pool``. Classification: class ids, and ids marked labelled without a value."""
        raise NotImplementedError

    def saved_label_shape(self, width: int, labels: NDArray[Any]) -> tuple[int, ...]:
        """The shape of one label value a save file must have, given its ``labels``
        (classification: :meth:`label_shape`; segmentation reads the masks' size from them)."""
        raise NotImplementedError

    def chunk_size(self, chunk_size: int, method: PosteriorMethod, width: int) -> int:
        """Inputs per forward pass when scoring and predicting, given the learner's
        ``chunk_size`` (classification: it; segmentation caps it by the bytes of a chunk)."""
        raise NotImplementedError


class ClassificationTask(Task):
    """Single-label classification: a network returns logits ``[N, C]``, a posterior
    ``[N, K, C]`` log-probabilities, a label is a class index in ``[0, C)``. Every
    strategy that reads what the learner provides applies (pool and target log-probs,
    pool and labelled embeddings); ``evaluate`` reports ``accuracy`` and ``nll``."""

    name: ClassVar[str] = "classification"
    #: The strategy inputs the learner provides for this task.
    PROVIDES = frozenset({POOL_LOG_PROBS, TARGET_LOG_PROBS, EMBEDDINGS, LABELLED_EMBEDDINGS})

    def output_width(self, out: object, expected: int | None) -> int:
        if not isinstance(out, Tensor) or out.ndim != 2 or len(out) != 1:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise InvalidInputError(f"the model must return logits [N, C], got {shape} for N=1")
        width = int(out.shape[1])
        if width < 2:
            raise InvalidInputError(f"the model returns {width} class(es); need >= 2")
        if expected is not None and expected != width:
            raise InvalidInputError(
                f"num_classes={expected}, but the model returns {width} logits per input"
            )
        return width

    def check_labels(self, ids: IdArray, labels: ArrayLike | Tensor, width: int) -> IdArray:
        if isinstance(labels, Tensor):
            labels = labels.detach().cpu().numpy()
        raw = np.atleast_1d(np.asarray(labels))
        if raw.dtype.kind == "f" and raw.size and not np.all(np.equal(np.mod(raw, 1), 0)):
            raise InvalidInputError("labels must be integers (class indices)")
        values = as_id_array(raw.astype(np.int64) if raw.dtype.kind == "f" else raw, "labels")
        if len(values) != len(ids):
            raise InvalidInputError(f"{len(ids)} ids but {len(values)} labels")
        bad = (values < 0) | (values >= width)
        if bad.any():
            raise InvalidInputError(
                f"labels must lie in [0, {width}); got {values[bad][:5].tolist()} "
                f"for ids {ids[bad][:5].tolist()}"
            )
        return values

    def check_strategy(self, strategy: Strategy) -> None:
        unsupported = strategy_inputs(strategy) - self.PROVIDES
        if unsupported:
            raise InvalidInputError(
                f"strategy {strategy.name!r} needs {sorted(unsupported)}, which the "
                "learner does not provide (it provides pool and target log-probs, pool "
                "embeddings and labelled embeddings)"
            )

    def test_labels(self, labels: ArrayLike | Tensor, width: int) -> Tensor:
        y = torch.as_tensor(as_id_array(labels, "labels"))
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= width):
            raise InvalidInputError(
                f"test labels must lie in [0, {width}), got [{int(y.min())}, {int(y.max())}]"
            )
        return y

    def empty_metrics(self) -> dict[str, float]:
        return {"accuracy": math.nan, "nll": math.nan}

    def metrics(self, predictive: Tensor, labels: Tensor) -> dict[str, float]:
        """Accuracy and mean negative log-likelihood of the log predictive ``[N, C]``."""
        accuracy = (predictive.argmax(-1) == labels).double().mean().item()
        nll = -predictive.gather(1, labels[:, None]).double().mean().item()
        return {"accuracy": accuracy, "nll": nll}

    def label_counts(self, labels: IdArray, width: int) -> dict[str, Any]:
        per_class: NDArray[np.int64] = np.bincount(labels[labels >= 0], minlength=width or 0)
        return {"labels_per_class": per_class.tolist()}

    def saved_label_problem(self, known: IdArray, width: int) -> str | None:
        out = known[(known < 0) | (known >= width)]
        if len(out):
            return (
                f"{len(out)} label(s) outside the {width} classes [0, {width}) (e.g. {int(out[0])})"
            )
        return None

    # ---- hooks

    def make_strategy(self, strategy: object, params: Mapping[str, Any] | None) -> Strategy:
        """The strategy of ``strategy=`` and ``strategy_params=`` (classification: the strategy
        registry's, :func:`~bayesal.learner.validation.strategy_of`)."""
        from bayesal.learner.validation import strategy_of

        return strategy_of(strategy, params)

    def configure_method(self, method: PosteriorMethod) -> PosteriorMethod:
        """The posterior method the learner uses (classification: ``method`` itself)."""
        return method

    def wrap_model(
        self, build: Callable[[int], nn.Module], width: int
    ) -> Callable[[int], nn.Module]:
        """The model builder the learner trains, given the user's ``build`` whose output
        has ``width`` columns (classification: ``build`` itself)."""
        return build

    def label_store(self, pool: Pool, width: int) -> Pool:
        """The pool that keeps the label values, for a model output of ``width`` columns
        (classification: ``pool``, int64 class ids)."""
        return pool

    def label_shape(self, width: int) -> tuple[int, ...]:
        """The shape of one stored label value (classification: a scalar)."""
        return ()

    def known_labels(self, labels: ArrayLike, n: int) -> tuple[NDArray[np.bool_], Any]:
        """The constructor's ``labels=`` (one per pool input, missing marked): which are
        known, and the values (classification: ints, :data:`~bayesal.data.pool.MISSING` = -1)."""
        values = as_id_array(labels, "labels")
        if len(values) != n:
            raise InvalidInputError(f"{len(values)} labels for a pool of {n} inputs")
        known: NDArray[np.bool_] = values != MISSING
        return known, values

    def predict(self, learner: ActiveLearner, inputs: Any) -> Tensor:
        """What :meth:`metrics` reads for test ``inputs`` (classification: the log predictive
        ``[N, C]``, :meth:`~bayesal.learner.ActiveLearner.predict_log_probs`)."""
        return learner.predict_log_probs(inputs)

    def saved_labels_problem(
        self, labels: NDArray[Any], labelled: NDArray[np.bool_], width: int
    ) -> str | None:
        """What is wrong with a save file's label values ``labels`` (of the shape
        :meth:`label_shape` gives per item; ``labelled`` the labelled mask). Classification:
        integers, :meth:`saved_label_problem` of the known ones, MISSING elsewhere."""
        if not np.issubdtype(labels.dtype, np.integer):
            return f"labels have dtype {labels.dtype}, not integers"
        problem = self.saved_label_problem(labels[labelled & (labels != MISSING)], width)
        if problem is not None:
            return problem
        if (labels[~labelled] != MISSING).any():
            return f"unlabelled items carry label values (should be {MISSING})"
        return None

    def restore_labels(self, pool: Pool, labelled: NDArray[np.bool_], labels: NDArray[Any]) -> None:
        """Put a save file's labels (checked, in the pool's sorted id order) into
        ``pool``. Classification: class ids, and ids marked labelled without a value."""
        values = np.asarray(labels, dtype=np.int64)
        sorted_ids = pool.ids
        with_value = labelled & (values != MISSING)
        pool.label(sorted_ids[with_value], values[with_value])
        if (labelled & ~with_value).any():
            pool.label(sorted_ids[labelled & ~with_value])

    def saved_label_shape(self, width: int, labels: NDArray[Any]) -> tuple[int, ...]:
        """:meth:`label_shape` (a scalar per item)."""
        return self.label_shape(width)

    def chunk_size(self, chunk_size: int, method: PosteriorMethod, width: int) -> int:
        """The learner's ``chunk_size``, unchanged."""
        return chunk_size


#: The task types by name: ``ActiveLearner(task=name)``. A new task type adds its class.
TASK_TYPES: dict[str, type[Task]] = {ClassificationTask.name: ClassificationTask}


def get_task(task: object) -> Task:
    """The :class:`Task` named ``task`` (one of :data:`TASK_TYPES`)."""
    if isinstance(task, str) and task in TASK_TYPES:
        return TASK_TYPES[task]()
    raise InvalidInputError(
        f"task must be one of {', '.join(repr(t) for t in TASK_TYPES)}, got {task!r}"
    )
