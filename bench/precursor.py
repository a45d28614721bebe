"""Benchmark of ``oipviz precursor --layer conv3 --map 46`` end to end (not a test).

Two cases, each a fresh process per round, ``--rounds`` rounds interleaved through
bench/harness.py: the README's first command (defaults: 3^9 patterns, the default screen,
top 8 × 1,200 refine steps, wake 200) and the same command with ``--screen exhaustive``.
The CLI runs inside the case's process (``cli_run``), which times:

* the wall time end to end (``process_seconds``; target ≤ 10 s on a 2-core machine) and its
  phases: Python start and imports (TensorFlow, oipviz), model load, screen, refine (from
  the manifest), write (PNGs, plots, manifest) and the rest (CLI set-up, engine traces
  outside the screen and refine, exit);
* the process CPU time (user + sys): on a busy machine the wall grows, the CPU much less;
* ratios per round: the default command over the exhaustive screen alone, and over the
  exhaustive command end to end; the exhaustive screen over the default screen.

With ``--rescue`` it also runs, once in a fresh process, the dead-map rescue study of conv3
(8 multi-scale inits × ``--probe-epochs``, then the precursor on the dead maps with and
without the wake; slow: several minutes).

    python bench/precursor.py                   # default vs exhaustive, map 46, 5 rounds
    python bench/precursor.py --rounds 3 --rescue
    python bench/precursor.py --quick           # smoke run: a 2×2 grid, bench/results/quick/
Writes bench/results/precursor.json (every round's values, the machine, the load).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harness  # noqa: E402
from harness import Case, Ratio  # noqa: E402

TARGET_S = 10.0
COMMAND = ["precursor", "--layer", "conv3", "--map", "46"]
QUICK_EXTRA = ["--grid", "2", "--epochs", "100"]  # 3^4 patterns, short refinements
PHASES = ("tf_import", "model_load", "screen", "refine", "write", "other")


def cli_run(extra: list[str], out: str) -> dict:
    """Runs in the case's fresh process: ``oipviz precursor --layer conv3 --map 46 ...``
    through the real CLI, with the imports, the model load and the writer timed.

    Returns
    -------
    dict
        ``cli_seconds`` and per phase ``<phase>_seconds``; the best activation; ``info``: the
        screen and the top 8 pattern indices.
    """
    t0 = time.perf_counter()
    import tensorflow  # noqa: F401

    t_tf = time.perf_counter() - t0
    import oipviz.cli.params as P
    import oipviz.writers.precursor as W
    from oipviz.cli import main

    t_imports = time.perf_counter() - t0
    T: dict[str, float] = {}

    def timed(name, fn):
        def wrap(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                T[name] = T.get(name, 0.0) + time.perf_counter() - t

        return wrap

    P.ModelSpec.load = timed("model_load", P.ModelSpec.load)
    W.write_precursor = timed("write", W.write_precursor)
    t = time.perf_counter()
    try:
        main([*COMMAND, "--out", out, "--force", *extra])
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    cli = time.perf_counter() - t
    man = json.loads((Path(out) / "manifest.json").read_text())
    screen, refine = man["screen_seconds"], man["refine_seconds"]
    return {
        "cli_seconds": cli,
        "tf_import_seconds": t_tf,
        "imports_seconds": t_imports,
        "model_load_seconds": T["model_load"],
        "screen_seconds": screen,
        "refine_seconds": refine,
        "write_seconds": T["write"],
        "other_seconds": cli - T["model_load"] - screen - refine - T["write"],
        "best_activation": man["best_activation"],
        "info": {
            "screen_kind": man["screen"],
            "top8": [c["pattern_index"] for c in man["candidates"]][:8],
        },
    }


def with_start(m: dict) -> dict:
    """Parent side: Python start and imports = the whole process minus the CLI."""
    return {"start_and_imports_seconds": m["process_seconds"] - m["cli_seconds"]}


def rescue_study(probe_epochs: int, wake: int) -> dict:
    """Dead conv3 maps after random inits; how many the precursor wakes (forward screen,
    the same rescue set as any screen on a ReLU map), as in the articles and with wake."""
    from oipviz.compute.oip import oip
    from oipviz.compute.precursor import precursor_maps
    from oipviz.core.loader import load_model

    loaded = load_model()
    t = time.perf_counter()
    run = oip("conv3", None, loaded, inits=8, steps=probe_epochs, progress=False)
    t_probe = time.perf_counter() - t
    dead = [m for m, s in zip(run.maps, run.status, strict=True) if s == "dead"]
    out: dict = {
        "probe": f"8 multi-scale inits × {probe_epochs} epochs",
        "probe_seconds": round(t_probe, 1),
        "maps": 128,
        "dead_after_random_inits": dead,
    }
    for name, w in (("articles", 0), ("wake", wake)):
        t = time.perf_counter()
        res = {r.map: r for r in precursor_maps("conv3", dead, loaded, screen="forward", wake=w)}
        out[name] = {
            "wake_steps": w,
            "seconds": round(time.perf_counter() - t, 1),
            "rescued": [m for m in dead if res[m].status == "rescued"],
            "best_activation": {str(m): round(res[m].best_value, 4) for m in dead},
        }
    return out


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rescue", action="store_true", help="also run the dead-map rescue study")
    ap.add_argument("--probe-epochs", type=int, default=None, help="rescue probe steps (300)")
    harness.add_arguments(ap, rounds=5, quick_rounds=2)
    ap.add_argument("--repeat", dest="rounds", type=int, help="the old name of --rounds")
    args = ap.parse_args(argv)
    if args.probe_epochs is None:
        args.probe_epochs = 30 if args.quick else 300
    return args


def describe(res: dict) -> str:
    """The result as three sentences (medians, [min - max] over the rounds)."""
    d, ex, q = res["cases"]["default"], res["cases"]["exhaustive"], res["ratios"]
    if not d["measures"] or not ex["measures"]:
        return "no result: " + "; ".join(d["errors"] + ex["errors"])
    wall, h = d["measures"]["process_seconds"], res["headline"]
    phases = ", ".join(
        f"{p} {d['measures'][p + '_seconds']['median']:.2f}" for p in ("start_and_imports", *PHASES)
    )
    return (
        f"oipviz precursor --layer conv3 --map 46 ({d['info']['screen_kind']} screen): "
        f"{wall['median']:.1f} s [{wall['min']:.1f} - {wall['max']:.1f}] end to end = "
        f"{h['default_wall_over_target']['median']:.2f}× the {TARGET_S:.0f} s target; "
        f"phases (s) {phases}\n"
        f"= {q['default_wall_over_exhaustive_screen']['median']:.3f}× the exhaustive screen "
        f"alone and {q['default_wall_over_exhaustive_wall']['median']:.3f}× the exhaustive "
        f"command (per-round medians); same top 8: {h['same_top8']}"
    )


def main(argv=None) -> None:
    args = parse_args(argv)
    from oipviz.compute.precursor_settings import DEFAULT_SCREEN, DEFAULT_WAKE

    tmp = tempfile.TemporaryDirectory(prefix="oipviz_bench_precursor_")
    work = Path(tmp.name)
    extra = QUICK_EXTRA if args.quick else []
    env = {"OIPVIZ_OFFLINE": "1"}
    cases = [
        Case("default", call="precursor:cli_run", post=with_start, env=env,
             kwargs={"extra": extra, "out": str(work / "default")}),
        Case("exhaustive", call="precursor:cli_run", post=with_start, env=env,
             kwargs={"extra": [*extra, "--screen", "exhaustive"],
                     "out": str(work / "exhaustive")}),
    ]  # fmt: skip
    ratios = [
        Ratio("default_wall_over_exhaustive_wall", ("default", "process_seconds"),
              ("exhaustive", "process_seconds")),
        Ratio("default_wall_over_exhaustive_screen", ("default", "process_seconds"),
              ("exhaustive", "screen_seconds")),
        Ratio("exhaustive_screen_over_default_screen", ("exhaustive", "screen_seconds"),
              ("default", "screen_seconds")),
        Ratio("default_cpu_over_exhaustive_cpu", ("default", "process_cpu_seconds"),
              ("exhaustive", "process_cpu_seconds")),
    ]  # fmt: skip
    settings = {"command": "oipviz " + " ".join(COMMAND + extra), "default_screen":
                DEFAULT_SCREEN, "wake": DEFAULT_WAKE, "target_seconds": TARGET_S,
                "quick": args.quick}  # fmt: skip
    res = harness.run("precursor", cases, ratios, harness.rounds_of(args), args.order,
                      args.seed, settings)  # fmt: skip
    tmp.cleanup()
    walls = res["cases"]["default"]["measures"].get("process_seconds", {"values": []})
    top = [set(res["cases"][n]["info"].get("top8", [])) for n in ("default", "exhaustive")]
    res["headline"] = {
        "default_wall_seconds": {k: v for k, v in walls.items() if k != "values"},
        "default_wall_over_target": harness.summarize([v / TARGET_S for v in walls["values"]]),
        "same_top8": bool(top[0]) and top[0] == top[1],
    }
    if args.rescue:
        case = Case("rescue", call="precursor:rescue_study",
                    kwargs={"probe_epochs": args.probe_epochs, "wake": DEFAULT_WAKE})  # fmt: skip
        try:
            res["rescue"] = harness.run_once(case)
        except harness.CaseFailed as exc:
            res["rescue"] = {"error": str(exc)}
    r = res.get("rescue") or {}
    if "wake" in r:
        print(f"rescue: {len(r['dead_after_random_inits'])} conv3 maps dead after {r['probe']}; "
              f"the precursor wakes {len(r['articles']['rescued'])} as in the articles, "
              f"{len(r['wake']['rescued'])} with wake {DEFAULT_WAKE}")  # fmt: skip
    elif r:
        print(f"rescue study failed: {r['error']}")
    shown = ["process_seconds", "process_cpu_seconds", "start_and_imports_seconds"]
    shown += [p + "_seconds" for p in PHASES] + ["best_activation"]
    print(harness.table(res, {c.name: shown for c in cases}))
    print(describe(res))
    print(f"wrote {harness.write(res, harness.result_path(args, 'precursor'))}")
    if any(c["errors"] for c in res["cases"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
