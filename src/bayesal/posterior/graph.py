"""A semi-supervised posterior: label spreading over a k-NN graph of the whole pool.

``{name: label_spreading, params: {members: 20, k: 10, alpha: 0.99}}`` uses the
*unlabelled* pool every round, not only the labelled items: the labels spread along a
k-nearest-neighbour graph of the pool's inputs (encoder features, or any ``[N, D]``
inputs), so one label informs its whole cluster.

**Label spreading** (Zhou, Bousquet, Lal, Weston and Schoelkopf, "Learning with local and
global consistency", NIPS 2004). ``W`` is the symmetric k-NN affinity (self-tuning
Gaussian kernel, Zelnik-Manor and Perona 2004: ``w_ij = exp(-d_ij^2 / (s_i s_j))`` with
``s_i`` the distance of node i to its k-th neighbour), ``S = D^-1/2 W D^-1/2``, and
``Y0[i, c]`` the label mass placed on node i for class c. The spread labels are the
fixed point of ``F <- alpha S F + (1 - alpha) Y0``::

    F = (1 - alpha) (I - alpha S)^-1 Y0

solved here by conjugate gradients (``I - alpha S`` is symmetric positive definite,
condition number at most ``(1 + alpha) / (1 - alpha)``). ``F`` is linear in ``Y0``, so
the method solves once per *labelled item* (``G[:, l] = (1 - alpha)(I - alpha S)^-1
e_l``, cached across rounds: a round with two new labels costs two solves) and forms any
weighting of the labels as a product.

**K samples: a bootstrap of the labelled set.** Sample k of a draw spreads the labels
with the counts of a bootstrap resample of the labelled items (Efron 1979; multinomial
counts, ``resample: bootstrap``), or with Dirichlet(1) weights (the Bayesian bootstrap,
Rubin 1981, ``resample: bayesian``): ``F_k = G (c_k * onehot(y))``. Where a region of
the graph hangs on one or two labels the samples disagree (a resample without them
gives the region to another class), which is the uncertainty about the classifier that
more labels remove; far from any doubt they agree. Chosen over sampling the graph's
hyperparameters, which barely moves the prediction on a clustered pool (measured:
``docs/semi_supervised.md``). Probabilities are each node's spread mass normalised over
classes, floored at ``min_prob`` and renormalised (a node no label reaches is uniform).

**Any input, inductively.** A draw maps an input x (a pool item, a test image) to the
kernel-weighted mean of the probabilities of its k nearest graph nodes (with x's own
scale ``s_x``): the standard out-of-sample extension of a graph method. A pool item's
nearest node is itself. Neighbour searches of a repeated input batch (the test set,
every round) are cached by the batch's content.

**Large pools.** The graph holds at most ``max_nodes`` pool items (default 20,000: all of
a smaller pool; else a seeded random sample, fixed for the learner's life so the graph
and the solves are reused). A labelled item outside the sample places its label on its k
nearest nodes with kernel weights. The graph is built once (exact k-NN by matrix products
in chunks, never an N x N matrix, or with ``knn: tree`` by a k-d tree) and stored sparse
(about ``2 N k`` entries).

The method trains no torch model (``needs_model = False``: ``model=None``) and reads the
pool (``reads_pool = True``: the learner passes ``pool`` and ``labelled_rows`` to
:meth:`LabelSpreadingMethod.fit`). Training settings (``training:``) are not used.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from torch import Tensor, nn

from bayesal.errors import InvalidInputError
from bayesal.posterior.base import (
    Posterior,
    PosteriorDraw,
    check_inputs,
    choose_members,
)
from bayesal.posterior.methods import (
    EVAL_CHUNK_SIZE,
    FitSeeds,
    FittedPosterior,
    ModelBuilder,
    PosteriorMethod,
)
from bayesal.training import TrainConfig

if TYPE_CHECKING:  # the posterior package reads a pool through its interface only
    from bayesal.data.source import PoolInputs

__all__ = [
    "RESAMPLES",
    "LabelSpreadingMethod",
    "LabelSpreadingPosterior",
    "KNN_METHODS",
    "affinity_matrix",
    "knn_search",
    "spread_labels",
]

RESAMPLES = ("bootstrap", "bayesian")
KNN_METHODS = ("brute", "tree", "auto")
_KNN_CHUNK = 2048
# At or below this many features a k-d tree beats matrix products by far (a UMAP-10 map);
# above it the tree visits most nodes anyway.
_TREE_MAX_DIMS = 16
_CACHED_BATCHES = 16


def _as_features(inputs_N: Tensor) -> Tensor:
    """``[N, ...]`` inputs as float32 ``[N, D]`` on the CPU (finite)."""
    check_inputs(inputs_N)
    if not inputs_N.is_floating_point():
        inputs_N = inputs_N.float()
    x = inputs_N.detach().reshape(len(inputs_N), -1).to("cpu", torch.float32)
    if not torch.isfinite(x).all():
        raise InvalidInputError(
            "posterior 'label_spreading' needs finite inputs (found NaN or infinity)"
        )
    return x.contiguous()


def knn_search(
    queries_Q_D: Tensor,
    base_B_D: Tensor,
    k: int,
    *,
    exclude_self: bool = False,
    method: str = "brute",
) -> tuple[Tensor, Tensor]:
    """Exact k nearest neighbours (Euclidean) of each query among ``base``.

    Args:
        queries_Q_D: the query points.
        base_B_D: the points searched.
        k: neighbours per query (at most ``B``, or ``B - 1`` with ``exclude_self``).
        exclude_self: the queries *are* the base (same order): skip each one's own row.
        method: ``brute`` (float32 matrix products in chunks: one ``[chunk, B]`` block at
            a time, never ``[Q, B]``), ``tree`` (scipy's k-d tree in float64: far faster
            in a few dimensions, and exact where the float32 products round near-equal
            distances apart), or ``auto`` (the tree up to 16 features, else brute).

    Returns:
        ``(indices [Q, k] int64, squared distances [Q, k] float32)``, nearest first.
    """
    limit = len(base_B_D) - (1 if exclude_self else 0)
    if not 1 <= k <= limit:
        raise InvalidInputError(f"k must be in [1, {limit}] for {len(base_B_D)} graph nodes")
    if method not in KNN_METHODS:
        raise InvalidInputError(f"knn must be one of {', '.join(KNN_METHODS)}, got {method!r}")
    if method == "tree" or (method == "auto" and base_B_D.shape[1] <= _TREE_MAX_DIMS):
        return _tree_search(queries_Q_D, base_B_D, k, exclude_self=exclude_self)
    base_sq_B = (base_B_D * base_B_D).sum(1)
    indices, dists = [], []
    for start in range(0, len(queries_Q_D), _KNN_CHUNK):
        q = queries_Q_D[start : start + _KNN_CHUNK]
        d2 = (q * q).sum(1, keepdim=True) + base_sq_B[None, :] - 2.0 * (q @ base_B_D.T)
        if exclude_self:
            rows = torch.arange(len(q))
            d2[rows, rows + start] = math.inf
        d2_k, idx_k = torch.topk(d2, k, dim=1, largest=False, sorted=True)
        indices.append(idx_k)
        dists.append(d2_k.clamp_min_(0.0))
    if not indices:
        return torch.zeros(0, k, dtype=torch.int64), torch.zeros(0, k)
    return torch.cat(indices), torch.cat(dists)


def _tree_search(
    queries_Q_D: Tensor, base_B_D: Tensor, k: int, *, exclude_self: bool
) -> tuple[Tensor, Tensor]:
    """:func:`knn_search` by a k-d tree (float64 distances, float32 output)."""
    if len(queries_Q_D) == 0:
        return torch.zeros(0, k, dtype=torch.int64), torch.zeros(0, k)
    tree = cKDTree(base_B_D.double().numpy())
    dist, idx = tree.query(queries_Q_D.double().numpy(), k=k + (1 if exclude_self else 0))
    dist, idx = dist.reshape(len(queries_Q_D), -1), idx.reshape(len(queries_Q_D), -1)
    if exclude_self:
        # Drop each query's own row; where duplicates hid it beyond k + 1, drop the last.
        keep = idx != np.arange(len(idx))[:, None]
        keep[keep.all(1), -1] = False
        dist, idx = dist[keep].reshape(len(idx), k), idx[keep].reshape(len(idx), k)
    return torch.from_numpy(idx.astype(np.int64)), torch.from_numpy(np.square(dist)).float()


def _kernel(d2_Q_k: Tensor, scale_Q: Tensor, scale_nbr_Q_k: Tensor) -> Tensor:
    """Self-tuning Gaussian weights ``exp(-d^2 / (s_q s_j))``."""
    denom = (scale_Q[:, None] * scale_nbr_Q_k).clamp_min(1e-12)
    return torch.exp(-d2_Q_k / denom)


def affinity_matrix(indices_N_k: Tensor, d2_N_k: Tensor) -> sp.csr_matrix:
    """The symmetric k-NN affinity ``W`` (``max(W, W^T)``) of a graph's own k-NN lists,
    with self-tuning scales (each node's distance to its k-th neighbour)."""
    n, k = indices_N_k.shape
    scale_N = d2_N_k[:, -1].sqrt()
    w = _kernel(d2_N_k, scale_N, scale_N[indices_N_k]).numpy().astype(np.float64)
    rows = np.repeat(np.arange(n), k)
    a = sp.csr_matrix((w.reshape(-1), (rows, indices_N_k.numpy().reshape(-1))), shape=(n, n))
    return a.maximum(a.T).tocsr()


def _normalised(w: sp.csr_matrix) -> sp.csr_matrix:
    degree = np.asarray(w.sum(axis=1)).reshape(-1)
    inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1e-300)), 0.0)
    d = sp.diags(inv_sqrt)
    return (d @ w @ d).tocsr()


