"""The label page's fast path in real Chromium: a key sends the label to the JSON API and
the next item is drawn in the same document (no navigation), its image loaded ahead;
``Enter`` accepts the model's guess. Timings are recorded (printed), never asserted."""

from __future__ import annotations

import httpx
import pytest

from bayesal.web.pages import class_keys

from .conftest import (
    DIGIT_NAMES,
    FAST_TRAINING,
    label_and_retrain,
    start_labelling,
    wait_for,
    wait_ready,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

KEYS = class_keys(10)


def _navigations(page) -> int:
    return int(page.evaluate("performance.getEntriesByType('navigation').length"))


def _loaded_images(page) -> set[str]:
    names = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    return {name.split("//", 1)[1].split("/", 1)[1] for name in names if "/image" in name}


def test_a_key_shows_the_next_item_without_a_page_load(
    session_factory, server_for, read_events, chromium
):
    session_dir, truth = session_factory(n=40)
    server = server_for(session_dir, "--no-retrain")
    page = start_labelling(chromium, server.url, "alice")
    assert page.evaluate("document.body.dataset.mode") == "fast"
    page.evaluate("window.sameDocument = 'yes'")
    start_url = page.url
    item = wait_ready(page)
    labelled = []
    for _ in range(8):
        # The item after this one was announced with it, and its image loaded ahead.
        after = int(wait_for(page, "() => document.body.dataset.after"))
        before = _loaded_images(page)
        assert f"items/{after}/image" in before, (after, before)
        page.keyboard.press(KEYS[truth[item]])
        labelled.append(item)
        shown = wait_ready(page, not_item=item)
        assert shown == after  # one annotator, no retrain: the hint was right
        name = DIGIT_NAMES[truth[item]]
        assert page.locator("#flash").inner_text() == f"Saved item {item} as {name}."
        assert page.locator("input[name=item_id]").first.get_attribute("value") == str(shown)
        assert page.locator("#item-image").get_attribute("src") == f"/items/{shown}/image"
        item = shown
    # One document all along: no navigation entry beyond the first, the script's
    # global still there, the address unchanged.
    assert _navigations(page) == 1
    assert page.evaluate("window.sameDocument") == "yes"
    assert page.url == start_url
    timings = page.evaluate("JSON.parse(sessionStorage.getItem('bayesalTimings'))")
    measures = page.evaluate("performance.getEntriesByName('bayesal-next').length")
    assert [t["mode"] for t in timings] == ["fast"] * 8 and measures == 8
    print("fast path, key to next item (ms):", [t["ms"] for t in timings])
    assert [(e[1], e[2], e[3], e[4]) for e in read_events(session_dir)] == [
        (i, "label", truth[i], "alice") for i in labelled
    ]
    # Progress follows in the background.
    wait_for(page, "() => document.getElementById('num-labelled').textContent === '8'")


def test_skip_and_undo_on_the_fast_path(session_factory, server_for, read_events, chromium):
    session_dir, truth = session_factory(n=30)
    server = server_for(session_dir, "--no-retrain")
    page = start_labelling(chromium, server.url, "bob")
    first = wait_ready(page)
    page.keyboard.press(KEYS[truth[first]])
    second = wait_ready(page, not_item=first)
    page.keyboard.press("s")
    third = wait_ready(page, not_item=second)
    assert page.locator("#flash").inner_text() == f"Skipped item {second}."
    page.keyboard.press("u")
    assert wait_ready(page, not_item=third) == first
    assert page.locator("#flash").inner_text() == f"Took back your label of item {first}."
    assert _navigations(page) == 1
    assert [(e[1], e[2]) for e in read_events(session_dir)] == [
        (first, "label"),
        (second, "skip"),
        (first, "undo"),
    ]


def test_enter_accepts_the_models_guess(session_factory, server_for, read_events, chromium):
    session_dir, truth = session_factory(
        n=60, training=FAST_TRAINING, stop_set_size=20, queue_size=30
    )
    label_and_retrain(session_dir, truth, 10)
    server = server_for(session_dir, "--no-retrain")
    page = start_labelling(chromium, server.url, "carol")
    accepted = []
    item = wait_ready(page)
    for _ in range(3):
        guess = httpx.get(f"{server.url}/api/items/{item}").json()["prediction"]["label"]
        assert page.locator("#accept").is_visible()
        assert page.locator("#accept-name").inner_text() == guess
        page.keyboard.press("Enter")
        accepted.append((item, guess))
        item = wait_ready(page, not_item=item)
    # And the button, clicked.
    guess = httpx.get(f"{server.url}/api/items/{item}").json()["prediction"]["label"]
    page.click("#accept")
    accepted.append((item, guess))
    wait_ready(page, not_item=item)
    names = httpx.get(f"{server.url}/api/status").json()["label_names"]
    mine = [(e[1], names[e[3]]) for e in read_events(session_dir) if e[4] == "carol"]
    assert mine == accepted
    assert _navigations(page) == 1
