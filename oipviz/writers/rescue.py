"""Write a rescue run (``precursor --dead-only`` / several maps): one subfolder per map as
soon as it is finished, then the rescue table (CSV + JSON), an overview sheet, the manifest."""

from __future__ import annotations

import numpy as np

from oipviz.compute.oip import OIPRun
from oipviz.compute.precursor import PrecursorResult
from oipviz.compute.rescue import RescueResult, RescueRow
from oipviz.core.folders import OutputFolder
from oipviz.core.outputs import read_json, save_csv, save_image, write_json
from oipviz.core.status import PENDING, rescued_or_dead
from oipviz.writers.precursor import write_result


def map_folder(m: int) -> str:
    return f"map{m:03d}"


def keep_map(out: OutputFolder, res: PrecursorResult, manifest: dict) -> None:
    """Write one finished map atomically (``mapNNN/``): resume skips it from now on."""
    with out.item(map_folder(res.map)) as tmp:
        entry = write_result(tmp, res)
        write_json(
            tmp / "manifest.json",
            dict(
                manifest, tool="oipviz", kind="precursor", complete=True, layer=res.layer, **entry
            ),
        )


def finished_rows(
    out: OutputFolder, maps: list[int], probe: OIPRun | None = None
) -> dict[int, RescueRow]:
    """Rows of the maps already finished in ``out`` (for resume)."""
    rows = {}
    for m in maps:
        d = out.path / map_folder(m)
        e = read_json(d / "manifest.json")
        if not e or not (d / "best.npy").exists():
            continue
        pv = None if probe is None else float(probe.best_values[probe.maps.index(m)])
        rows[m] = RescueRow(
            m,
            pv,
            rescued_or_dead(e["best_activation"]),
            e["best_activation"],
            np.load(d / "best.npy"),
            e.get("best_candidate"),
        )
    return rows


def write_rescue(out: OutputFolder, res: RescueResult, manifest: dict) -> dict:
    """Write the rescue table and overview of a rescue run (its maps are written already).

    Parameters
    ----------
    out : OutputFolder
        The open output folder, holding ``mapNNN/`` of every map the precursor ran on.
    res : RescueResult
        The rescue table.
    manifest : dict
        The manifest's common part.

    Returns
    -------
    dict
        The final manifest written: ``rescue.csv``, ``rescue.json``, ``contact_sheet.png``
        (the maps the precursor ran on).
    """
    rows = res.table()
    save_csv(out.path / "rescue.csv", rows)
    c = res.counts
    summary = {
        "maps": len(rows),
        "dead_after_random_inits": len(res.dead_after_probe),
        "live_after_random_inits": c["live"],
        "rescued": c["rescued"],
        "still_dead": c["dead"],
        "pending": c[PENDING],
    }
    write_json(out.path / "rescue.json", {"summary": summary, "maps": rows})
    ran = [r for r in res.rows if r.precursor_value is not None]
    if ran:
        res_sheet = RescueResult(res.layer, res.probe, ran, {}, res.params).sheet()
        save_image(out.path / "contact_sheet.png", res_sheet)
    manifest = dict(
        manifest,
        summary=summary,
        maps=[read_json(out.path / map_folder(r.map) / "manifest.json") or {} for r in ran],
    )
    out.write_manifest(manifest)
    return manifest
