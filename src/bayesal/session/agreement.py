"""Agreement between a session's annotators: Cohen's kappa for two, Fleiss' for more.

The items that two or more annotators labelled (the configured ``overlap`` serves a
share of the items to a second annotator) measure how consistent the labelling is.
:func:`annotator_agreement` picks the statistic: with exactly two annotators, both of
whom labelled every such item, Cohen's kappa (Cohen 1960); otherwise Fleiss' kappa
(Fleiss 1971), in its form for a varying number of ratings per item. A multi-label
session gets the mean over classes of each class's yes/no kappa; a regression session
has no kappa (``method`` None). The data's own labels (annotator ``data``) and
reviewers' decisions are not annotations and do not count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayesal.errors import InvalidInputError
from bayesal.stopping import cohen_kappa

__all__ = ["annotator_agreement", "fleiss_kappa"]


def fleiss_kappa(counts_I_C: Sequence[Sequence[int]] | np.ndarray) -> float:
    """Fleiss' kappa of ``I`` items rated into ``C`` categories.

    ``counts_I_C[i, c]`` is how many raters put item ``i`` in category ``c``; item ``i``
    has ``n_i = Σ_c counts[i, c] >= 2`` ratings (``n_i`` may differ between items).
    Equation: ``P_i = Σ_c n_ic (n_ic - 1) / (n_i (n_i - 1))`` (the agreeing pairs of
    ratings of item ``i``), ``P̄ = mean_i P_i``, ``p_c = Σ_i n_ic / Σ_i n_i``,
    ``P̄_e = Σ_c p_c²``, ``kappa = (P̄ - P̄_e) / (1 - P̄_e)``. With the same ``n`` for
    every item this is Fleiss' (1971) statistic exactly. When ``P̄_e = 1`` (every rating
    in one category) the formula is 0/0 and kappa is 1, as :func:`cohen_kappa` does.

    Shapes: ``counts_I_C [I, C]`` non-negative integers -> float.

    Reference: Fleiss (1971), "Measuring nominal scale agreement among many raters",
    Psychological Bulletin 76(5); the worked example (10 items, 14 raters, 5 categories,
    kappa 0.210) is Wikipedia's "Fleiss' kappa" article's, checked in the tests.

    Raises:
        InvalidInputError: not a 2-D array of non-negative integers, no item, or an item
            with fewer than two ratings.
    """
    counts = np.asarray(counts_I_C)
    if counts.ndim != 2 or counts.shape[0] < 1 or counts.shape[1] < 1:
        raise InvalidInputError(f"counts must be [items, categories], got shape {counts.shape}")
    if not np.issubdtype(counts.dtype, np.integer) or (counts < 0).any():
        raise InvalidInputError("counts must be non-negative integers")
    counts = counts.astype(np.float64)
    n_I = counts.sum(1)
    if (n_I < 2).any():
        raise InvalidInputError("every item needs at least two ratings for Fleiss' kappa")
    p_bar = float(np.mean((counts * (counts - 1)).sum(1) / (n_I * (n_I - 1))))
    p_C = counts.sum(0) / n_I.sum()
    p_e = float((p_C**2).sum())
    if p_e >= 1.0 - 1e-12:
        return 1.0
    return (p_bar - p_e) / (1.0 - p_e)


def _kappa(
    by_item: Mapping[int, Mapping[str, int]], num_classes: int
) -> tuple[float, str, list[str]]:
    annotators = sorted({a for votes in by_item.values() for a in votes})
    if len(annotators) == 2 and all(len(v) == 2 for v in by_item.values()):
        first, second = annotators
        a = [votes[first] for votes in by_item.values()]
        b = [votes[second] for votes in by_item.values()]
        return cohen_kappa(np.asarray(a), np.asarray(b), num_classes), "cohen", annotators
    counts = np.zeros((len(by_item), num_classes), dtype=np.int64)
    for row, votes in enumerate(by_item.values()):
        for label in votes.values():
            counts[row, label] += 1
    return fleiss_kappa(counts), "fleiss", annotators


def annotator_agreement(
    annotations: Mapping[int, Mapping[str, int | float]],
    num_classes: int,
    task: str = "classification",
) -> dict[str, Any]:
    """The agreement of the items with two or more annotations.

    Args:
        annotations: ``item_id -> {annotator: label}`` (class index; multi-label: bit
            mask of class indices; regression: the value), without the data's labels and
            reviewers' decisions.
        num_classes: the number of classes (multi-label: of class names).
        task: ``classification``, ``multilabel`` or ``regression``.

    Returns:
        ``{"kappa": float or None, "method": "cohen" | "fleiss" | "cohen (mean over
        classes)" | "fleiss (mean over classes)" | None, "items": int (items with 2+
        annotations), "annotators": [names who labelled them]}``; kappa and method are
        None with no such item, and for regression.
    """
    shared = {i: dict(v) for i, v in annotations.items() if len(v) >= 2}
    out: dict[str, Any] = {
        "kappa": None,
        "method": None,
        "items": len(shared),
        "annotators": sorted({a for v in shared.values() for a in v}),
    }
    if not shared or task == "regression":
        return out
    if task == "multilabel":
        kappas, method = [], ""
        for c in range(num_classes):
            binary = {
                i: {a: int(v) >> c & 1 for a, v in votes.items()} for i, votes in shared.items()
            }
            kappa, method, _ = _kappa(binary, 2)
            kappas.append(kappa)
        out["kappa"] = float(np.mean(kappas))
        out["method"] = f"{method} (mean over classes)"
        return out
    ints = {i: {a: int(v) for a, v in votes.items()} for i, votes in shared.items()}
    out["kappa"], out["method"], _ = _kappa(ints, num_classes)
    return out
