"""Benchmark of THE ascent engine (oipviz.core.ascent.ascend) on conv3 (not a test).

Every case below runs in its own fresh process, ``--rounds`` times, interleaved (A B C ...,
then ... C B A), through bench/harness.py; ratios are computed per round (A_i / B_i), so
both sides of a ratio share the machine's load of that moment.  The cases (engine_cases.py):

* ``free_1024``: the batched engine, 128 conv3 maps × 8 seeds = 1,024 images, ``--steps``
  steps, free range, plain style, fast path (oipviz.core.fastpath); no pruning;
* ``free_8``: 8 images × ``--small-steps`` steps (its rate as a share of the big batch's):
  map 46's 8 multi-scale inits, as ``oipviz oip --layer conv3 --map 46`` starts;
* ``readable_1024`` and ``readable_8``: the same with ``range_mode="valid"``,
  ``style="readable"`` (``plan_transforms``: jitter, scale, rotate, blur, relative TV, the
  valid-range clip; the pre-activation wake), and ``valid_plain_1024`` (valid, plain), so a
  readable step's cost splits into range and style;
* ``keras_1024``: the big batch on the plain Keras path (``OIPVIZ_FASTPATH=0``);
* ``per_image``: the engine fed one image at a time (``--single`` of map 46's inits,
  ``--steps`` each);
* ``free_1024_bf16``, ``readable_1024_bf16``: the big batches with ``--precision bfloat16``
  (the conv chain in bf16; on a CPU with AMX oneDNN runs it on the tile units);
* ``one_map``: a warm ``oipviz.oip("conv3", 46)`` call, 8 inits × ``--one-map-steps`` steps,
  valid range, readable style (the live explorer's unit; the issue's ≤ 0.5 s), median of 3;
* ``sgemm``: the machine's float32 matmul rate (2048×2048, numpy and tf.matmul), for the
  share of it the engine reaches (nominal conv FLOPs of an image-step; essential FLOPs,
  without the rows and columns the fast path crops away, beside);
* ``tf_keras_vis_1024``: tf-keras-vis ActivationMaximization (bench/peers/tfkv_engine.py) in
  its side venv bench/.venvs/tfkv (built here on first use, as ``bench/explain.py --setup``
  does) on the same model, layer, score, batch, steps and seeds; SGD(lr), no regularizers.

Then, once, in a fresh process: quality, the fraction of live conv3 maps whose OIP
(8 inits × ``--epochs`` steps) has a higher map mean than the largest one that map reaches on
any of the 5,000 offline MNIST digits.

    python bench/engine.py                  # 5 rounds (about 15 minutes on 2 busy cores)
    python bench/engine.py --no-quality     # speed only
    python bench/engine.py --quick          # smoke run: tiny settings, bench/results/quick/
Writes bench/results/engine.json (every value of every round, the machine, the load).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harness  # noqa: E402
from harness import Case, Ratio  # noqa: E402
from machine import cpu_info  # noqa: E402, F401  (the other benches import it from here)

TFKV_WORKER = HERE / "peers" / "tfkv_engine.py"
SMALL_MAP = 46  # the small batch: one map's 8 inits, as `oipviz oip --layer conv3 --map 46`
SEEDS = (
    "batch 1,024: uniform in [0,1] pixels (the peer's too), in engine space; 8 images "
    "and per-image: map 46's multi-scale inits (oip's); no pruning"
)
QUICK = {"steps": 5, "small_steps": 100, "single": 2, "epochs": 20, "one_map_steps": 20}
RATE = "image_steps_per_s"
#: round order (reversed every other round): free_1024, the hub of most ratios, in the middle,
#: so the two sides of a ratio run close together in time
ORDER = ("per_image", "tf_keras_vis_1024", "keras_1024", "free_8", "free_1024", "readable_1024",
         "sgemm", "valid_plain_1024", "readable_8", "one_map", "free_1024_bf16",
         "readable_1024_bf16")  # fmt: skip
RATIOS = (
    ("small_share_free", ("free_8", RATE), ("free_1024", RATE)),
    ("small_share_readable", ("readable_8", RATE), ("readable_1024", RATE)),
    ("readable_step_cost", ("readable_1024", "seconds"), ("free_1024", "seconds")),
    ("readable_style_cost", ("readable_1024", "seconds"), ("valid_plain_1024", "seconds")),
    ("valid_range_cost", ("valid_plain_1024", "seconds"), ("free_1024", "seconds")),
    ("readable_small_step_cost", ("readable_8", "seconds"), ("free_8", "seconds")),
    ("fast_over_keras", ("free_1024", RATE), ("keras_1024", RATE)),
    ("bf16_over_f32_free", ("free_1024_bf16", RATE), ("free_1024", RATE)),
    ("bf16_over_f32_readable", ("readable_1024_bf16", RATE), ("readable_1024", RATE)),
    ("batched_over_per_image", ("free_1024", RATE), ("per_image", RATE)),
    ("engine_fraction_of_tf_sgemm", ("free_1024", "gflops"), ("sgemm", "tf_gflops")),
    ("engine_fraction_of_numpy_sgemm", ("free_1024", "gflops"), ("sgemm", "numpy_gflops")),
    ("engine_essential_fraction_of_tf_sgemm", ("free_1024", "essential_gflops"),
     ("sgemm", "tf_gflops")),
    ("engine_over_tf_keras_vis", ("free_1024", RATE), ("tf_keras_vis_1024", RATE)),
)  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None, help="steps of the big-batch cases (40)")
    ap.add_argument("--small-steps", type=int, default=None, help="steps of the 8-image cases "
                    "(1200)")  # fmt: skip
    ap.add_argument("--single", type=int, default=None, help="images of the per-image loop (8)")
    ap.add_argument("--epochs", type=int, default=None, help="OIP steps of the quality check "
                    "(600)")  # fmt: skip
    ap.add_argument("--one-map-steps", type=int, default=None, help="steps of the warm one-map "
                    "oip() call (300)")  # fmt: skip
    ap.add_argument("--no-quality", action="store_true", help="skip the OIP-vs-digits check")
    ap.add_argument("--no-peers", action="store_true", help="skip tf-keras-vis")
    harness.add_arguments(ap, rounds=5, quick_rounds=2)
    args = ap.parse_args(argv)
    full = {"steps": 40, "small_steps": 1200, "single": 8, "epochs": 600, "one_map_steps": 300}
    for key, value in (QUICK if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if not 1 <= args.single <= 8:
        ap.error("--single: 1 to 8 (the per-image loop takes map 46's 8 inits)")
    return args


def peer_python(args: argparse.Namespace) -> tuple[Path | None, str | None]:
    """The side venv's python (built on first use), or None and why not."""
    if args.no_peers:
        return None, "skipped (--no-peers)"
    from explain import build_venv  # the side-venv builder the explain bench uses

    print("tf-keras-vis side venv: bench/.venvs/tfkv (built on first use)", flush=True)
    return build_venv("tfkv")


