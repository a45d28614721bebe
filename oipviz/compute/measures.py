"""What a gallery measures on the images it shows: each map's activation on its shown
image as written and clipped to the pixel range (the in-range number), the best real
digit's, and how alike the inits' OIPs are once aligned (the articles' "Unique OIPs?").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oipviz.compute.uniqueness import UNIQUE_AT, label
from oipviz.core.status import LIVE


@dataclass
class Measures:
    """One layer's numbers, map-major (M maps, K inits)."""

    range_mode: str  # of the OIPs: 'valid' or 'free'
    source: list[str]  # per map: 'oip' or 'precursor' (the picture shown)
    written: np.ndarray  # (M,) activation of the shown image as written (engine array)
    clipped: np.ndarray  # (M,) … of its pixels clipped to [0, 1]
    best_real: np.ndarray  # (M,) the best real digit's activation
    sims: np.ndarray  # (M,K,K) aligned similarity of the inits' OIPs
    median: np.ndarray  # (M,)
    status: list[str]

    def range_of(self, k: int) -> str:
        """The range of the shown image: the precursor's is always free."""
        return "free" if self.source[k] == "precursor" else self.range_mode

    def in_range(self, k: int) -> float:
        """The activation of an image a user could input: as written for a valid OIP,
        clipped to [0, 1] otherwise."""
        return float(self.written[k] if self.range_of(k) == "valid" else self.clipped[k])

    def beats(self, k: int) -> bool:
        return self.in_range(k) > float(self.best_real[k])

    def label(self, k: int) -> str | None:
        """'unique' / 'several forms' for a live map (None: no init woke it, or one init)."""
        ok = self.status[k] == LIVE and self.sims.shape[1] > 1
        return label(float(self.median[k])) if ok else None

    def entry(self, k: int) -> dict:
        """The manifest's numbers of map ``k``."""
        free = self.range_of(k) == "free"
        return {
            "shown": {
                "image": self.source[k],
                "range": self.range_of(k),
                "activation": float(self.written[k]),
                "clipped_activation": float(self.clipped[k]) if free else None,
                "in_range_activation": self.in_range(k),
            },
            "best_real_activation": float(self.best_real[k]),
            "beats_best_real": self.beats(k),
            "uniqueness": {
                "median": float(self.median[k]),
                "label": self.label(k),
                "similarity": np.round(self.sims[k], 4),
            },
        }

    def summary(self) -> dict:
        """The layer's counts over its live maps (the index line and the manifest)."""
        live = [k for k, s in enumerate(self.status) if s == LIVE]
        labels = [self.label(k) for k in live]
        return {
            "live": len(live),
            "beats_best_real": sum(self.beats(k) for k in live),
            "counted_on": "in-range OIPs as written"
            if self.range_mode == "valid"
            else "OIPs clipped to [0, 1]",
            "unique": labels.count("unique"),
            "several_forms": labels.count("several forms"),
            "unique_at": UNIQUE_AT,
        }


def activations(loaded, layer: str, maps: list[int], z: np.ndarray, kind: str = "mean"):
    """Each map's activation on its own image ``z`` (M,H,W,C) engine space: (as written,
    with the pixels clipped to [0, 1])."""
    from oipviz.compute.oip import objective_for
    from oipviz.core.ascent import evaluate

    c = loaded.convention
    z = np.asarray(z, np.float32).reshape(-1, *loaded.geometry.shape)
    objs = [objective_for(loaded, layer, m, kind) for m in maps]
    both = np.concatenate([z, c.to_engine(np.clip(c.from_engine(z), 0.0, 1.0))])
    v = evaluate(loaded, both, objs + objs)
    return v[: len(maps)], v[len(maps) :]


def measure(loaded, st) -> Measures:
    """The numbers of a finished layer state (probe, rescue and statistics done)."""
    probe, rows = st.probe, st.rescue.rows
    source = [
        "precursor" if r.precursor_value is not None and r.best_image is not None else "oip"
        for r in rows
    ]
    z = np.stack(
        [
            np.asarray(
                r.best_image if s == "precursor" else probe.best_images[k], np.float32
            ).reshape(loaded.geometry.shape)
            for k, (r, s) in enumerate(zip(rows, source))
        ]
    )
    written, clipped = activations(loaded, st.info.name, st.maps, z, probe.kind)
    sims, median = probe.uniqueness()
    best_real = np.array([float(st.stats.top_acts[m][0]) for m in st.maps])
    return Measures(
        probe.range_mode,
        source,
        written,
        clipped,
        best_real,
        sims,
        median,
        [r.status for r in rows],
    )


def pixels(convention, z: np.ndarray) -> np.ndarray:
    """Engine-space images as pixels clipped to [0, 1] (what a valid OIP is exactly)."""
    return np.clip(convention.from_engine(np.asarray(z).squeeze()), 0.0, 1.0)
