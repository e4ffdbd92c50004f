"""Stopping rules on hand-made histories, Cohen's kappa against brute force and
scikit-learn, the registry and its errors, first_stop."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from bayesal.errors import InvalidInputError
from bayesal.registry import get_registry
from bayesal.stopping import (
    STOPPING_RULES,
    RoundEvidence,
    StopDecision,
    StoppingRule,
    available_stopping_rules,
    cohen_kappa,
    first_stop,
    get_stopping_rule,
)


def history(
    n_labels: Sequence[int] | None = None,
    *,
    agreement: Sequence[float | None] | None = None,
    bald: Sequence[float] | None = None,
    accuracy: Sequence[float | None] | None = None,
) -> list[RoundEvidence]:
    """Rounds with the given fields (the length of whichever is given)."""
    n = next(len(x) for x in (n_labels, agreement, bald, accuracy) if x is not None)
    return [
        RoundEvidence(
            n_labels=n_labels[i] if n_labels is not None else 10 * (i + 1),
            agreement=agreement[i] if agreement is not None else None,
            uncertainty={"bald": bald[i], "entropy": 2 * bald[i]} if bald is not None else {},
            accuracy=accuracy[i] if accuracy is not None else None,
        )
        for i in range(n)
    ]


# ------------------------------------------------------------------------------ kappa


def brute_kappa(a: Sequence[int], b: Sequence[int], num_classes: int) -> float:
    """Kappa from the contingency table, with explicit loops."""
    n = len(a)
    table = [[0] * num_classes for _ in range(num_classes)]
    for x, y in zip(a, b, strict=True):
        table[x][y] += 1
    p_o = sum(table[c][c] for c in range(num_classes)) / n
    rows = [sum(table[c]) / n for c in range(num_classes)]
    cols = [sum(table[r][c] for r in range(num_classes)) / n for c in range(num_classes)]
    p_e = sum(rows[c] * cols[c] for c in range(num_classes))
    return 1.0 if p_e == 1 else (p_o - p_e) / (1 - p_e)


def test_kappa_matches_brute_force_and_sklearn() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        c = int(rng.integers(2, 6))
        n = int(rng.integers(1, 40))
        a = rng.integers(0, c, n)
        # correlated predictions: copy some of a
        b = np.where(rng.random(n) < rng.random(), a, rng.integers(0, c, n))
        ours = cohen_kappa(a, b, c)
        assert ours == pytest.approx(brute_kappa(a.tolist(), b.tolist(), c), abs=1e-12)
        assert -1.0 <= ours <= 1.0
        if len(set(a.tolist()) | set(b.tolist())) > 1:  # sklearn is NaN when p_e = 1
            assert ours == pytest.approx(cohen_kappa_score(a, b, labels=list(range(c))), abs=1e-12)


def test_kappa_every_pair_of_tiny_arrays() -> None:
    for a in itertools.product(range(3), repeat=3):
        for b in itertools.product(range(3), repeat=3):
            assert cohen_kappa(a, b, 3) == pytest.approx(brute_kappa(a, b, 3), abs=1e-12)


def test_kappa_edge_cases() -> None:
    assert cohen_kappa([2, 2, 2], [2, 2, 2], 3) == 1.0  # both constant and equal: 1
    assert cohen_kappa([0, 0], [1, 1], 2) == 0.0  # both constant, different: 0
    assert cohen_kappa([0, 1, 0, 1], [1, 0, 1, 0], 2) == -1.0  # perfect disagreement
    assert cohen_kappa([0, 1, 2], [0, 1, 2], 3) == 1.0
    assert cohen_kappa(np.array([0.0, 1.0]), np.array([0, 1]), 2) == 1.0  # integral floats
    assert cohen_kappa([0], [0], 1) == 1.0


@pytest.mark.parametrize(
    ("a", "b", "c", "match"),
    [
        ([], [], 2, "at least one"),
        ([0, 1], [0], 2, "same length"),
        ([0, 2], [0, 1], 2, r"\[0, 2\)"),
        ([-1, 0], [0, 1], 2, r"\[0, 2\)"),
        ([0.5, 1], [0, 1], 2, "integer"),
        ([[0, 1]], [[0, 1]], 2, "1-D"),
        (["a"], ["a"], 2, "integer"),
        ([0], [0], 0, "num_classes"),
        ([0], [0], 2.0, "num_classes"),
    ],
)
def test_kappa_bad_input(a: object, b: object, c: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        cohen_kappa(a, b, c)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ rules


def test_every_rule_handles_an_empty_history() -> None:
    rules = [
        get_stopping_rule("budget", max_labels=5),
        get_stopping_rule("stabilizing_predictions"),
        get_stopping_rule("uncertainty_threshold", threshold=0.1),
        get_stopping_rule("accuracy_plateau"),
    ]
    for rule in rules:
        assert isinstance(rule, StoppingRule)
        decision = rule([])
        assert decision == StopDecision(False, decision.reason, None) and decision.reason


def test_budget() -> None:
    rule = get_stopping_rule("budget", max_labels=30)
    assert rule.name == "budget"
    assert not rule(history([10, 20])).stop
    yes = rule(history([10, 20, 30]))
    assert yes.stop and yes.value == 30.0 and "30 labels >= budget 30" in yes.reason
    assert rule(history([50])).stop  # overshooting counts


def test_stabilizing_predictions_stops_on_the_window_mean() -> None:
    rule = get_stopping_rule("stabilizing_predictions", threshold=0.99, window=3)
    kappas = [None, 0.9, 0.993, 0.995, 0.991]
    d = rule(history(agreement=kappas))
    assert d.stop and d.value == pytest.approx((0.993 + 0.995 + 0.991) / 3)
    assert d.reason.startswith("kappa 0.993, 0.995, 0.991 over the last 3 rounds")
    assert d.reason.endswith(">= 0.99")
    # the mean, not every value: 0.98 is offset by two perfect agreements
    assert rule(history(agreement=[None, 0.98, 1.0, 1.0])).stop
    below = rule(history(agreement=[None, 0.9, 0.993, 0.995]))
    assert not below.stop and below.value == pytest.approx((0.9 + 0.993 + 0.995) / 3)
    assert "< 0.99" in below.reason
    assert first_stop(rule, history(agreement=kappas)) == 4


def test_stabilizing_predictions_needs_a_full_window() -> None:
    rule = get_stopping_rule("stabilizing_predictions", window=3)
    first = rule(history(agreement=[None]))
    assert not first.stop and "first round" in first.reason and first.value is None
    # the window is larger than the history: perfect agreement is not enough yet
    short = rule(history(agreement=[None, 1.0, 1.0]))
    assert not short.stop and "2 of the last 3" in short.reason and short.value == 1.0
    # a gap (a round that did not record) inside the window
    gap = rule(history(agreement=[None, 1.0, None, 1.0, 1.0]))
    assert not gap.stop and "needs 3" in gap.reason
    nan = rule(history(agreement=[None, 1.0, 1.0, math.nan]))
    assert not nan.stop
    none = rule(history(agreement=[None, None, None, None]))
    assert not none.stop and "no stop-set agreement recorded" in none.reason
    one = get_stopping_rule("stabilizing_predictions", threshold=0.9, window=1)
    assert one(history(agreement=[None, 0.95])).stop


def test_uncertainty_threshold() -> None:
    rule = get_stopping_rule("uncertainty_threshold", threshold=0.05)
    assert rule.name == "uncertainty_threshold"
    d = rule(history(bald=[0.3, 0.1, 0.04]))
    assert d.stop and d.value == 0.04 and "bald 0.0400 < 0.05" in d.reason
    assert not rule(history(bald=[0.3, 0.04, 0.06])).stop  # the last round counts
    assert not rule(history(bald=[0.05])).stop  # strictly below
    entropy = get_stopping_rule("uncertainty_threshold", threshold=0.05, measure="entropy")
    assert not entropy(history(bald=[0.04])).stop  # entropy = 0.08 here
    missing = rule(history([10, 20]))
    assert not missing.stop and "no stop-set bald recorded" in missing.reason
    nan = rule([RoundEvidence(10, uncertainty={"bald": math.nan})])
    assert not nan.stop and nan.value is None


def test_accuracy_plateau_definition() -> None:
    rule = get_stopping_rule("accuracy_plateau", window=2, min_delta=0.01)
    # best of the last 2 (0.905) vs best before (0.90): gain 0.005 < 0.01
    d = rule(history(accuracy=[0.5, 0.8, 0.9, 0.88, 0.905]))
    assert d.stop and d.value == pytest.approx(0.005)
    # gain 0.02 >= 0.01
    d = rule(history(accuracy=[0.5, 0.8, 0.9, 0.88, 0.92]))
    assert not d.stop and d.value == pytest.approx(0.02)
    # a drop counts as no gain
    assert rule(history(accuracy=[0.9, 0.8, 0.7])).stop
    # exactly min_delta is an improvement
    assert not rule(history(accuracy=[0.5, 0.5, 0.51])).stop
    assert first_stop(rule, history(accuracy=[0.5, 0.7, 0.9, 0.905, 0.907])) == 4


def test_accuracy_plateau_edge_cases() -> None:
    rule = get_stopping_rule("accuracy_plateau", window=3)
    short = rule(history(accuracy=[0.5, 0.5, 0.5]))  # window = history: nothing before
    assert not short.stop and "needs 4" in short.reason and short.value is None
    assert rule(history(accuracy=[0.5, 0.5, 0.5, 0.5])).stop
    no_test = rule(history([10, 20, 30, 40, 50]))
    assert not no_test.stop and "no test set" in no_test.reason
    # rounds without an accuracy are skipped, the last must have one
    assert rule(history(accuracy=[0.5, None, 0.5, 0.5, 0.5])).stop
    assert not rule(history(accuracy=[0.5, 0.5, 0.5, 0.5, None])).stop
    zero = get_stopping_rule("accuracy_plateau", window=1, min_delta=0)
    assert not zero(history(accuracy=[0.5, 0.5])).stop and zero(history(accuracy=[0.5, 0.4])).stop


def test_first_stop_evaluates_prefixes() -> None:
    seen: list[int] = []

    @dataclass
    class Spy:
        name = "spy"

        def __call__(self, h: Sequence[RoundEvidence]) -> StopDecision:
            seen.append(len(h))
            return StopDecision(len(h) == 3, "spy")

    assert first_stop(Spy(), history([1, 2, 3, 4, 5])) == 2
    assert seen == [1, 2, 3]
    assert first_stop(get_stopping_rule("budget", max_labels=99), history([1, 2])) is None
    assert first_stop(Spy(), []) is None


# ------------------------------------------------------------------------------ registry


def test_registry_lists_the_builtins() -> None:
    assert available_stopping_rules() == [
        "accuracy_plateau",
        "budget",
        "stabilizing_predictions",
        "uncertainty_threshold",
    ]
    assert get_registry("stopping rule") is STOPPING_RULES
    for name in available_stopping_rules():
        assert STOPPING_RULES.resolve(name).name == name


def test_unknown_rule_suggests_a_close_name() -> None:
    with pytest.raises(InvalidInputError, match="Did you mean 'stabilizing_predictions'"):
        get_stopping_rule("stabilising_predictions")
    with pytest.raises(InvalidInputError, match="Available: accuracy_plateau, budget"):
        get_stopping_rule("nope")


def test_import_path_and_registration() -> None:
    rule = get_stopping_rule("bayesal.stopping:Budget", max_labels=3)
    assert rule(history([3])).stop
    STOPPING_RULES.register("my_budget", _MyBudget)
    try:
        assert "my_budget" in available_stopping_rules()
        assert get_stopping_rule("my_budget")(history([7])).stop
        assert STOPPING_RULES.user_entries() == {"my_budget": _MyBudget}
    finally:
        STOPPING_RULES.unregister("my_budget")
    with pytest.raises(InvalidInputError, match="not callable"):
        get_stopping_rule("math:pi")


class _MyBudget:
    name = "my_budget"

    def __call__(self, h: Sequence[RoundEvidence]) -> StopDecision:
        return StopDecision(bool(h) and h[-1].n_labels >= 7, "mine")


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("budget", {}, "missing a required argument: 'max_labels'"),
        ("budget", {"max_label": 3}, "did you mean 'max_labels'"),
        ("budget", {"max_labels": 0}, "max_labels must be an integer >= 1"),
        ("budget", {"max_labels": 2.5}, "max_labels must be an integer"),
        ("budget", {"max_labels": True}, "max_labels must be an integer"),
        ("stabilizing_predictions", {"threshold": 1.5}, "threshold must be <= 1"),
        ("stabilizing_predictions", {"threshold": -1}, "threshold must be > -1"),
        ("stabilizing_predictions", {"threshold": math.nan}, "finite"),
        ("stabilizing_predictions", {"threshold": "0.9"}, "must be a number"),
        ("stabilizing_predictions", {"window": 0}, "window must be an integer >= 1"),
        ("uncertainty_threshold", {}, "missing a required argument: 'threshold'"),
        ("uncertainty_threshold", {"threshold": 0}, "threshold must be > 0"),
        ("uncertainty_threshold", {"threshold": 0.1, "measure": "margin"}, "measure must be one"),
        ("accuracy_plateau", {"window": 0}, "window must be an integer >= 1"),
        ("accuracy_plateau", {"min_delta": -0.1}, "min_delta must be >= 0"),
        ("accuracy_plateau", {"min_delta": math.inf}, "finite"),
    ],
)
def test_bad_parameters(name: str, params: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        get_stopping_rule(name, **params)


def test_stopping_doc_code_blocks_run(capsys: pytest.CaptureFixture[str]) -> None:
    doc = Path(__file__).resolve().parents[1] / "docs" / "stopping.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 2
    namespace: dict[str, object] = {}
    try:
        for block in blocks:
            exec(compile(block, str(doc), "exec"), namespace)  # noqa: S102
    finally:
        if "max_rounds" in STOPPING_RULES:
            STOPPING_RULES.unregister("max_rounds")
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == (
        "True kappa 0.993, 0.995, 0.991 over the last 3 rounds (mean 0.9930) >= 0.99"
    )
    assert printed[1] == "kappa 0.930, 0.993, 0.995 over the last 3 rounds: mean 0.9727 < 0.99"
    assert printed[2] == "4"
    assert printed[3].startswith("StopDecision(stop=True, reason='5 rounds'")
