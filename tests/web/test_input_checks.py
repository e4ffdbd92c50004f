"""Issue 21 on the web side: no bad input silently accepted, no acknowledged label lost.

Annotations are kept (another annotator never overwrites a label without a recorded
correction), Label Studio e-mails are never cut, a full disk or a damaged session file is
a one-line error, redirects stay on this server, nothing from HTTP names an import path,
and the annotator tokens file is read strictly."""

from __future__ import annotations

import importlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bayesal.cli import main

TOKEN = "shared-secret-123"
ALICE = "alice-token-4567"
BOB = "bob-token-891011"
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _hook(item: int, choice: str, completed_by: object) -> dict:
    return {
        "action": "ANNOTATION_CREATED",
        "task": {"id": 3, "data": {"item_id": item}},
        "annotation": {
            "id": 5,
            "completed_by": completed_by,
            "result": [
                {
                    "from_name": "label",
                    "to_name": "image",
                    "type": "choices",
                    "value": {"choices": [choice]},
                }
            ],
        },
    }


# ------------------------------------------------------------------ annotations, not overwrites


def test_a_per_annotator_token_cannot_overwrite_another_annotators_finished_label(
    digits_session, client_for, read_events
):
    session_dir, truth = digits_session
    client = client_for(session_dir, annotator_tokens={ALICE: "alice", BOB: "bob"})
    as_alice = {"authorization": f"Bearer {ALICE}"}
    as_bob = {"authorization": f"Bearer {BOB}"}
    item = client.post("/api/next", headers=as_alice).json()["item"]["item_id"]
    first = client.post("/api/label", json={"item_id": item, "label": 1}, headers=as_alice)
    assert first.status_code == 200 and first.json()["item_label_by"] == "alice"

    other = client.post("/api/label", json={"item_id": item, "label": 2}, headers=as_bob)
    assert other.status_code == 200, other.text
    body = other.json()
    assert (body["label"], body["annotator"], body["corrects"]) == ("two", "bob", None)
    assert (body["item_label"], body["item_label_by"]) == ("one", "alice")
    assert client.get(f"/api/items/{item}", headers=as_bob).json()["label"] == "one"

    fixed = client.post(
        "/api/label", json={"item_id": item, "label": 3, "correct": True}, headers=as_bob
    )
    assert fixed.status_code == 200 and fixed.json()["corrects"] == first.json()["event_id"]
    assert client.get(f"/api/items/{item}", headers=as_bob).json()["label"] == "three"
    assert [(e[2], e[3], e[4]) for e in read_events(session_dir)] == [
        ("label", 1, "alice"),
        ("label", 2, "bob"),
        ("label", 3, "bob"),
    ]
    bad = client.post(
        "/api/label", json={"item_id": item, "label": 3, "correct": "yes"}, headers=as_bob
    )
    assert bad.status_code == 422  # a strict boolean


# ------------------------------------------------------------------ Label Studio identities


def test_webhook_refuses_an_email_over_100_characters_instead_of_cutting_it(
    digits_session, client_for, read_events
):
    session_dir, _ = digits_session
    client = client_for(session_dir)
    prefix = "a" * 95
    first = {"id": 1, "email": prefix + "@one.example"}  # 107 characters
    second = {"id": 2, "email": prefix + "@two.example"}  # the same first 100
    for person, item in ((first, 3), (second, 4)):
        response = client.post("/webhook", json=_hook(item, "one", person))
        assert response.status_code == 422, response.text
        assert "annotator must be 1 to 100 printable characters" in response.json()["error"]
    assert read_events(session_dir) == []
    short = client.post("/webhook", json=_hook(5, "two", {"id": 3, "email": "c@x.example"}))
    assert short.status_code == 201 and read_events(session_dir)[-1][4] == "c@x.example"


