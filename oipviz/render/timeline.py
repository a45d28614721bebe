"""Pictures of a training timeline (PIL only, no files): a map's frame at a point, the
frames of its animated GIF, the maps × points sheet, the strip of one map, the first conv
layer's kernels and the attribution of a point.  Grey and colour images alike: an OIP or
probe (H, W) is drawn in grey, (H, W, 3) in its own colours."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from oipviz.core.status import DEAD, LIVE, PENDING, WAKING
from oipviz.render.images import STATUS_COLOURS, colorize, font, to_image

#: state colours (waking: between dead and live)
STATE_COLOURS = {
    DEAD: STATUS_COLOURS[DEAD],
    WAKING: (235, 170, 40),
    LIVE: STATUS_COLOURS[LIVE],
    PENDING: STATUS_COLOURS[PENDING],
}
FRAME_SIDE = 112  # a frame's longer side in pixels (28×28 → 4×, 32×32 → 4× too)
GIF_MS = 600  # per point
GRAYS = 248  # grey GIF palette: indices 0-247 a grey ramp, then the state colours


@lru_cache(maxsize=16)
def _font(size: int):
    """The label font, loaded once per size (every frame of every GIF has a label)."""
    return font(size)


def frame_scale(img01: np.ndarray) -> int:
    """The enlargement that makes an image about :data:`FRAME_SIDE` pixels wide."""
    h, w = np.asarray(img01).shape[:2]
    return max(1, round(FRAME_SIDE / max(h, w)))


def frame(img01: np.ndarray) -> Image.Image:
    """One OIP as shown on the page: exact pixels (0 = black), grey or in colour, enlarged."""
    img = np.asarray(img01, np.float32).squeeze()
    return to_image(img, "gray", frame_scale(img))


def is_colour(img01: np.ndarray) -> bool:
    img = np.asarray(img01).squeeze()
    return img.ndim == 3 and img.shape[-1] == 3


@lru_cache(maxsize=1)
def _gif_palette() -> list[int]:
    colours = [round(i * 255 / (GRAYS - 1)) for i in range(GRAYS) for _ in range(3)]
    for rgb in STATE_COLOURS.values():
        colours.extend(rgb)
    return colours + [0] * (768 - len(colours))


def _mark_state(draw: ImageDraw.ImageDraw, cell: int, state: str, colour, label: str, ink):
    """The state bar below a frame, a cross on a dead map, the label under the bar."""
    draw.rectangle([0, cell, cell, cell + 3], fill=colour)
    if state == DEAD:
        draw.line([(0, 0), (cell, cell)], fill=colour, width=2)
        draw.line([(cell, 0), (0, cell)], fill=colour, width=2)
    draw.text((3, cell + 5), f"{label}: {state}", fill=ink, font=_font(11))


def gif_frame(img01: np.ndarray, label: str, state: str, cell: int = FRAME_SIDE) -> Image.Image:
    """A GIF frame in palette mode: the OIP, a bar in the state's colour and the label.
    Grey OIPs are built in the fixed grey palette (their pixels are its indices: nothing
    is quantized); colour OIPs get their own palette (median cut, no dithering)."""
    if is_colour(img01):
        return labelled(img01, label, state, cell).quantize(
            256, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    idx = np.round(np.clip(np.asarray(img01, np.float32).squeeze(), 0, 1) * (GRAYS - 1))
    scale = max(1, cell // max(idx.shape))
    big = idx.astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
    arr = np.full((cell + 20, cell), GRAYS - 1, np.uint8)
    arr[: big.shape[0], : big.shape[1]] = big
    out = Image.fromarray(arr, "P")
    out.putpalette(_gif_palette())
    colour = GRAYS + list(STATE_COLOURS).index(state) if state in STATE_COLOURS else 0
    _mark_state(ImageDraw.Draw(out), cell, state, colour, label, 0)
    return out


def gif_frames(
    images01: list[np.ndarray], labels: list[str], states: list[str]
) -> tuple[list[Image.Image], list[int]]:
    """The frames of one map's animated GIF over the points and their durations (ms; the
    last frame stays twice as long)."""
    frames = [gif_frame(x, lab, st) for x, lab, st in zip(images01, labels, states, strict=True)]
    return frames, [GIF_MS] * (len(frames) - 1) + [2 * GIF_MS]


def labelled(img01: np.ndarray, label: str, state: str, cell: int = FRAME_SIDE) -> Image.Image:
    """A frame (RGB) with its label below and a bar in the state's colour."""
    tile = frame(img01).convert("RGB").resize((cell, cell), Image.Resampling.NEAREST)
    out = Image.new("RGB", (cell, cell + 20), (255, 255, 255))
    out.paste(tile, (0, 0))
    colour = STATE_COLOURS.get(state, (0, 0, 0))
    _mark_state(ImageDraw.Draw(out), cell, state, colour, label, (0, 0, 0))
    return out


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
    W = max(left + T * (cell + pad) + pad, 8 + round(_font(12).getlength(title)))  # whole title
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
    tiles = [labelled(x, lab, st) for x, lab, st in zip(images01, labels, states, strict=True)]
    w, h = tiles[0].size
    width = max(len(tiles) * (w + 4) + 4, 8 + round(_font(13).getlength(title)))
    out = Image.new("RGB", (width, h + 28), (255, 255, 255))
    ImageDraw.Draw(out).text((4, 4), title, fill=(0, 0, 0), font=_font(13))
    for i, t in enumerate(tiles):
        out.paste(t, (4 + i * (w + 4), 24))
    return out


