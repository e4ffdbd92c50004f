"""Every python code block of docs/learner.md runs, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "learner.md"


def test_learner_doc_code_blocks_run(capsys: object) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    first = [line for line in blocks[0].splitlines() if line.strip()]
    assert len(first) <= 10  # the "ten lines" claim
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)  # noqa: S102
    learner = namespace["learner"]
    accuracy = learner.evaluate(namespace["x"] / 16, namespace["y_true"])["accuracy"]  # type: ignore[attr-defined, operator]
    assert 0.6 <= accuracy <= 0.72  # the "~66%" in the comment
    for block in blocks[1:]:
        if "def wine_mlp" not in block:
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102
    assert learner.pool.num_labelled >= 30  # type: ignore[attr-defined]


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _write_image_folder(root: Path) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for cls in (0, 1):
        folder = root / f"digit{cls}"
        folder.mkdir(parents=True)
        for i, image in enumerate(digits.images[digits.target == cls][:20]):
            pixels = (image * 255 / 16).astype("uint8")
            Image.fromarray(pixels, mode="L").resize((16, 16)).save(folder / f"{i}.png")


def test_config_examples_run_from_the_command_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import pandas as pd
    from sklearn.datasets import load_wine

    module = next(b for b in _blocks("python") if "def wine_mlp" in b)
    (tmp_path / "mymodels.py").write_text(module, encoding="utf-8")
    wine = load_wine(as_frame=True).frame
    wine.to_csv(tmp_path / "wine.csv", index=False)
    _write_image_folder(tmp_path / "images")
    configs = _blocks("yaml")
    assert len(configs) == 2
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    bayesal = [str(Path(sys.executable).parent / "bayesal")]
    for name, text in zip(("wine", "images"), configs, strict=True):
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
        done = subprocess.run(
            [*bayesal, "run", f"{name}.yaml", "--out", f"out/{name}", "--quiet"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        results = pd.read_csv(tmp_path / "out" / name / "results.csv")
        assert set(results["strategy"]) == {"random", "bald"}
        assert results["test_accuracy"].notna().all()
