"""Rescue the maps random inits miss: random multi-scale inits on every map (the probe),
then the precursor grid search on the maps that stay dead.

This is the workflow behind ``oipviz precursor --map all --dead-only`` and the gallery's
live / rescued / dead badges: both call :func:`rescue`, so they report the same counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from oipviz.compute.oip import OIPRun, oip
from oipviz.compute.precursor import PrecursorResult, precursor_maps
from oipviz.compute.precursor_settings import PrecursorSettings, settings_of
from oipviz.compute.screens import work
from oipviz.core import checks
from oipviz.core.progress import Stages
from oipviz.core.status import DEAD, LIVE, PENDING, count, fires, rescued_or_dead

#: random inits, steps, pixel range and style of the probe (the gallery uses the same)
PROBE_INITS = 8
PROBE_STEPS = 300
PROBE_RANGE = "valid"
PROBE_STYLE = "readable"
#: the gallery probe's plateau stop (:mod:`oipviz.core.chunks`), off: at 300 steps the
#: in-range readable OIPs still climb, so 0.001 saved 3.8 % of the probe's image-steps (3.5 %
#: of the OIP phase) while 21 of 126 maps' best activations moved by more than 2 % (median
#: ratio 0.997, min 0.51; bench/gallery.py --variant no_plateau)
PROBE_PLATEAU = 0.0


@dataclass
class RescueRow:
    """One map: the best random-init activation, the precursor's (if run), the status and
    the image to show (engine space: the best OIP, or the best precursor refinement)."""

    map: int
    probe_value: float | None  # None: the map was not probed with random inits
    status: str
    precursor_value: float | None = None
    best_image: np.ndarray | None = field(default=None, repr=False)
    best_candidate: int | None = None


@dataclass
class RescueResult:
    """The rescue table of a layer; ``results`` holds the precursor runs of this call."""

    layer: str
    probe: OIPRun | None  # None: precursor on the given maps, no probe
    rows: list[RescueRow]
    results: dict[int, PrecursorResult]
    params: dict

    @property
    def counts(self) -> dict[str, int]:
        return count(r.status for r in self.rows)

    @property
    def dead_after_probe(self) -> list[int]:
        return [r.map for r in self.rows if r.probe_value is not None and not fires(r.probe_value)]

    def summary(self) -> str:
        c, dead = self.counts, self.dead_after_probe
        if self.probe is None:
            return (
                f"{self.layer}: precursor on {len(self.rows)} map(s): {c['rescued']} rescued, "
                f"{c['dead']} dead" + (f", {c['pending']} pending" if c["pending"] else "")
            )
        pct = f" ({100 * c['rescued'] / len(dead):.0f}%)" if dead else ""
        return (
            f"{self.layer}: {len(self.rows)} map(s) tried; {len(dead)} dead after "
            f"{self.params['probe_inits']} random inits × {self.params['probe_steps']} steps; "
            f"{c['rescued']} rescued by the precursor{pct}, {c['dead']} still dead"
            + (f", {c['pending']} pending" if c["pending"] else "")
        )

    def table(self) -> list[dict]:
        """Rows as plain dicts (CSV/JSON)."""
        return [
            {
                "map": r.map,
                "random_init_activation": r.probe_value,
                "precursor_activation": r.precursor_value,
                "best_candidate": r.best_candidate,
                "status": r.status,
            }
            for r in self.rows
        ]

    def sheet(self):
        from oipviz.render.images import contact_sheet, normalize

        shown = [(r, r.best_image) for r in self.rows if r.best_image is not None]
        return contact_sheet(
            [normalize(img) for _, img in shown],
            [str(r.map) for r, _ in shown],
            status=[r.status for r, _ in shown],
            cell=56,
            cols=min(16, max(1, len(shown))),
            title=f"{self.layer}: rescue",
        )

    def _repr_html_(self) -> str:
        from oipviz.render.notebook import card

        return card(f"Rescue of {self.layer}", {"summary": self.summary()}, self.sheet())


def rescue(
    layer: str, maps=None, model=None, probe: OIPRun | None = None,
    probe_inits: int = PROBE_INITS, probe_steps: int = PROBE_STEPS,
    probe_range: str = PROBE_RANGE, probe_style: str = PROBE_STYLE,
    settings: PrecursorSettings | None = None, done: dict[int, RescueRow] | None = None,
    on_result: Callable[[PrecursorResult], None] | None = None, progress=None, **kw,
) -> RescueResult:  # fmt: skip
    """Random inits on every map of ``layer`` (or ``maps``), then the precursor on the dead.

    Parameters
    ----------
    layer : str
        A conv layer (or Dense layer).
    maps : list of int, optional
        The maps (None: all of them).
    model : str, Path, LoadedModel or None
        The model (None: the bundled seed CNN).
    probe : OIPRun, optional
        An :func:`oipviz.oip` run to use instead of running the random inits (the gallery
        passes its own).
    probe_inits : int
        Random inits per map of the probe (when ``probe`` is not given).
    probe_steps : int
        Ascent steps of the probe.
    probe_range : str
        ``valid`` by default (as the gallery's); ``free`` is the articles'.
    probe_style : str
        ``readable`` by default (as the gallery's); ``plain`` is the articles'.
    settings : PrecursorSettings, optional
        The precursor's settings (or its fields as keywords: ``grid``, ``top``, ``steps``,
        ``range_mode``...); ``lr``, ``seed`` and ``precision`` apply to the probe too.
    done : dict, optional
        Rows of maps whose precursor already ran (resume); they are not run again.
    on_result : callable, optional
        Called with each map's PrecursorResult as it finishes (writers keep finished maps).
    progress : callable, False or None
        ``f(stage, n, total)``, False, or None (progress bars).

    Returns
    -------
    RescueResult
    """
    from oipviz.core.loader import as_loaded

    s = settings_of(settings, kw)
    probe_inits = checks.integer("probe inits", probe_inits, 1)
    probe_steps = checks.integer("probe steps", probe_steps, 1)
    loaded = as_loaded(model)
    info = loaded.unit_layer(layer)  # a layer without maps is a one-line error
    assert info.units is not None  # unit_layer refuses a layer without units
    stages = Stages(progress)
    params = dict(
        s.as_dict(), layer=info.name, probe_inits=probe_inits, probe_steps=probe_steps,
        probe_range=probe_range, probe_style=probe_style,
    )  # fmt: skip
    try:
        if probe is None:
            total = (info.units if maps is None else len(maps)) * probe_inits * probe_steps
            probe = oip(
                info.name, maps, loaded, inits=probe_inits, steps=probe_steps, lr=s.lr,
                range_mode=probe_range, style=probe_style, precision=s.precision, seed=s.seed,
                progress=stages.tick(f"{info.name}: random inits × {probe_inits}", total),
            )  # fmt: skip
        if probe.interrupted:
            raise KeyboardInterrupt
        done = dict(done or {})
        results = _rescue_dead(loaded, info.name, probe, s, done, on_result, stages)
    finally:
        stages.close()
    rows = []
    for k, m in enumerate(probe.maps):
        v = float(probe.best_values[k])
        if fires(v):
            rows.append(RescueRow(m, v, LIVE, best_image=probe.best_images[k]))
        else:
            rows.append(done.get(m) or RescueRow(m, v, PENDING))
    return RescueResult(info.name, probe, rows, results, params)


def _rescue_dead(loaded, layer, probe, settings, done, on_result, stages) -> dict:
    """The precursor on the probe's dead maps not in ``done`` (filled in as they finish)."""
    dead = [m for m, v in zip(probe.maps, probe.best_values, strict=True) if not fires(v)]
    todo = [m for m in dead if m not in done]
    results: dict[int, PrecursorResult] = {}
    if not todo:
        return results
    tick = stages.tick(f"{layer}: precursor on {len(todo)} dead map(s)", work(len(todo), settings))
    for res in precursor_maps(layer, todo, loaded, settings, progress=tick):
        results[res.map] = res
        done[res.map] = row_of(res, probe_value=probe.best_values[probe.maps.index(res.map)])
        if on_result:
            on_result(res)
    return results


def row_of(res: PrecursorResult, probe_value: float | None = None) -> RescueRow:
    """A map's row from its precursor result (``rescued`` or ``dead``: the map is one that
    random inits left dead, or one the precursor was asked to run on)."""
    return RescueRow(
        res.map,
        None if probe_value is None else float(probe_value),
        rescued_or_dead(res.best_value),
        res.best_value,
        res.best_image,
        res.best + 1,
    )


__all__ = ["rescue", "RescueResult", "RescueRow", "PROBE_INITS", "PROBE_STEPS", "DEAD"]
