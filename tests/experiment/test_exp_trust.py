"""Results you can trust: a results directory cannot silently mix, lose or truncate trials.

Every trial file carries a stamp (the digest of what it was computed from, the number of
round rows, a checksum of its text) and is checked on its own when a run resumes; a run
holds an exclusive lock on its directory; ``results.csv`` is assembled from every valid
trial file of the directory's grid. Each test here fails on the runner before stamps,
checks and the lock existed.
"""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import bayesal.experiment.runner as runner
from bayesal.cli import main
from bayesal.errors import DataNotFoundError
from bayesal.experiment import config_from_dict, load_config, run_experiment, trial_path
from bayesal.report import load_results

ROOT = Path(__file__).resolve().parents[2]

BASE: dict[str, Any] = {
    "name": "trust",
    "dataset": {"name": "two_moons", "params": {"n_train": 60, "n_test": 40, "seed": 1}},
    "model": {"name": "two_moons_mlp", "params": {"hidden": 16}},
    "posterior": {"name": "mc_dropout", "num_samples": 4},
    "training": {"lr": 0.01, "epochs": 1, "batch_size": 32, "min_steps": 15},
    "strategies": ["random", "bald"],
    "seeds": 2,
    "initial_labels": 4,
    "acquisition_size": 2,
    "rounds": 2,
}
TIMINGS = {"train_seconds", "score_seconds", "select_seconds", "eval_seconds"}
STAMP_RE = re.compile(
    r"^# bayesal-trial 1 config=(?P<config>[0-9a-f]{64}) version=(?P<version>\S+) "
    r"rows=(?P<rows>\d+) sha256=(?P<sha256>[0-9a-f]{64})$"
)

# Holds OUT/.lock the way a bayesal run does (flock, its pid in the file), without
# importing bayesal, and says so on stdout.
HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, f"{os.getpid()}\\n".encode())
print("locked", flush=True)
time.sleep(300)
"""


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _no_times(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in TIMINGS} for row in rows]


def _trials(out: Path) -> list[tuple[str, int]]:
    return sorted({(r["strategy"], int(r["seed"])) for r in _rows(out / "results.csv")})


def _not_counted(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "not counted" in str(w.message)]


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []
    real = runner.run_trial

    def spy(config: Any, out_dir: Any, label: str, seed: int, **kw: Any) -> Path:
        calls.append((label, seed))
        return real(config, out_dir, label, seed, **kw)

    monkeypatch.setattr(runner, "run_trial", spy)
    return calls


def _unstamped(path: Path) -> None:
    """Rewrite a trial file as an older bayesal wrote it: no stamp line."""
    text = path.read_text()
    if text.startswith("#"):
        path.write_text(text.split("\n", 1)[1])


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("base") / "out"
    run_experiment(config_from_dict(BASE), out, workers=1, progress=False)
    return out


@pytest.fixture
def out(base: Path, tmp_path: Path) -> Path:
    """A copy of the base run's directory."""
    copy = tmp_path / "out"
    shutil.copytree(base, copy)
    return copy


# ------------------------------------------------------------------- 1. the trial stamp


def test_a_trial_file_is_stamped_with_its_config_rows_and_checksum(base: Path) -> None:
    from bayesal.experiment.trial import trial_digest

    resolved = yaml.safe_load((base / "config.resolved.yaml").read_text())
    digests = set()
    for label, seed in config_from_dict(BASE).trials():
        text = trial_path(base, label, seed).read_text()
        stamp, body = text.split("\n", 1)
        match = STAMP_RE.match(stamp)
        assert match, stamp
        assert match["config"] == trial_digest(resolved, label, seed)
        assert int(match["rows"]) == BASE["rounds"] + 1 == len(body.splitlines()) - 1
        assert match["sha256"] == hashlib.sha256(body.encode()).hexdigest()
        digests.add(match["config"])
    assert len(digests) == 4  # arm and seed are part of what a trial is computed from
    # results.csv is unchanged: the column header first, no stamp lines.
    text = (base / "results.csv").read_text()
    assert text.startswith("strategy,seed,round,") and "# bayesal-trial" not in text


