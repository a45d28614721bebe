"""Sanity checks for attribution maps.

* **Model randomization** (Adebayo et al. 2018), cascading: the weights are
  re-initialized layer by layer from the top (each layer's own initializer, seeded) and
  every method's maps are compared with the trained model's: Spearman rank correlation
  (scipy.stats.spearmanr) of the signed maps (for saliency and SmoothGrad: the gradient
  before its absolute value) and of their absolute values, and SSIM (tf.image.ssim on
  |map| / max|map|), averaged over the images.  A method whose maps still match after
  *all* layers are random (signed Spearman or SSIM ≥ ``threshold``) is flagged "not
  model-sensitive".  The absolute-value Spearman is reported, not judged: on 28×28
  digits it is inflated by the zero background (×input methods) and by the border
  pixels that valid convolutions see less often (two *random* models already reach
  about 0.65 for |saliency|).  A constant map shares no ranks: its Spearman is 0.
* **Random-weight comparison**: the same maps for a ``reference`` model given by the
  caller: :func:`oipviz.explain` brings the zoo's ``random_features`` model (three frozen
  random conv layers) with its Dense head trained for 1 epoch on the digits
  (:mod:`oipviz.models.random`).
* **Faithfulness**: deletion and insertion curves.  Pixels are removed from the digit
  (set to 0, black) or added to a black image, in the order of the map (largest
  first), in ``steps`` equal parts; the target's probability (the objective's value for
  a non-class target) is tracked and its area under the curve reported (deletion: lower
  is better; insertion: higher).  A random pixel order is the reference row.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np

from oipviz.compute.attribution.base import as_images, predict_probs
from oipviz.core.objectives import Objective

THRESHOLD = 0.5
RANDOM = "random order"


@dataclass
class SanityResult:
    cascade: list[dict]  # method, step, randomized, spearman, spearman_abs, ssim
    reference: list[dict]  # method, spearman, spearman_abs, ssim vs random_features
    reference_note: str
    faithfulness: list[dict]  # method, deletion_auc, insertion_auc
    curves: dict  # method -> {"deletion": (S+1,), "insertion": (S+1,)}
    fractions: np.ndarray  # (S+1,) share of pixels removed/added
    examples: dict = field(default_factory=dict)  # method -> [(label, (H, W) map of image 0)]
    threshold: float = THRESHOLD

    def full(self, method: str) -> dict:
        """The row of the fully randomized model for ``method``."""
        return [r for r in self.cascade if r["method"] == method][-1]

    def flags(self) -> dict[str, str]:
        out = {}
        for m in dict.fromkeys(r["method"] for r in self.cascade):
            r = self.full(m)
            same = max(r["spearman"], r["ssim"]) >= self.threshold
            out[m] = "not model-sensitive" if same else "model-sensitive"
        return out

    def table(self) -> list[dict]:
        """One summary row per method (the CSV)."""
        ref = {r["method"]: r for r in self.reference}
        faith = {r["method"]: r for r in self.faithfulness}
        rows = []
        for m, flag in self.flags().items():
            r, rf, f = self.full(m), ref.get(m, {}), faith.get(m, {})
            rows.append(
                {
                    "method": m,
                    "spearman_random": r["spearman"],
                    "spearman_abs_random": r["spearman_abs"],
                    "ssim_random": r["ssim"],
                    "spearman_random_features": rf.get("spearman"),
                    "ssim_random_features": rf.get("ssim"),
                    "deletion_auc": f.get("deletion_auc"),
                    "insertion_auc": f.get("insertion_auc"),
                    "verdict": flag,
                }
            )
        if RANDOM in faith:
            rows.append(
                {
                    "method": RANDOM,
                    **{k: faith[RANDOM][k] for k in ("deletion_auc", "insertion_auc")},
                }
            )
        return rows

    def summary(self) -> dict:
        return {f"sanity {m}": f"{v}" for m, v in self.flags().items()}


# ----------------------------------------------------------------------------- similarity


def spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image Spearman rank correlation of two (N, H, W) stacks (0 for a constant map)."""
    from scipy.stats import spearmanr

    out = np.zeros(len(a))
    for i, (u, v) in enumerate(zip(a.reshape(len(a), -1), b.reshape(len(b), -1))):
        if np.ptp(u) > 0 and np.ptp(v) > 0:
            out[i] = spearmanr(u, v).statistic
    return out


def ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image SSIM of |a| and |b|, each scaled to [0,1] by its maximum."""
    import tensorflow as tf

    def unit(m):
        m = np.abs(m)[..., None].astype(np.float32)
        return m / np.maximum(m.max(axis=(1, 2, 3), keepdims=True), 1e-12)

    return tf.image.ssim(unit(a), unit(b), max_val=1.0).numpy().astype(np.float64)


def compare(method: str, trained: np.ndarray, other: np.ndarray, **row) -> dict:
    return dict(
        method=method,
        **row,
        spearman=float(spearman(trained, other).mean()),
        spearman_abs=float(spearman(np.abs(trained), np.abs(other)).mean()),
        ssim=float(ssim(trained, other).mean()),
    )


# ----------------------------------------------------------------------------- models


def weighted_layers(loaded) -> list[str]:
    """Paths of the leaf layers with weights, bottom to top (nested models walked)."""
    from oipviz.core import graph

    return [path for path, ly in graph.leaves(loaded.model) if ly.weights]


def randomized(loaded, names, seed: int = 0):
    """A copy of ``loaded`` whose layers ``names`` (paths) are re-initialized (the others
    keep their trained weights).  Nested models are copied too, so the original is never
    touched; the copy has its own cache, so nothing compiled is shared."""
    from oipviz.core import graph
    from oipviz.core.tfenv import import_keras

    keras = import_keras()
    clone = keras.models.clone_model(loaded.model, recursive=True)
    clone.set_weights(loaded.model.get_weights())
    for k, (path, ly) in enumerate(graph.leaves(clone)):
        if path not in names:
            continue
        for j, v in enumerate(ly.weights):
            init = getattr(ly, f"{v.name}_initializer", None)
            if init is None:
                w = np.random.default_rng([seed, k, j]).normal(0, float(np.std(v.numpy())), v.shape)
            else:
                cfg = init.get_config()
                if "seed" in cfg:
                    cfg["seed"] = seed * 1000 + k * 10 + j
                w = init.__class__.from_config(cfg)(v.shape, dtype="float32")
            v.assign(np.asarray(w, np.float32))
    return replace(loaded, model=clone, cache={})


def signed_variant(m):
    """A copy of a method that keeps the sign (saliency, SmoothGrad), for comparisons."""
    m = copy.copy(m)
    if getattr(m, "absolute", False):
        m.absolute, m.signed = False, True
    return m


def maps_on(loaded, methods: dict, x: np.ndarray, targets: list) -> dict[str, np.ndarray]:
    """Every method's maps on another model (methods are copied: a CAM layer that does
    not exist there falls back to the last conv layer)."""
    out = {}
    for name, m in methods.items():
        m = copy.copy(m)
        if getattr(m, "layer", None) is not None and m.layer not in [i.name for i in loaded.layers]:
            m.layer = None
        out[name] = m(loaded, x, targets).maps
    return out


# ----------------------------------------------------------------------------- checks


def model_randomization(
    loaded,
    x,
    targets: list,
    methods: dict,
    maps: dict | None = None,
    cascade: bool = True,
    seed: int = 0,
    stages=None,
) -> tuple[list, dict]:
    """Cascading randomization rows and, per method, image 0's map at every step."""
    x = as_images(loaded, x)
    maps = maps or {n: m(loaded, x, targets).maps for n, m in methods.items()}
    top_down = weighted_layers(loaded)[::-1]
    steps = range(1, len(top_down) + 1) if cascade else [len(top_down)]
    rows, examples = [], {n: [("trained", maps[n][0])] for n in methods}
    for s in steps:
        if stages:
            stages("randomize", 1, len(steps))
        rnd = randomized(loaded, set(top_down[:s]), seed)
        label = f"→{top_down[s - 1]}" if s < len(top_down) else "all random"
        for name, m in maps_on(rnd, methods, x, targets).items():
            rows.append(
                compare(
                    name, maps[name], m, step=s, randomized=top_down[s - 1], layers=top_down[:s]
                )
            )
            examples[name].append((label, m[0]))
    return rows, examples


