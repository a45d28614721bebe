"""Write a :class:`~oipviz.compute.precursor.PrecursorResult` as files: PNGs of the candidates'
start patterns and refined OIPs, the screen histogram, refine curves, a contact sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oipviz.compute.precursor import PrecursorResult
from oipviz.core.status import fires, live_or_dead


def _figure(w: float = 6.4, h: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_screen_histogram(res: PrecursorResult, path) -> None:
    """Histogram of the screen losses (log counts), the top-k cut marked."""
    fig = _figure()
    ax = fig.add_subplot(111)
    ok = ~np.isnan(res.screen_losses)
    steps = res.screen_steps[ok]
    vals = res.screen_losses[ok]
    lo, hi = float(vals.min()), float(vals.max())
    flat = hi - lo <= 1e-12
    bins = np.array([lo - 0.004, lo + 0.004]) if flat else np.linspace(lo, hi, 61)
    levels = sorted(set(int(s) for s in np.unique(steps)))
    data = [vals[steps == s] for s in levels]
    labels = [
        ("raw pattern" if s == 0 else f"after {s} steps") + f" ({len(d):,})"
        for s, d in zip(levels, data)
    ]
    ax.hist(data, bins=bins, stacked=True, label=labels, log=True)
    cut = float(res.top_losses.min())
    ax.axvline(cut, color="crimson", ls="--", lw=1, label=f"top {len(res.top_indices)} ≥ {cut:.3g}")
    zeros = int(np.count_nonzero(~fires(vals)))
    if flat:
        ax.set_xlim(lo - 0.1, lo + 0.1)
        ax.text(
            0.27,
            0.6,
            f"all {len(vals):,} patterns\ngive {lo:.3g}: none of\nthem wakes this map",
            transform=ax.transAxes,
            ha="center",
            fontsize=11,
        )
    ax.set_xlabel("screen loss (mean activation of the map)")
    ax.set_ylabel("patterns")
    ax.set_title(
        f"{res.layer} map {res.map}: {res.screen} screen of {len(vals):,} patterns "
        f"({zeros:,} at zero)",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")


def plot_refine_curves(res: PrecursorResult, path) -> None:
    """Objective vs step for every candidate's refinement."""
    fig = _figure()
    ax = fig.add_subplot(111)
    steps = np.append(res.history_steps, res.steps)
    for i in range(len(res.final)):
        ys = np.append(res.history[:, i], res.final[i])
        ax.plot(
            steps,
            ys,
            lw=2.0 if i == res.best else 1.0,
            label=f"#{i + 1} (pattern {int(res.top_indices[i])}): {res.final[i]:.3g}",
        )
    ax.set_xlabel("step")
    ax.set_ylabel("mean activation of the map")
    ax.set_title(
        f"{res.layer} map {res.map}: refinement of the top {len(res.final)} ({res.steps} steps)",
        fontsize=10,
    )
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")


def map_entry(res: PrecursorResult) -> dict:
    """The per-map part of a manifest."""
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

    Returns the manifest entry (with the file names).
    """
    from oipviz.render.images import contact_sheet, normalize, save_oip, save_png

    folder = Path(folder)
    w = len(str(len(res.final)))
    files = []
    for i in range(len(res.final)):
        tag = f"{i + 1:0{w}d}"
        z0 = res.start_patterns[i, :, :, 0]
        files.append(save_png(folder / f"start_{tag}_viridis.png", normalize(z0), "viridis").name)
        files.append(save_png(folder / f"start_{tag}_gray.png", normalize(z0), "gray").name)
        files += [p.name for p in save_oip(folder, f"oip_{tag}", res.images[i])]
    files += [p.name for p in save_oip(folder, "best", res.best_image)]
    screened = ~np.isnan(res.screen_losses)
    if screened.all():
        np.save(folder / "screen_losses.npy", res.screen_losses)
        losses_file = "screen_losses.npy"
    else:  # a slice or a top-k-only (sharded, huge) screen: store what was measured
        idx = np.flatnonzero(screened)
        np.savez_compressed(folder / "screen_losses.npz", index=idx, loss=res.screen_losses[idx])
        losses_file = "screen_losses.npz"
    np.save(folder / "refine_history.npy", res.history)
    plot_screen_histogram(res, folder / "screen_histogram.png")
    plot_refine_curves(res, folder / "refine_curves.png")
    top = len(res.final)
    imgs = [normalize(z) for z in res.start_patterns[..., 0]] + [
        normalize(z) for z in res.images[..., 0]
    ]
    woken = res.woken if res.woken is not None else np.zeros(top, bool)
    labels = [
        f"#{i + 1} s={res.top_losses[i]:.2g}" + (" w" if woken[i] else "") for i in range(top)
    ] + [f"{v:.3g}" + (" best" if i == res.best else "") for i, v in enumerate(res.final)]
    status = [None] * top + [live_or_dead(v) for v in res.final]
    contact_sheet(
        imgs,
        labels,
        folder / "contact_sheet.png",
        cols=top,
        status=status,
        title=f"{res.layer} map {res.map}: start patterns (top), refined OIPs (bottom)",
    )
    files += [
        losses_file,
        "refine_history.npy",
        "screen_histogram.png",
        "refine_curves.png",
        "contact_sheet.png",
    ]
    entry = map_entry(res)
    entry["files"] = files
    return entry


def write_precursor(out, res: PrecursorResult, manifest: dict) -> dict:
    """One map's precursor run as a whole output folder (files + manifest)."""
    entry = write_result(out.path, res)
    manifest = dict(manifest, layer=res.layer, grid=res.grid, values=list(res.values), **entry)
    out.write_manifest(manifest)
    return manifest
