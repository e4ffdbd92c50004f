"""One line, not a traceback, when a plugin's code raises during a run.

A study may run code that is not bayesal's: the ``plugins`` modules, factories named by
import path (``package.module:factory``), and whatever was registered at run time
(``register_strategy`` and friends). When such code raises an exception that is not a
:class:`~bayesal.errors.BayesalError`, :func:`plugin_errors` turns it into a
:class:`PluginError` (one line at ``bayesal run``, exit status 2) that names the plugin
function, its file and line, the exception, and what was being done (the trial).

An exception raised with no plugin frame on its traceback is left alone: it is a bug of
bayesal (or of a library), and keeps its traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from bayesal.errors import BayesalError, InvalidInputError
from bayesal.registry import get_registry, is_import_path

__all__ = ["PluginError", "plugin_errors", "plugin_modules"]

#: The registries whose run-time entries are plugin code.
_KINDS = ("strategy", "model", "dataset", "posterior", "stopping rule", "encoder")


class PluginError(InvalidInputError):
    """Code of a plugin (not bayesal's) raised while bayesal ran it."""


def _import_path_module(name: object) -> str | None:
    if not isinstance(name, str) or not is_import_path(name):
        return None
    return name.split(":", 1)[0] if ":" in name else name.rsplit(".", 1)[0]


def plugin_modules(config: Any) -> frozenset[str]:
    """The modules whose code is a plugin's in a run of ``config`` (an
    :class:`~bayesal.experiment.config.ExperimentConfig`): its ``plugins``, the modules
    of its import-path names, and those of every factory registered at run time."""
    modules: set[str] = set(getattr(config, "plugins", None) or ())
    names: list[object] = []
    for section in ("dataset", "model", "encoder"):
        part = getattr(config, section, None)
        if part is not None:
            names.append(part.name)
    posterior = getattr(config, "posterior", None)
    if posterior is not None:
        names.append(posterior.name)
    for spec in getattr(config, "strategies", None) or ():
        names.append(spec.name)
        if spec.posterior is not None:
            names.append(spec.posterior.name)
    stopping = getattr(config, "stopping", None)
    for rule in getattr(stopping, "rules", None) or ():
        names.append(rule.name)
    modules.update(m for m in map(_import_path_module, names) if m)
    for kind in _KINDS:
        try:
            entries = get_registry(kind).user_entries()
        except BayesalError:  # a registry not imported in this process
            continue
        for factory in entries.values():
            module = getattr(factory, "__module__", None)
            if isinstance(module, str):
                modules.add(module)
    return frozenset(m for m in modules if m != "bayesal" and not m.startswith("bayesal."))


def _in(module: object, modules: Iterable[str]) -> bool:
    return isinstance(module, str) and any(
        module == m or module.startswith(m + ".") for m in modules
    )


def _plugin_frame(tb: TracebackType | None, modules: frozenset[str]) -> str | None:
    """``module.function (file:line)`` of the deepest traceback frame in plugin code."""
    found = None
    while tb is not None:
        frame = tb.tb_frame
        if _in(frame.f_globals.get("__name__"), modules):
            where = os.path.relpath(frame.f_code.co_filename)
            if where.startswith(".."):
                where = frame.f_code.co_filename
            name = f"{frame.f_globals['__name__']}.{frame.f_code.co_name}"
            found = f"{name} ({where}:{tb.tb_lineno})"
        tb = tb.tb_next
    return found


@contextmanager
def plugin_errors(config: Any, doing: str) -> Iterator[None]:
    """Run the body; an exception from plugin code (see the module docstring) becomes a
    :class:`PluginError` whose message starts with ``doing`` (e.g. ``trial bald seed
    0``) and names the plugin function, file and line."""
    try:
        yield
    except BayesalError:
        raise
    except Exception as exc:
        culprit = _plugin_frame(exc.__traceback__, plugin_modules(config))
        if culprit is None:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise PluginError(
            f"{doing}: plugin code {culprit} raised {type(exc).__name__}"
            f"{': ' + message if message else ''}; fix the plugin and rerun (finished "
            "trials are kept)"
        ) from exc
