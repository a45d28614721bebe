"""Import TensorFlow/Keras lazily and quietly (TF's C++ start-up noise goes to /dev/null)."""
from __future__ import annotations

import os
import sys

_DEBUG = False


def set_debug(flag: bool) -> None:
    global _DEBUG
    _DEBUG = flag


def import_keras():
    """Return the ``keras`` module, importing TensorFlow first with its log noise silenced."""
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if _DEBUG else "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    if _DEBUG:
        import tensorflow  # noqa: F401
        import keras
        return keras
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf
        import keras
        tf.get_logger().setLevel("ERROR")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return keras
