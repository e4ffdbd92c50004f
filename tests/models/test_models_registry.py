"""build_model: names, deterministic seeded init, untouched global RNG, clear errors."""

from __future__ import annotations

import pytest
import torch

from bayesal.errors import InvalidInputError
from bayesal.models import GalCNN, TwoMoonsMLP, available_models, build_model


def params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_available_models() -> None:
    assert available_models() == ["gal_cnn", "mlp", "two_moons_mlp", "unet"]
    assert isinstance(build_model("gal_cnn", seed=0), GalCNN)
    assert isinstance(build_model("two_moons_mlp", seed=0), TwoMoonsMLP)


@pytest.mark.parametrize("name", ["gal_cnn", "two_moons_mlp"])
def test_same_seed_same_parameters_different_seed_different(name: str) -> None:
    a, b, c = (params(build_model(name, seed=s)) for s in (3, 3, 4))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, z) for x, z in zip(a, c, strict=True))


def test_global_rng_untouched_and_independent_of_it() -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = params(build_model("two_moons_mlp", seed=7))
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)  # a different global state gives the same model
    second = params(build_model("two_moons_mlp", seed=7))
    assert all(torch.equal(x, y) for x, y in zip(first, second, strict=True))


def test_kwargs_are_passed() -> None:
    model = build_model("two_moons_mlp", seed=0, in_features=3, hidden=7, num_classes=4)
    assert model(torch.zeros(2, 3)).shape == (2, 4)
    assert build_model("gal_cnn", seed=0, num_classes=3)(torch.zeros(1, 1, 28, 28)).shape == (1, 3)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInputError, match="gal_cnn, mlp, two_moons_mlp"):
        build_model("resnet", seed=0)


def test_bad_kwargs_and_seed_raise() -> None:
    with pytest.raises(InvalidInputError, match="unexpected argument.*widht.*accepts: in_features"):
        build_model("two_moons_mlp", seed=0, widht=3)
    with pytest.raises(InvalidInputError, match="hidden"):
        build_model("two_moons_mlp", seed=0, hidden=-1)
    for seed in (-1, 1.5, True, "0"):
        with pytest.raises(InvalidInputError, match="seed"):
            build_model("gal_cnn", seed=seed)  # type: ignore[arg-type]
