"""Tests of bayesal.session.labelstudio: config XML, task export, export reading, round trip.

The fixture files in ``tests/session/data/`` are written by hand in Label Studio's
documented export formats (https://labelstud.io/guide/export#JSON and #JSON-MIN; the
JSON_MIN one as Label Studio's converter writes it: a lone choice as a string, an int
``annotator`` for a user without e-mail, ``null`` fields for a task without annotations).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayesal.errors import BayesalError, DataNotFoundError, InvalidInputError
from bayesal.session.labelstudio import (
    MAX_EXPORT_BYTES,
    ImportedLabel,
    QueueTask,
    export_tasks,
    labelling_config,
    normalise_ref,
    read_export,
    write_tasks,
)

DATA = Path(__file__).parent / "data"
FULL = DATA / "labelstudio_export.json"
MINI = DATA / "labelstudio_export_min.json"
LABELS = ["cat", "dog", "bird"]

# What both fixtures hold, oldest first: task 104 has no item_id (found via ref_to_id),
# 102 has two annotations listed newest first, 103 a cancelled one, 105 none, 106 an empty
# result; 1001 also holds a text area result, which is not a label.
EXPECTED = [
    ImportedLabel(1, "cat", "ana@example.org", "2024-05-02T10:00:00+00:00", 101),
    ImportedLabel(4, "cat", "ana@example.org", "2024-05-02T10:01:00+00:00", 104),
    ImportedLabel(2, "dog", "ana@example.org", "2024-05-02T10:05:00+00:00", 102),
    ImportedLabel(2, "cat", "labelstudio:2", "2024-05-02T10:07:00+00:00", 102),
    ImportedLabel(3, "bird", "carol@example.org", "2024-05-02T10:12:30+00:00", 103),
]
REFS = {"cats/4.png": 4}


def _task(item_id: int = 1, **kw: Any) -> QueueTask:
    fields: dict[str, Any] = {
        "data": {"image": f"/data/local-files/?d=pets/{item_id}.png"},
        "rank": 0,
        "score": 0.5,
        "predicted": "cat",
        "predicted_prob": 0.75,
    }
    fields.update(kw)
    return QueueTask(item_id=item_id, **fields)


def _ls_task(choices: list[str], *, task_id: int = 9, **annotation: Any) -> dict[str, Any]:
    """One task in Label Studio's JSON export format, with one annotation."""
    return {
        "id": task_id,
        "data": {"image": "/data/local-files/?d=x.png", "item_id": 3},
        "annotations": [
            {
                "id": 77,
                "completed_by": 1,
                "created_at": "2024-01-01T00:00:00Z",
                "was_cancelled": False,
                "result": [
                    {
                        "from_name": "label",
                        "to_name": "image",
                        "type": "choices",
                        "value": {"choices": choices},
                    }
                ],
                **annotation,
            }
        ],
    }


# --------------------------------------------------------------------------------------
# labelling_config
# --------------------------------------------------------------------------------------


def test_config_image_is_single_choice_xml() -> None:
    xml = labelling_config(["cat", "dog"])
    root = ET.fromstring(xml)
    assert root.tag == "View"
    image, choices = list(root)
    assert (image.tag, image.attrib) == ("Image", {"name": "image", "value": "$image"})
    assert choices.tag == "Choices"
    assert choices.attrib == {
        "name": "label",
        "toName": "image",
        "choice": "single",
        "showInline": "true",
    }
    assert [c.attrib["value"] for c in choices] == ["cat", "dog"]


@pytest.mark.parametrize(
    ("kind", "tag", "value"),
    [("image", "Image", "$image"), ("text", "Text", "$text"), ("table", "Table", "$row")],
)
def test_config_object_tag_per_kind(kind: Any, tag: str, value: str) -> None:
    root = ET.fromstring(labelling_config(["a"], kind))
    obj, choices = list(root)
    assert (obj.tag, obj.attrib["name"], obj.attrib["value"]) == (tag, kind, value)
    assert choices.attrib["toName"] == kind


def test_config_custom_tag_names() -> None:
    root = ET.fromstring(labelling_config(["a"], "text", from_name="cls", to_name="doc"))
    obj, choices = list(root)
    assert obj.attrib["name"] == "doc"
    assert (choices.attrib["name"], choices.attrib["toName"]) == ("cls", "doc")


