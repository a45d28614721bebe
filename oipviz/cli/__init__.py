"""The ``oipviz`` command line: a thin click shell over the Python API.

User errors print ``error: <one line>`` on stderr and exit with status 2 (no traceback
unless ``--debug``).  TensorFlow is imported only by the commands that need it.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from oipviz.core.errors import OipvizError, Terminated
from oipviz.core.versions import VERSION

COMMANDS = (
    "info",
    "train",
    "oip",
    "precursor",
    "dream",
    "activations",
    "gallery",
    "explain",
    "embed",
    "clusters",
    "weights",
    "track",
    "serve",
)


class OipvizGroup(click.Group):
    """Loads subcommands lazily and turns every user error into one line."""

    def list_commands(self, ctx):
        from importlib.util import find_spec

        return [c for c in COMMANDS if find_spec(f"{__name__}.{c}_cmd") is not None]

    def get_command(self, ctx, name):
        if name not in self.list_commands(ctx):
            return None
        import importlib

        return importlib.import_module(f"{__name__}.{name}_cmd").command

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        """Run the command line and exit with its status (always, as click's standalone
        mode does: ``standalone_mode`` is there for click's signature)."""
        as_program = args is None  # the console script; tests pass their arguments
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv or bool(os.environ.get("OIPVIZ_DEBUG"))
        if as_program:
            _set_up_process(debug)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except Exception as exc:
            sys.exit(_report(exc, debug))
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated)
            sys.exit(_report(exc, debug))
        sys.exit(rv if isinstance(rv, int) else 0)


def _set_up_process(debug: bool) -> None:
    """Once, for the ``oipviz`` process only: SIGTERM ends a run like Ctrl-C (finished work
    kept), and TensorFlow's C++ start-up lines, written to file descriptor 2 directly, go to
    /dev/null while Python's ``sys.stderr`` keeps the real stderr (not with ``--debug``)."""
    signal.signal(signal.SIGTERM, _terminate)
    if debug:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    real = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = os.fdopen(real, "w", buffering=1, errors="backslashreplace")


#: set when this process received SIGTERM: the compute layers turn an interrupt inside the
#: engine into a plain KeyboardInterrupt after keeping what is finished, so the type alone
#: does not always tell SIGTERM from Ctrl-C
_SIGTERM_RECEIVED: list[int] = []


def _terminate(signum, frame) -> None:
    _SIGTERM_RECEIVED.append(signum)
    raise Terminated()


def _report(exc: BaseException, debug: bool) -> int:
    """Print the one-line message for ``exc``; returns the exit status."""
    cause = interruption(exc)
    if cause is not None:
        kept = getattr(cause, "oipviz_kept", None) or getattr(exc, "oipviz_kept", None)
        hint = f"; finished parts are kept in {kept}: continue with --resume" if kept else ""
        terminated = isinstance(cause, Terminated) or bool(_SIGTERM_RECEIVED)
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        click.echo(f"error: {what}{hint}", err=True)
        return 143 if terminated else 130
    if debug:
        raise exc
    if isinstance(exc, click.Abort):  # click turns any EOFError into Abort
        click.echo("error: internal error EOFError (rerun with --debug for a traceback)", err=True)
        return 1
    if isinstance(exc, click.ClickException):
        message = " ".join(exc.format_message().split())
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"error: {message}{hint}", err=True)
        return 2
    if isinstance(exc, OipvizError):
        click.echo(f"error: {exc}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        return exc.exit_code
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    click.echo(
        f"error: internal error {type(exc).__name__}: {first} (rerun with --debug for a traceback)",
        err=True,
    )
    return 1


def interruption(exc: BaseException | None) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (Ctrl-C, or :class:`Terminated` for SIGTERM) behind ``exc``:
    itself, or one in its cause/context chain (click turns Ctrl-C into Abort; TensorFlow
    may re-raise it wrapped)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        if isinstance(exc, click.Abort) and not isinstance(exc.__context__, EOFError):
            return (
                exc.__context__
                if isinstance(exc.__context__, KeyboardInterrupt)
                else KeyboardInterrupt()
            )
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


@click.group(cls=OipvizGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and TensorFlow's logs.")
@click.version_option(VERSION, prog_name="oipviz", message="%(prog)s %(version)s")
def main(debug: bool) -> None:
    """See what the maps of a Keras MNIST CNN respond to, and dream with them.

    \b
    oipviz info                               layers of the bundled model
    oipviz oip --layer conv3 --map 46         optimal input pattern of one map
    oipviz precursor --layer conv3 --map 46   grid search for maps random inits miss
    oipviz dream photo.jpg --map 56 --iters 4 DeepDream on a photo
    oipviz gallery --layer conv3              browsable HTML gallery of a layer
    oipviz serve                              live explorer in the browser
    """
    # --debug is read by OipvizGroup.main (before this runs)
