"""Wine: scikit-learn's bundled wine recognition data (UCI), a small tabular benchmark."""

from __future__ import annotations

import numpy as np
import torch

from bayesal.data._split import stratified_split
from bayesal.data.dataset import Dataset


def load_wine(test_fraction: float = 0.3, seed: int = 0, standardize: bool = True) -> Dataset:
    """Wine as a :class:`Dataset`: float32 inputs ``[N, 13]``, int64 labels in {0, 1, 2}.

    ``sklearn.datasets.load_wine`` (178 wines from three cultivars, 13 chemical
    measurements; bundled with scikit-learn, no download), split by
    ``sklearn.model_selection.train_test_split(test_size=test_fraction,
    stratify=labels, random_state=seed, shuffle=True)``: with the defaults, 124 training
    examples (the pool: 41, 50 and 33 per class) and 54 test examples. Deterministic in
    ``seed``.

    ``standardize`` (default): every feature is shifted and scaled to mean 0 and standard
    deviation 1 with the mean and standard deviation of the *training split only* (the
    raw features range from about 0.1 to 1,680, which an MLP cannot take as they are; the
    test set never informs the scaling). Tree ensembles do not need it and do not mind.
    """
    from sklearn.datasets import load_wine as sklearn_wine  # sklearn takes ~2 s to import

    x, y = sklearn_wine(return_X_y=True)
    x_tr, x_te, y_tr, y_te = stratified_split(x, y, test_fraction, seed)
    if standardize:
        mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    return Dataset(
        name="wine",
        train_x=torch.as_tensor(x_tr, dtype=torch.float32),
        train_y=torch.as_tensor(y_tr, dtype=torch.int64),
        test_x=torch.as_tensor(x_te, dtype=torch.float32),
        test_y=torch.as_tensor(y_te, dtype=torch.int64),
        num_classes=3,
    )
