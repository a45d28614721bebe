"""The cases of bench/engine.py, each run by bench/harness.py in a fresh process.

Each function sets up what it needs (TensorFlow, the bundled model, seeds), warms up (the
engine traces once per shape), times one call and returns a JSON-able dict of measures.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

LAYER, INITS, LR, SEED = "conv3", 8, 0.02, 0


def seeds(n_maps: int, inits: int = INITS, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(maps, pixel seeds): every map ``inits`` times (map-major), seeds uniform in [0, 1]
    (the valid pixel range); the engine cases and tf-keras-vis start from the same ones."""
    maps = np.repeat(np.arange(n_maps), inits)
    x01 = np.random.default_rng(seed).uniform(0.0, 1.0, (len(maps), 28, 28, 1))
    return maps, x01.astype(np.float32)


def conv_macs(loaded, upto: str) -> list[tuple[str, int]]:
    """Forward multiply-adds per image of each Conv2D layer up to and including ``upto``."""
    out = []
    for layer in loaded.model.layers:
        if layer.__class__.__name__ == "Conv2D":
            _, h, w, cout = layer.output.shape
            kh, kw, cin, _ = layer.kernel.shape
            out.append((layer.name, int(h * w * kh * kw * cin * cout)))
        if layer.name == upto:
            break
    return out


def essential_macs(loaded, upto: str) -> list[tuple[str, int]]:
    """Like :func:`conv_macs`, counting only the output rows and columns the fast path
    computes for a head at ``upto`` (the crop of oipviz.core.fastpath)."""
    from oipviz.core.fastpath import FastChain

    fc = FastChain(loaded, [(upto, False)])
    out = []
    for i, (kind, layer) in enumerate(fc.ops[: fc.last + 1]):
        if kind == "conv":
            kh, kw, cin, cout = layer.kernel.shape
            out.append((layer.name, int(fc.crop[i + 1] ** 2 * kh * kw * cin * cout)))
    return out


def flops(loaded, layer: str = LAYER) -> dict:
    """FLOP of one image-step (forward + input-gradient backward), nominal and essential."""
    macs, ess = conv_macs(loaded, layer), essential_macs(loaded, layer)
    flop, flop_ess = 4 * sum(m for _, m in macs), 4 * sum(m for _, m in ess)
    return {
        "flop_per_image_step": flop,
        "essential_flop_per_image_step": flop_ess,
        "flop_formula": "FLOP per image-step = 2 (FLOP/MAC) × 2 (forward + input-gradient "
        "backward) × (" + " + ".join(f"{n} {m:,}" for n, m in macs) + f") MAC = "
        f"{flop / 1e6:.2f} MFLOP; essential (rows/cols {layer} sees): ("
        + " + ".join(f"{n} {m:,}" for n, m in ess)
        + f") MAC = {flop_ess / 1e6:.2f} MFLOP",
    }


