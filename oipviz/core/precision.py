"""Precision of the engine's ascent steps (issue #12, lever 5).

``float32`` everywhere is the default.  ``bfloat16`` runs the conv chain of the ascent
steps in bf16 (weights and activations; the loss, the gradient's normalisation and the
images stay float32) on the exact fast path only; every value the engine reports (start
and final objective, forward passes) is still computed in float32 from the image.
``auto`` is ``bfloat16`` where the CPU has AMX (oneDNN runs bf16 convolutions on its tile
units; issue #24's target there is 1.6x) and ``float32`` elsewhere, where a run should give
the same bytes on every machine: on AVX512_BF16 without AMX bench/engine.py measured bf16
steps at 1.5-1.7x float32 on big batches, but AMX itself was not available to measure.  The
precursor keeps float32 under ``auto``: bf16 failed its quality rule (bench/precision.py).
"""

from __future__ import annotations

import functools

from oipviz.core.errors import OipvizError

PRECISIONS = ("float32", "bfloat16", "auto")
_NATIVE = ("avx512_bf16", "amx_bf16")
_AMX = ("amx_bf16",)


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    """The CPU flags /proc/cpuinfo lists (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[-1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16() -> bool:
    """True if the CPU has a native bf16 dot-product instruction set (AVX512_BF16 or AMX)."""
    return any(flag in _cpu_flags() for flag in _NATIVE)


def cpu_has_amx() -> bool:
    """True if the CPU has AMX-BF16 tiles (what ``auto`` picks bfloat16 for)."""
    return any(flag in _cpu_flags() for flag in _AMX)


def check(precision: str) -> str:
    """``precision`` if it is one of PRECISIONS, else a one-line error."""
    if precision not in PRECISIONS:
        raise OipvizError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    return precision


def resolve(precision: str) -> str:
    """``float32`` or ``bfloat16`` for a checked precision (``auto``: bfloat16 on AMX CPUs)."""
    p = check(precision)
    if p == "auto":
        return "bfloat16" if cpu_has_amx() else "float32"
    return p
