"""The explorer's jobs (each runs on the TensorFlow thread, checks in after every compiled
block, and streams what it has): a map's OIP, its precursor search, a dream, the dataset
statistics; and the warm-up that traces the engine before the first click."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np

import oipviz
from oipviz.compute.precursor_settings import PrecursorSettings, RescueSettings
from oipviz.core.images import from_float
from oipviz.core.status import fires
from oipviz.gallery.settings import GallerySettings
from oipviz.render.images import normalize
from oipviz.serve.encode import finite, fit, png_url, rounded
from oipviz.serve.inputs import input_geometry
from oipviz.serve.jobs import JobContext, Worker, log
from oipviz.serve.quick import Served, activation_of, page_methods

BLOCK_STEPS = 25  # steps per compiled block for 8 inits (fewer for more: a block stays short)
BLOCK_IMAGE_STEPS = 200  # ... so a cancel or a quick call waits at most ~this many image-steps
FRAME_GAP = 0.1  # seconds between two streamed frames (at most)
MAX_STREAMED_INITS = 16  # thumbnails per frame
_PROBE = GallerySettings()
#: the OIP the gallery computes per map (its rescue probe)
OIP_DEFAULTS: dict[str, Any] = {
    "inits": _PROBE.inits,
    "steps": _PROBE.steps,
    "range": _PROBE.range_mode,
    "style": _PROBE.style,
    "lr": _PROBE.lr,
    "seed": _PROBE.seed,
}
#: the gallery's precursor (the rescue's settings)
PRECURSOR_DEFAULTS = RescueSettings().as_dict()
#: the articles' dream: conv3 map 56 of the seed CNN (other models: see dream_defaults)
DREAM_DEFAULTS = {"layer": "conv3", "map": 56, "iters": 4, "seed": 0}
STREAM_SIDE = 384  # dream rounds are streamed at most this big (the download is full size)
DATA_LIMIT = 5000  # real digits behind the top-9 and the selectivity (as the gallery)


def dream_defaults(loaded) -> dict:
    """The dream form's defaults for ``loaded``: the articles' conv3 map 56 where the model
    has it, else map 0 of its last conv layer (or of its last layer with units)."""
    try:
        if loaded.unit_layer(DREAM_DEFAULTS["layer"]).units > DREAM_DEFAULTS["map"]:
            return dict(DREAM_DEFAULTS)
    except oipviz.OipvizError:
        pass
    layers = loaded.conv_layers() or [i for i in loaded.layers if i.units is not None]
    return dict(DREAM_DEFAULTS, layer=layers[-1].name, map=0)


def shown(z: np.ndarray, convention, range_mode: str) -> np.ndarray:
    """How an engine-space image is drawn: exact pixels (valid) or min-max (free)."""
    px = convention.from_engine(np.asarray(z, np.float32))
    return np.clip(px, 0.0, 1.0) if range_mode == "valid" else normalize(z)


def oip_job(served: Served, layer: str, m: int, p: dict):
    """The job function of one map's OIP (``p``: inits, steps, range, style, lr, seed)."""

    def run(ctx: JobContext) -> dict:
        conv = served.loaded.convention
        t0 = time.perf_counter()
        first: list[float] = []
        total = p["steps"]

        last = [0.0]

        def on_block(b) -> None:
            ctx.check()
            now = time.perf_counter()
            if now - last[0] < FRAME_GAP and b.steps < total:
                return
            last[0] = now
            k = int(np.argmax(b.values))
            if not first:
                first.append(now - t0)
            ctx.emit(
                "frame",
                {
                    "step": int(b.steps),
                    "steps": total,
                    "best": k,
                    "activation": finite(b.values[k]),
                    "values": rounded(b.values),
                    "image": png_url(shown(b.images[k], conv, p["range"])),
                    "inits": [
                        png_url(shown(z, conv, p["range"])) for z in b.images[:MAX_STREAMED_INITS]
                    ],
                },
            )

        def progress(n: int) -> None:
            ctx.check()
            done = ctx.job.progress.get("image_steps", 0) + n
            ctx.set_progress(done / max(1, total * p["inits"]), image_steps=done)

        run = oipviz.oip(
            layer, [m], served.loaded, inits=p["inits"], steps=total, lr=p["lr"],
            seed=p["seed"], range_mode=p["range"], style=p["style"], progress=progress,
            on_block=on_block, block_steps=block_steps(p["inits"]),
        )  # fmt: skip
        return oip_result(served, run, layer, m, p, time.perf_counter() - t0, first)

    return run