def deletion_insertion(
    loaded, x, targets: list, maps: dict, steps: int = 28, seed: int = 0
) -> tuple[list, dict, np.ndarray]:
    """AUC rows, mean curves and the fractions; ``maps`` also gets a random-order row."""
    from scipy.integrate import trapezoid

    from oipviz.core.ascent import evaluate

    x = as_images(loaded, x)
    n, (h, w, c) = len(x), loaded.geometry.shape
    px = h * w
    fr = np.linspace(0.0, 1.0, steps + 1)
    counts = np.round(fr * px).astype(int)
    objective = any(isinstance(t, Objective) for t in targets)
    rng = np.random.default_rng(seed)
    rows, curves = [], {}
    for name, m in {**maps, RANDOM: rng.random((n, h, w))}.items():
        order = np.argsort(-m.reshape(n, px), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(px)[None].repeat(n, 0), axis=1)
        top = (rank[:, None, :] < counts[None, :, None])[..., None]  # (n, S+1, px, 1)
        flat = x.reshape(n, 1, px, c)
        imgs = np.concatenate([np.where(top, 0.0, flat), np.where(top, flat, 0.0)], axis=1)
        imgs = imgs.reshape(-1, h, w, c).astype(np.float32)
        if objective:
            objs = [t for t in targets for _ in range(2 * (steps + 1))]
            vals = evaluate(loaded, loaded.convention.to_engine(imgs), objs)
        else:
            p = predict_probs(loaded, imgs)
            vals = p[np.arange(len(p)), np.repeat(np.asarray(targets, int), 2 * (steps + 1))]
        vals = vals.reshape(n, 2, steps + 1)
        auc = trapezoid(vals, fr, axis=2)  # (n, 2)
        curves[name] = {"deletion": vals[:, 0].mean(0), "insertion": vals[:, 1].mean(0)}
        rows.append(
            {
                "method": name,
                "deletion_auc": float(auc[:, 0].mean()),
                "insertion_auc": float(auc[:, 1].mean()),
            }
        )
    return rows, curves, fr


def sanity(
    loaded,
    x,
    targets: list,
    methods: dict,
    maps: dict | None = None,
    seed: int = 0,
    reference=None,
    cascade: bool = True,
    steps: int = 28,
    threshold: float = THRESHOLD,
    progress=None,
) -> SanityResult:
    """All three checks for ``methods`` (name -> Method) on images ``x`` and ``targets``
    (class indices or objectives; the same targets are used on every model).  ``reference``:
    the model of the random-weight comparison (e.g.
    :func:`oipviz.models.random.random_features_model`); None skips that comparison."""
    from oipviz.core.progress import Stages

    stages = Stages(progress)
    x = as_images(loaded, x)
    maps = maps or {n: m(loaded, x, targets).maps for n, m in methods.items()}
    signed = {n: signed_variant(m) for n, m in methods.items()}
    base = {
        n: m(loaded, x, targets).maps if getattr(methods[n], "absolute", False) else maps[n]
        for n, m in signed.items()
    }
    rows, examples = model_randomization(loaded, x, targets, signed, base, cascade, seed, stages)
    ref_rows, note = [], "skipped: no reference model given"
    if reference is not None and any(isinstance(t, Objective) for t in targets):
        note = "skipped: the targets are objectives of this model, not classes"
    elif reference is not None:
        note = (reference.card or {}).get("note") or reference.name
        for name, m in maps_on(reference, signed, x, targets).items():
            ref_rows.append(compare(name, base[name], m))
            examples[name].append(("random features", m[0]))
    faith, curves, fr = deletion_insertion(loaded, x, targets, maps, steps, seed)
    stages.close()
    return SanityResult(rows, ref_rows, note, faith, curves, fr, examples, threshold)
