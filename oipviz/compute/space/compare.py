"""The second model of a comparison: any model, or the zoo's ``random_features``
(frozen random conv layers, seeded; only its Dense head trained briefly), as in the
random-weight-features article."""

from __future__ import annotations

import tempfile
from pathlib import Path

from oipviz.core.errors import LayerError

RANDOM_FEATURES = "random_features"
HEAD_EPOCHS = 2


def random_features_model(
    seed: int = 0, epochs: int = HEAD_EPOCHS, data=None, dataset: str = "mnist", split_seed: int = 0
):
    """The zoo's ``random_features`` net: conv weights drawn with ``seed`` and frozen,
    the Dense head trained for ``epochs`` on the training digits (no augmentation).

    Returns a LoadedModel.  Its file lives in a temporary folder that lasts as long as
    the returned object (``loaded.cache["tempdir"]``); callers may copy it.
    """
    from oipviz.core.loader import load_model
    from oipviz.data.sources import load_dataset
    from oipviz.models.train import save_trained, train

    ds = load_dataset(dataset, path=data, seed=split_seed, allow_download=False)
    model, card, confusion = train(RANDOM_FEATURES, dataset, ds, epochs, seed, augment_data=False)
    card["note"] = (
        f"conv layers random (Glorot uniform, seed {seed}) and frozen; only the "
        f"Dense head trained, {epochs} epoch(s)"
    )
    tmp = tempfile.TemporaryDirectory(prefix="oipviz-random-features-")
    path = Path(tmp.name) / f"{RANDOM_FEATURES}.keras"
    save_trained(model, card, confusion, path)
    loaded = load_model(path)
    loaded.cache["tempdir"] = tmp
    return loaded


def compare_model(spec, seed: int = 0, data=None, dataset: str = "mnist", split_seed: int = 0):
    """``spec``: a LoadedModel, a model path, or ``random_features`` (built as above)."""
    from oipviz.core.loader import LoadedModel, load_model

    if isinstance(spec, LoadedModel):
        return spec
    if str(spec) == RANDOM_FEATURES:
        return random_features_model(seed, data=data, dataset=dataset, split_seed=split_seed)
    return load_model(spec)


def matching_layer(loaded, layer: str, override: str | None = None) -> str:
    """The layer of the second model to compare with ``layer``: ``override``, else the
    layer of the same name, else (also for ``pixels``) the features its classifier sees:
    the output of the layer before its last."""
    if override:
        return loaded.layer(override).name
    try:
        return loaded.layer(layer).name
    except LayerError:
        pass
    names = [i.name for i in loaded.layers]
    if len(names) < 2:
        raise LayerError(
            f"{loaded.name} has no layer {layer!r} and no layer before its output; "
            "give --compare-layer"
        )
    return names[-2]
