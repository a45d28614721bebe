"""The gallery's writer: map pages with their figures, the index and the compare page,
from the results the site composed.  HTML comes from the jinja2 templates in
``templates/`` (all extend ``base.html``); every file goes through :mod:`oipviz.outputs`.
Pages are static: relative links only, no network, no JavaScript.  No TensorFlow here.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..outputs import write_bytes, write_text
from ..render import enhance, normalize
from ..status import STATUSES
from .figures import overlay, png, save, tile_grid

KEEP_CANDIDATES = 8


@dataclass
class SiteInfo:
    """What every page states: model, settings, data, how to resume."""

    model: str
    params: dict                      # inits, epochs, lr, seed, precursor (or None)
    n_digits: int = 0
    data_source: str = ""
    compare: str | None = None        # the other model's name
    model_rows: list = field(default_factory=list)
    confusion: str | None = None      # relative path of the model's confusion matrix
    resume_command: str = "the same command with --resume"


# ----------------------------------------------------------------------------- templates

@lru_cache(maxsize=1)
def environment():
    """The jinja2 environment of the package's templates (HTML autoescaped)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("oipviz.gallery", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["fmt"] = fmt
    return env


def write_page(path: str | Path, template: str, **context) -> Path:
    """Render ``templates/<template>`` and write it atomically."""
    from .. import __version__

    html = environment().get_template(template).render(version=__version__, **context)
    return write_text(path, html)


def copy_css(folder: str | Path) -> Path:
    """The stylesheet every page links to, as ``folder/style.css``."""
    css = (resources.files("oipviz.gallery") / "templates" / "style.css").read_text("utf-8")
    return write_text(Path(folder) / "style.css", css)


def save_npy(path: str | Path, array: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array))
    return write_bytes(path, buf.getvalue())


def fmt(v, digits: int = 3) -> str:
    """A number for a page: 3 significant digits, no exponent for ordinary sizes."""
    if v is None:
        return "–"
    v = float(v)
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e5:
        return f"{v:.{digits}g}" if abs(v) < 10 ** digits else f"{v:.0f}"
    return f"{v:.2e}"


def noun(info) -> str:
    return "map" if info.is_conv else "unit"


def page_of(layer: str, m: int) -> str:
    return f"{layer}/map_{m:03d}.html"


def thumb_of(st, k: int) -> str:
    """The picture of map ``k`` on the index: its precursor result if it had one, else its
    best OIP (relative to the site's root)."""
    m = st.maps[k]
    if m in st.entries:
        return f"{st.info.name}/map_{m:03d}/precursor/best_viridis.png"
    return f"{st.info.name}/map_{m:03d}/oip_init{int(st.probe.best[k])}.png"


def _size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


# ----------------------------------------------------------------------------- map pages

def map_entry(st, k: int) -> dict:
    """The manifest entry of map ``k`` of a finished layer."""
    m, row, s = st.maps[k], st.rescue.rows[k], st.stats
    pe = st.entries.get(m)
    return {"map": m, "status": row.status, "activation": st.value(k),
            "oip": {"start": st.probe.start[k], "final": st.probe.final[k],
                    "best_init": int(st.probe.best[k]), "best": float(st.probe.best_values[k])},
            "precursor": None if pe is None else {k2: pe[k2] for k2 in (
                "status", "best_activation", "best_candidate", "wake", "screen", "candidates")},
            "compare": _other(st, m),
            "data": s.summary(m), "selectivity": s.selectivity[:, m],
            "examples": [{"rank": r + 1, "index": int(i), "label": int(st.data.labels[i]),
                          "prediction": int(st.data.pred[i]), "probability": float(st.data.prob[i]),
                          "activation": float(a)}
                         for r, (i, a) in enumerate(zip(s.top_idx[m], s.top_acts[m]))]}


def _other(st, m: int) -> dict | None:
    """The other model's best activation and status for map ``m`` (compare), if run."""
    c = st.compare
    if c is None or m not in c.maps:
        return None
    j = c.maps.index(m)
    return {"value": float(c.best_values[j]), "status": c.status[j]}


