"""Browse, bulk label and the yes/no mode, in-process (TestClient): the JSON API, its
checks of every query parameter, and the plain-form pages without JavaScript."""

from __future__ import annotations

import pytest

from bayesal.session import LabellingSession

from .conftest import DIGIT_NAMES, FAST_TRAINING, label_and_retrain


@pytest.fixture
def trained(session_factory):
    """A 60-digit session with 10 labels (annotator ``seed``) and one retrain: every
    pool item has a prediction."""
    session_dir, truth = session_factory(
        n=60, training=FAST_TRAINING, stop_set_size=20, queue_size=30
    )
    label_and_retrain(session_dir, truth, 10)
    return session_dir, truth


def _predictions(session_dir) -> dict[int, dict]:
    session = LabellingSession.open(session_dir)
    try:
        return {p["item_id"]: p for p in session.predictions()}
    finally:
        session.close()


def test_items_filtered_by_predicted_class_unlabelled_sorted_by_uncertainty(trained, client_for):
    session_dir, truth = trained
    predictions = _predictions(session_dir)
    assert len(predictions) == 60
    client = client_for(session_dir)
    name = max(DIGIT_NAMES, key=lambda n: sum(p["predicted"] == n for p in predictions.values()))
    answer = client.get(
        "/api/items", params={"predicted": name, "labelled": "false", "sort": "uncertainty"}
    )
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    labelled = set(sorted(truth)[:10])
    expected = sorted(
        (i for i, p in predictions.items() if p["predicted"] == name and i not in labelled),
        key=lambda i: (-predictions[i]["uncertainty"], i),
    )
    assert [it["item_id"] for it in items] == expected and answer.json()["total"] == len(expected)
    assert all(it["prediction"]["label"] == name and it["label"] is None for it in items)
    # limit, probability order, labelled only, by annotator, text in the ref.
    top = client.get("/api/items?sort=probability&order=desc&limit=3").json()["items"]
    probs = sorted((p["probability"] for p in predictions.values()), reverse=True)[:3]
    assert [pytest.approx(it["prediction"]["probability"]) for it in top] == probs
    done = client.get("/api/items?labelled=true&limit=500").json()["items"]
    assert {it["item_id"] for it in done} == labelled
    assert all(it["annotators"] == ["seed"] for it in done)
    assert {it["item_id"] for it in client.get("/api/items?annotator=seed").json()["items"]} == (
        labelled
    )
    assert client.get("/api/items?annotator=nobody").json()["items"] == []
    ref = items[0]["ref"]
    found = client.get("/api/items", params={"q": ref.upper()}).json()["items"]
    assert [it["item_id"] for it in found] == [items[0]["item_id"]]
    low = client.get("/api/items?min_prob=0.2&max_prob=0.5&limit=500").json()["items"]
    assert all(0.2 <= it["prediction"]["probability"] <= 0.5 for it in low)
    assert len(low) == sum(0.2 <= p["probability"] <= 0.5 for p in predictions.values())


def test_items_filtered_by_unsure_notes(trained, client_for):
    session_dir, _ = trained
    session = LabellingSession.open(session_dir)
    session.note(5, "alice", unsure=True, comment="blurry")
    session.note(6, "alice", unsure=True)
    session.note(6, "alice", unsure=False)  # the latest note counts
    session.close()
    client = client_for(session_dir)
    unsure = client.get("/api/items?unsure=true").json()["items"]
    assert [it["item_id"] for it in unsure] == [5] and unsure[0]["unsure"] is True
    assert 5 not in {
        it["item_id"] for it in client.get("/api/items?unsure=false&limit=500").json()["items"]
    }


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("colour=red", "colour"),
        ("predicted=eleven", "predicted"),
        ("min_prob=2", "min_prob"),
        ("min_prob=nan", "min_prob"),
        ("max_uncertainty=-1", "max_uncertainty"),
        ("labelled=maybe", "labelled"),
        ("sort=name", "sort"),
        ("order=up", "order"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("offset=-3", "offset"),
        ("min_prob=0.8&max_prob=0.2", "min_prob"),
        ("limit=5&limit=6", "limit"),
        ("annotator=%01x", "annotator"),
    ],
)
def test_items_refuse_a_bad_query_parameter_naming_it(trained, client_for, query, names):
    session_dir, _ = trained
    client = client_for(session_dir)
    answer = client.get(f"/api/items?{query}")
    assert answer.status_code == 422, answer.text
    assert names in answer.json()["error"]