def block_steps(images: int) -> int:
    """Steps per compiled block for a batch of ``images``: 25 for 8, fewer for more."""
    return int(np.clip(BLOCK_IMAGE_STEPS // max(1, images), 2, BLOCK_STEPS))


def oip_result(served: Served, run, layer: str, m: int, p: dict, seconds: float, first) -> dict:
    """The job's result: the best image (drawn and as pixels), its in-range activation
    measured on exactly those pixels, every init."""
    conv = served.loaded.convention
    best = int(run.best[0])
    z = run.images[0, best]
    pixels = np.clip(conv.from_engine(z), 0.0, 1.0)  # the image as returned, in range
    act = activation_of(served, pixels, layer, m)
    return {
        "model": served.role,
        "layer": layer,
        "map": m,
        "best_init": best,
        "best_activation": act,
        "engine_value": finite(run.best_values[0]),
        "status": "live" if fires(act) else "dead",
        "image": png_url(shown(z, conv, p["range"])),
        "pixels": rounded(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, 4),
        "start": rounded(run.start[0]),
        "final": rounded(run.final[0]),
        "inits": [png_url(shown(x, conv, p["range"])) for x in run.images[0][:MAX_STREAMED_INITS]],
        "settings": p,
        "rendering": "exact pixels" if p["range"] == "valid" else "min-max scaled (free range)",
        "seconds": round(seconds, 3),
        "first_frame_seconds": round(first[0], 3) if first else None,
        "cached": False,
    }


def precursor_job(served: Served, layer: str, m: int, p: dict):
    """The job function of one map's precursor search (the gallery's settings)."""
    from oipviz.compute.screens import work

    def run(ctx: JobContext) -> dict:
        conv = served.loaded.convention
        t0 = time.perf_counter()
        given = {k: p[k] for k in PRECURSOR_DEFAULTS if k in p}
        total = work(1, PrecursorSettings.checked(**dict(given, values=tuple(p["values"]))))

        def progress(k: int) -> None:
            ctx.check()
            done = ctx.job.progress.get("units", 0) + k
            ctx.set_progress(done / max(1, total), units=done)

        def on_block(b) -> None:
            ctx.check()
            k = int(np.argmax(b.values))
            ctx.emit(
                "frame",
                {
                    "step": int(b.steps),
                    "steps": p["steps"],
                    "best": k,
                    "activation": finite(b.values[k]),
                    "image": png_url(normalize(b.images[k])),
                },
            )

        res = oipviz.precursor(
            layer, m, served.loaded, grid=p["grid"], values=p["values"],
            test_steps=p["test_steps"], top=p["top"], steps=p["steps"], seed=p["seed"],
            screen=p["screen"], wake=p["wake"], progress=progress, on_block=on_block,
        )  # fmt: skip
        best = int(np.argmax(res.final))
        pixels = np.clip(conv.from_engine(res.images[best]), 0.0, 1.0)
        return {
            "model": served.role,
            "layer": layer,
            "map": m,
            "best_candidate": best,
            "activation": finite(res.final[best]),
            "in_range_activation": activation_of(served, pixels, layer, m),
            "status": "above zero" if fires(res.final[best]) else "dead",
            "image": png_url(normalize(res.images[best])),
            "start_pattern": png_url(normalize(res.start_patterns[best])),
            "clipped": png_url(pixels),
            "patterns": int(res.n_patterns),
            "settings": p,
            "rendering": "free range, min-max scaled; 'clipped': the pixels in [0, 1]",
            "note": res.note,
            "seconds": round(time.perf_counter() - t0, 3),
            "cached": False,
        }

    return run


def dream_job(served: Served, planes, notes: list[str], p: dict):
    """The job function of a dream on an uploaded photo; rounds stream as they finish."""

    def run(ctx: JobContext) -> dict:
        t0 = time.perf_counter()
        W, H = planes.size

        def on_round(rd) -> None:
            ctx.check()
            ctx.emit(
                "round",
                {
                    "round": rd.round,
                    "rounds": p["iters"],
                    "octave": rd.octave,
                    "image": png_url(fit(rd.adjusted, STREAM_SIDE)),
                    "colour": bool(rd.adjusted.ndim == 3),
                    "small": png_url(normalize(rd.small), 4),
                    "activation_start": finite(rd.activation_start),
                    "activation_end": finite(rd.activation_end),
                },
            )
            ctx.set_progress(rd.round / max(1, p["iters"]), round=rd.round)

        res = oipviz.dream(
            planes, map=p["map"], layer=p["layer"], iters=p["iters"], steps=p.get("steps"),
            seed=p["seed"], model=served.loaded, progress=lambda n: ctx.check(),
            on_round=on_round,
        )  # fmt: skip
        buf = io.BytesIO()
        from_float(res.image, res.mode).save(buf, format="PNG")
        ctx.job.files["dream.png"] = (buf.getvalue(), "image/png")
        return {
            "model": served.role,
            "objective": res.objective,
            "width": W,
            "height": H,
            "rounds": len(res.rounds),
            "image_url": f"/api/jobs/{ctx.job.id}/files/dream.png",
            "preview": png_url(fit(res.dreamt, STREAM_SIDE)),
            "notes": notes,
            "settings": p,
            "seconds": round(time.perf_counter() - t0, 3),
            "cached": False,
        }

    return run


def stats_job(served: Served):
    """The job function of the dataset statistics (top-9 digits, selectivity) of every
    layer with maps or units, over the real digits the gallery uses."""
    from oipviz.compute.datastats import dataset_stats
    from oipviz.compute.predict import shown_layers
    from oipviz.core.errors import DataError
    from oipviz.data.inputs import dataset_of, real_images

    def run(ctx: JobContext) -> dict:
        t0 = time.perf_counter()
        try:
            x, y, source = real_images(dataset_of(served.loaded), DATA_LIMIT, 0, "all")
            if tuple(x.shape[1:]) != input_geometry(served.loaded):
                raise DataError(
                    f"{source} holds {'×'.join(map(str, x.shape[1:]))} images; "
                    f"{served.name} takes {served.loaded.geometry.describe()}"
                )
        except oipviz.OipvizError as exc:
            served.stats_error = f"no real images for the top-9 and the selectivity: {exc}"
            raise
        ctx.check()
        done = [0]

        def progress(n: int) -> None:
            done[0] += n
            ctx.check()
            ctx.set_progress(done[0] / len(x))

        layers = shown_layers(served.loaded)
        served.stats = dataset_stats(served.loaded, layers, x, y, source, progress=progress)
        return {"digits": int(len(y)), "source": source, "seconds": time.perf_counter() - t0}

    return run


def warm_up(models: dict[str, Served]):
    """The worker's start-up: trace predict, explain and the OIP engine of every layer
    (the main model's last conv layer first), so the first click streams at once; then
    queue the dataset statistics."""

    def startup(worker: Worker) -> None:
        for served in models.values():
            h, w, c = input_geometry(served.loaded)
            x = np.zeros((1, h, w, c), np.float32)
            x[0, h // 4 : 3 * h // 4, w // 2 - 1 : w // 2 + 2] = 1.0
            oipviz.predict(x, served.loaded)
            worker.serve_quick()
            oipviz.explain(x, page_methods(served.loaded), model=served.loaded)
            worker.serve_quick()
        main = models["main"]
        convs = [i.name for i in main.loaded.conv_layers()]
        if convs:
            _trace_oip(main, convs[-1])
        for served in models.values():
            served.stats_job = worker.submit("stats", stats_job(served), {}, internal=True)
        for served in models.values():
            for info in served.loaded.layers:
                if info.units is not None and not (served is main and convs[-1:] == [info.name]):
                    worker.submit(
                        "warm", _warm_job(served, info.name), {"layer": info.name}, internal=True
                    )

    return startup


def _trace_oip(served: Served, layer: str) -> None:
    p = OIP_DEFAULTS
    oipviz.oip(
        layer, [0], served.loaded, inits=1, steps=2, range_mode=p["range"], style=p["style"],
        progress=False, on_block=lambda b: None, block_steps=BLOCK_STEPS,
    )  # fmt: skip


def _warm_job(served: Served, layer: str):
    def run(ctx: JobContext) -> dict:
        t = time.perf_counter()
        _trace_oip(served, layer)
        log.debug("traced the %s OIP engine of %s", layer, served.name)
        return {"seconds": time.perf_counter() - t}

    return run
