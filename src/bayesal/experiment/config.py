"""The experiment config: a YAML file validated by pydantic models (unknown keys rejected).

``load_config(path, overrides)`` reads the file, applies command-line overrides and
validates everything that can be checked without data, before any training starts:
the ``plugins`` import (first, so that what they register is known to the rest), the
dataset, model, posterior and strategy names resolve (registered names or import paths
``package.module:factory``) and accept their parameters (checked against the factory's
signature), the model and the posterior and every strategy build, and the device exists.
Every problem is raised as one :class:`~bayesal.errors.ConfigError` whose message names
the file and the field path, e.g. ``training.lr: Input should be greater than 0``.
(What needs the data, the labelling budget against the pool, is checked by the runner
before it writes anything: :func:`bayesal.experiment.runner.check_experiment`.)

Numbers are checked before anything else: NaN or infinity anywhere in the config, free
``params`` of a dataset, model, posterior or strategy included, is refused with its
field path (YAML ``.nan`` would otherwise reach a factory, or be written to the
resolved config as ``null``). Counts (rounds, labels, sizes, seeds, K, training epochs
and steps) are whole numbers (``50.0`` is refused, not rounded) within generous but
finite bounds (:data:`MAX_ROUNDS`, :data:`MAX_EXAMPLES`, ...), so that a typo such as
``epochs: 100000000000000000000000`` fails here instead of running for ever.

An optional ``stopping:`` section records stopping evidence in every round (a stop set
of ``stop_set_size`` pool ids) and names the stopping rules that ``bayesal report``
evaluates (:class:`StoppingConfig`, :mod:`bayesal.stopping`). A config without it is
dumped, digested and run exactly as before the section existed. So is one without the
optional ``report:`` section (:class:`ReportConfig`: the accuracy thresholds of
``bayesal report``), which no trial depends on.

A config whose ``snapshots.rounds`` go beyond ``rounds`` (``--rounds 3`` on a config
that pictures round 10) keeps the snapshot rounds that fit and drops the others with a
:class:`ConfigNote` warning (``bayesal run`` prints it as one ``bayesal: note:`` line).
"""

from __future__ import annotations

import contextvars
import copy
import difflib
import importlib
import inspect
import math
import numbers
import os
import re
import typing
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from bayesal._yaml import load_yaml
from bayesal.acquisition import get_strategy
from bayesal.acquisition.registry import STRATEGIES
from bayesal.data.registry import check_dataset, dataset_loader
from bayesal.device import resolve_device
from bayesal.encoders.registry import ENCODERS, build_encoder
from bayesal.errors import (
    BayesalError,
    ConfigError,
    DataNotFoundError,
    InvalidInputError,
)
from bayesal.experiment.data_checks import dataset_file_problems
from bayesal.models import build_model
from bayesal.models.registry import check_model
from bayesal.posterior import POSTERIORS, PosteriorMethod, get_posterior
from bayesal.posterior.methods import DEFAULT_NUM_SAMPLES
from bayesal.registry import is_import_path
from bayesal.stopping import STOPPING_RULES, get_stopping_rule
from bayesal.tasks import TASK_STRATEGIES, build_strategy
from bayesal.thresholds import DEFAULT_THRESHOLDS, check_thresholds
from bayesal.training import Count, TrainConfig

DEFAULT_MEMBERS = 5

# Upper bounds of counts: generous (far beyond any study that finishes) but finite, so
# that a typo or an overflowed number fails validation instead of running for ever or
# allocating without end. Training's own bounds (epochs, min_steps, batch_size) are in
# bayesal.training.
#: Rounds of acquisition: each trains rounds + 1 models; 10^5 is days of training even
#: for the smallest model, and 100x the longest published curves.
MAX_ROUNDS = 100_000
#: A number of examples (initial_labels, acquisition_size, pool_subset, test_subset,
#: num_target_samples, chunk_size): 10^9 is beyond any pool held in memory (the runner
#: then checks the real pool before the run).
MAX_EXAMPLES = 1_000_000_000
#: Seeds: at most this many trials per arm, each a whole run (a seed count makes a list).
MAX_SEEDS = 100_000
#: The largest seed value: 2^32 - 1, what every generator in use accepts (numpy's and
#: scikit-learn's legacy ``RandomState`` included).
MAX_SEED = 2**32 - 1
#: K of a posterior draw (``num_samples``): the [N, K, C] log-probs grow linearly with
#: it; published work uses 10 to 1,000.
MAX_NUM_SAMPLES = 100_000
#: Members of an ensemble, each a network trained on its own: published work uses 5-20.
MAX_MEMBERS = 10_000

_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class ConfigNote(UserWarning):
    """Something the config validation changed on its own, and says so (``bayesal run``
    prints it as ``bayesal: note: ...``): snapshot rounds dropped by a lower ``rounds``."""


