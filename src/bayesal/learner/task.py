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

Only :class:`ClassificationTask` exists now (``task="classification"``, the default; its
behaviour is the learner's before the seam existed, bit for bit). Adding a task type
(multi-label ``[N, K, L]`` Bernoulli log-probabilities, regression ``[N, K, 2]``,
segmentation ``[N, K, C, H, W]``) is: a subclass of :class:`Task` in a module of its own,
whose methods read the scores and metrics of :mod:`bayesal.tasks`, and one line in
:data:`TASK_TYPES`. Two things are not behind the seam yet and a new task must extend
them: the pool stores labels as int64 class indices with ``-1`` for missing
(:class:`~bayesal.data.pool.Pool`), so float or ``[L]``-vector labels need a label store
of their own; and the save file (:mod:`bayesal.learner.persistence`) writes the task's
name only for a task other than classification (so files of classification learners
stay readable by older versions).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from bayesal.acquisition.base import (
    EMBEDDINGS,
    LABELLED_EMBEDDINGS,
    POOL_LOG_PROBS,
    TARGET_LOG_PROBS,
    Strategy,
    strategy_inputs,
)
from bayesal.data.pool import IdArray, as_id_array
from bayesal.errors import InvalidInputError

__all__ = ["TASK_TYPES", "ClassificationTask", "Task", "get_task"]


class Task:
    """A kind of label (the base of every task type; see the module's docstring).

    ``width`` is the learner's ``num_classes``: the width of the network's output per
    input, as :meth:`output_width` returned it."""

    #: The task's name, as ``ActiveLearner(task=...)`` and a save file spell it.
    name: ClassVar[str]

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


#: The task types by name: ``ActiveLearner(task=name)``. A new task type adds its class.
TASK_TYPES: dict[str, type[Task]] = {ClassificationTask.name: ClassificationTask}


def get_task(task: object) -> Task:
    """The :class:`Task` named ``task`` (one of :data:`TASK_TYPES`)."""
    if isinstance(task, str) and task in TASK_TYPES:
        return TASK_TYPES[task]()
    raise InvalidInputError(
        f"task must be one of {', '.join(repr(t) for t in TASK_TYPES)}, got {task!r}"
    )
