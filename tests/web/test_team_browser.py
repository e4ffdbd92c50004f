"""The team pages in real Chromium: yes/no for one class by keyboard, filtering the
browse grid and labelling 10 items at once, changing a label from the history, and two
annotators whose overlapping labels disagree, resolved by a reviewer signed in by token.
Every action is checked in the session's log afterwards."""

from __future__ import annotations

import httpx
import pytest

from bayesal.session import LabellingSession

from .conftest import FAST_TRAINING, label_and_retrain, start_labelling, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TOKENS = {"alice-token-4567": "alice", "bob-token-891011": "bob", "rita-token-121314": "rita"}


@pytest.fixture
def trained(session_factory):
    session_dir, truth = session_factory(
        n=80, training=FAST_TRAINING, stop_set_size=20, queue_size=30
    )
    label_and_retrain(session_dir, truth, 10)
    return session_dir, truth


def _tiles(page) -> list[int]:
    shown = page.locator("label.tile").evaluate_all("ts => ts.map(t => t.dataset.item)")
    return [int(t) for t in shown]


def _session(session_dir):
    return LabellingSession.open(session_dir)


def test_yes_no_for_one_class_by_keyboard(trained, server_for, chromium, read_events):
    session_dir, truth = trained
    server = server_for(session_dir, "--no-retrain")
    page = start_labelling(chromium, server.url, "yuki")
    page.click("nav.links a[href='/yesno']")
    page.click("a.button:text-is('three')")
    asked = []
    for key in ("y", "n", "s", "n"):
        item = int(page.locator("input[name=item_id]").get_attribute("value"))
        assert page.locator("#question").inner_text() == "Is this three?"
        with page.expect_navigation():
            page.keyboard.press(key)
        asked.append((item, key))
    assert "not three: noted" in page.locator("#flash").inner_text()
    session = _session(session_dir)
    try:
        yes = [i for i, k in asked if k == "y"]
        nos = [i for i, k in asked if k == "n"]
        assert [session.resolved_labels().get(i) for i in yes] == ["three"]
        assert [(n["item_id"], n["label"]) for n in session.negatives()] == [
            (i, "three") for i in nos
        ]
    finally:
        session.close()
    mine = [(e[1], e[2]) for e in read_events(session_dir) if e[4] == "yuki"]
    assert mine == [(asked[0][0], "label"), (asked[2][0], "skip")]


def test_browse_filter_and_bulk_label_ten_items(trained, server_for, chromium, read_events):
    session_dir, truth = trained
    server = server_for(session_dir, "--no-retrain")
    page = start_labelling(chromium, server.url, "bea")
    pool = httpx.get(f"{server.url}/api/items?labelled=false&limit=500").json()["items"]
    guesses = [it["prediction"]["label"] for it in pool]
    name = max(sorted(set(guesses)), key=guesses.count)  # the class with most candidates
    page.goto(server.url + "/browse")
    page.select_option("#f-predicted", name)
    page.select_option("#f-labelled", "false")
    page.select_option("#f-sort", "probability")
    with page.expect_navigation():
        page.click("#apply")
    expected = httpx.get(
        f"{server.url}/api/items",
        params={"predicted": name, "labelled": "false", "sort": "probability", "limit": 48},
    ).json()["items"]
    tiles = [
        int(t) for t in page.locator("label.tile").evaluate_all("ts => ts.map(t => t.dataset.item)")
    ]
    assert tiles == [it["item_id"] for it in expected] and len(tiles) >= 10
    chosen = tiles[:10]
    for item in chosen:
        page.check(f"label.tile[data-item='{item}'] input")
    page.select_option("#bulk select[name=label]", "one")
    with page.expect_navigation():
        page.click("#bulk-label")
    assert "Labelled 10 items as one." in page.locator("#flash").inner_text()
    # The filter stays: those ten are labelled now, so no longer shown.
    left = [
        int(t) for t in page.locator("label.tile").evaluate_all("ts => ts.map(t => t.dataset.item)")
    ]
    assert not set(chosen) & set(left)
    assert [(e[1], e[2], e[3]) for e in read_events(session_dir) if e[4] == "bea"] == [
        (i, "label", 1) for i in chosen
    ]


def test_change_a_label_from_the_history(digits_session, server_for, chromium, read_events):
    session_dir, truth = digits_session
    server = server_for(session_dir, "--no-retrain")
    page = start_labelling(chromium, server.url, "hana")
    items = []
    item = wait_ready(page)
    for _ in range(3):
        page.keyboard.press(str((truth[item] + 1) % 10))
        items.append(item)
        item = wait_ready(page, not_item=item)
    page.click("nav.links a[href='/history']")
    rows = page.locator("#history tr")
    assert rows.count() == 3
    first_event = read_events(session_dir)[0][0]
    row = page.locator(f"tr[data-event='{first_event}']")
    row.locator("select[name=label]").select_option("eight")
    with page.expect_navigation():
        row.locator("button").click()
    assert f"corrects {first_event})" in page.locator("#flash").inner_text()
    assert httpx.get(f"{server.url}/api/items/{items[0]}").json()["label"] == "eight"
    logged = [(e[1], e[2], e[4]) for e in read_events(session_dir)]
    assert logged == [(i, "label", "hana") for i in items] + [(items[0], "label", "hana")]


def test_overlap_conflict_resolved_by_a_reviewer(session_factory, server_for, chromium, tmp_path):
    session_dir, truth = session_factory(n=30, resolve="reviewer", overlap=1.0, reviewers=["rita"])
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("".join(f"{t}: {n}\n" for t, n in TOKENS.items()))
    server = server_for(session_dir, "--no-retrain", "--annotator-tokens", str(tokens))
    token = {name: t for t, name in TOKENS.items()}

    def open_as(name):
        context = chromium.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.goto(f"{server.url}/label?token={token[name]}")
        wait_ready(page)
        return page

    alice = open_as("alice")
    item = wait_ready(alice)
    alice.keyboard.press("2")  # "one"
    wait_ready(alice, not_item=item)
    bob = open_as("bob")
    assert wait_ready(bob) == item  # the overlap: served to a second annotator
    bob.keyboard.press("3")  # "two": they disagree
    wait_ready(bob, not_item=item)

    rita = open_as("rita")
    rita.goto(server.url + "/review")
    assert rita.locator("#conflict-count").inner_text() == "1"
    card = rita.locator(f"section.conflict[data-item='{item}']")
    assert "alice" in card.inner_text() and "bob" in card.inner_text()
    with rita.expect_navigation():
        card.locator("button[value='two']").click()
    assert f"Item {item} resolved as two." in rita.locator("#flash").inner_text()
    assert rita.locator("#conflict-count").inner_text() == "0"
    bob.goto(server.url + "/review")
    assert "not a reviewer" in bob.content()
    session = _session(session_dir)
    try:
        assert session.resolved_labels()[item] == "two" and session.conflicts() == []
        assert session.agreement()["items"] == 1
    finally:
        session.close()
