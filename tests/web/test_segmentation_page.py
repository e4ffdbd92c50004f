"""The label page and the JSON API of a segmentation session (issue 23): the page
carries the model's predicted mask (the learner's) for the painter script, a legend
with each class's key, and says that masks need JavaScript (pointing at the import
command); ``POST /api/mask`` stores a mask exactly (export included) and refuses a bad
one with 422 naming the problem; the no-JavaScript form records nothing; a server
killed with ``kill -9`` right after acknowledging masks keeps every one."""

from __future__ import annotations

import base64
import html
import signal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from bayesal.session import LabellingSession
from bayesal.session.masks import export_masks, mask_payload
from tests.session.test_session_segmentation import (
    CLASSES,
    SIZE,
    label_some,
    make_seg_session,
    truth_of,
    write_shapes,
)


@pytest.fixture
def seg_session(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A segmentation session with 6 masks and one trained round; the true masks."""
    truth = write_shapes(tmp_path / "images")
    session = make_seg_session(tmp_path / "session", tmp_path / "images")
    label_some(session, truth, 6, who="seed")
    session.retrain()
    session.close()
    return tmp_path / "session", truth


def _started(client_for: Any, session_dir: Path, who: str = "pia") -> Any:
    client = client_for(session_dir)
    client.post("/start", data={"annotator": who})
    return client


def _shown(page: str) -> int:
    return int(page.split('id="seg" data-item="')[1].split('"')[0])


def test_the_page_carries_the_learners_predicted_mask_a_keyed_legend_and_a_no_script_note(
    seg_session: tuple[Path, np.ndarray], client_for: Any
) -> None:
    session_dir, _ = seg_session
    client = _started(client_for, session_dir)
    page = client.get("/label").text
    item = _shown(page)
    session = LabellingSession.open(session_dir)
    try:
        assert item == session.store.queue()[0].item_id
        guess = session.guess_mask(item)
        assert guess is not None
    finally:
        session.close()
    data = html.unescape(page.split('data-guess="')[1].split('"')[0])
    shown = np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(SIZE, SIZE)
    np.testing.assert_array_equal(shown, guess)
    assert f'data-height="{SIZE}" data-width="{SIZE}"' in page
    for c, name in enumerate(CLASSES):
        assert f'data-class="{c}" data-key="{c + 1}" title="{name}"' in page
    noscript = page.split("<noscript>")[1].split("</noscript>")[0]
    assert "needs JavaScript" in noscript and "bayesal session import-masks" in noscript
    assert '<script src="/static/mask.js" defer></script>' in page
    assert "<script>" not in page  # no inline code (the CSP forbids it)
    script = client.get("/static/mask.js")
    assert script.status_code == 200 and "/api/mask" in script.text
    assert script.headers["content-type"].startswith("text/javascript")
    api = client.get(f"/api/items/{item}/mask").json()
    assert api["guess"] == mask_payload(guess) and api["mask"] is None


def test_a_posted_mask_is_stored_and_exported_exactly(
    seg_session: tuple[Path, np.ndarray], client_for: Any, tmp_path: Path
) -> None:
    session_dir, truth = seg_session
    client = _started(client_for, session_dir)
    item = _shown(client.get("/label").text)
    session = LabellingSession.open(session_dir)
    ref = session.check_item(item)[1]
    mask = truth_of(ref, truth).copy()
    mask[0, 0] = 3
    answer = client.post("/api/mask", json={"item_id": item, "mask": mask_payload(mask)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["item_id"] == item and answer.json()["annotator"] == "pia"
    assert answer.json()["next"]["item_id"] != item
    try:
        np.testing.assert_array_equal(session.mask_of(item), mask)
        assert session.label_of(item)[1].annotator == "pia"
        export_masks(session, tmp_path / "out.npz")
    finally:
        session.close()
    with np.load(tmp_path / "out.npz") as npz:
        got = dict(zip(npz["item_ids"].tolist(), npz["masks"], strict=True))
    np.testing.assert_array_equal(got[item], mask)
    assert client.get(f"/api/items/{item}/mask").json()["mask"] == mask_payload(mask)


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        ({"height": SIZE, "width": SIZE - 1, "data": "AAAA"}, "mask of size [16, 15]"),
        (
            {"height": SIZE, "width": SIZE, "data": base64.b64encode(bytes([4]) * SIZE**2)},
            "mask class 4 at pixel (row 0, column 0) is out of range: classes are 0 to 3",
        ),
        ({"height": SIZE, "width": SIZE, "data": "not base64!"}, "not valid base64"),
        ({"height": SIZE, "width": SIZE, "data": "AAAA"}, "holds 3 bytes"),
        ({"height": SIZE, "width": SIZE, "data": "A" * 5000}, "longer than"),
        ({"height": "16", "width": SIZE, "data": "AAAA"}, "mask: Input should be a valid integer"),
        ({"height": SIZE, "width": SIZE}, "mask: Field required"),
        ("garbage", "mask: Input should be a valid dictionary"),
    ],
)
def test_a_bad_mask_is_refused_with_422_naming_the_problem_and_nothing_is_recorded(
    seg_session: tuple[Path, np.ndarray], client_for: Any, mask: Any, message: str
) -> None:
    session_dir, _ = seg_session
    client = _started(client_for, session_dir)
    item = _shown(client.get("/label").text)
    if isinstance(mask, dict) and isinstance(mask.get("data"), bytes):
        mask = {**mask, "data": mask["data"].decode()}
    answer = client.post("/api/mask", json={"item_id": item, "mask": mask})
    assert answer.status_code == 422
    assert message in answer.json()["error"]
    session = LabellingSession.open(session_dir)
    try:
        assert session.mask_of(item) is None
        assert session.store.label_events_since(0) == 6  # the seed's masks only
    finally:
        session.close()


def test_the_no_script_form_records_nothing_and_says_why(
    seg_session: tuple[Path, np.ndarray], client_for: Any
) -> None:
    session_dir, _ = seg_session
    client = _started(client_for, session_dir)
    item = _shown(client.get("/label").text)
    answer = client.post("/label", data={"item_id": item, "label": "1"})
    assert answer.status_code == 303
    page = client.get("/label").text
    assert "painted and saved with JavaScript" in html.unescape(page)
    session = LabellingSession.open(session_dir)
    try:
        assert session.store.label_events_since(0) == 6
    finally:
        session.close()


def test_api_label_refuses_a_segmentation_item_and_names_the_mask_route(
    seg_session: tuple[Path, np.ndarray], client_for: Any
) -> None:
    session_dir, _ = seg_session
    client = _started(client_for, session_dir)
    item = _shown(client.get("/label").text)
    answer = client.post("/api/label", json={"item_id": item, "label": "circle"})
    assert answer.status_code == 422 and "POST /api/mask" in answer.json()["error"]


@pytest.mark.slow
def test_kill_9_after_acknowledged_masks_loses_none(
    seg_session: tuple[Path, np.ndarray], server_for: Any
) -> None:
    session_dir, truth = seg_session
    server = server_for(session_dir, "--no-retrain")
    acknowledged: dict[int, np.ndarray] = {}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        item = client.post("/api/next", json={"annotator": "kai"}).json()["item"]
        for _ in range(4):
            mask = truth_of(item["ref"], truth)
            answer = client.post(
                "/api/mask",
                json={"item_id": item["item_id"], "mask": mask_payload(mask), "annotator": "kai"},
            )
            assert answer.status_code == 200, answer.text
            acknowledged[item["item_id"]] = mask
            item = answer.json()["next"]
    server.stop(signal.SIGKILL)
    session = LabellingSession.open(session_dir)
    try:
        for item_id, mask in acknowledged.items():
            np.testing.assert_array_equal(session.mask_of(item_id), mask)
        before = session.mask_rows()
        session.store.rebuild_current_labels()
        after = session.mask_rows()
        assert [(i, w) for i, w, _ in before] == [(i, w) for i, w, _ in after]
        assert session.store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        session.close()
