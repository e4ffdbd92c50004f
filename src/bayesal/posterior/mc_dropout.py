"""MC dropout as an approximate posterior (Gal & Ghahramani 2016, "Dropout as a Bayesian
Approximation", ICML), with consistent masks and a fast path for sequential models.

A draw samples K dropout masks per dropout layer, once, from a seed taken from the
caller's generator. The same K masks then apply to every input of every ``log_probs``
call on that draw, so joint quantities (BatchBALD, EPIG) are correct and pool chunks agree.

The model stays in eval mode throughout (BatchNorm keeps its running statistics); dropout
is applied by bayesal itself, never by switching the model to train mode.

Fast path (an ``nn.Sequential``, nested plain Sequentials flattened):

- the layers before the first active dropout (the *trunk*) run once per input, not K
  times; on the CPU a 4-D input to a ``Conv2d`` there is made channels-last and the trunk
  runs in cache-sized chunks, which is what makes torch's convolutions run near the
  machine's matrix-multiply rate;
- a dropout directly followed by an ``nn.Linear`` (optionally with an ``nn.Flatten`` in
  between) is folded into the Linear's weight columns, ``W_k = W * m_k / (1 - p)``, so the
  masked ``[K, N, d]`` activation is never built. When the Linear's input is still shared
  by all K samples (the first dropout after the trunk), sample k only needs the columns
  that mask k drops (p < 0.5: ``y_k = s h W^T - s h_D W_D^T``, one shared product plus a
  product over the dropped fraction p) or keeps (p >= 0.5), so the K products cost about
  ``min(p, 1 - p) K`` dense ones instead of ``K``;
- every other layer after the first dropout runs on ``[K * N, ...]`` activations.

Any other module uses the general path: inputs repeated K times along dim 0 (sample-major),
each dropout module's output replaced through a forward hook by its input times that
sample's mask. Both paths draw masks from the same per-layer streams, so they agree.

Devices: everything runs on the model's device. Masks are always drawn on the CPU (from
CPU generators, so a draw has the same K masks on every device) and copied to the model's
device once per layer and feature shape. Inputs are moved to the device chunk by chunk,
floating-point ones in the model's parameter dtype; log-probs are returned on the device.
The CPU-specific tuning (channels-last convolutions, cache-sized trunk chunks, the
column-subset folds, which gather columns sample by sample) is used on the CPU only;
elsewhere the trunk runs on whole input chunks and masks fold into stacked weights.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeGuard

import torch
from torch import Tensor, nn

from bayesal.device import log_probs_dtype
from bayesal.errors import InvalidInputError
from bayesal.posterior.base import (
    Posterior,
    PosteriorDraw,
    check_generator,
    check_inputs,
    check_num_samples,
    evaluation_mode,
    model_device,
    model_dtype,
    to_model_input,
)
from bayesal.posterior.heads import OutputHead

#: Default bound on the working set of one internal step on the CPU, in bytes.
DEFAULT_MEMORY_BUDGET = 256 * 2**20
#: On a CUDA device: this share of its free memory, at most CUDA_MEMORY_BUDGET_MAX.
CUDA_MEMORY_BUDGET_SHARE = 8
CUDA_MEMORY_BUDGET_MAX = 8 * 2**30


def default_memory_budget(device: torch.device) -> int:
    """The working-set bound of one scoring step on ``device``: 256 MiB on the CPU and
    MPS; on CUDA, an eighth of the device's free memory (at most 8 GiB, at least 256 MiB),
    since a GPU runs best on steps far larger than a CPU's caches, and scoring shares the
    device with the trained model and whatever else the process holds."""
    if device.type != "cuda":
        return DEFAULT_MEMORY_BUDGET
    free, _total = torch.cuda.mem_get_info(device)
    return int(
        min(CUDA_MEMORY_BUDGET_MAX, max(DEFAULT_MEMORY_BUDGET, free // CUDA_MEMORY_BUDGET_SHARE))
    )


_DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_CHANNELWISE_TYPES = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
# Alpha dropout also shifts and rescales; it is not a mask, so it is refused, not ignored.
_UNSUPPORTED_TYPES = (nn.AlphaDropout, nn.FeatureAlphaDropout)
# Trunk activations of one chunk should stay in the L2/L3 caches (measured on the Gal CNN:
# about 2.5x faster convolutions than with 2,000-input chunks).
_TRUNK_CACHE_BYTES = 8 * 2**20
# Use the column-subset product when it does at most this fraction of the dense work.
_SPARSE_FOLD_MAX_COST = 0.75
# About three tensors of the widest layer are alive at once (input, output, a temporary).
_LIVE_TENSORS = 3


def active_dropout_modules(model: nn.Module) -> list[nn.Module]:
    """The dropout modules of ``model`` with ``p > 0``, in ``model.modules()`` order.

    Raises:
        InvalidInputError: an alpha-dropout layer with ``p > 0`` (not a mask; unsupported).
    """
    found: list[nn.Module] = []
    for name, module in model.named_modules():
        if isinstance(module, _UNSUPPORTED_TYPES) and module.p > 0:
            raise InvalidInputError(
                f"MC dropout does not support {type(module).__name__} ({name!r}); use "
                "nn.Dropout / Dropout1d / Dropout2d / Dropout3d, or an ensemble"
            )
        if isinstance(module, _DROPOUT_TYPES) and module.p > 0:
            found.append(module)
    return found


def _is_active_dropout(module: nn.Module) -> bool:
    return isinstance(module, _DROPOUT_TYPES) and module.p > 0


def _contains_active_dropout(module: nn.Module) -> bool:
    return any(_is_active_dropout(m) for m in module.modules())


def _is_plain_sequential(module: nn.Module) -> TypeGuard[nn.Sequential]:
    return (
        isinstance(module, nn.Sequential)
        and type(module).forward is nn.Sequential.forward
        and not module._forward_hooks
        and not module._forward_pre_hooks
    )


def _flatten_sequential(module: nn.Module) -> list[nn.Module] | None:
    """The leaf layers of a plain (possibly nested) Sequential, or None for any other module."""
    if not _is_plain_sequential(module):
        return None
    layers: list[nn.Module] = []
    for child in module:
        inner = _flatten_sequential(child)
        layers.extend(inner if inner is not None else [child])
    return layers


def _splitmix64(x: int) -> int:
    """A 64-bit mixing function: well-spread seeds for the per-layer mask streams."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _dropout_p(module: nn.Module) -> float:
    """The drop probability of a dropout layer."""
    if not isinstance(module, _DROPOUT_TYPES):
        raise InvalidInputError(f"expected a dropout layer, got {type(module).__name__}")
    return module.p


