"""Segmentation labelling sessions (issue 23): ``task: segmentation`` over a folder of
images; a retrain teaches ``ActiveLearner(task="segmentation")`` (a U-Net with MC
dropout) the resolved masks, queues the unlabelled images by the task's score (per-pixel
BALD, mean-reduced) on the round's own draw, and the guess of an image is the learner's
predicted mask. Masks are checked (size, classes), kept per annotator, exported exactly
(``.npz`` or PNGs) and imported back."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from bayesal.cli import main
from bayesal.data.images import read_image_folder
from bayesal.data.shapes import load_shapes
from bayesal.errors import ConfigError, InvalidInputError
from bayesal.session import LabellingSession
from bayesal.session.config import parse_session_config
from bayesal.session.masks import export_masks, import_masks, mask_payload
from bayesal.tasks import segmentation as seg

CLASSES = ["background", "circle", "square", "triangle"]
SIZE = 16
N_IMAGES = 30
FAST = {"epochs": 1, "min_steps": 4, "batch_size": 8}


def write_shapes(folder: Path, n: int = N_IMAGES, size: int = SIZE) -> np.ndarray:
    """``n`` shapes images as 8-bit PNGs ``img0000.png``.. at the top of ``folder``;
    returns their true masks ``[n, size, size]`` (uint8), in file order."""
    data = load_shapes(n_train=n, n_test=1, image_size=size, max_shapes=2, seed=5)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = (data.train_x[i, 0].numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(folder / f"img{i:04d}.png")
    return data.train_y.numpy().astype(np.uint8)


def seg_config(folder: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "data": {"kind": "image_folder", "path": str(folder)},
        "task": "segmentation",
        "labels": CLASSES,
        "model": {"name": "unet", "params": {"base": 4, "depth": 1}},
        "posterior": {"name": "mc_dropout", "num_samples": 4},
        "training": dict(FAST),
        "queue_size": 8,
        "retrain_every": 5,
        "stop_set_size": 10,
    }
    config.update(overrides)
    return config


def make_seg_session(directory: Path, folder: Path, **overrides: Any) -> LabellingSession:
    return LabellingSession.init(directory, parse_session_config(seg_config(folder, **overrides)))


def truth_of(ref: str, truth: np.ndarray) -> np.ndarray:
    return truth[int(ref[3:7])]  # img0007.png -> the 8th image's mask


def label_some(session: LabellingSession, truth: np.ndarray, n: int, who: str = "ann") -> None:
    for _ in range(n):
        view = session.next_item(who)
        assert view is not None
        session.label(view.item_id, truth_of(view.ref, truth), who)


@pytest.fixture(scope="module")
def shapes_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("shapes") / "images"
    return folder, write_shapes(folder)


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, shapes_folder: tuple[Path, np.ndarray]
) -> LabellingSession:
    """A session with 6 masks and one trained round (shared: do not label in it)."""
    folder, truth = shapes_folder
    session = make_seg_session(tmp_path_factory.mktemp("seg") / "session", folder)
    label_some(session, truth, 6)
    session.retrain()
    return session


def _pool(session: LabellingSession, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    data = read_image_folder(folder)
    stored = session.store.items()
    ids = np.asarray([i for i, _, _ in stored], dtype=np.int64)
    rows = np.asarray([r for _, _, r in stored], dtype=np.int64)
    return ids, data.x[rows]


# --------------------------------------------------------------------------- config


def test_a_segmentation_config_defaults_to_the_unet_and_needs_class_names(tmp_path: Path) -> None:
    raw = seg_config(tmp_path)
    del raw["model"]
    assert parse_session_config(raw).model.name == "unet"
    with pytest.raises(ConfigError, match="give the class names"):
        parse_session_config({**raw, "labels": None})
    with pytest.raises(ConfigError, match="items are images"):
        parse_session_config({**raw, "data": {"kind": "table", "path": "x.csv"}})
    with pytest.raises(ConfigError, match="does not apply to task segmentation"):
        parse_session_config({**raw, "strategy": {"name": "batchbald"}})
    with pytest.raises(ConfigError, match="supports classification only"):
        parse_session_config({**raw, "posterior": {"name": "laplace"}})


def test_init_refuses_a_model_whose_output_is_not_per_pixel_logits_at_the_image_size(
    tmp_path: Path, shapes_folder: tuple[Path, np.ndarray]
) -> None:
    folder, _ = shapes_folder
    with pytest.raises(ConfigError, match="per-pixel logits"):
        make_seg_session(tmp_path / "s", folder, model={"name": "mlp"})
    assert not (tmp_path / "s" / "session.sqlite").exists()


# --------------------------------------------------------------------------- the model


def test_a_segmentation_session_queues_by_mean_per_pixel_bald_on_its_own_draw(
    trained: LabellingSession, shapes_folder: tuple[Path, np.ndarray]
) -> None:
    folder, _ = shapes_folder
    row = trained.store.last_round()
    assert row is not None and row.round == 1 and row.n_labels == 6
    assert row.metrics["task"] == "segmentation" and row.metrics["stop_mean_bald"] >= 0
    learner = trained.round_learner()
    assert learner.task.name == "segmentation" and learner.pool.num_labelled == 6
    ids, x = _pool(trained, folder)
    position = {int(i): p for p, i in enumerate(ids)}
    unlabelled = learner.pool.unlabelled_ids
    draw = learner.draw_for_round(row.round)
    flat = draw.log_probs(torch.as_tensor(x[[position[int(i)] for i in unlabelled]]))
    scores = learner.strategy.score(flat, generator=torch.Generator().manual_seed(0))
    by_hand = seg.bald(learner.task.unflatten(flat), "mean")  # the default: BALD, mean
    torch.testing.assert_close(scores.double(), by_hand.double(), rtol=1e-5, atol=1e-8)
    order = unlabelled[np.argsort(-scores.numpy(), kind="stable")]
    queue = trained.store.queue()
    assert len(queue) == 8
    assert [q.item_id for q in queue] == order[: len(queue)].tolist()
    np.testing.assert_allclose(
        [q.score for q in queue], np.sort(scores.numpy())[::-1][:8], rtol=1e-5, atol=1e-8
    )


def test_the_guess_is_the_learners_predicted_mask_for_every_pool_image(
    trained: LabellingSession, shapes_folder: tuple[Path, np.ndarray]
) -> None:
    folder, _ = shapes_folder
    row = trained.store.last_round()
    assert row is not None
    learner = trained.round_learner()
    ids, x = _pool(trained, folder)
    log_p = learner.task.unflatten(learner.draw_for_round(row.round).log_probs(torch.as_tensor(x)))
    predicted = seg.predict(log_p).numpy()
    bald = seg.bald(log_p, "mean").numpy()
    for p, item in enumerate(ids):
        np.testing.assert_array_equal(trained.guess_mask(int(item)), predicted[p])
    first = trained.store.queue()[0].item_id
    view = trained.item_view(first)
    assert view.guess is not None and view.guess["round"] == row.round
    p = int(np.flatnonzero(ids == first)[0])
    assert view.guess["mask"] == mask_payload(predicted[p].astype(np.uint8))
    assert view.guess["uncertainty"] == pytest.approx(float(bald[p]), rel=1e-4, abs=1e-9)
    assert len(trained.predictions()) == len(ids)


def test_same_seed_same_segmentation_queue(
    tmp_path: Path, shapes_folder: tuple[Path, np.ndarray]
) -> None:
    folder, truth = shapes_folder
    queues = []
    for name in ("a", "b"):
        session = make_seg_session(tmp_path / name, folder)
        label_some(session, truth, 5)
        session.retrain()
        queues.append([(q.item_id, q.score) for q in session.store.queue()])
        session.close()
    assert queues[0] == queues[1]


# --------------------------------------------------------------------------- masks


def test_a_mask_is_kept_exactly_with_its_author_and_every_annotators_mask_is_kept(
    tmp_path: Path, shapes_folder: tuple[Path, np.ndarray]
) -> None:
    folder, truth = shapes_folder
    session = make_seg_session(tmp_path / "s", folder)
    item = session.store.items()[3][0]
    first = truth[3]
    other = first.copy()
    other[0, :] = 3
    event = session.label(item, first, "ann")
    assert event.label is None and event.value is None
    session.label(item, other, "bea")  # another annotator's mask: kept, not over the first
    np.testing.assert_array_equal(session.mask_of(item), first)
    rows = session.mask_rows(annotations=True)
    assert [(i, who) for i, who, _ in rows] == [(item, "ann"), (item, "bea")]
    np.testing.assert_array_equal(rows[1][2], other)
    assert session.item_view(item).label == "mask"
    session.undo("ann")  # takes ann's mask back: under `first`, bea's is the label now
    np.testing.assert_array_equal(session.mask_of(item), other)


def test_bad_masks_are_refused_and_nothing_is_recorded(
    tmp_path: Path, shapes_folder: tuple[Path, np.ndarray]
) -> None:
    folder, _ = shapes_folder
    session = make_seg_session(tmp_path / "s", folder)
    item = session.store.items()[0][0]
    good = np.zeros((SIZE, SIZE), dtype=np.int64)
    with pytest.raises(InvalidInputError, match=r"mask of size \[16, 15\]"):
        session.label(item, good[:, :15], "ann")
    bad = good.copy()
    bad[2, 5] = 4
    with pytest.raises(InvalidInputError, match=r"class 4 at pixel \(row 2, column 5\)"):
        session.label(item, bad, "ann")
    with pytest.raises(InvalidInputError, match="class -1"):
        session.label(item, good - 1, "ann")
    with pytest.raises(InvalidInputError, match="whole class indices"):
        session.label(item, good + 0.5, "ann")
    with pytest.raises(InvalidInputError, match="not valid base64"):
        session.label(item, {"height": SIZE, "width": SIZE, "data": "@@@@"}, "ann")
    with pytest.raises(InvalidInputError, match="holds 3 bytes"):
        session.label(item, {"height": SIZE, "width": SIZE, "data": "AAAA"}, "ann")
    with pytest.raises(InvalidInputError, match="a mask must hold class indices"):
        session.label(item, "background", "ann")
    with pytest.raises(InvalidInputError, match=r"a segmentation label is a mask, an \[16, 16\]"):
        session.label(item, 1, "ann")
    with pytest.raises(InvalidInputError, match="no negative observations"):
        session.negative(item, "circle", "ann")
    assert session.store.events() == [] and session.mask_of(item) is None


@pytest.mark.parametrize("kind", ["npz", "png"])
def test_masks_are_exported_exactly_and_import_back(
    tmp_path: Path, shapes_folder: tuple[Path, np.ndarray], kind: str
) -> None:
    folder, truth = shapes_folder
    session = make_seg_session(tmp_path / "s", folder)
    label_some(session, truth, 4)
    out = tmp_path / ("masks.npz" if kind == "npz" else "masks")
    export_masks(session, out)
    resolved = {i: m for i, _, m in session.mask_rows()}
    assert len(resolved) == 4
    if kind == "npz":
        with np.load(out) as npz:
            assert npz["masks"].dtype == np.uint8
            got = dict(zip(npz["item_ids"].tolist(), npz["masks"], strict=True))
            assert npz["class_names"].tolist() == CLASSES
    else:
        got = {int(p.stem): np.asarray(Image.open(p)) for p in out.glob("*.png")}
        assert json.loads((out / "classes.json").read_text()) == CLASSES
    assert sorted(got) == sorted(resolved)
    for item, mask in resolved.items():
        np.testing.assert_array_equal(got[item], mask)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries

    fresh = make_seg_session(tmp_path / "t", folder)
    assert import_masks(fresh, out, annotator="boot") == 4
    for item, mask in resolved.items():
        np.testing.assert_array_equal(fresh.mask_of(item), mask)
    assert {who for _, who, _ in fresh.mask_rows()} == {"boot"}


def test_an_import_with_one_bad_mask_records_nothing(
    tmp_path: Path, shapes_folder: tuple[Path, np.ndarray]
) -> None:
    folder, truth = shapes_folder
    session = make_seg_session(tmp_path / "s", folder)
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(truth[0]).save(masks / "0.png")
    Image.fromarray(np.full((SIZE, SIZE), 9, dtype=np.uint8)).save(masks / "1.png")
    with pytest.raises(InvalidInputError, match=r"item 1: mask class 9"):
        import_masks(session, masks, annotator="boot")
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(masks / "1.png")
    with pytest.raises(InvalidInputError, match=r"item 1: mask of size \[8, 8\]"):
        import_masks(session, masks, annotator="boot")
    assert session.store.events() == []


def test_the_cli_imports_and_exports_masks(
    tmp_path: Path, shapes_folder: tuple[Path, np.ndarray]
) -> None:
    folder, truth = shapes_folder
    session = make_seg_session(tmp_path / "s", folder)
    session.close()
    masks = tmp_path / "masks"
    masks.mkdir()
    for i in (2, 5):
        Image.fromarray(truth[i]).save(masks / f"{i}.png")
    runner = CliRunner()
    result = runner.invoke(
        main, ["session", "import-masks", str(tmp_path / "s"), str(masks), "--annotator", "ci"]
    )
    assert result.exit_code == 0, result.output
    assert "imported 2 masks" in result.output
    out = tmp_path / "out.npz"
    result = runner.invoke(
        main, ["session", "export-masks", str(tmp_path / "s"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with np.load(out) as npz:
        assert npz["item_ids"].tolist() == [2, 5]
        np.testing.assert_array_equal(npz["masks"], truth[[2, 5]])
    bad = runner.invoke(main, ["session", "export", str(tmp_path / "s"), "--out", "x.csv"])
    assert bad.exit_code != 0 and "export-masks" in bad.output


def test_a_segmentation_round_reports_the_pixel_agreement_of_its_stop_set_with_the_last(
    tmp_path: Path, shapes_folder: tuple[Path, np.ndarray]
) -> None:
    from bayesal.stopping import cohen_kappa

    folder, truth = shapes_folder
    session = make_seg_session(tmp_path / "s", folder)
    label_some(session, truth, 5)
    first = session.retrain()
    label_some(session, truth, 5)
    second = session.retrain()
    assert first.metrics["agreement"] is None  # no earlier trained round
    stop_ids = session.store.meta("stop_set")
    pixels = np.concatenate([session.guess_mask(i).reshape(-1) for i in stop_ids])
    assert second.stop_predictions is not None and first.stop_predictions is not None
    now = np.frombuffer(second.stop_predictions, dtype=np.int16)
    np.testing.assert_array_equal(now, pixels)  # 10 images x 256 pixels: all of them
    before = np.frombuffer(first.stop_predictions, dtype=np.int16)
    assert second.metrics["agreement"] == pytest.approx(cohen_kappa(before, now, len(CLASSES)))
    assert 0 <= second.metrics["stop_mean_bald"] and 0 <= second.metrics["stop_mean_entropy"]


def test_under_majority_identical_masks_resolve_and_different_ones_are_a_conflict(
    tmp_path: Path, shapes_folder: tuple[Path, np.ndarray]
) -> None:
    folder, truth = shapes_folder
    session = make_seg_session(tmp_path / "s", folder, resolve="majority")
    a, b = (session.store.items()[k][0] for k in (0, 1))
    other = truth[1].copy()
    other[5, 5] = (other[5, 5] + 1) % len(CLASSES)  # one pixel differs
    for who in ("ann", "bea"):
        session.label(a, truth[0], who)
    session.label(b, truth[1], "ann")
    session.label(b, other, "bea")
    np.testing.assert_array_equal(session.mask_of(a), truth[0])
    assert session.mask_of(b) is None and [c["item_id"] for c in session.conflicts()] == [b]
    session.resolve_conflict(b, other, "rev")
    np.testing.assert_array_equal(session.mask_of(b), other)


def test_status_counts_per_class_the_resolved_masks_in_which_the_class_appears(
    tmp_path: Path, shapes_folder: tuple[Path, np.ndarray]
) -> None:
    folder, truth = shapes_folder
    session = make_seg_session(tmp_path / "s", folder)
    label_some(session, truth, 6)
    masks = [m for _, _, m in session.mask_rows()]
    expected = {name: sum(int((m == c).any()) for m in masks) for c, name in enumerate(CLASSES)}
    assert session.status().per_class == expected
    assert expected["background"] == 6 and session.status().num_labelled == 6


def test_the_background_worker_process_trains_a_segmentation_sessions_learner(
    tmp_path: Path, shapes_folder: tuple[Path, np.ndarray]
) -> None:
    import subprocess
    import sys

    folder, truth = shapes_folder
    session = make_seg_session(tmp_path / "s", folder)
    label_some(session, truth, 5)  # retrain_every: 5
    assert session.needs_retrain()
    done = subprocess.run(
        [sys.executable, "-m", "bayesal.session.worker", str(session.directory), "--nice", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "round 1: 5 labels"
    row = session.store.last_round()
    assert row is not None and row.metrics["task"] == "segmentation"
    view = session.next_item("ann")
    assert view is not None and view.guess is not None
    np.testing.assert_array_equal(
        session.guess_mask(view.item_id).reshape(-1),
        np.frombuffer(base64.b64decode(view.guess["mask"]["data"]), dtype=np.uint8),
    )
