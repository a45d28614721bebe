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
# # DeepDream with an MNIST CNN
#
# A network trained on 28×28 digits can still dream on a photo: oipviz shrinks the photo
# to the model's size, climbs one map, scales the result back up and re-injects the detail
# the shrinking lost, round after round (the articles' method). Tiles and octaves carry
# it to big images. The photo here is the portrait of Grace Hopper that ships with
# matplotlib (no download).

# %% tags=["parameters"]
import os

QUICK = os.environ.get("OIPVIZ_DOCS_QUICK", "0") == "1"
ITERS = 2 if QUICK else 4  # rounds per scale
STEPS = 10 if QUICK else 20  # ascent steps per round

# %%
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cbook
from PIL import Image

import oipviz

with cbook.get_sample_data("grace_hopper.jpg") as f:
    photo = np.asarray(Image.open(f).convert("RGB"))
photo.shape, photo.dtype

# %% [markdown]
# ## One map, the articles' panels
#
# Map 56 of conv3, four rounds. Each round keeps the article's panels: the dreamt 28×28
# image, the blurry upscaled dream, and the dream with the original's detail re-added.

# %%
model = oipviz.load_model()
one = oipviz.dream(photo, map=56, iters=ITERS, steps=STEPS, model=model, progress=False)
print(one.objective, "| image", one.image.shape, one.image.dtype, f"| {one.total_seconds:.1f} s")
for r in one.rounds:
    print(f"round {r.round}: activation {r.activation_start:.2f} -> {r.activation_end:.2f}")

# %%
fig, axes = plt.subplots(len(one.rounds), 3, figsize=(9, 3 * len(one.rounds)), squeeze=False)
for row, r in zip(axes, one.rounds):
    for ax, (img, title) in zip(
        row, [(r.small, "dreamt at 28×28"), (r.upscaled, "upscaled"),
              (r.with_detail, "detail re-added")]
    ):  # fmt: skip
        ax.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"round {r.round}: {title}", fontsize=9)
        ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# A grey model dreams on the luminance; oipviz keeps the photo's chroma, so the dream of
# a colour photo is in colour. The result displays itself:

# %%
one

# %% [markdown]
# ## Tiles and octaves
#
# `tile=28` cuts the image into 28-px tiles that are dreamt as one batch (randomly rolled
# each round to hide the seams); `octaves=3` runs the rounds from a coarse scale to the
# full one. `gray=True` keeps the result grey.

# %%
tiled = oipviz.dream(photo, map=56, iters=ITERS, steps=max(STEPS // 2, 5), tile=28, octaves=3,
                     gray=True, model=model, progress=False)  # fmt: skip
fig, axes = plt.subplots(1, 2, figsize=(10, 5))
axes[0].imshow(photo)
axes[0].set_title("the photo")
axes[1].imshow(tiled.image, cmap="gray")
axes[1].set_title(f"tiles of 28 px, 3 octaves ({tiled.rounds[-1].tiles} tiles at full size)")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## A whole layer, or a mix of maps
#
# `map="all"` climbs the mean of every conv3 map; `maps` with `weights` mixes a few.

# %%
mixes = {
    "map 56": dict(map=56),
    "maps 46 + 56 − 108": dict(map=None, maps=[46, 56, 108], weights=[1.0, 1.0, -1.0]),
    "all of conv3": dict(map="all"),
}
fig, axes = plt.subplots(1, len(mixes), figsize=(12, 4.5))
for ax, (title, kw) in zip(axes, mixes.items()):
    out = oipviz.dream(
        photo, iters=ITERS, steps=STEPS, model=model, gray=True, progress=False, **kw
    )
    ax.imshow(out.image, cmap="gray")
    ax.set_title(f"{title}\n{out.objective}", fontsize=9)
    ax.axis("off")
plt.show()