def test_label_studio_import_refuses_an_email_over_100_characters_naming_the_annotation(
    digits_session, tmp_path
):
    import json

    from bayesal.errors import InvalidInputError
    from bayesal.session import LabellingSession
    from bayesal.session.exchange import import_labels

    session_dir, _ = digits_session
    export = tmp_path / "export.json"
    tasks = [_hook(3, "one", {"id": 1, "email": "b" * 95 + "@one.example"})["task"]]
    tasks[0]["annotations"] = [_hook(3, "one", {"id": 1, "email": "b" * 95 + "@one.example"})]
    tasks[0]["annotations"][0] = tasks[0]["annotations"][0]["annotation"]
    export.write_text(json.dumps(tasks))
    session = LabellingSession.open(session_dir)
    with pytest.raises(InvalidInputError, match=r"annotation 1 \(task 3\): annotator must be"):
        import_labels(session, export)
    assert session.store.events() == []


# ------------------------------------------------------------------ the session file fails


def test_a_full_disk_is_a_507_and_loses_no_acknowledged_label(
    digits_session, client_for, monkeypatch
):
    from bayesal.session import LabellingSession, SessionStore

    session_dir, _ = digits_session
    with sqlite3.connect(session_dir / "session.sqlite") as conn:
        cap = conn.execute("PRAGMA page_count").fetchone()[0] + 4
    conn.close()
    connect = SessionStore._connect

    def small_disk(self: SessionStore) -> sqlite3.Connection:  # SQLite's SQLITE_FULL
        conn = connect(self)
        conn.execute(f"PRAGMA max_page_count = {cap}")
        return conn

    monkeypatch.setattr(SessionStore, "_connect", small_disk)
    client = client_for(session_dir)
    acknowledged = []
    for item in range(5):
        response = client.post("/api/label", json={"item_id": item, "label": 1, "annotator": "a"})
        assert response.status_code == 200, response.text
        acknowledged.append(response.json()["event_id"])
    filler = LabellingSession.open(session_dir).store  # fill the last free pages
    with pytest.raises(sqlite3.OperationalError, match="full"):
        for n in range(10_000):
            (event,) = filler.add_labels([(5 + n % 50, n % 10, f"f{n}")], source="api")
            acknowledged.append(event.event_id)
    refused = client.post("/api/label", json={"item_id": 59, "label": 2, "annotator": "late"})
    assert refused.status_code == 507, refused.text
    assert "the disk is full" in refused.json()["error"]
    assert "Traceback" not in refused.text
    monkeypatch.undo()
    events = LabellingSession.open(session_dir).store.events()
    assert [e.event_id for e in events] == acknowledged
    assert all(e.annotator != "late" for e in events)


def test_a_damaged_session_file_is_a_one_line_500(digits_session, client_for):
    session_dir, _ = digits_session
    client = client_for(session_dir)
    client.app.state.bayesal.session.store.close()
    path = session_dir / "session.sqlite"
    data = bytearray(path.read_bytes())
    data[4096:] = b"\0" * (len(data) - 4096)
    path.write_bytes(bytes(data))
    response = client.get("/api/status")
    assert response.status_code == 500
    assert "session file is damaged" in response.json()["error"]


# ------------------------------------------------------------------ redirects and import paths


@pytest.mark.parametrize("path", ["//evil.example/x", "///evil.example/x", "/\\evil.example/x"])
def test_the_token_redirect_never_leaves_this_server(digits_session, client_for, path):
    session_dir, _ = digits_session
    client = client_for(session_dir, token=TOKEN)
    response = client.get(f"http://127.0.0.1{path}?token={TOKEN}&a=1")
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert location == "/evil.example/x?a=1"


