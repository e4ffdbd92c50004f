"""tests/conftest.py's rule: where ``CI`` is set, a skip for a missing dependency (its
reason names how to install it, or it is ``pytest.importorskip``'s own message) fails,
also at collection; other skips stay skips, and without ``CI`` nothing changes.

Each case runs pytest in a subprocess on a folder holding a copy of tests/conftest.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")

IN_TESTS = """
import pytest

def test_named_install():
    pytest.importorskip("bayesal_no_such_module", reason="not installed (`make foo-deps`)")

def test_pip_install_in_a_skipif_marker():
    pass

test_pip_install_in_a_skipif_marker = pytest.mark.skipif(
    True, reason="thing is not installed (pip install thing)"
)(test_pip_install_in_a_skipif_marker)

def test_apt_get():
    pytest.skip("chromium is not installed (`apt-get install -y chromium`)")

def test_importorskip_default_message():
    pytest.importorskip("bayesal_no_such_module")

def test_not_applicable():
    pytest.skip("does not apply to this strategy (nothing to make here)")
"""

AT_MODULE_LEVEL = """
import pytest

pytest.importorskip("bayesal_no_such_module", reason="not installed (`make foo-deps`)")

def test_never_reached():
    pass
"""


def _pytest(folder: Path, ci: str | None) -> tuple[dict[str, int], str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-rA",
         "--rootdir", str(folder), str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    last = done.stdout.strip().splitlines()[-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last)}
    return counts, done.stdout


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    return tmp_path


@pytest.mark.parametrize("ci", [None, "", "0", "false"])
def test_without_ci_every_skip_stays_a_skip(folder: Path, ci: str | None) -> None:
    (folder / "test_cases.py").write_text(IN_TESTS)
    (folder / "test_module.py").write_text(AT_MODULE_LEVEL)
    counts, out = _pytest(folder, ci)
    assert counts == {"skipped": 6}, out


def test_in_ci_a_dependency_skip_fails_and_another_skip_stays(folder: Path) -> None:
    (folder / "test_cases.py").write_text(IN_TESTS)
    counts, out = _pytest(folder, "true")
    assert counts == {"failed": 3, "error": 1, "skipped": 1}, out
    # Failed in the call (a skip in the body), an error in setup (a skipif marker).
    for name in ("test_named_install", "test_apt_get", "test_importorskip_default_message"):
        assert f"FAILED test_cases.py::{name}" in out, out
    assert "ERROR test_cases.py::test_pip_install_in_a_skipif_marker" in out, out
    assert "SKIPPED [1] test_cases.py" in out and "does not apply" in out, out
    assert "this skip for a missing dependency is a failure here" in out, out


def test_in_ci_a_dependency_skip_at_collection_is_an_error(folder: Path) -> None:
    (folder / "test_module.py").write_text(AT_MODULE_LEVEL)
    counts, out = _pytest(folder, "true")
    assert counts.get("error") == 1 or counts.get("errors") == 1, out
    assert "ERROR test_module.py" in out and "`make foo-deps`" in out, out
