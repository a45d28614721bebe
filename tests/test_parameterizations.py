"""The spectral image parameterization (lucid's Fourier spectrum, decorrelated colour):
exact round trips, the compiled and numpy forwards agree, OIPs climb and stay in range,
and the CLI's --param."""

from __future__ import annotations

import json

import numpy as np
import pytest

from oipviz.core.errors import OipvizError
from oipviz.core.parameterizations import COLOR_MIX, Spectral, spectrum_scale

#: engine-space bounds of a colour model (ImageNet standardization of [0, 1] pixels)
COLOUR_LO = (-2.1179, -2.0357, -1.8044)
COLOUR_HI = (2.2489, 2.4286, 2.64)
CASES = [
    ((2, 28, 28, 1), Spectral()),
    ((2, 28, 28, 1), Spectral(decay=1.5, lo=-0.42, hi=2.82)),
    ((3, 31, 17, 3), Spectral()),
    ((3, 32, 32, 3), Spectral(lo=COLOUR_LO, hi=COLOUR_HI)),
    ((2, 15, 20, 3), Spectral(decorrelate=False, lo=COLOUR_LO, hi=COLOUR_HI)),
]


@pytest.mark.parametrize(("shape", "sp"), CASES)
def test_inverse_undoes_forward_exactly(shape, sp):
    rng = np.random.default_rng(0)
    u = (0.3 * rng.standard_normal(shape)).astype(np.float32)
    x = sp.forward(u)
    assert x.shape == shape and sp.var_shape(shape[1:]) == shape[1:]
    np.testing.assert_allclose(sp.inverse(x), u, atol=2e-5)
    # and the other way round: any image in range has a spectrum that gives it back
    lo = np.asarray(sp.lo if sp.lo is not None else -1.0)
    hi = np.asarray(sp.hi if sp.hi is not None else 1.0)
    img = (lo + (hi - lo) * rng.uniform(0.05, 0.95, shape)).astype(np.float32)
    np.testing.assert_allclose(sp.forward(sp.inverse(img)), img, atol=2e-5)


@pytest.mark.parametrize(("shape", "sp"), CASES)
def test_compiled_forward_equals_numpy_forward(shape, sp):
    import tensorflow as tf

    u = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(sp.tf_forward(tf.constant(u)).numpy(), sp.forward(u), atol=2e-5)


def test_bounded_images_never_leave_their_range_and_colour_is_decorrelated():
    u = (50.0 * np.random.default_rng(2).standard_normal((2, 16, 16, 3))).astype(np.float32)
    x = Spectral(lo=COLOUR_LO, hi=COLOUR_HI).forward(u)
    lo, hi = np.asarray(COLOUR_LO, np.float32), np.asarray(COLOUR_HI, np.float32)
    assert (x >= lo).all() and (x <= hi).all() and (x == lo).any()  # saturates, never beyond
    # one unit along the first decorrelated axis moves all three channels alike (luminance)
    assert np.allclose(COLOR_MIX[:, 0], COLOR_MIX[0, 0], atol=0.04)
    assert np.linalg.norm(COLOR_MIX, axis=0).max() == pytest.approx(1.0)
    s = spectrum_scale(32, 32, 1.0)
    assert s.min() == pytest.approx(1.0) and s[0, 0] == s.max() > 20  # coarse moves further


def test_bad_settings_are_refused():
    with pytest.raises(OipvizError, match="lo < hi"):
        Spectral(lo=1.0, hi=0.0)
    with pytest.raises(OipvizError, match="both bounds"):
        Spectral(lo=0.0)
    with pytest.raises(OipvizError, match="decay"):
        Spectral(decay=float("nan"))


def test_planned_transforms_of_the_spectral_param():
    from oipviz.compute.oip import plan_transforms, resolve_param
    from oipviz.core import transforms as T
    from oipviz.core.convention import InputConvention

    conv = InputConvention.of("unit", 3)
    valid = plan_transforms(conv, "valid", "readable", param="spectral")
    sp = valid[-1]
    assert isinstance(sp, T.Spectral) and sp.lo is not None and sp.hi is not None
    # the sigmoid bounds are the pixel range [0, 1] in engine space, per channel
    np.testing.assert_allclose(conv.from_engine(np.asarray(sp.lo)), 0.0, atol=1e-6)
    np.testing.assert_allclose(conv.from_engine(np.asarray(sp.hi)), 1.0, atol=1e-6)
    assert not any(isinstance(t, T.Clip | T.Blur) for t in valid)  # no clip of the spectrum
    assert plan_transforms(conv, "free", param="spectral") == (T.Spectral(),)
    assert isinstance(plan_transforms(conv, "valid")[-1], T.Clip)  # pixel: as before
    with pytest.raises(OipvizError, match="blur"):
        plan_transforms(conv, "valid", blur=1.0, param="spectral")
    with pytest.raises(OipvizError, match="unknown param"):
        resolve_param("fourier", 3)
    assert resolve_param("auto", 1) == "pixel"


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    """A small colour CNN (16×16×3, pixels in 0-255) saved as .keras."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Rescaling(1 / 255.0),
            keras.layers.Conv2D(6, 3, activation="relu", name="conv1"),
            keras.layers.Conv2D(8, 3, activation="relu", name="conv2"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, name="out"),
        ]
    )
    path = tmp_path_factory.mktemp("colour") / "colour.keras"
    model.save(path)
    return path


# maps 0 and 7 are at zero from these inits: only the valid range's fallback wakes them
@pytest.mark.parametrize(("range_mode", "maps"), [("valid", [0, 5]), ("free", [5])])
def test_spectral_oip_climbs_and_valid_stays_in_range(colour_model, range_mode, maps):
    import oipviz

    m = oipviz.load_model(colour_model)
    run = oipviz.oip(
        "conv2", maps, m, inits=2, steps=30, lr=0.05, range_mode=range_mode,
        param="spectral", progress=False,
    )  # fmt: skip
    assert run.images.shape == (len(maps), 2, 16, 16, 3)
    assert any(isinstance(t, oipviz.core.transforms.Spectral) for t in run.transforms)
    assert (run.final > run.start + 1e-3).all(), (run.start, run.final)
    if range_mode == "valid":
        px = m.convention.from_engine(run.images)
        assert px.min() >= -1e-5 and px.max() <= 1 + 1e-5


def test_cli_param_spectral_is_recorded_and_bad_values_refused(
    colour_model, cli, user_error, tmp_path
):
    out = tmp_path / "oips"
    args = ["--model", colour_model, "--layer", "conv2", "--map", "1", "--inits", "2"]
    r = cli("oip", *args, "--epochs", "10", "--range", "valid", "--param", "spectral",
            "--out", out, "--quiet")  # fmt: skip
    assert r.exit_code == 0, (r.stdout, r.stderr, r.exception)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["param"] == "spectral" and manifest["param_used"] == "spectral"
    assert any(t.startswith("Spectral(") for t in manifest["transform_list"])
    user_error(cli("oip", *args, "--param", "fourier", "--out", tmp_path / "x"), "--param")
    bad = cli("oip", *args, "--param", "spectral", "--blur", "1", "--out", tmp_path / "y")
    user_error(bad, "--blur")
    assert not (tmp_path / "y").exists() and not (tmp_path / "x").exists()
