"""Attribution (oipviz.compute.attribution, ``oipviz explain``): correctness on the real bundled
model and on a linear model, sanity checks, the CLI's files and its one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from oipviz.compute.attribution import METHODS


@pytest.fixture(scope="module")
def digits():
    from oipviz.data.sources import mnist_digits

    x, y, _ = mnist_digits(6, seed=0)
    return x, y


@pytest.fixture
def seven_png(tmp_path):
    """A digit-like image file: a dark '7' on white, 160×200 px."""
    im = Image.new("RGB", (160, 200), "white")
    d = ImageDraw.Draw(im)
    d.line([(35, 40), (125, 38), (70, 170)], fill=(20, 20, 30), width=16, joint="curve")
    d.line([(60, 105), (115, 105)], fill=(20, 20, 30), width=12)
    p = tmp_path / "seven.png"
    im.save(p)
    return p


def direct_logit_gradient(loaded, x01, classes):
    """d logit / d pixel with a plain GradientTape through the model's own layers."""
    import tensorflow as tf

    c = loaded.convention
    x = tf.constant(x01)
    w, b = loaded.model.layers[-1].get_weights()
    with tf.GradientTape() as tape:
        tape.watch(x)
        h = (x - c.mean) / c.std
        for layer in loaded.model.layers[:-1]:
            h = layer(h)
        logits = tf.matmul(h, w) + b
        s = tf.reduce_sum(tf.gather(logits, classes, batch_dims=1))
    return tape.gradient(s, x).numpy()[..., 0], logits.numpy()


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_registered_method_runs_through_explain(loaded, digits, name):
    """Each registered method, by its name: one finite map per image, the image's size,
    and the same seed gives the same maps."""
    from oipviz.compute.attribution.explain import explain

    x = digits[0][:3]
    quick = dict(samples=4, ig_steps=8)
    a = explain(x, name, model=loaded, seed=5, **quick)
    b = explain(x, name, model=loaded, seed=5, **quick)
    maps = a.maps[name]
    assert maps.shape == x.shape[:3] and np.isfinite(maps).all() and np.abs(maps).max() > 0
    np.testing.assert_array_equal(maps, b.maps[name])


def test_saliency_is_the_logit_gradient(loaded, digits):
    from oipviz.compute.attribution import Saliency

    x, y = digits
    g, logits = direct_logit_gradient(loaded, x, y)
    signed = Saliency(absolute=False)(loaded, x, y)
    np.testing.assert_allclose(signed.maps, g, rtol=1e-4, atol=1e-5 * np.abs(g).max())
    np.testing.assert_allclose(
        Saliency()(loaded, x, y).maps, np.abs(g), rtol=1e-4, atol=1e-5 * np.abs(g).max()
    )
    np.testing.assert_allclose(signed.scores, logits[np.arange(len(y)), y], rtol=1e-5)
    assert (signed.probs.argmax(1) == y).mean() >= 0.8  # the prediction comes back


def test_compiled_once_for_any_batch(loaded, digits):
    from oipviz.compute.attribution import Saliency

    x, y = digits
    s = Saliency()
    for n in (1, 3, 6):
        s(loaded, x[:n], y[:n], chunk=4)
    fns = [f for k, (f, _) in loaded.cache["attribution"].items() if k[0][0] == "Saliency"]
    assert fns and all(f.experimental_get_tracing_count() == 1 for f in fns)


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    """Input(28,28,1) → Flatten → Dense(10), saved and loaded through oipviz."""
    import keras

    from oipviz.core.loader import load_model

    keras.utils.set_random_seed(3)
    m = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, bias_initializer="random_normal"),
        ]
    )
    path = tmp_path_factory.mktemp("linear") / "linear.keras"
    m.save(path)
    return load_model(path)


def test_ig_complete_and_equal_to_gradient_x_input_on_a_linear_model(linear, digits):
    from oipviz.compute.attribution import GradientInput, IntegratedGradients

    x, y = digits
    ig = IntegratedGradients(ig_steps=64, baseline="black")(linear, x, y)
    assert np.abs(ig.extras["completeness_error"]).max() < 1e-3
    gi = GradientInput()(linear, x, y)
    np.testing.assert_allclose(gi.maps, ig.maps, atol=1e-6)
    mean = IntegratedGradients(ig_steps=64, baseline="mean")(linear, x, y)
    assert np.abs(mean.extras["completeness_error"]).max() < 1e-3


def test_ig_completeness_on_the_cnn(loaded, digits):
    from oipviz.compute.attribution import IntegratedGradients

    x, y = digits
    ig = IntegratedGradients(ig_steps=64)(loaded, x, y)
    rel = np.abs(ig.extras["completeness_error"]) / np.abs(ig.scores - ig.extras["baseline_score"])
    assert rel.max() < 0.05


