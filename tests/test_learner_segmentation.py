"""``ActiveLearner(task="segmentation")``: masks ``[n, H, W]``, a network returning
per-pixel logits ``[N, C, H, W]``, posterior samples ``[N, K, C, H, W]`` scored per pixel
and reduced per image (the scores of :mod:`bayesal.tasks.segmentation`), streamed chunk by
chunk, per-pixel cross-entropy, mIoU / pixel accuracy, save and load."""

from __future__ import annotations

import math
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bayesal import ActiveLearner
from bayesal.acquisition.scored import ScoredStrategy, TopKSelector
from bayesal.data.shapes import load_shapes
from bayesal.errors import InvalidInputError
from bayesal.learner.segmentation import CHUNK_BYTES, SegmentationHead
from bayesal.posterior.mc_dropout import MCDropoutDraw
from bayesal.tasks import segmentation as seg
from bayesal.tasks.segmentation import ImageScore

TRAINING = {"epochs": 1, "min_steps": 15, "batch_size": 8}
SIZE = 12  # images 12 x 12
K = 6


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    d = load_shapes(n_train=24, n_test=6, image_size=SIZE, max_shapes=2, seed=3)
    return d.train_x.numpy(), d.train_y.numpy(), d.test_x.numpy(), d.test_y.numpy()


def make_net() -> nn.Module:
    from bayesal.models.unet import make_unet

    return make_unet(base=4, depth=1, dropout=0.5)


def _learner(strategy: str = "bald", **kwargs: Any) -> ActiveLearner:
    x, _, _, _ = _data()
    return ActiveLearner(
        x,
        model=make_net,
        task="segmentation",
        strategy=strategy,
        seed=0,
        training=TRAINING,
        device="cpu",
        **{"num_samples": K, **kwargs},
    )


def _taught(strategy: str = "bald", **kwargs: Any) -> ActiveLearner:
    _, y, _, _ = _data()
    learner = _learner(strategy, **kwargs)
    ids = learner.query(4)  # cold start
    learner.teach(ids, y[ids])
    return learner


def _pool_samples(learner: ActiveLearner) -> torch.Tensor:
    """``[N, K, C, H, W]`` of the unlabelled pool under the round's draw, all at once."""
    x, _, _, _ = _data()
    flat = learner.predict_samples(x[learner.unlabelled_ids])
    return flat.unflatten(2, (learner.num_classes, SIZE, SIZE))


# ----------------------------------------------------------------------------- queries


@pytest.mark.parametrize(
    ("strategy", "params", "score"),
    [
        ("bald", {}, ImageScore("bald", "mean")),
        ("entropy", {"reduction": "sum"}, ImageScore("entropy", "sum")),
        ("bald", {"reduction": "top_q", "q": 0.05}, ImageScore("bald", "top_q", 0.05)),
        ("margin", {}, ImageScore("margin", "mean")),
    ],
)
def test_query_picks_the_top_k_of_the_task_image_score_on_the_learners_draw(
    strategy: str, params: dict[str, Any], score: ImageScore
) -> None:
    learner = _taught(strategy, strategy_params=params)
    scores = score(_pool_samples(learner))  # before the query: the same round's draw
    expected = learner.unlabelled_ids[torch.topk(scores, 3).indices.numpy()]
    assert learner.query(3).tolist() == expected.tolist()


def test_streamed_pool_scores_equal_the_in_memory_image_scores() -> None:
    learner = _taught("bald", chunk_size=5)
    in_memory = seg.bald(_pool_samples(learner), "mean")
    streamed = learner.task.pool_scores(learner)  # type: ignore[attr-defined]
    assert torch.equal(streamed, in_memory)


def test_streamed_scoring_path_picks_what_the_in_memory_path_picks() -> None:
    in_memory = _taught("bald")
    streamed = _taught("bald", max_log_probs_bytes=1, chunk_size=5)
    assert streamed.query(3).tolist() == in_memory.query(3).tolist()
    assert in_memory.last_scoring is not None and in_memory.last_scoring.path == "in_memory"
    assert streamed.last_scoring is not None and streamed.last_scoring.path == "stream"


