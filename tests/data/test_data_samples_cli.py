"""``python -m bayesal.data.samples``: bad arguments are one line and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _samples(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bayesal.data.samples", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "--count: count must be between 1 and 797, got 0"),
        (["--count", "5000"], "--count: count must be between 1 and 797, got 5000"),
        (["--labelled-per-class", "-1"], "--labelled-per-class: labelled_per_class must be"),
    ],
)
def test_samples_with_a_count_out_of_range_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "digits"
    result = _samples(str(out), *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("python -m bayesal.data.samples: error:") and message in lines[0]
    assert not out.exists()


def test_samples_under_a_file_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    result = _samples(str(tmp_path / "afile" / "digits"), "--count", "2")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "afile/digits: Not a directory" in lines[0]
