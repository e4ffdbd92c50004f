"""The ``label_spreading`` posterior: k-NN graph, label spreading against the closed
form, bootstrap members, the out-of-sample extension and the learner's pool plumbing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bayesal import ActiveLearner
from bayesal.data.source import ArrayInputs
from bayesal.errors import InvalidInputError
from bayesal.posterior import FitSeeds, get_posterior
from bayesal.posterior.graph import affinity_matrix, knn_search, spread_labels
from bayesal.training import TrainConfig

SEEDS = FitSeeds(init=lambda m: 3 + m, train=lambda m: 4 + m)


def _blobs(n_per: int = 30, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Three well-separated Gaussian blobs in 2-D, labels 0, 1, 2."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    x = np.concatenate([c + rng.normal(size=(n_per, 2)) for c in centres])
    y = np.repeat(np.arange(3), n_per)
    return torch.tensor(x, dtype=torch.float32), y


def _fit(x: torch.Tensor, y: np.ndarray, rows: np.ndarray, **params: object):  # type: ignore[no-untyped-def]
    method = get_posterior("label_spreading", **params)
    fitted = method.fit(
        None,
        x[rows],
        torch.as_tensor(y[rows]),
        train_config=TrainConfig(),
        seeds=SEEDS,
        device=torch.device("cpu"),
        num_classes=3,
        pool=ArrayInputs(x),
        labelled_rows=rows,
    )
    return method, fitted


def test_knn_search_equals_brute_force_and_skips_self() -> None:
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    idx, d2 = knn_search(x, x, 5, exclude_self=True)
    full = torch.cdist(x.double(), x.double()) ** 2
    full.fill_diagonal_(float("inf"))
    expected_d2, expected_idx = torch.topk(full, 5, largest=False)
    assert torch.equal(idx, expected_idx)
    assert torch.allclose(d2.double(), expected_d2, atol=1e-4)


@pytest.mark.parametrize("method", ["tree", "auto"])
def test_tree_knn_search_equals_brute_force_and_skips_self(method: str) -> None:
    gen = torch.Generator().manual_seed(1)
    base, queries = torch.randn(300, 6, generator=gen), torch.randn(40, 6, generator=gen)
    for q, exclude in ((queries, False), (base, True)):
        idx, d2 = knn_search(q, base, 7, exclude_self=exclude, method=method)
        full = torch.cdist(q.double(), base.double()) ** 2
        if exclude:
            full.fill_diagonal_(float("inf"))
        expected_d2, expected_idx = torch.topk(full, 7, largest=False)
        assert torch.equal(idx, expected_idx)
        assert d2.dtype == torch.float32
        assert torch.allclose(d2.double(), expected_d2, rtol=1e-6, atol=1e-6)


def test_tree_knn_search_skips_self_among_duplicate_points() -> None:
    # Four copies of one point: a copy's own row may not come first among equals.
    x = torch.cat([torch.zeros(4, 2), torch.arange(1.0, 7.0)[:, None].repeat(1, 2)])
    idx, d2 = knn_search(x, x, 3, exclude_self=True, method="tree")
    assert all(i not in row for i, row in enumerate(idx.tolist()))
    assert torch.equal(d2[:4], torch.zeros(4, 3))


def test_knn_method_is_checked() -> None:
    x = torch.randn(10, 2)
    with pytest.raises(InvalidInputError, match="knn must be one of brute, tree, auto"):
        knn_search(x, x, 3, method="ball")
    with pytest.raises(InvalidInputError, match="knn must be one of"):
        get_posterior("label_spreading", knn="faiss")


def test_affinity_is_symmetric_nonnegative_without_self_loops() -> None:
    x, _ = _blobs()
    w = affinity_matrix(*knn_search(x, x, 6, exclude_self=True)).toarray()
    assert np.allclose(w, w.T)
    assert (w >= 0).all() and np.all(np.diag(w) == 0)
    assert ((w > 0).sum(1) >= 6).all()  # every node keeps its own k neighbours


def test_spread_labels_equals_the_linear_solve() -> None:
    x, y = _blobs(n_per=12)
    w = affinity_matrix(*knn_search(x, x, 5, exclude_self=True))
    y0 = np.zeros((len(x), 3))
    y0[[0, 12, 24, 5], y[[0, 12, 24, 5]]] = 1.0
    alpha = 0.9
    d = np.asarray(w.sum(1)).ravel()
    s = w.toarray() / np.sqrt(np.outer(d, d))
    expected = np.linalg.solve(np.eye(len(x)) - alpha * s, (1 - alpha) * y0)
    got = spread_labels(w, y0, alpha, tol=1e-12)
    assert np.allclose(got, expected, atol=1e-9)


def test_member_probabilities_are_spread_bootstrap_counts() -> None:
    """Member m's probabilities at the graph nodes equal spreading its resample's label
    counts directly, normalised over classes (the per-label solves are combined right)."""
    x, y = _blobs(n_per=10)
    rows = np.array([0, 3, 10, 14, 20, 25])
    _, fitted = _fit(
        x, y, rows, members=4, k=5, alpha=0.9, min_prob=1e-9, class_mass_normalization=False
    )
    probs = fitted.extra["label_spreading"]["probs"].double().numpy()  # [B, M, C]
    w = affinity_matrix(*knn_search(x, x, 5, exclude_self=True))
    counts = np.random.default_rng(SEEDS.init(0)).multinomial(
        len(rows), np.full(len(rows), 1 / len(rows)), size=4
    )
    for m in range(4):
        y0 = np.zeros((len(x), 3))
        np.add.at(y0, (rows, y[rows]), counts[m])
        f = spread_labels(w, y0, 0.9, tol=1e-12)
        f = np.maximum(f, 1e-9)
        assert np.allclose(probs[:, m], f / f.sum(1, keepdims=True), atol=1e-5)


def test_one_label_per_blob_classifies_every_blob() -> None:
    x, y = _blobs()
    _, fitted = _fit(x, y, np.array([0, 30, 60]), k=8)
    pred = fitted.predict_log_probs(x).argmax(1).numpy()
    assert (pred == y).mean() > 0.97


def test_members_disagree_where_a_class_rests_on_one_label() -> None:
    """Bootstrap samples that drop the single label of blob 2 give that blob to another
    class, so the members disagree there; blobs 0 and 1 (four labels each) they agree on."""
    x, y = _blobs()
    rows = np.array([0, 1, 2, 3, 30, 31, 32, 33, 60])
    _, fitted = _fit(x, y, rows, members=20, k=8)
    draw = fitted.draw(torch.Generator().manual_seed(0))
    probs = draw.log_probs(x).exp()  # [N, K, C]
    spread = probs.var(dim=1).sum(-1)  # disagreement between members
    assert spread[60:].mean() > 10 * spread[:60].mean()


def test_inputs_outside_the_graph_use_their_nearest_nodes() -> None:
    x, y = _blobs()
    _, fitted = _fit(x, y, np.array([0, 30, 60]), k=8)
    far = torch.tensor([[0.2, -0.1], [6.3, 0.4], [-0.2, 5.8]])
    assert fitted.predict_log_probs(far).argmax(1).tolist() == [0, 1, 2]


def test_a_pool_larger_than_max_nodes_uses_a_fixed_sample_and_places_outside_labels() -> None:
    x, y = _blobs(n_per=40)
    # Labelled items may fall outside the 30-node sample: their labels still count.
    method, fitted = _fit(x, y, np.array([1, 41, 81]), k=5, max_nodes=30)
    assert len(fitted.extra["label_spreading"]["node_features"]) == 30
    pred = fitted.predict_log_probs(x).argmax(1).numpy()
    assert (pred == y).mean() > 0.9
    graph = method.graph(ArrayInputs(x))
    again = method.graph(ArrayInputs(x))
    assert np.array_equal(graph.rows, again.rows)


def test_parameters_are_checked() -> None:
    for params, message in [
        ({"alpha": 1.0}, "alpha"),
        ({"k": 0}, "k must"),
        ({"members": 0}, "members"),
        ({"resample": "jackknife"}, "resample"),
        ({"max_nodes": 1}, "max_nodes"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            get_posterior("label_spreading", **params)


def test_fit_without_the_pool_says_to_use_the_learner() -> None:
    x, y = _blobs()
    method = get_posterior("label_spreading")
    with pytest.raises(InvalidInputError, match="reads the unlabelled pool"):
        method.fit(
            None,
            x[:3],
            torch.as_tensor(y[:3]),
            train_config=TrainConfig(),
            seeds=SEEDS,
            device=torch.device("cpu"),
            num_classes=3,
        )


def test_learner_queries_and_evaluates_with_label_spreading() -> None:
    x, y = _blobs()
    learner = ActiveLearner(
        x.numpy(),
        model=None,
        num_classes=3,
        posterior="label_spreading",
        posterior_params={"k": 8},
        strategy="bald",
        seed=0,
    )
    learner.teach([0, 30, 60], y[[0, 30, 60]])
    picked = learner.query(3)
    assert len(set(picked.tolist())) == 3
    assert not set(picked.tolist()) & {0, 30, 60}
    learner.teach(picked, y[picked])
    assert learner.evaluate(x.numpy(), y)["accuracy"] > 0.9


def test_saved_learner_restores_the_spread_labels(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, y = _blobs()
    learner = ActiveLearner(
        x.numpy(), model=None, num_classes=3, posterior="label_spreading", seed=0
    )
    learner.teach([0, 30, 60], y[[0, 30, 60]])
    before = learner.predict_log_probs(x.numpy())
    learner.save(tmp_path / "l.pt")
    loaded = ActiveLearner.load(tmp_path / "l.pt")
    assert torch.allclose(loaded.predict_log_probs(x.numpy()), before)


def test_saved_learner_keeps_its_knn_method(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, y = _blobs()
    learner = ActiveLearner(
        x.numpy(),
        model=None,
        num_classes=3,
        posterior="label_spreading",
        posterior_params={"knn": "tree"},
        seed=0,
    )
    learner.teach([0, 30, 60], y[[0, 30, 60]])
    before = learner.predict_log_probs(x.numpy())
    learner.save(tmp_path / "l.pt")
    loaded = ActiveLearner.load(tmp_path / "l.pt")
    assert loaded.fitted.extra["label_spreading"]["knn"] == "tree"
    assert torch.equal(loaded.predict_log_probs(x.numpy()), before)


def test_class_mass_normalisation_keeps_a_many_labelled_class_from_taking_over() -> None:
    """With alpha near 1 spread mass approaches the graph's stationary distribution, so
    the class with most labels wins everywhere unless each class's mass is normalised."""
    x, y = _blobs(n_per=40)
    rows = np.concatenate([np.arange(0, 30), [40, 80]])  # 30 labels of class 0, 1 of each other
    accuracy = {}
    for cmn in (False, True):
        _, fitted = _fit(x, y, rows, k=20, alpha=0.999, members=1, class_mass_normalization=cmn)
        probs = fitted.extra["label_spreading"]["probs"][:, 0].numpy()
        accuracy[cmn] = (probs.argmax(1) == y).mean()
    assert accuracy[True] > 0.95 > accuracy[False]
