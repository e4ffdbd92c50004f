"""Tests of the ``bayesal session`` commands (bayesal.cli), end to end through click's
CliRunner: init, next, label, undo, status, export, import, retrain, and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner, Result

from bayesal.cli import main


def cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result: Result, match: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("bayesal: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr  # after init's progress
    assert match in errors[0], errors[0]
    assert "Traceback" not in result.output


def write_config(tmp_path: Path, folder: Path, **overrides: object) -> Path:
    raw = {
        "data": {"kind": "image_folder", "path": str(folder)},
        "labels": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
        "model": {"name": "mlp", "params": {"hidden": 32}},
        "posterior": {"name": "mc_dropout", "num_samples": 4},
        "training": {"epochs": 2, "min_steps": 5, "batch_size": 32},
        "queue_size": 10,
        "retrain_every": 3,
        "stop_set_size": 20,
        "stopping": [{"name": "budget", "params": {"max_labels": 2}}],
    }
    raw.update(overrides)
    path = tmp_path / "session.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_session_from_the_command_line(tmp_path: Path, digits_folder) -> None:
    config = write_config(tmp_path, digits_folder[0])
    directory = tmp_path / "s"
    result = cli("session", "init", directory, "--config", config)
    assert result.exit_code == 0, result.output
    assert f"session {directory}: 60 items, 0 labelled, 10 labels" in result.stdout
    assert "reading image_folder" in result.stderr
    assert (directory / "session.sqlite").is_file() and (directory / "session.yaml").is_file()

    first = cli("session", "next", directory, "--annotator", "ann")
    assert first.exit_code == 0, first.output
    item, ref = first.stdout.strip().split("\t")  # cold start: no model guess yet
    assert ref.startswith("img") and ref.endswith(".png")
    assert cli("session", "next", directory, "--annotator", "ann").stdout == first.stdout
    other = cli("session", "next", directory, "--annotator", "bob")
    assert other.stdout.split("\t")[0] != item

    labelled = cli("session", "label", directory, item, "three", "--annotator", "ann")
    assert labelled.exit_code == 0, labelled.output
    assert labelled.stdout.strip() == f"item {item}: three (event 1)"
    corrected = cli("session", "label", directory, item, "4", "--annotator", "ann")
    assert corrected.stdout.strip() == f"item {item}: four (event 2)"
    undone = cli("session", "undo", directory, "--annotator", "ann")
    assert undone.exit_code == 0 and undone.stdout.strip() == f"undid event 2 (item {item})"
    nothing = cli("session", "undo", directory, "--annotator", "zed")
    assert nothing.exit_code == 1 and "nothing to undo for zed" in nothing.stderr
    assert cli("session", "label", directory, "7", "nine", "--annotator", "bob").exit_code == 0

    status = cli("session", "status", directory)
    assert status.exit_code == 0, status.output
    assert "labelled: 2 of 60" in status.stdout
    assert "three 1" in status.stdout and "nine 1" in status.stdout
    assert "per annotator: ann 1, bob 1" in status.stdout
    assert "stop rule budget: STOP" in status.stdout
    as_json = json.loads(cli("session", "status", directory, "--json").stdout)
    assert as_json["num_labelled"] == 2 and as_json["per_annotator"] == {"ann": 1, "bob": 1}
    assert as_json["should_stop"] is True and as_json["round"] == 0

    retrained = cli("session", "retrain", directory)
    assert retrained.exit_code == 0, retrained.output
    assert retrained.stdout.strip() == "round 1: trained on 2 labels"
    guess = cli("session", "next", directory, "--annotator", "cy").stdout.strip().split("\t")
    assert len(guess) == 3 and guess[2].endswith(")")  # "<label> (0.xx)"
    assert "model: round 1, trained on 2 labels" in cli("session", "status", directory).stdout

    out = tmp_path / "labels.csv"
    exported = cli("session", "export", directory, "--out", out)
    assert exported.exit_code == 0 and out.is_file(), exported.output
    tasks = tmp_path / "tasks.json"
    assert (
        cli("session", "export", directory, "--format", "label-studio", "--out", tasks).exit_code
        == 0
    )
    second = tmp_path / "s2"
    assert cli("session", "init", second, "--config", config).exit_code == 0
    imported = cli("session", "import", second, out)
    assert imported.exit_code == 0 and imported.stdout.strip() == "imported 2 labels (0 unchanged)"
    again = cli("session", "import", second, tasks, "--annotator", "ls")
    assert again.stdout.strip() == "imported 0 labels (2 unchanged)"


def test_session_errors_are_one_line_and_exit_2(tmp_path: Path, digits_folder) -> None:
    config = write_config(tmp_path, digits_folder[0])
    directory = tmp_path / "s"
    assert cli("session", "init", directory, "--config", config).exit_code == 0
    one_error_line(cli("session", "label", directory, "999", "one"), "no item 999")
    one_error_line(cli("session", "label", directory, "3", "eleven"), "unknown label 'eleven'")
    one_error_line(cli("session", "label", directory, "3", "12"), "out of range")
    one_error_line(cli("session", "label", directory, "²", "one"), "item id must be an integer")
    one_error_line(cli("session", "label", directory, "3", "1", "--annotator", " "), "annotator")
    one_error_line(cli("session", "status", tmp_path / "nowhere"), "not a labelling session")
    one_error_line(cli("session", "next", tmp_path), "not a labelling session")
    one_error_line(cli("session", "init", directory, "--config", config), "not an empty directory")
    one_error_line(
        cli("session", "init", tmp_path / "x", "--config", tmp_path / "no.yaml"), "does not exist"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,label\n1,one\n500,two\n")
    one_error_line(cli("session", "import", directory, bad), "row 3: no item 500")
    assert json.loads(cli("session", "status", directory, "--json").stdout)["num_labelled"] == 0
    wrong_model = write_config(
        tmp_path, digits_folder[0], model={"name": "mlp", "params": {"num_classes": 4}}
    )
    one_error_line(
        cli("session", "init", tmp_path / "y", "--config", wrong_model), "expected [2, 10]"
    )
    assert not (tmp_path / "y").exists()


def test_next_says_when_nothing_is_left(tmp_path: Path, write_digits_fn) -> None:
    folder = tmp_path / "few"
    write_digits_fn(folder, n=3)
    config = write_config(tmp_path, folder, queue_size=2, stop_set_size=2)
    directory = tmp_path / "s"
    assert cli("session", "init", directory, "--config", config).exit_code == 0
    for who in ("a", "b", "c"):
        assert cli("session", "next", directory, "--annotator", who).exit_code == 0
    empty = cli("session", "next", directory, "--annotator", "d")
    assert empty.exit_code == 1 and "nothing to label" in empty.stderr


# --------------------------------------------------------------------------- issue 21


def new_session(tmp_path: Path, digits_folder) -> Path:
    config = write_config(tmp_path, digits_folder[0])
    directory = tmp_path / "s"
    assert cli("session", "init", directory, "--config", config).exit_code == 0
    return directory


def test_import_of_conflicting_rows_is_one_error_naming_the_item_and_rows(
    tmp_path: Path, digits_folder
) -> None:
    directory = new_session(tmp_path, digits_folder)
    csv = tmp_path / "conflict.csv"
    csv.write_text("item_id,label\n4,one\n4,two\n")
    one_error_line(cli("session", "import", directory, csv), "item 4: row 2 gives 'one' and row 3")
    status = json.loads(cli("session", "status", directory, "--json").stdout)
    assert status["num_labelled"] == 0


def test_label_refuses_an_item_leased_to_another_annotator_naming_them(
    tmp_path: Path, digits_folder
) -> None:
    directory = new_session(tmp_path, digits_folder)
    item = cli("session", "next", directory, "--annotator", "ann").stdout.split("\t")[0]
    one_error_line(
        cli("session", "label", directory, item, "one", "--annotator", "bob"),
        f"item {item} is leased to annotator 'ann'",
    )
    assert cli("session", "label", directory, item, "one", "--annotator", "ann").exit_code == 0


def test_label_by_another_annotator_keeps_the_first_label_until_correct(
    tmp_path: Path, digits_folder
) -> None:
    from bayesal.session import LabellingSession

    directory = new_session(tmp_path, digits_folder)
    assert cli("session", "label", directory, "7", "one", "--annotator", "ann").exit_code == 0
    other = cli("session", "label", directory, "7", "two", "--annotator", "bob")
    assert other.exit_code == 0, other.output
    assert other.stdout.strip() == (
        "item 7: keeps one by ann (event 1); your two is recorded as an annotation (event 2); "
        "--correct replaces their label"
    )
    fixed = cli("session", "label", directory, "7", "three", "--annotator", "bob", "--correct")
    assert fixed.stdout.strip() == "item 7: three (event 3, corrects event 1)"
    session = LabellingSession.open(directory)
    assert session.labels() == {7: 3}
    assert [(e.annotator, e.label, e.corrects) for e in session.store.events()] == [
        ("ann", 1, None),
        ("bob", 2, None),
        ("bob", 3, 1),
    ]


def test_a_damaged_session_file_is_one_error_line(tmp_path: Path, digits_folder) -> None:
    directory = new_session(tmp_path, digits_folder)
    for item in range(30):
        cli("session", "label", directory, item, item % 10, "--annotator", "ann")
    path = directory / "session.sqlite"
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * 4096
    data[4096:] = b"\0" * (len(data) - 4096)  # every page but the first (the schema) lost
    path.write_bytes(bytes(data))
    for args in (("status",), ("label", "40", "one"), ("export", "--out", tmp_path / "x.csv")):
        result = cli("session", args[0], directory, *args[1:])
        one_error_line(result, "session file is damaged")


def test_label_on_a_full_disk_is_one_error_line_and_loses_no_earlier_label(
    tmp_path: Path, digits_folder, monkeypatch
) -> None:
    import sqlite3

    from bayesal.session import LabellingSession, SessionStore

    directory = new_session(tmp_path, digits_folder)
    connect = SessionStore._connect

    def full_disk(self: SessionStore) -> sqlite3.Connection:  # SQLite's SQLITE_FULL
        conn = connect(self)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(SessionStore, "_connect", full_disk)
    session = LabellingSession.open(directory)  # as `bayesal serve` holds it open
    acknowledged = []
    try:
        for n in range(10_000):
            acknowledged.append(session.label(n % 60, n % 10, f"a{n}").event_id)
    except sqlite3.OperationalError as exc:
        assert exc.sqlite_errorcode == 13  # the disk is now full
    result = cli("session", "label", directory, "5", "one", "--annotator", "zed")
    one_error_line(result, "the disk is full (database or disk is full)")
    monkeypatch.undo()
    reopened = LabellingSession.open(directory)
    assert [e.event_id for e in reopened.store.events()] == acknowledged
    assert all(e.annotator != "zed" for e in reopened.store.events())


def test_serve_without_the_label_extra_says_pip_install_in_one_line(
    tmp_path: Path, digits_folder, monkeypatch
) -> None:
    import sys

    import bayesal
    import bayesal.web

    directory = new_session(tmp_path, digits_folder)
    # Restored after the test: the package attribute as well as sys.modules (a failed
    # re-import would otherwise leave bayesal.web pointing at a half-imported module).
    monkeypatch.setattr(bayesal, "web", bayesal.web)
    for name in [m for m in sys.modules if m == "bayesal.web" or m.startswith("bayesal.web.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fastapi", None)  # `import fastapi` fails as if missing
    one_error_line(
        cli("serve", directory), "module 'fastapi' is not installed): pip install 'bayesal[label]'"
    )
