"""Every registered strategy scores and selects on each device (CUDA when present), and
pointwise scores there equal the CPU's."""

from __future__ import annotations

import pytest
import torch

from bayesal.acquisition import available_strategies, get_strategy, is_pointwise


@pytest.mark.parametrize("name", available_strategies())
def test_strategies_on_each_device(name: str, device: torch.device) -> None:
    g = torch.Generator().manual_seed(0)
    log_probs_cpu = torch.randn(30, 6, 4, generator=g, dtype=torch.float64).log_softmax(-1)
    log_probs = log_probs_cpu.to(device)
    strategy = get_strategy(name)
    target = log_probs[:7] if strategy.needs_target else None
    picks = strategy.select(
        log_probs, 3, generator=torch.Generator().manual_seed(1), log_probs_target_M_K_C=target
    )
    assert len(set(picks.indices_B.tolist())) == 3
    if is_pointwise(strategy) and name != "random":
        on_device = strategy.score(log_probs, generator=torch.Generator().manual_seed(1))
        on_cpu = strategy.score(log_probs_cpu, generator=torch.Generator().manual_seed(1))
        assert torch.allclose(on_device.cpu(), on_cpu, atol=1e-10)
