"""The model zoo (architectures from the articles) and training; the bundled, trained models
lie in ``bundled/`` (found by :func:`oipviz.core.loader.bundled_model_path`)."""

from __future__ import annotations

ARCH_NAMES = ("seed_cnn", "random_features", "lenet5", "mlp", "linear", "shapes_cnn")
