"""The documentation site builds with ``mkdocs build --strict``: no broken link, no missing
page, no API reference that fails to resolve, no docstring griffe cannot read.

Skipped when the ``docs`` extra (MkDocs Material, mkdocstrings) is not installed; ``make
docs-deps`` installs it, and so does ``make test`` (in CI the skip is a failure).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# docs/api/<page>.md documents the module. (The functions ``batchbald`` and ``epig`` share
# their names with their modules, so their entries are ``<module>.<name>.<name>``.)
API_PAGES = {
    "bayesal": "bayesal",
    "learner": "bayesal.learner",
    "acquisition": "bayesal.acquisition",
    "posterior": "bayesal.posterior",
    "session": "bayesal.session",
    "data": "bayesal.data",
    "scoring": "bayesal.scoring",
    "encoders": "bayesal.encoders",
    "stopping": "bayesal.stopping",
}


def test_site_builds_strict(tmp_path: Path) -> None:
    why = "is not installed (the docs extra: `make docs-deps`; `make test` installs it)"
    pytest.importorskip("mkdocs", reason=f"mkdocs {why}")
    pytest.importorskip("material", reason=f"mkdocs-material {why}")
    pytest.importorskip("mkdocstrings_handlers.python", reason=f"mkdocstrings-python {why}")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for page in ("index.html", "tutorials/two_moons.html", "api/acquisition.html"):
        assert (tmp_path / page).is_file(), page
    # Links to committed results outside docs/ resolve to copies in the site.
    gal = (tmp_path / "tutorials" / "gal2017.html").read_text(encoding="utf-8")
    assert "../repo/benchmarks/results/mnist_gal2017/figures/learning_curves.png" in gal
    assert (
        tmp_path / "repo/benchmarks/results/mnist_gal2017/figures/learning_curves.png"
    ).is_file()
    # Every public name (``__all__``) of each API page's module has an entry there.
    for page, module in API_PAGES.items():
        html = (tmp_path / "api" / f"{page}.html").read_text(encoding="utf-8")
        names = [n for n in importlib.import_module(module).__all__ if not n.startswith("_")]
        missing = [
            n
            for n in names
            if f'id="{module}.{n}"' not in html and f'id="{module}.{n}.{n}"' not in html
        ]
        assert not missing, (page, missing)
