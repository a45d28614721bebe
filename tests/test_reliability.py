"""Reliability of what a user sees: refused numbers, seeds and output folders (exit 2, one
line, nothing left on disk), fast failures before TensorFlow, --force rules, umask
permissions, Ctrl-C + --resume of real subprocesses, API argument checks, strict JSON.

Real engine, real bundled model, few steps.  The Ctrl-C tests start the console script
in a child whose SIGINT disposition is SIG_DFL (so Python installs its KeyboardInterrupt
handler) and send SIGINT once finished work is on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from children import Child, child_env, hidden, tree

DATA = Path(__file__).parent / "data"
PHOTO = DATA / "photo.png"
SEED_MAX = 2**31 - 1
TINY_OIP = ["oip", "--layer", "conv3", "--map", "46", "--inits", "1", "--epochs", "5", "--quiet"]


# ----------------------------------------------------------------------------- helpers


def strict_json(path: Path):
    """Parse ``path`` as strict JSON (NaN/Infinity fail the test)."""
    return json.loads(
        Path(path).read_text(),
        parse_constant=lambda c: pytest.fail(f"non-strict JSON {c!r} in {path}"),
    )


@pytest.fixture(autouse=True)
def _manifests_are_strict_json(tmp_path):
    """Item 11: every manifest.json a test of this file created is strict JSON."""
    yield
    for p in tmp_path.rglob("manifest.json"):
        m = strict_json(p)
        assert m.get("tool") == "oipviz" and isinstance(m.get("complete"), bool), p


# ----------------------------------------------------------------------------- 1. NaN/inf


@pytest.mark.parametrize(
    "args, option",
    [
        (["oip", "--layer", "conv3", "--lr", "nan"], "--lr"),
        (["oip", "--layer", "conv3", "--lr", "inf"], "--lr"),
        (["oip", "--layer", "conv3", "--tv", "nan"], "--tv"),
        (["oip", "--layer", "conv3", "--blur", "inf"], "--blur"),
        (["dream", str(PHOTO), "--lr", "nan"], "--lr"),
    ],
    ids=["oip-lr-nan", "oip-lr-inf", "oip-tv-nan", "oip-blur-inf", "dream-lr-nan"],
)
def test_non_finite_numbers_are_refused(cli, user_error, tmp_path, monkeypatch, args, option):
    monkeypatch.chdir(tmp_path)  # default output names would land here
    user_error(cli(*args), option, "finite")
    assert list(tmp_path.iterdir()) == []  # no output folder, no temp folder


# ----------------------------------------------------------------------------- 2. seeds


@pytest.mark.parametrize(
    "command",
    [["oip", "--layer", "conv3"], ["dream", str(PHOTO)], ["activations"]],
    ids=["oip", "dream", "activations"],
)
@pytest.mark.parametrize("seed", ["-1", "18446744073709551616"])
def test_seed_out_of_range_is_refused(cli, user_error, tmp_path, monkeypatch, command, seed):
    monkeypatch.chdir(tmp_path)
    user_error(cli(*command, "--seed", seed), "--seed", "2147483647")
    assert list(tmp_path.iterdir()) == []
    r = cli(command[0], "--help")
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    seed_help = text[text.index("--seed") :]
    seed_help = seed_help[: seed_help.find(" --", 2)]
    assert "2147483647" in seed_help or "2^31-1" in seed_help, seed_help


# ----------------------------------------------------------------------------- 3. fail fast


@pytest.fixture
def locked_dir(tmp_path):
    """A folder nobody (not even root) can create entries in: read-only and immutable."""
    d = tmp_path / "locked"
    d.mkdir()
    d.chmod(0o555)
    immutable = False
    try:
        if os.geteuid() == 0:
            chattr = shutil.which("chattr")
            if chattr is None:
                pytest.skip(
                    "running as root and chattr is not available: chmod alone does not "
                    "stop root from writing"
                )
            p = subprocess.run([chattr, "+i", str(d)], capture_output=True, text=True)
            if p.returncode != 0:
                pytest.skip(f"chattr +i not supported here: {p.stderr.strip()}")
            immutable = True
        try:
            (d / "probe").mkdir()
        except OSError:
            pass
        else:
            pytest.skip("the folder is still writable after chmod/chattr")
        yield d
    finally:
        if immutable:
            subprocess.run([shutil.which("chattr"), "-i", str(d)], check=False)
        d.chmod(0o755)


FAST_COMMANDS = {
    "oip": ["oip", "--layer", "conv3", "--map", "46"],
    "precursor": ["precursor", "--layer", "conv3", "--map", "46"],
    "dream": ["dream", str(PHOTO)],
    "activations": ["activations"],
    "gallery": ["gallery", "--layer", "conv3"],
}


#: runs the CLI's main in a fresh interpreter and says which heavy modules it imported
FAIL_PROBE = """
import contextlib, io, json, sys
from oipviz.cli import main
err, out = io.StringIO(), io.StringIO()
with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
    try:
        main(sys.argv[1:], prog_name="oipviz")
        code = 0
    except SystemExit as e:
        code = e.code
heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
print(json.dumps([code, out.getvalue(), err.getvalue(), heavy]))
"""


def _fails_fast(args, tmp_path) -> str:
    """Exit 2 with one ``error:`` line, and neither TensorFlow nor Keras imported: the
    refusal came before anything heavy was loaded (probed in a fresh interpreter)."""
    p = subprocess.run(
        [sys.executable, "-c", FAIL_PROBE, *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=child_env(),
    )
    assert p.returncode == 0 and p.stdout.strip(), (p.stdout, p.stderr)
    code, out, err, heavy = json.loads(p.stdout.strip().splitlines()[-1])
    lines = err.strip().splitlines()
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in out + err and out == ""
    assert heavy == [], f"{heavy} imported before the refusal: {lines[0]}"
    return lines[0]


@pytest.mark.parametrize("command", sorted(FAST_COMMANDS))
def test_unwritable_out_fails_fast_read_only_folder(tmp_path, locked_dir, command):
    line = _fails_fast(FAST_COMMANDS[command] + ["--out", str(locked_dir / "out")], tmp_path)
    assert str(locked_dir) in line
    assert list(locked_dir.iterdir()) == []


@pytest.mark.parametrize("command", sorted(FAST_COMMANDS))
def test_unwritable_out_fails_fast_proc(tmp_path, command):
    _fails_fast(FAST_COMMANDS[command] + ["--out", "/proc/oipviz_test_out"], tmp_path)
    assert not os.path.lexists("/proc/oipviz_test_out")


def _png(path: Path, size: tuple[int, int]) -> Path:
    from PIL import Image

    Image.new("RGB", size, (200, 120, 40)).save(path)
    return path


@pytest.mark.parametrize(
    "case", ["small photo", "out is a file", "out is a dangling link", "resume nothing"]
)
def test_refusals_before_tensorflow(tmp_path, case):
    """Each is one line, exit 2, before TensorFlow: the model's input size comes from its
    file (a photo smaller than 28×28 cannot be dreamt); --out must be a folder (a file is
    not replaced even with --force; a dangling symlink is named as such); --resume needs
    a run to continue."""
    out = tmp_path / "out"
    if case == "small photo":
        line = _fails_fast(["dream", _png(tmp_path / "tiny.png", (20, 12))], tmp_path)
        assert line == f"error: {tmp_path / 'tiny.png'} is 20×12 px; DeepDream needs at least 28×28"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.png"]
        return
    if case == "out is a file":
        out.write_text("mine")
        for extra in ([], ["--force"]):
            line = _fails_fast(TINY_OIP + ["--out", out] + extra, tmp_path)
            assert line == f"error: {out} is a file, not a folder; choose another --out", line
        assert out.read_text() == "mine"
    elif case == "out is a dangling link":
        out.symlink_to(tmp_path / "gone")
        line = _fails_fast(TINY_OIP + ["--out", out], tmp_path)
        assert line == f"error: {out} is a broken symbolic link; choose another --out", line
        assert out.is_symlink() and not out.exists()
    else:
        line = _fails_fast(TINY_OIP + ["--out", out, "--resume"], tmp_path)
        assert line == f"error: --resume: there is no run to continue in {out}", line
        assert not os.path.lexists(out)
    assert hidden(tmp_path) == []


# ----------------------------------------------------------------------------- 4. cwd


@pytest.mark.parametrize("out", [".", ".."])
def test_force_never_replaces_the_cwd_or_its_parents(cli, user_error, tmp_path, monkeypatch, out):
    here = tmp_path / "parent" / "here"
    here.mkdir(parents=True)
    (here / "mine.txt").write_text("keep")
    monkeypatch.chdir(here)
    before = tree(tmp_path)
    target = here if out == "." else here.parent
    line = user_error(cli(*TINY_OIP, "--out", out, "--force"), "refusing to replace", str(target))
    assert "current folder" in line
    assert tree(tmp_path) == before
    assert hidden(here) == hidden(here.parent) == hidden(tmp_path) == []
    # without --force the message is the plain "already exists"
    user_error(cli(*TINY_OIP, "--out", out), "already exists")
    assert tree(tmp_path) == before


# ----------------------------------------------------------------------------- 5. --force


@pytest.mark.parametrize("case", ["unrelated files", "empty folder", "oipviz output"])
def test_force_replaces_only_empty_or_oipviz_folders(cli, user_error, tmp_path, case):
    out = tmp_path / "out"
    out.mkdir()
    if case == "unrelated files":
        (out / "thesis.tex").write_text("years of work")
        (out / "sub").mkdir()
        (out / "sub" / "data.csv").write_text("1,2,3\n")
    elif case == "oipviz output":
        r = cli(*TINY_OIP, "--out", out, "--force")
        assert r.exit_code == 0, (r.stdout, r.stderr)
        (out / "leftover.txt").write_text("from the old output")
    before = tree(out)
    r = cli(*TINY_OIP, "--seed", "1", "--out", out, "--force")
    if case == "unrelated files":
        user_error(r, "refusing to replace", "no oipviz manifest.json")
        assert tree(out) == before
    else:
        assert r.exit_code == 0, (r.stdout, r.stderr)
        m = strict_json(out / "manifest.json")
        assert m["complete"] is True and m["seed"] == 1
        assert (out / "map046_viridis.png").is_file()
        assert not (out / "leftover.txt").exists()  # replaced, not merged
    assert hidden(tmp_path) == []


# ----------------------------------------------------------------------------- 6. umask


@pytest.mark.parametrize("umask, mode", [(0o022, 0o755), (0o027, 0o750)])
def test_output_folders_follow_the_umask(cli, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        out = tmp_path / "out"
        r = cli(*TINY_OIP, "--out", out)
        assert r.exit_code == 0, (r.stdout, r.stderr)
        folders = [out] + [p for p in out.rglob("*") if p.is_dir()]
        for d in folders:
            assert d.stat().st_mode & 0o777 == mode, (d, oct(d.stat().st_mode & 0o777))
    finally:
        os.umask(old)


# ----------------------------------------------------------------------------- 7. dream 0


@pytest.mark.parametrize("map_", [56, 2], ids=["map56-zero-on-photo", "map2-live-on-photo"])
def test_dream_epochs_0_measures_without_a_dead_map_warning(cli, tmp_path, loaded, map_):
    from oipviz.compute.scales import resize
    from oipviz.core import objectives as O
    from oipviz.core.ascent import evaluate
    from oipviz.core.images import read_image, to_float

    out = tmp_path / "d"
    r = cli("dream", PHOTO, "--map", map_, "--iters", "1", "--epochs", "0", "--quiet", "--out", out)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert "warning" not in r.stderr.lower() and "dead" not in r.stderr.lower(), r.stderr
    # what a forward pass gives on the 28×28 luminance the round starts from
    small = resize(to_float(read_image(PHOTO)).luma, (28, 28))
    z = loaded.convention.to_engine(small[None, ..., None])
    expected = float(evaluate(loaded, z, O.map_mean("conv3", map_))[0])
    (rnd,) = strict_json(out / "manifest.json")["rounds"]
    for key in ("activation_start", "activation_end"):
        assert isinstance(rnd[key], float) and np.isfinite(rnd[key]), rnd
        assert rnd[key] == pytest.approx(expected, rel=1e-5, abs=1e-7), (key, rnd[key], expected)
    if map_ == 2:
        assert expected > 0.1  # the comparison is not 0 == 0 only


# ----------------------------------------------------------------------------- 8. Ctrl-C

OIP_ALL = ["oip", "--layer", "conv3", "--map", "all", "--inits", "8", "--epochs", "60"]


def _only_finished_oip_parts(x: Path) -> None:
    from oipviz.compute.parts import parts

    names = {f"maps_{g[0]:04d}-{g[-1]:04d}.npz" for g in parts(list(range(128)), 8)}
    found = sorted(p.name for p in (x / "parts").iterdir())
    assert found and set(found) <= names, found
    for name in found:
        with np.load(x / "parts" / name) as f:
            assert np.isfinite(f["final"]).all() and f["images"].shape[1] == 8


def _interrupted_run(tmp_path: Path, args: list, name: str, done_glob: str, kind: str) -> Path:
    """Run the console script into NAME, send SIGINT once DONE_GLOB exists in its working
    folder, check the exit, the message and what is kept; returns the folder."""
    child = Child(args + ["--out", name], tmp_path)
    code = child.interrupt_when(lambda: any(tmp_path.glob(f".{name}.partial/{done_glob}")))
    err = child.stderr()
    assert code == 130, (code, err)
    lines = [line for line in err.splitlines() if line.strip()]  # progress labels, then:
    assert lines[-1] == (
        f"error: interrupted; finished parts are kept in {name}: continue with --resume"
    ), err
    assert sum(line.startswith("error") for line in lines) == 1 and "Traceback" not in err
    assert hidden(tmp_path) == []  # no .NAME.partial working folder, no .NAME.lock
    out = tmp_path / name  # finished work was on disk: it is kept, marked incomplete
    assert (out / ".incomplete").is_file()
    m = strict_json(out / "manifest.json")
    assert m["complete"] is False and m["kind"] == kind
    return out


def _resume_and_reference(cli, args: list, out: Path, ref: Path) -> Path:
    """--resume the interrupted run to completion, then an uninterrupted reference run."""
    r = cli(*args, "--quiet", "--out", out, "--resume")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert not (out / ".incomplete").exists() and strict_json(out / "manifest.json")["complete"]
    r = cli(*args, "--quiet", "--out", ref)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return ref


@pytest.mark.slow  # (two real runs and a resume: about 30 s)
def test_ctrl_c_oip_keeps_finished_parts_and_resume_gives_the_same_bytes(cli, user_error, tmp_path):
    x = _interrupted_run(tmp_path, OIP_ALL, "X", "parts/maps_*.npz", "oip")
    _only_finished_oip_parts(x)
    # nothing drawn from unoptimized inits
    assert not list(x.rglob("*.png")) and not list(x.glob("map*"))
    assert {p.name for p in x.iterdir()} == {".incomplete", "manifest.json", "parts"}
    # a plain rerun neither replaces nor continues it
    user_error(cli(*OIP_ALL, "--quiet", "--out", x), "already exists", "--resume")

    ref = _resume_and_reference(cli, OIP_ALL, x, tmp_path / "ref")
    for name in ("contact_sheet.png", "map046_viridis.png"):
        assert (x / name).read_bytes() == (ref / name).read_bytes(), name

    r = cli(*OIP_ALL, "--quiet", "--out", x, "--resume")
    assert r.exit_code == 0 and "already complete" in r.stderr, (r.stdout, r.stderr)
    assert r.stdout == ""
    user_error(cli(*OIP_ALL, "--quiet", "--out", x), "already exists")
    assert hidden(tmp_path) == []


PRECURSOR_RUN = [
    "precursor",
    "--layer",
    "conv3",
    "--map",
    "40-52",
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
    "300",
    "--top",
    "2",
]


@pytest.mark.slow  # (two real runs and a resume: about 30 s)
def test_ctrl_c_precursor_keeps_finished_maps_and_resume_gives_the_same_bytes(
    cli, user_error, tmp_path
):
    q = _interrupted_run(tmp_path, PRECURSOR_RUN, "Q", "map[0-9][0-9][0-9]", "precursor")
    for name in ("contact_sheet.png", "rescue.csv", "rescue.json"):
        assert not (q / name).exists(), name
    maps = sorted(q.glob("map[0-9][0-9][0-9]"))
    assert maps
    for d in maps:  # every kept map is finished
        assert strict_json(d / "manifest.json")["complete"] is True
        assert (d / "best.npy").is_file() and (d / "contact_sheet.png").is_file()
        assert hidden(d) == []
    assert hidden(q) == [".incomplete"]
    user_error(cli(*PRECURSOR_RUN, "--quiet", "--out", q), "already exists", "--resume")

    ref = _resume_and_reference(cli, PRECURSOR_RUN, q, tmp_path / "ref")
    assert (q / "contact_sheet.png").read_bytes() == (ref / "contact_sheet.png").read_bytes()
    assert sorted(p.name for p in q.glob("map*")) == sorted(p.name for p in ref.glob("map*"))
    for d in maps:  # the kept maps' pictures are the uninterrupted run's
        for f in d.glob("*.png"):
            assert f.read_bytes() == (ref / d.name / f.name).read_bytes(), f

    r = cli(*PRECURSOR_RUN, "--quiet", "--out", q, "--resume")
    assert r.exit_code == 0 and "already complete" in r.stderr, (r.stdout, r.stderr)
    user_error(cli(*PRECURSOR_RUN, "--quiet", "--out", q), "already exists")
    assert hidden(tmp_path) == []


def test_ctrl_c_dream_exits_130_and_leaves_nothing(tmp_path):
    child = Child(
        ["dream", PHOTO, "--map", "2", "--iters", "2000", "--epochs", "100", "--out", "D"], tmp_path
    )
    # the progress bar (stderr) appears with the first steps
    code = child.interrupt_when(lambda: "dream conv3" in child.stderr(), delay=1.0)
    err = child.stderr()
    assert code == 130, (code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == "error: interrupted" and "Traceback" not in err, err  # nothing kept
    assert child.stdout() == ""  # no result line
    assert not (tmp_path / "D").exists() and hidden(tmp_path) == []


# ----------------------------------------------------------------------------- 9. API

NAN, INF = float("nan"), float("inf")


def _x0(bad=None):
    x = np.zeros((2, 28, 28, 1), np.float32)
    if bad is not None:
        x[1, 5, 5, 0] = bad
    return x


def _api_cases():
    import oipviz
    import oipviz.core.ascent
    from oipviz.core import objectives as O

    obj = O.map_mean("conv3", 46)
    img = np.full((40, 40), 0.5, np.float32)
    return {
        "oip lr=nan": (lambda m: oipviz.oip("conv3", 46, m, lr=NAN, inits=1, steps=1), "lr"),
        "oip lr=inf": (lambda m: oipviz.oip("conv3", 46, m, lr=INF, inits=1, steps=1), "lr"),
        "oip seed=-1": (lambda m: oipviz.oip("conv3", 46, m, seed=-1, inits=1, steps=1), "seed"),
        "oip seed=2**31": (
            lambda m: oipviz.oip("conv3", 46, m, seed=2**31, inits=1, steps=1),
            "seed",
        ),
        "oip steps=-5": (lambda m: oipviz.oip("conv3", 46, m, steps=-5, inits=1), "steps"),
        "oip tv=nan": (lambda m: oipviz.oip("conv3", 46, m, tv=NAN, inits=1, steps=1), "tv"),
        "ascend lr=inf": (
            lambda m: oipviz.core.ascent.ascend(m, _x0(), obj, steps=1, lr=INF),
            "lr",
        ),
        "ascend lr=nan": (
            lambda m: oipviz.core.ascent.ascend(m, _x0(), obj, steps=1, lr=NAN),
            "lr",
        ),
        "ascend seed=-1": (
            lambda m: oipviz.core.ascent.ascend(m, _x0(), obj, steps=1, seed=-1),
            "seed",
        ),
        "ascend steps=-5": (lambda m: oipviz.core.ascent.ascend(m, _x0(), obj, steps=-5), "steps"),
        "ascend x0 NaN": (lambda m: oipviz.core.ascent.ascend(m, _x0(NAN), obj, steps=1), "x0"),
        "ascend x0 inf": (lambda m: oipviz.core.ascent.ascend(m, _x0(-INF), obj, steps=1), "x0"),
        "precursor lr=nan": (
            lambda m: oipviz.precursor(
                "conv3", 46, m, lr=NAN, grid=1, top=1, steps=1, progress=False
            ),
            "lr",
        ),
        "precursor seed=-1": (
            lambda m: oipviz.precursor(
                "conv3", 46, m, seed=-1, grid=1, top=1, steps=1, progress=False
            ),
            "seed",
        ),
        "precursor steps=-5": (
            lambda m: oipviz.precursor("conv3", 46, m, grid=1, top=1, steps=-5, progress=False),
            "steps",
        ),
        "rescue lr=nan": (lambda m: oipviz.rescue("conv3", [46], m, lr=NAN, progress=False), "lr"),
        "rescue seed=-1": (
            lambda m: oipviz.rescue("conv3", [46], m, seed=-1, progress=False),
            "seed",
        ),
        "dream lr=nan": (
            lambda m: oipviz.dream(img, 56, model=m, lr=NAN, iters=1, steps=1, progress=False),
            "lr",
        ),
        "dream seed=-1": (
            lambda m: oipviz.dream(img, 56, model=m, seed=-1, iters=1, steps=1, progress=False),
            "seed",
        ),
        "dream steps=-5": (
            lambda m: oipviz.dream(img, 56, model=m, steps=-5, iters=1, progress=False),
            "steps",
        ),
    }


API_CASES = [
    "oip lr=nan",
    "oip lr=inf",
    "oip seed=-1",
    "oip seed=2**31",
    "oip steps=-5",
    "oip tv=nan",
    "ascend lr=inf",
    "ascend lr=nan",
    "ascend seed=-1",
    "ascend steps=-5",
    "ascend x0 NaN",
    "ascend x0 inf",
    "precursor lr=nan",
    "precursor seed=-1",
    "precursor steps=-5",
    "rescue lr=nan",
    "rescue seed=-1",
    "dream lr=nan",
    "dream seed=-1",
    "dream steps=-5",
]


@pytest.mark.parametrize("case", API_CASES)
def test_api_refuses_bad_numbers(loaded, case):
    from oipviz import OipvizError

    call, name = _api_cases()[case]
    with pytest.raises(OipvizError) as info:
        call(loaded)
    msg = str(info.value)
    assert name in msg and "\n" not in msg, msg


# ----------------------------------------------------------------------------- 10. grid 1


@pytest.mark.parametrize("top", ["2", "3"])
def test_precursor_grid_1_says_why_fewer_candidates(cli, tmp_path, top):
    out = tmp_path / "p"
    r = cli(
        "precursor",
        "--layer",
        "conv3",
        "--map",
        "46",
        "--grid",
        "1",
        "--top",
        top,
        "--epochs",
        "20",
        "--quiet",
        "--out",
        out,
    )
    assert r.exit_code == 0, (r.stdout, r.stderr)
    notes = [line for line in r.stdout.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1, r.stdout
    assert f"of the {top} requested" in notes[0] and "flat image" in notes[0], notes[0]
    m = strict_json(out / "manifest.json")
    assert len(m["candidates"]) < int(top)


def test_precursor_grid_1_no_duplicate_flat_candidates_on_a_map_flat_images_excite(cli, tmp_path):
    out = tmp_path / "p"
    r = cli(
        "precursor",
        "--layer",
        "conv3",
        "--map",
        "6",
        "--grid",
        "1",
        "--top",
        "3",
        "--epochs",
        "5",
        "--quiet",
        "--out",
        out,
    )
    assert r.exit_code == 0, (r.stdout, r.stderr)
    m = strict_json(out / "manifest.json")
    assert len(m["candidates"]) == 1 and "note: " in r.stdout, r.stdout


# ----------------------------------------------------------------------------- 11. JSON


def test_manifests_are_strict_json(cli, tmp_path):
    from oipviz.core.outputs import dumps

    assert json.loads(dumps({"a": float("nan"), "b": [np.float32("inf")]})) == {
        "a": None,
        "b": [None],
    }
    out = tmp_path / "mixed"
    r = cli(
        "oip",
        "--layer",
        "conv3",
        "--map",
        "4,46",
        "--inits",
        "2",
        "--epochs",
        "5",
        "--quiet",
        "--out",
        out,
    )
    assert r.exit_code == 0, (r.stdout, r.stderr)
    m = strict_json(out / "manifest.json")  # also checked for every test by the fixture
    assert [e["status"] for e in m["maps"]] == ["dead", "live"]
    assert m["complete"] is True and m["tool"] == "oipviz" and m["kind"] == "oip"


# ----------------------------------------------------------------------------- 12. cards

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not FASHION.is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed (apt-get install "
    "dataset-fashion-mnist)",
)
def test_bundled_fashion_model_scores_its_card_on_the_10000_test_images():
    """The card's held-out accuracy (and per class) is what the model scores on the 10,000
    Fashion-MNIST test images: predicted by plain Keras with the card's standardization,
    and the same through oipviz's loader."""
    import keras

    from oipviz.compute.attribution.base import predict_probs
    from oipviz.core.loader import bundled_model_path, card_path, load_model
    from oipviz.data.sources import load_dataset

    ds = load_dataset("fashion_mnist", path=FASHION)
    assert ds.x_test.shape == (10_000, 28, 28) and ds.x_test.dtype == np.uint8
    path = bundled_model_path("fashion")
    card = json.loads(card_path(path).read_text())
    pre = card["preprocessing"]
    assert pre["kind"] == "standardize" and card["samples"]["test"] == 10_000
    z = ((ds.x_test.astype(np.float32) / 255.0 - pre["mean"]) / pre["std"])[..., None]
    model = keras.models.load_model(path, compile=False)
    pred = np.asarray(model.predict(z, batch_size=1000, verbose=0)).argmax(axis=1)
    acc = float((pred == ds.y_test).mean())
    assert abs(acc - card["heldout_accuracy"]) <= 3e-4, (acc, card["heldout_accuracy"])
    for c, want in card["per_class_accuracy"].items():
        got = float((pred[ds.y_test == int(c)] == int(c)).mean())
        assert abs(got - want) <= 2e-3, (c, got, want)
    assert 0.88 <= acc <= 0.95  # what the README says of it
    ours = predict_probs(load_model("fashion"), ds.x_test).argmax(axis=1)
    assert (ours == pred).mean() >= 0.999