def spread_labels(
    w: sp.csr_matrix,
    y0_N_R: NDArray[np.float64],
    alpha: float,
    *,
    tol: float = 1e-6,
    max_iter: int = 1000,
) -> NDArray[np.float64]:
    """Label spreading ``F = (1 - alpha) (I - alpha S)^-1 Y0``, ``S = D^-1/2 W D^-1/2``
    (Zhou et al. 2004), every column of ``Y0`` at once by conjugate gradients.

    Args:
        w: symmetric non-negative affinity ``[N, N]`` (sparse).
        y0_N_R: R right-hand sides (label masses per node).
        alpha: in (0, 1): how far labels spread (the share of a node's value taken from
            its neighbours).
        tol: stop when every column's residual norm is below ``tol`` times its
            right-hand side's norm.
        max_iter: at most this many iterations (the condition number is at most
            ``(1 + alpha) / (1 - alpha)``, so a few hundred suffice for alpha = 0.99).

    Returns:
        ``F [N, R]`` (float64).
    """
    s = _normalised(w)
    b = (1.0 - alpha) * np.asarray(y0_N_R, dtype=np.float64)
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rs = (r * r).sum(0)
    stop = (tol * np.sqrt((b * b).sum(0))) ** 2
    for _ in range(max_iter):
        # A converged column stops moving: its tiny residuals would only add round-off.
        active = rs > stop
        if not active.any():
            break
        ap = p - alpha * (s @ p)
        pap = (p * ap).sum(0)
        ok = active & (pap > 0)
        step = np.where(ok, rs / np.where(ok, pap, 1.0), 0.0)
        x += step * p
        r -= step * ap
        rs_new = (r * r).sum(0)
        beta = np.where(ok, rs_new / np.where(ok, rs, 1.0), 0.0)
        p = np.where(ok, r + beta * p, p)
        rs = np.where(ok, rs_new, rs)
    return x


