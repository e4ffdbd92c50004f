"""The model's guess on the label page of multi-label and regression sessions (issue
23): the classes the session's learner predicts are ticked (with each class's
probability) or its predictive mean is filled in (with the 90% interval), so saving the
form unchanged (Enter) records the guess; the JSON API hands out the same guess."""

from __future__ import annotations

import html

import pytest

from bayesal.session import LabellingSession

NAMES = ["even", "big", "loop"]
FAST = {"epochs": 2, "min_steps": 20, "batch_size": 32}


def _classes(digit: int) -> list[str]:
    flags = [digit % 2 == 0, digit >= 5, digit in (0, 6, 8, 9)]
    return [name for name, flag in zip(NAMES, flags, strict=True) if flag]


def _trained(session_dir, truth: dict[int, int], n: int) -> dict:
    """Label ``n`` items as the session serves them, retrain; the first queued item's
    guess, as the session records it."""
    session = LabellingSession.open(session_dir)
    try:
        for _ in range(n):
            view = session.next_item("seed")
            digit = truth[view.item_id]
            answer = _classes(digit) if session.task == "multilabel" else 10.0 + 2.0 * digit
            session.label(view.item_id, answer, "seed")
        session.retrain()
        first = session.store.queue()[0].item_id
        guess = session.item_view(first).guess
        assert guess is not None
        return {"item_id": first, **guess}
    finally:
        session.close()


def _shown(page: str) -> int:
    return int(page.split('name="item_id" value="')[1].split('"')[0])


def test_the_multilabel_page_ticks_the_learners_guess_and_saving_it_records_it(
    session_factory, client_for
) -> None:
    session_dir, truth = session_factory(
        n=30, task="multilabel", labels=NAMES, training=FAST, queue_size=10
    )
    guess = _trained(session_dir, truth, 8)
    client = client_for(session_dir)
    client.post("/start", data={"annotator": "mia"})
    page = client.get("/label").text
    assert _shown(page) == guess["item_id"]  # the top of the new queue
    for name in NAMES:
        box = page.split(f'name="labels" value="{name}"')[1].split(">")[0]
        assert ("checked" in box) == (name in guess["labels"]), name
        assert f"{100 * guess['probs'][name]:.0f}%" in page.split(f'value="{name}"')[1][:200]
    assert 'id="guess"' in page and "Probability of this set" in page
    label_text = ", ".join(guess["labels"]) or "none of them"
    assert f'<span id="predicted">{html.escape(label_text)}</span>' in page
    api = client.get(f"/api/items/{guess['item_id']}").json()["prediction"]
    assert api["labels"] == guess["labels"] and api["probs"] == guess["probs"]
    assert api["uncertainty"] == guess["uncertainty"] and api["round"] == guess["round"]
    # Enter submits the form as it is: the ticked classes.
    answer = client.post(
        "/label", data={"item_id": guess["item_id"], "labels": guess["labels"], "expect": 0}
    )
    assert answer.status_code == 303
    session = LabellingSession.open(session_dir)
    try:
        assert session.resolved_labels()[guess["item_id"]] == guess["labels"]
    finally:
        session.close()


def test_the_regression_page_fills_in_the_learners_mean_and_shows_its_interval(
    session_factory, client_for
) -> None:
    session_dir, truth = session_factory(
        n=30, task="regression", labels=None, training=FAST, queue_size=10
    )
    guess = _trained(session_dir, truth, 8)
    client = client_for(session_dir)
    client.post("/start", data={"annotator": "noa"})
    page = client.get("/label").text
    assert _shown(page) == guess["item_id"]
    filled = f"{guess['mean']:.6g}"
    assert 'name="value" id="value" step="any" required autofocus' in page
    assert f'placeholder="a number" value="{filled}">' in page
    assert "90% interval" in page
    assert f"{guess['low']:.4g} to {guess['high']:.4g}" in page
    api = client.post("/api/next", json={"annotator": "noa"}).json()["item"]["prediction"]
    assert (api["mean"], api["low"], api["high"]) == (guess["mean"], guess["low"], guess["high"])
    assert api["label"] == f"{guess['mean']:.4g}"
    answer = client.post("/label", data={"item_id": guess["item_id"], "value": filled})
    assert answer.status_code == 303
    session = LabellingSession.open(session_dir)
    try:
        assert session.resolved_labels()[guess["item_id"]] == pytest.approx(float(filled))
    finally:
        session.close()


def test_a_task_page_before_any_model_says_there_is_no_guess_and_fills_in_nothing(
    session_factory, client_for
) -> None:
    session_dir, _ = session_factory(n=20, task="regression", labels=None, training=FAST)
    client = client_for(session_dir)
    client.post("/start", data={"annotator": "noa"})
    page = client.get("/label").text
    assert "No model prediction for this item yet" in page
    assert 'placeholder="a number">' in page  # no value filled in
