"""Pictures of arrays: contrast enhancement, viridis/gray images, the standard OIP set,
contact sheets and strips.  PIL images only: the writers save them
(:func:`oipviz.core.outputs.save_image`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

STATUS_COLOURS = {
    "live": (60, 170, 90),
    "rescued": (230, 160, 30),
    "dead": (200, 60, 60),
    "pending": (150, 150, 150),
}


def normalize(img: np.ndarray) -> np.ndarray:
    """Min-max to [0,1] (what the articles' plots show); a flat image becomes 0.5."""
    img = np.asarray(img, np.float32).squeeze()
    lo, hi = float(img.min()), float(img.max())
    return np.full_like(img, 0.5) if hi - lo < 1e-12 else (img - lo) / (hi - lo)


def enhance(img: np.ndarray, gain: float = 0.15) -> np.ndarray:
    """Contrast-enhanced version: standardize, ×gain, +0.5, clip to [0,1]."""
    img = np.asarray(img, np.float32).squeeze()
    std = float(img.std())
    z = (img - img.mean()) / std if std > 1e-12 else np.zeros_like(img)
    return np.clip(z * gain + 0.5, 0.0, 1.0)


def colorize(img01: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """(H,W) in [0,1] to (H,W,3) uint8 with a matplotlib colormap ('gray' = plain gray)."""
    img01 = np.clip(np.asarray(img01, np.float32), 0.0, 1.0)
    if cmap == "gray":
        g = np.round(img01 * 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=-1)
    from matplotlib import colormaps

    lut = (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    return lut[np.round(img01 * 255).astype(np.int64)]


def to_image(
    img01: np.ndarray, cmap: str = "viridis", scale: int = 8, rgb: bool = False
) -> Image.Image:
    """A picture of an array in [0,1].

    Parameters
    ----------
    img01 : ndarray
        (H,W) values in [0,1] (clipped), or a colour image (H,W,3) in [0,1], drawn in
        its own colours.
    cmap : str
        A matplotlib colormap name, or ``"gray"`` (for (H,W) values).
    scale : int
        Enlargement with nearest neighbour, so pixels stay crisp.
    rgb : bool
        Always an RGB image (a gray picture is otherwise mode ``L``).

    Returns
    -------
    PIL.Image.Image
    """
    img = np.asarray(img01).squeeze()
    colour = img.ndim == 3 and img.shape[-1] == 3
    if colour:  # its own colours
        rgb_arr = np.round(np.clip(img.astype(np.float32), 0.0, 1.0) * 255).astype(np.uint8)
    else:
        rgb_arr = colorize(img, cmap)
    if cmap == "gray" and not rgb and not colour:
        im = Image.fromarray(rgb_arr[..., 0], "L")
    else:
        im = Image.fromarray(rgb_arr, "RGB")
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    return im


def oip_kinds(colour: bool) -> tuple[str, str, str]:
    """The names of an OIP's standard pictures: ``viridis`` (grey models; ``colour`` for
    colour models, drawn in its own colours), ``gray`` and ``enhanced``."""
    return ("colour" if colour else "viridis", "gray", "enhanced")


def oip_images(z: np.ndarray, pixels: np.ndarray | None = None) -> dict[str, Image.Image]:
    """The standard pictures of one OIP (:func:`oip_kinds`).

    Parameters
    ----------
    z : ndarray
        The OIP in the engine's space, (H,W), (H,W,1) or (H,W,3).
    pixels : ndarray or None
        Its pixels in [0,1]: an in-range image is drawn exactly (0 = black, 1 = white;
        no stretch).  None: ``z`` is min-max scaled, as the articles show it.

    Returns
    -------
    dict
        {kind: PIL image}, 8× enlarged; the contrast-enhanced picture is always of ``z``.
        A colour OIP is drawn in its colours, its ``gray`` picture is its luminance
        (ITU-R 601) and its ``enhanced`` one is standardized per channel.
    """
    z = np.asarray(z, np.float32).squeeze()
    shown = normalize(z) if pixels is None else np.clip(np.asarray(pixels).squeeze(), 0.0, 1.0)
    colour = z.ndim == 3
    main, gray, enhanced = oip_kinds(colour)
    if colour:
        luminance = shown @ np.array([0.299, 0.587, 0.114], np.float32)
        stretched = np.stack([enhance(z[..., c]) for c in range(z.shape[-1])], axis=-1)
        return {
            main: to_image(shown),
            gray: to_image(luminance, "gray"),
            enhanced: to_image(stretched),
        }
    return {
        main: to_image(shown, "viridis"),
        gray: to_image(shown, "gray"),
        enhanced: to_image(enhance(z), "viridis"),
    }


def font(size: int):
    """Pillow's default font at ``size`` px (a bitmap font without FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def contact_sheet(
    images01: list[np.ndarray],
    labels: list[str],
    *,
    cmap: str = "viridis",
    cols: int | None = None,
    cell: int = 84,
    status: Sequence[str | None] | None = None,
    title: str | None = None,
) -> Image.Image:
    """A grid of small pictures, each with its label (and a status colour bar).

    Parameters
    ----------
    images01, labels : list
        (H,W) pictures in [0,1], and one caption per picture.
    path : None
        Must be None (kept for calls written ``contact_sheet(imgs, labels, None, ...)``);
        render writes no files: save the image with :func:`oipviz.core.outputs.save_image`.
    cmap : str
        Colormap of the pictures (``"gray"``: plain gray).
    cols, cell : int
        Pictures per row (None: a square grid); size of each picture in pixels.
    status : list of str or None
        Per picture ``live``/``rescued``/``dead``/``pending``: a coloured bar (dead: a
        red cross).
    title : str or None
        A line above the grid.

    Returns
    -------
    PIL.Image.Image
        RGB.
    """
    n = len(images01)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = max(1, int(np.ceil(n / cols)))
    label_h, pad = 16, 4
    top = 22 if title else 0
    W = cols * (cell + pad) + pad
    H = top + rows * (cell + label_h + pad) + pad
    sheet = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    small = font(12)
    if title:
        draw.text((pad, 4), title, fill=(0, 0, 0), font=small)
    for k, (img, lab) in enumerate(zip(images01, labels, strict=True)):
        r, c = divmod(k, cols)
        x0 = pad + c * (cell + pad)
        y0 = top + pad + r * (cell + label_h + pad)
        tile = to_image(img, cmap, 1).convert("RGB").resize((cell, cell), Image.Resampling.NEAREST)
        sheet.paste(tile, (x0, y0))
        _mark(draw, x0, y0, cell, status[k] if status else None)
        draw.text((x0 + 2, y0 + cell + 3), lab, fill=(0, 0, 0), font=small)
    return sheet


def _mark(draw, x0: int, y0: int, cell: int, st: str | None) -> None:
    """A tile's status: a coloured bar below it; a dead map's tile is crossed out."""
    if st == "dead":
        draw.line([(x0, y0), (x0 + cell, y0 + cell)], fill=STATUS_COLOURS["dead"], width=2)
        draw.line([(x0 + cell, y0), (x0, y0 + cell)], fill=STATUS_COLOURS["dead"], width=2)
    if st:
        draw.rectangle(
            [x0, y0 + cell, x0 + cell, y0 + cell + 3], fill=STATUS_COLOURS.get(st, (0, 0, 0))
        )


def strip(
    panels: list[Image.Image], labels: list[str] | None = None, height: int = 224
) -> Image.Image:
    """Panels side by side at a common height, with optional captions.

    Parameters
    ----------
    panels : list of PIL.Image.Image
        Pictures of any size and mode (resized bicubically to ``height``).
    labels : list of str or None
        One caption under each panel.
    height : int
        The panels' common height in pixels.

    Returns
    -------
    PIL.Image.Image
        RGB.
    """
    scaled = [
        p.convert("RGB").resize(
            (max(1, round(p.width * height / p.height)), height), Image.Resampling.BICUBIC
        )
        for p in panels
    ]
    cap = 18 if labels else 0
    W = sum(p.width for p in scaled) + 6 * (len(scaled) + 1)
    out = Image.new("RGB", (W, height + cap + 12), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    x = 6
    for i, p in enumerate(scaled):
        out.paste(p, (x, 6))
        if labels:
            draw.text((x, height + 9), labels[i], fill=(0, 0, 0), font=font(12))
        x += p.width + 6
    return out