def test_config_escapes_label_names() -> None:
    names = ['a "quoted" <b>', "x & y", "it's", "ünïcødé 猫", "$image", "]]>", "  padded "]
    xml = labelling_config(names)
    assert '"quoted"' not in xml and "<b>" not in xml
    choices = ET.fromstring(xml).find("Choices")
    assert choices is not None
    assert [c.attrib["value"] for c in choices] == names


@pytest.mark.parametrize(
    ("names", "match"),
    [
        ([], "empty"),
        ("cat", "list of strings"),
        (["cat", "cat"], "twice"),
        (["cat", "  "], "blank"),
        (["line\nbreak"], "control characters"),
        (["tab\there"], "control characters"),
        (["nul\x00"], "control characters"),
        (["ok", 3], "must be strings"),
    ],
)
def test_config_rejects_bad_label_names(names: Any, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        labelling_config(names)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "video"}, "kind must be one of"),
        ({"from_name": "bad name"}, "not a tag name"),
        ({"from_name": '"><x'}, "not a tag name"),
        ({"to_name": ""}, "not a tag name"),
        ({"from_name": "image"}, "must differ"),
    ],
)
def test_config_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        labelling_config(["cat"], **kwargs)


# --------------------------------------------------------------------------------------
# export_tasks / write_tasks
# --------------------------------------------------------------------------------------


def test_export_task_shape() -> None:
    [task] = export_tasks(
        [_task(12, score=0.41, predicted="dog", predicted_prob=0.62)],
        LABELS,
        model_version="bald-v1",
    )
    assert task["data"] == {
        "image": "/data/local-files/?d=pets/12.png",
        "item_id": 12,
        "bayesal_rank": 0,
        "bayesal_score": 0.41,
    }
    assert "id" not in task and "annotations" not in task
    assert task["predictions"] == [
        {
            "model_version": "bald-v1",
            "score": 0.62,
            "result": [
                {
                    "id": "bayesal-p12",
                    "from_name": "label",
                    "to_name": "image",
                    "type": "choices",
                    "value": {"choices": ["dog"]},
                }
            ],
        }
    ]


def test_export_existing_label_is_an_annotation() -> None:
    [task] = export_tasks([_task(5, label="bird", annotator="ana")], LABELS)
    [annotation] = task["annotations"]
    assert annotation["was_cancelled"] is False
    assert annotation["result"] == [
        {
            "id": "bayesal-a5",
            "from_name": "label",
            "to_name": "image",
            "type": "choices",
            "value": {"choices": ["bird"]},
        }
    ]


def test_export_without_prediction_or_probability() -> None:
    no_pred, no_prob = export_tasks(
        [
            _task(1, rank=0, predicted=None, predicted_prob=None),
            _task(2, rank=1, predicted_prob=None),
        ],
        LABELS,
    )
    assert "predictions" not in no_pred
    assert "score" not in no_prob["predictions"][0]


def test_export_non_finite_numbers_become_null() -> None:
    tasks = export_tasks(
        [
            _task(1, rank=0, score=float("nan"), predicted_prob=float("nan")),
            _task(2, rank=1, score=float("inf")),
            _task(3, rank=2, score=np.float32(-np.inf)),
            _task(4, rank=3, score=np.float64(0.25), predicted_prob=np.float32(0.5)),
        ],
        LABELS,
    )
    text = json.dumps(tasks, allow_nan=False)  # would raise on NaN / inf
    back = json.loads(text)
    assert [t["data"]["bayesal_score"] for t in back] == [None, None, None, 0.25]
    assert "score" not in back[0]["predictions"][0]
    assert back[3]["predictions"][0]["score"] == 0.5
    assert type(tasks[3]["data"]["bayesal_score"]) is float


def test_export_sorts_by_rank_and_keeps_order_of_ties() -> None:
    tasks = export_tasks(
        [_task(10, rank=2), _task(11, rank=0), _task(12, rank=1), _task(13, rank=0)], LABELS
    )
    assert [t["data"]["item_id"] for t in tasks] == [11, 13, 12, 10]


