"""What every command does around its computation: progress bars (on stderr, or nowhere
with ``--quiet``), notes on stderr, results on stdout, the resume check."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # what click.progressbar returns


@contextmanager
def progress_sink(quiet: bool) -> Iterator:
    """Where progress bars go: stderr (stdout carries only results), or nowhere."""
    if not quiet:
        yield sys.stderr
        return
    with open(os.devnull, "w") as f:
        yield f


class bar:  # noqa: N801  (used like click.progressbar)
    """A click progress bar of ``length`` units on ``sink``, shown from its first update: a
    check that fails before any work leaves no half-drawn bar above its error line.  Use it
    as a context manager; ``update(n)`` advances it."""

    def __init__(self, sink, length: int, label: str):
        self.sink, self.length, self.label = sink, max(int(length), 1), label
        self.bar: ProgressBar[int] | None = None

    def __enter__(self) -> bar:
        return self

    def update(self, n: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(
                length=self.length, label=self.label, show_eta=True, file=self.sink
            )
            self.bar.__enter__()
        self.bar.update(n)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


class StageBars:
    """One progress bar per stage (``f(stage, n, total)``), opened when the stage first
    reports; nothing with ``quiet``."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar: ProgressBar[int] | None = None
        self.stage: str | None = None

    def __call__(self, stage: str, n: int, total: int) -> None:
        if self.quiet:
            return
        if stage != self.stage or self.bar is None:
            self.close()
            self.stage = stage
            self.bar = click.progressbar(
                length=max(int(total), 1), label=stage, show_eta=True, file=sys.stderr
            )
            self.bar.__enter__()
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def note(text: str) -> None:
    """A note for the user (stderr: scripts reading stdout see only results)."""
    click.echo(text, err=True)


def result(text: str) -> None:
    """A result line (stdout): a summary, a path."""
    click.echo(text)


def already_complete(folder) -> bool:
    """True (after saying so) when --resume found the output finished: nothing to do.
    A run that continues the working folder of a killed run says so."""
    if folder.adopted:
        note(
            f"note: continuing the unfinished run in {folder.path.name} (it was stopped "
            f"before it could keep its work in {folder.shown})"
        )
    if folder.already_complete:
        note(f"{folder.shown} is already complete; nothing to do")
    return folder.already_complete
