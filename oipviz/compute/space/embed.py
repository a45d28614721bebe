"""``oipviz.embed``: a 2-D map of the digits as a layer sees them, coloured by class,
with the kNN class-agreement score; optionally beside a second model (by default the
zoo's random-weight net) and raw pixels.  Compute only: a result, no files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np

from oipviz.compute.space import project
from oipviz.compute.space.inputs import (
    PIXELS,
    Digits,
    check_mode,
    describe,
    feature_layer,
    layer_features,
    sample_digits,
)
from oipviz.core import checks
from oipviz.core.progress import Stages

TSNE_ITERS = project.TSNE_ITERS  # openTSNE: 125 exaggerated + 250 normal iterations


@dataclass
class Panel:
    """One embedding: whose features, the 2-D coordinates and the scores."""

    model: str | None  # model file name (None for pixels)
    layer: str
    features: str  # how the vectors were made, in words
    dims: int
    coords: np.ndarray  # (N,2) float32
    pred: np.ndarray | None  # (N,) the model's predicted classes
    agreement_2d: float  # kNN class agreement in the embedding
    agreement_nd: float  # ... in the original feature space
    notes: list[str] = field(default_factory=list)
    vectors: np.ndarray | None = field(default=None, repr=False)  # (N,dims) the features

    @property
    def title(self) -> str:
        return f"{self.model}: {self.layer}" if self.model else self.layer

    @property
    def tag(self) -> str:
        """A file-name-safe name of the panel."""
        raw = f"{self.model.rsplit('.', 1)[0]}_{self.layer}" if self.model else self.layer
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in raw)

    def accuracy(self, labels: np.ndarray) -> float | None:
        return None if self.pred is None else float((self.pred == labels).mean())

    def scores(self, labels: np.ndarray) -> dict:
        return {
            "panel": self.title,
            "model": self.model,
            "layer": self.layer,
            "features": self.features,
            "dims": self.dims,
            "knn_agreement_2d": self.agreement_2d,
            "knn_agreement_features": self.agreement_nd,
            "accuracy": self.accuracy(labels),
            "misclassified": None if self.pred is None else int((self.pred != labels).sum()),
        }


class EmbedOptions(TypedDict, total=False):
    """The keyword options of :func:`embed` that :func:`oipviz.embed` passes through."""

    samples: int
    method: str
    mode: str
    perplexity: float
    k: int
    compare_layer: str | None
    n_jobs: int | None


class _PanelOptions(TypedDict):
    method: str
    mode: str
    seed: int
    perplexity: float
    k: int
    n_jobs: int | None
    progress: Stages


@dataclass
class EmbedResult:
    """Embeddings of the same N digits, one panel per model/layer."""

    panels: list[Panel]
    digits: Digits
    method: str
    mode: str
    seed: int
    k: int
    perplexity: float
    notes: list[str] = field(default_factory=list)
    built: object = None  # a model built for this run (random_features), to keep a copy of

    @property
    def coords(self) -> np.ndarray:
        """The first panel's coordinates (N,2)."""
        return self.panels[0].coords

    @property
    def labels(self) -> np.ndarray:
        return self.digits.labels

    def summary(self) -> list[dict]:
        """The numbers of every panel (kNN agreement in 2-D and in feature space, ...)."""
        return [p.scores(self.labels) for p in self.panels]

    def figure(self):
        """The scatter plot(s) as a PIL image."""
        from oipviz.render.plots import scatter

        return scatter(self)

    def _repr_html_(self) -> str:
        from oipviz.render.notebook import card

        facts = {
            "digits": f"{len(self.digits)} ({self.digits.source})",
            "method": self.method,
            "k": self.k,
        }
        for p in self.panels:
            facts[p.title] = (
                f"kNN agreement {p.agreement_2d:.3f} (2-D), {p.agreement_nd:.3f} ({p.dims}-D)"
            )
        return card(f"Embedding ({self.method})", facts, self.figure())


