"""A dataset of another task type than classification: multi-label rows or float targets.

:class:`TaskDataset` is a :class:`~bayesal.data.dataset.Dataset` whose ``task`` says what
a label is (``docs/tasks.md``):

* ``"multilabel"``: ``train_y`` / ``test_y`` are int64 ``[n, L]`` rows of 0 and 1, and
  ``num_classes`` is L (the width of the network's output, one logit per label);
* ``"regression"``: ``train_y`` / ``test_y`` are float32 ``[n]`` finite targets, and
  ``num_classes`` is 2: the width of a network that returns a mean and a log-variance
  per input (what an experiment config's ``model`` gets as ``num_classes`` when it
  leaves it out).

:func:`dataset_task` is ``"classification"`` for a plain :class:`Dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bayesal.data.dataset import Dataset
from bayesal.errors import InvalidInputError

__all__ = ["REGRESSION_WIDTH", "TaskDataset", "dataset_task"]

#: ``num_classes`` of a regression dataset: a network's (mean, log-variance) output.
REGRESSION_WIDTH = 2


@dataclass(frozen=True)
class TaskDataset(Dataset):
    """A :class:`~bayesal.data.dataset.Dataset` of ``task`` ``"multilabel"`` or
    ``"regression"`` (see the module docstring for the label forms)."""

    task: str = "multilabel"

    def __post_init__(self) -> None:
        if self.task not in ("multilabel", "regression"):
            raise InvalidInputError(
                f"TaskDataset task must be 'multilabel' or 'regression', got {self.task!r} "
                "(a classification dataset is a plain Dataset)"
            )
        pairs = [("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)]
        if self.val_x is not None or self.val_y is not None:
            if self.val_x is None or self.val_y is None:
                raise InvalidInputError("val_x and val_y must be given together")
            pairs.append(("val", self.val_x, self.val_y))
        for split, x, y in pairs:
            if len(x) != len(y):
                raise InvalidInputError(f"{split}: {len(x)} inputs but {len(y)} labels")
            if self.task == "multilabel":
                if y.ndim != 2 or y.shape[1] != self.num_classes:
                    raise InvalidInputError(
                        f"{split} labels of a multi-label dataset must be [n, L] with L = "
                        f"num_classes = {self.num_classes}, got shape {tuple(y.shape)}"
                    )
                if len(y) and not bool(((y == 0) | (y == 1)).all()):
                    raise InvalidInputError(f"{split} multi-label labels must be 0 or 1")
            else:
                if y.ndim != 1 or not torch.is_floating_point(y):
                    raise InvalidInputError(
                        f"{split} targets of a regression dataset must be floats [n], got "
                        f"{y.dtype} of shape {tuple(y.shape)}"
                    )
                if len(y) and not bool(torch.isfinite(y).all()):
                    raise InvalidInputError(f"{split} regression targets must be finite")
        if self.task == "regression" and self.num_classes != REGRESSION_WIDTH:
            raise InvalidInputError(
                f"a regression dataset's num_classes is the network's output width "
                f"{REGRESSION_WIDTH} (mean, log-variance), got {self.num_classes}"
            )


def dataset_task(dataset: Dataset) -> str:
    """The task of ``dataset``: its ``task`` for a :class:`TaskDataset`, else
    ``"classification"``."""
    return dataset.task if isinstance(dataset, TaskDataset) else "classification"
