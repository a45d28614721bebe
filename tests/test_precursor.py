"""Precursor grid search: enumeration, screens, ranking, refine, CLI output and resume.

Small grids (2×2 squares × 3 values = 81 patterns) and few steps keep this fast; the
engine and the bundled model are the real ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from oipviz.core.inits import pattern_count, pattern_digits, pattern_index, precursor_patterns

VALUES = (0.2, 0.5, 0.8)
# conv3 map 49 of the bundled model: zero from 8 multi-scale inits × 300 epochs, but
# 197 of the 19,683 precursor patterns give it a small positive activation (found by
# experiment; the bundled model is fixed).
RESCUED_DEAD_MAP = 49
SMALL = ["--grid", "2", "--test-epochs", "2", "--epochs", "20", "--top", "3"]


# --------------------------------------------------------------------------- patterns


def test_enumeration_round_trip_and_values():
    assert pattern_count(2, 3) == 81 and pattern_count(3, 3) == 19683
    idx = np.arange(81)
    d = pattern_digits(idx, 2, 3)
    assert d.shape == (81, 2, 2)
    assert len({tuple(x.ravel()) for x in d}) == 81  # every pattern once
    assert np.array_equal(pattern_index(d, 3), idx)  # index <-> digits
    assert np.array_equal(d[5].ravel(), [0, 0, 1, 2])  # base-3, most significant first
    x = precursor_patterns(idx, 2, VALUES)
    assert x.shape == (81, 28, 28, 1)
    # a slice is built alone: the same pattern whatever else is in the batch
    assert np.array_equal(precursor_patterns([37], 2, VALUES)[0], x[37])
    # the square centres keep the order of the grey values given
    centres = x[:, [7, 7, 21, 21], [7, 21, 7, 21], 0]  # (row, col) of each square
    vals = np.asarray(VALUES)[d.reshape(81, 4)]
    for c, v in zip(centres, vals):
        if v.max() > v.min():
            assert c[v.argmax()] > c[v.argmin()]
    # standardized (flat patterns are all zero)
    flat = [i for i in idx if len(set(d[i].ravel())) == 1]
    assert np.allclose(x[flat], 0)
    others = np.setdiff1d(idx, flat)
    assert np.allclose(x[others].std(axis=(1, 2, 3)), 1, atol=1e-4)


# --------------------------------------------------------------------------- screens


def test_chunked_screen_equals_unchunked_and_topk_order(loaded):
    from oipviz.compute.precursor import precursor

    kw = dict(
        model=loaded, grid=2, values=VALUES, test_steps=3, top=5, steps=5, screen="exhaustive"
    )
    a = precursor("conv3", 46, chunk=7, **kw)
    b = precursor("conv3", 46, chunk=81, **kw)
    assert a.n_patterns == 81 and a.n_screened == 81
    assert a.screen_losses.dtype == np.float32
    assert not np.isnan(a.screen_losses).any()
    np.testing.assert_allclose(a.screen_losses, b.screen_losses, rtol=1e-4, atol=1e-5)
    assert a.screen_losses.max() > a.screen_losses.min()  # the screen discriminates
    # a slice of the enumeration is screened alone, to the same values; the rest is NaN
    part = precursor("conv3", 46, chunk=16, indices=range(20, 60), **kw)
    assert np.isnan(part.screen_losses[:20]).all() and np.isnan(part.screen_losses[60:]).all()
    np.testing.assert_allclose(
        part.screen_losses[20:60], a.screen_losses[20:60], rtol=1e-4, atol=1e-5
    )
    assert set(part.top_indices) <= set(range(20, 60))
    # candidates are the best screen losses, in order
    s = b.screen_losses
    assert np.all(np.diff(b.top_losses) <= 0)
    np.testing.assert_allclose(b.top_losses, np.sort(s)[::-1][:5])
    assert np.array_equal(b.start_patterns, precursor_patterns(b.top_indices, 2, VALUES))
    # the refinement moved the images up
    assert np.all(b.final > b.start) and b.status == "above zero"
    assert b.best_value == b.final.max() and b.best_image.shape == (28, 28)


def test_forward_and_halving_screens_agree_with_the_engine(loaded):
    from oipviz.compute.precursor import precursor
    from oipviz.compute.precursor_settings import HALVING_ROUNDS, PrecursorSettings
    from oipviz.compute.screens import forward_table, halving_plan
    from oipviz.core.ascent import ascend
    from oipviz.core.objectives import map_mean

    x = precursor_patterns(np.arange(81), 2, VALUES)
    # one forward pass gives several maps, equal to the engine with steps=0
    s = PrecursorSettings.checked(grid=2, values=VALUES, chunk=20)
    t = forward_table(loaded, "conv3", [46, 3, 7], np.arange(81), s)
    for j, m in enumerate([46, 3, 7]):
        ref = ascend(loaded, x, map_mean("conv3", m), steps=0).final
        np.testing.assert_allclose(t[:, j], ref, rtol=1e-5, atol=1e-6)
    f = precursor("conv3", 46, loaded, grid=2, screen="forward", top=3, steps=2)
    np.testing.assert_allclose(f.screen_losses, t[:, 0], rtol=1e-5, atol=1e-6)
    # halving: its finalists get exactly the exhaustive screen's loss
    ex = precursor("conv3", 46, loaded, grid=2, test_steps=4, top=2, steps=2, screen="exhaustive")
    h = precursor("conv3", 46, loaded, grid=2, test_steps=4, top=2, steps=2)  # the default
    assert h.screen == "halving"
    plan = halving_plan(81, 2, 4, HALVING_ROUNDS)
    assert plan[-1][0] == 4 and plan[0][1] < 81
    finalists = np.flatnonzero(h.screen_steps == 4)
    assert len(finalists) == plan[-1][1]
    np.testing.assert_allclose(
        h.screen_losses[finalists], ex.screen_losses[finalists], rtol=1e-4, atol=1e-5
    )
    assert set(h.top_indices) <= set(finalists)


def test_dead_map_is_rescued(loaded):
    from oipviz.compute.oip import oip
    from oipviz.compute.precursor import precursor
    from oipviz.core.ascent import evaluate
    from oipviz.core.objectives import map_mean

    m = RESCUED_DEAD_MAP
    run = oip("conv3", [m], loaded, inits=8, steps=300)
    assert run.status == ["dead"] and run.best_values[0] <= 1e-6
    res = precursor("conv3", m, loaded, screen="forward", top=4, steps=200)
    assert res.n_patterns == 19683
    assert res.status == "above zero" and res.best_value > 0.05
    # the best image really excites the map (measured again, independently)
    assert evaluate(loaded, res.best_image[None, :, :, None], map_mean("conv3", m))[0] > 0.05
    assert np.count_nonzero(res.screen_losses > 0) < 1000  # few patterns wake it at all


def test_wake_rescues_a_map_no_pattern_reaches(loaded):
    """conv3 map 44: zero on every pattern (no gradient); the pre-activation wake moves it."""
    from oipviz.compute.precursor import precursor

    kw = dict(grid=2, screen="forward", top=2, steps=50)
    plain = precursor("conv3", 44, loaded, wake=0, **kw)
    assert plain.status == "dead" and np.all(plain.screen_losses == 0)
    assert np.array_equal(plain.images, plain.start_patterns)  # nothing could move
    woken = precursor("conv3", 44, loaded, wake=100, **kw)
    assert woken.woken.all() and woken.status == "above zero" and np.all(woken.final > 0)
    assert len({int(i) for i in woken.top_indices}) == 2
    assert not np.array_equal(woken.start_patterns[0], woken.start_patterns[1])


def test_halving_wakes_the_same_candidates_as_exhaustive_on_a_dead_map(loaded):
    """conv3 map 44 is zero on every pattern: the wake top-up picks the patterns nearest to
    firing among all of them, not only among the halving finalists."""
    from oipviz.compute.precursor import precursor

    kw = dict(grid=2, test_steps=2, top=3, steps=5, wake=5, progress=False)
    ex = precursor("conv3", 44, loaded, screen="exhaustive", **kw)
    hv = precursor("conv3", 44, loaded, screen="halving", **kw)
    assert not (hv.screen_steps == 2).all()  # halving skipped patterns
    assert np.array_equal(hv.top_indices, ex.top_indices) and hv.woken.all()
    np.testing.assert_allclose(hv.final, ex.final, rtol=1e-5)


# --------------------------------------------------------------------------- CLI


def test_cli_single_map_writes_pictures_and_manifest(cli, tmp_path):
    out = tmp_path / "pre46"
    r = cli("precursor", "--layer", "conv3", "--map", "46", *SMALL, "--out", out, "--quiet")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    line = [x for x in r.stdout.splitlines() if x.startswith("conv3 map 46: best")]
    assert line and "screen rank" in line[0] and "refined by screen rank" in line[0]
    man = json.loads((out / "manifest.json").read_text())
    assert man["kind"] == "precursor" and man["map"] == 46 and man["grid"] == 2
    assert man["values"] == list(VALUES) and man["screen"] == "halving"  # the default
    assert man["n_patterns"] == 81 and man["status"] == "above zero"
    cands = man["candidates"]
    assert [c["candidate"] for c in cands] == [1, 2, 3]
    assert all(a["screen_loss"] >= b["screen_loss"] for a, b in zip(cands, cands[1:]))
    assert man["best_activation"] == max(c["refined_activation"] for c in cands)
    losses = np.load(out / "screen_losses.npy")
    assert losses.shape == (81,) and losses[cands[0]["pattern_index"]] == pytest.approx(
        cands[0]["screen_loss"]
    )
    for f in man["files"]:
        assert (out / f).is_file(), f
    start = np.asarray(Image.open(out / "start_1_gray.png"), float)
    oip = np.asarray(Image.open(out / "oip_1_gray.png"), float)
    assert start.shape == oip.shape == (224, 224)
    assert Image.open(out / "oip_1_viridis.png").mode == "RGB"
    # a coarse start pattern is smooth; the refined OIP has fine structure
    assert np.abs(np.diff(start, axis=1)).mean() < np.abs(np.diff(oip, axis=1)).mean()
    for png in ("screen_histogram.png", "refine_curves.png", "contact_sheet.png"):
        im = Image.open(out / png)
        assert im.width > 200 and np.asarray(im.convert("L")).std() > 10, png
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.width > sheet.height  # 3 columns × 2 rows
    # an existing folder is refused without --force
    r2 = cli("precursor", "--layer", "conv3", "--map", "46", *SMALL, "--out", out, "--quiet")
    assert r2.exit_code == 2 and "already exists" in r2.stderr


def test_cli_default_screen_is_halving_and_exhaustive_still_runs(cli, tmp_path, loaded):
    """The manifest names the screen that ran; each CLI run equals the API's with that screen."""
    from oipviz.cli.precursor_cmd import default_screen
    from oipviz.compute.precursor import precursor

    for screen in (None, "exhaustive"):
        out = tmp_path / f"pre_{screen}"
        r = cli(
            "precursor",
            "--layer",
            "conv3",
            "--map",
            "46",
            *SMALL,
            "--out",
            out,
            "--quiet",
            *(["--screen", screen] if screen else []),
        )
        assert r.exit_code == 0, (r.stdout, r.stderr)
        man = json.loads((out / "manifest.json").read_text())
        ref = precursor(
            "conv3",
            46,
            loaded,
            grid=2,
            test_steps=2,
            steps=20,
            top=3,
            screen=screen or "halving",
            progress=False,
        )
        assert man["screen"] == ref.screen == (screen or "halving")
        assert [c["pattern_index"] for c in man["candidates"]] == ref.top_indices.tolist()
        assert man["best_activation"] == pytest.approx(ref.best_value, rel=1e-5)
        np.testing.assert_allclose(np.load(out / "screen_losses.npy"), ref.screen_losses, rtol=1e-5)
        steps = ref.screen_steps
        assert (steps == 2).all() if screen else ((steps == 0).any() and (steps == 2).sum() < 81)
    # halving is not sharded: a sharded run defaults to the exhaustive screen
    assert default_screen("local", None) == "halving"
    assert default_screen("ray", None) == default_screen("local", 20) == "exhaustive"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--grid", "0"], "'--grid': 0 is not in the range 1<=x<=64"),
        (["--values", ""], "values is empty"),
        (["--values", "0.2,1.5"], "give finite numbers in [0, 1]"),
        (["--values", "0.2,nan"], "give finite numbers in [0, 1]"),
        (["--lr", "inf"], "not a finite number"),
        (["--values", "0.2,x"], "bad --values"),
        (["--grid", "2", "--top", "82"], "between 1 and the pattern count 81"),
        (["--test-epochs", "-1"], "'--test-epochs': -1 is not in the range"),
        (["--map", "200"], "out of range"),
    ],
)
def test_cli_bad_arguments(cli, user_error, tmp_path, args, fragment):
    out = tmp_path / "bad"
    base = ["precursor", "--layer", "conv3", "--map", "46", "--out", out, "--quiet"]
    if "--map" in args:
        base = base[:3] + base[5:]
    r = cli(*base, *args)
    user_error(r, fragment)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_cli_guard_on_explosive_grid(cli, user_error, tmp_path):
    out = tmp_path / "big"
    r = cli(
        "precursor",
        "--layer",
        "conv3",
        "--map",
        "46",
        "--values",
        "0.1,0.3,0.5,0.7,0.9",
        "--out",
        out,
        "--quiet",
    )
    line = user_error(r, "1,953,125 patterns", "estimated", "--yes")
    assert " h " in line or "min" in line
    assert not out.exists()


