"""Pictures for the galleries: heatmap overlays, labelled tile grids, activation-map
sheets, Dense-unit strips and the histogram / class-selectivity figure.

Functions return PIL images; :func:`save` and :func:`png` write them through
:mod:`oipviz.core.outputs` (atomic, deterministic bytes).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from oipviz.core.outputs import write_bytes
from oipviz.render.images import _font
from oipviz.render.images import colorize as colour


def save(path: str | Path, img: Image.Image) -> Path:
    """Write a PIL image as PNG (fast compression, no metadata: the same image gives the
    same bytes)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return write_bytes(path, buf.getvalue())


def png(path: str | Path, img01: np.ndarray, cmap: str = "viridis", scale: int = 4) -> Path:
    """A (28,28) picture in [0,1], enlarged ``scale``× (nearest neighbour)."""
    a = colour(np.asarray(img01).squeeze(), cmap).repeat(scale, axis=0).repeat(scale, axis=1)
    return save(path, Image.fromarray(a, "RGB"))


def upsample_maps(maps: np.ndarray, size: int = 28) -> np.ndarray:
    """(K,h,w) activation maps resized (bilinear) to (K,size,size)."""
    import cv2

    maps = np.asarray(maps, np.float32)
    if maps.shape[1:] == (size, size):
        return maps.copy()
    return np.stack([cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR) for m in maps])


def overlay(
    digits01: np.ndarray,
    maps: np.ndarray,
    vmax: float,
    cmap: str = "inferno",
    opacity: float = 0.65,
) -> np.ndarray:
    """Digits (K,28,28) in [0,1] with their upsampled activation ``maps`` (K,h,w) laid over
    them as a semi-transparent heatmap (opacity grows with activation / ``vmax``).
    Without maps (a Dense layer: (K,0,0)) the plain gray digits.  Returns (K,28,28,3) uint8.
    """
    d = np.clip(np.asarray(digits01, np.float32).reshape(-1, 28, 28), 0, 1)
    gray = colour(d, "gray").astype(np.float32)
    if np.asarray(maps).size == 0:
        return gray.astype(np.uint8)
    a = np.clip(upsample_maps(maps) / max(float(vmax), 1e-12), 0.0, 1.0)
    alpha = (opacity * np.sqrt(a))[..., None]  # sqrt: weak activation still visible
    return np.round(gray * (1 - alpha) + colour(a, cmap) * alpha).clip(0, 255).astype(np.uint8)