_Seed = Annotated[Count, Field(ge=0, le=MAX_SEED)]


def _non_finite(value: Any, loc: tuple[int | str, ...] = ()) -> Iterator[str]:
    """``"<field path>: <value>"`` for every NaN or infinity in a raw config (nested
    mappings and lists)."""
    if isinstance(value, bool | numbers.Integral):
        return
    if isinstance(value, numbers.Real):
        if not math.isfinite(float(value)):
            yield f"{_format_location(loc)}: {float(value)}"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _non_finite(item, (*loc, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _non_finite(item, (*loc, index))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def import_plugins(modules: Iterable[str]) -> None:
    """Import the plugin ``modules`` (importing one registers its strategies, models,
    datasets or posteriors); already imported modules are not imported again.

    Raises:
        InvalidInputError: a name that is not a module name, a module that cannot be
            found, or one whose import raises (the message names it and the cause).
    """
    for module in modules:
        if not isinstance(module, str) or not _MODULE_RE.match(module):
            hint = (
                " (a factory's import path 'package.module:name' goes in a name field; "
                "plugins lists modules)"
                if is_import_path(module)
                else ""
            )
            raise InvalidInputError(
                f"plugin {module!r} is not a module name like 'mypkg.bal_plugins'{hint}"
            )
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise InvalidInputError(
                f"plugin module {module!r} cannot be imported ({exc}); is it installed, or "
                "on PYTHONPATH?"
            ) from None
        except Exception as exc:
            raise InvalidInputError(
                f"importing plugin module {module!r} raised {type(exc).__name__}: {exc}"
            ) from None


_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _resolves(registry_resolve: Callable[[str], Any], name: str) -> str:
    """``name`` if ``registry_resolve(name)`` finds it, else ValueError (for pydantic)."""
    try:
        registry_resolve(name)
    except BayesalError as exc:  # UnknownStrategyError included
        raise ValueError(str(exc)) from None
    return name


class DatasetConfig(_Strict):
    """``load_dataset(name, **params)``: a registered dataset (``bayesal datasets``) or an
    import path ``package.module:loader``; ``params`` are checked against the loader's
    signature (nothing is loaded)."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return _resolves(dataset_loader, name)

    @model_validator(mode="after")
    def _parameters(self) -> DatasetConfig:
        try:
            check_dataset(self.name, dict(self.params))
        except BayesalError as exc:
            raise ValueError(str(exc)) from None
        return self


class ModelConfig(_Strict):
    """``bayesal.models.build_model(name, seed=..., **params)``: a registered model
    (``bayesal models``) or an import path ``package.module:factory``; ``params`` are
    checked against the factory's signature, then the model is built once."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return _resolves(lambda n: check_model(n, {}), name)

    @model_validator(mode="after")
    def _buildable(self) -> ModelConfig:
        try:
            check_model(self.name, dict(self.params))
            if self.data_params():
                return self  # built once the data has filled them in (fill_data_params)
            build_model(self.name, seed=0, **self.params)
        except BayesalError as exc:
            raise ValueError(str(exc)) from None
        except Exception as exc:  # a plugin factory may raise anything: one line
            raise ValueError(
                f"model {self.name!r} cannot be built with params {self.params}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        return self

    def data_params(self) -> list[str]:
        """The parameters of :data:`DATA_PARAMS` that the factory requires (no default)
        and ``params`` does not give: filled in from the data before the run."""
        try:
            signature = inspect.signature(check_model(self.name, {}))
        except (TypeError, ValueError, BayesalError):
            return []
        return [
            p.name
            for p in signature.parameters.values()
            if p.name in DATA_PARAMS
            and p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name not in self.params
        ]


#: Model parameters the data determines: filled in (from the dataset, or the encoder's
#: features) when the model's factory requires them and the config does not give them,
#: as a labelling session does. ``in_features``: the number of input features (the
#: product of an input's shape); ``in_channels`` and ``image_size``: of square images
#: ``[C, H, H]``.
DATA_PARAMS: tuple[str, ...] = ("num_classes", "in_features", "in_channels", "image_size")


class PosteriorConfig(_Strict):
    """The posterior approximation that produces the ``[N, K, C]`` log-probs:
    ``get_posterior(name, **params)`` (``bayesal posteriors``, or an import path
    ``package.module:factory`` of a :class:`~bayesal.posterior.PosteriorMethod`).

    ``mc_dropout``: one model, K = ``num_samples`` dropout masks (default 20).
    ``ensemble``: ``members`` independently initialised and trained models (default 5);
    each member is one of the K samples, so K = ``members``.

    ``num_samples`` and ``members`` are shorthands for the parameters of those names
    (for any posterior); other parameters go in ``params``. The method is built once
    when the config is validated.
    """

    name: str = "mc_dropout"
    num_samples: Count | None = Field(default=None, ge=1, le=MAX_NUM_SAMPLES)
    members: Count | None = Field(default=None, ge=1, le=MAX_MEMBERS)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return _resolves(POSTERIORS.resolve, name)

    @model_validator(mode="after")
    def _fill_defaults(self) -> PosteriorConfig:
        for short in ("num_samples", "members"):
            if getattr(self, short) is not None and short in self.params:
                raise ValueError(f"{short} is given twice (as {short} and in params); give it once")
        if self.name == "mc_dropout":
            if self.members is not None:
                raise ValueError("members applies to posterior 'ensemble' only")
            if self.num_samples is None and "num_samples" not in self.params:
                self.num_samples = DEFAULT_NUM_SAMPLES
        elif self.name == "ensemble":
            if self.num_samples is not None or "num_samples" in self.params:
                raise ValueError(
                    "an ensemble uses each member as one sample: set members, not num_samples"
                )
            if self.members is None and "members" not in self.params:
                self.members = DEFAULT_MEMBERS
        # The same bounds when given in params (for any posterior).
        for short, most in (("num_samples", MAX_NUM_SAMPLES), ("members", MAX_MEMBERS)):
            value = self.params.get(short)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(
                    f"params.{short} must be a whole number (an int), got "
                    f"{type(value).__name__} {value!r}"
                )
            if not 1 <= int(value) <= most:
                raise ValueError(f"params.{short} must be between 1 and {most}, got {value}")
        try:
            self.build()
        except BayesalError as exc:
            raise ValueError(str(exc)) from None
        except Exception as exc:  # a plugin factory may raise anything: one line
            raise ValueError(
                f"posterior {self.name!r} cannot be built: {type(exc).__name__}: {exc}"
            ) from None
        return self

    def method_params(self) -> dict[str, Any]:
        """The keyword arguments of ``get_posterior``: ``params`` plus the shorthands."""
        params = dict(self.params)
        if self.num_samples is not None:
            params["num_samples"] = self.num_samples
        if self.members is not None:
            params["members"] = self.members
        return params

    def build(self) -> PosteriorMethod:
        """A fresh :class:`~bayesal.posterior.PosteriorMethod` of this config."""
        return get_posterior(self.name, **self.method_params())

    @property
    def k(self) -> int:
        """K, the number of parameter samples per draw."""
        return int(self.build().num_samples)


def _check_built_and_label(
    spec: StrategyConfig | StoppingRuleConfig,
    what: str,
    build: Callable[..., object],
    label_note: str = "",
) -> None:
    """Build ``spec`` once (its params checked by the factory), then default and check
    its ``label``: the name, or for an import path the part after the last ``:`` / ``.``."""
    try:
        build(spec.name, **spec.params)
    except BayesalError as exc:
        raise ValueError(str(exc)) from None
    except Exception as exc:  # a plugin factory may raise anything: one line
        raise ValueError(
            f"{what} {spec.name!r} cannot be built with params {spec.params}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if spec.label is None:
        spec.label = re.split(r"[:.]", spec.name)[-1] if is_import_path(spec.name) else spec.name
    if not _LABEL_RE.match(spec.label):
        raise ValueError(
            f"label {spec.label!r} must start with a letter or digit and hold only "
            f"letters, digits and _ . + -{' ' + label_note if label_note else ''}"
        )


#: The task types a config's ``task:`` takes: those the loop runs
#: (:data:`bayesal.loop.TASK_RUNS`) and classification.
CONFIG_TASKS: tuple[str, ...] = ("classification", "multilabel", "regression", "segmentation")

# The task of the config being validated (its ``task:``), read by the strategy arms.
_TASK: contextvars.ContextVar[str] = contextvars.ContextVar("bayesal_config_task")


def _current_task() -> str:
    return _TASK.get("classification")


def task_strategy(task: str, name: str, params: Mapping[str, Any]) -> Any:
    """The strategy of arm ``name`` (with ``params``) for ``task``: classification's from
    the strategy registry (``get_strategy``); another task's built-in name from the task
    table (:func:`bayesal.tasks.build_strategy`), an import path from the registry (a
    :class:`~bayesal.acquisition.base.Strategy` that reads the task's posterior output)."""
    if task == "classification" or name not in TASK_STRATEGIES.get(task, ()):
        return get_strategy(name, **params)
    return build_strategy(task, name, **params)


def _task_strategy_name(task: str, name: str) -> str:
    """``name`` if it is a strategy of ``task`` (or an import path), else ValueError
    naming the task's strategies."""
    if name in TASK_STRATEGIES[task] or is_import_path(name):
        return _resolves(STRATEGIES.resolve, name) if is_import_path(name) else name
    close = difflib.get_close_matches(name, TASK_STRATEGIES[task], n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(
        f"strategy {name!r} does not apply to task {task!r}{hint}; the strategies of task "
        f"{task!r} are {', '.join(TASK_STRATEGIES[task])} (bayesal strategies --task {task}), "
        "or an import path to a Strategy that reads the task's posterior output"
    )


class StrategyConfig(_Strict):
    """One arm of the comparison: ``get_strategy(name, **params)`` under a posterior.

    ``name`` is a registered strategy (``bayesal strategies``) or an import path
    ``package.module:factory``; in a config of another ``task:`` than classification,
    one of that task's strategies (``bayesal strategies --task TASK``: built by
    :func:`bayesal.tasks.build_strategy`) or an import path. ``label`` (default:
    ``name``; for an import path, the part after the last ``:`` or ``.``) names the arm
    in file names and tables, so the same strategy can appear twice (e.g. ``bald`` with
    MC dropout and with an ensemble).
    ``posterior`` overrides the experiment's posterior for this arm.
    """

    name: str
    label: str | None = None
    posterior: PosteriorConfig | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        task = _current_task()
        if task != "classification" and task in TASK_STRATEGIES:
            return _task_strategy_name(task, name)
        return _resolves(STRATEGIES.resolve, name)

    @model_validator(mode="after")
    def _check(self) -> StrategyConfig:
        task = _current_task()
        build = get_strategy
        if task != "classification" and task in TASK_STRATEGIES:

            def build(name: str, **params: Any) -> Any:
                return task_strategy(task, name, params)

        _check_built_and_label(self, "strategy", build, "(it becomes part of file names)")
        return self


class SnapshotConfig(_Strict):
    """Posterior pictures on a grid (2-D datasets only), for some seeds and rounds."""

    rounds: list[Annotated[Count, Field(le=MAX_ROUNDS)]] = Field(min_length=1)
    resolution: Count = Field(default=80, ge=8, le=1000)
    seeds: list[_Seed] = Field(default_factory=lambda: [0], min_length=1)

    @field_validator("rounds")
    @classmethod
    def _non_negative(cls, rounds: list[int]) -> list[int]:
        if any(r < 0 for r in rounds):
            raise ValueError("rounds must be >= 0")
        return sorted(set(rounds))


#: The default size of the stop set (pool ids predicted every round for the stopping
#: evidence).
DEFAULT_STOP_SET_SIZE = 1000


class StoppingRuleConfig(_Strict):
    """One stopping rule that ``bayesal report`` evaluates on every trial:
    ``get_stopping_rule(name, **params)`` (``bayesal.stopping``: ``budget``,
    ``stabilizing_predictions``, ``uncertainty_threshold``, ``accuracy_plateau``, or an
    import path ``package.module:factory``). ``label`` (default: ``name``) names it in
    the report; two rules of the same name need labels. The rule is built once when the
    config is validated."""

    name: str
    label: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return _resolves(STOPPING_RULES.resolve, name)

    @model_validator(mode="after")
    def _buildable(self) -> StoppingRuleConfig:
        _check_built_and_label(self, "stopping rule", get_stopping_rule)
        return self


class StoppingConfig(_Strict):
    """Stopping evidence and rules (see ``docs/stopping.md``).

    Every trial draws a fixed *stop set* of ``stop_set_size`` pool ids once (its own
    random stream; the whole pool when it is smaller) and records, every round, the
    kappa agreement of the predicted classes with the previous round's and the mean
    predictive entropy and BALD over it (extra columns of ``results.csv``). Recording
    changes no pick and no metric of the run. ``rules`` are evaluated by ``bayesal
    report`` (``stopping.csv``, ``figures/stopping.png``); they can be changed without
    rerunning any trial.
    """

    stop_set_size: Count = Field(default=DEFAULT_STOP_SET_SIZE, ge=1, le=MAX_EXAMPLES)
    rules: list[StoppingRuleConfig] = Field(default_factory=list)

    @field_validator("rules")
    @classmethod
    def _unique_labels(cls, rules: list[StoppingRuleConfig]) -> list[StoppingRuleConfig]:
        labels = [r.label for r in rules]
        duplicates = sorted({lab for lab in labels if labels.count(lab) > 1}, key=str)
        if duplicates:
            raise ValueError(
                f"stopping rule labels must be unique; {duplicates} appear more than once "
                "(give each rule its own label)"
            )
        return rules


class ReportConfig(_Strict):
    """What ``bayesal report`` writes (``docs/report.md``). No trial depends on it, so it
    can change without rerunning anything; ``bayesal report --thresholds`` overrides it.

    ``thresholds``: the test accuracies of the "labels to t" columns, the labels-saved
    table and the paired comparison, as fractions in (0, 1]; distinct, kept sorted.
    Default 90% and 95%. In a study of another ``task:`` they are values of the task's
    primary metric (macro F1 reached, or RMSE got below: ``docs/report.md``).
    """

    thresholds: list[float] = Field(default_factory=lambda: list(DEFAULT_THRESHOLDS))

    @field_validator("thresholds", mode="before")
    @classmethod
    def _valid_thresholds(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ValueError(
                f"thresholds must be a list of fractions, e.g. [0.9, 0.95]; got {value!r}"
            )
        return list(check_thresholds(value))


class ReduceConfig(_Strict):
    """A map of the encoder's features to ``dims`` dimensions, fitted on the pool only
    (:mod:`bayesal.encoders.reduce`): ``method`` ``umap`` (needs ``bayesal[umap]``) or
    ``pca``; ``params`` go to UMAP (e.g. ``n_neighbors``); ``seed`` fixes the fit."""

    method: str
    dims: int = Field(ge=1, le=4096)
    params: dict[str, Any] = Field(default_factory=dict)
    seed: _Seed = 0

    @model_validator(mode="after")
    def _valid(self) -> ReduceConfig:
        from bayesal.encoders.reduce import check_reduce

        try:
            check_reduce(self.method, self.dims, self.params)
        except BayesalError as exc:
            raise ValueError(str(exc)) from None
        return self


class EncoderConfig(_Strict):
    """A frozen encoder (``docs/encoders.md``): the trials run on its features.

    ``name``: a registered encoder (``simclr_mnist``, ``autoencoder_mnist``: trained
    without labels on the pool's inputs, once, and cached) or an import path
    ``package.module:factory`` returning an ``nn.Module`` that maps inputs to features
    (pretrained: no training step). ``params`` go to the factory (checked against its
    signature). ``seed``: the encoder's training seed, **fixed** (default 0) rather than
    derived from each trial's seed, so every trial of a config (every arm, every seed)
    runs on the same features: the encoder is trained once per dataset, and arms are
    compared on one representation (the trial seeds still vary the initial labels, the
    heads and the picks). ``cache_dir``: where trained encoders and features are cached
    (default ``$BAYESAL_CACHE/encoders``, else ``~/.cache/bayesal/encoders``); it does
    not enter the trials' digests. ``standardize``: scale every feature to mean 0, std 1
    over the pool. ``reduce``: then map the features to a few dimensions, fitted on the
    pool only (``{method: umap, dims: 10}``; :class:`ReduceConfig`), cached with them.

    The model is then a head on features, e.g. ``{name: mlp, params: {in_features: D}}``
    with D the encoder's feature width.
    """

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    seed: _Seed = 0
    cache_dir: str | None = None
    standardize: bool = True
    reduce: ReduceConfig | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return _resolves(ENCODERS.resolve, name)

    @model_validator(mode="after")
    def _buildable(self) -> EncoderConfig:
        try:
            build_encoder(self.name, **self.params)
        except BayesalError as exc:
            raise ValueError(str(exc)) from None
        except Exception as exc:  # a plugin factory may raise anything: one line
            raise ValueError(
                f"encoder {self.name!r} cannot be built with params {self.params}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        return self

    def identity(self) -> dict[str, Any]:
        """What the features depend on (``cache_dir`` left out): enters trial digests."""
        return {
            "name": self.name,
            "params": self.params,
            "seed": self.seed,
            "standardize": self.standardize,
            # Only when set: the digests of configs without it stay as they were.
            **({} if self.reduce is None else {"reduce": self.reduce.model_dump()}),
        }


class ScoringConfig(_Strict):
    """How every trial scores its pool (``docs/scale.md``): passed to the learner.

    ``prefilter``: candidates of a joint strategy (BatchBALD), the best of the pool by
    BALD; ``auto``: 2,000 when the pool's ``[N, K, C]`` log-probs exceed
    ``max_log_probs_bytes``, else exact; ``null``: always exact. ``executor``: ``local``,
    or ``ray``: each query scores its pool in ``shards`` Ray tasks (default: one per CPU
    of the cluster; ``ray_address`` or ``bayesal run --ray-address`` to join a running
    cluster), with the same picks as ``local``. Not the trial executor (``bayesal run
    --executor``). A config without this section runs exactly as before it existed.
    """

    prefilter: int | Literal["auto"] | None = "auto"
    max_log_probs_bytes: Count = Field(default=2**30, ge=1)
    executor: Literal["local", "ray"] = "local"
    shards: Count | None = Field(default=None, ge=1, le=100_000)
    ray_address: str | None = None

    @field_validator("prefilter", mode="before")
    @classmethod
    def _prefilter(cls, value: Any) -> Any:
        if value is None or value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EXAMPLES:
            raise ValueError(
                f"prefilter must be 'auto', null (exact) or a candidate count >= 1, got {value!r}"
            )
        return value

    def learner_kwargs(self) -> dict[str, Any]:
        """The :class:`~bayesal.learner.ActiveLearner` arguments of this section."""
        return {
            "prefilter": self.prefilter,
            "max_log_probs_bytes": self.max_log_probs_bytes,
            "score_executor": self.executor,
            "score_shards": self.shards,
            "ray_address": self.ray_address,
        }


class ExperimentConfig(_Strict):
    """A whole study: every strategy x seed is one active-learning run (a *trial*).

    ``plugins`` are modules imported before anything else is validated (and again in
    every worker process or Ray task), so that what they register at import time can be
    named in the config. ``device`` (``auto | cpu | cuda | cuda:N | mps``) is where the
    trials train and score; it must exist on this machine.
    """

    name: str
    description: str = ""
    # What a label is (multi-label rows, float targets): the strategies, the metrics.
    task: Literal["classification", "multilabel", "regression", "segmentation"] = "classification"
    # Validated (imported) before the fields below, which may name what they register.
    plugins: list[str] = Field(default_factory=list)
    dataset: DatasetConfig
    # None: only for posteriors that train no network (``forest``); checked below.
    model: ModelConfig | None = None
    posterior: PosteriorConfig = Field(default_factory=PosteriorConfig)
    training: TrainConfig = Field(default_factory=TrainConfig)
    strategies: list[StrategyConfig] = Field(min_length=1)
    seeds: list[_Seed] = Field(
        default_factory=lambda: [0, 1, 2], min_length=1, max_length=MAX_SEEDS
    )
    initial_labels: Count = Field(default=20, ge=1, le=MAX_EXAMPLES)
    acquisition_size: Count = Field(default=10, ge=1, le=MAX_EXAMPLES)
    rounds: Count = Field(default=10, ge=0, le=MAX_ROUNDS)
    pool_subset: Count | None = Field(default=None, ge=1, le=MAX_EXAMPLES)
    test_subset: Count | None = Field(
        default=None,
        ge=1,
        le=MAX_EXAMPLES,
        description="evaluate on this many test examples (a fixed random subset); None: all",
    )
    num_target_samples: Count = Field(default=100, ge=1, le=MAX_EXAMPLES)
    chunk_size: Count = Field(default=4096, ge=1, le=MAX_EXAMPLES)
    snapshots: SnapshotConfig | None = None
    device: str = "auto"
    stopping: StoppingConfig | None = None
    scoring: ScoringConfig | None = None
    encoder: EncoderConfig | None = None
    report: ReportConfig | None = None
    # Arms may override the posterior only in a study that says it compares posteriors:
    # otherwise every arm, random included, runs under one posterior.
    compares_posteriors: bool = False

    @model_serializer(mode="wrap")
    def _without_absent_stopping(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A config without stopping dumps (and so digests and resolves) exactly as before
        # the section existed.
        data = handler(self)
        if isinstance(data, dict) and self.stopping is None:
            data.pop("stopping", None)
        if isinstance(data, dict) and self.scoring is None:  # the same for scoring
            data.pop("scoring", None)
        if isinstance(data, dict) and self.encoder is None:  # and for encoder
            data.pop("encoder", None)
        if isinstance(data, dict) and self.report is None:  # and for report
            data.pop("report", None)
        if isinstance(data, dict) and self.model is None:  # a model-free (forest) study
            data.pop("model", None)
        if isinstance(data, dict) and not self.compares_posteriors:
            data.pop("compares_posteriors", None)
        if isinstance(data, dict) and self.task == "classification":
            data.pop("task", None)  # and for task: classification configs as before
        return data

    @model_validator(mode="wrap")
    @classmethod
    def _with_task(cls, data: Any, handler: Any) -> Any:
        # The strategy arms are validated against the config's task (its strategies, not
        # classification's): they read it from _TASK while the fields are validated.
        task = data.get("task", "classification") if isinstance(data, Mapping) else None
        if task not in CONFIG_TASKS:
            task = "classification"  # the field's own error names the valid tasks
        token = _TASK.set(str(task))
        try:
            return handler(data)
        finally:
            _TASK.reset(token)

    @model_validator(mode="after")
    def _task_settings(self) -> ExperimentConfig:
        if self.task == "classification":
            return self
        refused = [
            (self.stopping is not None, "stopping (its evidence is classification's)"),
            (self.snapshots is not None, "snapshots (pictures of class probabilities)"),
            (self.encoder is not None, "encoder (not wired for this task yet)"),
        ]
        bad = [what for on, what in refused if on]
        if bad:
            raise ValueError(
                f"task {self.task!r} does not take {'; '.join(bad)}: remove the section(s)"
            )
        for spec in self.strategies:
            method = self.posterior_for(spec).build()
            if not method.supports_heads and self.task not in method.head_tasks:
                tasks = " and ".join(("classification", *method.head_tasks))
                also = " or forest" if self.task == "regression" else ""
                raise ValueError(
                    f"posterior {method.name!r} (arm {spec.label}) supports {tasks} "
                    f"only; task {self.task!r} needs posterior mc_dropout or ensemble{also}"
                )
        return self

    def build_strategy(self, spec: StrategyConfig) -> Any:
        """The strategy of arm ``spec`` for this config's task (:func:`task_strategy`)."""
        return task_strategy(self.task, spec.name, spec.params)

    @model_validator(mode="before")
    @classmethod
    def _finite_numbers(cls, data: Any) -> Any:
        bad = list(_non_finite(data))
        if bad:
            raise ValueError(
                "; ".join(f"{where} is not a finite number" for where in bad)
                + " (NaN and infinity are refused everywhere in a config)"
            )
        return data

    @field_validator("plugins")
    @classmethod
    def _import_plugins(cls, plugins: list[str]) -> list[str]:
        try:
            import_plugins(plugins)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None
        return plugins

    @field_validator("device")
    @classmethod
    def _device_exists(cls, device: str) -> str:
        try:
            resolve_device(device)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None
        return device

    @field_validator("strategies", mode="before")
    @classmethod
    def _names_to_specs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("strategies")
    @classmethod
    def _unique_labels(cls, specs: list[StrategyConfig]) -> list[StrategyConfig]:
        labels = [s.label for s in specs]
        duplicates = sorted({lab for lab in labels if labels.count(lab) > 1}, key=str)
        if duplicates:
            raise ValueError(
                f"strategy labels must be unique; {duplicates} appear more than once "
                "(give each arm its own label)"
            )
        return specs

    @field_validator("seeds", mode="before")
    @classmethod
    def _count_to_list(cls, value: Any) -> Any:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            if int(value) < 1:
                raise ValueError("a seed count must be >= 1")
            if int(value) > MAX_SEEDS:
                raise ValueError(f"a seed count must be <= {MAX_SEEDS}, got {value}")
            return list(range(int(value)))
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if any(s < 0 for s in seeds):
            raise ValueError("seeds must be >= 0")
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct")
        return seeds

    @model_validator(mode="after")
    def _one_posterior_unless_compared(self) -> ExperimentConfig:
        overriding = [s.label for s in self.strategies if s.posterior is not None]
        if overriding and not self.compares_posteriors:
            raise ValueError(
                f"arm(s) {', '.join(map(str, overriding))} override the posterior: every arm, "
                "random included, runs under the experiment's posterior, so that arms differ "
                "only in the strategy. To compare posteriors, set compares_posteriors: true "
                "(and give each posterior its own random arm: the report compares an arm "
                "with random only under the same posterior)"
            )
        return self

    @model_validator(mode="after")
    def _model_when_needed(self) -> ExperimentConfig:
        if self.model is not None:
            return self
        needing = []
        for spec in self.strategies:
            posterior = self.posterior_for(spec)
            if posterior.build().needs_model:
                needing.append(f"{spec.label} ({posterior.name})")
        if needing:
            raise ValueError(
                "model: is required: the posterior of arm(s) "
                + ", ".join(needing)
                + " trains a network (give model: {name: mlp, params: {...}}, or use a "
                "posterior that needs no model, such as forest)"
            )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        if self.pool_subset is not None and self.pool_subset < self.acquisition_size:
            raise ValueError(
                f"pool_subset ({self.pool_subset}) must be >= acquisition_size "
                f"({self.acquisition_size})"
            )
        if self.snapshots is not None:
            unknown = [s for s in self.snapshots.seeds if s not in self.seeds]
            if unknown:
                raise ValueError(f"snapshots.seeds {unknown} are not among seeds {self.seeds}")
            late = [r for r in self.snapshots.rounds if r > self.rounds]
            if late:
                # A lower --rounds on a config that pictures later rounds: keep what fits.
                kept = [r for r in self.snapshots.rounds if r <= self.rounds]
                then = f"snapshots are taken at rounds {kept}" if kept else "no snapshots"
                warnings.warn(
                    f"snapshots.rounds {late} exceed rounds ({self.rounds}): dropped, {then}",
                    ConfigNote,
                    stacklevel=2,
                )
                self.snapshots = (
                    self.snapshots.model_copy(update={"rounds": kept}) if kept else None
                )
        return self

    def strategy(self, label: str) -> StrategyConfig:
        """The strategy arm called ``label``."""
        for spec in self.strategies:
            if spec.label == label:
                return spec
        raise InvalidInputError(f"no strategy labelled {label!r} in config {self.name!r}")

    def posterior_for(self, spec: StrategyConfig) -> PosteriorConfig:
        """The posterior used by one arm: its override, else the experiment's."""
        return spec.posterior if spec.posterior is not None else self.posterior

    def trials(self) -> list[tuple[str, int]]:
        """Every ``(label, seed)`` trial, in config order."""
        return [(spec.label, seed) for spec in self.strategies for seed in self.seeds]  # type: ignore[misc]

    def with_data_params(self, values: Mapping[str, Any]) -> ExperimentConfig:
        """This config with the model parameters its factory requires and the config
        leaves out (:meth:`ModelConfig.data_params`: ``in_features``, ``num_classes``,
        ...) set from ``values`` (what the data determines); the model is then built
        once. Itself when nothing is left out.

        Raises:
            ConfigError: ``values`` lacks one of them, or the model cannot be built
                with them (the message names the values filled in).
        """
        if self.model is None or not (missing := self.model.data_params()):
            return self
        lacking = [name for name in missing if name not in values]
        if lacking:
            raise ConfigError(
                f"model {self.model.name!r} needs {', '.join(lacking)}, which the data does "
                "not determine here (inputs that are not square images?); give "
                f"{', '.join(lacking)} in model.params"
            )
        filled = {name: values[name] for name in missing}
        params = {**self.model.params, **filled}
        shown = ", ".join(f"{k}={v}" for k, v in filled.items())
        try:
            build_model(self.model.name, seed=0, **params)
        except BayesalError as exc:
            raise ConfigError(f"model (with {shown} from the data): {exc}") from None
        except Exception as exc:  # a plugin factory may raise anything: one line
            raise ConfigError(
                f"model {self.model.name!r} cannot be built with params {params} ({shown} "
                f"from the data): {type(exc).__name__}: {exc}"
            ) from None
        model = self.model.model_copy(update={"params": params})
        return self.model_copy(update={"model": model})

    def to_yaml(self) -> str:
        """The fully resolved config (defaults filled in) as YAML."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _format_location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation holds (through ``X | None``, ``list[X]``, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the config section at ``loc`` (a path into ExperimentConfig;
    list indices skipped), or [] when it is not a section."""
    models: list[type[BaseModel]] = [ExperimentConfig]
    for part in loc:
        if isinstance(part, int):
            continue
        found = [m.model_fields[part].annotation for m in models if part in m.model_fields]
        models = [model for annotation in found for model in _models_in(annotation)]
        if not models:
            return []
    return sorted({name for model in models for name in model.model_fields})


def _extra_key_message(loc: tuple[int | str, ...]) -> str:
    """``Extra inputs are not permitted``, said with the close match and the known keys."""
    key, fields = str(loc[-1]), _fields_at(loc[:-1])
    if not fields:
        return "unknown key"
    close = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key{hint}; the keys here are {', '.join(fields)}"


def _format_errors(error: ValidationError, source: str) -> str:
    parts = []
    for err in error.errors():
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" and err["loc"]:
            message = _extra_key_message(tuple(err["loc"]))
        where = _format_location(tuple(err["loc"]))
        parts.append(f"{where}: {message}" if where else message)
    return f"invalid config {source}: " + "; ".join(parts)


def _apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Set dotted keys (``training.lr``) in a copy of ``raw``.

    A ``strategies`` override that is a list of strings may name labels of the file's
    strategy arms: such names keep the arm's whole spec (posterior, params).
    """
    out = copy.deepcopy(raw)
    for key, value in overrides.items():
        if key == "strategies" and isinstance(value, list):
            arms: dict[Any, Any] = {}
            for arm in out.get("strategies") or []:
                if isinstance(arm, str):
                    arms[arm] = arm
                elif isinstance(arm, dict):
                    arms[arm.get("label", arm.get("name"))] = arm
            value = [arms.get(v, v) if isinstance(v, str) else v for v in value]
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return out


def config_from_dict(
    raw: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    *,
    source: str = "<dict>",
) -> ExperimentConfig:
    """Validate a config given as a mapping (after dotted-key ``overrides``)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"invalid config {source}: the top level must be a mapping of fields, "
            f"got {type(raw).__name__}"
        )
    data = _apply_overrides(dict(raw), overrides or {})
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        # Every mistake at once: the dataset's missing files and columns too, which the
        # run would otherwise find only after this error is fixed.
        dataset = data.get("dataset")
        problems = []
        if isinstance(dataset, Mapping):
            problems = dataset_file_problems(dataset.get("name"), dataset.get("params") or {})
        message = _format_errors(exc, source)
        raise ConfigError("; ".join([message, *problems])) from None


def load_config(
    path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None
) -> ExperimentConfig:
    """Read, override and validate the YAML config at ``path``.

    ``overrides`` maps dotted field paths to values, e.g. ``{"seeds": 2, "rounds": 5,
    "strategies": ["random", "bald"]}``; they are validated like the file.

    Raises:
        DataNotFoundError: ``path`` does not exist.
        ConfigError: ``path`` is a directory, the file is not UTF-8 text or not valid
            YAML, a key appears twice in one mapping (both lines named: YAML would keep
            the last silently), or a field is invalid (the message names the file and
            the field path).
        OSError: the file cannot be read (no permission, ...).
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config {path} is a directory, not a config file (give a YAML file)")
    if not path.is_file():
        raise DataNotFoundError(f"config file {path} does not exist")
    raw = load_yaml(path.read_bytes(), f"invalid config {path}")
    return config_from_dict(raw if raw is not None else {}, overrides, source=str(path))
