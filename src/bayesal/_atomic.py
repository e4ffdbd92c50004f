"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file bayesal writes (results, trial records, snapshots, figures, downloaded data)
goes through :func:`atomic_write`: the content is written to a temporary file in the
destination folder, flushed to disk, then renamed over the destination with
``os.replace`` (atomic on POSIX and Windows within one file system). On any failure,
interrupts included, the temporary file is removed and the destination is untouched.
An :class:`OSError` of the operating system (disk full, permission denied) while the
file is written names the destination path, not the temporary one.

A writer killed outright (``kill -9``, a power cut) cannot remove its temporary file:
:func:`remove_stale_temps` deletes such leftovers, by their name pattern
:data:`TEMP_NAME_RE`; call it only where no other process is writing the same files.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Container
from pathlib import Path
from typing import IO, Any

__all__ = [
    "TEMP_NAME_RE",
    "atomic_savefig",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "remove_stale_temps",
]

#: The temporary name of :func:`atomic_write` for a final name ``<name>``:
#: ``.<name>.<12 hex digits>.tmp`` (group ``name``: the final name).
TEMP_NAME_RE = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.tmp$")


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
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # e.g. a read-only file system: keep the original error
            pass
        if isinstance(exc, OSError) and exc.errno is not None and _names_no_file_or(exc, tmp):
            # Name the file the caller asked for: a write or fsync that hit a full disk
            # names no file, an unwritable folder names the temporary one.
            exc.filename, exc.filename2 = str(path), None
        raise
    return path


def _names_no_file_or(exc: OSError, tmp: Path) -> bool:
    name = exc.filename
    return name is None or (
        isinstance(name, str | bytes | os.PathLike) and Path(os.fsdecode(name)) == tmp
    )


def remove_stale_temps(
    folder: str | os.PathLike[str], names: Container[str] | None = None
) -> list[Path]:
    """Delete the temporary files of :func:`atomic_write` left in ``folder`` (not in its
    subfolders) by writers that were killed: those for the final names in ``names``, or
    all of them when ``names`` is None. Other files, and a missing ``folder``, are left
    alone. Returns the paths removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for tmp in sorted(folder.glob(".*.tmp")):
        match = TEMP_NAME_RE.match(tmp.name)
        if match is None or (names is not None and match["name"] not in names):
            continue
        if tmp.is_file() and not tmp.is_symlink():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, line endings as given) to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def atomic_savefig(fig: Any, path: str | os.PathLike[str], **savefig_kwargs: Any) -> Path:
    """Save a matplotlib figure as PNG to ``path`` atomically."""
    return atomic_write(path, lambda fh: fig.savefig(fh, format="png", **savefig_kwargs))
