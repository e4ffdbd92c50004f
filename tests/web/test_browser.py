"""The labelling UI in a real browser (Debian's chromium, driven by Playwright's Python
package; never a downloaded browser).

One session of 200 digit images, on the form path (``?mode=form``: a page load per
key, as without JavaScript): label 30 by keyboard (the digit key of the true
class), watch a background retrain re-rank the queue, undo one label (``u``) and give
it again, stop the server with SIGTERM, start it again, and find all 30 labels intact
through the API, the page and the SQLite file.

``BAYESAL_SCREENSHOT=1`` saves the page to ``docs/images/labelling-ui.png``.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest

from bayesal.web.pages import class_keys

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).parents[2] / "docs" / "images" / "labelling-ui.png"


def _shown_item(page) -> int:
    return int(page.locator("#label-form input[name=item_id]").get_attribute("value"))


def _press(page, key: str) -> None:
    """Press ``key`` and wait for the page the form's redirect leads to."""
    with page.expect_navigation(wait_until="load"):
        page.keyboard.press(key)


def _wait_for_round(url: str, at_least: int, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/api/status", timeout=10).json()
        if status["round"] is not None and status["round"] >= at_least:
            return status
        time.sleep(0.5)
    raise AssertionError(f"no round {at_least} within {timeout} s")


def test_label_by_keyboard_retrain_undo_and_restart(
    session_factory, server_for, read_events, tmp_path
):
    if CHROMIUM is None:  # (a failure where CI is set: tests/conftest.py)
        pytest.skip("chromium is not installed (Debian: `apt-get install -y chromium`)")
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="Playwright's Python package is not installed (the dev extra: `make test` "
        "installs it; never `playwright install`, the browser is Debian's chromium)",
    )
    session_dir, truth = session_factory(n=200, retrain_every=10, queue_size=20)
    names = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ]  # fmt: skip
    keys = class_keys(10)
    server = server_for(session_dir)
    queue_before = [q["item_id"] for q in httpx.get(f"{server.url}/api/queue").json()["items"]]
    labelled: dict[int, int] = {}

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(server.url + "/")
        page.fill("#annotator", "alice")
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.url.endswith("/label")
        # The form path (Post/Redirect/Get, a page load per key), as without JavaScript;
        # the JSON path is tested in test_fast_page.py.
        page.goto(server.url + "/label?mode=form")

        def label_one() -> int:
            item = _shown_item(page)
            assert item not in labelled, f"item {item} shown again after it was labelled"
            _press(page, keys[truth[item]])
            labelled[item] = truth[item]
            assert (
                f"Saved item {item} as {names[truth[item]]}" in page.locator("#flash").inner_text()
            )
            return item

        for _ in range(15):
            label_one()
        # The first retrain (after 10 labels) runs in the background; labelling went on.
        status = _wait_for_round(server.url, 1)
        assert status["round_labels"] >= 10
        page.reload()
        assert int(page.locator("#round").inner_text().split()[-1]) >= 1
        queue_after = httpx.get(f"{server.url}/api/queue").json()
        assert queue_after["round"] >= 1
        assert [q["item_id"] for q in queue_after["items"]] != queue_before  # re-ranked
        assert all(q["predicted"] is not None for q in queue_after["items"])

        last = None
        for n in range(15):
            last = label_one()
            if n == 0:  # the item held before the retrain is done: now the new queue's
                assert page.locator("#predicted").inner_text() in names  # model's guess
        assert len(labelled) == 30

        # Undo the last label with the keyboard: the same item comes back; label it again.
        _press(page, "u")
        assert "Took back your label of item" in page.locator("#flash").inner_text()
        assert _shown_item(page) == last
        _press(page, keys[truth[last]])
        assert f"Saved item {last}" in page.locator("#flash").inner_text()

        _wait_for_round(server.url, 2)
        page.reload()
        page.wait_for_load_state("networkidle")
        assert page.locator("#item-image").evaluate("img => img.naturalWidth") == 8
        shot = SCREENSHOT if os.environ.get("BAYESAL_SCREENSHOT") == "1" else tmp_path / "ui.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)

        # Stop the server as a service manager would, and start it again.
        # (uvicorn shuts down, then re-raises the signal: exit status -SIGTERM.)
        assert server.stop(signal.SIGTERM, timeout=30) in (0, -signal.SIGTERM)
        server.start()
        page.goto(server.url + "/label")
        assert page.locator("#num-labelled").inner_text() == "30"
        assert page.locator(".who strong").inner_text() == "alice"
        browser.close()

    status = httpx.get(f"{server.url}/api/status").json()
    assert status["num_labelled"] == 30 and status["per_annotator"] == {"alice": 30}
    for item, label in labelled.items():
        shown = httpx.get(f"{server.url}/api/items/{item}").json()
        assert shown["label"] == names[label], item
    logged = read_events(session_dir)
    assert [e[2] for e in logged].count("label") == 31 and [e[2] for e in logged].count("undo") == 1
    from bayesal.session import LabellingSession

    session = LabellingSession.open(session_dir)
    assert session.labels() == labelled
    session.close()
