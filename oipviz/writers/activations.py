"""Write an :class:`~oipviz.compute.activations.ActivationResult`: per input and layer one
PNG (all maps as small viridis images, or the units as a heat strip; drawn by
:mod:`oipviz.render.panels`), the inputs (.png, .npy), ``index.html`` and the manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oipviz.core.folders import OutputFolder
from oipviz.core.layers import folder_name
from oipviz.core.outputs import save_array, save_image
from oipviz.data.inputs import PREP_NOTE, Input
from oipviz.render.images import to_image
from oipviz.render.panels import activation_sheet, unit_strip
from oipviz.writers.html import copy_css, write_page


def write_activations(folder: OutputFolder, res, loaded, manifest: dict) -> dict:
    """Write the activation gallery into ``folder``.

    Parameters
    ----------
    folder : OutputFolder
        The open output folder.
    res : ActivationResult
        Per layer the outputs for every input, and the class probabilities.
    loaded : LoadedModel
        The model (its name and input convention are stated on the page).
    manifest : dict
        The manifest's common part.

    Returns
    -------
    dict
        The manifest written (per input: prediction, conversion, per layer its numbers
        and files).
    """
    root = folder.path
    copy_css(root)
    shown, entries = [], []
    for k, inp in enumerate(res.inputs):
        section, entry = _write_input(root, res, k, inp)
        shown.append(section)
        entries.append(entry)
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


def _write_input(root: Path, res, k: int, inp: Input) -> tuple[dict, dict]:
    """Input ``k``'s folder ``input_KK/``: its pictures and one PNG per layer; returns its
    section of the page and its manifest entry."""
    d, tag = root / f"input_{k:02d}", f"input_{k:02d}"
    d.mkdir()
    p = res.probs[k]
    pred = int(p.argmax())
    lines = [f"prediction: {pred} ({p[pred]:.1%})"] + (
        [f"label: {inp.label}"] if inp.label is not None else []
    )
    head, files = _write_head(d, tag, inp)
    figs, layer_info = [], {}
    for name, a in zip(res.layers, res.acts, strict=True):
        img, layer_info[name], caption = _layer_figure(inp, a[k], name, lines)
        save_image(d / f"{folder_name(name)}.png", img, fast=True)
        files.append(f"{folder_name(name)}.png")
        figs.append(
            {
                "src": f"{tag}/{folder_name(name)}.png",
                "alt": f"{name} activations",
                "caption": caption,
                "width": img.width,
                "height": img.height,
            }
        )
    section = {
        "title": f"Input {k}: {inp.source}"
        + (f" (label {inp.label})" if inp.label is not None else ""),
        "pred": pred,
        "prob": f"{p[pred]:.1%}",
        "conversion": _conversion_note(inp),
        "head": head,
        "top": [(int(c), f"{p[c]:.1%}") for c in np.argsort(-p)[:3]],
        "layers": figs,
    }
    conv = inp.converted
    entry = {
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
    return section, entry


def _write_head(d: Path, tag: str, inp: Input) -> tuple[list[dict], list[str]]:
    """The input as the model sees it (28×28) and, for a photo, the original."""
    save_image(d / "input.png", to_image(inp.x01, "gray", 4, rgb=True), fast=True)
    save_array(d / "input.npy", inp.x01)
    files, head = ["input.png", "input.npy"], []
    if inp.original is not None:
        save_image(d / "original.png", inp.original.convert("RGB"), fast=True)
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
    return head, files


def _conversion_note(inp: Input) -> str:
    """How a photo became the 28×28 input ('' for a dataset digit)."""
    conv = inp.converted
    if conv is None:
        return ""
    t, lft, b, r = conv.bbox
    return (
        f"{conv.source_size[0]}×{conv.source_size[1]} px; "
        f"{'inverted (light background); ' if conv.inverted else ''}"
        f"ink box {r - lft}×{b - t} px at ({lft},{t})"
        + ("; " + "; ".join(conv.notes) if conv.notes else "")
    )


def _layer_figure(inp: Input, a: np.ndarray, name: str, lines: list[str]):
    """The picture and the facts of one layer's output ``a`` for one input."""
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
