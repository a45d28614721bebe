"""Where an OIP ascent starts: multi-scale fluctuation inits (squeezed into the valid pixel
range for ``range_mode='valid'``) or the caller's own images (a warm start)."""

from __future__ import annotations

import numpy as np

from oipviz.core import checks
from oipviz.core.errors import OipvizError
from oipviz.core.inits import fluctuations

INIT_SPREAD = 0.15  # valid range: inits are 0.5 + INIT_SPREAD · fluctuation, in pixels


def check_scale_weights(weights) -> tuple[float, ...]:
    """The 4 weights of the 1, 2, 4 and 7 px fluctuation scales, checked (one-line error)."""
    try:
        w = tuple(checks.number("scale weight", v, 0.0, 1e6) for v in weights)
    except TypeError:
        raise OipvizError(f"bad --scale-weights {weights!r}; give 4 non-negative numbers") from None
    if len(w) != 4 or not any(w):
        raise OipvizError(
            f"bad --scale-weights {list(w)!r}; give 4 non-negative numbers, not all 0"
        )
    return w


def start_images(
    loaded, maps: list[int], inits: int, seed: int, scale_weights, range_mode: str
) -> np.ndarray:
    """The multi-scale fluctuation inits of ``maps`` (map-major), in engine space; squeezed
    into the valid pixel range for ``range_mode='valid'``."""
    x0 = fluctuations(maps, inits, seed, scale_weights, loaded.geometry.shape)
    if range_mode == "valid":
        x0 = loaded.convention.to_engine(np.clip(0.5 + INIT_SPREAD * x0, 0.0, 1.0))
    return x0


def warm_start(init_images, loaded, n_maps: int, inits: int) -> np.ndarray:
    """``init_images`` (M, inits, H, W, C) checked and flattened to the engine's batch."""
    x = checks.finite_array("init_images", init_images)
    want = (n_maps, inits, *loaded.geometry.shape)
    if x.shape != want:
        raise OipvizError(f"init_images has shape {x.shape}; expected {want} (maps, inits, image)")
    return x.reshape(-1, *loaded.geometry.shape)


def starts(loaded, maps, inits, seed, scale_weights, range_mode, init_images) -> np.ndarray:
    """The ascent's starts: random multi-scale inits, or the given ``init_images``."""
    if init_images is None:
        return start_images(loaded, maps, inits, seed, scale_weights, range_mode)
    return warm_start(init_images, loaded, len(maps), inits)
