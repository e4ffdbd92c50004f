"""Every task score runs on each device (CUDA when present), returns its scores there, and
equals the CPU's; the metrics read tensors from any device."""

from __future__ import annotations

import pytest
import torch

from bayesal.acquisition import ScoredStrategy, TopKSelector
from bayesal.tasks import TASK_METRICS, TASK_SCORES, segmentation


def _outputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "multilabel": torch.nn.functional.logsigmoid(
            torch.randn(12, 4, 3, generator=g, dtype=torch.float64)
        ),
        "regression": torch.randn(12, 4, 2, generator=g, dtype=torch.float64),
        "segmentation": torch.log_softmax(
            torch.randn(12, 4, 3, 5, 5, generator=g, dtype=torch.float64), dim=2
        ),
    }


@pytest.mark.parametrize("task", ["multilabel", "regression", "segmentation"])
def test_scores_on_each_device(task: str, device: torch.device) -> None:
    output_cpu = _outputs()[task]
    output = output_cpu.to(device)
    for name, score in TASK_SCORES[task].items():
        picks = ScoredStrategy(name, score, TopKSelector()).select(
            output, 3, generator=torch.Generator().manual_seed(1)
        )
        assert picks.indices_B.device == output.device
        if name == "random":
            same = score(output, generator=5).cpu()
            assert torch.equal(same, score(output_cpu, generator=5))
        else:
            assert torch.allclose(score(output).cpu(), score(output_cpu), atol=1e-10)


def test_streaming_and_metrics_on_each_device(device: torch.device) -> None:
    outputs = _outputs()
    seg = outputs["segmentation"].to(device)
    streamed = segmentation.stream_scores(iter([seg[:5], seg[5:]]), "bald", "top_q", q=0.2)
    assert streamed.device == seg.device
    y_seg = segmentation.predict(seg)
    assert TASK_METRICS["segmentation"](y_seg, seg)["pixel_accuracy"] == 1.0
    y_ml = torch.zeros(12, 3, device=device)
    y_ml[0] = 1
    assert set(TASK_METRICS["multilabel"](y_ml, outputs["multilabel"].to(device))) == {
        "f1_micro",
        "f1_macro",
        "mean_average_precision",
    }
    y_reg = torch.zeros(12, device=device)
    cpu = TASK_METRICS["regression"](y_reg.cpu(), outputs["regression"])
    assert TASK_METRICS["regression"](y_reg, outputs["regression"].to(device)) == pytest.approx(cpu)
