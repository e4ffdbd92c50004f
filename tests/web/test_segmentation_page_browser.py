"""The mask painter in real Chromium (issue 23): on a segmentation item the page draws
the model's predicted mask over the image (each pixel its class's colour blended over
the image's grey); a class key chooses the class, the mouse
paints pixels, Enter saves the mask shown (the guess plus the strokes), and the session
stores exactly that mask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bayesal.session import LabellingSession
from bayesal.web.script import MASK_ALPHA, MASK_PALETTE

from .conftest import start_labelling, wait_for
from .test_segmentation_page import seg_session  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _ref(session_dir: Path, item: int) -> str:
    session = LabellingSession.open(session_dir)
    try:
        return session.check_item(item)[1]
    finally:
        session.close()


def _canvas_pixels(page: Any, height: int, width: int) -> np.ndarray:
    """The RGB of each mask pixel's centre on the page's canvas, ``[H, W, 3]``."""
    values = page.evaluate(
        """([h, w]) => {
          const canvas = document.getElementById("seg-canvas");
          const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
          const sx = canvas.width / w, sy = canvas.height / h, out = [];
          for (let r = 0; r < h; r++) {
            for (let c = 0; c < w; c++) {
              const x = Math.floor((c + 0.5) * sx), y = Math.floor((r + 0.5) * sy);
              const i = 4 * (y * canvas.width + x);
              out.push(data.data[i], data.data[i + 1], data.data[i + 2]);
            }
          }
          return out;
        }""",
        [height, width],
    )
    return np.asarray(values, dtype=np.float64).reshape(height, width, 3)


def test_painting_with_the_mouse_and_enter_stores_the_guess_plus_the_strokes(
    seg_session: tuple[Path, np.ndarray],  # noqa: F811
    server_for,
    chromium,
) -> None:
    session_dir, _ = seg_session
    server = server_for(session_dir, "--no-retrain")
    page = start_labelling(chromium, server.url, "pam", mode="form")
    wait_for(page, "() => document.body.dataset.maskReady === '1'")
    item = int(page.get_attribute("#seg", "data-item"))
    height = int(page.get_attribute("#seg", "data-height"))
    width = int(page.get_attribute("#seg", "data-width"))
    session = LabellingSession.open(session_dir)
    try:
        guess = session.guess_mask(item)
    finally:
        session.close()
    assert guess is not None
    box = page.locator("#seg-canvas").bounding_box()
    assert box is not None

    def centre(row: int, col: int) -> tuple[float, float]:
        return (
            box["x"] + (col + 0.5) * box["width"] / width,
            box["y"] + (row + 0.5) * box["height"] / height,
        )

    # The predicted mask is drawn over the image: each pixel the class's colour blended
    # at MASK_ALPHA over the image's grey ("o" hides the overlay: the grey alone).
    image = np.asarray(Image.open(session_dir.parent / "images" / _ref(session_dir, item)))
    on = _canvas_pixels(page, height, width)
    page.keyboard.press("o")
    off = _canvas_pixels(page, height, width)
    page.keyboard.press("o")
    np.testing.assert_allclose(off[..., 0], image, atol=1)
    colours = np.asarray(MASK_PALETTE, dtype=np.float64)[guess % len(MASK_PALETTE)]
    alpha = MASK_ALPHA / 255
    blend = (1 - alpha) * image[..., None] + alpha * colours
    np.testing.assert_allclose(on, blend, atol=2)

    page.keyboard.press("3")  # the third class (square), brush 1 pixel
    assert "active" in (page.get_attribute("button.seg-class[data-class='2']", "class") or "")
    page.mouse.move(*centre(1, 1))
    page.mouse.down()
    page.mouse.move(*centre(1, 4), steps=12)  # a stroke along row 1, columns 1 to 4
    page.mouse.up()
    page.keyboard.press("2")  # circle: one click at (10, 7)
    page.mouse.click(*centre(10, 7))
    expected = guess.copy()
    expected[1, 1:5] = 2
    expected[10, 7] = 1
    with page.expect_navigation():
        page.keyboard.press("Enter")
    wait_for(page, "(prev) => document.body.dataset.item !== String(prev)", item)
    session = LabellingSession.open(session_dir)
    try:
        np.testing.assert_array_equal(session.mask_of(item), expected)
        assert session.label_of(item)[1].annotator == "pam"
    finally:
        session.close()
