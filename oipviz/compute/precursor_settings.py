"""The precursor's settings, validated once: the pattern grid, the screen, the refinement.

Every precursor entry point (one map, several maps, sharded runs, the rescue, the gallery)
takes one :class:`PrecursorSettings`; :meth:`PrecursorSettings.checked` turns keyword
arguments into it with one-line errors for bad values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from oipviz.core import checks
from oipviz.core.errors import OipvizError

SCREENS = ("exhaustive", "forward", "halving")
RANGES = ("free", "valid")
#: the precursor's screen unless told (bench/halving.py: the same top 8 and best refined
#: activation as the exhaustive screen on the maps measured, for a fraction of the work)
DEFAULT_SCREEN = "halving"
#: successive halving: (ascent steps, fraction of the previous round kept before it).
#: Round 0 is the forward value of every pattern; the last round always runs
#: ``test_steps`` steps, so its losses equal the exhaustive screen's.
HALVING_ROUNDS = ((3, 1 / 8), (None, 1 / 4))
DEFAULT_WAKE = 200  # pre-activation steps for candidates at zero everywhere (0 = the articles)
#: the CLI asks for --yes above this many patterns per map (5 values on 3×3 = 1,953,125)
GUARD_PATTERNS = 1_500_000
#: hard ceiling: one float32 per pattern must stay small
MAX_PATTERNS = 50_000_000
#: the finest grid (a square of one pixel on a 64-px image)
MAX_GRID = 64


@dataclass(frozen=True)
class PrecursorSettings:
    """How the precursor searches: ``grid``×``grid`` squares of the grey ``values``,
    screened by ``screen`` with ``test_steps`` ascent steps, the best ``top`` refined for
    ``steps``; candidates stuck at zero first climb the pre-activation for ``wake`` steps
    (0: the articles' method).  ``range_mode``: ``free`` (the articles' standardized
    patterns, unconstrained ascent) or ``valid`` (the grey patterns as real pixels, every
    step projected onto the model's input range)."""

    grid: int = 3
    values: tuple = (0.2, 0.5, 0.8)  # grey values, or RGB triples (a colour palette)
    test_steps: int = 10
    top: int = 8
    steps: int = 1200
    lr: float = 0.02
    seed: int = 0
    screen: str = DEFAULT_SCREEN
    chunk: int = 1024
    wake: int = DEFAULT_WAKE
    precision: str = "float32"
    rounds: tuple = HALVING_ROUNDS
    range_mode: str = "free"

    @property
    def colour(self) -> bool:
        """The values are a colour palette (RGB triples), for colour models."""
        return bool(self.values) and isinstance(self.values[0], tuple)

    @property
    def n_patterns(self) -> int:
        """How many patterns the grid has (V ** (grid²))."""
        return len(self.values) ** (self.grid * self.grid)

    def as_dict(self) -> dict:
        """The settings for manifests (without the halving plan's internals)."""
        d = asdict(self)
        d.pop("rounds")
        return dict(d, values=[list(v) if isinstance(v, tuple) else v for v in self.values])

    @classmethod
    def checked(cls, **kw) -> PrecursorSettings:
        """Settings from keyword arguments (defaults for the others), each checked."""
        from oipviz.core.precision import check as check_precision

        names = {f.name for f in fields(cls)}
        unknown = sorted(set(kw) - names)
        if unknown:
            raise OipvizError(f"unknown precursor setting {unknown[0]!r}")
        s = cls(**kw)
        if s.screen not in SCREENS:
            raise OipvizError(f"unknown screen {s.screen!r}; choose from {', '.join(SCREENS)}")
        grid = checks.integer("grid", s.grid, 1, MAX_GRID)
        values = palette_values(s.values)
        n = len(values) ** (grid * grid)  # Python int: no overflow
        if n > MAX_PATTERNS:
            raise OipvizError(
                f"{len(values)} values on a {grid}×{grid} grid give {n:.3g} patterns; "
                f"at most {MAX_PATTERNS:,} can be screened"
            )
        top = checks.integer("top", s.top)
        if not (1 <= top <= n):
            raise OipvizError(f"top must be between 1 and the pattern count {n:,} (got {top})")
        test_steps = checks.integer("test steps", s.test_steps, 0)
        if s.range_mode not in RANGES:
            raise OipvizError(f"unknown range {s.range_mode!r}; choose from {', '.join(RANGES)}")
        if s.screen == "halving" and test_steps < 1:
            raise OipvizError(
                "the halving screen needs test steps >= 1; for a screen without "
                "ascent steps use the forward screen"
            )
        return cls(
            grid, values, test_steps, top, checks.integer("steps", s.steps, 1), checks.lr(s.lr),
            checks.seed(s.seed), s.screen, checks.integer("chunk", s.chunk, 1),
            checks.integer("wake", s.wake, 0), check_precision(s.precision), tuple(s.rounds),
            s.range_mode,
        )  # fmt: skip


@dataclass(frozen=True)
class RescueSettings:
    """The precursor that rescues the maps random inits miss, as the gallery and the live
    explorer run it: the fast forward screen, a short refinement, the default wake
    (:func:`oipviz.compute.precursor.precursor`'s parameters of the same names)."""

    screen: str = "forward"
    grid: int = 3
    values: tuple[float, ...] = (0.2, 0.5, 0.8)
    test_steps: int = 10
    top: int = 2
    steps: int = 200
    wake: int = DEFAULT_WAKE

    @classmethod
    def from_dict(cls, d: dict) -> RescueSettings:
        """From a dict of some of the fields (the others keep their defaults)."""
        d = dict(d)
        if "values" in d:
            d["values"] = tuple(float(v) for v in d["values"])
        return cls(**d)

    def as_dict(self) -> dict:
        """The plain form of manifests, pages and :class:`~oipviz.compute.layerjobs.LayerJob`."""
        return dict(asdict(self), values=list(self.values))


#: ``--palette colour``: the squares are red, green or blue (3 colours on the 3×3 grid:
#: 19,683 patterns, as many as the grey screen's)
COLOUR_PALETTE = ((0.8, 0.2, 0.2), (0.2, 0.8, 0.2), (0.2, 0.2, 0.8))


def palette_values(values) -> tuple:
    """Grey values (numbers) or a colour palette (RGB triples), each in [0, 1], distinct."""
    items = list(values) if isinstance(values, (list, tuple)) else None
    if items and all(isinstance(v, (list, tuple)) for v in items):
        if any(len(v) != 3 for v in items):
            raise OipvizError(f"bad palette {values!r}; give RGB triples in [0, 1]")
        cols = [_grey_values(v, "colour channels", distinct=False) for v in items]
        if len(set(cols)) != len(cols):
            raise OipvizError("the palette's colours must be distinct")
        return tuple(cols)
    return _grey_values(values)


def _grey_values(values, what: str = "grey values", distinct: bool = True) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise OipvizError(f"bad values {values!r}; give numbers in [0, 1]") from None
    if not vals:
        raise OipvizError("values is empty; give at least one grey value in [0, 1]")
    bad = [v for v in vals if not (0.0 <= v <= 1.0)]
    if bad:
        raise OipvizError(f"value {bad[0]:g} is outside [0, 1]; give {what} in [0, 1]")
    if distinct and len(set(vals)) != len(vals):
        raise OipvizError("values must be distinct")
    return vals


def settings_of(settings: PrecursorSettings | None, kw: dict) -> PrecursorSettings:
    """``settings`` as given, or checked from the keyword arguments ``kw`` (not both)."""
    if settings is not None:
        if kw:
            raise OipvizError("give precursor settings either as PrecursorSettings or as keywords")
        return settings
    return PrecursorSettings.checked(**kw)