def write_map(root: Path, st, k: int, site: SiteInfo, plotter) -> None:
    """Figures of map ``k`` into ``<layer>/map_NNN/``, then its page (written last: a page
    that exists is finished)."""
    info, m = st.info, st.maps[k]
    layer, name, what = info.name, f"map_{m:03d}", noun(info)
    d = root / layer / name
    d.mkdir(parents=True, exist_ok=True)
    e = map_entry(st, k)
    probe, p = st.probe, site.params
    imgs, best = probe.images[k, ..., 0], e["oip"]["best_init"]
    oips = []
    for i, z in enumerate(imgs):
        png(d / f"oip_init{i}.png", normalize(z))
        oips.append({"src": f"{name}/oip_init{i}.png", "alt": f"OIP of init {i}",
                     "caption": f"init {i}: {fmt(probe.start[k, i])} → {fmt(probe.final[k, i])}"
                                + (" (best)" if i == best else "")})
    png(d / "oip_best_gray.png", normalize(imgs[best]), "gray")
    png(d / "oip_best_enhanced.png", enhance(imgs[best]))
    oips += [{"src": f"{name}/oip_best_{t}.png", "alt": f"best OIP ({t})", "caption": f"best, {c}"}
             for t, c in (("gray", "gray"), ("enhanced", "contrast-enhanced"))]
    save_npy(d / "oips.npy", imgs)
    examples, stats = _data_figures(d, name, st, m, e, site, plotter)
    write_page(root / page_of(layer, m), "map.html", root="../", title=f"{layer} {what} {m}",
               status=e["status"], noun=what, summary=_summary(e, what),
               oip_note=f"{p['inits']} random multi-scale inits, {p['epochs']} gradient-ascent "
                        f"steps each (lr {p['lr']}, seed {p['seed']}); start → reached activation."
                        + (f" {layer} maps are {info.shape[1]}×{info.shape[2]}." if info.is_conv
                           else ""),
               oips=oips, precursor=_precursor(root, st, m, site), compare=_compare(st, k, e, site),
               examples=examples, stats=stats, npy=f"{name}/oips.npy")


def _data_figures(d: Path, name: str, st, m: int, e: dict, site: SiteInfo, plotter):
    """The top digits (activation overlaid) and the histogram / selectivity figure."""
    s, dat = st.stats, e["data"]
    vmax = float(s.top_maps[m].max()) if s.conv else 1.0
    caps = [f"#{x['rank']} {x['label']}: {x['activation']:.3g}" for x in e["examples"]]
    grid = tile_grid(overlay(s.top_digits[m], s.top_maps[m], vmax if vmax > 0 else 1.0), caps,
                     cols=3, scale=4)
    save(d / "examples.png", grid)
    fig = plotter.render(s.hist[m], float(s.hist_max[m]), dat["frac_zero"], s.selectivity[:, m],
                         max(dat["top_threshold"], 0.0), e["activation"])
    save(d / "stats.png", fig)
    counts = st.data.class_counts
    examples = {"src": f"{name}/examples.png", "size": grid.size,
                "note": _ex_note(e, site, noun(st.info)),
                "caption": "Upsampled activation of the map as a semi-transparent heatmap over "
                           "each digit (one colour scale for all nine)." if s.conv else
                           "The digits (a Dense unit has one value per digit).",
                "rows": [(x["rank"], x["index"], x["label"],
                          f"{x['prediction']} ({x['probability']:.0%})", fmt(x["activation"]))
                         for x in e["examples"]]}
    stats = {"src": f"{name}/stats.png", "size": fig.size,
             "caption": "Left: how many digits reach each activation (digits at 0 left out; "
                        "orange line: the top-9 threshold). Right: mean activation per true "
                        "class (orange: the preferred class).",
             "rows": [(c, int(counts[c]), fmt(v)) for c, v in enumerate(e["selectivity"])]}
    return examples, stats


