"""Every python code block of docs/scale.md runs, in order, in one namespace, on a
smaller pool (N = 5,000, K = 10) and with streaming forced (``max_log_probs_bytes``
defaults to 1 byte here), so that the printed results match the comments."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from bayesal import ActiveLearner

DOC = Path(__file__).resolve().parents[1] / "docs" / "scale.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _expected(block: str) -> list[str]:
    """The ``# ...`` line right after a print: what it prints."""
    lines = block.splitlines()
    return [
        lines[i + 1].lstrip("# ").strip()
        for i, line in enumerate(lines[:-1])
        if line.startswith("print(") and lines[i + 1].startswith("# ")
    ]


def test_scale_doc_code_blocks_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = _blocks()
    assert len(blocks) == 4
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(ActiveLearner.__init__.__kwdefaults__, "max_log_probs_bytes", 1)
    namespace: dict[str, object] = {}
    ray_dir = tempfile.mkdtemp(prefix="bal-ray-", dir="/tmp")
    try:
        for block in blocks:
            code = block.replace("N = 1_000_000", "N = 5_000").replace(
                "num_samples=100", "num_samples=10"
            )
            code = code.replace("pool[:50_000, i]", "pool[:4_000, i]")
            code = code.replace("row_group_size=16_384", "row_group_size=1_000")
            expected = _expected(block)
            if "import ray" in block:
                pytest.importorskip("ray", reason="ray is not installed (`make ray-deps`)")
                code = code.replace(
                    "ray.init(num_cpus=2)",
                    f"ray.init(num_cpus=2, include_dashboard=False, _temp_dir={ray_dir!r})",
                )
            exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102
            printed = capsys.readouterr().out.strip().splitlines()
            if "parquet" in block:
                assert printed == ["4000 (64,) 4"]  # 50000 ... at the doc's size
            elif expected:
                assert printed == expected, (printed, expected)
    finally:
        import sys

        if "ray" in sys.modules and sys.modules["ray"].is_initialized():
            sys.modules["ray"].shutdown()
        shutil.rmtree(ray_dir, ignore_errors=True)
