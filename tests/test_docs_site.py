"""The documentation site builds with ``mkdocs build --strict``: no broken link, no missing
page, no API reference that fails to resolve, no docstring griffe cannot read.

Skipped when the ``docs`` extra (MkDocs Material, mkdocstrings) is not installed; ``make
docs-deps`` installs it, and so does ``make test`` (in CI the skip is a failure).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
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


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built once with ``mkdocs build --strict`` (skips without the docs extra)."""
    why = "is not installed (the docs extra: `make docs-deps`; `make test` installs it)"
    pytest.importorskip("mkdocs", reason=f"mkdocs {why}")
    pytest.importorskip("material", reason=f"mkdocs-material {why}")
    pytest.importorskip("mkdocstrings_handlers.python", reason=f"mkdocstrings-python {why}")
    tmp_path = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return tmp_path


def test_site_builds_strict(site: Path) -> None:
    tmp_path = site
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


# A reST role as it leaks into Markdown-rendered HTML (":class:<code>x</code>") or as raw
# text, and a paragraph ending in the reST literal-block marker "::".
LEAKED_ROLE = re.compile(r":(?:py:)?(?:mod|meth|class|func|attr|data|exc|obj):(?:<code>|`)")
LEAKED_MARKER = re.compile(r"::</p>|<p>::")


def test_api_pages_show_no_rest_role_and_no_literal_block_marker(site: Path) -> None:
    for page in API_PAGES:
        html = (site / "api" / f"{page}.html").read_text(encoding="utf-8")
        roles = LEAKED_ROLE.findall(html)
        markers = LEAKED_MARKER.findall(html)
        assert not roles and not markers, (page, roles[:5], markers[:5])


def _hook():
    spec = importlib.util.spec_from_file_location(
        "docstring_roles", ROOT / "docs" / "hooks" / "docstring_roles.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docstring_hook_turns_roles_into_optional_crossrefs_and_markers_into_colons() -> None:
    rewrite = _hook().rewrite
    out = rewrite(
        "<p>See :class:<code>~bayesal.data.source.ParquetInputs</code> and "
        ":meth:<code>.evaluate</code>; in a config::</p><p>::</p>",
        module="bayesal.learner",
    )
    assert out == (
        '<p>See <autoref identifier="bayesal.data.source.ParquetInputs" '
        'slug="bayesal.learner.bayesal.data.source.ParquetInputs" optional>'
        "<code>ParquetInputs</code></autoref> and "
        '<autoref identifier="evaluate" slug="bayesal.learner.evaluate" optional>'
        "<code>evaluate</code></autoref>; in a config:</p>"
    )
