"""Optimal input patterns (OIPs): many maps × many inits, one batched ascent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from oipviz.compute.plan import PARAMS as PARAMS
from oipviz.compute.plan import RANGES, plan_transforms
from oipviz.compute.plan import STYLES as STYLES
from oipviz.compute.plan import resolve_param as resolve_param
from oipviz.compute.plan import valid_range as valid_range
from oipviz.compute.starts import INIT_SPREAD as INIT_SPREAD
from oipviz.compute.starts import check_scale_weights, starts
from oipviz.compute.starts import start_images as start_images
from oipviz.core import checks
from oipviz.core import objectives as O
from oipviz.core import transforms as T
from oipviz.core.ascent import DEFAULT_CHUNK, Block, ascend
from oipviz.core.convention import InputConvention
from oipviz.core.errors import LayerError, OipvizError
from oipviz.core.inits import DEFAULT_SCALE_WEIGHTS
from oipviz.core.progress import reporter
from oipviz.core.status import live_or_dead

OBJECTIVE_KINDS = ("mean", "max", "unit", "logit")
MAX_INITS = 4096
#: array fields of an OIPRun, saved and loaded by :meth:`OIPRun.to_arrays`
_ARRAYS = ("maps", "images", "start", "final", "history", "history_steps")


@dataclass
class OIPRun:
    """Result of :func:`oip`: arrays are map-major, images in engine space."""

    layer: str
    kind: str
    maps: list[int]
    images: np.ndarray  # (M, inits, H, W, C) in the model's geometry
    start: np.ndarray  # (M, inits) objective value of each init
    final: np.ndarray  # (M, inits) objective value reached
    history: np.ndarray  # (T, M, inits)
    history_steps: np.ndarray  # (T,)
    steps_done: int
    interrupted: bool
    convention: InputConvention | None = field(repr=False, default=None)
    transforms: tuple = ()
    range_mode: str = "free"
    precision: str = "float32"  # of the ascent steps (values are float32)
    steps_each: np.ndarray | None = None  # (M, inits) steps taken (fewer: plateau stop)

    @property
    def best(self) -> np.ndarray:
        """Index of the best init per map."""
        return self.final.argmax(axis=1)

    @property
    def best_images(self) -> np.ndarray:
        """(M, H, W) best OIP per map (M, H, W, 3 for colour models), engine space."""
        return plane(self.images[np.arange(len(self.maps)), self.best])

    @property
    def best_values(self) -> np.ndarray:
        return self.final.max(axis=1)

    @property
    def status(self) -> list[str]:
        """'live', or 'dead' when no init moved the map above zero."""
        return [live_or_dead(v) for v in self.best_values]

    def _convention(self) -> InputConvention:
        """The model's input convention, which maps engine space back to pixels."""
        if self.convention is None:
            raise OipvizError(
                "this OIPRun has no input convention; set run.convention = loaded.convention"
            )
        return self.convention

    def pixels(self) -> np.ndarray:
        """Best OIPs mapped back to pixel space (unclipped; 0 = black, 1 = white)."""
        return self._convention().from_engine(self.best_images)

    def shown(self, z: np.ndarray) -> np.ndarray:
        """How an image of this run is drawn: exact pixels for ``valid`` runs, min-max
        scaled (the articles' plots) for ``free`` ones."""
        from oipviz.render.images import normalize

        if self.range_mode == "valid":
            return np.clip(self._convention().from_engine(np.asarray(z).squeeze()), 0.0, 1.0)
        return normalize(z)

    def uniqueness(self, max_shift: int = 7) -> tuple[np.ndarray, np.ndarray]:
        """Per map: the inits' aligned similarity matrix (M,K,K) and its median (M,)."""
        from oipviz.compute.uniqueness import median_similarity, similarity_matrix

        sims = np.stack(
            [similarity_matrix(plane(self.images[k]), max_shift) for k in range(len(self.maps))]
        )
        return sims, np.array([median_similarity(s) for s in sims])

    def to_arrays(self) -> dict:
        """The arrays to store (for resume); :meth:`from_arrays` reverses it."""
        out = {k: np.asarray(getattr(self, k)) for k in _ARRAYS}
        out.update(
            layer=np.asarray(self.layer),
            kind=np.asarray(self.kind),
            steps_done=np.asarray(self.steps_done),
            range_mode=np.asarray(self.range_mode),
            precision=np.asarray(self.precision),
        )
        if self.steps_each is not None:
            out["steps_each"] = np.asarray(self.steps_each)
        return out

    @classmethod
    def from_arrays(
        cls, a: dict, convention: InputConvention | None = None, transforms: tuple = ()
    ) -> OIPRun:
        return cls(
            str(a["layer"]),
            str(a["kind"]),
            [int(m) for m in a["maps"]],
            a["images"],
            a["start"],
            a["final"],
            a["history"],
            a["history_steps"],
            int(a["steps_done"]),
            False,
            convention,
            transforms,
            str(a.get("range_mode", "free")),
            str(a.get("precision", "float32")),
            a.get("steps_each"),
        )

    @classmethod
    def concat(cls, runs: list[OIPRun]) -> OIPRun:
        """One run from runs over disjoint groups of maps (same settings)."""
        r0 = runs[0]
        return cls(
            r0.layer,
            r0.kind,
            [m for r in runs for m in r.maps],
            np.concatenate([r.images for r in runs]),
            np.concatenate([r.start for r in runs]),
            np.concatenate([r.final for r in runs]),
            np.concatenate([r.history for r in runs], axis=1),
            r0.history_steps,
            min(r.steps_done for r in runs),
            any(r.interrupted for r in runs),
            r0.convention,
            r0.transforms,
            r0.range_mode,
            r0.precision,
            None
            if any(r.steps_each is None for r in runs)
            else np.concatenate([r.steps_each for r in runs]),
        )

    def sheet(self):
        """A contact sheet (PIL image): every map's best OIP, or every init of one map."""
        from oipviz.render.images import contact_sheet

        if len(self.maps) == 1:
            return contact_sheet(
                [self.shown(i) for i in plane(self.images[0])],
                [f"init {i}: {v:.3g}" for i, v in enumerate(self.final[0])],
                cols=min(4, self.images.shape[1]),
                status=[live_or_dead(v) for v in self.final[0]],
                title=f"{self.layer} map {self.maps[0]}: all inits",
            )
        return contact_sheet(
            [self.shown(b) for b in self.best_images],
            [str(m) for m in self.maps],
            status=self.status,
            cell=56,
            cols=min(16, len(self.maps)),
            title=f"{self.layer}: best OIP per map",
        )

    def _repr_html_(self) -> str:
        from oipviz.render.notebook import card

        st = self.status
        best_map = self.maps[int(self.best_values.argmax())]
        return card(
            f"OIPs of {self.layer}",
            {
                "maps": len(self.maps),
                "inits per map": self.images.shape[1],
                "steps": self.steps_done,
                "live / dead": f"{st.count('live')} / {st.count('dead')}",
                "best activation": f"{self.best_values.max():.4g} (map {best_map})",
                "interrupted": self.interrupted,
            },
            self.sheet(),
        )


