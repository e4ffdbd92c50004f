"""Every posterior on every device: [N, K, C] on the model's device from CPU inputs,
normalised, consistent across inputs and chunks, seeded, RNG untouched, equal to the CPU.

Runs once per device of the ``device`` fixture (tests/conftest.py): the CPU always, CUDA
when available (``pytest -k cuda`` selects that half).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import pytest
import torch
from torch import Tensor, nn

from bayesal.models import build_model
from bayesal.posterior import EnsemblePosterior, MCDropoutPosterior, Posterior

ATOL = 1e-5


@pytest.fixture(autouse=True)
def full_float32() -> Iterator[None]:
    """No TF32 on CUDA during these tests (cuDNN convolutions use it by default, which is
    about 1e-3 off float32): results must match the CPU's within 1e-5."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (cudnn.allow_tf32, matmul.allow_tf32)
    cudnn.allow_tf32, matmul.allow_tf32 = False, False
    try:
        yield
    finally:
        cudnn.allow_tf32, matmul.allow_tf32 = saved


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def same(a: Tensor, b: Tensor, device: torch.device) -> None:
    """Bit-identical on the CPU; on an accelerator, kernels picked per batch shape may
    round differently, so equal within 1e-5."""
    if device.type == "cpu":
        assert torch.equal(a, b)
    else:
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def rng_states(device: torch.device) -> list[Tensor]:
    """The global generator states a posterior must leave alone: CPU, and CUDA if used."""
    states = [torch.get_rng_state()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    return states


# Each case: (build the model(s) on the CPU, wrap them in a posterior, K, input maker).
Case = tuple[Callable[[], list[nn.Module]], Callable[[list[nn.Module]], Posterior], int]


def _mlp() -> list[nn.Module]:
    return [build_model("two_moons_mlp", seed=0, num_classes=3)]


def _cnn() -> list[nn.Module]:
    return [build_model("gal_cnn", seed=0)]


def _members() -> list[nn.Module]:
    return [build_model("two_moons_mlp", seed=s, num_classes=3) for s in range(3)]


CASES: dict[str, Case] = {
    "mlp_fast": (_mlp, lambda ms: MCDropoutPosterior(ms[0]), 9),
    "mlp_general": (_mlp, lambda ms: MCDropoutPosterior(ms[0], fast_path=False), 9),
    "cnn_fast": (_cnn, lambda ms: MCDropoutPosterior(ms[0]), 5),
    "cnn_general": (_cnn, lambda ms: MCDropoutPosterior(ms[0], fast_path=False), 5),
    "ensemble": (_members, EnsemblePosterior, 3),
}


def inputs(name: str, n: int, seed: int = 0) -> Tensor:
    if name.startswith("cnn"):
        return torch.rand(n, 1, 28, 28, generator=gen(seed))
    return torch.randn(n, 2, generator=gen(seed)) * 2


def build(name: str, device: torch.device) -> tuple[Posterior, list[nn.Module], int]:
    make, wrap, k = CASES[name]
    models = [m.to(device) for m in make()]
    return wrap(models), models, k


@pytest.mark.parametrize("name", list(CASES))
def test_shape_device_normalised_consistent_seeded(name: str, device: torch.device) -> None:
    posterior, models, k = build(name, device)
    x = inputs(name, 64)  # on the CPU: the posterior moves it
    x[40] = x[3]  # a repeated input gets exactly the same K outputs
    before = rng_states(device)
    out = posterior.log_probs(x, k, gen(7))
    assert out.shape[:2] == (64, k)
    assert out.device.type == device.type
    assert not out.requires_grad
    torch.testing.assert_close(
        out.logsumexp(-1), torch.zeros(64, k, device=out.device), atol=1e-5, rtol=0
    )
    tol = 1e-6 if device.type == "cpu" else ATOL
    torch.testing.assert_close(out[40], out[3], atol=tol, rtol=0)
    # One draw shared by all chunks: chunking changes nothing.
    chunked = posterior.log_probs(x, k, gen(7), chunk_size=10)
    torch.testing.assert_close(chunked, out, atol=tol, rtol=0)
    draw = posterior.draw(k, gen(7))
    parts = torch.cat([draw.log_probs(x[:5]), draw.log_probs(x[5:6]), draw.log_probs(x[6:])])
    torch.testing.assert_close(parts, out, atol=tol, rtol=0)
    # Seeded: the same generator seed repeats; inputs already on the device agree.
    same(posterior.log_probs(x, k, gen(7)), out, device)
    same(posterior.log_probs(x.to(device), k, gen(7)), out, device)
    if name != "ensemble":  # an ensemble's draw is deterministic
        assert not torch.allclose(posterior.log_probs(x, k, gen(8)), out)
    after = rng_states(device)
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert all(p.device.type == device.type for m in models for p in m.parameters())


@pytest.mark.parametrize("name", list(CASES))
def test_equals_the_cpu_result(name: str, device: torch.device) -> None:
    """Masks come from CPU generators, so a draw is the same on every device."""
    cpu_posterior, cpu_models, k = build(name, torch.device("cpu"))
    on_device = CASES[name][1]([copy.deepcopy(m).to(device) for m in cpu_models])
    x = inputs(name, 130, seed=1)
    expected = cpu_posterior.log_probs(x, k, gen(3))
    got = on_device.log_probs(x, k, gen(3))
    assert got.device.type == device.type
    torch.testing.assert_close(got.cpu(), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", list(CASES))
def test_every_layer_computes_on_the_model_device(name: str, device: torch.device) -> None:
    """No layer silently receives CPU activations while the model is elsewhere."""
    posterior, models, k = build(name, device)
    seen: set[str] = set()
    for model in models:
        for module in model.modules():
            if not list(module.children()):
                module.register_forward_hook(
                    lambda m, args, out: seen.update(
                        a.device.type for a in (*args, out) if isinstance(a, Tensor)
                    )
                )
    posterior.log_probs(inputs(name, 20), k, gen(0))
    assert seen == {device.type}


@pytest.mark.parametrize("name", list(CASES))
def test_float64_inputs_and_float64_models(name: str, device: torch.device) -> None:
    posterior, models, k = build(name, device)
    x = inputs(name, 12, seed=2)
    expected = posterior.log_probs(x, k, gen(4))
    # float64 inputs (numpy-derived) score a float32 model; the cast back is exact here.
    same(posterior.log_probs(x.double(), k, gen(4)), expected, device)
    # A float64 model gets float32 inputs converted up, and returns float64 log-probs.
    for model in models:
        model.double()
    out = posterior.log_probs(x, k, gen(4))
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.float(), expected, atol=ATOL, rtol=0)


def test_empty_input_on_device(device: torch.device) -> None:
    for name in ("mlp_fast", "mlp_general", "ensemble"):
        posterior, _, k = build(name, device)
        out = posterior.log_probs(inputs(name, 0), k, gen(0))
        assert out.shape == (0, k, 3)
        assert out.device.type == device.type
