"""A posterior from a scikit-learn tree ensemble: each fitted estimator is one sample.

``{name: forest, params: {kind: random_forest | extra_trees | bagging, n_estimators: 100}}``
fits a :class:`~sklearn.ensemble.RandomForestClassifier`,
:class:`~sklearn.ensemble.ExtraTreesClassifier` or
:class:`~sklearn.ensemble.BaggingClassifier` (of decision trees) on the labelled
inputs, flattened to ``[N, D]`` features. Estimator ``k``'s ``predict_proba`` is sample
``k`` of the ``[N, K, C]`` log-probs, so BALD, margin, BatchBALD, EPIG and every other
strategy run on tabular data without a neural network (the spread of the trees' votes
plays the part of the spread of parameter samples; a bootstrap / random-split ensemble
is a crude but well-tried posterior, see e.g. Breiman 2001 and the query-by-committee
literature).

Details that make the tensor meet the contract:

- **Classes.** Columns are aligned to all C classes of the problem (the learner passes
  ``num_classes``), also when a class has no label yet, or when one bagging estimator's
  bootstrap sample lacks a class: such a class gets probability 0 before the floor.
- **Floor.** A fully grown tree often predicts exactly 0 for a class, and ``log 0`` is
  ``-inf``. Each estimator's probabilities are clipped from below at ``min_prob``
  (default ``1e-6``) and renormalised to sum to 1, so every log-prob is finite and at
  least about ``log(min_prob) = -13.8``. The floor changes the probabilities by at most
  ``(C - 1) * min_prob`` and BALD or entropy by about ``C * min_prob * 14`` nats.
- **Consistency.** A draw is a fixed list of estimators: every chunk of the pool (and
  EPIG's targets) sees the same K estimators. The method's draws use all
  ``n_estimators`` of them, in order (K = ``n_estimators``; the generator is not used);
  :meth:`ForestPosterior.draw` with fewer samples takes a random subset chosen by the
  generator.
- **Determinism.** The ensemble's ``random_state`` is the round's model-initialisation
  seed (``seeds.init(0)``, reduced to 32 bits), so the same labels and seed give the
  same trees; ``n_jobs`` (default 1) does not change the result.

Evaluation uses the mean of the (floored) estimators' probabilities, the ensemble's own
predictive. No torch model is trained: the method declares ``needs_model = False``, so
a learner or an experiment runs it with ``model=None``. Inputs must be numeric; any
``[N, ...]`` shape is flattened. Training settings (``training:``) are not used.

**Regression** (``task="regression"``: the task sets the method's Gaussian head, see
:meth:`~bayesal.learner.regression.RegressionTask.configure_method`). The ensemble is a
:class:`~sklearn.ensemble.RandomForestRegressor`, :class:`~sklearn.ensemble.ExtraTreesRegressor`
or :class:`~sklearn.ensemble.BaggingRegressor` of regression trees, fitted on the float
targets; sample ``k`` of the ``[N, K, 2]`` output is a Gaussian per input, ``(μ_k, log σ²_k)``:

- ``μ_k(x)``: tree ``k``'s prediction (the mean of the training targets in the leaf of
  ``x``, in-bag ones counted with their bootstrap multiplicity);
- ``σ²_k(x)``: the **within-leaf variance** of those same training targets (the tree's
  ``tree_.impurity`` of that leaf under the squared-error criterion), floored at
  :data:`DEFAULT_MIN_VARIANCE` (``1e-6``, the Gaussian head's floor).

Why this estimator: it is the noise each tree itself implies (the spread of the targets
it could not separate), it is heteroscedastic (larger where the targets in a region
disagree), it is defined for every kind (with or without bootstrap, where an out-of-bag
residual is not) and costs nothing beyond the fit. A fully grown tree has one distinct
target per leaf and so variance 0, so the regression trees' ``min_samples_leaf``
defaults to 5 (R's ``randomForest`` default node size for regression) unless set; the
criterion must be ``squared_error`` (or ``friedman_mse``, whose leaf impurity is the same
variance). The split between the trees' spread (epistemic) and the leaf variance
(aleatoric) is what ``bald`` and ``epistemic_variance`` read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from bayesal.errors import InvalidInputError
from bayesal.posterior.base import (
    Posterior,
    PosteriorDraw,
    check_inputs,
    choose_members,
)
from bayesal.posterior.methods import (
    EVAL_CHUNK_SIZE,
    FitSeeds,
    FittedPosterior,
    ModelBuilder,
    PosteriorMethod,
)
from bayesal.training import TrainConfig

__all__ = [
    "DEFAULT_MIN_PROB",
    "DEFAULT_MIN_VARIANCE",
    "KINDS",
    "REGRESSION_MIN_SAMPLES_LEAF",
    "ForestMethod",
    "ForestPosterior",
    "ForestRegressionPosterior",
]

KINDS = ("random_forest", "extra_trees", "bagging")
#: Each estimator's probabilities are clipped from below at this value, then renormalised.
DEFAULT_MIN_PROB = 1e-6
#: Regression: each tree's leaf variance is floored at this value (the Gaussian head's).
DEFAULT_MIN_VARIANCE = 1e-6
#: Regression: the trees' ``min_samples_leaf`` unless set (a leaf of one target has
#: variance 0).
REGRESSION_MIN_SAMPLES_LEAF = 5


def _features(inputs_N: Tensor) -> NDArray[np.float32]:
    """``[N, ...]`` inputs as a ``[N, D]`` float32 array (what sklearn's trees use)."""
    check_inputs(inputs_N)
    if inputs_N.is_complex() or not (
        inputs_N.is_floating_point()
        or inputs_N.dtype
        in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool)
    ):
        raise InvalidInputError(f"posterior 'forest' needs numeric inputs, got {inputs_N.dtype}")
    x = inputs_N.detach().reshape(len(inputs_N), -1).to("cpu", torch.float32).numpy()
    if not np.isfinite(x).all():
        raise InvalidInputError("posterior 'forest' needs finite inputs (found NaN or infinity)")
    return x


