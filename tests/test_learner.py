"""The ask/tell learner on a user's own data: query / teach / save / load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from bayesal import ActiveLearner, SimulatedOracle
from bayesal.data.pool import MISSING
from bayesal.errors import BayesalError, InvalidInputError

DIGITS = load_digits()
X = DIGITS.data[:300] / 16.0  # float64, as a user's array would be
Y = DIGITS.target[:300]
FAST = {"epochs": 1, "min_steps": 20, "batch_size": 32, "lr": 1e-2}


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 10))


def _learner(**kwargs: object) -> ActiveLearner:
    args: dict[str, object] = dict(
        model=make_model, strategy="bald", num_samples=8, training=FAST, device="cpu", seed=0
    )
    args.update(kwargs)
    return ActiveLearner(X, **args)  # type: ignore[arg-type]


def test_new_user_scenario_in_a_few_lines() -> None:
    learner = ActiveLearner(X, model=make_model, strategy="bald", training=FAST, seed=0)
    for _ in range(3):
        ids = learner.query(10)
        learner.teach(ids, Y[ids])  # a person would type these
    assert learner.pool.num_labelled == 30
    assert learner.evaluate(X, Y)["accuracy"] > 0.3


def test_query_returns_unlabelled_int64_ids_and_works_with_no_label() -> None:
    learner = _learner()
    first = learner.query(5)
    assert first.dtype == np.int64 and len(set(first.tolist())) == 5
    learner.teach(first, Y[first])
    second = learner.query(5)
    assert not set(second.tolist()) & set(first.tolist())
    assert learner.round == 2


def test_ids_are_stable_ids_not_positions() -> None:
    ids = np.arange(len(X)) * 7 + 1000
    learner = _learner(ids=ids)
    picked = learner.query(4)
    assert set(picked.tolist()) <= set(ids.tolist())
    rows = (picked - 1000) // 7
    learner.teach(picked, Y[rows])
    assert sorted(learner.labelled_ids.tolist()) == sorted(picked.tolist())
    with pytest.raises(InvalidInputError, match="unknown ids"):
        learner.teach([3], [1])


def test_cold_start_kcenter_spreads_over_clusters() -> None:
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(c, 0.01, size=(50, 2)) for c in (0.0, 5.0, 10.0)])
    model = lambda: nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.2), nn.Linear(8, 3))  # noqa: E731
    learner = ActiveLearner(blobs, model=model, cold_start="kcenter", device="cpu", seed=3)
    picked = learner.query(3)
    assert sorted((picked // 50).tolist()) == [0, 1, 2]


def test_labels_in_any_order_partial_and_corrected() -> None:
    learner = _learner()
    learner.teach([9, 2], [Y[9], Y[2]])
    learner.teach([2], [Y[2]])  # the same label again: fine
    wrong = (Y[9] + 1) % 10
    with pytest.raises(InvalidInputError, match="overwrite=True"):
        learner.teach([9], [wrong])
    assert learner.labels([9]).tolist() == [Y[9]]  # nothing lost
    learner.teach([9], [wrong], overwrite=True)
    assert learner.labels([9]).tolist() == [wrong]
    assert learner.labels([0]).tolist() == [MISSING]


@pytest.mark.parametrize(
    "ids, labels, match",
    [
        ([1, 2], [0, 10], r"labels must lie in \[0, 10\)"),
        ([1, 2], [0, -1], r"labels must lie in \[0, 10\)"),
        ([1, 1], [0, 0], "duplicate ids"),
        ([1, 5000], [0, 0], "unknown ids"),
        ([1, 2], [0], "2 ids but 1 labels"),
        ([1], [0.5], "integers"),
    ],
)
def test_bad_labels_raise_and_record_nothing(ids: list[int], labels: list, match: str) -> None:
    learner = _learner()
    learner.teach([7], [Y[7]])
    with pytest.raises(InvalidInputError, match=match):
        learner.teach(ids, labels)
    assert learner.labelled_ids.tolist() == [7]


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match="device"):
        _learner(device="cuda:7" if torch.cuda.is_available() else "cuda")
    with pytest.raises(BayesalError, match="Did you mean .bald."):
        _learner(strategy="balt")
    with pytest.raises(InvalidInputError, match="unknown posterior"):
        _learner(posterior="laplace_typo")
    with pytest.raises(InvalidInputError, match="fresh network"):
        _learner(model=make_model())
    learner = _learner()
    with pytest.raises(InvalidInputError, match="larger than the 300 unlabelled"):
        learner.query(301)


def test_resume_after_save_proposes_the_same_batch(tmp_path: Path) -> None:
    oracle = SimulatedOracle(Y)
    straight = _learner()
    stopped = _learner()
    for learner in (straight, stopped):
        ids = learner.query(6)
        learner.teach(ids, oracle(ids))
        ids = learner.query(6)
        learner.teach(ids, oracle(ids))
    stopped.save(tmp_path / "state.pt")
    resumed = ActiveLearner.load(tmp_path / "state.pt", model=make_model)
    assert resumed.round == straight.round
    assert np.array_equal(resumed.labels(), straight.labels())
    for _ in range(2):
        a, b = straight.query(6), resumed.query(6)
        assert np.array_equal(a, b)
        straight.teach(a, oracle(a))
        resumed.teach(b, oracle(b))


def test_saved_model_weights_are_restored(tmp_path: Path) -> None:
    learner = _learner()
    ids = learner.query(8)
    learner.teach(ids, Y[ids])
    before = learner.predict_log_probs(X[:20])
    learner.save(tmp_path / "s.pt")
    loaded = ActiveLearner.load(tmp_path / "s.pt", model=make_model)
    assert torch.equal(loaded.predict_log_probs(X[:20]), before)


def test_load_refuses_foreign_files_and_needs_the_pool_when_unsaved(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a learner")
    with pytest.raises(InvalidInputError, match="not a saved ActiveLearner"):
        ActiveLearner.load(tmp_path / "junk.pt", model=make_model)
    learner = _learner()
    learner.save(tmp_path / "nopool.pt", include_pool=False)
    with pytest.raises(InvalidInputError, match="pass pool="):
        ActiveLearner.load(tmp_path / "nopool.pt", model=make_model)
    assert ActiveLearner.load(tmp_path / "nopool.pt", model=make_model, pool=X).round == 0


class DigitsDataset(torch.utils.data.Dataset):
    """A map-style dataset of (x, y) pairs, as a user's would be."""

    def __len__(self) -> int:
        return len(X)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.tensor(X[i], dtype=torch.float32), int(Y[i])


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_torch_dataset_pool_gives_the_array_pools_picks(num_workers: int) -> None:
    from_array = _learner(pool_subset=None)
    from_dataset = ActiveLearner(
        DigitsDataset(),
        model=make_model,
        num_samples=8,
        training=FAST,
        device="cpu",
        seed=0,
        num_workers=num_workers,
        chunk_size=64,
    )
    seed_ids = np.arange(20)
    for learner in (from_array, from_dataset):
        learner.teach(seed_ids, Y[seed_ids])
    # float64 array vs float32 dataset items: the model sees float32 in both
    assert np.array_equal(from_array.query(5), from_dataset.query(5))


