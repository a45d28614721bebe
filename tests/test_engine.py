"""The batched ascent engine, objectives, inits and renders, on the real bundled model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from oipviz.core import objectives as O
from oipviz.core.inits import fluctuations, standardize

LIVE_MAP = 46  # a conv3 map that responds to most fluctuation inits


def _keras_outputs(loaded, names, z):
    """The layers' outputs from a plain Keras sub-model of the (Sequential) model, fed the
    model's own input: independent of oipviz's graph runner."""
    import keras

    sub = keras.Model(loaded.model.inputs, [loaded.model.get_layer(n).output for n in names])
    out = sub(loaded.model_input(loaded.convention.from_engine(z)), training=False)
    return [np.asarray(a) for a in (out if isinstance(out, (list, tuple)) else [out])]


def test_activation_rises_over_the_init(loaded):
    from oipviz.core.ascent import ascend

    x0 = fluctuations([LIVE_MAP], 8, seed=0)
    r = ascend(loaded, x0, O.map_mean("conv3", LIVE_MAP), steps=50, lr=0.02)
    assert r.images.shape == (8, 28, 28, 1) and not r.interrupted and r.steps_done == 50
    assert np.all(r.final > r.start), (r.start, r.final)
    assert np.all(r.final > 2 * r.start + 1.0), (r.start, r.final)  # a real rise, not noise
    # the history starts at the init's value and ends near the final one
    np.testing.assert_allclose(r.history[0], r.start, rtol=1e-4, atol=1e-5)
    assert r.history_steps[0] == 0 and r.history_steps[-1] == 49
    # each step has RMS lr: 50 steps move an image by at most 50*lr RMS
    rms = np.sqrt(((r.images - x0) ** 2).mean(axis=(1, 2, 3)))
    assert np.all(rms > 0.1) and np.all(rms <= 50 * 0.02 + 1e-4), rms


def test_steps_zero_and_evaluate_only_measure(loaded):
    from oipviz.core.ascent import ascend, evaluate

    x0 = fluctuations([LIVE_MAP], 3, seed=0)
    r = ascend(loaded, x0, O.map_mean("conv3", LIVE_MAP), steps=0)
    np.testing.assert_array_equal(r.images, x0)
    np.testing.assert_array_equal(r.start, r.final)
    # independent check of the objective: mean of map 46 from a plain Keras sub-model
    acts = _keras_outputs(loaded, ["conv3"], x0)[0]
    assert acts.shape == (3, 3, 3, 128)
    want = acts[..., LIVE_MAP].mean(axis=(1, 2))
    np.testing.assert_allclose(
        evaluate(loaded, x0, O.map_mean("conv3", LIVE_MAP)), want, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(r.final, want, rtol=1e-5, atol=1e-6)


def _mixed():
    """Six images, each with a different kind of objective; all are live on their image."""
    x0 = fluctuations([LIVE_MAP], 8, seed=0)[:7]
    objs = [
        O.map_mean("conv3", LIVE_MAP),
        O.map_max("conv3", LIVE_MAP),
        O.layer_mix("conv3", 128),
        O.neuron("conv3", LIVE_MAP, 2, 2),
        O.dense_unit("dense1", 0),
        O.class_logit("predictions", 3),
        0.5 * O.map_mean("conv3", 42) + O.class_logit("predictions", 7),
    ]
    return x0, objs


def test_mixed_objectives_batch_equals_each_alone(loaded):
    from oipviz.core.ascent import ascend

    x0, objs = _mixed()
    steps, lr = 30, 0.05
    batch = ascend(loaded, x0, objs, steps=steps, lr=lr)
    assert np.all(batch.final > batch.start + 0.05), (batch.start, batch.final)  # all live
    for i, obj in enumerate(objs):
        alone = ascend(loaded, x0[i : i + 1], obj, steps=steps, lr=lr)
        scale = float(np.abs(batch.images[i]).max())
        np.testing.assert_allclose(
            alone.images[0], batch.images[i], atol=1e-4 * scale, rtol=0, err_msg=obj.name
        )
        assert alone.final[0] == pytest.approx(batch.final[i], rel=1e-4, abs=1e-5), obj.name
    # different objectives really lead to different pictures from the same kind of start
    assert np.abs(batch.images[0] - batch.images[1]).max() > 0.1


def test_objective_values_match_keras(loaded):
    """max, neuron, unit and logit are what their names say (checked with plain Keras)."""
    from oipviz.core.ascent import evaluate

    x0 = fluctuations([LIVE_MAP], 4, seed=0)
    conv3, dense1 = _keras_outputs(loaded, ["conv3", "dense1"], x0)
    w, b = loaded.model.get_layer("predictions").get_weights()
    logits = dense1 @ w + b  # the final Dense layer before its softmax
    probs = loaded.predict(loaded.convention.from_engine(x0))
    np.testing.assert_allclose(
        np.exp(logits) / np.exp(logits).sum(1, keepdims=True), probs, atol=1e-5
    )
    checks = [
        (O.map_max("conv3", LIVE_MAP), conv3[..., LIVE_MAP].max(axis=(1, 2))),
        (O.neuron("conv3", LIVE_MAP, 2, 2), conv3[:, 2, 2, LIVE_MAP]),
        (O.dense_unit("dense1", 0), dense1[:, 0]),
        (O.class_logit("predictions", 3), logits[:, 3]),
        (O.layer_mix("conv3", 128), conv3.mean(axis=(1, 2, 3))),
    ]
    for obj, want in checks:
        np.testing.assert_allclose(
            evaluate(loaded, x0, obj), want, rtol=1e-4, atol=1e-5, err_msg=obj.name
        )


def test_repeated_calls_do_not_retrace(loaded):
    from oipviz.core.ascent import Engine, ascend

    x = fluctuations(range(8), 1, seed=5)
    ascend(loaded, x[:3], O.map_mean("conv3", 1), steps=2)
    engine = Engine.get(loaded, [("conv3", False)])
    assert engine.traces == 1
    ascend(loaded, x[:5], [O.map_max("conv3", m) for m in range(5)], steps=3)
    ascend(loaded, x, [O.map_mean("conv3", m) for m in range(8)], steps=30, chunk=3)
    ascend(loaded, x[:1], O.neuron("conv3", 7, 0, 1) + O.layer_mix("conv3", 128), steps=1)
    assert Engine.get(loaded, [("conv3", False)]) is engine
    assert engine.traces == 1


@pytest.mark.parametrize("row, col", [(None, None), (1, None), (3, 0), (0, -1)])
def test_neuron_term_without_a_place_in_the_map_is_refused(loaded, row, col):
    """A neuron term built by hand without a row/column (or outside the 3×3 map) is an
    OipvizError naming it, not a TypeError from inside the engine."""
    from oipviz.core.ascent import ascend
    from oipviz.core.errors import OipvizError

    x = fluctuations([7], 1, seed=0)
    term = O.Term("conv3", "neuron", 7, row=row, col=col)
    with pytest.raises(OipvizError, match=r"conv3:7@.*neuron outside the 3×3 map"):
        ascend(loaded, x, O.Objective((term,)), steps=1)
    r = ascend(loaded, x, O.Objective((O.Term("conv3", "neuron", 7, row=2, col=0),)), steps=1)
    assert r.images.shape == x.shape


def test_chunking_gives_the_same_images(loaded):
    from oipviz.core.ascent import ascend

    x0 = fluctuations([LIVE_MAP, 3, 7, 20], 2, seed=1)
    objs = [O.map_mean("conv3", m) for m in (LIVE_MAP, LIVE_MAP, 3, 3, 7, 7, 20, 20)]
    a = ascend(loaded, x0, objs, steps=30, lr=0.02, chunk=3)  # chunks 3+3+2 (last one padded)
    b = ascend(loaded, x0, objs, steps=30, lr=0.02, chunk=8)
    assert np.abs(b.images - x0).max() > 0.1
    np.testing.assert_allclose(a.images, b.images, atol=1e-5, rtol=0)
    np.testing.assert_allclose(a.final, b.final, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.start, b.start, rtol=1e-5, atol=1e-6)


def test_keyboard_interrupt_returns_partial_result(loaded):
    from oipviz.core.ascent import ascend

    x0 = fluctuations([LIVE_MAP], 4, seed=0)
    calls = []

    def progress(n):
        calls.append(n)
        raise KeyboardInterrupt

    r = ascend(loaded, x0, O.map_mean("conv3", LIVE_MAP), steps=2000, lr=0.02, progress=progress)
    assert r.interrupted and len(calls) == 1
    assert 0 < r.steps_done < 2000 and calls[0] == r.steps_done * 4
    assert r.images.shape == x0.shape and np.abs(r.images - x0).max() > 0.05  # not the inits
    assert np.all(r.final > r.start)


def test_inits_reproducible_and_standardized():
    a = fluctuations([46], 3, seed=0)
    b = fluctuations([5, 46, 7], 3, seed=0)
    assert a.shape == (3, 28, 28, 1) and b.shape == (9, 28, 28, 1)
    np.testing.assert_array_equal(a, b[3:6])  # other maps don't change map 46's inits
    np.testing.assert_array_equal(a, fluctuations([46], 3, seed=0))
    assert not np.allclose(a, fluctuations([46], 3, seed=1))
    assert not np.allclose(a[0], a[1]) and not np.allclose(b[0], b[3])
    np.testing.assert_allclose(a.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(a.std(axis=(1, 2, 3)), 1, atol=1e-4)
    # multi-scale: coarse scales make neighbouring pixels correlated (white noise would not)
    x = b[..., 0]
    corr = np.mean(x[:, :, 1:] * x[:, :, :-1]) / np.mean(x * x)
    assert corr > 0.3
    # only the 1-px scale: close to white noise
    fine = fluctuations([46], 3, seed=0, scale_weights=(1, 0, 0, 0))[..., 0]
    assert abs(np.mean(fine[:, :, 1:] * fine[:, :, :-1])) < 0.15


def test_enhance_matches_definition():
    from oipviz.render.images import enhance, normalize

    rng = np.random.default_rng(0)
    z = rng.normal(size=(28, 28)).astype(np.float32) * 3 + 1
    z[0, 0], z[0, 1] = 40.0, -40.0  # outliers must clip
    want = np.clip(standardize(z[None])[0] * 0.15 + 0.5, 0, 1)
    got = enhance(z)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert got[0, 0] == 1.0 and got[0, 1] == 0.0
    n = normalize(z)
    assert n.min() == 0.0 and n.max() == 1.0 and n[0, 0] == 1.0
    assert np.all(normalize(np.ones((28, 28))) == 0.5)


def test_viridis_and_gray_pngs_read_back(tmp_path):
    from matplotlib import colormaps

    from oipviz.core.outputs import save_image
    from oipviz.render.images import normalize, to_image

    z = np.linspace(-1, 1, 28 * 28, dtype=np.float32).reshape(28, 28)
    img01 = normalize(z)
    p = save_image(tmp_path / "v.png", to_image(img01, "viridis", scale=8))
    with Image.open(p) as im:
        assert im.format == "PNG" and im.mode == "RGB" and im.size == (224, 224)
        arr = np.asarray(im)
    lut = (colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(arr[0, 0], lut[0])  # darkest = viridis' start
    np.testing.assert_array_equal(arr[-1, -1], lut[255])  # brightest = viridis' end
    np.testing.assert_array_equal(arr[8 * 14 + 3, 8 * 5 + 7], lut[int(round(img01[14, 5] * 255))])
    # nearest-neighbour enlargement: each 8x8 block is one colour
    assert (arr[:8, :8] == arr[0, 0]).all()
    g = save_image(tmp_path / "g.png", to_image(img01, "gray", scale=1))
    with Image.open(g) as im:
        assert im.mode == "L" and im.size == (28, 28)
        np.testing.assert_array_equal(np.asarray(im), np.round(img01 * 255).astype(np.uint8))


def test_saved_pictures_arrays_and_tables_are_atomic_and_reproducible(tmp_path):
    """The output layer's save helpers: the same picture gives the same bytes (no
    metadata), fast compression keeps the pixels, no temp file is left, arrays round-trip,
    CSV cells are written the one way every writer uses."""
    from PIL import Image

    from oipviz.core.outputs import save_array, save_csv, save_image
    from oipviz.render.images import to_image

    img = to_image(np.linspace(0, 1, 28 * 28).reshape(28, 28), "viridis", scale=4)
    a, b = save_image(tmp_path / "a.png", img), save_image(tmp_path / "b.png", img)
    fast = save_image(tmp_path / "fast.png", img, fast=True)
    assert a.read_bytes() == b.read_bytes() and fast.read_bytes() != a.read_bytes()
    with Image.open(a) as x, Image.open(fast) as y:
        assert x.info == {} and x.size == (112, 112)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    z = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(np.load(save_array(tmp_path / "z.npy", z)), z)
    rows = [{"k": 5, "v": 1 / 3, "m": None}, {"k": 8, "v": 2.0, "tags": ["a", "b"]}]
    text = save_csv(tmp_path / "t.csv", rows).read_text()
    assert text == "k,v,m,tags\n5,0.333333,,\n8,2,,a b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.png",
        "b.png",
        "fast.png",
        "t.csv",
        "z.npy",
    ]


def test_pruned_images_come_back_unchanged_and_equal_a_full_run(loaded):
    """The step is g / RMS(g): an image with an exactly zero gradient never moves, so the
    engine skips it; the result equals a full run's."""
    from oipviz.core.ascent import ascend
    from oipviz.core.inits import precursor_patterns
    from oipviz.core.objectives import map_mean

    x = precursor_patterns(np.arange(0, 19683, 97), 3, (0.2, 0.5, 0.8))  # 203 patterns
    obj = map_mean("conv3", 46)
    fast = ascend(loaded, x, obj, steps=10, lr=0.02)
    full = ascend(loaded, x, obj, steps=10, lr=0.02, prune=False)
    assert fast.pruned > 10 and full.pruned == 0
    still = np.all(fast.images == x, axis=(1, 2, 3))
    assert still.sum() >= fast.pruned
    assert np.array_equal(full.images[still], x[still])  # a full run leaves them too
    assert np.array_equal(fast.final[still], full.final[still])
    assert np.allclose(fast.images, full.images, atol=1e-4)
    assert np.allclose(fast.final, full.final, rtol=1e-4, atol=1e-5)


