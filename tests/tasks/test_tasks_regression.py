"""Regression scores against brute force and numerical integration, their bounds and
invariances, and the metrics against hand-written loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesal.errors import InvalidInputError
from bayesal.tasks import regression

SETTINGS = settings(max_examples=40, deadline=None)
Z95 = 1.6448536269514722  # the standard normal's 0.95 quantile


@st.composite
def gaussians(draw, min_n: int = 0, max_k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Float64 ``(mean_N_K, var_N_K)`` with variances in [1e-3, 1e2]."""
    N = draw(st.integers(min_n, 5))
    K = draw(st.integers(1, max_k))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    scale = draw(st.sampled_from([0.01, 1.0, 10.0]))
    mean = scale * torch.randn(N, K, generator=g, dtype=torch.float64)
    var = torch.exp(torch.empty(N, K, dtype=torch.float64).uniform_(-7, 4.6, generator=g))
    return mean, var


def _ref(mean: torch.Tensor, var: torch.Tensor) -> dict[str, list[float]]:
    N, K = mean.shape
    out: dict[str, list[float]] = {"total": [], "epistemic": [], "second_moment": [], "mi": []}
    for n in range(N):
        mus = [float(mean[n, k]) for k in range(K)]
        sigma2 = [float(var[n, k]) for k in range(K)]
        mu_bar = sum(mus) / K
        epistemic = sum((m - mu_bar) ** 2 for m in mus) / K
        total = sum(sigma2) / K + epistemic
        out["epistemic"].append(epistemic)
        out["total"].append(total)
        # Var[y] of the mixture from its raw moments: E[y²] - E[y]².
        out["second_moment"].append(
            sum(s + m * m for s, m in zip(sigma2, mus, strict=True)) / K - mu_bar**2
        )
        out["mi"].append(0.5 * math.log(total) - sum(0.5 * math.log(s) for s in sigma2) / K)
    return out


