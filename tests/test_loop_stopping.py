"""The stopping evidence of run_active_learning: opt-in, and it changes nothing else."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from bayesal.acquisition import get_strategy, mutual_information, predictive_entropy
from bayesal.data.two_moons import load_two_moons
from bayesal.errors import InvalidInputError
from bayesal.loop import RoundContext, RoundRecord, draw_stop_set, run_active_learning
from bayesal.models import build_model
from bayesal.stopping import cohen_kappa
from bayesal.training import TrainConfig

DATA = load_two_moons(n_train=80, n_test=60, noise=0.15, seed=0)
TRAIN = TrainConfig(lr=1e-2, epochs=1, batch_size=32, min_steps=25)


def _builder(seed: int) -> torch.nn.Module:
    return build_model("two_moons_mlp", seed=seed)


def _run(strategy: str = "bald", **kwargs: object) -> list[RoundRecord]:
    args: dict[str, object] = dict(
        build_model=_builder,
        train_config=TRAIN,
        initial_labels=4,
        acquisition_size=3,
        rounds=3,
        seed=0,
        num_samples=4,
    )
    args.update(kwargs)
    return run_active_learning(DATA, get_strategy(strategy), **args)  # type: ignore[arg-type]


def _core(records: list[RoundRecord]) -> list[RoundRecord]:
    """The records without timings and stopping evidence."""
    return [
        replace(
            r,
            train_seconds=0.0,
            score_seconds=0.0,
            select_seconds=0.0,
            eval_seconds=0.0,
            stop_agreement=None,
            stop_mean_entropy=None,
            stop_mean_bald=None,
        )
        for r in records
    ]


def test_draw_stop_set() -> None:
    ids = draw_stop_set(100, 30, seed=3)
    assert len(ids) == 30 == len(np.unique(ids)) and np.all(np.diff(ids) > 0)
    assert ids.min() >= 0 and ids.max() < 100 and ids.dtype == np.int64
    np.testing.assert_array_equal(ids, draw_stop_set(100, 30, seed=3))
    assert not np.array_equal(ids, draw_stop_set(100, 30, seed=4))
    np.testing.assert_array_equal(draw_stop_set(10, 50, seed=0), np.arange(10))  # clamped
    with pytest.raises(InvalidInputError, match="stop_set_size"):
        draw_stop_set(10, 0, seed=0)


def test_records_have_no_evidence_unless_asked() -> None:
    for r in _run(rounds=1):
        assert r.stop_agreement is None and r.stop_mean_entropy is None
        assert r.stop_mean_bald is None


def test_evidence_changes_nothing_else_and_matches_the_draw() -> None:
    seen: list[tuple[float, float, np.ndarray]] = []
    stop_ids = torch.from_numpy(draw_stop_set(DATA.num_train, 25, seed=0))

    def on_round(ctx: RoundContext) -> None:
        with torch.no_grad():
            log_probs = ctx.draw.log_probs(DATA.train_x[stop_ids]).double()
        predicted = torch.logsumexp(log_probs, 1).argmax(-1).numpy()
        seen.append(
            (
                float(predictive_entropy(log_probs).mean()),
                float(mutual_information(log_probs).mean()),
                predicted,
            )
        )

    plain = _run()
    recorded = _run(stop_set_size=25, on_round=on_round)
    assert _core(plain) == _core(recorded)
    assert math.isnan(recorded[0].stop_agreement)  # type: ignore[arg-type]
    for r, record in enumerate(recorded):
        entropy, bald, predicted = seen[r]
        assert record.stop_mean_entropy == pytest.approx(entropy, abs=1e-9)
        assert record.stop_mean_bald == pytest.approx(bald, abs=1e-9)
        assert 0.0 <= record.stop_mean_bald <= record.stop_mean_entropy <= math.log(2) + 1e-9  # type: ignore[operator]
        if r:
            expected = cohen_kappa(seen[r - 1][2], predicted, 2)
            assert record.stop_agreement == pytest.approx(expected, abs=1e-12)


def test_the_stop_set_is_the_same_for_every_strategy() -> None:
    # Round 0 trains the same model for every strategy (paired comparisons), so its
    # evidence on the same stop set is the same.
    bald = _run("bald", rounds=1, stop_set_size=20)
    rand = _run("random", rounds=1, stop_set_size=20)
    assert bald[0].stop_mean_entropy == rand[0].stop_mean_entropy
    assert bald[0].stop_mean_bald == rand[0].stop_mean_bald
