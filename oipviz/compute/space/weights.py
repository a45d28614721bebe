"""``oipviz.weights``: a layer's weights as pictures.  A Dense layer on the 784 pixels
gives one 28×28 template per unit (per class for a linear model); a conv layer gives
its kernels.  Beside them, the per-class mean images of real digits.  Compute only."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from oipviz.compute.space.inputs import sample_digits
from oipviz.core.errors import LayerError
from oipviz.core.layers import keras_layer

PASS_THROUGH = ("InputLayer", "Flatten", "Reshape", "Rescaling", "Dropout", "Normalization")


@dataclass
class WeightsResult:
    """Weight pictures of one layer and the class means of real digits."""

    model: str
    layer: str
    kind: str  # "templates" (Dense on pixels) or "kernels" (conv)
    images: np.ndarray  # templates (U,28,28); kernels (out,in,kh,kw)
    labels: list[str]  # one per template / output map
    per_class: bool  # the templates are the classes (the layer is the output)
    class_means: np.ndarray  # (classes, H, W[, C]) mean image per class, pixels in [0,1]
    class_counts: np.ndarray  # (classes,)
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def vmax(self) -> float:
        """The symmetric colour range ±vmax shared by all pictures of the layer."""
        return float(np.abs(self.images).max()) or 1.0

    def correlation(self) -> np.ndarray | None:
        """Pearson correlation of each class template with each class mean image
        (classes × classes), for per-class templates; else None."""
        if not self.per_class or self.kind != "templates":
            return None
        t = self.images.reshape(len(self.images), -1).astype(np.float64)
        m = self.class_means.reshape(len(self.class_means), -1).astype(np.float64)
        t = (t - t.mean(1, keepdims=True)) / (t.std(1, keepdims=True) + 1e-12)
        m = (m - m.mean(1, keepdims=True)) / (m.std(1, keepdims=True) + 1e-12)
        return t @ m.T / t.shape[1]

    def summary(self) -> dict:
        out = {
            "model": self.model,
            "layer": self.layer,
            "kind": self.kind,
            "pictures": int(np.prod(self.images.shape[:-2])),
            "per_class": self.per_class,
            "range": self.vmax,
        }
        c = self.correlation()
        if c is not None:
            out["template_vs_class_mean_correlation"] = [float(v) for v in np.diag(c)]
            out["template_matches_own_class_mean"] = int((c.argmax(1) == np.arange(len(c))).sum())
        return out

    def sheet(self):
        """The templates or kernels (diverging colours, 0 = white, one range ±vmax)."""
        from oipviz.render.images import contact_sheet

        imgs = 0.5 + 0.5 * self.images / self.vmax
        what = "class templates" if self.per_class else self.kind
        title = f"{self.layer}: {what}, blue < 0 < red, range ±{self.vmax:.3g}"
        if self.kind == "templates" or imgs.shape[1] == 1:
            flat = imgs.reshape(-1, *imgs.shape[-2:])
            return contact_sheet(
                list(flat),
                self.labels,
                cmap="RdBu_r",
                cols=min(16, max(5, int(np.ceil(np.sqrt(len(flat)))))),
                cell=72 if len(flat) <= 64 else 48,
                title=title,
            )
        return kernel_matrix(imgs, title)

    def means_sheet(self):
        from oipviz.render.images import contact_sheet, normalize

        return contact_sheet(
            [normalize(m) for m in self.class_means],
            [f"{d} (n={n})" for d, n in enumerate(self.class_counts)],
            cmap="gray",
            cols=10,
            cell=72,
            title="mean image per class",
        )

    def _repr_html_(self) -> str:
        from oipviz.render.notebook import card

        s = self.summary()
        facts = {"model": self.model, "layer": self.layer, "pictures": s["pictures"]}
        if "template_vs_class_mean_correlation" in s:
            facts["template ~ class mean (r)"] = " ".join(
                f"{v:.2f}" for v in s["template_vs_class_mean_correlation"]
            )
        return card(f"Weights of {self.layer}", facts, self.sheet())


def kernel_matrix(imgs01: np.ndarray, title: str, scale: int = 6):
    """(out,in,kh,kw) in [0,1] as one image: a row per output map, a column per input."""
    from PIL import Image, ImageDraw

    from oipviz.render.images import colorize, font

    o, i, kh, kw = imgs01.shape
    cw, ch = kw * scale + 2, kh * scale + 2
    top, left = 22, 30
    out = Image.new("RGB", (left + i * cw + 2, top + o * ch + 2), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    draw.text(
        (4, 4),
        f"{title} (rows: output maps, columns: input channels)",
        fill=(0, 0, 0),
        font=font(12),
    )
    for r in range(o):
        if r % 8 == 0:
            draw.text((2, top + r * ch), str(r), fill=(0, 0, 0), font=font(9))
        for c in range(i):
            rgb = colorize(imgs01[r, c], "RdBu_r").repeat(scale, 0).repeat(scale, 1)
            out.paste(Image.fromarray(rgb, "RGB"), (left + c * cw, top + r * ch))
    return out


def default_layer(loaded) -> str:
    """The first layer with weights (conv or Dense)."""
    for info in loaded.layers:
        if info.units is not None:
            return info.name
    raise LayerError(f"{loaded.name} has no conv or Dense layer")


def _sees_pixels(loaded, name: str) -> bool:
    for layer in loaded.model.layers:
        if layer.name == name:
            return True
        if layer.__class__.__name__ not in PASS_THROUGH:
            return False
    return False


def layer_pictures(loaded, layer: str) -> tuple[str, np.ndarray, list[str], bool]:
    """(kind, pictures, labels, per_class) of a conv layer or a Dense layer on the pixels."""
    info = loaded.unit_layer(layer)
    kernel = np.asarray(keras_layer(loaded.model, info.name).get_weights()[0], np.float32)
    last = info.name == loaded.layers[-1].name
    if info.type == "Dense":
        g = loaded.geometry
        pixels = g.height * g.width * g.channels
        if kernel.shape[0] != pixels or not _sees_pixels(loaded, info.name):
            raise LayerError(
                f"{info.name} takes {kernel.shape[0]} inputs from the layers before "
                f"it, not the {pixels} pixels, so its weights are not {g.describe()} "
                "pictures; choose a conv layer or a Dense layer on the flat image"
            )
        imgs = kernel.T.reshape(-1, *g.shape)
        imgs = imgs[..., 0] if g.channels == 1 else imgs
        labels = [f"class {u}" if last else str(u) for u in range(len(imgs))]
        return "templates", imgs, labels, last and len(imgs) == loaded.classes
    if kernel.ndim != 4:
        raise LayerError(f"{info.name} ({info.type}) has no 2-D kernels to show")
    imgs = np.transpose(kernel, (3, 2, 0, 1))  # (kh,kw,in,out) → (out,in,kh,kw)
    return "kernels", imgs, [str(u) for u in range(len(imgs))], False


def class_means(x01: np.ndarray, labels: np.ndarray, n_classes: int = 10):
    """(n_classes, H, W[, C]) mean image per class and the class counts."""
    x = np.asarray(x01, np.float64).reshape(len(x01), -1)
    counts = np.bincount(labels, minlength=n_classes)[:n_classes]
    sums = np.zeros((n_classes, x.shape[1]))
    np.add.at(sums, labels, x)
    means = (sums / np.maximum(counts, 1)[:, None]).reshape(-1, *np.shape(x01)[1:])
    return means.astype(np.float32), counts


def weights(
    layer: str | None = None,
    model=None,
    *,
    samples: int = 70_000,
    data=None,
    dataset: str | None = None,
) -> WeightsResult:
    """The weights of ``layer`` (default: the first conv or Dense layer) as pictures,
    and the mean image per class of up to ``samples`` real digits.

    Parameters
    ----------
    layer : str, optional
        A conv layer (its kernels) or a Dense layer on the pixels (one template per unit;
        per class for a softmax regression).
    model : str, Path, LoadedModel or None
        The model (None: the bundled seed CNN).
    samples : int
        Real digits averaged into the class means.
    data : str or Path, optional
        An ``.npz`` or IDX folder of digits (default: the first data source that works).
    dataset : str
        ``mnist`` or ``fashion_mnist``.

    Returns
    -------
    WeightsResult
        ``kind`` ("kernels" or "templates"), the weight pictures and the class means.
    """
    from oipviz.core.loader import as_loaded

    loaded = as_loaded(model)
    name = loaded.unit_layer(layer).name if layer else default_layer(loaded)
    kind, imgs, labels, per_class = layer_pictures(loaded, name)
    split_seed = int((loaded.card or {}).get("seed", 0))
    digits = sample_digits(samples, data, dataset, split_seed, loaded)
    means, counts = class_means(digits.x01, digits.labels, loaded.classes)
    return WeightsResult(
        loaded.name, name, kind, imgs, labels, per_class, means, counts, digits.source
    )
