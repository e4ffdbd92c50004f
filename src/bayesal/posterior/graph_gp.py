"""A semi-supervised Bayesian posterior: a Gaussian process on the pool's k-NN graph.

``{name: graph_gp, params: {members: 40, eigenvectors: 100}}`` is a Bayesian model of
the class scores of every pool item that uses the unlabelled pool every round: the prior
is smooth along the graph of the pool (the one :mod:`bayesal.posterior.graph` builds),
so one label informs its whole cluster, and its posterior has *exact* samples, whose
spread is the epistemic uncertainty BALD and EPIG read.

**Prior.** Per class c, latent scores ``f_c = m0 + Phi a_c`` over the graph's nodes,
with ``Phi`` the ``m`` eigenvectors of the normalised graph Laplacian ``I - D^-1/2 W
D^-1/2`` of smallest eigenvalue ``lambda_i`` and ``a_c ~ N(0, diag(amplitude / (lambda_i
+ epsilon)))``: the truncated regularised-Laplacian kernel (Smola and Kondor 2003; the
eigenbasis as in Belkin and Niyogi 2004, "Semi-supervised learning on Riemannian
manifolds"). With ``normalise_prior`` (default) each node's row of ``Phi`` is scaled so
every node has prior variance ``amplitude``: without it, a node's prior variance falls
with the size of its cluster, so the nodes of small, weakly joined components stay the
most uncertain and BALD would spend its labels on such outliers.

**Likelihood.** Dirichlet-based GP classification (Milios, Camoriano, Michiardi,
Rosasco and Filippone, NeurIPS 2018): a label y of item i becomes, per class c,
``alpha_c = alpha_eps + [c = y]``, a Gaussian observation of ``f_c(i)`` with target
``log(alpha_c) - s_c^2 / 2`` and noise variance ``s_c^2 = log(1 / alpha_c + 1)``;
``softmax(f)`` of a posterior sample is then (approximately) a sample of the Dirichlet
over the item's class probabilities. ``m0`` is the mean target, so an item no label
reaches is uniform.

**Posterior.** Gaussian and exact per class: ``a_c | y ~ N(mu_c, P_c^-1)`` with
``P_c = diag(1 / prior) + Phi_L^T diag(1 / s_c^2) Phi_L`` (``Phi_L``: the labelled items'
rows; an item outside the graph uses the kernel-weighted rows of its k nearest nodes).
A round costs one ``m x m`` Cholesky per class; the eigenvectors are computed once per
pool (scipy's Lanczos ``eigsh``), per connected component of the graph, so that every
component has its own zero-eigenvalue direction (:func:`laplacian_eigenbasis`).
Member j of a round is ``softmax(m0 + Phi a^(j))`` at every node, with ``a^(j)`` an
exact posterior sample; inputs off the graph (the test set) take the kernel-weighted
mean of their k nearest nodes, as in ``label_spreading``.

Like ``label_spreading`` the method trains no torch model (``model=None``) and reads the
pool (``reads_pool``); ``training:`` is not used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
import torch
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components
from torch import Tensor

from bayesal.errors import InvalidInputError
from bayesal.posterior.graph import (
    LabelSpreadingMethod,
    _as_features,
    _check_int,
    _check_number,
    _Graph,
    _kernel,
    _normalised,
    knn_search,
)
from bayesal.posterior.methods import FitSeeds, FittedPosterior, ModelBuilder
from bayesal.training import TrainConfig

if TYPE_CHECKING:
    from bayesal.data.source import PoolInputs

__all__ = ["GraphGPMethod", "dirichlet_targets", "gp_posterior", "laplacian_eigenbasis"]

# Components up to this size are eigen-decomposed densely (exact, all eigenpairs).
_DENSE_COMPONENT = 1024


def dirichlet_targets(
    labels_L: NDArray[np.int64], num_classes: int, alpha_eps: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Milios et al. (2018)'s Gaussian targets and noise variances ``[L, C]`` for labels."""
    alpha = np.full((len(labels_L), num_classes), alpha_eps)
    alpha[np.arange(len(labels_L)), labels_L] += 1.0
    noise = np.log(1.0 / alpha + 1.0)
    return np.log(alpha) - noise / 2.0, noise


