"""The multi-label task: ``ActiveLearner(X, model=..., task="multilabel")``.

* **Network**: returns L logits ``[N, L]`` (``L >= 1``), one per binary label; the
  learner's ``num_classes`` is L.
* **Posterior output**: ``[N, K, L]`` Bernoulli log-probabilities ``log p(y_l = 1) =
  logsigmoid(z_l)`` per parameter sample (:class:`~bayesal.posterior.heads.MultilabelHead`),
  from MC dropout (the same consistent masks as for classification) or a deep ensemble;
  other posterior methods are refused.
* **Training loss**: binary cross-entropy with logits, averaged over items and labels.
* **Labels**: ``teach(ids, y)`` with ``y`` ``[n, L]`` in {0, 1} (ints, bools or floats
  equal to 0 or 1); stored as int64 rows, ``-1`` rows for unlabelled ids (also the
  missing marker of the constructor's ``labels=``).
* **Strategies**: ``entropy``, ``bald``, ``margin`` (``strategy_params={"reduction":
  "min"}`` for the minimum-margin rule), ``random`` and their stochastic variants
  (:data:`bayesal.tasks.TASK_STRATEGIES`, built by :func:`bayesal.tasks.build_strategy`),
  or a :class:`~bayesal.acquisition.base.Strategy` object that reads ``[N, K, L]``.
  Labels are taken as independent given the parameters (:mod:`bayesal.tasks.multilabel`).
* **evaluate**: ``f1_micro``, ``f1_macro`` (labels predicted on where the MC-averaged
  ``p̄_l >= 0.5``) and ``mean_average_precision`` (of ``p̄_l``), from the posterior's K
  samples on the test inputs: the draw of the current round, the one the next query
  scores with (:func:`bayesal.tasks.multilabel.metrics`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from bayesal.data.pool import IdArray, Pool
from bayesal.errors import InvalidInputError
from bayesal.learner.head_task import HeadTask
from bayesal.learner.labels import ValuePool
from bayesal.learner.task import TASK_TYPES
from bayesal.posterior.heads import MultilabelHead, OutputHead
from bayesal.tasks import multilabel as scores

__all__ = ["MultilabelTask"]


class MultilabelTask(HeadTask):
    """Multi-label classification (see the module docstring)."""

    name: ClassVar[str] = "multilabel"
    min_width: ClassVar[int] = 1

    def head(self) -> OutputHead:
        return MultilabelHead()

    def output_width(self, out: object, expected: int | None) -> int:
        if not isinstance(out, Tensor) or out.ndim != 2 or len(out) != 1:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise InvalidInputError(
                f"a multi-label model must return logits [N, L], got {shape} for N=1"
            )
        width = int(out.shape[1])
        if width < 1:
            raise InvalidInputError("the model returns no logit; need L >= 1 labels")
        if expected is not None and expected != width:
            raise InvalidInputError(
                f"num_classes={expected}, but the model returns {width} logits per input"
            )
        return width

    def _vectors(self, labels: ArrayLike | Tensor, width: int, what: str) -> NDArray[np.int64]:
        if isinstance(labels, Tensor):
            labels = labels.detach().cpu().numpy()
        raw = np.asarray(labels)
        if raw.dtype == object or not (
            np.issubdtype(raw.dtype, np.number) or raw.dtype == np.bool_
        ):
            raise InvalidInputError(f"{what} must be numbers 0 / 1, got dtype {raw.dtype}")
        if raw.ndim != 2 or raw.shape[1] != width:
            raise InvalidInputError(
                f"{what} must have shape [n, L] = [n, {width}] (one 0/1 row per item), got "
                f"{list(raw.shape)}"
            )
        values = raw.astype(np.float64)
        if np.isnan(values).any():
            raise InvalidInputError(f"{what} contain NaN; every label must be 0 or 1")
        bad = (values != 0) & (values != 1)
        if bad.any():
            raise InvalidInputError(
                f"{what} must be 0 or 1, got {np.unique(values[bad])[:5].tolist()}"
            )
        return values.astype(np.int64)

    def check_labels(self, ids: IdArray, labels: ArrayLike | Tensor, width: int) -> Any:
        raw = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
        if raw.ndim == 1 and len(ids) == 1:  # teach(id, row): one item's [L] row
            raw = raw[None]
        values = self._vectors(raw, width, "labels")
        if len(values) != len(ids):
            raise InvalidInputError(f"{len(ids)} ids but {len(values)} labels")
        return values

    def test_labels(self, labels: ArrayLike | Tensor, width: int) -> Tensor:
        raw = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
        if raw.size == 0:
            return torch.zeros((0, width), dtype=torch.int64)
        return torch.from_numpy(self._vectors(raw, width, "test labels"))

    def empty_metrics(self) -> dict[str, float]:
        return {name: math.nan for name in ("f1_micro", "f1_macro", "mean_average_precision")}

    def metrics(self, predictive: Tensor, labels: Tensor) -> dict[str, float]:
        """:func:`bayesal.tasks.multilabel.metrics` of the posterior output ``[N, K, L]``."""
        return scores.metrics(labels.numpy(), predictive)

    def label_counts(self, labels: IdArray, width: int) -> dict[str, Any]:
        positives = np.asarray(labels).reshape(-1, width).sum(axis=0)
        return {"positives_per_label": positives.astype(np.int64).tolist()}

    def label_store(self, pool: Pool, width: int) -> Pool:
        return ValuePool(pool, (width,), np.int64, -1)

    def label_shape(self, width: int) -> tuple[int, ...]:
        return (width,)

    def known_labels(self, labels: ArrayLike, n: int) -> tuple[NDArray[np.bool_], Any]:
        raw = np.asarray(labels, dtype=np.float64)
        if raw.ndim != 2 or len(raw) != n:
            raise InvalidInputError(
                f"labels= must be [n, L] for a pool of {n} inputs (rows of -1 or NaN where "
                f"unknown), got {list(raw.shape)}"
            )
        missing = np.isnan(raw).all(axis=1) | (raw == -1).all(axis=1)
        return ~missing, raw

    def saved_label_problem(self, known: IdArray, width: int) -> str | None:
        if ((known != 0) & (known != 1)).any():
            return "multi-label values other than 0 and 1"
        return None

    def saved_labels_problem(
        self, labels: NDArray[Any], labelled: NDArray[np.bool_], width: int
    ) -> str | None:
        if not np.issubdtype(labels.dtype, np.integer):
            return f"labels have dtype {labels.dtype}, not integers"
        problem = self.saved_label_problem(labels[labelled], width)
        if problem is not None:
            return problem
        if (labels[~labelled] != -1).any():
            return "unlabelled items carry label values (should be rows of -1)"
        return None

    def restore_labels(self, pool: Pool, labelled: NDArray[np.bool_], labels: NDArray[Any]) -> None:
        pool.label(pool.ids[labelled], labels[labelled])


TASK_TYPES[MultilabelTask.name] = MultilabelTask
