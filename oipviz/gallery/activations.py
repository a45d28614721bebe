"""Activation-map gallery: what every conv layer of the model does with given inputs.

Inputs are image files (any size and colour: converted to a 28×28 MNIST-style digit by
:func:`mnist_style`) or real digits from the data sources.  For each input and conv layer
one PNG shows all the layer's maps (viridis, with their indices), the input and the
model's prediction; ``index.html`` shows them all.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ImageError, ModelError
from ..manifest import base_manifest
from ..outputs import atomic_dir, write_json
from . import html as H
from .figures import activation_sheet, png

MNIST_BOX = 20      # MNIST digits fit a 20×20 box ...
MNIST_SIZE = 28     # ... centred by centre of mass in a 28×28 frame
MNIST_CENTER = 14.0  # where MNIST's centre of mass lies (mean over the digits: 13.99, 14.00)
INK_THRESHOLD = 0.1

PREP_NOTE = ("Image files become MNIST-style digits: grayscale (luminance; transparent "
             "parts filled with the background), inverted if the border is light (MNIST is "
             "white on black), cropped to the bounding box of the ink, scaled so the longest "
             "side is 20 px (aspect kept), and placed in a 28×28 frame with the ink's centre of "
             "mass at the centre.")


@dataclass
class Converted:
    """An image converted by :func:`mnist_style`, with what was done to it."""

    x01: np.ndarray                     # (28,28) float32 in [0,1], white ink on black
    inverted: bool
    bbox: tuple                         # (top, left, bottom, right) of the ink, in the source
    source_size: tuple                  # (width, height)
    notes: list = field(default_factory=list)


def mnist_style(img, name: str = "image") -> Converted:
    """Convert a PIL image of a digit (any size/colour) to a 28×28 MNIST-style one.

    Grayscale → invert if the border is light → subtract the background level → crop
    to the bounding box of the ink → longest side to 20 px (aspect kept) → centre of
    mass at the centre of a 28×28 frame.  Raises :class:`ImageError` if there is no ink.
    """
    import cv2

    from ..images import to_float

    planes = to_float(img)
    g = np.asarray(planes.luma, np.float32)
    notes = []
    if planes.alpha is not None and float(planes.alpha.min()) < 0.99:
        a = np.asarray(planes.alpha, np.float32)
        opaque = a > 0.5
        light_ink = bool(opaque.any()) and float(g[opaque].mean()) > 0.5
        bg = 0.0 if light_ink else 1.0
        g = g * a + bg * (1.0 - a)
        notes.append(f"transparency filled with {'black' if bg == 0 else 'white'}")
    border = np.concatenate([g[0], g[-1], g[1:-1, 0], g[1:-1, -1]])
    inverted = float(np.median(border)) > 0.5
    if inverted:
        g = 1.0 - g
        border = 1.0 - border
    g = np.clip(g - float(np.median(border)), 0.0, None)
    peak = float(g.max())
    if peak < 0.05:
        raise ImageError(f"{name}: no digit found (the image is blank or has no contrast)")
    g /= peak
    ys, xs = np.nonzero(g > INK_THRESHOLD)
    top, bottom, left, right = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    crop = g[top:bottom, left:right]
    h, w = crop.shape
    s = MNIST_BOX / max(h, w)
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    small = np.clip(cv2.resize(crop, (nw, nh), interpolation=interp), 0.0, 1.0)
    total = float(small.sum())
    yy, xx = np.mgrid[0:nh, 0:nw]
    cy, cx = float((yy * small).sum() / total), float((xx * small).sum() / total)
    # MNIST's centre of mass sits at pixel (14, 14) on average; shift by whole pixels
    # (no resampling blur), as the original preprocessing did
    dy, dx = int(round(MNIST_CENTER - cy)), int(round(MNIST_CENTER - cx))
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    y0, x0 = max(dy, 0), max(dx, 0)
    y1, x1 = min(dy + nh, MNIST_SIZE), min(dx + nw, MNIST_SIZE)
    out[y0:y1, x0:x1] = small[y0 - dy:y1 - dy, x0 - dx:x1 - dx]
    return Converted(out, inverted,
                     (top, left, bottom, right), tuple(planes.size), notes)


@dataclass
class Input:
    """One input of the gallery: the 28×28 image and where it came from."""

    x01: np.ndarray
    source: str
    label: int | None = None
    converted: Converted | None = None
    original: object = None             # small PIL preview of an image file


def probabilities(out: np.ndarray) -> np.ndarray:
    """The model's outputs as class probabilities (softmax if they are logits)."""
    p = np.asarray(out, np.float64).reshape(len(out), -1)
    if (p < -1e-6).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        e = np.exp(p - p.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
    return p


def load_inputs(paths: list[str | Path]) -> list[Input]:
    """Read and convert image files (every file is checked before anything is written)."""
    from ..images import read_image

    out = []
    for p in paths:
        img = read_image(p)
        conv = mnist_style(img, str(p))
        prev = img.convert("RGBA" if "A" in img.getbands() else "RGB")
        prev.thumbnail((112, 112))
        out.append(Input(conv.x01, str(p), None, conv, prev))
    return out


def dataset_inputs(samples: int, digits: list[int] | None = None, seed: int = 0) -> tuple[list[Input], str]:
    """``samples`` real held-out digits (only the classes ``digits`` if given)."""
    from ..data import mnist_digits
    from ..errors import DataError

    x, y, source = mnist_digits(None, seed=seed, split="test")
    keep = np.arange(len(y)) if not digits else np.flatnonzero(np.isin(y, digits))
    if len(keep) == 0:
        raise DataError(f"no digits of class {','.join(map(str, digits))} in {source}")
    keep = keep[:samples]
    return [Input(x[i, :, :, 0], f"{source} held-out digit #{int(i)}", int(y[i])) for i in keep], source


def activation_gallery(loaded, inputs: list[Input], out: str | Path, force: bool = False,
                       params: dict | None = None, seed: int | None = None) -> dict:
    """Write the activation-map gallery of ``inputs`` into ``out`` (atomically).

    Returns the manifest.
    """
    convs = loaded.conv_layers()
    if not convs:
        names = ", ".join(i.name for i in loaded.layers if i.units is not None) or "none"
        raise ModelError(f"{loaded.name} has no conv layer (layers with units: {names}); "
                         "activation maps need one")
    if not inputs:
        raise ImageError("no inputs")
    layers = [c.name for c in convs]
    x01 = np.stack([i.x01 for i in inputs])[..., None].astype(np.float32)
    model = loaded.engine_model(layers)
    acts = model(loaded.convention.to_engine(x01), training=False)
    acts = [a.numpy() if hasattr(a, "numpy") else np.asarray(a)
            for a in (acts if isinstance(acts, (list, tuple)) else [acts])]
    probs = probabilities(loaded.predict(x01))
    manifest = base_manifest("activations", loaded, dict(params or {}, layers=layers), seed)
    manifest["preprocessing"] = PREP_NOTE
    entries = []
    from .. import __version__

    with atomic_dir(out, force=force) as tmp:
        H.copy_css(tmp)
        sections = []
        for k, inp in enumerate(inputs):
            d = tmp / f"input_{k:02d}"
            d.mkdir()
            p = probs[k]
            pred = int(p.argmax())
            lines = [f"prediction: {pred} ({p[pred]:.1%})"]
            if inp.label is not None:
                lines.append(f"label: {inp.label}")
            files = [png(d / "input.png", inp.x01, "gray", scale=4).name]
            np.save(d / "input.npy", inp.x01)
            files.append("input.npy")
            if inp.original is not None:
                inp.original.save(d / "original.png", format="PNG")
                files.append("original.png")
            figs = []
            layer_info = {}
            for name, a in zip(layers, acts):
                fmap = a[k]
                w, h = activation_sheet(inp.x01, fmap, d / f"{name}.png", lines,
                                        f"{name}: {fmap.shape[-1]} maps of {fmap.shape[0]}x{fmap.shape[1]}")
                files.append(f"{name}.png")
                means = fmap.mean(axis=(0, 1))
                order = np.argsort(-means, kind="stable")[:5]
                layer_info[name] = {"max": float(fmap.max()), "mean": float(fmap.mean()),
                                    "silent_maps": int((fmap.max(axis=(0, 1)) <= 0).sum()),
                                    "strongest_maps": [int(m) for m in order],
                                    "strongest_means": [float(means[m]) for m in order]}
                li = layer_info[name]
                figs.append(f'<figure><img src="input_{k:02d}/{name}.png" width="{w}" height="{h}" '
                            f'alt="{H.esc(name)} activation maps"><figcaption>{H.esc(name)}: strongest maps '
                            f'{", ".join(str(m) for m in li["strongest_maps"])}; {li["silent_maps"]} of '
                            f'{fmap.shape[-1]} maps are 0 everywhere.</figcaption></figure>')
            top3 = np.argsort(-p)[:3]
            conv = inp.converted
            conv_note = ""
            if conv is not None:
                t, l, b, r = conv.bbox
                conv_note = (f"{conv.source_size[0]}×{conv.source_size[1]} px; "
                             f"{'inverted (light background); ' if conv.inverted else ''}"
                             f"ink box {r - l}×{b - t} px at ({l},{t})" +
                             ("; " + "; ".join(conv.notes) if conv.notes else ""))
            head = ['<div class="row">']
            if inp.original is not None:
                head.append(f'<figure><img src="input_{k:02d}/original.png" class="smooth" '
                            f'width="{inp.original.width}" height="{inp.original.height}" alt="original">'
                            f'<figcaption>original</figcaption></figure>')
            head.append(f'<figure><img src="input_{k:02d}/input.png" width="112" height="112" '
                        f'alt="28×28 input"><figcaption>28×28 input</figcaption></figure>')
            head.append("<div>" + H.table([(f"{c}", f"{p[c]:.1%}") for c in top3],
                                          ("class", "probability"), numeric={1}) + "</div></div>")
            title = f"Input {k}: {inp.source}" + (f" (label {inp.label})" if inp.label is not None else "")
            sections.append(f'<h2>{H.esc(title)}</h2>\n<p>Prediction <b>{pred}</b> with probability '
                            f'{p[pred]:.1%}. {H.esc(conv_note)}</p>\n' + "\n".join(head) + "\n"
                            + '<div class="row">' + "\n".join(figs) + "</div>")
            entries.append({"input": k, "source": inp.source, "label": inp.label, "prediction": pred,
                            "probability": float(p[pred]), "probabilities": [float(v) for v in p],
                            "conversion": None if conv is None else {
                                "inverted": conv.inverted, "ink_bbox": list(conv.bbox),
                                "source_size": list(conv.source_size), "notes": conv.notes},
                            "layers": layer_info,
                            "files": [f"input_{k:02d}/{f}" for f in files]})
        page = H.render("activations.html", title=H.esc(f"Activation maps: {loaded.name}"),
                        model=H.esc(loaded.name), convention=H.esc(loaded.convention.describe()),
                        n_inputs=len(inputs), layer_list=H.esc(", ".join(layers)),
                        prep_note=H.esc(PREP_NOTE + " Each picture shows one layer's maps for "
                                        "one input on a common colour scale (0 … the layer's "
                                        "largest value for that input)."),
                        inputs="\n".join(sections), version=__version__)
        H.write_text(tmp / "index.html", page)
        manifest["inputs"] = entries
        write_json(tmp / "manifest.json", manifest)
    return manifest
