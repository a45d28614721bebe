"""Train a zoo architecture: the model, its card and its confusion matrix
(:mod:`oipviz.writers.trained` writes them).

Grey sets (MNIST, Fashion-MNIST: N×28×28) and colour sets (the generated ``shapes``:
N×32×32×3) take the same path; the architecture is built for the data's image shape and
class count, and the card records them (``input_shape``, ``class_names``).

The data are validated (:func:`oipviz.data.sources.validate_arrays`) before TensorFlow is
imported; the card is strict JSON and is written only for a model whose weights and
figures are all finite.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from oipviz.core import checks
from oipviz.core.errors import DataError, OipvizError
from oipviz.core.versions import package_versions
from oipviz.data.sources import Dataset, load_dataset
from oipviz.models import ARCH_NAMES

MAX_EPOCHS = 1000
MAX_BATCH = 4096


def augment(
    x: np.ndarray, rng: np.random.Generator, max_shift: float = 2.0, max_rot: float = 10.0
) -> np.ndarray:
    """Small random shifts and rotations (OpenCV affine warps) of uint8 images."""
    import cv2

    h, w = x.shape[1:3]
    centre = ((w - 1) / 2, (h - 1) / 2)  # (13.5, 13.5) on 28×28, as before
    out = np.empty_like(x)
    for i, img in enumerate(x):
        m = np.asarray(
            cv2.getRotationMatrix2D(centre, rng.uniform(-max_rot, max_rot), 1.0), np.float64
        )
        m[:, 2] += rng.uniform(-max_shift, max_shift, size=2)
        out[i] = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    return out


def flip_turn(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each (square) image mirrored and/or turned by a multiple of 90°, at random: the 8
    symmetries of the square, which keep a shape whole, inside the image and in its class."""
    k = rng.integers(0, 8, len(x))
    out = np.empty_like(x)
    for g in range(8):
        idx = np.flatnonzero(k == g)
        turned = np.rot90(x[idx], g % 4, axes=(1, 2))
        out[idx] = turned[:, :, ::-1] if g >= 4 else turned
    return out


#: per data set: the augmentation, how the card describes it, the input convention and
#: the default number of epochs (others: shifts/rotations, standardize, 30)
AUGMENTATIONS = {
    "default": (augment, "random shifts ±2 px, rotations ±10°"),
    "shapes": (flip_turn, "random flips and quarter turns"),
}
INPUT_KIND = {"shapes": "unit"}
DEFAULT_EPOCHS = {"shapes": 8}


def default_epochs(dataset: str) -> int:
    """The number of epochs ``oipviz train`` uses for ``dataset`` unless told."""
    return DEFAULT_EPOCHS.get(dataset.replace("-", "_").lower(), 30)


def pixel_stats(ds: Dataset) -> tuple[float, float]:
    """Mean and std of the training pixels in [0, 1] (the model's standardisation); a
    one-line error if they cannot standardise (all pixels equal)."""
    x01 = ds.x_train.astype(np.float32) / 255.0
    mean, std = float(x01.mean()), float(x01.std())
    if not std > 0:
        where = ds.source.removeprefix("path:")
        raise DataError(
            f"{where}: every x_train pixel is {int(ds.x_train.flat[0])}; "
            "blank images cannot be learned from"
        )
    return mean, std


def input_convention(ds: Dataset) -> dict:
    """The card's ``preprocessing`` for ``ds``: ``unit`` (model input = pixel/255) for the
    colour ``shapes``, ``standardize`` with the training pixels' mean/std for the others."""
    mean, std = pixel_stats(ds)
    if INPUT_KIND.get(ds.name) == "unit":
        return {"kind": "unit", "note": "model input = pixel/255 (pixels in [0, 1])"}
    return {
        "kind": "standardize",
        "mean": mean,
        "std": std,
        "note": "model input = (pixel/255 - mean) / std",
    }


def model_input(x_uint8: np.ndarray, preprocessing: dict) -> np.ndarray:
    """uint8 images (N,H,W) or (N,H,W,C) as float32 model input (N,H,W,C)."""
    x = x_uint8.astype(np.float32) / 255.0
    if preprocessing["kind"] == "standardize":
        x = (x - preprocessing["mean"]) / preprocessing["std"]
    return x if x.ndim == 4 else x[..., None]


