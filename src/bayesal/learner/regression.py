"""The regression task: ``ActiveLearner(X, model=..., task="regression")``.

* **Network**: returns ``[N, 2]``, a mean and a log-variance per input (heteroscedastic
  noise), or ``[N, 1]``, a mean only. A mean-only network is wrapped in
  :class:`~bayesal.posterior.heads.LearnedNoise`: one log-variance parameter shared by
  every input (homoscedastic noise), initially 0 (variance 1), **learned** with the
  network by the same loss and saved with its weights. The learner's ``num_classes`` is
  the network's own width (1 or 2).
* **Posterior output**: ``[N, K, 2]`` per parameter sample, ``(μ_k, log σ²_k)``, the
  log-variance floored at ``log 1e-6`` (:class:`~bayesal.posterior.heads.GaussianHead`),
  from MC dropout (consistent masks, as for classification) or a deep ensemble of such
  networks, or, with ``model=None``, from ``posterior="forest"``: a scikit-learn
  regression forest whose tree ``k`` gives ``μ_k`` (its prediction) and ``σ²_k`` (the
  variance of the training targets in the input's leaf, floored;
  :mod:`bayesal.posterior.forest`), ``num_classes`` then 2; other posterior methods are
  refused.
* **Training loss**: the Gaussian negative log-likelihood ``½ (log σ² + (y - μ)² / σ²)``
  averaged over the batch. Targets are used as given: standardise them (zero mean, unit
  variance) for the default training settings to fit in a few hundred steps.
* **Labels**: floats, ``teach(ids, y)`` with ``y`` ``[n]`` (or ``[n, 1]``), finite; stored
  as float64 with NaN for unlabelled ids (also the missing marker of ``labels=``).
* **Strategies** (:data:`bayesal.tasks.TASK_STRATEGIES` ``["regression"]``, built by
  :func:`bayesal.tasks.build_strategy`): ``predictive_variance`` (``E_k[σ²] + Var_k[μ]``,
  total uncertainty), ``epistemic_variance`` (``Var_k[μ]``, Depeweg et al. 2018),
  ``bald`` and ``random``, with their stochastic variants. **``bald`` is the mutual
  information** ``I[y; θ | x]`` under a Gaussian approximation of the predictive
  (:func:`~bayesal.tasks.regression.gaussian_mutual_information`,
  ``½ log(E_k[σ²] + Var_k[μ]) - E_k[½ log σ²_k]``): BALD's own definition, the epistemic
  score in information units. With a mean-only network under MC dropout the noise
  variance is the same in every sample, so ``bald = ½ log(1 + Var_k[μ] / σ²)`` ranks the
  pool exactly as ``epistemic_variance`` does.
* **evaluate**: ``rmse`` (of the mixture mean), ``nll`` (of the Gaussian mixture
  ``(1/K) Σ_k N(μ_k, σ²_k)``, nats, with the ``½ log 2π`` term) and ``coverage_90`` (the
  fraction of targets inside the mixture's central 90% interval), from the posterior's
  K samples on the test inputs under the current round's draw
  (:func:`bayesal.tasks.regression.metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from bayesal.data.pool import IdArray, Pool
from bayesal.errors import InvalidInputError
from bayesal.learner.head_task import HeadTask
from bayesal.learner.labels import ValuePool
from bayesal.learner.task import TASK_TYPES
from bayesal.posterior.heads import GaussianHead, LearnedNoise, OutputHead
from bayesal.tasks.table import regression_metrics

__all__ = ["RegressionTask", "WithLearnedNoise"]


class WithLearnedNoise:
    """A model builder: ``build(seed)`` followed by
    :class:`~bayesal.posterior.heads.LearnedNoise` (``[N, 1]`` -> ``[N, 2]``), in one
    ``nn.Sequential`` (a Sequential network stays on MC dropout's fast path).

    Args:
        build: the user's ``seed -> nn.Module`` returning means ``[N, 1]``.
    """

    def __init__(self, build: Callable[[int], nn.Module]) -> None:
        self.build = build

    def __call__(self, seed: int) -> nn.Module:
        """A fresh network with its noise parameter."""
        return nn.Sequential(self.build(seed), LearnedNoise())


class RegressionTask(HeadTask):
    """Regression with a Gaussian per input (see the module docstring)."""

    name: ClassVar[str] = "regression"
    min_width: ClassVar[int] = 1
    model_free_width: ClassVar[int | None] = 2

    def head(self) -> OutputHead:
        return GaussianHead()

    def output_width(self, out: object, expected: int | None) -> int:
        if (
            not isinstance(out, Tensor)
            or out.ndim != 2
            or len(out) != 1
            or out.shape[1] not in (1, 2)
        ):
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise InvalidInputError(
                "a regression model must return [N, 2] (mean, log-variance) or [N, 1] "
                f"(mean; the noise variance is then learned), got {shape} for N=1"
            )
        width = int(out.shape[1])
        if expected is not None and expected != width:
            raise InvalidInputError(
                f"num_classes={expected}, but the model returns {width} outputs per input"
            )
        return width

    def wrap_model(
        self, build: Callable[[int], nn.Module], width: int
    ) -> Callable[[int], nn.Module]:
        return WithLearnedNoise(build) if width == 1 else build

    def _targets(self, labels: ArrayLike | Tensor, what: str) -> NDArray[np.float64]:
        if isinstance(labels, Tensor):
            labels = labels.detach().cpu().numpy()
        raw = np.asarray(labels)
        if raw.dtype == object or not (
            np.issubdtype(raw.dtype, np.number) or raw.dtype == np.bool_
        ):
            raise InvalidInputError(f"{what} must be numbers (floats), got dtype {raw.dtype}")
        if raw.ndim == 2 and raw.shape[1] == 1:
            raw = raw[:, 0]
        if raw.ndim != 1:
            raise InvalidInputError(
                f"{what} must have shape [n] (one float per item), got {list(raw.shape)}"
            )
        values = raw.astype(np.float64)
        if not np.isfinite(values).all():
            raise InvalidInputError(f"{what} must be finite numbers (no NaN or infinity)")
        return values

    def check_labels(self, ids: IdArray, labels: ArrayLike | Tensor, width: int) -> Any:
        values = self._targets(np.atleast_1d(np.asarray(labels)), "labels")
        if len(values) != len(ids):
            raise InvalidInputError(f"{len(ids)} ids but {len(values)} labels")
        return values

    def test_labels(self, labels: ArrayLike | Tensor, width: int) -> Tensor:
        return torch.from_numpy(self._targets(labels, "test labels"))

    def empty_metrics(self) -> dict[str, float]:
        return {name: math.nan for name in ("rmse", "nll", "coverage_90")}

    def metrics(self, predictive: Tensor, labels: Tensor) -> dict[str, float]:
        """:func:`bayesal.tasks.regression.metrics` of the posterior output ``[N, K, 2]``."""
        return regression_metrics(labels.numpy(), predictive)

    def label_counts(self, labels: IdArray, width: int) -> dict[str, Any]:
        values = np.asarray(labels, dtype=np.float64)
        if len(values) == 0:
            return {"label_mean": math.nan, "label_std": math.nan}
        return {"label_mean": float(values.mean()), "label_std": float(values.std())}

    def label_store(self, pool: Pool, width: int) -> Pool:
        return ValuePool(pool, (), np.float64, math.nan)

    def label_shape(self, width: int) -> tuple[int, ...]:
        return ()

    def known_labels(self, labels: ArrayLike, n: int) -> tuple[NDArray[np.bool_], Any]:
        raw = np.asarray(labels, dtype=np.float64)
        if raw.shape != (n,):
            raise InvalidInputError(
                f"labels= must be [n] floats for a pool of {n} inputs (NaN where unknown), "
                f"got {list(raw.shape)}"
            )
        known: NDArray[np.bool_] = ~np.isnan(raw)
        return known, raw

    def saved_label_problem(self, known: IdArray, width: int) -> str | None:
        if not np.isfinite(known).all():
            return "regression labels that are not finite numbers"
        return None

    def saved_labels_problem(
        self, labels: NDArray[Any], labelled: NDArray[np.bool_], width: int
    ) -> str | None:
        if not np.issubdtype(labels.dtype, np.floating):
            return f"labels have dtype {labels.dtype}, not floats"
        problem = self.saved_label_problem(labels[labelled], width)
        if problem is not None:
            return problem
        if not np.isnan(labels[~labelled]).all():
            return "unlabelled items carry label values (should be NaN)"
        return None

    def restore_labels(self, pool: Pool, labelled: NDArray[np.bool_], labels: NDArray[Any]) -> None:
        pool.label(pool.ids[labelled], labels[labelled])


TASK_TYPES[RegressionTask.name] = RegressionTask
