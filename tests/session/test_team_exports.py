"""Exports and command lines of a team's session (issue 22): the resolved label per item,
one row per annotation (with unsure flags and comments), negative observations, Label
Studio tasks with every annotation and its author; ``bayesal session`` label, status,
history, edit, conflicts, resolve, no, note, candidates and export --annotations."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from bayesal.cli import main
from bayesal.errors import InvalidInputError
from bayesal.session.exchange import export_labels, import_labels
from bayesal.session.labelstudio import read_export


def cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def team_session(make_session, name: str = "a", **overrides: object):
    """Items 0-3 by ann and bob (agreeing on 0 and 1, not on 2), a reviewer decision on
    2, an unsure flag with a comment, a negative observation on 5."""
    session = make_session(name, **overrides)
    session.label(0, "one", "ann")
    session.label(0, "one", "bob", unsure=True, comment="=looks like a 7 too")
    session.label(1, "four", "ann")
    session.label(1, "four", "bob")
    session.label(2, "two", "ann")
    session.label(2, "three", "bob")
    session.label(3, "nine", "bob")
    session.negative(5, "two", "ann")
    return session


def test_csv_export_gives_the_resolved_label_per_item(make_session, tmp_path: Path) -> None:
    session = team_session(make_session, resolve="reviewer")
    frame = pd.read_csv(export_labels(session, tmp_path / "labels.csv"))
    assert list(frame.columns[:3]) == ["item_id", "ref", "label"]
    assert dict(zip(frame["item_id"], frame["label"], strict=True)) == {
        0: "one",
        1: "four",
        3: "nine",
    }  # item 2 is in conflict: no resolved label yet
    session.resolve_conflict(2, "three", "rita")
    frame = pd.read_csv(export_labels(session, tmp_path / "labels.csv"))
    row = frame.set_index("item_id").loc[2]
    assert (row["label"], row["annotator"]) == ("three", "rita")


def test_annotations_export_has_one_row_per_annotation_with_notes(
    make_session, tmp_path: Path
) -> None:
    session = team_session(make_session, resolve="reviewer")
    session.resolve_conflict(2, "three", "rita")
    out = export_labels(session, tmp_path / "annotations.csv", what="annotations")
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame.columns[:7]) == [
        "item_id",
        "annotator",
        "label",
        "time",
        "role",
        "unsure",
        "comment",
    ]
    rows = list(
        zip(frame["item_id"], frame["annotator"], frame["label"], frame["role"], strict=True)
    )
    assert rows == [
        (0, "ann", "one", "annotator"),
        (0, "bob", "one", "annotator"),
        (1, "ann", "four", "annotator"),
        (1, "bob", "four", "annotator"),
        (2, "ann", "two", "annotator"),
        (2, "bob", "three", "annotator"),
        (2, "rita", "three", "reviewer"),
        (3, "bob", "nine", "annotator"),
    ]
    bob0 = frame[(frame["item_id"] == 0) & (frame["annotator"] == "bob")].iloc[0]
    assert bool(bob0["unsure"]) and bob0["comment"] == "'=looks like a 7 too"  # spreadsheet-safe
    assert frame["unsure"].sum() == 1
    negatives = pd.read_csv(export_labels(session, tmp_path / "no.csv", what="negatives"))
    assert negatives[["item_id", "label", "annotator"]].values.tolist() == [[5, "two", "ann"]]


def test_label_studio_export_carries_every_annotation_and_its_author(
    make_session, tmp_path: Path
) -> None:
    session = team_session(make_session)
    session.label(2, "three", "cy", correct=True)  # first rule: a correction
    out = export_labels(session, tmp_path / "tasks.json", "label-studio")
    tasks = {t["data"]["item_id"]: t for t in json.loads(out.read_text())}
    authors = {
        i: sorted(a["bayesal_annotator"] for a in t.get("annotations", []))
        for i, t in tasks.items()
        if t.get("annotations")
    }
    assert authors == {0: ["ann", "bob"], 1: ["ann", "bob"], 2: ["ann", "bob", "cy"], 3: ["bob"]}
    read = read_export(out, session.label_names)
    assert {(r.item_id, r.annotator, r.label) for r in read} == {
        (i, who, session.label_names[v]) for (i, who), v in session.store.annotations().items()
    }
    target = make_session("b")
    import_labels(target, out)
    assert target.labels() == session.labels()  # cy's correction stays the label of 2
    assert target.store.annotations() == session.store.annotations()


def test_a_reviewer_decision_survives_a_label_studio_round_trip(
    make_session, tmp_path: Path
) -> None:
    session = team_session(make_session, resolve="reviewer")
    session.resolve_conflict(2, "three", "rita")
    out = export_labels(session, tmp_path / "tasks.json", "label-studio")
    (task,) = [t for t in json.loads(out.read_text()) if t["data"]["item_id"] == 2]
    decision = [a for a in task["annotations"] if a["bayesal_annotator"] == "rita"]
    assert decision[0]["ground_truth"] is True and decision[0]["bayesal_role"] == "reviewer"
    target = make_session("b", resolve="reviewer")
    import_labels(target, out)
    assert target.labels() == session.labels() and target.store.conflicts() == []


def test_a_label_studio_copy_is_one_more_annotation_by_the_user_who_imported_the_tasks(
    make_session, tmp_path: Path
) -> None:
    """What docs/labelstudio.md says of an export that went through Label Studio (whose
    importer keeps neither bayesal's fields nor created_at) and of one annotator giving
    two labels for one item."""
    session = make_session(resolve="majority")
    session.label(0, "one", "ann")
    session.label(1, "four", "ann")
    out = export_labels(session, tmp_path / "tasks.json", "label-studio")
    tasks = json.loads(out.read_text())
    for number, task in enumerate(tasks):  # as Label Studio exports them again
        task["id"] = number + 1
        for annotation in task.get("annotations", []):
            for key in ("bayesal_annotator", "bayesal_role", "bayesal_resolved", "created_at"):
                annotation.pop(key, None)
            annotation["completed_by"] = 7
    session.label(0, "two", "ann")  # ann changes her label in bayesal meanwhile
    studio = tmp_path / "export.json"
    studio.write_text(json.dumps(tasks))
    summary = import_labels(session, studio)
    assert (summary.recorded, summary.unchanged) == (1, 1)  # item 1: equal to its label
    annotations = session.store.annotations()
    names = session.label_names
    assert names[annotations[(0, "labelstudio:7")]] == "one"  # the importer's annotation
    assert names[annotations[(0, "ann")]] == "two"  # beside ann's, not over it
    assert session.label_of(0) is None  # majority rule: one against one, a conflict
    assert [c["item_id"] for c in session.conflicts()] == [0]
    # One annotator, two labels for one item: refused whole, naming the item.
    (task,) = [t for t in tasks if t["data"]["item_id"] == 0]
    copy = task["annotations"][0]
    result = {**copy["result"][0], "value": {"choices": ["nine"]}}
    task["annotations"].append({**copy, "result": [result]})
    studio.write_text(json.dumps(tasks))
    before = session.store.annotations()
    refused = "item 0: .*'one'.*'nine' .annotator 'labelstudio:7'"
    with pytest.raises(InvalidInputError, match=refused):
        import_labels(session, studio)
    assert session.store.annotations() == before


# --------------------------------------------------------------------------- command line


def test_cli_label_adds_annotations_and_status_shows_agreement_and_conflicts(
    make_session,
) -> None:
    session = make_session(resolve="majority", overlap=1.0)
    d = session.directory
    assert cli("session", "label", d, 3, "one", "--annotator", "ann").exit_code == 0
    second = cli("session", "label", d, 3, "two", "--annotator", "bob")
    assert second.exit_code == 0, second.output
    assert "in conflict until a reviewer resolves it" in second.stdout
    assert session.store.annotations() == {(3, "ann"): 1, (3, "bob"): 2}
    correct = cli("session", "label", d, 3, "two", "--annotator", "bob", "--correct")
    assert correct.exit_code == 2 and "resolve: majority" in correct.stderr
    status = cli("session", "status", d)
    assert "annotator agreement: cohen kappa" in status.stdout
    assert "over 1 items labelled by 2+ annotators" in status.stdout
    assert "conflicts: 1 waiting for a reviewer (resolve: majority)" in status.stdout
    as_json = json.loads(cli("session", "status", d, "--json").stdout)
    assert as_json["agreement"]["method"] == "cohen" and as_json["agreement"]["items"] == 1
    assert as_json["conflicts"] == 1 and "model_agreement" in as_json

    listed = cli("session", "conflicts", d)
    assert listed.stdout.startswith("item 3\t") and "ann: one, bob: two" in listed.stdout
    resolved = cli("session", "resolve", d, 3, "two", "--reviewer", "rita")
    assert resolved.exit_code == 0 and "by reviewer rita" in resolved.stdout
    assert session.labels() == {3: 2}
    assert "0 conflicts" in cli("session", "conflicts", d).stderr


def test_cli_label_respects_another_annotators_lease(make_session) -> None:
    session = make_session()
    d = session.directory
    held = cli("session", "next", d, "--annotator", "ann").stdout.split("\t")[0]
    refused = cli("session", "label", d, held, "one", "--annotator", "bob")
    assert refused.exit_code == 2 and "leased to annotator 'ann'" in refused.stderr
    assert session.store.events() == []


def test_cli_history_edit_note_and_no(make_session) -> None:
    session = make_session()
    d = session.directory
    cli("session", "label", d, 1, "one", "--annotator", "ann", "--unsure", "--comment", "faint")
    cli("session", "label", d, 2, "two", "--annotator", "ann")
    history = cli("session", "history", d, "--annotator", "ann")
    lines = history.stdout.strip().splitlines()
    assert lines[0].startswith("event 2\titem 2\ttwo") and "(unsure)" in lines[1]
    edited = cli("session", "edit", d, 1, "seven", "--annotator", "ann")
    assert edited.exit_code == 0 and "corrects event 1" in edited.stdout
    assert session.labels() == {1: 7, 2: 2}
    rows = [
        json.loads(x)
        for x in cli("session", "history", d, "--annotator", "ann", "--json").stdout.splitlines()
    ]
    assert [r["event_id"] for r in rows] == [3, 2, 1] and rows[2]["corrected_by"] == 3
    noted = cli("session", "note", d, 9, "--annotator", "bob", "--comment", "two digits?")
    assert noted.exit_code == 0 and session.notes(item_id=9)[0]["unsure"] is True
    no = cli("session", "no", d, 4, "two", "--annotator", "bob")
    assert no.exit_code == 0 and session.negatives()[0]["item_id"] == 4
    bad = cli("session", "no", d, 4, "eleven")
    assert bad.exit_code == 2 and "unknown label" in bad.stderr


def test_cli_export_annotations_and_candidates(make_session, digits_folder, tmp_path: Path) -> None:
    session = team_session(make_session)
    d = session.directory
    out = tmp_path / "a.csv"
    done = cli("session", "export", d, "--annotations", "--out", out)
    assert done.exit_code == 0, done.output
    assert len(pd.read_csv(out)) == 7
    both = cli("session", "export", d, "--annotations", "--negatives", "--out", out)
    assert both.exit_code == 2
    truth = digits_folder[1]
    for item in range(10, 40):
        session.label(item, int(truth[item]), "ann")
    session.retrain()
    picked = cli("session", "candidates", d, "two", "-n", "3")
    assert picked.exit_code == 0, picked.output
    ids = [int(line.split("\t")[0]) for line in picked.stdout.splitlines()]
    assert ids == [v.item_id for v in session.yes_no_candidates("two", 3)] and len(ids) == 3


def test_cli_multilabel_and_regression_labels(make_session) -> None:
    multi = make_session("m", task="multilabel", labels=["cat", "dog", "car"])
    done = cli("session", "label", multi.directory, 4, "dog,cat", "--annotator", "ann")
    assert done.exit_code == 0 and done.stdout.strip() == "item 4: {cat,dog} (event 1)"
    empty = cli("session", "label", multi.directory, 5, "", "--annotator", "ann")
    assert empty.exit_code == 0 and empty.stdout.strip() == "item 5: {} (event 2)"
    bad = cli("session", "label", multi.directory, 6, "cat,bird", "--annotator", "ann")
    assert bad.exit_code == 2 and "unknown label 'bird'" in bad.stderr
    numbers = make_session("r", task="regression", labels=None)
    # a negative number after "--", or click reads it as an option
    given = cli("session", "label", numbers.directory, "--annotator", "ann", "--", 4, "-2.5")
    assert given.exit_code == 0 and given.stdout.strip() == "item 4: -2.5 (event 1)"
    nan = cli("session", "label", numbers.directory, 5, "nan", "--annotator", "ann")
    assert nan.exit_code == 2 and "finite" in nan.stderr


def test_cli_conflicts_all_lists_resolved_disagreements(make_session) -> None:
    session = make_session()
    session.label(1, "one", "ann")
    session.label(1, "seven", "bob")
    assert cli("session", "conflicts", session.directory).stdout == ""
    listed = cli("session", "conflicts", session.directory, "--all")
    assert "ann: one, bob: seven (resolved: one)" in listed.stdout
    assert "1 disagreements" in listed.stderr
