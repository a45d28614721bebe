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
# # What does conv3 map 46 see?
#
# Map 46 of the bundled seed CNN's last conv layer is the map the articles follow. This
# notebook asks it three ways: the articles' free optimal input patterns (OIPs) from random
# inits, in-range *readable* OIPs that a user could feed the model, and the precursor grid
# search that starts from coarse patterns instead of noise.
#
# The parameter cell below keeps the step counts small when `OIPVIZ_DOCS_QUICK=1` (the
# docs build sets it); unset it for the full-length runs.

# %% tags=["parameters"]
import os

QUICK = os.environ.get("OIPVIZ_DOCS_QUICK", "0") == "1"
STEPS = 120 if QUICK else 600  # ascent steps per OIP
PRE_TEST, PRE_STEPS = (3, 150) if QUICK else (10, 1200)  # precursor screen / refine steps

# %%
import matplotlib.pyplot as plt
import numpy as np

import oipviz

model = oipviz.load_model()  # the bundled seed CNN
[(info.name, info.units) for info in model.layers if info.units]

# %% [markdown]
# ## Free OIPs: the articles' method
#
# Eight inits of multi-scale random fluctuations, each climbed by gradient ascent on the
# mean of map 46. The result shows its contact sheet and numbers in the notebook.

# %%
free = oipviz.oip("conv3", 46, model, inits=8, steps=STEPS, progress=False)
free

# %% [markdown]
# The activation climbs fast and then slowly: one curve per init.

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(free.history_steps, free.history[:, 0, :])
ax.set(xlabel="ascent step", ylabel="mean activation of conv3:46", title="free ascent, 8 inits")
plt.show()

# %% [markdown]
# ## In range and readable
#
# A free OIP leaves the pixel range by far, so its activation belongs to no image a model
# could be given. `range_mode="valid"` keeps every step inside [0, 1] pixels;
# `style="readable"` adds jitter, scaling, rotation, blur and a total-variation penalty
# relative to the activation.

# %%
readable = oipviz.oip(
    "conv3", 46, model, inits=8, steps=STEPS, range_mode="valid", style="readable",
    progress=False,
)  # fmt: skip
readable

# %%
px_free = model.convention.from_engine(free.best_images)[0]
px_valid = readable.pixels()[0]
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
panels = [
    (free.shown(free.best_images[0]), f"free, min-max scaled\n{free.best_values[0]:.1f}"),
    (
        np.clip(px_free, 0, 1),
        f"free, clipped to [0, 1]\npixels {px_free.min():.0f}…{px_free.max():.0f}",
    ),
    (np.clip(px_valid, 0, 1), f"valid + readable\n{readable.best_values[0]:.2f}"),
]
for ax, (img, title) in zip(axes, panels):
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# What the clipped free OIP is worth as an input, next to the in-range one, measured by
# the model itself:

# %%
pred = oipviz.predict(np.stack([np.clip(px_free, 0, 1), np.clip(px_valid, 0, 1)]), model,
                      layers=["conv3"])  # fmt: skip
acts = pred.activations["conv3"][..., 46].mean(axis=(1, 2))
print(f"conv3:46 on the clipped free OIP {acts[0]:.2f}, on the in-range OIP {acts[1]:.2f}")

# %% [markdown]
# ## The precursor: coarse patterns instead of noise
#
# The precursor enumerates every 3×3 grid of grey values (0.2, 0.5, 0.8): 3^9 = 19,683
# patterns. It screens them all, keeps the best 8 and refines them. The top row of the
# sheet shows the start patterns, the bottom row the refined OIPs.

# %%
pre = oipviz.precursor("conv3", 46, model, test_steps=PRE_TEST, steps=PRE_STEPS, progress=False)
pre

# %%
fig, ax = plt.subplots(figsize=(6, 3))
losses = pre.screen_losses[np.isfinite(pre.screen_losses)]
ax.hist(losses, bins=60)
ax.set(xlabel="screen value", ylabel="patterns", title=f"{len(losses):,} patterns screened")
plt.show()

# %%
print(
    f"best of 8 random inits: {free.best_values[0]:.2f}; best precursor OIP: {pre.best_value:.2f}"
)

# %% [markdown]
# Both runs climb the same objective in the same (free) space; they differ in where they
# start. For maps that no random init wakes, `oipviz.rescue` runs the random inits on a
# whole layer and the precursor on the maps they leave dead (see
# [the precursor and the rescue](../precursor.md)).
