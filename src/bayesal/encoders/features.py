"""Features of many inputs through a frozen encoder: chunked, without gradients."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bayesal.errors import InvalidInputError

#: Inputs per forward pass when computing features.
FEATURE_CHUNK = 2048


def compute_features(encoder: nn.Module, x_N: Tensor, *, chunk_size: int = FEATURE_CHUNK) -> Tensor:
    """``encoder(x)`` for every row of ``x_N``, in chunks, in eval mode, without
    gradients; returns float32 features ``[N, D]`` on the CPU (trailing dimensions of
    the encoder's output are flattened). The encoder's train/eval mode is restored."""
    if len(x_N) == 0:
        raise InvalidInputError("no inputs to compute features of")
    was_training = encoder.training
    encoder.eval()
    try:
        parameter = next(encoder.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        dtype = parameter.dtype if parameter is not None else torch.float32
        out = []
        with torch.no_grad():
            for start in range(0, len(x_N), chunk_size):
                batch = x_N[start : start + chunk_size].to(device)
                if batch.is_floating_point():
                    batch = batch.to(dtype)
                out.append(encoder(batch).flatten(1).float().cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(out)


def standardize(train_N_D: Tensor, *others: Tensor, eps: float = 1e-6) -> tuple[Tensor, ...]:
    """Every feature shifted and scaled to mean 0 and std 1 *over the pool*
    (``train_N_D``); the same affine map is applied to ``others`` (the test set), whose
    statistics are never used. Returns ``(train, *others)``."""
    mean_D = train_N_D.mean(0)
    std_D = train_N_D.std(0).clamp_min(eps)
    return tuple((t - mean_D) / std_D for t in (train_N_D, *others))
