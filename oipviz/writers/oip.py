"""Write an :class:`~oipviz.compute.oip.OIPRun` as PNGs, .npy, contact sheets and a manifest;
run a resumable multi-map OIP job in parts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from oipviz.compute.oip import OIPRun
from oipviz.core.folders import OutputFolder
from oipviz.core.outputs import load_npz, save_array, save_image, save_npz
from oipviz.core.status import count
from oipviz.render.images import contact_sheet, enhance, oip_images


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


def write_oip_images(
    folder: str | Path,
    stem: str,
    z: np.ndarray,
    pixels: np.ndarray | None = None,
    save: Callable[..., Path] = save_image,
) -> list[Path]:
    """The standard set of one OIP: ``STEM_viridis.png`` (``STEM_colour.png``), ``STEM_gray.png``,
    ``STEM_enhanced.png`` (:func:`oipviz.render.images.oip_images`) and the raw ``STEM.npy``.

    Parameters
    ----------
    folder : str or Path
        An existing folder.
    stem : str
        The files' common name.
    z : ndarray
        The OIP in the engine's space.
    pixels : ndarray or None
        Its pixels in [0,1], drawn exactly (a valid-range OIP); None: min-max scaled.
    save : callable
        ``save(path, image)`` writes a picture (default :func:`~oipviz.core.outputs.save_image`;
        a site writer passes :meth:`oipviz.core.imagepool.ImagePool.save`).

    Returns
    -------
    list of Path
        The four files.
    """
    folder = Path(folder)
    paths = [
        save(folder / f"{stem}_{kind}.png", img) for kind, img in oip_images(z, pixels).items()
    ]
    paths.append(save_array(folder / f"{stem}.npy", np.asarray(z, np.float32).squeeze()))
    return paths


def write_oip(out: OutputFolder, run: OIPRun, manifest: dict) -> dict:
    """Write an OIP run into ``out``.

    Parameters
    ----------
    out : OutputFolder
        The open output folder.
    run : OIPRun
        The OIPs of one or more maps.
    manifest : dict
        The manifest's common part.

    Returns
    -------
    dict
        The manifest written.  Files: per live map its viridis/gray/enhanced PNGs and raw
        .npy (:func:`write_oip_images`), the contact sheet(s), ``history.npy``.
    """
    tmp = out.path
    per_map = [_oip_entry(tmp, run, k) for k in range(len(run.maps))]
    _write_sheets(tmp, run)
    save_array(tmp / "history.npy", run.history)
    c = count(run.status)
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


def _oip_entry(folder: Path, run: OIPRun, k: int) -> dict:
    """Map ``k``'s manifest entry; a live map's pictures are written."""
    m, status = run.maps[k], run.status[k]
    entry = {
        "map": m,
        "status": status,
        "activation_start": [float(v) for v in run.start[k]],
        "activation_end": [float(v) for v in run.final[k]],
        "best_init": int(run.best[k]),
        "best_activation": float(run.best_values[k]),
    }
    if status == "live":
        z = run.best_images[k]
        px = run.shown(z) if run.range_mode == "valid" else None
        entry["files"] = [p.name for p in write_oip_images(folder, f"map{m:03d}", z, px)]
    return entry


def _write_sheets(folder: Path, run: OIPRun) -> None:
    """``contact_sheet.png`` (several maps: their best OIPs, and a contrast-enhanced
    ``contact_sheet_enhanced.png``; one map: all its inits)."""
    if len(run.maps) == 1:
        save_image(folder / "contact_sheet.png", run.sheet())
        return
    status = run.status
    labels = [
        f"{m}" + (" dead" if s == "dead" else "") for m, s in zip(run.maps, status, strict=True)
    ]
    title = f"{run.layer}: OIPs ({run.kind})" + (
        ", valid range" if run.range_mode == "valid" else ""
    )
    sheet = contact_sheet(
        [run.shown(b) for b in run.best_images], labels, status=status, title=title
    )
    save_image(folder / "contact_sheet.png", sheet)
    enhanced = contact_sheet(
        [enhance(b) for b in run.best_images],
        labels,
        status=status,
        title=f"{run.layer}: OIPs, contrast-enhanced",
    )
    save_image(folder / "contact_sheet_enhanced.png", enhanced)


__all__ = ["write_oip", "write_oip_images", "FolderParts"]
