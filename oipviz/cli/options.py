"""One-line click options: ``@opt("--inits", count(1, 64), 8, "Random starts per map.")``.

The commands declare many options of one form (a name, a type, a default, a help text);
:func:`opt` writes that form once.  A plain default is shown in ``--help``; a default of
``None`` or a computed one (a callable) is not, and the help text says what it means.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def opt(name: str, type_: Any, default: Any, help_text: str, *, dest: str | None = None, **extra):
    """A ``click.option`` with a type, a default and a help text.

    Parameters
    ----------
    name : str
        The option, e.g. ``"--inits"``.
    type_ : click.ParamType, type or None
        Its type (a :class:`click.Choice`, :func:`oipviz.cli.params.count`, ...); None: text.
    default : object
        Its default; shown in ``--help`` unless it is None or a callable.
    help_text : str
        The help line.
    dest : str, optional
        The keyword the command receives, where it differs from the option's name.
    **extra
        Further ``click.option`` settings (``metavar``, ``multiple``, ...).

    Returns
    -------
    Callable
        The decorator.
    """
    if default is not None and not callable(default):
        extra.setdefault("show_default", True)
    decls = (name, dest) if dest else (name,)
    return click.option(*decls, type=type_, default=default, help=help_text, **extra)


def choice(name: str, choices, default: Any, help_text: str, **extra):
    """:func:`opt` for one of ``choices`` (a :class:`click.Choice`).

    Parameters
    ----------
    name, default, help_text, **extra
        As for :func:`opt`.
    choices : sequence of str
        The values allowed.

    Returns
    -------
    Callable
        The decorator.
    """
    return opt(name, click.Choice(choices), default, help_text, **extra)


def stack(*options: Callable) -> Callable:
    """Several option decorators as one, in the order given (as they show in ``--help``).

    Parameters
    ----------
    *options : Callable
        Option decorators (``click.option(...)``, :func:`opt`, ...).

    Returns
    -------
    Callable
        The decorator applying them all.
    """

    def deco(f):
        for o in reversed(options):
            f = o(f)
        return f

    return deco