def test_metrics_without_a_test_set() -> None:
    learner = _learner()
    ids = learner.query(10)
    learner.teach(ids, Y[ids])
    learner.query(5)
    metrics = learner.metrics()
    assert metrics["n_labelled"] == 10 and metrics["n_unlabelled"] == 290
    assert sum(metrics["labels_per_class"]) == 10
    assert 0 <= metrics["last_query_mean_score"] <= metrics["last_query_max_score"] <= np.log(10)


def test_ensemble_and_model_by_import_path() -> None:
    learner = ActiveLearner(
        X,
        model="tests.test_learner:make_model",
        posterior="ensemble",
        posterior_params={"members": 2},
        training=FAST,
        device="cpu",
    )
    ids = learner.query(4)
    learner.teach(ids, Y[ids])
    assert len(learner.fit().models) == 2 and len(learner.query(3)) == 3


def test_same_seed_same_ids_and_global_rng_untouched() -> None:
    torch.manual_seed(1)
    state = torch.get_rng_state()
    runs = []
    for _ in range(2):
        learner = _learner()
        ids = learner.query(5)
        learner.teach(ids, Y[ids])
        runs.append(learner.query(5))
    assert np.array_equal(runs[0], runs[1])
    assert torch.equal(torch.get_rng_state(), state)


