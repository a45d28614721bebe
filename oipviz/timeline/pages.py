"""The timeline's HTML: ``index.html`` and one page per layer with a slider over the
points (jinja2 templates in ``templates/``, a few lines of plain JavaScript, relative
links, no network).  The pages hold the numbers of every point, so they are rewritten
after each point and always show the points recorded so far.  No TensorFlow here."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from oipviz.core.layers import folder_name
from oipviz.core.outputs import write_text
from oipviz.core.versions import VERSION
from oipviz.render import svg
from oipviz.timeline.point import STATES, Timeline

FRAMES = "frames"


def frame_path(layer: str, m: int, t: int) -> str:
    """Where the OIP of map ``m`` at point ``t`` is drawn (relative to the folder)."""
    return f"{FRAMES}/{folder_name(layer)}/m{m:03d}_p{t:04d}.png"


@lru_cache(maxsize=1)
def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(  # the timeline's templates, and the gallery's as gallery/
            [
                jinja2.PackageLoader("oipviz.timeline", "templates"),
                jinja2.PrefixLoader(
                    {"gallery": jinja2.PackageLoader("oipviz.writers", "templates")}
                ),
            ]
        ),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["folder"] = folder_name  # a layer's pages and pictures: {{ name | folder }}
    return env


def fmt(v) -> str:
    """A number for a page: 3 significant digits, a dash for unknown."""
    if v is None or not np.isfinite(v):
        return "–"
    v = float(v)
    return "0" if v == 0 else f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def metrics_text(metrics: dict[str, float]) -> str:
    shown = [f"{k} {fmt(v)}" for k, v in sorted(metrics.items()) if np.isfinite(v)]
    return " · ".join(shown) or "no metrics yet (before training)"


def _common(tl: Timeline, info: dict) -> dict:
    return {
        "version": VERSION,
        "layer_names": tl.layers,
        "n_points": len(tl),
        "schedule": info["schedule"],
        "complete": info.get("complete", False),
        "interrupted": info.get("interrupted", False),
        "finish_hint": info.get("finish_hint", ""),
    }


def metric_panels(tl: Timeline) -> list[str]:
    """The metrics against the epochs: accuracies on [0, 1], the other metrics apart."""
    epochs = np.array([p.position.epoch for p in tl.points])
    names = [n for n in tl.metric_names() if np.isfinite(tl.metric(n)).any()]
    acc = {n: tl.metric(n) for n in names if "acc" in n}
    rest = {n: tl.metric(n) for n in names if "acc" not in n}
    out = []
    if acc:
        out.append(svg.panel("accuracy", epochs, svg.metric_series(acc), (0.0, 1.0)))
    if rest:
        out.append(svg.panel("loss and other metrics", epochs, svg.metric_series(rest)))
    return out


def layer_charts(tl: Timeline, layer: str) -> list[str]:
    """Each map's OIP activation, each map's mean probe activation (the bold line: the
    mean over the maps), then the training metrics, all against the epochs."""
    epochs = np.array([p.position.epoch for p in tl.points])
    maps = tl.maps(layer)
    probe = tl.probe_means(layer)
    mean = svg.Series(probe.mean(axis=1), "mean of maps", "#111111", 2.4)
    return [
        svg.panel(
            f"{layer}: activation each map's OIP reaches", epochs,
            svg.map_series(tl.values(layer), maps), legend=False,
        ),
        svg.panel(
            f"{layer}: mean activation over the probe inputs", epochs,
            svg.map_series(probe, maps) + [mean], legend=False,
        ),
        *metric_panels(tl),
    ]  # fmt: skip


def write_layer_page(folder: Path, tl: Timeline, layer: str, info: dict) -> Path:
    """``<layer>.html`` for the points so far (the last one shown first)."""
    t_last = len(tl) - 1
    maps, values, probe = tl.maps(layer), tl.values(layer), tl.probe_means(layer)
    states = tl.states(layer)
    epochs = np.array([p.position.epoch for p in tl.points])
    labels = [p.position.label for p in tl.points]
    has_summary = (folder / folder_name(layer) / "sheet.png").exists()
    cards = [
        {
            "map": m,
            "src": frame_path(layer, m, t_last),
            "state": states[t_last][k],
            "value": fmt(values[t_last, k]),
            "probe": fmt(probe[t_last, k]),
            "states": [row[k] for row in states],
            "gif": f"{folder_name(layer)}/m{m:03d}.gif" if has_summary else None,
        }
        for k, m in enumerate(maps)
    ]
    data = {
        "labels": labels,
        "metrics": [metrics_text(p.metrics) for p in tl.points],
        "maps": maps,
        "frames": f"{FRAMES}/{folder_name(layer)}",
        "values": _rounded(values),
        "probe": _rounded(probe),
        "states": states,
        "x": svg.xs(epochs),
    }
    last = tl.points[t_last]
    ctx = dict(
        _common(tl, info),
        title=f"{layer}: {len(maps)} maps over {len(tl)} training points",
        last={"label": last.position.label, "metrics_text": metrics_text(last.metrics)},
        labels=labels,
        cards=cards,
        noun="map" if last.probe_acts[layer].ndim == 4 else "unit",
        warm=info["warm"],
        n_probes=info["n_probes"],
        charts=layer_charts(tl, layer),
        kernels_src=f"{FRAMES}/kernels_p{t_last:04d}.png" if last.kernel_layer else None,
        kernel_caption=f"{last.kernel_layer}: kernels, blue < 0 < red (one colour range for "
        "every point)",
        attribution_src=f"{FRAMES}/attribution_p{t_last:04d}.png"
        if len(last.attribution)
        else None,
        attribution_caption=f"{info['attribution']} of the predicted class on the first "
        f"{len(last.attribution)} probe inputs",
        sheet=f"{folder_name(layer)}/sheet.png" if has_summary else None,
        data=json.dumps(data, separators=(",", ":")).replace("</", "<\\/"),
    )
    return _render(folder / f"{folder_name(layer)}.html", "layer.html", ctx)


def write_index(folder: Path, tl: Timeline, info: dict) -> Path:
    """``index.html``: model, settings, each layer's states and changes, the metrics."""
    names = [n for n in tl.metric_names() if np.isfinite(tl.metric(n)).any()]
    layers = []
    for layer in tl.layers:
        now = tl.states(layer)[-1]
        layers.append(
            {
                "name": layer,
                "maps": tl.maps(layer),
                "counts": {s: now.count(s) for s in STATES},
                "events": tl.events(layer),
                "sheet": f"{folder_name(layer)}/sheet.png"
                if (folder / folder_name(layer) / "sheet.png").exists()
                else None,
                "curves": f"{folder_name(layer)}/curves.svg",
            }
        )
    ctx = dict(
        _common(tl, info),
        title=f"Training timeline of {info['model']}",
        model_rows=info["model_rows"],
        param_rows=info["param_rows"],
        layers=layers,
        metric_chart="\n".join(metric_panels(tl)),
        metric_names=names,
        metric_rows=[
            (p.position.label, [fmt(p.metrics.get(n, np.nan)) for n in names]) for p in tl.points
        ],
    )
    return _render(folder / "index.html", "index.html", ctx)


