"""Multi-label and regression items in real Chromium: a class's key toggles its checkbox
and Enter saves the ticked set; a typed number is saved by Enter."""

from __future__ import annotations

import pytest

from bayesal.session import LabellingSession

from .conftest import start_labelling, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_multilabel_keys_toggle_and_enter_saves(session_factory, server_for, chromium):
    session_dir, _ = session_factory(n=20, task="multilabel", labels=["round", "straight", "loop"])
    server = server_for(session_dir, "--no-retrain")
    page = start_labelling(chromium, server.url, "mia", mode="fast")
    assert page.evaluate("document.body.dataset.mode") == "form"  # plain forms here
    item = wait_ready(page)
    for key in ("1", "3", "2", "2"):  # round, loop, straight, straight again: off
        page.keyboard.press(key)
    checked = page.locator("input[name=labels]").evaluate_all("bs => bs.map(b => b.checked)")
    assert checked == [True, False, True]
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"Saved item {item} as round, loop." in page.locator("#flash").inner_text()
    session = LabellingSession.open(session_dir)
    try:
        assert session.resolved_labels() == {item: ["round", "loop"]}
    finally:
        session.close()


def test_regression_number_saved_by_enter(session_factory, server_for, chromium):
    session_dir, _ = session_factory(n=20, task="regression", labels=None)
    server = server_for(session_dir, "--no-retrain")
    page = start_labelling(chromium, server.url, "noa", mode="fast")
    item = wait_ready(page)
    page.fill("#value", "2.75")
    with page.expect_navigation():
        page.press("#value", "Enter")
    assert f"Saved item {item} as 2.75." in page.locator("#flash").inner_text()
    session = LabellingSession.open(session_dir)
    try:
        assert session.resolved_labels() == {item: 2.75}
    finally:
        session.close()