@pytest.mark.parametrize("damage", ["deleted", "corrupted"])
def test_lost_resolved_config_and_other_settings_reject_the_old_trials(
    out: Path, damage: str
) -> None:
    # The case: config.resolved.yaml gone or garbage, then other settings.
    resolved = out / "config.resolved.yaml"
    if damage == "deleted":
        resolved.unlink()
    else:
        resolved.write_text("garbage: [\n")
    old = {p.name: p.read_bytes() for p in (out / "trials").glob("*.csv")}
    other = config_from_dict({**BASE, "seeds": 3, "rounds": 3})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_experiment(other, out, workers=1, progress=False)
    rejected = _not_counted(caught)
    assert len(rejected) == len(old) == 4
    for name in old:
        message = next(m for m in rejected if name in m)
        assert "computed from another config" in message and "recomputed" in message
        (aside,) = (out / "trials").glob(f"{name}.rejected-*")  # kept, out of the way
        assert aside.read_bytes() == old[name]
    df = load_results(out)  # a whole grid: every strategy x seed, every round
    assert sorted(set(zip(df["strategy"], df["seed"], strict=True))) == [
        (label, seed) for label in ("bald", "random") for seed in (0, 1, 2)
    ]
    assert set(df.groupby(["strategy", "seed"])["round"].max()) == {3}
    assert yaml.safe_load(resolved.read_text())["rounds"] == 3


def test_unstamped_trials_count_only_beside_a_readable_agreeing_resolved_config(
    base: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trial files an older bayesal wrote (no stamp), as in benchmarks/results/.
    for path in (out / "trials").glob("*.csv"):
        _unstamped(path)
    calls = _spy(monkeypatch)
    run_experiment(config_from_dict(BASE), out, workers=1, progress=False)
    assert calls == []  # the resolved config agrees: kept
    assert (out / "results.csv").read_bytes() == (base / "results.csv").read_bytes()

    (out / "config.resolved.yaml").write_text("garbage: [\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_experiment(config_from_dict(BASE), out, workers=1, progress=False)
    messages = [str(w.message) for w in caught]
    assert any("config.resolved.yaml is unreadable (not valid YAML" in m for m in messages)
    assert sum("has no stamp" in m for m in _not_counted(caught)) == 4
    assert sorted(calls) == sorted(config_from_dict(BASE).trials())  # all recomputed
    assert _no_times(_rows(out / "results.csv")) == _no_times(_rows(base / "results.csv"))


def _cut_at_line_boundary(text: str) -> str:
    return "".join(text.splitlines(keepends=True)[:-1])  # `head -n -1`


def _cut_inside_last_field(text: str) -> str:
    # Drop the last round's row, then cut the acquired ids of the row before: "129 927"
    # becomes "129 9" and the file ends there.
    kept = _cut_at_line_boundary(text).rstrip("\n")
    return kept[:-2]


def _edit_an_id(text: str) -> str:
    lines = text.splitlines(keepends=True)
    row = lines[-3]  # round 0 of 2: "...,<ids>\n"
    digit = row[-2]
    lines[-3] = row[:-2] + str((int(digit) + 1) % 10) + "\n"
    return "".join(lines)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (_cut_at_line_boundary, "holds 2 round rows; the config needs 3"),
        (_cut_inside_last_field, "does not end with a newline"),
        (_edit_an_id, "do not match the checksum"),
    ],
    ids=["line-boundary", "inside-last-field", "edited-id"],
)
def test_a_damaged_trial_file_is_rejected_and_recomputed(
    base: Path, out: Path, monkeypatch: pytest.MonkeyPatch, damage: Any, reason: str
) -> None:
    path = trial_path(out, "bald", 0)
    damaged = damage(path.read_text())
    path.write_text(damaged)
    calls = _spy(monkeypatch)
    with pytest.warns(UserWarning, match="not counted") as caught:
        run_experiment(config_from_dict(BASE), out, workers=1, progress=False)
    (message,) = _not_counted(list(caught))
    assert str(path) in message and reason in message
    assert calls == [("bald", 0)]
    (aside,) = (out / "trials").glob("bald__seed0.csv.rejected-*")
    assert aside.read_text() == damaged
    assert _no_times(_rows(out / "results.csv")) == _no_times(_rows(base / "results.csv"))


