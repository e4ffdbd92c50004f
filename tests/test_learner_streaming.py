"""Large pools through the learner: streamed scoring, prefiltered joint strategies, pools
read from disk (memory-mapped .npy, Parquet, a torch Dataset with DataLoader workers),
and scoring on a local Ray cluster; the picks are those of the in-memory path."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from bayesal import ActiveLearner
from bayesal.acquisition import exact_joint_entropy, expected_entropy, get_strategy
from bayesal.data.source import MemmapInputs, ParquetInputs
from bayesal.errors import InvalidInputError
from bayesal.scoring.distributed import RAY_INSTALL, RayScoringUnavailableError

DIGITS = load_digits()
X = (DIGITS.data / 16.0).astype(np.float32)  # 1,797 x 64
Y = DIGITS.target
FAST = {"epochs": 1, "min_steps": 20, "batch_size": 32, "lr": 1e-2}
STREAM = 1  # max_log_probs_bytes that streams every pool


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 10))


def _learner(pool: Any, **kwargs: Any) -> ActiveLearner:
    args: dict[str, Any] = dict(
        model=make_model, num_samples=8, training=FAST, device="cpu", seed=0, chunk_size=256
    )
    args.update(kwargs)
    learner = ActiveLearner(pool, **args)
    learner.teach(np.arange(30), Y[:30])
    return learner


def _rounds(learner: ActiveLearner, rounds: int = 2, batch: int = 5, **query: Any) -> list:
    picks = []
    for _ in range(rounds):
        ids = learner.query(batch, **query)
        picks.append(ids.tolist())
        learner.teach(ids, Y[ids])
    return picks


@pytest.fixture(scope="module")
def npy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pool") / "x.npy"
    np.save(path, X)
    return path


STRATEGIES = [
    ("bald", {}),
    ("margin", {}),
    ("random", {}),
    ("power_bald", {}),
    ("epig", {}),
    ("softrank_epig", {}),
    ("batchbald", {"num_samples": 500}),
]


@pytest.mark.parametrize(("name", "params"), STRATEGIES)
def test_streamed_memmap_pool_picks_what_the_in_memory_pool_picks(
    name: str, params: dict[str, Any], npy_file: Path
) -> None:
    kwargs = dict(strategy=name, strategy_params=params, prefilter=None)
    in_memory = _learner(X, **kwargs)
    streamed = _learner(np.load(npy_file, mmap_mode="r"), max_log_probs_bytes=STREAM, **kwargs)
    assert _rounds(streamed) == _rounds(in_memory)
    assert in_memory.last_scoring is not None and in_memory.last_scoring.path == "in_memory"
    assert streamed.last_scoring is not None and streamed.last_scoring.path == "stream"
    if name in ("bald", "margin", "random", "epig"):
        # A streaming top-k: a few candidates, not N scores.
        assert streamed.last_scoring.mode == "top_k"
        assert streamed.last_scoring.candidates < 50
    if name == "bald":
        assert streamed.last_scores["max"] == in_memory.last_scores["max"]
        assert streamed.last_scores["mean"] == pytest.approx(in_memory.last_scores["mean"])


def test_pool_subset_and_ids_stream_too(npy_file: Path) -> None:
    ids = np.arange(len(X)) * 3 + 7
    kwargs = dict(strategy="bald", pool_subset=900, ids=ids)
    a = ActiveLearner(X, model=make_model, num_samples=8, training=FAST, device="cpu", **kwargs)
    b = ActiveLearner(
        str(npy_file),
        model=make_model,
        num_samples=8,
        training=FAST,
        device="cpu",
        max_log_probs_bytes=STREAM,
        **kwargs,
    )
    for learner in (a, b):
        learner.teach(ids[:30], Y[:30])
    assert a.query(6).tolist() == b.query(6).tolist()
    assert isinstance(b.inputs, MemmapInputs)


def test_parquet_pool_streams(tmp_path: Path) -> None:
    pa = pytest.importorskip(
        "pyarrow",
        reason="pyarrow is not installed (`make test` installs it; pip install 'bayesal[parquet]')",
    )
    pq = pytest.importorskip(
        "pyarrow.parquet",
        reason="pyarrow is not installed (`make test` installs it; pip install 'bayesal[parquet]')",
    )
    path = tmp_path / "x.parquet"
    table = pa.table({f"f{i}": X[:, i] for i in range(64)})
    pq.write_table(table, path, row_group_size=300)
    pool = ParquetInputs(path)
    assert pool.num_row_groups == 6
    want = _rounds(_learner(X, strategy="bald"))
    assert _rounds(_learner(pool, strategy="bald", max_log_probs_bytes=STREAM)) == want
    assert _rounds(_learner(str(path), strategy="bald", max_log_probs_bytes=STREAM)) == want


class _Digits(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return len(X)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(X[i]), int(Y[i])


def test_torch_dataset_pool_with_loader_workers_streams() -> None:
    want = _rounds(_learner(X, strategy="power_bald"), rounds=1)
    learner = _learner(_Digits(), strategy="power_bald", max_log_probs_bytes=STREAM, num_workers=1)
    assert _rounds(learner, rounds=1) == want


def _joint_mi(learner: ActiveLearner, ids: np.ndarray) -> float:
    draw = learner.draw_for_round(learner.round - 1)
    lp = draw.log_probs(torch.from_numpy(X[ids]).contiguous())
    return float(exact_joint_entropy(lp) - expected_entropy(lp).sum())


def test_prefilter_effect_on_batchbald_against_the_exact_selection() -> None:
    """On a pool where the exact answer is computable: candidates = the pool gives the
    exact picks; 100 and 30 candidates (of 870) keep the joint mutual information the
    batch achieves (measured here: the same picks)."""
    pool = X[:900]
    kwargs = dict(strategy="batchbald", strategy_params={"num_samples": 1000}, num_samples=20)
    exact = _learner(pool, prefilter=None, **kwargs)
    exact_ids = exact.query(5)
    exact_mi = _joint_mi(exact, exact_ids)
    same = _learner(pool, prefilter=len(pool), **kwargs)
    assert same.query(5).tolist() == exact_ids.tolist()
    assert same.last_scoring is not None and same.last_scoring.path == "in_memory"
    for m in (100, 30):
        learner = _learner(pool, prefilter=m, **kwargs)
        ids = learner.query(5)
        report = learner.last_scoring
        assert report is not None and report.mode == "prefilter" and report.candidates == m
        overlap = len(set(ids.tolist()) & set(exact_ids.tolist())) / 5
        assert overlap >= 0.6
        assert _joint_mi(learner, ids) >= 0.95 * exact_mi


def test_auto_prefilter_applies_only_when_the_pool_does_not_fit() -> None:
    seen: list[tuple[int, ...]] = []
    inner = get_strategy("batchbald", num_samples=200)

    class Recording:
        name, needs_target, inputs = "rec", False, inner.inputs

        def select(self, log_probs_N_K_C: torch.Tensor, batch_size: int, **kw: Any) -> Any:
            seen.append(tuple(log_probs_N_K_C.shape))
            return inner.select(log_probs_N_K_C, batch_size, **kw)

    pool = X[:500]
    _learner(pool, strategy=Recording()).query(3)
    _learner(pool, strategy=Recording(), max_log_probs_bytes=STREAM).query(3)
    assert seen == [(470, 8, 10), (470, 8, 10)]  # under 2,000 items: exact
    _learner(pool, strategy=Recording(), max_log_probs_bytes=STREAM, prefilter=100).query(3)
    assert seen[-1] == (100, 8, 10)


def test_scoring_settings_are_saved_and_checked(tmp_path: Path) -> None:
    learner = _learner(X, strategy="batchbald", prefilter=300, max_log_probs_bytes=10**6)
    path = learner.save(tmp_path / "state.pt")
    loaded = ActiveLearner.load(path, model=make_model)
    assert (loaded.prefilter, loaded.max_log_probs_bytes) == (300, 10**6)
    assert (loaded.score_executor, loaded.ray_address) == ("local", None)
    with pytest.raises(InvalidInputError, match="executor must be one of"):
        _learner(X, score_executor="dask")
    with pytest.raises(InvalidInputError, match="executor must be one of"):
        learner.query(2, executor="spark")
    with pytest.raises(InvalidInputError, match="prefilter"):
        _learner(X, prefilter=0)
    with pytest.raises(InvalidInputError, match="score_shards"):
        _learner(X, score_shards=0)


def test_ray_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    learner = _learner(X, strategy="bald")
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RayScoringUnavailableError, match=r"pip install 'bayesal\[ray\]'"):
        learner.query(2, executor="ray")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason=f"ray is not installed ({RAY_INSTALL})")
    folder = tempfile.mkdtemp(prefix="bal-ray-", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=folder)
    yield ray
    ray.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_ray_scoring_picks_what_a_local_run_picks(local_ray: Any, npy_file: Path) -> None:
    pool = np.load(npy_file, mmap_mode="r")
    for name, params, extra in [
        ("bald", {}, {}),
        ("power_bald", {}, {}),
        ("epig", {}, {}),
        ("batchbald", {"num_samples": 500}, {"prefilter": 100}),
        ("batchbald", {"num_samples": 500}, {"prefilter": None}),
    ]:
        kwargs = dict(strategy=name, strategy_params=params, max_log_probs_bytes=STREAM, **extra)
        local = _learner(pool, **kwargs)
        on_ray = _learner(pool, score_executor="ray", score_shards=3, **kwargs)
        assert _rounds(on_ray) == _rounds(local), name
        report = on_ray.last_scoring
        assert report is not None and report.path == "ray" and report.num_shards == 3
        assert {"ship", "score", "merge"} <= set(report.seconds)
    # The fitted posterior is shipped once: a second query on the same labels reuses it.
    learner = _learner(X, strategy="bald", score_executor="ray")
    learner.query(2)
    first = learner._ray_scorer._fitted
    learner.query(2)
    assert learner._ray_scorer._fitted is first
    # In memory, the in-memory path and Ray agree too (and `random` falls back to local).
    assert _rounds(_learner(X, strategy="margin")) == _rounds(
        _learner(X, strategy="margin"), executor="ray"
    )
    with pytest.warns(UserWarning, match="scored in this process"):
        picked = _learner(X, strategy="random").query(3, executor="ray")
    assert picked.tolist() == _learner(X, strategy="random").query(3).tolist()
