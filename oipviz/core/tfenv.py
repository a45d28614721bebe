"""Import TensorFlow and Keras on first use (``oipviz --help`` and argument errors never pay
for them).  Library code changes no process-wide state here; the command line silences
TensorFlow's C++ start-up noise once, in its entry point (:mod:`oipviz.cli`)."""

from __future__ import annotations

import os
import sys

from oipviz.core.errors import ModelError


def import_keras():
    """The ``keras`` module, on the TensorFlow backend (imported on first call)."""
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import tensorflow  # noqa: F401  (Keras 3 finds its backend imported)
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ModelError(
            f"oipviz needs Keras on the TensorFlow backend, but KERAS_BACKEND is {backend!r}; "
            "run with KERAS_BACKEND=tensorflow"
        )
    return keras
