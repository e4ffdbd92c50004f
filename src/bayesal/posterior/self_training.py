"""A semi-supervised variant of the forest and network posteriors: self-training on
confident pseudo-labels of the unlabelled pool.

``{name: self_training, params: {base: {name: forest, params: {n_estimators: 100}},
teacher: label_spreading, threshold: 0.9, weight: 0.5}}`` trains the *base* posterior
(``forest``, ``mc_dropout`` or ``ensemble``) each round on the labelled items **plus**
pseudo-labels of unlabelled pool items (self-training: Scudder 1965, Yarowsky 1995; with
a confidence threshold as in pseudo-labelling, Lee 2013, and FixMatch, Sohn et al. 2020).

**Teacher.** The pseudo-labels come from

- ``teacher: label_spreading`` (default): labels spread over a k-NN graph of the pool
  (:mod:`bayesal.posterior.graph`, parameters in ``graph:``; its K members are spread
  from bootstrap resamples of the labels), or
- ``teacher: self``: the base posterior itself, fitted on the labelled items only.

**Groups: K samples that keep their uncertainty.** The student is made of G groups, each
trained on the labels plus *its own* pseudo-labels: those of the teacher's samples of its
group (the teacher's K samples split into G contiguous blocks; a block's mean
probability is the group's teacher). ``forest``: G = ``groups`` forests of
``n_estimators / G`` trees each (default G = 5), so K = ``n_estimators`` as in the base;
``ensemble``: one group per member (member m learns from teacher block m);
``mc_dropout``: one group (the teacher's mean), K = the dropout masks. So where the
teacher's samples disagree about an item (a region that hangs on one or two labels), the
student groups receive different pseudo-labels there, or none, and the student's K
samples disagree too; where the teacher is sure, every group learns the same label.

**Pseudo-labels.** Unlabelled item x is pseudo-labelled for group g iff the group
teacher's largest class probability is *strictly* above ``threshold``; its label is that
class and its weight in the loss is ``weight`` (a real label weighs 1): the forest's
``sample_weight``, the network's per-item cross-entropy weight. ``threshold: 1.0`` gives
no pseudo-label, and then the method *is* the base posterior: it returns exactly what the
base method's own ``fit`` returns (same samples for the same seeds). The same holds in any
round where no group gets a pseudo-label. At most ``max_candidates`` unlabelled items
(default 20,000; a seeded random subset of a larger pool, new each round) are
candidates. A fitted posterior lists each group's pseudo-labels in
``extra["pseudo_labels"]``: ``(pool rows, labels)`` per group (absent in a round without
any).

Training settings (``training:``) are those of the base (a network base trains with the
learner's ``TrainConfig``; the forest ignores them). The method reads the pool
(``reads_pool = True``); it needs a model exactly when its base does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor, nn

from bayesal.device import model_dtype, to_model_input
from bayesal.errors import InvalidInputError
from bayesal.posterior.base import (
    Posterior,
    PosteriorDraw,
    choose_members,
    evaluation_mode,
)
from bayesal.posterior.forest import ForestMethod, ForestPosterior, _features
from bayesal.posterior.graph import LabelSpreadingMethod
from bayesal.posterior.methods import (
    EVAL_CHUNK_SIZE,
    EnsembleMethod,
    FitSeeds,
    FittedPosterior,
    MCDropoutMethod,
    ModelBuilder,
    PosteriorMethod,
    get_posterior,
    predictive_log_probs,
)
from bayesal.training import TrainConfig, fit

if TYPE_CHECKING:  # the posterior package reads a pool through its interface only
    from bayesal.data.source import PoolInputs

__all__ = [
    "BASES",
    "TEACHERS",
    "SelfTrainingMethod",
    "pseudo_labels",
    "weighted_cross_entropy",
]

#: The base posteriors the method can wrap.
BASES = ("forest", "mc_dropout", "ensemble")
#: Where the pseudo-labels come from.
TEACHERS = ("label_spreading", "self")
_CHUNK = 4096


def pseudo_labels(
    probs_U_C: NDArray[np.float64], threshold: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The confident items of a teacher's probabilities and their labels.

    Args:
        probs_U_C: the teacher's class probabilities of U candidate items.
        threshold: an item is pseudo-labelled iff its largest probability is strictly
            above ``threshold`` (so 1.0 gives none).

    Returns:
        ``(positions, labels)``: the positions in ``[0, U)`` of the confident items
        (ascending) and their arg-max classes (the lowest class on a tie).
    """
    confidence_U = probs_U_C.max(axis=1)
    positions = np.flatnonzero(confidence_U > threshold).astype(np.int64)
    return positions, probs_U_C[positions].argmax(axis=1).astype(np.int64)


