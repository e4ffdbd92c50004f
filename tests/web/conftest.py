"""Fixtures of the web UI's tests: digit-image sessions, an in-process client, and a real
server in a subprocess (``python -m bayesal.web``)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

try:  # the `label` extra (and httpx, in `dev`): without them, these tests are not collected
    import fastapi  # noqa: F401
    import httpx
    import multipart  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        # CI installs the dev extra (`make test`): not collecting these would hide them.
        raise ImportError(
            f"{exc}: the web UI's tests need the dev extra (`make test` installs it)"
        ) from exc
    collect_ignore_glob = ["test_*.py"]

_spec = importlib.util.spec_from_file_location(
    "_bayesal_session_conftest", Path(__file__).parents[1] / "session" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_session_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_session_helpers)
write_digits = _session_helpers.write_digits
digits_config = _session_helpers.digits_config
DIGIT_NAMES: list[str] = _session_helpers.DIGIT_NAMES

LOCAL = "http://127.0.0.1"


def make_digits_session(folder: Path, n: int = 60, **overrides: Any) -> tuple[Path, dict[int, int]]:
    """A session over ``n`` digit images (``folder/S``) and each item's true class."""
    from bayesal.session import LabellingSession

    truth = write_digits(folder / "digits", n=n)
    config = folder / "label_digits.yaml"
    config.write_text(yaml.safe_dump(digits_config(folder / "digits", **overrides)))
    session = LabellingSession.init(folder / "S", config)
    by_id = {item: int(truth[int(ref[3:7])]) for item, ref, _ in session.store.items()}
    session.close()
    return folder / "S", by_id