class ForestPosterior(Posterior):
    """K = number of estimators samples of a fitted sklearn ensemble.

    Args:
        ensemble: a fitted ``RandomForestClassifier``, ``ExtraTreesClassifier`` or
            ``BaggingClassifier`` whose labels are class indices in ``[0, num_classes)``.
        num_classes: C, the width of the log-probs (classes without a label included).
        min_prob: the probability floor (see the module docstring).
    """

    def __init__(self, ensemble: Any, num_classes: int, min_prob: float = DEFAULT_MIN_PROB):
        self.ensemble = ensemble
        self.num_classes = num_classes
        self.min_prob = min_prob
        estimators = list(ensemble.estimators_)
        # Bagging may train each estimator on a subset of the features.
        features = getattr(ensemble, "estimators_features_", None)
        self._features = list(features) if features is not None else [None] * len(estimators)
        self._estimators = estimators
        # Each estimator's classes_ index the ensemble's classes_ (labels it was fitted
        # on, encoded 0..n-1); the ensemble's classes_ are our class indices.
        top = np.asarray(ensemble.classes_).astype(np.int64)
        self._columns = [top[np.asarray(e.classes_).astype(np.int64)] for e in estimators]

    @property
    def num_estimators(self) -> int:
        return len(self._estimators)

    def probs(self, x_N_D: NDArray[np.float32], which: list[int]) -> NDArray[np.float64]:
        """Floored, renormalised probabilities ``[N, len(which), C]`` of estimators ``which``."""
        out = np.zeros((len(x_N_D), len(which), self.num_classes), dtype=np.float64)
        for k, e in enumerate(which):
            feats = self._features[e]
            x = x_N_D if feats is None else x_N_D[:, feats]
            out[:, k, self._columns[e]] = self._estimators[e].predict_proba(x)
        np.maximum(out, self.min_prob, out=out)
        out /= out.sum(axis=-1, keepdims=True)
        return out

    def draw(self, num_samples: int, generator: torch.Generator) -> PosteriorDraw:
        return ForestDraw(self, _which(self.num_estimators, num_samples, generator))


def _which(m: int, num_samples: int, generator: torch.Generator) -> list[int]:
    """The estimators of a draw of ``num_samples`` out of ``m``: all of them in order, or
    a random subset chosen by ``generator``."""
    return choose_members(
        m,
        num_samples,
        generator,
        what=f"posterior 'forest' has {m} estimators",
        hint="raise n_estimators",
    )


