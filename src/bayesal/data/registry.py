"""Datasets by name: ``load_dataset("two_moons", n_train=500)``."""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable
from typing import Any

from bayesal.data.dataset import Dataset
from bayesal.data.two_moons import load_two_moons
from bayesal.errors import DataNotFoundError, InvalidInputError

Loader = Callable[..., Dataset]

_MNIST_MODULE = "bayesal.data.mnist"


def _mnist_loader(name: str, function_name: str) -> Loader:
    """A loader that imports ``bayesal.data.mnist`` only when called (it reads big files)."""

    def load(**kwargs: Any) -> Dataset:
        try:
            module = importlib.import_module(_MNIST_MODULE)
        except ModuleNotFoundError as exc:
            raise DataNotFoundError(
                f"{_MNIST_MODULE} is not available in this installation of bayesal"
            ) from exc
        function = getattr(module, function_name)
        _check_params(name, function, kwargs)
        return function(**kwargs)

    load.__name__ = function_name
    return load


_LOADERS: dict[str, Loader] = {"two_moons": load_two_moons}
_LAZY: dict[str, str] = {
    "mnist": "load_mnist",
    "fashion_mnist": "load_fashion_mnist",
    "repeated_mnist": "load_repeated_mnist",
}


def _registry() -> dict[str, Loader]:
    loaders = dict(_LOADERS)
    if importlib.util.find_spec(_MNIST_MODULE) is not None:
        loaders.update({name: _mnist_loader(name, fn) for name, fn in _LAZY.items()})
    return loaders


def available_datasets() -> list[str]:
    """Sorted names accepted by :func:`load_dataset`."""
    return sorted(_registry())


def _check_params(name: str, loader: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    try:
        inspect.signature(loader).bind(**kwargs)
    except TypeError as exc:
        params = [p for p in inspect.signature(loader).parameters if p != "kwargs"]
        raise InvalidInputError(f"dataset {name!r}: {exc}; its parameters are {params}") from None


def load_dataset(name: str, **kwargs: Any) -> Dataset:
    """Load the dataset registered as ``name`` with the loader's keyword arguments.

    Raises InvalidInputError for an unknown name or parameter and DataNotFoundError
    when the data files are not available.
    """
    loaders = _registry()
    if name not in loaders:
        raise InvalidInputError(
            f"unknown dataset {name!r}; available: {', '.join(sorted(loaders))}"
        )
    loader = loaders[name]
    if name in _LOADERS:
        _check_params(name, loader, kwargs)
    return loader(**kwargs)
