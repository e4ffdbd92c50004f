"""Fixtures of labelling-session tests: a folder of digit images and its config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bayesal.data.samples import write_digit_images


def write_digits(folder: Path, n: int = 200, labelled_per_class: int = 0) -> np.ndarray:
    """``n`` of scikit-learn's 8x8 digits as PNGs at the top of ``folder`` (unlabelled)
    plus ``labelled_per_class`` per class in class folders; returns the top-level
    images' true labels, in file-name order."""
    return write_digit_images(folder, n, labelled_per_class)


DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def digits_config(folder: Path, **overrides: object) -> dict:
    config = {
        "data": {"kind": "image_folder", "path": str(folder)},
        "labels": DIGIT_NAMES,
        "model": {"name": "mlp", "params": {"hidden": 64}},
        "posterior": {"name": "mc_dropout", "num_samples": 10},
        "strategy": {"name": "bald"},
        "training": {"epochs": 20, "min_steps": 50, "batch_size": 32},
        "queue_size": 20,
        "retrain_every": 5,
        "stop_set_size": 100,
        "stopping": [{"name": "budget", "params": {"max_labels": 40}}],
    }
    config.update(overrides)
    return config


@pytest.fixture
def digits_session_config(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A config file over 200 unlabelled digit images; also their true labels."""
    truth = write_digits(tmp_path / "digits", n=200)
    path = tmp_path / "label_digits.yaml"
    path.write_text(yaml.safe_dump(digits_config(tmp_path / "digits")))
    return path, truth


# --------------------------------------------------------------------------- small sessions
# (added for test_store / test_session / test_exchange / test_session_cli / test_worker)

#: Training small enough that a retrain takes a fraction of a second.
FAST_TRAINING = {"epochs": 2, "min_steps": 5, "batch_size": 32}


def fast_digits_config(folder: Path, **overrides: object) -> dict:
    """:func:`digits_config` with tiny training, stop set and queue."""
    config = digits_config(
        folder,
        training=dict(FAST_TRAINING),
        posterior={"name": "mc_dropout", "num_samples": 4},
        queue_size=10,
        stop_set_size=20,
    )
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def digits_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """60 unlabelled digit images shared by many tests (never modify it); their labels."""
    folder = tmp_path_factory.mktemp("shared-digits") / "digits"
    return folder, write_digits(folder, n=60)


@pytest.fixture
def make_session(tmp_path: Path, digits_folder: tuple[Path, np.ndarray]):
    """``make(name="session", folder=None, **config_overrides)``: a new small session
    under ``tmp_path`` over ``folder`` (default: the shared 60 digits)."""
    from bayesal.session import LabellingSession
    from bayesal.session.config import parse_session_config

    def make(name: str = "session", folder: Path | None = None, **overrides: object):
        raw = fast_digits_config(folder or digits_folder[0], **overrides)
        return LabellingSession.init(tmp_path / name, parse_session_config(raw))

    return make


@pytest.fixture
def write_digits_fn():
    """:func:`write_digits`, for tests that need a digits folder of their own."""
    return write_digits
