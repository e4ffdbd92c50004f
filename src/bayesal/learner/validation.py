"""Checks of the learner's constructor inputs, and the objects they name.

Each function takes one argument of :class:`~bayesal.learner.ActiveLearner` (or
:meth:`~bayesal.learner.ActiveLearner.load`) as the user gave it and returns it checked
and resolved (a strategy name to a :class:`~bayesal.acquisition.base.Strategy`, a model
spec to a ``seed -> nn.Module`` builder, ...), or raises
:class:`~bayesal.errors.InvalidInputError` saying what to pass instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from bayesal.acquisition import get_strategy
from bayesal.acquisition.base import Strategy
from bayesal.data.pool import Pool, as_id_array
from bayesal.data.source import PoolInputs
from bayesal.device import model_dtype, resolve_device, to_model_input
from bayesal.errors import InvalidInputError
from bayesal.posterior import PosteriorMethod, get_posterior
from bayesal.posterior.base import evaluation_mode
from bayesal.registry import accepted_parameters
from bayesal.scoring.engine import EXECUTORS
from bayesal.training import TrainConfig

if TYPE_CHECKING:
    from bayesal.learner.task import Task

__all__ = [
    "COLD_STARTS",
    "EMBEDS",
    "check_cold_start",
    "check_embed",
    "check_executor",
    "device_exists",
    "model_builder",
    "model_free_width",
    "model_output_width",
    "no_model",
    "pool_and_rows",
    "positive_int",
    "posterior_method",
    "strategy_of",
    "train_config",
]

#: Cold-start methods for a query with no label yet.
COLD_STARTS: tuple[str, ...] = ("random", "kcenter")
#: The named ways to embed inputs for embedding strategies (``embed=``; or a callable).
EMBEDS: tuple[str, ...] = ("auto", "features", "inputs")


def positive_int(name: str, value: object, low: int = 1) -> int:
    """``value`` as an int, if it is a whole number >= ``low`` (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def train_config(training: TrainConfig | Mapping[str, Any] | None) -> TrainConfig:
    """``training=``: a :class:`~bayesal.training.TrainConfig`, a dict of its fields or
    None (the defaults)."""
    if training is None:
        return TrainConfig()
    if isinstance(training, TrainConfig):
        return training
    if isinstance(training, Mapping):
        try:
            return TrainConfig(**training)
        except Exception as exc:  # pydantic's ValidationError: one clear line
            raise InvalidInputError(f"invalid training settings: {exc}".splitlines()[0]) from None
    raise InvalidInputError(f"training must be a TrainConfig or a dict, got {type(training)}")


def check_cold_start(cold_start: object) -> str:
    """``cold_start=``: one of :data:`COLD_STARTS`."""
    if cold_start not in COLD_STARTS:
        raise InvalidInputError(f"cold_start must be one of {COLD_STARTS}, got {cold_start!r}")
    return str(cold_start)


def check_embed(embed: object) -> str | Callable[[Tensor], Tensor]:
    """``embed=``: one of :data:`EMBEDS` or a callable ``x -> [n, D]``."""
    if isinstance(embed, str) and embed in EMBEDS:
        return embed
    if callable(embed):  # a function, or a feature extractor nn.Module
        return embed
    raise InvalidInputError(
        f"embed must be one of {', '.join(repr(e) for e in EMBEDS)} or a callable "
        f"x -> [n, D] (embeddings of a batch of inputs), got {embed!r}"
    )


def check_executor(executor: object) -> str:
    """``score_executor=`` (or ``query(executor=)``): ``"local"`` or ``"ray"``."""
    if executor not in EXECUTORS:
        raise InvalidInputError(
            f"the scoring executor must be one of {', '.join(EXECUTORS)}, got {executor!r}"
        )
    return str(executor)


def device_exists(name: str) -> bool:
    """Whether this machine has the device ``name`` (for a loaded learner)."""
    try:
        resolve_device(name)
    except InvalidInputError:
        return False
    return True


def strategy_of(strategy: object, params: Mapping[str, Any] | None) -> Strategy:
    """``strategy=`` and ``strategy_params=``: a registered name (or import path) with
    its factory's parameters, or a :class:`~bayesal.acquisition.base.Strategy` object."""
    if isinstance(strategy, str):
        return get_strategy(strategy, **(params or {}))
    if isinstance(strategy, Strategy):
        if params:
            raise InvalidInputError("strategy_params need a strategy name, not an object")
        return strategy
    raise InvalidInputError(f"strategy must be a name or a Strategy, got {strategy!r}")


def posterior_method(
    posterior: str | PosteriorMethod, params: Mapping[str, Any] | None, num_samples: int
) -> PosteriorMethod:
    """``posterior=``, ``posterior_params=`` and ``num_samples=``: the posterior method
    (``num_samples`` is passed to a factory that takes it unless set in the params)."""
    if isinstance(posterior, PosteriorMethod):
        if params:
            raise InvalidInputError("posterior_params need a posterior name, not an object")
        return posterior
    if not isinstance(posterior, str):
        raise InvalidInputError(f"posterior must be a name or a PosteriorMethod, got {posterior!r}")
    from bayesal.posterior import POSTERIORS

    kwargs = dict(params or {})
    accepted = accepted_parameters(POSTERIORS.resolve(posterior))
    if "num_samples" not in kwargs and accepted is not None and "num_samples" in accepted:
        kwargs["num_samples"] = positive_int("num_samples", num_samples)
    return get_posterior(posterior, **kwargs)


def no_model(seed: int) -> nn.Module:
    """The model builder of a learner without a model (``model=None``): posteriors that
    train no network never call it."""
    raise InvalidInputError(
        "this learner has no model (model=None); give one to use a posterior that trains one"
    )


def model_builder(model: Any) -> Callable[[int], nn.Module]:
    """``seed -> fresh model`` from a zero-argument factory, a ``seed -> model`` factory,
    a registered model name or an import path."""
    if isinstance(model, str):
        from bayesal.models.registry import check_model

        check_model(model, {})
        return _NamedModel(model)
    if isinstance(model, nn.Module):
        raise InvalidInputError(
            "model must build a fresh network each round: pass a factory (e.g. a class or "
            "a function returning a new nn.Module), not a model instance"
        )
    if not callable(model):
        raise InvalidInputError(f"model must be callable or an import path, got {model!r}")
    return _SeededModel(model)


class _NamedModel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, seed: int) -> nn.Module:
        from bayesal.models.registry import build_model

        return build_model(self.name, seed=seed)


class _SeededModel:
    """Calls the factory with the global RNG seeded privately (fork_rng), passing the seed
    when the factory has a parameter named ``seed``."""

    def __init__(self, factory: Callable[..., nn.Module]) -> None:
        self.factory = factory
        self.takes_seed = False
        try:
            params = list(inspect.signature(factory).parameters.values())
        except (TypeError, ValueError):
            return
        self.takes_seed = any(p.name == "seed" for p in params)
        required = [
            p.name
            for p in params
            if p.default is p.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name != "seed"
        ]
        if required:
            raise InvalidInputError(
                f"the model factory needs argument(s) {required}; pass a callable that "
                "builds the model with no argument (or only seed=), e.g. "
                "functools.partial(factory, ...)"
            )

    def __call__(self, seed: int) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            model = self.factory(seed=seed) if self.takes_seed else self.factory()
        if not isinstance(model, nn.Module):
            raise InvalidInputError(
                f"the model factory returned {type(model).__name__}, not a torch.nn.Module"
            )
        return model


def pool_and_rows(ids: ArrayLike | None, n: int) -> tuple[Pool, NDArray[np.int64]]:
    """``ids=`` for a pool of ``n`` inputs: the :class:`~bayesal.data.pool.Pool` (which
    sorts the ids) and the input row of each pool position."""
    if ids is None:
        return Pool(n), np.arange(n, dtype=np.int64)
    given = as_id_array(ids)
    if len(given) != n:
        raise InvalidInputError(f"{len(given)} ids for a pool of {n} inputs")
    return Pool.from_ids(given), np.argsort(given, kind="stable").astype(np.int64)


def model_output_width(
    task: Task,
    build_model: Callable[[int], nn.Module],
    inputs: PoolInputs,
    device: torch.device,
    expected: int | None,
) -> int:
    """Build the model once and run it on the first pool input; the task checks its
    output (classification: logits ``[1, C]`` with C >= 2, C = ``expected`` when given).
    Returns the output's width C."""
    x = inputs.take(np.zeros(1, np.int64))
    model = build_model(0).to(device)
    try:
        with torch.no_grad(), evaluation_mode(model):
            out = model(to_model_input(x, device, model_dtype(model)))
    except Exception as exc:  # the user's model: any error means a mismatch
        raise InvalidInputError(
            f"the model does not run on the pool's inputs (one input of shape "
            f"{tuple(x.shape[1:])}, dtype {x.dtype}): {type(exc).__name__}: {exc}"
        ) from None
    return task.output_width(out, expected)


def model_free_width(
    method: PosteriorMethod, inputs: PoolInputs, expected: int | None, fixed: int | None = None
) -> int:
    """C for a learner without a model (a posterior that trains none): it must be
    given, and the pool's inputs must be numbers. ``fixed``: the task's own width for
    such a posterior (regression: 2, mean and log-variance), the default and the only
    value accepted."""
    if fixed is not None:
        if expected not in (None, fixed):
            raise InvalidInputError(
                f"posterior {method.name!r} gives {fixed} outputs per sample for this task; "
                f"got num_classes={expected} (leave it unset)"
            )
        expected = fixed
    if expected is None:
        raise InvalidInputError(
            "model=None needs num_classes= (the number of classes C; without a model "
            "there is no output width to read it from)"
        )
    x = inputs.take(np.zeros(1, np.int64))
    if not isinstance(x, Tensor) or x.is_complex() or x.dtype == torch.bool:
        raise InvalidInputError(
            f"posterior {method.name!r} needs numeric pool inputs, got "
            f"{getattr(x, 'dtype', type(x).__name__)}"
        )
    return expected
