"""results.csv as the runner wrote it: a manifest catches a table cut short or edited,
stale summaries go when the summary is refused, stale temp files at the top level go,
and a trials/ folder that cannot be written fails before any training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bayesal.cli import main

TINY: dict[str, Any] = {
    "name": "tiny",
    "dataset": {"name": "two_moons", "params": {"n_train": 60, "n_test": 30, "seed": 1}},
    "model": {"name": "two_moons_mlp", "params": {"hidden": 8}},
    "posterior": {"name": "mc_dropout", "num_samples": 3},
    "training": {"lr": 0.01, "epochs": 1, "batch_size": 16, "min_steps": 3},
    "strategies": ["random", "bald"],
    "seeds": 2,
    "initial_labels": 4,
    "acquisition_size": 2,
    "rounds": 2,
    "device": "cpu",
}


def _run(tmp_path: Path, *extra: str, raw: dict[str, Any] | None = None) -> Any:
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(raw or TINY))
    out = tmp_path / "out"
    return CliRunner().invoke(
        main, ["run", str(config), "--out", str(out), "--quiet", "--workers", "1", *extra]
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("finished")
    assert _run(tmp).exit_code == 0
    return tmp / "out"


def _copy(finished: Path, tmp_path: Path) -> Path:
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(finished, out)
    return out


def test_the_manifest_matches_the_table(finished: Path) -> None:
    manifest = json.loads((finished / "results.manifest.json").read_text())
    assert manifest["rows"] == 2 * 2 * 3
    assert sorted(map(tuple, manifest["trials"])) == [
        ("bald", 0),
        ("bald", 1),
        ("random", 0),
        ("random", 1),
    ]


@pytest.mark.parametrize("keep_lines", [2, 4, 7])  # inside the first arm, and at its end
def test_report_refuses_a_table_cut_at_a_line_boundary(
    finished: Path, tmp_path: Path, keep_lines: int
) -> None:
    out = _copy(finished, tmp_path)
    lines = (out / "results.csv").read_text().splitlines(keepends=True)
    (out / "results.csv").write_text("".join(lines[:keep_lines]))
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 2
    assert "is not the table bayesal run wrote" in result.output
    assert "--collect-only" in result.output


@pytest.mark.parametrize("cut", [3, 30])
def test_report_refuses_a_table_cut_inside_its_last_line(
    finished: Path, tmp_path: Path, cut: int
) -> None:
    out = _copy(finished, tmp_path)
    data = (out / "results.csv").read_bytes()
    (out / "results.csv").write_bytes(data[:-cut])
    (out / "results.manifest.json").unlink()  # even without the manifest
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 2
    assert "cut short" in result.output


def test_without_a_manifest_seeds_are_checked_against_the_resolved_rounds(
    finished: Path, tmp_path: Path
) -> None:
    out = _copy(finished, tmp_path)
    (out / "results.manifest.json").unlink()  # as in results written before manifests
    lines = (out / "results.csv").read_text().splitlines(keepends=True)
    (out / "results.csv").write_text("".join(lines[:3]))  # bald seed 0, rounds 0-1 only
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 2
    assert "stops at round 1, but config.resolved.yaml says rounds: 2" in result.output


def test_a_refused_summary_takes_the_old_one_away(finished: Path, tmp_path: Path) -> None:
    out = _copy(finished, tmp_path)
    assert (out / "summary.md").is_file()
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(TINY))
    args = ["run", str(config), "--out", str(out), "--quiet", "--workers", "1"]
    result = CliRunner().invoke(main, [*args, "--strategies", "random", "--seeds", "3"])
    assert result.exit_code == 0, result.output
    assert "no summary yet" in result.output
    assert not (out / "summary.md").exists() and not (out / "per_seed.csv").exists()


def test_stale_temp_files_at_the_top_level_go_at_start(finished: Path, tmp_path: Path) -> None:
    out = _copy(finished, tmp_path)
    stale = [
        out / ".results.csv.0123456789ab.tmp",
        out / ".config.resolved.yaml.0123456789ab.tmp",
        out / "trials" / ".bald__seed0.csv.0123456789ab.tmp",
    ]
    for path in stale:
        path.write_text("")
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(TINY))
    result = CliRunner().invoke(
        main, ["run", str(config), "--out", str(out), "--quiet", "--collect-only"]
    )
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in stale)


def test_a_file_where_trials_go_fails_before_any_training(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "trials").write_text("not a folder")
    result = _run(tmp_path)
    assert result.exit_code == 2
    assert "trials: File exists" in result.output
    assert not (out / "config.resolved.yaml").exists()


def test_a_dataset_param_of_the_wrong_type_is_one_line(tmp_path: Path) -> None:
    raw = {**TINY, "dataset": {"name": "two_moons", "params": {"noise": "1e-1"}}}
    result = _run(tmp_path, raw=raw)
    assert result.exit_code == 2
    assert "dataset 'two_moons' with params" in result.output
    assert "a value of the wrong type?" in result.output
    assert not (tmp_path / "out").exists()


def test_report_on_a_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    result = CliRunner().invoke(main, ["report", str(tmp_path / "afile")])
    assert result.exit_code == 2 and "is a file, not a results directory" in result.output


def test_report_waits_for_no_run_it_says_which_holds_the_directory(
    finished: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    hold = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.ftruncate(fd, 0); os.write(fd, f'{os.getpid()}\\n'.encode())\n"
        "print('locked', flush=True); time.sleep(300)\n"
    )
    out = _copy(finished, tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(out / ".lock")], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        result = CliRunner().invoke(main, ["report", str(out)])
        assert result.exit_code == 2
        assert f"is in use by pid {holder.pid}" in result.output
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert CliRunner().invoke(main, ["report", str(out)]).exit_code == 0


def _edit_first_bald_accuracy(out: Path) -> None:
    lines = (out / "results.csv").read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    col = header.index("test_accuracy")
    fields = lines[1].split(",")
    assert fields[0] == "bald" and fields[2] == "0"
    fields[col] = "0.999"
    lines[1] = ",".join(fields)
    (out / "results.csv").write_text("".join(lines))


def test_report_refuses_an_edited_table_without_a_manifest_naming_the_trial_file(
    finished: Path, tmp_path: Path
) -> None:
    out = _copy(finished, tmp_path)
    _edit_first_bald_accuracy(out)
    (out / "results.manifest.json").unlink()
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 2, result.output
    assert "strategy='bald', seed=0, round=0: test_accuracy is '0.999'" in result.output
    assert "trials/bald__seed0.csv (checksummed)" in result.output
    assert "--collect-only" in result.output
    assert "Traceback" not in result.output


def test_report_refuses_an_edited_table_whose_manifest_was_rewritten_to_match(
    finished: Path, tmp_path: Path
) -> None:
    import hashlib

    out = _copy(finished, tmp_path)
    _edit_first_bald_accuracy(out)
    manifest = json.loads((out / "results.manifest.json").read_text())
    manifest["sha256"] = hashlib.sha256((out / "results.csv").read_bytes()).hexdigest()
    (out / "results.manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 2
    assert "test_accuracy is '0.999' in results.csv" in result.output


def test_report_refuses_a_table_with_a_trial_that_trials_lacks(
    finished: Path, tmp_path: Path
) -> None:
    out = _copy(finished, tmp_path)
    (out / "results.manifest.json").unlink()
    (out / "trials" / "bald__seed1.csv").unlink()
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 2
    assert "seed=1 has no trial file trials/bald__seed1.csv" in result.output


def test_report_refuses_an_edited_trial_file_by_its_stamp_checksum(
    finished: Path, tmp_path: Path
) -> None:
    out = _copy(finished, tmp_path)
    trial = out / "trials" / "random__seed0.csv"
    trial.write_text(trial.read_text().replace(",0.", ",0.1", 1))
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 2
    assert "random__seed0.csv: its rows do not match the checksum" in result.output


def test_collect_only_rebuilds_an_edited_table_from_the_trials(
    finished: Path, tmp_path: Path
) -> None:
    out = _copy(finished, tmp_path)
    _edit_first_bald_accuracy(out)
    (out / "results.manifest.json").unlink()
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(TINY))
    args = ["run", str(config), "--out", str(out), "--quiet", "--collect-only"]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert (out / "results.csv").read_bytes() == (finished / "results.csv").read_bytes()
    assert CliRunner().invoke(main, ["report", str(out)]).exit_code == 0


def test_report_refuses_a_resolved_config_with_a_key_given_twice(
    finished: Path, tmp_path: Path
) -> None:
    out = _copy(finished, tmp_path)
    resolved = out / "config.resolved.yaml"
    resolved.write_text(resolved.read_text() + "rounds: 1\n")
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 2
    assert "config.resolved.yaml: duplicate key 'rounds': line" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_resumed_run_says_a_resolved_config_with_a_key_given_twice_is_unreadable(
    finished: Path, tmp_path: Path
) -> None:
    out = _copy(finished, tmp_path)
    resolved = out / "config.resolved.yaml"
    resolved.write_text(resolved.read_text() + "rounds: 1\n")
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(TINY))
    args = ["run", str(config), "--out", str(out), "--quiet", "--workers", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "config.resolved.yaml is unreadable (not valid YAML" in result.output
    assert "duplicate key 'rounds'" in result.output
