"""What ``bayesal serve`` and ``python -m bayesal.web`` check before the app exists: that
the ``label`` extra is installed, and the annotator tokens file. Nothing here imports
FastAPI, so a missing extra is a one-line error, not a traceback."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from bayesal._yaml import DuplicateKeyError, load_yaml
from bayesal.errors import BayesalError, ConfigError

__all__ = [
    "LABEL_EXTRA_MODULES",
    "MissingExtraError",
    "read_annotator_tokens",
    "require_label_extra",
]

#: The modules of the ``label`` extra the server imports (and python-multipart: its
#: module is ``python_multipart``, or ``multipart`` in older releases).
LABEL_EXTRA_MODULES = ("fastapi", "uvicorn", "starlette", "pydantic")
#: The largest tokens file read (a mapping of a few hundred tokens is a few KiB).
MAX_TOKENS_FILE = 1 * 2**20

_LINES = re.compile(r"line (\d+) and line (\d+)")


class MissingExtraError(BayesalError, ImportError):
    """An optional dependency of the command is not installed; the message says what to
    ``pip install``."""


def require_label_extra() -> None:
    """Import the label extra's modules.

    Raises:
        MissingExtraError: one is missing; the message names it and says
            ``pip install 'bayesal[label]'``.
    """
    missing: str | None = None
    for name in LABEL_EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            missing = exc.name or name
            break
    else:
        if not (_has("python_multipart") or _has("multipart")):
            missing = "python_multipart"
    if missing is not None:
        raise MissingExtraError(
            f"the labelling server needs the 'label' extra (module {missing!r} is not "
            "installed): pip install 'bayesal[label]'"
        )


def _has(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        return False
    return True


def read_annotator_tokens(path: str | Path) -> dict[str, str]:
    """The ``token: annotator name`` mapping of a YAML (or JSON) tokens file, read with
    the strict loader (:func:`bayesal._yaml.load_yaml`: no Python tags, no binary, no
    duplicate keys). The tokens themselves are checked when the app is made
    (:class:`bayesal.web.security.TokenBook`); messages never repeat a token.

    Raises:
        ConfigError: not a readable YAML mapping of strings to strings, or a token
            listed twice (for two annotators, or twice for one).
        OSError: the file cannot be read.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        raw = fh.read(MAX_TOKENS_FILE + 1)
    if len(raw) > MAX_TOKENS_FILE:
        raise ConfigError(f"{path}: over {MAX_TOKENS_FILE // 2**20} MiB: not a tokens file")
    source = f"annotator tokens file {path}"
    try:
        loaded = load_yaml(raw, source)
    except DuplicateKeyError as exc:
        found = _LINES.search(str(exc))
        where = f" (line {found.group(1)} and line {found.group(2)})" if found else ""
        raise ConfigError(
            f"{source}: a token is used twice{where}; give each annotator their own token"
        ) from None
    if not isinstance(loaded, dict) or not loaded:
        raise ConfigError(f"{source}: expected a mapping of token -> annotator name")
    for token, name in loaded.items():
        if not isinstance(token, str) or not isinstance(name, str):
            shown = name if isinstance(name, str) else type(name).__name__
            raise ConfigError(
                f"{source}: the token of {str(shown)[:100]!r} and its annotator name must both "
                "be strings (quote a token that YAML would read as a number)"
            )
    return dict(loaded)
