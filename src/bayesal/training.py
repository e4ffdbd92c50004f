"""Fit a fresh model on the labelled examples.

Training is deterministic under its ``seed`` and leaves the global RNG untouched: the
shuffles come from a private ``torch.Generator``, and dropout (which in train mode
reads torch's global generator of the device it runs on) runs inside
``torch.random.fork_rng`` with the CPU generator, and the training device's generator
(CUDA, MPS), re-seeded, so the caller's global random state is restored afterwards.

Training runs on any device (:mod:`bayesal.device`): the model is moved there and the
labelled examples follow one batch at a time, so a CPU-resident data set is never copied
to the accelerator whole.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from torch import Tensor, nn

from bayesal.device import (
    DeviceLike,
    model_device,
    model_dtype,
    resolve_device,
    rng_devices,
    to_model_input,
)
from bayesal.errors import InvalidInputError


def whole_number(value: Any) -> Any:
    """Refuse a float or a bool given for a count (pydantic would take 50.0 as 50 and
    True as 1); ints, numpy ints and digit strings pass on to int validation."""
    if isinstance(value, bool) or (
        isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
    ):
        raise ValueError(f"must be a whole number (an int), got {type(value).__name__} {value!r}")
    if isinstance(value, str):
        try:
            exact = Decimal(value.strip())
        except InvalidOperation:
            return value
        if exact.is_finite() and not value.strip().lstrip("+-").isdigit():
            # YAML 1.1 reads 1e23 (no dot) as text, not a number.
            example = int(exact) if exact == exact.to_integral_value() else "an int"
            raise ValueError(
                f"must be a whole number (an int), got the text {value!r}; write it with "
                f"digits only (e.g. {example})"
            )
    return value


#: An int field that refuses floats and bools (shared with the experiment config).
Count = Annotated[int, BeforeValidator(whole_number)]

#: Upper bound of :attr:`TrainConfig.epochs`.
MAX_EPOCHS = 100_000
#: Upper bound of :attr:`TrainConfig.min_steps`.
MAX_MIN_STEPS = 10_000_000
#: Upper bound of :attr:`TrainConfig.batch_size`.
MAX_BATCH_SIZE = 1_000_000
#: Labelled sets up to this size are copied to an accelerator once per fit.
DEVICE_RESIDENT_BYTES = 1 << 30
_LOW_PRECISION = (torch.bfloat16, torch.float16)


class TrainConfig(BaseModel):
    """How to train one model on the labelled set.

    The number of passes is ``max(epochs, ceil(min_steps / steps_per_epoch))`` whole
    epochs: ``epochs`` governs large labelled sets, ``min_steps`` small ones (10 labels at
    batch size 64 make one step per epoch, so 50 epochs alone would be 50 steps, far too
    few to fit anything). Defaults: Adam at its standard 1e-3 needs no tuning of a
    momentum or schedule; 500 steps fit the small MLPs and CNNs used here on tiny
    labelled sets; batch 64 is the common choice in the BALD / BatchBALD experiments;
    no weight decay unless asked (its right value depends on the data set size).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    optimizer: Literal["adam", "sgd"] = "adam"
    # Upper bounds far beyond any useful value, below what float32 optimizer state holds.
    lr: float = Field(default=1e-3, gt=0, le=1e6, allow_inf_nan=False, description="learning rate")
    weight_decay: float = Field(
        default=0.0, ge=0, le=1e6, allow_inf_nan=False, description="L2 penalty (optimizer's)"
    )
    momentum: float = Field(default=0.9, ge=0, lt=1, description="SGD momentum (sgd only)")
    # Counts are whole numbers (50.0 or 1e23 given for one is refused, not rounded) with
    # generous but finite upper bounds, so that a typo fails at validation instead of
    # training for ever: a CPU makes some 10^3 small steps a second, so MAX_MIN_STEPS
    # (10^7) is hours for each model of each round, and MAX_EPOCHS (10^5) passes as long
    # at one step each; MAX_BATCH_SIZE (10^6) exceeds any batch that fits in memory.
    epochs: Count = Field(
        default=50, ge=1, le=MAX_EPOCHS, description="minimum passes over the labelled set"
    )
    batch_size: Count = Field(default=64, ge=1, le=MAX_BATCH_SIZE)
    min_steps: Count = Field(
        default=500, ge=0, le=MAX_MIN_STEPS, description="minimum gradient steps"
    )
    # Off by default: bfloat16 changes results (measured in docs/scale.md).
    precision: Literal["float32", "bfloat16"] = Field(
        default="float32",
        description=(
            "bfloat16: training under torch.autocast (float32 weights and optimiser), "
            "and scoring / evaluation of MC dropout and ensembles on a bfloat16 copy of "
            "the trained networks (log-softmax in float32)"
        ),
    )

    @model_serializer(mode="wrap")
    def _omit_default_precision(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # The default is left out of dumps, so that resolved configs and trial digests
        # of runs made before the field existed stay what they were.
        data: dict[str, Any] = handler(self)
        if data.get("precision") == "float32":
            del data["precision"]
        return data

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The dtype of ``torch.autocast`` during training (None: full precision)."""
        return torch.bfloat16 if self.precision == "bfloat16" else None

    def num_epochs(self, num_examples: int) -> int:
        """Whole epochs run on ``num_examples`` labelled examples."""
        steps_per_epoch = math.ceil(num_examples / self.batch_size)
        return max(self.epochs, math.ceil(self.min_steps / steps_per_epoch))


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def _seeds(seed: int) -> tuple[int, int]:
    """Two independent 63-bit seeds (shuffling, dropout) derived from ``seed``."""
    state = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
    return int(state[0] >> np.uint64(1)), int(state[1] >> np.uint64(1))


@contextmanager
def _deterministic_cudnn(device: torch.device) -> Iterator[None]:
    """On CUDA, deterministic cuDNN kernels (no autotuning) for the duration; the caller's
    two flags are restored on exit. Nothing changes on other devices."""
    if device.type != "cuda":
        yield
        return
    cudnn = torch.backends.cudnn
    saved = (cudnn.deterministic, cudnn.benchmark)
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = saved


@contextmanager
def _seeded_global_rng(device: torch.device, seed: int) -> Iterator[None]:
    """Seed the global generators that train-mode dropout reads on ``device`` (the CPU's
    always, plus the CUDA device's or MPS's) with ``seed``; restore them all on exit."""
    cuda_indices = rng_devices(device)
    with torch.random.fork_rng(devices=cuda_indices, device_type="cuda"):
        torch.default_generator.manual_seed(seed)
        for index in cuda_indices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        if device.type != "mps":
            yield
            return
        mps_state = torch.mps.get_rng_state()
        torch.mps.manual_seed(seed)
        try:
            yield
        finally:
            torch.mps.set_rng_state(mps_state)


def fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    *,
    seed: int,
    device: DeviceLike | None = None,
    transform: Callable[[Tensor], Tensor] | None = None,
    loss: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> nn.Module:
    """Train ``model`` in place on inputs ``x`` ``[N, ...]`` and labels ``y`` ``[N]``.

    Minimises the mean cross-entropy of the model's outputs (logits or log-probs: both
    give the same loss, since log_softmax of log-probs is the identity), or ``loss``
    when one is given (a task's head, :mod:`bayesal.posterior.heads`). Dropout is active
    during training; every epoch draws a fresh shuffle. Deterministic under ``seed`` on a
    given device (the CPU and a CUDA device draw different dropout masks from the same
    seed, so their models differ); the global RNG state (CPU and the training device's) is
    the same after the call as before. Returns the model in eval mode, on the training
    device.

    On CUDA, cuDNN runs deterministic kernels during the call (``cudnn.deterministic``,
    no ``benchmark`` autotuning; both flags restored afterwards), which makes convolution
    training repeatable; other CUDA kernels that use atomics, if a model has them, need
    ``torch.use_deterministic_algorithms(True)`` from the caller.

    Args:
        device: where to train (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``
            or a :class:`torch.device`); the model is moved there in place. ``None``: the
            model's current device (that of its first parameter; the CPU when it has none).
        transform: applied to every training input batch (data augmentation), after the
            batch is on the device in the model's dtype; it must return a batch the model
            accepts. Random transforms should use torch's global generator: it is seeded
            from ``seed`` here, so augmented training stays deterministic.
        loss: ``loss(outputs [b, W], y [b, ...]) -> scalar``, the mean loss of a batch,
            instead of the cross-entropy; ``y`` is then any ``[N, ...]`` tensor (float
            targets, ``[N, L]`` label vectors) and is passed as it is. None (default):
            the cross-entropy of class indices ``y`` ``[N]``.

    ``x`` and ``y`` may stay on the CPU: each batch is moved to the device on its own.
    Floating-point inputs are converted to the model's parameter dtype (float64 arrays
    from numpy train a float32 model); integer inputs are passed unchanged.

    Raises:
        InvalidInputError: mismatched or empty ``x`` / ``y``, a device this machine does
            not have, or a ``transform`` that is not callable.
    """
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise InvalidInputError(
            f"x and y must be torch tensors, got {type(x).__name__} and {type(y).__name__}"
        )
    if x.ndim < 1 or (y.ndim != 1 if loss is None else y.ndim < 1) or len(x) != len(y):
        raise InvalidInputError(
            f"x must be [N, ...] and y [N] with the same N, got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    if len(y) == 0:
        raise InvalidInputError("cannot train on an empty labelled set")
    if transform is not None and not callable(transform):
        raise InvalidInputError(f"transform must be callable, got {type(transform).__name__}")
    target = model_device(model) if device is None else resolve_device(device)
    model.to(target)
    shuffle_seed, dropout_seed = _seeds(seed)
    shuffle_gen = torch.Generator().manual_seed(shuffle_seed)
    optimizer = _make_optimizer(model, config)
    n = len(y)
    if loss is None:
        y = y.long()
    if target.type != "cpu" and x.nbytes + y.nbytes <= DEVICE_RESIDENT_BYTES:
        # The labelled set is small: copy it once, so that each step indexes it on the
        # device (no per-batch host-to-device copies in the loop).
        x = to_model_input(x, target, model_dtype(model))
        y = y.to(target)
    autocast = config.autocast_dtype
    with _seeded_global_rng(target, dropout_seed), _deterministic_cudnn(target):
        model.train()
        for _ in range(config.num_epochs(n)):
            perm = torch.randperm(n, generator=shuffle_gen)
            perm_x, perm_y = perm.to(x.device), perm.to(y.device)  # once per epoch
            for start in range(0, n, config.batch_size):
                x_batch = to_model_input(
                    x[perm_x[start : start + config.batch_size]], target, model_dtype(model)
                )
                y_batch = y[perm_y[start : start + config.batch_size]].to(
                    target, non_blocking=target.type == "cuda"
                )
                if transform is not None:
                    x_batch = transform(x_batch)
                optimizer.zero_grad(set_to_none=True)
                # Autocast around the forward pass of each step only: its cache of
                # low-precision weight copies must not outlive an optimiser step.
                with torch.autocast(target.type, dtype=autocast, enabled=autocast is not None):
                    logits = model(x_batch)
                if logits.dtype in _LOW_PRECISION:  # the loss in float32
                    logits = logits.float()
                if loss is None:
                    batch_loss = F.cross_entropy(logits, y_batch)
                else:
                    batch_loss = loss(logits, y_batch)
                batch_loss.backward()
                optimizer.step()
    model.eval()
    return model
