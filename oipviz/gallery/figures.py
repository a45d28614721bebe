"""Pictures for the galleries: heatmap overlays, labelled tile grids, activation-map
sheets and the histogram / class-selectivity figure (matplotlib, Agg backend)."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..render import _font


@lru_cache(maxsize=8)
def lut(cmap: str = "viridis") -> np.ndarray:
    """(256,3) uint8 colour table of a matplotlib colormap."""
    from matplotlib import colormaps

    return (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def png(path: str | Path, img01: np.ndarray, cmap: str = "viridis", scale: int = 4) -> Path:
    """Like :func:`oipviz.render.save_png` (nearest-neighbour enlargement, 'gray' or a
    matplotlib colormap), with a cached colour table and fast (level 1) PNG compression."""
    a = np.round(np.clip(np.asarray(img01, np.float32).squeeze(), 0.0, 1.0) * 255).astype(np.uint8)
    if scale > 1:
        a = a.repeat(scale, axis=0).repeat(scale, axis=1)
    im = Image.fromarray(a, "L") if cmap == "gray" else Image.fromarray(lut(cmap)[a], "RGB")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")       # never a half-written picture
    im.save(tmp, format="PNG", compress_level=1)
    os.replace(tmp, path)
    return path


def upsample_maps(maps: np.ndarray, size: int = 28) -> np.ndarray:
    """(K,h,w) activation maps resized (bilinear) to (K,size,size)."""
    import cv2

    maps = np.asarray(maps, np.float32)
    if maps.shape[1:] == (size, size):
        return maps.copy()
    return np.stack([cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR) for m in maps])


def overlay(digits01: np.ndarray, maps: np.ndarray, vmax: float, cmap: str = "inferno",
            opacity: float = 0.65) -> np.ndarray:
    """Digits (K,28,28) in [0,1] with their upsampled activation ``maps`` (K,h,w) laid over
    them as a semi-transparent heatmap: opacity grows with activation / ``vmax``.

    Returns (K,28,28,3) uint8.
    """
    d = np.clip(np.asarray(digits01, np.float32).reshape(-1, 28, 28), 0, 1)
    a = np.clip(upsample_maps(maps) / max(float(vmax), 1e-12), 0.0, 1.0)
    colour = lut(cmap)[np.round(a * 255).astype(np.int64)].astype(np.float32)
    gray = np.repeat((d * 255.0)[..., None], 3, axis=-1)
    alpha = (opacity * np.sqrt(a))[..., None]  # sqrt: weak activation still visible
    return np.round(gray * (1 - alpha) + colour * alpha).clip(0, 255).astype(np.uint8)


def tile_grid(tiles: np.ndarray, captions: list[str], path: str | Path, cols: int,
              scale: int = 3, pad: int = 4, caption_h: int = 15, title: str | None = None,
              left: Image.Image | None = None) -> tuple[int, int]:
    """Tiles (K,H,W,3) uint8 enlarged ``scale``× (nearest) in a grid with captions.

    ``left``: an optional panel placed left of the grid.  Returns (width, height).
    """
    tiles = np.asarray(tiles, np.uint8)
    K, H, W = tiles.shape[:3]
    h, w = H * scale, W * scale
    rows = max(1, -(-K // cols))
    top = 20 if title else 0
    lw = left.width + 2 * pad if left is not None else 0
    width = lw + pad + cols * (w + pad)
    height = max(top + pad + rows * (h + caption_h + pad), (left.height + 2 * pad) if left else 0)
    canvas = np.full((height, width, 3), 255, np.uint8)
    big = tiles.repeat(scale, axis=1).repeat(scale, axis=2) if scale > 1 else tiles
    for k in range(K):
        r, c = divmod(k, cols)
        y = top + pad + r * (h + caption_h + pad)
        x = lw + pad + c * (w + pad)
        canvas[y:y + h, x:x + w] = big[k]
    img = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(img)
    font = _font(11)
    if title:
        draw.text((lw + pad, 4), title, fill=(0, 0, 0), font=font)
    for k, cap in enumerate(captions):
        r, c = divmod(k, cols)
        y = top + pad + r * (h + caption_h + pad) + h + 1
        x = lw + pad + c * (w + pad)
        draw.text((x + 1, y), cap, fill=(30, 30, 30), font=font)
    if left is not None:
        img.paste(left, (pad, pad))
    img.save(path, format="PNG", compress_level=1)
    return width, height


def input_panel(x01: np.ndarray, lines: list[str], size: int = 112) -> Image.Image:
    """The 28×28 input enlarged (gray) with a few lines of text below it."""
    g = np.round(np.clip(np.asarray(x01, np.float32).reshape(28, 28), 0, 1) * 255).astype(np.uint8)
    im = Image.fromarray(g, "L").resize((size, size), Image.NEAREST).convert("RGB")
    line_h = 14
    width = max(size, 8 + 7 * max((len(s) for s in lines), default=0))
    panel = Image.new("RGB", (width, size + 6 + line_h * len(lines)), (255, 255, 255))
    panel.paste(im, (0, 0))
    draw = ImageDraw.Draw(panel)
    font = _font(12)
    for i, s in enumerate(lines):
        draw.text((0, size + 4 + i * line_h), s, fill=(0, 0, 0), font=font)
    return panel


def activation_sheet(x01: np.ndarray, maps: np.ndarray, path: str | Path, lines: list[str],
                     title: str) -> tuple[int, int]:
    """One conv layer's activation maps (h,w,M) for one input as a grid of small viridis
    images labelled with their map index, the input (and ``lines`` of text) on the left.

    All maps share one colour scale, 0 … the layer's largest value for this input, so
    weak maps look dark.
    """
    maps = np.asarray(maps, np.float32)
    h, w, M = maps.shape
    vmax = float(maps.max())
    a = np.clip(maps / vmax, 0, 1) if vmax > 0 else np.zeros_like(maps)
    tiles = lut("viridis")[np.round(np.moveaxis(a, -1, 0) * 255).astype(np.int64)]
    scale = max(1, int(round(44 / max(h, w))))
    cols = int(np.ceil(np.sqrt(M * 1.6)))
    left = input_panel(x01, lines)
    return tile_grid(tiles, [str(m) for m in range(M)], path, cols=cols, scale=scale,
                     title=f"{title}   (colour: 0 … {vmax:.3g})", left=left)


class StatsPlotter:
    """Draws and saves, for one map at a time, the histogram of its activation over the
    data and its class selectivity (mean activation per class), with matplotlib (Agg).

    Page writing must stay cheap for 128 maps, so one figure is drawn once with fixed
    axes (x of the histogram in fractions of the map's largest activation, bars scaled to
    the tallest one; numbers are printed on the figure) and each map only redraws its
    bars and texts over that background (blitting): a few ms per map instead of ~100.
    """

    BINS = 40
    BLUE, ORANGE = "#3b6ea5", "#e6a01e"

    def __init__(self, n_classes: int = 10, dpi: int = 80, classes: list[str] | None = None):
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.dpi = dpi
        self.fig = Figure(figsize=(8.0, 2.8), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.fig.subplots_adjust(left=0.03, right=0.985, bottom=0.17, top=0.90, wspace=0.12)
        ax, bx = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
        self.ax_h, self.ax_s = ax, bx
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.12)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "", "½ max", "", "max"], fontsize=7)
        ax.set_yticks([])
        ax.set_xlabel("activation (spatial mean), digits with activation > 0", fontsize=8)
        ax.set_title("histogram over the data", fontsize=9, loc="left")
        bx.set_xlim(-0.6, n_classes - 0.4)
        bx.set_ylim(0, 1.22)
        bx.set_xticks(np.arange(n_classes), classes or [str(c) for c in range(n_classes)], fontsize=7)
        bx.set_yticks([])
        bx.set_xlabel("true class", fontsize=8)
        bx.set_title("class selectivity: mean activation per class", fontsize=9, loc="left")
        # each plot is ONE artist (a step patch, a polygon collection): one draw call per map
        self.edges = np.linspace(0.0, 1.0, self.BINS + 1)
        self.hist = ax.stairs(np.zeros(self.BINS), self.edges, fill=True, color=self.BLUE,
                              animated=True)
        self.thresh = ax.axvline(0, color=self.ORANGE, lw=1.3, animated=True)
        self.h_text = ax.text(0.99, 0.97, "", transform=ax.transAxes, ha="right", va="top",
                              fontsize=7, color="#222", animated=True)
        from matplotlib.collections import PolyCollection

        self.n_classes = n_classes
        self.sel = PolyCollection([self._bar(i, 0.0) for i in range(n_classes)], animated=True,
                                  facecolors=self.BLUE, edgecolors="none")
        bx.add_collection(self.sel)
        self.s_text = bx.text(0.99, 0.97, "", transform=bx.transAxes, ha="right", va="top",
                              fontsize=7, color="#222", animated=True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    @staticmethod
    def _bar(i: int, h: float) -> np.ndarray:
        return np.array([[i - 0.4, 0.0], [i + 0.4, 0.0], [i + 0.4, h], [i - 0.4, h]])

    @property
    def size(self) -> tuple[int, int]:
        w, h = self.fig.get_size_inches()
        return int(round(w * self.dpi)), int(round(h * self.dpi))

    def save(self, path: str | Path, acts: np.ndarray, selectivity: np.ndarray, threshold: float,
             oip_value: float | None = None) -> None:
        """Draw one map's figure and write it as PNG (``threshold``: the top-9 cut)."""
        acts = np.asarray(acts, np.float64)
        pos = acts[acts > 0]
        hi = float(pos.max()) if len(pos) else 1.0
        counts, _ = np.histogram(pos, bins=self.BINS, range=(0.0, hi))
        top = max(int(counts.max()), 1)
        self.hist.set_data(counts / top, self.edges)
        self.thresh.set_xdata([threshold / hi] * 2)
        self.thresh.set_visible(threshold > 0)
        zero = float((acts <= 0).mean())
        text = f"max {hi if len(pos) else 0:.3g}, {zero:.0%} at 0"
        if oip_value is not None and oip_value > 0:
            text += f"\nOIP: {oip_value:.3g}"
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
        Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB").save(
            path, format="PNG", compress_level=1)
