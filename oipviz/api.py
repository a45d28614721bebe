"""The public Python API: plain functions over the compute layer.

``oipviz.oip``, ``oipviz.precursor``, ``oipviz.rescue``, ``oipviz.dream``,
``oipviz.explain``, ``oipviz.embed``... are these functions (the package binds them on
first use); their modules live in :mod:`oipviz.compute`, so ``import oipviz.compute.oip``
and ``oipviz.oip(...)`` never collide.  Where a function needs a model from the zoo (the
sanity checks' and comparisons' random-weight net), it is built here and handed down.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from numpy.typing import ArrayLike

from oipviz.compute.attribution import explain as _explain
from oipviz.compute.attribution.explain import ExplainResult
from oipviz.compute.dream import dream
from oipviz.compute.oip import oip
from oipviz.compute.precursor import precursor
from oipviz.compute.predict import predict
from oipviz.compute.rescue import rescue
from oipviz.compute.space import embed as _embed
from oipviz.compute.space.clusters import clusters
from oipviz.compute.space.embed import EmbedOptions, EmbedResult
from oipviz.compute.space.weights import weights
from oipviz.core.ascent import ascend
from oipviz.core.errors import OipvizError
from oipviz.core.loader import LoadedModel, load_model
from oipviz.core.objectives import Objective
from oipviz.core.progress import StageProgress
from oipviz.data.sources import load_dataset
from oipviz.models.random import RANDOM_FEATURES, compare_model, random_features_model

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["load_model", "load_dataset", "ascend", "oip", "precursor", "rescue", "dream",
           "explain", "predict", "embed", "clusters", "weights", "OipvizError"]  # fmt: skip

#: a model: loaded, a model file, or None (the bundled one)
ModelLike = LoadedModel | str | Path | None
#: images: pixel arrays (see :mod:`oipviz.core.pixels`), or image files
Images = ArrayLike | str | Path | Sequence[str | Path]
#: what to explain: predicted, true, a class, an objective, or one per image
Target = str | int | Objective | Sequence[int | Objective]


def explain(images: Images, methods: str | Sequence[str] = "all", target: Target = "predicted",
            model: ModelLike = None, labels: ArrayLike | None = None, *, sanity: bool = False,
            reference: ModelLike = None, data: str | Path | None = None, seed: int = 0,
            **kw: Any) -> ExplainResult:  # fmt: skip
    """Attribution maps of ``methods`` for ``images`` (see
    :func:`oipviz.compute.attribution.explain.explain` for every parameter).

    With ``sanity=True`` and no ``reference`` model, the random-weight comparison uses the
    zoo's ``random_features`` net, its head trained for 1 epoch on ``data`` (default: the
    offline digits).

    Returns
    -------
    ExplainResult
    """
    if sanity and reference is None:
        reference = random_features_model(seed, epochs=1, data=data, split_seed=seed)
    return _explain.explain(
        images, methods, target, model, labels, sanity=sanity, reference=reference, seed=seed, **kw
    )


def embed(layer: str = "dense1", model: ModelLike = None, *, compare: ModelLike = None,
          seed: int = 0, data: str | Path | None = None, dataset: str = "mnist",
          progress: StageProgress = None, **kw: Unpack[EmbedOptions]) -> EmbedResult:  # fmt: skip
    """Embed real digits as ``layer`` sees them (see
    :func:`oipviz.compute.space.embed.embed` for every parameter).

    ``compare`` may also be ``"random_features"``: the zoo's random-weight net, seeded with
    ``seed``, its head trained for 2 epochs here (the result keeps it, ``res.built``).

    Returns
    -------
    EmbedResult
    """
    from oipviz.core.loader import as_loaded

    other: LoadedModel | None = None
    fresh = str(compare) == RANDOM_FEATURES
    if compare is not None:
        if fresh and callable(progress):
            progress(f"training the {RANDOM_FEATURES} head", 0, 1)
        split_seed = int((as_loaded(model).card or {}).get("seed", 0))
        other = compare_model(compare, seed, data, dataset, split_seed)
    res = _embed.embed(layer, model, compare=other, seed=seed, data=data, dataset=dataset,
                       progress=progress, **kw)  # fmt: skip
    if fresh:
        # the random_features net was built above, and its card saved with its file
        assert other is not None and other.card is not None
        res.notes.append(other.card["note"])
        res.built = other
    return res
