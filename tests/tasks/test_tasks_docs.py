"""docs/tasks.md: its Python examples run, and it describes every score and metric."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "tasks.md"


def test_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {})  # noqa: S102


def test_every_score_module_is_described() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in (
        "predictive_variance",
        "epistemic_variance",
        "gaussian_mutual_information",
        "gaussian_epig",
        "stream_scores",
        "top_q",
        "f1_micro",
        "f1_macro",
        "mean_average_precision",
        "coverage_90",
        "mean_iou",
        "pixel_accuracy",
    ):
        assert f"`{name}" in text, name
