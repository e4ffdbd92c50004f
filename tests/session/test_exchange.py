"""Tests of bayesal.session.exchange: CSV / Parquet / Label Studio exports read back into
a fresh session over the same data, and the checks of ``import_labels``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from bayesal.errors import DataNotFoundError, InvalidInputError
from bayesal.session.exchange import EXPORT_FORMATS, export_labels, import_labels, labels_frame
from bayesal.session.labelstudio import read_export

COLUMNS = ["item_id", "ref", "label", "label_index", "annotator", "time", "source"]


def labelled_session(make_session, name: str = "a"):
    """A session with labels by three annotators, a correction and an undo, retrained so
    that its queue has predictions, then one queued item labelled after the retrain."""
    session = make_session(name)
    for item, label, who in [
        (0, "one", "ann"),
        (5, "two", "bob"),
        (9, 7, "ann"),
        (12, "nine", "cy"),
        (33, "zero", "bob"),
    ]:
        session.label(item, label, who)
    session.label(5, "three", "ann", correct=True)  # a correction of bob's label
    session.label(40, "four", "cy")
    session.undo("cy")  # 40 is unlabelled again
    session.retrain()
    queued = session.store.queue()[0].item_id
    session.label(queued, "eight", "ann")
    return session, queued


def test_csv_export_imports_into_a_fresh_session_as_the_same_labels(
    make_session, tmp_path: Path
) -> None:
    source, queued = labelled_session(make_session)
    out = export_labels(source, tmp_path / "labels.csv")
    frame = pd.read_csv(out)
    assert list(frame.columns) == COLUMNS
    assert frame["item_id"].tolist() == sorted(source.labels())
    row = frame.set_index("item_id").loc[5]
    assert (row["label"], row["label_index"], row["annotator"], row["source"]) == (
        "three",
        3,
        "ann",
        "api",
    )
    assert dt.datetime.fromisoformat(row["time"]).tzinfo is not None

    target = make_session("b")
    done = import_labels(target, out)
    assert (done.recorded, done.unchanged) == (len(source.labels()), 0)
    assert target.labels() == source.labels()
    assert queued in target.labels()
    # the resolved labels carry who set them (the annotations export carries the rest)
    assert labels_frame(target)["annotator"].tolist() == labels_frame(source)["annotator"].tolist()
    times = {e.item_id: e.time for e in target.store.events()}
    for item_id, (_, event_id) in source.store.current_labels().items():
        original = next(e for e in source.store.events() if e.event_id == event_id)
        assert times[item_id] == pytest.approx(original.time, abs=1e-3)
    assert {e.source for e in target.store.events()} == {"import:labels.csv"}


def test_parquet_export_has_the_documented_columns(make_session, tmp_path: Path) -> None:
    pytest.importorskip(
        "pyarrow",
        reason="pyarrow is not installed (`make test` installs it; pip install 'bayesal[parquet]')",
    )
    source, _ = labelled_session(make_session)
    out = export_labels(source, tmp_path / "labels.parquet", "parquet")
    frame = pd.read_parquet(out)
    assert list(frame.columns) == COLUMNS
    assert str(frame["item_id"].dtype) == "int64" and str(frame["label_index"].dtype) == "int64"
    assert dict(zip(frame["item_id"], frame["label_index"], strict=True)) == source.labels()
    assert set(frame["label"]) == {source.label_names[i] for i in source.labels().values()}


def test_label_studio_export_gives_back_every_label(make_session, tmp_path: Path) -> None:
    source, queued = labelled_session(make_session)
    out = export_labels(source, tmp_path / "tasks.json", "label-studio")
    tasks = json.loads(out.read_text())
    queue_ids = [q.item_id for q in source.store.queue()]
    assert [t["data"]["item_id"] for t in tasks[: len(queue_ids)]] == queue_ids
    assert all(t["data"]["image"].startswith("/data/local-files/?d=img") for t in tasks)
    by_id = {t["data"]["item_id"]: t for t in tasks}
    assert set(by_id) == set(queue_ids) | set(source.labels())
    assert "predictions" in by_id[queue_ids[1]]
    assert "annotations" in by_id[queued]  # queued, then labelled: the label goes out too
    read = read_export(out, source.label_names)
    every = {(i, source.label_names[v], who) for (i, who), v in source.store.annotations().items()}
    assert {(r.item_id, r.label, r.annotator) for r in read} == every  # each with its author
    assert len(by_id[5]["annotations"]) == 2  # bob's two and ann's correction three

    target = make_session("b")
    done = import_labels(target, out, annotator="lsuser")
    assert done.recorded == len(every)
    assert target.labels() == source.labels()  # the resolved label goes first
    assert target.store.annotations() == source.store.annotations()
    assert import_labels(target, out).recorded == 0  # twice: nothing new


def test_a_file_with_two_annotators_for_an_item_imports_twice_harmlessly(
    make_session, tmp_path: Path
) -> None:
    session = make_session()
    csv = tmp_path / "twice.csv"
    csv.write_text("item_id,label,annotator\n3,one,ann\n3,two,bob\n4,five,\n")
    first = import_labels(session, csv)
    assert (first.recorded, first.unchanged, first.kept) == (3, 0, 1)
    assert session.labels() == {3: 1, 4: 5}  # the first annotator's; bob's is kept beside
    assert [e.annotator for e in session.store.events()] == ["ann", "bob", "import"]
    events = session.store.events()
    second = import_labels(session, csv)
    assert (second.recorded, second.unchanged) == (0, 3)
    assert session.store.events() == events
    # After a correction in the session only the rows it changed are recorded again.
    session.label(3, "six", "cy", correct=True)
    third = import_labels(session, csv)
    assert (third.recorded, third.unchanged) == (0, 3) and session.labels() == {3: 6, 4: 5}
    with pytest.raises(InvalidInputError, match="item 3: row 2 gives 'one' and row 3 gives"):
        import_labels(session, csv, correct=True)  # corrections: one label per item


def test_import_by_ref_and_the_default_annotator(make_session, tmp_path: Path) -> None:
    session = make_session()
    refs = {ref: i for i, ref, _ in session.store.items()}
    csv = tmp_path / "by_ref.csv"
    csv.write_text("ref,label\nimg0007.png,seven\nimg0011.png,3\n")
    done = import_labels(session, csv, annotator="Dana")
    assert done.recorded == 2
    assert session.labels() == {refs["img0007.png"]: 7, refs["img0011.png"]: 3}
    assert session.status().per_annotator == {"Dana": 2}


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("999,one", "row 3: no item 999"),
        ("-2,one", "row 3: no item -2"),
        ("abc,one", "row 3: item id must be an integer"),
        ("4,eleven", "row 3: unknown label 'eleven'"),
        ("4,10", "row 3: label index 10 out of range"),
        ("4,", "row 3: unknown label ''"),
        ("4,one," + "x" * 101, "row 3: annotator must be 1 to 100 printable characters"),
    ],
)
def test_a_bad_row_imports_nothing_and_is_named(
    make_session, tmp_path: Path, line: str, match: str
) -> None:
    session = make_session()
    csv = tmp_path / "bad.csv"
    csv.write_text(f"item_id,label,annotator\n1,one,\n{line}\n2,two,ann\n")
    with pytest.raises(InvalidInputError, match=match) as caught:
        import_labels(session, csv)
    assert "nothing imported" in str(caught.value)
    assert session.labels() == {} and session.store.events() == []


def test_bad_files_are_refused(make_session, tmp_path: Path) -> None:
    session = make_session()
    with pytest.raises(DataNotFoundError):
        import_labels(session, tmp_path / "missing.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,class\n1,one\n")
    with pytest.raises(InvalidInputError, match="needs a 'label' column"):
        import_labels(session, wrong)
    not_json = tmp_path / "tasks.json"
    not_json.write_text("{ nope")
    with pytest.raises(InvalidInputError):
        import_labels(session, not_json)
    bad_ref = tmp_path / "ref.csv"
    bad_ref.write_text("ref,label\nnope.png,one\n")
    with pytest.raises(InvalidInputError, match="row 2: no item with ref 'nope.png'"):
        import_labels(session, bad_ref)
    with pytest.raises(InvalidInputError, match="unknown export format"):
        export_labels(session, tmp_path / "x.txt", "xml")  # type: ignore[arg-type]
    assert session.store.events() == []
    assert EXPORT_FORMATS == ("csv", "parquet", "label-studio")


def test_an_empty_session_exports_an_empty_table(make_session, tmp_path: Path) -> None:
    session = make_session()
    frame = pd.read_csv(export_labels(session, tmp_path / "none.csv"))
    assert list(frame.columns) == COLUMNS and len(frame) == 0
    tasks = json.loads(export_labels(session, tmp_path / "t.json", "label-studio").read_text())
    assert [t["data"]["item_id"] for t in tasks] == [q.item_id for q in session.store.queue()]
    assert all("annotations" not in t and "predictions" not in t for t in tasks)  # cold start


# --------------------------------------------------------------------------- issue 21


def test_conflicting_rows_for_one_item_import_nothing_and_name_the_item_and_rows(
    make_session, tmp_path: Path
) -> None:
    session = make_session()
    csv = tmp_path / "conflict.csv"
    csv.write_text("item_id,label\n1,one\n4,one\n4,two\n")
    with pytest.raises(
        InvalidInputError,
        match=r"nothing imported; conflicting.*item 4: row 3 gives 'one' and "
        r"row 4 gives 'two'",
    ):
        import_labels(session, csv)
    assert session.store.events() == []


def test_identical_repeated_rows_are_recorded_once(make_session, tmp_path: Path) -> None:
    session = make_session()
    csv = tmp_path / "repeats.csv"
    csv.write_text("item_id,label\n" + "4,one\n" * 50 + "5,two\n")
    done = import_labels(session, csv)
    assert (done.recorded, done.duplicates) == (2, 49)
    assert len(session.store.events()) == 2 and session.labels() == {4: 1, 5: 2}


def test_a_file_with_more_rows_than_the_session_bound_imports_nothing_and_states_the_bound(
    make_session, tmp_path: Path
) -> None:
    from bayesal.session.exchange import max_import_rows

    session = make_session()  # 60 items
    limit = max_import_rows(60)
    assert limit == 1200
    csv = tmp_path / "huge.csv"
    csv.write_text("item_id,label\n" + "4,one\n4,two\n" * (limit // 2 + 1))
    with pytest.raises(InvalidInputError, match="more than 1200 rows for a session of 60 items"):
        import_labels(session, csv)
    assert session.store.events() == []


def test_a_time_that_is_not_iso_8601_imports_nothing_and_names_the_row(
    make_session, tmp_path: Path
) -> None:
    session = make_session()
    csv = tmp_path / "times.csv"
    csv.write_text("item_id,label,time\n1,one,2024-05-01T12:00:00Z\n2,two,not-a-time\n3,one,\n")
    with pytest.raises(InvalidInputError, match="row 3: time 'not-a-time' is not an ISO 8601"):
        import_labels(session, csv)
    assert session.store.events() == []


def test_an_import_keeps_another_annotators_label_unless_correct(
    make_session, tmp_path: Path
) -> None:
    session = make_session()
    session.label(4, "one", "ann")
    csv = tmp_path / "other.csv"
    csv.write_text("item_id,label,annotator\n4,two,bob\n")
    done = import_labels(session, csv)
    assert (done.recorded, done.kept) == (1, 1) and session.labels() == {4: 1}
    csv.write_text("item_id,label,annotator\n4,three,bob\n")
    fixed = import_labels(session, csv, correct=True)
    assert (fixed.recorded, fixed.kept) == (1, 0) and session.labels() == {4: 3}
    assert session.store.events()[-1].corrects == session.store.events()[0].event_id


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_csv_export_prefixes_formula_cells_with_a_quote_and_imports_them_back_exactly(
    make_session, tmp_path: Path, start: str
) -> None:
    session = make_session()
    session.label(4, "one", f"{start}HYPERLINK(1)")
    session.label(5, "two", "'=quoted")  # a quote then a trigger: one more quote
    session.label(6, "three", "'plain")  # any other quote: as is
    out = export_labels(session, tmp_path / "labels.csv")
    frame = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("item_id")
    assert frame.loc["4", "annotator"] == f"'{start}HYPERLINK(1)"
    assert frame.loc["5", "annotator"] == "''=quoted"
    assert frame.loc["6", "annotator"] == "'plain"
    for cell in frame.to_numpy().ravel():
        assert not str(cell).startswith(FORMULA_STARTS), cell
    target = make_session("b")
    import_labels(target, out)
    assert {(e.item_id, e.annotator) for e in target.store.events()} == {
        (e.item_id, e.annotator) for e in session.store.events()
    }


@pytest.mark.parametrize(
    "value", ["\tx", "\rx", "=1", "'=1", "''", "'", "''x", "'x", "x", "", "-", "a=b"]
)
def test_spreadsheet_safe_cells_start_with_no_formula_character_and_read_back_exactly(
    value: str,
) -> None:
    from bayesal.session.exchange import from_spreadsheet_safe, spreadsheet_safe

    safe = spreadsheet_safe(value)
    assert not safe.startswith(FORMULA_STARTS)
    assert from_spreadsheet_safe(safe) == value


def test_label_studio_export_writes_the_labelling_config_beside_the_tasks(
    make_session, tmp_path: Path
) -> None:
    import xml.etree.ElementTree as ET

    from bayesal.session.exchange import labelling_config_path

    session = make_session()
    export_labels(session, tmp_path / "tasks.json", "label-studio")
    path = labelling_config_path(tmp_path / "tasks.json")
    assert path == tmp_path / "tasks.labelling.xml"
    root = ET.fromstring(path.read_text())
    assert root.tag == "View"
    image = root.find("Image")
    assert image is not None and image.get("value") == "$image"
    choices = root.find("Choices")
    assert choices is not None and choices.get("toName") == image.get("name")
    assert [c.get("value") for c in choices] == session.label_names
