"""Embedding strategies (BADGE, coreset, TypiClust) through the learner: which embeddings
it computes (``embed=``), on which items (in memory, streamed, prefiltered, a pool
subset, on Ray), checked against calling the strategy directly on what it should get."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import Tensor, nn

from bayesal import ActiveLearner
from bayesal.acquisition.information import mutual_information
from bayesal.errors import InvalidInputError
from bayesal.learner import _SELECT, stream_seed
from bayesal.models import MLP, FeatureModel, GalCNN

DIGITS = load_digits()
N = 240
X_TAB = (DIGITS.data[:N] / 16.0).astype(np.float32)  # [N, 64]
X_IMG = X_TAB.reshape(N, 1, 8, 8)  # a tiny image pool
Y = DIGITS.target[:N]
FAST = {"epochs": 1, "min_steps": 10, "batch_size": 32, "lr": 1e-2}
STRATEGIES = ("badge", "coreset", "typiclust")
# TypiClust with clusters small enough for a pool of a few hundred.
PARAMS: dict[str, dict[str, Any]] = {"typiclust": {"num_neighbours": 5, "min_cluster_size": 2}}
LABELLED = 20


def tabular_model() -> nn.Module:
    return MLP(64, 10, hidden=16, depth=1)


def image_model() -> nn.Module:
    return GalCNN(image_size=8, num_classes=10, hidden=16)


POOLS: dict[str, tuple[np.ndarray, Callable[[], nn.Module]]] = {
    "tabular": (X_TAB, tabular_model),
    "image": (X_IMG, image_model),
}


def _learner(strategy: str, pool: str = "tabular", **kwargs: Any) -> ActiveLearner:
    x, model = POOLS[pool]
    args: dict[str, Any] = dict(
        model=model,
        strategy=strategy,
        strategy_params=PARAMS.get(strategy),
        num_samples=4,
        training=FAST,
        device="cpu",
        seed=0,
    )
    args.update(kwargs)
    learner = ActiveLearner(x, **args)
    learner.teach(np.arange(LABELLED), Y[:LABELLED])
    return learner


def _direct(
    learner: ActiveLearner, embed: Callable[[Tensor], Tensor], batch: int, candidates: Any = None
) -> np.ndarray:
    """What round 0's query should return: the strategy called directly on the unlabelled
    items (or ``candidates`` of them), with embeddings ``embed(x)`` and the round's draw."""
    x_all = learner.inputs.take(np.arange(len(learner.inputs)))
    unlabelled = learner.unlabelled_ids if candidates is None else np.asarray(candidates)
    labelled = learner.labelled_ids
    x_U = x_all[torch.from_numpy(unlabelled)]
    with torch.no_grad():
        log_probs = learner.draw_for_round(0).log_probs(x_U)
        emb_U = embed(x_U).reshape(len(x_U), -1).float()
        emb_L = embed(x_all[torch.from_numpy(labelled)]).reshape(len(labelled), -1).float()
    generator = torch.Generator().manual_seed(stream_seed(learner.seed, _SELECT, 0))
    selection = learner.strategy.select(
        log_probs,
        batch,
        generator=generator,
        embeddings_N_D=emb_U,
        labelled_embeddings_L_D=emb_L,
    )
    return unlabelled[selection.indices_B.numpy()]


class Recorder:
    """A custom embedding that counts the rows it embeds."""

    def __init__(self) -> None:
        self.rows = 0

    def __call__(self, x: Tensor) -> Tensor:
        self.rows += len(x)
        return x.flatten(1)[:, ::3] * 2.0


# ------------------------------------------------------------------ every strategy, both pools


@pytest.mark.parametrize("pool", sorted(POOLS))
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_query_gives_valid_reproducible_picks(strategy: str, pool: str) -> None:
    runs = []
    for _ in range(2):
        learner = _learner(strategy, pool)
        picks = []
        for _ in range(2):
            ids = learner.query(4)
            assert len(set(ids.tolist())) == 4
            assert not learner.pool.is_labelled(ids).any()
            picks.append(ids.tolist())
            learner.teach(ids, Y[ids])
        assert learner.last_embed == "features"  # built-in models expose their features
        runs.append(picks)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("pool", sorted(POOLS))
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_default_embeddings_are_the_models_penultimate_features(strategy: str, pool: str) -> None:
    learner = _learner(strategy, pool)
    ids = learner.query(5)
    model = learner.fitted.models[0]
    assert isinstance(model, FeatureModel)
    model.eval()  # features with dropout off
    assert ids.tolist() == _direct(learner, model.features, 5).tolist()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_embed_inputs_is_the_strategy_on_the_flattened_inputs(strategy: str) -> None:
    learner = _learner(strategy, "image", embed="inputs")
    ids = learner.query(5)
    assert learner.last_embed == "inputs"
    assert ids.tolist() == _direct(learner, lambda x: x.flatten(1), 5).tolist()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_custom_callable(strategy: str) -> None:
    recorder = Recorder()
    learner = _learner(strategy, embed=recorder)
    ids = learner.query(5)
    assert learner.last_embed == "callable"
    reads_labelled = strategy != "badge"
    assert recorder.rows == N - LABELLED + (LABELLED if reads_labelled else 0)
    assert ids.tolist() == _direct(learner, Recorder(), 5).tolist()


