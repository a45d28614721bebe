"""The :class:`Dataset` every data source returns (files, downloads, generated sets)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MNIST_CLASS_NAMES = tuple(str(d) for d in range(10))
FASHION_CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass
class Dataset:
    """Train and held-out images with labels, where they came from and the class names.

    Images are uint8: N×28×28 for the grey sets (MNIST, Fashion-MNIST), N×H×W×3 for
    colour sets (the generated ``shapes``: N×32×32×3).  Labels are int64 class indices;
    ``class_names[i]`` names class ``i`` (None where a source has no names).
    """

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    tried: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # conversions made (one-hot, float pixels)
    class_names: tuple[str, ...] | None = None

    @property
    def counts(self) -> dict:
        return {"train": int(len(self.x_train)), "test": int(len(self.x_test))}

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """One image as (height, width, channels); the grey sets have 1 channel."""
        shape = tuple(int(d) for d in self.x_train.shape[1:])
        return (shape[0], shape[1], shape[2] if len(shape) == 3 else 1)

    @property
    def n_classes(self) -> int:
        """How many classes: the names' count, else one more than the largest label."""
        if self.class_names:
            return len(self.class_names)
        return int(max(self.y_train.max(initial=0), self.y_test.max(initial=0))) + 1