def test_export_table_and_text() -> None:
    [flat, nested] = export_tasks(
        [
            _task(1, data={"age": 31, "city": "Oslo"}, rank=0),
            _task(2, data={"row": {"age": 40}, "note": "x"}, rank=1),
        ],
        LABELS,
        kind="table",
    )
    assert flat["data"]["row"] == {"age": 31, "city": "Oslo"}
    assert flat["predictions"][0]["result"][0]["to_name"] == "table"
    assert nested["data"]["row"] == {"age": 40} and nested["data"]["note"] == "x"
    [text] = export_tasks([_task(3, data={"text": "hello"})], LABELS, kind="text")
    assert text["data"]["text"] == "hello"


def test_export_numpy_ids_and_ranks() -> None:
    [task] = export_tasks([_task(np.int64(2**62), rank=np.int32(3))], LABELS)
    assert task["data"]["item_id"] == 2**62 and type(task["data"]["item_id"]) is int
    assert task["data"]["bayesal_rank"] == 3 and type(task["data"]["bayesal_rank"]) is int


@pytest.mark.parametrize(
    ("tasks", "match"),
    [
        ([_task(1), _task(1)], "twice"),
        ([_task(True)], "must be an integer"),
        ([_task(1.0)], "must be an integer"),
        ([_task(2**63)], "outside int64"),
        ([_task(1, rank=0.5)], "rank must be an integer"),
        ([_task(1, data={"img": "x"})], "no 'image' key"),
        ([_task(1, data=["x"])], "must be a mapping"),
        ([_task(1, data={"image": "x", "item_id": 1})], "collide"),
        ([_task(1, data={"image": "x", "label": "cat"})], "collide"),
        ([_task(1, data={"image": "x", "id": 4})], "collide"),
        ([_task(1, data={"image": "x", "annotator": "me"})], "collide"),
        ([_task(1, predicted="cow")], "'cow' is not one of"),
        ([_task(1, label="cow")], "'cow' is not one of"),
        ([_task(1, predicted_prob=1.5)], r"not a probability in \[0, 1\]"),
        ([_task(1, score="high")], "must be a number"),
        (["not a task"], "not a QueueTask"),
    ],
)
def test_export_rejects_bad_tasks(tasks: list[Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        export_tasks(tasks, LABELS)


def test_export_rejects_non_mapping_table_row() -> None:
    with pytest.raises(InvalidInputError, match="mapping for a table"):
        export_tasks([_task(1, data={"row": [1, 2]})], LABELS, kind="table")


def test_write_tasks_is_atomic_utf8_json(tmp_path: Path) -> None:
    tasks = export_tasks([_task(1, predicted="ünï 猫", label="ünï 猫")], ["ünï 猫"])
    out = write_tasks(tmp_path / "sub" / "tasks.json", tasks)
    assert out == tmp_path / "sub" / "tasks.json"
    raw = out.read_bytes()
    assert "ünï 猫".encode() in raw  # UTF-8, not \u escapes
    assert json.loads(raw) == tasks
    assert [p.name for p in out.parent.iterdir()] == ["tasks.json"]  # no temp file left


@pytest.mark.parametrize(
    "bad",
    [[{"data": {"x": float("nan")}}], [{"data": {"x": {1, 2}}}], {"data": {}}, ["task"]],
)
def test_write_tasks_refuses_what_json_cannot_carry(tmp_path: Path, bad: Any) -> None:
    target = tmp_path / "tasks.json"
    target.write_text("[]\n")
    with pytest.raises(InvalidInputError):
        write_tasks(target, bad)
    assert target.read_text() == "[]\n"  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.json"]


# --------------------------------------------------------------------------------------
# read_export: the fixture files
# --------------------------------------------------------------------------------------


def test_read_full_json_export() -> None:
    assert read_export(FULL, LABELS, ref_to_id=REFS) == EXPECTED


def test_read_json_min_export() -> None:
    assert read_export(MINI, LABELS, ref_to_id=REFS) == EXPECTED


def test_read_export_accepts_str_path_and_parsed_list() -> None:
    parsed = json.loads(FULL.read_text(encoding="utf-8"))
    assert read_export(str(FULL), LABELS, ref_to_id=REFS) == EXPECTED
    assert read_export(parsed, LABELS, ref_to_id=REFS) == EXPECTED


def test_read_export_from_name_filters_results() -> None:
    assert read_export(FULL, LABELS, from_name="label", ref_to_id=REFS) == EXPECTED
    assert read_export(FULL, LABELS, from_name="other", ref_to_id=REFS) == []
    assert read_export(MINI, LABELS, from_name="other", ref_to_id=REFS) == []


def test_read_export_default_annotator() -> None:
    task = _ls_task(["cat"])
    del task["annotations"][0]["completed_by"]
    [label] = read_export([task], LABELS, default_annotator="someone")
    assert label.annotator == "someone"
    [label] = read_export([task], LABELS)
    assert label.annotator == "labelstudio"
    task["annotations"][0]["completed_by"] = {"id": 8, "email": ""}
    assert read_export([task], LABELS)[0].annotator == "labelstudio:8"


def test_read_export_without_ids_needs_ref_to_id() -> None:
    with pytest.raises(InvalidInputError, match=r"record 3 \(task 104\).*ref_to_id"):
        read_export(FULL, LABELS)
    with pytest.raises(InvalidInputError, match=r"record 4 \(task 104\).*ref_to_id"):
        read_export(MINI, LABELS)
    with pytest.raises(InvalidInputError, match=r"task 104.*not found|task 104.*no data value"):
        read_export(FULL, LABELS, ref_to_id={"dogs/9.png": 9})


def test_read_export_unlabelled_tasks_need_no_id() -> None:
    task = _ls_task(["cat"])
    task["annotations"] = []
    del task["data"]["item_id"]
    assert read_export([task], LABELS) == []


def test_item_id_as_digit_string() -> None:
    task = _ls_task(["cat"])
    task["data"]["item_id"] = "4611686018427387904"
    assert read_export([task], LABELS)[0].item_id == 2**62


@pytest.mark.parametrize("bad", [True, 1.5, "12a", [1], 2**64, float(2**60)])
def test_item_id_must_be_an_integer(bad: Any) -> None:
    task = _ls_task(["cat"])
    task["data"]["item_id"] = bad
    with pytest.raises(InvalidInputError, match=r"record 0 \(task 9\).*item_id"):
        read_export([task], LABELS)


# --------------------------------------------------------------------------------------
# read_export: what is skipped, and errors
# --------------------------------------------------------------------------------------


def test_cancelled_and_empty_annotations_are_skipped() -> None:
    cancelled = _ls_task(["cat"], was_cancelled=True)
    skipped_old = _ls_task(["cat"], skipped=True)
    empty = _ls_task([])
    no_result = _ls_task(["cat"], result=None)
    assert read_export([cancelled, skipped_old, empty, no_result], LABELS) == []


def test_choice_not_in_label_names_names_task_and_allowed() -> None:
    with pytest.raises(InvalidInputError) as info:
        read_export([_ls_task(["cow"], task_id=42)], LABELS)
    message = str(info.value)
    assert "task 42" in message and "'cow'" in message
    assert all(repr(name) in message for name in LABELS)


def test_multi_choice_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match=r"task 9.*several choices"):
        read_export([_ls_task(["cat", "dog"])], LABELS)
    record = {"id": 5, "item_id": 1, "label": {"choices": ["cat", "dog"]}}
    with pytest.raises(InvalidInputError, match=r"task 5.*several choices"):
        read_export([record], LABELS)


def test_json_min_multi_choice_with_one_pick_and_lists() -> None:
    one = {"id": 5, "item_id": 1, "label": {"choices": ["dog"]}}
    listed = {"id": 6, "item_id": 2, "label": [{"choices": ["cat"]}, "cat"]}
    labels = read_export([one, listed], LABELS)
    assert [(x.item_id, x.label, x.time, x.source_task) for x in labels] == [
        (1, "dog", None, 5),
        (2, "cat", None, 6),
    ]


def test_choices_of_several_tags_need_from_name() -> None:
    task = _ls_task(["cat"])
    task["annotations"][0]["result"].append(
        {"from_name": "mood", "to_name": "image", "type": "choices", "value": {"choices": ["x"]}}
    )
    with pytest.raises(InvalidInputError, match="pass from_name"):
        read_export([task], LABELS)
    assert read_export([task], LABELS, from_name="label")[0].label == "cat"


def test_labels_are_sorted_by_time_untimed_first() -> None:
    late = _ls_task(["dog"], task_id=1, created_at="2024-01-02T00:00:00+02:00")
    early = _ls_task(["cat"], task_id=2, created_at="2024-01-01T23:00:00Z")
    naive = _ls_task(["bird"], task_id=3, created_at="2024-01-01T21:30:00")
    untimed = _ls_task(["cat"], task_id=4)
    del untimed["annotations"][0]["created_at"]
    labels = read_export([late, early, naive, untimed], LABELS)
    assert [x.source_task for x in labels] == [4, 3, 1, 2]
    assert labels[1].time == "2024-01-01T21:30:00+00:00"  # naive taken as UTC
    assert labels[2].time == "2024-01-01T22:00:00+00:00"  # +02:00 in UTC


def test_bad_time_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match=r"task 9.*created_at.*ISO 8601"):
        read_export([_ls_task(["cat"], created_at="yesterday")], LABELS)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="no such file"):
        read_export(tmp_path / "nope.json", LABELS)