def train(
    arch: str = "seed_cnn",
    dataset: str = "mnist",
    data: str | Path | Dataset | None = None,
    epochs: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    augment_data: bool = True,
    on_epoch: Callable[[int, dict], None] | None = None,
    callbacks: list | None = None,
):
    """Train ``arch`` on a data set; return (model, card, confusion matrix).

    Parameters
    ----------
    arch : str
        A zoo architecture (:data:`oipviz.models.ARCH_NAMES`), built for the data's image
        shape and number of classes.
    dataset : str
        ``mnist``, ``fashion_mnist`` or ``shapes`` (generated from ``seed``).
    data : str, Path or Dataset, optional
        A file or folder to read, an already loaded :class:`Dataset`, or None for the
        first source that works.
    epochs : int, optional
        Passes over the training images (default: 8 for ``shapes``, else 30).
    seed : int
        Weights, augmentation, the offline split and the generated ``shapes``.
    batch_size : int
        Images per gradient step.
    augment_data : bool
        Shifts/rotations (grey sets) or flips/quarter turns (``shapes``) each epoch.
    on_epoch : callable, optional
        ``on_epoch(epoch, logs)`` after each epoch, with the held-out accuracy.
    callbacks : list, optional
        Keras callbacks passed to every epoch's ``fit`` (e.g. a
        :class:`oipviz.callbacks.Tracker` with ``epochs=epochs``).

    Returns
    -------
    tuple
        The Keras model, its card (a dict) and the confusion matrix (true × predicted).

    Bad arguments and bad data are one-line errors before training starts.
    """
    if arch not in ARCH_NAMES:
        raise OipvizError(f"unknown architecture {arch!r}; choose from {', '.join(ARCH_NAMES)}")
    if epochs is not None:
        epochs = checks.integer("epochs", epochs, 1, MAX_EPOCHS)
    batch_size = checks.integer("batch size", batch_size, 1, MAX_BATCH)
    seed = checks.seed(seed)
    # validated, before TF is imported: bad data fail fast
    ds = data if isinstance(data, Dataset) else load_dataset(dataset, path=data, seed=seed)
    run: dict = {"epochs": epochs or default_epochs(ds.name), "batch_size": batch_size,
                 "seed": seed}  # fmt: skip
    preprocessing = input_convention(ds)
    model = _compiled_model(arch, ds, run)
    augmenter, augmentation = AUGMENTATIONS.get(ds.name, AUGMENTATIONS["default"])
    run["augmentation"] = augmentation if augment_data else "none"
    x_test = model_input(ds.x_test, preprocessing)
    rng = np.random.default_rng(seed)
    for epoch in range(run["epochs"]):
        xb = augmenter(ds.x_train, rng) if augment_data else ds.x_train
        x = model_input(xb, preprocessing)
        logs = _fit_epoch(model, x, ds.y_train, run, epoch, callbacks)
        if on_epoch:
            logs["val_accuracy"] = float(model.evaluate(x_test, ds.y_test, verbose=0)[1])
            on_epoch(epoch, logs)
    if not all(np.isfinite(w).all() for w in model.get_weights()):
        raise OipvizError("training diverged (some weights are not finite); nothing was written")
    pred = model.predict(x_test, verbose=0, batch_size=512).argmax(1)
    return model, *_card(model, arch, ds, preprocessing, run, pred)


def _compiled_model(arch: str, ds: Dataset, run: dict):
    """``arch`` built for the data's image shape and classes, seeded, compiled (Adam with a
    cosine-decayed learning rate over the whole run)."""
    from oipviz.core.tfenv import import_keras

    keras = import_keras()  # TF's start-up log noise silenced
    from oipviz.models.zoo import ARCHITECTURES

    keras.utils.set_random_seed(run["seed"])
    model = ARCHITECTURES[arch](input_shape=ds.image_shape, classes=ds.n_classes)
    steps = run["epochs"] * int(np.ceil(len(ds.x_train) / run["batch_size"]))
    lr = keras.optimizers.schedules.CosineDecay(2e-3, steps, alpha=0.02)
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _fit_epoch(
    model, x: np.ndarray, y: np.ndarray, run: dict, epoch: int, callbacks: list | None = None
) -> dict:
    """One pass over the training images (with ``callbacks``); its logs (a non-finite loss
    is an error)."""
    hist = model.fit(
        x, y, batch_size=run["batch_size"], epochs=1, verbose=0, shuffle=True, callbacks=callbacks
    )
    logs = {k: float(v[-1]) for k, v in hist.history.items()}
    if not np.isfinite(logs.get("loss", 0.0)):
        raise OipvizError(
            f"training diverged in epoch {epoch + 1} (the loss is not finite); nothing was written"
        )
    return logs


def _card(model, arch: str, ds: Dataset, preprocessing: dict, run: dict, pred: np.ndarray):
    """The model card and the confusion matrix (true × predicted) of a trained model."""
    n = ds.n_classes
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (ds.y_test, pred), 1)
    per_class = {str(c): float(confusion[c, c] / max(confusion[c].sum(), 1)) for c in range(n)}
    card = {
        "architecture": arch,
        "dataset": ds.name,
        "data_source": ds.source,
        "samples": ds.counts,
        "data_conversions": ds.notes,
        "input_shape": list(ds.image_shape),
        "class_names": list(ds.class_names) if ds.class_names else None,
        "preprocessing": preprocessing,
        "augmentation": run["augmentation"],
        "epochs": run["epochs"],
        "batch_size": run["batch_size"],
        "seed": run["seed"],
        "heldout_accuracy": float((pred == ds.y_test).mean()),
        "per_class_accuracy": per_class,
        "heldout_class_counts": confusion.sum(1).tolist(),
        "layers": [layer.name for layer in model.layers],
        "versions": package_versions(),
    }
    return card, confusion
