"""The labelling session's config: a YAML file validated by pydantic (unknown keys refused).

Example (``configs/label_digits.yaml``)::

    data:
      kind: image_folder        # image_folder | table | arrays
      path: digits/             # relative to this file's folder
      params: {size: 28}
    labels: [zero, one, two, three, four, five, six, seven, eight, nine]
    model: {name: gal_cnn}
    posterior: {name: mc_dropout, num_samples: 20}
    strategy: {name: bald}
    queue_size: 50
    retrain_every: 10
    stopping:
      - {name: budget, params: {max_labels: 500}}
      - {name: stabilizing_predictions}

``bayesal session init`` validates it (names resolve, parameters fit their factories,
the data reads, the model runs on it) before it creates anything, and stores a copy in
the session, so a session never depends on the original file again.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from bayesal._yaml import load_yaml
from bayesal.errors import BayesalError, ConfigError, DataNotFoundError
from bayesal.experiment.config import PosteriorConfig, StoppingRuleConfig, StrategyConfig
from bayesal.models.registry import check_model
from bayesal.training import Count, TrainConfig

__all__ = ["DataConfig", "SessionConfig", "StoppingRuleConfig", "load_session_config"]

#: The most classes a session takes (one key per class in the UI; beyond ten, keys
#: run through letters).
MAX_CLASSES = 36
MAX_QUEUE = 100_000
_DATA_PARAMS = {
    "image_folder": {"size", "mode"},
    "table": {"label_column", "feature_columns", "id_column", "format"},
    "arrays": {"labels_path", "x_key", "y_key"},
    "text": {"text_column", "label_column", "id_column", "format", "features", "feature_params"},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    """Where the items live and how to read them.

    ``image_folder``: ``path`` is a folder of images (``read_image_folder``: unlabelled
    images at its top level, labelled ones in one subfolder per class); params ``size``,
    ``mode``. ``table``: a CSV / Parquet file (``read_table``); params ``label_column``,
    ``feature_columns``, ``id_column``. ``arrays``: a ``.npy`` / ``.npz`` file
    (``read_arrays``). ``text``: a CSV / Parquet table with a column of texts
    (:func:`~bayesal.data.text.read_text_features`: params ``text_column``,
    ``label_column``, ``id_column``, ``format``, ``features`` (``tfidf``, ``hashing``,
    ``embedding``), ``feature_params``); the page shows each item's text. ``path`` is
    relative to the config file's folder unless absolute.
    """

    kind: Literal["image_folder", "table", "arrays", "text"]
    path: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _known_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        allowed = _DATA_PARAMS.get(info.data.get("kind", ""))
        if allowed is None:  # the kind itself is wrong: reported on its own
            return params
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ValueError(f"unknown data params {unknown}; this kind takes {sorted(allowed)}")
        return params


class SessionModelConfig(_Strict):
    """The network: a registered model (``bayesal models``) or an import path
    ``package.module:factory``. Parameters the data determines (``num_classes``,
    ``in_features``, ``in_channels``, ``image_size``) are filled in when the factory
    takes them and ``params`` does not set them; the model is built and run on the data
    when the session is created."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        try:
            check_model(name, {})
        except BayesalError as exc:
            raise ValueError(str(exc)) from None
        return name


class TaskStrategyConfig(StrategyConfig):
    """The strategy of a multi-label or regression session: checked against the task's
    strategies by :func:`_task_strategy_config`, not against the classification
    registry (which the validators of :class:`StrategyConfig` read; the session's
    ``strategy`` field takes an instance of this class as it is)."""


