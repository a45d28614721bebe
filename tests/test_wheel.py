"""The release: the built wheel holds the package and its data files only, installs into a
fresh virtual environment, and runs from there (``oipviz --version``, ``info``, one short
``oip``).

Nothing is downloaded: the wheel is built without build isolation (``build`` and
``setuptools`` come with the test extra), the fresh venv reaches the dependencies through a
``.pth`` line naming this interpreter's site-packages (after its own site-packages, so the
installed wheel is the ``oipviz`` it imports), and the wheel is installed with ``--no-deps``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list, cwd: Path, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, (cmd, p.stdout[-2000:], p.stderr[-2000:])
    return p


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
          str(ROOT)], ROOT, dict(os.environ))  # fmt: skip
    (whl,) = out.glob("oipviz-*.whl")
    return whl


@pytest.mark.slow
def test_the_wheel_holds_the_package_with_its_data_and_nothing_else(wheel):
    from oipviz.core.versions import VERSION

    names = zipfile.ZipFile(wheel).namelist()
    assert wheel.name.startswith(f"oipviz-{VERSION}-")
    tops = {n.split("/")[0] for n in names}
    assert tops == {"oipviz", f"oipviz-{VERSION}.dist-info"}, tops
    bundled = ["seed_cnn.keras", "seed_cnn.card.json", "lenet5_fashion.keras", "shapes_cnn.keras"]
    for data in [f"oipviz/models/bundled/{b}" for b in bundled] + [
        "oipviz/serve/static/index.html",
        "oipviz/py.typed",
    ]:
        assert data in names, data
    assert any(n.startswith("oipviz/writers/templates/") for n in names)
    assert not [n for n in names if "/tests/" in n or "bench" in n or n.endswith(".pyc")]
    meta = zipfile.ZipFile(wheel).read(f"oipviz-{VERSION}.dist-info/METADATA").decode()
    assert "License: MIT" in meta or "License-Expression: MIT" in meta
    assert "Project-URL: Source, https://github.com/oipviz/oipviz" in meta


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_and_runs(wheel, tmp_path):
    from oipviz.core.versions import VERSION

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / "python"
    site = Path(
        _run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path, {}
        ).stdout.strip()  # fmt: skip
    )
    # the dependencies: this interpreter's site-packages, searched after the venv's own
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    # --ignore-installed: the same version seen through deps.pth (a non-editable install of
    # the test run itself) must not count as installed
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
          "--ignore-installed", "--quiet", str(wheel)], tmp_path, env)  # fmt: skip
    where = _run([str(py), "-c", "import oipviz; print(oipviz.__file__)"], tmp_path, env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout

    oipviz = str(bindir / "oipviz")
    assert _run([oipviz, "--version"], tmp_path, env).stdout.strip() == f"oipviz {VERSION}"
    info = _run([oipviz, "info"], tmp_path, env).stdout
    assert "conv3" in info and "seed_cnn.keras" in info
    _run([oipviz, "oip", "--layer", "conv3", "--map", "46", "--inits", "2", "--epochs", "5",
          "--out", "run", "--quiet"], tmp_path, env)  # fmt: skip
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert (tmp_path / "run" / "contact_sheet.png").stat().st_size > 0
    assert manifest["versions"]["oipviz"] == VERSION