def test_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="is a folder"):
        read_export(tmp_path, LABELS)


def test_size_limit(tmp_path: Path) -> None:
    assert MAX_EXPORT_BYTES == 512 * 2**20
    path = tmp_path / "big.json"
    path.write_text(json.dumps([_ls_task(["cat"])] * 20))
    with pytest.raises(InvalidInputError, match="over the limit"):
        read_export(path, LABELS, max_bytes=100)
    assert len(read_export(path, LABELS, max_bytes=path.stat().st_size)) == 20


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b'{"id": 1, "data": {}}', "not a list of tasks"),
        (b'"just text"', "not a list of tasks"),
        (b"[1, 2]", "not an object"),
        (b"[{", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe[]", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON"),
        (b"\x80\x04\x95pickle", "not UTF-8"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=match):
        read_export(path, LABELS)


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([_ls_task(["cat"])]).encode())
    assert read_export(path, LABELS)[0].label == "cat"


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match="source must be"):
        read_export(42, LABELS)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="ref_to_id"):
        read_export([], LABELS, ref_to_id=[("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="ref_to_id"):
        read_export([], LABELS, ref_to_id={"a": "one"})  # type: ignore[dict-item]
    with pytest.raises(InvalidInputError, match="label_names is empty"):
        read_export([], [])


def test_errors_are_typed() -> None:
    with pytest.raises(BayesalError):
        read_export([_ls_task(["cow"])], LABELS)
    with pytest.raises(ValueError):  # InvalidInputError is a ValueError too
        read_export([_ls_task(["cow"])], LABELS)


# --------------------------------------------------------------------------------------
# File references
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ref"),
    [
        ("/data/local-files/?d=cats/1.png", "cats/1.png"),
        ("http://localhost:8080/data/local-files/?d=my%20pets/a+b.png", "my pets/a+b.png"),
        ("/data/local-files/?d=cats%2F1.png", "cats/1.png"),
        ("/data/local-files/?d=win\\cats\\1.png", "win/cats/1.png"),
        ("/data/upload/12/0a1b2c3d-cat%201.png", "cat 1.png"),
        ("https://ls.example.org/data/upload/3/deadBEEF-x.jpg", "x.jpg"),
        ("/data/upload/12/cat.png", "/data/upload/12/cat.png"),  # no hash: unchanged
        ("s3://bucket/cats/1.png", "s3://bucket/cats/1.png"),
        ("plain text", "plain text"),
    ],
)
def test_normalise_ref(value: str, ref: str) -> None:
    assert normalise_ref(value) == ref


def test_ref_lookup_drops_leading_folders_longest_first() -> None:
    task = _ls_task(["cat"])
    del task["data"]["item_id"]
    task["data"]["image"] = "/data/local-files/?d=home/pets/cats/1.png"
    refs = {"cats/1.png": 7, "1.png": 8}
    assert read_export([task], LABELS, ref_to_id=refs)[0].item_id == 7
    assert read_export([task], LABELS, ref_to_id={"1.png": 8})[0].item_id == 8
    raw = {"/data/local-files/?d=home/pets/cats/1.png": 9, "cats/1.png": 7}
    assert read_export([task], LABELS, ref_to_id=raw)[0].item_id == 9  # as is, first


def test_ref_lookup_by_file_name_only_when_unique() -> None:
    task = _ls_task(["cat"])
    del task["data"]["item_id"]
    task["data"]["image"] = "/data/upload/7/0123abcd-1.png"
    assert read_export([task], LABELS, ref_to_id={"cats/1.png": 5})[0].item_id == 5
    with pytest.raises(InvalidInputError, match="no data value found in ref_to_id"):
        read_export([task], LABELS, ref_to_id={"cats/1.png": 5, "dogs/1.png": 6})


def test_ref_lookup_ambiguity_is_an_error() -> None:
    task = _ls_task(["cat"])
    del task["data"]["item_id"]
    task["data"]["image"] = "/data/local-files/?d=cats/1.png"
    task["data"]["thumb"] = "/data/local-files/?d=cats/2.png"
    with pytest.raises(InvalidInputError, match=r"several items \[1, 2\]"):
        read_export([task], LABELS, ref_to_id={"cats/1.png": 1, "cats/2.png": 2})


# --------------------------------------------------------------------------------------
# Round trip: export_tasks -> JSON -> read_export loses nothing
# --------------------------------------------------------------------------------------


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    names = ["猫 cat", 'dog "the <good> boy" & co', "{json: [1, 2]}", "\\back\\slash", "🐦"]
    queue = [
        _task(i, rank=i, score=s, predicted=names[i % 5], label=names[(i + 1) % 5])
        for i, s in enumerate([0.1, float("nan"), -1e300, float("inf"), 5.0])
    ]
    queue.append(_task(2**62, rank=9, predicted=None, label=names[0]))
    queue.append(_task(-(2**63), rank=10, predicted=names[4], label=names[1]))
    queue.append(_task(77, rank=11, predicted=names[2]))  # unlabelled: nothing comes back
    path = write_tasks(tmp_path / "tasks.json", export_tasks(queue, names))
    back = read_export(path, names)
    assert [(x.item_id, x.label) for x in back] == [
        (t.item_id, t.label) for t in queue if t.label is not None
    ]
    assert all(x.annotator == "labelstudio" and x.time is None for x in back)
    config = ET.fromstring(labelling_config(names)).find("Choices")
    assert config is not None and [c.attrib["value"] for c in config] == names


_NAME = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12).filter(
    lambda s: s.strip() != ""
)
_SCORE = st.none() | st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def _queues(draw: st.DrawFn) -> tuple[list[str], list[QueueTask]]:
    names = draw(st.lists(_NAME, min_size=1, max_size=6, unique=True))
    ids = draw(st.lists(st.integers(-(2**63), 2**63 - 1) | st.just(2**62), max_size=8, unique=True))
    queue = [
        QueueTask(
            item_id=item_id,
            data={"image": f"/data/local-files/?d=x/{rank}.png"},
            rank=draw(st.integers(-5, 5)),
            score=draw(_SCORE),
            predicted=draw(st.none() | st.sampled_from(names)),
            predicted_prob=draw(st.none() | st.just(math.nan) | st.floats(0, 1)),
            label=draw(st.none() | st.sampled_from(names)),
            annotator=draw(st.none() | _NAME),
        )
        for rank, item_id in enumerate(ids)
    ]
    return names, queue


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_queues())
def test_round_trip_property(case: tuple[list[str], list[QueueTask]]) -> None:
    names, queue = case
    exported = export_tasks(queue, names)
    text = json.dumps(exported, ensure_ascii=False, allow_nan=False)  # valid JSON always
    back = read_export(json.loads(text), names)
    got = sorted((x.item_id, x.label) for x in back)
    assert got == sorted((t.item_id, t.label) for t in queue if t.label is not None)
    assert {t["data"]["item_id"] for t in exported} == {t.item_id for t in queue}
    for task in exported:
        score = task["data"]["bayesal_score"]
        assert score is None or math.isfinite(score)
    choices = ET.fromstring(labelling_config(names)).find("Choices")
    assert choices is not None and [c.attrib["value"] for c in choices] == names
