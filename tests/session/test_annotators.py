"""Several annotators in a session (issue 22): the resolve rules, conflicts and reviewer
decisions, overlap leasing, the agreement figure, history and edits, unsure flags and
comments, negative observations and the yes/no candidates; all on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

import bayesal.session.store as store_module
from bayesal.errors import InvalidInputError
from bayesal.session.session import ConflictError
from bayesal.session.store import (
    DB_NAME,
    MIGRATIONS,
    SCHEMA_VERSION,
    LeaseHeldError,
    SessionStore,
    Vote,
    resolve_item,
)

# --------------------------------------------------------------------------- the rules


def votes(*rows: tuple) -> list[Vote]:
    """``(key, annotator[, role[, corrects_annotator]])`` rows, event ids 1, 2, ..."""
    return [Vote(n + 1, *row) for n, row in enumerate(rows)]


def test_first_rule_keeps_the_first_annotators_label_and_lets_them_change_it() -> None:
    resolved, annotations = resolve_item(votes((1, "a"), (2, "b"), (3, "a")), "first")
    assert resolved is not None and (resolved.event_id, resolved.key) == (3, 3)
    assert {k: v.key for k, v in annotations.items()} == {"a": 3, "b": 2}


def test_first_rule_takes_a_correction_of_another_but_not_an_edit_of_ones_own() -> None:
    corrected, _ = resolve_item(votes((1, "a"), (2, "b", None, "a")), "first")
    assert corrected is not None and corrected.key == 2
    # b edits b's own (second) annotation: a's label stays the item's.
    edited, annotations = resolve_item(votes((1, "a"), (2, "b"), (5, "b", None, "b")), "first")
    assert edited is not None and edited.key == 1 and annotations["b"].key == 5


def test_majority_rule_takes_the_most_given_value_and_leaves_a_tie_in_conflict() -> None:
    resolved, _ = resolve_item(votes((1, "a"), (2, "b"), (2, "c")), "majority")
    assert resolved is not None and (resolved.key, resolved.event_id) == (2, 2)
    tie, annotations = resolve_item(votes((1, "a"), (2, "b")), "majority")
    assert tie is None and len(annotations) == 2
    single, _ = resolve_item(votes((4, "a")), "majority")
    assert single is not None and single.key == 4


def test_reviewer_rule_needs_agreement_or_a_reviewer() -> None:
    agreed, _ = resolve_item(votes((1, "a"), (1, "b")), "reviewer")
    assert agreed is not None and agreed.event_id == 1
    open_, _ = resolve_item(votes((1, "a"), (1, "b"), (2, "c")), "reviewer")
    assert open_ is None
    decided, annotations = resolve_item(
        votes((1, "a"), (2, "b"), (2, "rev", "reviewer")), "reviewer"
    )
    assert decided is not None and decided.annotator == "rev" and "rev" not in annotations


@pytest.mark.parametrize("rule", ["first", "majority", "reviewer"])
def test_a_reviewer_decision_resolves_under_every_rule_and_over_negatives(rule: str) -> None:
    decided, _ = resolve_item(
        votes((1, "a"), (2, "b"), (2, "rev", "reviewer")), rule, [(2, "a", 0)]
    )
    assert decided is not None and decided.key == 2


def test_a_negative_observation_blocks_its_class_until_the_same_annotator_gives_it() -> None:
    blocked, _ = resolve_item(votes((2, "a")), "first", [(2, "b", 0)])
    assert blocked is None  # b said "not 2": a's 2 is a conflict
    fine, _ = resolve_item(votes((3, "a")), "first", [(2, "b", 0)])
    assert fine is not None and fine.key == 3
    taken_back, _ = resolve_item(votes((2, "b")), "first", [(2, "b", 0)])
    assert taken_back is not None  # b labelled it 2 after saying no
    multilabel, _ = resolve_item(votes((0b101, "a")), "first", [(2, "b", 0)], multilabel=True)
    assert multilabel is None  # the set holds class 2


# --------------------------------------------------------------------------- sessions


def test_label_adds_each_annotators_annotation_and_never_overwrites(make_session) -> None:
    session = make_session()
    first = session.label(3, "one", "ann")
    second = session.label(3, "two", "bob")
    assert session.labels() == {3: 1} and session.label_of(3)[1].event_id == first.event_id
    assert session.store.annotations() == {(3, "ann"): 1, (3, "bob"): 2}
    assert second.corrects is None


def test_majority_conflict_is_not_taught_until_resolved(make_session) -> None:
    session = make_session(resolve="majority")
    for item in range(8):
        session.label(item, item % 10, "ann")
    session.label(0, "five", "bob")  # ann 0 vs bob 5: a tie
    assert session.store.conflicts() == [0] and 0 not in session.labels()
    labels, _ = session.store.labelled_snapshot()
    assert 0 not in labels and len(labels) == 7
    view = session.item_view(0)
    assert view.conflict and view.label is None
    round_ = session.retrain()
    assert round_.n_labels == 7  # the learner saw the resolved labels only
    session.label(0, "five", "cy")  # two against one
    assert session.labels()[0] == 5 and session.store.conflicts() == []
    status = session.status()
    assert status.conflicts == 0 and status.resolve == "majority"


def test_reviewer_rule_conflicts_queue_and_resolution(make_session) -> None:
    session = make_session(resolve="reviewer", reviewers=["rita"])
    session.label(4, "one", "ann")
    session.label(4, "seven", "bob")
    session.label(5, "two", "ann")
    session.label(5, "two", "bob")
    assert session.labels() == {5: 2}
    (conflict,) = session.conflicts()
    assert conflict["item_id"] == 4
    assert [(a["annotator"], a["label"]) for a in conflict["annotations"]] == [
        ("ann", "one"),
        ("bob", "seven"),
    ]
    with pytest.raises(InvalidInputError, match="not a reviewer"):
        session.resolve_conflict(4, "one", "ann")
    with pytest.raises(ConflictError, match="reviewer resolves"):
        session.label(4, "one", "ann", correct=True)
    decision = session.resolve_conflict(4, "seven", "rita", comment="the stroke is a 7")
    assert decision.role == "reviewer" and session.labels()[4] == 7
    assert session.conflicts() == [] and session.status().conflicts == 0
    assert session.store.annotations()[(4, "ann")] == 1  # ann's annotation is kept
    session.undo("rita")
    assert session.store.conflicts() == [4]


def test_label_of_an_item_leased_to_another_is_refused_then_added_after(make_session) -> None:
    session = make_session(overlap=1.0)
    view = session.next_item("ann")
    assert view is not None
    with pytest.raises(LeaseHeldError, match="'ann'"):
        session.label(view.item_id, "one", "bob")
    session.label(view.item_id, "one", "ann")
    again = session.next_item("bob")  # overlap: bob gets ann's item as a second annotator
    assert again is not None and again.item_id == view.item_id
    session.label(view.item_id, "two", "bob")
    assert session.store.annotations()[(view.item_id, "ann")] == 1


def test_overlap_serves_a_labelled_item_to_one_second_different_annotator(make_session) -> None:
    session = make_session(overlap=1.0)
    a = session.next_item("ann")
    assert a is not None
    session.label(a.item_id, "three", "ann")
    again = session.next_item("ann")
    assert again is not None and again.item_id != a.item_id  # never twice to ann
    session.label(again.item_id, "four", "ann")
    b = session.next_item("bob")
    assert b is not None and b.item_id == a.item_id  # the oldest waiting overlap item
    session.label(b.item_id, "three", "bob")
    c = session.next_item("cy")
    assert c is not None and c.item_id == again.item_id
    session.label(c.item_id, "four", "cy")
    d = session.next_item("dan")
    assert d is not None and d.item_id not in (a.item_id, again.item_id)  # two is enough


def test_without_overlap_a_labelled_item_goes_to_nobody_else(make_session) -> None:
    session = make_session()
    a = session.next_item("ann")
    assert a is not None
    session.label(a.item_id, "three", "ann")
    seen = set()
    for _ in range(10):
        view = session.next_item("bob")
        assert view is not None
        seen.add(view.item_id)
        session.label(view.item_id, "one", "bob")
    assert a.item_id not in seen


def test_the_overlap_share_is_close_to_the_configured_share(tmp_path: Path) -> None:
    store = SessionStore.create(tmp_path / DB_NAME)
    n = 1000
    order = np.random.default_rng(0).permutation(n).tolist()
    with store.write() as conn:
        store.add_items(conn, list(range(n)), [f"{i}" for i in range(n)], order)
    threshold = store_module._overlap_threshold(0.1)
    (count,) = store.conn.execute(
        f"SELECT COUNT(*) FROM items WHERE {store_module.overlap_sql('items')} < ?", (threshold,)
    ).fetchone()
    assert 95 <= count <= 105
    with pytest.raises(InvalidInputError, match="overlap"):
        store_module._overlap_threshold(1.5)


def test_two_annotators_with_overlap_give_cohens_kappa_in_status(make_session) -> None:
    session = make_session(overlap=1.0)
    given = {"ann": [1, 1, 2, 2, 3, 3], "bob": [1, 1, 2, 3, 3, 3]}
    items = list(range(10, 16))
    for who, labels in given.items():
        for item, label in zip(items, labels, strict=True):
            session.label(item, label, who)
    agreement = session.status().agreement
    assert agreement["method"] == "cohen" and agreement["items"] == 6
    # p_o = 5/6; marginals ann (2,2,2)/6, bob (2,1,3)/6: p_e = (4+2+6)/36 = 1/3;
    # kappa = (5/6 - 1/3) / (2/3) = 0.75
    assert agreement["kappa"] == pytest.approx(0.75)
    assert session.status().as_dict()["agreement"] == agreement


def test_the_datas_labels_do_not_count_in_the_agreement(make_session) -> None:
    session = make_session()
    session.store.add_labels([(1, 3, "data")], source="initial", shown=False)
    session.label(1, "three", "ann")
    assert session.agreement()["items"] == 0


# --------------------------------------------------------------------------- history


def test_history_is_newest_first_with_edits_naming_the_event_they_correct(make_session) -> None:
    session = make_session()
    events = [session.label(item, item % 10, "ann") for item in range(5)]
    session.label(2, "nine", "bob")
    edit = session.edit(events[1].event_id, "eight", "ann", comment="looked again")
    assert edit.corrects == events[1].event_id and session.labels()[1] == 8
    rows = session.history("ann", limit=3)
    assert [r["event_id"] for r in rows] == [edit.event_id, events[4].event_id, events[3].event_id]
    assert rows[0]["label"] == "eight" and rows[0]["corrects"] == events[1].event_id
    assert rows[0]["comment"] == "looked again" and rows[0]["current"]
    older = session.history("ann", limit=3, offset=3)
    assert [r["event_id"] for r in older] == [e.event_id for e in events[2::-1]]
    edited = next(r for r in older if r["event_id"] == events[1].event_id)
    assert edited["corrected"] and edited["corrected_by"] == edit.event_id
    assert not edited["current"]
    assert all(not r["corrected"] for r in older if r["event_id"] != events[1].event_id)
    assert session.store.count_history("ann") == 6


def test_an_edit_of_someone_elses_or_an_undone_event_is_refused(make_session) -> None:
    session = make_session()
    bobs = session.label(3, "one", "bob")
    with pytest.raises(InvalidInputError, match="'bob''s label"):
        session.edit(bobs.event_id, "two", "ann")
    session.undo("bob")
    with pytest.raises(InvalidInputError, match="undone"):
        session.edit(bobs.event_id, "two", "bob")
    with pytest.raises(InvalidInputError, match="no label event"):
        session.edit(999, "two", "bob")


def test_an_edit_by_the_second_annotator_leaves_the_first_label(make_session) -> None:
    session = make_session()
    session.label(3, "one", "ann")
    bobs = session.label(3, "two", "bob")
    session.edit(bobs.event_id, "four", "bob")
    assert session.labels() == {3: 1}
    assert session.store.annotations()[(3, "bob")] == 4


# --------------------------------------------------------------------------- notes


def test_unsure_flags_and_comments_are_stored_filtered_and_replaced(make_session) -> None:
    session = make_session()
    event = session.label(1, "one", "ann", unsure=True, comment="blurry")
    session.note(2, "ann", unsure=True)  # without labelling
    session.note(3, "bob", unsure=False, comment="a 3 or a 5?\nask rita")
    notes = session.notes(unsure=True)
    assert [(n["item_id"], n["annotator"]) for n in notes] == [(1, "ann"), (2, "ann")]
    assert notes[0]["event_id"] == event.event_id and notes[0]["comment"] == "blurry"
    assert [n["item_id"] for n in session.notes(with_comment=True)] == [1, 3]
    session.note(1, "ann", unsure=False)  # the latest note counts
    assert [n["item_id"] for n in session.notes(unsure=True)] == [2]
    assert session.notes(item_id=3)[0]["comment"] == "a 3 or a 5?\nask rita"
    assert 2 not in session.labels()  # a note is not a label


@pytest.mark.parametrize(
    "comment, match",
    [("x" * 2001, "at most 2000"), ("bad\x00byte", "control characters"), (5, "must be text")],
)
def test_bad_comments_are_refused_and_nothing_is_recorded(
    make_session, comment: object, match: str
) -> None:
    session = make_session()
    with pytest.raises(InvalidInputError, match=match):
        session.label(1, "one", "ann", comment=comment)  # type: ignore[arg-type]
    assert session.store.events() == [] and session.notes() == []


# --------------------------------------------------------------------------- negatives


def trained(make_session, digits_folder, **overrides: object):
    session = make_session(**overrides)
    truth = digits_folder[1]
    for item in range(0, 40, 2):
        session.label(item, int(truth[item]), "ann")
    session.retrain()
    return session, truth


def test_yes_no_candidates_are_the_most_probable_unlabelled_items_of_the_class(
    make_session, digits_folder
) -> None:
    session, truth = trained(make_session, digits_folder)
    predictions = {p["item_id"]: p for p in session.predictions()}
    assert len(predictions) == 60 and all(len(p["probs"]) == 10 for p in predictions.values())
    candidates = session.yes_no_candidates("two", 5)
    ids = [c.item_id for c in candidates]
    assert len(ids) == 5 and not set(ids) & set(session.labels())
    probs = [predictions[i]["probs"]["two"] for i in ids]
    assert probs == sorted(probs, reverse=True)
    unlabelled = [i for i in predictions if i not in session.labels()]
    best = max(predictions[i]["probs"]["two"] for i in unlabelled)
    assert probs[0] == best

    session.negative(ids[0], "two", "bob")  # "is this a two?" "no"
    after = [c.item_id for c in session.yes_no_candidates("two", 5)]
    assert ids[0] not in after and after[:4] == ids[1:]
    assert ids[0] not in session.labels()  # not a label
    assert ids[0] in [c.item_id for c in session.yes_no_candidates("three", 60)]
    assert session.item_view(ids[0]).negatives == ("two",)


def test_yes_no_candidates_leave_out_what_the_annotator_skipped_or_put_it_last(
    make_session, digits_folder
) -> None:
    session, _ = trained(make_session, digits_folder)
    ids = [c.item_id for c in session.yes_no_candidates("two", 60)]
    session.skip(ids[0], "ann")
    session.skip(ids[2], "ann")

    def candidates(n: int, **kwargs: object) -> list[int]:
        return [c.item_id for c in session.yes_no_candidates("two", n, **kwargs)]

    assert candidates(60) == ids  # nobody named: nothing left out
    assert candidates(60, annotator="bob") == ids  # bob skipped nothing
    rest = [i for i in ids if i not in (ids[0], ids[2])]
    assert candidates(60, annotator="ann") == rest
    assert candidates(3, annotator="ann") == rest[:3]
    assert candidates(60, annotator="ann", include_skipped=True) == [*rest, ids[0], ids[2]]
    assert candidates(2, annotator="ann", include_skipped=True) == rest[:2]
    for item in rest:  # everything else labelled: only the skipped ones are offered
        session.label(item, "two", "bob")
    assert candidates(5, annotator="ann") == []
    assert candidates(5, annotator="ann", include_skipped=True) == [ids[0], ids[2]]


def test_prediction_of_one_item_matches_the_pool_predictions(make_session, digits_folder) -> None:
    session = make_session()
    assert session.prediction(3) is None  # no trained round yet
    session, _ = trained(make_session, digits_folder, name="trained")
    every = {p["item_id"]: p for p in session.predictions()}
    one = session.prediction(51)
    assert one == every[51] and one["predicted"] == max(one["probs"], key=one["probs"].get)
    assert sum(one["probs"].values()) == pytest.approx(1.0, abs=1e-2)  # float16
    assert 0.0 <= one["uncertainty"] <= np.log(10)


def test_a_negative_observation_keeps_that_class_from_being_resolved(make_session) -> None:
    session = make_session()
    session.negative(7, "two", "bob")
    session.label(7, "two", "ann")
    assert 7 not in session.labels() and session.store.conflicts() == [7]
    (conflict,) = session.conflicts()
    assert conflict["negatives"] == [{"annotator": "bob", "label": "two"}]
    session.label(8, "three", "ann")
    session.negative(8, "two", "bob")  # about another class: no conflict
    assert session.labels()[8] == 3
    session.resolve_conflict(7, "two", "rita")
    assert session.labels()[7] == 2


def test_negative_observations_are_checked_and_respect_leases(make_session) -> None:
    session = make_session()
    with pytest.raises(InvalidInputError, match="unknown label"):
        session.negative(1, "eleven", "bob")
    view = session.next_item("ann")
    assert view is not None
    with pytest.raises(LeaseHeldError):
        session.negative(view.item_id, "two", "bob")
    session.negative(view.item_id, "two", "ann")
    assert session.store.lease_of(view.item_id) is None  # answered: the lease is released
    assert [n["label"] for n in session.negatives(item_id=view.item_id)] == ["two"]


def test_yes_no_candidates_before_a_model_are_empty_and_bad_n_is_refused(make_session) -> None:
    session = make_session()
    assert session.yes_no_candidates("two", 3) == []
    with pytest.raises(InvalidInputError, match="n must be"):
        session.yes_no_candidates("two", 0)


# --------------------------------------------------------------------------- migration


def test_a_schema_2_file_is_migrated_with_annotations_and_the_same_labels(
    tmp_path: Path,
) -> None:
    path = tmp_path / DB_NAME
    with sqlite3.connect(path) as conn:  # as bayesal wrote it before issue 22
        for script in MIGRATIONS[:2]:
            for statement in store_module._statements(script):
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 2")
        conn.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?)", [(i, f"{i}.png", i, i) for i in range(3)]
        )
        rows = [
            (0, "label", 1, "ann", None, None),
            (0, "label", 2, "bob", None, None),
            (1, "label", 0, "ann", None, None),
            (1, "label", 2, "bob", None, 3),  # a correction of ann's label
            (2, "label", 1, "cy", None, None),
            (2, "undo", None, "cy", 5, None),
        ]
        for item, kind, label, who, undoes, corrects in rows:
            conn.execute(
                "INSERT INTO events(item_id, kind, label, annotator, time, source, undoes, "
                "corrects) VALUES (?, ?, ?, ?, 1.0, 'api', ?, ?)",
                (item, kind, label, who, undoes, corrects),
            )
        conn.executemany("INSERT INTO current_labels VALUES (?, ?, ?)", [(0, 1, 1), (1, 2, 4)])
    conn.close()
    store = SessionStore.open(path)
    assert store.schema_version() == SCHEMA_VERSION == 4  # 4: segmentation masks (issue 23)
    assert store.current_labels() == {0: (1, 1), 1: (2, 4)}
    assert store.annotations() == {(0, "ann"): 1, (0, "bob"): 2, (1, "ann"): 0, (1, "bob"): 2}
    assert store.conflicts() == [] and store.notes() == [] and store.negatives() == []
    store.close()
    assert SessionStore.open(path).current_labels() == {0: (1, 1), 1: (2, 4)}  # once only


def test_disagreements_under_the_first_rule_are_listed_for_review_on_request(
    make_session,
) -> None:
    session = make_session()
    session.label(1, "one", "ann")
    session.label(1, "seven", "bob")
    session.label(2, "two", "ann")
    session.label(2, "two", "bob")
    assert session.conflicts() == []  # first resolves it: no conflict
    (row,) = session.conflicts(disagreements=True)
    assert row["item_id"] == 1 and row["label"] == "one"
    assert [a["label"] for a in row["annotations"]] == ["one", "seven"]


def test_an_overlap_item_in_conflict_goes_to_no_third_annotator(make_session) -> None:
    session = make_session(overlap=1.0, resolve="majority")
    a = session.next_item("ann")
    assert a is not None
    session.label(a.item_id, "one", "ann")
    b = session.next_item("bob")
    assert b is not None and b.item_id == a.item_id
    session.label(b.item_id, "two", "bob")  # a tie: a conflict for a reviewer
    assert session.store.conflicts() == [a.item_id]
    for who in ("cy", "dan", "eve"):
        view = session.next_item(who)
        assert view is not None and view.item_id != a.item_id


def test_a_plain_label_with_unsure_false_writes_no_note_but_clears_an_earlier_flag(
    make_session,
) -> None:
    session = make_session()
    session.label(1, "one", "ann", unsure=False)
    assert session.notes() == []
    session.label(2, "two", "ann", unsure=True)
    session.label(2, "three", "ann", unsure=False)  # sure now
    assert session.notes(unsure=True) == [] and len(session.notes(item_id=2)) == 1


def test_conflict_error_is_exported_from_the_session_package() -> None:
    import bayesal.session as session_package

    assert session_package.ConflictError is ConflictError
    assert "ConflictError" in session_package.__all__
    assert issubclass(session_package.ConflictError, InvalidInputError)
