"""Background retraining: the labeller never waits on the model.

:class:`RetrainScheduler` (used by the web server after each label) starts
``python -m bayesal.session.worker SESSION`` in a separate process when
``retrain_every`` labels came in since the last round and no retrain runs. That process
uses one CPU thread and a lower priority, so the server keeps answering at full speed
on a small machine; it retrains until no more labels are waiting, then exits. A server
killed meanwhile leaves the worker to finish its round (or die with it: either way the
session stays consistent, since a round is recorded in one transaction).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import traceback
from pathlib import Path

__all__ = ["RetrainScheduler", "main"]


class RetrainScheduler:
    """Start at most one retrain process per session at a time."""

    def __init__(self, directory: str | Path, *, threads: int = 1, nice: int = 10) -> None:
        self.directory = Path(directory)
        self.threads = threads
        self.nice = nice
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.started = 0

    @property
    def running(self) -> bool:
        with self._lock:
            return self._process is not None and self._process.poll() is None

    def start(self, *, once: bool = False) -> bool:
        """Start a retrain process unless one runs; True if one was started. ``once``:
        one round even if fewer than ``retrain_every`` labels wait (an explicit request,
        such as Label Studio's train call); otherwise rounds while labels are due."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return False
            env = dict(os.environ)
            for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                env[var] = str(self.threads)
            log = open(self.directory / "retrain.log", "ab")  # noqa: SIM115  kept by Popen
            try:
                self._process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bayesal.session.worker",
                        str(self.directory),
                        "--threads",
                        str(self.threads),
                        "--nice",
                        str(self.nice),
                    ]
                    + (["--once"] if once else []),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            finally:
                log.close()
            self.started += 1
            return True

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the running retrain (if any); its exit status."""
        with self._lock:
            process = self._process
        return None if process is None else process.wait(timeout)

    def stop(self) -> None:
        """Ask a running retrain to end (it records nothing half-done)."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                self._process.terminate()


def main(argv: list[str] | None = None) -> int:
    """``python -m bayesal.session.worker SESSION``: retrain while labels are waiting."""
    import argparse

    parser = argparse.ArgumentParser(prog="bayesal.session.worker")
    parser.add_argument("session")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--nice", type=int, default=10)
    parser.add_argument("--once", action="store_true", help="one round, even if none is due")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)
    import torch

    torch.set_num_threads(max(1, args.threads))
    from bayesal.session.session import LabellingSession, RetrainBusyError

    session = LabellingSession.open(args.session)
    try:
        if args.once:
            row = session.retrain(wait=False)
            print(f"round {row.round}: {row.n_labels} labels", flush=True)
            return 0
        while session.needs_retrain():
            row = session.retrain(wait=False)
            print(f"round {row.round}: {row.n_labels} labels", flush=True)
    except RetrainBusyError:
        return 0
    except Exception as exc:  # noqa: BLE001  logged; the labels and the last round stand
        # A failed round records nothing (a round is one transaction); the labels are
        # on disk already and the previous queue keeps serving. Said in retrain.log.
        print(
            f"retrain failed: {type(exc).__name__}: {exc}; no round recorded, the labels "
            "are kept and the previous queue is still used",
            flush=True,
        )
        traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
        return 1
    finally:
        session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
