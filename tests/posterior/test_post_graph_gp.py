"""The ``graph_gp`` posterior: a Gaussian process on the pool's k-NN graph (Laplacian
eigenbasis prior, Dirichlet-based classification likelihood), against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from bayesal import ActiveLearner
from bayesal.data.source import ArrayInputs
from bayesal.errors import InvalidInputError
from bayesal.posterior import FitSeeds, get_posterior
from bayesal.posterior.graph import _normalised
from bayesal.posterior.graph_gp import dirichlet_targets, gp_posterior, laplacian_eigenbasis
from bayesal.training import TrainConfig

SEEDS = FitSeeds(init=lambda m: 3 + m, train=lambda m: 4 + m)


def _blobs(n_per: int = 30, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    x = np.concatenate([c + rng.normal(size=(n_per, 2)) for c in centres])
    return torch.tensor(x, dtype=torch.float32), np.repeat(np.arange(3), n_per)


def _fit(x: torch.Tensor, y: np.ndarray, rows: np.ndarray, **params: object):  # type: ignore[no-untyped-def]
    method = get_posterior("graph_gp", **{"eigenvectors": 20, **params})
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


def test_dirichlet_targets_match_the_hand_computed_case() -> None:
    targets, noise = dirichlet_targets(np.array([1]), 2, 0.01)
    # class 0: alpha 0.01; class 1: alpha 1.01 (Milios et al. 2018, eq. 9-10)
    assert noise[0, 0] == pytest.approx(np.log(1 / 0.01 + 1))
    assert noise[0, 1] == pytest.approx(np.log(1 / 1.01 + 1))
    assert targets[0, 0] == pytest.approx(np.log(0.01) - np.log(101) / 2)
    assert targets[0, 1] == pytest.approx(np.log(1.01) - np.log(1 / 1.01 + 1) / 2)


def test_gp_posterior_equals_the_function_space_closed_form() -> None:
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(6, 4))
    prior = np.array([2.0, 1.0, 0.5, 0.1])
    noise = rng.uniform(0.2, 1.0, size=6)
    t = rng.normal(size=6)
    mean, upper = gp_posterior(phi, prior, t, noise)
    # Weight space vs the GP's function-space form: mean = S Phi^T (Phi S Phi^T + N)^-1 t,
    # covariance = S - S Phi^T (Phi S Phi^T + N)^-1 Phi S.
    s = np.diag(prior)
    gram = phi @ s @ phi.T + np.diag(noise)
    np.testing.assert_allclose(mean, s @ phi.T @ np.linalg.solve(gram, t), rtol=1e-9)
    cov = np.linalg.inv(upper) @ np.linalg.inv(upper).T
    np.testing.assert_allclose(cov, s - s @ phi.T @ np.linalg.solve(gram, phi @ s), atol=1e-10)


def _ring(n: int, offset: int, seed: int) -> list[tuple[int, int, float]]:
    """A ring of n nodes plus random chords: connected, weighted."""
    rng = np.random.default_rng(seed)
    edges = [(offset + i, offset + (i + 1) % n, float(rng.uniform(0.5, 1.0))) for i in range(n)]
    for _ in range(n // 4):
        i, j = rng.choice(n, 2, replace=False)
        edges.append((offset + int(i), offset + int(j), float(rng.uniform(0.1, 1.0))))
    return edges


def _graph_of(edges: list[tuple[int, int, float]], n: int) -> sp.csr_matrix:
    i, j, w = (np.array(v) for v in zip(*edges, strict=True))
    a = sp.csr_matrix((w, (i, j)), shape=(n, n))
    return a.maximum(a.T).tocsr()


@pytest.mark.parametrize("sizes", [(40, 25, 60), (1100, 30)])
def test_eigenbasis_of_a_disconnected_graph_equals_the_dense_solve(sizes: tuple[int, ...]) -> None:
    """One zero eigenvalue per connected component, each with its own direction (Lanczos
    on the whole graph finds one of them), and the m smallest eigenvalues of I - S; the
    1,100-node component takes the Lanczos path, the small ones the dense one."""
    offsets = np.cumsum((0, *sizes))
    n = int(offsets[-1])
    edges = [e for c, size in enumerate(sizes) for e in _ring(size, int(offsets[c]), c)]
    s = _normalised(_graph_of(edges, n))
    m = 12
    lam, phi = laplacian_eigenbasis(s, m)
    dense = np.linalg.eigvalsh(np.eye(n) - s.toarray())
    np.testing.assert_allclose(lam, dense[:m], atol=1e-7)
    assert int((lam < 1e-9).sum()) == len(sizes)
    np.testing.assert_allclose(phi.T @ phi, np.eye(m), atol=1e-7)  # orthonormal
    residual = (np.eye(n) - s.toarray()) @ phi - phi * lam
    assert np.abs(residual).max() < 1e-6  # each column is an eigenvector
    degree_sqrt = np.sqrt(np.asarray(_graph_of(edges, n).sum(1)).reshape(-1))
    zero = phi[:, lam < 1e-9]
    for c in range(len(sizes)):
        indicator = np.zeros(n)
        indicator[offsets[c] : offsets[c + 1]] = degree_sqrt[offsets[c] : offsets[c + 1]]
        indicator /= np.linalg.norm(indicator)
        # D^1/2 1_C lies in the span of the zero-eigenvalue columns.
        assert np.linalg.norm(zero @ (zero.T @ indicator) - indicator) < 1e-8


def test_members_are_samples_of_the_posterior_softmax() -> None:
    """Every member is softmax(m0 + Phi a) of one sample a: the log-odds of two classes at
    the graph's nodes lie in the span of the eigenbasis (plus nothing else)."""
    x, y = _blobs()
    rows = np.array([0, 30, 60, 5])
    method, fitted = _fit(x, y, rows, members=8, min_prob=1e-12)
    probs = fitted.extra["label_spreading"]["probs"].double().numpy()  # [B, M, C]
    phi, _ = method.basis(method.graph(ArrayInputs(x)))
    logit = np.log(probs[:, :, 0]) - np.log(probs[:, :, 1])  # m0 cancels: Phi (a0 - a1)
    coef, *_ = np.linalg.lstsq(phi, logit, rcond=None)
    # The members are formed in float32: rounding of about 1e-6 in a logit; a component
    # outside the span would be of order one.
    np.testing.assert_allclose(phi @ coef, logit, atol=1e-5)


