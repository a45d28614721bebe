"""One gallery layer's results as they come in (probe, precursors, rescue, statistics,
measures), and the finished precursors an interrupted run left behind."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from oipviz.compute.datastats import DatasetStats, LayerStats
from oipviz.compute.measures import Measures
from oipviz.compute.rescue import RescueResult, RescueRow
from oipviz.core.layers import folder_name
from oipviz.core.outputs import read_json
from oipviz.core.status import LIVE, PENDING, fires, rescued_or_dead
from oipviz.render.images import oip_kinds


@dataclass
class LayerState:
    """One layer's results, filled phase by phase (``status`` works in every state)."""

    info: Any  # the layer's LayerInfo
    maps: list[int]
    probe: Any = None  # OIPRun
    done: dict = field(default_factory=dict)  # map -> RescueRow of a finished precursor
    entries: dict = field(default_factory=dict)  # map -> its precursor files' entry
    rescue: RescueResult | None = None
    data: DatasetStats | None = None
    stats: LayerStats | None = None
    compare: Any = None  # OIPRun of the other model
    measures: Measures | None = None

    @property
    def kinds(self) -> tuple[str, str, str]:
        """The names of this layer's OIP pictures (:func:`oipviz.render.images.oip_kinds`):
        colour models' OIPs are drawn in their colours."""
        return oip_kinds(np.shape(self.probe.images)[-1] == 3)

    def status(self, k: int) -> str:
        """live, rescued, dead or pending: map ``k``'s status so far."""
        if self.rescue is not None:
            return self.rescue.rows[k].status
        if self.probe is None:
            return PENDING
        if fires(self.probe.best_values[k]):
            return LIVE
        row = self.done.get(self.maps[k])
        return row.status if row else PENDING

    def value(self, k: int) -> float | None:
        """The activation shown: the best OIP's, or the precursor's where it ran."""
        if self.probe is None:
            return None
        row = self.rescue.rows[k] if self.rescue is not None else self.done.get(self.maps[k])
        if row is not None and row.precursor_value is not None:
            return float(row.precursor_value)
        return float(self.probe.best_values[k])


def precursor_folder(root: Path, layer: str, m: int) -> Path:
    """Where map ``m``'s precursor files go: ``<layer>/map_NNN/precursor/``."""
    return root / folder_name(layer) / f"map_{m:03d}" / "precursor"


def load_precursors(root: Path, st: LayerState) -> None:
    """Fill ``st`` with the maps' precursors finished by an earlier (interrupted) run, if
    any (their random-init activation is filled in by
    :func:`oipviz.compute.layerjobs.layer_work` from the probe)."""
    for m in st.maps:
        d = precursor_folder(root, st.info.name, m)
        entry = read_json(d / "result.json")
        if entry is None or not (d / "best.npy").exists():
            continue
        st.entries[m] = entry
        st.done[m] = RescueRow(
            m,
            None,
            rescued_or_dead(entry["best_activation"]),
            float(entry["best_activation"]),
            np.load(d / "best.npy"),
            int(entry["best_candidate"]),
        )