def test_model_without_features_falls_back_to_inputs_unless_features_are_required() -> None:
    def plain() -> nn.Module:
        return nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 10))

    learner = _learner("coreset", model=plain)
    ids = learner.query(3)
    assert learner.last_embed == "inputs"
    assert ids.tolist() == _direct(learner, lambda x: x.flatten(1), 3).tolist()
    strict = _learner("coreset", model=plain, embed="features")
    with pytest.raises(InvalidInputError, match=r"no features\(x\) method"):
        strict.query(3)


def test_ensemble_embeds_with_its_first_member() -> None:
    learner = _learner("badge", posterior="ensemble", posterior_params={"members": 2})
    ids = learner.query(4)
    first = learner.fitted.models[0].eval()
    assert ids.tolist() == _direct(learner, first.features, 4).tolist()


@pytest.mark.parametrize("bad", ["pixels", "", 3, None, ["inputs"]])
def test_bad_embed_values_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInputError, match=r"embed must be one of 'auto', 'features'"):
        ActiveLearner(X_TAB, model=tabular_model, strategy="coreset", embed=bad, device="cpu")


@pytest.mark.parametrize("bad_output", [lambda x: x.sum(), lambda x: x[:1], lambda x: x.numpy()])
def test_a_callable_with_a_bad_output_is_refused(bad_output: Callable[[Tensor], Any]) -> None:
    learner = _learner("coreset", embed=bad_output)
    with pytest.raises(InvalidInputError, match=r"embed must map \d+ inputs to embeddings"):
        learner.query(2)


def test_other_strategies_compute_no_embeddings() -> None:
    recorder = Recorder()
    learner = _learner("bald", embed=recorder)
    reference = _learner("bald")
    assert learner.query(3).tolist() == reference.query(3).tolist()
    assert recorder.rows == 0 and learner.last_embed is None


# ------------------------------------------------------------------ scoring paths


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_streamed_exact_selection_equals_in_memory(strategy: str) -> None:
    in_memory = _learner(strategy)
    streamed = _learner(strategy, max_log_probs_bytes=1, prefilter=None)
    for _ in range(2):
        ids = in_memory.query(4)
        assert streamed.query(4).tolist() == ids.tolist()
        in_memory.teach(ids, Y[ids])
        streamed.teach(ids, Y[ids])
    assert in_memory.last_scoring is not None and in_memory.last_scoring.path == "in_memory"
    assert streamed.last_scoring is not None
    assert (streamed.last_scoring.path, streamed.last_scoring.mode) == ("stream", "log_probs")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_prefilter_embeds_only_its_candidates(strategy: str) -> None:
    m = 40
    recorder = Recorder()
    learner = _learner(strategy, embed=recorder, max_log_probs_bytes=1, prefilter=m)
    ids = learner.query(5)
    report = learner.last_scoring
    assert report is not None
    assert (report.path, report.mode, report.candidates) == ("stream", "prefilter", m)
    reads_labelled = strategy != "badge"
    assert recorder.rows == m + (LABELLED if reads_labelled else 0)
    # The candidates: the m best unlabelled items by BALD, in position order.
    unlabelled = learner.unlabelled_ids
    with torch.no_grad():
        log_probs = learner.draw_for_round(0).log_probs(torch.from_numpy(X_TAB[unlabelled]))
    bald = mutual_information(log_probs)
    candidates = np.sort(unlabelled[torch.topk(bald, m).indices.numpy()])
    assert set(ids.tolist()) <= set(candidates.tolist())
    assert ids.tolist() == _direct(learner, Recorder(), 5, candidates).tolist()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pool_subset_embeds_only_the_subset(strategy: str) -> None:
    recorder = Recorder()
    learner = _learner(strategy, embed=recorder, pool_subset=50)
    for _ in range(2):
        recorder.rows = 0
        ids = learner.query(4)
        assert len(set(ids.tolist())) == 4 and not learner.pool.is_labelled(ids).any()
        labelled = learner.pool.num_labelled if strategy != "badge" else 0
        assert recorder.rows == 50 + labelled
        learner.teach(ids, Y[ids])


def test_save_and_load_keep_the_embed_setting(tmp_path: Path) -> None:
    named = _learner("coreset", embed="inputs")
    named.save(tmp_path / "named.pt")
    loaded = ActiveLearner.load(tmp_path / "named.pt", model=tabular_model)
    assert loaded.embed == "inputs"
    assert loaded.query(3).tolist() == named.query(3).tolist()
    custom = _learner("coreset", embed=Recorder())
    custom.save(tmp_path / "custom.pt")
    with pytest.raises(InvalidInputError, match="embed="):
        ActiveLearner.load(tmp_path / "custom.pt", model=tabular_model)
    again = ActiveLearner.load(tmp_path / "custom.pt", model=tabular_model, embed=Recorder())
    assert again.query(3).tolist() == custom.query(3).tolist()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="ray is not installed (`make ray-deps`)")
    folder = tempfile.mkdtemp(prefix="bal-ray-", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=folder)
    yield ray
    ray.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


def test_ray_scoring_picks_what_a_local_run_picks(local_ray: Any) -> None:
    for strategy in STRATEGIES:
        kwargs: dict[str, Any] = dict(max_log_probs_bytes=1, prefilter=40)
        local = _learner(strategy, **kwargs)
        on_ray = _learner(strategy, score_executor="ray", score_shards=2, **kwargs)
        try:
            assert on_ray.query(4).tolist() == local.query(4).tolist(), strategy
            assert on_ray.last_scoring is not None and on_ray.last_scoring.path == "ray"
        finally:
            on_ray.close()
