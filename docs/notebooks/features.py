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
# # Trained vs random features
#
# How much of a CNN's feature space comes from training, and how much from the
# architecture alone? The random-weight-features article answers with a network whose
# convolutions keep their random initial weights, only its Dense head trained. This
# notebook embeds real digits as the trained seed CNN, that random-feature network and the
# raw pixels see them (t-SNE, with the kNN class agreement as a number), clusters them
# with k-means, and looks at the weights themselves.

# %% tags=["parameters"]
import os

QUICK = os.environ.get("OIPVIZ_DOCS_QUICK", "0") == "1"
SAMPLES = 600 if QUICK else 5000  # digits embedded and clustered

# %%
import matplotlib.pyplot as plt

import oipviz

model = oipviz.load_model()

# %% [markdown]
# ## Embeddings: trained, random, pixels
#
# `compare="random_features"` builds the zoo's random-feature network (seeded; its head
# trained for 2 epochs here) and adds a raw-pixels panel. The agreement is the share of
# each digit's 10 nearest neighbours with its own class, in the 2-D map and in the
# feature space itself.

# %%
emb = oipviz.embed("dense1", model, compare="random_features", samples=SAMPLES, progress=False)
for row in emb.summary():
    print(row)

# %%
emb.figure()

# %% [markdown]
# ## Clusters: does k-means find the ten digits?
#
# A scan over K with the elbow (inertia) and the mean silhouette, on raw pixels and on the
# trained dense1 features.

# %%
scans = {
    layer: oipviz.clusters(layer, model, k="5-15", samples=SAMPLES, show_k=10, progress=False)
    for layer in ("pixels", "dense1")
}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for layer, res in scans.items():
    axes[0].plot(res.ks, res.inertia / res.inertia[0], marker="o", label=layer)
    axes[1].plot(res.ks, res.silhouette, marker="o", label=layer)
axes[0].set(title="inertia (relative to K=5)", xlabel="K")
axes[1].set(title="mean silhouette", xlabel="K")
axes[1].legend()
plt.show()
for layer, res in scans.items():
    print(f"{layer}: best K by silhouette {res.best_k}, purity at K=10 {res.purity:.3f}")

# %% [markdown]
# The pixel centroids are blurred digits; for dense1 each cluster is shown by the real digit
# nearest to its centroid, with the cluster's majority class and its share.

# %%
scans["pixels"].sheet()

# %%
scans["dense1"].sheet()

# %% [markdown]
# ## Weights as pictures
#
# The first conv layer's 32 kernels (a diverging colormap with a symmetric range), and the
# mean image of each class.

# %%
w = oipviz.weights("conv1", model, samples=SAMPLES)
w

# %%
fig, axes = plt.subplots(1, 10, figsize=(12, 1.6))
for c, ax in enumerate(axes):
    ax.imshow(w.class_means[c], cmap="gray")
    ax.set_title(f"{c} (n={w.class_counts[c]})", fontsize=8)
    ax.axis("off")
plt.show()
