"""Multi-label and regression sessions on the label page (plain forms: a checkbox per
class whose key toggles it, or a number; Enter saves) and over the JSON API."""

from __future__ import annotations

import json

from bayesal.session import LabellingSession


def _shown(page: str) -> int:
    return int(page.split('name="item_id" value="')[1].split('"')[0])


def test_multilabel_items_get_a_checkbox_per_class(session_factory, client_for, read_events):
    session_dir, _ = session_factory(n=30, task="multilabel", labels=["round", "straight", "loop"])
    client = client_for(session_dir)
    client.post("/start", data={"annotator": "mia"})
    page = client.get("/label").text
    assert page.count('type="checkbox" name="labels"') == 3 and 'data-keys="1"' in page
    assert 'data-keys="enter"' in page and 'data-task="multilabel"' in page
    item = _shown(page)
    answer = client.post("/label", data={"item_id": item, "labels": ["loop", "round"]})
    assert answer.status_code == 303
    assert f"Saved item {item} as round, loop." in client.get("/label").text
    # None of the classes is an answer too.
    second = _shown(client.get("/label").text)
    client.post("/label", data={"item_id": second, "expect": 0})
    third = client.post("/api/next", json={"annotator": "mia"}).json()["item"]["item_id"]
    over_api = client.post(
        "/api/label", json={"item_id": third, "label": ["straight"], "annotator": "mia"}
    )
    assert over_api.status_code == 200 and over_api.json()["label"] == ["straight"]
    bad = client.post(
        "/api/label", json={"item_id": third, "label": ["square"], "annotator": "mia"}
    )
    assert bad.status_code == 422 and "square" in bad.json()["error"]
    session = LabellingSession.open(session_dir)
    try:
        resolved = session.resolved_labels()
        assert (resolved[item], resolved[second], resolved[third]) == (
            ["round", "loop"],
            [],
            ["straight"],
        )
    finally:
        session.close()
    assert client.get(f"/api/items/{item}").json()["value"] == ["round", "loop"]
    assert len(read_events(session_dir)) == 3


def test_regression_items_get_a_number(session_factory, client_for, read_events):
    session_dir, _ = session_factory(n=30, task="regression", labels=None)
    client = client_for(session_dir)
    client.post("/start", data={"annotator": "noa"})
    page = client.get("/label").text
    assert 'type="number" name="value"' in page and 'data-task="regression"' in page
    item = _shown(page)
    assert client.post("/label", data={"item_id": item, "value": "3.25"}).status_code == 303
    assert f"Saved item {item} as 3.25." in client.get("/label").text
    second = _shown(client.get("/label").text)
    client.post("/label", data={"item_id": second, "value": "nan"})
    refused = client.get("/label").text
    assert 'class="flash bad"' in refused and "Saved item" not in refused
    answer = client.post("/api/label", json={"item_id": second, "label": -1.5, "annotator": "noa"})
    assert answer.status_code == 200 and answer.json()["label"] == -1.5
    for bad in ("abc", True, float("inf")):
        payload = {"item_id": second, "label": bad, "annotator": "noa"}
        response = client.post(
            "/api/label",
            content=json.dumps(payload, allow_nan=True),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422, bad
    assert [(e[1], e[2]) for e in read_events(session_dir)] == [(item, "label"), (second, "label")]
