"""Write a :class:`~oipviz.compute.dream.DreamResult`: the dream, one strip of the articles'
panels per round, and the manifest."""

from __future__ import annotations

import numpy as np
from PIL import Image

from oipviz.compute.dream import DreamResult, DreamRound
from oipviz.compute.scales import resize
from oipviz.core.folders import OutputFolder
from oipviz.core.images import ImagePlanes, compose, from_float
from oipviz.core.outputs import save_image
from oipviz.render.images import colorize, normalize, strip, to_image


def _plane_at(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (a.shape[1], a.shape[0]) == tuple(size):
        return a
    if a.ndim == 2:
        return resize(a, size)
    return np.stack([resize(a[..., c], size) for c in range(a.shape[2])], axis=-1)


def _small(rd: DreamRound) -> np.ndarray:
    """The model-size dream scaled for display: min-max (as the articles show an OIP), or
    for a mosaic the 1–99 percentile range (a few extreme tiles would leave the rest flat)."""
    if rd.tiles == 1:
        return normalize(rd.small)
    lo, hi = np.percentile(rd.small, [1, 99])
    return np.clip((rd.small - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def _rgb_image(a: np.ndarray, scale: int = 1) -> Image.Image:
    img = Image.fromarray(np.round(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8), "RGB")
    if scale == 1:
        return img
    return img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)


def _colour_panels(rd: DreamRound, tag: str) -> tuple[list[Image.Image], list[str]]:
    """A colour model's round: the RGB dream at the model's size, upscaled, + details,
    contrast adjusted."""
    scale = max(1, round(224 / max(rd.small.shape[:2])))
    panels = [_rgb_image(_small(rd), scale)]
    for arr in (normalize(rd.upscaled), normalize(rd.with_detail), rd.adjusted):
        panels.append(_rgb_image(arr))
    return panels, [f"{tag} (RGB)", "upscaled dream", "+ details", "contrast adjusted"]


def round_panels(
    rd: DreamRound, planes: ImagePlanes | None = None, gray: bool = False
) -> tuple[list[Image.Image], list[str]]:
    """The article's panels of one round as PIL images, with captions.

    The model-size OIP (viridis, gray; the mosaic of tiles when tiled), the blurry
    upscaled dream, the dream with details re-added (both min-max scaled for display), the
    contrast-adjusted result, and in colour when ``planes`` hold a colour photo (a colour
    model's round: all in RGB).
    """
    h, w = rd.model_size
    tag = f"OIP {w}x{h}" if rd.tiles == 1 else f"{rd.tiles} tiles {w}x{h}"
    if rd.small.ndim == 3:
        return _colour_panels(rd, tag)
    scale = max(1, round(224 / max(rd.small.shape)))
    small = _small(rd)
    panels = [to_image(small, "viridis", scale), to_image(small, "gray", scale)]
    labels = [f"{tag} (viridis)", f"{tag} (gray)"]
    for arr, lab in (
        (normalize(rd.upscaled), "upscaled dream"),
        (normalize(rd.with_detail), "+ details"),
        (rd.adjusted, "contrast adjusted"),
    ):
        panels.append(Image.fromarray(colorize(arr, "gray")[..., 0]))
        labels.append(lab)
    if planes is not None and planes.rgb is not None and not gray:
        size = (rd.adjusted.shape[1], rd.adjusted.shape[0])
        sub = ImagePlanes(rd.adjusted, _plane_at(planes.rgb, size), None, "RGB")
        rgb = compose(sub, rd.adjusted)
        panels.append(Image.fromarray(np.round(rgb * 255).astype(np.uint8)))
        labels.append("colour")
    return panels, labels


def write_dream(
    out: OutputFolder, res: DreamResult, manifest: dict, planes: ImagePlanes | None = None
) -> dict:
    """Write a dream into ``out``.

    Parameters
    ----------
    out : OutputFolder
        The open output folder.
    res : DreamResult
        The dream and its rounds.
    manifest : dict
        The manifest's common part.
    planes : ImagePlanes or None
        The input photo's planes (a colour photo adds a colour panel to each strip).

    Returns
    -------
    dict
        The manifest written.  Files: ``dream.png`` (the input's size and mode), one strip
        of the articles' panels per round (``roundN.png`` or ``octaveO_roundN.png``).
    """
    many = len({r.octave for r in res.rounds}) > 1
    save_image(out.path / "dream.png", from_float(res.image, res.mode))
    rounds = []
    for rd in res.rounds:
        name = f"octave{rd.octave}_round{rd.round}.png" if many else f"round{rd.round}.png"
        panels, labels = round_panels(rd, planes, res.params.get("gray", False))
        save_image(out.path / name, strip(panels, labels))
        rounds.append(
            {
                "octave": rd.octave,
                "round": rd.round,
                "tiles": rd.tiles,
                "live_tiles": rd.live_tiles,
                "nudged_with_noise": rd.nudged,
                "size": [rd.adjusted.shape[1], rd.adjusted.shape[0]],
                "activation_start": rd.activation_start,
                "activation_end": rd.activation_end,
                "strip": name,
            }
        )
    manifest = dict(
        manifest,
        objective=res.objective,
        output={
            "file": "dream.png",
            "mode": res.mode,
            "size": [int(res.image.shape[1]), int(res.image.shape[0])],
        },
        rounds=rounds,
        timing={
            "engine_seconds": round(res.engine_seconds, 4),
            "dream_seconds": round(res.total_seconds, 4),
            "image_steps": res.image_steps,
        },
    )
    out.write_manifest(manifest)
    return manifest
