"""The gallery's writer: the index, the layer's contact sheet and the compare page, from
the results the site composed (map pages: :mod:`.mappage`).  HTML comes from the jinja2
templates of :mod:`oipviz.writers.html`; every file goes through :mod:`oipviz.core.outputs`.
Pages are static: relative links only, no network, no JavaScript.  No TensorFlow here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from oipviz.core.layers import folder_name
from oipviz.core.outputs import save_image, write_bytes
from oipviz.core.status import STATUSES
from oipviz.render.images import contact_sheet, normalize, to_image
from oipviz.writers.html import copy_css, fmt, write_page

__all__ = [
    "SiteInfo",
    "copy_css",
    "fmt",
    "noun",
    "page_of",
    "sheet_of",
    "size_of",
    "thumb_of",
    "tiles",
    "write_compare",
    "write_home",
    "write_index",
    "write_page",
]


@dataclass
class SiteInfo:
    """What every page states: model, settings, data, how to resume."""

    model: str
    params: dict  # inits, steps, lr, seed, precursor (or None)
    n_digits: int = 0
    data_source: str = ""
    compare: str | None = None  # the other model's name
    model_rows: list = field(default_factory=list)
    confusion: str | None = None  # relative path of the model's confusion matrix
    resume_command: str = "the same command with --resume"


def noun(info) -> str:
    """What a layer's units are called on the pages: map (conv) or unit (Dense)."""
    return "map" if info.is_conv else "unit"


def page_of(layer: str, m: int) -> str:
    """Map ``m``'s page, relative to the site's root."""
    return f"{folder_name(layer)}/map_{m:03d}.html"


def thumb_of(st, k: int) -> str:
    """The picture of map ``k`` on the index: its precursor result if it had one, else its
    best OIP (relative to the site's root)."""
    m = st.maps[k]
    if m in st.entries:
        return f"{folder_name(st.info.name)}/map_{m:03d}/precursor/best_{st.kinds[0]}.png"
    return f"{folder_name(st.info.name)}/map_{m:03d}/oip_init{int(st.probe.best[k])}.png"


def size_of(path: Path) -> tuple[int, int]:
    """The (width, height) of a picture."""
    from PIL import Image

    with Image.open(path) as im:
        return im.size


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
        pre = thumb is not None and "/precursor/" in thumb
        out.append(
            {
                "map": m,
                "status": status,
                "label": str(m),
                "href": prefix + page if (root / page).exists() else None,
                "thumb": prefix + thumb if thumb and (root / thumb).exists() else None,
                "tip": f"{st.info.name} {noun(st.info)} {m}: {status}"
                + ("" if value is None else f", {fmt(value)}")
                + (" (picture: precursor, free range)" if pre else ""),
            }
        )
    return out


def sheet_of(st):
    """The layer's contact sheet (PIL): each map's shown picture as the site draws it (a
    valid OIP as exact pixels; a precursor result min–max scaled, free range)."""
    rows, probe = st.rescue.rows, st.probe
    pics = [
        normalize(r.best_image) if st.maps[k] in st.entries else probe.shown(r.best_image)
        for k, r in enumerate(rows)
    ]
    how = RANGE_TITLES[probe.range_mode]
    return contact_sheet(
        pics,
        [str(m) for m in st.maps],
        status=[r.status for r in rows],
        cell=56,
        cols=min(16, max(1, len(rows))),
        title=f"{st.info.name}: best OIP per map ({how}; rescued: precursor, free range)",
    )


RANGE_TITLES = {"valid": "valid range, exact pixels", "free": "free range, min-max scaled"}


def _layer_lines(st, site: SiteInfo) -> list[str]:
    """The index's lines on OIPs vs real digits and on uniqueness (finished layers)."""
    if st.measures is None:
        return []
    s, what = st.measures.summary(), noun(st.info)
    on = (
        "in-range OIP (as written)"
        if s["counted_on"].startswith("in-range")
        else "OIP clipped to [0, 1]"
    )
    return [
        f"OIP vs real digits: on {s['beats_best_real']} of {s['live']} live {what}s the "
        f"{on} beats the best of the {site.n_digits:,} real digits.",
        f"Unique OIPs? {s['unique']} unique, {s['several_forms']} several forms (median "
        f"aligned similarity of the {site.params['inits']} inits' OIPs ≥ {s['unique_at']}: "
        "unique).",
    ]


def write_home(root: Path, loaded, states: list, site: SiteInfo, complete: bool, links) -> None:
    """The site's entry: the stylesheet, the model's confusion matrix (from its card) and
    ``index.html`` (:func:`write_index`; ``links(root)``: the extra pages that exist)."""
    copy_css(root)
    if site.confusion:
        src = loaded.path.with_name(loaded.card["confusion_png"])
        write_bytes(root / site.confusion, src.read_bytes())
    write_index(root, states, site, complete, links(root))


def write_index(
    root: Path, states: list, site: SiteInfo, complete: bool, extra_links: list | tuple = ()
) -> Path:
    """index.html from the layers' current state (finished, partial or pending).

    Parameters
    ----------
    root : Path
        The site's root folder.
    states : list of LayerState
        The layers, in any state.
    site : SiteInfo
        What every page states.
    complete : bool
        False: the page says the site is unfinished and how to resume it.
    extra_links : list of (href, text)
        The extra pages that exist (the confusion matrix links to ``misclassified.html``
        when it is one of them).

    Returns
    -------
    Path
        The page.
    """
    layers = [_layer_block(root, st, site) for st in states]
    n_pages = sum(1 for b in layers for x in b["tiles"] if x["href"])
    rows = _param_rows(states, site)
    note = (
        "A map's activation is the spatial mean of its output (after the layer's activation "
        "function, e.g. ReLU): the quantity the OIPs maximize. A Dense unit's activation is "
        "its value. Pictures of rescued maps are the precursor's (free range, min–max "
        "scaled)."
    )
    return write_page(
        root / "index.html",
        "index.html",
        root="",
        title=f"oipviz gallery: {site.model}, {rows[0][1]}",
        complete=complete,
        n_maps=sum(len(st.maps) for st in states),
        n_pages=n_pages,
        resume_command=site.resume_command,
        model_rows=site.model_rows,
        param_rows=rows,
        confusion=site.confusion,
        activation_note=note,
        layers=layers,
        extra_links=list(extra_links),
        confusion_href=next((h for h, _ in extra_links if h == "misclassified.html"), None),
    )


