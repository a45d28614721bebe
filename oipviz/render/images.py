"""Pictures: contrast enhancement, viridis/gray PNGs and contact sheets."""

from __future__ import annotations

from pathlib import Path

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


def to_image(img01: np.ndarray, cmap: str = "viridis", scale: int = 8) -> Image.Image:
    """A PIL image, enlarged ``scale``× with nearest-neighbour so pixels stay crisp."""
    rgb = colorize(img01, cmap)
    if cmap == "gray":
        im = Image.fromarray(rgb[..., 0], "L")
    else:
        im = Image.fromarray(rgb, "RGB")
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    return im


def save_png(path: str | Path, img01: np.ndarray, cmap: str = "viridis", scale: int = 8) -> Path:
    """Write one picture as PNG (deterministic bytes: no timestamps)."""
    to_image(img01, cmap, scale).save(path, format="PNG", optimize=False)
    return Path(path)


def save_oip(
    folder: str | Path, stem: str, z: np.ndarray, pixels: np.ndarray | None = None
) -> list[Path]:
    """The standard set for one OIP: viridis, gray, contrast-enhanced PNGs and the raw .npy.

    ``pixels`` (in [0,1]): an in-range image is drawn exactly (0 = black, 1 = white; no
    stretch); otherwise the engine-space array is min-max scaled, as the articles show it.
    The contrast-enhanced file is always a separate, labelled picture."""
    folder = Path(folder)
    z = np.asarray(z, np.float32).squeeze()
    shown = normalize(z) if pixels is None else np.clip(np.asarray(pixels).squeeze(), 0.0, 1.0)
    paths = [
        save_png(folder / f"{stem}_viridis.png", shown, "viridis"),
        save_png(folder / f"{stem}_gray.png", shown, "gray"),
        save_png(folder / f"{stem}_enhanced.png", enhance(z), "viridis"),
    ]
    np.save(folder / f"{stem}.npy", z)
    paths.append(folder / f"{stem}.npy")
    return paths


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def contact_sheet(
    images01: list[np.ndarray],
    labels: list[str],
    path: str | Path | None,
    cmap: str = "viridis",
    cols: int | None = None,
    cell: int = 84,
    status: list[str] | None = None,
    title: str | None = None,
):
    """A grid of small pictures, each with its label (and a status colour bar).

    Saved as PNG at ``path`` (returned); with ``path=None`` the PIL image is returned."""
    n = len(images01)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = max(1, int(np.ceil(n / cols)))
    label_h, pad = 16, 4
    top = 22 if title else 0
    W = cols * (cell + pad) + pad
    H = top + rows * (cell + label_h + pad) + pad
    sheet = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = _font(12)
    if title:
        draw.text((pad, 4), title, fill=(0, 0, 0), font=font)
    for k, (img, lab) in enumerate(zip(images01, labels)):
        r, c = divmod(k, cols)
        x0 = pad + c * (cell + pad)
        y0 = top + pad + r * (cell + label_h + pad)
        tile = to_image(img, cmap, 1).convert("RGB").resize((cell, cell), Image.NEAREST)
        sheet.paste(tile, (x0, y0))
        st = status[k] if status else None
        if st == "dead":
            draw.line([(x0, y0), (x0 + cell, y0 + cell)], fill=STATUS_COLOURS["dead"], width=2)
            draw.line([(x0 + cell, y0), (x0, y0 + cell)], fill=STATUS_COLOURS["dead"], width=2)
        if st:
            draw.rectangle(
                [x0, y0 + cell, x0 + cell, y0 + cell + 3], fill=STATUS_COLOURS.get(st, (0, 0, 0))
            )
        draw.text((x0 + 2, y0 + cell + 3), lab, fill=(0, 0, 0), font=font)
    if path is None:
        return sheet
    sheet.save(path, format="PNG")
    return Path(path)


def strip(
    panels: list[Image.Image], path: str | Path, labels: list[str] | None = None, height: int = 224
) -> Path:
    """Panels side by side at a common height, with optional captions."""
    scaled = [
        p.convert("RGB").resize((max(1, round(p.width * height / p.height)), height), Image.BICUBIC)
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
            draw.text((x, height + 9), labels[i], fill=(0, 0, 0), font=_font(12))
        x += p.width + 6
    out.save(path, format="PNG")
    return Path(path)
