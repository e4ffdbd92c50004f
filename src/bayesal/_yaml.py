"""Strict YAML reading for every YAML file bayesal reads (configs, token files).

PyYAML's ``safe_load`` keeps the *last* of two equal keys in a mapping, so a config
with ``rounds: 3`` and later ``rounds: 2`` silently runs 2 rounds. :func:`load_yaml`
refuses duplicate keys (naming the key and both lines), keeps ``safe_load``'s refusal of
Python tags (``!!python/object``), and turns every parse error, binary content and
undecodable text into one :class:`~bayesal.errors.ConfigError` that names the source.
"""

from __future__ import annotations

from typing import Any

import yaml

from bayesal.errors import ConfigError

__all__ = ["DuplicateKeyError", "load_yaml"]


class DuplicateKeyError(ConfigError):
    """A YAML mapping names the same key twice."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with a repeated key."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: construct_mapping reports it below
            continue
        if first is not None:
            raise DuplicateKeyError(
                f"duplicate key {key!r}: line {first.start_mark.line + 1} and line "
                f"{key_node.start_mark.line + 1} (keep one)"
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def load_yaml(text: str | bytes, source: str) -> Any:
    """Parse ``text`` as YAML (safe types only, no duplicate keys).

    Args:
        text: the document, as text or bytes (bytes must be UTF-8).
        source: what to call it in messages (a path, "the tokens file", ...).

    Raises:
        ConfigError: invalid UTF-8 or binary content, malformed YAML, a Python or other
            unsafe tag, or a repeated key (:class:`DuplicateKeyError`); the message names
            ``source`` and, where YAML knows it, the line.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
    if "\x00" in text:
        raise ConfigError(f"{source}: binary content (a NUL byte), not a YAML text")
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise DuplicateKeyError(f"{source}: {exc}") from None
    except yaml.constructor.ConstructorError as exc:
        where = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark else ""
        raise ConfigError(
            f"{source}: unsupported YAML{where}: {exc.problem}; only plain values, lists "
            "and mappings are read (no !!python tags)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: malformed YAML{where}: {problem}") from None