# ----------------------------------------------------------------------------- 13. attribution


@pytest.fixture(scope="module")
def plain():
    """The bundled seed CNN as plain Keras, and its card's standardization: references
    computed without oipviz's engine, loader or attribution code."""
    import keras

    from oipviz.core.loader import bundled_model_path, card_path

    path = bundled_model_path("seed_cnn")
    pre = json.loads(card_path(path).read_text())["preprocessing"]
    assert pre["kind"] == "standardize"
    model = keras.models.load_model(path, compile=False)
    assert model.layers[-1].get_config()["activation"] == "softmax"
    return model, float(pre["mean"]), float(pre["std"])


def plain_logits(plain, x01: np.ndarray, tape=None, watch: str | None = None):
    """Pre-softmax logits (N, 10) of images in [0, 1] (N, 28, 28, 1) through the model's
    own layers (the last Dense layer by hand, without its softmax); with ``tape``, also
    the output of layer ``watch`` (watched)."""
    import tensorflow as tf

    model, mean, std = plain
    h = (tf.convert_to_tensor(x01, tf.float32) - mean) / std
    if tape is not None and watch is None:
        tape.watch(h)
    seen = None
    for layer in model.layers[:-1]:
        h = layer(h)
        if layer.name == watch:
            seen = h
            tape.watch(seen)
    w, b = model.layers[-1].get_weights()
    logits = tf.matmul(h, w) + b
    return logits if tape is None else (logits, seen)