def _summary(e: dict, what: str) -> str:
    d, sel, pc = e["data"], [float(v) for v in e["selectivity"]], e["data"]["preferred_class"]
    if pc is None:
        pref = "it does not respond to any class"
    else:
        others = (sum(sel) - sel[pc]) / max(len(sel) - 1, 1)
        ratio = f"{sel[pc] / others:.2g}× the mean of the other classes" if others > 0 else \
            "the other classes give 0"
        pref = f"it prefers class {pc} (mean {fmt(sel[pc])}, {ratio})"
    best = "Best OIP" if e["status"] == "live" else "Best pattern"
    return (f"{best} activation {fmt(e['activation'])}. Over the data: mean {fmt(d['mean'])}, "
            f"max {fmt(d['max'])}, zero on {d['frac_zero']:.0%} of the digits; {pref}.")


def _ex_note(e: dict, site: SiteInfo, what: str) -> str:
    if e["data"]["max"] <= 0:
        return (f"This {what} is 0 on every one of the {site.n_digits:,} digits, so the 'top' "
                "digits below are arbitrary.")
    how = "spatial mean of the map" if what == "map" else "the unit's value"
    return (f"The {len(e['examples'])} digits (of {site.n_digits:,}) with the highest activation, "
            f"ranked. Activation = {how}.")


def _precursor(root: Path, st, m: int, site: SiteInfo) -> dict | None:
    pe = st.entries.get(m)
    if pe is None:
        return None
    pp, rel = site.params["precursor"], f"map_{m:03d}/precursor/"
    wake = (f" Candidates at zero first climbed the pre-activation for {pp['wake']} steps."
            if pp["wake"] else "")
    note = (f"No random init moved this {noun(st.info)} above 0, so the precursor screened all "
            f"{pe['n_patterns']:,} coarse {pp['grid']}×{pp['grid']} patterns of the grey values "
            f"{', '.join(str(v) for v in pp['values'])} ({pp['screen']} screen) and refined the "
            f"best {pp['top']} for {pp['epochs']} steps.{wake}")
    return {"status": pe["status"], "note": note, "dir": rel,
            "figures": [{"src": f"{rel}best_{t}.png", "alt": f"precursor result ({t})",
                         "caption": f"{t}: {fmt(pe['best_activation'])}"}
                        for t in ("viridis", "gray", "enhanced")],
            "header": ("#", "pattern", "screen", "start", "refined", "woken"),
            "rows": [(c["candidate"], c["pattern_index"], fmt(c["screen_loss"]),
                      fmt(c["start_activation"]), fmt(c["refined_activation"]),
                      "yes" if c["woken"] else "no") for c in pe["candidates"][:KEEP_CANDIDATES]],
            "sheet": f"{rel}contact_sheet.png",
            "sheet_size": _size(root / st.info.name / rel / "contact_sheet.png")}


def _compare(st, k: int, e: dict, site: SiteInfo) -> dict | None:
    m, c = st.maps[k], e["compare"]
    if c is None:
        return None
    return {"name": site.compare, "page": f"../compare/{st.info.name}.html",
            "this_src": thumb_of(st, k).split("/", 1)[1],
            "this_caption": f"{site.model}: {fmt(e['activation'])} ({e['status']})",
            "other_src": f"../compare/{st.info.name}/map_{m:03d}.png",
            "other_caption": f"{site.compare}: {fmt(c['value'])} ({c['status']})"}


# ----------------------------------------------------------------------------- index, compare

def tiles(root: Path, st, prefix: str = "") -> list[dict]:
    """Index tiles of a layer in any state: a finished map links to its page; pictures
    and links appear only when their files exist (so an interrupted site stays valid)."""
    out = []
    for k, m in enumerate(st.maps):
        status = st.status(k)
        page = page_of(st.info.name, m)
        thumb = thumb_of(st, k) if st.probe is not None else None
        value = st.value(k)
        out.append({"map": m, "status": status, "label": str(m),
                    "href": prefix + page if (root / page).exists() else None,
                    "thumb": prefix + thumb if thumb and (root / thumb).exists() else None,
                    "tip": f"{st.info.name} {noun(st.info)} {m}: {status}"
                           + ("" if value is None else f", {fmt(value)}")})
    return out


