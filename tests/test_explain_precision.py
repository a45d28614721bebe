"""bfloat16 gradients for attribution (``precision=``): the maps agree with float32, the
values (scores, probabilities) are float32 and identical, and the result says which
precision was used (float32 where the fast path is off)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import argv

#: per-image Pearson correlation of bf16 maps with the float32 ones.  Measured on 500
#: digits: saliency (one gradient) median 0.998, 1st percentile 0.978, worst 0.95;
#: SmoothGrad (averaged gradients) worst 0.999.
SALIENCY_MIN, SALIENCY_MEAN, SMOOTHGRAD_MIN = 0.97, 0.99, 0.99


@pytest.fixture(scope="module")
def digits():
    from oipviz.data.sources import mnist_digits

    x, _, _ = mnist_digits(16, seed=0)
    return x


def pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([np.corrcoef(u.ravel(), v.ravel())[0, 1] for u, v in zip(a, b)])


@pytest.mark.parametrize("name", ["saliency", "smoothgrad"])
def test_bf16_maps_agree_and_values_stay_float32(loaded, digits, name):
    from oipviz.compute.attribution import Saliency, SmoothGrad

    m = Saliency() if name == "saliency" else SmoothGrad(samples=8)
    y = 3  # one class for all: some are not 3
    f32 = m(loaded, digits, y)
    bf16 = m(loaded, digits, y, precision="bfloat16")
    assert f32.precision == "float32" and bf16.precision == "bfloat16"
    assert bf16.params["precision"] == "bfloat16"
    r = pearson(f32.maps, bf16.maps)
    if name == "saliency":
        assert r.min() >= SALIENCY_MIN and r.mean() >= SALIENCY_MEAN, r
    else:
        assert r.min() >= SMOOTHGRAD_MIN, r
    assert not np.array_equal(f32.maps, bf16.maps)  # bf16 really ran
    np.testing.assert_array_equal(bf16.probs, f32.probs)
    np.testing.assert_array_equal(bf16.scores, f32.scores)
    keys = [k for k in loaded.cache["attribution"] if k[0][0] == type(m).__name__]
    assert {k[-1] for k in keys} >= {"float32", "bfloat16"}  # compiled once per precision


def test_bf16_falls_back_to_float32_without_the_fast_path(loaded, digits, monkeypatch):
    from oipviz.compute.attribution import Saliency

    monkeypatch.setenv("OIPVIZ_FASTPATH", "0")
    keras = Saliency()(loaded, digits, 3)
    low = Saliency()(loaded, digits, 3, precision="bfloat16")
    assert low.precision == "float32" and low.params["precision"] == "float32"
    np.testing.assert_allclose(low.maps, keras.maps, rtol=1e-6, atol=1e-7)


def test_explain_records_precision_and_rejects_unknown(loaded, digits):
    import oipviz
    from oipviz.core.errors import OipvizError

    res = oipviz.explain(digits[:4], "saliency,gradcam", model=loaded, precision="bfloat16")
    assert res.precision == {"saliency": "bfloat16", "gradcam": "float32"}  # Grad-CAM: f32
    with pytest.raises(OipvizError, match="unknown precision 'half'"):
        oipviz.explain(digits[:4], "saliency", model=loaded, precision="half")


def test_cli_precision(cli, user_error, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    user_error(cli("explain", "--samples", "2", "--precision", "half"), "--precision")
    assert list(tmp_path.iterdir()) == []
    out = tmp_path / "ex"
    r = cli(
        *argv(
            "explain --samples 4 --method saliency,gradcam --precision bfloat16 --quiet --out", out
        )
    )
    assert r.exit_code == 0, (r.stdout, r.stderr)
    m = json.loads((out / "manifest.json").read_text())
    assert m["parameters"]["precision"] == "bfloat16"
    assert m["precision"] == {"saliency": "bfloat16", "gradcam": "float32"}
    assert m["method_parameters"]["saliency"]["precision"] == "bfloat16"
