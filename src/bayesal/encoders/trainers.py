"""Built-in encoders trained without labels on the pool's inputs.

An :class:`EncoderTrainer` knows an architecture (:meth:`~EncoderTrainer.build`) and how
to train it on unlabelled inputs ``x_N`` (:meth:`~EncoderTrainer.train`): it never
sees a label, and the caller hands it the training pool only (never the test set).
Training is deterministic under its seed: the network is initialised inside a forked
RNG seeded from it, and every shuffle and augmentation draws from explicit
``torch.Generator`` streams derived from it; the caller's global RNG is untouched.

- :class:`SimCLRTrainer`: contrastive (SimCLR, Chen et al. 2020): two random affine
  views of every image (:func:`~bayesal.encoders.augment.random_affine`), the NT-Xent
  loss on a small projection head; the features are the encoder's output before it.
- :class:`AutoencoderTrainer`: a convolutional autoencoder (mean squared reconstruction
  error); the features are the bottleneck.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from bayesal.encoders.augment import random_affine, random_colour
from bayesal.encoders.networks import ConvDecoder, ConvEncoder, ProjectionHead
from bayesal.errors import InvalidInputError


@dataclass
class TrainingLog:
    """What an encoder's training did: epochs, the mean loss of every epoch, seconds."""

    epochs: int = 0
    loss_per_epoch: list[float] = field(default_factory=list)
    seconds: float = 0.0
    num_examples: int = 0
    steps: int = 0


def _streams(seed: int, n: int) -> list[int]:
    """``n`` independent 63-bit seeds derived from ``seed``."""
    state = np.random.SeedSequence([seed, 0xE11C0DE]).generate_state(n, dtype=np.uint64)
    return [int(s >> np.uint64(1)) for s in state]


def _check_images(x: Tensor) -> None:
    if not isinstance(x, Tensor) or x.ndim != 4 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise InvalidInputError(
            f"the built-in encoders train on float images [N, C, H, W], got {shape}; for "
            "other inputs give your own encoder as an import path 'package.module:factory'"
        )
    if len(x) < 2:
        raise InvalidInputError(f"an encoder needs at least 2 training inputs, got {len(x)}")


def _positive(name: str, value: Any, kind: type = int) -> None:
    ok = isinstance(value, int | float) and isinstance(value, kind)
    ok = ok and not isinstance(value, bool) and value > 0
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        ok = ok and math.isfinite(value)
    if not ok:
        raise InvalidInputError(f"{name} must be a positive {kind.__name__}, got {value!r}")


