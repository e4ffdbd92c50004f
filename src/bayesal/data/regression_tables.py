"""Regression datasets (``task: regression``): scikit-learn's diabetes table and
Friedman's benchmark function #1, features and targets standardised on the train split."""

from __future__ import annotations

import numpy as np
import torch

from bayesal.data.task_dataset import REGRESSION_WIDTH, TaskDataset
from bayesal.errors import InvalidInputError


def _split_standardise(
    name: str, x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int
) -> TaskDataset:
    """A random (unstratified) ``train_test_split(test_size=test_fraction,
    random_state=seed)``; then every feature and the target shifted and scaled to mean 0
    and standard deviation 1 with the statistics of the *train split only*."""
    if not 0 < test_fraction < 1:
        raise InvalidInputError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be an integer >= 0, got {seed!r}")
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, shuffle=True
    )
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    y_mean, y_std = float(y_tr.mean()), float(y_tr.std()) or 1.0
    y_tr, y_te = (y_tr - y_mean) / y_std, (y_te - y_mean) / y_std
    return TaskDataset(
        name=name,
        train_x=torch.as_tensor(x_tr, dtype=torch.float32),
        train_y=torch.as_tensor(y_tr, dtype=torch.float32),
        test_x=torch.as_tensor(x_te, dtype=torch.float32),
        test_y=torch.as_tensor(y_te, dtype=torch.float32),
        num_classes=REGRESSION_WIDTH,
        task="regression",
    )


def load_diabetes(test_fraction: float = 0.3, seed: int = 0) -> TaskDataset:
    """scikit-learn's diabetes table as a regression
    :class:`~bayesal.data.task_dataset.TaskDataset`: 442 patients, 10 baseline features
    (age, sex, BMI, blood pressure, six serum measurements), the target a measure of
    disease progression one year later (bundled with scikit-learn, no download). Split at
    random by ``train_test_split(test_size=test_fraction, random_state=seed)``: with the
    defaults 309 pool rows and 133 test rows. Features and target standardised on the
    train split (an RMSE of 1 is the train split's standard deviation: a constant
    prediction scores about 1). Deterministic in ``seed``.
    """
    from sklearn.datasets import load_diabetes as sklearn_diabetes

    x, y = sklearn_diabetes(return_X_y=True)
    return _split_standardise("diabetes", x, y, test_fraction, seed)


def load_friedman1(
    n_samples: int = 1000,
    n_features: int = 10,
    noise: float = 1.0,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> TaskDataset:
    """``sklearn.datasets.make_friedman1(n_samples, n_features, noise,
    random_state=seed)`` as a regression :class:`~bayesal.data.task_dataset.TaskDataset`:
    inputs uniform on ``[0, 1]^n_features``, ``y = 10 sin(π x_1 x_2) + 20 (x_3 - 0.5)² +
    10 x_4 + 5 x_5 + noise · N(0, 1)`` (the other features are irrelevant). With the
    defaults, 1,000 rows and 10 features (5 of them noise), split at random into 700 pool
    rows and 300 test rows by ``train_test_split(test_size=test_fraction,
    random_state=seed)``; features and target standardised on the train split (the target's
    standard deviation is about 5, so the noise floor of the RMSE is about 0.2).
    Deterministic in ``seed``.
    """
    for what, value, low in (("n_samples", n_samples, 10), ("n_features", n_features, 5)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInputError(f"{what} must be an integer >= {low}, got {value!r}")
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0:
        raise InvalidInputError(f"noise must be a number >= 0, got {noise!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be an integer >= 0, got {seed!r}")
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(
        n_samples=n_samples, n_features=n_features, noise=float(noise), random_state=seed
    )
    return _split_standardise("friedman1", x, y, test_fraction, seed)
