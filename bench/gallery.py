"""Bench: ``oipviz gallery --layer conv3`` on the bundled model, end to end.

Default settings (128 maps × 8 inits × 300 steps in the valid range, readable style: the
rescue probe's, in resumable parts; the rescue's forward-screen precursor with wake on the
maps they leave dead; top-9 examples and statistics over the offline digits), run as a
real subprocess (``--extra --range free --style plain``: the articles' method).
Prints and records (bench/results/gallery.json; gallery_free.json for ``--range free``,
gallery_bfloat16.json for ``--extra --precision bfloat16``):

* wall time end to end (target ≤ 30 s on 2 cores) and per phase (from the manifest:
  stats, oip, rescue, compare, pages);
* the engine's rate in the OIP phase (image-steps/s) and the share of the wall time
  that is not the OIP ascent (model load, data, rescue, pages);
* the ratio wall / target, the live / rescued / dead counts, the range and style, on
  how many live maps the in-range OIP beats the best real digit and how many maps have
  a unique OIP across inits;
* the process CPU time per phase: on a busy machine the wall times grow, the CPU time
  much less (single-threaded phases: CPU ≈ wall on an idle machine; the engine uses
  both cores, so its wall time on an idle machine is about CPU / 2).

With ``--screenshot`` (and /usr/bin/chromium + playwright) it also writes
docs/gallery_screenshot.png (the index page) and a map page screenshot next to the
JSON's temp folder, for the README.

``--valid-vs-free VALID FREE`` only draws docs/valid_vs_free.png from two kept galleries
(``--range valid`` and ``--range free``): a few maps' best OIPs side by side.

Not a test: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 30.0  # issue 12
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
        f"{layer}: best OIP of {st['inits']} inits × {st['epochs']} steps "
        f"({st['style']} style); numbers: activation (spatial mean)",
        fontsize=9,
    )
    fig.subplots_adjust(left=0.1, right=0.99, top=0.86, bottom=0.04, wspace=0.08, hspace=0.38)
    fig.savefig(png, format="png")
    return png


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layer", default="conv3")
    ap.add_argument("--keep", type=Path, default=None, help="keep the gallery in this folder")
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
        "--extra", nargs=argparse.REMAINDER, default=[], help="more arguments for oipviz gallery"
    )
    a = ap.parse_args()
    if a.valid_vs_free:
        (ROOT / "docs").mkdir(exist_ok=True)
        print(valid_vs_free(*a.valid_vs_free, ROOT / "docs" / "valid_vs_free.png"))
        return

    work = Path(tempfile.mkdtemp(prefix="oipviz_bench_gallery_"))
    out = work / f"gallery_{a.layer}"
    cmd = [
        sys.executable,
        "-c",
        "from oipviz.cli import main; main()",
        "gallery",
        "--layer",
        a.layer,
        "--out",
        str(out),
        "--quiet",
        *a.extra,
    ]
    load_before = os.getloadavg()
    t = time.perf_counter()
    p = subprocess.run(
        cmd, capture_output=True, text=True, env=dict(os.environ, OIPVIZ_OFFLINE="1")
    )
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"oipviz gallery failed ({p.returncode}): {p.stderr.strip()}")
    man = json.loads((out / "manifest.json").read_text())
    run = man["runs"][-1]
    phases, settings = run["seconds"], man["settings"]
    maps = man["layers"][next(iter(man["layers"]))]["maps"]
    image_steps = len(maps) * settings["inits"] * settings["epochs"]
    engine_rate = image_steps / phases["oip"] if phases.get("oip") else None
    accounted = sum(phases.values())
    result = {
        "command": "oipviz gallery --layer "
        + a.layer
        + (" " + " ".join(a.extra) if a.extra else ""),
        "wall_seconds": round(wall, 2),
        "target_seconds": TARGET_S,
        "wall_over_target": round(wall / TARGET_S, 3),
        "phases_seconds": phases,
        "phases_cpu_seconds": run.get("cpu_seconds"),
        "startup_seconds": round(wall - accounted, 2),
        "oip_image_steps": image_steps,
        "engine_image_steps_per_s": round(engine_rate, 1) if engine_rate else None,
        "non_ascent_share": round(1 - phases.get("oip", 0) / wall, 3),
        "pages_per_s": round(len(maps) / phases["pages"], 1) if phases.get("pages") else None,
        "summary": man["summary"],
        "range": man["range"],
        "style": man["style"],
        "precision": settings.get("precision", "float32"),
        "precision_used": man["layers"][next(iter(man["layers"]))].get("precision_used"),
        "in_range": man["layers"][next(iter(man["layers"]))]["in_range"],
        "precursor": settings["precursor"],
        "data": man["data"]["source"] + f" ({man['data']['digits']} digits)",
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "cpus": os.cpu_count(),
        "versions": {k: man["versions"].get(k) for k in ("tensorflow", "keras", "numpy")},
    }
    print(p.stdout.strip())
    print(json.dumps(result, indent=2))
    print(
        f"\nwall {wall:.1f} s = {wall / TARGET_S:.2f}× the {TARGET_S:.0f} s target; "
        f"OIP phase {phases.get('oip', 0):.1f} s at {engine_rate or 0:.0f} image-steps/s; "
        f"non-ascent share {result['non_ascent_share']:.0%}"
    )
    res_dir = ROOT / "bench" / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    prec = settings.get("precision", "float32")
    name = (
        "gallery"
        + ("" if man["range"] == "valid" else f"_{man['range']}")
        + ("" if prec == "float32" else f"_{prec}")
        + ".json"
    )
    (res_dir / name).write_text(json.dumps(result, indent=2) + "\n")
    if a.screenshot:
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        if screenshot(out / "index.html", docs / "gallery_screenshot.png", full=False, height=1000):
            # a rescued map shows the whole story: dead from random inits, the precursor's pattern
            rescued = [e for e in maps if e["status"] == "rescued"] or maps
            shot = work / "gallery_map_screenshot.png"
            screenshot(out / a.layer / f"map_{rescued[0]['map']:03d}.html", shot)
            print(f"screenshots: {docs / 'gallery_screenshot.png'}, {shot}")
    if a.keep:
        if a.keep.exists():
            shutil.rmtree(a.keep)
        shutil.move(str(out), a.keep)
        print(f"gallery kept in {a.keep}")
    if not a.screenshot:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
