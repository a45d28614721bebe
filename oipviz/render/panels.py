"""Panels of the galleries (PIL images): activation maps over digits, labelled tile grids,
one input's activation sheet (conv maps) or unit strip (Dense units)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from oipviz.render.images import colorize as colour
from oipviz.render.images import font


def upsample_maps(maps: np.ndarray, size: int | tuple[int, int] = 28) -> np.ndarray:
    """(K,h,w) activation maps resized (bilinear) to (K,H,W); ``size`` is H = W or (H, W)."""
    import cv2

    h, w = (size, size) if isinstance(size, int) else size
    maps = np.asarray(maps, np.float32)
    if maps.shape[1:] == (h, w):
        return maps.copy()
    return np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) for m in maps])


def as_rgb(images01: np.ndarray) -> np.ndarray:
    """Images (K,H,W), (K,H,W,1) or colour (K,H,W,3) in [0,1] as (K,H,W,3) uint8: grey ones
    in gray, colour ones in their colours."""
    x = np.clip(np.asarray(images01, np.float32), 0.0, 1.0)
    if x.ndim == 4 and x.shape[-1] == 3:
        return np.round(x * 255).astype(np.uint8)
    return colour(x.reshape(x.shape[:3]), "gray")


def activation_overlay(
    digits01: np.ndarray,
    maps: np.ndarray,
    vmax: float,
    cmap: str = "inferno",
    opacity: float = 0.65,
) -> np.ndarray:
    """Images (K,H,W) or (K,H,W,C) in [0,1] with their upsampled activation ``maps``
    (K,h,w) laid over them as a semi-transparent heatmap (opacity grows with activation /
    ``vmax``).  Without maps (a Dense layer: (K,0,0)) the plain images.  Returns (K,H,W,3)
    uint8.
    """
    base = as_rgb(digits01).astype(np.float32)
    if np.asarray(maps).size == 0:
        return base.astype(np.uint8)
    a = np.clip(upsample_maps(maps, base.shape[1:3]) / max(float(vmax), 1e-12), 0.0, 1.0)
    alpha = (opacity * np.sqrt(a))[..., None]  # sqrt: weak activation still visible
    return np.round(base * (1 - alpha) + colour(a, cmap) * alpha).clip(0, 255).astype(np.uint8)


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
    small = font(11)
    if title:
        draw.text((lw + pad, 4), title, fill=(0, 0, 0), font=small)
    for k, cap in enumerate(captions):
        r, c = divmod(k, cols)
        draw.text(
            (lw + pad + c * (w + pad) + 1, top + pad + r * (h + caption_h + pad) + h + 1),
            cap,
            fill=(30, 30, 30),
            font=small,
        )
    if left is not None:
        img.paste(left, (pad, pad))
    return img


def input_panel(x01: np.ndarray, lines: list[str], size: int = 112) -> Image.Image:
    """The input (grey or colour) enlarged to ``size`` px wide with a few lines of text
    below it."""
    x = np.asarray(x01, np.float32)
    x = x if x.ndim == 3 and x.shape[-1] == 3 else x.reshape(x.shape[:2])
    im = Image.fromarray(as_rgb(x[None])[0], "RGB")
    im = im.resize((size, max(1, round(size * im.height / im.width))), Image.Resampling.NEAREST)
    line_h = 14
    width = max(size, 8 + 7 * max((len(s) for s in lines), default=0))
    panel = Image.new("RGB", (width, im.height + 6 + line_h * len(lines)), (255, 255, 255))
    panel.paste(im, (0, 0))
    draw = ImageDraw.Draw(panel)
    for i, s in enumerate(lines):
        draw.text((0, im.height + 4 + i * line_h), s, fill=(0, 0, 0), font=font(12))
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
    draw.text((x0, 4), f"{title}   (colour: 0 … {vmax:.3g})", fill=(0, 0, 0), font=font(11))
    draw.text(
        (x0, 19), f"units 0-{len(v) - 1}, {per_row} per row", fill=(90, 90, 90), font=font(10)
    )
    return img
