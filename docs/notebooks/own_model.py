# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Bring your own model
#
# oipviz is not tied to its bundled MNIST CNN: any `.keras` (or legacy `.h5`) image
# classifier loads, grey or colour, of another size, with its layers inside nested models.
# This notebook builds a small colour model with a nested backbone, trains it briefly on
# the `shapes` data set that oipviz generates itself (24 classes such as "red circle"),
# saves it, and loads it with oipviz: its layers, an OIP of an inner layer, and Grad-CAM.

# %% tags=["parameters"]
import os

QUICK = os.environ.get("OIPVIZ_DOCS_QUICK", "0") == "1"
N_TRAIN = 4000 if QUICK else 50000  # generated training images
EPOCHS = 3 if QUICK else 8
STEPS = 150 if QUICK else 600  # ascent steps per OIP

# %%
import tempfile
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np

import oipviz

data = oipviz.load_dataset("shapes", n_train=N_TRAIN, n_test=1000, seed=0)
print(data.source, data.counts, data.image_shape, len(data.class_names), "classes")

# %% [markdown]
# ## A colour model with a nested backbone
#
# The backbone is a `Sequential` model of its own inside a functional model. The leading
# `Rescaling(1/255)` layer tells oipviz that the model takes raw 0–255 pixels (its input
# convention); a card or `input_scale=` would say so otherwise.

# %%
keras.utils.set_random_seed(0)
backbone = keras.Sequential(
    [
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(16, 3, activation="relu", name="c1"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu", name="c2"),
        keras.layers.MaxPooling2D(),
    ],
    name="backbone",
)
inp = keras.Input((32, 32, 3))
h = backbone(keras.layers.Rescaling(1 / 255.0, name="rescale")(inp))
h = keras.layers.GlobalAveragePooling2D()(h)
out = keras.layers.Dense(data.n_classes, activation="softmax", name="head")(h)
net = keras.Model(inp, out, name="shapes_nested")
net.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
net.fit(data.x_train, data.y_train, epochs=EPOCHS, batch_size=64, verbose=0)
loss, acc = net.evaluate(data.x_test, data.y_test, verbose=0)
print(f"held-out accuracy after {EPOCHS} epochs: {acc:.1%} (chance: {1 / data.n_classes:.1%})")

path = Path(tempfile.mkdtemp()) / "shapes_nested.keras"
net.save(path)

# %% [markdown]
# ## Loaded by oipviz
#
# Layers inside the nested model are addressed by their path (`backbone/c2`); a short
# name works where it is unique, and `conv2` names the second conv layer.

# %%
m = oipviz.load_model(path)
print("geometry", m.geometry.shape, "| input convention", m.convention.kind)
[(info.name, info.units) for info in m.layers if info.units]

# %%
m.layer("c2").name, m.layer("conv2").name

# %% [markdown]
# ## OIPs of an inner layer, in colour
#
# In-range, readable OIPs of the first 16 maps of `backbone/c2`: real RGB images.

# %%
run = oipviz.oip("backbone/c2", list(range(16)), m, inits=4, steps=STEPS, range_mode="valid",
                 style="readable", progress=False)  # fmt: skip
print("live / dead:", run.status.count("live"), "/", run.status.count("dead"))
fig, axes = plt.subplots(2, 8, figsize=(12, 3.6))
for ax, k, img, v in zip(axes.flat, run.maps, run.pixels(), run.best_values):
    ax.imshow(np.clip(img, 0, 1))
    ax.set_title(f"map {k}: {v:.2f}", fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# The class logits work as objectives too: what makes this model say "red circle"
# and "blue cross"? (The Dense head's units are the "maps" of layer `head`.)

# %%
names = list(data.class_names)
wanted = [names.index("red circle"), names.index("blue cross"), names.index("green triangle")]
cls = oipviz.oip("head", wanted, m, inits=4, steps=STEPS, kind="logit", range_mode="valid",
                 style="readable", progress=False)  # fmt: skip
fig, axes = plt.subplots(1, len(wanted), figsize=(9, 3.2))
for ax, c, img in zip(axes, wanted, cls.pixels()):
    ax.imshow(np.clip(img, 0, 1))
    ax.set_title(names[c], fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Grad-CAM through the nesting
#
# Grad-CAM on the inner layer `backbone/c2`, next to saliency, for a few held-out images.

# %%
x, y = data.x_test[:6], data.y_test[:6]
res = oipviz.explain(x, "saliency,gradcam", model=m, labels=y, layer="backbone/c2")
print("true     ", [names[i] for i in y])
print("predicted", [names[i] for i in res.predicted])
res.figure()
