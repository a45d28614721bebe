"""Bench: ``oipviz gallery --layer conv3`` on the bundled model, end to end.

Default settings (128 maps × 8 inits × 300 steps in the valid range, readable style: the
rescue probe's, in resumable parts; the rescue's forward-screen precursor with wake on the
maps they leave dead; top-9 examples and statistics over the offline digits), run through
the real CLI in a fresh process per round, ``--rounds`` rounds, through bench/harness.py
(``--extra --range free --style plain``: the articles' method; ``--variant free`` or
``--variant bfloat16`` adds that command as a second case, interleaved, with per-round
ratios to the default).  Records (bench/results/gallery.json; gallery_free.json for
``--extra --range free``, gallery_bfloat16.json for ``--extra --precision bfloat16``):

* wall time end to end (``process_seconds``; target ≤ 30 s on 2 cores) and per phase (from
  the manifest: stats, oip, rescue, measures, pages, weights, explain, feature_space), the
  start-up (Python, imports, model load: the wall time no phase accounts for);
* the engine's rate in the OIP phase (image-steps/s) and the share of the wall time that is
  not the OIP ascent (model load, data, rescue, pages);
* the ratio wall / target, the live / rescued / dead counts, the range and style, on how
  many live maps the in-range OIP beats the best real digit and how many maps have a unique
  OIP across inits;
* the process CPU time per phase: on a busy machine the wall times grow, the CPU time much
  less (single-threaded phases: CPU ≈ wall on an idle machine; the engine uses both cores,
  so its wall time on an idle machine is about CPU / 2).

``--variant plateau`` also runs ``--plateau 0.001`` (an init stops once it rose by less
than 0.1 % over 50 steps), interleaved: its saving (``probe_steps_saved_share``) and, per
live map, its best activation over the default (full) run's (``plateau`` in the JSON).

With ``--screenshot`` (and /usr/bin/chromium + playwright) it also writes
docs/gallery_screenshot.png (the index page of the last round's gallery) and a map page
screenshot next to the JSON's temp folder, for the README.

``--valid-vs-free VALID FREE`` only draws docs/valid_vs_free.png from two kept galleries
(``--range valid`` and ``--range free``): a few maps' best OIPs side by side.

    python bench/gallery.py                 # 5 rounds (about 10 minutes on 2 busy cores)
    python bench/gallery.py --quick         # smoke: 16 maps × 2 inits × 20 steps, PCA page;
                                            # results in bench/results/quick/

Not a test: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import harness  # noqa: E402
from harness import Case, Ratio  # noqa: E402

TARGET_S = 30.0  # issue 12
#: --variant NAME: the gallery command's extra arguments of that second case
VARIANTS = {
    "free": ["--range", "free", "--style", "plain"],
    "bfloat16": ["--precision", "bfloat16"],
    "plateau": ["--plateau", "0.001"],
}
QUICK_EXTRA = ["--maps", "0-15", "--inits", "2", "--epochs", "20", "--precursor-epochs", "20",
               "--wake", "20", "--feature-method", "pca", "--feature-samples", "300",
               "--data-limit", "1000"]  # fmt: skip
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def screenshot(
    page: Path, png: Path, full: bool = True, width: int = 1200, height: int = 900
) -> bool:
    if not Path("/usr/bin/chromium").exists():
        print("no /usr/bin/chromium: screenshot skipped")
        return False
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        pg = b.new_page(viewport={"width": width, "height": height})
        pg.goto(page.as_uri(), wait_until="load")
        pg.screenshot(path=str(png), full_page=full)
        b.close()
    return True


#: the maps the articles show in "Unique OIPs?" and a few more
FIGURE_MAPS = (0, 7, 36, 46, 81, 116, 125, 127)


def valid_vs_free(valid: Path, free: Path, png: Path, layer: str = "conv3", n: int = 6) -> Path:
    """Best OIP of a few maps, live in both galleries: valid (exact pixels), free (min-max
    scaled, as the articles plot it) and free clipped to [0, 1]; gray, with activations."""
    import numpy as np
    from matplotlib.figure import Figure

    def entries(root):
        return {
            e["map"]: e
            for e in json.loads((root / "manifest.json").read_text())["layers"][layer]["maps"]
        }

    ev, ef = entries(valid), entries(free)
    maps = [m for m in FIGURE_MAPS if ev[m]["status"] == ef[m]["status"] == "live"][:n]

    def best(root, e):
        return np.load(root / layer / f"map_{e['map']:03d}" / "oips.npy")[e["oip"]["best_init"]]

    rows = [
        (
            "valid range\n(exact pixels)",
            lambda m: np.load(valid / layer / f"map_{m:03d}" / "oip_best_pixels.npy"),
            lambda m: f"{ev[m]['shown']['activation']:.3g}",
        ),
        (
            "free range\n(min-max scaled)",
            lambda m: best(free, ef[m]),
            lambda m: f"{ef[m]['shown']['activation']:.3g} (free)",
        ),
        (
            "free, clipped\nto [0, 1]",
            lambda m: np.load(free / layer / f"map_{m:03d}" / "oip_best_pixels.npy"),
            lambda m: f"{ef[m]['shown']['clipped_activation']:.3g}",
        ),
    ]
    fig = Figure(figsize=(1.55 * len(maps) + 1.2, 5.6), dpi=100)
    axes = fig.subplots(3, len(maps))
    for r, (name, img, val) in enumerate(rows):
        for c, m in enumerate(maps):
            ax = axes[r, c]
            x = img(m)
            lo, hi = (0.0, 1.0) if r != 1 else (float(x.min()), float(x.max()))
            ax.imshow(x, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(val(m), fontsize=8)
            if r == 0:
                ax.set_title(f"map {m}\nbest digit {ev[m]['best_real_activation']:.3g}", fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    st = json.loads((valid / "manifest.json").read_text())["settings"]
    fig.suptitle(
        f"{layer}: best OIP of {st['inits']} inits × {st.get('steps', st.get('epochs'))} steps "
        f"({st['style']} style); numbers: activation (spatial mean)",
        fontsize=9,
    )
    fig.subplots_adjust(left=0.1, right=0.99, top=0.86, bottom=0.04, wspace=0.08, hspace=0.38)
    fig.savefig(png, format="png")
    return png


def gallery_run(layer: str, out: str, extra: list[str]) -> dict:
    """Runs in the case's fresh process: ``oipviz gallery --layer LAYER --out OUT --quiet
    EXTRA`` through the real CLI (``out`` is replaced), then reads its manifest.

    Returns
    -------
    dict
        ``cli_seconds``, ``phase.<name>`` and ``phase_cpu.<name>`` seconds, ``beside.<name>``
        (work on a thread beside the phases: the feature spaces), the OIP image-steps
        and the engine's rate in the OIP phase, pages per second; ``info``: summary, range,
        style, precision, in-range counts, precursor settings, data and versions.
    """
    from oipviz.cli import main

    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    try:
        main(["gallery", "--layer", layer, "--out", out, "--quiet", *extra])
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    cli = time.perf_counter() - t
    man = json.loads((Path(out) / "manifest.json").read_text())
    run, settings = man["runs"][-1], man["settings"]
    phases = run["seconds"]
    lay = man["layers"][next(iter(man["layers"]))]
    steps = settings.get("steps", settings.get("epochs"))  # "epochs" in older manifests
    image_steps = len(lay["maps"]) * settings["inits"] * steps
    return {
        "cli_seconds": cli,
        "phase": phases,
        "phase_cpu": run.get("cpu_seconds") or {},
        "beside": run.get("beside_seconds") or {},  # ran on a thread beside the phases
        "oip_image_steps": image_steps,
        "engine_image_steps_per_s": image_steps / phases["oip"] if phases.get("oip") else None,
        "pages_per_s": len(lay["maps"]) / phases["pages"] if phases.get("pages") else None,
        "probe_steps_saved_share": (lay.get("probe_steps") or {}).get("saved_share", 0.0),
        "info": {
            "best_per_map": [e["oip"]["best"] for e in lay["maps"]],
            "command": "oipviz gallery --layer " + " ".join([layer, *extra]),
            "summary": man["summary"],
            "range": man["range"],
            "style": man["style"],
            "precision": settings.get("precision", "float32"),
            "precision_used": lay.get("precision_used"),
            "in_range": lay["in_range"],
            "precursor": settings.get("precursor"),
            "data": man["data"]["source"] + f" ({man['data']['digits']} digits)",
            "versions": {k: man["versions"].get(k) for k in ("tensorflow", "keras", "numpy")},
        },
    }


def derived(m: dict) -> dict:
    """Parent side: start-up (wall no phase accounts for), non-ascent share, wall / target."""
    wall = m["process_seconds"]
    phases = sum(v for k, v in m.items() if k.startswith("phase."))
    return {
        "startup_seconds": wall - phases,
        "non_ascent_share": 1 - m.get("phase.oip", 0.0) / wall,
        "wall_over_target": wall / TARGET_S,
    }


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layer", default="conv3")
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep the last round's gallery in this folder")  # fmt: skip
    ap.add_argument(
        "--screenshot",
        action="store_true",
        help="write docs/gallery_screenshot.png (index page) and a map page shot",
    )
    ap.add_argument(
        "--valid-vs-free",
        nargs=2,
        type=Path,
        metavar=("VALID", "FREE"),
        help="only draw docs/valid_vs_free.png from two kept galleries",
    )
    ap.add_argument(
        "--variant",
        action="append",
        choices=sorted(VARIANTS),
        default=[],
        help="also run this variant, interleaved, with ratios to the default",
    )
    harness.add_arguments(ap, rounds=5, quick_rounds=2)
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                    help="more arguments for oipviz gallery (last)")  # fmt: skip
    return ap.parse_args(argv)


def result_name(res: dict) -> str:
    """gallery, gallery_free, gallery_bfloat16 ... from the default case's range and
    precision."""
    info = res["cases"]["default"]["info"]
    rng, prec = info.get("range", "valid"), info.get("precision", "float32")
    return (
        "gallery"
        + ("" if rng == "valid" else f"_{rng}")
        + ("" if prec == "float32" else f"_{prec}")
    )


def screenshots(out: Path, work: Path, layer: str) -> None:
    """docs/gallery_screenshot.png (index page) and a rescued map's page beside the gallery."""
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    if screenshot(out / "index.html", docs / "gallery_screenshot.png", full=False, height=1000):
        # a rescued map shows the whole story: dead from random inits, the precursor's pattern
        maps = json.loads((out / "manifest.json").read_text())["layers"][layer]["maps"]
        rescued = [e for e in maps if e["status"] == "rescued"] or maps
        shot = work / "gallery_map_screenshot.png"
        screenshot(out / layer / f"map_{rescued[0]['map']:03d}.html", shot)
        print(f"screenshots: {docs / 'gallery_screenshot.png'}, {shot}")


