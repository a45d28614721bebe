"""The machine a bench runs on: CPU model and flags, cores, load, memory, versions, git.

:func:`machine_info` is what every bench result records (``bench/harness.py`` calls it).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: CPU flags the benches care about (SIMD width, bf16/AMX for the precision rule)
FLAGS_OF_INTEREST = (
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
)  # fmt: skip
#: environment variables that change what a bench measures
ENV_OF_INTEREST = (
    "TF_ENABLE_ONEDNN_OPTS", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS", "OIPVIZ_FASTPATH", "OIPVIZ_OFFLINE", "PYTHONPATH",
)  # fmt: skip


def machine_info() -> dict:
    """The machine and software a bench ran on: CPU model and flags, cores and affinity, load
    average, memory, versions (TensorFlow, Keras, numpy, oipviz and its path), git commit,
    date and the environment variables that matter."""
    cpu = {"model": None, "flags": {}}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("model name") and cpu["model"] is None:
            cpu["model"] = line.split(":", 1)[1].strip()
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            cpu["flags"] = {f: f in flags for f in FLAGS_OF_INTEREST}
            cpu["simd"] = sorted(f for f in flags if f.startswith(("avx", "fma", "f16c", "amx")))
            break
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "affinity": affinity,
        "load_average": list(os.getloadavg()),
        "memory": _meminfo(),
        "versions": _versions(),
        "git": _git(),
        "env": {k: os.environ.get(k) for k in ENV_OF_INTEREST},
    }


def _meminfo() -> dict[str, float]:
    out = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("MemTotal", "MemAvailable"):
                out[key + "_gb"] = round(int(rest.split()[0]) / 2**20, 2)
    except (OSError, ValueError):
        pass
    return out


def _versions() -> dict:
    out: dict = {}
    for dist in ("tensorflow", "tensorflow-cpu", "keras", "numpy"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[dist] = importlib.metadata.version(dist)
    try:
        import oipviz  # light: TensorFlow is imported on first use

        out["oipviz"] = oipviz.__version__
        out["oipviz_path"] = str(Path(oipviz.__file__).resolve().parent)
        out["oipviz_from_this_checkout"] = Path(oipviz.__file__).resolve().is_relative_to(ROOT)
    except ImportError as exc:
        out["oipviz"] = f"not importable: {exc}"
    return out


def _git() -> dict:
    def git(*args: str) -> str:
        p = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return p.stdout.strip() if p.returncode == 0 else ""

    status = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
    return {
        "commit": git("rev-parse", "HEAD") or None,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD") or None,
        "dirty": bool(status),
    }


def cpu_info() -> dict:
    """The short CPU record the benches not yet on the harness write (machine, cores, model,
    SIMD flags); ``bench/engine.py`` re-exports it for them."""
    m = machine_info()
    return {
        "machine": m["machine"],
        "cpu_count": m["cpu_count"],
        "model": m["cpu"]["model"],
        "simd": m["cpu"].get("simd", []),
    }