def _strategy_field(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    if isinstance(value, TaskStrategyConfig):  # checked against its task already
        return value
    return handler(value)


def _task_strategy_config(task: str, strategy: object) -> StrategyConfig:
    """The ``strategy`` mapping of a ``task`` session, checked against the task's
    strategies (built once, so a bad parameter is refused here), as a
    :class:`StrategyConfig` that skips the classification registry's check."""
    from bayesal.tasks import TASK_STRATEGIES, build_strategy

    if not isinstance(strategy, dict):
        raise ValueError(f"strategy: expected a mapping such as {{name: bald}}, got {strategy!r}")
    # label (a name in tables) is kept; posterior: empty (a session has one posterior)
    unknown = sorted(
        key
        for key in strategy
        if key not in ("name", "params", "label") and strategy[key] is not None
    )
    if unknown:
        raise ValueError(f"strategy: task {task} takes name, params and label, not {unknown}")
    name, params = strategy.get("name"), strategy.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError(f"strategy.params: expected a mapping, got {params!r}")
    if name not in TASK_STRATEGIES[task]:
        raise ValueError(
            f"strategy {name!r} does not apply to task {task}; its strategies are "
            f"{', '.join(TASK_STRATEGIES[task])}"
        )
    try:
        build_strategy(task, str(name), **params)
    except BayesalError as exc:
        raise ValueError(str(exc)) from None
    label = strategy.get("label")
    return TaskStrategyConfig.model_construct(
        name=str(name), label=None if label is None else str(label), posterior=None, params=params
    )


class SessionConfig(_Strict):
    """Everything a labelling session needs; see the module docstring for an example."""

    data: DataConfig
    labels: list[str] | None = Field(default=None, min_length=2, max_length=MAX_CLASSES)
    #: The network; default ``{name: mlp}`` (an MLP with dropout over the flattened
    #: features, for MC dropout), whose output width is filled in from the task.
    model: SessionModelConfig = Field(default_factory=lambda: SessionModelConfig(name="mlp"))
    posterior: PosteriorConfig = Field(default_factory=PosteriorConfig)
    strategy: Annotated[StrategyConfig, WrapValidator(_strategy_field)] = Field(
        default_factory=lambda: StrategyConfig(name="bald")
    )
    training: TrainConfig = Field(default_factory=TrainConfig)
    queue_size: Count = Field(default=50, ge=1, le=MAX_QUEUE)
    retrain_every: Count = Field(default=10, ge=1, le=MAX_QUEUE)
    lease_seconds: float = Field(default=300.0, gt=0, le=7 * 24 * 3600, allow_inf_nan=False)
    cold_start: Literal["random", "kcenter"] = "random"
    stop_set_size: Count = Field(default=1000, ge=1, le=MAX_QUEUE)
    stopping: list[StoppingRuleConfig] = Field(default_factory=list)
    seed: Count = Field(default=0, ge=0, le=2**31 - 1)
    device: str = "cpu"
    #: The label form: one class (``classification``), a set of classes
    #: (``multilabel``: ``labels`` names them), a finite number (``regression``: no
    #: ``labels``) or a class per pixel (``segmentation``: ``labels`` names the pixel
    #: classes; a mask ``[H, W]`` per image; the model defaults to ``{name: unet}``).
    task: Literal["classification", "multilabel", "regression", "segmentation"] = "classification"
    #: How an item's label is resolved from several annotators' annotations: the first
    #: annotator's (``first``, the default: sessions behave as before issue 22), the value
    #: most annotators gave (``majority``, a tie is a conflict), or agreement of all,
    #: else a reviewer's decision (``reviewer``). A reviewer's decision resolves an item
    #: under every rule.
    resolve: Literal["first", "majority", "reviewer"] = "first"
    #: The share of items also served to a second, different annotator (for the
    #: agreement figure): 0 (none) to 1 (every item).
    overlap: float = Field(default=0.0, ge=0.0, le=1.0, allow_inf_nan=False)
    #: Who may record reviewer decisions; None: anyone who asks as a reviewer (the web
    #: server's tokens decide there).
    reviewers: list[str] | None = None

    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels: list[str] | None) -> list[str] | None:
        if labels is None:
            return None
        cleaned = [name.strip() for name in labels]
        if any(not name or len(name) > 100 for name in cleaned):
            raise ValueError("label names must be 1 to 100 characters long")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError(f"label names must be distinct, got {cleaned}")
        if any(name.isdigit() for name in cleaned):
            raise ValueError("a label name cannot be a number (numbers mean class indices)")
        return cleaned

    @field_validator("reviewers")
    @classmethod
    def _reviewer_names(cls, names: list[str] | None) -> list[str] | None:
        if names is None:
            return None
        cleaned = [name.strip() for name in names]
        if any(not name or len(name) > 100 or not name.isprintable() for name in cleaned):
            raise ValueError("reviewer names must be 1 to 100 printable characters")
        return cleaned

    @model_validator(mode="before")
    @classmethod
    def _task_strategy(cls, raw: Any) -> Any:
        """A multi-label or regression session's strategy is one of the task's
        (:data:`bayesal.tasks.TASK_STRATEGIES`), checked here against the task rather than
        against the classification strategy registry."""
        if not isinstance(raw, dict) or raw.get("task") not in (
            "multilabel",
            "regression",
            "segmentation",
        ):
            return raw
        if raw.get("task") == "segmentation" and "model" not in raw:
            # A U-Net with MC dropout before its 1x1 classifier (bayesal.models.unet).
            raw = {**raw, "model": {"name": "unet"}}
        strategy = raw.get("strategy")
        if strategy is None or isinstance(strategy, StrategyConfig):
            return raw
        return {**raw, "strategy": _task_strategy_config(str(raw["task"]), strategy)}

    @model_validator(mode="after")
    def _labels_fit_the_task(self) -> SessionConfig:
        if self.task == "regression" and self.labels is not None:
            raise ValueError(
                "task regression: labels are numbers, so `labels` (class names) must be left out"
            )
        if self.task in ("multilabel", "segmentation") and self.labels is None:
            raise ValueError(f"task {self.task}: give the class names in `labels`")
        if self.task == "segmentation" and self.data.kind not in ("image_folder", "arrays"):
            raise ValueError(
                f"task segmentation: the items are images (data kind image_folder or "
                f"arrays [N, channels, H, W]), not {self.data.kind}"
            )
        if self.task != "classification":
            from bayesal.learner.validation import posterior_method

            method = posterior_method(self.posterior.name, self.posterior.method_params(), 20)
            if not method.supports_heads:
                raise ValueError(
                    f"task {self.task}: posterior {self.posterior.name!r} supports "
                    "classification only; use mc_dropout or ensemble"
                )
        return self

    @field_validator("stopping")
    @classmethod
    def _distinct_rules(cls, rules: list[StoppingRuleConfig]) -> list[StoppingRuleConfig]:
        labels = [rule.label for rule in rules]
        if len(set(labels)) != len(labels):
            raise ValueError(f"two stopping rules share a label {labels}: give them labels")
        return rules


def _no_nan(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: NaN or infinity is not allowed")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nan(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _no_nan(item, f"{where}[{i}]")


def load_session_config(path: str | Path) -> tuple[SessionConfig, Path]:
    """The validated config of ``path`` and the folder its data paths are relative to.

    Raises:
        DataNotFoundError: no such file.
        ConfigError: unreadable YAML or an invalid field (the message names the file and
            the field path).
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"session config {str(path)!r} does not exist")
    raw = load_yaml(path.read_bytes(), str(path))  # duplicate keys refused, both lines
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return parse_session_config(raw, str(path)), path.parent.resolve()


def parse_session_config(raw: dict[str, Any], source: str = "session config") -> SessionConfig:
    """Validate a config mapping (see :func:`load_session_config`)."""
    _no_nan(raw, "")
    try:
        return SessionConfig.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "(top level)"
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{where}: {message}")
        raise ConfigError(f"{source}: " + "; ".join(lines)) from None
