"""A "no" in the yes/no mode reaches the learner at the next retrain: the item's guess,
class probabilities and uncertainty (and so its place in the queue) are those of the
predictive conditioned on "not that class"; a twin session without the "no" is not."""

from __future__ import annotations

import pytest
import torch

from bayesal.session import LabellingSession


def _label(session: LabellingSession, ids: range, truth) -> None:  # type: ignore[no-untyped-def]
    session.store.add_labels([(int(i), int(truth[int(i)]), "ann") for i in ids], source="api")


def test_a_no_changes_the_items_guess_and_score_after_a_retrain(
    make_session,  # type: ignore[no-untyped-def]
    digits_folder,  # type: ignore[no-untyped-def]
) -> None:
    truth = digits_folder[1]
    with_no, twin = make_session("with_no"), make_session("twin")
    for session in (with_no, twin):
        _label(session, range(0, 40, 3), truth)
        session.retrain()
    item = with_no.store.queue()[0].item_id
    before = with_no.prediction(item)
    assert before is not None and before["predicted"] is not None
    guessed = before["predicted"]
    with_no.negative(item, guessed, "bob")  # "is this a <guess>?" "no"
    row, twin_row = with_no.retrain(), twin.retrain()
    assert row.round == twin_row.round
    assert with_no.store.last_round().metrics["n_negatives_used"] == 1
    assert twin.store.last_round().metrics["n_negatives_used"] == 0
    after, same = with_no.prediction(item), twin.prediction(item)
    assert after is not None and same is not None
    assert after["probs"][guessed] == 0.0 and same["probs"][guessed] > 0.0
    assert after["predicted"] != guessed
    assert after["uncertainty"] != pytest.approx(same["uncertainty"])
    # The other classes keep their ratios: the predictive renormalised without the guess.
    rest = {c: p for c, p in same["probs"].items() if c != guessed}
    total = sum(rest.values())
    for c, p in rest.items():
        assert after["probs"][c] == pytest.approx(p / total, abs=2e-3)  # float16 probs
    # Every other item is scored as in the twin session.
    others = {p["item_id"]: p["uncertainty"] for p in twin.predictions() if p["item_id"] != item}
    for p in with_no.predictions():
        if p["item_id"] != item:
            assert p["uncertainty"] == pytest.approx(others[p["item_id"]], abs=1e-6)
    # The round's saved learner carries the negative observation.
    state = torch.load(
        with_no.directory / with_no.store.last_round().state_path, weights_only=False
    )
    assert state["negatives"]["ids"].tolist() == [item]
    assert "negatives" not in torch.load(
        twin.directory / twin.store.last_round().state_path, weights_only=False
    )


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[list[int], list[int]]] = []

    def teach_negative(self, ids: list[int], classes: list[int]) -> None:
        self.calls.append((list(ids), list(classes)))


def test_which_negatives_the_retrain_hands_to_the_learner(make_session) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    session = make_session(resolve="majority")
    session.label(5, "three", "ann")
    session.negative(5, "two", "bob")
    session.label(5, "two", "bob")  # bob takes his "no" back; 5 is a conflict (unlabelled)
    session.negative(6, "four", "bob")
    session.negative(6, "four", "ann")  # the same class twice: one observation
    session.negative(7, "one", "bob")
    for name in session.label_names:
        session.negative(9, name, "ann")  # every class negated: left out
    session.label(8, "one", "ann")
    session.negative(8, "two", "bob")  # 8 is labelled: its label says more
    ids = np.arange(60)
    unlabelled = np.ones(60, dtype=bool)
    unlabelled[8] = False
    recorder = _Recorder()
    assert session._teach_negatives(recorder, unlabelled, ids) == 2
    assert recorder.calls == [([6, 7], [4, 1])]