def test_http_values_that_look_like_import_paths_are_data_never_imported(
    digits_session, client_for, monkeypatch, read_events
):
    session_dir, _ = digits_session
    imported: list[str] = []
    real_import = importlib.import_module

    def watch(name: str, package: str | None = None):
        imported.append(name)
        return real_import(name, package)

    def never(*args: object) -> int:
        raise AssertionError(f"os.system called with {args}")

    monkeypatch.setattr(importlib, "import_module", watch)
    monkeypatch.setattr(os, "system", never)
    client = client_for(session_dir)
    evil = "os:system"
    assert client.post("/api/next", json={"annotator": evil}).status_code == 200
    response = client.post("/api/label", json={"item_id": 1, "label": evil, "annotator": "x"})
    assert response.status_code == 422 and "unknown label 'os:system'" in response.json()["error"]
    labelled = client.post("/api/label", json={"item_id": 2, "label": 1, "annotator": evil})
    assert labelled.status_code == 200 and labelled.json()["annotator"] == evil
    schema = f'<View><Image name="image" value="$image"/><Choices name="label" toName="image">\
<Choice value="{evil}"/></Choices></View>'
    assert client.post("/setup", json={"schema": schema}).status_code == 422
    predicted = client.post("/predict", json={"tasks": [{"data": {"image": evil}}]})
    assert predicted.status_code == 200
    hook = client.post("/webhook", json=_hook(3, "one", evil))
    assert hook.status_code == 201
    assert client.post("/webhook", json=_hook(3, evil, 1)).status_code == 422
    assert client.get("/api/items/os:system").status_code == 422
    assert [e[4] for e in read_events(session_dir)] == [evil, evil]  # names, as data
    assert not [name for name in imported if name.split(".")[0] == "os"]


# ------------------------------------------------------------------ the tokens file


@pytest.fixture(autouse=True)
def never_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tokens file read wrongly must fail the test, not start a server that blocks."""
    import bayesal.web.app

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server would have started")

    monkeypatch.setattr(bayesal.web.app, "serve", refuse)


def serve_cli(*args: object):
    return CliRunner().invoke(main, ["serve", *(str(a) for a in args)])


def one_line(result, match: str) -> str:
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("bayesal: error:")]
    assert len(errors) == 1 and result.stderr.strip() == errors[0], result.stderr
    assert match in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (b"!!python/object/apply:os.system ['echo pwned']\n", "no !!python tags"),
        (b"alice-token-4567: alice\n  bob: [\n", "malformed YAML"),
        (b"\x00\x01\x02binary", "binary content"),
        (b"\xff\xfe\xfa not utf-8", "not UTF-8 text"),
        (b"- alice\n- bob\n", "expected a mapping of token -> annotator name"),
        (b"12345678: alice\n", "must both be strings"),
    ],
)
def test_a_bad_tokens_file_is_one_error_line(digits_session, tmp_path, text, match):
    session_dir, _ = digits_session
    tokens = tmp_path / "tokens.yaml"
    tokens.write_bytes(text)
    one_line(serve_cli(session_dir, "--annotator-tokens", tokens), match)


def test_a_token_listed_for_two_annotators_is_refused_naming_lines_not_the_token(
    digits_session, tmp_path
):
    session_dir, _ = digits_session
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(f"{ALICE}: alice\n{BOB}: bob\n{ALICE}: carol\n")
    line = one_line(
        serve_cli(session_dir, "--annotator-tokens", tokens),
        "a token is used twice (line 1 and line 3)",
    )
    assert ALICE not in line


def test_python_m_bayesal_web_reads_the_tokens_file_strictly(digits_session, tmp_path):
    session_dir, _ = digits_session
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(f"{ALICE}: alice\n{ALICE}: bob\n")
    done = subprocess.run(
        [sys.executable, "-m", "bayesal.web", str(session_dir), "--annotator-tokens", str(tokens)],
        capture_output=True,
        text=True,
        timeout=60,  # a server that started (the file accepted) is killed by this
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: annotator tokens file {tokens}: a token is used twice (line 1 and line 2); "
        "give each annotator their own token"
    ]


def test_token_file_reader_keeps_a_good_mapping(tmp_path: Path):
    from bayesal.web.options import read_annotator_tokens

    tokens = tmp_path / "tokens.json"
    tokens.write_text(f'{{"{ALICE}": "alice", "{BOB}": "bob"}}')
    assert read_annotator_tokens(tokens) == {ALICE: "alice", BOB: "bob"}


def test_python_m_bayesal_web_without_the_label_extra_says_pip_install(digits_session):
    session_dir, _ = digits_session
    code = (
        "import sys; sys.modules['fastapi'] = None; "
        "from bayesal.web.__main__ import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(session_dir)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: the labelling server needs the 'label' extra (module 'fastapi' is not "
        "installed): pip install 'bayesal[label]'"
    ]
