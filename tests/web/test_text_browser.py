"""A text session in real Chromium on the fast path: after a key labels an item, the
script draws the next item's text (as text, never as markup)."""

from __future__ import annotations

import pytest

from .conftest import start_labelling, wait_ready
from .test_text_pages import _make_text_session

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_the_fast_path_draws_each_next_items_text(tmp_path, server_for, chromium):
    session_dir, texts = _make_text_session(tmp_path / "t")
    server = server_for(session_dir, "--no-retrain")
    page = start_labelling(chromium, server.url, "ann", mode="fast")
    page.evaluate(
        "() => { window.__alerted = false; window.alert = () => { window.__alerted = true; }; }"
    )
    assert page.evaluate("document.body.dataset.mode") == "fast"
    item = wait_ready(page)
    seen = [item]
    assert page.locator("#item-text").text_content() == texts[item]
    while 500 not in seen[1:] and len(seen) < len(
        texts
    ):  # until the script draws the <script> text
        page.keyboard.press("1")
        item = wait_ready(page, not_item=item)
        seen.append(item)
        assert page.locator("#item-text").text_content() == texts[item]
        assert page.locator("#item-text script").count() == 0
    assert 500 in seen and page.evaluate("window.__alerted") is False
