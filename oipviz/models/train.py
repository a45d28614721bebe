"""Train a zoo architecture and write the model, its card and a confusion matrix."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from ..data import load_dataset
from ..errors import OipvizError
from ..outputs import atomic_files
from ..versions import package_versions
from . import ARCH_NAMES


def card_path(model_path: str | Path) -> Path:
    """The card that belongs to a model file: ``NAME.card.json`` beside it."""
    p = Path(model_path)
    return p.with_name(p.name.rsplit(".", 1)[0] + ".card.json")


def augment(x: np.ndarray, rng: np.random.Generator, max_shift: float = 2.0,
            max_rot: float = 10.0) -> np.ndarray:
    """Small random shifts and rotations (OpenCV affine warps) of uint8 digits."""
    import cv2

    out = np.empty_like(x)
    for i, img in enumerate(x):
        m = cv2.getRotationMatrix2D((13.5, 13.5), rng.uniform(-max_rot, max_rot), 1.0)
        m[:, 2] += rng.uniform(-max_shift, max_shift, size=2)
        out[i] = cv2.warpAffine(img, m, (28, 28), flags=cv2.INTER_LINEAR, borderValue=0)
    return out


def train(arch: str = "seed_cnn", dataset: str = "mnist", data: str | None = None,
          epochs: int = 30, seed: int = 0, batch_size: int = 64, augment_data: bool = True,
          on_epoch: Callable[[int, dict], None] | None = None):
    """Train ``arch``; return (model, card, confusion matrix)."""
    if arch not in ARCH_NAMES:
        raise OipvizError(f"unknown architecture {arch!r}; choose from {', '.join(ARCH_NAMES)}")
    if epochs < 1:
        raise OipvizError("--epochs must be at least 1")
    ds = load_dataset(dataset, path=data, seed=seed)  # before TF: bad data fails fast
    from ..tfenv import import_keras

    keras = import_keras()  # TF's start-up log noise silenced
    from .zoo import ARCHITECTURES

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x01 = ds.x_train.astype(np.float32) / 255.0
    mean, std = float(x01.mean()), float(x01.std())

    def prep(x_uint8):
        return ((x_uint8.astype(np.float32) / 255.0 - mean) / std)[..., None]

    model = ARCHITECTURES[arch]()
    steps = epochs * int(np.ceil(len(x01) / batch_size))
    lr = keras.optimizers.schedules.CosineDecay(2e-3, steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x_test = prep(ds.x_test)
    for epoch in range(epochs):
        xb = augment(ds.x_train, rng) if augment_data else ds.x_train
        hist = model.fit(prep(xb), ds.y_train, batch_size=batch_size, epochs=1, verbose=0,
                         shuffle=True)
        logs = {k: float(v[-1]) for k, v in hist.history.items()}
        if on_epoch:
            logs["val_accuracy"] = float(model.evaluate(x_test, ds.y_test, verbose=0)[1])
            on_epoch(epoch, logs)

    pred = model.predict(x_test, verbose=0, batch_size=512).argmax(1)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (ds.y_test, pred), 1)
    per_class = {str(c): float(confusion[c, c] / max(confusion[c].sum(), 1)) for c in range(10)}
    card = {
        "architecture": arch,
        "dataset": ds.name,
        "data_source": ds.source,
        "samples": ds.counts,
        "preprocessing": {"kind": "standardize", "mean": mean, "std": std,
                          "note": "model input = (pixel/255 - mean) / std"},
        "augmentation": "random shifts ±2 px, rotations ±10°" if augment_data else "none",
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "heldout_accuracy": float((pred == ds.y_test).mean()),
        "per_class_accuracy": per_class,
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
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="black" if v > confusion.max() / 2 else "white")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


def save_trained(model, card: dict, confusion: np.ndarray, out: str | Path,
                 force: bool = False) -> list[Path]:
    """Write ``out`` (.keras), its card and ``NAME.confusion.png`` atomically."""
    out = Path(out)
    if out.suffix not in (".keras", ".h5"):
        raise OipvizError(f"--out must end in .keras or .h5, not {out.name!r}")
    png = out.with_name(out.name.rsplit(".", 1)[0] + ".confusion.png")
    paths = [out, card_path(out), png]
    with atomic_files(*paths, force=force) as (t_model, t_card, t_png):
        card = dict(card, model_file=out.name, confusion_png=png.name)
        model.save(t_model)
        t_card.write_text(json.dumps(card, indent=2) + "\n")
        plot_confusion(confusion, t_png,
                       f"{card['architecture']} on {card['dataset']}: "
                       f"{card['heldout_accuracy']:.1%} held-out")
    return paths