def make_cases(args: argparse.Namespace, peer: Path | None, work: Path) -> list[Case]:
    """The timed cases (see the module docstring); the peer's input goes to ``work``."""
    big = {"batch": 1024, "steps": args.steps}
    small = {"batch": 8, "steps": args.small_steps, "map_index": SMALL_MAP}
    valid = {"range_mode": "valid"}
    readable = {"range_mode": "valid", "style": "readable"}
    call = "engine_cases:ascent"
    cases = [
        Case("free_1024", call=call, kwargs=big),
        Case("free_8", call=call, kwargs=small),
        Case("readable_1024", call=call, kwargs={**big, **readable}),
        Case("readable_8", call=call, kwargs={**small, **readable}),
        Case("valid_plain_1024", call=call, kwargs={**big, **valid}),
        Case("free_1024_bf16", call=call, kwargs={**big, "precision": "bfloat16"}),
        Case("readable_1024_bf16", call=call, kwargs={**big, **readable, "precision": "bfloat16"}),
        Case("keras_1024", call=call, kwargs=big, env={"OIPVIZ_FASTPATH": "0"}),
        Case(
            "per_image",
            call=call,
            kwargs={**small, "batch": args.single, "steps": args.steps, "per_image": True},
        ),
        Case("sgemm", call="engine_cases:sgemm"),
        Case("one_map", call="engine_cases:one_map", kwargs={"steps": args.one_map_steps}),
    ]
    if peer is not None:
        data = work / "tfkv.npz"
        harness.run_once(Case("peer_data", call="engine_cases:peer_data",
                              kwargs={"path": str(data)}))  # fmt: skip
        argv = [str(peer), str(TFKV_WORKER), str(data), str(args.steps), "0.02", "1024"]
        cases.append(Case("tf_keras_vis_1024", argv=argv))
    return sorted(cases, key=lambda c: ORDER.index(c.name))


def brief(s: dict) -> dict:
    """A summary without its raw values (they stay in ``cases`` and ``ratios``)."""
    return {k: v for k, v in s.items() if k != "values"}


def headline(res: dict) -> dict:
    """The numbers the issue asks for, each a median with min, max and spread."""
    c, q = res["cases"], res["ratios"]

    def m(case: str, measure: str = RATE) -> dict:
        return brief(c.get(case, {}).get("measures", {}).get(measure, {"n": 0}))

    return {
        "big_batch_rate_free": m("free_1024"),
        "small_batch_share_free": brief(q["small_share_free"]),
        "big_batch_rate_valid_readable": m("readable_1024"),
        "small_batch_share_valid_readable": brief(q["small_share_readable"]),
        "readable_step_cost_over_plain_step": brief(q["readable_step_cost"]),
        "readable_style_cost_over_valid_plain": brief(q["readable_style_cost"]),
        "valid_range_cost_over_free_plain": brief(q["valid_range_cost"]),
        "fast_over_keras_path": brief(q["fast_over_keras"]),
        "batched_over_per_image": brief(q["batched_over_per_image"]),
        "engine_over_tf_keras_vis": brief(q.get("engine_over_tf_keras_vis", {"n": 0})),
        "engine_fraction_of_tf_sgemm": brief(q["engine_fraction_of_tf_sgemm"]),
        "one_map_valid_readable_seconds": m("one_map", "seconds"),
        "bf16_over_f32_free": brief(q["bf16_over_f32_free"]),
        "bf16_over_f32_readable": brief(q["bf16_over_f32_readable"]),
    }


