"""CLI conventions: lazy TensorFlow, one-line usage errors with exit 2, --debug tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HELP_PROBE = r"""
import json, sys
from oipviz.cli import main
codes = []
for args in (["--help"], ["oip", "--help"], ["train", "--help"], ["info", "--help"],
             ["info", "--bogus"], ["--version"]):
    try:
        main(args, prog_name="oipviz")
    except SystemExit as exc:
        codes.append(exc.code)
heavy = sorted(m for m in ("tensorflow", "keras", "matplotlib") if m in sys.modules)
with open(sys.argv[1], "w") as fh:
    json.dump({"codes": codes, "heavy": heavy}, fh)
"""


def _oipviz_cmd() -> list[str]:
    script = Path(sys.executable).with_name("oipviz")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from oipviz.cli import main; main()"]


def test_help_and_usage_errors_do_not_import_tensorflow(tmp_path):
    out = tmp_path / "probe.json"
    p = subprocess.run(
        [sys.executable, "-c", HELP_PROBE, str(out)], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    probe = json.loads(out.read_text())
    assert probe["codes"] == [0, 0, 0, 0, 2, 0], probe
    assert probe["heavy"] == [], f"imported by --help/usage errors: {probe['heavy']}"
    for command in ("info", "train", "oip"):
        assert command in p.stdout  # the group's help lists the commands
    assert "--layer" in p.stdout and "--arch" in p.stdout  # subcommand help really ran
    assert p.stderr.strip().splitlines() == [
        "error: No such option '--bogus'. (see 'oipviz info --help')"
    ]


def test_debug_shows_a_traceback_for_a_user_error(tmp_path):
    env = dict(os.environ, OIPVIZ_DEBUG="")
    args = ["info", "--model", str(tmp_path / "nope.keras")]
    plain = subprocess.run(
        _oipviz_cmd() + args, capture_output=True, text=True, timeout=120, env=env
    )
    debug = subprocess.run(
        _oipviz_cmd() + ["--debug"] + args, capture_output=True, text=True, timeout=120, env=env
    )
    assert plain.returncode == 2
    assert plain.stderr.strip().splitlines() == [
        f"error: model file {tmp_path / 'nope.keras'} not found"
    ]
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert "ModelError" in debug.stderr and "nope.keras" in debug.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["info", "--bogus"], "No such option '--bogus'"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["oip"], "Missing option '--layer'"),
        (["oip", "--layer", "conv3", "--epochs", "0"], "--epochs"),
        (["oip", "--layer", "conv3", "--inits", "many"], "'many' is not a valid integer"),
        (["oip", "--layer", "conv3", "--lr", "0"], "--lr"),
        (["train", "--arch", "resnet", "--out", "x.keras"], "'resnet' is not one of"),
        (["train", "--epochs", "1"], "Missing option '--out'"),
    ],
)
def test_usage_errors_are_one_line(cli, user_error, args, fragment):
    line = user_error(cli(*args), fragment)
    assert "--help" in line  # the hint points to the command's help


def test_bad_option_values_checked_by_the_command(cli, user_error, tmp_path, loaded):
    user_error(
        cli(
            "oip",
            "--layer",
            "conv3",
            "--map",
            "46",
            "--scale-weights",
            "1,2",
            "--out",
            tmp_path / "o",
        ),
        "--scale-weights",
    )
    user_error(cli("info", "--input-scale", "bogus"), "--input-scale")
    assert not (tmp_path / "o").exists()


def test_version_prints_the_one_version_of_the_package():
    """``oipviz --version`` prints the version written once, in oipviz.core.versions."""
    from oipviz.core.versions import VERSION

    code = "from oipviz.cli import main; main(['--version'], prog_name='oipviz')"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"oipviz {VERSION}"