def test_gradcam_on_the_last_conv_layer(loaded, digits):
    from oipviz.compute.attribution import GradCAM, GradCAMPlusPlus

    x, y = digits
    conv = loaded.conv_layers()[-1]
    for method in (GradCAM(), GradCAMPlusPlus()):
        a = method(loaded, x, y)
        cam = a.extras["cam"]
        assert cam.shape == (len(x),) + tuple(conv.shape[1:3])
        assert (cam >= 0).all() and (a.maps >= 0).all() and a.maps.shape == (len(x), 28, 28)
        assert (cam.reshape(len(x), -1).max(1) > 0).all()
    early = GradCAM("conv2")(loaded, x, y).extras["cam"]
    assert early.shape[1:] == tuple(loaded.layer("conv2").shape[1:3])


def test_occlusion_with_one_whole_image_patch(loaded, digits):
    from oipviz.compute.attribution import Occlusion, Saliency

    x, y = digits
    occ = Occlusion(patch=28, stride=28, occlusion_value=0.0)(loaded, x, y)
    f_base = Saliency()(loaded, np.zeros_like(x), y).scores
    want = (occ.scores - f_base)[:, None, None]
    np.testing.assert_allclose(
        occ.maps, np.broadcast_to(want, occ.maps.shape), rtol=1e-4, atol=1e-4
    )


def test_smoothgrad_reproducible_and_near_saliency(loaded, digits):
    from oipviz.compute.attribution import Saliency, SmoothGrad

    x, y = digits
    a = SmoothGrad(samples=8, noise=0.1, seed=1)(loaded, x, y).maps
    b = SmoothGrad(samples=8, noise=0.1, seed=1)(loaded, x, y).maps
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, SmoothGrad(samples=8, noise=0.1, seed=2)(loaded, x, y).maps)
    still = SmoothGrad(samples=3, noise=0.0)(loaded, x, y).maps  # no noise: the gradient
    np.testing.assert_allclose(still, Saliency()(loaded, x, y).maps, rtol=1e-5, atol=1e-6)


def test_randomization_decorrelates_saliency(loaded, digits):
    from oipviz.compute.attribution import Saliency
    from oipviz.compute.attribution.sanity import model_randomization, signed_variant

    x, y = digits
    rows, examples = model_randomization(
        loaded, x, list(y), {"saliency": signed_variant(Saliency())}, cascade=False
    )
    assert (
        len(rows) == 1
        and rows[0]["layers"] == [ly.name for ly in loaded.model.layers if ly.weights][::-1]
    )
    assert rows[0]["spearman"] < 0.5
    assert len(examples["saliency"]) == 2


def test_deletion_beats_random_order(loaded, digits):
    from oipviz.compute.attribution import IntegratedGradients
    from oipviz.compute.attribution.sanity import deletion_insertion

    x, y = digits
    maps = {"ig": IntegratedGradients(ig_steps=16)(loaded, x, y).maps}
    rows, curves, fr = deletion_insertion(loaded, x, list(y), maps, steps=14)
    auc = {r["method"]: r for r in rows}
    assert auc["ig"]["deletion_auc"] < auc["random order"]["deletion_auc"]
    assert auc["ig"]["insertion_auc"] > auc["random order"]["insertion_auc"]
    assert fr[0] == 0 and fr[-1] == 1 and curves["ig"]["deletion"].shape == (15,)


def test_api_result_and_gallery_helper(loaded, digits):
    import oipviz
    from oipviz.compute.attribution.explain import gradcam_maps
    from oipviz.core.errors import OipvizError

    x, y = digits
    res = oipviz.explain(x, "saliency,gradcam", target="true", labels=y, model=loaded)
    assert res.methods == ["saliency", "gradcam"] and res.maps["gradcam"].shape == (6, 28, 28)
    assert res.targets == [int(v) for v in y]
    assert "<img" in res._repr_html_()
    maps, cams, probs = gradcam_maps(loaded, x, "conv3")
    assert maps.shape == (6, 28, 28) and cams.shape == (6, 3, 3) and probs.shape == (6, 10)
    with pytest.raises(OipvizError, match="outside the classes"):
        oipviz.explain(x, "saliency", target=10, model=loaded)
    with pytest.raises(OipvizError, match="unknown method"):
        oipviz.explain(x, "lime", model=loaded)


