"""The python code blocks of docs/extending.md run, and what they register works."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from bayesal.acquisition.registry import STRATEGIES
from bayesal.data.registry import DATASETS
from bayesal.models.registry import MODELS
from bayesal.posterior import POSTERIORS

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def test_extending_doc_code_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 5
    monkeypatch.chdir(tmp_path)  # the model-free example saves a learner to its cwd
    namespace: dict[str, object] = {}
    try:
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102
        log_probs = torch.randn(5, 3, 4).log_softmax(-1)
        picks = namespace["strategy"].select(  # type: ignore[attr-defined]
            log_probs, 2, generator=torch.Generator().manual_seed(0)
        )
        assert len(picks.indices_B) == 2
        assert len(namespace["data"].train_y) == 100  # type: ignore[attr-defined]
        assert namespace["net"](torch.zeros(3, 2)).shape == (3, 2)  # type: ignore[operator]
        assert POSTERIORS.build("small_ensemble").num_samples == 3
        # The posterior without a torch model: a learner with model=None queried, taught,
        # evaluated (after a retrain), saved and loaded; the loaded one queries the same.
        knn, restored = namespace["knn_learner"], namespace["restored"]
        assert knn.pool.num_labelled == 20  # type: ignore[attr-defined]
        assert 0.0 <= namespace["scores"]["accuracy"] <= 1.0  # type: ignore[index]
        assert math.isfinite(namespace["scores"]["nll"])  # type: ignore[index]
        log_probs = (
            knn.fit()
            .draw(torch.Generator().manual_seed(0))
            .log_probs(  # type: ignore[attr-defined]
                torch.zeros(4, 4)
            )
        )
        assert log_probs.shape == (4, 8, 3) and torch.isfinite(log_probs).all()
        assert restored.query(5).tolist() == knn.query(5).tolist()  # type: ignore[attr-defined]
    finally:
        for registry, name in [
            (STRATEGIES, "max_disagreement"),
            (POSTERIORS, "small_ensemble"),
            (POSTERIORS, "bootstrap_knn"),
            (DATASETS, "xor"),
            (MODELS, "small_mlp"),
        ]:
            if name in registry:
                registry.unregister(name)
