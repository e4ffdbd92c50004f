"""An exclusive lock on a results directory, shared by the runner and the report.

``fcntl.flock`` on ``DIR/.lock``: the holder writes its pid into the file; the kernel
releases the lock when the holder exits, however it dies. A leaf module: it imports
nothing of bayesal but :mod:`bayesal.errors` and the schema's file name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bayesal.errors import BayesalError
from bayesal.results_schema import LOCK_FILE


class ResultsDirInUseError(BayesalError, RuntimeError):
    """Another process (another ``bayesal run``) holds the results directory's lock."""


def _lock_owner(fd: int) -> str:
    """The pid written in the lock file (the holder writes it just after locking)."""
    for _ in range(20):
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return text
        time.sleep(0.05)
    return "unknown"


@contextmanager
def lock_results_dir(out_dir: str | os.PathLike[str], *, create: bool = True) -> Iterator[Path]:
    """Hold an exclusive lock on the existing directory ``out_dir`` for the body.

    ``fcntl.flock`` on ``out_dir/.lock`` (created if missing, never deleted; the holder
    writes its pid into it). The lock is not waited for: when another process holds it,
    :class:`ResultsDirInUseError` says which. The kernel releases it when its holder
    exits, however it dies, so a killed run leaves no stale lock. Where ``flock`` is
    unavailable (Windows) or unsupported by the file system, the body runs unlocked.
    With ``create=False`` (a reader such as the report) a directory without a lock file
    is not locked: no ``bayesal run`` has worked in it. Yields the lock file's path.
    """
    path = Path(out_dir) / LOCK_FILE
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield path
        return
    if not create and not path.exists():  # no bayesal run ever worked here: nothing to fear
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResultsDirInUseError(
                f"{out_dir} is in use by pid {_lock_owner(fd)} (another bayesal run); wait "
                "for it or use another --out"
            ) from None
        except OSError:  # a file system without flock (some network mounts): run unlocked
            pass
        else:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield path
    finally:
        os.close(fd)
