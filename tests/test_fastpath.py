"""The exact fast path (oipviz.core.fastpath) against the plain Keras path (OIPVIZ_FASTPATH=0):
the same images on the bundled model and on a foreign .h5 model, a fallback for models it
does not cover, and a self-check that refuses a wrong fast path.

Tolerance: after a few ascent steps, images agree within 1e-4 (engine space, i.e. units
of the pixel std) and attribution maps within 1e-4 of their largest value; the fast path's
own check at build time allows |fast - keras| <= 1e-5 + 1e-4·max|keras|.
"""

from __future__ import annotations

import numpy as np

from oipviz.core import fastpath
from oipviz.core import objectives as O
from oipviz.core.inits import fluctuations

TOL = 1e-4


def _run(loaded, objs, monkeypatch, fast: bool, steps: int = 8):
    from oipviz.core.ascent import Engine, ascend

    monkeypatch.setenv("OIPVIZ_FASTPATH", "1" if fast else "0")
    x0 = fluctuations([0], len(objs), seed=1)
    r = ascend(loaded, x0, objs, steps=steps, lr=0.05, prune=False)
    heads = list(dict.fromkeys(h for o in objs for h in o.heads))
    engine = Engine.get(loaded, heads, (), (), False)
    return r, engine.fast is not None


def _same_images(loaded, objs, monkeypatch, expect_fast: bool):
    fast, used = _run(loaded, objs, monkeypatch, True)
    assert used == expect_fast, loaded.cache.get("fastpath_refused")
    slow, used_slow = _run(loaded, objs, monkeypatch, False)
    assert not used_slow
    np.testing.assert_allclose(fast.images, slow.images, atol=TOL, rtol=0)
    np.testing.assert_allclose(fast.final, slow.final, atol=TOL, rtol=TOL)
    return fast, slow


def test_bundled_model_same_images(loaded, monkeypatch):
    objs = [
        O.map_mean("conv3", 46),
        O.map_max("conv3", 7),
        O.neuron("conv3", 46, 1, 2),
        O.map_mean("conv1", 3),
        O.map_mean("pool1", 5),
        O.map_mean("conv2", 9),
        O.dense_unit("dense1", 0),
        O.class_logit("predictions", 3),
    ]
    fast, slow = _same_images(loaded, objs, monkeypatch, expect_fast=True)
    assert np.abs(fast.images - fluctuations([0], len(objs), seed=1)).max() > 0.01  # it moved


def test_bundled_model_same_attributions(loaded, monkeypatch):
    from oipviz.compute.attribution import GradCAM, Saliency
    from oipviz.data.sources import mnist_digits

    x, _, _ = mnist_digits(6, seed=0, split="all")
    for method in (Saliency(), GradCAM(), GradCAM("conv1")):
        maps = {}
        for flag in ("1", "0"):
            monkeypatch.setenv("OIPVIZ_FASTPATH", flag)
            maps[flag] = method(loaded, x, 3).maps
        np.testing.assert_allclose(maps["1"], maps["0"], atol=TOL * np.abs(maps["0"]).max())
    assert loaded.cache["fastpath"][(("conv3", False),)] is not None


def _foreign(tmp_path, name: str, build):
    """A small model built here, saved as legacy .h5 and loaded through oipviz's loader."""
    import keras

    from oipviz.core.loader import load_model

    model = keras.Sequential([keras.Input((28, 28, 1))] + build(keras.layers), name=name)
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    path = tmp_path / f"{name}.h5"
    model.save(path)
    return load_model(path)


def test_foreign_h5_model_same_images(tmp_path, monkeypatch):
    L = _foreign(
        tmp_path,
        "foreign",
        lambda layers: [
            layers.Conv2D(6, 5, activation="relu", name="c1"),
            layers.MaxPooling2D(name="p1"),
            layers.Conv2D(12, 3, activation="relu", name="c2"),
            layers.MaxPooling2D(name="p2"),
            layers.Conv2D(16, 2, name="c3"),
            layers.Flatten(name="fl"),
            layers.Dropout(0.5, name="dr"),
            layers.Dense(10, activation="softmax", name="out"),
        ],
    )
    objs = [O.map_mean("c3", 2), O.map_mean("c2", 1), O.map_max("p1", 4), O.class_logit("out", 4)]
    _same_images(L, objs, monkeypatch, expect_fast=True)


def test_uncovered_model_falls_back(tmp_path, monkeypatch):
    L = _foreign(
        tmp_path,
        "samepad",
        lambda layers: [
            layers.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
            layers.MaxPooling2D(name="p1"),
            layers.Conv2D(8, 3, activation="relu", name="c2"),
            layers.Flatten(name="fl"),
            layers.Dense(10, name="out"),
        ],
    )
    fast, slow = _same_images(
        L, [O.map_mean("c2", 1), O.map_mean("c1", 0)], monkeypatch, expect_fast=False
    )
    np.testing.assert_array_equal(fast.images, slow.images)
    assert "c1" in L.cache["fastpath_refused"][(("c2", False), ("c1", False))]


def test_self_check_refuses_a_wrong_fast_path(tmp_path, monkeypatch):
    from oipviz.core.ascent import Engine

    L = _foreign(
        tmp_path,
        "wrong",
        lambda layers: [
            layers.Conv2D(4, 3, activation="relu", name="c1"),
            layers.MaxPooling2D(name="p1"),
            layers.Conv2D(8, 3, activation="relu", name="c2"),
        ],
    )
    right = fastpath._bias
    monkeypatch.setattr(fastpath, "_bias", lambda t, layer, *a: right(t, layer, *a) * 1.001)
    monkeypatch.setenv("OIPVIZ_FASTPATH", "1")
    engine = Engine.get(L, [("c2", False)])
    assert engine.fast is None
    assert "differs" in L.cache["fastpath_refused"][(("c2", False),)]
    monkeypatch.setattr(fastpath, "_bias", right)
    objs = [O.map_mean("c2", 1)] * 2
    a, _ = _run(L, objs, monkeypatch, True)  # still the (cached) Keras path
    b, _ = _run(L, objs, monkeypatch, False)
    np.testing.assert_array_equal(a.images, b.images)
