"""Line charts as plain SVG text (no matplotlib: cheap enough to redraw at every point,
and the same bytes for the same numbers).  Every panel shares the x axis (epochs), so
one cursor position per point moves the cursor in all of them."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np

#: tab20-like categorical colours for the maps' lines
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
)  # fmt: skip
METRIC_COLOURS = ("#111111", "#1f5fa8", "#c83c3c", "#3caa5a", "#9467bd", "#e6a01e")
WIDTH, HEIGHT = 680, 170
LEFT, RIGHT, TOP, BOTTOM = 52, 120, 22, 26


@dataclass
class Series:
    """One line: its values (NaN = gap), legend name, colour, width and map index."""

    values: np.ndarray
    name: str
    colour: str
    width: float = 1.2
    map: int | None = None


def xs(epochs: np.ndarray) -> list[float]:
    """The x pixel of each point (shared by every panel and the page's cursor)."""
    e = np.asarray(epochs, np.float64)
    lo, hi = float(e.min()), float(e.max())
    span = hi - lo or 1.0
    return [round(LEFT + (WIDTH - LEFT - RIGHT) * (v - lo) / span, 2) for v in e]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    return f"{v:.0f}" if a >= 100 else f"{v:.2g}" if a < 0.1 else f"{v:.3g}"


def panel(
    title: str, epochs: np.ndarray, series: list[Series], y_range=None, legend: bool = True
) -> str:
    """One chart: the series against the epochs, a y axis with 3 ticks, a cursor line."""
    x = xs(epochs)
    vals: np.ndarray | list = (
        np.concatenate([np.asarray(s.values, np.float64) for s in series]) if series else []
    )
    finite = np.asarray(vals)[np.isfinite(vals)] if len(vals) else np.zeros(0)
    lo, hi = y_range or (
        (float(min(0.0, finite.min())), float(finite.max())) if finite.size else (0.0, 1.0)
    )
    hi = hi if hi > lo else lo + 1.0
    bottom = HEIGHT - BOTTOM

    def y(v: float) -> float:
        return round(bottom - (bottom - TOP) * (v - lo) / (hi - lo), 2)

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="10">',
        f'<text x="{LEFT}" y="13" font-size="12">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#999"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#999"/>',
    ]
    for v in (lo, (lo + hi) / 2, hi):
        out.append(
            f'<text x="{LEFT - 4}" y="{y(v) + 3}" text-anchor="end">{_fmt(v)}</text>'
            f'<line x1="{LEFT}" y1="{y(v)}" x2="{WIDTH - RIGHT}" y2="{y(v)}" stroke="#eee"/>'
        )
    for e, px in _ticks(epochs, x):
        out.append(f'<text x="{px}" y="{bottom + 13}" text-anchor="middle">{_fmt(e)}</text>')
    out.append(f'<text x="{WIDTH - RIGHT}" y="{bottom + 24}" text-anchor="end">epoch</text>')
    for k, s in enumerate(series):
        out.extend(_polylines(s, x, y))
        if legend and len(series) <= 8:
            ly = TOP + 4 + 13 * k
            out.append(
                f'<line x1="{WIDTH - RIGHT + 8}" y1="{ly}" x2="{WIDTH - RIGHT + 24}" y2="{ly}" '
                f'stroke="{s.colour}" stroke-width="2"/><text x="{WIDTH - RIGHT + 28}" '
                f'y="{ly + 3}">{escape(s.name)}</text>'
            )
    out.append(
        f'<line class="cursor" x1="{x[-1]}" y1="{TOP}" x2="{x[-1]}" y2="{bottom}" '
        'stroke="#c83c3c" stroke-dasharray="3,2"/>'
    )
    out.append("</svg>")
    return "\n".join(out)


def _ticks(epochs: np.ndarray, x: list[float]) -> list[tuple[float, float]]:
    """At most 11 labelled points along the x axis."""
    n = len(x)
    step = max(1, int(np.ceil(n / 11)))
    return [(float(epochs[i]), x[i]) for i in range(0, n, step)]


def _polylines(s: Series, x: list[float], y) -> list[str]:
    """The series as polylines (split at NaN), with a dot where a run has one point."""
    attrs = f'fill="none" stroke="{s.colour}" stroke-width="{s.width}"'
    if s.map is not None:
        attrs += f' class="map-line" data-map="{s.map}"'
    out, run = [], []
    for px, v in list(zip(x, np.asarray(s.values, np.float64), strict=True)) + [(None, np.nan)]:
        if px is not None and np.isfinite(v):
            run.append(f"{px},{y(float(v))}")
            continue
        if len(run) > 1:
            out.append(f'<polyline points="{" ".join(run)}" {attrs}/>')
        elif run:
            cx, cy = run[0].split(",")
            out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{s.colour}"/>')
        run = []
    return out


def map_series(values: np.ndarray, maps: list[int]) -> list[Series]:
    """(T, M) values as one thin line per map."""
    return [
        Series(values[:, k], f"map {m}", PALETTE[k % len(PALETTE)], 1.1, m)
        for k, m in enumerate(maps)
    ]


def metric_series(metrics: dict[str, np.ndarray]) -> list[Series]:
    return [
        Series(v, name, METRIC_COLOURS[k % len(METRIC_COLOURS)], 1.8)
        for k, (name, v) in enumerate(metrics.items())
    ]