def _digest(x: Tensor) -> str:
    return hashlib.sha1(x.numpy().tobytes()).hexdigest() + str(tuple(x.shape))


class LabelSpreadingPosterior(Posterior):
    """K bootstrap samples of spread labels on a fixed graph; any input via its k nearest
    graph nodes.

    Args:
        node_features: ``[B, D]`` features of the graph's nodes.
        node_scale: ``[B]`` each node's kernel scale.
        probs_B_M_C: the M members' (floored) probabilities at the nodes.
        k: neighbours used for an input.
        knn: the neighbour search (:func:`knn_search`'s ``method``).
    """

    def __init__(
        self,
        node_features: Tensor,
        node_scale: Tensor,
        probs_B_M_C: Tensor,
        k: int,
        neighbour_cache: OrderedDict[str, tuple[Tensor, Tensor]] | None = None,
        knn: str = "brute",
    ) -> None:
        self.node_features = node_features
        self.knn = knn
        self.node_scale = node_scale
        self.probs_B_M_C = probs_B_M_C
        self.k = k
        # Shared by the rounds of one learner (the graph's nodes do not change).
        self._neighbours = OrderedDict() if neighbour_cache is None else neighbour_cache

    @property
    def num_members(self) -> int:
        return int(self.probs_B_M_C.shape[1])

    def neighbour_weights(self, inputs_N: Tensor) -> tuple[Tensor, Tensor]:
        """``(indices [N, k], normalised kernel weights [N, k])`` of the inputs' nearest
        nodes; cached for batches of at least 1,024 inputs (the test set, every round)."""
        x = _as_features(inputs_N)
        if x.shape[1] != self.node_features.shape[1]:
            raise InvalidInputError(
                f"inputs have {x.shape[1]} features per item, the graph's nodes "
                f"{self.node_features.shape[1]}"
            )
        key = _digest(x) if len(x) >= 1024 else None
        if key is not None and key in self._neighbours:
            self._neighbours.move_to_end(key)
            return self._neighbours[key]
        idx, d2 = knn_search(x, self.node_features, self.k, method=self.knn)
        scale = d2[:, -1].sqrt()
        w = _kernel(d2, scale, self.node_scale[idx])
        # An input far from every node keeps its nearest node's prediction.
        w = torch.where(w.sum(1, keepdim=True) > 0, w, torch.ones_like(w))
        w = w / w.sum(1, keepdim=True)
        if key is not None:
            self._neighbours[key] = (idx, w)
            while len(self._neighbours) > _CACHED_BATCHES:
                self._neighbours.popitem(last=False)
        return idx, w

    def probs(self, inputs_N: Tensor, members: list[int]) -> Tensor:
        """``[N, len(members), C]`` probabilities (float32)."""
        idx, w = self.neighbour_weights(inputs_N)
        p = self.probs_B_M_C[:, members]  # [B, K, C]
        out = [
            torch.einsum("nj,njkc->nkc", w[s : s + 1024], p[idx[s : s + 1024]])
            for s in range(0, len(idx), 1024)
        ]
        return torch.cat(out) if out else torch.zeros(0, len(members), p.shape[-1])

    def draw(self, num_samples: int, generator: torch.Generator) -> PosteriorDraw:
        m = self.num_members
        which = choose_members(
            m,
            num_samples,
            generator,
            what=f"posterior 'label_spreading' has {m} members",
            hint="raise members",
        )
        return LabelSpreadingDraw(self, which)