def write_curves(folder: Path, tl: Timeline, layer: str) -> Path:
    """``<layer>/curves.svg``: the layer's charts stacked in one SVG file."""
    charts = layer_charts(tl, layer)
    h = svg.HEIGHT
    body = "\n".join(f'<g transform="translate(0,{i * h})">{c}</g>' for i, c in enumerate(charts))
    text = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{svg.WIDTH}" '
        f'height="{h * len(charts)}" viewBox="0 0 {svg.WIDTH} {h * len(charts)}">\n'
        f'<rect width="100%" height="100%" fill="#fff"/>\n{body}\n</svg>\n'
    )
    (folder / folder_name(layer)).mkdir(exist_ok=True)
    return write_text(folder / folder_name(layer) / "curves.svg", text)


def copy_css(folder: Path) -> Path:
    """``style.css``: the gallery's stylesheet, then the timeline's own rules."""
    css = [
        (resources.files(pkg) / "templates" / "style.css").read_text("utf-8")
        for pkg in ("oipviz.writers", "oipviz.timeline")
    ]
    return write_text(folder / "style.css", "\n".join(css))


def _rounded(a: np.ndarray) -> list:
    """(T, M) floats for the page's JSON: 4 significant digits, null for non-finite."""
    return [[float(f"{v:.4g}") if np.isfinite(v) else None for v in row] for row in a]


def _render(path: Path, template: str, ctx: dict) -> Path:
    return write_text(path, environment().get_template(template).render(root="", **ctx))