def plane(images: np.ndarray) -> np.ndarray:
    """Images (..., H, W, C) as pictures: (..., H, W) for grey, (..., H, W, 3) for colour."""
    return images[..., 0] if images.shape[-1] == 1 else images


def objective_for(loaded, layer: str, m: int, kind: str = "mean") -> O.Objective:
    """The objective for map/unit ``m`` of ``layer`` (``kind``: mean, max, unit, logit)."""
    info = loaded.layer(layer)
    if kind not in OBJECTIVE_KINDS:
        raise LayerError(f"unknown objective {kind!r}; choose from {', '.join(OBJECTIVE_KINDS)}")
    if info.is_conv:
        if kind not in ("mean", "max"):
            raise LayerError(f"objective {kind!r} needs a dense layer; {info.name} is a conv layer")
        return (O.map_mean if kind == "mean" else O.map_max)(info.name, m)
    if kind == "logit":
        return O.class_logit(info.name, m)
    if kind == "max":
        raise LayerError(f"objective 'max' needs a conv layer; {info.name} is dense")
    return O.dense_unit(info.name, m)


def map_objective(loaded, layer: str, m: int) -> O.Objective:
    """The objective of map (or unit) ``m`` of ``layer`` that the precursor climbs: the map
    mean of a conv layer, the unit of a Dense layer (the layer and index are checked)."""
    info = loaded.unit_layer(layer)
    loaded.check_maps(info.name, [m])
    return objective_for(loaded, info.name, m, "mean" if info.is_conv else "unit")


def _run_of(r, layer, kind, maps, inits, loaded, transforms, range_mode) -> OIPRun:
    """The OIPRun of an ascent over maps × inits (map-major)."""
    M, shape = len(maps), (len(maps), inits)
    return OIPRun(
        layer, kind, maps, r.images.reshape(*shape, *loaded.geometry.shape),
        r.start.reshape(shape), r.final.reshape(shape), r.history.reshape(-1, M, inits),
        r.history_steps, r.steps_done, r.interrupted, loaded.convention, transforms,
        range_mode, r.precision, None if r.steps_each is None else r.steps_each.reshape(shape),
    )  # fmt: skip