def _timed(fn) -> tuple[float, float, object]:
    """(wall seconds, process CPU seconds, result) of fn()."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t, time.process_time() - c, out


def ascent(
    batch: int,
    steps: int,
    range_mode: str = "free",
    style: str = "plain",
    per_image: bool = False,
    map_index: int | None = None,
    layer: str = LAYER,
    lr: float = LR,
    precision: str = "float32",
) -> dict:
    """One timed ``ascend`` call on ``batch`` images for ``steps`` steps, no pruning;
    ``per_image``: a plain loop, one image per call.  The images are the first ``batch`` of
    :func:`seeds` (every map), or ``oip``'s inits of map ``map_index`` (at most ``INITS``).

    ``precision``: of the steps (``bfloat16``: the conv chain in bf16).
    ``range_mode``/``style`` give the transforms of ``oipviz.oip`` (``plan_transforms``);
    ``valid`` also climbs the pre-activation while a map is zero, as ``oip`` does.  The path
    (fast or Keras) follows ``OIPVIZ_FASTPATH`` in the environment.

    Returns
    -------
    dict
        seconds, cpu_seconds, image_steps_per_s (and per CPU-second), gflops (nominal and
        essential), objective means before and after; ``info``: settings and FLOP formula.
    """
    from oipviz.compute.oip import plan_transforms
    from oipviz.core import transforms as T
    from oipviz.core.ascent import ascend
    from oipviz.core.loader import load_model

    loaded = load_model()
    x0, objs = _start(loaded, layer, batch, map_index, range_mode)
    ts = plan_transforms(loaded.convention, range_mode, style)

    def call(x, o, n):
        return ascend(loaded, x, o, steps=n, lr=lr, transforms=ts, prune=False, precision=precision)

    def loop(n):
        return [call(x0[i : i + 1], objs[i : i + 1], n) for i in range(batch)]

    run = loop if per_image else (lambda n: [call(x0, objs, n)])
    run(2)  # warm-up: traces the engine for this shape
    wall, cpu, res = _timed(lambda: run(steps))
    f = flops(loaded, layer)
    rate, work = batch * steps / wall, batch * steps
    info = dict(
        layer=layer, batch=batch, steps=steps, lr=lr, range=range_mode, style=style,
        precision=precision, per_image=per_image, transforms=T.describe(ts),
        maps="all, 8 uniform seeds each" if map_index is None else f"map {map_index}, oip's inits",
        **_path_info(loaded), **f,
    )  # fmt: skip
    return {
        "seconds": wall,
        "cpu_seconds": cpu,
        "image_steps_per_s": rate,
        "image_steps_per_cpu_s": work / cpu,
        "gflops": rate * f["flop_per_image_step"] / 1e9,
        "essential_gflops": rate * f["essential_flop_per_image_step"] / 1e9,
        "objective_start_mean": float(np.mean([r.start for r in res])),
        "objective_final_mean": float(np.mean([r.final for r in res])),
        "info": info,
    }


def one_map(map_index: int = 46, steps: int = 300, repeats: int = 3, layer: str = LAYER) -> dict:
    """A warm process's ``oipviz.oip(layer, map_index, inits=8, steps=steps)`` in the valid
    range, readable style: the live explorer's and a notebook cell's unit (issue #24: ≤ 0.5 s).
    One call first (traces the engine), then the median wall time of ``repeats`` calls.

    Returns
    -------
    dict
        seconds (median), seconds_min, seconds_max, image_steps_per_s, best activation.
    """
    import oipviz
    from oipviz.core.loader import load_model

    loaded = load_model()
    kw = dict(inits=INITS, steps=steps, range_mode="valid", style="readable", progress=False)
    oipviz.oip(layer, map_index, loaded, **kw)  # warm-up: traces the engine
    times, best = [], 0.0
    for _ in range(repeats):
        wall, _cpu, r = _timed(lambda: oipviz.oip(layer, map_index, loaded, **kw))
        times.append(wall)
        best = float(r.best_values[0])
    med = float(np.median(times))
    return {
        "seconds": med,
        "seconds_min": min(times),
        "seconds_max": max(times),
        "image_steps_per_s": INITS * steps / med,
        "best_activation": best,
        "info": {"layer": layer, "map": map_index, "inits": INITS, "steps": steps,
                 "range": "valid", "style": "readable", "repeats": repeats},
    }  # fmt: skip


def _start(loaded, layer: str, batch: int, map_index: int | None, range_mode: str):
    """(start images in engine space, objectives) of an ascent case: map means (in the valid
    range with the pre-activation wake, as ``oip`` does); the first ``batch`` uniform seeds
    of :func:`seeds`, or ``oip``'s own multi-scale inits of map ``map_index``."""
    from oipviz.compute.oip import start_images
    from oipviz.core import objectives as O
    from oipviz.core.inits import DEFAULT_SCALE_WEIGHTS

    if map_index is None:
        maps, x01 = seeds(loaded.layer(layer).units)
        x0 = loaded.convention.to_engine(x01[:batch])
    else:
        maps = np.full(INITS, map_index)
        x0 = start_images(loaded, [map_index], INITS, SEED, DEFAULT_SCALE_WEIGHTS, range_mode)
    if batch > len(maps):
        raise SystemExit(f"batch {batch}: only {len(maps)} start images")
    objs = [O.map_mean(layer, int(m)) for m in maps[:batch]]
    if range_mode == "valid":
        objs = [O.wake(o) for o in objs]
    return x0[:batch], objs


def _path_info(loaded) -> dict:
    """Which path the engine took (fast or Keras) and the TensorFlow switches it saw."""
    engines = loaded.cache.get("engines", {}).values()
    refused = loaded.cache.get("fastpath_refused") or {}
    return {
        "OIPVIZ_FASTPATH": os.environ.get("OIPVIZ_FASTPATH", "1"),
        "fast_path_used": bool(engines) and all(e.fast is not None for e in engines),
        "fastpath_refused": {str(k): str(v) for k, v in refused.items() if v},
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
    }


def sgemm() -> dict:
    """The machine's float32 matmul rate now (2048×2048, numpy and tf.matmul), GFLOP/s."""
    from sgemm import sgemm_gflops

    g = sgemm_gflops(reps=3, rounds=1)
    return {"numpy_gflops": g["numpy"], "tf_gflops": g["tf"]}


def peer_data(path: str, layer: str = LAYER) -> dict:
    """Write what the tf-keras-vis worker needs (seeds, maps, the model and its
    standardization) to ``path`` (.npz)."""
    from oipviz.core.loader import load_model

    loaded = load_model()
    maps, x01 = seeds(loaded.layer(layer).units)
    np.savez(
        path, x=x01, maps=maps, layer=layer, mean=loaded.convention.mean,
        std=loaded.convention.std, model=str(loaded.path),
    )  # fmt: skip
    return {"path": path, "images": len(maps)}


def quality(layer: str = LAYER, inits: int = INITS, steps: int = 600) -> dict:
    """Share of live maps whose OIP (``inits`` × ``steps``, free range, plain) has a higher
    map mean than the largest one the map reaches on any of the 5,000 offline digits."""
    from oipviz.compute.oip import oip
    from oipviz.core.loader import load_model
    from oipviz.data.sources import mnist_digits

    loaded = load_model()
    t = time.perf_counter()
    run = oip(layer, None, loaded, inits=inits, steps=steps, progress=False)
    oip_s = time.perf_counter() - t
    x01, _, source = mnist_digits(split="all")
    acts = loaded.engine_model([layer]).predict(
        loaded.convention.to_engine(x01), batch_size=1000, verbose=0
    )
    acts = acts[0] if isinstance(acts, list) else acts
    digit_max = acts.mean(axis=(1, 2)).max(axis=0)  # (maps,) largest map mean on a digit
    live = np.array([s == "live" for s in run.status])
    best = run.best_values
    above = live & (best > digit_max)
    ratio = best[live] / np.maximum(digit_max[live], 1e-12)
    return {
        "epochs": steps,
        "inits": inits,
        "digits": int(len(x01)),
        "digits_source": source,
        "live_maps": int(live.sum()),
        "dead_maps": int((~live).sum()),
        "live_maps_above_best_digit": int(above.sum()),
        "fraction_above_best_digit": float(above.sum() / max(live.sum(), 1)),
        "median_oip_over_best_digit": float(np.median(ratio)) if live.any() else None,
        "oip_seconds": round(oip_s, 1),
        "oip_image_steps_per_second": round(len(run.maps) * inits * steps / oip_s, 1),
        "per_map": {
            "oip_best": [round(float(v), 5) for v in best],
            "digit_max": [round(float(v), 5) for v in digit_max],
        },
    }
