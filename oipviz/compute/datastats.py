"""Dataset statistics of a layer's maps (or Dense units) over real digits.

Everything goes through the engine's one compiled forward pass
(:func:`oipviz.core.ascent.forward`).  A map's *activation* on a digit is the spatial mean
of its output (after the layer's activation function): the quantity the OIPs maximize.
A Dense unit's activation is its value.  Compute only: a result object, no files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from oipviz.core.layers import class_probabilities

TOP_K = 9
BINS = 40
N_CLASSES = 10
CHUNK = 1000


@dataclass
class LayerStats:
    """One layer over N digits; M maps (or units)."""

    layer: str
    acts: np.ndarray  # (N,M) activation of every digit
    top_idx: np.ndarray  # (M,k) digits with the highest activation (ties: lower index)
    top_acts: np.ndarray  # (M,k)
    top_maps: np.ndarray  # (M,k,h,w) their activation maps; (M,k,0,0) for a Dense layer
    top_digits: np.ndarray  # (M,k,H,W) the digits (colour: (M,k,H,W,3)), pixels in [0,1]
    hist: np.ndarray  # (M,BINS) counts of the positive activations over [0, hist_max]
    hist_max: np.ndarray  # (M,)
    selectivity: np.ndarray  # (classes,M) mean activation per true class

    @property
    def conv(self) -> bool:
        return self.top_maps.shape[-1] > 0

    def summary(self, m: int) -> dict:
        """Mean, max, share of zeros, the top-k cut and the preferred class of map ``m``."""
        a, sel = self.acts[:, m], self.selectivity[:, m]
        return {
            "mean": float(a.mean()),
            "max": float(a.max()),
            "frac_zero": float((a <= 0).mean()),
            "top_threshold": float(self.top_acts[m].min()),
            "preferred_class": int(sel.argmax()) if sel.max() > 0 else None,
        }


@dataclass
class DatasetStats:
    """The digits' labels and the model's predictions, and the statistics per layer."""

    source: str
    labels: np.ndarray  # (N,)
    pred: np.ndarray  # (N,) predicted class
    prob: np.ndarray  # (N,) its probability
    layers: dict[str, LayerStats]

    @property
    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=N_CLASSES)[:N_CLASSES]

    def to_arrays(self, layer: str) -> dict:
        """One layer's arrays plus the shared ones (what a resumed run reloads)."""
        s = self.layers[layer]
        out = {f.name: getattr(s, f.name) for f in fields(LayerStats) if f.name != "layer"}
        out.update(
            labels=self.labels, pred=self.pred, prob=self.prob, source=np.asarray(self.source)
        )
        return out

    @classmethod
    def from_arrays(cls, per_layer: dict[str, dict]) -> DatasetStats:
        first = next(iter(per_layer.values()))
        layers = {
            name: LayerStats(
                name, **{f.name: a[f.name] for f in fields(LayerStats) if f.name != "layer"}
            )
            for name, a in per_layer.items()
        }
        return cls(str(first["source"]), first["labels"], first["pred"], first["prob"], layers)


def selectivity(
    acts: np.ndarray, labels: np.ndarray, n_classes: int = N_CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """Mean activation per class: ((n_classes, M), class counts)."""
    counts = np.bincount(labels, minlength=n_classes)[:n_classes]
    sums = np.zeros((n_classes, acts.shape[1]), np.float64)
    np.add.at(sums, labels, acts.astype(np.float64))
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32), counts


def histograms(acts: np.ndarray, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """Per column: counts of the positive values in ``bins`` bins over [0, max], and max."""
    M = acts.shape[1]
    hist = np.zeros((M, bins), np.int64)
    hi = np.ones(M, np.float32)
    for m in range(M):
        pos = acts[:, m][acts[:, m] > 0]
        if len(pos):
            hi[m] = pos.max()
            hist[m] = np.histogram(pos, bins=bins, range=(0.0, float(hi[m])))[0]
    return hist, hi


class _TopK:
    """Running top-k per column over chunks (stable: ties keep the lower digit index)."""

    def __init__(self, k: int):
        self.k = k
        self.best: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # vals, idx, maps

    def add(self, lo: int, vals: np.ndarray, maps: np.ndarray) -> None:
        B, M = vals.shape
        idx = np.broadcast_to(np.arange(lo, lo + B)[:, None], (B, M))
        if self.best is not None:
            vals, idx = np.concatenate([self.best[0], vals]), np.concatenate([self.best[1], idx])
            maps = np.concatenate([self.best[2], maps])
        order = np.argsort(-vals, axis=0, kind="stable")[: self.k]
        cols = np.arange(M)[None, :]
        self.best = vals[order, cols], idx[order, cols], maps[order, cols]

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(values, digit indices, maps) of the top k per column."""
        assert self.best is not None, "no chunk added"  # dataset_stats adds one per chunk
        return self.best


def dataset_stats(
    loaded,
    layers: list[str],
    x01: np.ndarray,
    labels: np.ndarray,
    source: str = "",
    top_k: int = TOP_K,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
) -> DatasetStats:
    """Activations of every digit ``x01`` (N,H,W,C) in [0,1] for every map of ``layers``,
    their top-k digits (with activation maps), histograms, class selectivity, and the
    model's predictions (from its last layer); one forward pass per chunk."""
    from oipviz.core.ascent import forward

    last = loaded.layers[-1].name
    heads = [(name, False) for name in dict.fromkeys(list(layers) + [last])]
    labels = np.asarray(labels, np.int64)
    x01 = np.asarray(x01, np.float32).reshape(-1, *loaded.geometry.shape)
    acts: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    tops = {name: _TopK(top_k) for name in layers}
    probs = []
    for lo in range(0, len(x01), chunk):
        outs = dict(
            zip(
                [h[0] for h in heads],
                forward(loaded, heads, loaded.convention.to_engine(x01[lo : lo + chunk])),
            )
        )
        for name in layers:
            y = outs[name]
            conv = y.ndim == 4
            means = (y.mean(axis=(1, 2)) if conv else y).astype(np.float32)  # (B,M)
            maps = np.moveaxis(y, -1, 1) if conv else np.zeros(means.shape + (0, 0), np.float32)
            acts[name].append(means)
            tops[name].add(lo, means, maps.astype(np.float32))
        probs.append(outs[last].reshape(len(outs[last]), -1))
        if progress:
            progress(len(outs[last]))
    p = class_probabilities(loaded, np.concatenate(probs))
    out = {}
    for name in layers:
        a, (top_vals, top_idx, top_maps) = np.concatenate(acts[name]), tops[name].result()
        hist, hi = histograms(a)
        top_idx = top_idx.T.copy()
        out[name] = LayerStats(
            name,
            a,
            top_idx,
            top_vals.T.copy(),
            np.swapaxes(top_maps, 0, 1).copy(),
            x01[top_idx, :, :, 0] if x01.shape[-1] == 1 else x01[top_idx],
            hist,
            hi,
            selectivity(a, labels, p.shape[1])[0],  # every class the model has
        )
    return DatasetStats(source, labels, p.argmax(axis=1), p.max(axis=1).astype(np.float32), out)
