"""Train a zoo architecture and write the model, its card and a confusion matrix.

The data are validated (:func:`oipviz.data.sources.validate_arrays`) before TensorFlow is
imported; the card is strict JSON and is written only for a model whose weights and
figures are all finite.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from oipviz.core import checks
from oipviz.core.errors import DataError, OipvizError
from oipviz.core.loader import card_path
from oipviz.core.outputs import check_file_target, dumps
from oipviz.core.versions import package_versions
from oipviz.data.sources import Dataset, load_dataset
from oipviz.models import ARCH_NAMES

MAX_EPOCHS = 1000
MAX_BATCH = 4096


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


def augment(
    x: np.ndarray, rng: np.random.Generator, max_shift: float = 2.0, max_rot: float = 10.0
) -> np.ndarray:
    """Small random shifts and rotations (OpenCV affine warps) of uint8 digits."""
    import cv2

    out = np.empty_like(x)
    for i, img in enumerate(x):
        m = cv2.getRotationMatrix2D((13.5, 13.5), rng.uniform(-max_rot, max_rot), 1.0)
        m[:, 2] += rng.uniform(-max_shift, max_shift, size=2)
        out[i] = cv2.warpAffine(img, m, (28, 28), flags=cv2.INTER_LINEAR, borderValue=0)
    return out


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


def train(
    arch: str = "seed_cnn",
    dataset: str = "mnist",
    data: str | Path | Dataset | None = None,
    epochs: int = 30,
    seed: int = 0,
    batch_size: int = 64,
    augment_data: bool = True,
    on_epoch: Callable[[int, dict], None] | None = None,
    callbacks: list | None = None,
):
    """Train ``arch`` on ``data`` (a path, an already loaded :class:`Dataset`, or None for
    the first source that works); return (model, card, confusion matrix).

    Bad arguments and bad data are one-line errors before training starts.
    ``callbacks``: Keras callbacks passed to every epoch's ``fit`` (e.g. a
    :class:`oipviz.callbacks.Tracker` with ``epochs=epochs``).
    """
    if arch not in ARCH_NAMES:
        raise OipvizError(f"unknown architecture {arch!r}; choose from {', '.join(ARCH_NAMES)}")
    epochs = checks.integer("epochs", epochs, 1, MAX_EPOCHS)
    batch_size = checks.integer("batch size", batch_size, 1, MAX_BATCH)
    seed = checks.seed(seed)
    # validated, before TF is imported: bad data fail fast
    ds = data if isinstance(data, Dataset) else load_dataset(dataset, path=data, seed=seed)
    mean, std = pixel_stats(ds)
    from oipviz.core.tfenv import import_keras

    keras = import_keras()  # TF's start-up log noise silenced
    from oipviz.models.zoo import ARCHITECTURES

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)

    def prep(x_uint8):
        return ((x_uint8.astype(np.float32) / 255.0 - mean) / std)[..., None]

    model = ARCHITECTURES[arch]()
    steps = epochs * int(np.ceil(len(ds.x_train) / batch_size))
    lr = keras.optimizers.schedules.CosineDecay(2e-3, steps, alpha=0.02)
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x_test = prep(ds.x_test)
    for epoch in range(epochs):
        xb = augment(ds.x_train, rng) if augment_data else ds.x_train
        hist = model.fit(
            prep(xb), ds.y_train, batch_size=batch_size, epochs=1, verbose=0, shuffle=True,
            callbacks=callbacks,
        )  # fmt: skip
        logs = {k: float(v[-1]) for k, v in hist.history.items()}
        if not np.isfinite(logs.get("loss", 0.0)):
            raise OipvizError(
                f"training diverged in epoch {epoch + 1} (the loss is not finite); "
                "nothing was written"
            )
        if on_epoch:
            logs["val_accuracy"] = float(model.evaluate(x_test, ds.y_test, verbose=0)[1])
            on_epoch(epoch, logs)
    if not all(np.isfinite(w).all() for w in model.get_weights()):
        raise OipvizError("training diverged (some weights are not finite); nothing was written")

    pred = model.predict(x_test, verbose=0, batch_size=512).argmax(1)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (ds.y_test, pred), 1)
    per_class = {str(c): float(confusion[c, c] / max(confusion[c].sum(), 1)) for c in range(10)}
    card = {
        "architecture": arch,
        "dataset": ds.name,
        "data_source": ds.source,
        "samples": ds.counts,
        "data_conversions": ds.notes,
        "preprocessing": {
            "kind": "standardize",
            "mean": mean,
            "std": std,
            "note": "model input = (pixel/255 - mean) / std",
        },
        "augmentation": "random shifts ±2 px, rotations ±10°" if augment_data else "none",
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "heldout_accuracy": float((pred == ds.y_test).mean()),
        "per_class_accuracy": per_class,
        "heldout_class_counts": confusion.sum(1).tolist(),
        "layers": [l.name for l in model.layers],
        "versions": package_versions(),
    }
    return model, card, confusion


def plot_confusion(confusion: np.ndarray, path: str | Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(confusion, cmap="viridis")
    for i in range(10):
        for j in range(10):
            v = confusion[i, j]
            if v:
                ax.text(
                    j,
                    i,
                    str(v),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if v > confusion.max() / 2 else "white",
                )
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


def save_trained(
    model, card: dict, confusion: np.ndarray, out: str | Path, force: bool = False
) -> list[Path]:
    """Write ``out`` (.keras/.h5), its card (strict JSON) and ``NAME.confusion.png``: each
    to a temp name beside its target, renamed into place only when all three are done."""
    paths = check_outputs(out, force)
    out, _, png = paths
    temps = [p.with_name(f".{p.stem}.tmp{p.suffix}") for p in paths]
    card = dict(card, model_file=out.name, confusion_png=png.name)
    try:
        text = dumps(card) + "\n"  # strict: a NaN would be null, never "NaN"
        model.save(temps[0])
        temps[1].write_text(text)
        plot_confusion(
            confusion,
            temps[2],
            f"{card['architecture']} on {card['dataset']}: {card['heldout_accuracy']:.1%} held-out",
        )
        for t, p in zip(temps, paths):
            os.replace(t, p)
    except BaseException:
        for t in temps:
            t.unlink(missing_ok=True)
        raise
    return paths
