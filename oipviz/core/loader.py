"""Load and vet a Keras model (or wrap one already in memory); its layer table, card, input
convention and geometry; the engine's sub-models from engine-space images to layer outputs.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from oipviz.core.convention import Geometry, InputConvention
from oipviz.core.errors import LayerError, ModelError
from oipviz.core.tfenv import import_keras

FEATURE_TYPES = ("Conv2D", "Dense", "SeparableConv2D", "DepthwiseConv2D", "Conv1D")
#: where the bundled models and their cards lie (package data, no Python)
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "models" / "bundled"
#: short names for ``--model``: the bundled, trained models
BUNDLED = {
    "seed_cnn": "seed_cnn.keras",
    "mnist": "seed_cnn.keras",
    "fashion": "lenet5_fashion.keras",
    "lenet5_fashion": "lenet5_fashion.keras",
    "shapes": "shapes_cnn.keras",
    "shapes_cnn": "shapes_cnn.keras",
}
#: the geometries the toolkit supports today
SUPPORTED = ((28, 28, 1),)


@dataclass
class LayerInfo:
    """A layer of the model: its name, type, output shape and maps (conv) or units (Dense)."""

    name: str
    type: str
    shape: tuple
    units: int | None  # maps of a conv layer, units of a dense layer

    @property
    def is_conv(self) -> bool:
        return len(self.shape) == 4 and self.units is not None


@dataclass
class LoadedModel:
    """A validated model with its input convention, geometry, card and layer table."""

    path: Path
    model: object
    convention: InputConvention
    geometry: Geometry
    card: dict | None = None
    layers: list[LayerInfo] = field(default_factory=list)
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
        info = self.unit_layer(layer)
        out = []
        for m in maps:
            if not 0 <= int(m) < info.units:
                raise LayerError(f"map {m} out of range for {info.name}: valid 0–{info.units - 1}")
            out.append(int(m))
        return out

    def engine_model(self, layer_names: list[str], pre_activation: bool | list[bool] = False):
        """A Keras model from engine-space images (B, H, W, C) to the named layers' outputs.

        ``pre_activation`` gives the layer's value before its activation (e.g. logits
        instead of softmax probabilities).
        """
        keras = import_keras()
        pre = (
            pre_activation
            if isinstance(pre_activation, list)
            else [pre_activation] * len(layer_names)
        )
        outs = [self._output(name, p) for name, p in zip(layer_names, pre, strict=True)]
        inner = keras.Model(self.model.inputs, outs)
        inp = keras.Input(self.geometry.shape)
        h = inp
        a, b = self.convention.affine()
        if (a, b) != (1.0, 0.0):
            h = keras.layers.Rescaling(a, b)(h)
        if self.geometry.model_shape != self.geometry.shape:
            h = keras.layers.Reshape(self.geometry.model_shape)(h)
        y = inner(h)
        return keras.Model(inp, y if isinstance(y, list) else [y])

    def _output(self, name: str, pre_activation: bool):
        """The symbolic output of layer ``name`` (before its activation, if asked)."""
        layer = self.model.get_layer(self.layer(name).name)
        if not pre_activation or getattr(layer, "activation", None) is None:
            return layer.output
        cfg = layer.get_config()
        cfg["activation"] = "linear"
        cfg["name"] = layer.name + "_preact"
        twin = layer.__class__.from_config(cfg)
        y = twin(layer.input)
        twin.set_weights(layer.get_weights())
        return y

    def model_input(self, x01: np.ndarray) -> np.ndarray:
        """Images in [0, 1] as the model's own input (its convention and shape)."""
        z = self.convention.to_engine(np.asarray(x01, np.float32).reshape(-1, *self.geometry.shape))
        a, b = self.convention.affine()
        return (a * z + b).reshape((-1, *self.geometry.model_shape))

    def predict(self, x01: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities (the model's final output) for images in [0, 1]."""
        raw = self.model_input(x01)
        return np.asarray(self.model.predict(raw, batch_size=batch_size, verbose=0))


def card_path(model_path: str | Path) -> Path:
    """The card that belongs to a model file: ``NAME.card.json`` beside it."""
    p = Path(model_path)
    return p.with_name(p.name.rsplit(".", 1)[0] + ".card.json")


def bundled_model_path(name: str = "seed_cnn") -> Path:
    """Path of a bundled model: ``seed_cnn`` (the articles' CNN on MNIST, the default),
    ``fashion`` (LeNet-5 on Fashion-MNIST) or ``shapes`` (a colour CNN on the generated
    shapes, 32×32×3)."""
    return BUNDLED_DIR / BUNDLED[name]


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


def _read_card(path: Path) -> dict | None:
    cp = card_path(path)
    if not cp.exists():
        return None
    try:
        card = json.loads(cp.read_text())
    except ValueError:
        raise ModelError(f"model card {cp} is not valid JSON") from None
    if not isinstance(card, dict):
        raise ModelError(f"model card {cp} is not a JSON object")
    return card


def _detect_convention(model, card: dict | None) -> InputConvention:
    if card and "preprocessing" in card:
        p = card["preprocessing"]
        kind = {"standardize": "standardize", "unit": "unit", "255": "255"}.get(
            p.get("kind"), "unit"
        )
        base = InputConvention()
        return InputConvention(
            kind, float(p.get("mean", base.mean)), float(p.get("std", base.std)), "model card"
        )
    for layer in model.layers:
        cls = layer.__class__.__name__
        if cls == "Rescaling":
            return InputConvention("255", source=f"Rescaling layer {layer.name!r}")
        if cls in FEATURE_TYPES:
            break
    return InputConvention("unit", source="default; override with --input-scale")


def _geometry(model, name: str) -> Geometry:
    inputs = getattr(model, "inputs", None) or []
    shape = tuple(inputs[0].shape) if inputs else None
    geometry = Geometry.of_input(shape[1:]) if shape and len(inputs) == 1 else None
    if geometry is None or geometry.shape not in SUPPORTED:
        got = "×".join(str(d) for d in (shape or ())[1:]) or "unknown"
        raise ModelError(
            f"{name} expects input {got}; oipviz needs 28×28 single-channel "
            "images: (28,28,1), (28,28) or flat (784,)"
        )
    return geometry


def _layer_table(model) -> list[LayerInfo]:
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
    return layers


def wrap_model(
    model, input_scale: str | None = None, name: str = "model", card: dict | None = None
) -> LoadedModel:
    """A Keras model already in memory (e.g. one being trained) as a LoadedModel.

    Parameters
    ----------
    model : keras.Model
        The model; the engine reads its layers' live variables, so one wrapper follows
        training.
    input_scale : str, optional
        ``unit``, ``255`` or ``standardize[:MEAN,STD]``; default: from ``card`` or a leading
        Rescaling layer, else ``unit``.
    name : str
        Shown in messages and manifests.
    card : dict, optional
        A model card (as written by ``oipviz train``).

    Returns
    -------
    LoadedModel
    """
    geometry = _geometry(model, name)
    convention = (
        InputConvention.parse(input_scale) if input_scale else _detect_convention(model, card)
    )
    return LoadedModel(Path(name), model, convention, geometry, card, _layer_table(model))


def as_loaded(model) -> LoadedModel:
    """``model`` as a LoadedModel: one already loaded, a path, or None (the bundled model)."""
    return model if isinstance(model, LoadedModel) else load_model(model)


def load_model(
    path: str | Path | None = None, unsafe: bool = False, input_scale: str | None = None
) -> LoadedModel:
    """Load a model file and vet it for oipviz.

    Parameters
    ----------
    path : str or Path, optional
        A ``.keras`` or legacy ``.h5`` file, or a bundled name (``seed_cnn``, the default;
        ``fashion``: LeNet-5 on Fashion-MNIST).
    unsafe : bool
        Allow Lambda layers (they run code stored in the file).
    input_scale : str, optional
        Overrides the input convention found in the card or the model.

    Returns
    -------
    LoadedModel
    """
    if path is None or (str(path) in BUNDLED and not Path(path).exists()):
        path = bundled_model_path(str(path or "seed_cnn"))
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file {path} not found")
    if path.is_dir() or path.suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelError(f"{path}: expected a .keras or .h5 model file")
    cfg = _read_config(path)
    if "Lambda" in _config_class_names(cfg) and not unsafe:
        raise ModelError(
            f"{path.name} contains a Lambda layer (arbitrary code); refused in safe "
            "mode. Pass --unsafe only if you trust this file"
        )
    keras = import_keras()
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=not unsafe)
    except Exception as exc:  # Keras raises many types for bad files
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load {path.name}: {msg[:200]}") from None
    _geometry(model, path.name)  # refuse before the card is read
    loaded = wrap_model(model, input_scale, path.name, _read_card(path))
    loaded.path = path
    return loaded
