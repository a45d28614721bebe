"""Write a :class:`~oipviz.compute.precursor.PrecursorResult` as files: PNGs of the candidates'
start patterns and refined OIPs, the screen histogram, refine curves (:mod:`oipviz.render.plots`),
a contact sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oipviz.compute.oip import plane
from oipviz.compute.precursor import PrecursorResult
from oipviz.core.outputs import save_array, save_image, save_npz_compressed
from oipviz.core.status import live_or_dead
from oipviz.render.images import contact_sheet, normalize, to_image
from oipviz.render.plots import refine_curves, screen_histogram
from oipviz.writers.oip import write_oip_images


def precursor_entry(res: PrecursorResult) -> dict:
    """One map's precursor run for a manifest: status, best activation, screen and timing,
    per candidate its pattern, screen loss and activations.

    Parameters
    ----------
    res : PrecursorResult
        The run.

    Returns
    -------
    dict
    """
    digits = res.digits()
    return {
        "map": res.map,
        "status": res.status,
        "best_activation": res.best_value,
        "best_candidate": res.best + 1,
        "n_patterns": res.n_patterns,
        "wake": res.wake,
        "n_screened": res.n_screened,
        "screen": res.screen,
        "precision_used": res.precision,
        "screen_seconds": round(res.screen_seconds, 3),
        "refine_seconds": round(res.refine_seconds, 3),
        "candidates": [
            {
                "candidate": i + 1,
                "screen_rank": i + 1,
                "pattern_index": int(p),
                "digits": digits[i].tolist(),
                "grey_values": [[res.values[d] for d in row] for row in digits[i]],
                "screen_loss": float(res.screen_losses[p]),
                "screen_steps": int(res.screen_steps[p]),
                "start_activation": float(res.start[i]),
                "refined_activation": float(res.final[i]),
                "woken": bool(res.woken[i]) if res.woken is not None else False,
            }
            for i, p in enumerate(res.top_indices)
        ],
    }


def write_result(folder, res: PrecursorResult) -> dict:
    """Write one map's PNGs, arrays and plots into ``folder`` (which exists).

    Parameters
    ----------
    folder : str or Path
        An existing folder.
    res : PrecursorResult
        The run.

    Returns
    -------
    dict
        :func:`precursor_entry` with ``files``, the names of the files written.
    """
    folder = Path(folder)
    files = _write_candidates(folder, res)
    files += [p.name for p in write_oip_images(folder, "best", res.best_image)]
    screened = ~np.isnan(res.screen_losses)
    if screened.all():
        save_array(folder / "screen_losses.npy", res.screen_losses)
        losses_file = "screen_losses.npy"
    else:  # a slice or a top-k-only (sharded, huge) screen: store what was measured
        idx = np.flatnonzero(screened)
        save_npz_compressed(
            folder / "screen_losses.npz", {"index": idx, "loss": res.screen_losses[idx]}
        )
        losses_file = "screen_losses.npz"
    save_array(folder / "refine_history.npy", res.history)
    save_image(folder / "screen_histogram.png", screen_histogram(res))
    save_image(folder / "refine_curves.png", refine_curves(res))
    save_image(folder / "contact_sheet.png", _sheet(res))
    files += [
        losses_file,
        "refine_history.npy",
        "screen_histogram.png",
        "refine_curves.png",
        "contact_sheet.png",
    ]
    entry = precursor_entry(res)
    entry["files"] = files
    return entry


def _write_candidates(folder: Path, res: PrecursorResult) -> list[str]:
    """Each candidate's start pattern (viridis, gray) and refined OIP; the file names."""
    w = len(str(len(res.final)))
    files = []
    for i in range(len(res.final)):
        tag = f"{i + 1:0{w}d}"
        z0 = normalize(plane(res.start_patterns[i]))
        for cmap in ("colour",) if z0.ndim == 3 else ("viridis", "gray"):
            name = f"start_{tag}_{cmap}.png"
            save_image(folder / name, to_image(z0, cmap))
            files.append(name)
        files += [p.name for p in write_oip_images(folder, f"oip_{tag}", res.images[i])]
    return files


def _sheet(res: PrecursorResult):
    """Start patterns (top row) and refined OIPs (bottom row) with their numbers."""
    top = len(res.final)
    imgs = [normalize(z) for z in plane(res.start_patterns)] + [
        normalize(z) for z in plane(res.images)
    ]
    woken = res.woken if res.woken is not None else np.zeros(top, bool)
    labels = [
        f"#{i + 1} s={res.top_losses[i]:.2g}" + (" w" if woken[i] else "") for i in range(top)
    ] + [f"{v:.3g}" + (" best" if i == res.best else "") for i, v in enumerate(res.final)]
    status = [None] * top + [live_or_dead(v) for v in res.final]
    return contact_sheet(
        imgs,
        labels,
        cols=top,
        status=status,
        title=f"{res.layer} map {res.map}: start patterns (top), refined OIPs (bottom)",
    )


def write_precursor(out, res: PrecursorResult, manifest: dict) -> dict:
    """One map's precursor run as a whole output folder.

    Parameters
    ----------
    out : OutputFolder
        The open output folder.
    res : PrecursorResult
        The run.
    manifest : dict
        The manifest's common part.

    Returns
    -------
    dict
        The manifest written (:func:`write_result`'s entry, layer, grid, values).
    """
    entry = write_result(out.path, res)
    manifest = dict(manifest, layer=res.layer, grid=res.grid, values=list(res.values), **entry)
    out.write_manifest(manifest)
    return manifest
