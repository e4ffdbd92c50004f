"""The CNN of Gal, Islam & Ghahramani (2017), "Deep Bayesian Active Learning with Image
Data" (ICML), used for their MNIST experiments."""

from __future__ import annotations

from torch import Tensor, nn

from bayesal.errors import InvalidInputError
from bayesal.models.features import sequential_features
from bayesal.models.two_moons import _check_dropout, _check_positive_int

_KERNEL = 4
_CHANNELS = 32


class GalCNN(nn.Sequential):
    """conv 32 4x4, ReLU, conv 32 4x4, ReLU, max-pool 2, dropout, flatten, dense ``hidden``,
    ReLU, dropout, dense ``num_classes`` (logits).

    Input ``[N, in_channels, image_size, image_size]`` (MNIST: ``[N, 1, 28, 28]``), output
    logits ``[N, num_classes]``. Dropout rates follow the paper (0.25 after the
    convolutions, 0.5 before the last layer). A plain :class:`torch.nn.Sequential`, so MC
    dropout computes the convolutions once per input rather than once per sample.
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        num_classes: int = 10,
        hidden: int = 128,
        conv_dropout: float = 0.25,
        dense_dropout: float = 0.5,
    ) -> None:
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("image_size", image_size)
        _check_positive_int("num_classes", num_classes, minimum=2)
        _check_positive_int("hidden", hidden)
        _check_dropout("conv_dropout", conv_dropout)
        _check_dropout("dense_dropout", dense_dropout)
        pooled = (image_size - 2 * (_KERNEL - 1)) // 2
        if pooled < 1:
            raise InvalidInputError(
                f"image_size must be at least {2 * (_KERNEL - 1) + 2} for two 4x4 convolutions "
                f"and a 2x2 max-pool, got {image_size}"
            )
        super().__init__(
            nn.Conv2d(in_channels, _CHANNELS, _KERNEL),
            nn.ReLU(),
            nn.Conv2d(_CHANNELS, _CHANNELS, _KERNEL),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(conv_dropout),
            nn.Flatten(),
            nn.Linear(_CHANNELS * pooled * pooled, hidden),
            nn.ReLU(),
            nn.Dropout(dense_dropout),
            nn.Linear(hidden, num_classes),
        )

    def features(self, x: Tensor) -> Tensor:
        """The penultimate features ``[N, D]`` of ``x``: the input of the final ``Linear``
        (D = its ``in_features``), after the last dropout (identity in eval mode)."""
        return sequential_features(self, x)
