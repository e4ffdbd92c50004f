"""Every registered strategy scores and selects on each device (CUDA when present), and
pointwise scores there equal the CPU's."""

from __future__ import annotations

import pytest
import torch

from bayesal.acquisition import (
    EMBEDDINGS,
    LABELLED_EMBEDDINGS,
    available_strategies,
    get_strategy,
    is_pointwise,
    strategy_inputs,
)


@pytest.mark.parametrize("name", available_strategies())
def test_strategies_on_each_device(name: str, device: torch.device) -> None:
    g = torch.Generator().manual_seed(0)
    log_probs_cpu = torch.randn(30, 6, 4, generator=g, dtype=torch.float64).log_softmax(-1)
    log_probs = log_probs_cpu.to(device)
    strategy = get_strategy(name)
    target = log_probs[:7] if strategy.needs_target else None
    extra = {}
    if EMBEDDINGS in strategy_inputs(strategy):
        extra["embeddings_N_D"] = torch.randn(30, 5, generator=g, dtype=torch.float64).to(device)
    if LABELLED_EMBEDDINGS in strategy_inputs(strategy):
        extra["labelled_embeddings_L_D"] = torch.randn(4, 5, generator=g).double().to(device)
    picks = strategy.select(
        log_probs,
        3,
        generator=torch.Generator().manual_seed(1),
        log_probs_target_M_K_C=target,
        **extra,
    )
    assert len(set(picks.indices_B.tolist())) == 3
    assert picks.indices_B.device == picks.scores_B.device == log_probs.device
    if is_pointwise(strategy) and name != "random":
        on_device = strategy.score(log_probs, generator=torch.Generator().manual_seed(1))
        on_cpu = strategy.score(log_probs_cpu, generator=torch.Generator().manual_seed(1))
        assert torch.allclose(on_device.cpu(), on_cpu, atol=1e-10)
