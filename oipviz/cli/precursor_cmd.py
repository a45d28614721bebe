"""``oipviz precursor``: grid search for maps that random inits don't wake."""
from __future__ import annotations

import click

from .common import model_options, parse_maps

SCREEN_HELP = ("exhaustive: TEST-EPOCHS ascent steps on every pattern (the articles'); "
               "forward: rank by the raw pattern's activation (one pass for all maps); "
               "halving: forward on all, 3 steps on the best 1/8, TEST-EPOCHS steps on the best "
               "1/4 of those.")


@click.command("precursor")
@click.option("--layer", required=True, help="Layer name, e.g. conv3 (see 'oipviz info').")
@click.option("--map", "map_spec", required=True,
              help="Map index, list (1,3,9), range (0-15) or all.")
@click.option("--grid", type=int, default=3, show_default=True,
              help="Squares per side of the coarse pattern (3 = squares of about 9 px).")
@click.option("--values", "values_text", default="0.2,0.5,0.8", show_default=True,
              help="Grey values of the squares, in [0, 1].")
@click.option("--test-epochs", type=int, default=10, show_default=True,
              help="Ascent steps per pattern in the screen.")
@click.option("--top", type=int, default=8, show_default=True,
              help="Candidates refined per map.")
@click.option("--epochs", type=int, default=1200, show_default=True,
              help="Ascent steps of the refinement.")
@click.option("--lr", type=float, default=0.02, show_default=True,
              help="Step size (RMS of each step, in standardized pixels).")
@click.option("--screen", type=click.Choice(["exhaustive", "forward", "halving"]),
              default="exhaustive", show_default=True, help=SCREEN_HELP)
@click.option("--chunk", type=int, default=1024, show_default=True,
              help="Patterns per engine batch.")
@click.option("--wake", type=click.IntRange(min=0), default=200, show_default=True,
              help="Steps up the map's pre-activation (before its ReLU) for candidates whose map "
                   "is zero everywhere and so has no gradient; 0 = the articles' method.")
@click.option("--dead-only", is_flag=True,
              help="First try random multi-scale inits on every map; run the precursor only "
                   "on the maps that stay dead, and write a rescue table.")
@click.option("--probe-inits", type=click.IntRange(min=1), default=8, show_default=True,
              help="Random inits per map for --dead-only.")
@click.option("--probe-epochs", type=click.IntRange(min=1), default=300, show_default=True,
              help="Ascent steps of the random inits for --dead-only.")
@click.option("--resume", is_flag=True, help="Continue an interrupted multi-map run in --out.")
@click.option("--yes", is_flag=True, help="Go on with a grid of more than 1.5 million patterns.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: precursor_LAYER_MAP).")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@model_options
def command(loaded, layer, map_spec, grid, values_text, test_epochs, top, epochs, lr, screen, chunk,
            wake, dead_only, probe_inits, probe_epochs, resume, yes, seed, out, force, quiet) -> None:
    """Screen every coarse GRID×GRID pattern of grey VALUES on a map, refine the best.

    \b
    Writes the top candidates' start patterns and refined OIPs (viridis, gray),
    a histogram of the screen losses, the refinement curves, a contact sheet and
    manifest.json.  With several maps (or --dead-only) each map gets a subfolder,
    written as soon as it is finished; an interrupted run continues with --resume.
    """
    from pathlib import Path

    from ..errors import OipvizError
    from ..outputs import check_target
    from ..precursor import GUARD_PATTERNS, check_params, estimate_seconds

    info = loaded.layer(layer)
    if info.units is None:
        raise OipvizError(f"layer {info.name!r} ({info.type}) has no maps or units to optimize")
    maps = parse_maps(map_spec, info.units)
    try:
        values = tuple(float(v) for v in values_text.split(",") if v.strip())
    except ValueError:
        raise OipvizError(f"bad --values {values_text!r}; give numbers in [0, 1] like 0.2,0.5,0.8") from None
    values, n = check_params(grid, values, top, test_epochs, epochs, lr, screen, chunk)
    multi = dead_only or len(maps) > 1
    if out is None:
        tag = str(maps[0]) if len(maps) == 1 else map_spec.strip().lower().replace(",", "_")
        out = f"precursor_{info.name}_{tag}"
    out = Path(out)
    if force and resume:
        raise OipvizError("--force and --resume exclude each other")
    check_target(out, force, resume)
    if n > GUARD_PATTERNS:
        secs = estimate_seconds(loaded, info.name, maps[0], screen, n, len(maps), test_epochs, top,
                                epochs, lr, chunk)
        if not yes:
            raise OipvizError(f"{n:,} patterns per map × {len(maps)} map(s) is a very large grid "
                              f"({screen} screen, estimated {_duration(secs)}); add --yes to run it")
        click.echo(f"{n:,} patterns per map × {len(maps)} map(s), {screen} screen: "
                   f"estimated {_duration(secs)}", err=True)
    params = dict(layer=info.name, maps=maps, grid=grid, values=list(values), screen=screen,
                  test_epochs=test_epochs, top=top, epochs=epochs, lr=lr, chunk=chunk, wake=wake,
                  dead_only=dead_only)
    if dead_only:
        params.update(probe_inits=probe_inits, probe_epochs=probe_epochs)
    bar_file = open("/dev/null", "w") if quiet else None
    try:
        if multi:
            _run_many(loaded, info.name, maps, values, n, params, seed, out, force, resume, bar_file)
        else:
            _run_one(loaded, info.name, maps[0], values, n, params, seed, out, force, resume, bar_file)
    finally:
        if bar_file:
            bar_file.close()


