"""Segmentation scores against per-pixel brute force, the reductions, streaming without
holding the pool, and the metrics against scikit-learn."""

from __future__ import annotations

import gc
import math
import pickle
import weakref
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, confusion_matrix, jaccard_score

from bayesal.errors import InvalidInputError
from bayesal.tasks import segmentation

SETTINGS = settings(max_examples=30, deadline=None)
SCORES = ("entropy", "bald", "margin")


@st.composite
def seg_log_probs(draw, min_n: int = 0) -> torch.Tensor:
    """Valid float64 ``[N, K, C, H, W]`` log-probs, sometimes with exact zeros."""
    N = draw(st.integers(min_n, 3))
    K = draw(st.integers(1, 4))
    C = draw(st.integers(2, 4))
    H = draw(st.integers(1, 4))
    W = draw(st.integers(1, 4))
    scale = draw(st.sampled_from([0.1, 1.0, 10.0]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    logits = scale * torch.randn(N, K, C, H, W, generator=g, dtype=torch.float64)
    if draw(st.booleans()):
        mask = torch.rand(N, K, C, H, W, generator=g) < 0.3
        mask[:, :, 0] = False
        logits = logits.masked_fill(mask, -math.inf)
    return torch.log_softmax(logits, dim=2)


def _h(p: list[float]) -> float:
    return -sum(x * math.log(x) for x in p if x > 0)


def _ref_pixel(log_probs: torch.Tensor, score: str) -> list[list[list[float]]]:
    """Per-pixel scores by loops over images, pixels, samples and classes."""
    N, K, C, H, W = log_probs.shape
    out = []
    for n in range(N):
        image = []
        for h in range(H):
            row = []
            for w in range(W):
                p = [
                    [math.exp(float(log_probs[n, k, c, h, w])) for c in range(C)] for k in range(K)
                ]
                p_bar = [sum(p[k][c] for k in range(K)) / K for c in range(C)]
                if score == "entropy":
                    row.append(_h(p_bar))
                elif score == "bald":
                    row.append(_h(p_bar) - sum(_h(p[k]) for k in range(K)) / K)
                else:
                    first, second = sorted(p_bar, reverse=True)[:2]
                    row.append(-(first - second))
            image.append(row)
        out.append(image)
    return out


def _ref_reduce(maps: list[list[list[float]]], reduction: str, q: float) -> list[float]:
    out = []
    for image in maps:
        values = [v for row in image for v in row]
        if reduction == "mean":
            out.append(sum(values) / len(values))
        elif reduction == "sum":
            out.append(sum(values))
        else:
            count = max(1, math.ceil(round(q * len(values), 9)))
            top = sorted(values, reverse=True)[:count]
            out.append(sum(top) / count)
    return out


@SETTINGS
@given(seg_log_probs(), st.sampled_from(SCORES), st.sampled_from([0.01, 0.25, 0.5, 1.0]))
def test_scores_match_brute_force(log_probs: torch.Tensor, score: str, q: float) -> None:
    maps = _ref_pixel(log_probs, score)
    pixel = segmentation.pixel_scores(log_probs, score)  # type: ignore[arg-type]
    assert pixel.shape == (log_probs.shape[0], *log_probs.shape[3:])
    for n, image in enumerate(maps):
        assert pixel[n].flatten().tolist() == pytest.approx(
            [v for row in image for v in row], abs=1e-10
        )
    for reduction in ("mean", "sum", "top_q"):
        expected = _ref_reduce(maps, reduction, q)
        actual = segmentation.image_scores(log_probs, score, reduction, q=q)  # type: ignore[arg-type]
        assert actual.tolist() == pytest.approx(expected, abs=1e-9)
    named = getattr(segmentation, score)(log_probs, "top_q", q=q)
    assert named.tolist() == pytest.approx(_ref_reduce(maps, "top_q", q), abs=1e-9)


@SETTINGS
@given(seg_log_probs())
def test_bounds(log_probs: torch.Tensor) -> None:
    C = log_probs.shape[2]
    entropy = segmentation.pixel_scores(log_probs, "entropy")
    bald = segmentation.pixel_scores(log_probs, "bald")
    margin = segmentation.pixel_scores(log_probs, "margin")
    assert (bald >= 0).all() and (bald <= entropy + 1e-12).all()
    assert (entropy <= math.log(C) + 1e-12).all()
    assert (margin <= 0).all() and (margin >= -1).all()
    for score in SCORES:
        maps = segmentation.pixel_scores(log_probs, score)  # type: ignore[arg-type]
        mean = segmentation.reduce(maps, "mean")
        top = segmentation.reduce(maps, "top_q", q=0.3)
        assert (top >= mean - 1e-12).all()  # the top pixels average at least the mean
        assert (top <= maps.flatten(1).max(dim=1).values + 1e-12).all()


@SETTINGS
@given(seg_log_probs(min_n=1), st.integers(0, 2**31 - 1))
def test_permutation_invariance(log_probs: torch.Tensor, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    N, K, C, H, W = log_probs.shape
    items = torch.randperm(N, generator=g)
    samples = torch.randperm(K, generator=g)
    pixels = torch.randperm(H * W, generator=g)
    shuffled = log_probs.flatten(3)[..., pixels].reshape(N, K, C, H, W)
    for score in SCORES:
        for reduction in ("mean", "sum", "top_q"):
            scores = segmentation.image_scores(log_probs, score, reduction, q=0.3)  # type: ignore[arg-type]

            def again(x: torch.Tensor) -> torch.Tensor:
                return segmentation.image_scores(x, score, reduction, q=0.3)  # type: ignore[arg-type]  # noqa: B023

            assert torch.allclose(again(log_probs[items]), scores[items], atol=1e-12)
            assert torch.allclose(again(log_probs[:, samples]), scores, atol=1e-12)
            assert torch.allclose(again(shuffled), scores, atol=1e-12)


@SETTINGS
@given(seg_log_probs())
def test_one_sample_gives_zero_bald(log_probs: torch.Tensor) -> None:
    one = log_probs[:, :1]
    for reduction in ("mean", "sum", "top_q"):
        scores = segmentation.bald(one, reduction)  # type: ignore[arg-type]
        assert torch.equal(scores, torch.zeros(log_probs.shape[0], dtype=torch.float64))


def test_top_q_by_hand() -> None:
    maps = torch.arange(30, dtype=torch.float64).reshape(1, 5, 6)
    # q = 0.1 of 30 pixels is 3 (not 4: 0.1 * 30 is 3.0000000000000004 in floating point)
    assert segmentation.reduce(maps, "top_q", q=0.1).tolist() == [28.0]
    assert segmentation.reduce(maps, "top_q", q=0.01).tolist() == [29.0]  # at least one pixel
    assert segmentation.reduce(maps, "top_q", q=1.0).tolist() == [14.5]  # the mean
    assert segmentation.reduce(maps, "sum").tolist() == [435.0]


def test_one_uncertain_region_ranks_first_under_top_q() -> None:
    # Image 0: certain background with a 2 x 2 patch at maximal entropy; image 1: every
    # pixel mildly uncertain. The mean prefers image 1, top-q (q = 4 / 64) image 0.
    C, H, W = 2, 8, 8
    certain = torch.tensor([1 - 1e-9, 1e-9], dtype=torch.float64).log()
    image0 = certain[:, None, None].expand(C, H, W).clone()
    image0[:, :2, :2] = math.log(0.5)
    image1 = torch.tensor([0.9, 0.1], dtype=torch.float64).log()[:, None, None].expand(C, H, W)
    log_probs = torch.stack([image0, image1])[:, None]  # K = 1
    mean = segmentation.entropy(log_probs, "mean")
    top = segmentation.entropy(log_probs, "top_q", q=4 / 64)
    assert mean[1] > mean[0] and top[0] > top[1]
    assert float(top[0]) == pytest.approx(math.log(2))


def test_chunks_of_images_give_the_same_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(0)
    log_probs = torch.log_softmax(torch.randn(7, 3, 4, 5, 6, generator=g), dim=2)
    whole = {s: segmentation.image_scores(log_probs, s, "top_q", q=0.2) for s in SCORES}
    monkeypatch.setattr(segmentation, "CHUNK_ELEMENTS", 2 * log_probs[0].numel())
    assert len(segmentation._image_chunks(log_probs)) == 4
    for score in SCORES:
        chunked = segmentation.image_scores(log_probs, score, "top_q", q=0.2)  # type: ignore[arg-type]
        assert torch.equal(chunked, whole[score])


# ------------------------------------------------------------------------------ streaming


def test_stream_equals_in_memory_and_consumes_lazily() -> None:
    g = torch.Generator().manual_seed(1)
    sizes = [3, 1, 4, 2]
    pool = torch.log_softmax(torch.randn(sum(sizes), 3, 4, 6, 5, generator=g), dim=2)
    starts = np.cumsum([0, *sizes])
    produced: list[weakref.ref[torch.Tensor]] = []
    alive_when_produced: list[int] = []

    def chunks() -> Iterator[torch.Tensor]:
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            gc.collect()
            # every chunk produced before this one must be gone: at most one is ever held
            alive_when_produced.append(sum(ref() is not None for ref in produced))
            chunk = pool[a:b].clone()  # a fresh tensor, as a posterior's forward pass makes
            produced.append(weakref.ref(chunk))
            yield chunk
            del chunk

    streamed = segmentation.stream_scores(chunks(), "bald", "top_q", q=0.25)
    assert torch.equal(streamed, segmentation.bald(pool, "top_q", q=0.25))
    # A scorer that kept the chunks (list(chunks)), or only the last one (a plain for loop
    # without del), would leave 1, 2, 3 or 1, 1, 1 alive here.
    assert alive_when_produced == [0, 0, 0, 0]
    for score in SCORES:
        parts = (pool[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True))
        streamed = segmentation.stream_scores(parts, score, "sum")  # type: ignore[arg-type]
        expected = segmentation.image_scores(pool, score, "sum")  # type: ignore[arg-type]
        assert torch.equal(streamed, expected)


def test_stream_pulls_one_chunk_at_a_time() -> None:
    # The scorer asks for chunk i + 1 only after scoring chunk i (no read-ahead, no list()).
    events: list[str] = []
    g = torch.Generator().manual_seed(2)

    def chunks() -> Iterator[torch.Tensor]:
        for i in range(3):
            events.append(f"make {i}")
            yield torch.log_softmax(torch.randn(2, 2, 3, 2, 2, generator=g), dim=2)

    class Recording:
        def __init__(self) -> None:
            self.inner = chunks()

        def __iter__(self) -> Recording:
            return self

        def __next__(self) -> torch.Tensor:
            events.append("next")
            return next(self.inner)

    scores = segmentation.stream_scores(Recording(), "bald")
    assert scores.shape == (6,)
    assert events == ["next", "make 0", "next", "make 1", "next", "make 2", "next"]


def test_stream_random_and_errors() -> None:
    pool = torch.log_softmax(torch.randn(5, 2, 3, 2, 2), dim=2)
    streamed = segmentation.stream_scores(iter([pool[:2], pool[2:]]), "random", generator=7)
    assert torch.equal(streamed, segmentation.random(pool, generator=7))
    with pytest.raises(InvalidInputError, match="needs generator"):
        segmentation.stream_scores([pool], "random")
    with pytest.raises(InvalidInputError, match="\\[K, C, H, W\\]"):
        segmentation.stream_scores([pool, pool[:, :, :, :1]], "entropy")
    with pytest.raises(InvalidInputError, match="unknown pixel score"):
        segmentation.stream_scores([pool], "variance")  # type: ignore[arg-type]
    assert segmentation.stream_scores([], "entropy").shape == (0,)


def test_input_checks() -> None:
    with pytest.raises(InvalidInputError, match="\\[N, K, C, H, W\\]"):
        segmentation.entropy(torch.zeros(2, 3, 4))
    with pytest.raises(InvalidInputError, match="at least one parameter sample"):
        segmentation.entropy(torch.zeros(2, 3, 4, 0, 5))
    with pytest.raises(InvalidInputError, match="scored per pixel.*normalised"):
        segmentation.entropy(torch.zeros(1, 2, 3, 2, 2))  # logits, not log-probs
    with pytest.raises(InvalidInputError, match="unknown reduction"):
        segmentation.entropy(torch.zeros(0, 1, 2, 1, 1), "max")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="q must lie in"):
        segmentation.entropy(torch.zeros(0, 1, 2, 1, 1), "top_q", q=0.0)
    with pytest.raises(InvalidInputError, match="at least 2 classes"):
        segmentation.margin(torch.zeros(1, 1, 1, 2, 2))


def test_image_score_pickles_and_checks() -> None:
    score = segmentation.ImageScore("bald", "top_q", 0.05)
    assert pickle.loads(pickle.dumps(score)) == score
    log_probs = torch.log_softmax(torch.randn(2, 3, 4, 5, 5), dim=2)
    assert torch.equal(score(log_probs), segmentation.bald(log_probs, "top_q", q=0.05))
    with pytest.raises(InvalidInputError):
        segmentation.ImageScore("bald", "top_q", 2.0)


# -------------------------------------------------------------------------------- metrics


def test_predict_is_the_argmax_of_the_mean_predictive() -> None:
    # Pixel: sample 1 says [0.6, 0.4], sample 2 [0.0, 1.0]: p̄ = [0.3, 0.7] -> class 1,
    # although class 0 wins the first sample.
    probs = torch.tensor([[0.6, 0.4], [0.0, 1.0]], dtype=torch.float64)
    log_probs = probs.log()[None, :, :, None, None]
    assert segmentation.predict(log_probs).tolist() == [[[1]]]


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    C = 4
    y_true = rng.integers(0, C, size=(3, 5, 6))
    if seed % 2:
        y_true[y_true == 3] = 2  # class 3 absent from the labels
    y_pred = np.where(rng.random(y_true.shape) < 0.6, y_true, rng.integers(0, C, y_true.shape))
    confusion = segmentation.ConfusionMatrix(C)
    confusion.update(y_true[:2], y_pred[:2])  # two batches add up
    confusion.update(y_true[2:], y_pred[2:])
    flat_true, flat_pred = y_true.ravel(), y_pred.ravel()
    assert np.array_equal(confusion.counts, confusion_matrix(flat_true, flat_pred, labels=range(C)))
    present = sorted(set(flat_true) | set(flat_pred))
    expected_iou = jaccard_score(flat_true, flat_pred, labels=present, average=None)
    iou = confusion.iou()
    assert iou[present].tolist() == pytest.approx(expected_iou.tolist())
    assert all(math.isnan(iou[c]) for c in range(C) if c not in present)
    assert confusion.mean_iou() == pytest.approx(float(np.mean(expected_iou)))
    assert confusion.pixel_accuracy() == pytest.approx(accuracy_score(flat_true, flat_pred))


def test_metrics_of_log_probs_and_ignore_index() -> None:
    # Two 1 x 2 images, K = 1, C = 2: predictions [[0, 1]], [[1, 1]].
    probs = torch.tensor([[0.9, 0.2], [0.1, 0.8]], dtype=torch.float64)  # [C, W]
    second = torch.tensor([[0.3, 0.4], [0.7, 0.6]], dtype=torch.float64)
    log_probs = torch.stack([probs, second])[:, None, :, None, :].log()  # [2, 1, 2, 1, 2]
    y_true = np.array([[[0, 1]], [[0, 255]]])
    result = segmentation.metrics(y_true, log_probs, ignore_index=255)
    # counted pixels: (0, 0), (1, 1), (0, 1): class 0 IoU 1/2, class 1 IoU 1/2
    assert result == pytest.approx(
        {"mean_iou": 0.5, "pixel_accuracy": 2 / 3, "iou_0": 0.5, "iou_1": 0.5}
    )
    with pytest.raises(InvalidInputError, match="outside 0 .. 1"):
        segmentation.metrics(y_true, log_probs)  # 255 without ignore_index
    with pytest.raises(InvalidInputError, match="same shape"):
        segmentation.ConfusionMatrix(2).update(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(InvalidInputError, match="integer class labels"):
        segmentation.ConfusionMatrix(2).update(np.full((2,), 0.5), np.zeros(2))
    empty = segmentation.ConfusionMatrix(3)
    assert math.isnan(empty.mean_iou()) and math.isnan(empty.pixel_accuracy())
