"""Plots (matplotlib's object API, no global state), each returned as a PIL image: the
feature views' scatter plots coloured by class, score-versus-K curves and the cluster ×
class table; the precursor's screen histogram and refine curves."""

from __future__ import annotations

import numpy as np
from PIL import Image

from oipviz.core.status import fires
from oipviz.render.figures import figure_image, new_figure

CLASS_COLOURS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]  # tab10


def scatter(result) -> Image.Image:
    """One scatter per panel of an EmbedResult: points coloured by true class,
    misclassified digits ringed in black; the kNN agreement in each title."""
    panels, y = result.panels, result.labels
    fig = new_figure(5.2 * len(panels), 5.6, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    size = float(np.clip(4000 / max(len(y), 1), 1.5, 25))
    colours = np.array(CLASS_COLOURS)[y % 10]
    for ax, p in zip(axes, panels, strict=True):
        c = p.coords
        ax.scatter(c[:, 0], c[:, 1], s=size, c=colours, linewidths=0, rasterized=True)
        if p.pred is not None:
            bad = p.pred != y
            ax.scatter(
                c[bad, 0],
                c[bad, 1],
                s=size * 4 + 10,
                facecolors="none",
                edgecolors="black",
                linewidths=0.6 if bad.mean() > 0.05 else 0.9,
            )
        acc = "" if p.pred is None else f", {int((p.pred != y).sum())} misclassified (ringed)"
        ax.set_title(
            f"{p.title}\n{p.features}{acc}\nkNN agreement (k={result.k}): "
            f"{p.agreement_2d:.3f} in 2-D, {p.agreement_nd:.3f} in {p.dims}-D",
            fontsize=8.5,
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal", adjustable="datalim")
    handles = [axes[0].scatter([], [], s=30, c=CLASS_COLOURS[d], label=str(d)) for d in range(10)]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=10 if len(panels) > 1 else 5,
        fontsize=9,
        frameon=False,
        columnspacing=1.0,
        handletextpad=0.2,
        title=f"true class · {len(y)} digits · {result.method}",
        title_fontsize=9,
    )
    return figure_image(fig)


def curve(ks, values, ylabel: str, title: str, mark: int | None = None) -> Image.Image:
    """A score against K (the chosen K marked)."""
    fig = new_figure(5.5, 3.6, layout="constrained")
    ax = fig.subplots()
    ax.plot(ks, values, "o-", ms=3.5, color="#1f77b4")
    if mark is not None and mark in list(ks):
        i = list(ks).index(mark)
        ax.plot(
            [mark], [values[i]], "o", ms=9, mfc="none", mec="#d62728", mew=2, label=f"K = {mark}"
        )
        ax.legend(fontsize=8)
    ax.set_xlabel("K (clusters)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return figure_image(fig)


def contingency(table: np.ndarray, title: str) -> Image.Image:
    """The cluster × class count table as a heatmap with its numbers."""
    K = table.shape[0]
    fig = new_figure(5.2, max(3.0, 0.22 * K + 1.6), layout="constrained")
    ax = fig.subplots()
    ax.imshow(table, cmap="viridis", aspect="auto")
    if K <= 60:
        hi = table.max() / 2
        for i, j in zip(*np.nonzero(table), strict=True):
            ax.text(
                j,
                i,
                str(table[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="black" if table[i, j] > hi else "white",
            )
    ax.set_xticks(range(table.shape[1]))
    ax.set_yticks(range(K) if K <= 60 else [])
    ax.set_xlabel("true class")
    ax.set_ylabel("cluster")
    ax.set_title(title, fontsize=9)
    return figure_image(fig)


def screen_histogram(res) -> Image.Image:
    """A PrecursorResult's histogram of the screen losses (log counts), the top-k cut marked."""
    fig = new_figure(6.4, 4.0)
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
        for s, d in zip(levels, data, strict=True)
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
    return figure_image(fig)


def refine_curves(res) -> Image.Image:
    """A PrecursorResult's objective against the step for every candidate's refinement."""
    fig = new_figure(6.4, 4.0)
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
    return figure_image(fig)


def confusion_picture(confusion: np.ndarray, title: str, class_names=None) -> Image.Image:
    """The confusion matrix (true × predicted, counts in the cells); the axes name the
    classes (``class_names``, else their indices).

    Parameters
    ----------
    confusion : ndarray
        Counts, true class × predicted class.
    title : str
        Shown above the matrix.
    class_names : sequence of str, optional
        One per class.

    Returns
    -------
    PIL.Image.Image
    """
    n = len(confusion)
    names = [str(c) for c in (class_names or range(n))]
    wordy = max(len(s) for s in names) > 2
    side = max(5.5, 0.45 * n + (2.5 if wordy else 1.0))
    fig = new_figure(side, side - 0.5)
    ax = fig.subplots()
    ax.imshow(confusion, cmap="viridis")
    half = confusion.max() / 2
    for (i, j), v in np.ndenumerate(confusion):
        if v:
            colour = "black" if v > half else "white"
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(n), names, rotation=90 if wordy else 0, fontsize=8 if wordy else None)
    ax.set_yticks(range(n), names, fontsize=8 if wordy else None)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return figure_image(fig)
