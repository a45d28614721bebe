"""Write an :class:`~oipviz.compute.oip.OIPRun` as PNGs, .npy, contact sheets and a manifest;
keep the parts of a resumable multi-map run in its output folder (:class:`FolderParts`)."""

from __future__ import annotations

import numpy as np

from oipviz.compute.oip import OIPRun
from oipviz.core.folders import OutputFolder
from oipviz.core.outputs import load_npz, save_npz
from oipviz.core.status import count, live_or_dead
from oipviz.render.images import contact_sheet, enhance, save_oip


class FolderParts:
    """Parts kept in ``out/[under/]parts/`` as soon as each is done (resume reads them)."""

    def __init__(self, out: OutputFolder, convention=None, transforms: tuple = (), under: str = ""):
        self.folder = out.path / under / "parts"
        self.convention, self.transforms = convention, transforms

    def _path(self, group: list[int]):
        return self.folder / f"maps_{group[0]:04d}-{group[-1]:04d}.npz"

    def arrays(self, group: list[int]) -> dict | None:
        path = self._path(group)
        have = load_npz(path) if path.exists() else None
        return have if have is not None and [int(m) for m in have["maps"]] == group else None

    def load(self, group: list[int]) -> OIPRun | None:
        have = self.arrays(group)
        return None if have is None else OIPRun.from_arrays(have, self.convention, self.transforms)

    def save(self, group: list[int], run: OIPRun) -> None:
        self.save_arrays(run.to_arrays())

    def save_arrays(self, arrays: dict) -> None:
        """Keep a part computed elsewhere (:attr:`oipviz.compute.parts.HeldParts.new`)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        save_npz(self._path([int(m) for m in arrays["maps"]]), arrays)


def write_oip(out: OutputFolder, run: OIPRun, manifest: dict) -> dict:
    """Per live map: viridis/gray/enhanced PNGs and the raw .npy; the contact sheet(s);
    history.npy; manifest.json.  Returns the manifest."""
    tmp = out.path
    status = run.status
    per_map = []
    for k, m in enumerate(run.maps):
        entry = {
            "map": m,
            "status": status[k],
            "activation_start": [float(v) for v in run.start[k]],
            "activation_end": [float(v) for v in run.final[k]],
            "best_init": int(run.best[k]),
            "best_activation": float(run.best_values[k]),
        }
        if status[k] == "live":
            px = run.shown(run.best_images[k]) if run.range_mode == "valid" else None
            entry["files"] = [p.name for p in save_oip(tmp, f"map{m:03d}", run.best_images[k], px)]
        per_map.append(entry)
    if len(run.maps) > 1:
        labels = [f"{m}" + (" dead" if s == "dead" else "") for m, s in zip(run.maps, status)]
        title = f"{run.layer}: OIPs ({run.kind})" + (
            ", valid range" if run.range_mode == "valid" else ""
        )
        contact_sheet(
            [run.shown(b) for b in run.best_images],
            labels,
            tmp / "contact_sheet.png",
            status=status,
            title=title,
        )
        contact_sheet(
            [enhance(b) for b in run.best_images],
            labels,
            tmp / "contact_sheet_enhanced.png",
            status=status,
            title=f"{run.layer}: OIPs, contrast-enhanced",
        )
    else:
        run.sheet().save(tmp / "contact_sheet.png", format="PNG")
    np.save(tmp / "history.npy", run.history)
    c = count(status)
    manifest = dict(
        manifest,
        layer=run.layer,
        steps_done=run.steps_done,
        range=run.range_mode,
        rendering=(
            "exact pixels (0 = black, 1 = white)"
            if run.range_mode == "valid"
            else "min-max scaled per image (the articles' plots)"
        )
        + "; *_enhanced.png: contrast-enhanced",
        transforms=[repr(t) for t in run.transforms],
        summary={"maps": len(run.maps), "live": c["live"], "dead": c["dead"]},
        maps=per_map,
    )
    out.write_manifest(manifest)
    return manifest


__all__ = ["write_oip", "FolderParts"]
