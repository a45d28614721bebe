"""Figures of the feature views (matplotlib, no pyplot state): scatter plots coloured by
class, score-versus-K curves and the cluster × class table.  Each returns a PIL image."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

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


def to_pil(fig) -> Image.Image:
    """Render a matplotlib Figure (no timestamp metadata: same figure, same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, metadata={"Software": None})
    buf.seek(0)
    img = Image.open(buf)
    img.load()
    return img.convert("RGB")


def _figure(w: float, h: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def scatter(result) -> Image.Image:
    """One scatter per panel of an EmbedResult: points coloured by true class,
    misclassified digits ringed in black; the kNN agreement in each title."""
    panels, y = result.panels, result.labels
    fig = _figure(5.2 * len(panels), 5.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    size = float(np.clip(4000 / max(len(y), 1), 1.5, 25))
    colours = np.array(CLASS_COLOURS)[y % 10]
    for ax, p in zip(axes, panels):
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
    return to_pil(fig)


def curve(ks, values, ylabel: str, title: str, mark: int | None = None) -> Image.Image:
    """A score against K (the chosen K marked)."""
    fig = _figure(5.5, 3.6)
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
    return to_pil(fig)


def contingency(table: np.ndarray, title: str) -> Image.Image:
    """The cluster × class count table as a heatmap with its numbers."""
    K = table.shape[0]
    fig = _figure(5.2, max(3.0, 0.22 * K + 1.6))
    ax = fig.subplots()
    ax.imshow(table, cmap="viridis", aspect="auto")
    if K <= 60:
        hi = table.max() / 2
        for i, j in zip(*np.nonzero(table)):
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
    return to_pil(fig)
