"""The tutorials under docs/tutorials/ cannot rot.

Every ```python block of a tutorial runs, in order, in one namespace per tutorial, in a
temporary working directory that links the repository's ``configs/`` and ``benchmarks/``
(so that the paths in the text work as written). The blocks themselves use short
settings; a tutorial whose real run is long shows that run as a ```bash block. Bash
blocks are not executed: each ``bayesal ...`` command in them is only checked to name an
existing command with options it accepts (parsed by the CLI, not run). After a ``print(...)``, the
``# ...`` comment line that follows is what it prints, and is checked.

Results tables copied into a tutorial are checked line by line against the committed
results they come from.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import click
import pytest
import torch

from bayesal.acquisition.registry import STRATEGIES
from bayesal.cli import main as cli
from bayesal.data.registry import DATASETS
from bayesal.encoders.registry import ENCODERS
from bayesal.models.registry import MODELS
from bayesal.posterior import POSTERIORS
from bayesal.stopping import STOPPING_RULES

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
NAMES = sorted(p.stem for p in TUTORIALS.glob("*.md"))
REGISTRIES = (STRATEGIES, POSTERIORS, DATASETS, MODELS, ENCODERS, STOPPING_RULES)


def _blocks(text: str, kind: str) -> list[str]:
    return re.findall(rf"^```{kind}\n(.*?)^```", text, re.S | re.M)


def _expected(block: str) -> list[str]:
    """The ``# ...`` line right after each top-level ``print(...)``: what it prints."""
    lines = block.splitlines()
    return [
        lines[i + 1][2:].strip()
        for i, line in enumerate(lines[:-1])
        if line.startswith("print(") and lines[i + 1].startswith("# ")
    ]


def test_every_tutorial_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert len(NAMES) >= 7
    for name in NAMES:
        assert f"tutorials/{name}.md" in nav


@pytest.mark.parametrize("name", NAMES)
def test_tutorial_python_blocks_run(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = TUTORIALS / f"{name}.md"
    text = path.read_text(encoding="utf-8")
    blocks = _blocks(text, "python")
    assert blocks, f"{path} has no python block"
    if "import ray" in text:
        pytest.importorskip("ray", reason="ray is not installed (`make ray-deps`)")
    if "fastapi" in text:
        web = "is not installed (the dev extra, which `make test` installs)"
        pytest.importorskip("fastapi", reason=f"fastapi {web}")
        pytest.importorskip("httpx", reason=f"httpx {web}")
    for folder in ("configs", "benchmarks"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"tutorial_{name}"}
    ray_dir = tempfile.mkdtemp(prefix="bal-ray-", dir="/tmp")
    threads = torch.get_num_threads()
    registered = [set(registry.names()) for registry in REGISTRIES]
    torch.set_num_threads(1)  # tiny models: one thread is faster, and repeatable
    try:
        for block in blocks:
            code = block.replace(
                "ray.init(num_cpus=2)",
                f"ray.init(num_cpus=2, include_dashboard=False, _temp_dir={ray_dir!r})",
            )
            exec(compile(code, str(path), "exec"), namespace)  # noqa: S102
            printed = capsys.readouterr().out.strip().splitlines()
            expected = _expected(block)
            if expected:
                assert printed == expected, (name, printed, expected)
    finally:
        torch.set_num_threads(threads)
        for registry, before in zip(REGISTRIES, registered, strict=True):
            for added in set(registry.names()) - before:  # what a tutorial registered
                registry.unregister(added)
        if "ray" in sys.modules and sys.modules["ray"].is_initialized():
            sys.modules["ray"].shutdown()
        shutil.rmtree(ray_dir, ignore_errors=True)
        namespace.clear()


def _commands(text: str) -> list[list[str]]:
    """The ``bayesal ...`` command lines of the bash blocks (continuations joined)."""
    commands = []
    for block in _blocks(text, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            words = shlex.split(line) if line else []
            if words and words[0].endswith("bayesal"):
                commands.append(words[1:])
    return commands


def _parse(words: list[str]) -> None:
    """Parse a ``bayesal`` command line as the CLI would, without running it: an unknown
    command or option, a missing argument or a bad value raises ``click.UsageError``."""
    command: click.Command = cli
    ctx = click.Context(cli, info_name="bayesal")
    while isinstance(command, click.Group):
        name, words = words[0], words[1:]
        found = command.get_command(ctx, name)
        if found is None:
            raise click.UsageError(f"no command {name!r}")
        command = found
        ctx = click.Context(command, info_name=name, parent=ctx)
    command.make_context(ctx.info_name, list(words), parent=ctx.parent)


@pytest.mark.parametrize("name", NAMES)
def test_tutorial_bayesal_commands_parse(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # config paths in the commands are relative to the repository
    for words in _commands((TUTORIALS / f"{name}.md").read_text(encoding="utf-8")):
        _parse(words)
        for word in words:
            if word.startswith("configs/"):
                assert (ROOT / word).is_file(), (name, word)


@pytest.mark.parametrize(
    ("name", "results"),
    [
        ("gal2017", "benchmarks/results/mnist_gal2017/README.md"),
        ("repeated_mnist", "benchmarks/results/repeated_mnist/README.md"),
    ],
)
def test_tutorial_tables_are_the_committed_results(name: str, results: str) -> None:
    committed = set((ROOT / results).read_text(encoding="utf-8").splitlines())
    text = (TUTORIALS / f"{name}.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert rows, f"{name}.md has no results table"
    for row in rows:
        assert row in committed, f"{name}.md: {row!r} is not in {results}"
