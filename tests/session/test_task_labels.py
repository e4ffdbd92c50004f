"""Multi-label and regression sessions (issue 22): the store keeps a set of classes or a
number per annotation, exports them, and refuses bad values clearly; classification is
unchanged."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from bayesal.errors import ConfigError, InvalidInputError
from bayesal.session.config import parse_session_config
from bayesal.session.exchange import export_labels, import_labels


def test_a_multilabel_session_stores_sets_of_classes(make_session, tmp_path: Path) -> None:
    session = make_session(task="multilabel", labels=["cat", "dog", "car"])
    session.label(0, ["cat", "car"], "ann")
    session.label(1, "dog", "ann")  # a string: comma-separated names
    session.label(2, [], "ann")  # none of them: a valid answer
    session.label(3, ["car", "cat", "cat"], "ann")  # order and repeats do not matter
    session.label(4, [0, "dog"], "ann")  # indices work too
    assert session.resolved_labels() == {
        0: ["cat", "car"],
        1: ["dog"],
        2: [],
        3: ["cat", "car"],
        4: ["cat", "dog"],
    }
    view = session.item_view(0)
    assert view.label is None and view.value == ["cat", "car"]
    assert session.status().per_class == {"cat": 3, "dog": 2, "car": 2}
    out = pd.read_csv(export_labels(session, tmp_path / "labels.csv"), keep_default_na=False)
    assert "label_index" not in out.columns
    assert dict(zip(out["item_id"], out["label"], strict=True)) == {
        0: "cat,car",
        1: "dog",
        2: "",
        3: "cat,car",
        4: "cat,dog",
    }
    target = make_session("b", task="multilabel", labels=["cat", "dog", "car"])
    assert import_labels(target, tmp_path / "labels.csv").recorded == 5
    assert target.resolved_labels() == session.resolved_labels()


def test_multilabel_disagreement_and_bad_classes(make_session) -> None:
    session = make_session(task="multilabel", labels=["cat", "dog"], resolve="reviewer")
    session.label(0, ["cat"], "ann")
    session.label(0, ["cat", "dog"], "bob")
    assert session.store.conflicts() == [0]
    with pytest.raises(InvalidInputError, match="unknown label 'bird'"):
        session.label(1, ["cat", "bird"], "ann")
    with pytest.raises(InvalidInputError, match="list of class names"):
        session.label(1, 3.5, "ann")
    session.negative(2, "dog", "bob")
    session.label(2, ["cat", "dog"], "ann")
    assert 2 in session.store.conflicts()  # the set holds a class bob said no to


def test_a_regression_session_stores_finite_numbers(make_session, tmp_path: Path) -> None:
    session = make_session(task="regression", labels=None)
    session.label(0, 2.5, "ann")
    session.label(1, "-0.125", "ann")
    session.label(2, 7, "ann")
    session.label(2, 7.5, "bob")  # first rule: ann's 7 stays
    assert session.resolved_labels() == {0: 2.5, 1: -0.125, 2: 7.0}
    assert session.item_view(1).value == -0.125
    for bad, match in [
        (math.nan, "finite"),
        (math.inf, "finite"),
        ("nan", "finite"),
        ("seven", "must be a number"),
        (True, "must be a number"),
        ([1.0], "must be a number"),
    ]:
        with pytest.raises(InvalidInputError, match=match):
            session.label(3, bad, "ann")
    with pytest.raises(InvalidInputError, match="no negative observations"):
        session.negative(3, "two", "ann")
    out = export_labels(session, tmp_path / "values.csv")
    frame = pd.read_csv(out)
    assert dict(zip(frame["item_id"], frame["label"], strict=True)) == {0: 2.5, 1: -0.125, 2: 7.0}
    annotations = pd.read_csv(export_labels(session, tmp_path / "a.csv", what="annotations"))
    assert sorted(annotations["label"]) == [-0.125, 2.5, 7.0, 7.5]
    assert session.agreement() == {
        "kappa": None,
        "method": None,
        "items": 1,
        "annotators": ["ann", "bob"],
    }
    round_ = session.retrain()  # the regression learner, taught the 3 resolved values
    assert round_.metrics["task"] == "regression" and round_.state_path is not None
    queued = [q.item_id for q in session.store.queue()]
    assert queued and not set(queued) & {0, 1, 2}
    with pytest.raises(InvalidInputError, match="single-choice"):
        export_labels(session, tmp_path / "t.json", "label-studio")


def test_task_configs_are_validated(digits_folder) -> None:
    from tests.session.conftest import fast_digits_config

    folder = digits_folder[0]
    with pytest.raises(ConfigError, match="`labels` .* must be left out"):
        parse_session_config(fast_digits_config(folder, task="regression"))
    with pytest.raises(ConfigError, match="give the class names"):
        parse_session_config(fast_digits_config(folder, task="multilabel", labels=None))
    with pytest.raises(ConfigError, match="task"):
        parse_session_config(fast_digits_config(folder, task="detection"))
    with pytest.raises(ConfigError, match="resolve"):
        parse_session_config(fast_digits_config(folder, resolve="loudest"))
    with pytest.raises(ConfigError, match="overlap"):
        parse_session_config(fast_digits_config(folder, overlap=1.5))
    config = parse_session_config(fast_digits_config(folder))
    assert (config.task, config.resolve, config.overlap, config.reviewers) == (
        "classification",
        "first",
        0.0,
        None,
    )


def test_a_multilabel_session_refuses_data_with_class_folders(
    tmp_path: Path, write_digits_fn
) -> None:
    from bayesal.session import LabellingSession
    from tests.session.conftest import fast_digits_config

    write_digits_fn(tmp_path / "d", n=20, labelled_per_class=2)
    raw = fast_digits_config(tmp_path / "d", task="multilabel")
    with pytest.raises(ConfigError, match="import the labels"):
        LabellingSession.init(tmp_path / "s", parse_session_config(raw))
    assert not (tmp_path / "s" / "session.sqlite").exists()


@pytest.mark.parametrize("value", ["-0.125", "+3", "1e-3", "-.5", "7."])
def test_plain_numbers_stay_as_they_are_in_csv_and_read_back(value: str) -> None:
    from bayesal.session.exchange import from_spreadsheet_safe, spreadsheet_safe

    assert spreadsheet_safe(value) == value and from_spreadsheet_safe(value) == value


@pytest.mark.parametrize("value", ["-1+2", "-cmd|' /C calc'!A0", "+1e", "-"])
def test_formulas_that_begin_like_numbers_are_still_quoted(value: str) -> None:
    from bayesal.session.exchange import from_spreadsheet_safe, spreadsheet_safe

    assert spreadsheet_safe(value) == "'" + value
    assert from_spreadsheet_safe(spreadsheet_safe(value)) == value


def test_label_of_gives_the_resolved_value_of_every_task(make_session) -> None:
    multi = make_session("m", task="multilabel", labels=["cat", "dog"])
    event = multi.label(0, ["dog", "cat"], "ann")
    assert multi.label_of(0) == (["cat", "dog"], event)
    numbers = make_session("r", task="regression", labels=None)
    event = numbers.label(0, 0.25, "ann")
    assert numbers.label_of(0) == (0.25, event)
    assert numbers.label_of(1) is None
