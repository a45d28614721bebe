"""Load and vet a Keras model (or wrap one already in memory); its layer table, card, input
convention and geometry; the engine's sub-models from engine-space images to layer outputs.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from oipviz.core import checks
from oipviz.core.convention import KINDS, Geometry, InputConvention
from oipviz.core.errors import LayerError, ModelError
from oipviz.core.layers import FEATURE_TYPES, Heads, LayerInfo, find_layer, layer_table
from oipviz.core.tfenv import import_keras

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
#: image sides oipviz supports (px)
MIN_SIDE, MAX_SIDE = 8, 512


@dataclass
class LoadedModel:
    """A validated model with its input convention, geometry, card and layer table."""

    path: Path
    model: Any  # a keras.Model (typed loosely: TensorFlow and Keras ship no type stubs)
    convention: InputConvention
    geometry: Geometry
    card: dict | None = None
    layers: list[LayerInfo] = field(default_factory=list)
    nested: list[str] = field(default_factory=list)  # paths of the nested models
    cache: dict = field(default_factory=dict, repr=False)  # compiled engines of this model

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def classes(self) -> int:
        """The number of the model's outputs (its classes)."""
        return int(self.model.output_shape[-1])

    def layer(self, name: str) -> LayerInfo:
        """The layer ``name``: its path (``backbone/c2``), its own name where that is unique,
        or ``convN`` for the N-th conv layer."""
        return find_layer(self.layers, self.nested, name, self.name)

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
        units = info.units or 0  # unit_layer refuses layers without units
        out = []
        for m in maps:
            m = checks.integer("map", m)
            if not 0 <= m < units:
                raise LayerError(f"map {m} out of range for {info.name}: valid 0–{units - 1}")
            out.append(m)
        return out

    def heads(self, heads: list[tuple[str, bool]]) -> Heads:
        """The outputs of ``heads`` ((layer, pre_activation) pairs) for engine-space
        images (see :class:`Heads`)."""
        return Heads(self, heads)

    def model_input(self, x01: np.ndarray) -> np.ndarray:
        """Images in [0, 1] as the model's own input (its convention and shape)."""
        z = self.convention.to_engine(np.asarray(x01, np.float32).reshape(-1, *self.geometry.shape))
        a, b = self.convention.affine()
        x = a * z + b
        if self.convention.bgr:
            x = x[..., ::-1]
        return np.ascontiguousarray(x).reshape((-1, *self.geometry.model_shape))

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


def model_path(path: str | Path | None = None) -> Path:
    """The model file ``path`` names (a bundled name, or None for the default), checked to
    exist and to look like a Keras model file; nothing is loaded."""
    if path is None or (str(path) in BUNDLED and not Path(path).exists()):
        path = bundled_model_path(str(path or "seed_cnn"))
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file {path} not found")
    if path.is_dir() or path.suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelError(f"{path}: expected a .keras or .h5 model file")
    return path


def peek_geometry(path: str | Path | None) -> Geometry | None:
    """The model's image geometry read from its file's config, without TensorFlow (None if
    the config does not say): commands check an input against it before loading."""
    try:
        cfg = _read_config(model_path(path))
    except ModelError:
        return None
    shapes = [
        c.get("batch_shape") or c.get("batch_input_shape")
        for c in _input_layer_configs(cfg.get("config", {}))
    ]
    found = [tuple(s) for s in shapes if s]
    if len(found) != 1:
        return None
    return Geometry.of_input(found[0][1:])


def _input_layer_configs(cfg) -> list[dict]:
    """The configs of the top-level model's input layers (Sequential or Functional)."""
    layers = cfg.get("layers", []) if isinstance(cfg, dict) else []
    found = [ly["config"] for ly in layers if ly.get("class_name") == "InputLayer"]
    if not found and isinstance(cfg, dict) and cfg.get("build_input_shape"):
        found = [{"batch_shape": cfg["build_input_shape"]}]
    return found[:1] if found else []


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


def _card_convention(card: dict, channels: int) -> InputConvention:
    p = card["preprocessing"]
    kind = p.get("kind") if p.get("kind") in KINDS else "unit"
    mean = p.get("mean") if kind == "standardize" else None
    std = p.get("std") if kind == "standardize" else None
    return InputConvention.of(kind, channels, "model card", mean, std)


def _detect_convention(model, card: dict | None, channels: int) -> InputConvention:
    """From the card, else from a leading Rescaling/Normalization layer, else [0, 1]."""
    from oipviz.core import graph

    if card and isinstance(card.get("preprocessing"), dict):
        return _card_convention(card, channels)
    for path, layer in graph.leaves(model):
        cls = layer.__class__.__name__
        if cls == "Rescaling":
            return InputConvention.of("255", channels, f"Rescaling layer {path!r}")
        if cls == "Normalization":
            mean = np.asarray(getattr(layer, "mean", 0.0), np.float64)
            big = float(np.max(mean)) > 2.0 if mean.size else False
            kind = "255" if big else "unit"
            return InputConvention.of(kind, channels, f"Normalization layer {path!r}")
        if cls in FEATURE_TYPES:
            break
    return InputConvention.of("unit", channels, "default; override with --input-scale")


def _geometry(model, name: str) -> Geometry:
    """The model's image geometry; one-line errors for what oipviz cannot use."""
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        raise ModelError(
            f"{name} has {len(inputs)} inputs; oipviz needs a model with one image input "
            "(height × width × 1 or 3 channels, 8–512 px, or a flat vector of 784 pixels)"
        )
    shape = tuple(inputs[0].shape)[1:]
    geometry = Geometry.of_input(shape)
    got = "×".join(str(d) for d in shape) or "a scalar"
    if geometry is None or geometry.channels not in (1, 3):
        raise ModelError(
            f"{name} expects input {got}, not an image; oipviz needs height × width × 1 or 3 "
            "channels, height × width, or a flat vector of 784 (28×28) pixels"
        )
    if not all(MIN_SIDE <= d <= MAX_SIDE for d in (geometry.height, geometry.width)):
        raise ModelError(
            f"{name} expects {got} images; oipviz supports sides of {MIN_SIDE} to {MAX_SIDE} px"
        )
    return geometry


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
        InputConvention.parse(input_scale, geometry.channels)
        if input_scale
        else _detect_convention(model, card, geometry.channels)
    )
    layers, nested = layer_table(model)
    return LoadedModel(Path(name), model, convention, geometry, card, layers, nested)


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
    path = model_path(path)
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