def test_the_learner_runs_on_each_device(device: torch.device) -> None:
    learner = _learner(device=str(device))
    ids = learner.query(6)
    learner.teach(ids, Y[ids])
    picked = learner.query(6)
    assert len(set(picked.tolist())) == 6
    assert all(p.device.type == device.type for p in learner.fit().models[0].parameters())
    assert learner.predict_log_probs(X[:5]).device.type == "cpu"
    if device.type != "cpu":  # the model-driven batch agrees with the CPU's
        on_cpu = _learner(device="cpu")
        on_cpu.teach(on_cpu.query(6), Y[ids])
        assert np.array_equal(picked, on_cpu.query(6))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"posterior": "ensemble", "posterior_params": {"members": 2}},
        {"pool_subset": 50, "ids": np.arange(len(X))[::-1] * 3 + 5},
        {"strategy": "epig", "target_inputs": torch.tensor(X[:12], dtype=torch.float32)},
        {"strategy": "batchbald", "strategy_params": {"num_samples": 200}},
    ],
    ids=["ensemble", "subset-ids", "epig-targets", "batchbald"],
)
def test_resume_exactly_whatever_the_settings(tmp_path: Path, kwargs: dict) -> None:
    straight, stopped = _learner(**kwargs), _learner(**kwargs)
    ids_order = straight.ids_in_pool_order()
    oracle = SimulatedOracle(Y, ids=ids_order)
    for learner in (straight, stopped):
        ids = learner.query(4)
        learner.teach(ids, oracle(ids))
        learner.query(4)  # fitted now, and its weights are what save() keeps
    stopped.save(tmp_path / "s.pt")
    resumed = ActiveLearner.load(tmp_path / "s.pt", model=make_model)
    assert torch.equal(resumed.predict_log_probs(X[:9]), straight.predict_log_probs(X[:9]))
    assert np.array_equal(resumed.query(4), straight.query(4))  # no teach in between
    for learner in (straight, resumed):
        ids = learner.query(4)
        learner.teach(ids, oracle(ids))
    assert np.array_equal(resumed.query(4), straight.query(4))


def test_load_asks_for_callables_and_refuses_another_pool(tmp_path: Path) -> None:
    def jitter(x: torch.Tensor) -> torch.Tensor:
        return x + 0.01

    learner = _learner(train_transform=jitter)
    learner.save(tmp_path / "s.pt", include_pool=False)
    with pytest.raises(InvalidInputError, match="pass train_transform="):
        ActiveLearner.load(tmp_path / "s.pt", model=make_model, pool=X)
    with pytest.raises(InvalidInputError, match="not the saved learner's pool"):
        ActiveLearner.load(
            tmp_path / "s.pt", model=make_model, pool=X[::-1].copy(), train_transform=jitter
        )
    with pytest.raises(InvalidInputError, match="the pool has 10 items, the saved learner's 300"):
        ActiveLearner.load(tmp_path / "s.pt", model=make_model, pool=X[:10], train_transform=jitter)

    def other_model() -> nn.Module:
        return nn.Sequential(nn.Linear(64, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 10))

    ids = learner.query(5)
    learner.teach(ids, Y[ids])
    learner.fit()
    learner.save(tmp_path / "f.pt")
    with pytest.raises(InvalidInputError, match="does not build the saved architecture"):
        ActiveLearner.load(tmp_path / "f.pt", model=other_model, train_transform=jitter)


def test_a_model_that_does_not_fit_the_data_is_refused_at_once() -> None:
    with pytest.raises(InvalidInputError, match="does not run on the pool's inputs"):
        _learner(model=lambda: nn.Sequential(nn.Linear(12, 10)))
    with pytest.raises(InvalidInputError, match="num_classes=5, but the model returns 10"):
        _learner(num_classes=5)
    with pytest.raises(InvalidInputError, match=r"needs argument\(s\) \['hidden'\]"):
        _learner(model=lambda hidden: nn.Linear(64, hidden))
    nets = []

    def with_seed(seed: int) -> nn.Module:
        nets.append(seed)
        return make_model()

    _learner(model=with_seed)
    assert nets == [0]  # built once to check it, with seed 0


def test_nan_inputs_scalar_calls_and_forget() -> None:
    bad = X.copy()
    bad[5, 3] = np.nan
    learner = ActiveLearner(bad, model=make_model, training=FAST, device="cpu")
    learner.teach(5, Y[5])  # scalars are one id
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        learner.query(3)
    good = _learner()
    good.teach([1, 2], Y[[1, 2]])
    good.forget(2)
    assert good.labelled_ids.tolist() == [1]
    with pytest.raises(InvalidInputError, match=r"test labels must lie in \[0, 10\)"):
        good.evaluate(X[:3], [0, 1, 10])


# ------------------------------------------- what a (plugin) strategy hands back is checked


def _score_fn(kind: str):  # type: ignore[no-untyped-def]
    def score(log_probs_N_K_C: torch.Tensor) -> torch.Tensor:
        n = log_probs_N_K_C.shape[0]
        if kind == "short":
            return torch.zeros(max(n - 1, 0))
        if kind == "inf":
            return torch.full((n,), float("inf"))
        if kind == "nan":
            return torch.full((n,), float("nan"))
        return log_probs_N_K_C.exp().mean(1).max(-1).values  # "ok"

    return score


