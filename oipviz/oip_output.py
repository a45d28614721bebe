"""Write an :class:`~oipviz.oip.OIPRun` as a folder of PNGs, .npy, contact sheet, manifest."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .manifest import base_manifest
from .outputs import atomic_dir, write_json
from .render import contact_sheet, enhance, normalize, save_oip


def write_oip_folder(out: str | Path, run, loaded, params: dict, seed: int, force: bool) -> Path:
    out = Path(out)
    status = run.status
    with atomic_dir(out, force=force) as tmp:
        per_map = []
        for k, m in enumerate(run.maps):
            entry = {"map": m, "status": status[k],
                     "activation_start": [float(v) for v in run.start[k]],
                     "activation_end": [float(v) for v in run.final[k]],
                     "best_init": int(run.best[k]), "best_activation": float(run.best_values[k])}
            if status[k] == "live":
                entry["files"] = [p.name for p in save_oip(tmp, f"map{m:03d}", run.best_images[k])]
            per_map.append(entry)
        labels = [f"{m}" + (" dead" if s == "dead" else "") for m, s in zip(run.maps, status)]
        best = run.best_images
        if len(run.maps) > 1:
            contact_sheet([normalize(b) for b in best], labels, tmp / "contact_sheet.png",
                          status=status, title=f"{run.layer}: OIPs ({params.get('objective')})")
            contact_sheet([enhance(b) for b in best], labels, tmp / "contact_sheet_enhanced.png",
                          status=status, title=f"{run.layer}: OIPs, contrast-enhanced")
        else:
            # one map: the sheet shows all inits, so their diversity is visible
            k = 0
            imgs = run.images[k, :, :, :, 0]
            contact_sheet([normalize(i) for i in imgs],
                          [f"init {i}: {v:.2f}" for i, v in enumerate(run.final[k])],
                          tmp / "contact_sheet.png", cols=min(4, len(imgs)),
                          status=["dead" if v <= 1e-6 else "live" for v in run.final[k]],
                          title=f"{run.layer} map {run.maps[0]}: all inits")
        np.save(tmp / "history.npy", run.history)
        manifest = base_manifest("oip", loaded, params, seed)
        manifest.update(layer=run.layer, interrupted=run.interrupted, steps_done=run.steps_done,
                        summary={"maps": len(run.maps), "live": status.count("live"),
                                 "dead": status.count("dead")},
                        maps=per_map)
        write_json(tmp / "manifest.json", manifest)
    return out
