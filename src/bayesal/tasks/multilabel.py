"""Multi-label classification: scores of ``[N, K, L]`` Bernoulli log-probabilities, and metrics.

``log_probs_N_K_L[n, k, l] = log p(y_l = 1 | x_n, θ_k)`` for N inputs, K parameter samples
θ_k of the approximate posterior and L binary labels (a network's logits ``z`` give them as
``logsigmoid(z)``). Notation:

* ``p_kl = exp(log_probs_N_K_L[n, k, l])``, sample k's probability that label l is on;
* ``p̄_l = (1/K) Σ_k p_kl``, the MC-averaged predictive of label l (computed in log space,
  as ``logsumexp_k`` of ``log p_kl`` and of ``log(1 - p_kl)``, so neither tail underflows);
* ``h(p) = -p log p - (1 - p) log(1 - p)``, the binary entropy in nats (``0 log 0 = 0``).

**Independence across labels.** Every score treats the L labels as independent given the
parameters, ``p(y_1..L | x, θ) = Π_l p(y_l | x, θ)`` (what a network with L sigmoid
outputs models), and sums a per-label quantity over l. The sum of per-label predictive
entropies is an upper bound on the entropy of the joint predictive (the labels are
dependent once θ is integrated out); likewise, the summed BALD is an upper bound on the
joint mutual information ``I[y_1..L; θ | x]`` (the expected-entropy terms are exact sums
under the independence; only the predictive term is bounded). With ``L = 1`` each score
is the classification score of the two-class predictive ``[1 - p, p]``.

Every score returns ``scores_N`` and follows the package's sign rule: **higher = acquire
first**. Half-precision inputs are scored in float32; other dtypes keep their precision.

The metrics (:func:`f1_micro`, :func:`f1_macro`, :func:`average_precision`,
:func:`mean_average_precision`, :func:`metrics`) read labels ``[n, L]`` in {0, 1} and
predictions or scores ``[n, L]``, and agree with scikit-learn's ``f1_score`` and
``average_precision_score`` (tested), without their warnings.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from bayesal.acquisition._chunks import map_row_chunks
from bayesal.errors import InvalidInputError
from bayesal.tasks._checks import (
    as_float64_array,
    check_binary,
    check_float_tensor,
    check_fraction,
    check_generator,
    check_same_shape,
    check_samples,
    compute_dtype,
    uniform_scores,
)

__all__ = [
    "average_precision",
    "bald",
    "check_log_probs",
    "entropy",
    "f1_macro",
    "f1_micro",
    "margin",
    "mean_average_precision",
    "mean_probs",
    "metrics",
    "random",
    "MarginReduction",
]

#: Largest ``log p`` accepted above 0 (round-off of a log-sigmoid); larger values are logits.
POSITIVE_ATOL = 1e-6

#: How :func:`margin` aggregates the per-label margins.
MarginReduction = Literal["mean", "min"]

_SHAPE = "[N, K, L]"


def check_log_probs(log_probs_N_K_L: object, name: str = "log_probs_N_K_L") -> Tensor:
    """Check that ``log_probs_N_K_L`` holds Bernoulli log-probabilities ``log p(y_l = 1)``.

    Valid means: a floating-point tensor of rank 3 (``[N, K, L]``, ``N == 0`` allowed) with
    ``K, L >= 1``, no NaN and no value above 0 (up to round-off :data:`POSITIVE_ATOL`;
    ``-inf`` is a probability of 0).

    Returns:
        the tensor.

    Raises:
        InvalidInputError: naming the first violated condition.
    """
    tensor = check_float_tensor(log_probs_N_K_L, name, _SHAPE, 3)
    check_samples(tensor, name, _SHAPE)
    if tensor.numel() and float(tensor.max()) > POSITIVE_ATOL:
        raise InvalidInputError(
            f"{name} must hold log-probabilities log p(y_l = 1) <= 0, but its largest value "
            f"is {float(tensor.max()):.3g}; pass logsigmoid(logits), not logits or "
            "probabilities."
        )
    return tensor


def _log1mexp(log_p: Tensor) -> Tensor:
    """``log(1 - exp(x))`` for ``x <= 0``, accurate at both ends (Mächler 2012)."""
    x = log_p.clamp_max(0.0)
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def _log_mean_exp_k(log_values_N_K_L: Tensor) -> Tensor:
    return torch.logsumexp(log_values_N_K_L, dim=1) - math.log(log_values_N_K_L.shape[1])


def _binary_entropy(log_p: Tensor, log_q: Tensor) -> Tensor:
    """``-p log p - q log q`` element-wise from ``log p`` and ``log q`` (``0 log 0 = 0``)."""
    zero = torch.zeros((), dtype=log_p.dtype, device=log_p.device)
    p_term = torch.where(torch.isneginf(log_p), zero, log_p.exp() * log_p)
    q_term = torch.where(torch.isneginf(log_q), zero, log_q.exp() * log_q)
    return -(p_term + q_term)


def _mean_log_pq(log_probs_N_K_L: Tensor) -> tuple[Tensor, Tensor]:
    """``(log p̄_l, log(1 - p̄_l))``, each ``[N, L]``."""
    log_p = log_probs_N_K_L.clamp_max(0.0)
    return _log_mean_exp_k(log_p), _log_mean_exp_k(_log1mexp(log_p))


def _entropy_rows(log_probs_N_K_L: Tensor) -> Tensor:
    log_p_N_L, log_q_N_L = _mean_log_pq(compute_dtype(log_probs_N_K_L))
    return _binary_entropy(log_p_N_L, log_q_N_L).sum(dim=-1).clamp_min(0.0)


def _bald_rows(log_probs_N_K_L: Tensor) -> Tensor:
    values = compute_dtype(log_probs_N_K_L).clamp_max(0.0)
    log_p_N_L, log_q_N_L = _mean_log_pq(values)
    predictive_N_L = _binary_entropy(log_p_N_L, log_q_N_L)
    expected_N_L = _binary_entropy(values, _log1mexp(values)).mean(dim=1)
    return (predictive_N_L - expected_N_L).sum(dim=-1).clamp_min(0.0)


def _margins_N_L(log_probs_N_K_L: Tensor) -> Tensor:
    """``|2 p̄_l - 1| = |p̄_l - (1 - p̄_l)|``, ``[N, L]``."""
    log_p_N_L, log_q_N_L = _mean_log_pq(compute_dtype(log_probs_N_K_L))
    return (log_p_N_L.exp() - log_q_N_L.exp()).abs()


def mean_probs(log_probs_N_K_L: Tensor) -> Tensor:
    """The MC-averaged predictive ``p̄_l = (1/K) Σ_k p_kl``.

    Shapes: ``log_probs_N_K_L [N, K, L] -> probs_N_L [N, L]``.
    """
    check_log_probs(log_probs_N_K_L)
    return _log_mean_exp_k(compute_dtype(log_probs_N_K_L).clamp_max(0.0)).exp()


def entropy(log_probs_N_K_L: Tensor) -> Tensor:
    """Predictive entropy summed over labels.

    Equation: ``s_n = Σ_l h(p̄_l)``, in ``[0, L log 2]`` (nats). Under independence across
    labels this bounds the entropy of the joint predictive from above (module docstring).

    Shapes: ``log_probs_N_K_L [N, K, L] -> scores_N [N]``.

    Reference: the multi-label form of Shannon entropy sampling, e.g. Yang et al. (2009),
    "Effective Multi-Label Active Learning for Text Classification", KDD (uncertainty
    summed over labels); with MC dropout as in Gal, Islam & Ghahramani (2017).
    """
    check_log_probs(log_probs_N_K_L)
    return map_row_chunks(_entropy_rows, log_probs_N_K_L)


def bald(log_probs_N_K_L: Tensor) -> Tensor:
    """BALD summed over labels: the per-label mutual information between label and parameters.

    Equation: ``s_n = Σ_l [ h(p̄_l) - (1/K) Σ_k h(p_kl) ] = Σ_l I[y_l; θ | x_n]``, in
    ``[0, Σ_l h(p̄_l)]`` (so ``0 <= bald <= entropy``); 0 when ``K = 1``. Labels are assumed
    independent given θ; the sum is then an upper bound on the joint mutual information
    ``I[y_1..L; θ | x_n]`` (equal to it when the labels are also independent under the
    predictive). Round-off below 0 is clamped to 0.

    Shapes: ``log_probs_N_K_L [N, K, L] -> scores_N [N]``.

    Reference: Houlsby et al. (2011), "Bayesian Active Learning for Classification and
    Preference Learning", arXiv:1112.5745, applied label by label.
    """
    check_log_probs(log_probs_N_K_L)
    return map_row_chunks(_bald_rows, log_probs_N_K_L)


def margin(log_probs_N_K_L: Tensor, *, reduction: MarginReduction = "mean") -> Tensor:
    """Margin over labels, **negated**: how close the labels' predictives are to 0.5.

    Each label's margin is the gap between its two outcomes, ``m_l = |p̄_l - (1 - p̄_l)| =
    2 |p̄_l - 0.5|``, in ``[0, 1]`` (the classification margin of ``[1 - p̄_l, p̄_l]``).

    * ``reduction="mean"`` (default): ``s_n = -(1/L) Σ_l m_l``, the average hesitation;
    * ``reduction="min"``: ``s_n = -min_l m_l``, the most uncertain label (Brinker 2006's
      minimum-margin rule).

    Scores lie in ``[-1, 0]``; the minus sign makes the sign rule hold (a small margin means
    a high score). Like the classification margin, they are never positive.

    Shapes: ``log_probs_N_K_L [N, K, L] -> scores_N [N]``.

    Reference: Brinker (2006), "On Active Learning in Multi-label Classification", in From
    Data and Information Analysis to Knowledge Engineering (GfKl 2005), Springer.
    """
    if reduction not in ("mean", "min"):
        raise InvalidInputError(f"margin reduction must be 'mean' or 'min', got {reduction!r}.")
    check_log_probs(log_probs_N_K_L)

    def rows(chunk: Tensor) -> Tensor:
        margins_n_L = _margins_N_L(chunk)
        if reduction == "min":
            return -margins_n_L.min(dim=-1).values
        return -margins_n_L.mean(dim=-1)

    return map_row_chunks(rows, log_probs_N_K_L)


def random(log_probs_N_K_L: Tensor, *, generator: torch.Generator | int) -> Tensor:
    """Uniform random scores, the baseline: ``s_n ~ U[0, 1)`` i.i.d. from ``generator``.

    Only the shape of the input is used (it is validated). An integer seeds a fresh CPU
    generator; the global random state is never read.

    Shapes: ``log_probs_N_K_L [N, K, L] -> scores_N [N]``.
    """
    gen = check_generator(generator, "random")
    check_log_probs(log_probs_N_K_L)
    return uniform_scores(log_probs_N_K_L.shape[0], gen, log_probs_N_K_L)


# ----------------------------------------------------------------------------- metrics


def _labels_and_predictions(
    y_true_n_L: object, y_pred_n_L: object
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    y_true = check_binary(as_float64_array(y_true_n_L, "y_true_n_L"), "y_true_n_L")
    y_pred = check_binary(as_float64_array(y_pred_n_L, "y_pred_n_L"), "y_pred_n_L")
    check_same_shape(y_true, y_pred, "y_true_n_L and y_pred_n_L")
    if y_true.ndim != 2:
        raise InvalidInputError(
            f"multi-label labels must have shape [n, L], got {list(y_true.shape)}."
        )
    return y_true, y_pred


def _f1(
    tp: NDArray[np.float64], fp: NDArray[np.float64], fn: NDArray[np.float64], zero_division: float
) -> NDArray[np.float64]:
    denominator = 2 * tp + fp + fn
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, 2 * tp / safe, zero_division)


def f1_micro(y_true_n_L: object, y_pred_n_L: object, *, zero_division: float = 0.0) -> float:
    """Micro-averaged F1: F1 of the true / false positives and false negatives pooled over
    all items and labels.

    Equation: ``F1 = 2 TP / (2 TP + FP + FN)`` with counts over every ``(i, l)``;
    ``zero_division`` when there is no positive at all (``TP + FP + FN = 0``).

    Args:
        y_true_n_L: labels ``[n, L]`` in {0, 1}.
        y_pred_n_L: predicted labels ``[n, L]`` in {0, 1} (e.g. ``p̄ >= 0.5``).
        zero_division: the value of an undefined F1 (scikit-learn's parameter).

    Returns:
        F1 in ``[0, 1]``; equals ``sklearn.metrics.f1_score(..., average="micro")``.
    """
    y_true, y_pred = _labels_and_predictions(y_true_n_L, y_pred_n_L)
    tp = np.array(float(np.sum(y_true & y_pred)))
    fp = np.array(float(np.sum(~y_true & y_pred)))
    fn = np.array(float(np.sum(y_true & ~y_pred)))
    return float(_f1(tp, fp, fn, zero_division))


def f1_macro(y_true_n_L: object, y_pred_n_L: object, *, zero_division: float = 0.0) -> float:
    """Macro-averaged F1: the unweighted mean over labels of each label's F1.

    Equation: ``(1/L) Σ_l 2 TP_l / (2 TP_l + FP_l + FN_l)``; a label with no true and no
    predicted positive has F1 ``zero_division`` (scikit-learn's convention, default 0).

    Args:
        y_true_n_L: labels ``[n, L]`` in {0, 1}.
        y_pred_n_L: predicted labels ``[n, L]`` in {0, 1}.
        zero_division: the F1 of a label without positives.

    Returns:
        F1 in ``[0, 1]``; equals ``sklearn.metrics.f1_score(..., average="macro")``.
    """
    y_true, y_pred = _labels_and_predictions(y_true_n_L, y_pred_n_L)
    tp = np.sum(y_true & y_pred, axis=0).astype(np.float64)
    fp = np.sum(~y_true & y_pred, axis=0).astype(np.float64)
    fn = np.sum(y_true & ~y_pred, axis=0).astype(np.float64)
    if tp.size == 0:
        return float(zero_division)
    return float(np.mean(_f1(tp, fp, fn, zero_division)))


def average_precision(y_true_n: object, scores_n: object) -> float:
    """Average precision of one label: the area under the precision-recall step curve.

    Equation: with the distinct score values as thresholds, from the highest down,
    ``AP = Σ_t (R_t - R_{t-1}) P_t``, where ``P_t`` and ``R_t`` are the precision and
    recall of predicting positive every item scoring ``>= t`` (tied scores enter
    together; ``R_0 = 0``). NaN when ``y_true_n`` has no positive (recall is undefined).

    Returns:
        AP in ``[0, 1]``; equals ``sklearn.metrics.average_precision_score``.
    """
    y_true = check_binary(as_float64_array(y_true_n, "y_true_n"), "y_true_n")
    scores = as_float64_array(scores_n, "scores_n")
    check_same_shape(y_true, scores, "y_true_n and scores_n")
    if y_true.ndim != 1:
        raise InvalidInputError(f"y_true_n must have shape [n], got {list(y_true.shape)}.")
    positives = int(y_true.sum())
    if positives == 0:
        return math.nan
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    sorted_true = y_true[order].astype(np.float64)
    # The last position of each run of equal scores: a threshold between distinct values.
    last = np.r_[np.flatnonzero(np.diff(sorted_scores) != 0), sorted_scores.size - 1]
    tp = np.cumsum(sorted_true)[last]
    predicted = last + 1.0
    precision = tp / predicted
    recall = tp / positives
    gains = np.diff(np.r_[0.0, recall])
    return float(np.sum(gains * precision))


def mean_average_precision(y_true_n_L: object, scores_n_L: object) -> float:
    """Mean average precision over labels (macro): the mean of :func:`average_precision`
    over the labels that have at least one positive in ``y_true_n_L``.

    Labels without a positive have no defined AP and are left out (scikit-learn instead
    counts them as 0 with a warning); NaN when no label has a positive.

    Args:
        y_true_n_L: labels ``[n, L]`` in {0, 1}.
        scores_n_L: scores ``[n, L]``, higher = more likely on (e.g. ``p̄_l``).

    Returns:
        mAP in ``[0, 1]``; equals ``sklearn.metrics.average_precision_score(...,
        average="macro")`` when every label has a positive.
    """
    y_true = check_binary(as_float64_array(y_true_n_L, "y_true_n_L"), "y_true_n_L")
    scores = as_float64_array(scores_n_L, "scores_n_L")
    check_same_shape(y_true, scores, "y_true_n_L and scores_n_L")
    if y_true.ndim != 2:
        raise InvalidInputError(f"y_true_n_L must have shape [n, L], got {list(y_true.shape)}.")
    values = [
        average_precision(y_true[:, l], scores[:, l])
        for l in range(y_true.shape[1])
        if y_true[:, l].any()
    ]
    return float(np.mean(values)) if values else math.nan


def metrics(
    y_true_n_L: object, log_probs_N_K_L: Tensor, *, threshold: float = 0.5
) -> dict[str, float]:
    """The multi-label metrics of a posterior's predictions on labelled items.

    The prediction is the MC-averaged predictive ``p̄_l`` (:func:`mean_probs`); a label is
    predicted on when ``p̄_l >= threshold``.

    Args:
        y_true_n_L: labels ``[N, L]`` in {0, 1}.
        log_probs_N_K_L: the posterior's Bernoulli log-probabilities ``[N, K, L]``.
        threshold: the decision threshold on ``p̄_l``, in ``[0, 1]``.

    Returns:
        ``{"f1_micro", "f1_macro", "mean_average_precision"}`` (:func:`f1_micro`,
        :func:`f1_macro` of the thresholded predictions, :func:`mean_average_precision`
        of ``p̄``).
    """
    cut = check_fraction(threshold, "threshold", closed_low=True)
    probs_N_L = mean_probs(log_probs_N_K_L).double().cpu().numpy()
    predicted = (probs_N_L >= cut).astype(np.float64)
    return {
        "f1_micro": f1_micro(y_true_n_L, predicted),
        "f1_macro": f1_macro(y_true_n_L, predicted),
        "mean_average_precision": mean_average_precision(y_true_n_L, probs_N_L),
    }
