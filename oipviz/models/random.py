"""The zoo's ``random_features`` model as a comparison (the random-weight-features article):
frozen random conv layers, seeded; only its Dense head trained briefly.  The sanity checks
of attribution and the feature-space comparisons get it from here, as a parameter."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oipviz.core.loader import LoadedModel

RANDOM_FEATURES = "random_features"
HEAD_EPOCHS = 2


def random_features_model(
    seed: int = 0, epochs: int = HEAD_EPOCHS, data: str | Path | None = None,
    dataset: str = "mnist", split_seed: int = 0,
) -> LoadedModel:  # fmt: skip
    """The zoo's ``random_features`` net: conv weights drawn with ``seed`` and frozen, the
    Dense head trained for ``epochs`` on the training digits (no augmentation).

    Parameters
    ----------
    seed, epochs : int
        Seed of the random weights (and the training); epochs of the head.
    data, dataset, split_seed :
        Where the digits come from (:func:`oipviz.load_dataset`; no download).

    Returns
    -------
    LoadedModel
        In memory (no file); its card says how it was made (``card["note"]``).
    """
    from oipviz.core.loader import wrap_model
    from oipviz.data.sources import load_dataset
    from oipviz.models.train import train

    ds = load_dataset(dataset, path=data, seed=split_seed, allow_download=False)
    model, card, confusion = train(RANDOM_FEATURES, dataset, ds, epochs, seed, augment_data=False)
    card["note"] = (
        f"{RANDOM_FEATURES}: conv layers random (Glorot uniform, seed {seed}) and frozen; "
        f"only the Dense head trained, {epochs} epoch(s) on {card['data_source']} (held-out "
        f"accuracy {card['heldout_accuracy']:.1%})"
    )
    return wrap_model(model, name=f"{RANDOM_FEATURES}.keras", card=card)


def compare_model(
    spec: LoadedModel | str | Path,
    seed: int = 0,
    data: str | Path | None = None,
    dataset: str = "mnist",
    split_seed: int = 0,
) -> LoadedModel:
    """The second model of a comparison: a LoadedModel, a model path, or
    ``random_features`` (built by :func:`random_features_model`)."""
    from oipviz.core.loader import LoadedModel, load_model

    if isinstance(spec, LoadedModel):
        return spec
    if str(spec) == RANDOM_FEATURES:
        return random_features_model(seed, data=data, dataset=dataset, split_seed=split_seed)
    return load_model(spec)
