"""Semantic segmentation: per-pixel scores reduced per image, streamed, and metrics.

``log_probs_N_K_C_H_W[n, k, c, h, w] = log p(y_hw = c | x_n, θ_k)``: N images of H x W
pixels, K parameter samples θ_k and C classes. Each pixel is a classification problem:
its ``[K, C]`` slice is scored by the classification score of the same name
(:mod:`bayesal.acquisition.scores`: ``entropy``, ``bald``, ``margin``, with their
equations, bounds and sign), giving a score map ``[N, H, W]``, and a *reduction* turns
each image's map into one score:

* ``"mean"``: ``s_n = (1/HW) Σ_hw s_nhw``;
* ``"sum"``: ``s_n = Σ_hw s_nhw`` (larger images weigh more);
* ``"top_q"``: the mean of the ``m = ceil(q H W)`` highest pixel scores (at least one
  pixel): an image with a small uncertain region is not drowned by its confident
  background. ``q = 1`` is ``"mean"``.

Scores follow the package's sign rule, **higher = acquire first** (margin maps are the
negated gaps, in ``[-1, 0]``, so their reductions are too, for ``"sum"`` in ``[-HW, 0]``).
Pixels are treated as independent: the image scores are sums or means of per-pixel
quantities, not the information of the whole mask (which would need the joint of all
pixels).

:func:`stream_scores` scores an iterator of image chunks one chunk at a time and keeps
only the ``[N]`` scores, so a pool's pixel samples are never held at once.

Metrics (:class:`ConfusionMatrix`, :func:`metrics`): per-class IoU, mean IoU and pixel
accuracy of the MC-averaged predictive's per-pixel argmax (:func:`predict`).

Reference: per-pixel uncertainty reduced per image, as in Gal, Islam & Ghahramani
(2017), "Deep Bayesian Active Learning with Image Data", ICML, and baal's segmentation
heuristics (Atighehchian et al. 2020, "Bayesian Active Learning for Production, a
Systematic Study and a Reusable Library", arXiv:2006.09916).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from bayesal.acquisition import scores as _classification
from bayesal.acquisition._chunks import CHUNK_ELEMENTS
from bayesal.errors import InvalidInputError
from bayesal.tasks._checks import (
    as_int64_array,
    check_float_tensor,
    check_fraction,
    check_generator,
    check_same_shape,
    compute_dtype,
    uniform_scores,
)

__all__ = [
    "ConfusionMatrix",
    "ImageScore",
    "PixelScoreName",
    "Reduction",
    "bald",
    "check_log_probs",
    "entropy",
    "image_scores",
    "margin",
    "metrics",
    "pixel_scores",
    "predict",
    "random",
    "reduce",
    "stream_scores",
]

#: The per-pixel scores.
PixelScoreName = Literal["entropy", "bald", "margin"]
#: The reductions of a pixel score map to one score per image.
Reduction = Literal["mean", "sum", "top_q"]

_SHAPE = "[N, K, C, H, W]"
_PIXEL_SCORES: dict[str, Callable[[Tensor], Tensor]] = {
    "entropy": _classification.entropy,
    "bald": _classification.bald,
    "margin": _classification.margin,
}


def check_log_probs(log_probs_N_K_C_H_W: object, name: str = "log_probs_N_K_C_H_W") -> Tensor:
    """Check the form of segmentation log-probs: a floating-point tensor of rank 5 with
    ``K, C, H, W >= 1`` (``N == 0`` allowed) and no NaN. The per-pixel normalisation over
    C is checked by the classification score each pixel goes through.

    Returns:
        the tensor.

    Raises:
        InvalidInputError: naming the violated condition.
    """
    tensor = check_float_tensor(log_probs_N_K_C_H_W, name, _SHAPE, 5)
    if min(tensor.shape[1:]) == 0:
        raise InvalidInputError(
            f"{name} must have at least one parameter sample, class and pixel (K, C, H, "
            f"W >= 1), got shape {_SHAPE} = {list(tensor.shape)}."
        )
    return tensor


def _image_chunks(log_probs_N_K_C_H_W: Tensor) -> list[tuple[int, int]]:
    """Image ranges of at most :data:`CHUNK_ELEMENTS` elements (at least one image each)."""
    N = log_probs_N_K_C_H_W.shape[0]
    per_image = max(1, log_probs_N_K_C_H_W[0].numel()) if N else 1
    step = max(1, CHUNK_ELEMENTS // per_image)
    return [(start, min(start + step, N)) for start in range(0, N, step)]


def _pixel_scores_unchecked(log_probs_n_K_C_H_W: Tensor, score: str) -> Tensor:
    n, K, C, H, W = log_probs_n_K_C_H_W.shape
    rows = log_probs_n_K_C_H_W.permute(0, 3, 4, 1, 2).reshape(n * H * W, K, C)
    try:
        scores = _PIXEL_SCORES[score](rows)
    except InvalidInputError as error:
        raise InvalidInputError(
            f"segmentation log-probs {_SHAPE}, scored per pixel (row = (image * H + h) * W + "
            f"w of the chunk, H = {H}, W = {W}): {error}"
        ) from None
    return scores.reshape(n, H, W)


def _check_score_name(score: object) -> str:
    if score not in _PIXEL_SCORES:
        raise InvalidInputError(
            f"unknown pixel score {score!r}; choose one of {sorted(_PIXEL_SCORES)}."
        )
    return str(score)


def pixel_scores(log_probs_N_K_C_H_W: Tensor, score: PixelScoreName = "entropy") -> Tensor:
    """The per-pixel score map: each pixel's ``[K, C]`` log-probs scored by the
    classification score ``score`` (see the module docstring).

    Shapes: ``log_probs_N_K_C_H_W [N, K, C, H, W] -> scores_N_H_W [N, H, W]``.

    Raises:
        InvalidInputError: for malformed log-probs (as the classification scores check
            them) or an unknown score name.
    """
    name = _check_score_name(score)
    log_probs = check_log_probs(log_probs_N_K_C_H_W)
    N, _, _, H, W = log_probs.shape
    out = torch.empty((N, H, W), dtype=compute_dtype(log_probs).dtype, device=log_probs.device)
    for start, end in _image_chunks(log_probs):
        out[start:end] = _pixel_scores_unchecked(log_probs[start:end], name)
    return out


def _top_count(q: float, pixels: int) -> int:
    # round() first: q * pixels = 0.1 * 30 is 3.0000000000000004 in floating point.
    return max(1, math.ceil(round(q * pixels, 9)))


def _check_reduction(reduction: object, q: object) -> None:
    if reduction not in get_args(Reduction):
        raise InvalidInputError(
            f"unknown reduction {reduction!r}; choose one of {list(get_args(Reduction))}."
        )
    if reduction == "top_q":
        check_fraction(q, "q")


def reduce(scores_N_H_W: Tensor, reduction: Reduction = "mean", *, q: float = 0.1) -> Tensor:
    """Reduce per-pixel score maps to one score per image.

    ``"mean"``, ``"sum"``, or ``"top_q"``: the mean of the ``ceil(q H W)`` highest pixel
    scores (at least one), with ``q`` in ``(0, 1]`` (read only for ``"top_q"``).

    Shapes: ``scores_N_H_W [N, H, W] -> scores_N [N]``.

    Raises:
        InvalidInputError: for another shape, an unknown reduction or a bad ``q``.
    """
    maps = check_float_tensor(scores_N_H_W, "scores_N_H_W", "[N, H, W]", 3)
    _check_reduction(reduction, q)
    flat_N_P = maps.reshape(maps.shape[0], maps.shape[1] * maps.shape[2])
    if reduction == "mean":
        return flat_N_P.mean(dim=1)
    if reduction == "sum":
        return flat_N_P.sum(dim=1)
    count = _top_count(float(q), flat_N_P.shape[1])
    return flat_N_P.topk(count, dim=1).values.mean(dim=1)


def image_scores(
    log_probs_N_K_C_H_W: Tensor,
    score: PixelScoreName = "entropy",
    reduction: Reduction = "mean",
    *,
    q: float = 0.1,
) -> Tensor:
    """Per-image scores: :func:`pixel_scores` then :func:`reduce`, image chunk by chunk
    (the score maps of a few MB of log-probs exist at a time).

    Shapes: ``log_probs_N_K_C_H_W [N, K, C, H, W] -> scores_N [N]``.
    """
    name = _check_score_name(score)
    log_probs = check_log_probs(log_probs_N_K_C_H_W)
    _check_reduction(reduction, q)  # before scoring
    out = torch.empty(
        (log_probs.shape[0],), dtype=compute_dtype(log_probs).dtype, device=log_probs.device
    )
    for start, end in _image_chunks(log_probs):
        maps = _pixel_scores_unchecked(log_probs[start:end], name)
        out[start:end] = reduce(maps, reduction, q=q)
    return out


def entropy(
    log_probs_N_K_C_H_W: Tensor, reduction: Reduction = "mean", *, q: float = 0.1
) -> Tensor:
    """Predictive entropy per pixel, ``H[p̄_hw]`` in ``[0, log C]``, reduced per image.

    Shapes: ``[N, K, C, H, W] -> scores_N [N]``.
    """
    return image_scores(log_probs_N_K_C_H_W, "entropy", reduction, q=q)


def bald(log_probs_N_K_C_H_W: Tensor, reduction: Reduction = "mean", *, q: float = 0.1) -> Tensor:
    """BALD per pixel, ``I[y_hw; θ | x] = H[p̄_hw] - (1/K) Σ_k H[p_k,hw]`` in
    ``[0, H[p̄_hw]]``, reduced per image (pixels independent: a sum of per-pixel mutual
    informations, not the information of the whole mask).

    Shapes: ``[N, K, C, H, W] -> scores_N [N]``.
    """
    return image_scores(log_probs_N_K_C_H_W, "bald", reduction, q=q)


def margin(log_probs_N_K_C_H_W: Tensor, reduction: Reduction = "mean", *, q: float = 0.1) -> Tensor:
    """Negated margin per pixel, ``-(p̄_(1) - p̄_(2))`` in ``[-1, 0]``, reduced per image.
    Needs ``C >= 2``.

    Shapes: ``[N, K, C, H, W] -> scores_N [N]``.
    """
    return image_scores(log_probs_N_K_C_H_W, "margin", reduction, q=q)


def random(log_probs_N_K_C_H_W: Tensor, *, generator: torch.Generator | int) -> Tensor:
    """Uniform random image scores ``s_n ~ U[0, 1)`` from ``generator`` (an integer seeds a
    fresh CPU generator; no global random state). Only the shape is read.

    Shapes: ``[N, K, C, H, W] -> scores_N [N]``.
    """
    gen = check_generator(generator, "random")
    log_probs = check_log_probs(log_probs_N_K_C_H_W)
    return uniform_scores(log_probs.shape[0], gen, log_probs)


@dataclass(frozen=True)
class ImageScore:
    """A pickleable image score: ``ImageScore("bald", "top_q", 0.05)(log_probs)``.

    Attributes:
        score: the per-pixel score (``"entropy"``, ``"bald"``, ``"margin"``).
        reduction: ``"mean"``, ``"sum"`` or ``"top_q"``.
        q: the fraction of pixels ``"top_q"`` averages.
    """

    score: PixelScoreName = "entropy"
    reduction: Reduction = "mean"
    q: float = 0.1

    def __post_init__(self) -> None:
        _check_score_name(self.score)
        _check_reduction(self.reduction, self.q)

    def __call__(self, log_probs_N_K_C_H_W: Tensor) -> Tensor:
        """``[N, K, C, H, W] -> scores_N [N]`` (:func:`image_scores`)."""
        return image_scores(log_probs_N_K_C_H_W, self.score, self.reduction, q=self.q)


def stream_scores(
    chunks: Iterable[Tensor],
    score: PixelScoreName | Literal["random"] = "entropy",
    reduction: Reduction = "mean",
    *,
    q: float = 0.1,
    generator: torch.Generator | int | None = None,
) -> Tensor:
    """Score a pool given as an iterable of log-prob chunks ``[n_i, K, C, H, W]``.

    Each chunk is scored as it arrives and let go before the next one is asked for (the
    function holds no reference to it), so at most one chunk of pixel samples exists at a
    time when the iterable is a generator that computes each chunk on demand (a posterior
    scoring a pool of images chunk by chunk). Only the ``[N]`` image scores are kept.
    The scores equal :func:`image_scores` of the concatenated chunks, and, for
    ``score="random"`` (which needs ``generator``), :func:`random` of it: the draws are
    made once the images have been counted.

    Returns:
        ``scores_N [N]`` in the order of the chunks (an empty float32 tensor for no chunk).

    Raises:
        InvalidInputError: for a malformed chunk, chunks that disagree on ``K, C, H, W``
            (a pixel score's scale depends on them), an unknown score or reduction, or
            ``"random"`` without a generator.
    """
    gen: torch.Generator | None = None
    if score == "random":
        if generator is None:
            raise InvalidInputError(
                "stream_scores(score='random') needs generator= (a torch.Generator or seed)."
            )
        gen = check_generator(generator, "random")
    else:
        _check_score_name(score)
        _check_reduction(reduction, q)
    parts: list[Tensor] = []
    shape: tuple[int, ...] | None = None
    like = torch.empty(0)  # the dtype and device of the random scores: the first chunk's
    count = 0
    iterator = iter(chunks)
    while True:
        chunk = next(iterator, None)
        if chunk is None:
            break
        log_probs = check_log_probs(chunk, f"chunk {len(parts)} of log_probs_N_K_C_H_W")
        if shape is None:
            shape = tuple(log_probs.shape[1:])
            like = log_probs.new_empty(0)
        elif tuple(log_probs.shape[1:]) != shape:
            raise InvalidInputError(
                f"chunk {len(parts)} has [K, C, H, W] = {list(log_probs.shape[1:])}, the "
                f"first chunk {list(shape)}; score images of one size and one posterior "
                "draw together."
            )
        count += log_probs.shape[0]
        if gen is None:
            parts.append(image_scores(log_probs, score, reduction, q=q))  # type: ignore[arg-type]
        else:
            parts.append(like)
        del chunk, log_probs  # nothing of the chunk outlives this iteration
    if gen is not None:
        return uniform_scores(count, gen, like)
    if not parts:
        return torch.empty(0)
    return torch.cat(parts)


# ----------------------------------------------------------------------------- metrics


def predict(log_probs_N_K_C_H_W: Tensor) -> Tensor:
    """The per-pixel prediction: the argmax over C of the MC-averaged predictive
    ``log p̄_hw(c) = logsumexp_k log p_k,hw(c) - log K`` (ties to the lowest class).

    Shapes: ``[N, K, C, H, W] -> labels_N_H_W [N, H, W]`` (int64).
    """
    log_probs = check_log_probs(log_probs_N_K_C_H_W)
    out = torch.empty(
        (log_probs.shape[0], *log_probs.shape[3:]), dtype=torch.int64, device=log_probs.device
    )
    for start, end in _image_chunks(log_probs):
        chunk = compute_dtype(log_probs[start:end])
        mean_log_probs = torch.logsumexp(chunk, dim=1) - math.log(chunk.shape[1])
        out[start:end] = mean_log_probs.argmax(dim=1)
    return out


@dataclass
class ConfusionMatrix:
    """A pixel confusion matrix accumulated over batches of masks, and its metrics.

    ``counts[t, p]`` is the number of pixels of true class ``t`` predicted ``p``. Pixels
    whose true label is ``ignore_index`` (e.g. 255 for "void") are not counted.

    Example::

        confusion = ConfusionMatrix(num_classes=3)
        for y_true_n_H_W, log_probs in batches:
            confusion.update(y_true_n_H_W, predict(log_probs))
        confusion.mean_iou()
    """

    num_classes: int
    ignore_index: int | None = None
    counts: NDArray[np.int64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if (
            isinstance(self.num_classes, bool)
            or not isinstance(self.num_classes, int)
            or (self.num_classes < 1)
        ):
            raise InvalidInputError(
                f"num_classes must be a positive integer, got {self.num_classes!r}."
            )
        self.counts = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, y_true: object, y_pred: object) -> None:
        """Add the pixels of one batch: integer masks of one shape (e.g. ``[n, H, W]``).

        Raises:
            InvalidInputError: for masks of different shapes or labels outside
                ``0 .. num_classes - 1`` (other than ``ignore_index`` in ``y_true``).
        """
        true_mask = as_int64_array(y_true, "y_true")
        pred_mask = as_int64_array(y_pred, "y_pred")
        check_same_shape(true_mask, pred_mask, "y_true and y_pred")
        true, pred = true_mask.ravel(), pred_mask.ravel()
        if self.ignore_index is not None:
            keep = true != self.ignore_index
            true, pred = true[keep], pred[keep]
        C = self.num_classes
        for name, labels in (("y_true", true), ("y_pred", pred)):
            if labels.size and (labels.min() < 0 or labels.max() >= C):
                bad = labels[(labels < 0) | (labels >= C)][:3].tolist()
                raise InvalidInputError(
                    f"{name} holds labels {bad} outside 0 .. {C - 1}"
                    + (f" (ignore_index = {self.ignore_index})" if name == "y_true" else "")
                    + "."
                )
        self.counts += np.bincount(true * C + pred, minlength=C * C).reshape(C, C)

    def iou(self) -> NDArray[np.float64]:
        """Per-class intersection over union ``TP_c / (TP_c + FP_c + FN_c)``, ``[C]``; NaN
        for a class that appears neither in the labels nor in the predictions."""
        counts = self.counts.astype(np.float64)
        tp = np.diag(counts)
        union = counts.sum(axis=0) + counts.sum(axis=1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / np.where(union > 0, union, 1.0), np.nan)

    def mean_iou(self) -> float:
        """The mean of :meth:`iou` over the classes where it is defined (NaN if none)."""
        values = self.iou()
        defined = values[~np.isnan(values)]
        return float(defined.mean()) if defined.size else math.nan

    def pixel_accuracy(self) -> float:
        """The fraction of counted pixels predicted right (NaN when none is counted)."""
        total = int(self.counts.sum())
        return float(np.trace(self.counts) / total) if total else math.nan


def metrics(
    y_true_N_H_W: object,
    log_probs_N_K_C_H_W: Tensor,
    *,
    ignore_index: int | None = None,
) -> dict[str, float]:
    """The segmentation metrics of a posterior's predictions (:func:`predict`).

    Returns:
        ``{"mean_iou", "pixel_accuracy", "iou_<c>" for each class c}`` (the per-class IoU
        of :meth:`ConfusionMatrix.iou`, NaN for a class absent from labels and predictions).
    """
    log_probs = check_log_probs(log_probs_N_K_C_H_W)
    confusion = ConfusionMatrix(log_probs.shape[2], ignore_index)
    confusion.update(y_true_N_H_W, predict(log_probs).cpu())
    result = {"mean_iou": confusion.mean_iou(), "pixel_accuracy": confusion.pixel_accuracy()}
    for c, value in enumerate(confusion.iou().tolist()):
        result[f"iou_{c}"] = float(value)
    return result