def _scale(module: nn.Module) -> float:
    """Inverted-dropout scale 1 / (1 - p) (0 for p = 1, where every unit is dropped)."""
    p = _dropout_p(module)
    return 0.0 if p >= 1.0 else 1.0 / (1.0 - p)


class MCDropoutPosterior(Posterior):
    """MC-dropout posterior of a classifier that returns logits ``[N, C]``.

    ``draw(K, generator)`` fixes K dropout masks per dropout layer; its ``log_probs``
    returns ``log_softmax(logits)`` of shape ``[N, K, C]``.

    Args:
        model: the trained network, with at least one ``nn.Dropout`` / ``Dropout1d/2d/3d``
            of ``p > 0``. Its train/eval flags are restored after every call; BatchNorm
            and everything else run in eval mode. Dropout must be done by modules, not by
            ``F.dropout`` calls inside ``forward`` (those are off in eval mode). The batch
            must stay on dim 0 through the network (general path).
        memory_budget_bytes: approximate bound on one internal step's working set; inputs
            and samples are processed in chunks sized to stay under it. None (default):
            :func:`default_memory_budget` of the model's device at each draw (256 MiB on
            the CPU, where cache-sized steps run fastest; more on a CUDA device).
        fast_path: use the sequential fast path when the model allows it (switch off only
            to compare against the general path).
        head: the output head of a task other than classification
            (:mod:`bayesal.posterior.heads`): each sample's raw output goes through
            ``head.sample_output`` instead of ``log_softmax``. None (default): logits.

    Raises:
        InvalidInputError: no dropout layer with ``p > 0`` (MC dropout would give K
            identical samples and zero BALD), an alpha-dropout layer, or a bad budget.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        memory_budget_bytes: int | None = None,
        fast_path: bool = True,
        head: OutputHead | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise InvalidInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if memory_budget_bytes is not None and (
            isinstance(memory_budget_bytes, bool)
            or not isinstance(memory_budget_bytes, int)
            or memory_budget_bytes < 2**20
        ):
            raise InvalidInputError(
                f"memory_budget_bytes must be an integer >= 1 MiB, got {memory_budget_bytes!r}"
            )
        self.model = model
        self.memory_budget_bytes = memory_budget_bytes
        self.fast_path = bool(fast_path)
        self.head = head
        self._check_has_dropout()

    def _check_has_dropout(self) -> list[nn.Module]:
        dropouts = active_dropout_modules(self.model)
        if not dropouts:
            raise InvalidInputError(
                f"MC dropout needs at least one dropout layer with p > 0 in the model "
                f"({type(self.model).__name__} has none), otherwise all K samples are equal "
                "and BALD is zero; use an ensemble (EnsemblePosterior) or add dropout"
            )
        return dropouts

    def draw(self, num_samples: int, generator: torch.Generator) -> MCDropoutDraw:
        """Fix ``num_samples`` masks per dropout layer from one seed drawn from ``generator``.

        Only ``generator`` is read (it advances by one draw); global RNG state is untouched.
        """
        num_samples = check_num_samples(num_samples)
        generator = check_generator(generator)
        dropouts = self._check_has_dropout()
        seed = int(
            torch.randint(0, 2**63 - 1, (1,), generator=generator, device=generator.device).item()
        )
        layers = _flatten_sequential(self.model) if self.fast_path else None
        return MCDropoutDraw(
            self.model,
            dropouts,
            num_samples=num_samples,
            seed=seed,
            layers=layers,
            memory_budget_bytes=(
                default_memory_budget(model_device(self.model))
                if self.memory_budget_bytes is None
                else self.memory_budget_bytes
            ),
            output_head=self.head,
        )


@dataclass
class _Pending:
    """A dropout mask not yet applied: ``keep [kb, *mask_shape]`` (bool) times ``scale``."""

    keep: Tensor
    scale: float


@dataclass(frozen=True)
class _ChunkPlan:
    inputs_per_step: int
    trunk_inputs_per_step: int
    samples_per_step: int


class MCDropoutDraw(PosteriorDraw):
    """K fixed dropout masks per dropout layer of one model (see :class:`MCDropoutPosterior`).

    Masks are generated lazily, per dropout layer and per feature shape, from a stream
    seeded by the draw's seed and the layer's position, and then cached: every call sees
    the same masks whatever the chunking. One draw must not be used from two threads at
    once (it installs hooks on the model while it computes).
    """

    def __init__(
        self,
        model: nn.Module,
        dropouts: Sequence[nn.Module],
        *,
        num_samples: int,
        seed: int,
        layers: list[nn.Module] | None,
        memory_budget_bytes: int,
        output_head: OutputHead | None = None,
    ) -> None:
        self._model = model
        self._output_head = output_head
        self._dropouts = list(dropouts)
        self._index = {id(m): i for i, m in enumerate(self._dropouts)}
        self._num_samples = num_samples
        self._seed = seed
        self._budget = memory_budget_bytes
        self._keep_cache: dict[tuple[int, tuple[int, ...]], Tensor] = {}
        self._device_cache: dict[tuple[int, tuple[int, ...], torch.device], Tensor] = {}
        self._plans: dict[tuple[object, ...], _ChunkPlan] = {}
        self._block = (0, num_samples)  # the samples being computed, read by the hooks
        self._device = torch.device("cpu")  # the model's, set by every log_probs call
        self._dtype: torch.dtype | None = None
        self._trunk: list[nn.Module] = []
        self._head: list[nn.Module] = []
        self.uses_fast_path = False
        if layers is not None:
            first = next((i for i, m in enumerate(layers) if _contains_active_dropout(m)), None)
            if first is not None:
                self._trunk, self._head = layers[:first], layers[first:]
                self.uses_fast_path = True

    @property
    def num_samples(self) -> int:
        """K, the number of mask samples per dropout layer."""
        return self._num_samples

    # ---- masks ------------------------------------------------------------------------

    def keep_mask(self, module: nn.Module, feature_shape: Sequence[int]) -> Tensor:
        """Boolean keep mask ``[K, *mask_shape]`` of dropout ``module`` for per-input
        features of ``feature_shape`` (CPU). ``mask_shape`` is ``feature_shape`` for
        ``nn.Dropout``; for ``Dropout1d/2d/3d`` it is ``(C, 1, ..., 1)``: whole channels
        (dim 0 of the features) are kept or dropped."""
        if id(module) not in self._index:
            raise InvalidInputError(f"{type(module).__name__} is not an active dropout layer")
        index = self._index[id(module)]
        shape = tuple(int(s) for s in feature_shape)
        key = (index, shape)
        keep = self._keep_cache.get(key)
        if keep is None:
            if isinstance(module, _CHANNELWISE_TYPES) and shape:
                mask_shape = shape[:1] + (1,) * (len(shape) - 1)
            else:
                mask_shape = shape
            stream = torch.Generator().manual_seed(_splitmix64(self._seed ^ _splitmix64(index)))
            uniform = torch.rand((self._num_samples, *mask_shape), generator=stream)
            keep = uniform >= _dropout_p(module)
            self._keep_cache[key] = keep
        return keep

    def mask(self, module: nn.Module, feature_shape: Sequence[int]) -> Tensor:
        """Scaled mask ``keep / (1 - p)`` as float32, shape ``[K, *mask_shape]`` (CPU): the
        factor sample k multiplies the layer's input by (see :meth:`keep_mask`)."""
        return self.keep_mask(module, feature_shape).to(torch.float32) * _scale(module)

    def _keep_on(self, module: nn.Module, shape: tuple[int, ...], device: torch.device) -> Tensor:
        key = (self._index[id(module)], shape, device)
        keep = self._device_cache.get(key)
        if keep is None:
            keep = self.keep_mask(module, shape).to(device)
            self._device_cache[key] = keep
        return keep

    # ---- public entry -----------------------------------------------------------------

    def log_probs(self, inputs_N: Tensor) -> Tensor:
        """``log_softmax`` of the model's logits under the K masks: ``[N, K, C]``, on the
        model's device (``inputs_N`` may be on any device: it is moved chunk by chunk)."""
        inputs_N = check_inputs(inputs_N)
        self._device, self._dtype = model_device(self._model), model_dtype(self._model)
        if len(inputs_N):
            plan = self._chunk_plan(inputs_N)
        else:
            plan = _ChunkPlan(1, 1, self._num_samples)
        with torch.no_grad(), evaluation_mode(self._model), self._dropout_hooks():
            if self.uses_fast_path:
                return self._log_probs_fast(inputs_N, plan)
            return self._log_probs_general(inputs_N, plan)

    def _on_device(self, x: Tensor) -> Tensor:
        """``x`` on the model's device in its parameter dtype (``x`` itself if already)."""
        return to_model_input(x, self._device, self._dtype)

    @contextmanager
    def _dropout_hooks(self) -> Iterator[None]:
        handles = [m.register_forward_hook(self._dropout_hook) for m in self._dropouts]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _dropout_hook(self, module: nn.Module, args: tuple[object, ...], output: object) -> Tensor:
        # Inputs are sample-major [kb * n, ...]: row j belongs to sample k0 + j // n.
        x = args[0]
        k0, k1 = self._block
        kb = k1 - k0
        if not isinstance(x, Tensor) or x.dim() < 1 or x.shape[0] % kb != 0:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise InvalidInputError(
                f"MC dropout repeats every input {kb} times along dim 0, but a "
                f"{type(module).__name__} layer received {shape}; the model must keep the "
                "batch on dim 0"
            )
        feature_shape = tuple(x.shape[1:])
        keep = self._keep_on(module, feature_shape, x.device)[k0:k1]
        mask = keep.to(x.dtype) * _scale(module)
        n = x.shape[0] // kb
        return (x.reshape(kb, n, *feature_shape) * mask.unsqueeze(1)).reshape(x.shape)

    # ---- chunking ----------------------------------------------------------------------

    def _chunk_plan(self, inputs_N: Tensor) -> _ChunkPlan:
        """How many inputs (and trunk inputs) and samples one step handles, for inputs
        shaped like ``inputs_N`` (non-empty); measured once per input shape."""
        probe = self._on_device(inputs_N[:1])
        key = (tuple(probe.shape[1:]), probe.dtype, probe.device)
        plan = self._plans.get(key)
        if plan is None:
            with torch.no_grad(), evaluation_mode(self._model), self._dropout_hooks():
                plan = self._measure(probe)
            self._plans[key] = plan
        return plan

    def _measure(self, x_1: Tensor) -> _ChunkPlan:
        """Size the steps from one probe input: bytes per input shared by all samples
        (``shared``), bytes per input and sample (``per_sample``), widest trunk layer."""
        K = self._num_samples
        self._block = (0, 1)
        if self.uses_fast_path:
            trunk_widest = x_1.numel() * x_1.element_size()
            h = x_1
            for layer in self._trunk:
                h = _trunk_layer(layer, h)
                trunk_widest = max(trunk_widest, h.numel() * h.element_size())
            sizes = {"shared": h.numel() * h.element_size(), "per_sample": 1}
            self._run_head(h, 0, 1, sizes)
            shared, per_sample = sizes["shared"], sizes["per_sample"]
        else:
            trunk_widest = 1
            sizes = {"per_sample": x_1.numel() * x_1.element_size()}

            def record(module: nn.Module, args: object, out: object) -> None:
                if isinstance(out, Tensor):
                    sizes["per_sample"] = max(sizes["per_sample"], out.numel() * out.element_size())

            handles = [m.register_forward_hook(record) for m in self._model.modules()]
            try:
                self._model(x_1)
            finally:
                for handle in handles:
                    handle.remove()
            shared, per_sample = 0, sizes["per_sample"]
        budget = self._budget // _LIVE_TENSORS
        if shared + K * per_sample <= budget:
            samples = K
        else:
            samples = max(1, min(K, (budget - shared) // per_sample))
        inputs = max(1, budget // (shared + samples * per_sample))
        if x_1.device.type == "cpu":  # cache-sized trunk chunks pay on the CPU only
            trunk_inputs = max(1, min(inputs, _TRUNK_CACHE_BYTES // trunk_widest))
        else:
            trunk_inputs = inputs
        return _ChunkPlan(inputs, trunk_inputs, samples)

    def _steps(self, total: int, step: int) -> list[tuple[int, int]]:
        if total == 0:
            return [(0, 0)]
        return [(i, min(total, i + step)) for i in range(0, total, step)]

    def _write(
        self,
        out: Tensor | None,
        total: int,
        logits: object,
        start: int,
        n: int,
        k0: int,
        k1: int,
    ) -> Tensor:
        """Store ``log_softmax(logits [kb, n, C])`` at inputs ``start:start+n``, samples
        ``k0:k1`` of the ``[total, K, C]`` result (allocated on first use)."""
        kb = k1 - k0
        if not isinstance(logits, Tensor) or logits.dim() != 3 or logits.shape[:2] != (kb, n):
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise InvalidInputError(
                f"the model must return logits [N, C]; got output of shape {shape} for "
                f"{kb} x {n} sample-inputs"
            )
        if out is None:
            out = torch.empty(
                (total, self._num_samples, logits.shape[2]),
                dtype=log_probs_dtype(logits.dtype),
                device=logits.device,
            )
        if self._output_head is None:
            log_probs = torch.log_softmax(logits, dim=-1, dtype=out.dtype)
        else:  # a task's head (multi-label, regression)
            log_probs = self._output_head.sample_output(logits, out.dtype)
        out[start : start + n, k0:k1] = log_probs.transpose(0, 1)
        return out

    # ---- general path ------------------------------------------------------------------

    def _log_probs_general(self, inputs_N: Tensor, plan: _ChunkPlan) -> Tensor:
        N = len(inputs_N)
        out: Tensor | None = None
        for start, stop in self._steps(N, plan.inputs_per_step):
            x = self._on_device(inputs_N[start:stop])
            n = len(x)
            for k0, k1 in self._steps(self._num_samples, plan.samples_per_step):
                kb = k1 - k0
                self._block = (k0, k1)
                repeated = x.unsqueeze(0).expand(kb, *x.shape).reshape(kb * n, *x.shape[1:])
                logits = self._model(repeated)
                if isinstance(logits, Tensor) and logits.dim() == 2 and len(logits) == kb * n:
                    logits = logits.reshape(kb, n, logits.shape[1])
                out = self._write(out, N, logits, start, n, k0, k1)
        assert out is not None
        return out

    # ---- fast path ---------------------------------------------------------------------

    def _log_probs_fast(self, inputs_N: Tensor, plan: _ChunkPlan) -> Tensor:
        N = len(inputs_N)
        out: Tensor | None = None
        for start, stop in self._steps(N, plan.inputs_per_step):
            x = inputs_N[start:stop]
            n = len(x)
            parts = [self._run_trunk(x[a:b]) for a, b in self._steps(n, plan.trunk_inputs_per_step)]
            h = parts[0] if len(parts) == 1 else torch.cat(parts)
            for k0, k1 in self._steps(self._num_samples, plan.samples_per_step):
                self._block = (k0, k1)
                out = self._write(out, N, self._run_head(h, k0, k1), start, n, k0, k1)
        assert out is not None
        return out

    def _run_trunk(self, x: Tensor) -> Tensor:
        h = self._on_device(x)
        for layer in self._trunk:
            h = _trunk_layer(layer, h)
        return h

    def _run_head(self, h: Tensor, k0: int, k1: int, sizes: dict[str, int] | None = None) -> Tensor:
        """Head layers on trunk output ``h [n, ...]`` for samples ``k0:k1``: logits
        ``[kb, n, C]``. Activations carry a leading sample dim once a mask is applied
        (``batched``); until then a pending mask waits to be folded into a Linear."""
        kb = k1 - k0
        batched = False
        pending: _Pending | None = None

        def note(t: Tensor) -> None:
            if sizes is not None:  # probe run: kb = n = 1
                key = "per_sample" if batched else "shared"
                sizes[key] = max(sizes[key], t.numel() * t.element_size())

        for layer in self._head:
            if _is_active_dropout(layer):
                features = tuple(h.shape[2:] if batched else h.shape[1:])
                keep = self._keep_on(layer, features, h.device)[k0:k1]
                if pending is None:
                    pending = _Pending(keep, _scale(layer))
                else:
                    pending = _Pending(pending.keep & keep, pending.scale * _scale(layer))
                continue
            if isinstance(layer, _DROPOUT_TYPES):  # p = 0: identity
                continue
            if pending is not None:
                features = tuple(h.shape[2:] if batched else h.shape[1:])
                if isinstance(layer, nn.Flatten) and layer.start_dim == 1 and layer.end_dim == -1:
                    keep = pending.keep.expand(kb, *features).reshape(kb, -1)
                    pending = _Pending(keep, pending.scale)
                    h = h.flatten(2 if batched else 1)
                    continue
                if (
                    isinstance(layer, nn.Linear)
                    and len(features) == 1
                    and self._fold_pays(h, kb, layer.out_features, probe=sizes is not None)
                ):
                    keep = pending.keep.expand(kb, *features)
                    if batched:
                        h = _folded_linear_batched(h, keep, pending.scale, layer, self._budget)
                    else:
                        if sizes is not None:
                            note(h)  # the transposed copy of the shared input
                        h = _folded_linear_shared(h, keep, pending.scale, layer, self._budget)
                    batched, pending = True, None
                    note(h)
                    continue
                h = _apply_mask(h, batched, pending)
                batched, pending = True, None
                note(h)
            if not batched and _contains_active_dropout(layer):
                h = h.unsqueeze(0).expand(kb, *h.shape)
                batched = True
            h = _layer_on(layer, h, batched, kb)
            note(h)
        if pending is not None:
            h = _apply_mask(h, batched, pending)
            batched = True
        if not batched:
            h = h.unsqueeze(0).expand(kb, *h.shape)
        return h

    def _fold_pays(self, h: Tensor, kb: int, out_features: int, probe: bool) -> bool:
        """Fold a mask into the next Linear? Folding builds per-sample weights
        (kb x out x d), masking builds masked activations (kb x n x d): fold when the chunk
        has at least as many inputs as outputs, or when the masked activations would not
        fit the budget. The sizing probe (one input) always folds, so that it measures
        the working set of full-size chunks."""
        n = h.shape[-2]
        masked_bytes = kb * n * h.shape[-1] * h.element_size()
        return probe or n >= out_features or masked_bytes > self._budget // _LIVE_TENSORS


# ---- layer helpers ---------------------------------------------------------------------


def _trunk_layer(layer: nn.Module, h: Tensor) -> Tensor:
    # On the CPU torch's Conv2d is about 1.5x faster on channels-last activations.
    if isinstance(layer, nn.Conv2d) and h.dim() == 4 and h.device.type == "cpu":
        h = h.contiguous(memory_format=torch.channels_last)
    out: Tensor = layer(h)
    return out


def _layer_on(layer: nn.Module, h: Tensor, batched: bool, kb: int) -> Tensor:
    """Apply ``layer`` to shared ``[n, ...]`` or sample-batched ``[kb, n, ...]`` activations."""
    if not batched or isinstance(layer, nn.Linear):  # Linear acts on the last dim only
        out: Tensor = layer(h)
        return out
    n = h.shape[1]
    out = layer(h.reshape(kb * n, *h.shape[2:]))
    if not isinstance(out, Tensor) or out.dim() < 1 or out.shape[0] != kb * n:
        raise InvalidInputError(
            f"layer {type(layer).__name__} must keep the batch on dim 0 for MC dropout"
        )
    return out.reshape(kb, n, *out.shape[1:])


def _apply_mask(h: Tensor, batched: bool, pending: _Pending) -> Tensor:
    """Materialise ``h * mask``: ``[kb, n, ...]`` from shared ``[n, ...]`` or batched ``h``."""
    mask = pending.keep.to(h.dtype).mul_(pending.scale).unsqueeze(1)
    return h * mask if batched else h.unsqueeze(0) * mask


def _folded_linear_shared(
    h_n_d: Tensor, keep_kb_d: Tensor, scale: float, layer: nn.Linear, budget: int
) -> Tensor:
    """``layer`` applied to ``h_n_d * mask_k`` for every sample k, without building the
    masked ``[kb, n, d]`` activations: ``[kb, n, out]``. Picks the cheapest of three exact
    forms by the fraction of dropped columns."""
    kb = keep_kb_d.shape[0]
    weight, bias = layer.weight, layer.bias
    if bias is None:
        bias = torch.zeros(weight.shape[0], dtype=h_n_d.dtype, device=h_n_d.device)
    if h_n_d.device.type != "cpu":
        # The column-subset forms gather columns sample by sample (a host sync and three
        # small kernels per sample); on an accelerator one stacked product should be
        # faster (expected, not yet measured on a GPU).
        return _fold_shared_dense(h_n_d, keep_kb_d, scale, weight, bias, budget)
    drop_fraction = 1.0 - float(keep_kb_d.sum()) / max(1, keep_kb_d.numel())
    cost_complement = 1.0 + drop_fraction * kb  # in units of one dense n x d x out product
    cost_kept = (1.0 - drop_fraction) * kb
    if min(cost_complement, cost_kept) > _SPARSE_FOLD_MAX_COST * kb:
        return _fold_shared_dense(h_n_d, keep_kb_d, scale, weight, bias, budget)
    if cost_complement < cost_kept:
        return _fold_shared_complement(h_n_d, keep_kb_d, scale, weight, bias)
    return _fold_shared_kept(h_n_d, keep_kb_d, scale, weight, bias)


def _fold_shared_complement(
    h_n_d: Tensor, keep_kb_d: Tensor, scale: float, weight: Tensor, bias: Tensor
) -> Tensor:
    """``y_k = s h W^T + b - s h[:, D_k] W[:, D_k]^T`` with ``D_k`` the columns mask k drops."""
    kb, n = keep_kb_d.shape[0], h_n_d.shape[0]
    out = torch.empty((kb, n, weight.shape[0]), dtype=h_n_d.dtype, device=h_n_d.device)
    # Row gathers of the transposed input and weight are contiguous copies.
    h_d_n = h_n_d.t().contiguous()
    weight_d_o = weight.t().contiguous()
    base = torch.addmm(bias, h_n_d, weight.t(), alpha=scale)
    for k in range(kb):
        dropped = (~keep_kb_d[k]).nonzero().squeeze(1)
        torch.addmm(
            base,
            h_d_n.index_select(0, dropped).t(),
            weight_d_o.index_select(0, dropped),
            alpha=-scale,
            out=out[k],
        )
    return out


def _fold_shared_kept(
    h_n_d: Tensor, keep_kb_d: Tensor, scale: float, weight: Tensor, bias: Tensor
) -> Tensor:
    """``y_k = s h[:, K_k] W[:, K_k]^T + b`` with ``K_k`` the columns mask k keeps."""
    kb, n = keep_kb_d.shape[0], h_n_d.shape[0]
    out = torch.empty((kb, n, weight.shape[0]), dtype=h_n_d.dtype, device=h_n_d.device)
    h_d_n = h_n_d.t().contiguous()
    weight_d_o = weight.t().contiguous()
    for k in range(kb):
        kept = keep_kb_d[k].nonzero().squeeze(1)
        torch.addmm(
            bias,
            h_d_n.index_select(0, kept).t(),
            weight_d_o.index_select(0, kept),
            alpha=scale,
            out=out[k],
        )
    return out


def _fold_shared_dense(
    h_n_d: Tensor, keep_kb_d: Tensor, scale: float, weight: Tensor, bias: Tensor, budget: int
) -> Tensor:
    """``y_k = h (W * m_k)^T + b``: one matmul against a block of stacked masked weights."""
    kb, d = keep_kb_d.shape
    n, out_features = h_n_d.shape[0], weight.shape[0]
    out = torch.empty((kb, n, out_features), dtype=h_n_d.dtype, device=h_n_d.device)
    per_sample = out_features * d * h_n_d.element_size()
    block = max(1, min(kb, (budget // 4) // per_sample))
    for k0 in range(0, kb, block):
        k1 = min(kb, k0 + block)
        mask = keep_kb_d[k0:k1].to(h_n_d.dtype).mul_(scale)
        weights = (weight.unsqueeze(0) * mask.unsqueeze(1)).reshape(-1, d)
        product = (h_n_d @ weights.t()).view(n, k1 - k0, out_features)
        out[k0:k1] = product.transpose(0, 1) + bias
    return out


def _folded_linear_batched(
    h_kb_n_d: Tensor, keep_kb_d: Tensor, scale: float, layer: nn.Linear, budget: int
) -> Tensor:
    """``layer`` applied to ``h_kb_n_d[k] * mask_k``, the mask folded into per-sample weights
    ``W_k = W * mask_k`` and one batched matmul: ``[kb, n, out]``."""
    kb, n, d = h_kb_n_d.shape
    weight, bias = layer.weight, layer.bias
    out_features = weight.shape[0]
    out = torch.empty((kb, n, out_features), dtype=h_kb_n_d.dtype, device=h_kb_n_d.device)
    per_sample = out_features * d * h_kb_n_d.element_size()
    block = max(1, min(kb, (budget // 4) // per_sample))
    for k0 in range(0, kb, block):
        k1 = min(kb, k0 + block)
        mask = keep_kb_d[k0:k1].to(h_kb_n_d.dtype).mul_(scale)
        weights_t = (weight.unsqueeze(0) * mask.unsqueeze(1)).transpose(1, 2)
        if bias is None:
            torch.bmm(h_kb_n_d[k0:k1], weights_t, out=out[k0:k1])
        else:
            torch.baddbmm(bias, h_kb_n_d[k0:k1], weights_t, out=out[k0:k1])
    return out
