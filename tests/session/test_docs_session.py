"""The README's and docs/session.md's "image folder to labelled export" commands run as
written (all but `bayesal serve`, which the web tests drive), in a scratch folder."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bayesal.cli import main
from bayesal.data.samples import main as samples_main

ROOT = Path(__file__).resolve().parents[2]


def _commands(doc: Path, heading: str) -> list[list[str]]:
    text = doc.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, f"no bash block under {heading!r} in {doc.name}"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [shlex.split(line) for line in lines if line]


@pytest.mark.parametrize(
    ("doc", "heading"),
    [("README.md", "## Label your own data"), ("docs/session.md", "## From an image folder")],
)
def test_commands_run_as_written(doc: str, heading: str, tmp_path, monkeypatch) -> None:
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    commands = _commands(ROOT / doc, heading)
    ran = []
    for argv in commands:
        program, args = argv[0], argv[1:]
        if program.endswith("python"):
            assert args[:2] == ["-m", "bayesal.data.samples"]
            samples_main(args[2:])
        else:
            assert program.endswith("bayesal"), argv
            if args[0] == "serve":  # the labelling itself: a person, here the CLI
                session = args[1]
                for _ in range(12):
                    result = runner.invoke(main, ["session", "next", session])
                    assert result.exit_code == 0, result.output
                    item = result.output.split("\t")[0]
                    result = runner.invoke(main, ["session", "label", session, item, "three"])
                    assert result.exit_code == 0, result.output
                ran.append("serve")
                continue
            result = runner.invoke(main, args)
            assert result.exit_code == 0, (argv, result.output)
        ran.append(args[0] if program.endswith("bayesal") else "samples")
    assert ran[:3] == ["samples", "session", "serve"]
    labels = pd.read_csv(tmp_path / "out" / "labels.csv")
    assert len(labels) == 12 and set(labels["label"]) == {"three"}
    assert list(labels.columns[:3]) == ["item_id", "ref", "label"]