def _layer_block(root: Path, st, site: SiteInfo) -> dict:
    """One layer on the index: its tiles, status counts, links and lines."""
    counts = {s: 0 for s in STATUSES}
    for k in range(len(st.maps)):
        counts[st.status(k)] += 1
    name, info = st.info.name, st.info
    folder = folder_name(name)
    links = (
        [(f"{folder}/sheet.png", "contact sheet (PNG)")]
        if (root / folder / "sheet.png").exists()
        else []
    )
    if (root / "compare" / f"{folder}.html").exists():
        links.append((f"compare/{folder}.html", f"side by side with {site.compare}"))
    return {
        "name": name,
        "units": info.units,
        "noun": noun(info),
        "tiles": tiles(root, st),
        "shape": f"{info.shape[1]}×{info.shape[2]}" if info.is_conv else "",
        "counts": counts,
        "links": links,
        "lines": _layer_lines(st, site),
    }


def _param_rows(states: list, site: SiteInfo) -> list[tuple[str, str]]:
    """The index's table of settings."""
    p, pp = site.params, site.params["precursor"]
    rows = [
        ("layers", ", ".join(st.info.name for st in states)),
        ("OIPs", f"{p['inits']} inits × {p['steps']} steps, lr {p['lr']}, seed {p['seed']}"),
        ("range", RANGE_NOTES[p["range"]]),
        ("style", STYLE_NOTES[p["style"]]),
        (
            "precursor",
            "off"
            if pp is None
            else f"{pp['screen']} screen of {len(pp['values']) ** (pp['grid'] ** 2):,} "
            f"patterns, top {pp['top']} refined {pp['steps']} steps, wake {pp['wake']}",
        ),
        (
            "data",
            f"{site.n_digits:,} {p['dataset']} images from {site.data_source}"
            if site.n_digits
            else "–",
        ),
    ]
    if site.compare:
        rows.append(("compared with", site.compare))
    return rows


RANGE_NOTES = {
    "valid": "valid: every OIP is a real input (pixels in [0, 1]), drawn as exact "
    "pixels; the contrast-enhanced pictures are labelled",
    "free": "free (the articles' method): unconstrained, each picture min–max "
    "scaled; in-range numbers are of the OIP clipped to [0, 1]",
}
STYLE_NOTES = {
    "readable": "readable: ±2 px jitter, 5% scale, 5° rotation, gradient blur, relative TV penalty",
    "plain": "plain: no transforms",
}


def write_compare(root: Path, st, site: SiteInfo) -> Path:
    """``compare/<layer>.html``: both models' OIPs of the layer side by side, with their
    pictures under ``compare/<layer>/``."""
    layer, other = st.info.name, st.compare
    folder = folder_name(layer)
    d = root / "compare" / folder
    d.mkdir(parents=True, exist_ok=True)
    for k, m in enumerate(other.maps):
        img = to_image(other.shown(other.best_images[k]), scale=3, rgb=True)
        save_image(d / f"map_{m:03d}.png", img, fast=True)
    save_image(root / "compare" / f"{folder}_other.png", other.sheet(), fast=True)
    mine = [st.status(k) for k in range(len(st.maps))]
    theirs = other.status
    va, vb = [st.value(k) or 0.0 for k in range(len(st.maps))], other.best_values
    summary = [
        ("maps", len(mine), len(theirs)),
        ("live (random inits)", mine.count("live"), theirs.count("live")),
        ("rescued by the precursor", mine.count("rescued"), "–"),
        ("dead", mine.count("dead"), theirs.count("dead")),
        ("median best activation", fmt(np.median(va)), fmt(np.median(vb))),
    ]
    other_tiles = [
        {
            "map": m,
            "status": s,
            "label": f"{m}: {fmt(v)}",
            "href": None,
            "thumb": f"{folder}/map_{m:03d}.png",
            "tip": f"{site.compare} map {m}: {s}",
        }
        for m, s, v in zip(other.maps, theirs, vb, strict=True)
    ]
    p = site.params
    return write_page(
        root / "compare" / f"{folder}.html",
        "compare.html",
        root="../",
        title=f"{layer}: {site.model} vs {site.compare}",
        name_a=site.model,
        name_b=site.compare,
        note=f"Best OIP per map of layer {layer} in both models, from the same random inits "
        f"({p['inits']} per map, {p['steps']} steps, seed {p['seed']}, {p['range']} range); "
        "the number is the activation reached. "
        + (
            "Each OIP is drawn as exact pixels. "
            if p["range"] == "valid"
            else "Each OIP is min–max scaled. "
        )
        + "A trained layer has structured "
        "patterns, a random one noise-like ones.",
        summary=summary,
        sides=[
            {
                "name": site.model,
                "tiles": tiles(root, st, "../"),
                "sheet": f"../{folder}/sheet.png"
                if (root / folder / "sheet.png").exists()
                else None,
            },
            {"name": site.compare, "tiles": other_tiles, "sheet": f"{folder}_other.png"},
        ],
    )
