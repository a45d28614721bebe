"""Activation gallery: what the layers of a model do with given inputs.

:func:`activations` computes (through the engine's forward pass, :func:`oipviz.core.ascent.forward`)
every conv layer's maps and every hidden Dense layer's unit values for some inputs, and
the prediction; :func:`write_activations` writes, per input and layer, one PNG (all
maps as small viridis images, or the units as a heat strip) and ``index.html``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oipviz.core.errors import ImageError, ModelError
from oipviz.core.layers import class_probabilities
from oipviz.data.inputs import PREP_NOTE, Input, dataset_inputs, load_inputs, mnist_style  # noqa: F401


@dataclass
class ActivationResult:
    """Per layer the outputs (K,h,w,M) or (K,U) for K inputs, and the probabilities."""

    inputs: list[Input]
    layers: list[str]
    acts: list[np.ndarray]
    probs: np.ndarray  # (K, classes)


def activation_layers(loaded) -> list[str]:
    """The conv layers and the hidden Dense layers (the output layer is the prediction)."""
    names = [i.name for i in loaded.layers[:-1] if i.units is not None]
    if not names:
        raise ModelError(f"{loaded.name} has no conv or hidden Dense layer to show")
    return names


def activations(loaded, inputs: list[Input]) -> ActivationResult:
    """Every shown layer's output and the class probabilities for ``inputs``."""
    from oipviz.core.ascent import forward

    if not inputs:
        raise ImageError("no inputs")
    layers = activation_layers(loaded)
    last = loaded.layers[-1].name
    x01 = np.stack([i.x01 for i in inputs]).reshape(-1, 28, 28, 1).astype(np.float32)
    outs = forward(loaded, [(n, False) for n in layers + [last]], loaded.convention.to_engine(x01))
    return ActivationResult(inputs, layers, outs[:-1], class_probabilities(loaded, outs[-1]))


def _layer_figure(inp: Input, a: np.ndarray, name: str, lines: list[str]):
    """The picture and the facts of one layer's output ``a`` for one input."""
    from oipviz.gallery.figures import activation_sheet, unit_strip

    conv = a.ndim == 3
    means = a.mean(axis=(0, 1)) if conv else a
    order = np.argsort(-means, kind="stable")[:5]
    silent = int(((a.max(axis=(0, 1)) if conv else a) <= 0).sum())
    what = "maps" if conv else "units"
    if conv:
        img = activation_sheet(
            inp.x01, a, lines, f"{name}: {a.shape[-1]} maps of {a.shape[0]}x{a.shape[1]}"
        )
    else:
        img = unit_strip(inp.x01, a, lines, f"{name}: {len(a)} units")
    info = {
        "max": float(a.max()),
        "mean": float(a.mean()),
        f"silent_{what}": silent,
        f"strongest_{what}": [int(m) for m in order],
        "strongest_means": [float(means[m]) for m in order],
    }
    caption = (
        f"{name}: strongest {what} {', '.join(str(m) for m in order)}; {silent} of "
        f"{len(means)} {what} are 0" + (" everywhere." if conv else ".")
    )
    return img, info, caption


def write_activations(folder, res: ActivationResult, loaded, manifest: dict) -> dict:
    """Write the gallery into ``folder`` (an :class:`~oipviz.core.outputs.OutputFolder`); returns
    the manifest (also written)."""
    from oipviz.gallery.figures import png, save
    from oipviz.gallery.pages import copy_css, save_npy, write_page

    root = folder.path
    copy_css(root)
    entries, shown = [], []
    for k, inp in enumerate(res.inputs):
        d, tag = root / f"input_{k:02d}", f"input_{k:02d}"
        d.mkdir()
        p = res.probs[k]
        pred = int(p.argmax())
        lines = [f"prediction: {pred} ({p[pred]:.1%})"] + (
            [f"label: {inp.label}"] if inp.label is not None else []
        )
        png(d / "input.png", inp.x01, "gray", scale=4)
        save_npy(d / "input.npy", inp.x01)
        files = ["input.png", "input.npy"]
        head = []
        if inp.original is not None:
            save(d / "original.png", inp.original.convert("RGB"))
            files.append("original.png")
            head.append(
                {
                    "src": f"{tag}/original.png",
                    "alt": "original",
                    "caption": "original",
                    "width": inp.original.width,
                    "height": inp.original.height,
                    "smooth": True,
                }
            )
        head.append(
            {
                "src": f"{tag}/input.png",
                "alt": "28×28 input",
                "caption": "28×28 input",
                "width": 112,
                "height": 112,
                "smooth": False,
            }
        )
        figs, layer_info = [], {}
        for name, a in zip(res.layers, res.acts):
            img, layer_info[name], caption = _layer_figure(inp, a[k], name, lines)
            save(d / f"{name}.png", img)
            files.append(f"{name}.png")
            figs.append(
                {
                    "src": f"{tag}/{name}.png",
                    "alt": f"{name} activations",
                    "caption": caption,
                    "width": img.width,
                    "height": img.height,
                }
            )
        conv = inp.converted
        note = ""
        if conv is not None:
            t, lft, b, r = conv.bbox
            note = (
                f"{conv.source_size[0]}×{conv.source_size[1]} px; "
                f"{'inverted (light background); ' if conv.inverted else ''}"
                f"ink box {r - lft}×{b - t} px at ({lft},{t})"
                + ("; " + "; ".join(conv.notes) if conv.notes else "")
            )
        shown.append(
            {
                "title": f"Input {k}: {inp.source}"
                + (f" (label {inp.label})" if inp.label is not None else ""),
                "pred": pred,
                "prob": f"{p[pred]:.1%}",
                "conversion": note,
                "head": head,
                "top": [(int(c), f"{p[c]:.1%}") for c in np.argsort(-p)[:3]],
                "layers": figs,
            }
        )
        entries.append(
            {
                "input": k,
                "source": inp.source,
                "label": inp.label,
                "prediction": pred,
                "probability": float(p[pred]),
                "probabilities": p,
                "conversion": None
                if conv is None
                else {
                    "inverted": conv.inverted,
                    "ink_bbox": list(conv.bbox),
                    "source_size": list(conv.source_size),
                    "notes": conv.notes,
                },
                "layers": layer_info,
                "files": [f"{tag}/{f}" for f in files],
            }
        )
    write_page(
        root / "index.html",
        "activations.html",
        root="",
        title=f"Activation maps: {loaded.name}",
        model=loaded.name,
        convention=loaded.convention.describe(),
        inputs=shown,
        layer_list=", ".join(res.layers),
        note=PREP_NOTE + " Each picture shows one layer for one input on one colour scale "
        "(0 … the layer's largest value for that input).",
    )
    manifest = dict(manifest, preprocessing=PREP_NOTE, layers=res.layers, inputs=entries)
    folder.write_manifest(manifest)
    return manifest
