"""The semantic-segmentation task: ``ActiveLearner(images, model=..., task="segmentation")``.

* **Network**: images ``[N, channels, H, W]`` in, per-pixel logits ``[N, C, H, W]`` out
  (``C >= 2``; e.g. :class:`~bayesal.models.unet.UNet`, registered as ``"unet"``). The
  learner reads ``C`` (its ``num_classes``) and the mask size ``H x W`` from the model's
  output for the first pool image; every pool image must give the same size.
* **Posterior output**: ``[N, K, C, H, W]`` per-pixel log-probabilities, ``log_softmax``
  over C of each sample's logits, from MC dropout (the same K masks for every image and
  pixel of a draw) or a deep ensemble; other posterior methods are refused. The
  posteriors of :mod:`bayesal.posterior` hand back ``[N, K, W]``, so the learner trains
  the user's network followed by ``nn.Flatten`` (:class:`FlatLogits`) and the head
  (:class:`SegmentationHead`) takes the ``log_softmax`` over C of each pixel of that
  flat ``[.., C·H·W]`` output; the task's scores and metrics see it as ``[N, K, C, H, W]``
  again (:meth:`SegmentationTask.unflatten`, a view).
* **Training loss**: the per-pixel cross-entropy, averaged over the pixels of the batch.
* **Labels**: masks ``[n, H, W]`` of class indices in ``[0, C)`` (ints, or floats with
  whole values), ``teach(ids, masks)``, or ``teach(id, mask)`` with one ``[H, W]`` mask;
  stored as int64 masks, ``-1`` masks for unlabelled ids (the missing marker of the
  constructor's ``labels=`` too). A mask of another size, a class out of range or a
  partly missing mask is refused with the reason.
* **Strategies**: ``entropy``, ``bald``, ``margin``, ``random`` and their stochastic
  variants (:data:`bayesal.tasks.TASK_STRATEGIES` ``["segmentation"]``): each pixel's
  ``[K, C]`` slice scored by the classification score of the same name, reduced per image
  by ``strategy_params={"reduction": "mean" | "sum" | "top_q", "q": 0.1}``
  (:mod:`bayesal.tasks.segmentation`; default ``"mean"``). A strategy object must be a
  :class:`~bayesal.acquisition.scored.ScoredStrategy` whose scorer reads ``[N, K, C, H, W]``
  (e.g. of :class:`~bayesal.tasks.segmentation.ImageScore`).
* **Streaming**: the pool is scored chunk by chunk (a pointwise strategy keeps only the
  ``[N]`` image scores); a chunk holds at most :data:`CHUNK_BYTES` of float32
  log-probabilities (the learner's ``chunk_size`` is capped to that many images, at least
  one), so a pool's pixel samples are never all held at once.
  :meth:`SegmentationTask.pool_scores` scores the pool with
  :func:`~bayesal.tasks.segmentation.stream_scores` (one chunk alive at a time).
* **evaluate**: ``miou`` (mean over classes of the intersection over union, classes
  absent from both labels and predictions left out), ``pixel_accuracy`` and ``iou_<c>``
  per class (NaN for a class absent from both), of the per-pixel argmax of the MC-averaged
  predictive under the round's draw, computed chunk by chunk
  (:class:`~bayesal.tasks.segmentation.ConfusionMatrix`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from bayesal.acquisition.base import POOL_LOG_PROBS, Score, Strategy, is_pointwise
from bayesal.acquisition.scored import ScoredStrategy
from bayesal.data.pool import IdArray, Pool, as_id_array
from bayesal.data.source import as_pool_inputs
from bayesal.errors import InvalidInputError
from bayesal.learner.head_task import HeadTask
from bayesal.learner.labels import ValuePool
from bayesal.learner.task import TASK_TYPES
from bayesal.posterior import PosteriorMethod
from bayesal.posterior.heads import OutputHead
from bayesal.tasks import segmentation as seg

if TYPE_CHECKING:
    from bayesal.learner import ActiveLearner

__all__ = [
    "CHUNK_BYTES",
    "FlatLogits",
    "SegmentationHead",
    "SegmentationTask",
    "UnflattenedScore",
]

#: The most float32 log-probabilities ``[n, K, C, H, W]`` one scoring chunk holds (64 MiB).
CHUNK_BYTES = 64 * 2**20


class SegmentationHead(OutputHead):
    """Per-pixel classes: flat logits ``[..., C·H·W]`` (a ``[C, H, W]`` map flattened) ->
    per-pixel ``log_softmax`` over C, same shape; loss: the per-pixel cross-entropy
    against masks ``[n, H, W]``, averaged over pixels. ``num_classes`` (C) is set by the
    task once it has read the model's output."""

    name = "segmentation"

    def __init__(self, num_classes: int | None = None) -> None:
        self.num_classes = num_classes

    def _classes(self) -> int:
        if self.num_classes is None:
            raise InvalidInputError("the segmentation head has no class count yet")
        return self.num_classes

    def sample_output(self, raw: Tensor, dtype: torch.dtype) -> Tensor:
        C = self._classes()
        out = raw.to(dtype)
        log_probs: Tensor = out.reshape(*out.shape[:-1], C, -1).log_softmax(dim=-2)
        return log_probs.reshape(out.shape)

    def loss(self, raw_n_W: Tensor, y_n: Tensor) -> Tensor:
        n = len(raw_n_W)
        loss: Tensor = F.cross_entropy(
            raw_n_W.reshape(n, self._classes(), -1), y_n.reshape(n, -1).long()
        )
        return loss


