"""A general multi-layer perceptron for tabular features (or flattened small images)."""

from __future__ import annotations

from torch import Tensor, nn

from bayesal.models.features import sequential_features
from bayesal.models.two_moons import _check_dropout, _check_positive_int


class MLP(nn.Sequential):
    """``flatten -> [Linear, ReLU, Dropout] x depth -> Linear`` returning logits.

    Input ``[N, in_features]`` or any ``[N, ...]`` whose trailing dimensions multiply to
    ``in_features`` (a ``[N, 1, 8, 8]`` image is flattened to 64 features). Output logits
    ``[N, num_classes]``. Dropout after every hidden layer makes it usable with the
    ``mc_dropout`` posterior; a plain :class:`torch.nn.Sequential`, so MC dropout takes
    its fast path (the first layer once per input).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: int = 128,
        depth: int = 2,
        dropout: float = 0.25,
    ) -> None:
        _check_positive_int("in_features", in_features)
        _check_positive_int("num_classes", num_classes, minimum=2)
        _check_positive_int("hidden", hidden)
        _check_positive_int("depth", depth)
        _check_dropout("dropout", dropout)
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)

    def features(self, x: Tensor) -> Tensor:
        """The penultimate features ``[N, D]`` of ``x``: the input of the final ``Linear``
        (D = its ``in_features``), after the last dropout (identity in eval mode)."""
        return sequential_features(self, x)
