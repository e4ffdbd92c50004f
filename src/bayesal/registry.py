"""One registry mechanism for every pluggable kind: strategies, posteriors, datasets, models.

A :class:`Registry` maps names to *factories* (callables that build the thing from keyword
parameters). Every name accepted by a registry may also be an import path
``package.module:factory`` (attribute paths such as ``pkg.mod:Class.build`` work too), so a
user's own code plugs in without registering anything. ``build(name, **params)`` checks
the parameters against the factory's signature first and says which ones it accepts;
an unknown name gets a "did you mean".

Registrations made at run time (in a notebook, a script, a plugin module) live in one
process. :func:`registry_snapshot` collects them from every registry so that the grid
runner can install them in its worker processes (:func:`install_snapshot`); factories
must therefore pickle (module-level functions or classes, not lambdas).

This module is a leaf: it imports nothing else from bayesal but :mod:`bayesal.errors`.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from bayesal.errors import BayesalError, InvalidInputError

T = TypeVar("T")

#: Every registry, by kind ("strategy", "posterior", "dataset", "model").
_REGISTRIES: dict[str, Registry[Any]] = {}


def is_import_path(name: object) -> bool:
    """True for names of the form ``package.module:attribute``."""
    if not isinstance(name, str) or name.count(":") != 1:
        return False
    module, attr = name.split(":")
    return bool(module.strip()) and bool(attr.strip())


def import_object(path: str, what: str = "object") -> Any:
    """The object named by the import path ``package.module:attr[.attr...]``.

    Raises:
        InvalidInputError: a malformed path, a module that cannot be imported (the
            message names the module and the cause), or a missing attribute.
    """
    if not is_import_path(path):
        raise InvalidInputError(
            f"{what} {path!r} is not an import path of the form 'package.module:name'"
        )
    module_name, attr_path = (part.strip() for part in path.split(":"))
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInputError(
            f"{what} {path!r}: cannot import module {module_name!r} ({exc}); is it installed "
            "or on PYTHONPATH?"
        ) from None
    for attr in attr_path.split("."):
        if not hasattr(obj, attr):
            raise InvalidInputError(
                f"{what} {path!r}: {module_name} has no attribute {attr_path!r}"
            )
        obj = getattr(obj, attr)
    return obj


def accepted_parameters(factory: Callable[..., Any]) -> list[str] | None:
    """Names of the keyword parameters ``factory`` accepts; None when it takes ``**kwargs``
    or has no inspectable signature."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    names = []
    for p in signature.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    return names


def check_parameters(
    factory: Callable[..., Any],
    params: Mapping[str, Any],
    what: str,
    *,
    fixed: tuple[str, ...] = (),
) -> None:
    """Raise :class:`InvalidInputError` unless ``factory(*fixed, **params)`` binds.

    ``fixed`` names arguments the caller supplies itself (e.g. ``seed`` for models), which
    a user may not set in ``params``.
    """
    clash = sorted(set(params) & set(fixed))
    if clash:
        raise InvalidInputError(f"{what}: {', '.join(clash)} is set by bayesal, not in params")
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # some builtins have no signature: just call them
        return
    try:
        signature.bind(**{name: None for name in fixed}, **params)
    except TypeError as error:
        accepted = [n for n in accepted_parameters(factory) or [] if n not in fixed]
        listed = f"accepted: {', '.join(accepted) if accepted else 'none'}."
        takes_kwargs = accepted_parameters(factory) is None
        unknown = [] if takes_kwargs else sorted(set(params) - set(accepted))
        if unknown:
            close = [
                f"{m[0]!r} for {u!r}"
                for u in unknown
                if (m := difflib.get_close_matches(u, accepted, n=1))
            ]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise InvalidInputError(
                f"{what} does not accept parameters {unknown}{hint}; {listed}"
            ) from None
        raise InvalidInputError(f"{what}: {error}; {listed}") from None