class EncoderTrainer(ABC):
    """An encoder architecture plus an unsupervised training recipe."""

    #: The registered name of the recipe, in records.
    name: str = "encoder"

    def __init__(
        self,
        *,
        features: int,
        width: int,
        epochs: int,
        batch_size: int,
        lr: float,
        pool: str = "avg",
        min_steps: int = 0,
    ) -> None:
        if isinstance(min_steps, bool) or not isinstance(min_steps, int) or min_steps < 0:
            raise InvalidInputError(f"min_steps must be a non-negative integer, got {min_steps!r}")
        for key, value in (
            ("features", features),
            ("width", width),
            ("epochs", epochs),
            ("batch_size", batch_size),
        ):
            _positive(key, value)
        _positive("lr", lr, float)
        if pool not in ("avg", "flatten"):
            raise InvalidInputError(f"pool must be 'avg' or 'flatten', got {pool!r}")
        self.pool = pool
        self.features, self.width, self.epochs = features, width, epochs
        self.batch_size, self.lr = batch_size, float(lr)
        self.min_steps = min_steps

    def epochs_for(self, n: int) -> int:
        """Epochs trained on a pool of ``n`` inputs: ``epochs``, or more where a small
        pool would give fewer than ``min_steps`` optimiser steps."""
        steps_per_epoch = max(n // min(self.batch_size, n), 1)
        return max(self.epochs, math.ceil(self.min_steps / steps_per_epoch))

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The recipe's parameters (they enter the cache key)."""

    def build(self, input_shape: tuple[int, ...]) -> nn.Module:
        """The untrained encoder for inputs of ``input_shape`` (``(C, H, W)``)."""
        return ConvEncoder(
            input_shape[0], self.width, self.features, self.pool, size=input_shape[-1]
        )

    @abstractmethod
    def _train_parts(self, input_shape: tuple[int, ...]) -> nn.Module:
        """Everything that is trained (the encoder is its ``encoder`` attribute)."""

    @abstractmethod
    def _loss(self, parts: nn.Module, x_B: Tensor, generator: torch.Generator) -> Tensor: ...

    def train(self, x_N: Tensor, *, seed: int) -> tuple[nn.Module, TrainingLog]:
        """Train on the unlabelled images ``x_N`` ``[N, C, H, W]``; returns the encoder
        (eval mode, on the CPU) and its :class:`TrainingLog`."""
        _check_images(x_N)
        init_seed, shuffle_seed, augment_seed = _streams(seed, 3)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            parts = self._train_parts(tuple(x_N.shape[1:]))
        shuffle = torch.Generator().manual_seed(shuffle_seed)
        augment = torch.Generator().manual_seed(augment_seed)
        n = len(x_N)
        batch = min(self.batch_size, n)
        steps_per_epoch = n // batch  # drop the last partial batch (contrastive loss)
        epochs = self.epochs_for(n)
        total = steps_per_epoch * epochs
        optimizer = torch.optim.Adam(parts.parameters(), lr=self.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / max(total, 1)))
        )
        log = TrainingLog(num_examples=n)
        start = time.perf_counter()
        parts.train()
        # Steps, epoch, last epoch's loss and time left, on a terminal (silent otherwise).
        bar = tqdm(total=total, desc="encoder training", unit="step", disable=None)
        for epoch in range(epochs):
            bar.set_postfix_str(
                f"epoch {epoch + 1}/{epochs}"
                + (f", loss {log.loss_per_epoch[-1]:.3f}" if log.loss_per_epoch else "")
            )
            perm = torch.randperm(n, generator=shuffle)
            losses = []
            for i in range(steps_per_epoch):
                x_B = x_N[perm[i * batch : (i + 1) * batch]].float()
                loss = self._loss(parts, x_B, augment)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                losses.append(float(loss.detach()))
                log.steps += 1
                bar.update(1)
            log.epochs += 1
            log.loss_per_epoch.append(float(np.mean(losses)))
        bar.close()
        log.seconds = time.perf_counter() - start
        encoder = parts.get_submodule("encoder")
        encoder.eval()
        return encoder, log


class _SimCLRParts(nn.Module):
    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head


def nt_xent(z_2B_P: Tensor, temperature: float) -> Tensor:
    """SimCLR's NT-Xent loss (Chen et al. 2020, eq. 1) of ``2B`` projections where rows
    ``i`` and ``i + B`` are the two views of one image: the mean over the ``2B`` rows of
    ``-log softmax_j(sim(z_i, z_j) / t)`` at the other view, ``j != i``, with ``sim`` the
    cosine similarity."""
    z = F.normalize(z_2B_P, dim=1)
    b = len(z) // 2
    sim_2B_2B = z @ z.T / temperature
    sim_2B_2B = sim_2B_2B.masked_fill(torch.eye(2 * b, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(b)])
    return F.cross_entropy(sim_2B_2B, target)


