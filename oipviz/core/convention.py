"""How an image in [0, 1] becomes the model's input (:class:`InputConvention`) and the
image shape the model takes (:class:`Geometry`).

The toolkit works on images in [0, 1] with the model's own geometry (height, width,
channels).  The ascent engine works in a standardized copy of that space,
``z = (x - mean) / std`` ("engine space"), which is what the articles' CNN sees.
:class:`InputConvention` maps ``z`` to whatever the model wants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from oipviz.core.errors import ModelError

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
FLAT_PIXELS = 28 * 28  # the flat input oipviz reads as an image: MNIST's 784 pixels

#: one value for grey images, or one per channel
PerChannel = float | NDArray[np.float32]


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
    def of_input(cls, shape: tuple[int | None, ...]) -> Geometry | None:
        """The geometry for a model input shape (no batch axis), or None if oipviz cannot
        use it."""
        dims = tuple(int(d) for d in shape if d is not None)
        if len(dims) != len(shape):
            return None
        if len(dims) == 3:
            return cls(dims[0], dims[1], dims[2], dims)
        if len(dims) == 2:
            return cls(dims[0], dims[1], 1, dims)
        if len(dims) == 1:  # flat vectors: MNIST's 784 pixels (an MLP), as the articles'
            return cls(28, 28, 1, dims) if dims[0] == FLAT_PIXELS else None
        return None


#: ImageNet statistics of RGB pixels in [0, 1] (torch convention; colour engine space)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
#: the caffe convention's BGR means in 0-255 units, in RGB order
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
KINDS = ("unit", "255", "standardize", "symmetric", "caffe", "torch")
_TEXT = {
    "unit": "pixels in [0, 1]",
    "255": "pixels in [0, 255]",
    "symmetric": "pixels in [-1, 1]",
    "caffe": "BGR pixels in [0, 255] minus the ImageNet channel means (caffe)",
    "torch": "(x - ImageNet mean) / ImageNet std (torch)",
}


def _tuple(v: float | Sequence[float], channels: int) -> tuple[float, ...]:
    vals = tuple(float(x) for x in np.atleast_1d(v))
    return vals * channels if len(vals) == 1 else vals


@dataclass
class InputConvention:
    """How an image in [0, 1] (RGB or grey) becomes the model's input, and engine space.

    ``kind``: ``unit`` (the model sees x), ``255`` (255·x, e.g. it starts with a Rescaling
    layer), ``standardize`` ((x - mean)/std with the model's own statistics),
    ``symmetric`` (2x - 1), ``caffe`` (BGR, 255·x minus the ImageNet channel means) or
    ``torch`` ((x - ImageNet mean)/ImageNet std).  ``means``/``stds`` (per channel) define
    engine space, ``z = (x - mean)/std``: the model's own statistics for ``standardize``
    and ``torch``, else MNIST's (grey) or ImageNet's (colour) as a neutral scale.
    """

    kind: str = "unit"
    means: tuple[float, ...] = (MNIST_MEAN,)
    stds: tuple[float, ...] = (MNIST_STD,)
    source: str = "default"

    @classmethod
    def of(
        cls,
        kind: str,
        channels: int = 1,
        source: str = "default",
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
    ) -> InputConvention:
        """The convention ``kind`` for images of ``channels`` channels."""
        if kind not in KINDS:
            raise ModelError(f"unknown input convention {kind!r}; choose from {', '.join(KINDS)}")
        if (mean is None) != (std is None):
            raise ModelError(f"{source}: give both a mean and a std, or neither")
        if mean is None or std is None:
            imagenet = kind == "torch" or channels == 3
            mean, std = (IMAGENET_MEAN, IMAGENET_STD) if imagenet else (MNIST_MEAN, MNIST_STD)
        means, stds = _tuple(mean, channels), _tuple(std, channels)
        if len(means) != channels or len(stds) != channels:
            raise ModelError(f"give one mean and std, or one per channel ({channels})")
        return cls(kind, means, stds, source)

    @property
    def mean(self) -> PerChannel:
        """Engine space's mean: a float for grey images, per channel (C,) for colour."""
        return self.means[0] if len(self.means) == 1 else np.asarray(self.means, np.float32)

    @property
    def std(self) -> PerChannel:
        return self.stds[0] if len(self.stds) == 1 else np.asarray(self.stds, np.float32)

    @property
    def bgr(self) -> bool:
        """True if the model wants its colour channels in BGR order (caffe)."""
        return self.kind == "caffe"

    def affine(self) -> tuple[PerChannel, PerChannel]:
        """(a, b), per channel in RGB order, such that the model's input is a·z + b for
        engine-space z (then channels reversed for BGR models); (1.0, 0.0) when the model
        sees engine space itself."""
        if self.kind in ("standardize", "torch"):
            return 1.0, 0.0
        m, s = np.asarray(self.means, np.float64), np.asarray(self.stds, np.float64)
        if self.kind == "unit":
            a, b = s, m
        elif self.kind == "255":
            a, b = 255.0 * s, 255.0 * m
        elif self.kind == "symmetric":
            a, b = 2.0 * s, 2.0 * m - 1.0
        else:  # caffe
            a, b = 255.0 * s, 255.0 * m - np.asarray(CAFFE_MEAN_RGB[: len(m)])
        if len(m) == 1:
            return float(a[0]), float(b[0])
        return a.astype(np.float32), b.astype(np.float32)

    def to_engine(self, x01: NDArray[np.floating]) -> NDArray[np.float32]:
        """Pixels in [0, 1] (channels last) to engine space."""
        z: NDArray[np.floating] = (np.asarray(x01, np.float32) - self.mean) / self.std
        return z.astype(np.float32)

    def from_engine(self, z: NDArray[np.floating]) -> NDArray[np.float32]:
        """Engine space back to pixels (unclipped)."""
        x: NDArray[np.floating] = np.asarray(z, np.float32) * self.std + self.mean
        return x.astype(np.float32)

    def describe(self) -> str:
        if self.kind == "standardize":
            m = ", ".join(f"{v:.4f}" for v in self.means)
            s = ", ".join(f"{v:.4f}" for v in self.stds)
            text = f"standardized: (x - {m}) / {s}"
        else:
            text = _TEXT[self.kind]
        return f"{text}  (from {self.source})"

    def as_dict(self) -> dict[str, str | float | list[float]]:
        return {
            "kind": self.kind,
            "mean": self.means[0] if len(self.means) == 1 else list(self.means),
            "std": self.stds[0] if len(self.stds) == 1 else list(self.stds),
            "source": self.source,
        }

    @classmethod
    def parse(cls, text: str, channels: int = 1) -> InputConvention:
        """Parse ``--input-scale``: ``unit``, ``255``, ``symmetric``, ``caffe``, ``torch`` or
        ``standardize[:MEAN,STD]``."""
        t = text.strip().lower()
        aliases = {"1": "unit", "01": "unit", "0-255": "255", "raw": "255", "-1,1": "symmetric"}
        t = aliases.get(t, t)
        if t in KINDS and t != "standardize":
            return cls.of(t, channels, "--input-scale")
        if t.startswith("standardize"):
            mean, std = (MNIST_MEAN, MNIST_STD) if channels == 1 else (IMAGENET_MEAN, IMAGENET_STD)
            if ":" in t:
                mean, std = _mean_std(text, t.split(":", 1)[1])
            return cls.of("standardize", channels, "--input-scale", mean, std)
        raise ModelError(
            f"bad --input-scale {text!r}; use unit, 255, symmetric, caffe, torch or "
            "standardize[:MEAN,STD]"
        )


def _mean_std(text: str, spec: str) -> tuple[float, float]:
    try:
        mean, std = (float(v) for v in spec.split(","))
    except ValueError:
        raise ModelError(f"bad --input-scale {text!r}; use standardize:MEAN,STD") from None
    if not (math.isfinite(mean) and math.isfinite(std) and 1e-3 <= std <= 1e3 and abs(mean) <= 1e3):
        raise ModelError(
            f"bad --input-scale {text!r}: MEAN and STD must be finite, "
            "with 1e-3 <= STD <= 1e3 and |MEAN| <= 1e3"
        )
    return mean, std