def test_cli_resume_skips_finished_maps(cli, tmp_path, monkeypatch):
    import oipviz.writers.rescue as P

    out = tmp_path / "many"
    args = [
        "precursor",
        "--layer",
        "conv3",
        "--map",
        "46,47",
        "--screen",
        "forward",
        "--grid",
        "2",
        "--epochs",
        "10",
        "--top",
        "2",
        "--out",
        out,
        "--quiet",
    ]
    real = P.write_result

    def interrupted(folder, res):
        if res.map == 47:
            raise KeyboardInterrupt
        return real(folder, res)

    monkeypatch.setattr(P, "write_result", interrupted)
    r = cli(*args)
    assert r.exit_code == 130, (r.stdout, r.stderr)
    assert "--resume" in r.stderr
    assert (out / ".incomplete").exists() and (out / "map046" / "manifest.json").exists()
    assert not (out / "map047").exists()
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "map046").iterdir()}

    monkeypatch.setattr(P, "write_result", real)
    r = cli(*args)  # no --resume: refused
    assert r.exit_code == 2 and "--resume" in r.stderr
    r = cli(*args[:-1], "--top", "3", "--resume", "--quiet")  # other parameters: refused
    assert r.exit_code == 2 and "top differs" in r.stderr
    r = cli(*args, "--resume")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert "1 finished map(s) skipped" in r.stderr
    assert "conv3 map 47: best" in r.stdout and "conv3 map 46: best" not in r.stdout
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "map046").iterdir()}
    assert after == before  # finished map not rewritten
    assert (out / "map047" / "best_viridis.png").exists() and not (out / ".incomplete").exists()
    man = json.loads((out / "manifest.json").read_text())
    assert [e["map"] for e in man["maps"]] == [46, 47] and man["complete"] is True
    assert (out / "contact_sheet.png").exists()
    rows = (out / "rescue.csv").read_text().splitlines()
    assert rows[0].startswith("map,") and len(rows) == 3


