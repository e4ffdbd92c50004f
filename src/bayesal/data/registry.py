"""Datasets by name: ``load_dataset("two_moons", n_train=500)``.

Datasets live in the ``dataset`` registry (:mod:`bayesal.registry`): a loader takes
keyword parameters and returns a :class:`~bayesal.data.dataset.Dataset`. Any name may
also be an import path ``package.module:loader``. The MNIST family is registered with
loaders that import :mod:`bayesal.data.mnist` (which reads big files) only when called.
A user's own files load as ``csv``, ``parquet``, ``npy``, ``image_folder`` and ``text``
(:mod:`bayesal.data.files`, :mod:`bayesal.data.images`, :mod:`bayesal.data.text`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from bayesal.data.dataset import Dataset
from bayesal.data.digits import load_digits
from bayesal.data.files import load_csv, load_npy, load_parquet
from bayesal.data.images import load_image_folder
from bayesal.data.multilabel_digits import load_digits_multilabel
from bayesal.data.regression_tables import load_diabetes, load_friedman1
from bayesal.data.shapes import load_shapes
from bayesal.data.two_moons import load_two_moons
from bayesal.data.wine import load_wine
from bayesal.errors import DataNotFoundError, InvalidInputError
from bayesal.registry import Registry, check_parameters

Loader = Callable[..., Dataset]

_MNIST_MODULE = "bayesal.data.mnist"

#: The dataset registry: ``DATASETS.register("my_data", load_my_data)``.
DATASETS: Registry[Dataset] = Registry("dataset")


class _LazyLoader:
    """A loader that imports its module only when called; a class, so that it pickles."""

    def __init__(self, module: str, function_name: str) -> None:
        self.module, self.function_name = module, function_name

    def target(self) -> Loader:
        try:
            module = importlib.import_module(self.module)
        except ModuleNotFoundError as exc:
            raise DataNotFoundError(
                f"{self.module} is not available in this installation of bayesal"
            ) from exc
        return getattr(module, self.function_name)  # type: ignore[no-any-return]

    def __call__(self, **kwargs: Any) -> Dataset:
        return self.target()(**kwargs)


DATASETS.register("two_moons", load_two_moons)
DATASETS.register("wine", load_wine)
DATASETS.register("digits", load_digits)
DATASETS.register("shapes", load_shapes)  # segmentation: masks [N, H, W]
DATASETS.register("digits_multilabel", load_digits_multilabel)
DATASETS.register("diabetes", load_diabetes)
DATASETS.register("friedman1", load_friedman1)
for _name, _function in {
    "mnist": "load_mnist",
    "fashion_mnist": "load_fashion_mnist",
    "repeated_mnist": "load_repeated_mnist",
}.items():
    DATASETS.register(_name, _LazyLoader(_MNIST_MODULE, _function))
# A user's own files (pandas, pyarrow and Pillow are imported only when a file is read).
DATASETS.register("csv", load_csv)
DATASETS.register("parquet", load_parquet)
DATASETS.register("npy", load_npy)
DATASETS.register("image_folder", load_image_folder)
DATASETS.register("text", _LazyLoader("bayesal.data.text", "load_text"))  # texts -> features
DATASETS.mark_builtin()


def register_dataset(name: str, loader: Loader, *, overwrite: bool = False) -> None:
    """Make ``load_dataset(name, **params)`` return ``loader(**params)``."""
    DATASETS.register(name, loader, overwrite=overwrite)


def available_datasets() -> list[str]:
    """Sorted names accepted by :func:`load_dataset`."""
    return DATASETS.names()


def dataset_loader(name: str) -> Loader:
    """The loader function of ``name`` (lazy loaders are imported)."""
    loader = DATASETS.resolve(name)
    return loader.target() if isinstance(loader, _LazyLoader) else loader


def check_dataset(name: str, params: dict[str, Any]) -> None:
    """Raise InvalidInputError unless ``name`` exists and accepts ``params`` (loads nothing)."""
    loader = dataset_loader(name)
    try:
        check_parameters(loader, params, f"dataset {name!r}")
    except InvalidInputError as exc:
        raise InvalidInputError(str(exc).replace("accepted:", "its parameters are")) from None


def load_dataset(name: str, **kwargs: Any) -> Dataset:
    """Load the dataset registered as ``name`` (or at an import path) with the loader's
    keyword arguments.

    Raises InvalidInputError for an unknown name or parameter and DataNotFoundError
    when the data files are not available.
    """
    check_dataset(name, kwargs)
    dataset = dataset_loader(name)(**kwargs)
    if not isinstance(dataset, Dataset):
        raise InvalidInputError(
            f"dataset {name!r} returned {type(dataset).__name__}, not a bayesal.data.Dataset"
        )
    return dataset
