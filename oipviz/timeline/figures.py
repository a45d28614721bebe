"""The timeline's pictures (PIL only, deterministic bytes): a map's frame at a point, its
animated GIF over the points, the maps × points sheet, the strip of one map, the
kernels and the attribution of a point.  No TensorFlow here."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from oipviz.core.outputs import write_bytes
from oipviz.core.render import STATUS_COLOURS, enhance, to_image
from oipviz.core.render import _font as _load_font
from oipviz.core.status import DEAD, LIVE
from oipviz.timeline.point import WAKING

#: state colours (waking: between dead and live)
STATE_COLOURS = {
    DEAD: STATUS_COLOURS[DEAD],
    WAKING: (235, 170, 40),
    LIVE: STATUS_COLOURS[LIVE],
    "pending": STATUS_COLOURS["pending"],
}
FRAME_SCALE = 4  # a 28×28 OIP becomes a 112×112 frame
GIF_MS = 600  # per point


@lru_cache(maxsize=16)
def _font(size: int):
    """The label font (loaded once per size: every frame of every GIF has a label)."""
    return _load_font(size)


GRAYS = 248  # GIF palette: indices 0-247 gray ramp, then the state colours


@lru_cache(maxsize=1)
def _gif_palette() -> list[int]:
    colours = [round(i * 255 / (GRAYS - 1)) for i in range(GRAYS) for _ in range(3)]
    for rgb in STATE_COLOURS.values():
        colours.extend(rgb)
    return colours + [0] * (768 - len(colours))


def _gif_frame(img01: np.ndarray, label: str, state: str, cell: int = 112) -> Image.Image:
    """A GIF frame built in palette mode directly (gray pixels are palette indices, so
    nothing is quantized): the OIP, a bar in the state's colour and the label."""
    idx = np.round(np.clip(np.asarray(img01, np.float32).squeeze(), 0, 1) * (GRAYS - 1))
    scale = max(1, cell // idx.shape[0])
    big = idx.astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
    arr = np.full((cell + 20, cell), GRAYS - 1, np.uint8)
    arr[: big.shape[0], : big.shape[1]] = big
    out = Image.fromarray(arr, "P")
    out.putpalette(_gif_palette())
    colour = GRAYS + list(STATE_COLOURS).index(state) if state in STATE_COLOURS else 0
    draw = ImageDraw.Draw(out)
    draw.rectangle([0, cell, cell, cell + 3], fill=colour)
    if state == DEAD:
        draw.line([(0, 0), (cell, cell)], fill=colour, width=2)
        draw.line([(cell, 0), (0, cell)], fill=colour, width=2)
    draw.text((3, cell + 5), f"{label}: {state}", fill=0, font=_font(11))
    return out


@lru_cache(maxsize=8)
def _lut(cmap: str) -> np.ndarray:
    """(256, 3) uint8 colours of a matplotlib colormap (built once: drawing a frame at
    every point must stay cheap)."""
    from matplotlib import colormaps

    return (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def colorize(img01: np.ndarray, cmap: str) -> np.ndarray:
    """(H, W) in [0, 1] → (H, W, 3) uint8 (as :func:`oipviz.core.render.colorize`)."""
    idx = np.round(np.clip(np.asarray(img01, np.float32), 0.0, 1.0) * 255).astype(np.int64)
    return _lut(cmap)[idx]


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def save_png(path: str | Path, image: Image.Image) -> Path:
    return write_bytes(path, png_bytes(image))


def frame(img01: np.ndarray) -> Image.Image:
    """One OIP as shown on the page: gray pixels (0 = black), enlarged."""
    return to_image(np.asarray(img01, np.float32).squeeze(), "gray", FRAME_SCALE)


def _labelled(img01: np.ndarray, label: str, state: str, cell: int = 112) -> Image.Image:
    """A frame with its label below and a bar in the state's colour."""
    tile = frame(img01).resize((cell, cell), Image.Resampling.NEAREST)
    out = Image.new("RGB", (cell, cell + 20), (255, 255, 255))
    out.paste(tile, (0, 0))
    draw = ImageDraw.Draw(out)
    draw.rectangle([0, cell, cell, cell + 3], fill=STATE_COLOURS.get(state, (0, 0, 0)))
    if state == DEAD:
        draw.line([(0, 0), (cell, cell)], fill=STATE_COLOURS[DEAD], width=2)
        draw.line([(cell, 0), (0, cell)], fill=STATE_COLOURS[DEAD], width=2)
    draw.text((3, cell + 5), f"{label}: {state}", fill=(0, 0, 0), font=_font(11))
    return out


def map_gif(
    path: str | Path, images01: list[np.ndarray], labels: list[str], states: list[str]
) -> Path:
    """An animated GIF of one map's OIP over the points (loops; the last frame stays
    twice as long)."""
    pal = [_gif_frame(x, lab, st) for x, lab, st in zip(images01, labels, states, strict=True)]
    buf = io.BytesIO()
    durations = [GIF_MS] * (len(pal) - 1) + [2 * GIF_MS]
    pal[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=pal[1:],
        duration=durations,
        loop=0,
        optimize=False,
        disposal=1,
    )
    return write_bytes(path, buf.getvalue())


def sheet(
    images01: list[list[np.ndarray]],
    maps: list[int],
    labels: list[str],
    states: list[list[str]],
    title: str,
    cell: int = 56,
) -> Image.Image:
    """Small multiples: a row per map, a column per point (``images01[t][k]``), each tile
    with a bar in its state's colour."""
    T, M = len(images01), len(maps)
    left, top, pad, bar = 40, 40, 3, 3
    W = left + T * (cell + pad) + pad
    H = top + M * (cell + bar + pad) + pad
    out = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    draw.text((4, 4), title, fill=(0, 0, 0), font=_font(12))
    for t, lab in enumerate(labels):
        draw.text((left + t * (cell + pad), top - 16), _short(lab), fill=(0, 0, 0), font=_font(10))
    for k, m in enumerate(maps):
        y = top + k * (cell + bar + pad)
        draw.text((4, y + cell // 2 - 6), str(m), fill=(0, 0, 0), font=_font(11))
        for t in range(T):
            x = left + t * (cell + pad)
            out.paste(frame(images01[t][k]).resize((cell, cell), Image.Resampling.NEAREST), (x, y))
            colour = STATE_COLOURS.get(states[t][k], (0, 0, 0))
            draw.rectangle([x, y + cell, x + cell - 1, y + cell + bar - 1], fill=colour)
    return out


def _short(label: str) -> str:
    """``epoch 3`` → ``e3``, ``batch 150`` → ``b150`` (column heads)."""
    word, _, rest = label.partition(" ")
    return (word[:1] + rest) if rest else label


def strip(
    images01: list[np.ndarray], labels: list[str], states: list[str], title: str
) -> Image.Image:
    """One map over the points, side by side (the README's picture)."""
    tiles = [_labelled(x, lab, st) for x, lab, st in zip(images01, labels, states, strict=True)]
    w, h = tiles[0].size
    out = Image.new("RGB", (len(tiles) * (w + 4) + 4, h + 28), (255, 255, 255))
    ImageDraw.Draw(out).text((4, 4), title, fill=(0, 0, 0), font=_font(13))
    for i, t in enumerate(tiles):
        out.paste(t, (4 + i * (w + 4), 24))
    return out


def kernels(kernels_: np.ndarray, vmax: float, title: str) -> Image.Image:
    """(out, in, kh, kw) kernels of the first input channel, blue < 0 < red on one range
    ±vmax, 16 to a row."""
    o, _, kh, kw = kernels_.shape
    scale, cols, gap = 8, 16, 3
    rows = int(np.ceil(o / cols))
    cw, ch = kw * scale + gap, kh * scale + gap + 10
    canvas = np.full((20 + rows * ch, cols * cw + gap, 3), 255, np.uint8)
    rgb = colorize(0.5 + 0.5 * kernels_[:, 0] / (vmax or 1.0), "RdBu_r")  # (o, kh, kw, 3)
    big = rgb.repeat(scale, 1).repeat(scale, 2)
    for k in range(o):
        r, c = divmod(k, cols)
        y, x = 20 + r * ch, gap + c * cw
        canvas[y : y + kh * scale, x : x + kw * scale] = big[k]
    out = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(out)
    draw.text((3, 3), title, fill=(0, 0, 0), font=_font(11))
    for k in range(0, o, 8):
        r, c = divmod(k, cols)
        draw.text(
            (gap + c * cw, 20 + r * ch + kh * scale), str(k), fill=(90, 90, 90), font=_font(9)
        )
    return out


def attribution(
    probes01: np.ndarray, maps: np.ndarray, predicted, probability, method: str, title: str
) -> Image.Image:
    """The attributed probes: each input above its heat map (one range per map), with
    the predicted class and its probability."""
    n = len(maps)
    cell = 84
    out = Image.new("RGB", (max(1, n) * (cell + 6) + 6, 2 * cell + 44), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    draw.text((6, 3), f"{title}: {method}", fill=(0, 0, 0), font=_font(11))
    for i in range(n):
        x = 6 + i * (cell + 6)
        img = Image.fromarray(colorize(probes01[i].squeeze(), "gray"), "RGB")
        heat = np.abs(maps[i])
        heat = heat / (float(heat.max()) or 1.0)
        hm = Image.fromarray(colorize(heat, "inferno"), "RGB")
        img, hm = (im.resize((cell, cell), Image.Resampling.NEAREST) for im in (img, hm))
        out.paste(img, (x, 20))
        out.paste(hm, (x, 22 + cell))
        draw.text(
            (x, 24 + 2 * cell),
            f"class {int(predicted[i])} ({float(probability[i]):.0%})",
            fill=(0, 0, 0),
            font=_font(10),
        )
    return out


__all__ = ["frame", "map_gif", "sheet", "strip", "kernels", "attribution", "enhance", "save_png"]