def plateau_effect(res: dict) -> dict:
    """The plateau stop's saving (probe image-steps) and its effect on each map's best OIP
    activation: the ``plateau`` run over the default (full) run, same round (the first)."""
    a = np.asarray(res["cases"]["plateau"]["info"]["best_per_map"], float)
    b = np.asarray(res["cases"]["default"]["info"]["best_per_map"], float)
    live = b > 1e-6
    r = a[live] / b[live]
    saved = res["cases"]["plateau"]["measures"].get("probe_steps_saved_share", {})
    return {
        "probe_steps_saved_share": saved.get("median"),
        "best_ratio_median": float(np.median(r)),
        "best_ratio_min": float(r.min()),
        "best_ratio_p10": float(np.quantile(r, 0.1)),
        "maps_below_0.98": int((r < 0.98).sum()),
        "live_maps": int(live.sum()),
    }


def main(argv=None) -> None:
    a = parse_args(argv)
    if a.valid_vs_free:
        (ROOT / "docs").mkdir(exist_ok=True)
        print(valid_vs_free(*a.valid_vs_free, ROOT / "docs" / "valid_vs_free.png"))
        return
    work = Path(tempfile.mkdtemp(prefix="oipviz_bench_gallery_"))
    extra = (QUICK_EXTRA if a.quick else []) + a.extra
    env = {"OIPVIZ_OFFLINE": "1"}
    variants = {"default": []} | {v: VARIANTS[v] for v in dict.fromkeys(a.variant)}
    cases = [Case(n, call="gallery:gallery_run", post=derived, env=env,
                  kwargs={"layer": a.layer, "out": str(work / n), "extra": [*extra, *v]})
             for n, v in variants.items()]  # fmt: skip
    ratios = [Ratio(f"{n}_over_default_{m}", (n, m), ("default", m))
              for n in variants if n != "default"
              for m in ("process_seconds", "phase.oip", "process_cpu_seconds")]  # fmt: skip
    settings = {"layer": a.layer, "extra": extra, "variants": variants, "quick": a.quick,
                "target_seconds": TARGET_S}  # fmt: skip
    res = harness.run("gallery", cases, ratios, harness.rounds_of(a), a.order, a.seed, settings)
    shown = ["process_seconds", "process_cpu_seconds", "startup_seconds", "wall_over_target",
             "engine_image_steps_per_s", "non_ascent_share", "pages_per_s"]  # fmt: skip
    print(harness.table(res, {n: shown for n in variants}))
    d = res["cases"]["default"]
    if d["measures"]:
        phases = {k[6:]: round(v["median"], 2) for k, v in d["measures"].items()
                  if k.startswith("phase.")}  # fmt: skip
        print(f"phases (median s): {phases}\nsummary: {d['info']['summary']}; in range: "
              f"{d['info']['in_range']}")  # fmt: skip
    if "plateau" in res["cases"]:
        res["plateau"] = plateau_effect(res)
        print(f"plateau stop: {res['plateau']}")
    print(f"wrote {harness.write(res, harness.result_path(a, result_name(res)))}")
    out = work / "default"
    if a.screenshot and (out / "manifest.json").exists():
        screenshots(out, work, a.layer)
    if a.keep and (out / "manifest.json").exists():
        if a.keep.exists():
            shutil.rmtree(a.keep)
        shutil.move(str(out), a.keep)
        print(f"gallery kept in {a.keep}")
    if not a.screenshot:
        shutil.rmtree(work, ignore_errors=True)
    if any(c["errors"] for c in res["cases"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