def _checked_transforms(transforms, range_mode: str) -> tuple:
    if range_mode not in RANGES:
        raise OipvizError(f"unknown range {range_mode!r}; choose from {', '.join(RANGES)}")
    return T.check(transforms)


def _objectives(loaded, layer: str, maps, kind: str, inits: int, range_mode: str):
    """(the layer, its maps checked, one objective per image, map-major)."""
    info = loaded.unit_layer(layer)
    maps = loaded.check_maps(
        info.name, range(info.units) if maps is None else np.atleast_1d(maps).tolist()
    )
    objs = [objective_for(loaded, info.name, m, kind) for m in maps for _ in range(inits)]
    return info, maps, [O.wake(o) for o in objs] if range_mode == "valid" else objs


def oip(
    layer: str, maps=None, model=None, inits: int = 8, steps: int = 600, lr: float = 0.02,
    seed: int = 0, kind: str = "mean", scale_weights=DEFAULT_SCALE_WEIGHTS, jitter: int = 0,
    tv: float = 0.0, blur: float = 0.0, range_mode: str = "free", style: str = "plain",
    param: str = "pixel", transforms=None, chunk: int = DEFAULT_CHUNK,
    progress: Callable[[int], None] | bool | None = None, precision: str = "float32",
    init_images: np.ndarray | None = None, on_block: Callable[[Block], None] | None = None,
    block_steps: int | None = None, plateau: float = 0.0,
) -> OIPRun:  # fmt: skip
    """Optimal input patterns: ``inits`` starts per map of ``layer``, all in one batch.

    Parameters
    ----------
    layer : str
        A conv layer (its maps) or Dense layer (its units).
    maps : int, list of int or None
        The maps (None: all of them).
    model : str, Path, LoadedModel or None
        The model (None: the bundled seed CNN).
    inits, steps : int
        Starts per map; ascent steps (>= 1).
    lr : float
        Step size (RMS of each step in engine space).
    seed : int
        Seeds the inits and the random transforms.
    kind : str
        ``mean``/``max`` of a conv map; ``unit``/``logit`` of a Dense layer.
    scale_weights : sequence of float
        Weights of the fluctuations on 1, 2, 4 and 7 px cells (on 28×28; the same fractions
        of other sizes).
    jitter, tv, blur : int, float, float
        Transforms added to the style's (:func:`plan_transforms`): jitter in px, a total
        variation weight, a gradient blur sigma.
    range_mode : str
        ``free`` (the articles') or ``valid`` (real inputs: in-range inits, projected steps,
        a map at zero climbs its pre-activation).
    style : str
        ``plain`` or ``readable`` (jitter, scale, rotation, blur, relative TV).
    param : str
        ``pixel`` (the ascent moves pixels), ``spectral`` (lucid's Fourier spectrum, with
        decorrelated colour for RGB models) or ``auto`` (:func:`resolve_param`).
    transforms : sequence, optional
        Replaces the transform list.
    chunk : int
        Images per engine call.
    progress : callable, False or None
        ``f(image_steps)``, False for silence, None for a progress bar.
    precision : str
        Of the ascent steps: ``float32``, ``bfloat16`` or ``auto`` (values are float32).
    init_images : ndarray, optional
        Engine-space starts (maps, inits, H, W, C) instead of random ones (a warm start).
    on_block, block_steps, plateau : optional
        Passed to :func:`oipviz.core.ascent.ascend` (streaming; ``plateau`` > 0: an image
        stops once it rose by less than that fraction over 50 steps, see ``steps_each``).

    Returns
    -------
    OIPRun
        With the activation of every final image.
    """
    from oipviz.core.loader import as_loaded
    from oipviz.core.precision import check as check_precision

    inits, steps = checks.integer("inits", inits, 1, MAX_INITS), checks.steps(steps)
    lr, seed, scale_weights = checks.lr(lr), checks.seed(seed), check_scale_weights(scale_weights)
    check_precision(precision)
    loaded = as_loaded(model)
    if transforms is None:
        transforms = plan_transforms(loaded.convention, range_mode, style, jitter, tv, blur, param)
    transforms = _checked_transforms(transforms, range_mode)
    info, maps, objs = _objectives(loaded, layer, maps, kind, inits, range_mode)
    x0 = starts(loaded, maps, inits, seed, scale_weights, range_mode, init_images)
    with reporter(progress, len(objs) * steps, f"{info.name}: OIPs") as tick:
        r = ascend(
            loaded, x0, objs, steps=steps, lr=lr, transforms=transforms, seed=seed, chunk=chunk,
            progress=tick, precision=precision, on_block=on_block, block_steps=block_steps,
            plateau=plateau,
        )  # fmt: skip
    return _run_of(r, info.name, kind, maps, inits, loaded, transforms, range_mode)
