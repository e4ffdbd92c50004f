"""Tests of bayesal.session.agreement: Fleiss' and Cohen's kappa against hand-computed
cases and textbook examples, and the choice of statistic per session."""

from __future__ import annotations

import numpy as np
import pytest

from bayesal.errors import InvalidInputError
from bayesal.session.agreement import annotator_agreement, fleiss_kappa

#: The worked example of Wikipedia's "Fleiss' kappa" article: 10 subjects, 14 raters each,
#: 5 categories; P̄ = 0.378, P̄_e = 0.213, kappa = 0.210.
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_matches_the_textbook_example() -> None:
    assert fleiss_kappa(WIKIPEDIA_FLEISS) == pytest.approx(0.2099, abs=5e-4)


def test_fleiss_kappa_of_a_hand_computed_case() -> None:
    # 3 items, 3 raters, 2 classes: [3,0], [0,3], [2,1].
    # P_i = 1, 1, (2*1)/(3*2) = 1/3 -> P̄ = 7/9; p = (5/9, 4/9) -> P̄_e = 41/81;
    # kappa = (63/81 - 41/81) / (40/81) = 22/40 = 0.55.
    assert fleiss_kappa([[3, 0], [0, 3], [2, 1]]) == pytest.approx(0.55)


def test_fleiss_kappa_with_a_varying_number_of_ratings_per_item() -> None:
    # [2,0] P=1; [1,1] P=0; [0,3] P=1 -> P̄ = 2/3; p = (3/7, 4/7) -> P̄_e = 25/49;
    # kappa = (2/3 - 25/49) / (24/49) = (98 - 75) / 72 = 23/72.
    assert fleiss_kappa([[2, 0], [1, 1], [0, 3]]) == pytest.approx(23 / 72)


def test_fleiss_kappa_is_one_when_every_rating_is_one_class_and_bounded_below() -> None:
    assert fleiss_kappa([[4, 0], [3, 0]]) == 1.0
    assert fleiss_kappa([[1, 1], [1, 1]]) == pytest.approx(-1.0)  # 2 raters always disagree


@pytest.mark.parametrize(
    "counts, match",
    [
        ([[1, 0], [2, 0]], "at least two ratings"),
        ([[-1, 3]], "non-negative integers"),
        ([[0.5, 1.5]], "non-negative integers"),
        ([1, 2], r"\[items, categories\]"),
    ],
)
def test_fleiss_kappa_refuses_bad_counts(counts: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        fleiss_kappa(np.asarray(counts))


def test_two_annotators_get_cohens_kappa_of_the_textbook_example() -> None:
    # Wikipedia's "Cohen's kappa" example: 50 proposals, yes/yes 20, yes/no 5, no/yes 10,
    # no/no 15: p_o = 0.7, p_e = 0.5, kappa = 0.4.
    pairs = [(1, 1)] * 20 + [(1, 0)] * 5 + [(0, 1)] * 10 + [(0, 0)] * 15
    annotations = {i: {"a": x, "b": y} for i, (x, y) in enumerate(pairs)}
    annotations[100] = {"a": 1}  # one annotation only: not counted
    out = annotator_agreement(annotations, 2)
    assert out["method"] == "cohen" and out["items"] == 50 and out["annotators"] == ["a", "b"]
    assert out["kappa"] == pytest.approx(0.4)


def test_three_annotators_get_fleiss_kappa() -> None:
    annotations = {
        0: {"a": 0, "b": 0, "c": 0},
        1: {"a": 1, "b": 1, "c": 1},
        2: {"a": 0, "b": 0, "c": 1},
    }
    out = annotator_agreement(annotations, 2)
    assert out["method"] == "fleiss" and out["items"] == 3
    assert out["kappa"] == pytest.approx(0.55)  # the hand-computed case above


def test_pairs_of_different_annotators_use_fleiss_not_cohen() -> None:
    annotations = {0: {"a": 0, "b": 0}, 1: {"b": 1, "c": 1}, 2: {"a": 1, "c": 0}}
    out = annotator_agreement(annotations, 2)
    assert out["method"] == "fleiss"
    # counts [2,0], [0,2], [1,1]: P̄ = 2/3, p = (1/2, 1/2), P̄_e = 1/2 -> kappa = 1/3
    assert out["kappa"] == pytest.approx(1 / 3)


def test_multilabel_agreement_is_the_mean_of_each_class_kappa() -> None:
    # class 0 (bit 1): a,b agree on every item; class 1 (bit 2): Wikipedia's Cohen example.
    pairs = [(1, 1)] * 20 + [(1, 0)] * 5 + [(0, 1)] * 10 + [(0, 0)] * 15
    annotations = {
        i: {"a": (i % 2) | (x << 1), "b": (i % 2) | (y << 1)} for i, (x, y) in enumerate(pairs)
    }
    out = annotator_agreement(annotations, 2, "multilabel")
    assert out["method"] == "cohen (mean over classes)"
    assert out["kappa"] == pytest.approx((1.0 + 0.4) / 2)


def test_regression_and_no_shared_item_have_no_kappa() -> None:
    assert annotator_agreement({0: {"a": 1.5, "b": 2.0}}, 1, "regression") == {
        "kappa": None,
        "method": None,
        "items": 1,
        "annotators": ["a", "b"],
    }
    assert annotator_agreement({0: {"a": 1}}, 3)["kappa"] is None
