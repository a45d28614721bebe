"""Model zoo, training and the bundled model."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

ARCH_NAMES = ("seed_cnn", "random_features", "lenet5", "mlp")


def bundled_model_path() -> Path:
    """Path of the bundled, trained seed CNN (``seed_cnn.keras``); its card lies beside it."""
    return Path(str(resources.files("oipviz.models") / "bundled" / "seed_cnn.keras"))
