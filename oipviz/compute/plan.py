"""The transform list of an OIP run: the style's preset, the scalar flags, the range
constraint and the image parameterization (``pixel`` or ``spectral``)."""

from __future__ import annotations

import numpy as np

from oipviz.core import checks
from oipviz.core import transforms as T
from oipviz.core.errors import OipvizError

RANGES = ("free", "valid")
#: image parameterizations: ``pixel`` (the articles': the ascent moves pixels), ``spectral``
#: (lucid's Fourier spectrum, decorrelated colour for RGB), ``auto`` (see :func:`resolve_param`)
PARAMS = ("auto", "pixel", "spectral")
#: what ``auto`` picks for grey and for colour models: bench/quality.py's colour section
#: decides (the spectral twin must help on the bundled colour model's conv2 and conv3). It
#: does not: in-range activation ×0.53 (free) and ×0.77 (valid) of the pixel OIPs' on conv3,
#: and with ``readable`` ×1.03 at 0.79× the TV but one map fewer woken (5 dead vs 4)
AUTO_PARAM = {1: "pixel", 3: "pixel"}
#: named transform presets (added to any --jitter/--tv/--blur the user gives)
#: readable: robust to small shifts, scalings and rotations; smooth (gradient blur and a TV
#: penalty relative to the activation, so weak maps are not pushed to zero)
STYLES = {
    "plain": (),
    "readable": (
        T.Jitter(2),
        T.Scale(0.95, 1.05),
        T.Rotate(5.0),
        T.Blur(0.5),
        T.TotalVariation(0.001, relative=True),
    ),
}


def resolve_param(param: str, channels: int) -> str:
    """``pixel`` or ``spectral``: ``auto`` becomes :data:`AUTO_PARAM`'s choice for images of
    ``channels`` channels (what bench/quality.py found better)."""
    if param not in PARAMS:
        raise OipvizError(f"unknown param {param!r}; choose from {', '.join(PARAMS)}")
    return AUTO_PARAM.get(channels, "pixel") if param == "auto" else param


def plan_transforms(
    convention,
    range_mode: str = "free",
    style: str = "plain",
    jitter: int = 0,
    tv: float = 0.0,
    blur: float = 0.0,
    param: str = "pixel",
) -> tuple:
    """The transform list of a run: the style's preset, the scalar flags, and the range.

    ``param='pixel'``: for ``range_mode='valid'``, a projection onto the model's valid
    pixel range (applied last).  ``param='spectral'``: a :class:`~oipviz.core.transforms.
    Spectral` parameterization, bounded by a sigmoid for ``valid``; the style's gradient
    blur is left out (it would blur the spectrum; the 1/f weighting smooths instead) and a
    ``blur`` is refused.  ``auto``: see :func:`resolve_param`.
    """
    if range_mode not in RANGES:
        raise OipvizError(f"unknown range {range_mode!r}; choose from {', '.join(RANGES)}")
    if style not in STYLES:
        raise OipvizError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
    param = resolve_param(param, len(convention.means))
    flags = T.from_flags(
        checks.integer("jitter", jitter, 0, T.MAX_JITTER),
        checks.number("tv", tv, 0.0),
        checks.number("blur", blur, 0.0, 10.0),
    )
    if param == "pixel":
        ts = STYLES[style] + flags
        return ts + (valid_range(convention),) if range_mode == "valid" else ts
    if blur:
        raise OipvizError(
            "--blur smooths pixel gradients; param 'spectral' already favours low frequencies "
            "(use one or the other)"
        )
    ts = tuple(t for t in STYLES[style] if t.stage != "gradient") + flags
    if range_mode == "free":
        return (*ts, T.Spectral())
    clip = valid_range(convention)
    return (*ts, T.Spectral(lo=clip.lo, hi=clip.hi))


def valid_range(convention) -> T.Clip:
    """The projection onto the pixel range [0, 1] in engine space (per channel)."""
    lo, hi = convention.to_engine(np.zeros(1)), convention.to_engine(np.ones(1))
    if np.size(lo) == 1:
        return T.Clip(float(np.ravel(lo)[0]), float(np.ravel(hi)[0]))
    return T.Clip(tuple(float(v) for v in lo), tuple(float(v) for v in hi))
