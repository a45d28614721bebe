"""Precision of the engine's ascent steps (issue #12, lever 5).

``float32`` everywhere is the default.  ``bfloat16`` runs the conv chain of the ascent
steps in bf16 (weights and activations; the loss, the gradient's normalisation and the
images stay float32) on the exact fast path only; every value the engine reports (start
and final objective, forward passes) is still computed in float32 from the image.
``auto`` is ``bfloat16`` where the CPU has native bf16 dot products (AVX512_BF16 or
AMX-BF16; elsewhere TF would emulate it, slower) and ``float32`` otherwise.
"""

from __future__ import annotations

import functools

from oipviz.core.errors import OipvizError

PRECISIONS = ("float32", "bfloat16", "auto")
_NATIVE = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True if /proc/cpuinfo lists a native bf16 dot-product instruction set."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in _NATIVE)
    except OSError:
        pass
    return False


def check(precision: str) -> str:
    """``precision`` if it is one of PRECISIONS, else a one-line error."""
    if precision not in PRECISIONS:
        raise OipvizError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    return precision


def resolve(precision: str) -> str:
    """``float32`` or ``bfloat16`` for a checked precision (``auto`` asks the CPU)."""
    p = check(precision)
    if p == "auto":
        return "bfloat16" if cpu_has_bf16() else "float32"
    return p
