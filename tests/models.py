"""Small Keras models built inside the tests (imported as ``from models import ...``)."""

from __future__ import annotations


def colour_cnn(
    seed: int, maps: tuple[int, int], classes: int, names=("conv1", "conv2"), flat=False
):
    """A 32×32×3 CNN taking 0–255 pixels (a Rescaling layer): two ReLU conv layers with a
    max-pool between them, then global average pooling (``flat``: Flatten) and a softmax
    layer ``out``; random weights from ``seed``.

    Parameters
    ----------
    seed : int
        Keras' random seed, set before the layers are built.
    maps : (int, int)
        Maps of the two conv layers (3×3 kernels).
    classes : int
        Units of the softmax layer.
    names : (str, str)
        Names of the two conv layers.
    flat : bool
        Flatten the last conv layer's output instead of averaging it over space.

    Returns
    -------
    keras.Sequential
    """
    from oipviz.core.tfenv import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Rescaling(1 / 255.0),
            layers.Conv2D(maps[0], 3, activation="relu", name=names[0]),
            layers.MaxPooling2D(),
            layers.Conv2D(maps[1], 3, activation="relu", name=names[1]),
            layers.Flatten() if flat else layers.GlobalAveragePooling2D(),
            layers.Dense(classes, activation="softmax", name="out"),
        ]
    )