class LabelSpreadingDraw(PosteriorDraw):
    """A fixed list of members: the same K samples for every batch of inputs."""

    def __init__(self, posterior: LabelSpreadingPosterior, which: list[int]) -> None:
        self.posterior = posterior
        self.which = which

    @property
    def num_samples(self) -> int:
        return len(self.which)

    def log_probs(self, inputs_N: Tensor) -> Tensor:
        """``[N, K, C]`` float32 log-probs on the CPU."""
        return self.posterior.probs(inputs_N, self.which).log().float()


class _SpreadingFitted(FittedPosterior):
    """A fitted label-spreading posterior: no torch models; its state lives in
    ``extra["label_spreading"]`` so that a saved learner restores it."""

    def _spreading(self) -> LabelSpreadingPosterior:
        if not isinstance(self.posterior, LabelSpreadingPosterior):
            state = self.extra.get("label_spreading")
            if not isinstance(state, dict):
                raise InvalidInputError("this label-spreading posterior has no fitted state")
            self.posterior = LabelSpreadingPosterior(
                state["node_features"],
                state["node_scale"],
                state["probs"],
                state["k"],
                knn=state.get("knn", "brute"),  # saved before the option existed: brute
            )
        return self.posterior

    def draw(self, generator: torch.Generator) -> PosteriorDraw:
        return self._spreading().draw(self.num_samples, generator)

    @torch.no_grad()
    def predict_log_probs(self, inputs_N: Tensor, chunk_size: int = EVAL_CHUNK_SIZE) -> Tensor:
        """``[N, C]`` log of the members' mean probability, on the CPU."""
        spreading = self._spreading()
        members = list(range(spreading.num_members))
        if len(inputs_N) == 0:
            return torch.zeros(0, spreading.probs_B_M_C.shape[-1])
        return spreading.probs(inputs_N, members).mean(1).log().float()


class _Graph:
    """The pool's graph: node rows, features, scales, affinity, and cached solves."""

    def __init__(
        self, rows: NDArray[np.int64], features: Tensor, k: int, knn: str = "brute"
    ) -> None:
        self.rows = rows
        self.features = features
        idx, d2 = knn_search(features, features, k, exclude_self=True, method=knn)
        self.scale = d2[:, -1].sqrt()
        self.w = affinity_matrix(idx, d2)
        self.position = {int(r): i for i, r in enumerate(rows)}
        self.columns: dict[int, NDArray[np.float64]] = {}  # pool row -> G e_row
        self.cache: OrderedDict[str, tuple[Tensor, Tensor]] = OrderedDict()


