"""Model zoo, training and the bundled model."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

ARCH_NAMES = ("seed_cnn", "random_features", "lenet5", "mlp", "linear")


#: short names for ``--model``: the bundled, trained models (their cards lie beside them)
BUNDLED = {"seed_cnn": "seed_cnn.keras", "mnist": "seed_cnn.keras",
           "fashion": "lenet5_fashion.keras", "lenet5_fashion": "lenet5_fashion.keras"}


def bundled_model_path(name: str = "seed_cnn") -> Path:
    """Path of a bundled model: ``seed_cnn`` (the articles' CNN on MNIST, the default) or
    ``fashion`` (LeNet-5 on Fashion-MNIST)."""
    return Path(str(resources.files("oipviz.models") / "bundled" / BUNDLED[name]))
