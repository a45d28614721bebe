"""Per-map figures of the gallery drawn fast: one matplotlib figure with fixed axes, drawn
once; each map then only redraws its own artists over that background (blitting)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from oipviz.render.figures import canvas_image, new_figure
from oipviz.render.stamps import LabelStamps


class StatsPlotter:
    """One map's histogram of activations over the data and its class selectivity.

    One figure is drawn once with fixed axes (x of the histogram in fractions of the
    map's largest activation, bars scaled to the tallest one; numbers printed on it);
    each map only redraws its artists over that background (blitting): a few ms per map.
    """

    BLUE, ORANGE = "#3b6ea5", "#e6a01e"

    def __init__(self, bins: int, n_classes: int = 10, dpi: int = 80, unit: str = "map"):
        from matplotlib.collections import PolyCollection

        self.dpi = dpi
        self.fig = new_figure(8.0, 2.8, dpi)
        self.canvas = self.fig.canvas
        self.fig.subplots_adjust(left=0.03, right=0.985, bottom=0.17, top=0.90, wspace=0.12)
        ax, bx = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.12)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "", "½ max", "", "max"], fontsize=7)
        ax.set_yticks([])
        what = "spatial mean" if unit == "map" else "unit value"
        ax.set_xlabel(f"activation ({what}), digits with activation > 0", fontsize=8)
        ax.set_title("histogram over the data", fontsize=9, loc="left")
        bx.set_xlim(-0.6, n_classes - 0.4)
        bx.set_ylim(0, 1.22)
        bx.set_xticks(np.arange(n_classes), [str(c) for c in range(n_classes)], fontsize=7)
        bx.set_yticks([])
        bx.set_xlabel("true class", fontsize=8)
        bx.set_title("class selectivity: mean activation per class", fontsize=9, loc="left")
        self.edges = np.linspace(0.0, 1.0, bins + 1)
        self.hist = ax.stairs(np.zeros(bins), self.edges, fill=True, color=self.BLUE, animated=True)
        self.thresh = ax.axvline(0, color=self.ORANGE, lw=1.3, animated=True)
        self.h_text = _corner_text(ax)
        self.sel = PolyCollection(
            [self._bar(i, 0.0) for i in range(n_classes)],
            animated=True,
            facecolors=self.BLUE,
            edgecolors="none",
        )
        bx.add_collection(self.sel)
        self.s_text = _corner_text(bx)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    @staticmethod
    def _bar(i: int, h: float) -> np.ndarray:
        return np.array([[i - 0.4, 0.0], [i + 0.4, 0.0], [i + 0.4, h], [i - 0.4, h]])

    @property
    def size(self) -> tuple[int, int]:
        w, h = self.fig.get_size_inches()
        return int(round(w * self.dpi)), int(round(h * self.dpi))

    def render(
        self,
        hist: np.ndarray,
        hist_max: float,
        frac_zero: float,
        selectivity: np.ndarray,
        threshold: float,
        oip_value: float | None = None,
    ) -> Image.Image:
        """The figure of one map (``threshold``: the top-k cut, marked in orange)."""
        positive = hist.sum() > 0
        self.hist.set_data(hist / max(int(hist.max()), 1), self.edges)
        self.thresh.set_xdata([threshold / hist_max] * 2)
        self.thresh.set_visible(threshold > 0)
        text = f"max {hist_max if positive else 0:.3g}, {frac_zero:.0%} at 0"
        if oip_value is not None and oip_value > 0:
            text += f"\nOIP in range: {oip_value:.3g}"
        self.h_text.set_text(text)
        sel = np.asarray(selectivity, np.float64)
        smax = float(sel.max())
        best = int(sel.argmax()) if smax > 0 else -1
        heights = sel / smax if smax > 0 else np.zeros_like(sel)
        self.sel.set_verts([self._bar(i, h) for i, h in enumerate(heights)])
        self.sel.set_facecolor([self.ORANGE if k == best else self.BLUE for k in range(len(sel))])
        self.s_text.set_text("" if best >= 0 else "0 for every class")
        self.canvas.restore_region(self.background)
        for a in (self.hist, self.thresh, self.h_text, self.sel, self.s_text):
            self.fig.draw_artist(a)
        return canvas_image(self.fig)


class SimilarityPlotter:
    """One map's aligned-similarity matrix of its K inits' OIPs (viridis, fixed 0 … 1,
    values printed), drawn once and then blitted per map like :class:`StatsPlotter`; the
    values are stamped (:class:`~oipviz.render.stamps.LabelStamps`): 64 Text artists took
    37 of the 40 ms per map."""

    def __init__(self, k: int, dpi: int = 100):
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        self.dpi = dpi
        self.fig = new_figure(3.4, 2.9, dpi)
        self.canvas = self.fig.canvas
        ax = self.fig.add_axes([0.13, 0.13, 0.66, 0.74])
        cax = self.fig.add_axes([0.83, 0.13, 0.04, 0.74])
        self.im = ax.imshow(
            np.zeros((k, k)),
            cmap="viridis",
            vmin=0.0,
            vmax=1.0,
            interpolation="nearest",
            animated=True,
        )
        self.fig.colorbar(ScalarMappable(Normalize(0.0, 1.0), "viridis"), cax=cax)
        cax.tick_params(labelsize=7)
        ax.set_xticks(range(k), [str(i) for i in range(k)], fontsize=7)
        ax.set_yticks(range(k), [str(i) for i in range(k)], fontsize=7)
        ax.set_xlabel("init", fontsize=8)
        ax.set_ylabel("init", fontsize=8)
        self.title = ax.set_title("", fontsize=8, loc="left", animated=True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        # the cells' values: stamped (drawn once per distinct label), no text artists
        self.stamps = LabelStamps(6, dpi)
        cells = [(j, i) for i in range(k) for j in range(k)] if k <= 10 else []
        self.centres = ax.transData.transform(cells) if cells else np.zeros((0, 2))

    def render(self, sim: np.ndarray, title: str) -> Image.Image:
        """The figure of one map's (K,K) similarity matrix, titled ``title`` (RGB)."""
        sim = np.asarray(sim, np.float64)
        self.im.set_data(sim)
        self.title.set_text(title)
        self.canvas.restore_region(self.background)
        for a in (self.im, self.title):
            self.fig.draw_artist(a)
        rgb = np.array(np.asarray(self.canvas.buffer_rgba())[..., :3])
        for (x, y), v in zip(self.centres, sim.ravel(), strict=False):  # none for K > 10
            r = round(float(v), 2)
            label = "1" if r >= 1 else f"{r:.2f}".replace("0.", ".", 1)
            self.stamps.draw(rgb, label, x, y, (255, 255, 255) if v < 0.55 else (0, 0, 0))
        return Image.fromarray(rgb, "RGB")


def _corner_text(ax):
    """An empty animated label in the top-right corner of ``ax`` (filled per frame)."""
    return ax.text(0.99, 0.97, "", transform=ax.transAxes, ha="right", va="top",
                   fontsize=7, color="#222", animated=True)  # fmt: skip