def write_index(root: Path, states: list, site: SiteInfo, complete: bool) -> Path:
    """index.html from the layers' current state (finished, partial or pending)."""
    layers, n_pages = [], 0
    for st in states:
        counts = {s: 0 for s in STATUSES}
        for k in range(len(st.maps)):
            counts[st.status(k)] += 1
        t = tiles(root, st)
        n_pages += sum(1 for x in t if x["href"])
        name, info = st.info.name, st.info
        sheet = root / name / "sheet.png"
        links = [(f"{name}/sheet.png", "contact sheet (PNG)")] if sheet.exists() else []
        if (root / "compare" / f"{name}.html").exists():
            links.append((f"compare/{name}.html", f"side by side with {site.compare}"))
        layers.append({"name": name, "units": info.units, "noun": noun(info), "tiles": t,
                       "shape": f"{info.shape[1]}×{info.shape[2]}" if info.is_conv else "",
                       "counts": counts, "links": links})
    p, pp = site.params, site.params["precursor"]
    rows = [("layers", ", ".join(st.info.name for st in states)),
            ("OIPs", f"{p['inits']} inits × {p['epochs']} steps, lr {p['lr']}, seed {p['seed']}"),
            ("precursor", "off" if pp is None else
             f"{pp['screen']} screen of {len(pp['values']) ** (pp['grid'] ** 2):,} patterns, top "
             f"{pp['top']} refined {pp['epochs']} steps, wake {pp['wake']}"),
            ("data", f"{site.n_digits:,} {p['dataset']} images from {site.data_source}"
             if site.n_digits else "–")]
    if site.compare:
        rows.append(("compared with", site.compare))
    note = ("A map's activation is the spatial mean of its output (after the layer's activation "
            "function, e.g. ReLU): the quantity the OIPs maximize. A Dense unit's activation is "
            "its value.")
    return write_page(root / "index.html", "index.html", root="",
                      title=f"oipviz gallery: {site.model}, {rows[0][1]}",
                      complete=complete, n_maps=sum(len(st.maps) for st in states), n_pages=n_pages,
                      resume_command=site.resume_command, model_rows=site.model_rows,
                      param_rows=rows, confusion=site.confusion, activation_note=note,
                      layers=layers)


def write_compare(root: Path, st, site: SiteInfo) -> Path:
    """``compare/<layer>.html``: both models' OIPs of the layer side by side, with their
    pictures under ``compare/<layer>/``."""
    layer, other = st.info.name, st.compare
    d = root / "compare" / layer
    d.mkdir(parents=True, exist_ok=True)
    for k, m in enumerate(other.maps):
        png(d / f"map_{m:03d}.png", normalize(other.best_images[k]), scale=3)
    save(root / "compare" / f"{layer}_other.png", other.sheet())
    mine = [st.status(k) for k in range(len(st.maps))]
    theirs = other.status
    va, vb = [st.value(k) or 0.0 for k in range(len(st.maps))], other.best_values
    summary = [("maps", len(mine), len(theirs)),
               ("live (random inits)", mine.count("live"), theirs.count("live")),
               ("rescued by the precursor", mine.count("rescued"), "–"),
               ("dead", mine.count("dead"), theirs.count("dead")),
               ("median best activation", fmt(np.median(va)), fmt(np.median(vb)))]
    other_tiles = [{"map": m, "status": s, "label": f"{m}: {fmt(v)}", "href": None,
                    "thumb": f"{layer}/map_{m:03d}.png", "tip": f"{site.compare} map {m}: {s}"}
                   for m, s, v in zip(other.maps, theirs, vb)]
    p = site.params
    return write_page(
        root / "compare" / f"{layer}.html", "compare.html", root="../",
        title=f"{layer}: {site.model} vs {site.compare}", name_a=site.model, name_b=site.compare,
        note=f"Best OIP per map of layer {layer} in both models, from the same random inits "
             f"({p['inits']} per map, {p['epochs']} steps, seed {p['seed']}); the number is the "
             "activation reached. Each OIP is min–max scaled. A trained layer has structured "
             "patterns, a random one noise-like ones.",
        summary=summary,
        sides=[{"name": site.model, "tiles": tiles(root, st, "../"),
                "sheet": f"../{layer}/sheet.png" if (root / layer / "sheet.png").exists() else None},
               {"name": site.compare, "tiles": other_tiles, "sheet": f"{layer}_other.png"}])