def test_an_unstamped_trial_cut_at_a_line_boundary_is_rejected(
    base: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = trial_path(out, "random", 1)
    _unstamped(path)
    path.write_text(_cut_at_line_boundary(path.read_text()))
    calls = _spy(monkeypatch)
    with pytest.warns(UserWarning, match="holds 2 round rows"):
        run_experiment(config_from_dict(BASE), out, workers=1, progress=False)
    assert calls == [("random", 1)]
    assert _no_times(_rows(out / "results.csv")) == _no_times(_rows(base / "results.csv"))


def test_collect_only_counts_no_damaged_trial(base: Path, out: Path) -> None:
    path = trial_path(out, "bald", 1)
    path.write_text(_cut_at_line_boundary(path.read_text()))
    with pytest.warns(UserWarning, match="not counted"):
        run_experiment(config_from_dict(BASE), out, progress=False, collect_only=True)
    assert ("bald", 1) not in _trials(out) and len(_trials(out)) == 3
    assert path.is_file()  # collecting runs nothing: a run sets it aside and recomputes it


def test_collect_only_of_the_committed_mnist_quick_results(tmp_path: Path) -> None:
    # Legacy trial files (no stamps) beside their resolved config: they still count.
    committed = ROOT / "benchmarks" / "results" / "mnist_quick"
    copy = tmp_path / "mnist_quick"
    copy.mkdir()
    shutil.copytree(committed / "trials", copy / "trials")
    shutil.copy(committed / "config.resolved.yaml", copy)
    config = load_config(ROOT / "configs" / "mnist_quick.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing rejected
        results = run_experiment(config, copy, progress=False, collect_only=True)
    assert results.read_bytes() == (committed / "results.csv").read_bytes()
    for path in [*(committed / "trials").glob("*.csv"), committed / "config.resolved.yaml"]:
        assert (copy / path.relative_to(committed)).read_bytes() == path.read_bytes()

    # Without a readable resolved config nothing says what they were computed from.
    (copy / "config.resolved.yaml").unlink()
    with (
        pytest.warns(UserWarning, match="has no stamp"),
        pytest.raises(DataNotFoundError, match="no finished trial"),
    ):
        run_experiment(config, copy, progress=False, collect_only=True)


# -------------------------------------------------------------------------- 3. the lock


def test_a_second_run_on_the_same_out_exits_2_naming_the_first(out: Path, tmp_path: Path) -> None:
    config_path = tmp_path / "trust.yaml"
    config_path.write_text(yaml.safe_dump(BASE))
    command = ["run", str(config_path), "--out", str(out), "--workers", "1", "--quiet"]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out / ".lock")], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        expected = (
            f"bayesal: error: {out} is in use by pid {holder.pid} (another bayesal run); "
            "wait for it or use another --out"
        )
        for extra in ([], ["--collect-only"]):
            (out / "results.csv").unlink(missing_ok=True)
            result = CliRunner().invoke(main, [*command, *extra])
            assert result.exit_code == 2, result.output
            assert result.stderr.strip() == expected
            assert not (out / "results.csv").exists()  # nothing written
    finally:
        holder.kill()  # like kill -9: its lock dies with it
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output + result.stderr
    assert (out / "results.csv").is_file()


def test_a_run_holds_the_lock_while_it_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl
    import os

    out = tmp_path / "out"
    seen: list[str] = []
    real = runner.run_trial

    def probe(config: Any, out_dir: Any, label: str, seed: int, **kw: Any) -> Path:
        fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT)
        try:
            with pytest.raises(BlockingIOError):  # another open file: excluded, as
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another process is
            seen.append(os.pread(fd, 32, 0).decode().strip())
        finally:
            os.close(fd)
        return real(config, out_dir, label, seed, **kw)

    monkeypatch.setattr(runner, "run_trial", probe)
    config = config_from_dict({**BASE, "strategies": ["random"], "seeds": 1})
    run_experiment(config, out, workers=1, progress=False)
    assert seen == [str(os.getpid())]
    fd = os.open(out / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released at the end
    finally:
        os.close(fd)


# ------------------------------------------------ results.csv: every trial of the grid


def test_results_csv_holds_the_arms_of_every_run_into_the_directory(
    base: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_experiment(config_from_dict({**BASE, "strategies": ["random"]}), out, progress=False)
    run_experiment(config_from_dict({**BASE, "strategies": ["bald"]}), out, progress=False)
    assert _no_times(_rows(out / "results.csv")) == _no_times(_rows(base / "results.csv"))
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert [arm["label"] for arm in resolved["strategies"]] == ["random", "bald"]
    assert resolved["seeds"] == [0, 1]

    # A run narrowed to one seed (nothing left to do) keeps the other seed in the table.
    narrowed = config_from_dict({**BASE, "strategies": ["bald"], "seeds": [0]})
    run_experiment(narrowed, out, progress=False)
    assert _no_times(_rows(out / "results.csv")) == _no_times(_rows(base / "results.csv"))

    # --collect-only collects exactly the trials its command names.
    run_experiment(narrowed, out, progress=False, collect_only=True)
    assert _trials(out) == [("bald", 0)]