def _duration(secs: float) -> str:
    secs = int(round(secs))
    if secs < 60:
        return f"{secs} s"
    if secs < 3600:
        return f"{secs // 60} min {secs % 60:02d} s"
    return f"{secs // 3600} h {secs % 3600 // 60:02d} min"


def _same_run(out, params: dict, loaded) -> dict:
    """The manifest of ``out`` if it is a precursor run with the same parameters and model."""
    import json

    from ..errors import OipvizError
    from ..versions import file_sha256

    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        raise OipvizError(f"--resume: {out} has no readable manifest.json; use --force to start over") from None
    if manifest.get("kind") != "precursor":
        raise OipvizError(f"--resume: {out} is not a precursor run; use --force to replace it")
    old = manifest.get("parameters", {})
    new = json.loads(json.dumps(params))
    diff = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if diff:
        k = diff[0]
        raise OipvizError(f"--resume: {k} differs from the run in {out} ({old.get(k)!r} there, "
                          f"{new.get(k)!r} now); use --force to start over")
    if manifest.get("model", {}).get("sha256") != file_sha256(loaded.path):
        raise OipvizError(f"--resume: {out} was made with another model; use --force to start over")
    return manifest


def _run_one(loaded, layer, m, values, n, params, seed, out, force, resume, bar_file) -> None:
    from ..manifest import base_manifest
    from ..outputs import atomic_dir, write_json
    from ..precursor import precursor, work, write_result

    if resume and out.exists():
        manifest = _same_run(out, params, loaded)
        click.echo(f"{out} is already finished (map {m}: best {manifest.get('best_activation', 0):.3g}, "
                   f"{manifest.get('status')}); nothing to do")
        return
    total = work(n, 1, params["screen"], params["test_epochs"], params["top"], params["epochs"])
    with click.progressbar(length=total, label=f"{layer} map {m}: {n:,} patterns",
                           show_eta=True, file=bar_file) as bar:
        res = precursor(layer, m, loaded, params["grid"], values, params["test_epochs"],
                        params["top"], params["epochs"], params["lr"], seed, params["screen"],
                        params["chunk"], progress=bar.update, wake=params["wake"])
    with atomic_dir(out, force=force or resume) as tmp:
        entry = write_result(tmp, res)
        manifest = base_manifest("precursor", loaded, params, seed)
        manifest.update(layer=layer, grid=params["grid"], values=list(values))
        manifest.update(entry)
        write_json(tmp / "manifest.json", manifest)
    click.echo(res.summary())
    click.echo(f"wrote {out}/")


