"""Real digits and the feature vectors a layer gives them (through the engine's one
compiled forward pass).  Compute only: arrays in, arrays out, no files."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oipviz.core import checks
from oipviz.core.errors import LayerError, OipvizError

PIXELS = "pixels"
MODES = ("pool", "flat")
MAX_SAMPLES = 70_000


@dataclass
class Digits:
    """N real digits in [0,1] (N,28,28), their labels, where they came from, and how many
    of them (the first ``heldout``) come from the held-out split."""

    x01: np.ndarray
    labels: np.ndarray
    source: str
    heldout: int

    def __len__(self) -> int:
        return len(self.labels)


def sample_digits(
    n: int, data=None, dataset: str | None = None, split_seed: int = 0, loaded=None
) -> Digits:
    """The first ``n`` digits of the held-out split, then of the training split.

    ``split_seed`` only matters for the offline 5,000-digit subset, which is shuffled
    before it is split: give the seed the model was trained with, so held-out digits
    really are held out.  Fewer available digits than ``n``: all of them.  ``data`` may
    be a user's images (:func:`oipviz.data.userdata.labelled_images`, at the geometry of
    ``loaded``; all of them count as held out).  ``dataset`` None: the one ``loaded`` was
    trained on (its card), else MNIST.
    """
    from oipviz.data.inputs import check_fits, dataset_of
    from oipviz.data.sources import load_dataset
    from oipviz.data.userdata import is_image_data, labelled_images

    n = checks.integer("samples", n, 1, MAX_SAMPLES)
    if data is not None and loaded is not None and is_image_data(data):
        x01, y, _, source = labelled_images(data, loaded.geometry, loaded.classes, n)
        return Digits(x01, y, source, len(y))
    dataset = dataset or (dataset_of(loaded) if loaded is not None else "mnist")
    check_fits(loaded, dataset)
    ds = load_dataset(dataset, path=data, seed=split_seed, allow_download=False)
    x = np.concatenate([ds.x_test, ds.x_train])[:n]
    y = np.concatenate([ds.y_test, ds.y_train])[:n]
    return Digits(
        x.astype(np.float32) / 255.0, y.astype(np.int64), ds.source, min(n, len(ds.x_test))
    )


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise OipvizError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    return mode


def feature_layer(loaded, layer: str) -> str:
    """The layer's real name (``pixels`` stays ``pixels``); a one-line error if unknown."""
    if layer == PIXELS:
        return layer
    if loaded is None:
        raise LayerError(f"layer {layer!r} needs a model; without one only 'pixels' works")
    return loaded.layer(layer).name


def describe(loaded, layer: str, mode: str) -> str:
    """How the vectors of ``layer`` are made, in words (for pictures and manifests)."""
    if layer == PIXELS:
        g = loaded.geometry if loaded is not None else None
        return f"raw pixels ({g.height * g.width * g.channels if g else 784})"
    shape = tuple(loaded.layer(layer).shape[1:])
    if len(shape) == 3:
        how = (
            f"spatial mean of {shape[0]}×{shape[1]} → {shape[2]}"
            if mode == "pool"
            else f"flattened → {int(np.prod(shape))}"
        )
        return f"{layer} {how}"
    return f"{layer} ({int(np.prod(shape))})"


def layer_features(
    loaded, layer: str, x01: np.ndarray, mode: str = "pool"
) -> tuple[np.ndarray, np.ndarray | None]:
    """(features (N,D) float32, predicted classes (N,) or None) for digits in [0,1].

    ``layer``: any layer of the model or ``pixels``.  Conv (4-D) outputs are averaged
    over space (``pool``) or flattened (``flat``).  Predictions come from the model's
    last layer in the same forward pass (None without a model).
    """
    from oipviz.core.ascent import forward

    check_mode(mode)
    x01 = np.asarray(x01, np.float32)
    if loaded is None:
        return x01.reshape(len(x01), -1).copy(), None
    x01 = x01.reshape(-1, *loaded.geometry.shape)
    last = loaded.layers[-1].name
    name = feature_layer(loaded, layer)
    heads = [(last, False)] if name == PIXELS else [(name, False), (last, False)]
    outs = forward(loaded, heads, loaded.convention.to_engine(x01))
    pred = outs[-1].reshape(len(x01), -1).argmax(1)
    if name == PIXELS:
        return x01.reshape(len(x01), -1).copy(), pred
    a = outs[0]
    if a.ndim == 4 and mode == "pool":
        a = a.mean(axis=(1, 2))
    return np.ascontiguousarray(a.reshape(len(a), -1), np.float32), pred