def _mixture_entropy(mus: list[float], sigma2: list[float]) -> float:
    """H of the equally weighted Gaussian mixture, by the trapezoidal rule on a fine grid."""
    sigmas = [math.sqrt(s) for s in sigma2]
    low = min(m - 12 * s for m, s in zip(mus, sigmas, strict=True))
    high = max(m + 12 * s for m, s in zip(mus, sigmas, strict=True))
    grid = np.linspace(low, high, 400_001)
    density = np.zeros_like(grid)
    for m, s in zip(mus, sigmas, strict=True):
        density += np.exp(-0.5 * ((grid - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    density /= len(mus)
    integrand = np.where(density > 0, -density * np.log(np.where(density > 0, density, 1)), 0)
    return float(np.trapezoid(integrand, grid))


@SETTINGS
@given(gaussians())
def test_scores_match_brute_force(gaussian: tuple[torch.Tensor, torch.Tensor]) -> None:
    mean, var = gaussian
    ref = _ref(mean, var)
    total = regression.predictive_variance(mean, var)
    assert total.tolist() == pytest.approx(ref["total"], rel=1e-10, abs=1e-12)
    assert total.tolist() == pytest.approx(ref["second_moment"], rel=1e-6, abs=1e-8)
    assert regression.epistemic_variance(mean, var).tolist() == pytest.approx(
        ref["epistemic"], rel=1e-10, abs=1e-12
    )
    assert regression.gaussian_mutual_information(mean, var).tolist() == pytest.approx(
        ref["mi"], rel=1e-10, abs=1e-12
    )
    assert regression.aleatoric_variance(mean, var).tolist() == pytest.approx(
        [float(v) for v in var.mean(dim=1)]
    )
    assert regression.predictive_mean(mean, var).tolist() == pytest.approx(
        [sum(row) / len(row) for row in mean.tolist()]
    )


@SETTINGS
@given(gaussians())
def test_bounds(gaussian: tuple[torch.Tensor, torch.Tensor]) -> None:
    mean, var = gaussian
    epistemic = regression.epistemic_variance(mean, var)
    total = regression.predictive_variance(mean, var)
    assert (epistemic >= 0).all() and (epistemic <= total).all()
    assert (regression.gaussian_mutual_information(mean, var) >= 0).all()


@pytest.mark.parametrize("seed", range(6))
def test_gaussian_mutual_information_bounds_the_exact_one(seed: int) -> None:
    # Exact I[y; θ] = H[mixture] - (1/K) Σ_k H[N(μ_k, σ²_k)], H by numerical integration.
    g = torch.Generator().manual_seed(seed)
    K = 2 + seed % 3
    mean = 2.0 * torch.randn(1, K, generator=g, dtype=torch.float64)
    var = torch.exp(torch.randn(1, K, generator=g, dtype=torch.float64))
    mus, sigma2 = mean[0].tolist(), var[0].tolist()
    expected_entropy = sum(0.5 * math.log(2 * math.pi * math.e * s) for s in sigma2) / K
    exact = _mixture_entropy(mus, sigma2) - expected_entropy
    approx = float(regression.gaussian_mutual_information(mean, var)[0])
    assert -1e-6 <= exact <= approx + 1e-6


def test_gaussian_mutual_information_is_exact_for_one_gaussian() -> None:
    # Equal means: the mixture of N(0, 1) and N(0, 1) is Gaussian; unequal noise is not.
    same = regression.gaussian_mutual_information(torch.zeros(1, 3), torch.ones(1, 3))
    assert same.tolist() == [0.0]
    # σ² = 1 and 3 at the same mean: ½ log 2 - ¼ log 3 (the bound; the mixture is not Gaussian)
    by_hand = 0.5 * math.log(2.0) - 0.25 * math.log(3.0)
    scores = regression.gaussian_mutual_information(
        torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[1.0, 3.0]], dtype=torch.float64)
    )
    assert scores.tolist() == pytest.approx([by_hand])


def test_by_hand() -> None:
    # μ = [0, 2], σ² = [1, 3]: Var_k[μ] = 1, E[σ²] = 2, total 3.
    mean = torch.tensor([[0.0, 2.0]], dtype=torch.float64)
    var = torch.tensor([[1.0, 3.0]], dtype=torch.float64)
    assert regression.epistemic_variance(mean, var).tolist() == [1.0]
    assert regression.predictive_variance(mean, var).tolist() == [3.0]
    expected_mi = 0.5 * math.log(3.0) - 0.25 * (math.log(1.0) + math.log(3.0))
    assert regression.gaussian_mutual_information(mean, var).tolist() == pytest.approx(
        [expected_mi]
    )


@SETTINGS
@given(gaussians(min_n=1), st.integers(0, 2**31 - 1))
def test_permutation_invariance(gaussian: tuple[torch.Tensor, torch.Tensor], seed: int) -> None:
    mean, var = gaussian
    g = torch.Generator().manual_seed(seed)
    items = torch.randperm(mean.shape[0], generator=g)
    samples = torch.randperm(mean.shape[1], generator=g)
    for fn in (
        regression.predictive_variance,
        regression.epistemic_variance,
        regression.gaussian_mutual_information,
    ):
        scores = fn(mean, var)
        assert torch.allclose(fn(mean[items], var[items]), scores[items], rtol=1e-12, atol=0)
        assert torch.allclose(fn(mean[:, samples], var[:, samples]), scores, rtol=1e-10, atol=1e-14)


@SETTINGS
@given(gaussians())
def test_one_sample_gives_zero_epistemic_terms(gaussian: tuple[torch.Tensor, torch.Tensor]) -> None:
    mean, var = gaussian
    mean, var = mean[:, :1], var[:, :1]
    zeros = torch.zeros(mean.shape[0], dtype=torch.float64)
    assert torch.equal(regression.epistemic_variance(mean, var), zeros)
    assert torch.equal(regression.gaussian_mutual_information(mean, var), zeros)
    assert torch.equal(regression.predictive_variance(mean, var), var[:, 0])


def test_split_output() -> None:
    output = torch.tensor([[[1.0, 0.0], [2.0, math.log(4.0)]]], dtype=torch.float64)
    mean, var = regression.split_output(output)
    assert mean.tolist() == [[1.0, 2.0]] and var[0].tolist() == pytest.approx([1.0, 4.0])
    with pytest.raises(InvalidInputError, match="\\[N, K, 2\\]"):
        regression.split_output(torch.zeros(2, 3, 3))
    with pytest.raises(InvalidInputError, match="finite"):
        regression.split_output(torch.tensor([[[0.0, math.inf]]]))


@pytest.mark.parametrize(
    ("mean", "var", "match"),
    [
        (torch.zeros(2, 3), torch.zeros(2, 2), "same shape"),
        (torch.zeros(2, 3), -torch.ones(2, 3), ">= 0"),
        (torch.zeros(2), torch.zeros(2), "\\[N, K\\]"),
        (torch.zeros(2, 0), torch.zeros(2, 0), "at least one parameter sample"),
        (torch.full((2, 3), math.inf), torch.ones(2, 3), "finite"),
        (torch.zeros(2, 3), torch.full((2, 3), math.nan), "NaN"),
    ],
)
def test_malformed_input_raises(mean: torch.Tensor, var: torch.Tensor, match: str) -> None:
    for fn in (regression.predictive_variance, regression.epistemic_variance):
        with pytest.raises(InvalidInputError, match=match):
            fn(mean, var)


def test_mutual_information_needs_positive_variances() -> None:
    with pytest.raises(InvalidInputError, match="> 0"):
        regression.gaussian_mutual_information(torch.zeros(1, 2), torch.zeros(1, 2))
    # the variances may be 0 for the variance scores (a mean-only network)
    assert regression.predictive_variance(
        torch.tensor([[0.0, 2.0]]), torch.zeros(1, 2)
    ).tolist() == [1.0]


def test_random_is_reproducible_and_half_precision_is_float32() -> None:
    mean, var = torch.zeros(5, 2), torch.ones(5, 2)
    assert torch.equal(
        regression.random(mean, var, generator=3),
        regression.random(mean, var, generator=torch.Generator().manual_seed(3)),
    )
    assert regression.predictive_variance(mean.half(), var.half()).dtype == torch.float32


# ------------------------------------------------------------------------------- metrics


def _ref_nll(y: list[float], mean: torch.Tensor, var: torch.Tensor) -> float:
    """Loops; the log of each mixture density by the max trick (a density may underflow)."""
    total = 0.0
    K = mean.shape[1]
    for n, target in enumerate(y):
        logs = [
            -0.5 * (target - float(mean[n, k])) ** 2 / float(var[n, k])
            - 0.5 * math.log(2 * math.pi * float(var[n, k]))
            for k in range(K)
        ]
        top = max(logs)
        total -= top + math.log(sum(math.exp(x - top) for x in logs) / K)
    return total / len(y)


@SETTINGS
@given(gaussians(min_n=1), st.integers(0, 2**31 - 1))
def test_rmse_and_nll_match_loops(gaussian: tuple[torch.Tensor, torch.Tensor], seed: int) -> None:
    mean, var = gaussian
    y = torch.randn(mean.shape[0], generator=torch.Generator().manual_seed(seed)).double()
    mu_bar = [sum(row) / len(row) for row in mean.tolist()]
    expected_rmse = math.sqrt(
        sum((a - b) ** 2 for a, b in zip(y.tolist(), mu_bar, strict=True)) / len(mu_bar)
    )
    assert regression.rmse(y, mean, var) == pytest.approx(expected_rmse)
    assert regression.nll(y.numpy(), mean, var) == pytest.approx(_ref_nll(y.tolist(), mean, var))


def test_nll_does_not_underflow() -> None:
    # y 100 standard deviations away: the density underflows, its log must not.
    mean, var = torch.zeros(1, 2, dtype=torch.float64), torch.full((1, 2), 1e-2).double()
    expected = 0.5 * math.log(2 * math.pi * 1e-2) + 0.5 * 100.0**2
    assert regression.nll([10.0], mean, var) == pytest.approx(expected)


def test_interval_of_one_gaussian_and_of_a_mixture() -> None:
    mean = torch.tensor([[1.0], [-2.0]], dtype=torch.float64)
    var = torch.tensor([[4.0], [0.25]], dtype=torch.float64)
    low, high = regression.interval(mean, var, level=0.9)
    assert low.tolist() == pytest.approx([1 - 2 * Z95, -2 - 0.5 * Z95], abs=1e-9)
    assert high.tolist() == pytest.approx([1 + 2 * Z95, -2 + 0.5 * Z95], abs=1e-9)
    # A mixture: the end points are where its CDF is 0.05 and 0.95.
    mean = torch.tensor([[0.0, 3.0, 10.0]], dtype=torch.float64)
    var = torch.tensor([[1.0, 0.5, 4.0]], dtype=torch.float64)
    low, high = regression.interval(mean, var, level=0.8)
    assert regression.mixture_cdf(low, mean, var).tolist() == pytest.approx([0.1], abs=1e-12)
    assert regression.mixture_cdf(high, mean, var).tolist() == pytest.approx([0.9], abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_coverage_counts_the_targets_inside_the_interval(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(50, 4, generator=g, dtype=torch.float64)
    var = torch.rand(50, 4, generator=g, dtype=torch.float64) + 0.05
    y = 1.5 * torch.randn(50, generator=g, dtype=torch.float64)
    low, high = regression.interval(mean, var, level=0.9)
    inside = [float(a) <= float(t) <= float(b) for a, t, b in zip(low, y, high, strict=True)]
    assert regression.coverage(y, mean, var) == pytest.approx(sum(inside) / len(inside))


def test_coverage_of_a_calibrated_mixture_is_the_level() -> None:
    # Targets drawn from the predictive mixture itself: 90% fall in its central 90% interval.
    g = torch.Generator().manual_seed(0)
    N, K = 20_000, 3
    mean = 3 * torch.randn(N, K, generator=g, dtype=torch.float64)
    var = torch.rand(N, K, generator=g, dtype=torch.float64) + 0.1
    component = torch.randint(K, (N,), generator=g)
    rows = torch.arange(N)
    y = mean[rows, component] + var[rows, component].sqrt() * torch.randn(
        N, generator=g, dtype=torch.float64
    )
    coverage = regression.coverage(y, mean, var, level=0.9)
    assert abs(coverage - 0.9) < 4 * math.sqrt(0.9 * 0.1 / N)
    assert regression.metrics(y, mean, var)["coverage_90"] == coverage


def test_metrics_and_their_checks() -> None:
    mean, var = torch.tensor([[1.0, 3.0]]), torch.tensor([[1.0, 1.0]])
    result = regression.metrics([2.0], mean, var)
    assert set(result) == {"rmse", "nll", "coverage_90"}
    assert result["rmse"] == 0.0 and result["coverage_90"] == 1.0
    with pytest.raises(InvalidInputError, match="\\[N\\] = \\[1\\]"):
        regression.rmse([1.0, 2.0], mean, var)
    with pytest.raises(InvalidInputError, match="\\(0, 1\\]"):
        regression.coverage([1.0], mean, var, level=1.5)
    with pytest.raises(InvalidInputError, match="> 0"):
        regression.nll([1.0], mean, torch.zeros(1, 2))
    empty = torch.zeros(0, 2)
    assert math.isnan(regression.rmse([], empty, empty))


# ------------------------------------------------------------------------- Gaussian EPIG


def _ref_epig(mean, var, target_mean, target_var) -> list[float]:
    N, K = mean.shape
    M = target_mean.shape[0]

    def moments(mu: list[float], s2: list[float]) -> tuple[float, float, list[float]]:
        bar = sum(mu) / K
        centred = [m - bar for m in mu]
        return bar, sum(s2) / K + sum(c * c for c in centred) / K, centred

    out = []
    for n in range(N):
        _, total, centred = moments(mean[n].tolist(), var[n].tolist())
        acc = 0.0
        for m in range(M):
            _, t_total, t_centred = moments(target_mean[m].tolist(), target_var[m].tolist())
            cov = sum(a * b for a, b in zip(centred, t_centred, strict=True)) / K
            acc += -0.5 * math.log(1 - cov * cov / (total * t_total))
        out.append(acc / M)
    return out


@SETTINGS
@given(gaussians(min_n=1), gaussians(min_n=1), st.integers(1, 7))
def test_gaussian_epig_matches_brute_force(pool, targets, chunk_size: int) -> None:
    mean, var = pool
    K = mean.shape[1]
    target_mean, target_var = targets[0][:, :1].expand(-1, K), targets[1][:, :1].expand(-1, K)
    target_mean = target_mean + torch.linspace(-1, 1, K, dtype=torch.float64)  # vary over K
    scores = regression.gaussian_epig(mean, var, target_mean, target_var, chunk_size=chunk_size)
    expected = _ref_epig(mean, var, target_mean, target_var)
    assert scores.tolist() == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert (scores >= 0).all()
    # never more than the information about the parameters, under the same approximation
    assert (scores <= regression.gaussian_mutual_information(mean, var) + 1e-9).all()


def test_gaussian_epig_invariances_and_one_sample() -> None:
    g = torch.Generator().manual_seed(5)
    mean, var = torch.randn(6, 5, generator=g).double(), torch.rand(6, 5, generator=g).double()
    t_mean, t_var = torch.randn(4, 5, generator=g).double(), torch.rand(4, 5, generator=g).double()
    var, t_var = var + 0.1, t_var + 0.1
    scores = regression.gaussian_epig(mean, var, t_mean, t_var)
    items, samples, targets = torch.randperm(6), torch.randperm(5), torch.randperm(4)
    assert torch.allclose(
        regression.gaussian_epig(mean[items], var[items], t_mean, t_var), scores[items]
    )
    assert torch.allclose(
        regression.gaussian_epig(
            mean[:, samples], var[:, samples], t_mean[:, samples], t_var[:, samples]
        ),
        scores,
    )
    assert torch.allclose(
        regression.gaussian_epig(mean, var, t_mean[targets], t_var[targets]), scores
    )
    one = regression.gaussian_epig(mean[:, :1], var[:, :1], t_mean[:, :1], t_var[:, :1])
    assert torch.equal(one, torch.zeros(6, dtype=torch.float64))
    with pytest.raises(InvalidInputError, match="pool's K"):
        regression.gaussian_epig(mean, var, t_mean[:, :3], t_var[:, :3])
    with pytest.raises(InvalidInputError, match="target Gaussians.*> 0"):
        regression.gaussian_epig(mean, var, t_mean, torch.zeros(4, 5))


def test_gaussian_scores_are_exact_for_a_bayesian_linear_model() -> None:
    # θ ~ N(m, S) in R^3, y = x·θ + ε, ε ~ N(0, s²): the joint predictive of any inputs is
    # Gaussian, with Var[y] = xᵀSx + s² and Cov[y, y*] = xᵀSx*. With many samples θ_k
    # the Gaussian BALD and EPIG approach the exact mutual informations.
    g = torch.Generator().manual_seed(0)
    K, noise = 400_000, 0.3
    A = torch.randn(3, 3, generator=g, dtype=torch.float64)
    S = A @ A.T / 3
    theta_K_3 = torch.randn(K, 3, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(S).T
    x_N_3 = torch.randn(4, 3, generator=g, dtype=torch.float64)
    x_target_M_3 = torch.randn(5, 3, generator=g, dtype=torch.float64)
    mean, t_mean = x_N_3 @ theta_K_3.T, x_target_M_3 @ theta_K_3.T
    var, t_var = torch.full_like(mean, noise), torch.full_like(t_mean, noise)
    prior_N = torch.einsum("nd,de,ne->n", x_N_3, S, x_N_3)
    exact_bald = 0.5 * torch.log1p(prior_N / noise)
    assert torch.allclose(regression.gaussian_mutual_information(mean, var), exact_bald, rtol=0.01)
    prior_M = torch.einsum("md,de,me->m", x_target_M_3, S, x_target_M_3)
    cov_N_M = x_N_3 @ S @ x_target_M_3.T
    rho2 = cov_N_M.square() / ((prior_N + noise)[:, None] * (prior_M + noise)[None, :])
    exact_epig = (-0.5 * torch.log1p(-rho2)).mean(dim=1)
    assert torch.allclose(
        regression.gaussian_epig(mean, var, t_mean, t_var), exact_epig, rtol=0.02, atol=1e-4
    )