def _run_many(loaded, layer, maps, values, n, params, seed, out, force, resume, bar_file) -> None:
    import json
    import shutil

    from ..manifest import base_manifest
    from ..oip import oip
    from ..outputs import write_json
    from ..precursor import precursor_maps, work, write_result

    done: dict[int, dict] = {}
    probe = None
    if resume and out.exists():
        manifest = _same_run(out, params, loaded)
        for e in manifest.get("maps", []):
            if (out / f"map{e['map']:03d}" / "manifest.json").exists():
                done[int(e["map"])] = e
        if (out / "probe.json").exists():
            probe = json.loads((out / "probe.json").read_text())
        for stale in out.glob(".map*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        click.echo(f"resuming {out}: {len(done)} finished map(s) skipped"
                   + (f" ({', '.join(str(m) for m in sorted(done))})" if done else ""))
    else:
        if out.exists():  # --force
            shutil.rmtree(out)
        out.mkdir()
    (out / ".incomplete").write_text("precursor run in progress; continue with --resume\n")
    manifest = base_manifest("precursor", loaded, params, seed)
    manifest.update(layer=layer, grid=params["grid"], values=list(values), screen=params["screen"],
                    n_patterns=n, incomplete=True, maps=[done[m] for m in maps if m in done])
    write_json(out / "manifest.json", manifest)

    targets = list(maps)
    if params["dead_only"]:
        if probe is None:
            inits, ep = params["probe_inits"], params["probe_epochs"]
            with click.progressbar(length=len(maps) * inits * ep, show_eta=True, file=bar_file,
                                   label=f"{layer}: {len(maps)} map(s) × {inits} random inits") as bar:
                run = oip(layer, maps, loaded, inits=inits, epochs=ep, lr=params["lr"], seed=seed,
                          progress=bar.update)
            if run.interrupted:
                raise KeyboardInterrupt
            probe = {"inits": inits, "epochs": ep,
                     "maps": [{"map": m, "best_activation": float(v), "status": s}
                              for m, v, s in zip(run.maps, run.best_values, run.status)]}
            write_json(out / "probe.json", probe)
        targets = [e["map"] for e in probe["maps"] if e["status"] == "dead"]
    todo = [m for m in targets if m not in done]
    total = work(n, len(todo), params["screen"], params["test_epochs"], params["top"],
                 params["epochs"]) if todo else 0
    lines = []
    try:
        with click.progressbar(length=max(total, 1), show_eta=True, file=bar_file,
                               label=f"{layer}: precursor on {len(todo)} map(s)") as bar:
            if not todo:
                bar.update(1)
            results = precursor_maps(layer, todo, loaded, params["grid"], values,
                                     params["test_epochs"], params["top"], params["epochs"],
                                     params["lr"], seed, params["screen"], params["chunk"],
                                     progress=bar.update, wake=params["wake"]) if todo else []
            for k, res in enumerate(results):
                tmp = out / f".map{res.map:03d}.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir()
                entry = write_result(tmp, res)
                sub = base_manifest("precursor", loaded, params, seed)
                sub.update(layer=layer, grid=params["grid"], values=list(values))
                sub.update(entry)
                write_json(tmp / "manifest.json", sub)
                final = out / f"map{res.map:03d}"
                if final.exists():
                    shutil.rmtree(final)
                tmp.rename(final)
                done[res.map] = entry
                manifest["maps"] = [done[m] for m in maps if m in done]
                write_json(out / "manifest.json", manifest)
                lines.append(res.summary())
                if k + 1 < len(todo):
                    bar.label = f"{layer}: precursor, map {todo[k + 1]} ({k + 2}/{len(todo)})"
    except KeyboardInterrupt:
        for line in lines:
            click.echo(line)
        click.echo(f"interrupted: {len(done)} of {len(targets)} map(s) finished in {out}; "
                   "continue with --resume", err=True)
        raise
    for line in lines:
        click.echo(line)
    _finish(out, layer, maps, targets, done, probe, manifest)
    (out / ".incomplete").unlink(missing_ok=True)
    click.echo(f"wrote {out}/")


def _finish(out, layer, maps, targets, done, probe, manifest) -> None:
    """Overview sheet, rescue table, final manifest."""
    import csv

    import numpy as np

    from ..outputs import write_json
    from ..render import contact_sheet, normalize

    rows = []
    probe_by_map = {e["map"]: e for e in probe["maps"]} if probe else {}
    for m in maps:
        p = probe_by_map.get(m)
        e = done.get(m)
        status = "live" if p and p["status"] == "live" else (e["status"] if e else "not run")
        rows.append({"map": m,
                     "random_init_activation": "" if p is None else f"{p['best_activation']:.6g}",
                     "precursor_activation": "" if e is None else f"{e['best_activation']:.6g}",
                     "best_candidate": "" if e is None else e["best_candidate"],
                     "status": status})
    ran = [m for m in targets if m in done]
    if ran:
        imgs = [normalize(np.load(out / f"map{m:03d}" / "best.npy")) for m in ran]
        contact_sheet(imgs, [f"{m}: {done[m]['best_activation']:.3g}" for m in ran],
                      out / "contact_sheet.png", status=[done[m]["status"] for m in ran],
                      title=f"{layer}: best refined precursor OIP per map")
    rescued = [m for m in ran if done[m]["status"] == "rescued"]
    summary = {"maps": len(maps), "precursor_maps": len(ran), "rescued": len(rescued),
               "still_dead": len(ran) - len(rescued)}
    if probe:
        summary["dead_after_random_inits"] = len(targets)
        summary["live_after_random_inits"] = len(maps) - len(targets)
    with open(out / "rescue.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    write_json(out / "rescue.json", {"summary": summary, "maps": rows})
    manifest["maps"] = [done[m] for m in maps if m in done]
    manifest["summary"] = summary
    manifest["incomplete"] = False
    write_json(out / "manifest.json", manifest)

    if probe:
        pct = f" ({100 * len(rescued) / len(targets):.0f}%)" if targets else ""
        click.echo(f"{layer}: {len(maps)} map(s) tried; {len(targets)} dead after "
                   f"{probe['inits']} random inits × {probe['epochs']} epochs; "
                   f"{len(rescued)} rescued by the precursor{pct}, {len(ran) - len(rescued)} still dead")
    else:
        click.echo(f"{layer}: precursor on {len(ran)} map(s): {len(rescued)} rescued, "
                   f"{len(ran) - len(rescued)} dead")
    shown = [r for r in rows if r["status"] != "live"]
    if shown:
        head = f"{'map':>5}  {'random inits':>12}  {'precursor':>10}  status"
        click.echo(head)
        for r in shown:
            click.echo(f"{r['map']:>5}  {r['random_init_activation'] or '-':>12}  "
                       f"{r['precursor_activation'] or '-':>10}  {r['status']}")