class ForestRegressionPosterior(Posterior):
    """Regression: K = number of estimators Gaussians per input, ``(μ_k, log σ²_k)``.

    Args:
        ensemble: a fitted ``RandomForestRegressor``, ``ExtraTreesRegressor`` or
            ``BaggingRegressor`` of decision trees (squared-error criterion).
        min_variance: the floor of each tree's leaf variance.
    """

    def __init__(self, ensemble: Any, min_variance: float = DEFAULT_MIN_VARIANCE) -> None:
        self.ensemble = ensemble
        self.min_variance = min_variance
        self._estimators = list(ensemble.estimators_)
        features = getattr(ensemble, "estimators_features_", None)
        self._features = list(features) if features is not None else [None] * len(self._estimators)

    @property
    def num_estimators(self) -> int:
        return len(self._estimators)

    def gaussians(self, x_N_D: NDArray[np.float32], which: list[int]) -> NDArray[np.float64]:
        """``[N, len(which), 2]``: tree ``k``'s prediction and the log of its leaf's
        (floored) target variance."""
        out = np.zeros((len(x_N_D), len(which), 2), dtype=np.float64)
        for k, e in enumerate(which):
            feats = self._features[e]
            x = x_N_D if feats is None else x_N_D[:, feats]
            tree = self._estimators[e].tree_
            leaf = self._estimators[e].apply(x)
            out[:, k, 0] = tree.value[leaf, 0, 0]
            out[:, k, 1] = np.log(np.maximum(tree.impurity[leaf], self.min_variance))
        return out

    def draw(self, num_samples: int, generator: torch.Generator) -> PosteriorDraw:
        return ForestRegressionDraw(self, _which(self.num_estimators, num_samples, generator))


class ForestDraw(PosteriorDraw):
    """A fixed list of estimators: the same K samples for every batch of inputs."""

    def __init__(self, posterior: ForestPosterior, which: list[int]) -> None:
        self.posterior = posterior
        self.which = list(which)

    @property
    def num_samples(self) -> int:
        return len(self.which)

    def log_probs(self, inputs_N: Tensor) -> Tensor:
        """``[N, K, C]`` float32 log-probs on the CPU."""
        probs = self.posterior.probs(_features(inputs_N), self.which)
        return torch.from_numpy(np.log(probs)).float()


class ForestRegressionDraw(PosteriorDraw):
    """Regression: a fixed list of trees, the same K Gaussians' sources for every batch."""

    def __init__(self, posterior: ForestRegressionPosterior, which: list[int]) -> None:
        self.posterior = posterior
        self.which = list(which)

    @property
    def num_samples(self) -> int:
        return len(self.which)

    def log_probs(self, inputs_N: Tensor) -> Tensor:
        """``[N, K, 2]`` float32 (mean, log-variance) on the CPU."""
        return torch.from_numpy(self.posterior.gaussians(_features(inputs_N), self.which)).float()


class _ForestFitted(FittedPosterior):
    """A fitted forest: no torch models; the ensemble lives in ``extra["forest"]``, so
    that a saved learner restores it (the file is a pickle, like every saved learner)."""

    def _restored(self) -> ForestPosterior | ForestRegressionPosterior:
        if not isinstance(self.posterior, ForestPosterior | ForestRegressionPosterior):
            state = self.extra.get("forest")
            if not isinstance(state, dict):
                raise InvalidInputError("this forest posterior has no fitted ensemble")
            if state.get("regression"):
                self.posterior = ForestRegressionPosterior(state["ensemble"], state["min_variance"])
            else:
                self.posterior = ForestPosterior(
                    state["ensemble"], state["num_classes"], state["min_prob"]
                )
        return self.posterior

    def _forest(self) -> ForestPosterior:
        forest = self._restored()
        if not isinstance(forest, ForestPosterior):
            raise InvalidInputError(
                "a regression forest has no classification predictive: read its [N, K, 2] "
                "samples (draw(...).log_probs)"
            )
        return forest

    def draw(self, generator: torch.Generator) -> PosteriorDraw:
        return self._restored().draw(self.num_samples, generator)

    @torch.no_grad()
    def predict_log_probs(self, inputs_N: Tensor, chunk_size: int = EVAL_CHUNK_SIZE) -> Tensor:
        """``[N, C]`` log of the mean of all estimators' (floored) probabilities, on the CPU."""
        forest = self._forest()
        which = list(range(forest.num_estimators))
        chunks = []
        for start in range(0, len(inputs_N), chunk_size):
            probs = forest.probs(_features(inputs_N[start : start + chunk_size]), which)
            chunks.append(torch.from_numpy(np.log(probs.mean(axis=1))).float())
        if not chunks:
            return torch.zeros(0, forest.num_classes)
        return torch.cat(chunks)


