"""Architectures: shapes, the Gal et al. (2017) layer list, configurability, checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bayesal.errors import InvalidInputError
from bayesal.models import MLP, TWO_MOONS_DROPOUT, GalCNN, TwoMoonsMLP
from bayesal.posterior import MCDropoutPosterior


def test_two_moons_mlp_layers_and_shapes() -> None:
    model = TwoMoonsMLP()
    assert isinstance(model, nn.Sequential)
    kinds = [type(m) for m in model]
    assert kinds == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert (model[0].in_features, model[0].out_features) == (2, 50)
    assert (model[3].in_features, model[3].out_features) == (50, 50)
    assert (model[6].in_features, model[6].out_features) == (50, 2)
    assert model[2].p == model[5].p == TWO_MOONS_DROPOUT
    assert model(torch.zeros(7, 2)).shape == (7, 2)
    wide = TwoMoonsMLP(in_features=5, hidden=8, num_classes=4, dropout=0.3)
    assert wide(torch.zeros(3, 5)).shape == (3, 4)
    assert wide[2].p == 0.3


def test_gal_cnn_matches_the_paper() -> None:
    model = GalCNN()
    kinds = [type(m) for m in model]
    assert kinds == [
        nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Dropout,
        nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear,
    ]  # fmt: skip
    for conv, in_channels in ((model[0], 1), (model[2], 32)):
        assert conv.in_channels == in_channels and conv.out_channels == 32
        assert conv.kernel_size == (4, 4)
    assert model[4].kernel_size == 2
    assert (model[5].p, model[9].p) == (0.25, 0.5)
    # 28 -> 25 -> 22 -> pool 11: 32 * 11 * 11 features into the dense 128 layer.
    assert (model[7].in_features, model[7].out_features) == (32 * 11 * 11, 128)
    assert model[10].out_features == 10
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_gal_cnn_configurable() -> None:
    model = GalCNN(in_channels=3, image_size=32, num_classes=5, hidden=64)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert model[7].in_features == 32 * 13 * 13
    assert GalCNN(image_size=8)(torch.zeros(1, 1, 8, 8)).shape == (1, 10)
    with pytest.raises(InvalidInputError, match="image_size"):
        GalCNN(image_size=7)


def test_mlp_flattens_and_stacks_hidden_layers() -> None:
    model = MLP(in_features=64, num_classes=10, hidden=32, depth=3, dropout=0.1)
    kinds = [type(m) for m in model]
    assert kinds == [nn.Flatten] + [nn.Linear, nn.ReLU, nn.Dropout] * 3 + [nn.Linear]
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)  # images are flattened
    assert model(torch.zeros(5, 64)).shape == (5, 10)
    assert (model[1].in_features, model[-1].out_features) == (64, 10)
    with pytest.raises(RuntimeError):
        model(torch.zeros(5, 63))


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: MLP(in_features=0, num_classes=2), "in_features"),
        (lambda: MLP(in_features=4, num_classes=1), "num_classes"),
        (lambda: MLP(in_features=4, num_classes=2, depth=0), "depth"),
        (lambda: MLP(in_features=4, num_classes=2, dropout=1.0), "dropout"),
        (lambda: TwoMoonsMLP(hidden=0), "hidden"),
        (lambda: TwoMoonsMLP(num_classes=1), "num_classes"),
        (lambda: TwoMoonsMLP(dropout=1.0), "dropout"),
        (lambda: TwoMoonsMLP(dropout=-0.1), "dropout"),
        (lambda: TwoMoonsMLP(in_features=2.5), "in_features"),
        (lambda: GalCNN(conv_dropout=float("nan")), "conv_dropout"),
        (lambda: GalCNN(in_channels=True), "in_channels"),
    ],
)
def test_bad_values_raise(factory, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        factory()


@pytest.mark.parametrize(
    "model", [TwoMoonsMLP(), GalCNN(), MLP(4, 3)], ids=["two_moons_mlp", "cnn", "mlp"]
)
def test_models_get_the_mc_dropout_fast_path(model: nn.Module) -> None:
    draw = MCDropoutPosterior(model).draw(2, torch.Generator().manual_seed(0))
    assert draw.uses_fast_path
