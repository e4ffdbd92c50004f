"""Deep-ensemble posterior: stacks each member's log-softmax; strict K; modes; errors."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from bayesal.errors import InvalidInputError
from bayesal.models import build_model
from bayesal.posterior import EnsemblePosterior


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def members(count: int) -> list[nn.Module]:
    return [build_model("two_moons_mlp", seed=s, num_classes=3) for s in range(count)]


def test_shape_and_equals_each_member_in_eval_mode() -> None:
    ensemble = members(4)
    x = torch.randn(13, 2, generator=gen(0))
    out = EnsemblePosterior(ensemble).log_probs(x, 4, gen(0))
    assert out.shape == (13, 4, 3)
    for k, member in enumerate(ensemble):
        member.eval()
        with torch.no_grad():
            expected = torch.log_softmax(member(x), dim=-1)
        torch.testing.assert_close(out[:, k], expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.logsumexp(-1), torch.zeros(13, 4), atol=1e-5, rtol=0)
    # Members are different networks, so the samples differ.
    assert not torch.allclose(out[:, 0], out[:, 1])


def test_deterministic_chunked_and_rng_untouched() -> None:
    ensemble = members(3)
    for member in ensemble:
        member.train()  # dropout must be off while scoring: results are deterministic
    posterior = EnsemblePosterior(ensemble)
    x = torch.randn(10, 2, generator=gen(1))
    state = torch.get_rng_state()
    g = gen(5)
    g_state = g.get_state()
    a = posterior.log_probs(x, 3, g)
    b = posterior.log_probs(x, 3, gen(6), chunk_size=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(g.get_state(), g_state)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)  # BLAS blocking may differ by chunk
    assert all(m.training for member in ensemble for m in member.modules())  # restored
    assert not a.requires_grad


def test_batchnorm_members_use_running_stats() -> None:
    member = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    with torch.no_grad():
        member[1].running_mean.fill_(3.0)
    member.train()
    x = torch.randn(6, 2, generator=gen(2))
    out = EnsemblePosterior([member]).log_probs(x, 1, gen(0))
    assert torch.equal(member[1].running_mean, torch.full((4,), 3.0))
    member.eval()
    with torch.no_grad():
        torch.testing.assert_close(out[:, 0], torch.log_softmax(member(x), -1))


@pytest.mark.parametrize("k", [2, 4])
def test_num_samples_must_equal_ensemble_size(k: int) -> None:
    posterior = EnsemblePosterior(members(3))
    assert posterior.num_members == 3
    with pytest.raises(InvalidInputError, match="num_samples=3"):
        posterior.draw(k, gen(0))


def test_bad_members_raise() -> None:
    with pytest.raises(InvalidInputError, match="at least one member"):
        EnsemblePosterior([])
    with pytest.raises(InvalidInputError, match="member 1"):
        EnsemblePosterior([nn.Linear(2, 2), "net"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="sequence"):
        EnsemblePosterior(nn.Linear(2, 2))  # type: ignore[arg-type]


def test_members_with_different_outputs_raise() -> None:
    posterior = EnsemblePosterior([nn.Linear(2, 3), nn.Linear(2, 4)])
    with pytest.raises(InvalidInputError, match="number of classes"):
        posterior.log_probs(torch.zeros(5, 2), 2, gen(0))

    class NotLogits(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return x.sum()

    with pytest.raises(InvalidInputError, match="logits"):
        EnsemblePosterior([NotLogits()]).log_probs(torch.zeros(5, 2), 1, gen(0))