class _ChunkSpy:
    """Wraps ``MCDropoutDraw.log_probs``: records each chunk's size and, when a chunk is
    asked for, how many earlier chunks are still alive (weak references)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.alive_before: list[int] = []
        self.sizes: list[int] = []
        self._refs: list[weakref.ref[torch.Tensor]] = []
        original = MCDropoutDraw.log_probs
        spy = self

        def log_probs(draw: MCDropoutDraw, inputs_N: torch.Tensor) -> torch.Tensor:
            spy.alive_before.append(spy.alive())
            out = original(draw, inputs_N)
            spy.sizes.append(len(out))
            spy._refs.append(weakref.ref(out))
            return out

        monkeypatch.setattr(MCDropoutDraw, "log_probs", log_probs)

    def alive(self) -> int:
        return sum(ref() is not None for ref in self._refs)


def test_pool_scores_hold_one_chunk_of_pixel_samples_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    learner = _taught("bald", chunk_size=5)
    learner.draw_for_round()  # trained before the spy
    spy = _ChunkSpy(monkeypatch)
    scores = learner.task.pool_scores(learner)  # type: ignore[attr-defined]
    assert len(scores) == 20
    assert spy.sizes == [5, 5, 5, 5]  # 20 unlabelled images, 5 per chunk
    assert spy.alive_before == [0, 0, 0, 0]  # no earlier chunk alive when one is made
    assert spy.alive() == 0


def test_query_scores_the_pool_chunk_by_chunk_never_holding_it_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    learner = _taught("bald", chunk_size=5)
    learner.fit()
    spy = _ChunkSpy(monkeypatch)
    learner.query(3)
    assert spy.sizes == [5, 5, 5, 5]
    # The learner's pointwise path (bayesal.learner.dispatch) keeps the previous chunk
    # referenced until the next one is bound: at most 2 of the 4 chunks exist at once.
    assert max(spy.alive_before) <= 1
    assert spy.alive() == 0


def test_chunk_size_is_capped_to_chunk_bytes_of_log_probs() -> None:
    learner = _learner("bald")  # chunk_size 4096 by default
    per_image = 4 * K * 4 * SIZE * SIZE  # float32, K samples, 4 classes, 12 x 12 pixels
    assert learner.chunk_size == min(4096, CHUNK_BYTES // per_image)
    assert _learner("bald", chunk_size=7).chunk_size == 7


def test_same_seed_gives_the_same_picks() -> None:
    assert _taught().query(4).tolist() == _taught().query(4).tolist()


def test_random_strategy_queries_distinct_unlabelled_ids() -> None:
    learner = _taught("random")
    ids = learner.query(5)
    assert len(set(ids.tolist())) == 5
    assert not learner.pool.is_labelled(ids).any()


def test_ensemble_posterior_gives_member_samples() -> None:
    learner = _taught("bald", posterior="ensemble", posterior_params={"members": 2})
    samples = _pool_samples(learner)
    assert samples.shape == (20, 2, 4, SIZE, SIZE)
    expected = learner.unlabelled_ids[torch.topk(seg.bald(samples), 2).indices.numpy()]
    assert learner.query(2).tolist() == expected.tolist()


# ------------------------------------------------------------------ posterior and training


def test_samples_are_per_pixel_log_softmax_of_the_network_under_each_mask() -> None:
    learner = _taught("bald")
    samples = _pool_samples(learner)
    assert samples.shape == (20, K, 4, SIZE, SIZE)
    assert torch.allclose(samples.exp().sum(dim=2), torch.ones(20, K, SIZE, SIZE), atol=1e-5)
    # MC dropout: the K samples are not all equal (channel masks differ)
    assert samples.std(dim=1).max() > 0


def test_head_output_is_log_softmax_over_classes_of_each_pixel() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, 6, generator=g)  # [kb, n, C, H, W]
    head = SegmentationHead(4)
    out = head.sample_output(logits.flatten(2), torch.float32)
    assert torch.allclose(out.unflatten(2, (4, 5, 6)), logits.log_softmax(dim=2))


def test_head_loss_is_the_per_pixel_cross_entropy_averaged_by_hand() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, 2, 2, generator=g)  # [n, C, H, W]
    y = torch.tensor([[[0, 1], [2, 2]], [[1, 1], [0, 2]]])
    by_hand = 0.0
    for n in range(2):
        for h in range(2):
            for w in range(2):
                column = logits[n, :, h, w]
                by_hand += -(column[y[n, h, w]] - torch.logsumexp(column, 0)).item()
    loss = SegmentationHead(3).loss(logits.flatten(1), y)
    assert loss.item() == pytest.approx(by_hand / 8, rel=1e-6)


# ------------------------------------------------------------------------- evaluation


def test_evaluate_reports_miou_pixel_accuracy_and_iou_per_class_by_hand() -> None:
    _, _, x_test, y_test = _data()
    learner = _taught("bald")
    metrics = learner.evaluate(x_test, y_test)
    flat = learner.predict_samples(x_test)  # the same draw evaluate reads
    samples = flat.unflatten(2, (4, SIZE, SIZE))
    pred = (torch.logsumexp(samples, dim=1) - math.log(K)).argmax(dim=1).numpy()
    ious = {}
    for c in range(4):
        tp = np.sum((pred == c) & (y_test == c))
        union = np.sum((pred == c) | (y_test == c))
        ious[c] = tp / union if union else math.nan
    defined = [v for v in ious.values() if not math.isnan(v)]
    assert metrics["miou"] == pytest.approx(sum(defined) / len(defined))
    assert metrics["pixel_accuracy"] == pytest.approx(float(np.mean(pred == y_test)))
    for c in range(4):
        assert metrics[f"iou_{c}"] == pytest.approx(ious[c], nan_ok=True)


def test_evaluate_on_an_empty_test_set_gives_nan_for_every_metric() -> None:
    metrics = _taught().evaluate(np.zeros((0, 1, SIZE, SIZE), np.float32), np.zeros((0,)))
    assert set(metrics) == {"miou", "pixel_accuracy", "iou_0", "iou_1", "iou_2", "iou_3"}
    assert all(math.isnan(v) for v in metrics.values())


def test_metrics_count_labelled_pixels_per_class() -> None:
    learner = _taught()
    _, y, _, _ = _data()
    expected = np.bincount(y[learner.labelled_ids].ravel(), minlength=4).tolist()
    assert learner.metrics()["pixels_per_class"] == expected


# ------------------------------------------------------------------------------ labels


def test_teach_accepts_one_mask_for_one_id() -> None:
    learner = _learner()
    _, y, _, _ = _data()
    learner.teach(3, y[3])
    assert np.array_equal(learner.labels([3])[0], y[3])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.zeros((2, SIZE, SIZE + 1), np.int64), r"\[n, 12, 12\]"),
        (np.full((2, SIZE, SIZE), 4), r"classes in \[0, 4\); mask 0 has 4 at pixel"),
        (np.full((2, SIZE, SIZE), -1), r"classes in \[0, 4\)"),
        (np.full((2, SIZE, SIZE), 0.5), "integers"),
        (np.zeros((3, SIZE, SIZE), np.int64), "2 ids but 3 masks"),
        (np.zeros((2, SIZE * SIZE), np.int64), r"masks \[n, H, W\]"),
        (np.array([["a"] * SIZE] * SIZE * 2).reshape(2, SIZE, SIZE), "integer class indices"),
    ],
)
def test_teach_refuses_bad_masks_and_records_nothing(labels: np.ndarray, message: str) -> None:
    learner = _learner()
    with pytest.raises(InvalidInputError, match=message):
        learner.teach([0, 1], labels)
    assert learner.pool.num_labelled == 0


def test_constructor_labels_take_minus_one_masks_as_unknown_and_refuse_partial_masks() -> None:
    x, y, _, _ = _data()
    known = np.full_like(y, -1)
    known[[2, 5]] = y[[2, 5]]
    learner = ActiveLearner(
        x, model=make_net, task="segmentation", labels=known, training=TRAINING, device="cpu"
    )
    assert learner.labelled_ids.tolist() == [2, 5]
    known[7, 0, 0] = 1  # a mask of -1 but one pixel
    with pytest.raises(InvalidInputError, match="partly -1"):
        ActiveLearner(x, model=make_net, task="segmentation", labels=known, device="cpu")


def test_a_model_without_per_pixel_logits_is_refused() -> None:
    x, _, _, _ = _data()

    def classifier() -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(SIZE * SIZE, 4))

    with pytest.raises(InvalidInputError, match=r"per-pixel logits \[N, C, H, W\]"):
        ActiveLearner(x, model=classifier, task="segmentation", device="cpu")


def test_a_posterior_without_heads_and_a_joint_strategy_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="'mc_dropout' or 'ensemble'"):
        _learner(posterior="laplace")
    with pytest.raises(InvalidInputError, match="does not apply to task 'segmentation'"):
        _learner("batchbald")


def test_a_scored_strategy_object_reads_the_unflattened_samples() -> None:
    mine = ScoredStrategy("mine", ImageScore("entropy", "top_q", 0.1), TopKSelector())
    learner = _taught(mine)  # type: ignore[arg-type]
    scores = ImageScore("entropy", "top_q", 0.1)(_pool_samples(learner))
    expected = learner.unlabelled_ids[torch.topk(scores, 2).indices.numpy()]
    assert learner.query(2).tolist() == expected.tolist()


# ------------------------------------------------------------------------- save / load


def test_save_and_load_resume_the_same_queries_and_masks(tmp_path: Path) -> None:
    learner = _taught("bald")
    learner.query(2)
    path = learner.save(tmp_path / "seg.pt")
    loaded = ActiveLearner.load(path, model=make_net)
    assert loaded.task.name == "segmentation"
    assert np.array_equal(loaded.labels(), learner.labels())
    assert loaded.chunk_size == learner.chunk_size
    assert loaded.query(3).tolist() == learner.query(3).tolist()


def test_load_refuses_masks_of_another_size(tmp_path: Path) -> None:
    learner = _taught("bald")
    path = learner.save(tmp_path / "seg.pt")
    state = torch.load(path, weights_only=False)
    state["labels"] = state["labels"][:, :, :-1]
    torch.save(state, path)
    with pytest.raises(InvalidInputError, match=r"saved masks are \[12, 11\]"):
        ActiveLearner.load(path, model=make_net)


def test_load_refuses_saved_mask_pixels_out_of_range(tmp_path: Path) -> None:
    learner = _taught("bald")
    path = learner.save(tmp_path / "seg.pt")
    state = torch.load(path, weights_only=False)
    state["labels"][learner.labelled_ids[0], 0, 0] = 9
    torch.save(state, path)
    with pytest.raises(InvalidInputError, match="outside the 4 classes"):
        ActiveLearner.load(path, model=make_net)


def test_loss_through_training_is_the_per_pixel_cross_entropy() -> None:
    """The learner trains FlatLogits(model) with the head's loss: on a batch it equals
    torch's cross-entropy of the [n, C, H, W] logits."""
    learner = _taught("bald")
    net = learner.fit().models[0]
    x, y, _, _ = _data()
    ids = learner.labelled_ids
    with torch.no_grad():
        flat = net(torch.from_numpy(x[ids]))
        logits = flat.unflatten(1, (4, SIZE, SIZE))
        expected = F.cross_entropy(logits, torch.from_numpy(y[ids]))
        got = learner.method.head.loss(flat, torch.from_numpy(y[ids]))  # type: ignore[union-attr]
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
