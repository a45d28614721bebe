"""The attribution methods by name.  A method registers itself::

    @register("vanilla")            # its name is the class's ``name``; aliases optional
    class MyMethod(Method):
        name, title = "mine", "my method"
        def __init__(self, strength: float = 1.0): ...   # settings = constructor args

and ``oipviz.explain(x, methods="mine", strength=2.0)`` builds it from the settings whose
names match its constructor's arguments."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

from oipviz.compute.attribution.base import Method
from oipviz.core.errors import OipvizError

METHODS: dict[str, type[Method]] = {}
ALIASES: dict[str, str] = {}
M = TypeVar("M", bound=type[Method])


def register(*aliases: str) -> Callable[[M], M]:
    """Class decorator: register a Method under its ``name`` (and ``aliases``)."""

    def deco(cls: M) -> M:
        if not cls.name or cls.name in METHODS:
            raise ValueError(f"attribution method name {cls.name!r} is empty or taken")
        METHODS[cls.name] = cls
        for a in aliases:
            ALIASES[a] = cls.name
        return cls

    return deco


def method_names(spec) -> list[str]:
    """Method names from ``"all"``, ``"saliency,ig"`` or a list; one-line error if unknown."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for item in items:
        name = str(item).strip().lower()
        if name == "all":
            out.extend(sorted(METHODS, key=lambda n: METHODS[n].order))
            continue
        name = ALIASES.get(name, name)
        if name not in METHODS:
            raise OipvizError(f"unknown method {item!r}; choose from {', '.join(METHODS)} or all")
        out.append(name)
    if not out:
        raise OipvizError(f"no method given; choose from {', '.join(METHODS)} or all")
    return list(dict.fromkeys(out))


def settings_of(cls) -> set[str]:
    """The settings a method takes (its constructor's argument names)."""
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name for p in params if p.kind in named} - {"self"}


def build_methods(names, **settings) -> dict:
    """Method objects for ``names``, each given the ``settings`` it takes (others are for
    other methods).  A setting no registered method takes is an error (a typo)."""
    names = method_names(names)
    known = set().union(*(settings_of(cls) for cls in METHODS.values()))
    unknown = sorted(k for k in settings if k not in known)
    if unknown:
        raise OipvizError(
            f"unknown attribution setting {unknown[0]!r}; the methods take: "
            + ", ".join(sorted(known))
        )
    return {
        n: METHODS[n](**{k: v for k, v in settings.items() if k in settings_of(METHODS[n])})
        for n in names
    }
