"""The python code blocks of docs/extending.md run, and what they register works."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from bayesal.acquisition.registry import STRATEGIES
from bayesal.data.registry import DATASETS
from bayesal.models.registry import MODELS
from bayesal.posterior import POSTERIORS

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def test_extending_doc_code_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 4
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
    finally:
        for registry, name in [
            (STRATEGIES, "max_disagreement"),
            (POSTERIORS, "small_ensemble"),
            (DATASETS, "xor"),
            (MODELS, "small_mlp"),
        ]:
            if name in registry:
                registry.unregister(name)
