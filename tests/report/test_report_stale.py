"""A report cleans up after a report that was killed mid-write, and a file-system error is
one line from ``bayesal report``."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from bayesal.cli import main
from bayesal.errors import DataNotFoundError
from bayesal.report import write_report
from bayesal.report.build import remove_stale_report_temps

HEX = "0123456789ab"

# Left by a killed report: removed.
STALE = [
    f"figures/.learning_curves.png.{HEX}.tmp",
    f"figures/.acquisition_grid_seed3.png.{HEX}.tmp",
    f".summary.csv.{HEX}.tmp",
    f".per_seed.md.{HEX}.tmp",
    f".published_comparison.md.{HEX}.tmp",
]
# Not a report's: the runner's temporary files, other names, folders. Kept.
KEPT = [
    f".results.csv.{HEX}.tmp",
    f".config.resolved.yaml.{HEX}.tmp",
    f"trials/.random__seed0.csv.{HEX}.tmp",
    f"figures/sub/.learning_curves.png.{HEX}.tmp",
    "figures/.notes.tmp",
    "figures/.x.png.0123456789AB.tmp",
    "figures/.x.png.0123456789a.tmp",
    "figures/mine.tmp",
    "notes.txt",
]


def _plant(root: Path, names: list[str]) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")  # a killed writer leaves 0 bytes behind


def test_write_report_removes_what_a_killed_report_left(results_dir: Path) -> None:
    _plant(results_dir, STALE + KEPT)
    (results_dir / "figures" / f".folder.png.{HEX}.tmp").mkdir()
    write_report(results_dir)
    for name in STALE:
        assert not (results_dir / name).exists(), name
    for name in KEPT:
        assert (results_dir / name).is_file(), name
    assert (results_dir / "figures" / f".folder.png.{HEX}.tmp").is_dir()
    assert (results_dir / "figures" / "learning_curves.png").stat().st_size > 0


def test_remove_stale_report_temps_returns_the_paths(results_dir: Path) -> None:
    _plant(results_dir, STALE + KEPT)
    removed = remove_stale_report_temps(results_dir)
    assert sorted(str(p.relative_to(results_dir)) for p in removed) == sorted(STALE)
    assert remove_stale_report_temps(results_dir) == []
    assert remove_stale_report_temps(results_dir / "missing") == []


def test_nothing_is_removed_from_a_directory_without_results(tmp_path: Path) -> None:
    _plant(tmp_path, STALE)
    with pytest.raises(DataNotFoundError):
        write_report(tmp_path)
    assert all((tmp_path / name).exists() for name in STALE)


def test_bayesal_report_cleans_up_too(results_dir: Path) -> None:
    _plant(results_dir, STALE)
    result = CliRunner().invoke(main, ["report", str(results_dir)])
    assert result.exit_code == 0, result.output
    assert not any((results_dir / name).exists() for name in STALE)


def test_bayesal_report_permission_error_is_one_line(
    results_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, whom chmod does not stop: refuse the rename as the OS would.
    def refuse(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        strerror = os.strerror(errno.EACCES)
        raise PermissionError(errno.EACCES, strerror, os.fspath(src), None, os.fspath(dst))

    monkeypatch.setattr(os, "replace", refuse)
    result = CliRunner().invoke(main, ["report", str(results_dir)])
    assert result.exit_code == 2, (result.exception, result.output)
    # The file asked for, not the temporary one.
    assert result.stderr == f"bayesal: error: {results_dir / 'summary.csv'}: Permission denied\n"
    assert not [p for p in results_dir.rglob("*") if p.name.endswith(".tmp")]