def test_normalised_prior_gives_every_node_the_same_prior_variance() -> None:
    x, _ = _blobs()
    method = get_posterior("graph_gp", eigenvectors=20, amplitude=2.5)
    phi, prior = method.basis(method.graph(ArrayInputs(x)))
    np.testing.assert_allclose((phi * phi) @ prior, 2.5, rtol=1e-9)
    raw = get_posterior("graph_gp", eigenvectors=20, amplitude=2.5, normalise_prior=False)
    raw_phi, _ = raw.basis(raw.graph(ArrayInputs(x)))
    assert np.ptp((raw_phi * raw_phi) @ prior) > 0.01


def test_sample_covariance_converges_to_the_posterior_covariance() -> None:
    rng = np.random.default_rng(1)
    phi = rng.normal(size=(5, 3))
    prior = np.array([1.0, 0.5, 0.2])
    mean, upper = gp_posterior(phi, prior, rng.normal(size=5), np.full(5, 0.5))
    z = rng.standard_normal((3, 200_000))
    samples = mean[:, None] + np.linalg.solve(upper, z)
    cov = np.linalg.inv(upper) @ np.linalg.inv(upper).T
    np.testing.assert_allclose(np.cov(samples), cov, atol=0.01 * np.abs(cov).max())
    np.testing.assert_allclose(samples.mean(1), mean, atol=0.01)


def test_one_label_per_blob_classifies_every_blob() -> None:
    x, y = _blobs()
    method, fitted = _fit(x, y, np.array([0, 30, 60]))
    assert (fitted.predict_log_probs(x).argmax(1).numpy() == y).mean() > 0.95


def test_an_unlabelled_blob_is_more_uncertain_than_a_labelled_one() -> None:
    """With blob 2 unlabelled the members disagree there: its mean BALD is over three
    times that of blobs 0 and 1."""
    x, y = _blobs()
    _, fitted = _fit(x, y, np.array([0, 1, 30, 31]), members=40)
    lp = fitted.draw(torch.Generator().manual_seed(0)).log_probs(x)
    p = lp.exp()
    mean = p.mean(1)
    bald = -(mean * mean.log()).sum(-1) + (p * lp).sum(-1).mean(1)
    assert bald[60:].mean() > 3 * bald[:60].mean()


def test_same_seeds_give_the_same_members_and_params_are_checked() -> None:
    x, y = _blobs()
    rows = np.array([0, 30, 60])
    _, a = _fit(x, y, rows)
    _, b = _fit(x, y, rows)
    assert torch.equal(a.extra["label_spreading"]["probs"], b.extra["label_spreading"]["probs"])
    for bad in (
        {"eigenvectors": 1},
        {"amplitude": 0.0},
        {"epsilon": -1.0},
        {"alpha_eps": 1.5},
        {"normalise_prior": "yes"},
        {"knn": "kd"},
        {"members": 0},
    ):
        with pytest.raises(InvalidInputError):
            get_posterior("graph_gp", **bad)


def test_learner_queries_evaluates_and_restores_a_graph_gp(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, y = _blobs()
    learner = ActiveLearner(
        x.numpy(),
        model=None,
        num_classes=3,
        posterior="graph_gp",
        posterior_params={"eigenvectors": 20},
        strategy="epig",
        seed=0,
    )
    learner.teach([0, 30], y[[0, 30]])
    picked = learner.query(2)
    # The unlabelled blob is where the information about the pool's labels is.
    assert any(p >= 60 for p in picked.tolist())
    learner.teach(picked, y[picked])
    before = learner.predict_log_probs(x.numpy())
    assert learner.evaluate(x.numpy(), y)["accuracy"] > 0.9
    learner.save(tmp_path / "l.pt")
    loaded = ActiveLearner.load(tmp_path / "l.pt")
    assert torch.allclose(loaded.predict_log_probs(x.numpy()), before)
