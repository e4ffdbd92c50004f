"""A small U-Net (Ronneberger, Fischer & Brox 2015) for semantic segmentation, with
dropout before its per-pixel classifier for MC dropout.

:class:`UNet` maps images ``[N, in_channels, H, W]`` of any size to per-pixel logits
``[N, num_classes, H, W]``: ``depth`` down steps (two 3x3 convolutions, each with batch
norm and ReLU, then a 2x2 max-pool, doubling the channels), a bottleneck, and as many up
steps (a 2x2 transposed convolution, the skip connection of the same level concatenated,
two 3x3 convolutions). Batch norm runs in eval mode (running statistics) whenever the
learner scores or evaluates, as for every model; it was added because, in the trials made
while choosing the study's settings, the network without it needed far more Adam steps
to tell the shape types of :mod:`bayesal.data.shapes` apart (not a controlled
comparison). An image whose sides are not multiples of ``2**depth`` is zero-padded at
the bottom and right before the network and the logits are cropped back to ``H x W``.

It is an ``nn.Sequential`` of three modules: the U-Net body (:class:`UNetBody`, no
dropout), an ``nn.Dropout2d(dropout)`` on the body's ``base``-channel per-pixel
features, and the 1x1 convolution that classifies each pixel. Channel-wise dropout of a
1x1 convolution's input is dropout of the columns of its weight matrix, the same for
every pixel of an image: each MC-dropout mask is one sample of the classifier's weights
(Gal & Ghahramani 2016), shared by all pixels and images of one draw. Because the first
dropout comes after the body, MC dropout computes the body once per image and only the
1x1 convolution K times (:mod:`bayesal.posterior.mc_dropout`'s fast path for a
Sequential), which is what keeps scoring a pool of images cheap on a CPU.
``body_dropout`` (default 0) adds ``Dropout2d`` after each decoder step as well, for a
posterior over the decoder's weights too; the whole network then runs K times per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bayesal.models.two_moons import _check_dropout, _check_positive_int

__all__ = ["UNet", "UNetBody", "make_unet"]


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class UNetBody(nn.Module):
    """The U-Net without its classifier: ``[N, in_channels, H, W]`` -> per-pixel
    features ``[N, base, H, W]`` (any H, W: padded to a multiple of ``2**depth``, then
    cropped back)."""

    def __init__(
        self, in_channels: int = 1, base: int = 16, depth: int = 2, body_dropout: float = 0.0
    ) -> None:
        super().__init__()
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("base", base)
        _check_positive_int("depth", depth)
        _check_dropout("body_dropout", body_dropout)
        self.depth = depth
        widths = [base * 2**level for level in range(depth + 1)]
        self.down = nn.ModuleList()
        channels = in_channels
        for width in widths[:-1]:
            self.down.append(_block(channels, width))
            channels = width
        self.bottom = _block(widths[-2], widths[-1])
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        self.drop = nn.ModuleList()
        for level in reversed(range(depth)):
            self.up.append(nn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2))
            self.merge.append(_block(2 * widths[level], widths[level]))
            self.drop.append(nn.Dropout2d(body_dropout))

    def forward(self, x: Tensor) -> Tensor:
        """``[N, in_channels, H, W] -> [N, base, H, W]``."""
        height, width = x.shape[-2:]
        step = 2**self.depth
        pad_h, pad_w = (-height) % step, (-width) % step
        h = F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x
        skips = []
        for block in self.down:
            h = block(h)
            skips.append(h)
            h = F.max_pool2d(h, 2)
        h = self.bottom(h)
        for up, merge, drop, skip in zip(
            self.up, self.merge, self.drop, reversed(skips), strict=True
        ):
            h = drop(merge(torch.cat([up(h), skip], dim=1)))
        out: Tensor = h[..., :height, :width]
        return out


class UNet(nn.Sequential):
    """A small U-Net returning per-pixel logits ``[N, num_classes, H, W]`` (see the module
    docstring): :class:`UNetBody`, ``Dropout2d(dropout)``, a 1x1 convolution.

    Args:
        in_channels: the images' channels.
        num_classes: C, the classes of a pixel (>= 2).
        base: the channels of the first level (doubled at each level down).
        depth: the number of 2x2 max-pools.
        dropout: the channel dropout before the classifier (MC dropout needs it > 0).
        body_dropout: channel dropout after each decoder step (default 0: none).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 4,
        base: int = 16,
        depth: int = 2,
        dropout: float = 0.5,
        body_dropout: float = 0.0,
    ) -> None:
        _check_positive_int("num_classes", num_classes, minimum=2)
        _check_dropout("dropout", dropout)
        super().__init__(
            UNetBody(in_channels, base, depth, body_dropout),
            nn.Dropout2d(dropout),
            nn.Conv2d(base, num_classes, 1),
        )

    def features(self, x: Tensor) -> Tensor:
        """``[N, base]``: the per-pixel features the classifier reads (the body's output),
        averaged over the pixels of each image (an image embedding for k-center cold
        starts and embedding strategies; eval mode makes it deterministic)."""
        body: Tensor = self[0](x)
        return body.mean(dim=(2, 3))


def make_unet(
    in_channels: int = 1,
    num_classes: int = 4,
    base: int = 16,
    depth: int = 2,
    dropout: float = 0.5,
    body_dropout: float = 0.0,
) -> UNet:
    """A fresh :class:`UNet` (defaults: one input channel and four classes, the shapes
    dataset's :func:`~bayesal.data.shapes.load_shapes`)."""
    return UNet(in_channels, num_classes, base, depth, dropout, body_dropout)
