"""Load and validate a Keras MNIST model; list layers; build feature sub-models.

The toolkit works on images in [0,1] of shape (N,28,28,1).  The ascent engine works
in a standardized copy of that space, ``z = (x - mean) / std``, which is what the
articles' CNN sees.  :class:`InputConvention` maps ``z`` to whatever the model wants.
"""
from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import LayerError, ModelError
from .tfenv import import_keras

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
#: input rank (with the batch axis) -> the model's own input shape
INPUT_SHAPES = {4: (28, 28, 1), 3: (28, 28), 2: (784,)}
FEATURE_TYPES = ("Conv2D", "Dense", "SeparableConv2D", "DepthwiseConv2D", "Conv1D")


@dataclass
class InputConvention:
    """How an image in [0,1] becomes model input.

    kind: ``standardize`` (model sees (x-mean)/std), ``unit`` (model sees x) or
    ``255`` (model sees 255·x, e.g. it starts with a Rescaling layer).
    """

    kind: str = "unit"
    mean: float = MNIST_MEAN
    std: float = MNIST_STD
    source: str = "default"

    def affine(self) -> tuple[float, float]:
        """(a, b) such that model input = a·z + b for engine-space z."""
        if self.kind == "standardize":
            return 1.0, 0.0
        scale = 255.0 if self.kind == "255" else 1.0
        return scale * self.std, scale * self.mean

    def to_engine(self, x01: np.ndarray) -> np.ndarray:
        return ((np.asarray(x01, np.float32) - self.mean) / self.std).astype(np.float32)

    def from_engine(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, np.float32) * self.std + self.mean).astype(np.float32)

    def describe(self) -> str:
        text = {"standardize": f"standardized: (x - {self.mean:.4f}) / {self.std:.4f}",
                "unit": "pixels in [0, 1]", "255": "pixels in [0, 255]"}[self.kind]
        return f"{text}  (from {self.source})"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "mean": self.mean, "std": self.std, "source": self.source}

    @classmethod
    def parse(cls, text: str) -> "InputConvention":
        """Parse ``--input-scale``: ``unit``, ``255`` or ``standardize[:MEAN,STD]``."""
        t = text.strip().lower()
        if t in ("unit", "1", "01"):
            return cls("unit", source="--input-scale")
        if t in ("255", "0-255", "raw"):
            return cls("255", source="--input-scale")
        if t.startswith("standardize"):
            mean, std = MNIST_MEAN, MNIST_STD
            if ":" in t:
                try:
                    mean, std = (float(v) for v in t.split(":", 1)[1].split(","))
                except ValueError:
                    raise ModelError(f"bad --input-scale {text!r}; use standardize:MEAN,STD") from None
                if not (math.isfinite(mean) and math.isfinite(std) and 1e-3 <= std <= 1e3
                        and abs(mean) <= 1e3):
                    raise ModelError(f"bad --input-scale {text!r}: MEAN and STD must be finite, "
                                     "with 1e-3 <= STD <= 1e3 and |MEAN| <= 1e3")
            return cls("standardize", mean, std, "--input-scale")
        raise ModelError(f"bad --input-scale {text!r}; use unit, 255 or standardize[:MEAN,STD]")


@dataclass
class LayerInfo:
    name: str
    type: str
    shape: tuple
    units: int | None  # maps of a conv layer, units of a dense layer

    @property
    def is_conv(self) -> bool:
        return len(self.shape) == 4 and self.units is not None