def panel(
    loaded,
    layer: str,
    digits: Digits,
    method: str = "tsne",
    mode: str = "pool",
    seed: int = 0,
    perplexity: float = 30.0,
    k: int = project.K_NEIGHBOURS,
    n_jobs: int | None = None,
    progress: Stages | None = None,
) -> Panel:
    """Embed the digits as ``layer`` of ``loaded`` sees them (``pixels``: raw pixels, with
    the model's predictions; ``loaded=None``: raw pixels, no predictions)."""
    name = feature_layer(loaded, layer)
    model = None if name == PIXELS else loaded.name
    title = f"{model}: {name}" if model else name
    stages = progress or Stages(False)
    stages(f"features {title}", 0, 1)
    feats, pred = layer_features(loaded, name, digits.x01, mode)
    stages(f"features {title}", 1, 1)
    total = TSNE_ITERS if method == "tsne" else 1
    coords, notes = project.embed_2d(
        feats, method, seed, perplexity, n_jobs, on_iter=stages.tick(f"{method} {title}", total)
    )
    if method != "tsne":
        stages(f"{method} {title}", 1, 1)
    return Panel(
        model,
        name,
        describe(loaded, name, mode),
        feats.shape[1],
        coords,
        pred,
        project.knn_agreement(coords, digits.labels, k),
        project.knn_agreement(feats, digits.labels, k),
        notes,
        feats,
    )


def embed(
    layer: str = "dense1",
    model=None,
    *,
    samples: int = 2000,
    method: str = "tsne",
    mode: str = "pool",
    seed: int = 0,
    perplexity: float = 30.0,
    k: int = project.K_NEIGHBOURS,
    compare=None,
    compare_layer: str | None = None,
    data=None,
    dataset: str | None = None,
    n_jobs: int | None = None,
    progress=None,
) -> EmbedResult:
    """Embed ``samples`` real digits as ``layer`` of ``model`` sees them.

    ``layer``: any layer (conv outputs pooled over space or flattened, ``mode``) or
    ``pixels``.  ``method``: ``tsne`` (openTSNE), ``pca`` or ``umap`` (extra).  The kNN
    class agreement (``k`` neighbours) is measured in 2-D and in the feature space.
    ``compare``: a second model (path or LoadedModel; :func:`oipviz.embed` also takes
    ``"random_features"``, the zoo's random-weight net); its panel uses the layer of the
    same name, else the input of its last layer (or ``compare_layer``), and a raw-pixels
    panel is added.  ``progress``: callable(stage, n, total), False or None.
    """
    from oipviz.core.loader import as_loaded

    project.check_method(method)
    check_mode(mode)
    seed = checks.seed(seed)
    samples = checks.integer("samples", samples, 2)
    project.check_sizes(samples, method, perplexity, k)
    loaded = as_loaded(model)
    feature_layer(loaded, layer)  # an unknown layer fails before anything is computed
    split_seed = int((loaded.card or {}).get("seed", 0))
    digits = sample_digits(samples, data, dataset, split_seed, loaded)
    project.check_sizes(len(digits), method, perplexity, k)
    stages = Stages(progress)
    opts = _PanelOptions(
        method=method, mode=mode, seed=seed, perplexity=perplexity, k=k, n_jobs=n_jobs,
        progress=stages,
    )  # fmt: skip
    notes: list[str] = []
    if len(digits) < samples:
        notes.append(f"only {len(digits)} digits available in {digits.source}")
    try:
        panels = [panel(loaded, layer, digits, **opts)]
        if compare is not None:
            from oipviz.compute.space.compare import matching_layer

            other = as_loaded(compare)
            other_layer = matching_layer(other, panels[0].layer, compare_layer)
            panels.append(panel(other, other_layer, digits, **opts))
            if panels[0].layer != PIXELS:
                panels.append(panel(None, PIXELS, digits, **opts))
    finally:
        stages.close()
    return EmbedResult(panels, digits, method, mode, seed, k, perplexity, notes, None)
