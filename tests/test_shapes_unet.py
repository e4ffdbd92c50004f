"""The shapes segmentation dataset (bayesal.data.shapes) and the U-Net
(bayesal.models.unet): seeded, documented sizes, masks that match the drawn shapes, any
image size and channel count, registered by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bayesal.data.registry import load_dataset
from bayesal.data.shapes import SHAPE_CLASSES, SegmentationDataset, load_shapes, make_shapes
from bayesal.errors import InvalidInputError
from bayesal.models.registry import build_model
from bayesal.models.unet import UNet, make_unet
from bayesal.posterior.mc_dropout import MCDropoutPosterior


def test_load_shapes_defaults_give_400_pool_and_200_test_images_of_32_by_32() -> None:
    d = load_shapes()
    assert isinstance(d, SegmentationDataset)
    assert d.train_x.shape == (400, 1, 32, 32) and d.train_y.shape == (400, 32, 32)
    assert d.test_x.shape == (200, 1, 32, 32) and d.test_y.shape == (200, 32, 32)
    assert d.train_x.dtype == torch.float32 and d.train_y.dtype == torch.int64
    assert d.num_classes == len(SHAPE_CLASSES) == 4
    assert set(torch.unique(d.train_y).tolist()) == {0, 1, 2, 3}
    assert 0.0 <= float(d.train_x.min()) and float(d.train_x.max()) <= 1.0


def test_same_seed_same_tensors_and_another_seed_other_tensors() -> None:
    a, b, c = (load_shapes(20, 5, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, c.train_x)


def test_test_images_follow_the_training_images_in_one_stream() -> None:
    x, y = make_shapes(25, seed=4)
    d = load_shapes(20, 5, seed=4)
    assert torch.equal(d.train_x, x[:20]) and torch.equal(d.test_y, y[20:])


def test_without_noise_each_class_lies_in_its_intensity_band() -> None:
    x, y = make_shapes(30, noise=0.0, seed=0)
    bands = {0: (0.0, 0.2 + 0.1), 1: (0.85, 1.0), 2: (0.65, 0.8), 3: (0.45, 0.6)}
    for c, (low, high) in bands.items():
        pixels = x[:, 0][y == c]
        assert len(pixels) > 0
        assert float(pixels.min()) >= low - 1e-6 and float(pixels.max()) <= high + 1e-6


def test_registered_as_shapes() -> None:
    d = load_dataset("shapes", n_train=6, n_test=2, image_size=16)
    assert d.train_y.shape == (6, 16, 16)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_size": 4}, "image_size"),
        ({"max_shapes": 0}, "max_shapes"),
        ({"noise": -0.1}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make_shapes(3, **kwargs)  # type: ignore[arg-type]


def test_segmentation_dataset_refuses_masks_that_do_not_match_images() -> None:
    x = torch.zeros(2, 1, 8, 8)
    with pytest.raises(InvalidInputError, match="do not match"):
        SegmentationDataset(
            "s",
            x,
            torch.zeros(2, 8, 7, dtype=torch.int64),
            x,
            torch.zeros(2, 8, 8, dtype=torch.int64),
            2,
        )
    with pytest.raises(InvalidInputError, match=r"classes must lie in \[0, 2\)"):
        SegmentationDataset(
            "s", x, torch.full((2, 8, 8), 2), x, torch.zeros(2, 8, 8, dtype=torch.int64), 2
        )


@pytest.mark.parametrize(("channels", "height", "width"), [(1, 32, 32), (3, 17, 30), (2, 9, 5)])
def test_unet_returns_per_pixel_logits_of_the_input_size(
    channels: int, height: int, width: int
) -> None:
    net = make_unet(in_channels=channels, num_classes=5, base=4, depth=2).eval()
    out = net(torch.rand(2, channels, height, width))
    assert out.shape == (2, 5, height, width)
    assert net.features(torch.rand(2, channels, height, width)).shape == (2, 4)


def test_unet_is_a_plain_sequential_with_dropout_before_the_classifier() -> None:
    net = make_unet(base=4)
    assert isinstance(net, nn.Sequential) and type(net).forward is nn.Sequential.forward
    assert isinstance(net[1], nn.Dropout2d) and isinstance(net[2], nn.Conv2d)
    draw = MCDropoutPosterior(nn.Sequential(net, nn.Flatten())).draw(3, torch.Generator())
    assert draw.uses_fast_path  # the body runs once per image, the 1x1 classifier K times


def test_unet_registered_as_unet_and_seeded() -> None:
    a, b = build_model("unet", seed=0, base=4), build_model("unet", seed=0, base=4)
    assert isinstance(a, UNet)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_unet_refuses_bad_settings() -> None:
    with pytest.raises(InvalidInputError, match="num_classes"):
        make_unet(num_classes=1)
    with pytest.raises(InvalidInputError, match="dropout"):
        make_unet(dropout=1.0)


def test_mc_dropout_fast_path_equals_the_general_path_on_the_unet() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(make_unet(base=4), nn.Flatten()).eval()
    x = torch.rand(3, 1, 12, 12)
    fast = MCDropoutPosterior(net).draw(4, torch.Generator().manual_seed(1)).log_probs(x)
    slow = MCDropoutPosterior(net, fast_path=False).draw(4, torch.Generator().manual_seed(1))
    assert torch.allclose(fast, slow.log_probs(x), atol=1e-5)
    assert np.isfinite(fast.numpy()).all()