def plain_input_gradient(plain, x01: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """d logit[class] / d pixel (N, 28, 28, 1)."""
    import tensorflow as tf

    x = tf.constant(x01, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = plain_logits(plain, x)
        s = tf.reduce_sum(tf.gather(logits, classes, batch_dims=1))
    return tape.gradient(s, x).numpy()


def reference_cams(plain, x01, classes, layer: str = "conv3"):
    """(Grad-CAM, Grad-CAM++) at ``layer``'s resolution: A and ∂logit/∂A from a plain
    GradientTape, the weights in numpy (Selvaraju et al.; Chattopadhay et al.'s closed
    form for an exponential of the score)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        logits, a = plain_logits(plain, x01, tape=tape, watch=layer)
        s = tf.reduce_sum(tf.gather(logits, classes, batch_dims=1))
    g = tape.gradient(s, a).numpy().astype(np.float64)
    a = a.numpy().astype(np.float64)

    def cam(w):
        return np.maximum(np.einsum("nhwk,nk->nhw", a, w), 0.0)

    g2, g3 = g * g, g * g * g
    denom = 2.0 * g2 + a.sum(axis=(1, 2), keepdims=True) * g3
    alpha = g2 / np.where(denom != 0.0, denom, 1.0)
    return cam(g.mean(axis=(1, 2))), cam((alpha * np.maximum(g, 0.0)).sum(axis=(1, 2)))


def reference_occlusion(plain, x01, classes, patch: int, stride: int, value: float):
    """Occlusion with a numpy loop over patch positions (the last row and column of
    patches aligned with the border): per pixel, the mean drop of the logit over the
    patches that cover it.  ``x01``: (N, H, W, 1)."""
    n, h, w = x01.shape[:3]

    def starts(size):
        s = list(range(0, size - patch + 1, stride))
        return s if s[-1] == size - patch else [*s, size - patch]

    spots = [(r, c) for r in starts(h) for c in starts(w)]
    batch = [x01]
    for r, c in spots:
        xx = x01.copy()
        xx[:, r : r + patch, c : c + patch] = value
        batch.append(xx)
    logits = plain_logits(plain, np.concatenate(batch)).numpy().reshape(len(batch), n, -1)
    scores = logits[:, np.arange(n), classes]  # (1 + spots, n)
    acc, cover = np.zeros((n, h, w)), np.zeros((h, w))
    for k, (r, c) in enumerate(spots, start=1):
        acc[:, r : r + patch, c : c + patch] += (scores[0] - scores[k])[:, None, None]
        cover[r : r + patch, c : c + patch] += 1
    return acc / cover


def reference_ig(plain, x01, classes, steps: int, baseline: float):
    """Integrated Gradients from ``baseline`` (every pixel at that value): the plain
    GradientTape's input gradients on ``steps`` points, trapezoidal rule."""
    base = np.full_like(x01, baseline)
    wts = np.full(steps, 1.0 / (steps - 1))
    wts[[0, -1]] *= 0.5
    total = np.zeros_like(x01, np.float64)
    for a, wt in zip(np.linspace(0.0, 1.0, steps), wts):
        total += wt * plain_input_gradient(plain, base + a * (x01 - base), classes)
    return ((x01 - base) * total)[..., 0]


def _explain(cli, out: Path, *args) -> tuple[np.ndarray, np.ndarray, dict]:
    """``oipviz explain --samples 4 ARGS`` into ``out``: (inputs (N, 28, 28, 1), predicted
    classes, manifest)."""
    r = cli("explain", "--samples", "4", "--quiet", "--out", out, *args)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    x = np.load(out / "inputs.npy").reshape(-1, 28, 28, 1).astype(np.float32)
    return x, np.load(out / "probs.npy").argmax(axis=1), strict_json(out / "manifest.json")


def test_gradcam_and_gradcampp_match_plain_keras(cli, tmp_path, plain):
    import tensorflow as tf

    x, pred, _ = _explain(cli, tmp_path / "e", "--method", "gradcam,gradcampp")
    want = dict(zip(("gradcam", "gradcampp"), reference_cams(plain, x, pred)))
    for name, ref in want.items():
        cam = np.load(tmp_path / "e" / f"{name}_cam.npy")
        assert cam.shape == ref.shape == (4, 3, 3) and ref.max() > 0
        np.testing.assert_allclose(cam, ref, rtol=1e-4, atol=1e-5 * ref.max(), err_msg=name)
        up = tf.image.resize(ref[..., None].astype(np.float32), (28, 28), method="bicubic")
        np.testing.assert_allclose(
            np.load(tmp_path / "e" / f"maps_{name}.npy"),
            np.maximum(up.numpy()[..., 0], 0.0),
            rtol=1e-4,
            atol=1e-5 * ref.max(),
            err_msg=name,
        )
    # the two weightings differ on these digits (the test would not see a swap otherwise)
    assert not np.allclose(want["gradcam"], want["gradcampp"], rtol=1e-2)


@pytest.mark.parametrize(
    "args, patch, stride, value",
    [
        ([], 4, 2, 0.0),  # the default: 1/7 and 1/14 of the side
        (["--patch", "7", "--stride", "7"], 7, 7, 0.0),
        (["--patch", "5", "--stride", "3", "--occlusion-value", "1"], 5, 3, 1.0),
    ],
    ids=["default", "patch-7-stride-7", "patch-5-stride-3-white"],
)
def test_occlusion_matches_a_numpy_loop(cli, tmp_path, plain, args, patch, stride, value):
    x, pred, m = _explain(cli, tmp_path / "e", "--method", "occlusion", *args)
    ref = reference_occlusion(plain, x, pred, patch, stride, value)
    got = np.load(tmp_path / "e" / "maps_occlusion.npy")
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    used = m["method_parameters"]["occlusion"]
    assert (used["patch"], used["stride"], used["baseline"]) == (patch, stride, value), used
    if patch == stride == 7:  # one patch per 7×7 block: the map is constant on each
        blocks = got.reshape(4, 4, 7, 4, 7)
        assert np.allclose(blocks, blocks[:, :, :1, :, :1])


@pytest.mark.parametrize("baseline", ["black", "mean"])
def test_integrated_gradients_steps_and_baseline_match_plain_keras(cli, tmp_path, plain, baseline):
    value = 0.0 if baseline == "black" else plain[1]  # "mean": every pixel at the data mean
    maps = {}
    for steps in (4, 32):
        out = tmp_path / f"ig{steps}"
        x, pred, m = _explain(
            cli, out, "--method", "ig", "--ig-steps", str(steps), "--baseline", baseline
        )
        maps[steps] = np.load(out / "maps_ig.npy")
        ref = reference_ig(plain, x, pred, steps, value)
        np.testing.assert_allclose(maps[steps], ref, rtol=1e-3, atol=1e-4 * np.abs(ref).max())
        used = m["method_parameters"]["ig"]
        assert (used["steps"], used["baseline"], used["rule"]) == (steps, baseline, "trapezoid")
    # more steps: a different (better) path integral
    assert not np.allclose(maps[4], maps[32], rtol=1e-2, atol=1e-3 * np.abs(maps[32]).max())


def test_smoothgrad_noise(cli, tmp_path):
    """--noise 0: every noisy copy is the image itself, so SmoothGrad is |gradient| (the
    saliency map); with noise the maps move away from it."""
    out = tmp_path / "n0"
    _explain(cli, out, "--method", "saliency,smoothgrad", "--noise", "0", "--smooth-samples", "3")
    sal = np.load(out / "maps_saliency.npy")
    np.testing.assert_allclose(
        np.load(out / "maps_smoothgrad.npy"), sal, rtol=1e-5, atol=1e-6 * sal.max()
    )
    out = tmp_path / "n5"
    _, _, m = _explain(
        cli, out, "--method", "saliency,smoothgrad", "--noise", "0.5", "--smooth-samples", "16"
    )
    noisy = np.load(out / "maps_smoothgrad.npy")
    assert m["method_parameters"]["smoothgrad"]["noise"] == 0.5
    corr = np.corrcoef(noisy.ravel(), np.load(out / "maps_saliency.npy").ravel())[0, 1]
    assert corr < 0.9, corr


# ----------------------------------------------------------------------------- 14. README


@pytest.mark.slow  # (the full default search: about 15 s)
def test_readme_headline_precursor_with_its_defaults(cli, tmp_path, monkeypatch, plain):
    """``oipviz precursor --layer conv3 --map 46`` exactly as the README's first command:
    the 3×3 grid of 3 grey values (19,683 patterns), the halving screen, the top 8 refined
    1200 steps; the summary line the user reads agrees with the files, and the best OIP
    really drives map 46 that high (measured with plain Keras)."""
    import re

    import keras

    monkeypatch.chdir(tmp_path)  # the default --out (precursor_conv3_46) is made in the cwd
    r = cli("precursor", "--layer", "conv3", "--map", "46")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    out = tmp_path / "precursor_conv3_46"
    lines = r.stdout.splitlines()
    assert lines[-1] == "wrote precursor_conv3_46/", lines
    head = re.fullmatch(
        r"conv3 map 46: best (\S+) \(candidate (\d), screen rank \d of 19,683, pattern "
        r"(\d+)\); refined by screen rank: ((?:\S+, ){7}\S+); above zero",
        lines[0],
    )
    assert head and len(lines) == 2, lines
    m = strict_json(out / "manifest.json")
    assert m["complete"] is True and m["status"] == "above zero"
    assert (m["grid"], m["values"], m["screen"], m["n_screened"]) == (
        3, [0.2, 0.5, 0.8], "halving", 19_683
    )  # fmt: skip
    assert (m["parameters"]["top"], m["parameters"]["epochs"]) == (8, 1200)
    assert len(m["candidates"]) == 8 and m["best_candidate"] == int(head.group(2))
    assert float(head.group(1)) == pytest.approx(m["best_activation"], rel=5e-3)
    for i in range(1, 9):
        for name in (f"start_{i}_viridis.png", f"start_{i}_gray.png", f"oip_{i}.npy",
                     f"oip_{i}_viridis.png", f"oip_{i}_gray.png"):  # fmt: skip
            assert (out / name).is_file(), name
    for name in ("best.npy", "best_viridis.png", "contact_sheet.png", "screen_histogram.png",
                 "refine_curves.png", "refine_history.npy", "screen_losses.npy"):  # fmt: skip
        assert (out / name).is_file(), name
    assert np.load(out / "screen_losses.npy").shape == (19_683,)
    assert np.load(out / "refine_history.npy").shape[1] == 8  # one curve per candidate
    # the best OIP (engine space) through plain Keras: conv3's map 46, averaged
    model = plain[0]
    best = np.load(out / "best.npy")[None, ..., None]
    conv3 = keras.Model(model.inputs, model.get_layer("conv3").output)
    value = float(np.asarray(conv3(best))[0, :, :, 46].mean())
    assert value == pytest.approx(m["best_activation"], rel=1e-3)
    assert value > 50  # well above zero: the search found a pattern the map answers


# ----------------------------------------------------------------------------- 15. options
# (options that only the fuzzer ran before: each one's effect, not just its acceptance)


def _dream_manifest(cli, out: Path, *args) -> dict:
    r = cli("dream", PHOTO, "--map", "2", "--iters", "1", "--epochs", "2", "--quiet",
            "--out", out, *args)  # fmt: skip
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return strict_json(out / "manifest.json")


def test_dream_octaves_octave_scale_and_gray(cli, tmp_path):
    from PIL import Image

    w, h = Image.open(PHOTO).size
    assert Image.open(PHOTO).mode == "RGB"
    m = _dream_manifest(cli, tmp_path / "o", "--octaves", "2", "--octave-scale", "2")
    # the coarse octave is the photo divided by --octave-scale, then the photo's own size
    assert [(r["octave"], r["size"]) for r in m["rounds"]] == [
        (1, [round(w / 2), round(h / 2)]), (2, [w, h])
    ]  # fmt: skip
    for r in m["rounds"]:
        assert (tmp_path / "o" / r["strip"]).is_file()
    m3 = _dream_manifest(cli, tmp_path / "o3", "--octaves", "3", "--octave-scale", "1.5")
    assert [r["size"][0] for r in m3["rounds"]] == [round(w / 2.25), round(w / 1.5), w]
    # a colour photo dreams in colour; --gray writes the articles' grey picture
    plain_dream = Image.open(tmp_path / "o" / "dream.png")
    assert plain_dream.mode == "RGB" and plain_dream.size == (w, h)
    _dream_manifest(cli, tmp_path / "g", "--gray")
    grey = Image.open(tmp_path / "g" / "dream.png")
    assert grey.mode == "L" and grey.size == (w, h)


def _embed(cli, out: Path, *args) -> dict:
    r = cli("embed", "--quiet", "--out", out, *args)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return strict_json(out / "manifest.json")


@pytest.mark.slow  # (openTSNE in a fresh process: about 10-15 s)
def test_embed_tsne_separates_the_classes(cli, tmp_path):
    tsne = ["--method", "tsne", "--perplexity", "10", "--jobs", "1"]
    m = _embed(cli, tmp_path / "t", "--layer", "dense1", "--samples", "120", *tsne)
    (panel,) = m["panels"]
    assert m["method"] == "tsne" and any("t-SNE" in n for n in panel["notes"]), panel
    coords = np.load(tmp_path / "t" / "coords.npy")
    assert coords.shape == (120, 2) and np.isfinite(coords).all()
    # t-SNE keeps neighbourhoods: the classes stay apart in 2-D (PCA of dense1 gives ~0.6)
    assert panel["knn_agreement_2d"] >= 0.9, panel


def test_embed_mode_and_compare_layer(cli, tmp_path):
    pool = _embed(cli, tmp_path / "p", "--layer", "conv3", "--samples", "60", "--method", "pca")
    flat = _embed(cli, tmp_path / "f", "--layer", "conv3", "--samples", "60", "--method", "pca",
                  "--mode", "flat")  # fmt: skip
    assert pool["panels"][0]["dims"] == 128  # one value per map (the spatial mean)
    assert flat["panels"][0]["dims"] == 3 * 3 * 128  # every position of every map
    assert not np.allclose(
        np.abs(np.load(tmp_path / "p" / "coords.npy")),
        np.abs(np.load(tmp_path / "f" / "coords.npy")),
    )
    # --compare-layer: the second model's panel is its conv3, as embedding conv3 alone gives
    from oipviz.core.loader import bundled_model_path

    m = _embed(cli, tmp_path / "c", "--layer", "dense1", "--samples", "60", "--method", "pca",
               "--compare", bundled_model_path("seed_cnn"), "--compare-layer", "conv3")  # fmt: skip
    assert [(p["layer"], p["dims"]) for p in m["panels"][:2]] == [("dense1", 70), ("conv3", 128)]
    np.testing.assert_allclose(
        np.abs(np.load(tmp_path / "c" / "coords_seed_cnn_conv3.npy")),
        np.abs(np.load(tmp_path / "p" / "coords.npy")),
        rtol=1e-4, atol=1e-4,
    )  # fmt: skip


def test_clusters_show_k(cli, tmp_path):
    args = ["clusters", "--layer", "dense1", "--samples", "200", "--k", "2-6", "--quiet"]
    r = cli(*args, "--show-k", "4", "--out", tmp_path / "k4")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    m = strict_json(tmp_path / "k4" / "manifest.json")
    assert m["summary"]["show_k"] == 4
    table = np.loadtxt(tmp_path / "k4" / "contingency_K4.csv", delimiter=",", skiprows=1,
                       usecols=range(1, 11), ndmin=2)  # fmt: skip
    assert table.shape[0] == 4 and table.sum() == 200  # 4 clusters of the 200 digits
    assert m["summary"]["purity"] == pytest.approx(table.max(axis=1).sum() / 200, abs=1e-3)
    assert (tmp_path / "k4" / "centroids_K4.png").is_file()
    # without --show-k: the K of the best mean silhouette is shown
    r = cli(*args, "--out", tmp_path / "best")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    s = strict_json(tmp_path / "best" / "manifest.json")["summary"]
    assert s["show_k"] == s["best_k_silhouette"]
    assert (tmp_path / "best" / f"contingency_K{s['show_k']}.csv").is_file()


def test_gallery_all_layers(cli, tmp_path, loaded):
    out = tmp_path / "g"
    r = cli("gallery", "--all-layers", "--inits", "1", "--epochs", "5", "--precursor", "off",
            "--data-limit", "100", "--no-explain", "--no-feature-space", "--quiet",
            "--out", out)  # fmt: skip
    assert r.exit_code == 0, (r.stdout, r.stderr)
    convs = {i.name: i.units for i in loaded.conv_layers()}
    assert list(convs) == ["conv1", "conv2", "conv3"]
    m = strict_json(out / "manifest.json")
    assert list(m["layers"]) == list(convs)
    index = (out / "index.html").read_text()
    for name, units in convs.items():
        assert len(m["layers"][name]["maps"]) == units
        pages = sorted(p.name for p in (out / name).glob("map_*.html"))
        assert len(pages) == units, (name, len(pages))
        assert all(f'href="{name}/{p}"' in index for p in pages), name
    assert (
        r.stdout.splitlines()[-1]
        == f"wrote {sum(convs.values())} map page(s); open {out}/index.html"
    )
