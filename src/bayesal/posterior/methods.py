"""Posterior *methods*: how the models behind a posterior are trained and drawn.

A method is what the ``posterior`` registry builds from a config's ``{name, params}``
(``get_posterior("mc_dropout", num_samples=20)``). Each round the learner hands it a
fresh-model factory and the labelled data; it trains what it needs (MC dropout: one
network; a deep ensemble: M independently initialised networks) and returns a
:class:`FittedPosterior`, which draws K consistent parameter samples for scoring
(``[N, K, C]``) and gives the predictive used for evaluation (``[N, C]``).

Adding a method: subclass :class:`PosteriorMethod` and register a factory,
``POSTERIORS.register("my_method", MyMethod)``, or name it by import path
``package.module:MyMethod`` in a config.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bayesal.acquisition import mean_log_probs
from bayesal.device import log_probs_dtype, model_dtype
from bayesal.errors import InvalidInputError
from bayesal.posterior.base import Posterior, PosteriorDraw, check_num_samples
from bayesal.posterior.ensemble import EnsemblePosterior
from bayesal.posterior.heads import OutputHead
from bayesal.posterior.mc_dropout import MCDropoutPosterior
from bayesal.registry import Registry
from bayesal.training import TrainConfig, fit

#: ``seed -> fresh untrained model`` (the learner seeds the global RNG around the call).
ModelBuilder = Callable[[int], nn.Module]

#: K of MC dropout when none is given (the learner's and the config's default too).
DEFAULT_NUM_SAMPLES = 20

# Test-set evaluation runs in chunks whose activations stay in the CPU caches: for the
# Gal CNN on the 10k MNIST test set, 256 inputs per pass in channels-last layout took
# 1.07 s against 6.1 s for 4,096 contiguous inputs (measured; see docs/mnist.md).
EVAL_CHUNK_SIZE = 256


def _log_softmax(logits: Tensor) -> Tensor:
    return F.log_softmax(logits, dim=-1, dtype=log_probs_dtype(logits.dtype))


@torch.no_grad()
def predictive_log_probs(
    models: list[nn.Module], inputs_N: Tensor, chunk_size: int = EVAL_CHUNK_SIZE
) -> Tensor:
    """``[N, C]`` log of the mean predictive probability of eval-mode ``models``.

    One model: its deterministic eval-mode prediction (for MC dropout, the standard
    weight-scaling approximation of the MC average). Several: the log of the mean of
    the members' probabilities (logsumexp over members minus log M). Image batches
    (4-D) are passed in channels-last layout, which CPU convolutions run faster; the
    values do not depend on the layout beyond float rounding. Inputs are moved chunk by
    chunk to the models' device and dtype; the result is on that device.
    """
    if not models:
        raise InvalidInputError("predictive_log_probs needs at least one model")
    first = next(iter(models[0].parameters()), None)
    device = first.device if first is not None else inputs_N.device
    dtype = first.dtype if first is not None and first.is_floating_point() else None
    chunks = []
    for start in range(0, len(inputs_N), chunk_size):
        x = inputs_N[start : start + chunk_size].to(device=device, dtype=dtype)
        if x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        log_probs_N_M_C = torch.stack([_log_softmax(m(x)) for m in models], dim=1)
        chunks.append(mean_log_probs(log_probs_N_M_C))
    return torch.cat(chunks)


@dataclass(frozen=True)
class FitSeeds:
    """Seeds of one round's training: ``init(m)`` initialises model ``m``, ``train(m)``
    drives its shuffles and dropout."""

    init: Callable[[int], int]
    train: Callable[[int], int]


@dataclass
class FittedPosterior:
    """One round's trained posterior: K-sample draws for scoring, a predictive for
    evaluation, and the trained ``models`` (for saving and callbacks)."""

    posterior: Posterior
    models: list[nn.Module]
    num_samples: int
    extra: dict[str, object] = field(default_factory=dict)

    def draw(self, generator: torch.Generator) -> PosteriorDraw:
        """K = ``num_samples`` consistent parameter samples."""
        return self.posterior.draw(self.num_samples, generator)

    def predict_log_probs(self, inputs_N: Tensor, chunk_size: int = EVAL_CHUNK_SIZE) -> Tensor:
        """``[N, C]`` log predictive used for evaluation (see :func:`predictive_log_probs`)."""
        return predictive_log_probs(self.models, inputs_N, chunk_size)


class PosteriorMethod(ABC):
    """A registered way to train models and turn them into a posterior."""

    #: The registry name (for messages and saved state).
    name: str = "posterior"
    #: Whether the method trains torch networks built by the learner's ``model``. A
    #: method that needs none (``forest``) sets False: the learner then accepts
    #: ``model=None`` and calls :meth:`fit` with ``build_model=None`` and
    #: ``num_classes=C`` (so that classes without a label still get a column).
    needs_model: bool = True
    #: Whether the method reads the unlabelled pool when it fits (a semi-supervised
    #: method: ``label_spreading``). The learner then also passes ``pool`` (the
    #: :class:`~bayesal.data.source.PoolInputs`) and ``labelled_rows`` (the pool rows of
    #: ``x_L``, in order) to :meth:`fit`.
    reads_pool: bool = False
    #: Whether :meth:`posterior` over copies of the trained models cast to another
    #: dtype is the same posterior in that precision (``TrainConfig.precision``).
    casts_to_precision: bool = False
    #: Whether the method takes an output :attr:`head` (a task other than
    #: classification: :mod:`bayesal.posterior.heads`). MC dropout and ensembles do.
    supports_heads: bool = False
    #: The task types other than classification whose head the method takes although
    #: :attr:`supports_heads` is False (``forest``: ``("regression",)``).
    head_tasks: tuple[str, ...] = ()
    #: The output head of a task other than classification (None: logits and
    #: cross-entropy). The learner sets it on its own copy of the method.
    head: OutputHead | None = None

    @property
    @abstractmethod
    def num_models(self) -> int:
        """Models trained per round."""

    @property
    @abstractmethod
    def num_samples(self) -> int:
        """K, parameter samples per draw."""

    @abstractmethod
    def posterior(self, models: list[nn.Module]) -> Posterior:
        """The posterior over trained ``models`` (also used when a saved learner is loaded)."""

    def fit(
        self,
        build_model: ModelBuilder,
        x_L: Tensor,
        y_L: Tensor,
        *,
        train_config: TrainConfig,
        seeds: FitSeeds,
        device: torch.device,
        transform: Callable[[Tensor], Tensor] | None = None,
    ) -> FittedPosterior:
        """Train :attr:`num_models` fresh models on ``(x_L, y_L)`` and wrap them."""
        models = []
        # A head's loss (multi-label, regression) replaces the cross-entropy.
        loss = None if self.head is None else self.head.loss
        for m in range(self.num_models):
            model = build_model(seeds.init(m)).to(device)
            models.append(
                fit(
                    model,
                    x_L,
                    y_L,
                    train_config,
                    seed=seeds.train(m),
                    transform=transform,
                    loss=loss,
                )
            )
        return self.wrap(models)

    def in_precision(self, fitted: FittedPosterior, dtype: torch.dtype) -> FittedPosterior:
        """``fitted`` for scoring and evaluation in ``dtype``: a posterior over copies of
        its models cast to ``dtype`` where the method allows it
        (:attr:`casts_to_precision`), else ``fitted`` itself (full precision)."""
        if not self.casts_to_precision or all(
            model_dtype(m) in (dtype, None) for m in fitted.models
        ):
            return fitted
        copies = [copy.deepcopy(m).to(dtype) for m in fitted.models]
        return FittedPosterior(self.posterior(copies), copies, fitted.num_samples, fitted.extra)

    def wrap(self, models: list[nn.Module]) -> FittedPosterior:
        """A :class:`FittedPosterior` over already trained ``models``."""
        if len(models) != self.num_models:
            raise InvalidInputError(
                f"posterior {self.name!r} needs {self.num_models} model(s), got {len(models)}"
            )
        return FittedPosterior(self.posterior(models), list(models), self.num_samples)


class MCDropoutMethod(PosteriorMethod):
    """MC dropout (Gal & Ghahramani 2016): one network, K consistent dropout masks.

    Args:
        num_samples: K, masks per draw (default 20).
    """

    name = "mc_dropout"
    casts_to_precision = True
    supports_heads = True

    def __init__(self, num_samples: int = DEFAULT_NUM_SAMPLES) -> None:
        self._k = check_num_samples(num_samples)

    @property
    def num_models(self) -> int:
        return 1

    @property
    def num_samples(self) -> int:
        return self._k

    def posterior(self, models: list[nn.Module]) -> Posterior:
        return MCDropoutPosterior(models[0], head=self.head)


class EnsembleMethod(PosteriorMethod):
    """A deep ensemble (Lakshminarayanan et al. 2017): ``members`` networks, each
    initialised and trained with its own seed; each member is one of the K samples.

    Args:
        members: the ensemble size M = K (default 5).
    """

    name = "ensemble"
    casts_to_precision = True
    supports_heads = True

    def __init__(self, members: int = 5) -> None:
        if isinstance(members, bool) or not isinstance(members, int) or members < 1:
            raise InvalidInputError(f"members must be a positive integer, got {members!r}")
        self._members = members

    @property
    def num_models(self) -> int:
        return self._members

    @property
    def num_samples(self) -> int:
        return self._members

    def posterior(self, models: list[nn.Module]) -> Posterior:
        return EnsemblePosterior(models, head=self.head)


#: The posterior registry: names (and import paths) -> :class:`PosteriorMethod` factories.
POSTERIORS: Registry[PosteriorMethod] = Registry("posterior")
POSTERIORS.register("mc_dropout", MCDropoutMethod)
POSTERIORS.register("ensemble", EnsembleMethod)
POSTERIORS.mark_builtin()


def register_posterior(
    name: str, factory: Callable[..., PosteriorMethod], *, overwrite: bool = False
) -> None:
    """Make ``get_posterior(name, **params)`` return ``factory(**params)``."""
    POSTERIORS.register(name, factory, overwrite=overwrite)


def available_posteriors() -> list[str]:
    """The registered posterior names, sorted."""
    return POSTERIORS.names()


def get_posterior(name: str, **params: object) -> PosteriorMethod:
    """The posterior method ``name`` (registered or an import path) built with ``params``.

    Raises:
        InvalidInputError: an unknown name (with close matches), parameters the method
            does not accept, or a factory that does not return a :class:`PosteriorMethod`.
    """
    method = POSTERIORS.build(name, **params)
    if not isinstance(method, PosteriorMethod):
        raise InvalidInputError(
            f"posterior {name!r} returned {type(method).__name__}, not a PosteriorMethod"
        )
    return method
