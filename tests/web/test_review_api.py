"""History and edits, unsure flags and comments, agreement, and the conflicts queue with
its reviewer, in-process (TestClient): the JSON API and the plain-form pages."""

from __future__ import annotations

from bayesal.session import LabellingSession

ALICE = "alice-token-4567"
BOB = "bob-token-891011"
RITA = "rita-token-121314"
TOKENS = {ALICE: "alice", BOB: "bob", RITA: "rita"}


def _as(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_history_lists_my_labels_newest_first_and_an_edit_names_what_it_corrects(
    digits_session, client_for, read_events
):
    session_dir, truth = digits_session
    client = client_for(session_dir)
    done = []
    item = client.post("/api/next", json={"annotator": "alice"}).json()["item"]["item_id"]
    for _ in range(3):
        answer = client.post(
            "/api/label", json={"item_id": item, "label": truth[item], "annotator": "alice"}
        ).json()
        done.append(answer["event_id"])
        item = answer["next"]["item_id"]
    history = client.get("/api/history?annotator=alice").json()
    assert [h["event_id"] for h in history["items"]] == done[::-1] and history["total"] == 3
    assert all(h["current"] and not h["corrected"] for h in history["items"])

    oldest = history["items"][-1]
    edit = client.post(
        "/api/history/edit",
        json={"event_id": oldest["event_id"], "label": "nine", "annotator": "alice"},
    )
    assert edit.status_code == 200, edit.text
    assert edit.json()["corrects"] == oldest["event_id"] and edit.json()["label"] == "nine"
    after = client.get("/api/history?annotator=alice").json()["items"]
    assert (
        after[0]["event_id"] == edit.json()["event_id"]
        and after[0]["corrects"] == oldest["event_id"]
    )
    assert [h for h in after if h["event_id"] == oldest["event_id"]][0]["corrected"] is True
    assert client.get(f"/api/items/{oldest['item_id']}").json()["label"] == "nine"
    # Someone else's event, an unknown one, bad parameters: refused.
    assert (
        client.post(
            "/api/history/edit", json={"event_id": done[1], "label": "one", "annotator": "bob"}
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/history/edit", json={"event_id": 10**9, "label": "one", "annotator": "alice"}
        ).status_code
        == 422
    )
    for query in ("annotator=alice&limit=0", "annotator=alice&colour=red", "annotator=%01"):
        assert client.get(f"/api/history?{query}").status_code == 422, query
    assert [e[2] for e in read_events(session_dir)] == ["label"] * 4


def test_history_page_edits_without_javascript(digits_session, client_for, read_events):
    session_dir, truth = digits_session
    client = client_for(session_dir)
    client.post("/start", data={"annotator": "carol"})
    page = client.get("/label").text
    item = int(page.split('name="item_id" value="')[1].split('"')[0])
    client.post("/label", data={"item_id": item, "label": truth[item], "expect": 0})
    history = client.get("/history").text
    event = read_events(session_dir)[0][0]
    assert f'data-event="{event}"' in history and "current" in history
    answer = client.post("/history/edit", data={"event_id": event, "label": "four"})
    assert answer.status_code == 303 and answer.headers["location"] == "/history"
    assert f"(event {event + 1} corrects {event})" in client.get("/history").text
    logged = read_events(session_dir)
    assert [(e[1], e[3]) for e in logged] == [(item, truth[item]), (item, 4)]


def test_unsure_and_comment_are_saved_with_the_label(digits_session, client_for):
    session_dir, truth = digits_session
    client = client_for(session_dir)
    item = client.post("/api/next", json={"annotator": "dana"}).json()["item"]["item_id"]
    answer = client.post(
        "/api/label",
        json={"item_id": item, "label": truth[item], "annotator": "dana", "unsure": True,
              "comment": "faint stroke"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    history = client.get("/api/history?annotator=dana").json()["items"]
    assert (history[0]["unsure"], history[0]["comment"]) == (True, "faint stroke")
    assert [i["item_id"] for i in client.get("/api/items?unsure=true").json()["items"]] == [item]
    # The form path too.
    client.post("/start", data={"annotator": "dana"})
    page = client.get("/label").text
    assert 'name="unsure"' in page and 'name="comment"' in page
    nxt = int(page.split('name="item_id" value="')[1].split('"')[0])
    client.post(
        "/label", data={"item_id": nxt, "label": 1, "expect": 0, "unsure": "true", "comment": "?"}
    )
    assert {i["item_id"] for i in client.get("/api/items?unsure=true").json()["items"]} == {
        item,
        nxt,
    }
    too_long = client.post(
        "/api/label", json={"item_id": nxt, "label": 1, "annotator": "dana", "comment": "x" * 2001}
    )
    assert too_long.status_code == 422


def test_two_annotators_disagree_and_a_reviewer_resolves_by_token(session_factory, client_for):
    session_dir, truth = session_factory(n=30, resolve="reviewer", overlap=1.0, reviewers=["rita"])
    client = client_for(session_dir, annotator_tokens=TOKENS)
    first = client.post("/api/next", json={}, headers=_as(ALICE)).json()["item"]["item_id"]
    client.post("/api/label", json={"item_id": first, "label": "one"}, headers=_as(ALICE))
    # With overlap 1.0 the item is served to a second annotator.
    second = client.post("/api/next", json={}, headers=_as(BOB)).json()["item"]["item_id"]
    assert second == first
    client.post("/api/label", json={"item_id": first, "label": "two"}, headers=_as(BOB))
    status = client.get("/api/status", headers=_as(ALICE)).json()
    assert status["conflicts"] == 1 and status["agreement"]["items"] == 1
    assert "Annotator agreement" in client.get("/label", headers=_as(ALICE)).text

    # Only the reviewer sees and resolves the queue.
    assert client.get("/api/conflicts", headers=_as(ALICE)).status_code == 403
    assert client.get("/review", headers=_as(BOB)).status_code == 403
    refused = client.post("/api/resolve", json={"item_id": first, "label": "one"}, headers=_as(BOB))
    assert refused.status_code == 403
    queue = client.get("/api/conflicts", headers=_as(RITA)).json()["items"]
    assert [c["item_id"] for c in queue] == [first]
    assert {(a["annotator"], a["label"]) for a in queue[0]["annotations"]} == {
        ("alice", "one"),
        ("bob", "two"),
    }
    assert f'data-item="{first}"' in client.get("/review", headers=_as(RITA)).text
    decided = client.post(
        "/api/resolve", json={"item_id": first, "label": "two"}, headers=_as(RITA)
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["conflicts"] == 0 and decided.json()["reviewer"] == "rita"
    assert client.get(f"/api/items/{first}", headers=_as(RITA)).json()["label"] == "two"
    session = LabellingSession.open(session_dir)
    try:
        assert session.resolved_labels()[first] == "two" and session.conflicts() == []
    finally:
        session.close()
