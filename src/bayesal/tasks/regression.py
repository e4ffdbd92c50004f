"""Regression: scores of a Gaussian per item and parameter sample, and metrics.

The posterior gives, for N inputs and K parameter samples θ_k, a Gaussian predictive per
sample: ``y | x_n, θ_k ~ N(μ_nk, σ²_nk)``, as ``mean_N_K`` (``μ``) and ``var_N_K``
(``σ²``). A network head that outputs ``[mean, log-variance]`` gives the posterior output
``output_N_K_2`` (:func:`split_output` turns it into ``mean_N_K, var_N_K``). The
predictive is the equally weighted mixture ``p(y | x_n) = (1/K) Σ_k N(y; μ_nk, σ²_nk)``.

Notation: ``μ̄ = (1/K) Σ_k μ_k`` (the mixture mean), ``Var_k[μ] = (1/K) Σ_k (μ_k - μ̄)²``
(the population variance over the K samples), ``E_k[σ²] = (1/K) Σ_k σ²_k``.

Scores (``[N, K] -> [N]``, **higher = acquire first**):

* :func:`predictive_variance`: the mixture's variance, ``E_k[σ²] + Var_k[μ]`` (law of
  total variance): total uncertainty, the analogue of the predictive entropy;
* :func:`epistemic_variance`: ``Var_k[μ]``, the part of the total variance due to the
  parameters, BALD's analogue in the variance decomposition of Depeweg et al. (2018);
* :func:`gaussian_mutual_information`: ``½ log(E_k[σ²] + Var_k[μ]) - (1/K) Σ_k ½ log σ²_k``,
  the mutual information ``I[y; θ | x]`` with the mixture's entropy replaced by that of a
  Gaussian of the same variance (an upper bound of the exact mutual information, because
  the Gaussian has the largest entropy of all distributions of a given variance);
* :func:`random`;
* :func:`gaussian_epig`: EPIG (information about the labels of target inputs) under the
  same Gaussian approximation; it reads target Gaussians as well, so it is not in the
  strategy table yet.

Metrics: :func:`rmse` of the mixture mean, :func:`nll` of the mixture, :func:`coverage`
of its central interval, and :func:`interval` (the interval's end points); :func:`metrics`
collects them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from bayesal.errors import InvalidInputError
from bayesal.tasks._checks import (
    as_float64_array,
    check_float_tensor,
    check_fraction,
    check_generator,
    check_samples,
    compute_dtype,
    uniform_scores,
)

__all__ = [
    "aleatoric_variance",
    "check_gaussian",
    "coverage",
    "epistemic_variance",
    "gaussian_epig",
    "gaussian_mutual_information",
    "interval",
    "metrics",
    "mixture_cdf",
    "nll",
    "predictive_mean",
    "predictive_variance",
    "random",
    "rmse",
    "split_output",
]

_SHAPE = "[N, K]"


def check_gaussian(
    mean_N_K: object, var_N_K: object, *, positive: bool = False
) -> tuple[Tensor, Tensor]:
    """Check the per-sample Gaussians: two floating-point ``[N, K]`` tensors of one shape,
    ``K >= 1``, finite means, finite variances ``>= 0`` (``> 0`` when ``positive``).

    Returns:
        ``(mean_N_K, var_N_K)``.

    Raises:
        InvalidInputError: naming the first violated condition.
    """
    mean = check_float_tensor(mean_N_K, "mean_N_K", _SHAPE, 2)
    var = check_float_tensor(var_N_K, "var_N_K", _SHAPE, 2)
    if mean.shape != var.shape:
        raise InvalidInputError(
            f"mean_N_K and var_N_K must have the same shape [N, K], got {list(mean.shape)} "
            f"and {list(var.shape)}."
        )
    check_samples(mean, "mean_N_K", _SHAPE)
    if not bool(torch.isfinite(mean).all()):
        raise InvalidInputError("mean_N_K must be finite; check the model output.")
    if not bool(torch.isfinite(var).all()):
        raise InvalidInputError("var_N_K must be finite; check the model output.")
    if var.numel():
        smallest = float(var.min())
        if smallest < 0 or (positive and smallest == 0):
            bound = "> 0" if positive else ">= 0"
            raise InvalidInputError(
                f"var_N_K must be {bound} (variances, not log-variances or standard "
                f"deviations of any sign), but its smallest value is {smallest:.3g}."
            )
    return mean, var


def split_output(output_N_K_2: Tensor) -> tuple[Tensor, Tensor]:
    """Split a regression posterior's output ``[N, K, 2]`` of (mean, log-variance) per
    sample into ``(mean_N_K, var_N_K)`` with ``var = exp(log-variance)``.

    Raises:
        InvalidInputError: for another shape, NaN or infinite values.
    """
    output = check_float_tensor(output_N_K_2, "output_N_K_2", "[N, K, 2]", 3)
    if output.shape[2] != 2 or output.shape[1] == 0:
        raise InvalidInputError(
            "output_N_K_2 must have shape [N, K, 2] (mean and log-variance per sample, "
            f"K >= 1), got {list(output.shape)}."
        )
    if not bool(torch.isfinite(output).all()):
        raise InvalidInputError(
            "output_N_K_2 must be finite (a mean and a log-variance per sample)."
        )
    return output[..., 0], output[..., 1].exp()


def predictive_mean(mean_N_K: Tensor, var_N_K: Tensor) -> Tensor:
    """The mixture mean ``μ̄ = (1/K) Σ_k μ_k``: ``[N, K] -> [N]``."""
    mean, _ = check_gaussian(mean_N_K, var_N_K)
    return compute_dtype(mean).mean(dim=1)


def _epistemic(mean_N_K: Tensor) -> Tensor:
    mean = compute_dtype(mean_N_K)
    return (mean - mean.mean(dim=1, keepdim=True)).square().mean(dim=1)


def epistemic_variance(mean_N_K: Tensor, var_N_K: Tensor) -> Tensor:
    """Epistemic variance: the variance of the per-sample means across parameter samples.

    Equation: ``s_n = Var_k[μ_nk] = (1/K) Σ_k (μ_nk - μ̄_n)²``, ``>= 0``, and 0 when
    ``K = 1``. It is the epistemic term of the decomposition ``Var[y] = E_θ[Var[y | θ]] +
    Var_θ[E[y | θ]]`` of Depeweg et al. (2018) (their ``σ²(E[y | W])``), BALD's analogue
    for regression: it is high where the parameter samples disagree, whatever the noise.
    The variances are validated but not read.

    Shapes: ``mean_N_K [N, K], var_N_K [N, K] -> scores_N [N]``.

    Reference: Depeweg, Hernández-Lobato, Doshi-Velez & Udluft (2018), "Decomposition of
    Uncertainty in Bayesian Deep Learning for Efficient and Risk-sensitive Learning", ICML.
    """
    mean, _ = check_gaussian(mean_N_K, var_N_K)
    return _epistemic(mean)


def aleatoric_variance(mean_N_K: Tensor, var_N_K: Tensor) -> Tensor:
    """Aleatoric variance: the expected noise variance ``E_k[σ²_nk] = (1/K) Σ_k σ²_nk``.

    The other term of Depeweg et al. (2018)'s decomposition; not an acquisition score on
    its own (noise cannot be learned away), given for reports and tests.

    Shapes: ``mean_N_K [N, K], var_N_K [N, K] -> [N]``.
    """
    _, var = check_gaussian(mean_N_K, var_N_K)
    return compute_dtype(var).mean(dim=1)


def predictive_variance(mean_N_K: Tensor, var_N_K: Tensor) -> Tensor:
    """Predictive variance: the variance of the mixture predictive (law of total variance).

    Equation: ``s_n = E_k[σ²_nk] + Var_k[μ_nk] = (1/K) Σ_k σ²_nk + (1/K) Σ_k (μ_nk - μ̄_n)²``,
    ``>= 0``: total uncertainty, noise included.

    Shapes: ``mean_N_K [N, K], var_N_K [N, K] -> scores_N [N]``.

    Reference: the variance-reduction view of Cohn, Ghahramani & Jordan (1996), "Active
    Learning with Statistical Models", JAIR; with MC dropout / ensembles as in Kendall &
    Gal (2017), "What Uncertainties Do We Need in Bayesian Deep Learning for Computer
    Vision?", NeurIPS.
    """
    mean, var = check_gaussian(mean_N_K, var_N_K)
    return compute_dtype(var).mean(dim=1) + _epistemic(mean)


def gaussian_mutual_information(mean_N_K: Tensor, var_N_K: Tensor) -> Tensor:
    """Mutual information ``I[y; θ | x]`` under a Gaussian approximation of the predictive.

    Equation: ``s_n = ½ log(E_k[σ²_nk] + Var_k[μ_nk]) - (1/K) Σ_k ½ log σ²_nk`` (nats): the
    entropy of a Gaussian with the mixture's variance minus the mean entropy of the
    per-sample Gaussians (the ``½ log 2πe`` terms cancel). It is ``>= 0`` (the log is
    concave), 0 when ``K = 1``, and an upper bound of the exact mutual information
    ``H[mixture] - (1/K) Σ_k H[N(μ_k, σ²_k)]`` (a Gaussian has the largest entropy for its
    variance); tests check both against numerical integration. Needs ``σ² > 0``.

    Unlike :func:`epistemic_variance`, it is scale-free and weighs the disagreement of the
    means against the noise: ``Var_k[μ] = 1`` counts for more where ``σ² = 0.1`` than where
    ``σ² = 10``.

    Shapes: ``mean_N_K [N, K], var_N_K [N, K] -> scores_N [N]``.

    Reference: the entropy decomposition of Depeweg et al. (2018) (ICML; see
    :func:`epistemic_variance`) with the Gaussian (moment-matched) bound on the predictive
    entropy, as in Houlsby et al. (2011)'s BALD for a Gaussian predictive.
    """
    mean, var = check_gaussian(mean_N_K, var_N_K, positive=True)
    var = compute_dtype(var)
    total_N = var.mean(dim=1) + _epistemic(mean)
    scores_N = 0.5 * (total_N.log() - var.log().mean(dim=1))
    return scores_N.clamp_min(0.0)


def gaussian_epig(
    mean_N_K: Tensor,
    var_N_K: Tensor,
    mean_target_M_K: Tensor,
    var_target_M_K: Tensor,
    *,
    chunk_size: int = 1024,
) -> Tensor:
    """EPIG for regression under a Gaussian approximation of the joint predictive.

    EPIG is ``E_{x*}[I(y; y* | x, x*)]`` over target inputs ``x*_m`` (Bickford Smith et
    al. 2023). Given θ, ``y`` and ``y*`` are independent Gaussians, so the joint predictive
    of ``(y, y*_m)`` is a mixture with covariance ``[[V_n, c_nm], [c_nm, V*_m]]``, where
    ``V = E_k[σ²] + Var_k[μ]`` (:func:`predictive_variance`) and ``c_nm = (1/K) Σ_k
    (μ_nk - μ̄_n)(μ*_mk - μ̄*_m)`` is the covariance of the per-sample means across the K
    draws. Replacing the mixture by the Gaussian of that covariance (as
    :func:`gaussian_mutual_information` does for BALD) gives

    ``s_n = (1/M) Σ_m -½ log(1 - ρ²_nm)``, with ``ρ²_nm = c²_nm / (V_n V*_m)``,

    the mutual information of two jointly Gaussian variables (as for a Gaussian process).
    It is ``>= 0``, 0 when ``K = 1``, and at most :func:`gaussian_mutual_information`
    (``ρ² <= Var_k[μ] / V``, so the data-processing inequality EPIG <= BALD holds for the
    two approximations too; tested). It is exact when the joint predictive is Gaussian
    (e.g. a Bayesian linear model with Gaussian noise as K grows; tested), an approximation
    otherwise (neither a lower nor an upper bound in general). The K samples must be the
    same parameter draws for pool and targets. Needs ``σ² > 0`` (then ``ρ² < 1``).

    Shapes: ``mean_N_K, var_N_K [N, K]``, ``mean_target_M_K, var_target_M_K [M, K]`` ->
    ``scores_N [N]``; ``[chunk_size, M]`` temporaries.

    Reference: Bickford Smith, Kirsch, Farquhar, Gal, Foster & Rainforth (2023),
    "Prediction-Oriented Bayesian Active Learning", AISTATS; the Gaussian mutual
    information of Cover & Thomas (2006), "Elements of Information Theory", ch. 8.
    """
    mean, var = check_gaussian(mean_N_K, var_N_K, positive=True)
    try:
        target_mean, target_var = check_gaussian(mean_target_M_K, var_target_M_K, positive=True)
    except InvalidInputError as error:
        raise InvalidInputError(f"target Gaussians: {error}") from None
    if target_mean.shape[1] != mean.shape[1] or target_mean.shape[0] == 0:
        raise InvalidInputError(
            "the targets must be at least one item with the pool's K parameter samples, got "
            f"pool K = {mean.shape[1]} and targets [M, K] = {list(target_mean.shape)}."
        )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidInputError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
    mean, var = compute_dtype(mean), compute_dtype(var)
    target_mean = compute_dtype(target_mean).to(mean.dtype)
    target_var = compute_dtype(target_var).to(mean.dtype)
    K = mean.shape[1]
    target_centred_M_K = target_mean - target_mean.mean(dim=1, keepdim=True)
    target_total_M = target_var.mean(dim=1) + target_centred_M_K.square().mean(dim=1)
    out = torch.empty(mean.shape[0], dtype=mean.dtype, device=mean.device)
    for start in range(0, mean.shape[0], chunk_size):
        end = min(start + chunk_size, mean.shape[0])
        centred_n_K = mean[start:end] - mean[start:end].mean(dim=1, keepdim=True)
        total_n = var[start:end].mean(dim=1) + centred_n_K.square().mean(dim=1)
        covariance_n_M = centred_n_K @ target_centred_M_K.T / K
        rho2_n_M = covariance_n_M.square() / (total_n[:, None] * target_total_M[None, :])
        out[start:end] = (-0.5 * torch.log1p(-rho2_n_M.clamp(0.0, 1.0))).mean(dim=1)
    return out.clamp_min(0.0)


def random(mean_N_K: Tensor, var_N_K: Tensor, *, generator: torch.Generator | int) -> Tensor:
    """Uniform random scores ``s_n ~ U[0, 1)`` from ``generator`` (an integer seeds a fresh
    CPU generator; no global random state): the baseline.

    Shapes: ``mean_N_K [N, K], var_N_K [N, K] -> scores_N [N]``.
    """
    gen = check_generator(generator, "random")
    mean, _ = check_gaussian(mean_N_K, var_N_K)
    return uniform_scores(mean.shape[0], gen, mean)


# ----------------------------------------------------------------------------- metrics


def _targets(y_true_N: object, N: int) -> Tensor:
    y = torch.from_numpy(as_float64_array(y_true_N, "y_true_N"))
    if y.dim() == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (N,):
        raise InvalidInputError(
            f"y_true_N must have shape [N] = [{N}] (one target per item), got {list(y.shape)}."
        )
    if not bool(torch.isfinite(y).all()):
        raise InvalidInputError("y_true_N must be finite.")
    return y


def _as64(mean_N_K: Tensor, var_N_K: Tensor, positive: bool) -> tuple[Tensor, Tensor]:
    mean, var = check_gaussian(mean_N_K, var_N_K, positive=positive)
    return mean.detach().cpu().double(), var.detach().cpu().double()


def rmse(y_true_N: object, mean_N_K: Tensor, var_N_K: Tensor) -> float:
    """Root mean squared error of the mixture mean: ``sqrt((1/N) Σ_n (y_n - μ̄_n)²)``.

    NaN for ``N = 0``.
    """
    mean, _ = _as64(mean_N_K, var_N_K, positive=False)
    y = _targets(y_true_N, mean.shape[0])
    if y.numel() == 0:
        return math.nan
    return float((y - mean.mean(dim=1)).square().mean().sqrt())


def nll(y_true_N: object, mean_N_K: Tensor, var_N_K: Tensor) -> float:
    """Mean negative log-likelihood of the targets under the Gaussian-mixture predictive.

    Equation: ``-(1/N) Σ_n log( (1/K) Σ_k N(y_n; μ_nk, σ²_nk) )`` in nats, computed as
    ``-(logsumexp_k log N(y_n; μ_nk, σ²_nk) - log K)`` so that no density underflows.
    Needs ``σ² > 0``; NaN for ``N = 0``.
    """
    mean, var = _as64(mean_N_K, var_N_K, positive=True)
    y = _targets(y_true_N, mean.shape[0])
    if y.numel() == 0:
        return math.nan
    log_density_N_K = -0.5 * (
        math.log(2 * math.pi) + var.log() + (y[:, None] - mean).square() / var
    )
    log_mixture_N = torch.logsumexp(log_density_N_K, dim=1) - math.log(mean.shape[1])
    return float(-log_mixture_N.mean())


def mixture_cdf(y_N: object, mean_N_K: Tensor, var_N_K: Tensor) -> Tensor:
    """The mixture's CDF at ``y_n``: ``F_n(y_n) = (1/K) Σ_k Φ((y_n - μ_nk) / σ_nk)``
    (float64, ``[N]``); needs ``σ² > 0``."""
    mean, var = _as64(mean_N_K, var_N_K, positive=True)
    y = _targets(y_N, mean.shape[0])
    cdf_N_K: Tensor = torch.special.ndtr((y[:, None] - mean) / var.sqrt())
    return cdf_N_K.mean(dim=1)


def coverage(y_true_N: object, mean_N_K: Tensor, var_N_K: Tensor, *, level: float = 0.9) -> float:
    """Coverage of the mixture's central ``level`` interval: the fraction of targets inside.

    The central interval is ``[F⁻¹(α/2), F⁻¹(1 - α/2)]`` with ``α = 1 - level`` and ``F``
    the mixture's CDF (:func:`mixture_cdf`). Since ``F`` is continuous and increasing,
    ``y`` lies in it exactly when ``α/2 <= F(y) <= 1 - α/2``, which is how it is computed:
    no quantile is inverted. A calibrated predictive covers ``level`` of the targets.
    Needs ``σ² > 0``; NaN for ``N = 0``.
    """
    alpha = 1.0 - check_fraction(level, "level")
    cdf_N = mixture_cdf(y_true_N, mean_N_K, var_N_K)
    if cdf_N.numel() == 0:
        return math.nan
    inside = (cdf_N >= alpha / 2) & (cdf_N <= 1 - alpha / 2)
    return float(inside.double().mean())


def interval(mean_N_K: Tensor, var_N_K: Tensor, *, level: float = 0.9) -> tuple[Tensor, Tensor]:
    """The end points of the mixture's central ``level`` interval, per item.

    ``F⁻¹(α/2)`` and ``F⁻¹(1 - α/2)`` (``α = 1 - level``) of the mixture's CDF ``F``
    (:func:`mixture_cdf`), found by 100 bisection steps between ``min_k (μ_k - 10 σ_k)``
    and ``max_k (μ_k + 10 σ_k)`` (float64 resolution). Needs ``σ² > 0``.

    Returns:
        ``(low_N, high_N)``, float64.
    """
    alpha = 1.0 - check_fraction(level, "level")
    mean, var = _as64(mean_N_K, var_N_K, positive=True)
    std = var.sqrt()
    ends = []
    for target in (alpha / 2, 1 - alpha / 2):
        low = (mean - 10 * std).min(dim=1).values
        high = (mean + 10 * std).max(dim=1).values
        for _ in range(100):
            middle = (low + high) / 2
            below = torch.special.ndtr((middle[:, None] - mean) / std).mean(dim=1) < target
            low = torch.where(below, middle, low)
            high = torch.where(below, high, middle)
        ends.append((low + high) / 2)
    return ends[0], ends[1]


def metrics(y_true_N: object, mean_N_K: Tensor, var_N_K: Tensor) -> dict[str, float]:
    """The regression metrics of a posterior's predictive on labelled items.

    Returns:
        ``{"rmse", "nll", "coverage_90"}``: :func:`rmse`, :func:`nll` and
        :func:`coverage` at ``level=0.9``.
    """
    return {
        "rmse": rmse(y_true_N, mean_N_K, var_N_K),
        "nll": nll(y_true_N, mean_N_K, var_N_K),
        "coverage_90": coverage(y_true_N, mean_N_K, var_N_K, level=0.9),
    }
