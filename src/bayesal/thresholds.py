"""Accuracy thresholds of a report ("labels to reach t"): parsed and validated once.

A leaf module (it imports only the standard library), shared by the experiment config's
``report: {thresholds: [...]}`` section and by ``bayesal report --thresholds``, so both
accept exactly the same values.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

#: The thresholds of a report when neither the config nor the command line names any:
#: 90% and 95% test accuracy (the MNIST literature's, and every committed report's).
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.90, 0.95)


def threshold_stem(threshold: float) -> str:
    """``0.9 -> "90"``, ``0.975 -> "97.5"``: the percentage as tables name it."""
    return f"{threshold * 100:g}"


def check_thresholds(thresholds: Iterable[object]) -> tuple[float, ...]:
    """The thresholds as a sorted tuple of floats, or ``ValueError`` saying what is wrong.

    Each must be a finite number in (0, 1] (a fraction: 0.9 for 90%); at least one; no
    two equal, and no two so close that they would share a table column (6 significant
    digits of the percentage).
    """
    values: list[float] = []
    for t in thresholds:
        if isinstance(t, bool) or not isinstance(t, numbers.Real):
            raise ValueError(f"accuracy threshold {t!r} is not a number (e.g. 0.9 for 90%)")
        value = float(t)
        if not math.isfinite(value):
            raise ValueError(f"accuracy threshold {t!r} is not a finite number")
        if not 0.0 < value <= 1.0:
            hint = f" (a percentage? give {value / 100:g})" if 10.0 <= value <= 100.0 else ""
            raise ValueError(
                f"accuracy threshold {t!r} must be a fraction in (0, 1], e.g. 0.9 for 90%{hint}"
            )
        values.append(value)
    if not values:
        raise ValueError("give at least one accuracy threshold (e.g. 0.9, 0.95)")
    values.sort()
    stems = [threshold_stem(v) for v in values]
    repeated = sorted({s for s in stems if stems.count(s) > 1}, key=float)
    if repeated:
        raise ValueError(
            f"accuracy thresholds must be distinct; {', '.join(s + '%' for s in repeated)} "
            "given more than once"
        )
    return tuple(values)


def parse_thresholds(text: str) -> tuple[float, ...]:
    """``"0.8,0.9"`` -> ``(0.8, 0.9)`` (comma-separated, spaces allowed), validated as
    :func:`check_thresholds`; ``ValueError`` names the bad item."""
    items = [item.strip() for item in str(text).split(",")]
    values: list[float] = []
    for item in items:
        if not item:
            raise ValueError(f"empty item in {text!r}; give e.g. 0.9,0.95")
        try:
            values.append(float(item))
        except ValueError:
            raise ValueError(f"{item!r} is not a number; give e.g. 0.9,0.95") from None
    return check_thresholds(values)