class FlatLogits:
    """A model builder: ``build(seed)`` followed by ``nn.Flatten()`` (``[N, C, H, W]`` ->
    ``[N, C·H·W]``), in one ``nn.Sequential`` (a Sequential network, such as
    :class:`~bayesal.models.unet.UNet`, stays on MC dropout's fast path).

    Args:
        build: the user's ``seed -> nn.Module`` returning per-pixel logits.
    """

    def __init__(self, build: Callable[[int], nn.Module]) -> None:
        self.build = build

    def __call__(self, seed: int) -> nn.Module:
        """A fresh network whose output is flattened."""
        return nn.Sequential(self.build(seed), nn.Flatten())


@dataclass(frozen=True)
class UnflattenedScore:
    """A segmentation scorer (``[n, K, C, H, W] -> [n]``) applied to the learner's flat
    posterior output ``[n, K, C·H·W]`` (:meth:`SegmentationTask.unflatten`). Pickleable."""

    inner: Score
    task: SegmentationTask
    inputs: ClassVar[frozenset[str]] = frozenset({POOL_LOG_PROBS})

    def __call__(
        self,
        log_probs_N_K_C: Tensor,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
    ) -> Tensor:
        """The inner scorer's ``scores_N`` of the unflattened chunk."""
        return self.inner(self.task.unflatten(log_probs_N_K_C), generator=generator)


