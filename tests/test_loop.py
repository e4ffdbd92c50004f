"""run_active_learning end to end on a tiny TwoMoons problem."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pytest
import torch
from torch import Tensor

from bayesal.acquisition import Selection, Strategy, get_strategy, top_k
from bayesal.data.two_moons import load_two_moons
from bayesal.errors import InvalidInputError
from bayesal.loop import RoundContext, RoundRecord, run_active_learning
from bayesal.models import build_model
from bayesal.training import TrainConfig

DATA = load_two_moons(n_train=80, n_test=60, noise=0.15, seed=0)
TRAIN = TrainConfig(lr=1e-2, epochs=1, batch_size=32, min_steps=25)


def _builder(seed: int) -> torch.nn.Module:
    return build_model("two_moons_mlp", seed=seed)


def _run(strategy: str | Strategy = "bald", **kwargs: object) -> list[RoundRecord]:
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
    chosen = get_strategy(strategy) if isinstance(strategy, str) else strategy
    return run_active_learning(DATA, chosen, **args)  # type: ignore[arg-type]


def _without_times(records: list[RoundRecord]) -> list[RoundRecord]:
    return [
        replace(r, train_seconds=0.0, score_seconds=0.0, select_seconds=0.0, eval_seconds=0.0)
        for r in records
    ]


@dataclass
class SpyStrategy:
    """A non-pointwise strategy (top-k of the mean max-probability deficit) that records
    the shapes it was given."""

    name: str = "spy"
    needs_target: bool = False
    seen: list[tuple[int, ...]] = field(default_factory=list)
    seen_target: list[tuple[int, ...] | None] = field(default_factory=list)

    def select(
        self,
        log_probs_N_K_C: Tensor,
        batch_size: int,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
    ) -> Selection:
        self.seen.append(tuple(log_probs_N_K_C.shape))
        self.seen_target.append(
            None if log_probs_target_M_K_C is None else tuple(log_probs_target_M_K_C.shape)
        )
        scores_N = -log_probs_N_K_C.exp().mean(1).max(-1).values
        return top_k(scores_N, batch_size, generator=generator)


def test_records_and_acquisitions_are_consistent() -> None:
    seen_labelled: list[np.ndarray] = []

    def on_round(ctx: RoundContext) -> None:
        seen_labelled.append(ctx.labelled_ids)
        assert ctx.draw.num_samples == 4

    records = _run(on_round=on_round)
    assert [r.round for r in records] == [0, 1, 2, 3]
    assert [r.n_labels for r in records] == [4, 7, 10, 13]
    assert records[-1].acquired_ids == ()
    labelled = set(seen_labelled[0].tolist())
    for rec, before in zip(records, seen_labelled, strict=True):
        assert set(before.tolist()) == labelled
        assert len(rec.acquired_ids) == (3 if rec.round < 3 else 0)
        assert len(set(rec.acquired_ids)) == len(rec.acquired_ids)
        assert not labelled & set(rec.acquired_ids)  # acquired ids were unlabelled
        labelled |= set(rec.acquired_ids)
    assert len(seen_labelled[0]) == 4
    assert sorted(np.bincount(DATA.train_y[seen_labelled[0]].numpy()).tolist()) == [2, 2]
    for rec in records:
        assert 0.0 <= rec.test_accuracy <= 1.0 and rec.test_nll > 0
        assert min(rec.train_seconds, rec.score_seconds, rec.eval_seconds) >= 0


def test_same_seed_same_records_and_global_rng_untouched() -> None:
    torch.manual_seed(0)
    state = torch.get_rng_state()
    first = _run()
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(99)
    assert _without_times(_run()) == _without_times(first)
    other = _run(seed=1)
    assert [r.acquired_ids for r in other] != [r.acquired_ids for r in first]


def test_first_round_does_not_depend_on_the_strategy() -> None:
    bald, rand = _run(), _run("random")
    assert bald[0].test_accuracy == rand[0].test_accuracy
    assert bald[0].test_nll == rand[0].test_nll
    assert bald[0].acquired_ids != rand[0].acquired_ids


def test_pool_subset_is_respected() -> None:
    spy = SpyStrategy()
    records = _run(spy, pool_subset=10)
    assert spy.seen == [(10, 4, 2)] * 3
    no_subset = SpyStrategy()
    _run(no_subset)
    assert [s[0] for s in no_subset.seen] == [76, 73, 70]
    assert len({i for r in records for i in r.acquired_ids}) == 9


def test_pointwise_scoring_in_chunks_matches_one_chunk() -> None:
    whole = _run(chunk_size=4096)
    chunked = _run(chunk_size=7)
    assert _without_times(whole) == _without_times(chunked)


def test_target_strategy_gets_targets_from_the_pool() -> None:
    spy = SpyStrategy(needs_target=True)
    _run(spy, num_target_samples=11, rounds=2)
    assert spy.seen_target == [(11, 4, 2)] * 2
    fixed = SpyStrategy(needs_target=True)
    _run(fixed, target_inputs=DATA.test_x[:5], rounds=1)
    assert fixed.seen_target == [(5, 4, 2)]


def test_ensemble_posterior_uses_independent_members() -> None:
    spy = SpyStrategy()
    models_seen: list[list[torch.nn.Module]] = []
    records = _run(
        spy,
        posterior="ensemble",
        ensemble_size=3,
        rounds=1,
        on_round=lambda ctx: models_seen.append(ctx.models),
    )
    assert spy.seen == [(76, 3, 2)]
    members = models_seen[0]
    assert len(members) == 3
    first_weights = [next(m.parameters()).detach() for m in members]
    assert not torch.equal(first_weights[0], first_weights[1])
    assert len(records) == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rounds": 30}, "need 94 training examples"),
        ({"pool_subset": 2}, "pool_subset"),
        ({"posterior": "gaussian_process"}, "posterior must be one of"),
        ({"acquisition_size": 0}, "acquisition_size must be >= 1"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        _run(**kwargs)


def test_the_loop_runs_on_each_device(device: torch.device) -> None:
    records = _run(device=str(device), rounds=2)
    assert [r.n_labels for r in records] == [4, 7, 10]
    assert all(0.0 <= r.test_accuracy <= 1.0 for r in records)


def test_a_dataset_without_a_test_set_gives_nan_metrics() -> None:
    empty = replace(DATA, test_x=DATA.test_x[:0], test_y=DATA.test_y[:0])
    records = run_active_learning(
        empty,
        get_strategy("bald"),
        build_model=_builder,
        train_config=TRAIN,
        initial_labels=4,
        acquisition_size=3,
        rounds=1,
        seed=0,
        num_samples=4,
    )
    assert all(np.isnan(r.test_accuracy) and np.isnan(r.test_nll) for r in records)
    assert len(records[0].acquired_ids) == 3
