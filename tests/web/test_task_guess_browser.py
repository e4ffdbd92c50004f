"""The model's guess in real Chromium (issue 23): on a regression item the learner's
mean is filled in and selected, so Enter accepts it and typing replaces it; on a
multi-label item the predicted classes are ticked and Enter saves them."""

from __future__ import annotations

import pytest

from bayesal.session import LabellingSession

from .conftest import start_labelling, wait_ready
from .test_task_guess import FAST, NAMES, _trained

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_enter_accepts_the_filled_in_regression_guess_and_typing_replaces_it(
    session_factory, server_for, chromium
) -> None:
    session_dir, truth = session_factory(
        n=30, task="regression", labels=None, training=FAST, queue_size=10
    )
    guess = _trained(session_dir, truth, 8)
    server = server_for(session_dir, "--no-retrain")
    page = start_labelling(chromium, server.url, "noa", mode="form")
    item = wait_ready(page)
    assert item == guess["item_id"]
    filled = f"{guess['mean']:.6g}"
    assert page.input_value("#value") == filled
    assert page.evaluate("document.activeElement.id") == "value"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    second = wait_ready(page, not_item=item)
    assert page.input_value("#value") != ""  # the next item's guess, selected
    page.keyboard.type("7.5")  # replaces the selected guess
    with page.expect_navigation():
        page.keyboard.press("Enter")
    wait_ready(page, not_item=second)
    session = LabellingSession.open(session_dir)
    try:
        resolved = session.resolved_labels()
        assert resolved[item] == pytest.approx(float(filled))
        assert resolved[second] == 7.5
    finally:
        session.close()


def test_enter_saves_the_ticked_multilabel_guess(session_factory, server_for, chromium) -> None:
    session_dir, truth = session_factory(
        n=30, task="multilabel", labels=NAMES, training=FAST, queue_size=10
    )
    guess = _trained(session_dir, truth, 8)
    server = server_for(session_dir, "--no-retrain")
    page = start_labelling(chromium, server.url, "mia", mode="form")
    item = wait_ready(page)
    assert item == guess["item_id"]
    ticked = page.locator("input[name=labels]").evaluate_all("bs => bs.map(b => b.checked)")
    assert ticked == [name in guess["labels"] for name in NAMES]
    with page.expect_navigation():
        page.keyboard.press("Enter")
    session = LabellingSession.open(session_dir)
    try:
        assert session.resolved_labels()[item] == guess["labels"]
    finally:
        session.close()
