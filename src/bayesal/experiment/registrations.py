"""Ship the driver's registrations to the processes that run trials.

A strategy, model, dataset or posterior registered at run time (in a notebook, a script,
or a plugin module) exists only in the process that registered it. Before trials start,
the driver collects every such registration (:func:`bayesal.registry.registry_snapshot`:
``{kind: {name: factory}}``, built-ins excluded) and checks that each one the config
uses pickles (one it does not use and that does not pickle is left out); each local
worker process receives it in its initializer and each Ray task with its arguments, and
calls :func:`prepare_worker`, which imports the config's ``plugins`` and installs the
registrations there. Factories are pickled by reference, so they must be module-level
functions or classes of an importable module (or of the script being run).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bayesal.errors import InvalidInputError
from bayesal.experiment.config import ExperimentConfig, import_plugins
from bayesal.registry import install_snapshot, registry_snapshot

#: ``{kind: {name: factory}}``, as :func:`bayesal.registry.registry_snapshot` returns.
Registrations = Mapping[str, Mapping[str, Callable[..., Any]]]


def names_in_config(config: ExperimentConfig) -> dict[str, set[str]]:
    """The registry names ``config`` uses, by kind (``strategy``, ``model``, ...)."""
    posteriors = {config.posterior.name}
    posteriors |= {s.posterior.name for s in config.strategies if s.posterior is not None}
    return {
        "dataset": {config.dataset.name},
        "model": {config.model.name} if config.model is not None else set(),
        "posterior": posteriors,
        "strategy": {s.name for s in config.strategies},
        "encoder": {config.encoder.name} if config.encoder is not None else set(),
    }


def shippable_registrations(
    config: ExperimentConfig | None = None,
) -> dict[str, dict[str, Callable[..., Any]]]:
    """This process's run-time registrations, each checked to pickle.

    A registration that does not pickle is an error when ``config`` uses its name (or
    when no ``config`` is given); otherwise it is left out (a worker cannot need it).

    Raises:
        InvalidInputError: a factory that cannot be sent to another process (a lambda,
            a closure, a class defined inside a function), naming it and what to do.
    """
    used = names_in_config(config) if config is not None else None
    shipped: dict[str, dict[str, Callable[..., Any]]] = {}
    for kind, entries in registry_snapshot().items():
        for name, factory in entries.items():
            try:
                pickle.dumps(factory)
            except Exception as exc:
                if used is not None and name not in used.get(kind, set()):
                    continue
                raise InvalidInputError(
                    f"{kind} {name!r} was registered in this process with a factory that "
                    f"cannot be sent to worker processes ({type(exc).__name__}: {exc}); "
                    "register a module-level function or class instead (a plugin module "
                    "listed in the config's plugins works everywhere), or run with one "
                    "worker (--workers 1)"
                ) from None
            shipped.setdefault(kind, {})[name] = factory
    return shipped


def prepare_worker(plugins: Iterable[str], registrations: Registrations) -> None:
    """In a worker process: import ``plugins``, then install the driver's registrations."""
    import_plugins(plugins)
    install_snapshot(registrations)
