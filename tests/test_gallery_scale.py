"""Galleries over several layers and models, one job per (model, layer), on the local
executor and on Ray: `oipviz gallery --layer conv1,conv2 --compare M --executor ray` gives
the same files as the local run.

Real TF engine, the real bundled model, a random-weight model as the other one, few steps.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

#: conv1 + conv2 (32 + 64 maps) of the bundled model and of a random-weight model (32 + 32
#: maps): 4 jobs
ARGS = [
    "gallery",
    "--layer",
    "conv1,conv2",
    "--inits",
    "2",
    "--epochs",
    "12",
    "--precursor-epochs",
    "12",
    "--data-limit",
    "200",
    "--no-explain",
    "--no-feature-space",
    "--quiet",
]
SAVED = (".npz", ".npy", ".png")


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    from oipviz.core.tfenv import import_keras
    from oipviz.models.zoo import random_features

    import_keras().utils.set_random_seed(1)
    path = tmp_path_factory.mktemp("models") / "random_features.keras"
    random_features().save(path)
    return path


@pytest.fixture(scope="module")
def local_site(tmp_path_factory, random_model):
    from click.testing import CliRunner

    from oipviz.cli import main

    out = tmp_path_factory.mktemp("local") / "site"
    r = CliRunner().invoke(main, [*ARGS, "--compare", str(random_model), "--out", str(out)])
    assert r.exit_code == 0, r.output + r.stderr
    return out, r.output


def saved_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in SAVED
    }


def test_one_site_with_both_layers_and_both_models(local_site):
    out, text = local_site
    man = json.loads((out / "manifest.json").read_text())
    assert man["complete"] and man["executor"]["name"] == "local"
    assert set(man["layers"]) == {"conv1", "conv2"}
    assert [len(man["layers"][n]["maps"]) for n in ("conv1", "conv2")] == [32, 64]
    index = (out / "index.html").read_text()
    assert "conv1/map_031.html" in index and "conv2/map_063.html" in index
    for name, n in (("conv1", 32), ("conv2", 64)):
        assert len(list((out / name).glob("map_*.html"))) == n
        assert (out / "compare" / f"{name}.html").exists()  # the other model's layer
        assert len(list((out / "compare" / name).glob("map_*.png"))) == 32
        assert f"{name}: " in text and "live" in text
    # every map accounted for on each layer, as the printed counts say
    for name, c in man["summary"].items():
        assert sum(c.values()) == len(man["layers"][name]["maps"])


def test_unknown_layer_in_a_list_writes_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("gallery", "--layer", "conv1,conv9", "--quiet")
    assert r.exit_code == 2 and "conv9" in r.stderr
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--layer", "conv1,,conv2"], "empty layer name"),
        (["--layer", "conv2,conv2"], "given twice"),
        (["--layer", "conv1,flatten"], "has no maps or units"),
        (["--layer", "conv1,conv2", "--maps", "0-3"], "--maps needs a single --layer"),
        (["--address", "127.0.0.1:6379"], "--address needs --executor ray"),
        (["--executor", "ray", "--address", "127.0.0.1:1"], "cannot reach a Ray cluster"),
    ],
)
def test_bad_layer_lists_and_executors(cli, user_error, tmp_path, args, fragment):
    out = tmp_path / "bad"
    user_error(cli("gallery", *args, "--out", out, "--quiet"), fragment)
    assert not out.exists()


# --------------------------------------------------------------------------- Ray


def test_ray_gallery_equals_local(ray_cluster, local_site, random_model, tmp_path, monkeypatch):
    from click.testing import CliRunner

    import oipviz.compute.layerjobs as W
    from oipviz.cli import main

    real, driver = W.layer_work, os.getpid()

    def on_workers_only(*a, **k):  # every (model, layer) job runs on Ray
        if os.getpid() == driver:
            raise AssertionError("a gallery job ran in the driver")
        return real(*a, **k)

    monkeypatch.setattr(W, "layer_work", on_workers_only)
    out = tmp_path / "ray"
    r = CliRunner().invoke(
        main, [*ARGS, "--compare", str(random_model), "--out", str(out), "--executor", "ray"]
    )
    assert r.exit_code == 0, r.output + r.stderr
    man = json.loads((out / "manifest.json").read_text())
    assert man["executor"] == {"name": "ray", "workers": 2, "cores": 2}
    local, _ = local_site
    assert man["summary"] == json.loads((local / "manifest.json").read_text())["summary"]
    a, b = saved_files(local), saved_files(out)
    assert len(a) > 400 and sorted(a) == sorted(b)
    assert [f for f in a if a[f] != b[f]] == []  # byte-identical