def _plugin_strategy(kind: str) -> object:
    from bayesal.acquisition.scored import ScoredStrategy, TopKSelector

    return ScoredStrategy(f"plugin_{kind}", _score_fn(kind), TopKSelector())


def _labelled_learner(**kwargs: object) -> ActiveLearner:
    learner = _learner(**kwargs)
    learner.teach(np.arange(20), Y[:20])
    return learner


STREAMED = {"max_log_probs_bytes": 1}  # the pool is scored chunk by chunk (bayesal.scoring)


@pytest.mark.parametrize("path", [{}, STREAMED], ids=["in_memory", "streamed"])
@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("short", r"strategy 'plugin_short' returned scores of shape \[\d+\] for \d+ inputs"),
        ("inf", "strategy 'plugin_inf' gave none of the 280 pool items a finite score"),
        ("nan", "strategy 'plugin_nan' returned NaN scores"),
    ],
)
def test_query_refuses_a_strategy_whose_scores_are_the_wrong_length_all_inf_or_nan(
    path: dict, kind: str, message: str
) -> None:
    learner = _labelled_learner(strategy=_plugin_strategy(kind), **path)
    with pytest.raises(InvalidInputError, match=message):
        learner.query(5)


@pytest.mark.parametrize("path", [{}, STREAMED], ids=["in_memory", "streamed"])
def test_a_finite_plugin_score_still_queries(path: dict) -> None:
    learner = _labelled_learner(strategy=_plugin_strategy("ok"), **path)
    assert len(learner.query(5)) == 5


class _BadJoint:
    """A joint (not pointwise) plugin strategy whose select returns ``what``."""

    needs_target = False

    def __init__(self, what: str) -> None:
        self.name, self.what = f"joint_{what}", what

    def select(self, log_probs_N_K_C, batch_size, *, generator, log_probs_target_M_K_C=None):  # type: ignore[no-untyped-def]
        from bayesal.acquisition.base import Selection

        n = log_probs_N_K_C.shape[0]
        if self.what == "list":
            return list(range(batch_size))
        if self.what == "out_of_range":
            return Selection(torch.arange(n, n + batch_size), torch.zeros(batch_size))
        if self.what == "scores_short":
            return Selection(torch.arange(batch_size), torch.zeros(batch_size - 1))
        return Selection(torch.arange(batch_size), torch.full((batch_size,), float("nan")))


@pytest.mark.parametrize(
    "path", [{}, {**STREAMED, "prefilter": 50}], ids=["in_memory", "prefilter"]
)
@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("list", "strategy 'joint_list' returned list from select, not a Selection"),
        ("out_of_range", "strategy 'joint_out_of_range' returned positions outside"),
        ("scores_short", r"strategy 'joint_scores_short' returned scores_B of shape \[4\]"),
        ("nan", "strategy 'joint_nan' returned NaN pick scores"),
    ],
)
def test_query_refuses_a_bad_selection_from_a_joint_strategy_naming_it(
    path: dict, what: str, message: str
) -> None:
    learner = _labelled_learner(strategy=_BadJoint(what), **path)
    with pytest.raises(InvalidInputError, match=message):
        learner.query(5)


# ------------------------------------------------------------ an edited save file is refused


def _edited_save(tmp_path: Path, edit: object) -> Path:
    learner = _learner()
    learner.teach(np.arange(12), Y[:12])
    path = tmp_path / "state.pt"
    learner.save(path)
    state = torch.load(path, map_location="cpu", weights_only=False)
    edit(state)  # type: ignore[operator]
    torch.save(state, path)
    return path


def _label_out_of_range(state: dict) -> None:
    state["labels"][3] = 99


def _negative_round(state: dict) -> None:
    state["round"] = -2


def _no_num_classes(state: dict) -> None:
    del state["settings"]["num_classes"]


def _no_settings(state: dict) -> None:
    del state["settings"]


def _short_labels(state: dict) -> None:
    state["labels"] = state["labels"][:-1]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_label_out_of_range, r"1 label\(s\) outside the 10 classes \[0, 10\) \(e.g. 99\)"),
        (_negative_round, "round is -2, not a whole number >= 0"),
        (_no_num_classes, "its settings lack num_classes"),
        (_no_settings, "the saved learner lacks settings"),
        (_short_labels, r"labels has shape \[299\], not \[300\]"),
    ],
)
def test_load_refuses_an_edited_save_file_naming_the_problem(
    tmp_path: Path, edit: object, message: str
) -> None:
    path = _edited_save(tmp_path, edit)
    with pytest.raises(InvalidInputError, match=message):
        ActiveLearner.load(path, model=make_model)
