"""Real subprocesses of the ``oipviz`` console script, for the signal and fault tests
(imported as ``from children import ...``), and folder snapshots."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def console_script() -> list[str]:
    script = Path(sys.executable).with_name("oipviz")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from oipviz.cli import main; main()"]


def child_env() -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("OIPVIZ_DEBUG", None)
    return env


def _default_signals():  # in the child, before exec: a background shell may ignore them
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Child:
    """The console script as a real subprocess in ``cwd``; stdout/stderr go to files."""

    def __init__(self, args, cwd: Path, tag: str = "child"):
        logs = cwd / f"logs_{tag}"
        logs.mkdir(exist_ok=True)
        self.out_path, self.err_path = logs / "stdout.txt", logs / "stderr.txt"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                console_script() + [str(a) for a in args],
                cwd=cwd,
                stdout=out,
                stderr=err,
                env=child_env(),
                preexec_fn=_default_signals,
            )

    def wait_for(self, ready: Callable[[], bool], timeout: float = 300.0) -> None:
        t0 = time.monotonic()
        while not ready():
            if self.proc.poll() is not None:
                pytest.fail(
                    f"the run ended (status {self.proc.returncode}) before the point to "
                    f"stop it; stderr: {self.stderr()[-800:]}"
                )
            if time.monotonic() - t0 > timeout:
                self.proc.kill()
                pytest.fail("the run never reached the point to stop it")
            time.sleep(0.01)

    def interrupt_when(self, ready: Callable[[], bool], timeout: float = 300.0,
                       delay: float = 0.0) -> int:  # fmt: skip
        """Ctrl-C (SIGINT) as soon as ``ready()`` holds; returns the exit status."""
        self.wait_for(ready, timeout)
        time.sleep(delay)
        self.proc.send_signal(signal.SIGINT)
        return self.wait(120)

    def signal_when(self, ready: Callable[[], bool], sig: int, delay: float = 0.0) -> int:
        """Send ``sig`` as soon as ``ready()`` holds; returns the exit status."""
        self.wait_for(ready)
        time.sleep(delay)
        self.proc.send_signal(sig)
        return self.wait()

    def wait(self, timeout: float = 300.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def stdout(self) -> str:
        return self.out_path.read_text()

    def stderr(self) -> str:
        return self.err_path.read_text()


def hidden(folder: Path) -> list[str]:
    """Hidden entries (``.NAME.partial``, ``.NAME.lock``, temp files) of ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` (hidden ones too) with its bytes (None for folders)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }
