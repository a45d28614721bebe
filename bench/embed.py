"""Benchmark: openTSNE (what ``oipviz embed`` uses) against scikit-learn's TSNE on the
same activation vectors (not a test).

The vectors: ``--layer`` (default dense1) of the bundled model for ``--samples`` (5,000)
real digits, through oipviz's own forward pass.  Both run t-SNE with perplexity 30, PCA
initialisation and a fixed seed from the same 50 principal components (what
``oipviz embed`` feeds t-SNE for wide layers; dense1's 70 columns are used as they are);
openTSNE as ``oipviz embed`` runs it (:func:`oipviz.compute.space.project.embed_2d`:
Barnes-Hut gradients below 10,000 points, else FFT; 375 iterations; exact neighbours),
scikit-learn with Barnes-Hut (its defaults).  Each runs with one thread and with all
cores.  Printed and written to bench/results/embed.json: wall
and process-CPU seconds, the kNN class agreement (k=10) of each embedding, the ratios, and
the CPU (model, SIMD flags, cores) and load average, since a shared machine changes
everything.

    python bench/embed.py                 # about 5-10 minutes on 2 busy cores
    python bench/embed.py --samples 2000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import cpu_info  # noqa: E402  (the same CPU record as the other benches)


def timed(fn):
    """(result, wall seconds, process CPU seconds) of fn()."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def run_opentsne(z, seed, jobs):
    from oipviz.compute.space.project import embed_2d

    return embed_2d(z, "tsne", seed, 30.0, jobs)[0]  # what `oipviz embed` runs


def run_sklearn(z, seed, jobs):
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    with threadpool_limits(jobs):  # its Barnes-Hut gradient uses OpenMP threads
        return TSNE(perplexity=30, init="pca", random_state=seed, n_jobs=jobs).fit_transform(z)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layer", default="dense1")
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "embed.json"))
    args = ap.parse_args()

    import openTSNE
    import sklearn

    from oipviz.compute.space.inputs import layer_features, sample_digits
    from oipviz.compute.space.project import PCA_DIMS, knn_agreement, reduce_dims
    from oipviz.core.loader import load_model
    from oipviz.core.outputs import write_json

    load_start = os.getloadavg()[0]
    loaded = load_model()
    digits = sample_digits(args.samples)
    feats, _ = layer_features(loaded, args.layer, digits.x01)
    z = reduce_dims(feats, PCA_DIMS, args.seed).astype(np.float64)
    y = digits.labels
    cores = os.cpu_count() or 1
    result = {
        "bench": "embed",
        "cpu": cpu_info(),
        "load_average_start": round(load_start, 2),
        "layer": args.layer,
        "samples": len(y),
        "features": feats.shape[1],
        "tsne_input_dims": z.shape[1],
        "perplexity": 30,
        "seed": args.seed,
        "versions": {"openTSNE": openTSNE.__version__, "scikit-learn": sklearn.__version__},
        "knn_agreement_features": knn_agreement(feats, y),
        "runs": {},
    }
    print(
        f"{args.layer}: {len(y)} digits, {feats.shape[1]}-D (t-SNE input {z.shape[1]}-D); "
        f"kNN agreement in feature space {result['knn_agreement_features']:.4f}"
    )
    for name, fn in (("openTSNE", run_opentsne), ("sklearn", run_sklearn)):
        for jobs in sorted({1, cores}):
            coords, wall, cpu = timed(lambda fn=fn, jobs=jobs: fn(z, args.seed, jobs))
            agree = knn_agreement(coords, y)
            key = f"{name}_{jobs}thread{'s' if jobs > 1 else ''}"
            result["runs"][key] = {
                "wall_seconds": round(wall, 2),
                "cpu_seconds": round(cpu, 2),
                "knn_agreement_2d": round(agree, 4),
                "load_average_after": round(os.getloadavg()[0], 2),
            }
            print(
                f"{key:20s} wall {wall:7.1f} s  CPU {cpu:7.1f} s  kNN agreement {agree:.4f}  "
                f"(load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    runs = result["runs"]
    best = {
        n: min((r for k, r in runs.items() if k.startswith(n)), key=lambda r: r["wall_seconds"])
        for n in ("openTSNE", "sklearn")
    }
    result["ratio_sklearn_over_opentsne_wall_best"] = round(
        best["sklearn"]["wall_seconds"] / best["openTSNE"]["wall_seconds"], 2
    )
    result["ratio_sklearn_over_opentsne_cpu_1thread"] = round(
        runs["sklearn_1thread"]["cpu_seconds"] / runs["openTSNE_1thread"]["cpu_seconds"], 2
    )
    result["load_average_end"] = round(os.getloadavg()[0], 2)
    print(
        f"sklearn / openTSNE: best wall {result['ratio_sklearn_over_opentsne_wall_best']}×, "
        f"1-thread CPU {result['ratio_sklearn_over_opentsne_cpu_1thread']}×"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)  # strict JSON, atomic
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