@pytest.mark.slow
def test_cli_dead_only_subprocess(tmp_path):
    """The real console script: random inits first, the precursor only on the dead map."""
    exe = Path(sys.executable).with_name("oipviz")
    cmd = (
        [str(exe)]
        if exe.exists()
        else [sys.executable, "-c", "from oipviz.cli import main; main()"]
    )
    out = tmp_path / "rescue"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    p = subprocess.run(
        cmd
        + [
            "precursor",
            "--layer",
            "conv3",
            "--map",
            f"46,{RESCUED_DEAD_MAP}",
            "--dead-only",
            "--probe-inits",
            "2",
            "--probe-epochs",
            "50",
            "--probe-range",
            "free",
            "--probe-style",
            "plain",
            "--screen",
            "forward",
            "--epochs",
            "150",
            "--top",
            "3",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    assert "2 map(s) tried; 1 dead after 2 random inits × 50 steps; 1 rescued" in p.stdout
    assert (out / f"map{RESCUED_DEAD_MAP:03d}" / "best_gray.png").exists()
    assert not (out / "map046").exists()  # live from random inits
    table = json.loads((out / "rescue.json").read_text())
    status = {r["map"]: r["status"] for r in table["maps"]}
    assert status == {46: "live", RESCUED_DEAD_MAP: "rescued"}
    assert table["summary"]["dead_after_random_inits"] == 1 and table["summary"]["rescued"] == 1
    assert [r["random_init_activation"] > 0 for r in table["maps"]] == [True, False]
