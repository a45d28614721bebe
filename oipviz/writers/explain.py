"""Write an :class:`~oipviz.compute.attribution.explain.ExplainResult`: the grid picture, the raw
maps (.npy), the sanity tables (CSV) and plots, and the manifest.

Heatmaps are drawn over the digit (darkened gray): maps that are never negative with
``inferno``, signed maps with ``RdBu_r`` (red: raises the target, blue: lowers it); the
opacity follows |value| on one scale per panel (its 99th percentile of |map|).
"""

from __future__ import annotations

import csv
import io

import numpy as np
from PIL import Image

from oipviz.core.folders import OutputFolder
from oipviz.core.outputs import write_bytes, write_text

SIGNED_CMAP, POSITIVE_CMAP = "RdBu_r", "inferno"
TITLES = {
    "saliency": "saliency |∇f|",
    "gradinput": "gradient × input",
    "smoothgrad": "SmoothGrad",
    "ig": "Integrated Gradients",
    "gradcam": "Grad-CAM",
    "gradcampp": "Grad-CAM++",
    "occlusion": "occlusion",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> Image.Image:
    """A matplotlib figure as a PIL image (closed afterwards)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, metadata={"Software": None})
    _plt().close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def overlay(x01: np.ndarray, m: np.ndarray, signed: bool) -> np.ndarray:
    """(28,28,3) floats: the map's colours over the darkened digit, opacity |value|."""
    from matplotlib import colormaps

    vmax = float(np.percentile(np.abs(m), 99)) or float(np.abs(m).max()) or 1.0
    v = np.clip(m / vmax, -1.0, 1.0)
    if signed:
        colour, alpha = colormaps[SIGNED_CMAP]((v + 1) / 2)[..., :3], np.abs(v)
    else:
        v = np.clip(v, 0.0, 1.0)
        colour, alpha = colormaps[POSITIVE_CMAP](0.25 + 0.75 * v)[..., :3], v
    base = np.repeat((0.35 if signed else 0.5) * np.clip(x01, 0, 1)[..., None], 3, axis=-1)
    a = (0.95 * np.sqrt(alpha) if signed else 0.8 * alpha)[..., None]
    return base * (1 - a) + colour * a


def is_signed(method: str, maps: np.ndarray) -> bool:
    from oipviz.compute.attribution import METHODS

    return bool(METHODS[method].signed) or bool((maps < 0).any())


def grid_figure(res, rows: int = 16) -> Image.Image:
    """Per image one row: the input with prediction/target, then one heatmap per method."""
    plt = _plt()
    n, cols = min(len(res.images), rows), 1 + len(res.methods)
    fig, axes = plt.subplots(n, cols, figsize=(1.35 * cols, 1.5 * n + 0.3), dpi=90, squeeze=False)
    for i in range(n):
        p = res.probs[i]
        k = int(p.argmax())
        ax = axes[i, 0]
        ax.imshow(res.images[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        lab = "" if res.labels is None else f" label {int(res.labels[i])}"
        ax.set_title(f"pred {k} ({p[k]:.1%})\ntarget {res.targets[i]}{lab}", fontsize=7)
        for j, m in enumerate(res.methods, start=1):
            maps = res.attributions[m].maps
            axes[i, j].imshow(
                overlay(res.images[i], maps[i], is_signed(m, maps)), interpolation="nearest"
            )
            if i == 0:
                axes[i, j].set_title(TITLES.get(m, m), fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    shown = f" (first {n} of {len(res.images)})" if n < len(res.images) else ""
    fig.suptitle(
        f"{res.model_name}: attributions for the {res.target_mode} class{shown}; "
        "red/bright = raises the logit, blue = lowers it",
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return _png(fig)


def sanity_figure(s) -> Image.Image:
    """Spearman and SSIM under cascading randomization; deletion and insertion curves."""
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), dpi=90)
    methods = list(dict.fromkeys(r["method"] for r in s.cascade))
    steps = sorted({r["step"] for r in s.cascade})
    names = {r["step"]: r["randomized"] for r in s.cascade}
    flags = s.flags()
    ref = {r["method"]: r for r in s.reference}
    for ax, key in ((axes[0, 0], "spearman"), (axes[0, 1], "ssim")):
        for m in methods:
            ys = [r[key] for r in s.cascade if r["method"] == m]
            (line,) = ax.plot(steps, ys, marker="o", label=f"{m} ({flags[m]})")
            if m in ref:
                ax.plot([steps[-1] + 1], [ref[m][key]], marker="s", color=line.get_color())
        ax.axhline(s.threshold, color="gray", ls=":", lw=1)
        labels = [f"+{names[k]}" for k in steps] + (["random\nfeatures"] if ref else [])
        ax.set_xticks(steps + ([steps[-1] + 1] if ref else []), labels, fontsize=7)
        ax.set_ylim(-0.3, 1.05)
        ax.set_title(
            f"{'Spearman (signed maps)' if key == 'spearman' else 'SSIM (|maps|)'} "
            "trained vs randomized (top → bottom)",
            fontsize=9,
        )
    axes[0, 0].legend(fontsize=7)
    faith = {r["method"]: r for r in s.faithfulness}
    for ax, key in ((axes[1, 0], "deletion"), (axes[1, 1], "insertion")):
        for m, c in s.curves.items():
            ax.plot(
                s.fractions,
                c[key],
                ls="--" if m == "random order" else "-",
                label=f"{m}: AUC {faith[m][f'{key}_auc']:.3f}",
            )
        ax.set_xlabel(
            f"fraction of pixels {'removed' if key == 'deletion' else 'added'} "
            "(in attribution order)",
            fontsize=8,
        )
        ax.set_ylabel("target probability", fontsize=8)
        ax.set_title(
            f"{key} ({'lower' if key == 'deletion' else 'higher'} AUC is better)", fontsize=9
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def sanity_maps_figure(res) -> Image.Image:
    """Image 0's map per method: trained, after each randomization step, random features."""
    plt = _plt()
    ex = res.sanity.examples
    methods = list(ex)
    cols = max(len(v) for v in ex.values())
    fig, axes = plt.subplots(
        len(methods), cols, figsize=(1.3 * cols, 1.45 * len(methods)), dpi=90, squeeze=False
    )
    for i, m in enumerate(methods):
        for j in range(cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(ex[m]):
                ax.axis("off")
                continue
            label, a = ex[m][j]
            ax.imshow(overlay(res.images[0], a, True), interpolation="nearest")
            if i == 0:
                ax.set_title(label, fontsize=7)
        axes[i, 0].set_ylabel(m, fontsize=8)
    fig.suptitle(
        "cascading randomization (signed maps; last column: random-features model)", fontsize=8
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return _png(fig)


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    keys = list(dict.fromkeys(k for r in rows for k in r))
    w = csv.DictWriter(buf, keys, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(
            {
                k: (
                    f"{v:.6g}"
                    if isinstance(v, float)
                    else " ".join(v)
                    if isinstance(v, list)
                    else v
                )
                for k, v in r.items()
            }
        )
    return buf.getvalue()


def _save(path, img: Image.Image) -> None:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    write_bytes(path, buf.getvalue())


def _npy(path, a: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a))
    write_bytes(path, buf.getvalue())


def write_explain(out: OutputFolder, res, manifest: dict) -> dict:
    """explain.png, inputs.npy, probs.npy, maps_METHOD.npy (+ extras), sanity files and
    manifest.json; returns the manifest."""
    root = out.path
    _save(root / "explain.png", grid_figure(res))
    _npy(root / "inputs.npy", res.images)
    _npy(root / "probs.npy", res.probs)
    files = ["explain.png", "inputs.npy", "probs.npy"]
    for m in res.methods:
        a = res.attributions[m]
        _npy(root / f"maps_{m}.npy", a.maps)
        files.append(f"maps_{m}.npy")
        for k, v in a.extras.items():
            _npy(root / f"{m}_{k}.npy", v)
            files.append(f"{m}_{k}.npy")
    entries = []
    for i in range(len(res.images)):
        e = {
            "input": i,
            "source": res.sources[i] if i < len(res.sources) else None,
            "label": None if res.labels is None else int(res.labels[i]),
            "prediction": int(res.predicted[i]),
            "probability": float(res.probability[i]),
            "target": res.targets[i],
            "target_value": {m: float(res.attributions[m].scores[i]) for m in res.methods},
        }
        if "ig" in res.methods:
            e["ig_completeness_error"] = float(
                res.attributions["ig"].extras["completeness_error"][i]
            )
        entries.append(e)
    manifest = dict(
        manifest,
        methods=res.methods,
        method_parameters=res.params(),
        precision=res.precision,
        target_mode=res.target_mode,
        units="maps in pixel space [0,1]; class targets are pre-softmax logits",
        inputs=entries,
        files=files,
    )
    if res.sanity is not None:
        s = res.sanity
        write_text(root / "sanity.csv", _csv(s.table()))
        write_text(
            root / "sanity_cascade.csv",
            _csv(s.cascade + [dict(r, randomized="random_features") for r in s.reference]),
        )
        _save(root / "sanity.png", sanity_figure(s))
        _save(root / "sanity_maps.png", sanity_maps_figure(res))
        files += ["sanity.csv", "sanity_cascade.csv", "sanity.png", "sanity_maps.png"]
        manifest["sanity"] = {
            "table": s.table(),
            "cascade": s.cascade,
            "random_features": s.reference,
            "random_features_model": s.reference_note,
            "threshold": s.threshold,
            "fractions": s.fractions,
            "curves": s.curves,
            "faithfulness_baseline": "pixels set to 0 (black)",
        }
    out.write_manifest(manifest)
    return manifest