def describe(h: dict, args: argparse.Namespace) -> str:
    """The headline as sentences (medians, [min - max] over the rounds)."""

    def f(s: dict, fmt: str = ".0f") -> str:
        if not s.get("n"):
            return "n/a"
        return f"{s['median']:{fmt}} [{s['min']:{fmt}} - {s['max']:{fmt}}]"

    return "\n".join([
        f"free range, plain:      1,024 images × {args.steps} steps {f(h['big_batch_rate_free'])}"
        f" image-steps/s; 8 images × {args.small_steps} steps at "
        f"{f(h['small_batch_share_free'], '.0%')} of that rate",
        f"valid range, readable:  1,024 images {f(h['big_batch_rate_valid_readable'])} "
        f"image-steps/s; 8 images at {f(h['small_batch_share_valid_readable'], '.0%')} of that",
        f"a valid+readable step costs {f(h['readable_step_cost_over_plain_step'], '.2f')} "
        f"free plain steps (style alone {f(h['readable_style_cost_over_valid_plain'], '.2f')}, "
        f"valid range alone {f(h['valid_range_cost_over_free_plain'], '.2f')})",
        f"fast path / Keras path {f(h['fast_over_keras_path'], '.2f')}; batched / one image "
        f"at a time {f(h['batched_over_per_image'], '.1f')}; engine / tf-keras-vis "
        f"{f(h['engine_over_tf_keras_vis'], '.1f')}; engine = "
        f"{f(h['engine_fraction_of_tf_sgemm'], '.0%')} of tf.matmul sgemm",
        f"one map, valid+readable, 8 inits × {args.one_map_steps} steps, warm: "
        f"{f(h['one_map_valid_readable_seconds'], '.2f')} s",
        f"bfloat16 / float32 steps: free {f(h['bf16_over_f32_free'], '.2f')}, valid+readable "
        f"{f(h['bf16_over_f32_readable'], '.2f')} (CPU flags in the result's machine record)",
    ])  # fmt: skip


def quality(args: argparse.Namespace) -> dict | None:
    """The OIP-vs-digits check in a fresh process (not timed across rounds)."""
    if args.no_quality:
        return None
    case = Case("quality", call="engine_cases:quality", kwargs={"steps": args.epochs})
    try:
        q = harness.run_once(case)
    except harness.CaseFailed as exc:
        return {"error": str(exc)}
    print(
        f"quality: {q['live_maps_above_best_digit']}/{q['live_maps']} live conv3 maps "
        f"({q['fraction_above_best_digit']:.1%}) have an OIP (8 inits × {args.epochs} steps) "
        f"above the best of {q['digits']} digits (median OIP/best-digit "
        f"{q['median_oip_over_best_digit'] or 0:.2f}; {q['dead_maps']} dead maps)"
    )
    return q


def main(argv=None) -> None:
    args = parse_args(argv)
    peer, peer_note = peer_python(args)
    if peer_note:
        print(f"tf-keras-vis: {peer_note}", flush=True)
    work = tempfile.TemporaryDirectory(prefix="oipviz_bench_engine_")
    cases = make_cases(args, peer, Path(work.name))
    names = {c.name for c in cases}
    ratios = [Ratio(n, a, b) for n, a, b in RATIOS if a[0] in names and b[0] in names]
    keys = ("steps", "small_steps", "single", "epochs", "one_map_steps")
    settings = {k: getattr(args, k) for k in keys}
    settings.update(quick=args.quick, layer="conv3", lr=0.02, peer=peer_note or "tf-keras-vis",
                    seeds=SEEDS)  # fmt: skip
    res = harness.run("engine", cases, ratios, harness.rounds_of(args), args.order, args.seed,
                      settings)  # fmt: skip
    work.cleanup()
    res["headline"] = headline(res)
    res["quality"] = quality(args)
    shown = ("image_steps_per_s", "seconds", "objective_final_mean", "process_seconds")
    print(harness.table(res, {c.name: shown + ("numpy_gflops", "tf_gflops") for c in cases}))
    print(describe(res["headline"], args))
    print(f"wrote {harness.write(res, harness.result_path(args, 'engine'))}")
    if any(c["errors"] for c in res["cases"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
