"""Resume after ``kill -9``: `bayesal run` killed mid-grid, then run again with the same command.

Finished trials must not be redone (their files keep inode, mtime and bytes) and the
final ``results.csv`` must equal that of an uninterrupted run: byte for byte once the
four wall-clock timing columns are set aside (timings differ between any two runs), and
byte for byte including timings with the table assembled from the kept trial files.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bayesal.experiment import RESULT_COLUMNS, config_from_dict, run_experiment
from bayesal.experiment.results import assemble_results

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux /proc"),
]

# 2 arms x 3 seeds of well under a second each: the kill lands mid-grid.
GRID: dict[str, Any] = {
    "name": "kill_grid",
    "dataset": {"name": "two_moons", "params": {"n_train": 200, "n_test": 100, "seed": 3}},
    "model": {"name": "two_moons_mlp", "params": {"hidden": 16}},
    "posterior": {"name": "mc_dropout", "num_samples": 4},
    "training": {"lr": 0.01, "epochs": 1, "batch_size": 32, "min_steps": 30},
    "strategies": ["random", "bald"],
    "seeds": 3,
    "initial_labels": 4,
    "acquisition_size": 2,
    "rounds": 3,
}
TIMINGS = {"train_seconds", "score_seconds", "select_seconds", "eval_seconds"}


def _command(config_path: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from bayesal.cli import main; main()",
        "run",
        str(config_path),
        "--out",
        str(out),
        "--workers",
        "2",
        "--quiet",
    ]


def _live_group_members(pgid: int) -> list[int]:
    """Processes (zombies excepted) of process group ``pgid``, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # Fields after the ")" that ends the command name: state, ppid, pgrp, ...
        state, _ppid, pgrp = text.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def _without_timings(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    keep = [i for i, name in enumerate(rows[0]) if name not in TIMINGS]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([[r[i] for i in keep] for r in rows])
    return buffer.getvalue()


def test_kill_9_mid_grid_then_same_command_resumes(tmp_path: Path) -> None:
    config_path = tmp_path / "grid.yaml"
    config_path.write_text(yaml.safe_dump(GRID), encoding="utf-8")
    out = tmp_path / "out"
    trials = out / "trials"
    command = _command(config_path, out)

    proc = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while not (trials.is_dir() and any(trials.glob("*.csv"))):
            assert proc.poll() is None, f"run ended before the kill: {proc.stderr.read()!r}"
            assert time.monotonic() < deadline, "no trial file after 120 s"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)  # the runner only: its workers are orphaned
        proc.wait(timeout=10)
        # Orphaned workers notice their parent is gone and stop within about a second.
        deadline = time.monotonic() + 30
        while _live_group_members(proc.pid):
            assert time.monotonic() < deadline, "worker processes outlived the runner"
            time.sleep(0.05)
    finally:
        if _live_group_members(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stderr.close()  # type: ignore[union-attr]

    finished = {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes())
        for p in trials.glob("*.csv")
    }
    total = len(GRID["strategies"]) * GRID["seeds"]
    assert 1 <= len(finished) < total, f"kill came too late: {sorted(finished)} all finished"
    assert not (out / "results.csv").exists()
    for name, (_, _, data) in finished.items():  # every file left behind is a whole trial
        stamp, body = data.decode().split("\n", 1)  # a stamp line, then the CSV
        assert stamp.startswith("# bayesal-trial 1 config="), name
        rows = list(csv.reader(io.StringIO(body)))
        assert tuple(rows[0]) == RESULT_COLUMNS and len(rows) == GRID["rounds"] + 2, name

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr

    for name, (inode, mtime, data) in finished.items():  # not redone, not rewritten
        path = trials / name
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == (inode, mtime), name
        assert path.read_bytes() == data, name
    assert sorted(p.name for p in trials.glob("*.csv")) == sorted(
        f"{label}__seed{seed}.csv" for label in GRID["strategies"] for seed in range(3)
    )
    assert not list(trials.glob(".*.tmp"))  # temp files of killed writers are cleaned up
    results = (out / "results.csv").read_bytes()
    # results.csv is exactly the table of the trial files (kept timings included) ...
    config = config_from_dict(GRID)
    assert assemble_results(out, config.trials()).read_bytes() == results

    # ... and, timings aside, byte-identical to an uninterrupted run.
    reference = tmp_path / "reference"
    run_experiment(config, reference, workers=1, progress=False)
    expected = (reference / "results.csv").read_text(encoding="utf-8")
    assert _without_timings(results.decode("utf-8")) == _without_timings(expected)