@dataclass
class LoadedModel:
    """A validated model with its input convention, card and layer table."""

    path: Path
    model: object
    convention: InputConvention
    card: dict | None = None
    layers: list[LayerInfo] = field(default_factory=list)
    input_rank: int = 4         # 4: (28,28,1); 3: (28,28); 2: flat (784,)
    cache: dict = field(default_factory=dict, repr=False)  # compiled engines of this model

    @property
    def name(self) -> str:
        return self.path.name

    def layer(self, name: str) -> LayerInfo:
        """The layer called ``name`` (``convN`` also means the N-th conv layer)."""
        for info in self.layers:
            if info.name == name:
                return info
        convs = self.conv_layers()
        if name.startswith("conv") and name[4:].isdigit() and 1 <= int(name[4:]) <= len(convs):
            return convs[int(name[4:]) - 1]
        choices = ", ".join(i.name for i in self.layers if i.units is not None)
        raise LayerError(f"no layer {name!r} in {self.name}; choose from: {choices}")

    def unit_layer(self, name: str) -> LayerInfo:
        """The layer ``name``; it must have maps or units (a conv or Dense layer)."""
        info = self.layer(name)
        if info.units is None:
            raise LayerError(f"layer {info.name!r} ({info.type}) has no maps or units to optimize")
        return info

    def conv_layers(self) -> list[LayerInfo]:
        return [i for i in self.layers if i.is_conv]

    def check_maps(self, layer: str, maps) -> list[int]:
        """Validate map indices for ``layer``; returns them as a list of ints."""
        info = self.layer(layer)
        if info.units is None:
            raise LayerError(f"layer {info.name!r} has no maps or units")
        out = []
        for m in maps:
            if not 0 <= int(m) < info.units:
                raise LayerError(f"map {m} out of range for {info.name}: valid 0–{info.units - 1}")
            out.append(int(m))
        return out

    def engine_model(self, layer_names: list[str], pre_activation: bool | list[bool] = False):
        """A Keras model from engine-space images (B,28,28,1) to the named layers' outputs.

        ``pre_activation`` gives the layer's value before its activation (e.g. logits
        instead of softmax probabilities).
        """
        keras = import_keras()
        pre = pre_activation if isinstance(pre_activation, list) else [pre_activation] * len(layer_names)
        m = self.model
        outs = []
        for name, p in zip(layer_names, pre):
            layer = m.get_layer(self.layer(name).name)
            if p and getattr(layer, "activation", None) is not None:
                cfg = layer.get_config()
                cfg["activation"] = "linear"
                cfg["name"] = layer.name + "_preact"
                twin = layer.__class__.from_config(cfg)
                y = twin(layer.input)
                twin.set_weights(layer.get_weights())
                outs.append(y)
            else:
                outs.append(layer.output)
        inner = keras.Model(m.inputs, outs)
        inp = keras.Input((28, 28, 1))
        h = inp
        a, b = self.convention.affine()
        if (a, b) != (1.0, 0.0):
            h = keras.layers.Rescaling(a, b)(h)
        if self.input_rank < 4:
            h = keras.layers.Reshape(INPUT_SHAPES[self.input_rank])(h)
        y = inner(h)
        return keras.Model(inp, y if isinstance(y, list) else [y])

    def predict(self, x01: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities (the model's final output) for images in [0,1]."""
        z = self.convention.to_engine(np.asarray(x01, np.float32).reshape(-1, 28, 28, 1))
        a, b = self.convention.affine()
        raw = (a * z + b).reshape((-1,) + INPUT_SHAPES[self.input_rank])
        return np.asarray(self.model.predict(raw, batch_size=batch_size, verbose=0))


def _config_class_names(cfg) -> set[str]:
    names = set()
    if isinstance(cfg, dict):
        if "class_name" in cfg and isinstance(cfg["class_name"], str):
            names.add(cfg["class_name"])
        for v in cfg.values():
            names |= _config_class_names(v)
    elif isinstance(cfg, list):
        for v in cfg:
            names |= _config_class_names(v)
    return names


def _read_config(path: Path) -> dict:
    """The model's architecture config, read without building it (to vet it first)."""
    try:
        if path.suffix == ".keras":
            if not zipfile.is_zipfile(path):
                raise ModelError(f"{path} is not a valid .keras file (not a zip archive; corrupt?)")
            with zipfile.ZipFile(path) as zf:
                return json.loads(zf.read("config.json"))
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            if raw is None:
                raise ModelError(f"{path} holds weights only, no model architecture")
            return json.loads(raw if isinstance(raw, str) else raw.decode())
    except ModelError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path} is corrupt or not a Keras model ({type(exc).__name__})") from None


def _detect_convention(model, card: dict | None) -> InputConvention:
    if card and "preprocessing" in card:
        p = card["preprocessing"]
        kind = {"standardize": "standardize", "unit": "unit", "255": "255"}.get(p.get("kind"), "unit")
        return InputConvention(kind, float(p.get("mean", MNIST_MEAN)), float(p.get("std", MNIST_STD)),
                               "model card")
    for layer in model.layers:
        cls = layer.__class__.__name__
        if cls == "Rescaling":
            return InputConvention("255", source=f"Rescaling layer {layer.name!r}")
        if cls in FEATURE_TYPES:
            break
    return InputConvention("unit", source="default; override with --input-scale")


def as_loaded(model) -> "LoadedModel":
    """``model`` as a LoadedModel: one already loaded, a path, or None (the bundled model)."""
    return model if isinstance(model, LoadedModel) else load_model(model)


def load_model(path: str | Path | None = None, unsafe: bool = False,
               input_scale: str | None = None) -> LoadedModel:
    """Load ``path`` (default: the bundled seed CNN; ``fashion``: the bundled LeNet-5 on
    Fashion-MNIST) and validate it for oipviz."""
    from .models import BUNDLED, bundled_model_path
    from .models.train import card_path

    if path is None or (str(path) in BUNDLED and not Path(path).exists()):
        path = bundled_model_path(str(path or "seed_cnn"))
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file {path} not found")
    if path.is_dir() or path.suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelError(f"{path}: expected a .keras or .h5 model file")
    cfg = _read_config(path)
    if "Lambda" in _config_class_names(cfg) and not unsafe:
        raise ModelError(f"{path.name} contains a Lambda layer (arbitrary code); refused in safe "
                         "mode. Pass --unsafe only if you trust this file")
    keras = import_keras()
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=not unsafe)
    except Exception as exc:  # Keras raises many types for bad files
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load {path.name}: {msg[:200]}") from None
    shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else None
    if shape is None or len(getattr(model, "inputs", [])) != 1 or \
            tuple(shape[1:]) not in INPUT_SHAPES.values():
        got = "×".join(str(d) for d in (shape or ())[1:]) or "unknown"
        raise ModelError(f"{path.name} expects input {got}; oipviz needs 28×28 single-channel "
                         "images: (28,28,1), (28,28) or flat (784,)")
    card = None
    cp = card_path(path)
    if cp.exists():
        try:
            card = json.loads(cp.read_text())
        except ValueError:
            raise ModelError(f"model card {cp} is not valid JSON") from None
    convention = InputConvention.parse(input_scale) if input_scale else _detect_convention(model, card)
    layers = []
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        try:
            out_shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            continue
        units = int(out_shape[-1]) if layer.__class__.__name__ in FEATURE_TYPES else None
        layers.append(LayerInfo(layer.name, layer.__class__.__name__, out_shape, units))
    return LoadedModel(path, model, convention, card, layers, len(shape))
