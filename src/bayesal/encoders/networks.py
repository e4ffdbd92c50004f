"""Small convolutional networks for the built-in MNIST-family encoders.

:class:`ConvEncoder` maps images ``[N, C, H, W]`` to features ``[N, D]``; it is the part
that is kept (frozen) after training. :class:`ConvDecoder` (autoencoder) and
:class:`ProjectionHead` (SimCLR) exist only during the encoder's training.
"""

from __future__ import annotations

import math

from torch import Tensor, nn


class ConvEncoder(nn.Sequential):
    """``[N, C, H, W] -> [N, features]``: three strided 3x3 convolutions with BatchNorm
    and ReLU (``width``, ``2 width``, ``4 width`` channels; 28x28 -> 14 -> 7 -> 4),
    then global average pooling (``pool="avg"``) or the flattened ``4 width x 4 x 4``
    map (``pool="flatten"``: keeps where strokes are), then a linear layer to ``features``.

    BatchNorm is used in training only; features are computed in eval mode (running
    statistics), so one image's features never depend on the other images of a batch.
    """

    def __init__(
        self,
        in_channels: int = 1,
        width: int = 32,
        features: int = 128,
        pool: str = "avg",
        size: int = 28,
    ) -> None:
        layers: list[nn.Module] = []
        channels = in_channels
        for out in (width, 2 * width, 4 * width):
            layers += [
                nn.Conv2d(channels, out, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(),
            ]
            channels = out
        if pool == "avg":
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, features)]
        elif pool == "flatten":
            side = size
            for _ in range(3):
                side = (side + 1) // 2
            layers += [nn.Flatten(), nn.Linear(channels * side * side, features)]
        else:
            raise ValueError(f"pool must be 'avg' or 'flatten', got {pool!r}")
        super().__init__(*layers)
        self.features = features


class ConvDecoder(nn.Module):
    """``[N, features] -> [N, C, H, W]``: the mirror of :class:`ConvEncoder` (a linear
    layer to ``4 width x h x w``, then transposed convolutions up to ``H x W``)."""

    def __init__(
        self, out_channels: int = 1, width: int = 32, features: int = 128, size: int = 28
    ) -> None:
        super().__init__()
        self.size = size
        self.start = math.ceil(size / 8)
        self.width = width
        self.linear = nn.Linear(features, 4 * width * self.start * self.start)
        self.net = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, out_channels, 4, stride=2, padding=1),
        )

    def forward(self, z_N_D: Tensor) -> Tensor:
        h = self.linear(z_N_D).view(len(z_N_D), 4 * self.width, self.start, self.start)
        out: Tensor = self.net(h)
        return out[..., : self.size, : self.size]


class ProjectionHead(nn.Sequential):
    """SimCLR's projection ``g``: ``Linear -> ReLU -> Linear`` (the loss is taken on its
    output; the features before it are the ones kept)."""

    def __init__(self, features: int = 128, hidden: int = 128, out: int = 64) -> None:
        super().__init__(nn.ReLU(), nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, out))
