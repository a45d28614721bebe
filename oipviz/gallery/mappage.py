"""The gallery's map pages: each map's OIPs (all inits; a valid run's as exact pixels),
their in-range activation against the best real digit, their uniqueness across inits,
the precursor result, the top digits and the statistics.  No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from oipviz.compute.measures import pixels
from oipviz.compute.uniqueness import UNIQUE_AT
from oipviz.core.layers import folder_name
from oipviz.core.outputs import save_array, save_image
from oipviz.gallery.info import map_entry
from oipviz.gallery.pages import SiteInfo, noun, page_of, size_of, thumb_of
from oipviz.render.images import to_image
from oipviz.render.panels import activation_overlay, tile_grid
from oipviz.writers.html import fmt, write_page
from oipviz.writers.oip import write_oip_images

KEEP_CANDIDATES = 8
RANGE_WORDS = {
    "valid": "valid range: pixels in [0, 1], drawn exactly (no stretch)",
    "free": "free range (the articles' method): each picture min–max scaled",
}


def write_map(
    root: Path,
    st,
    k: int,
    site: SiteInfo,
    plotter,
    sim_plotter,
    gradcam: dict | None = None,
    save: Callable[..., Path] | None = None,
) -> Callable[[], Path]:
    """Figures of map ``k`` into ``<layer>/map_NNN/``; returns the function that writes its
    page.

    Parameters
    ----------
    root : Path
        The site's folder.
    st : LayerState
        The layer.
    k : int
        The map's position in ``st.maps``.
    site : SiteInfo
        The site's facts.
    plotter, sim_plotter : StatsPlotter, SimilarityPlotter
        The layer's figure plotters.
    gradcam : dict or None
        The figure of its top digits' Grad-CAM strip (:func:`.extras.gradcam_strips`).
    save : callable or None
        ``save(path, image, fast)`` writes a picture (an
        :class:`~oipviz.core.imagepool.ImagePool`'s; None: :func:`save_image`, at once).

    Returns
    -------
    callable
        Writes the page: call it once the figures are on disk (a page that exists is a
        finished map).
    """
    save = save or save_image
    info, m = st.info, st.maps[k]
    layer, name, what = info.name, f"map_{m:03d}", noun(info)
    d = root / folder_name(layer) / name
    d.mkdir(parents=True, exist_ok=True)
    e = map_entry(st, k)
    probe, p = st.probe, site.params
    imgs, best = probe.images[k], e["oip"]["best_init"]  # (inits, H, W, C)
    imgs = imgs[..., 0] if imgs.shape[-1] == 1 else imgs  # grey: (inits, H, W), as before
    oips = _init_figures(d, name, probe, k, imgs, best, save)
    oips += _best_figures(d, name, st, k, imgs[best], save)
    save_array(d / "oips.npy", imgs)
    examples, stats = _data_figures(d, name, st, m, e, site, plotter, save)
    page = dict(
        root="../",
        title=f"{layer} {what} {m}",
        status=e["status"],
        noun=what,
        summary=_summary(e, what),
        oip_note=f"{p['inits']} random multi-scale inits, {p['steps']} gradient-ascent "
        f"steps each (lr {p['lr']}, seed {p['seed']}, {p['style']} style); "
        f"start → reached activation; {RANGE_WORDS[probe.range_mode]}."
        + (f" {layer} maps are {info.shape[1]}×{info.shape[2]}." if info.is_conv else ""),
        oips=oips,
        in_range=_in_range(st, k, e, site),
        uniq=_uniqueness(d, name, st, k, sim_plotter, save),
        precursor=_precursor(root, st, m, site),
        compare=_compare(st, k, e, site),
        examples=examples,
        gradcam=gradcam,
        stats=stats,
        npy=f"{name}/oips.npy",
        pixels_npy=f"{name}/oip_best_pixels.npy",
    )
    target = root / page_of(layer, m)
    return lambda: write_page(target, "map.html", **page)


def _init_figures(d: Path, name: str, probe, k: int, imgs, best: int, save) -> list[dict]:
    """Each init's OIP (``oip_init{i}.png``) with its start → reached activation."""
    oips = []
    for i, z in enumerate(imgs):
        save(d / f"oip_init{i}.png", to_image(probe.shown(z), scale=4, rgb=True), True)
        oips.append(
            {
                "src": f"{name}/oip_init{i}.png",
                "alt": f"OIP of init {i}",
                "caption": f"init {i}: {fmt(probe.start[k, i])} → {fmt(probe.final[k, i])}"
                + (" (best)" if i == best else ""),
            }
        )
    return oips


def _best_figures(d: Path, name: str, st, k: int, z, save) -> list[dict]:
    """The best OIP as gray and contrast-enhanced pictures
    (:func:`~oipviz.writers.oip.write_oip_images`: a valid OIP's exact pixels), its in-range
    pixels (``oip_best_pixels.npy``) and, for a free OIP, the picture of it clipped to
    [0, 1]."""
    probe, meas = st.probe, st.measures
    valid = probe.range_mode == "valid"
    px = pixels(probe.convention, z)
    write_oip_images(d, "oip_best", z, px if valid else None, save)
    save_array(d / "oip_best_pixels.npy", px)
    figs = [
        ("gray", f"best, {'exact pixels' if valid else 'min–max scaled'}"),
        ("enhanced", "contrast-enhanced view"),
    ]
    if not valid:
        clipped = to_image(px, "gray", scale=8, rgb=True)
        save(d / "oip_best_clipped.png", clipped, True)
        own = meas.source[k] == "oip"
        figs.append(("clipped", "clipped to [0, 1]" + (f": {fmt(meas.clipped[k])}" if own else "")))
    return [
        {"src": f"{name}/oip_best_{t}.png", "alt": f"best OIP ({t})", "caption": c} for t, c in figs
    ]


def _in_range(st, k: int, e: dict, site: SiteInfo) -> dict:
    """The shown image's activation as written (and clipped) against the best real digit."""
    meas, sh = st.measures, e["shown"]
    what = "best OIP" if sh["image"] == "oip" else "precursor pattern"
    rows = [(f"{what}, as written ({sh['range']} range)", fmt(sh["activation"]))]
    if sh["clipped_activation"] is not None:
        rows.append((f"{what}, clipped to the pixel range [0, 1]", fmt(sh["clipped_activation"])))
    real = e["best_real_activation"]
    rows.append((f"best real digit (of {site.n_digits:,})", fmt(real)))
    v = sh["in_range_activation"]
    how = "as written" if sh["range"] == "valid" else "clipped"
    if e["status"] == "dead":
        verdict = "Nothing found: no image woke this map."
    elif real <= 0:
        verdict = f"No real digit activates it; the {what} ({how}) reaches {fmt(v)}."
    else:
        verdict = (
            f"In range ({how}), the {what} reaches {v / real:.2g}× the best real digit's "
            f"activation: it {'beats' if meas.beats(k) else 'does not beat'} it."
        )
    return {"rows": rows, "verdict": verdict}


def _uniqueness(d: Path, name: str, st, k: int, plotter, save) -> dict:
    """The aligned-similarity figure and its verdict (live maps only)."""
    meas, p = st.measures, st.probe
    K, lab = p.images.shape[1], meas.label(k)
    if lab is None:
        return {
            "label": None,
            "na": "No random init woke this map, so its inits' images are no OIPs to compare.",
        }
    med = float(meas.median[k])
    fig = plotter.render(meas.sims[k], f"median {med:.2f}: {lab}")
    save(d / "similarity.png", fig, True)
    return {
        "median": fmt(med),
        "label": lab,
        "src": f"{name}/similarity.png",
        "size": fig.size,
        "note": f"Are the OIPs unique? Each pair of the {K} inits' OIPs is compared after "
        "the best alignment (normalized cross-correlation over shifts of up to "
        f"±7 px; 1 = the same picture shifted). Median over the pairs ≥ {UNIQUE_AT}: "
        "unique; below: several forms.",
    }


def _data_figures(d: Path, name: str, st, m: int, e: dict, site: SiteInfo, plotter, save):
    """The top digits (activation overlaid) and the histogram / selectivity figure."""
    s, dat = st.stats, e["data"]
    vmax = float(s.top_maps[m].max()) if s.conv else 1.0
    caps = [f"#{x['rank']} {x['label']}: {x['activation']:.3g}" for x in e["examples"]]
    grid = tile_grid(
        activation_overlay(s.top_digits[m], s.top_maps[m], vmax if vmax > 0 else 1.0),
        caps,
        cols=3,
        scale=4,
    )
    save(d / "examples.png", grid, True)
    fig = plotter.render(
        s.hist[m],
        float(s.hist_max[m]),
        dat["frac_zero"],
        s.selectivity[:, m],
        max(dat["top_threshold"], 0.0),
        e["shown"]["in_range_activation"],
    )
    save(d / "stats.png", fig, True)
    counts = st.data.class_counts
    examples = {
        "src": f"{name}/examples.png",
        "size": grid.size,
        "note": _ex_note(e, site, noun(st.info)),
        "caption": "Upsampled activation of the map as a semi-transparent heatmap over "
        "each digit (one colour scale for all nine)."
        if s.conv
        else "The digits (a Dense unit has one value per digit).",
        "rows": [
            (
                x["rank"],
                x["index"],
                x["label"],
                f"{x['prediction']} ({x['probability']:.0%})",
                fmt(x["activation"]),
            )
            for x in e["examples"]
        ],
    }
    stats = {
        "src": f"{name}/stats.png",
        "size": fig.size,
        "caption": "Left: how many digits reach each activation (digits at 0 left out; "
        "orange line: the top-9 threshold; 'OIP': its in-range activation). "
        "Right: mean activation per true class (orange: the preferred class).",
        "rows": [(c, int(counts[c]), fmt(v)) for c, v in enumerate(e["selectivity"])],
    }
    return examples, stats


def _summary(e: dict, what: str) -> str:
    d, sel, pc = e["data"], [float(v) for v in e["selectivity"]], e["data"]["preferred_class"]
    if pc is None:
        pref = "it does not respond to any class"
    else:
        others = (sum(sel) - sel[pc]) / max(len(sel) - 1, 1)
        ratio = (
            f"{sel[pc] / others:.2g}× the mean of the other classes"
            if others > 0
            else "the other classes give 0"
        )
        pref = f"it prefers class {pc} (mean {fmt(sel[pc])}, {ratio})"
    best, sh = "Best OIP" if e["status"] == "live" else "Best pattern", e["shown"]
    act = (
        f"{fmt(sh['activation'])} (valid range, as written)"
        if sh["range"] == "valid"
        else f"{fmt(sh['activation'])} (free range), "
        f"{fmt(sh['clipped_activation'])} clipped to [0, 1]"
    )
    return (
        f"{best} activation {act}. Over the data: mean {fmt(d['mean'])}, "
        f"max {fmt(d['max'])}, zero on {d['frac_zero']:.0%} of the digits; {pref}."
    )


def _ex_note(e: dict, site: SiteInfo, what: str) -> str:
    if e["data"]["max"] <= 0:
        return (
            f"This {what} is 0 on every one of the {site.n_digits:,} digits, so the 'top' "
            "digits below are arbitrary."
        )
    how = "spatial mean of the map" if what == "map" else "the unit's value"
    return (
        f"The {len(e['examples'])} digits (of {site.n_digits:,}) with the highest activation, "
        f"ranked. Activation = {how}."
    )


def _precursor(root: Path, st, m: int, site: SiteInfo) -> dict | None:
    pe = st.entries.get(m)
    if pe is None:
        return None
    pp, rel = site.params["precursor"], f"map_{m:03d}/precursor/"
    wake = (
        f" Candidates at zero first climbed the pre-activation for {pp['wake']} steps."
        if pp["wake"]
        else ""
    )
    note = (
        f"No random init moved this {noun(st.info)} above 0, so the precursor screened all "
        f"{pe['n_patterns']:,} coarse {pp['grid']}×{pp['grid']} patterns of the grey values "
        f"{', '.join(str(v) for v in pp['values'])} ({pp['screen']} screen) and refined the "
        f"best {pp['top']} for {pp['steps']} steps.{wake} Its images are the precursor's: "
        "free range, min–max scaled."
    )
    return {
        "status": pe["status"],
        "note": note,
        "dir": rel,
        "figures": [
            {
                "src": f"{rel}best_{t}.png",
                "alt": f"precursor result ({t})",
                "caption": f"precursor, free range, {t}: {fmt(pe['best_activation'])}",
            }
            for t in st.kinds
        ],
        "header": ("#", "pattern", "screen", "start", "refined", "woken"),
        "rows": [
            (
                c["candidate"],
                c["pattern_index"],
                fmt(c["screen_loss"]),
                fmt(c["start_activation"]),
                fmt(c["refined_activation"]),
                "yes" if c["woken"] else "no",
            )
            for c in pe["candidates"][:KEEP_CANDIDATES]
        ],
        "sheet": f"{rel}contact_sheet.png",
        "sheet_size": size_of(root / folder_name(st.info.name) / rel / "contact_sheet.png"),
    }


def _compare(st, k: int, e: dict, site: SiteInfo) -> dict | None:
    m, c = st.maps[k], e["compare"]
    if c is None:
        return None
    return {
        "name": site.compare,
        "page": f"../compare/{folder_name(st.info.name)}.html",
        "this_src": thumb_of(st, k).split("/", 1)[1],
        "this_caption": f"{site.model}: {fmt(e['activation'])} ({e['status']})",
        "other_src": f"../compare/{folder_name(st.info.name)}/map_{m:03d}.png",
        "other_caption": f"{site.compare}: {fmt(c['value'])} ({c['status']})",
    }