def tile_grid(
    tiles: np.ndarray,
    captions: list[str],
    cols: int,
    scale: int = 3,
    pad: int = 4,
    caption_h: int = 15,
    title: str | None = None,
    left: Image.Image | None = None,
) -> Image.Image:
    """Tiles (K,H,W,3) uint8 enlarged ``scale``× (nearest) in a grid with captions;
    ``left``: an optional panel left of the grid."""
    tiles = np.asarray(tiles, np.uint8)
    K, H, W = tiles.shape[:3]
    h, w = H * scale, W * scale
    rows = max(1, -(-K // cols))
    top = 20 if title else 0
    lw = left.width + 2 * pad if left is not None else 0
    width = lw + pad + cols * (w + pad)
    height = max(top + pad + rows * (h + caption_h + pad), (left.height + 2 * pad) if left else 0)
    canvas = np.full((height, width, 3), 255, np.uint8)
    big = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    for k in range(K):
        r, c = divmod(k, cols)
        y, x = top + pad + r * (h + caption_h + pad), lw + pad + c * (w + pad)
        canvas[y : y + h, x : x + w] = big[k]
    img = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(img)
    font = _font(11)
    if title:
        draw.text((lw + pad, 4), title, fill=(0, 0, 0), font=font)
    for k, cap in enumerate(captions):
        r, c = divmod(k, cols)
        draw.text(
            (lw + pad + c * (w + pad) + 1, top + pad + r * (h + caption_h + pad) + h + 1),
            cap,
            fill=(30, 30, 30),
            font=font,
        )
    if left is not None:
        img.paste(left, (pad, pad))
    return img


def input_panel(x01: np.ndarray, lines: list[str], size: int = 112) -> Image.Image:
    """The 28×28 input enlarged (gray) with a few lines of text below it."""
    im = Image.fromarray(colour(np.asarray(x01).reshape(28, 28), "gray"), "RGB")
    im = im.resize((size, size), Image.NEAREST)
    line_h = 14
    width = max(size, 8 + 7 * max((len(s) for s in lines), default=0))
    panel = Image.new("RGB", (width, size + 6 + line_h * len(lines)), (255, 255, 255))
    panel.paste(im, (0, 0))
    draw = ImageDraw.Draw(panel)
    for i, s in enumerate(lines):
        draw.text((0, size + 4 + i * line_h), s, fill=(0, 0, 0), font=_font(12))
    return panel


def activation_sheet(
    x01: np.ndarray, maps: np.ndarray, lines: list[str], title: str
) -> Image.Image:
    """One conv layer's maps (h,w,M) for one input: small viridis images labelled with
    their index on one colour scale (0 … the layer's largest value), the input left."""
    maps = np.asarray(maps, np.float32)
    h, w, M = maps.shape
    vmax = float(maps.max())
    a = np.clip(maps / vmax, 0, 1) if vmax > 0 else np.zeros_like(maps)
    return tile_grid(
        colour(np.moveaxis(a, -1, 0)),
        [str(m) for m in range(M)],
        cols=int(np.ceil(np.sqrt(M * 1.6))),
        scale=max(1, int(round(44 / max(h, w)))),
        title=f"{title}   (colour: 0 … {vmax:.3g})",
        left=input_panel(x01, lines),
    )


def unit_strip(
    x01: np.ndarray,
    values: np.ndarray,
    lines: list[str],
    title: str,
    per_row: int = 32,
    cell: int = 12,
) -> Image.Image:
    """A Dense layer's unit values for one input as a heat strip: one viridis cell per
    unit (0 … the largest value), rows of ``per_row`` units, the input left."""
    v = np.asarray(values, np.float32).ravel()
    vmax = float(v.max())
    a = np.clip(v / vmax, 0, 1) if vmax > 0 else np.zeros_like(v)
    rows = -(-len(v) // per_row)
    cells = np.full((rows * per_row, 3), 255, np.uint8)
    cells[: len(v)] = colour(a)
    strip = cells.reshape(rows, per_row, 3).repeat(cell, axis=0).repeat(cell, axis=1)
    left = input_panel(x01, lines)
    pad, top = 4, 34
    W = left.width + 3 * pad + strip.shape[1]
    img = Image.new("RGB", (W, max(left.height, top + strip.shape[0]) + 2 * pad), (255, 255, 255))
    img.paste(left, (pad, pad))
    x0 = left.width + 2 * pad
    img.paste(Image.fromarray(strip, "RGB"), (x0, top))
    draw = ImageDraw.Draw(img)
    draw.text((x0, 4), f"{title}   (colour: 0 … {vmax:.3g})", fill=(0, 0, 0), font=_font(11))
    draw.text(
        (x0, 19), f"units 0-{len(v) - 1}, {per_row} per row", fill=(90, 90, 90), font=_font(10)
    )
    return img


class StatsPlotter:
    """One map's histogram of activations over the data and its class selectivity.

    One figure is drawn once with fixed axes (x of the histogram in fractions of the
    map's largest activation, bars scaled to the tallest one; numbers printed on it);
    each map only redraws its artists over that background (blitting): a few ms per map.
    """

    BLUE, ORANGE = "#3b6ea5", "#e6a01e"

    def __init__(self, bins: int, n_classes: int = 10, dpi: int = 80, unit: str = "map"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import PolyCollection
        from matplotlib.figure import Figure

        self.dpi = dpi
        self.fig = Figure(figsize=(8.0, 2.8), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
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
        self.h_text = ax.text(
            0.99,
            0.97,
            "",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7,
            color="#222",
            animated=True,
        )
        self.sel = PolyCollection(
            [self._bar(i, 0.0) for i in range(n_classes)],
            animated=True,
            facecolors=self.BLUE,
            edgecolors="none",
        )
        bx.add_collection(self.sel)
        self.s_text = bx.text(
            0.99,
            0.97,
            "",
            transform=bx.transAxes,
            ha="right",
            va="top",
            fontsize=7,
            color="#222",
            animated=True,
        )
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
        self.sel.set_facecolors([self.ORANGE if k == best else self.BLUE for k in range(len(sel))])
        self.s_text.set_text("" if best >= 0 else "0 for every class")
        self.canvas.restore_region(self.background)
        for a in (self.hist, self.thresh, self.h_text, self.sel, self.s_text):
            self.fig.draw_artist(a)
        rgba = np.asarray(self.canvas.buffer_rgba())
        return Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB")


class SimilarityPlotter:
    """One map's aligned-similarity matrix of its K inits' OIPs (viridis, fixed 0 … 1,
    values printed), drawn once and then blitted per map like :class:`StatsPlotter`."""

    def __init__(self, k: int, dpi: int = 100):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize
        from matplotlib.figure import Figure

        self.dpi = dpi
        self.fig = Figure(figsize=(3.4, 2.9), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
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
        self.cells = (
            [
                ax.text(j, i, "", ha="center", va="center", fontsize=6, animated=True)
                for i in range(k)
                for j in range(k)
            ]
            if k <= 10
            else []
        )
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def render(self, sim: np.ndarray, title: str) -> Image.Image:
        sim = np.asarray(sim, np.float64)
        self.im.set_data(sim)
        self.title.set_text(title)
        for t, v in zip(self.cells, sim.ravel()):
            r = round(float(v), 2)
            t.set_text("1" if r >= 1 else f"{r:.2f}".replace("0.", ".", 1))
            t.set_color("white" if v < 0.55 else "black")
        self.canvas.restore_region(self.background)
        for a in [self.im, self.title, *self.cells]:
            self.fig.draw_artist(a)
        rgba = np.asarray(self.canvas.buffer_rgba())
        return Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB")