class SegmentationTask(HeadTask):
    """Semantic segmentation (see the module docstring)."""

    name: ClassVar[str] = "segmentation"
    min_width: ClassVar[int] = 2

    def __init__(self) -> None:
        #: C, once the model's output was read.
        self.num_classes: int | None = None
        #: ``(H, W)`` of the model's output for a pool image: the masks' size.
        self.mask_shape: tuple[int, int] | None = None
        self._head = SegmentationHead()

    # ---- shapes

    def _shape(self) -> tuple[int, int, int]:
        if self.num_classes is None or self.mask_shape is None:
            raise InvalidInputError("the segmentation task has not read the model's output yet")
        return self.num_classes, *self.mask_shape

    def unflatten(self, output: Tensor) -> Tensor:
        """The learner's flat posterior output ``[n, K, C·H·W]`` as ``[n, K, C, H, W]`` (a
        view; ``H x W`` the pool's mask size)."""
        C, H, W = self._shape()
        if output.ndim != 3 or output.shape[2] != C * H * W:
            raise InvalidInputError(
                f"expected the flat segmentation output [n, K, C*H*W] = [n, K, {C * H * W}], "
                f"got {list(output.shape)}"
            )
        unflat: Tensor = output.unflatten(2, (C, H, W))
        return unflat

    def head(self) -> OutputHead:
        return self._head

    def output_width(self, out: object, expected: int | None) -> int:
        if not isinstance(out, Tensor) or out.ndim != 4 or len(out) != 1:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise InvalidInputError(
                f"a segmentation model must return per-pixel logits [N, C, H, W], got {shape} "
                "for N=1"
            )
        width = int(out.shape[1])
        if width < 2:
            raise InvalidInputError(f"the model returns {width} class(es) per pixel; need >= 2")
        if expected is not None and expected != width:
            raise InvalidInputError(
                f"num_classes={expected}, but the model returns {width} logits per pixel"
            )
        self.num_classes = width
        self.mask_shape = (int(out.shape[2]), int(out.shape[3]))
        self._head.num_classes = width
        return width

    def wrap_model(
        self, build: Callable[[int], nn.Module], width: int
    ) -> Callable[[int], nn.Module]:
        return FlatLogits(build)

    def chunk_size(self, chunk_size: int, method: PosteriorMethod, width: int) -> int:
        """At most as many images as fit :data:`CHUNK_BYTES` of float32 log-probs
        ``[n, K, C, H, W]`` (at least one)."""
        C, H, W = self._shape()
        per_image = 4 * method.num_samples * C * H * W
        return max(1, min(chunk_size, CHUNK_BYTES // per_image))

    # ---- strategies

    def make_strategy(self, strategy: object, params: Mapping[str, Any] | None) -> Strategy:
        built = super().make_strategy(strategy, params)
        pointwise = is_pointwise(built)
        if not isinstance(built, ScoredStrategy) or not pointwise:
            raise InvalidInputError(
                "a segmentation strategy scores each image of the pool on its own (chunk by "
                "chunk): give a strategy name or a ScoredStrategy whose scorer reads "
                "[N, K, C, H, W] (e.g. ScoredStrategy('mine', ImageScore('bald', 'top_q', "
                f"0.05), TopKSelector())), got {built!r}"
            )
        return ScoredStrategy(built.name, UnflattenedScore(built.scorer, self), built.selector)

    def pool_scores(self, learner: ActiveLearner, ids: ArrayLike | None = None) -> Tensor:
        """The learner's strategy's image scores of pool items ``ids`` (default: the
        unlabelled ones, sorted) under the current round's draw, by
        :func:`~bayesal.tasks.segmentation.stream_scores` over the learner's chunks: one
        chunk of ``[n, K, C, H, W]`` exists at a time. Trains the posterior first if the
        labels changed. The scores ``query`` ranks, for a top-k strategy."""
        chosen = learner.unlabelled_ids if ids is None else as_id_array(ids)
        draw = learner.draw_for_round()
        scorer = learner.strategy.scorer  # type: ignore[attr-defined]
        inner: Score = scorer.inner
        rows = learner._rows_of(chosen)

        def chunks() -> Iterator[Tensor]:
            with torch.no_grad():
                for x in learner.inputs.batches(rows, learner.chunk_size):
                    chunk = self.unflatten(draw.log_probs(x).cpu())
                    yield chunk
                    del chunk  # nothing of this chunk is alive when the next is made

        fn = getattr(inner, "fn", inner)
        if not isinstance(fn, seg.ImageScore):
            raise InvalidInputError(
                f"pool_scores needs an image score (entropy, bald, margin with a top-k or "
                f"stochastic selector); strategy {learner.strategy.name!r} has {fn!r}"
            )
        return seg.stream_scores(chunks(), fn.score, fn.reduction, q=fn.q)

    # ---- labels

    def _masks(self, labels: ArrayLike | Tensor, width: int, what: str) -> NDArray[np.int64]:
        raw = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
        if raw.dtype == object or not (
            np.issubdtype(raw.dtype, np.number) and not np.issubdtype(raw.dtype, np.complexfloating)
        ):
            raise InvalidInputError(f"{what} must be integer class indices, got dtype {raw.dtype}")
        if raw.ndim != 3:
            raise InvalidInputError(
                f"{what} must be masks [n, H, W] of class indices, got shape {list(raw.shape)}"
            )
        if raw.dtype.kind == "f":
            if not np.isfinite(raw).all() or not np.all(np.equal(np.mod(raw, 1), 0)):
                raise InvalidInputError(f"{what} must be integers (class indices per pixel)")
        values = raw.astype(np.int64)
        bad = (values < 0) | (values >= width)
        if bad.any():
            n, h, w = (int(i[0]) for i in np.nonzero(bad))
            raise InvalidInputError(
                f"{what} must be classes in [0, {width}); mask {n} has {int(values[n, h, w])} "
                f"at pixel (h={h}, w={w}) ({int(bad.sum())} pixel(s) out of range)"
            )
        return values

    def check_labels(self, ids: IdArray, labels: ArrayLike | Tensor, width: int) -> Any:
        raw = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
        if raw.ndim == 2 and len(ids) == 1:  # teach(id, mask): one item's [H, W] mask
            raw = raw[None]
        H, W = self._shape()[1:]
        if raw.ndim == 3 and tuple(raw.shape[1:]) != (H, W):
            raise InvalidInputError(
                f"labels must be masks [n, H, W] = [n, {H}, {W}] (the size of the model's "
                f"output for the pool's images), got {list(raw.shape)}"
            )
        values = self._masks(raw, width, "labels")
        if len(values) != len(ids):
            raise InvalidInputError(f"{len(ids)} ids but {len(values)} masks")
        return values

    def test_labels(self, labels: ArrayLike | Tensor, width: int) -> Tensor:
        raw = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
        if raw.size == 0 and raw.ndim <= 1:
            return torch.zeros((0, *self._shape()[1:]), dtype=torch.int64)
        return torch.from_numpy(self._masks(raw, width, "test labels"))

    def known_labels(self, labels: ArrayLike, n: int) -> tuple[NDArray[np.bool_], Any]:
        raw = np.asarray(labels)
        H, W = self._shape()[1:]
        if raw.shape != (n, H, W):
            raise InvalidInputError(
                f"labels= must be masks [n, H, W] = [{n}, {H}, {W}] for a pool of {n} images "
                f"(masks of -1 where unknown), got {list(raw.shape)}"
            )
        missing_pixels = raw == -1
        missing = missing_pixels.all(axis=(1, 2))
        partial = missing_pixels.any(axis=(1, 2)) & ~missing
        if partial.any():
            raise InvalidInputError(
                f"labels= masks {np.flatnonzero(partial)[:5].tolist()} are partly -1: a mask is "
                "known (every pixel a class) or unknown (every pixel -1)"
            )
        known: NDArray[np.bool_] = ~missing
        return known, raw

    def label_store(self, pool: Pool, width: int) -> Pool:
        return ValuePool(pool, self._shape()[1:], np.int64, -1)

    def label_shape(self, width: int) -> tuple[int, ...]:
        return self._shape()[1:]

    def saved_label_shape(self, width: int, labels: NDArray[Any]) -> tuple[int, ...]:
        """The masks' ``(H, W)`` as saved (the model's output size is not known yet when
        a save file is checked; :meth:`restore_labels` compares them with it)."""
        return tuple(labels.shape[1:]) if labels.ndim == 3 else (-1, -1)

    def label_counts(self, labels: IdArray, width: int) -> dict[str, Any]:
        values = np.asarray(labels).reshape(-1)
        return {"pixels_per_class": np.bincount(values, minlength=width).tolist()}

    def saved_label_problem(self, known: IdArray, width: int) -> str | None:
        out = known[(known < 0) | (known >= width)]
        if len(out):
            return f"{len(out)} mask pixel(s) outside the {width} classes (e.g. {int(out[0])})"
        return None

    def saved_labels_problem(
        self, labels: NDArray[Any], labelled: NDArray[np.bool_], width: int
    ) -> str | None:
        if not np.issubdtype(labels.dtype, np.integer):
            return f"labels have dtype {labels.dtype}, not integers"
        problem = self.saved_label_problem(labels[labelled].reshape(-1), width)
        if problem is not None:
            return problem
        if (labels[~labelled] != -1).any():
            return "unlabelled items carry mask values (should be masks of -1)"
        return None

    def restore_labels(self, pool: Pool, labelled: NDArray[np.bool_], labels: NDArray[Any]) -> None:
        H, W = self._shape()[1:]
        if tuple(labels.shape[1:]) != (H, W):
            raise InvalidInputError(
                f"the saved masks are {list(labels.shape[1:])} but the model's output for the "
                f"pool's images is [{H}, {W}]: not this learner's model or pool"
            )
        pool.label(pool.ids[labelled], labels[labelled])

    # ---- evaluation

    def predict(self, learner: ActiveLearner, inputs: Any) -> Tensor:
        """The per-pixel predicted classes ``[N, H, W]`` (int64) of test ``inputs``: the
        argmax of the MC-averaged predictive under the round's draw
        (:func:`~bayesal.tasks.segmentation.predict`), chunk by chunk."""
        draw = learner.draw_for_round()  # outside no_grad: it may train
        source = as_pool_inputs(inputs)
        rows = np.arange(len(source), dtype=np.int64)
        C = self._shape()[0]
        masks = []
        with torch.no_grad():
            for x in source.batches(rows, learner.chunk_size):
                flat = draw.log_probs(x).cpu()
                pixels = flat.shape[2] // C
                H, W = int(x.shape[-2]), int(x.shape[-1])
                if pixels != H * W:  # a model whose output is not the input's size
                    H, W = self._shape()[1:]
                if pixels != H * W:
                    raise InvalidInputError(
                        f"the model returns {pixels} pixels per test image of shape "
                        f"{tuple(x.shape[1:])}, "
                        f"neither the image's size nor the pool masks' {self.mask_shape}"
                    )
                masks.append(seg.predict(flat.unflatten(2, (C, H, W))))
                del flat
        if not masks:
            return torch.zeros((0, *self._shape()[1:]), dtype=torch.int64)
        return torch.cat(masks)

    def empty_metrics(self) -> dict[str, float]:
        C = self._shape()[0]
        return {
            "miou": math.nan,
            "pixel_accuracy": math.nan,
            **{f"iou_{c}": math.nan for c in range(C)},
        }

    def metrics(self, predictive: Tensor, labels: Tensor) -> dict[str, float]:
        """``miou``, ``pixel_accuracy`` and ``iou_<c>`` of predicted masks ``[N, H, W]``
        against ``labels`` (:class:`~bayesal.tasks.segmentation.ConfusionMatrix`)."""
        confusion = seg.ConfusionMatrix(self._shape()[0])
        try:
            confusion.update(labels.numpy(), predictive.numpy())
        except InvalidInputError as exc:
            raise InvalidInputError(f"test masks and predictions disagree: {exc}") from None
        return {
            "miou": confusion.mean_iou(),
            "pixel_accuracy": confusion.pixel_accuracy(),
            **{f"iou_{c}": float(v) for c, v in enumerate(confusion.iou().tolist())},
        }


TASK_TYPES[SegmentationTask.name] = SegmentationTask
