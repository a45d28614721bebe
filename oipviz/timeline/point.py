"""The timeline's results: one :class:`TimelinePoint` per training point, and the
:class:`Timeline` of all of them with each map's state over time.  Arrays only, no files.

A map's state at a point: ``live`` when its OIP's activation is above zero
(:func:`oipviz.core.status.fires`), ``dead`` when not (its OIP starts from the previous
point's and, in the valid range, climbs the map's pre-activation while the map is zero),
and ``waking`` when it
is live now and was dead at the previous point (the first point has no previous one:
live or dead).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from oipviz.compute.oip import OIPRun
from oipviz.core.status import DEAD, LIVE, WAKING, fires

STATES = (DEAD, WAKING, LIVE)


@dataclass(frozen=True)
class Position:
    """Where in training a point lies: its index, epochs and batches done, and a label."""

    index: int
    epoch: float
    batch: int
    label: str

    def as_dict(self) -> dict:
        return {"index": self.index, "epoch": self.epoch, "batch": self.batch, "label": self.label}


@dataclass
class TimelinePoint:
    """Everything measured at one point.

    ``runs``: {layer: OIPRun} of the tracked maps (engine-space images, 1 init per map
    by default); ``probe_acts``: {layer: (P, h, w, M) or (P, M)} the tracked maps'
    activations for the P probe inputs; ``attribution``: (A, H, W) maps of the first A
    probes, with their ``predicted`` class and its ``probability``; ``kernels``:
    (out, in, kh, kw) of the first conv layer; ``metrics``: the training and held-out
    metrics at this point (NaN where unknown, e.g. training loss before training).
    """

    position: Position
    runs: dict[str, OIPRun]
    probe_acts: dict[str, np.ndarray]
    attribution: np.ndarray
    predicted: np.ndarray
    probability: np.ndarray
    kernels: np.ndarray
    kernel_layer: str
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def layers(self) -> list[str]:
        return list(self.runs)

    def values(self, layer: str) -> np.ndarray:
        """(M,) the activation each map's OIP reaches (best init)."""
        return self.runs[layer].best_values

    def probe_means(self, layer: str) -> np.ndarray:
        """(M,) each map's activation averaged over the probes (and its positions)."""
        a = self.probe_acts[layer]
        return a.reshape(a.shape[0], -1, a.shape[-1]).mean(axis=(0, 1))

    def alive(self, layer: str) -> np.ndarray:
        """(M,) True where the map's OIP fires."""
        return np.asarray(fires(self.values(layer)), bool).reshape(-1)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The point as named arrays (one .npz); :meth:`from_arrays` reverses it."""
        out: dict[str, np.ndarray] = {
            "index": np.asarray(self.position.index),
            "epoch": np.asarray(self.position.epoch, np.float64),
            "batch": np.asarray(self.position.batch),
            "label": np.asarray(self.position.label),
            "layers": np.asarray(self.layers),
            "attribution": self.attribution.astype(np.float32),
            "predicted": self.predicted.astype(np.int64),
            "probability": self.probability.astype(np.float32),
            "kernels": self.kernels.astype(np.float32),
            "kernel_layer": np.asarray(self.kernel_layer),
            "metric_names": np.asarray(sorted(self.metrics), dtype=str),
            "metric_values": np.asarray(
                [self.metrics[k] for k in sorted(self.metrics)], np.float64
            ),
        }
        for k, name in enumerate(self.layers):
            for key, value in self.runs[name].to_arrays().items():
                out[f"oip{k}_{key}"] = value
            out[f"probe{k}"] = self.probe_acts[name].astype(np.float32)
        return out

    @classmethod
    def from_arrays(cls, a: dict, convention=None, transforms: tuple = ()) -> TimelinePoint:
        layers = [str(v) for v in a["layers"]]
        runs, probes = {}, {}
        for k, name in enumerate(layers):
            sub = {key[len(f"oip{k}_") :]: v for key, v in a.items() if key.startswith(f"oip{k}_")}
            runs[name] = OIPRun.from_arrays(sub, convention, transforms)
            probes[name] = a[f"probe{k}"]
        metrics = {
            str(n): float(v) for n, v in zip(a["metric_names"], a["metric_values"], strict=True)
        }
        pos = Position(int(a["index"]), float(a["epoch"]), int(a["batch"]), str(a["label"]))
        return cls(
            pos,
            runs,
            probes,
            a["attribution"],
            a["predicted"],
            a["probability"],
            a["kernels"],
            str(a["kernel_layer"]),
            metrics,
        )


@dataclass
class Timeline:
    """The points recorded so far, in order, and what they show over time."""

    points: list[TimelinePoint] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.points)

    @property
    def layers(self) -> list[str]:
        return self.points[0].layers if self.points else []

    def maps(self, layer: str) -> list[int]:
        return list(self.points[0].runs[layer].maps)

    def values(self, layer: str) -> np.ndarray:
        """(T, M) each map's OIP activation at each point."""
        return np.stack([p.values(layer) for p in self.points])

    def probe_means(self, layer: str) -> np.ndarray:
        """(T, M) each map's mean probe activation at each point."""
        return np.stack([p.probe_means(layer) for p in self.points])

    def states(self, layer: str) -> list[list[str]]:
        """(T, M) ``dead``, ``waking`` or ``live`` per point and map."""
        out: list[list[str]] = []
        before = None
        for p in self.points:
            alive = p.alive(layer)
            row = []
            for m, a in enumerate(alive):
                if not a:
                    row.append(DEAD)
                elif before is not None and not before[m]:
                    row.append(WAKING)
                else:
                    row.append(LIVE)
            out.append(row)
            before = alive
        return out

    def metric_names(self) -> list[str]:
        return sorted({k for p in self.points for k in p.metrics})

    def metric(self, name: str) -> np.ndarray:
        """(T,) a metric over the points (NaN where a point lacks it)."""
        return np.array([p.metrics.get(name, np.nan) for p in self.points], np.float64)

    def events(self, layer: str) -> list[dict]:
        """Each change of a map between dead and alive: {map, point, label, change}."""
        states = self.states(layer)
        maps = self.maps(layer)
        out = []
        for t in range(1, len(states)):
            for k, m in enumerate(maps):
                was, now = states[t - 1][k] != DEAD, states[t][k] != DEAD
                if was != now:
                    out.append(
                        {
                            "map": m,
                            "point": t,
                            "label": self.points[t].position.label,
                            "change": "woke" if now else "died",
                        }
                    )
        return out
