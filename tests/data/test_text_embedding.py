"""A user's embedding model by import path (no downloaded weights: tiny functions here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bayesal.data.text import load_text
from bayesal.data.text_features import fit_text_features
from bayesal.errors import InvalidInputError

CALLS: list[int] = []


def embed(texts: list[str]) -> np.ndarray:
    """A deterministic 'model': length, vowel count and word count of each text."""
    CALLS.append(len(texts))
    return np.array(
        [[len(t), sum(c in "aeiou" for c in t), len(t.split())] for t in texts], dtype=np.float64
    )


def wrong_rows(texts: list[str]) -> np.ndarray:
    return np.zeros((len(texts) + 1, 4))


def flat(texts: list[str]) -> np.ndarray:
    return np.zeros(len(texts))


def broken(texts: list[str]) -> np.ndarray:
    raise RuntimeError("weights not found")


def nan_output(texts: list[str]) -> np.ndarray:
    return np.full((len(texts), 2), np.nan)


def torch_output(texts: list[str]) -> object:
    import torch

    return torch.ones(len(texts), 5)


MODULE = __name__
PLAIN = {"standardize": False}


def test_embedding_model_by_import_path_is_called_in_batches() -> None:
    CALLS.clear()
    texts = [f"text number {i} about apples" for i in range(10)]
    featurizer, x = fit_text_features(
        texts, "embedding", {"model": f"{MODULE}:embed", "batch_size": 4, **PLAIN}
    )
    assert CALLS == [4, 4, 2]
    assert x.dtype == np.float32 and x.shape == (10, 3)
    np.testing.assert_array_equal(x, embed(texts).astype(np.float32))
    np.testing.assert_array_equal(featurizer.transform(["oak"]), [[3, 2, 1]])


def test_embedding_features_are_standardised_by_the_pool_by_default() -> None:
    texts = [f"{'word ' * i}end" for i in range(1, 8)]
    _, x = fit_text_features(texts, "embedding", {"model": f"{MODULE}:embed"})
    assert np.allclose(x.mean(0), 0, atol=1e-5)


def test_a_torch_tensor_output_is_accepted() -> None:
    _, x = fit_text_features(["a", "b"], "embedding", {"model": f"{MODULE}:torch_output", **PLAIN})
    assert x.shape == (2, 5)


def test_a_module_that_cannot_be_imported_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="cannot import module 'no_such_pkg_xyz.models'"):
        fit_text_features(["a", "b"], "embedding", {"model": "no_such_pkg_xyz.models:encode"})
    with pytest.raises(InvalidInputError, match="has no attribute 'missing'"):
        fit_text_features(["a", "b"], "embedding", {"model": f"{MODULE}:missing"})


def test_embedding_needs_an_import_path() -> None:
    with pytest.raises(InvalidInputError, match="need model: an import path"):
        fit_text_features(["a", "b"], "embedding", {"model": "sentence-transformers"})


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("wrong_rows", r"returned shape \[3, 4\] for 2 texts; it must return \[n, D\] = \[2, D\]"),
        ("flat", r"returned shape \[2\] for 2 texts"),
        ("broken", "failed on texts 0..1: RuntimeError: weights not found"),
        ("nan_output", "NaN or infinite"),
    ],
)
def test_bad_embedding_output_is_a_clear_error(function: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        fit_text_features(["a", "b"], "embedding", {"model": f"{MODULE}:{function}"})


def test_text_dataset_with_an_embedding_model(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("text,label\n" + "".join(f"text {'x' * i},{'ab'[i % 2]}\n" for i in range(12)))
    d = load_text(
        path,
        features="embedding",
        feature_params={"model": f"{MODULE}:embed", **PLAIN},
        test_fraction=0.25,
    )
    assert tuple(d.train_x.shape) == (9, 3) and tuple(d.test_x.shape) == (3, 3)
