"""Saved learners stay compatible both ways (:mod:`bayesal.learner.persistence`).

``tests/data/saved_learners/*.pt`` were written by the learner *before* it was split into
modules (issue 23), by ``make_saves.py`` beside them, with ``expected.json`` saying what
each must do next. Old files load and resume exactly (same predictions, same next ids,
same retraining); a file saved by the current code holds the same state, key for key and
value for value, as the old file it was loaded from, so the old code reads it too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import make_moons

from bayesal import ActiveLearner

SAVES = Path(__file__).resolve().parent / "data" / "saved_learners"
EXPECTED = json.loads((SAVES / "expected.json").read_text(encoding="utf-8"))["saves"]


def _true_labels() -> np.ndarray:
    _, y = make_moons(48, noise=0.15, random_state=7)  # make_saves.pool()
    return y.astype(np.int64)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_save_of_the_pre_split_learner_loads_and_resumes_exactly(name: str) -> None:
    expected = EXPECTED[name]
    learner = ActiveLearner.load(SAVES / f"{name}.pt")  # pool and model name are saved
    y = _true_labels()
    assert learner.round == expected["round"]
    assert learner.labelled_ids.tolist() == expected["labelled_ids"]
    x = learner.inputs.take(np.arange(4, dtype=np.int64))
    probe = learner.predict_log_probs(x).double()  # the saved posterior: no retraining
    assert torch.equal(probe, torch.tensor(expected["predict_log_probs_first_4"]).double())
    nxt = learner.query(3)
    assert nxt.tolist() == expected["next_query_3"]
    learner.teach(nxt, y[learner._rows_of(nxt)])
    assert learner.query(2).tolist() == expected["then_query_2"]


def _same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _same(u, v, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, where
        assert np.array_equal(a, b), where
    elif isinstance(a, str | int | float | bool | type(None)):
        assert type(a) is type(b) and a == b, where
    else:  # a fitted forest: an sklearn object; the same class is enough here
        assert type(a) is type(b), where


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_save_of_the_current_code_is_the_pre_split_file_again(name: str, tmp_path: Path) -> None:
    old = torch.load(SAVES / f"{name}.pt", map_location="cpu", weights_only=False)
    ActiveLearner.load(SAVES / f"{name}.pt").save(tmp_path / "again.pt")
    new = torch.load(tmp_path / "again.pt", map_location="cpu", weights_only=False)
    _same(old, new, "state")
