"""float32 matrix-multiply rate of this machine (numpy and tf.matmul), for the benches.

python bench/sgemm.py            # prints GFLOP/s of a 2048×2048 sgemm, numpy and tf
"""

from __future__ import annotations

import time

import numpy as np


def sgemm_gflops(n: int = 2048, reps: int = 5, rounds: int = 3) -> dict[str, float]:
    """GFLOP/s (2·n³ per product) of an n×n float32 matmul: median over ``rounds`` of the mean
    of ``reps`` products, for numpy (its BLAS) and tf.matmul (inside a tf.function)."""
    from oipviz.core.tfenv import import_keras

    import_keras()  # TensorFlow with the package's environment (oneDNN flag, quiet logs)
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    ta, tb = tf.constant(a), tf.constant(b)
    mm = tf.function(lambda x, y: tf.matmul(x, y))
    runs = {"numpy": lambda: a @ b, "tf": lambda: mm(ta, tb).numpy()}
    for f in runs.values():
        f()  # warm-up (BLAS threads, tracing)
    rates: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for k, f in runs.items():  # interleaved, so both see the same load
            t = time.perf_counter()
            for _ in range(reps):
                f()
            rates[k].append(2.0 * n**3 * reps / (time.perf_counter() - t) / 1e9)
    return {k: float(np.median(v)) for k, v in rates.items()}


if __name__ == "__main__":
    for k, v in sgemm_gflops().items():
        print(f"{k:6s} sgemm 2048x2048: {v:6.1f} GFLOP/s")
