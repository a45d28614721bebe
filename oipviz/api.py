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
    """Attribution maps of ``methods`` for ``images``.

    With ``sanity=True`` and no ``reference`` model, the random-weight comparison uses the
    zoo's ``random_features`` net, its head trained for 1 epoch on ``data`` (default: the
    offline digits).

    Parameters
    ----------
    images : array, path or list of paths
        Pixels in [0, 1] (uint8 0–255 is scaled) shaped like the model's images, (N, H, W)
        or (N, H, W, C); or image files (made into model inputs: MNIST-style for digit
        models, resized for colour models).
    methods : str or list of str
        ``"all"`` (every method that applies to the model), ``"saliency,ig"`` or a list:
        ``saliency``, ``gradinput``, ``smoothgrad``, ``ig``, ``gradcam``, ``gradcampp``,
        ``occlusion``, or a registered method's name.
    target : str, int, Objective or list
        ``"predicted"``, ``"true"`` (needs ``labels``), a class index, an
        :class:`~oipviz.core.objectives.Objective`, or one of these per image.
    model : str, Path, LoadedModel or None
        The model (None: the bundled seed CNN).
    labels : array of int, optional
        The true classes (for ``target="true"`` and the pictures).
    sanity : bool
        Add the sanity checks: cascading model randomization, the comparison with a
        random-weight model (``reference``) and deletion/insertion curves.
    reference : str, Path, LoadedModel or None
        The random-weight model of the sanity checks (default: built as described above).
    data : str or Path, optional
        Training data of the default ``reference``'s head (``.npz`` or IDX folder).
    seed : int
        Seeds SmoothGrad's noise, the randomization and the reference model.
    **kw :
        Passed to :func:`oipviz.compute.attribution.explain.explain`: ``chunk``,
        ``progress``, ``precision`` and the methods' settings (``samples``, ``noise``,
        ``ig_steps``, ``baseline``, ``layer`` for Grad-CAM, ``patch``, ``stride``...).

    Returns
    -------
    ExplainResult
        ``maps[method]`` (N, H, W), probabilities, targets, and ``sanity`` when asked.
    """
    if sanity and reference is None:
        reference = random_features_model(seed, epochs=1, data=data, split_seed=seed)
    return _explain.explain(
        images, methods, target, model, labels, sanity=sanity, reference=reference, seed=seed, **kw
    )


def embed(layer: str = "dense1", model: ModelLike = None, *, compare: ModelLike = None,
          seed: int = 0, data: str | Path | None = None, dataset: str | None = None,
          progress: StageProgress = None, **kw: Unpack[EmbedOptions]) -> EmbedResult:  # fmt: skip
    """Embed real digits as ``layer`` sees them, in 2-D, with the kNN class agreement.

    ``compare`` may also be ``"random_features"``: the zoo's random-weight net, seeded with
    ``seed``, its head trained for 2 epochs here (the result keeps it, ``res.built``).

    Parameters
    ----------
    layer : str
        Any layer (conv outputs pooled over space or flattened, ``mode``) or ``"pixels"``.
    model : str, Path, LoadedModel or None
        The model (None: the bundled seed CNN).
    compare : str, Path, LoadedModel or None
        A second model embedded beside it (its layer of the same name, else the input of
        its last layer, or ``compare_layer``), with a raw-pixels panel added.
    seed : int
        Seeds the digits' sample, the embedding and the ``random_features`` net.
    data : str or Path, optional
        An ``.npz`` or IDX folder of digits (default: the first data source that works).
    dataset : str
        ``mnist`` or ``fashion_mnist``.
    progress : callable, False or None
        ``progress(stage, n, total)``, False for silence, None for progress bars.
    **kw :
        :class:`~oipviz.compute.space.embed.EmbedOptions`: ``samples`` (default 2,000),
        ``method`` (``tsne``, ``pca`` or ``umap``), ``mode`` (``pool`` or ``flat``),
        ``perplexity``, ``k`` (neighbours of the agreement), ``compare_layer``,
        ``n_jobs``.

    Returns
    -------
    EmbedResult
        One panel per model/layer (coordinates, agreement in 2-D and in feature space).
    """
    from oipviz.core.loader import as_loaded

    other: LoadedModel | None = None
    fresh = str(compare) == RANDOM_FEATURES
    if compare is not None:
        if fresh and callable(progress):
            progress(f"training the {RANDOM_FEATURES} head", 0, 1)
        split_seed = int((as_loaded(model).card or {}).get("seed", 0))
        other = compare_model(compare, seed, data, dataset or "mnist", split_seed)
    res = _embed.embed(layer, model, compare=other, seed=seed, data=data, dataset=dataset,
                       progress=progress, **kw)  # fmt: skip
    if fresh:
        # the random_features net was built above, and its card saved with its file
        assert other is not None and other.card is not None
        res.notes.append(other.card["note"])
        res.built = other
    return res
