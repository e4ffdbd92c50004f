"""The stratified train / test split of scikit-learn's bundled datasets (wine, digits)."""

from __future__ import annotations

from typing import Any

from bayesal.errors import InvalidInputError


def stratified_split(x: Any, y: Any, test_fraction: float, seed: int) -> tuple[Any, ...]:
    """``(x_train, x_test, y_train, y_test)`` by ``train_test_split(test_size=
    test_fraction, stratify=y, random_state=seed, shuffle=True)``, after checking both
    arguments (one-line errors)."""
    if not 0 < test_fraction < 1:
        raise InvalidInputError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be an integer >= 0, got {seed!r}")
    from sklearn.model_selection import train_test_split  # sklearn takes ~2 s to import

    try:
        return tuple(
            train_test_split(
                x, y, test_size=test_fraction, stratify=y, random_state=seed, shuffle=True
            )
        )
    except ValueError as exc:  # a split too small for every class on one side
        raise InvalidInputError(f"test_fraction={test_fraction}: {exc}") from None
