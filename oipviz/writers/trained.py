"""Write a trained model: the model file (.keras or .h5), its card (strict JSON) and its
confusion matrix (``NAME.confusion.png``), all three or none."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from oipviz.core.errors import OipvizError
from oipviz.core.loader import card_path
from oipviz.core.outputs import check_file_target, dumps, save_image, write_text


def output_paths(out: str | Path) -> list[Path]:
    """The model file ``out`` (.keras or .h5), its card and ``NAME.confusion.png``."""
    out = Path(out)
    if out.suffix not in (".keras", ".h5"):
        raise OipvizError(f"--out must end in .keras or .h5, not {out.name!r}")
    return [out, card_path(out), out.with_name(out.name.rsplit(".", 1)[0] + ".confusion.png")]


def check_outputs(out: str | Path, force: bool) -> list[Path]:
    """Refuse, before any training, outputs that exist (without ``force``) or cannot be
    written; returns :func:`output_paths`."""
    paths = output_paths(out)
    for p in paths:
        check_file_target(p, force)
    return paths


def save_trained(
    model, card: dict, confusion: np.ndarray, out: str | Path, force: bool = False
) -> list[Path]:
    """Write ``out``, its card and its confusion matrix: each to a temporary name beside its
    target, renamed into place only when all three are done.

    Parameters
    ----------
    model : keras.Model
        The trained model.
    card : dict
        Its card (:func:`oipviz.models.train.train`'s); the file names are added.
    confusion : ndarray
        True × predicted counts.
    out : str or Path
        The model file (.keras or .h5).
    force : bool
        Replace existing files.

    Returns
    -------
    list of Path
        The model file, the card and the confusion PNG.
    """
    from oipviz.render.plots import confusion_picture

    paths = check_outputs(out, force)
    out, _, png = paths
    temps = [p.with_name(f".{p.stem}.tmp{p.suffix}") for p in paths]
    card = dict(card, model_file=out.name, confusion_png=png.name)
    title = f"{card['architecture']} on {card['dataset']}: {card['heldout_accuracy']:.1%} held-out"
    try:
        text = dumps(card) + "\n"  # strict: a NaN would be null, never "NaN"
        model.save(temps[0])
        write_text(temps[1], text)
        save_image(temps[2], confusion_picture(confusion, title, card.get("class_names")))
        for t, p in zip(temps, paths, strict=True):
            os.replace(t, p)
    except BaseException:
        for t in temps:
            t.unlink(missing_ok=True)
        raise
    return paths


def write_built_model(folder: Path, loaded) -> list[str]:
    """A model a run built in memory (e.g. the ``random_features`` comparison), kept beside
    the run's other files: ``NAME.keras`` and its card.

    Parameters
    ----------
    folder : Path
        The run's (working) folder.
    loaded : LoadedModel
        The built model; its name ends in ``.keras``.

    Returns
    -------
    list of str
        The names of the files written.
    """
    model_file = folder / Path(loaded.name).name
    loaded.model.save(model_file)
    card = card_path(model_file)
    write_text(card, dumps(dict(loaded.card or {}, model_file=model_file.name)) + "\n")
    return [model_file.name, card.name]