def _check_int(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


class ForestMethod(PosteriorMethod):
    """Posterior ``forest``: a scikit-learn tree ensemble, one sample per estimator
    (classification; with the regression task's Gaussian head, regression trees: see the
    module docstring).

    Args:
        kind: ``random_forest`` (default), ``extra_trees`` or ``bagging`` (bagged
            decision trees).
        n_estimators: number of estimators, K (default 100): a draw is all of them.
        max_depth: passed to the sklearn estimator when given (None: sklearn's default
            for ``kind``).
        min_samples_leaf: likewise.
        max_features: likewise (for bagging, the share or number of features per
            estimator).
        bootstrap: likewise.
        min_prob: the probability floor (default ``1e-6``; in ``(0, 0.01]``).
        n_jobs: sklearn's parallel jobs (default 1; results do not depend on it).
        estimator_params: further keyword arguments of the sklearn estimator
            (``criterion``, ``max_samples``, ...).
    """

    name = "forest"
    needs_model = False
    #: Regression too: a Gaussian head makes :meth:`fit` grow regression trees.
    head_tasks = ("regression",)

    def __init__(
        self,
        kind: str = "random_forest",
        n_estimators: int = 100,
        max_depth: int | None = None,
        min_samples_leaf: int | None = None,
        max_features: int | float | str | None = None,
        bootstrap: bool | None = None,
        min_prob: float = DEFAULT_MIN_PROB,
        n_jobs: int = 1,
        estimator_params: dict[str, Any] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        self.kind = kind
        self.n_estimators = _check_int("n_estimators", n_estimators)
        self._k = self.n_estimators
        if (
            isinstance(min_prob, bool)
            or not isinstance(min_prob, int | float)
            or not math.isfinite(min_prob)
            or not 0 < min_prob <= 0.01
        ):
            raise InvalidInputError(f"min_prob must be a number in (0, 0.01], got {min_prob!r}")
        self.min_prob = float(min_prob)
        self.n_jobs = _check_int("n_jobs", n_jobs)
        if bootstrap is not None and not isinstance(bootstrap, bool):
            raise InvalidInputError(f"bootstrap must be true, false or null, got {bootstrap!r}")
        params: dict[str, Any] = {}
        if max_depth is not None:
            params["max_depth"] = _check_int("max_depth", max_depth)
        if min_samples_leaf is not None:
            params["min_samples_leaf"] = _check_int("min_samples_leaf", min_samples_leaf)
        if max_features is not None:
            params["max_features"] = max_features
        if bootstrap is not None:
            params["bootstrap"] = bootstrap
        if estimator_params is not None and not isinstance(estimator_params, dict):
            raise InvalidInputError(
                f"estimator_params must be a mapping, got {type(estimator_params).__name__}"
            )
        clash = sorted(set(params) & set(estimator_params or {}))
        if clash:
            raise InvalidInputError(f"{clash} given twice (as a parameter and in estimator_params)")
        params.update(estimator_params or {})
        for reserved in ("n_estimators", "random_state", "n_jobs", "estimator"):
            if reserved in params:
                raise InvalidInputError(
                    f"estimator_params cannot set {reserved!r} (set by the forest posterior)"
                )
        self.params = params
        self.new_ensemble(0)  # unknown parameter names fail now, not in the first round

    @property
    def num_models(self) -> int:
        return 0

    @property
    def num_samples(self) -> int:
        return self._k

    def new_ensemble(self, random_state: int) -> Any:
        """An unfitted sklearn ensemble of this method's kind and parameters."""
        from sklearn.ensemble import (  # imported here: sklearn.ensemble takes ~1 s
            BaggingClassifier,
            ExtraTreesClassifier,
            RandomForestClassifier,
        )
        from sklearn.tree import DecisionTreeClassifier

        common = {"n_estimators": self.n_estimators, "random_state": random_state}
        common["n_jobs"] = self.n_jobs
        try:
            if self.kind == "random_forest":
                return RandomForestClassifier(**common, **self.params)
            if self.kind == "extra_trees":
                return ExtraTreesClassifier(**common, **self.params)
            return BaggingClassifier(estimator=DecisionTreeClassifier(), **common, **self.params)
        except TypeError as exc:
            raise InvalidInputError(f"posterior 'forest' ({self.kind}): {exc}") from None

    def new_regressor(self, random_state: int) -> Any:
        """Regression: an unfitted sklearn ensemble of regression trees of this method's
        kind and parameters (``min_samples_leaf`` defaults to
        :data:`REGRESSION_MIN_SAMPLES_LEAF`)."""
        from sklearn.ensemble import (
            BaggingRegressor,
            ExtraTreesRegressor,
            RandomForestRegressor,
        )
        from sklearn.tree import DecisionTreeRegressor

        criterion = self.params.get("criterion", "squared_error")
        if criterion not in ("squared_error", "friedman_mse"):
            raise InvalidInputError(
                f"a regression forest needs criterion squared_error (its leaf impurity is the "
                f"leaf's target variance), got {criterion!r}"
            )
        common = {"n_estimators": self.n_estimators, "random_state": random_state}
        common["n_jobs"] = self.n_jobs
        leaf = {"min_samples_leaf": REGRESSION_MIN_SAMPLES_LEAF}
        try:
            if self.kind == "random_forest":
                return RandomForestRegressor(**common, **{**leaf, **self.params})
            if self.kind == "extra_trees":
                return ExtraTreesRegressor(**common, **{**leaf, **self.params})
            return BaggingRegressor(
                estimator=DecisionTreeRegressor(**leaf), **common, **self.params
            )
        except TypeError as exc:
            raise InvalidInputError(f"posterior 'forest' ({self.kind}): {exc}") from None

    def posterior(self, models: list[nn.Module]) -> Posterior:
        raise InvalidInputError(
            "a forest posterior is a fitted sklearn ensemble, not torch models: use fit(), "
            "or wrap([]) with extra['forest']"
        )

    def wrap(self, models: list[nn.Module]) -> FittedPosterior:
        if models:
            raise InvalidInputError(f"posterior 'forest' has no torch models, got {len(models)}")
        return _ForestFitted(None, [], self._k)  # type: ignore[arg-type]

    def fit(
        self,
        build_model: ModelBuilder | None,
        x_L: Tensor,
        y_L: Tensor,
        *,
        train_config: TrainConfig,
        seeds: FitSeeds,
        device: torch.device,
        transform: Callable[[Tensor], Tensor] | None = None,
        num_classes: int | None = None,
    ) -> FittedPosterior:
        """Fit the ensemble on ``(x_L, y_L)``. ``build_model``, ``train_config`` and
        ``device`` are not used (the trees run on the CPU). ``num_classes``: C (default:
        the largest label + 1; the learner always passes it, so that classes without a
        label still get a column)."""
        if transform is not None:
            raise InvalidInputError(
                "posterior 'forest' cannot apply train_transform (augmentation is for "
                "networks): leave it unset"
            )
        x = _features(x_L)
        if self.head is not None:  # regression (the only head this method takes)
            return self._fit_regression(x, y_L, seeds)
        y = torch.as_tensor(y_L).detach().cpu().numpy().astype(np.int64).reshape(-1)
        if len(y) != len(x) or len(y) == 0:
            raise InvalidInputError(f"{len(x)} inputs but {len(y)} labels (need at least one)")
        if y.min() < 0:
            raise InvalidInputError("labels must be class indices >= 0")
        c = int(y.max()) + 1 if num_classes is None else _check_int("num_classes", num_classes, 2)
        c = max(c, 2)
        if y.max() >= c:
            raise InvalidInputError(f"labels must lie in [0, {c}), got {int(y.max())}")
        ensemble = self.new_ensemble(int(seeds.init(0)) % 2**32)
        try:
            ensemble.fit(x, y)
        except ValueError as exc:
            raise InvalidInputError(f"posterior 'forest' ({self.kind}): {exc}") from None
        fitted = _ForestFitted(ForestPosterior(ensemble, c, self.min_prob), [], self._k)
        fitted.extra["forest"] = {
            "ensemble": ensemble,
            "num_classes": c,
            "min_prob": self.min_prob,
        }
        return fitted

    def _fit_regression(
        self, x: NDArray[np.float32], y_L: Tensor, seeds: FitSeeds
    ) -> FittedPosterior:
        y = torch.as_tensor(y_L).detach().cpu().numpy().astype(np.float64).reshape(-1)
        if len(y) != len(x) or len(y) == 0:
            raise InvalidInputError(f"{len(x)} inputs but {len(y)} targets (need at least one)")
        if not np.isfinite(y).all():
            raise InvalidInputError("regression targets must be finite")
        ensemble = self.new_regressor(int(seeds.init(0)) % 2**32)
        try:
            ensemble.fit(x, y)
        except ValueError as exc:
            raise InvalidInputError(f"posterior 'forest' ({self.kind}): {exc}") from None
        fitted = _ForestFitted(ForestRegressionPosterior(ensemble), [], self._k)
        fitted.extra["forest"] = {
            "ensemble": ensemble,
            "regression": True,
            "min_variance": DEFAULT_MIN_VARIANCE,
        }
        return fitted