def test_plateau_stop_takes_fewer_steps_and_keeps_each_stopped_image(loaded):
    """With ``plateau``, inits whose value has stopped rising stop early: fewer steps, the
    rest keep climbing, the result is reproducible, and each image's reported value is its
    own (measured on the image returned)."""
    from oipviz.core.ascent import ascend, evaluate
    from oipviz.core.transforms import Clip

    maps = [3, 46, 81, 116]
    x0 = loaded.convention.to_engine(np.clip(0.5 + 0.15 * fluctuations(maps, 4, seed=1), 0, 1))
    objs = [O.wake(O.map_mean("conv3", m)) for m in maps for _ in range(4)]
    lo, hi = loaded.convention.to_engine(np.array([0.0, 1.0]))
    kw = dict(steps=300, lr=0.05, transforms=(Clip(float(lo), float(hi)),), block_steps=25)
    full = ascend(loaded, x0, objs, **kw)
    a = ascend(loaded, x0, objs, plateau=0.02, **kw)
    b = ascend(loaded, x0, objs, plateau=0.02, **kw)
    assert np.all(full.steps_each == 300) and a.steps_done == 300
    stopped = a.steps_each < 300
    assert stopped.any(), a.steps_each  # valid-range map means level off within 300 steps
    assert np.all(a.steps_each % 25 == 0) and a.steps_each.min() >= 75
    np.testing.assert_array_equal(a.images, b.images)  # same seed, same images
    np.testing.assert_allclose(a.final, evaluate(loaded, a.images, objs), rtol=1e-5, atol=1e-6)
    # a stopped image is the one the full run had at that step: its value is close to the
    # full run's (it had stopped rising), never far below
    assert np.all(a.final[stopped] >= 0.9 * full.final[stopped]), (a.final, full.final)
    # the history of a stopped image is flat after its stop
    last = a.history[-1, stopped]
    np.testing.assert_allclose(last, a.history[-2, stopped])
