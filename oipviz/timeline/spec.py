"""What a timeline tracks and when: the maps (:class:`TrackSpec`) and the points
(:class:`Schedule`), checked before any training starts.  No TensorFlow here.

Point 0 is the model before training.  ``every`` is ``"epoch"`` (a point after every
epoch), a number of batches (``50``: a point every 50 batches) or a list of epochs
(``[0, 1, 2, 5, 10]``: points after those epochs; 0 = before training).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from oipviz.core import checks
from oipviz.core.errors import LayerError, OipvizError

#: the warm start's defaults, measured by ``bench/track.py --study warm`` on the seed CNN
#: (16 conv3 maps, every epoch of a 10-epoch training): 15 steps at lr 0.3 from the
#: previous point's OIPs reach 97-107 % of the activation of a cold start of 300 steps at
#: oipviz.oip's lr 0.02 at every epoch; 40 steps from random inits at the first point
WARM_STEPS = 15
FIRST_STEPS = 40
TRACK_LR = 0.3
PROBES = 8
ATTRIBUTION_PROBES = 4
#: attribution methods recorded at each point: one gradient pass each, through the model's
#: own layers (live variables: compiled once, they follow the training); Grad-CAM on the
#: last conv layer
ATTRIBUTIONS = ("saliency", "gradinput", "gradcam")
MAX_MAPS = 1024
EVERY_HELP = "use 'epoch', a number of batches (e.g. 50) or a list of epochs (e.g. [0, 1, 2, 5])"


@dataclass(frozen=True)
class Schedule:
    """When points are recorded: ``kind`` ``epoch`` (every epoch), ``batches`` (every
    ``n`` batches) or ``epochs`` (after the epochs listed)."""

    kind: str = "epoch"
    n: int = 1
    epochs: tuple[int, ...] = ()

    @property
    def at_start(self) -> bool:
        """True if the model before training is a point."""
        return self.kind != "epochs" or 0 in self.epochs

    def after_epoch(self, epochs_done: int) -> bool:
        """True if a point follows the epoch that brought the count to ``epochs_done``."""
        if self.kind == "epoch":
            return True
        return self.kind == "epochs" and epochs_done in self.epochs

    def after_batch(self, batches_done: int) -> bool:
        return self.kind == "batches" and batches_done % self.n == 0

    def describe(self) -> str:
        if self.kind == "epoch":
            return "every epoch"
        if self.kind == "batches":
            return f"every {self.n} batches"
        return "after epochs " + ", ".join(map(str, self.epochs))

    def as_dict(self) -> dict:
        return {"kind": self.kind, "n": self.n, "epochs": list(self.epochs)}


def parse_every(every) -> Schedule:
    """``every`` as a :class:`Schedule`; a one-line error for anything else."""
    if isinstance(every, str):
        text = every.strip().lower()
        if text in ("epoch", "epochs"):
            return Schedule()
        for prefix in ("batch:", "batches:"):
            if text.startswith(prefix) and text[len(prefix) :].strip().isdigit():
                return parse_every(int(text[len(prefix) :]))
        if text.isdigit():
            return parse_every(int(text))
        raise OipvizError(f"bad every={every!r}; {EVERY_HELP}")
    if isinstance(every, bool) or every is None:
        raise OipvizError(f"bad every={every!r}; {EVERY_HELP}")
    if isinstance(every, (int, float)) and not isinstance(every, bool):
        if not (float(every).is_integer() and every >= 1):
            raise OipvizError(f"bad every={every!r}: a number of batches must be 1 or more")
        return Schedule("batches", int(every))
    if isinstance(every, (Sequence, range, set, frozenset)):
        items = list(every)
        if not items:
            raise OipvizError(f"bad every={every!r}: the list of epochs is empty")
        try:
            epochs = sorted({checks.integer("an epoch in every", e, 0, 1_000_000) for e in items})
        except OipvizError as exc:
            raise OipvizError(f"bad every={every!r}: {exc}") from None
        return Schedule("epochs", 1, tuple(epochs))
    raise OipvizError(f"bad every={every!r}; {EVERY_HELP}")


def parse_layer_maps(text: str) -> tuple[str, str]:
    """``LAYER:MAPS`` (``conv3:0-15``, ``conv2:1,3,9``, ``conv3`` = all maps) as
    (layer, map text); the maps are checked against a model later."""
    layer, _, maps = str(text).strip().partition(":")
    if not layer.strip():
        raise LayerError(f"bad --track {text!r}; use LAYER:MAPS, e.g. conv3:0-15")
    return layer.strip(), (maps.strip() or "all")


def normalize_layers(layers) -> dict[str, object]:
    """{layer: maps} from a dict ({"conv3": range(16)}, {"conv3": None} = all maps), a
    ``LAYER:MAPS`` string or a list of them."""
    if isinstance(layers, str):
        layers = [layers]
    if isinstance(layers, Mapping):
        items = list(layers.items())
    elif isinstance(layers, Sequence) and all(isinstance(x, str) for x in layers):
        items = [parse_layer_maps(x) for x in layers]
    else:
        raise LayerError(f"bad layers={layers!r}; give {{'conv3': range(16)}} or 'conv3:0-15'")
    if not items:
        raise LayerError("no layers to track; give e.g. {'conv3': range(16)}")
    out: dict[str, object] = {}
    for name, maps in items:
        if not isinstance(name, str) or not name.strip():
            raise LayerError(f"bad layer name {name!r}")
        if maps is not None and not isinstance(maps, str):
            try:
                maps = [checks.integer(f"a map of {name}", m) for m in maps]
            except TypeError:
                raise LayerError(f"bad maps {maps!r} for {name}; give a list of indices") from None
            if not maps:
                raise LayerError(f"no maps of {name} to track")
        out[name] = maps
    return out


@dataclass
class TrackSpec:
    """The maps tracked (``layers``: {layer: maps or None = all}), the schedule and the
    settings of every point's measurements."""

    layers: Any
    every: Schedule = field(default_factory=Schedule)
    steps: int = WARM_STEPS
    first_steps: int = FIRST_STEPS
    lr: float = TRACK_LR
    inits: int = 1
    seed: int = 0
    range_mode: str = "valid"
    style: str = "readable"
    attribution: str = "saliency"
    attribution_probes: int = ATTRIBUTION_PROBES

    def __post_init__(self) -> None:
        self.layers = normalize_layers(self.layers)
        if not isinstance(self.every, Schedule):
            self.every = parse_every(self.every)
        self.steps = checks.integer("steps", self.steps, 1, 100_000)
        self.first_steps = checks.integer("first_steps", self.first_steps, 1, 100_000)
        self.lr = checks.lr(self.lr)
        self.inits = checks.integer("inits", self.inits, 1, 64)
        self.seed = checks.seed(self.seed)
        self.attribution_probes = checks.integer("attribution_probes", self.attribution_probes, 0)
        if self.attribution not in ATTRIBUTIONS:
            raise OipvizError(
                f"unknown attribution {self.attribution!r}; choose from {', '.join(ATTRIBUTIONS)}"
            )

    def resolve(self, loaded) -> dict[str, list[int]]:
        """{the layer's real name: map indices} for ``loaded``; one-line errors for a layer
        the model lacks or a map out of range."""
        out: dict[str, list[int]] = {}
        for name, maps in self.layers.items():
            info = loaded.unit_layer(name)
            if maps is None:
                idx = list(range(info.units))
            elif isinstance(maps, str):
                idx = checks.parse_maps(maps, info.units, name)
            else:
                idx = loaded.check_maps(info.name, maps)
            if len(idx) > MAX_MAPS:
                raise LayerError(f"{len(idx)} maps of {info.name}; track at most {MAX_MAPS}")
            out[info.name] = list(dict.fromkeys(idx))
        return out

    def as_dict(self) -> dict:
        return {
            "layers": {
                k: v if v is None or isinstance(v, str) else list(v) for k, v in self.layers.items()
            },
            "every": self.every.as_dict(),
            "steps": self.steps,
            "first_steps": self.first_steps,
            "lr": self.lr,
            "inits": self.inits,
            "seed": self.seed,
            "range": self.range_mode,
            "style": self.style,
            "attribution": self.attribution,
            "attribution_probes": self.attribution_probes,
        }