class SimCLRTrainer(EncoderTrainer):
    """A SimCLR-style contrastive encoder (see the module docstring).

    Args:
        features: width D of the features kept.
        width: channels of the first convolution (then 2x, 4x).
        epochs: passes over the pool (at least; see ``min_steps``).
        batch_size: images per step (``2 batch_size`` views; the negatives of each view).
        lr: Adam's learning rate (cosine decay to 0 over the training).
        temperature: of the NT-Xent loss.
        projection: output width of the projection head.
        scale: the augmentation (:func:`~bayesal.encoders.augment.random_affine`).
        max_rotation_deg: likewise.
        max_shift: likewise.
        noise_std: likewise.
        pool: ``avg`` (global average pooling) or ``flatten`` (the last feature map).
        min_steps: the fewest optimiser steps: a small pool trains for more epochs
            (1,797 digits: 10 steps an epoch, so 300 epochs rather than 30; MNIST's 60k
            images: 468 steps an epoch, unchanged). Measured in docs/encoders.md.
        colour_jitter: strength of :func:`~bayesal.encoders.augment.random_colour`,
            applied to colour images only (grey-scale views are unchanged).
    """

    name = "simclr"

    def __init__(
        self,
        features: int = 128,
        width: int = 16,
        epochs: int = 30,
        batch_size: int = 128,
        lr: float = 2e-3,
        temperature: float = 0.2,
        projection: int = 64,
        scale: tuple[float, float] | list[float] = (0.7, 1.1),
        max_rotation_deg: float = 20.0,
        max_shift: float = 0.15,
        noise_std: float = 0.1,
        pool: str = "flatten",
        min_steps: int = 3000,
        colour_jitter: float = 0.5,
    ) -> None:
        super().__init__(
            features=features,
            width=width,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            pool=pool,
            min_steps=min_steps,
        )
        _positive("temperature", temperature, float)
        _positive("projection", projection)
        if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
            raise InvalidInputError(f"scale must be (low, high) with 0 < low <= high, got {scale}")
        self.temperature, self.projection = float(temperature), projection
        self.scale = (float(scale[0]), float(scale[1]))
        self.max_rotation_deg, self.max_shift = float(max_rotation_deg), float(max_shift)
        self.noise_std = float(noise_std)
        if isinstance(colour_jitter, bool) or not 0 <= colour_jitter <= 1:
            raise InvalidInputError(f"colour_jitter must lie in [0, 1], got {colour_jitter!r}")
        self.colour_jitter = float(colour_jitter)

    def params(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "width": self.width,
            "pool": self.pool,
            "epochs": self.epochs,
            "min_steps": self.min_steps,
            "colour_jitter": self.colour_jitter,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "temperature": self.temperature,
            "projection": self.projection,
            "scale": list(self.scale),
            "max_rotation_deg": self.max_rotation_deg,
            "max_shift": self.max_shift,
            "noise_std": self.noise_std,
        }

    def _train_parts(self, input_shape: tuple[int, ...]) -> nn.Module:
        head = ProjectionHead(self.features, self.features, self.projection)
        return _SimCLRParts(self.build(input_shape), head)

    def _view(self, x_B: Tensor, generator: torch.Generator) -> Tensor:
        view = random_affine(
            x_B,
            generator,
            scale=self.scale,
            max_rotation_deg=self.max_rotation_deg,
            max_shift=self.max_shift,
            noise_std=self.noise_std,
        )
        return random_colour(view, generator, strength=self.colour_jitter)

    def _loss(self, parts: nn.Module, x_B: Tensor, generator: torch.Generator) -> Tensor:
        views = torch.cat([self._view(x_B, generator), self._view(x_B, generator)])
        z = parts.head(parts.encoder(views))  # type: ignore[operator]
        return nt_xent(z, self.temperature)


class _AutoencoderParts(nn.Module):
    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder


class AutoencoderTrainer(EncoderTrainer):
    """A convolutional autoencoder (see the module docstring).

    Args:
        features: width D of the bottleneck (the features kept).
        width: channels of the first convolution (then 2x, 4x).
        epochs: passes over the pool.
        batch_size: images per step.
        lr: Adam's learning rate (cosine decay to 0 over the training).
        noise_std: denoising: Gaussian noise added to the input, not to the target
            (0: a plain autoencoder).
        pool: ``avg`` (global average pooling) or ``flatten`` (the last feature map).
    """

    name = "autoencoder"

    def __init__(
        self,
        features: int = 128,
        width: int = 16,
        epochs: int = 16,
        batch_size: int = 128,
        lr: float = 2e-3,
        noise_std: float = 0.0,
        pool: str = "flatten",
    ) -> None:
        super().__init__(
            features=features,
            width=width,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            pool=pool,
        )
        self.noise_std = float(noise_std)

    def params(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "width": self.width,
            "pool": self.pool,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "noise_std": self.noise_std,
        }

    def _train_parts(self, input_shape: tuple[int, ...]) -> nn.Module:
        decoder = ConvDecoder(input_shape[0], self.width, self.features, input_shape[-1])
        return _AutoencoderParts(self.build(input_shape), decoder)

    def _loss(self, parts: nn.Module, x_B: Tensor, generator: torch.Generator) -> Tensor:
        noisy = x_B
        if self.noise_std > 0:
            noisy = x_B + self.noise_std * torch.randn(x_B.shape, generator=generator)
        recon = parts.decoder(parts.encoder(noisy))  # type: ignore[operator]
        return F.mse_loss(recon, x_B)
