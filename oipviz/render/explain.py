"""Pictures of an :class:`~oipviz.compute.attribution.explain.ExplainResult` (duck-typed):
the grid of attribution maps, the sanity plots and the sanity maps, as PIL images.

Heatmaps are drawn over the digit (darkened gray): maps that are never negative with
``inferno``, signed maps with ``RdBu_r`` (red: raises the target, blue: lowers it); the
opacity follows |value| on one scale per panel (its 99th percentile of |map|).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from oipviz.render.figures import figure_image, new_figure

SIGNED_CMAP, POSITIVE_CMAP = "RdBu_r", "inferno"


def attribution_overlay(x01: np.ndarray, m: np.ndarray, signed: bool) -> np.ndarray:
    """One attribution map over its digit.

    Parameters
    ----------
    x01 : ndarray
        The (28,28) digit in [0,1], drawn darkened gray.
    m : ndarray
        Its (28,28) attribution map.
    signed : bool
        ``RdBu_r`` (red: raises the target, blue: lowers it) instead of ``inferno``.

    Returns
    -------
    ndarray
        (H, W, 3) floats in [0,1]; the opacity follows |value| (scale: the 99th
        percentile of |m|).
    """
    from matplotlib import colormaps

    vmax = float(np.percentile(np.abs(m), 99)) or float(np.abs(m).max()) or 1.0
    v = np.clip(m / vmax, -1.0, 1.0)
    if signed:
        colour, alpha = colormaps[SIGNED_CMAP]((v + 1) / 2)[..., :3], np.abs(v)
    else:
        v = np.clip(v, 0.0, 1.0)
        colour, alpha = colormaps[POSITIVE_CMAP](0.25 + 0.75 * v)[..., :3], v
    x = picture(x01)
    rgb = x if x.ndim == 3 else np.repeat(x[..., None], 3, axis=-1)
    base = (0.35 if signed else 0.5) * np.clip(rgb, 0, 1)
    a = (0.95 * np.sqrt(alpha) if signed else 0.8 * alpha)[..., None]
    return base * (1 - a) + colour * a


def picture(x: np.ndarray) -> np.ndarray:
    """An image (H, W[, C]) as it is drawn: (H, W) grey, or (H, W, 3) colour."""
    x = np.asarray(x)
    return x[..., 0] if x.ndim == 3 and x.shape[-1] == 1 else x


def is_signed(attribution) -> bool:
    """True if the method is signed by definition or any of its maps is negative."""
    return bool(attribution.signed) or bool((attribution.maps < 0).any())


def grid_figure(res, rows: int = 16) -> Image.Image:
    """Per image one row: the input with prediction/target, then one heatmap per method.

    Parameters
    ----------
    res : ExplainResult
        Read: ``images``, ``methods``, ``attributions[m].maps``, ``probs``, ``targets``,
        ``labels``, ``target_mode``, ``model_name``; each attribution's
        ``title`` and ``signed``.
    rows : int
        At most this many images (the first ones).

    Returns
    -------
    PIL.Image.Image
        RGB.
    """
    n, cols = min(len(res.images), rows), 1 + len(res.methods)
    fig = new_figure(1.35 * cols, 1.5 * n + 0.3, dpi=90)
    axes = fig.subplots(n, cols, squeeze=False)
    for i in range(n):
        p = res.probs[i]
        k = int(p.argmax())
        ax = axes[i, 0]
        ax.imshow(picture(res.images[i]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        lab = "" if res.labels is None else f" label {int(res.labels[i])}"
        ax.set_title(f"pred {k} ({p[k]:.1%})\ntarget {res.targets[i]}{lab}", fontsize=7)
        for j, m in enumerate(res.methods, start=1):
            att = res.attributions[m]
            axes[i, j].imshow(
                attribution_overlay(res.images[i], att.maps[i], is_signed(att)),
                interpolation="nearest",
            )
            if i == 0:
                axes[i, j].set_title(att.title or m, fontsize=8)
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
    return figure_image(fig)


def sanity_figure(s) -> Image.Image:
    """Spearman and SSIM under cascading randomization; deletion and insertion curves.

    Parameters
    ----------
    s : SanityResult
        Read: ``cascade``, ``reference``, ``flags()``, ``threshold``, ``faithfulness``,
        ``curves``, ``fractions``.

    Returns
    -------
    PIL.Image.Image
        RGB.
    """
    fig = new_figure(11, 8, dpi=90)
    axes = fig.subplots(2, 2)
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
    return figure_image(fig)


def sanity_maps_figure(res) -> Image.Image:
    """Image 0's map per method: trained, after each randomization step, random features.

    Parameters
    ----------
    res : ExplainResult
        With ``sanity`` (its ``examples``: per method [(label, map), ...]).

    Returns
    -------
    PIL.Image.Image
        RGB.
    """
    ex = res.sanity.examples
    methods = list(ex)
    cols = max(len(v) for v in ex.values())
    fig = new_figure(1.3 * cols, 1.45 * len(methods), dpi=90)
    axes = fig.subplots(len(methods), cols, squeeze=False)
    for i, m in enumerate(methods):
        for j in range(cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(ex[m]):
                ax.axis("off")
                continue
            label, a = ex[m][j]
            ax.imshow(attribution_overlay(res.images[0], a, True), interpolation="nearest")
            if i == 0:
                ax.set_title(label, fontsize=7)
        axes[i, 0].set_ylabel(m, fontsize=8)
    fig.suptitle(
        "cascading randomization (signed maps; last column: random-features model)", fontsize=8
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return figure_image(fig)