def write_many_digits(folder: Path, n: int) -> list[int]:
    """``n`` 8x8 digit PNGs (scikit-learn's 1797, cycled) at the top of ``folder``, named
    ``img000000.png`` ...; returns their true classes in name order."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255 / 16)).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(images[i % len(images)]).save(folder / f"img{i:06d}.png")
    return [int(digits.target[i % len(images)]) for i in range(n)]


def make_large_session(folder: Path, n: int, **overrides: Any) -> tuple[Path, dict[int, int]]:
    """Like :func:`make_digits_session`, for any ``n`` (digits repeat past 1797)."""
    from bayesal.session import LabellingSession

    truth = write_many_digits(folder / "digits", n)
    config = folder / "label_digits.yaml"
    config.write_text(yaml.safe_dump(digits_config(folder / "digits", **overrides)))
    session = LabellingSession.init(folder / "S", config)
    by_id = {item: truth[int(ref[3:9])] for item, ref, _ in session.store.items()}
    session.close()
    return folder / "S", by_id


@pytest.fixture
def digits_session(tmp_path: Path) -> tuple[Path, dict[int, int]]:
    """A 60-image digit session (retrain_every 5, queue 20) and its true labels."""
    return make_digits_session(tmp_path)


@pytest.fixture
def session_factory(tmp_path: Path) -> Callable[..., tuple[Path, dict[int, int]]]:
    """``session_factory(n=60, **config_overrides)``: :func:`make_digits_session` in a
    fresh folder under ``tmp_path``."""
    made = [0]

    def make(n: int = 60, **overrides: Any) -> tuple[Path, dict[int, int]]:
        made[0] += 1
        return make_digits_session(tmp_path / f"session{made[0]}", n, **overrides)

    return make


@pytest.fixture
def client_for() -> Iterator[Callable[..., Any]]:
    """``client_for(session_dir, **create_app_kwargs)``: a TestClient (lifespan run)
    addressed to 127.0.0.1; retraining off unless asked."""
    from fastapi.testclient import TestClient

    from bayesal.web import create_app

    stack = contextlib.ExitStack()

    def make(session_dir: Path, **kwargs: Any) -> TestClient:
        kwargs.setdefault("retrain", False)
        app = create_app(session_dir, **kwargs)
        return stack.enter_context(TestClient(app, base_url=LOCAL, follow_redirects=False))

    with stack:
        yield make


def events(session_dir: Path) -> list[tuple[Any, ...]]:
    """The session's event log, read straight from SQLite:
    ``(event_id, item_id, kind, label, annotator, undoes)``."""
    with contextlib.closing(sqlite3.connect(session_dir / "session.sqlite")) as conn:
        return conn.execute(
            "SELECT event_id, item_id, kind, label, annotator, undoes FROM events ORDER BY event_id"
        ).fetchall()


@pytest.fixture
def large_session_factory(tmp_path: Path) -> Callable[..., tuple[Path, dict[int, int]]]:
    """``large_session_factory(n, **config_overrides)``: :func:`make_large_session`."""

    def make(n: int, **overrides: Any) -> tuple[Path, dict[int, int]]:
        return make_large_session(tmp_path / "large", n, **overrides)

    return make


@pytest.fixture
def read_events() -> Callable[[Path], list[tuple[Any, ...]]]:
    """:func:`events`: the event log of a session directory, straight from SQLite."""
    return events


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m bayesal.web SESSION`` in its own process group (the server and the
    retrain workers it starts), so the test can end exactly the processes it made."""

    def __init__(self, session_dir: Path, *args: str, log: Path | None = None) -> None:
        self.session_dir = session_dir
        self.args = args
        self.log = log or session_dir.parent / "server.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.groups: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> ServerProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bayesal.web",
                    str(self.session_dir),
                    "--port",
                    str(self.port),
                    *self.args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        self.groups.append(self.process.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not start in {timeout} s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Send ``sig`` to the server (not its workers) and wait for it to exit."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self.process = None
        return code

    def cleanup(self) -> None:
        """Stop the server and every retrain worker any of its runs started."""
        with contextlib.suppress(Exception):
            self.stop(signal.SIGKILL)
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        self.groups.clear()


@pytest.fixture
def server_for() -> Iterator[Callable[..., ServerProcess]]:
    """``server_for(session_dir, *args)``: a started :class:`ServerProcess`, cleaned up
    (server and workers) after the test."""
    made: list[ServerProcess] = []

    def make(session_dir: Path, *args: str, start: bool = True) -> ServerProcess:
        server = ServerProcess(session_dir, *args)
        made.append(server)
        return server.start() if start else server

    yield make
    for server in made:
        server.cleanup()


# ---------------------------------------------------------------- a real browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Training small enough that a retrain in a test takes a fraction of a second.
FAST_TRAINING = {"epochs": 2, "min_steps": 5, "batch_size": 32}


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A headless Debian chromium driven by Playwright (skipped, saying why, without
    either; never a downloaded browser)."""
    import shutil

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("chromium is not installed (Debian: `apt-get install -y chromium`)")
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="Playwright's Python package is not installed (the dev extra; never "
        "`playwright install`, the browser is Debian's chromium)",
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def start_labelling(browser: Any, url: str, annotator: str, *, mode: str = "fast") -> Any:
    """A new page of ``browser`` at ``url``'s ``/label`` as ``annotator`` (``mode``:
    ``fast``, the JSON path, or ``form``, full page loads), ready for a key."""
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(url + "/")
    page.fill("#annotator", annotator)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.goto(f"{url}/label?mode={mode}")
    wait_ready(page)
    return page


def wait_for(page: Any, expression: str, arg: Any = None, timeout: float = 30.0) -> Any:
    """Poll ``expression`` (a JavaScript function of ``arg``) in ``page`` until it is
    truthy; return its value. (Playwright's ``wait_for_function`` evaluates a string,
    which the page's Content-Security-Policy forbids; ``evaluate`` is allowed.)"""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {expression}")
        time.sleep(0.01)


def wait_ready(page: Any, not_item: int | None = None, timeout: float = 30.0) -> int:
    """Wait until the page shows an item ready for a key (other than ``not_item``);
    return its id."""
    found = wait_for(
        page,
        "(prev) => document.body.dataset.ready === '1' && document.body.dataset.item"
        " && document.body.dataset.item !== String(prev) && document.body.dataset.item",
        -1 if not_item is None else not_item,
        timeout,
    )
    return int(found)


def label_and_retrain(session_dir: Path, truth: dict[int, int], n: int) -> None:
    """Label ``n`` items (their true class, annotator ``seed``) and retrain once, so
    the queue carries the model's predictions."""
    from bayesal.session import LabellingSession

    session = LabellingSession.open(session_dir)
    try:
        for item in sorted(truth)[:n]:
            session.label(item, truth[item], "seed")
        session.retrain()
    finally:
        session.close()
