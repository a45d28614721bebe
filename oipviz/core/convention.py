"""How an image in [0, 1] becomes the model's input (:class:`InputConvention`) and the
image shape the model takes (:class:`Geometry`).

The toolkit works on images in [0, 1] with the model's own geometry (height, width,
channels).  The ascent engine works in a standardized copy of that space,
``z = (x - mean) / std`` ("engine space"), which is what the articles' CNN sees.
:class:`InputConvention` maps ``z`` to whatever the model wants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from oipviz.core.errors import ModelError

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass(frozen=True)
class Geometry:
    """The images a model takes: ``height`` × ``width`` × ``channels`` pixels, and the
    model's own input shape (without the batch axis: ``(28, 28, 1)``, ``(28, 28)`` or a
    flat ``(784,)``)."""

    height: int
    width: int
    channels: int
    model_shape: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(height, width, channels): the shape of every image in engine space."""
        return (self.height, self.width, self.channels)

    @property
    def flat(self) -> bool:
        """True for a model that takes flat vectors (an MLP)."""
        return len(self.model_shape) == 1

    def describe(self) -> str:
        """``28×28×1``, with the model's own input shape where it differs."""
        own = "×".join(str(d) for d in self.model_shape)
        text = f"{self.height}×{self.width}×{self.channels}"
        return text if own == text else f"{text} (model input {own})"

    @classmethod
    def of_input(cls, shape: tuple) -> Geometry | None:
        """The geometry for a model input shape (no batch axis), or None if oipviz cannot
        use it."""
        if any(d is None for d in shape):
            return None
        dims = tuple(int(d) for d in shape)
        if len(dims) == 3:
            return cls(dims[0], dims[1], dims[2], dims)
        if len(dims) == 2:
            return cls(dims[0], dims[1], 1, dims)
        if len(dims) == 1:
            side = math.isqrt(dims[0])
            return cls(side, side, 1, dims) if side * side == dims[0] else None
        return None


@dataclass
class InputConvention:
    """How an image in [0,1] becomes model input.

    kind: ``standardize`` (model sees (x-mean)/std), ``unit`` (model sees x) or
    ``255`` (model sees 255·x, e.g. it starts with a Rescaling layer).
    """

    kind: str = "unit"
    mean: float = MNIST_MEAN
    std: float = MNIST_STD
    source: str = "default"

    def affine(self) -> tuple[float, float]:
        """(a, b) such that model input = a·z + b for engine-space z."""
        if self.kind == "standardize":
            return 1.0, 0.0
        scale = 255.0 if self.kind == "255" else 1.0
        return scale * self.std, scale * self.mean

    def to_engine(self, x01: np.ndarray) -> np.ndarray:
        return ((np.asarray(x01, np.float32) - self.mean) / self.std).astype(np.float32)

    def from_engine(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, np.float32) * self.std + self.mean).astype(np.float32)

    def describe(self) -> str:
        text = {
            "standardize": f"standardized: (x - {self.mean:.4f}) / {self.std:.4f}",
            "unit": "pixels in [0, 1]",
            "255": "pixels in [0, 255]",
        }[self.kind]
        return f"{text}  (from {self.source})"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "mean": self.mean, "std": self.std, "source": self.source}

    @classmethod
    def parse(cls, text: str) -> InputConvention:
        """Parse ``--input-scale``: ``unit``, ``255`` or ``standardize[:MEAN,STD]``."""
        t = text.strip().lower()
        if t in ("unit", "1", "01"):
            return cls("unit", source="--input-scale")
        if t in ("255", "0-255", "raw"):
            return cls("255", source="--input-scale")
        if t.startswith("standardize"):
            mean, std = MNIST_MEAN, MNIST_STD
            if ":" in t:
                try:
                    mean, std = (float(v) for v in t.split(":", 1)[1].split(","))
                except ValueError:
                    raise ModelError(
                        f"bad --input-scale {text!r}; use standardize:MEAN,STD"
                    ) from None
                if not (
                    math.isfinite(mean)
                    and math.isfinite(std)
                    and 1e-3 <= std <= 1e3
                    and abs(mean) <= 1e3
                ):
                    raise ModelError(
                        f"bad --input-scale {text!r}: MEAN and STD must be finite, "
                        "with 1e-3 <= STD <= 1e3 and |MEAN| <= 1e3"
                    )
            return cls("standardize", mean, std, "--input-scale")
        raise ModelError(f"bad --input-scale {text!r}; use unit, 255 or standardize[:MEAN,STD]")