def test_bulk_label_records_one_event_per_item(trained, client_for, read_events):
    session_dir, _ = trained
    client = client_for(session_dir)
    before = len(read_events(session_dir))
    ids = [it["item_id"] for it in client.get("/api/items?labelled=false&limit=12").json()["items"]]
    # Bob holds one of them: it is refused, the others are labelled.
    held = client.post("/api/next", json={"annotator": "bob"}).json()["item"]["item_id"]
    chosen = [*[i for i in ids if i != held][:10], held]
    answer = client.post(
        "/api/items/label", json={"item_ids": chosen, "label": "seven", "annotator": "alice"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [d["item_id"] for d in body["labelled"]] == chosen[:10]
    assert [r["item_id"] for r in body["refused"]] == [held]
    assert "leased to another annotator" in body["refused"][0]["error"]
    new = read_events(session_dir)[before:]
    assert [(e[0], e[1], e[2], e[3], e[4]) for e in new] == [
        (d["event_id"], d["item_id"], "label", 7, "alice") for d in body["labelled"]
    ]
    # Duplicates, an empty list, an unknown label: refused whole, nothing recorded.
    for bad in (
        {"item_ids": [chosen[0], chosen[0]], "label": "one"},
        {"item_ids": [], "label": "one"},
        {"item_ids": [chosen[0]], "label": "eleven"},
        {"item_ids": ["x"], "label": "one"},
    ):
        assert (
            client.post("/api/items/label", json={**bad, "annotator": "alice"}).status_code == 422
        )
    assert len(read_events(session_dir)) == before + 10


def test_browse_page_filters_and_bulk_labels_without_javascript(trained, client_for, read_events):
    session_dir, _ = trained
    client = client_for(session_dir)
    client.post("/start", data={"annotator": "dana"})
    page = client.get("/browse?labelled=false&sort=uncertainty&limit=6")
    assert page.status_code == 200 and page.text.count('name="item_ids"') == 6
    ids = [int(x.split('"')[0]) for x in page.text.split('name="item_ids" value="')[1:]]
    back = "labelled=false&sort=uncertainty&limit=6"
    answer = client.post(
        "/browse/label", data={"item_ids": ids[:4], "label": "three", "back": back}
    )
    assert answer.status_code == 303
    assert (
        answer.headers["location"].startswith("/browse?")
        and "labelled=false" in answer.headers["location"]
    )
    assert "Labelled 4 items as three." in client.get(answer.headers["location"]).text
    mine = [(e[1], e[3]) for e in read_events(session_dir) if e[4] == "dana"]
    assert mine == [(i, 3) for i in ids[:4]]
    bad = client.get("/browse?min_prob=7")
    assert bad.status_code == 422 and "min_prob" in bad.text


def test_yes_no_mode_yes_labels_no_is_a_negative_skip_passes(trained, client_for, read_events):
    session_dir, _ = trained
    predictions = _predictions(session_dir)
    client = client_for(session_dir)
    name = "one"
    first = client.post("/api/yesno/next", json={"label": name, "annotator": "erin"}).json()["item"]
    # The most probable unlabelled candidate for the class, leased to erin.
    labelled = {e[1] for e in read_events(session_dir)}
    best = max(
        (i for i in predictions if i not in labelled),
        key=lambda i: (predictions[i]["probs"][name], -i),
    )
    assert first["item_id"] == best
    assert client.get("/api/status").json()["active_leases"] == 1

    yes = client.post(
        "/api/yesno", json={"item_id": best, "label": name, "answer": "yes", "annotator": "erin"}
    ).json()
    second = yes["next"]["item_id"]
    no = client.post(
        "/api/yesno", json={"item_id": second, "label": name, "answer": "no", "annotator": "erin"}
    ).json()
    third = no["next"]["item_id"]
    skip = client.post(
        "/api/yesno", json={"item_id": third, "label": name, "answer": "skip", "annotator": "erin"}
    ).json()
    assert len({best, second, third, skip["next"]["item_id"]}) == 4
    session = LabellingSession.open(session_dir)
    try:
        assert session.resolved_labels()[best] == name
        assert [(n["item_id"], n["label"], n["annotator"]) for n in session.negatives()] == [
            (second, name, "erin")
        ]
        assert second not in session.resolved_labels()
    finally:
        session.close()
    kinds = [(e[1], e[2]) for e in read_events(session_dir) if e[4] == "erin"]
    assert kinds == [(best, "label"), (third, "skip")]
    # Bad answers and classes are refused.
    for bad in (
        {"item_id": third, "label": name, "answer": "maybe"},
        {"item_id": third, "label": "eleven", "answer": "yes"},
    ):
        assert client.post("/api/yesno", json={**bad, "annotator": "erin"}).status_code == 422


def test_yes_no_page_works_as_plain_forms(trained, client_for, read_events):
    session_dir, _ = trained
    client = client_for(session_dir)
    client.post("/start", data={"annotator": "finn"})
    assert "Pick a class" in client.get("/yesno").text
    page = client.get("/yesno?label=two").text
    assert 'data-keys="y"' in page and "Is this two?" in page
    item = int(page.split('name="item_id" value="')[1].split('"')[0])
    answer = client.post("/yesno", data={"item_id": item, "label": "two", "answer": "yes"})
    assert answer.status_code == 303 and answer.headers["location"] == "/yesno?label=two"
    assert f"Saved item {item} as two." in client.get("/yesno?label=two").text
    assert [(e[1], e[3]) for e in read_events(session_dir) if e[4] == "finn"] == [(item, 2)]
    assert client.get("/yesno?label=eleven").status_code == 422


def test_new_post_routes_refuse_cross_site_requests_and_need_the_token(trained, client_for):
    session_dir, _ = trained
    client = client_for(session_dir)
    evil = {"origin": "http://evil.example"}
    for path, body in (
        ("/api/items/label", {"item_ids": [20], "label": "one", "annotator": "x"}),
        ("/api/yesno", {"item_id": 20, "label": "one", "answer": "yes", "annotator": "x"}),
        ("/api/history/edit", {"event_id": 1, "label": "one", "annotator": "seed"}),
        ("/api/resolve", {"item_id": 20, "label": "one"}),
    ):
        assert client.post(path, json=body, headers=evil).status_code == 403, path
    locked = client_for(session_dir, token="shared-secret-123")
    assert locked.get("/api/items").status_code == 401
    assert locked.get("/browse", headers={"accept": "text/html"}).status_code == 401
    assert locked.post("/api/items/label", json={"item_ids": [20], "label": 1}).status_code == 401