def weighted_cross_entropy(logits_B_C: Tensor, target_B_W: Tensor) -> Tensor:
    """The mean over a batch of ``w_i * CE(logits_i, c_i)``, with the targets packed as
    ``target_B_W[:, 0] = c_i`` (the class, as a float) and ``target_B_W[:, 1] = w_i``."""
    classes_B = target_B_W[:, 0].long()
    weight_B = target_B_W[:, 1].to(logits_B_C.dtype)
    per_item_B = F.cross_entropy(logits_B_C, classes_B, reduction="none")
    return (weight_B * per_item_B).mean()


def _check_fraction(name: str, value: object, *, closed_low: bool) -> float:
    ok_type = not isinstance(value, bool) and isinstance(value, int | float)
    v = float(value) if ok_type else float("nan")  # type: ignore[arg-type]
    low_ok = v >= 0.0 if closed_low else v > 0.0
    if not ok_type or not np.isfinite(v) or not low_ok or v > 1.0:
        interval = "[0, 1]" if closed_low else "(0, 1]"
        raise InvalidInputError(f"{name} must be a number in {interval}, got {value!r}")
    return v


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _blocks(k: int, g: int) -> list[list[int]]:
    """``range(k)`` split into ``g`` contiguous blocks of near-equal size."""
    edges = np.linspace(0, k, g + 1).round().astype(int)
    return [list(range(edges[i], edges[i + 1])) for i in range(g)]


# ---------------------------------------------------------------- grouped forests


class _GroupedForestPosterior(Posterior):
    """The trees of G forests as one posterior: sample j is tree j of the concatenation
    (group 0's trees first)."""

    def __init__(self, forests: Sequence[ForestPosterior]) -> None:
        self.forests = list(forests)
        self._where = [(g, t) for g, f in enumerate(self.forests) for t in range(f.num_estimators)]

    @property
    def num_estimators(self) -> int:
        return len(self._where)

    def probs(self, x_N_D: NDArray[np.float32], which: list[int]) -> NDArray[np.float64]:
        """``[N, len(which), C]`` floored probabilities of trees ``which``."""
        per_group: dict[int, list[int]] = {}
        for j in which:
            g, t = self._where[j]
            per_group.setdefault(g, []).append(t)
        parts = {g: self.forests[g].probs(x_N_D, ts) for g, ts in per_group.items()}
        taken = dict.fromkeys(per_group, 0)
        columns = []
        for j in which:
            g = self._where[j][0]
            columns.append(parts[g][:, taken[g]])
            taken[g] += 1
        return np.stack(columns, axis=1)

    def draw(self, num_samples: int, generator: torch.Generator) -> PosteriorDraw:
        m = self.num_estimators
        which = choose_members(
            m, num_samples, generator, what=f"posterior 'self_training' (forest) has {m} trees"
        )
        return _GroupedForestDraw(self, which)


class _GroupedForestDraw(PosteriorDraw):
    def __init__(self, posterior: _GroupedForestPosterior, which: list[int]) -> None:
        self.posterior = posterior
        self.which = which

    @property
    def num_samples(self) -> int:
        return len(self.which)

    def log_probs(self, inputs_N: Tensor) -> Tensor:
        """``[N, K, C]`` float32 log-probs on the CPU."""
        return torch.from_numpy(
            np.log(self.posterior.probs(_features(inputs_N), self.which))
        ).float()