def gp_posterior(
    phi_L_m: NDArray[np.float64],
    prior_m: NDArray[np.float64],
    targets_L: NDArray[np.float64],
    noise_L: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Bayesian linear regression ``t = phi a + e``, ``a ~ N(0, diag(prior))``,
    ``e ~ N(0, diag(noise))``: the posterior mean ``[m]`` and the Cholesky factor ``R``
    (upper, ``[m, m]``) of the posterior precision (covariance ``R^-1 R^-T``)."""
    precision = np.diag(1.0 / prior_m) + phi_L_m.T @ (phi_L_m / noise_L[:, None])
    lower = np.linalg.cholesky(precision)
    rhs = phi_L_m.T @ (targets_L / noise_L)
    mean = np.linalg.solve(lower.T, np.linalg.solve(lower, rhs))
    return np.asarray(mean, dtype=np.float64), np.asarray(lower.T, dtype=np.float64)


def _component_eigenpairs(
    s: sp.csr_matrix, k: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The ``k`` largest eigenpairs of a connected graph's ``S`` (at most ``n - 1`` by
    Lanczos; a small graph densely), largest first."""
    n = s.shape[0]
    if n <= _DENSE_COMPONENT or k >= n - 1:
        mu, vectors = np.linalg.eigh(s.toarray())
        order = np.argsort(-mu, kind="stable")[:k]
        return mu[order], vectors[:, order]
    # A fixed start vector keeps the eigenvectors (and so every draw) reproducible.
    start = np.full(n, 1.0 / np.sqrt(n))
    mu, vectors = sla.eigsh(s, k=k, which="LA", v0=start, tol=1e-8)
    order = np.argsort(-mu)
    return mu[order], vectors[:, order]


def laplacian_eigenbasis(
    s: sp.csr_matrix, m: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The ``m`` eigenpairs ``(lambda [m], Phi [B, m])`` of smallest eigenvalue of the
    normalised Laplacian ``I - S`` of a graph, ``S = D^-1/2 W D^-1/2``.

    A graph of c connected components has c zero eigenvalues, one per component. Lanczos
    from one start vector finds only some directions of a repeated eigenvalue, and a
    component without its own would have no prior of its own. Each component is
    therefore solved on its own (its Laplacian is its block of ``I - S``) and the m
    smallest eigenvalues of all are kept."""
    n_comp, component = connected_components(s, directed=False)
    if n_comp == 1:
        mu, vectors = _component_eigenpairs(s, m)
        return np.clip(1.0 - mu, 0.0, None), vectors
    lams, columns = [], []
    for c in range(n_comp):
        idx = np.flatnonzero(component == c)
        mu, vectors = _component_eigenpairs(s[idx][:, idx].tocsr(), min(m, len(idx)))
        for j in range(len(mu)):
            lams.append(max(1.0 - float(mu[j]), 0.0))
            columns.append((idx, vectors[:, j]))
    keep = np.argsort(np.asarray(lams), kind="stable")[:m]
    phi = np.zeros((s.shape[0], len(keep)))
    for out, j in enumerate(keep):
        idx, vector = columns[j]
        phi[idx, out] = vector
    return np.asarray(lams)[keep], phi


class GraphGPMethod(LabelSpreadingMethod):
    """Posterior ``graph_gp``: a Gaussian process on the pool's k-NN graph with a
    Dirichlet-based classification likelihood; members are exact posterior samples (see
    the module docstring).

    Args:
        members: K, posterior samples per round (default 40).
        k: neighbours per node in the graph and for an input (default 10).
        eigenvectors: m, Laplacian eigenvectors in the prior (default 100).
        amplitude: the prior variance scale (default 1.0).
        epsilon: added to the Laplacian's eigenvalues (default 1e-3): the larger, the
            less a label spreads beyond its neighbourhood.
        alpha_eps: the Dirichlet pseudo-count of the classes an item is not labelled as
            (default 0.01, Milios et al.'s default).
        normalise_prior: give every node the same prior variance (default true).
        max_nodes: the most pool items in the graph (default 20,000), as for
            ``label_spreading``.
        graph_seed: the seed of the node sample of a larger pool (default 0).
        min_prob: the probability floor (default ``1e-6``).
        knn: the neighbour search (default ``auto``: a k-d tree up to 16 features, else
            float32 matrix products; see ``label_spreading``).
    """

    name = "graph_gp"

    def __init__(
        self,
        members: int = 40,
        k: int = 10,
        eigenvectors: int = 100,
        amplitude: float = 1.0,
        epsilon: float = 1e-3,
        alpha_eps: float = 0.01,
        normalise_prior: bool = True,
        max_nodes: int = 20_000,
        graph_seed: int = 0,
        min_prob: float = 1e-6,
        knn: str = "auto",
    ) -> None:
        super().__init__(
            members=members,
            k=k,
            max_nodes=max_nodes,
            graph_seed=graph_seed,
            min_prob=min_prob,
            knn=knn,
        )
        if not isinstance(normalise_prior, bool):
            raise InvalidInputError(
                f"normalise_prior must be true or false, got {normalise_prior!r}"
            )
        self.normalise_prior = normalise_prior
        self.eigenvectors = _check_int("eigenvectors", eigenvectors, 2)
        self.amplitude = _check_number("amplitude", amplitude, 0.0, 1e6)
        self.epsilon = _check_number("epsilon", epsilon, 0.0, 1e3)
        self.alpha_eps = _check_number("alpha_eps", alpha_eps, 0.0, 1.0)
        self._basis: tuple[int, NDArray[np.float64], NDArray[np.float64]] | None = None
        self._basis32: tuple[int, NDArray[np.float32]] | None = None

    def basis(self, graph: _Graph) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(Phi [B, m], prior variances [m])`` of a graph, computed once per graph."""
        if self._basis is not None and self._basis[0] == id(graph):
            return self._basis[1], self._basis[2]
        b = len(graph.rows)
        m = min(self.eigenvectors, b - 1)
        lam, phi = laplacian_eigenbasis(_normalised(graph.w), m)
        # An eigenvector's sign is arbitrary; fix it so saved states compare equal.
        phi *= np.where(phi[np.abs(phi).argmax(0), np.arange(m)] < 0, -1.0, 1.0)
        prior = self.amplitude / (lam + self.epsilon)
        if self.normalise_prior:
            node_var = (phi * phi) @ prior
            phi = phi * np.sqrt(self.amplitude / np.maximum(node_var, 1e-300))[:, None]
        self._basis = (id(graph), phi, prior)
        self._basis32 = None
        return phi, prior

    def basis32(self, graph: _Graph) -> NDArray[np.float32]:
        """The graph's ``Phi`` in float32 (for forming the members at every node)."""
        phi, _ = self.basis(graph)
        if self._basis32 is None or self._basis32[0] != id(graph):
            self._basis32 = (id(graph), phi.astype(np.float32))
        return self._basis32[1]

    def _labelled_basis(
        self, graph: _Graph, pool: PoolInputs, rows: NDArray[np.int64], phi: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        out = np.empty((len(rows), phi.shape[1]))
        off = [j for j, r in enumerate(rows) if int(r) not in graph.position]
        for j, r in enumerate(rows):
            if int(r) in graph.position:
                out[j] = phi[graph.position[int(r)]]
        if off:
            x = _as_features(pool.take(rows[np.asarray(off, dtype=np.int64)]))
            idx, d2 = knn_search(x, graph.features, self.k, method=self.knn)
            w = _kernel(d2, d2[:, -1].sqrt(), graph.scale[idx])
            w = torch.where(w.sum(1, keepdim=True) > 0, w, torch.ones_like(w))
            share = (w / w.sum(1, keepdim=True)).double().numpy()
            for i, j in enumerate(off):
                out[j] = share[i] @ phi[idx[i].numpy()]
        return out

    def fit(
        self,
        build_model: ModelBuilder | None,
        x_L: Tensor,
        y_L: Tensor,
        *,
        train_config: TrainConfig,
        seeds: FitSeeds,
        device: torch.device,
        transform: Callable[[Tensor], Tensor] | None = None,
        num_classes: int | None = None,
        pool: PoolInputs | None = None,
        labelled_rows: NDArray[np.int64] | None = None,
    ) -> FittedPosterior:
        """Condition the graph GP on labels ``y_L`` of pool rows ``labelled_rows`` and
        draw ``members`` exact posterior samples at every graph node."""
        if transform is not None:
            raise InvalidInputError(
                "posterior 'graph_gp' cannot apply train_transform: leave it unset"
            )
        if pool is None or labelled_rows is None:
            raise InvalidInputError(
                "posterior 'graph_gp' reads the unlabelled pool: use it through "
                "ActiveLearner (which passes pool= and labelled_rows=)"
            )
        rows = np.asarray(labelled_rows, dtype=np.int64).reshape(-1)
        y = torch.as_tensor(y_L).detach().cpu().numpy().astype(np.int64).reshape(-1)
        if len(y) != len(rows) or len(y) == 0:
            raise InvalidInputError(f"{len(rows)} labelled rows but {len(y)} labels")
        c = int(y.max()) + 1 if num_classes is None else _check_int("num_classes", num_classes, 2)
        if y.min() < 0 or y.max() >= c:
            raise InvalidInputError(f"labels must lie in [0, {c})")
        graph = self.graph(pool)
        phi, prior = self.basis(graph)
        phi_l = self._labelled_basis(graph, pool, rows, phi)
        targets, noise = dirichlet_targets(y, c, self.alpha_eps)
        m0 = float(targets.mean())
        rng = np.random.default_rng(int(seeds.init(0)) % 2**32)
        m = phi.shape[1]
        samples = np.empty((m, self.members, c))
        for cls in range(c):
            mean, upper = gp_posterior(phi_l, prior, targets[:, cls] - m0, noise[:, cls])
            z = rng.standard_normal((m, self.members))
            samples[:, :, cls] = mean[:, None] + np.linalg.solve(upper, z)
        # The posterior solve is float64; every node's members (B x K x C, 8 million
        # numbers on a 20,000-node graph) are formed in float32, the precision they are
        # kept in, at a quarter of the float64 product's time.
        phi32 = self.basis32(graph)
        f = torch.from_numpy(phi32) @ torch.from_numpy(samples.reshape(m, -1)).float()
        f = f.view(len(phi32), self.members, c)
        # softmax by hand (m0 cancels): torch.softmax over a last dimension of C ~ 10 is
        # four times slower on the CPU.
        probs = f.sub_(f.amax(-1, keepdim=True)).exp_()
        probs /= probs.sum(-1, keepdim=True)
        probs.clamp_min_(self.min_prob)
        probs /= probs.sum(-1, keepdim=True)
        return self._fitted(graph, probs)
