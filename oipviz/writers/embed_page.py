"""The embedding's HTML page: one SVG scatter per panel; hovering a point shows the digit
(an inline data: URI) and rings the same digit in every panel.  One self-contained file,
no network.  The jinja2 template lives here so it ships with the code."""

from __future__ import annotations

import base64
import io
from functools import lru_cache

import numpy as np
from PIL import Image

SIZE = 420  # SVG user units per panel
MARGIN = 8

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.2em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
.meta, .notes { color: #555; margin: .2em 0; }
table { border-collapse: collapse; margin: .6em 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.wrap { display: flex; gap: 14px; align-items: flex-start; flex-wrap: wrap; }
figure { margin: 0; }
figcaption { font-size: .9em; text-align: center; max-width: {{ size }}px; }
svg.emb { width: {{ size }}px; height: {{ size }}px; border: 1px solid #ddd; background: #fff; }
svg.emb circle { stroke: none; }
svg.emb circle.miss { stroke: #000; stroke-width: 1.2; }
svg.emb circle:hover { stroke: #000; stroke-width: 2; }
svg.emb circle.ring { fill: none; stroke: #000; stroke-width: 2; pointer-events: none; }
{% for c in colours %}.c{{ loop.index0 }} { fill: {{ c }}; }
{% endfor %}
#preview { position: sticky; top: 1em; width: 190px; border: 1px solid #ccc; padding: 8px; }
#preview img { width: 168px; height: 168px; image-rendering: pixelated; background: #000; }
.legend span { display: inline-block; margin-right: 10px; }
.legend i { display: inline-block; width: 11px; height: 11px; border-radius: 6px;
            margin-right: 3px; vertical-align: -1px; }
</style></head>
<body>
<h1>{{ title }}</h1>
<p class="meta">{{ meta }}</p>
<table><tr><th>panel</th><th>features</th><th>kNN agreement, 2-D</th>
<th>kNN agreement, features</th><th>model accuracy</th><th>misclassified</th></tr>
{% for s in scores %}<tr><td>{{ s.panel }}</td><td>{{ s.features }}</td>
<td>{{ '%.3f' % s.knn_agreement_2d }}</td><td>{{ '%.3f' % s.knn_agreement_features }}</td>
<td>{{ '—' if s.accuracy is none else '%.1f %%' % (100 * s.accuracy) }}</td>
<td>{{ '—' if s.misclassified is none else s.misclassified }}</td></tr>
{% endfor %}</table>
<p class="notes">kNN agreement: the mean share of each digit's {{ k }} nearest neighbours that have
its class (1 = classes perfectly separated; about 0.1 for random labels).
Misclassified digits have a black ring. Hover a point to see the digit.</p>
{% for n in notes %}<p class="notes">{{ n }}</p>{% endfor %}
<p class="legend">{% for c in colours %}<span><i style="background: {{ c }}"></i>
{{- loop.index0 }}</span>{% endfor %}</p>
<div class="wrap">
<aside id="preview"><img id="digit" alt="">
<div id="info">Hover a point.</div></aside>
{% for p in panels %}<figure><figcaption><b>{{ p.title }}</b><br>{{ p.features }}
{% for n in p.notes %}<br><small>{{ n }}</small>{% endfor %}</figcaption>
<svg class="emb" viewBox="0 0 {{ size }} {{ size }}">{{ p.points }}
<circle class="ring" r="7" cx="-30" cy="-30"/></svg>
</figure>
{% endfor %}
</div>
<p><a href="embedding.png">embedding.png</a> (the same picture as a PNG)</p>
<script>
const THUMBS = {{ thumbs|tojson }};
const LABELS = {{ labels|tojson }};
const PREDS = {{ preds|tojson }};
const img = document.getElementById("digit"), info = document.getElementById("info");
const svgs = Array.from(document.querySelectorAll("svg.emb"));
function show(i) {
  img.src = THUMBS[i];
  let text = "digit #" + i + "<br>true class " + LABELS[i];
  PREDS.forEach(p => { if (p.pred) text += "<br>" + p.model + " predicts " + p.pred[i]; });
  info.innerHTML = text;
  svgs.forEach(svg => {
    const c = svg.querySelector('circle[data-i="' + i + '"]');
    const ring = svg.querySelector("circle.ring");
    ring.setAttribute("cx", c.getAttribute("cx"));
    ring.setAttribute("cy", c.getAttribute("cy"));
  });
}
svgs.forEach(svg => svg.addEventListener("mouseover", e => {
  if (e.target.dataset.i !== undefined) show(+e.target.dataset.i);
}));
</script>
</body></html>
"""


@lru_cache(maxsize=1)
def template():
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(TEMPLATE)


def thumbnail(x01: np.ndarray) -> str:
    """An image (grey (H,W[,1]) or colour (H,W,3), in [0, 1]) as a ``data:image/png;base64,…``
    URI."""
    buf = io.BytesIO()
    a = np.round(np.clip(np.asarray(x01), 0, 1) * 255).astype(np.uint8)
    a = a if a.ndim == 3 and a.shape[-1] == 3 else a.reshape(a.shape[:2])
    Image.fromarray(a, "RGB" if a.ndim == 3 else "L").save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def svg_points(coords: np.ndarray, labels: np.ndarray, pred: np.ndarray | None) -> str:
    """The panel's circles (misclassified last, so they are on top), scaled to the box."""
    from markupsafe import Markup

    lo, hi = coords.min(0), coords.max(0)
    scale = (SIZE - 2 * MARGIN) / max(float((hi - lo).max()), 1e-12)
    xy = (coords - lo) * scale + MARGIN + ((SIZE - 2 * MARGIN) - (hi - lo) * scale) / 2
    miss = np.zeros(len(labels), bool) if pred is None else pred != labels
    r = float(np.clip(600 / np.sqrt(len(labels)) / 10, 1.6, 5))
    order = np.concatenate([np.flatnonzero(~miss), np.flatnonzero(miss)])
    parts = [
        f'<circle cx="{xy[i, 0]:.1f}" cy="{SIZE - xy[i, 1]:.1f}" r="{r:.1f}" '
        f'class="c{labels[i] % 10}{" miss" if miss[i] else ""}" data-i="{i}"/>'
        for i in order
    ]
    return Markup("".join(parts))


def render(result, title: str, meta: str) -> str:
    """The page of an EmbedResult."""
    from oipviz.render.plots import CLASS_COLOURS

    y = result.labels
    panels = [
        {
            "title": p.title,
            "features": p.features,
            "notes": p.notes,
            "points": svg_points(p.coords, y, p.pred),
        }
        for p in result.panels
    ]
    preds = [
        {"model": p.model, "pred": p.pred.tolist()} for p in result.panels if p.pred is not None
    ]
    preds = list({p["model"]: p for p in preds}.values())  # one line per model
    return template().render(
        title=title,
        meta=meta,
        scores=result.summary(),
        notes=result.notes,
        k=result.k,
        panels=panels,
        size=SIZE,
        colours=CLASS_COLOURS,
        labels=y.tolist(),
        preds=preds,
        thumbs=[thumbnail(x) for x in result.digits.x01],
    )
