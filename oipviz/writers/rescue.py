"""Write a rescue run (``precursor --dead-only`` / several maps): one subfolder per map as
soon as it is finished, then the rescue table (CSV + JSON), an overview sheet, the manifest."""

from __future__ import annotations

import csv
import io

import numpy as np

from oipviz.compute.oip import OIPRun
from oipviz.compute.precursor import PrecursorResult
from oipviz.compute.rescue import RescueResult, RescueRow
from oipviz.core.folders import OutputFolder
from oipviz.core.outputs import read_json, write_json, write_text
from oipviz.core.status import PENDING
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
            e["status"],
            e["best_activation"],
            np.load(d / "best.npy"),
            e.get("best_candidate"),
        )
    return rows


def write_rescue(out: OutputFolder, res: RescueResult, manifest: dict) -> dict:
    """rescue.csv, rescue.json, contact_sheet.png and the final manifest."""
    rows = res.table()
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(
            {
                k: ("" if v is None else (f"{v:.6g}" if isinstance(v, float) else v))
                for k, v in r.items()
            }
        )
    write_text(out.path / "rescue.csv", buf.getvalue())
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
        res_sheet.save(out.path / "contact_sheet.png", format="PNG")
    manifest = dict(
        manifest,
        summary=summary,
        maps=[read_json(out.path / map_folder(r.map) / "manifest.json") or {} for r in ran],
    )
    out.write_manifest(manifest)
    return manifest
