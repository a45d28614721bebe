"""bfloat16 ascent steps (``--precision``): what a user sees is float32 and honest, close to
a float32 run, recorded in the outputs, and float32 where the fast path does not apply.

Tolerance (measured in bench/precision.py on many more maps): after the same steps, the
best activation per map is within 10% of the float32 run's; the values reported are the
float32 values of the images returned, exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import _assert_user_error
from helpers import argv

from oipviz.core import objectives as O
from oipviz.core import precision
from oipviz.core.errors import OipvizError
from oipviz.core.inits import fluctuations

needs_bf16 = pytest.mark.skipif(
    not precision.cpu_has_bf16(), reason="this CPU has no native bf16 (AVX512_BF16/AMX)"
)


def test_check_and_auto():
    assert precision.resolve("float32") == "float32"
    assert precision.resolve("bfloat16") == "bfloat16"
    assert precision.resolve("auto") == ("bfloat16" if precision.cpu_has_amx() else "float32")
    with pytest.raises(OipvizError, match="unknown precision 'half'; choose from"):
        precision.check("half")


def test_bf16_steps_report_float32_values_close_to_float32(loaded):
    from oipviz.core.ascent import ascend, evaluate

    objs = [O.map_mean("conv3", m) for m in range(8) for _ in range(2)]
    x0 = fluctuations(list(range(8)), 2, seed=3)
    lo = ascend(loaded, x0, objs, steps=60, lr=0.05, prune=False, precision="bfloat16")
    hi = ascend(loaded, x0, objs, steps=60, lr=0.05, prune=False)
    assert lo.precision == "bfloat16" and hi.precision == "float32"
    # the values are float32 values of the images returned, not bf16 ones
    np.testing.assert_array_equal(lo.final, evaluate(loaded, lo.images, objs))
    np.testing.assert_array_equal(lo.start, hi.start)
    best_lo = lo.final.reshape(8, 2).max(axis=1)
    best_hi = hi.final.reshape(8, 2).max(axis=1)
    live = best_hi > 1.0
    assert live.sum() >= 5
    np.testing.assert_array_equal(best_lo > 1.0, live)  # the same maps stay dead
    np.testing.assert_allclose(best_lo[live], best_hi[live], rtol=0.10)
    assert not np.array_equal(lo.images, hi.images)  # the steps really ran in bf16


def test_keras_path_stays_float32(loaded, monkeypatch):
    from oipviz.core.ascent import ascend

    monkeypatch.setenv("OIPVIZ_FASTPATH", "0")
    r = ascend(
        loaded, fluctuations([0], 2, seed=0), O.map_mean("conv2", 0), steps=3, precision="bfloat16"
    )
    assert r.precision == "float32"


@needs_bf16
def test_cli_precursor_and_oip_record_the_precision(cli, tmp_path):
    out = tmp_path / "p"
    r = cli(
        *argv(
            "precursor --layer conv3 --map 46 --grid 2 --epochs 100 --precision bfloat16 --quiet",
            "--out",
            out,
        )
    )
    assert r.exit_code == 0, r.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["parameters"]["precision"] == "bfloat16" and m["precision_used"] == "bfloat16"
    assert m["best_activation"] > 10
    out = tmp_path / "o"
    r = cli(
        *argv(
            "oip --layer conv3 --map 46 --inits 2 --epochs 30 --precision auto --quiet --out", out
        )
    )
    assert r.exit_code == 0, r.output
    auto = "bfloat16" if precision.cpu_has_amx() else "float32"  # auto: bf16 on AMX CPUs
    assert json.loads((out / "manifest.json").read_text())["precision_used"] == auto
    out = tmp_path / "pa"
    r = cli(*argv("precursor --layer conv3 --map 46 --grid 2 --epochs 20 --precision auto "
                  "--quiet --out", out))  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads((out / "manifest.json").read_text())["precision_used"] == "float32"


def test_cli_refuses_an_unknown_precision(cli, tmp_path):
    for cmd in (
        ["oip", "--layer", "conv3"],
        ["precursor", "--layer", "conv3", "--map", "1"],
        ["gallery", "--layer", "conv3"],
    ):
        r = cli(*cmd, "--precision", "half", "--out", tmp_path / "x")
        _assert_user_error(r, "--precision", "half")
        assert not (tmp_path / "x").exists()
