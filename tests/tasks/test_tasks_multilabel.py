"""Multi-label scores against brute force, their bounds and invariances, and the metrics
against scikit-learn."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, f1_score

from bayesal.acquisition import _chunks
from bayesal.acquisition import bald as classification_bald
from bayesal.acquisition import entropy as classification_entropy
from bayesal.acquisition import margin as classification_margin
from bayesal.errors import InvalidInputError
from bayesal.tasks import multilabel

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def bernoulli_log_probs(draw, min_n: int = 0, max_l: int = 4) -> torch.Tensor:
    """Valid float64 ``[N, K, L]`` log p(y_l = 1), sometimes with exact 0 and 1."""
    N = draw(st.integers(min_n, 5))
    K = draw(st.integers(1, 5))
    L = draw(st.integers(1, max_l))
    scale = draw(st.sampled_from([0.01, 1.0, 5.0, 30.0]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    log_p = torch.nn.functional.logsigmoid(
        scale * torch.randn(N, K, L, generator=g, dtype=torch.float64)
    )
    if draw(st.booleans()):  # some certain labels: p = 0 (log p = -inf) or p = 1 (log p = 0)
        u = torch.rand(N, K, L, generator=g)
        log_p = log_p.masked_fill(u < 0.15, -math.inf).masked_fill(u > 0.85, 0.0)
    return log_p


# Brute-force references: explicit loops in plain Python, written independently.


def _h(p: float) -> float:
    return -sum(x * math.log(x) for x in (p, 1.0 - p) if x > 0)


def _ref(log_p: torch.Tensor) -> dict[str, list[float]]:
    N, K, L = log_p.shape
    out: dict[str, list[float]] = {"entropy": [], "bald": [], "margin_mean": [], "margin_min": []}
    for n in range(N):
        entropy = bald = 0.0
        margins = []
        for l in range(L):
            ps = [math.exp(float(log_p[n, k, l])) for k in range(K)]
            p_mean = sum(ps) / K
            entropy += _h(p_mean)
            bald += _h(p_mean) - sum(_h(p) for p in ps) / K
            margins.append(abs(p_mean - (1 - p_mean)))
        out["entropy"].append(entropy)
        out["bald"].append(bald)
        out["margin_mean"].append(-sum(margins) / L)
        out["margin_min"].append(-min(margins))
    return out


def _joint_information(log_p: torch.Tensor, n: int) -> tuple[float, float]:
    """(H of the joint predictive, I[y_1..L; θ]) of item n by enumerating the 2^L label
    vectors, labels independent given θ."""
    _, K, L = log_p.shape
    p = log_p[n].exp().tolist()
    joint_entropy = 0.0
    for y in itertools.product((0, 1), repeat=L):
        prob = (
            sum(math.prod(p[k][l] if y[l] else 1 - p[k][l] for l in range(L)) for k in range(K)) / K
        )
        if prob > 0:
            joint_entropy -= prob * math.log(prob)
    expected = sum(_h(p[k][l]) for k in range(K) for l in range(L)) / K
    return joint_entropy, joint_entropy - expected


@SETTINGS
@given(bernoulli_log_probs())
def test_scores_match_brute_force(log_p: torch.Tensor) -> None:
    ref = _ref(log_p)
    assert multilabel.entropy(log_p).tolist() == pytest.approx(ref["entropy"], abs=1e-10)
    assert multilabel.bald(log_p).tolist() == pytest.approx(ref["bald"], abs=1e-10)
    assert multilabel.margin(log_p).tolist() == pytest.approx(ref["margin_mean"], abs=1e-12)
    assert multilabel.margin(log_p, reduction="min").tolist() == pytest.approx(
        ref["margin_min"], abs=1e-12
    )
    mean = [
        [
            sum(math.exp(float(x)) for x in log_p[n, :, l]) / log_p.shape[1]
            for l in range(log_p.shape[2])
        ]
        for n in range(log_p.shape[0])
    ]
    assert multilabel.mean_probs(log_p).tolist() == [pytest.approx(row) for row in mean]


@SETTINGS
@given(bernoulli_log_probs())
def test_bounds(log_p: torch.Tensor) -> None:
    L = log_p.shape[2]
    entropy, bald = multilabel.entropy(log_p), multilabel.bald(log_p)
    assert (bald >= 0).all() and (bald <= entropy + 1e-12).all()
    assert (entropy <= L * math.log(2) + 1e-12).all()
    for reduction in ("mean", "min"):
        margin = multilabel.margin(log_p, reduction=reduction)
        assert (margin <= 0).all() and (margin >= -1).all()


@SETTINGS
@given(bernoulli_log_probs(min_n=1, max_l=3))
def test_summed_scores_bound_the_joint_information(log_p: torch.Tensor) -> None:
    # Independence across labels: the sums bound the joint entropy and mutual information.
    entropy, bald = multilabel.entropy(log_p), multilabel.bald(log_p)
    for n in range(log_p.shape[0]):
        joint_entropy, joint_information = _joint_information(log_p, n)
        assert -1e-10 <= joint_information <= float(bald[n]) + 1e-10
        assert joint_entropy <= float(entropy[n]) + 1e-10


def test_independent_labels_under_the_predictive_make_the_sum_exact() -> None:
    # Only label 0 varies with θ; label 1 is the same in every sample: joint I = summed BALD.
    log_p = torch.tensor([[[0.1, 0.3], [0.8, 0.3], [0.5, 0.3]]], dtype=torch.float64).log()
    _, joint_information = _joint_information(log_p, 0)
    assert float(multilabel.bald(log_p)[0]) == pytest.approx(joint_information, abs=1e-12)


@SETTINGS
@given(bernoulli_log_probs(min_n=1, max_l=1))
def test_one_label_is_two_class_classification(log_p: torch.Tensor) -> None:
    two_class = torch.stack([multilabel._log1mexp(log_p[..., 0]), log_p[..., 0]], dim=-1)
    assert torch.allclose(multilabel.entropy(log_p), classification_entropy(two_class), atol=1e-12)
    assert torch.allclose(multilabel.bald(log_p), classification_bald(two_class), atol=1e-12)
    assert torch.allclose(multilabel.margin(log_p), classification_margin(two_class), atol=1e-12)


@SETTINGS
@given(bernoulli_log_probs(min_n=1), st.integers(0, 2**31 - 1))
def test_permutation_invariance(log_p: torch.Tensor, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    N, K, L = log_p.shape
    items, samples, labels = (torch.randperm(m, generator=g) for m in (N, K, L))
    for fn in (multilabel.entropy, multilabel.bald, multilabel.margin):
        scores = fn(log_p)
        assert torch.allclose(fn(log_p[items]), scores[items], atol=1e-12)
        assert torch.allclose(fn(log_p[:, samples]), scores, atol=1e-12)
        assert torch.allclose(fn(log_p[:, :, labels]), scores, atol=1e-12)


@SETTINGS
@given(bernoulli_log_probs(), st.integers(1, 4))
def test_one_sample_or_identical_samples_give_zero_bald(log_p: torch.Tensor, copies: int) -> None:
    one = log_p[:, :1]
    assert torch.equal(multilabel.bald(one), torch.zeros(log_p.shape[0], dtype=torch.float64))
    repeated = one.expand(-1, copies, -1)
    assert torch.allclose(
        multilabel.bald(repeated), torch.zeros(log_p.shape[0]).double(), atol=1e-12
    )
    assert torch.allclose(multilabel.entropy(repeated), multilabel.entropy(one), atol=1e-12)


def test_by_hand() -> None:
    # Two samples disagree completely on label 0 (p = 1 and p = 0); label 1 is 0.5 in both.
    log_p = torch.tensor([[[1.0, 0.5], [0.0, 0.5]]], dtype=torch.float64).log()
    assert multilabel.entropy(log_p).tolist() == pytest.approx([2 * math.log(2)])
    assert multilabel.bald(log_p).tolist() == pytest.approx([math.log(2)])
    assert multilabel.margin(log_p).tolist() == pytest.approx([0.0])
    certain = torch.tensor([[[0.0, -math.inf]]], dtype=torch.float64)
    assert multilabel.entropy(certain).tolist() == [0.0]
    assert multilabel.margin(certain).tolist() == [-1.0]
    # p̄ = [0.9, 0.6]: margins 0.8 and 0.2
    skewed = torch.tensor([[[0.9, 0.6]]], dtype=torch.float64).log()
    assert multilabel.margin(skewed).tolist() == pytest.approx([-0.5])
    assert multilabel.margin(skewed, reduction="min").tolist() == pytest.approx([-0.2])


def test_tails_stay_accurate() -> None:
    # p = 1 - 1e-20 and p = e^-800: neither 1 - p nor p may round to 0 in the entropy.
    log_p = torch.tensor([[[-1e-20]], [[-800.0]]], dtype=torch.float64)
    scores = multilabel.entropy(log_p)
    expected_first = 1e-20 * (1 - math.log(1e-20))  # h(p) ~ q (1 - log q) for small q
    assert float(scores[0]) == pytest.approx(expected_first, rel=1e-6)
    assert float(scores[1]) == pytest.approx(math.exp(-800) * 801, rel=1e-6)


def test_half_precision_is_scored_in_float32() -> None:
    log_p = torch.nn.functional.logsigmoid(torch.randn(4, 3, 2)).half()
    for fn in (multilabel.entropy, multilabel.bald, multilabel.margin):
        assert fn(log_p).dtype == torch.float32
        assert torch.allclose(fn(log_p), fn(log_p.float()), atol=1e-6)


def test_random_is_reproducible_and_needs_a_generator() -> None:
    log_p = torch.full((6, 2, 3), -0.5)
    a = multilabel.random(log_p, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, multilabel.random(log_p, generator=4))
    assert a.shape == (6,) and ((a >= 0) & (a < 1)).all()
    with pytest.raises(InvalidInputError, match="explicit torch.Generator"):
        multilabel.random(log_p, generator=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.zeros((2, 2, 2)), "torch.Tensor"),
        (torch.zeros(2, 2, dtype=torch.float64), "shape \\[N, K, L\\]"),
        (torch.zeros(2, 2, 2, dtype=torch.int64), "floating-point"),
        (torch.full((2, 2, 2), math.nan), "NaN"),
        (torch.zeros(2, 0, 2), "at least one parameter sample"),
        (torch.full((2, 2, 2), 0.5), "logsigmoid"),
    ],
)
def test_malformed_input_raises(value: object, match: str) -> None:
    for fn in (multilabel.entropy, multilabel.bald, multilabel.margin):
        with pytest.raises(InvalidInputError, match=match):
            fn(value)  # type: ignore[arg-type]


def test_empty_pool_and_unknown_reduction() -> None:
    empty = torch.zeros(0, 3, 2)
    assert multilabel.bald(empty).shape == (0,)
    with pytest.raises(InvalidInputError, match="'mean' or 'min'"):
        multilabel.margin(empty, reduction="max")  # type: ignore[arg-type]


def test_chunked_scoring_gives_the_bits_of_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(0)
    log_p = torch.nn.functional.logsigmoid(torch.randn(200, 5, 4, generator=g))
    functions = (multilabel.entropy, multilabel.bald, multilabel.margin)
    one_pass = [fn(log_p) for fn in functions]
    monkeypatch.setattr(_chunks, "CHUNK_ELEMENTS", 200)  # 10 rows a chunk
    assert len(_chunks.row_chunks(log_p)) > 5
    for fn, expected in zip(functions, one_pass, strict=True):
        assert torch.equal(fn(log_p), expected)


# ------------------------------------------------------------------------------- metrics


def _labels(seed: int, n: int = 40, L: int = 5, empty_column: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, L)) < 0.3).astype(np.float64)
    if empty_column:
        y[:, 1] = 0
    return y


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_f1_matches_sklearn(seed: int, zero_division: float) -> None:
    y_true = _labels(seed, empty_column=seed % 2 == 0)
    rng = np.random.default_rng(100 + seed)
    y_pred = (rng.random(y_true.shape) < 0.3).astype(np.float64)
    if seed % 3 == 0:
        y_pred[:, 1] = 0  # a label neither true nor predicted anywhere (when empty_column)
    for average, fn in (("micro", multilabel.f1_micro), ("macro", multilabel.f1_macro)):
        expected = f1_score(y_true, y_pred, average=average, zero_division=zero_division)
        assert fn(y_true, y_pred, zero_division=zero_division) == pytest.approx(expected)


def test_f1_without_any_positive_is_zero_division() -> None:
    zeros = np.zeros((3, 2))
    assert multilabel.f1_micro(zeros, zeros) == 0.0
    assert multilabel.f1_micro(zeros, zeros, zero_division=1.0) == 1.0
    assert multilabel.f1_macro(zeros, zeros, zero_division=1.0) == 1.0


@pytest.mark.parametrize("seed", range(6))
def test_average_precision_matches_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = (rng.random(30) < 0.4).astype(np.float64)
    y_true[0] = 1
    scores = np.round(rng.random(30), 1)  # many ties
    expected = average_precision_score(y_true, scores)
    assert multilabel.average_precision(y_true, scores) == pytest.approx(expected)
    assert multilabel.average_precision(torch.tensor(y_true), torch.tensor(scores)) == (
        pytest.approx(expected)
    )


@pytest.mark.parametrize("seed", range(4))
def test_mean_average_precision_matches_sklearn(seed: int) -> None:
    y_true = _labels(seed)
    y_true[0] = 1  # every label has a positive
    scores = np.random.default_rng(seed + 50).random(y_true.shape)
    expected = average_precision_score(y_true, scores, average="macro")
    assert multilabel.mean_average_precision(y_true, scores) == pytest.approx(expected)
    # A label without a positive is left out, not counted as 0.
    y_true[:, 2] = 0
    kept = [0, 1, 3, 4]
    expected = average_precision_score(y_true[:, kept], scores[:, kept], average="macro")
    assert multilabel.mean_average_precision(y_true, scores) == pytest.approx(expected)
    assert math.isnan(multilabel.average_precision(y_true[:, 2], scores[:, 2]))
    assert math.isnan(multilabel.mean_average_precision(np.zeros((3, 2)), np.ones((3, 2))))


def test_metrics_threshold_the_mean_predictive() -> None:
    # p̄ per label: item 0 [0.7, 0.2], item 1 [0.4, 0.9]
    probs = torch.tensor([[[0.9, 0.1], [0.5, 0.3]], [[0.3, 0.8], [0.5, 1.0]]], dtype=torch.float64)
    y_true = np.array([[1, 0], [0, 1]])
    result = multilabel.metrics(y_true, probs.log())
    assert result == {"f1_micro": 1.0, "f1_macro": 1.0, "mean_average_precision": 1.0}
    lowered = multilabel.metrics(y_true, probs.log(), threshold=0.3)
    predicted = np.array([[1, 0], [1, 1]])
    assert lowered["f1_micro"] == pytest.approx(f1_score(y_true, predicted, average="micro"))
    assert lowered["f1_macro"] == pytest.approx(f1_score(y_true, predicted, average="macro"))


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        (np.array([[0, 2]]), np.array([[0, 1]]), "0 / 1 labels"),
        (np.zeros((2, 3)), np.zeros((2, 2)), "same shape"),
        (np.zeros(3), np.zeros(3), "\\[n, L\\]"),
        (np.array([[0.0, math.nan]]), np.zeros((1, 2)), "NaN"),
    ],
)
def test_metric_inputs_are_checked(y_true: np.ndarray, y_pred: np.ndarray, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        multilabel.f1_micro(y_true, y_pred)
