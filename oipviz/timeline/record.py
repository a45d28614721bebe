"""Measure a model at one training point: the tracked maps' OIPs (warm-started from the
previous point's), the probe inputs' activations, one attribution method on a few probes,
the first conv layer's kernels and the metrics.  Compute only: it returns
:class:`~oipviz.timeline.point.TimelinePoint` results and writes nothing.

Everything goes through the engine of :mod:`oipviz.core.ascent` on one
:class:`~oipviz.core.loader.LoadedModel` that wraps the model being trained: the
compiled engines read the layers' live variables, so they are built once and reused at
every point.
"""

from __future__ import annotations

import time

import numpy as np

from oipviz.core import checks
from oipviz.core.errors import DataError, LayerError, OipvizError
from oipviz.timeline.point import Position, TimelinePoint
from oipviz.timeline.spec import TrackSpec

MAX_PROBES = 256


def check_images(what: str, x, max_n: int | None = None) -> np.ndarray:
    """Images in [0, 1] as float32 (N, H, W, C): (N, H, W) grey or (N, H, W, 1 or 3);
    one-line errors for anything else (their size is checked against the model later)."""
    x = checks.finite_array(what, x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or not 1 <= len(x) <= (max_n or len(x) or 1):
        n = f"1 to {max_n}" if max_n else "1 or more"
        raise DataError(
            f"{what} must be {n} images shaped (N, H, W) or (N, H, W, 1 or 3), got {x.shape}"
        )
    if x.min() < 0.0 or x.max() > 1.0:
        raise DataError(f"{what} pixels must be in [0, 1] (divide uint8 images by 255)")
    return np.ascontiguousarray(x)


def check_probes(probes):
    """``probes`` checked: a count (1 to :data:`MAX_PROBES`) or images in [0, 1]."""
    if isinstance(probes, (int, np.integer)) and not isinstance(probes, bool):
        return checks.integer("probes", probes, 1, MAX_PROBES)
    return check_images("probes", probes, MAX_PROBES)


def default_dataset(loaded) -> str:
    """Where counted probes come from for ``loaded``: its card's data set, else the one
    of its image size (28×28×1: MNIST, 32×32×3: the generated shapes)."""
    from oipviz.data.inputs import dataset_of

    if (loaded.card or {}).get("dataset"):
        return dataset_of(loaded)
    by_shape = {(28, 28, 1): "mnist", (32, 32, 3): "shapes"}
    name = by_shape.get(tuple(loaded.geometry.shape))
    if name is None:
        raise DataError(
            f"no data set of {loaded.geometry.describe()} images to take probe inputs from; "
            "give probes= images (N, H, W, C) in [0, 1]"
        )
    return name


def probe_images(probes, loaded, dataset=None, seed: int = 0):
    """The probe inputs (P, H, W, C) in [0, 1] of ``loaded``'s geometry, their labels and
    the class names (None where unknown).

    ``probes``: images (checked by :func:`check_probes`), or a count: that many held-out
    images, one class after the other (the first of each class in the held-out split).
    ``dataset``: where counted probes come from: a loaded
    :class:`~oipviz.data.dataset.Dataset` (its held-out split), a data set's name (its
    held-out split for ``seed``), or None (:func:`default_dataset`).
    """
    probes = check_probes(probes)
    if isinstance(probes, int):
        ds = dataset
        if ds is None or isinstance(ds, str):
            from oipviz.data.sources import load_dataset

            name = ds or default_dataset(loaded)
            ds = load_dataset(name, seed=seed, allow_download=False, n_train=1)
        x = ds.x_test.astype(np.float32) / 255.0
        x = x[..., None] if x.ndim == 3 else x
        order = _one_per_class(ds.y_test, probes)
        names = list(ds.class_names) if ds.class_names else None
        found = check_model_images("probes", x[order], loaded)
        return found, ds.y_test[order].astype(np.int64), names
    names = (loaded.card or {}).get("class_names")
    return check_model_images("probes", probes, loaded), None, names


def check_model_images(what: str, x: np.ndarray, loaded) -> np.ndarray:
    """``x`` (N, H, W, C) if it has the model's geometry; a one-line error if not."""
    g = loaded.geometry
    if tuple(x.shape[1:]) != tuple(g.shape):
        got = "×".join(str(d) for d in x.shape[1:])
        raise DataError(f"{what} are {got} images; {loaded.name} takes {g.describe()}")
    return np.ascontiguousarray(x, np.float32)


def _one_per_class(y: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` images taking the classes in turn (the first unused of each)."""
    queues = {int(c): list(np.flatnonzero(y == c)) for c in np.unique(y)}
    out: list[int] = []
    while len(out) < min(n, len(y)):
        for c in sorted(queues):
            if queues[c] and len(out) < n:
                out.append(int(queues[c].pop(0)))
    return np.asarray(out, np.int64)


class Recorder:
    """Measures ``loaded`` (a wrapper of the model being trained) at training points.

    Parameters
    ----------
    loaded : LoadedModel
        The model (:func:`oipviz.core.loader.wrap_model`); its engines are reused.
    spec : TrackSpec
        What to track; its layers and maps are checked against ``loaded`` here.
    probes : ndarray
        (P, H, W, C) probe inputs in [0, 1] of the model's geometry (:func:`probe_images`).
    validation : tuple, optional
        (images (N, H, W[, C]) in [0, 1], labels): ``heldout_accuracy`` and
        ``heldout_loss`` (cross-entropy) at every point.
    previous : TimelinePoint, optional
        The last point already recorded (resume: the next OIPs start from its images).
    """

    def __init__(self, loaded, spec: TrackSpec, probes: np.ndarray, validation=None, previous=None):
        self.loaded, self.spec = loaded, spec
        self.maps = spec.resolve(loaded)
        convs = loaded.conv_layers()
        self.kernel_layer = convs[0].name if convs else ""
        if spec.attribution == "gradcam" and spec.attribution_probes and not convs:
            raise LayerError(f"{loaded.name} has no conv layer; Grad-CAM needs one")
        self.probes = check_model_images("probes", probes, loaded)
        self.validation = _check_validation(validation, loaded)
        self.previous: TimelinePoint | None = previous
        if previous is not None and previous.layers != list(self.maps):
            raise OipvizError("the recorded points track other layers; use a new output folder")

    def record(self, position: Position, logs: dict | None = None) -> TimelinePoint:
        """Measure the model now; the point becomes the next one's warm start.  Ctrl-C
        during its ascent raises KeyboardInterrupt (no half-measured point)."""
        t0 = time.perf_counter()
        runs = {}
        for layer, maps in self.maps.items():
            before = self.previous.runs[layer].images if self.previous is not None else None
            steps = self.spec.steps if before is not None else self.spec.first_steps
            runs[layer] = self._oips(layer, maps, steps, before)
        attribution, predicted, probability = self._attribution()
        point = TimelinePoint(
            position,
            runs,
            self._probe_activations(),
            attribution,
            predicted,
            probability,
            self._kernels(),
            self.kernel_layer,
            dict(_scalars(logs), **self._heldout()),
        )
        point.seconds = time.perf_counter() - t0
        self.previous = point
        return point

    def _oips(self, layer: str, maps: list[int], steps: int, init_images=None):
        from oipviz.compute.oip import oip

        run = oip(
            layer, maps, self.loaded, inits=self.spec.inits, steps=steps, lr=self.spec.lr,
            seed=self.spec.seed, range_mode=self.spec.range_mode, style=self.spec.style,
            progress=False, init_images=init_images,
        )  # fmt: skip
        if run.interrupted:
            raise KeyboardInterrupt
        return run

    def _probe_activations(self) -> dict[str, np.ndarray]:
        from oipviz.core.ascent import forward

        # the heads of the OIPs' engine (valid range: the map and its pre-activation), so
        # the fast path's self-check made for the OIPs serves this forward pass too
        pre = (True,) if self.spec.range_mode == "valid" else ()
        heads = [(layer, p) for layer in self.maps for p in (False, *pre)]
        outs = forward(self.loaded, heads, self.loaded.convention.to_engine(self.probes))
        per_layer = outs[:: 1 + len(pre)]
        return {
            layer: np.ascontiguousarray(a[..., maps])
            for (layer, maps), a in zip(self.maps.items(), per_layer, strict=True)
        }

    def _probabilities(self, x01: np.ndarray) -> np.ndarray:
        """Class probabilities (:func:`oipviz.core.layers.class_probabilities`, the one
        softmax rule), through the engine's forward pass on the last layer's logits and
        outputs: the heads the attribution's engine has, so both share one fast-path check."""
        from oipviz.core.ascent import forward
        from oipviz.core.layers import class_probabilities

        last = self.loaded.layers[-1].name
        z = self.loaded.convention.to_engine(x01)
        _, out = forward(self.loaded, [(last, True), (last, False)], z)
        return class_probabilities(self.loaded, out)

    def _attribution(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The attribution of the predicted class on the first probes."""
        from oipviz.compute.attribution import METHODS

        n = min(self.spec.attribution_probes, len(self.probes))
        if n == 0:
            h, w = self.loaded.geometry.shape[:2]
            return np.zeros((0, h, w), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32)
        x = self.probes[:n]
        probs = self._probabilities(x)
        predicted = probs.argmax(axis=1)
        res = METHODS[self.spec.attribution]()(self.loaded, x, predicted.tolist())
        return res.maps, predicted, probs.max(axis=1)

    def _kernels(self) -> np.ndarray:
        """(out, in, kh, kw): the first conv layer's kernels now."""
        if not self.kernel_layer:
            return np.zeros((0, 0, 0, 0), np.float32)
        from oipviz.core.layers import keras_layer

        kernel = keras_layer(self.loaded.model, self.kernel_layer).get_weights()[0]
        return np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)), np.float32)

    def _heldout(self) -> dict[str, float]:
        if self.validation is None:
            return {}
        x, y = self.validation
        p = self._probabilities(x)
        picked = np.clip(p[np.arange(len(y)), y], 1e-7, 1.0)
        return {
            "heldout_accuracy": float((p.argmax(axis=1) == y).mean()),
            "heldout_loss": float(-np.log(picked).mean()),
        }


def _check_validation(validation, loaded):
    """(images (N, H, W, C) of the model's geometry, labels) or None; one-line errors."""
    if validation is None:
        return None
    try:
        x, y = validation
    except (TypeError, ValueError):
        raise DataError("validation must be a pair (images in [0, 1], labels)") from None
    x = check_model_images("validation images", check_images("validation images", x), loaded)
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if len(x) != len(y):
        raise DataError(f"{len(x)} validation images but {len(y)} labels")
    classes = int(loaded.layers[-1].shape[-1])
    if y.min() < 0 or y.max() >= classes:
        raise DataError(f"validation labels must be classes 0–{classes - 1}")
    return x, y


def _scalars(logs: dict | None) -> dict[str, float]:
    """Keras' logs as plain floats (tensors and numpy scalars; non-scalars dropped)."""
    out = {}
    for k, v in (logs or {}).items():
        try:
            a = np.asarray(v, np.float64)
        except (TypeError, ValueError):
            continue
        if a.size == 1:
            out[str(k)] = float(a.reshape(()))
    return out
