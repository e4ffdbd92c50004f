"""The in-memory dataset every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from bayesal.errors import InvalidInputError


@dataclass(frozen=True)
class Dataset:
    """Train pool, test set and an optional validation split, as tensors.

    The *id* of a training example is its row in ``train_x`` / ``train_y``: loaders are
    deterministic, so ids are stable across runs and processes. Inputs are float32
    (already normalised), labels int64 in ``[0, num_classes)``.
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int
    val_x: Tensor | None = None
    val_y: Tensor | None = None

    def __post_init__(self) -> None:
        pairs = [("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)]
        if self.val_x is not None or self.val_y is not None:
            if self.val_x is None or self.val_y is None:
                raise InvalidInputError("val_x and val_y must be given together")
            pairs.append(("val", self.val_x, self.val_y))
        for split, x, y in pairs:
            if len(x) != len(y):
                raise InvalidInputError(f"{split}: {len(x)} inputs but {len(y)} labels")
            if y.ndim != 1:
                raise InvalidInputError(f"{split} labels must be 1-D, got shape {tuple(y.shape)}")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise InvalidInputError(
                    f"{split} labels must lie in [0, {self.num_classes}), "
                    f"got [{int(y.min())}, {int(y.max())}]"
                )

    @property
    def num_train(self) -> int:
        return len(self.train_y)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])
