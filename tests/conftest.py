"""Shared fixtures and CI's rule on skips.

The ``device`` parametrisation: "cpu" always, "cuda" when available. A test that takes
the ``device`` fixture runs once per device; its ids end in ``[cpu]`` and ``[cuda]``, so
``pytest -k cuda`` selects the CUDA half. Without CUDA the ``cuda`` case is skipped with
a reason, not silently dropped.

Skips for a missing dependency: a test that needs an optional package or a system
package skips without it, and its reason names what to install: ``make <...>-deps``,
``make test``, ``pip install ...`` or ``apt-get install ...`` (or pytest's own
``could not import ...`` of ``pytest.importorskip``). Where the ``CI`` environment
variable is set (``.ci/run`` runs ``make test`` with ``CI=true``), such a skip is turned
into a failure, during collection too: CI installs everything (``make test`` and
``.ci/run``), so a dependency skip there means that something CI is meant to check did
not run. Other skips (no CUDA, a case that does not apply) stay skips.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator
from typing import Any

import pytest
import torch

_NO_CUDA = "CUDA is not available on this machine (torch.cuda.is_available() is False)"

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=_NO_CUDA),
    ),
]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """A :class:`torch.device` to run the test on: the CPU, then CUDA when present."""
    return torch.device(request.param)


# ------------------------------------------------------------------ skips in CI

#: A skip reason that says a dependency is missing: it names how to install it, or it is
#: pytest.importorskip's own message.
MISSING_DEPENDENCY = re.compile(
    r"could not import|pip install|apt-get install|\bmake (?:test\b|[\w-]+-deps\b)"
)


def in_ci() -> bool:
    """Whether ``CI`` is set to something other than empty, ``0``, ``false`` or ``no``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return None if longrepr is None else str(longrepr)


def _fail_dependency_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not report.skipped or not in_ci() or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if reason is None or not MISSING_DEPENDENCY.search(reason):
        return
    where = ""
    if isinstance(report.longrepr, tuple):
        where = f"{report.longrepr[0]}:{report.longrepr[1]}: "
    report.outcome = "failed"
    report.longrepr = (
        f"{where}{reason}\n"
        "CI is set, and CI installs every optional and system package the tests need "
        "(.ci/run: apt-get, then `make test`): this skip for a missing dependency is a "
        "failure here."
    )


# Old-style wrappers (hookwrapper=True): they work with every pytest the dev extra allows.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    _fail_dependency_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    _fail_dependency_skip(outcome.get_result())
