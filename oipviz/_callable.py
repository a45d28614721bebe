"""Let ``oipviz.oip``, ``oipviz.precursor`` and ``oipviz.dream`` stay callable.

Each is both a submodule and the function of the same name.  Importing the submodule
rebinds the package attribute to the module, so the module itself is made callable.
"""
from __future__ import annotations

import sys
import types


def make_callable(module_name: str, func) -> None:
    """Calling module ``module_name`` calls ``func``."""
    cls = type(f"_Callable_{func.__name__}", (types.ModuleType,),
               {"__call__": lambda self, *a, **k: func(*a, **k), "__doc__": func.__doc__})
    sys.modules[module_name].__class__ = cls