class _SelfTrainedForestFitted(FittedPosterior):
    """Fitted student forests (``extra["forests"]``), or the base forest itself
    (``extra["forest"]``, a round without pseudo-labels); restored from ``extra`` when a
    saved learner is loaded."""

    def _grouped(self) -> _GroupedForestPosterior:
        if not isinstance(self.posterior, _GroupedForestPosterior):
            states = self.extra.get("forests")
            if states is None and isinstance(self.extra.get("forest"), dict):
                states = [self.extra["forest"]]
            if not isinstance(states, list):
                raise InvalidInputError("this self-training posterior has no fitted forests")
            self.posterior = _GroupedForestPosterior(
                [ForestPosterior(s["ensemble"], s["num_classes"], s["min_prob"]) for s in states]
            )
        return self.posterior

    def draw(self, generator: torch.Generator) -> PosteriorDraw:
        return self._grouped().draw(self.num_samples, generator)

    @torch.no_grad()
    def predict_log_probs(self, inputs_N: Tensor, chunk_size: int = EVAL_CHUNK_SIZE) -> Tensor:
        """``[N, C]`` log of the mean of all trees' (floored) probabilities, on the CPU."""
        grouped = self._grouped()
        which = list(range(grouped.num_estimators))
        chunks = [
            torch.from_numpy(
                np.log(grouped.probs(_features(inputs_N[s : s + chunk_size]), which).mean(1))
            ).float()
            for s in range(0, len(inputs_N), chunk_size)
        ]
        if not chunks:
            return torch.zeros(0, grouped.forests[0].num_classes)
        return torch.cat(chunks)


# ---------------------------------------------------------------- the method


class SelfTrainingMethod(PosteriorMethod):
    """Posterior ``self_training``: the base posterior trained on the labels plus
    confident pseudo-labels of the pool (see the module docstring).

    Args:
        base: the base posterior, ``{name, params}`` (or a name): ``forest``
            (default ``{name: forest, params: {n_estimators: 100}}``), ``mc_dropout`` or
            ``ensemble``.
        teacher: ``label_spreading`` (default) or ``self``.
        threshold: pseudo-label an item iff its teacher's largest class probability is
            strictly above this, in [0, 1] (default 0.9; 1.0: no pseudo-labels, the base).
        weight: a pseudo-label's weight against a real label's 1, in (0, 1] (default 0.5).
        groups: forest only: student forests, each with its own pseudo-labels (default
            5; must divide ``n_estimators``). An ensemble has one group per member, MC
            dropout one.
        graph: parameters of the ``label_spreading`` teacher (default
            ``{members: 20, k: 10, alpha: 0.9}``; its members must be at least the groups).
        max_candidates: the most unlabelled items considered for pseudo-labels per round
            (default 20,000).
    """

    name = "self_training"
    reads_pool = True

    def __init__(
        self,
        base: dict[str, Any] | str | None = None,
        teacher: str = "label_spreading",
        threshold: float = 0.9,
        weight: float = 0.5,
        groups: int | None = None,
        graph: dict[str, Any] | None = None,
        max_candidates: int = 20_000,
    ) -> None:
        spec: dict[str, Any]
        if base is None:
            spec = {"name": "forest", "params": {"n_estimators": 100}}
        elif isinstance(base, str):
            spec = {"name": base, "params": {}}
        elif isinstance(base, dict) and set(base) <= {"name", "params"} and "name" in base:
            spec = {"name": base["name"], "params": dict(base.get("params") or {})}
        else:
            raise InvalidInputError(
                f"base must be a posterior name or a mapping {{name, params}}, got {base!r}"
            )
        if spec["name"] not in BASES:
            raise InvalidInputError(
                f"base must be one of {', '.join(BASES)} (self-training needs a base it can "
                f"train on weighted labels), got {spec['name']!r}"
            )
        self.base: PosteriorMethod = get_posterior(spec["name"], **spec["params"])
        self.base_spec = spec
        self.needs_model = self.base.needs_model
        if teacher not in TEACHERS:
            raise InvalidInputError(
                f"teacher must be one of {', '.join(TEACHERS)}, got {teacher!r}"
            )
        self.teacher = teacher
        self.threshold = _check_fraction("threshold", threshold, closed_low=True)
        self.weight = _check_fraction("weight", weight, closed_low=False)
        self.max_candidates = _check_int("max_candidates", max_candidates, 1)
        if isinstance(self.base, ForestMethod):
            g = 5 if groups is None else _check_int("groups", groups, 1)
            if self.base.n_estimators % g:
                raise InvalidInputError(
                    f"groups ({g}) must divide the forest's n_estimators ({self.base.n_estimators})"
                )
            self.groups = g
        else:
            own = self.base.num_models
            if groups is not None and groups != own:
                raise InvalidInputError(
                    f"groups applies to a forest base; base {spec['name']!r} has one group per "
                    f"model ({own}): leave groups unset"
                )
            self.groups = own
        if graph is not None and not isinstance(graph, dict):
            raise InvalidInputError(f"graph must be a mapping, got {type(graph).__name__}")
        graph_params = {"members": 20, "k": 10, "alpha": 0.9, **(graph or {})}
        self.spreading: LabelSpreadingMethod | None = None
        if teacher == "label_spreading":
            self.spreading = LabelSpreadingMethod(**graph_params)
            if self.spreading.members < self.groups:
                raise InvalidInputError(
                    f"the graph teacher's members ({self.spreading.members}) must be at least "
                    f"the groups ({self.groups})"
                )
        elif graph is not None:
            raise InvalidInputError("graph applies to teacher: label_spreading only")

    @property
    def num_models(self) -> int:
        return self.base.num_models

    @property
    def num_samples(self) -> int:
        return self.base.num_samples

    def posterior(self, models: list[nn.Module]) -> Posterior:
        return self.base.posterior(models)

    def wrap(self, models: list[nn.Module]) -> FittedPosterior:
        if isinstance(self.base, ForestMethod):
            if models:
                raise InvalidInputError(
                    f"posterior 'self_training' (forest) has no torch models, got {len(models)}"
                )
            return _SelfTrainedForestFitted(None, [], self.num_samples)  # type: ignore[arg-type]
        return self.base.wrap(models)

    # ------------------------------------------------------------ fitting

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
        pool: PoolInputs | None = None,
        labelled_rows: NDArray[np.int64] | None = None,
    ) -> FittedPosterior:
        """Fit the teacher, pseudo-label the confident unlabelled items of ``pool`` per
        group, and train the student groups on ``(x_L, y_L)`` plus their pseudo-labels.
        Returns the base method's own fit when no group gets a pseudo-label."""
        if pool is None or labelled_rows is None:
            raise InvalidInputError(
                "posterior 'self_training' reads the unlabelled pool: use it through "
                "ActiveLearner (which passes pool= and labelled_rows=)"
            )
        rows_L = np.asarray(labelled_rows, dtype=np.int64).reshape(-1)
        y = torch.as_tensor(y_L).detach().cpu().reshape(-1).long()
        if len(rows_L) != len(y) or len(y) != len(x_L) or len(y) == 0:
            raise InvalidInputError(
                f"{len(rows_L)} labelled rows, {len(x_L)} inputs and {len(y)} labels "
                "(need the same number, at least one)"
            )
        if self.needs_model and build_model is None:
            raise InvalidInputError(
                f"posterior 'self_training' with base {self.base_spec['name']!r} trains "
                "networks: give the learner a model"
            )
        base_kwargs: dict[str, Any] = {
            "train_config": train_config,
            "seeds": seeds,
            "device": device,
            "transform": transform,
        }
        if not self.base.needs_model:
            base_kwargs["num_classes"] = num_classes
        fit_base: Callable[[], FittedPosterior] = lambda: self.base.fit(  # noqa: E731
            build_model,  # type: ignore[arg-type]
            x_L,
            y_L,
            **base_kwargs,
        )

        candidates = self._candidates(len(pool), rows_L, seeds)
        models: list[nn.Module] = []
        if self.needs_model:
            # The students are built up front: their output width is C.
            assert build_model is not None
            models = [build_model(seeds.init(m)).to(device) for m in range(self.groups)]
            c = self._output_width(models[0], x_L, device)
        else:
            c = max(int(y.max()) + 1 if num_classes is None else int(num_classes), 2)
        if int(y.max()) >= c or int(y.min()) < 0:
            raise InvalidInputError(f"labels must be class indices in [0, {c})")

        teacher_fit: FittedPosterior | None = None
        if len(candidates) == 0 or self.threshold >= 1.0:
            group_probs: list[NDArray[np.float64]] = []
        elif self.teacher == "label_spreading":
            group_probs = self._spreading_teacher(pool, rows_L, y, c, seeds, candidates)
        else:
            teacher_fit = fit_base()
            group_probs = self._self_teacher(teacher_fit, pool, candidates, c)
        chosen = [pseudo_labels(p, self.threshold) for p in group_probs]
        if not any(len(pos) for pos, _ in chosen):
            # No pseudo-label: exactly the base posterior.
            return teacher_fit if teacher_fit is not None else fit_base()

        x_U = [pool.take(candidates[pos]) for pos, _ in chosen]
        if isinstance(self.base, ForestMethod):
            fitted = self._fit_forests(x_L, y, chosen, x_U, c, seeds)
        else:
            fitted = self._fit_networks(models, x_L, y, chosen, x_U, train_config, seeds, transform)
        # Per group: the pool rows pseudo-labelled and their labels (for inspection).
        fitted.extra["pseudo_labels"] = [(candidates[pos], labels) for pos, labels in chosen]
        return fitted

    def _candidates(self, n: int, rows_L: NDArray[np.int64], seeds: FitSeeds) -> NDArray[np.int64]:
        """The unlabelled pool rows that may get a pseudo-label (ascending)."""
        unlabelled = np.setdiff1d(np.arange(n, dtype=np.int64), rows_L)
        if len(unlabelled) > self.max_candidates:
            rng = np.random.default_rng(int(seeds.init(0)) % 2**32 + 1)
            unlabelled = np.sort(rng.choice(unlabelled, self.max_candidates, replace=False))
        return unlabelled

    @staticmethod
    @torch.no_grad()
    def _output_width(model: nn.Module, x_L: Tensor, device: torch.device) -> int:
        with evaluation_mode(model):
            out = model(to_model_input(x_L[:1], device, model_dtype(model)))
        if out.ndim != 2:
            raise InvalidInputError(
                f"posterior 'self_training' needs a classifier with [N, C] outputs, got "
                f"{tuple(out.shape)}"
            )
        return int(out.shape[1])

    def _spreading_teacher(
        self,
        pool: PoolInputs,
        rows_L: NDArray[np.int64],
        y: Tensor,
        c: int,
        seeds: FitSeeds,
        candidates: NDArray[np.int64],
    ) -> list[NDArray[np.float64]]:
        """Per group, the mean probability of its block of label-spreading members."""
        assert self.spreading is not None
        fitted = self.spreading.fit(
            None,
            torch.zeros(len(rows_L), 0),
            y,
            train_config=TrainConfig(),
            seeds=seeds,
            device=torch.device("cpu"),
            num_classes=c,
            pool=pool,
            labelled_rows=rows_L,
        )
        spreading = fitted.posterior
        assert hasattr(spreading, "probs")
        out = []
        for block in _blocks(self.spreading.members, self.groups):
            probs = [
                spreading.probs(x, block).mean(1).double().numpy()
                for x in pool.batches(candidates, _CHUNK)
            ]
            out.append(np.concatenate(probs))
        return out

    def _self_teacher(
        self, fitted: FittedPosterior, pool: PoolInputs, candidates: NDArray[np.int64], c: int
    ) -> list[NDArray[np.float64]]:
        """Per group, the mean probability of its block of the base posterior's samples
        (forest: its trees; ensemble: its member; MC dropout: the deterministic net)."""
        if isinstance(self.base, ForestMethod):
            forest = fitted.posterior
            if not isinstance(forest, ForestPosterior):
                raise InvalidInputError("the forest teacher has no fitted ensemble")
            blocks = _blocks(forest.num_estimators, self.groups)
            return [
                np.concatenate(
                    [
                        forest.probs(_features(x), b).mean(1)
                        for x in pool.batches(candidates, _CHUNK)
                    ]
                )
                for b in blocks
            ]
        out = []
        for model in fitted.models:
            parts = [
                predictive_log_probs([model], x).exp().double().cpu().numpy()
                for x in pool.batches(candidates, _CHUNK)
            ]
            out.append(np.concatenate(parts))
        return out

    def _fit_forests(
        self,
        x_L: Tensor,
        y: Tensor,
        chosen: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
        x_U: list[Tensor],
        c: int,
        seeds: FitSeeds,
    ) -> FittedPosterior:
        assert isinstance(self.base, ForestMethod)
        member = copy.copy(self.base)
        member.n_estimators = self.base.n_estimators // self.groups
        x_l = _features(x_L)
        y_l = y.numpy().astype(np.int64)
        states = []
        forests = []
        for g, ((_, labels), xu) in enumerate(zip(chosen, x_U, strict=True)):
            ensemble = member.new_ensemble(int(seeds.init(g)) % 2**32)
            x = np.concatenate([x_l, _features(xu)]) if len(labels) else x_l
            yy = np.concatenate([y_l, labels]) if len(labels) else y_l
            w = np.concatenate([np.ones(len(y_l)), np.full(len(labels), self.weight)])
            try:
                ensemble.fit(x, yy, sample_weight=w)
            except ValueError as exc:
                raise InvalidInputError(f"posterior 'self_training' (forest): {exc}") from None
            state = {"ensemble": ensemble, "num_classes": c, "min_prob": self.base.min_prob}
            states.append(state)
            forests.append(ForestPosterior(ensemble, c, self.base.min_prob))
        fitted = _SelfTrainedForestFitted(_GroupedForestPosterior(forests), [], self.num_samples)
        fitted.extra["forests"] = states
        return fitted

    def _fit_networks(
        self,
        models: list[nn.Module],
        x_L: Tensor,
        y: Tensor,
        chosen: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
        x_U: list[Tensor],
        train_config: TrainConfig,
        seeds: FitSeeds,
        transform: Callable[[Tensor], Tensor] | None,
    ) -> FittedPosterior:
        assert isinstance(self.base, MCDropoutMethod | EnsembleMethod)
        for m, (model, (_, labels), xu) in enumerate(zip(models, chosen, x_U, strict=True)):
            if len(labels) == 0:  # this member trains exactly as the base's member m
                fit(model, x_L, y, train_config, seed=seeds.train(m), transform=transform)
                continue
            x = torch.cat([x_L.to(xu.dtype) if x_L.is_floating_point() else x_L, xu])
            target = torch.cat(
                [
                    torch.stack([y.double(), torch.ones(len(y), dtype=torch.float64)], 1),
                    torch.stack(
                        [
                            torch.from_numpy(labels).double(),
                            torch.full((len(labels),), self.weight, dtype=torch.float64),
                        ],
                        1,
                    ),
                ]
            ).float()
            fit(
                model,
                x,
                target,
                train_config,
                seed=seeds.train(m),
                transform=transform,
                loss=weighted_cross_entropy,
            )
        return self.base.wrap(models)