def kernel_colours(kernels_: np.ndarray, vmax: float) -> np.ndarray:
    """(out, kh, kw, 3) uint8 pictures of (out, in, kh, kw) kernels on one range ±vmax:
    kernels on 3 input channels as colours (each channel 0.5 + 0.5·w/vmax: grey is 0,
    a red patch weighs red up), else the first input channel, blue < 0 < red."""
    v = np.asarray(kernels_, np.float32) / (vmax or 1.0)
    if v.shape[1] == 3:
        return np.round(np.clip(0.5 + 0.5 * np.moveaxis(v, 1, -1), 0, 1) * 255).astype(np.uint8)
    return colorize(0.5 + 0.5 * v[:, 0], "RdBu_r")


def kernels(kernels_: np.ndarray, vmax: float, title: str) -> Image.Image:
    """The kernels of a conv layer on the image (:func:`kernel_colours`), 16 to a row."""
    o, _, kh, kw = kernels_.shape
    scale, cols, gap = 8, 16, 3
    rows = int(np.ceil(o / cols))
    cw, ch = kw * scale + gap, kh * scale + gap + 10
    canvas = np.full((20 + rows * ch, cols * cw + gap, 3), 255, np.uint8)
    big = kernel_colours(kernels_, vmax).repeat(scale, 1).repeat(scale, 2)
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
    probes01: np.ndarray,
    maps: np.ndarray,
    predicted,
    probability,
    method: str,
    title: str,
    class_names: list[str] | None = None,
) -> Image.Image:
    """The attributed probes: each input (grey or colour) above its heat map (one range
    per map), with the predicted class (its name if known) and its probability."""
    n = len(maps)
    cell = 96
    out = Image.new("RGB", (max(1, n) * (cell + 6) + 6, 2 * cell + 56), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    draw.text((6, 3), f"{title}: {method}", fill=(0, 0, 0), font=_font(11))
    for i in range(n):
        x = 6 + i * (cell + 6)
        img = to_image(probes01[i], "gray", 1, rgb=True)
        heat = np.abs(maps[i])
        heat = heat / (float(heat.max()) or 1.0)
        hm = Image.fromarray(colorize(heat, "inferno"), "RGB")
        img, hm = (im.resize((cell, cell), Image.Resampling.NEAREST) for im in (img, hm))
        out.paste(img, (x, 20))
        out.paste(hm, (x, 22 + cell))
        k = int(predicted[i])
        names = list(class_names or [])
        name = str(names[k]) if k < len(names) and str(names[k]) != str(k) else f"class {k}"
        text = f"{name}\n{float(probability[i]):.0%}"
        draw.multiline_text((x, 24 + 2 * cell), text, fill=(0, 0, 0), font=_font(10), spacing=2)
    return out


__all__ = [
    "STATE_COLOURS", "frame", "gif_frames", "labelled", "sheet", "strip", "kernels",
    "attribution",
]  # fmt: skip
