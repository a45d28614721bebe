"""Import TensorFlow/Keras lazily and quietly (TF's C++ start-up noise goes to /dev/null)."""

from __future__ import annotations

import os
import sys

_DEBUG = False
#: set by the command line only: Keras imports scikit-learn (about 1 s) for its sklearn
#: wrappers, which a CLI process never uses; an API user's session keeps them
_SKIP_SKLEARN = False


def set_debug(flag: bool) -> None:
    global _DEBUG
    _DEBUG = flag


def cli_start() -> None:
    """Called by the CLI: Keras is imported without its scikit-learn wrappers."""
    global _SKIP_SKLEARN
    _SKIP_SKLEARN = True


class _NoSklearn:
    """A meta-path finder that makes ``import sklearn`` fail while Keras is imported
    (Keras then defines its sklearn wrappers without scikit-learn, as when it is absent)."""

    def find_spec(self, name, path=None, target=None):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError("skipped while importing Keras")
        return None


def _import_tf_keras():
    blocker = _NoSklearn() if _SKIP_SKLEARN and "sklearn" not in sys.modules else None
    if blocker:
        sys.meta_path.insert(0, blocker)
    try:
        import keras
        import tensorflow as tf
    finally:
        if blocker:
            sys.meta_path.remove(blocker)
    return tf, keras


def import_keras():
    """Return the ``keras`` module, importing TensorFlow first with its log noise silenced."""
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if _DEBUG else "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    if _DEBUG:
        return _import_tf_keras()[1]
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        tf, keras = _import_tf_keras()
        tf.get_logger().setLevel("ERROR")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return keras
