"""Image augmentations in plain torch (no torchvision), random under an explicit generator.

:func:`random_affine` is SimCLR's "random resized crop" for small grey-scale digits: a
random zoom (crop then resize), rotation, shear-free translation, applied with one
``affine_grid`` / ``grid_sample`` per batch; pixels that come from outside the image take
the border value (the background of MNIST-like data, whatever the normalisation).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def random_affine(
    x_N_C_H_W: Tensor,
    generator: torch.Generator,
    *,
    scale: tuple[float, float] = (0.7, 1.1),
    max_rotation_deg: float = 20.0,
    max_shift: float = 0.15,
    noise_std: float = 0.0,
) -> Tensor:
    """One random affine view of every image of ``x_N_C_H_W`` (same shape out).

    Per image: a zoom factor uniform in ``scale`` (> 1 zooms in, like a crop resized
    back), a rotation uniform in +-``max_rotation_deg`` degrees, a translation uniform in
    +-``max_shift`` of the image size on each axis, then optional Gaussian pixel noise.
    All draws come from ``generator`` (on the CPU), so a view is a function of the
    generator's state.
    """
    n = len(x_N_C_H_W)
    u_N_4 = torch.rand(n, 4, generator=generator)
    zoom_N = scale[0] + (scale[1] - scale[0]) * u_N_4[:, 0]
    angle_N = math.radians(max_rotation_deg) * (2 * u_N_4[:, 1] - 1)
    shift_N_2 = max_shift * 2 * (2 * u_N_4[:, 2:] - 1)  # grid coordinates span [-1, 1]
    cos_N, sin_N = torch.cos(angle_N) / zoom_N, torch.sin(angle_N) / zoom_N
    theta_N_2_3 = torch.stack(
        [
            torch.stack([cos_N, -sin_N, shift_N_2[:, 0]], dim=1),
            torch.stack([sin_N, cos_N, shift_N_2[:, 1]], dim=1),
        ],
        dim=1,
    ).to(x_N_C_H_W)
    grid = F.affine_grid(theta_N_2_3, list(x_N_C_H_W.shape), align_corners=False)
    out = F.grid_sample(x_N_C_H_W, grid, padding_mode="border", align_corners=False)
    if noise_std > 0:
        out = out + noise_std * torch.randn(out.shape, generator=generator).to(out)
    return out


def random_colour(x_N_C_H_W: Tensor, generator: torch.Generator, *, strength: float) -> Tensor:
    """SimCLR's colour distortion for colour images (``C > 1``; others are returned as
    they are, drawing nothing): per image a random brightness, contrast and saturation
    factor uniform in ``1 +- 0.8 strength``, a random channel order (a coarse hue change)
    and, with probability 0.2, grey. Without it a contrastive encoder can match two views
    by their colours alone and learn nothing about shapes (measured in docs/encoders.md).
    """
    n, c = x_N_C_H_W.shape[:2]
    if c == 1 or strength <= 0:
        return x_N_C_H_W
    u_N_4 = torch.rand(n, 4, generator=generator).to(x_N_C_H_W)
    spread = 0.8 * strength

    def factor(u_N: Tensor) -> Tensor:
        return (1 + spread * (2 * u_N - 1)).view(n, 1, 1, 1)

    out = x_N_C_H_W * factor(u_N_4[:, 0])
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * factor(u_N_4[:, 1]) + mean
    grey = out.mean(dim=1, keepdim=True)
    out = grey + (out - grey) * factor(u_N_4[:, 2])
    order = torch.argsort(torch.rand(n, c, generator=generator), dim=1).to(out.device)
    out = torch.gather(out, 1, order.view(n, c, 1, 1).expand_as(out))
    to_grey = (u_N_4[:, 3] < 0.2).view(n, 1, 1, 1)
    return torch.where(to_grey, out.mean(dim=1, keepdim=True).expand_as(out), out)
