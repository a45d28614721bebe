"""`oipviz oip` and the OIP API: files written and read back, determinism, dead maps,
one-line errors, atomic/refused output folders, whole-layer runs."""

from __future__ import annotations

import json

import numpy as np
from helpers import argv
from PIL import Image

from oipviz.core import objectives as O

LIVE_MAP = 46
DEAD_MAP = 4  # conv3 map 4 of the bundled model stays at 0 from every fluctuation init


def _pngs(folder):
    return sorted(p.name for p in folder.glob("*.png"))


def test_same_seed_gives_identical_pngs(cli, tmp_path, loaded):
    args = argv(f"oip --layer conv3 --map {LIVE_MAP} --inits 2 --epochs 30 --quiet")
    runs = {}
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        out = tmp_path / name
        r = cli(*args, "--seed", seed, "--out", out)
        assert r.exit_code == 0, (r.stdout, r.stderr)
        runs[name] = out
    a, b, c = runs["a"], runs["b"], runs["c"]
    expected = ["contact_sheet.png", "map046_enhanced.png", "map046_gray.png", "map046_viridis.png"]
    assert _pngs(a) == _pngs(b) == expected
    for name in expected:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    np.testing.assert_array_equal(np.load(a / "map046.npy"), np.load(b / "map046.npy"))
    # another seed gives another picture (so the comparison above can fail)
    assert (a / "map046_viridis.png").read_bytes() != (c / "map046_viridis.png").read_bytes()

    # the files are what they claim: a 224x224 viridis picture of the saved array
    with Image.open(a / "map046_viridis.png") as im:
        assert im.size == (224, 224) and im.mode == "RGB"
        assert np.asarray(im).std() > 20  # a pattern, not a flat picture
    with Image.open(a / "map046_gray.png") as im:
        assert im.mode == "L" and im.size == (224, 224)
    manifest = json.loads((a / "manifest.json").read_text())
    entry = manifest["maps"][0]
    assert entry["map"] == LIVE_MAP and entry["status"] == "live"
    assert len(entry["activation_start"]) == len(entry["activation_end"]) == 2
    assert all(e > s for s, e in zip(entry["activation_start"], entry["activation_end"]))
    assert manifest["parameters"]["epochs"] == 30 and manifest["seed"] == 0
    assert manifest["model"]["input_convention"]["kind"] == "standardize"
    # the saved raw array reproduces the activation the manifest reports
    from oipviz.core.ascent import evaluate

    z = np.load(a / "map046.npy")
    assert z.shape == (28, 28)
    value = evaluate(loaded, z[None, :, :, None], O.map_mean("conv3", LIVE_MAP))[0]
    assert np.isclose(value, entry["best_activation"], rtol=1e-4), (value, entry["best_activation"])


def test_dead_map_reported_and_not_drawn(cli, tmp_path):
    out = tmp_path / "mixed"
    r = cli(
        *argv(
            f"oip --layer conv3 --map {DEAD_MAP},{LIVE_MAP} --inits 4 --epochs 50 --quiet --out",
            out,
        )
    )
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert "2 map(s), 1 live, 1 dead" in r.stdout
    assert f"dead maps (0 from all 4 inits): {DEAD_MAP}" in r.stdout
    assert f"hint: oipviz precursor --layer conv3 --map {DEAD_MAP}" in r.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    status = {e["map"]: e["status"] for e in manifest["maps"]}
    assert status == {DEAD_MAP: "dead", LIVE_MAP: "live"}
    assert manifest["summary"] == {"maps": 2, "live": 1, "dead": 1}
    dead = next(e for e in manifest["maps"] if e["map"] == DEAD_MAP)
    assert max(dead["activation_end"]) <= 1e-6 and "files" not in dead
    assert not list(out.glob(f"map{DEAD_MAP:03d}*"))
    assert (out / f"map{LIVE_MAP:03d}_viridis.png").is_file()
    with Image.open(out / "contact_sheet.png") as im:
        assert im.width > 100


def test_oip_api_dead_and_live(loaded):
    from oipviz.compute.oip import oip

    run = oip("conv3", [DEAD_MAP, LIVE_MAP], loaded, inits=4, steps=50, seed=3)
    assert run.status == ["dead", "live"]
    assert np.all(run.final[0] == 0) and np.all(run.final[1] > run.start[1])
    assert run.best_images.shape == (2, 28, 28)
    px = run.pixels()
    assert px.shape == (2, 28, 28) and np.isfinite(px).all()


def test_bad_layer_or_map_is_one_line_error(cli, user_error, tmp_path):
    out = tmp_path / "o"
    user_error(
        cli("oip", "--layer", "conv9", "--out", out),
        "conv9",
        "conv1, conv2, conv3, dense1, predictions",
    )
    user_error(cli("oip", "--layer", "conv3", "--map", "128", "--out", out), "128", "0–127")
    user_error(cli("oip", "--layer", "conv3", "--map", "x", "--out", out), "--map")
    user_error(cli("oip", "--layer", "pool1", "--out", out), "pool1")
    user_error(
        cli("oip", "--layer", "conv3", "--map", "1", "--objective", "logit", "--out", out), "dense"
    )
    assert not out.exists()


def test_existing_out_refused_unless_force(cli, user_error, tmp_path):
    out = tmp_path / "existing"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = argv(f"oip --layer conv3 --map {LIVE_MAP} --inits 1 --epochs 5 --quiet --out", str(out))
    user_error(cli(*args), "already exists", "--force")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    # --force never deletes a folder that is not an oipviz output
    user_error(cli(*args, "--force"), "refusing to replace", "no oipviz manifest.json")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (out / "keep.txt").unlink()  # an empty folder is replaced
    r = cli(*args, "--force")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert (out / "manifest.json").is_file()
    r = cli(*args, "--force")  # and so is an oipviz output
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_map_all_on_conv1_writes_sheet_and_every_map(cli, tmp_path):
    out = tmp_path / "conv1"
    r = cli(*argv("oip --layer conv1 --map all --inits 1 --epochs 5 --quiet --out", out))
    assert r.exit_code == 0, (r.stdout, r.stderr)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["map"] for e in manifest["maps"]] == list(range(32))
    assert manifest["summary"]["maps"] == 32
    live = [e["map"] for e in manifest["maps"] if e["status"] == "live"]
    assert len(live) >= 16
    for m in live:
        assert (out / f"map{m:03d}_viridis.png").is_file() and (out / f"map{m:03d}.npy").is_file()
    for sheet in ("contact_sheet.png", "contact_sheet_enhanced.png"):
        with Image.open(out / sheet) as im:
            im.load()
            # 6x6 grid of 84 px cells: wide and tall enough for all 32 maps
            assert im.width >= 6 * 84 and im.height >= 6 * 84
            assert np.asarray(im.convert("L")).std() > 20
    hist = np.load(out / "history.npy")
    assert hist.shape[1:] == (32, 1)
