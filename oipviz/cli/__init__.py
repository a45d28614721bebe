"""The ``oipviz`` command line: a thin click shell over the Python API.

User errors print ``error: <one line>`` on stderr and exit with status 2 (no traceback
unless ``--debug``).  TensorFlow is imported only by the commands that need it.
"""

from __future__ import annotations

import os
import sys

import click

from oipviz.core.errors import OipvizError

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

    def main(self, args=None, **kwargs):
        args = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in args or bool(os.environ.get("OIPVIZ_DEBUG"))
        try:
            rv = super().main(args=args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort as exc:
            if isinstance(exc.__context__, EOFError) and not debug:
                # click turns any EOFError into Abort; only Ctrl-C means "interrupted"
                click.echo(
                    "error: internal error EOFError (rerun with --debug for a traceback)", err=True
                )
                sys.exit(1)
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            if debug:
                raise
            message = " ".join(exc.format_message().split())
            hint = ""
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                hint = f" (see '{exc.ctx.command_path} --help')"
            click.echo(f"error: {message}{hint}", err=True)
            sys.exit(2)
        except OipvizError as exc:
            if debug:
                raise
            click.echo(f"error: {exc}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug, not the user's fault
            if _interrupted(exc):  # Ctrl-C inside TensorFlow's tracing arrives wrapped
                click.echo("error: interrupted", err=True)
                sys.exit(130)
            if debug:
                raise
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            click.echo(
                f"error: internal error {type(exc).__name__}: {first} "
                "(rerun with --debug for a traceback)",
                err=True,
            )
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _interrupted(exc: BaseException) -> bool:
    """True if a KeyboardInterrupt is behind ``exc`` (TensorFlow re-raises it wrapped)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt) or "KeyboardInterrupt" in str(exc):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


@click.group(cls=OipvizGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and TensorFlow's logs.")
@click.version_option(package_name="oipviz")
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
    from oipviz.core.tfenv import cli_start, set_debug

    set_debug(debug)
    cli_start()