class Registry(Generic[T]):
    """Names -> factories for one kind of thing.

    Args:
        kind: what the registry holds, in messages ("strategy", "dataset", ...).
        unknown_error: the error type raised for an unknown name (a subclass of
            :class:`~bayesal.errors.BayesalError`).
        describe: how the kind is named in messages (default: ``kind``).
    """

    def __init__(
        self,
        kind: str,
        *,
        unknown_error: type[BayesalError] = InvalidInputError,
        describe: str | None = None,
    ) -> None:
        if kind in _REGISTRIES:
            raise InvalidInputError(f"a registry of kind {kind!r} already exists")
        self.kind = kind
        self.describe = describe or kind
        self._unknown_error = unknown_error
        self._factories: dict[str, Callable[..., T]] = {}
        self._builtin: set[str] = set()
        _REGISTRIES[kind] = self

    def register(
        self, name: str, factory: Callable[..., T] | None = None, *, overwrite: bool = False
    ) -> Any:
        """Register ``factory`` as ``name``; without ``factory``, a decorator that does.

        Raises:
            InvalidInputError: an empty name, a name containing ':' (reserved for import
                paths), a non-callable factory, or a name already registered without
                ``overwrite=True``.
        """
        if factory is None:

            def decorator(f: Callable[..., T]) -> Callable[..., T]:
                self.register(name, f, overwrite=overwrite)
                return f

            return decorator
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(
                f"{self.describe} name must be a non-empty string, got {name!r}."
            )
        if ":" in name:
            raise InvalidInputError(
                f"{self.describe} name {name!r} may not contain ':' (it marks import paths)."
            )
        if not callable(factory):
            raise InvalidInputError(
                f"factory for {self.describe} {name!r} must be callable, "
                f"got {type(factory).__name__}."
            )
        if name in self._factories and not overwrite:
            raise InvalidInputError(
                f"{self.describe} {name!r} is already registered; "
                "pass overwrite=True to replace it."
            )
        self._factories[name] = factory
        self._builtin.discard(name)
        return factory

    def unregister(self, name: str) -> None:
        """Remove ``name``; raises the registry's unknown-name error when it is not there."""
        if name not in self._factories:
            raise self._unknown_error(self.unknown_message(name))
        del self._factories[name]
        self._builtin.discard(name)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._factories

    def mark_builtin(self) -> None:
        """Mark every current entry as built in (not shipped by :func:`registry_snapshot`)."""
        self._builtin = set(self._factories)

    def user_entries(self) -> dict[str, Callable[..., T]]:
        """Entries registered after :meth:`mark_builtin` (or replaced since)."""
        return {n: f for n, f in self._factories.items() if n not in self._builtin}

    def unknown_message(self, name: object) -> str:
        names = self.names()
        suggestion = ""
        if isinstance(name, str):
            close = difflib.get_close_matches(name, names, n=3) or difflib.get_close_matches(
                name.lower(), names, n=3
            )
            if close:
                suggestion = f" Did you mean {' or '.join(repr(c) for c in close)}?"
        return (
            f"unknown {self.describe} {name!r}.{suggestion} Available: {', '.join(names)}; "
            "or give an import path 'package.module:factory'."
        )

    def resolve(self, name: str) -> Callable[..., T]:
        """The factory of a registered name or of an import path ``package.module:factory``."""
        if isinstance(name, str) and name in self._factories:
            return self._factories[name]
        if is_import_path(name):
            factory = import_object(name, self.describe)
            if not callable(factory):
                raise InvalidInputError(
                    f"{self.describe} {name!r} is not callable ({type(factory).__name__})"
                )
            return factory  # type: ignore[no-any-return]
        raise self._unknown_error(self.unknown_message(name))

    def check(self, name: str, params: Mapping[str, Any], *, fixed: tuple[str, ...] = ()) -> None:
        """Check that ``name`` resolves and accepts ``params`` (nothing is built)."""
        check_parameters(self.resolve(name), params, f"{self.kind} {name!r}", fixed=fixed)

    def build(self, name: str, /, **params: Any) -> T:
        """``factory(**params)`` after checking the parameters."""
        factory = self.resolve(name)
        check_parameters(factory, params, f"{self.kind} {name!r}")
        return factory(**params)


def get_registry(kind: str) -> Registry[Any]:
    """The registry of ``kind`` ("strategy", "posterior", "dataset", "model")."""
    if kind not in _REGISTRIES:
        raise InvalidInputError(f"no registry of kind {kind!r}; known: {sorted(_REGISTRIES)}")
    return _REGISTRIES[kind]


def _import_all_registries() -> None:
    # The registries live in their packages; importing them creates and fills them.
    importlib.import_module("bayesal.acquisition")
    importlib.import_module("bayesal.posterior")
    importlib.import_module("bayesal.data")
    importlib.import_module("bayesal.models")
    importlib.import_module("bayesal.stopping")
    importlib.import_module("bayesal.encoders")


def registry_snapshot() -> dict[str, dict[str, Callable[..., Any]]]:
    """The run-time registrations of every registry, ``{kind: {name: factory}}``, to be
    installed in worker processes with :func:`install_snapshot`."""
    _import_all_registries()
    return {kind: reg.user_entries() for kind, reg in _REGISTRIES.items() if reg.user_entries()}


def install_snapshot(snapshot: Mapping[str, Mapping[str, Callable[..., Any]]]) -> None:
    """Register the entries of a :func:`registry_snapshot` here (replacing same names)."""
    _import_all_registries()
    for kind, entries in snapshot.items():
        registry = get_registry(kind)
        for name, factory in entries.items():
            registry.register(name, factory, overwrite=True)
