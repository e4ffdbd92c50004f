"""The README's library example runs as written and does what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_library_example_runs() -> None:
    (example,) = [b for b in _python_blocks() if "log_probs_N_K_C" in b]
    namespace: dict[str, object] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, str(README), "exec"), namespace)
    assert tuple(namespace["log_probs_N_K_C"].shape) == (990, 20, 2)
    pick = namespace["pick"]
    assert len(set(pick.indices_B.tolist())) == 5
    assert (pick.scores_B[:-1] >= pick.scores_B[1:]).all()  # greedy order, best first
    assert out.getvalue().startswith("tensor([")


def test_readme_names_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text


def test_learner_example_runs(tmp_path: Path, monkeypatch: object) -> None:
    (example,) = [b for b in _python_blocks() if "ActiveLearner(" in b]
    monkeypatch.chdir(tmp_path)  # type: ignore[attr-defined]
    namespace: dict[str, object] = {}
    exec(compile(example, str(README), "exec"), namespace)
    assert len(set(namespace["ids"].tolist())) == 10  # type: ignore[attr-defined]
    assert (tmp_path / "learner.pt").is_file()