def _check_number(name: str, value: object, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low < value < high
    ):
        raise InvalidInputError(f"{name} must be a number in ({low}, {high}), got {value!r}")
    return float(value)


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


class LabelSpreadingMethod(PosteriorMethod):
    """Posterior ``label_spreading``: labels spread over a k-NN graph of the pool, K
    bootstrap samples of the labelled set (see the module docstring).

    Args:
        members: K, bootstrap samples per round (default 20).
        k: neighbours per node in the graph and for an input (default 10).
        alpha: how far labels spread, in (0, 1) (default 0.9; see docs/semi_supervised.md).
        resample: ``bootstrap`` (multinomial counts, default) or ``bayesian``
            (Dirichlet(1) weights).
        max_nodes: the most pool items in the graph (default 20,000).
        graph_seed: the seed of the node sample when the pool is larger than
            ``max_nodes`` (default 0; fixed, so every round uses one graph).
        min_prob: the probability floor (default ``1e-6``).
        tol: relative residual at which the conjugate-gradient solves stop (default 1e-6).
        class_mass_normalization: scale each class's spread mass to sum to one over the
            graph before normalising each node over classes (default true; a uniform
            class prior, Zhu, Ghahramani and Lafferty 2003's class mass normalisation).
        knn: the neighbour search, ``brute`` (default; float32 matrix products), ``tree``
            (a float64 k-d tree) or ``auto`` (the tree up to 16 features): see
            :func:`knn_search`. The tree is far faster on a low-dimensional map (UMAP-10)
            and exact where float32 rounds near-equal distances apart, so its graphs can
            differ in a few neighbours; brute stays the default so committed results
            reproduce.
    """

    name = "label_spreading"
    needs_model = False
    reads_pool = True

    def __init__(
        self,
        members: int = 20,
        k: int = 10,
        alpha: float = 0.9,
        resample: str = "bootstrap",
        max_nodes: int = 20_000,
        graph_seed: int = 0,
        min_prob: float = 1e-6,
        tol: float = 1e-6,
        class_mass_normalization: bool = True,
        knn: str = "brute",
    ) -> None:
        if knn not in KNN_METHODS:
            raise InvalidInputError(f"knn must be one of {', '.join(KNN_METHODS)}, got {knn!r}")
        self.knn = knn
        if not isinstance(class_mass_normalization, bool):
            raise InvalidInputError(
                f"class_mass_normalization must be true or false, got {class_mass_normalization!r}"
            )
        self.class_mass_normalization = class_mass_normalization
        self.members = _check_int("members", members, 1)
        self.k = _check_int("k", k, 1)
        self.alpha = _check_number("alpha", alpha, 0.0, 1.0)
        if resample not in RESAMPLES:
            raise InvalidInputError(
                f"resample must be one of {', '.join(RESAMPLES)}, got {resample!r}"
            )
        self.resample = resample
        self.max_nodes = _check_int("max_nodes", max_nodes, 2)
        self.graph_seed = _check_int("graph_seed", graph_seed, 0)
        self.min_prob = _check_number("min_prob", min_prob, 0.0, 0.01 + 1e-12)
        self.tol = _check_number("tol", tol, 0.0, 1.0)
        self._graph: _Graph | None = None
        self._graph_key: tuple[int, int] | None = None

    @property
    def num_models(self) -> int:
        return 0

    @property
    def num_samples(self) -> int:
        return self.members

    def posterior(self, models: list[nn.Module]) -> Posterior:
        raise InvalidInputError(
            "a label-spreading posterior is fitted on the pool, not on torch models: use fit()"
        )

    def wrap(self, models: list[nn.Module]) -> FittedPosterior:
        if models:
            raise InvalidInputError(
                f"posterior 'label_spreading' has no torch models, got {len(models)}"
            )
        return _SpreadingFitted(None, [], self.members)  # type: ignore[arg-type]

    def graph(self, pool: PoolInputs) -> _Graph:
        """The pool's graph, built on first use and kept for this pool."""
        key = (id(pool), len(pool))
        if self._graph is None or self._graph_key != key:
            n = len(pool)
            if n <= self.max_nodes:
                rows = np.arange(n, dtype=np.int64)
            else:
                rng = np.random.default_rng(self.graph_seed)
                rows = np.sort(rng.choice(n, self.max_nodes, replace=False)).astype(np.int64)
            if len(rows) <= self.k:
                raise InvalidInputError(
                    f"posterior 'label_spreading' needs more than k = {self.k} pool items, "
                    f"got {len(rows)}"
                )
            features = torch.cat([_as_features(b) for b in pool.batches(rows, 4096)]).contiguous()
            self._graph = _Graph(rows, features, self.k, self.knn)
            self._graph_key = key
        return self._graph

    def _column(self, graph: _Graph, pool: PoolInputs, rows: NDArray[np.int64]) -> None:
        """Solve ``G e`` for the label position of each pool row not yet cached."""
        todo = [int(r) for r in rows if int(r) not in graph.columns]
        if not todo:
            return
        y0 = np.zeros((len(graph.rows), len(todo)))
        off_graph = [j for j, r in enumerate(todo) if r not in graph.position]
        for j, r in enumerate(todo):
            if r in graph.position:
                y0[graph.position[r], j] = 1.0
        if off_graph:
            x = _as_features(pool.take(np.asarray([todo[j] for j in off_graph], dtype=np.int64)))
            idx, d2 = knn_search(x, graph.features, self.k, method=self.knn)
            w = _kernel(d2, d2[:, -1].sqrt(), graph.scale[idx])
            w = torch.where(w.sum(1, keepdim=True) > 0, w, torch.ones_like(w))
            share = (w / w.sum(1, keepdim=True)).double().numpy()
            for i, j in enumerate(off_graph):
                y0[idx[i].numpy(), j] += share[i]
        solved = spread_labels(graph.w, y0, self.alpha, tol=self.tol)
        for j, r in enumerate(todo):
            graph.columns[r] = solved[:, j]

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
        """Spread the labels ``y_L`` of pool rows ``labelled_rows`` over the graph of
        ``pool``, once per bootstrap member. ``build_model``, ``train_config``, ``device``
        and ``x_L`` are not used (the labelled inputs are the pool's rows)."""
        if transform is not None:
            raise InvalidInputError(
                "posterior 'label_spreading' cannot apply train_transform: leave it unset"
            )
        if pool is None or labelled_rows is None:
            raise InvalidInputError(
                "posterior 'label_spreading' reads the unlabelled pool: use it through "
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
        self._column(graph, pool, rows)
        g_B_L = np.stack([graph.columns[int(r)] for r in rows], axis=1)
        rng = np.random.default_rng(int(seeds.init(0)) % 2**32)
        n = len(rows)
        if self.resample == "bootstrap":
            weights_M_L = rng.multinomial(n, np.full(n, 1.0 / n), size=self.members).astype(float)
        else:
            weights_M_L = rng.dirichlet(np.ones(n), size=self.members) * n
        onehot_L_C = np.eye(c)[y]
        b = len(graph.rows)
        per_label = weights_M_L.T[:, :, None] * onehot_L_C[:, None, :]  # [L, M, C]
        mass_B_M_C = (g_B_L @ per_label.reshape(n, -1)).reshape(b, self.members, c)
        mass_B_M_C = np.maximum(mass_B_M_C, 0.0)  # CG rounding: masses are non-negative
        if self.class_mass_normalization:
            # Every class's spread mass sums to one over the graph, so a class with more
            # labels does not take over the graph by its mass alone.
            class_total = mass_B_M_C.sum(0, keepdims=True)
            mass_B_M_C = mass_B_M_C / np.where(class_total > 0, class_total, 1.0)
        total = mass_B_M_C.sum(-1, keepdims=True)
        probs = np.where(total > 0, mass_B_M_C / np.where(total > 0, total, 1.0), 1.0 / c)
        np.maximum(probs, self.min_prob, out=probs)
        probs /= probs.sum(-1, keepdims=True)
        return self._fitted(graph, torch.from_numpy(probs).float())

    def _fitted(self, graph: _Graph, probs_B_M_C: Tensor) -> FittedPosterior:
        """The fitted posterior of members' probabilities at the graph's nodes; its state
        lives in ``extra["label_spreading"]`` so that a saved learner restores it."""
        state: dict[str, Any] = {
            "node_features": graph.features,
            "node_scale": graph.scale,
            "probs": probs_B_M_C,
            "k": self.k,
            "knn": self.knn,
        }
        posterior = LabelSpreadingPosterior(
            graph.features, graph.scale, probs_B_M_C, self.k, graph.cache, knn=self.knn
        )
        fitted = _SpreadingFitted(posterior, [], self.members)
        fitted.extra["label_spreading"] = state
        return fitted
