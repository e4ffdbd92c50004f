"""The web app in-process (FastAPI's TestClient): the JSON API, the HTML forms, input
validation, what files it serves, tokens, binding, and the Label Studio ML backend."""

from __future__ import annotations

import base64
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from bayesal.errors import InvalidInputError
from bayesal.web.app import check_bind, serve
from bayesal.web.pages import class_keys

TOKEN = "shared-secret-123"
ALICE = "alice-token-4567"
BOB = "bob-token-891011"


def _set_ref(session_dir: Path, item_id: int, ref: str) -> None:
    with closing(sqlite3.connect(session_dir / "session.sqlite")) as conn, conn:
        conn.execute("UPDATE items SET ref = ? WHERE item_id = ?", (ref, item_id))


# ------------------------------------------------------------------ labelling via the API


def test_label_is_recorded_and_returns_the_next_item(digits_session, client_for, read_events):
    session_dir, truth = digits_session
    client = client_for(session_dir)
    first = client.post("/api/next", json={"annotator": "alice"}).json()["item"]
    assert first["kind"] == "image" and first["image_url"] == f"/items/{first['item_id']}/image"
    # The same item again while the lease holds.
    assert client.post("/api/next", json={"annotator": "alice"}).json()["item"] == first

    item = first["item_id"]
    response = client.post(
        "/api/label", json={"item_id": item, "label": truth[item], "annotator": "alice"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["item_id"] == item and body["label_index"] == truth[item]
    assert body["label"] == client.get("/api/status").json()["label_names"][truth[item]]
    assert body["next"] is not None and body["next"]["item_id"] != item

    # By name, too.
    second = body["next"]["item_id"]
    name = body["label"]
    response = client.post(
        "/api/label", json={"item_id": second, "label": name, "annotator": "alice"}
    )
    assert response.status_code == 200 and response.json()["label_index"] == truth[item]

    logged = read_events(session_dir)
    assert [(e[1], e[2], e[3], e[4]) for e in logged] == [
        (item, "label", truth[item], "alice"),
        (second, "label", truth[item], "alice"),
    ]
    status = client.get("/api/status").json()
    assert status["num_labelled"] == 2 and status["per_annotator"] == {"alice": 2}


def test_status_queue_and_item(digits_session, client_for):
    session_dir, _ = digits_session
    client = client_for(session_dir)
    status = client.get("/api/status").json()
    assert status["num_items"] == 60 and status["keys"] == class_keys(10)
    assert status["stopping"][0]["rule"] == "budget"
    queue = client.get("/api/queue").json()
    assert queue["round"] == 0 and len(queue["items"]) == 20
    assert [q["rank"] for q in queue["items"]] == list(range(20))
    one = client.get(f"/api/items/{queue['items'][0]['item_id']}").json()
    assert one["item_id"] == queue["items"][0]["item_id"] and one["label"] is None


def test_skip_and_undo(digits_session, client_for, read_events):
    session_dir, truth = digits_session
    client = client_for(session_dir)
    item = client.post("/api/next", json={"annotator": "a"}).json()["item"]["item_id"]
    skipped = client.post("/api/skip", json={"item_id": item, "annotator": "a"}).json()
    assert skipped["skipped"] == item and skipped["next"]["item_id"] != item

    other = skipped["next"]["item_id"]
    client.post("/api/label", json={"item_id": other, "label": truth[other], "annotator": "a"})
    undone = client.post("/api/undo", json={"annotator": "a"}).json()
    assert undone["undone"]["undoes"] is not None and undone["item"]["item_id"] == other
    # The undone item is the annotator's again, to relabel.
    assert client.post("/api/next", json={"annotator": "a"}).json()["item"]["item_id"] == other
    assert client.post("/api/undo", json={"annotator": "a"}).json()["undone"] is None
    kinds = [e[2] for e in read_events(session_dir)]
    assert kinds == ["skip", "label", "undo"]


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"item_id": 99999, "label": 1, "annotator": "a"}, 404, "no item 99999"),
        ({"item_id": 0, "label": 10, "annotator": "a"}, 422, "out of range"),
        ({"item_id": 0, "label": -1, "annotator": "a"}, 422, "out of range"),
        ({"item_id": 0, "label": "platypus", "annotator": "a"}, 422, "unknown label"),
        ({"item_id": 0, "label": True, "annotator": "a"}, 422, "label"),
        ({"item_id": 0, "label": 1.5, "annotator": "a"}, 422, "label"),
        ({"item_id": 0, "label": [1], "annotator": "a"}, 422, "label"),
        ({"item_id": "zero", "label": 1, "annotator": "a"}, 422, "item_id"),
        ({"item_id": 2**70, "label": 1, "annotator": "a"}, 422, "item_id"),
        ({"label": 1, "annotator": "a"}, 422, "item_id"),
        ({"item_id": 0, "label": 1, "annotator": "x" * 101}, 422, "annotator"),
        ({"item_id": 0, "label": 1, "annotator": "bad\x00name"}, 422, "annotator"),
        ({"item_id": 0, "label": 1, "annotator": "a", "extra": 1}, 422, "extra"),
        ({"item_id": 0, "label": "x" * 101, "annotator": "a"}, 422, "label"),
    ],
)
def test_bad_label_requests_are_refused(
    digits_session, client_for, read_events, body, status, words
):
    session_dir, _ = digits_session
    client = client_for(session_dir)
    response = client.post("/api/label", json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert read_events(session_dir) == []


def test_unknown_items_are_404(digits_session, client_for):
    session_dir, _ = digits_session
    client = client_for(session_dir)
    assert client.get("/api/items/99999").status_code == 404
    assert client.get("/items/99999/image").status_code == 404
    assert client.post("/api/skip", json={"item_id": 99999, "annotator": "a"}).status_code == 404
    assert client.get("/api/items/abc").status_code == 422
    assert client.post("/api/next", json={}).status_code == 422  # no annotator anywhere


def test_oversize_and_malformed_bodies(digits_session, client_for, read_events):
    session_dir, _ = digits_session
    client = client_for(session_dir)
    big = b'{"item_id": 0, "label": 1, "annotator": "' + b"a" * 70_000 + b'"}'
    response = client.post("/api/label", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "limit" in response.json()["error"]

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"item_id": 0, "label": 1, "annotator": "'
        for _ in range(20):
            yield b"a" * 8192
        yield b'"}'

    response = client.post(
        "/api/label", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413

    response = client.post(
        "/api/label", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    response = client.post(
        "/api/label", content=b"item_id=0", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 422
    assert read_events(session_dir) == []


# ------------------------------------------------------------------ files served


def test_only_files_under_the_data_root_are_served(digits_session, client_for, tmp_path):
    session_dir, _ = digits_session
    data_root = tmp_path / "digits"
    outside = tmp_path / "secret.png"
    outside.write_bytes((data_root / "img0002.png").read_bytes())
    (data_root / "link.png").symlink_to(outside)
    _set_ref(session_dir, 0, "../secret.png")
    _set_ref(session_dir, 1, str(outside))  # an absolute path
    _set_ref(session_dir, 2, "link.png")  # a link leading out
    _set_ref(session_dir, 4, "../../../../../../etc/passwd")
    client = client_for(session_dir)

    good = client.get("/items/3/image")
    assert good.status_code == 200 and good.headers["content-type"] == "image/png"
    assert good.content == (data_root / "img0003.png").read_bytes()
    for item in (0, 1, 2, 4):
        response = client.get(f"/items/{item}/image")
        assert response.status_code == 404, (item, response.text)
        assert "data root" in response.json()["error"]
    assert client.get("/items/..%2F..%2Fetc%2Fpasswd/image").status_code in (404, 422)
    assert client.get("/static/../session.sqlite").status_code == 404


def test_html_escapes_what_people_and_data_write(digits_session, client_for):
    session_dir, _ = digits_session
    _set_ref(session_dir, 0, "<img src=x onerror=alert(1)>.png")
    client = client_for(session_dir)
    client.post("/start", data={"annotator": "<script>alert(1)</script>"})
    with closing(sqlite3.connect(session_dir / "session.sqlite")) as conn, conn:
        conn.execute("DELETE FROM queue")  # the fallback order then comes first
        conn.execute("UPDATE items SET fallback_order = -1 WHERE item_id = 0")
    page = client.get("/label").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x" in page


# ------------------------------------------------------------------ the HTML forms


def test_forms_label_skip_undo_with_post_redirect_get(digits_session, client_for, read_events):
    session_dir, truth = digits_session
    client = client_for(session_dir)
    assert client.get("/label").headers["location"] == "/"  # no name yet
    assert "Your name" in client.get("/").text
    assert client.post("/start", data={"annotator": "  "}).status_code == 422
    response = client.post("/start", data={"annotator": "carol"})
    assert response.status_code == 303 and response.headers["location"] == "/label"

    page = client.get("/label")
    assert page.status_code == 200 and 'data-keys="1"' in page.text
    item = int(page.text.split('name="item_id" value="')[1].split('"')[0])
    response = client.post("/label", data={"item_id": item, "label": truth[item], "expect": 0})
    assert response.status_code == 303 and response.headers["location"] == "/label"
    page = client.get("/label").text
    assert f"Saved item {item}" in page

    # A stale form (the item was labelled since it was shown) records nothing.
    response = client.post("/label", data={"item_id": item, "label": 0, "expect": 0})
    assert "labelled meanwhile" in client.get("/label").text

    current = int(page.split('name="item_id" value="')[1].split('"')[0])
    client.post("/skip", data={"item_id": current})
    client.post("/undo")
    page = client.get("/label").text
    assert f"Took back your label of item {item}" in page
    assert f'name="item_id" value="{item}"' in page  # shown again, to relabel
    assert [(e[1], e[2], e[4]) for e in read_events(session_dir)] == [
        (item, "label", "carol"),
        (current, "skip", "carol"),
        (item, "undo", "carol"),
    ]


def test_pages_set_security_headers(digits_session, client_for):
    session_dir, _ = digits_session
    client = client_for(session_dir)
    for path in ("/", "/api/status", "/static/style.css"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"


# ------------------------------------------------------------------ who may connect


def test_no_token_answers_only_localhost_and_same_origin(digits_session, client_for):
    session_dir, _ = digits_session
    client = client_for(session_dir)
    assert client.get("/api/status").status_code == 200
    assert client.get("/api/status", headers={"host": "localhost:8000"}).status_code == 200
    assert client.get("/api/status", headers={"host": "[::1]:8000"}).status_code == 200
    refused = client.get("/api/status", headers={"host": "evil.example:8000"})
    assert refused.status_code == 403 and "localhost" in refused.json()["error"]
    cross = client.post(
        "/api/next", json={"annotator": "a"}, headers={"origin": "http://evil.example"}
    )
    assert cross.status_code == 403
    same = client.post("/api/next", json={"annotator": "a"}, headers={"origin": "http://127.0.0.1"})
    assert same.status_code == 200
    fetch = client.post(
        "/api/next", json={"annotator": "a"}, headers={"sec-fetch-site": "cross-site"}
    )
    assert fetch.status_code == 403


def test_shared_token(digits_session, client_for):
    session_dir, _ = digits_session
    client = client_for(session_dir, token=TOKEN)
    denied = client.get("/api/status")
    assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Bearer")
    assert (
        client.get("/api/status", headers={"authorization": "Bearer wrong-token"}).status_code
        == 401
    )
    page = client.get("/label", headers={"accept": "text/html"})
    assert page.status_code == 401 and 'name="token"' in page.text
    ok = client.get("/api/status", headers={"authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    # Any host may be used with a token (the server may listen beyond localhost).
    assert (
        client.get(
            "/api/status", headers={"authorization": f"Bearer {TOKEN}", "host": "lab.example"}
        ).status_code
        == 200
    )
    # Label Studio's basic auth: the token as the password.
    basic = base64.b64encode(f"labelstudio:{TOKEN}".encode()).decode()
    assert client.get("/api/status", headers={"authorization": f"Basic {basic}"}).status_code == 200
    # Static files and the health check need no token.
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/health").status_code == 200

    # A browser: ?token= once, kept in a cookie, dropped from the address.
    assert client.get("/?token=wrong-token-000").status_code == 401
    response = client.get(f"/label?token={TOKEN}&x=1")
    assert response.status_code == 303 and response.headers["location"] == "/label?x=1"
    assert "httponly" in response.headers["set-cookie"].lower()
    assert client.get("/api/status").status_code == 200  # the cookie now
    client.cookies.clear()
    assert client.get("/api/status").status_code == 401


def test_annotator_tokens_fix_the_annotator(digits_session, client_for, read_events):
    session_dir, truth = digits_session
    client = client_for(session_dir, token=TOKEN, annotator_tokens={ALICE: "alice", BOB: "bob"})
    as_alice = {"authorization": f"Bearer {ALICE}"}
    item = client.post("/api/next", headers=as_alice).json()["item"]["item_id"]
    assert (
        client.post("/api/next", json={"annotator": "alice"}, headers=as_alice).status_code == 200
    )
    forged = client.post(
        "/api/label", json={"item_id": item, "label": 1, "annotator": "bob"}, headers=as_alice
    )
    assert forged.status_code == 403 and "alice" in forged.json()["error"]
    ok = client.post("/api/label", json={"item_id": item, "label": truth[item]}, headers=as_alice)
    assert ok.status_code == 200 and ok.json()["annotator"] == "alice"
    assert client.post("/api/undo", json={"annotator": "bob"}, headers=as_alice).status_code == 403

    # Bob's token: bob's name on the page, no way to switch.
    client.get(f"/?token={BOB}")
    page = client.get("/label").text
    assert "<strong>bob</strong>" in page and 'href="/start"' not in page
    # The shared token may act for anyone.
    shared = {"authorization": f"Bearer {TOKEN}"}
    assert client.post("/api/next", json={"annotator": "dave"}, headers=shared).status_code == 200
    assert [e[4] for e in read_events(session_dir)] == ["alice"]


def test_tokens_are_checked_when_the_app_is_made(digits_session):
    from bayesal.web import create_app

    session_dir, _ = digits_session
    with pytest.raises(InvalidInputError, match="8 to 512"):
        create_app(session_dir, token="short")
    with pytest.raises(InvalidInputError, match="twice"):
        create_app(session_dir, token=TOKEN, annotator_tokens={TOKEN: "alice"})
    with pytest.raises(InvalidInputError, match="annotator"):
        create_app(session_dir, annotator_tokens={ALICE: ""})


def test_binding_beyond_localhost_needs_a_token(digits_session):
    session_dir, _ = digits_session
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_bind(host, None, None)
    for host in ("0.0.0.0", "::", "192.168.1.20", "lab.example.org"):
        with pytest.raises(InvalidInputError, match="without a token"):
            check_bind(host, None, None)
        check_bind(host, TOKEN, None)
        check_bind(host, None, {ALICE: "alice"})
    # serve() refuses before it opens anything or binds.
    with pytest.raises(InvalidInputError, match="without a token"):
        serve(session_dir, host="0.0.0.0", port=1)


# ------------------------------------------------------------------ retraining


def test_labels_start_a_background_retrain(session_factory, client_for):
    session_dir, truth = session_factory(n=60, retrain_every=4)
    client = client_for(session_dir, retrain=True)
    item = client.post("/api/next", json={"annotator": "a"}).json()["item"]["item_id"]
    for _ in range(4):
        started = time.perf_counter()
        body = client.post(
            "/api/label", json={"item_id": item, "label": truth[item], "annotator": "a"}
        ).json()
        assert time.perf_counter() - started < 2.0  # never waits on training
        item = body["next"]["item_id"]
    deadline = time.monotonic() + 120
    while client.get("/api/status").json()["round"] == 0 and time.monotonic() < deadline:
        time.sleep(0.25)
    status = client.get("/api/status").json()
    assert status["round"] == 1 and status["round_labels"] == 4
    queue = client.get("/api/queue").json()
    assert queue["round"] == 1 and queue["items"][0]["predicted"] is not None
    assert (session_dir / "retrain.log").is_file()


# ------------------------------------------------------------------ Label Studio


def _ls_config(names: list[str]) -> str:
    choices = "".join(f'<Choice value="{n}"/>' for n in names)
    return (
        '<View><Image name="image" value="$image"/>'
        f'<Choices name="label" toName="image" choice="single">{choices}</Choices></View>'
    )


def test_label_studio_ml_backend(digits_session, client_for, read_events):
    from bayesal.session import LabellingSession

    session_dir, truth = digits_session
    session = LabellingSession.open(session_dir)
    labelled = sorted(truth)[:12]
    for item in labelled:
        session.label(item, truth[item], "seed")
    session.retrain()
    session.close()
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    client = client_for(session_dir)
    assert client.get("/health").json()["status"] == "UP"
    setup = client.post("/setup", json={"project": "1.1700000000", "schema": _ls_config(names)})
    assert setup.status_code == 200 and setup.json()["model_version"] == "bayesal-round-1"
    bad = client.post("/setup", json={"project": "1", "schema": _ls_config(["cat", "dog"])})
    assert bad.status_code == 422 and "cat" in bad.json()["error"]

    queue = client.get("/api/queue").json()["items"]
    tasks = [
        {"id": 10, "data": {"item_id": queue[3]["item_id"], "image": "x"}},
        {
            "id": 11,
            "data": {"image": f"/data/local-files/?d=digits/img{queue[0]['item_id']:04d}.png"},
        },
        {"id": 12, "data": {"image": "/data/local-files/?d=elsewhere/none.png"}},
    ]
    # Item ids follow the file order here (img0007.png is item 7).
    result = client.post(
        "/predict", json={"tasks": tasks, "label_config": _ls_config(names), "project": "1.1"}
    ).json()["results"]
    assert len(result) == 3
    assert result[0]["score"] == pytest.approx(3 / len(queue))
    assert result[0]["result"][0]["value"]["choices"] == [queue[3]["predicted"]]
    assert result[0]["result"][0]["from_name"] == "label"
    assert result[1]["score"] == 0.0
    assert result[2] == {"model_version": "bayesal-round-1", "score": 1.0, "result": []}
    too_many = client.post("/predict", json={"tasks": [{"data": {}}] * 1001})
    assert too_many.status_code == 422

    target = queue[0]["item_id"]
    hook = {
        "action": "ANNOTATION_CREATED",
        "project": {"id": 1, "label_config": _ls_config(names)},
        "task": {"id": 11, "data": {"item_id": target}},
        "annotation": {
            "id": 5,
            "completed_by": 7,
            "result": [
                {
                    "from_name": "label",
                    "to_name": "image",
                    "type": "choices",
                    "value": {"choices": [names[truth[target]]]},
                }
            ],
        },
    }
    response = client.post("/webhook", json=hook)
    assert response.status_code == 201, response.text
    last = read_events(session_dir)[-1]
    assert last[1:5] == (target, "label", truth[target], "labelstudio:7")
    assert (
        client.post("/webhook", json={"action": "PROJECT_UPDATED"}).json()["status"]
        == "Unknown event"
    )
    assert client.post("/train", json={}).json()["status"] == "disabled"  # retraining off


def test_server_module_refuses_public_bind_without_token(digits_session):
    import subprocess
    import sys

    session_dir, _ = digits_session
    done = subprocess.run(
        [sys.executable, "-m", "bayesal.web", str(session_dir), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BAYESAL_TOKEN": ""},
    )
    assert done.returncode == 2 and "without a token" in done.stderr


def test_a_table_session_shows_its_row_as_a_table(tmp_path, client_for):
    import numpy as np
    import pandas as pd

    from bayesal.session import LabellingSession
    from bayesal.session.config import parse_session_config

    rng = np.random.default_rng(0)
    n = 30
    pd.DataFrame(
        {
            "uid": 500 + np.arange(n),
            "f1": rng.normal(size=n),
            "f2": rng.normal(size=n),
            "review": [f"<b>review {i}</b> " + "a long text " * 10 for i in range(n)],
        }
    ).to_csv(tmp_path / "reviews.csv", index=False)
    config = parse_session_config(
        {
            "data": {
                "kind": "table",
                "path": "reviews.csv",
                "params": {"id_column": "uid", "feature_columns": ["f1", "f2"]},
            },
            "labels": ["good", "bad"],
            "model": {"name": "mlp", "params": {"hidden": 8}},
            "posterior": {"name": "mc_dropout", "num_samples": 4},
            "training": {"epochs": 2, "min_steps": 5, "batch_size": 8},
            "queue_size": 5,
            "stop_set_size": 10,
        }
    )
    LabellingSession.init(tmp_path / "S", config, config_root=tmp_path).close()
    client = client_for(tmp_path / "S")
    item = client.post("/api/next", json={"annotator": "a"}).json()["item"]
    assert item["kind"] == "row" and item["image_url"] is None
    assert item["fields"]["uid"] == item["item_id"] and "review" in item["fields"]
    assert client.get(f"/items/{item['item_id']}/image").status_code == 404

    client.post("/start", data={"annotator": "a"})
    page = client.get("/label").text
    assert '<table class="fields">' in page and '<th scope="row">review</th>' in page
    assert "&lt;b&gt;review" in page and "<b>review" not in page
    assert 'class="long"' in page
    assert "<kbd>1</kbd><span>good</span>" in page and "<kbd>2</kbd><span>bad</span>" in page


def test_label_studio_train_retrains_even_without_new_labels(session_factory, client_for):
    session_dir, truth = session_factory(n=60, retrain_every=50)
    client = client_for(session_dir, retrain=True)
    for item in list(truth)[:6]:
        client.post("/api/label", json={"item_id": item, "label": truth[item], "annotator": "a"})
    assert client.get("/api/status").json()["round"] == 0  # 6 < retrain_every: none due
    assert client.post("/train", json={}).json()["status"] in ("started", "running")
    deadline = time.monotonic() + 120
    while client.get("/api/status").json()["round"] == 0 and time.monotonic() < deadline:
        time.sleep(0.25)
    status = client.get("/api/status").json()
    assert status["round"] == 1 and status["round_labels"] == 6
