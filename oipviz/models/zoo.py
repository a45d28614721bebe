"""Architectures from the source articles, as Keras 3 models (28×28×1 inputs and 10 classes
by default; each takes ``input_shape`` and ``classes``), and ``shapes_cnn``, the small colour
CNN for the generated ``shapes`` data set (32×32×3, 24 classes).

No model has a preprocessing layer: the input convention (how pixels become model input)
is recorded in the model's card by ``oipviz train``."""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

Shape = tuple[int, int, int]
GREY: Shape = (28, 28, 1)


def seed_cnn(input_shape: Shape = GREY, classes: int = 10) -> keras.Model:
    """The CNN of the OIP/DeepDream articles: conv1 32 → conv2 64 → conv3 128 (3×3 maps)."""
    return keras.Sequential(
        [
            keras.Input(input_shape, name="image"),
            layers.Conv2D(32, 3, activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(64, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Conv2D(128, 3, activation="relu", name="conv3"),
            layers.Flatten(name="flatten"),
            layers.Dense(70, activation="relu", name="dense1"),
            layers.Dense(classes, activation="softmax", name="predictions"),
        ],
        name="seed_cnn",
    )


def random_features(input_shape: Shape = GREY, classes: int = 10) -> keras.Model:
    """Three random, frozen 32-map conv layers; only the final Dense layer learns."""
    init = keras.initializers.GlorotUniform
    model = keras.Sequential(
        [
            keras.Input(input_shape, name="image"),
            layers.Conv2D(32, 3, activation="relu", kernel_initializer=init(), name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(32, 3, activation="relu", kernel_initializer=init(), name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Conv2D(32, 3, activation="relu", kernel_initializer=init(), name="conv3"),
            layers.Flatten(name="flatten"),
            layers.Dense(classes, activation="softmax", name="predictions"),
        ],
        name="random_features",
    )
    for layer in model.layers[:-1]:
        layer.trainable = False
    return model


def lenet5(input_shape: Shape = GREY, classes: int = 10) -> keras.Model:
    """LeNet-5 with ReLU and max-pooling (the variant the LeNet article recommends)."""
    return keras.Sequential(
        [
            keras.Input(input_shape, name="image"),
            layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(16, 5, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(120, activation="relu", name="fc1"),
            layers.Dense(84, activation="relu", name="fc2"),
            layers.Dense(classes, activation="softmax", name="predictions"),
        ],
        name="lenet5",
    )


def mlp(input_shape: Shape = GREY, classes: int = 10) -> keras.Model:
    """784-512-512-10 perceptron with ReLU and dropout 0.2 (the MLP notebook)."""
    return keras.Sequential(
        [
            keras.Input(input_shape, name="image"),
            layers.Flatten(name="flatten"),
            layers.Dense(512, activation="relu", name="dense1"),
            layers.Dropout(0.2, name="dropout1"),
            layers.Dense(512, activation="relu", name="dense2"),
            layers.Dropout(0.2, name="dropout2"),
            layers.Dense(classes, activation="softmax", name="predictions"),
        ],
        name="mlp",
    )


def linear(input_shape: Shape = GREY, classes: int = 10, l2: float = 0.1) -> keras.Model:
    """Softmax regression: one Dense layer on the flat image (the linear-classifier
    article); its ten weight vectors are class templates (``oipviz weights``).  Zero
    init and weight decay (as in that article's linear classifier) keep pixels that never
    see ink out of the templates and make them look like digits (held-out accuracy ~88 %)."""
    return keras.Sequential(
        [
            keras.Input(input_shape, name="image"),
            layers.Flatten(name="flatten"),
            layers.Dense(
                classes,
                activation="softmax",
                kernel_initializer="zeros",
                kernel_regularizer=keras.regularizers.L2(l2),
                name="predictions",
            ),
        ],
        name="linear",
    )


def shapes_cnn(input_shape: Shape = (32, 32, 3), classes: int = 24) -> keras.Model:
    """A small colour CNN for the generated ``shapes`` (shape × colour classes): conv1 16 →
    conv2 32 → conv3 48 (3×3, same padding, 2×2 max-pooling after each), flatten, dense1 64,
    softmax over the classes.  Flattening (rather than global pooling) gives every position
    its own weights, so a class's OIP fills the image with that class's coloured shapes."""
    return keras.Sequential(
        [
            keras.Input(input_shape, name="image"),
            layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Conv2D(48, 3, padding="same", activation="relu", name="conv3"),
            layers.MaxPooling2D(2, name="pool3"),
            layers.Flatten(name="flatten"),
            layers.Dense(64, activation="relu", name="dense1"),
            layers.Dense(classes, activation="softmax", name="predictions"),
        ],
        name="shapes_cnn",
    )


ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {
    "seed_cnn": seed_cnn,
    "random_features": random_features,
    "lenet5": lenet5,
    "mlp": mlp,
    "linear": linear,
    "shapes_cnn": shapes_cnn,
}
