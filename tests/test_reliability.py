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
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

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


def hidden(folder: Path) -> list[str]:
    """Names of hidden entries (temp folders like ``.NAME.xxxx``) in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for folders)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def console_script() -> list[str]:
    script = Path(sys.executable).with_name("oipviz")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from oipviz.cli import main; main()"]


def child_env() -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("OIPVIZ_DEBUG", None)
    return env


def _sigint_default():  # runs in the child before exec
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Child:
    """The console script as a real subprocess; stdout/stderr go to files."""

    def __init__(self, args, cwd: Path, logs: Path):
        logs.mkdir(exist_ok=True)
        self.out_path, self.err_path = logs / "stdout.txt", logs / "stderr.txt"
        # open for the child's lifetime, closed in interrupt_when() (not a with block)
        self._out = open(self.out_path, "w")  # noqa: SIM115
        self._err = open(self.err_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            console_script() + [str(a) for a in args],
            cwd=cwd,
            stdout=self._out,
            stderr=self._err,
            env=child_env(),
            preexec_fn=_sigint_default,
        )

    def interrupt_when(self, ready, timeout: float = 300.0, delay: float = 0.0) -> int:
        """Send SIGINT as soon as ``ready()`` holds; returns the exit status."""
        t0 = time.monotonic()
        while not ready():
            if self.proc.poll() is not None:
                pytest.fail(
                    f"the run ended (status {self.proc.returncode}) before it could be "
                    f"interrupted; stderr: {self.stderr()[-500:]}"
                )
            if time.monotonic() - t0 > timeout:
                self.proc.kill()
                pytest.fail("the run never reached the point to interrupt it")
            time.sleep(0.02)
        time.sleep(delay)
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=120)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._out.close()
            self._err.close()

    def stdout(self) -> str:
        return self.out_path.read_text()

    def stderr(self) -> str:
        return self.err_path.read_text()


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


def _fails_fast(args, tmp_path) -> str:
    """Exit 2 with one line in under 2 s.  Importing TensorFlow alone takes several
    seconds, so one run under 2 s shows it was not needed; the machine is shared, so
    the best of 3 runs counts."""
    times = []
    for _ in range(3):
        t0 = time.monotonic()
        p = subprocess.run(
            console_script() + args,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=child_env(),
        )
        times.append(time.monotonic() - t0)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
        assert "Traceback" not in p.stdout + p.stderr
        if times[-1] < 2.0:
            return lines[0]
    pytest.fail(f"{min(times):.2f} s at best: the output folder was not checked before loading")


@pytest.mark.parametrize("command", sorted(FAST_COMMANDS))
def test_unwritable_out_fails_fast_read_only_folder(tmp_path, locked_dir, command):
    line = _fails_fast(FAST_COMMANDS[command] + ["--out", str(locked_dir / "out")], tmp_path)
    assert str(locked_dir) in line
    assert list(locked_dir.iterdir()) == []


@pytest.mark.parametrize("command", sorted(FAST_COMMANDS))
def test_unwritable_out_fails_fast_proc(tmp_path, command):
    _fails_fast(FAST_COMMANDS[command] + ["--out", "/proc/oipviz_test_out"], tmp_path)
    assert not os.path.lexists("/proc/oipviz_test_out")


def test_unwritable_out_does_not_import_tensorflow(tmp_path):
    probe = (
        "import sys\nfrom oipviz.cli import main\n"
        "try:\n    main(['oip', '--layer', 'conv3', '--out', '/proc/oipviz_test_out'],"
        " prog_name='oipviz')\nexcept SystemExit as e:\n    code = e.code\n"
        "print(code, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=child_env(),
    )
    assert p.stdout.split() == ["2", "False", "False"], (p.stdout, p.stderr)


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
    """Run the console script into NAME, send SIGINT once DONE_GLOB exists (in the folder
    or its hidden working copy), check the exit and what is left; returns the folder."""
    child = Child(args + ["--out", name], tmp_path, tmp_path / "logs")
    code = child.interrupt_when(
        lambda: (
            any(tmp_path.glob(f"{name}/{done_glob}"))
            or any(tmp_path.glob(f".{name}.*/{done_glob}"))
        )
    )
    err = child.stderr()
    assert code == 130, (code, err)
    assert "error: interrupted" in err.splitlines() and "Traceback" not in err, err
    assert hidden(tmp_path) == []  # no .NAME.* working folder left
    out = tmp_path / name
    if out.exists():
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


def test_ctrl_c_oip_keeps_finished_parts_and_resume_gives_the_same_bytes(cli, user_error, tmp_path):
    x = _interrupted_run(tmp_path, OIP_ALL, "X", "parts/maps_*.npz", "oip")
    if x.exists():
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
    assert r.exit_code == 0 and "already complete" in r.stdout, (r.stdout, r.stderr)
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


def test_ctrl_c_precursor_keeps_finished_maps_and_resume_gives_the_same_bytes(
    cli, user_error, tmp_path
):
    q = _interrupted_run(tmp_path, PRECURSOR_RUN, "Q", "map[0-9][0-9][0-9]", "precursor")
    if q.exists():
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

    r = cli(*PRECURSOR_RUN, "--quiet", "--out", q, "--resume")
    assert r.exit_code == 0 and "already complete" in r.stdout, (r.stdout, r.stderr)
    user_error(cli(*PRECURSOR_RUN, "--quiet", "--out", q), "already exists")
    assert hidden(tmp_path) == []


def test_ctrl_c_dream_exits_130_and_leaves_nothing(tmp_path):
    child = Child(
        ["dream", PHOTO, "--map", "2", "--iters", "2000", "--epochs", "100", "--out", "D"],
        tmp_path,
        tmp_path / "logs",
    )
    code = child.interrupt_when(lambda: "dream conv3" in child.stdout(), delay=1.0)
    err = child.stderr()
    assert code == 130, (code, err)
    assert "error: interrupted" in err.splitlines() and "Traceback" not in err, err
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
