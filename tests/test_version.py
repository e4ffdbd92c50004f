"""The version is written once (bayesal.__version__) and shown by `bayesal --version`."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import tomllib
from click.testing import CliRunner

import bayesal
from bayesal.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_a_release_number() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", bayesal.__version__)


def test_cli_prints_the_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"bayesal, version {bayesal.__version__}\n"


def test_pyproject_reads_the_version_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "bayesal.__version__"


def test_installed_metadata_matches() -> None:
    # An editable install records the version at install time; a stale one shows here.
    assert version("bayesal") == bayesal.__version__


def test_changelog_names_the_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{bayesal.__version__}]" in changelog