def _leftovers(folder) -> list[str]:
    return sorted(p for p in os.listdir(folder) if p != "seven.png")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--method", "lime"], "unknown method 'lime'"),
        (["--method", "gradcam", "--layer", "dense1"], "not a conv layer"),
        (["--method", "saliency", "--target", "12"], "outside the classes 0–9"),
        (["--target", "true"], "needs labels"),
        (["--target", "seven"], "bad --target 'seven'"),
        (["--layer", "nope", "--method", "gradcam"], "no layer 'nope'"),
    ],
)
def test_cli_bad_arguments(cli, user_error, seven_png, tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    user_error(cli("explain", seven_png, *args), fragment)
    assert _leftovers(tmp_path) == []


def test_cli_unreadable_image(cli, user_error, tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    bad = Path(__file__).parent / "data" / "not_image.png"
    user_error(cli("explain", bad), "not_image.png")
    assert os.listdir(tmp_path) == []


def test_cli_samples_grid(cli, tmp_path):
    out = tmp_path / "ex"
    r = cli("explain", "--samples", "16", "--smooth-samples", "8", "--out", out, "--quiet")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    img = Image.open(out / "explain.png")
    assert img.width > 600 and img.height > 1500  # 16 rows × 8 columns
    assert np.load(out / "maps_ig.npy").shape == (16, 28, 28)
    assert np.load(out / "gradcam_cam.npy").shape == (16, 3, 3)
    m = json.loads((out / "manifest.json").read_text())
    assert m["kind"] == "explain" and len(m["inputs"]) == 16 and len(m["methods"]) == 7
    acc = np.mean([e["prediction"] == e["label"] for e in m["inputs"]])
    assert acc >= 0.9 and all(abs(e["ig_completeness_error"]) < 1.0 for e in m["inputs"])
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


@pytest.mark.slow
def test_cli_image_with_sanity(cli, seven_png, tmp_path):
    out = tmp_path / "s"
    r = cli("explain", seven_png, "--method", "saliency,ig,gradcam", "--sanity", "--out", out)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert "predicted 7" in r.stdout
    rows = (out / "sanity.csv").read_text().splitlines()
    assert rows[0].startswith("method,spearman_random") and len(rows) == 1 + 3 + 1
    assert Image.open(out / "sanity.png").size[0] > 600
    assert Image.open(out / "sanity_maps.png").size[0] > 300
    m = json.loads((out / "manifest.json").read_text())
    sal = [t for t in m["sanity"]["table"] if t["method"] == "saliency"][0]
    assert sal["spearman_random"] < 0.5 and sal["verdict"] == "model-sensitive"
    assert "random_features" in m["sanity"]["random_features_model"]


def documented_method_source() -> str:
    """The docs' "adding an attribution method is one file" example (docs/architecture.md),
    as written."""
    text = (Path(__file__).parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    start = text.index("# oipviz/compute/attribution/gradsquared.py")
    return text[start : text.index("```", start)]


def test_the_documented_method_is_added_by_its_one_file(digits):
    """The documented new method, run as written: ``explain`` finds it by name, hands it its
    setting, and the pictures take its title from the class."""
    from oipviz.compute.attribution import explain as E
    from oipviz.compute.attribution.registry import METHODS
    from oipviz.render.explain import grid_figure

    before = dict(METHODS)
    try:
        exec(compile(documented_method_source(), "gradsquared.py", "exec"), {})
        x = digits[0][:3]
        one = E.explain(x, "gradsquared,saliency", model=None)
        two = E.explain(x, "gradsquared", model=None, scale=2.0)
    finally:
        METHODS.clear()
        METHODS.update(before)
    maps = one.maps["gradsquared"]
    assert maps.shape == x.shape[:3] and np.isfinite(maps).all() and maps.max() > 0
    np.testing.assert_allclose(two.maps["gradsquared"], 2 * maps, rtol=1e-5)
    assert one.attributions["gradsquared"].title == "gradient²"
    assert grid_figure(one).size[0] > 200


def test_explain_figures_leave_the_matplotlib_backend_alone(tmp_path):
    """Drawing the explain figures (a notebook's res.figure(), the writer's files) neither
    switches the user's matplotlib backend nor starts pyplot: the object API only."""
    import subprocess
    import sys

    code = """
import json, sys
from types import SimpleNamespace as NS
import matplotlib
import numpy as np
from oipviz.render.explain import grid_figure, sanity_maps_figure
rng = np.random.default_rng(0)
att = {m: NS(maps=rng.normal(size=(2, 28, 28)).astype("float32"), title=m, signed=m == "ig")
       for m in ("saliency", "ig")}
res = NS(images=rng.random((2, 28, 28)), methods=["saliency", "ig"], attributions=att,
         probs=np.full((2, 10), 0.1), targets=[3, 4], labels=np.array([3, 5]),
         target_mode="predicted", model_name="m",
         sanity=NS(examples={"ig": [("trained", rng.normal(size=(28, 28))),
                                    ("conv3", rng.normal(size=(28, 28)))]}))
img, maps = grid_figure(res), sanity_maps_figure(res)
print(json.dumps([img.size, img.mode, maps.mode, matplotlib.get_backend(),
                  "matplotlib.pyplot" in sys.modules]))
"""
    env = dict(os.environ, MPLBACKEND="svg")
    p = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert p.returncode == 0, p.stderr
    size, mode, maps_mode, backend, pyplot = json.loads(p.stdout.splitlines()[-1])
    assert (mode, maps_mode, backend, pyplot) == ("RGB", "RGB", "svg", False)
    assert size == [int(1.35 * 3 * 90), int((1.5 * 2 + 0.3) * 90)]  # 3 columns, 2 rows
