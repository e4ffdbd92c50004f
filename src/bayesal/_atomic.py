"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file bayesal writes (results, trial records, snapshots, figures, downloaded data)
goes through :func:`atomic_write`: the content is written to a temporary file in the
destination folder, flushed to disk, then renamed over the destination with
``os.replace`` (atomic on POSIX and Windows within one file system). On any failure,
interrupts included, the temporary file is removed and the destination is untouched.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "atomic_savefig"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(file)`` on a temporary binary file, then move it to ``path``.

    Creates missing parent folders. The temporary name starts with a dot and ends in
    ``.tmp``, so globs for the final names never see it. Returns ``path`` as a Path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # open(..., "xb") rather than mkstemp: the file gets the usual umask permissions.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        with open(tmp, "xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, line endings as given) to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def atomic_savefig(fig: Any, path: str | os.PathLike[str], **savefig_kwargs: Any) -> Path:
    """Save a matplotlib figure as PNG to ``path`` atomically."""
    return atomic_write(path, lambda fh: fig.savefig(fh, format="png", **savefig_kwargs))
