"""What the ascent maximizes, per image: maps, neurons, whole layers, units, logits.

An :class:`Objective` is a weighted sum of built-in :class:`Term` s and of user
functions (:func:`custom`).  Objectives combine with ``+``, ``-`` and scalar ``*`` and
have readable names used in filenames, logs and manifests::

    map_mean("conv3", 46)                                   # conv3:46
    0.5 * map_mean("conv3", 46) - class_logit("dense2", 3)
    custom(lambda a: tf.reduce_mean(a[..., 46] ** 2, axis=[1, 2]), "conv3", "energy46")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from oipviz.core.errors import OipvizError

if TYPE_CHECKING:
    import tensorflow as tf

KINDS = ("mean", "max", "neuron", "unit", "logit", "premean")


@dataclass(frozen=True)
class Term:
    layer: str
    kind: str  # one of KINDS
    index: int  # map (conv) or unit (dense)
    weight: float = 1.0
    row: int | None = None
    col: int | None = None

    @property
    def pre_activation(self) -> bool:
        return self.kind in ("logit", "premean")

    @property
    def label(self) -> str:
        base = {
            "mean": f"{self.layer}:{self.index}",
            "max": f"{self.layer}:{self.index}:max",
            "neuron": f"{self.layer}:{self.index}@{self.row},{self.col}",
            "unit": f"{self.layer}:unit{self.index}",
            "logit": f"logit:{self.index}",
            "premean": f"{self.layer}:{self.index}:pre",
        }[self.kind]
        return base if self.weight == 1.0 else f"{self.weight:g}*{base}"


@dataclass(frozen=True)
class Custom:
    """A user's ``fn(*activations) -> (B,) loss`` over the named layers' outputs."""

    fn: Callable[..., tf.Tensor]
    layers: tuple[str, ...]
    weight: float = 1.0
    label: str = "custom"


@dataclass(frozen=True)
class Objective:
    """What the ascent maximizes per image: a weighted sum of built-in terms and user
    functions.  Objectives combine with ``+``, ``-`` and scalar ``*``; make them with the
    functions of this module (:func:`map_mean`, :func:`custom`...).

    Attributes
    ----------
    terms : tuple of Term
        The built-in terms (layer, kind, index, weight).
    title : str, optional
        A name to show instead of the terms' labels.
    custom : tuple of Custom
        The user functions, with their weights.
    fallback : Objective, optional
        Climbed instead while this objective's value is zero (see :meth:`or_else`).
    """

    terms: tuple[Term, ...]
    title: str | None = field(default=None, compare=False)
    custom: tuple[Custom, ...] = ()
    fallback: Objective | None = None  # ascended instead while this one is <= DEAD_EPS

    @property
    def name(self) -> str:
        """Readable name, e.g. ``conv3:46`` or ``conv3:layer``."""
        labels = [t.label for t in self.terms] + [
            c.label if c.weight == 1.0 else f"{c.weight:g}*{c.label}" for c in self.custom
        ]
        return self.title or "+".join(labels)

    @property
    def slug(self) -> str:
        """A filename-safe version of :attr:`name`."""
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name).strip("_")

    @property
    def heads(self) -> list[tuple[str, bool]]:
        """The (layer, pre_activation) outputs this objective needs."""
        own = [(t.layer, t.pre_activation) for t in self.terms] + [
            (name, False) for c in self.custom for name in c.layers
        ]
        return list(dict.fromkeys(own + (self.fallback.heads if self.fallback else [])))

    def or_else(self, fallback: Objective) -> Objective:
        """This objective, but while its value is zero (a ReLU map that never fires, so no
        gradient) the ascent climbs ``fallback`` instead; the reported value stays this one's."""
        return replace(self, fallback=fallback)

    def __add__(self, other: Objective) -> Objective:
        return Objective(self.terms + other.terms, custom=self.custom + other.custom)

    def __sub__(self, other: Objective) -> Objective:
        return self + (-1.0) * other

    def __neg__(self) -> Objective:
        return (-1.0) * self

    def __mul__(self, k: float) -> Objective:
        k = float(k)
        return Objective(
            tuple(replace(t, weight=t.weight * k) for t in self.terms),
            f"{k:g}*({self.name})" if self.title else None,
            tuple(replace(c, weight=c.weight * k) for c in self.custom),
        )

    __rmul__ = __mul__


def custom(
    fn: Callable[..., tf.Tensor], layers: str | Iterable[str], name: str = "custom"
) -> Objective:
    """A user's objective: ``fn(*acts)`` gets the outputs (B,...) of ``layers`` (a name
    or a list; after their activation) as TensorFlow tensors and returns one loss per
    image (B,).  It is traced into the engine's graph, so use TensorFlow ops.

    Parameters
    ----------
    fn : callable
        ``fn(*activations) -> (B,)`` tensor, one value per image.
    layers : str or iterable of str
        The layers whose outputs ``fn`` receives, in that order.
    name : str
        Its label in names, filenames and manifests.

    Returns
    -------
    Objective
    """
    layers = (layers,) if isinstance(layers, str) else tuple(layers)
    return Objective((), custom=(Custom(fn, layers, 1.0, name),))


def map_mean(layer: str, m: int) -> Objective:
    """Mean activation of map ``m`` (the articles' loss; the default).

    Parameters
    ----------
    layer : str
        A conv layer (path or name).
    m : int
        The map index.

    Returns
    -------
    Objective
        Named ``layer:m``.
    """
    return Objective((Term(layer, "mean", int(m)),))


def map_max(layer: str, m: int) -> Objective:
    """Largest activation inside map ``m``.

    Parameters
    ----------
    layer : str
        A conv layer.
    m : int
        The map index.

    Returns
    -------
    Objective
    """
    return Objective((Term(layer, "max", int(m)),))


def neuron(layer: str, m: int, row: int, col: int) -> Objective:
    """One neuron (row, col) of map ``m``.

    Parameters
    ----------
    layer : str
        A conv layer.
    m, row, col : int
        The map index and the neuron's position in the map.

    Returns
    -------
    Objective
    """
    return Objective((Term(layer, "neuron", int(m), 1.0, int(row), int(col)),))


def layer_mix(
    layer: str, n_maps: int, weights: ArrayLike | None = None, maps: Iterable[int] | None = None
) -> Objective:
    """A whole layer as a weighted mix of map means (default: all maps, equal weights).

    Parameters
    ----------
    layer : str
        A conv layer.
    n_maps : int
        How many maps the layer has.
    weights : array-like, optional
        One weight per map of ``maps`` (normalized to a sum of absolute values of 1).
    maps : iterable of int, optional
        The maps to mix (default: all ``n_maps``).

    Returns
    -------
    Objective
        Named ``layer:layer`` for all maps with equal weights.
    """
    maps = list(range(n_maps)) if maps is None else [int(m) for m in maps]
    w = np.ones(len(maps)) if weights is None else np.asarray(weights, dtype=float)
    if len(w) != len(maps):
        raise OipvizError(f"{len(w)} weights for {len(maps)} maps")
    w = w / np.abs(w).sum()
    terms = tuple(Term(layer, "mean", m, float(wi)) for m, wi in zip(maps, w) if wi != 0)
    title = f"{layer}:layer" if weights is None and len(maps) == n_maps else None
    return Objective(terms, title)


def map_premean(layer: str, m: int) -> Objective:
    """Mean of map ``m`` before its activation function (ReLU).  Unlike the map mean it
    has a gradient where the map is 0 everywhere, so it can wake a dead map.

    Parameters
    ----------
    layer : str
        A conv layer.
    m : int
        The map index.

    Returns
    -------
    Objective
    """
    return Objective((Term(layer, "premean", int(m)),))


def dense_unit(layer: str, u: int) -> Objective:
    """Activation of unit ``u`` of a Dense layer.

    Parameters
    ----------
    layer : str
        A Dense layer.
    u : int
        The unit index.

    Returns
    -------
    Objective
    """
    return Objective((Term(layer, "unit", int(u)),))


def class_logit(layer: str, c: int) -> Objective:
    """Pre-softmax value (logit) of class ``c`` at the final Dense layer ``layer``.

    Parameters
    ----------
    layer : str
        The final Dense layer.
    c : int
        The class index.

    Returns
    -------
    Objective
    """
    return Objective((Term(layer, "logit", int(c)),))


def customs_of(objectives: list[Objective]) -> tuple[Custom, ...]:
    """The distinct user functions of a batch, fallbacks included (weights set to 1:
    weights are per image)."""
    objs = list(objectives) + [o.fallback for o in objectives if o.fallback is not None]
    return tuple(dict.fromkeys(replace(c, weight=1.0) for o in objs for c in o.custom))


def wake(obj: Objective) -> Objective:
    """A map-mean objective that climbs the map's pre-activation while the map is zero
    everywhere (the precursor's wake, in every step); other objectives are unchanged."""
    if len(obj.terms) == 1 and not obj.custom and obj.terms[0].kind == "mean":
        t = obj.terms[0]
        return obj.or_else(Objective((Term(t.layer, "premean", t.index, t.weight),)))
    if len(obj.terms) == 1 and not obj.custom and obj.terms[0].kind == "unit":
        t = obj.terms[0]
        return obj.or_else(Objective((Term(t.layer, "logit", t.index, t.weight),)))
    return obj


def weight_arrays(
    objectives: list[Objective],
    heads: list[tuple[str, bool]],
    shapes: list[tuple[int, ...]],
    customs: tuple[Custom, ...] = (),
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Per-head weight tensors so that loss_b = Σ W_lin·A + Σ W_max·max_hw(A) + Σ W_c·f_c.

    ``shapes`` are the heads' output shapes without the batch axis.  For dense heads
    the max weights are unused (shape (B, 1)).  The last array (B, len(customs)) weighs
    each user function per image.
    """
    B = len(objectives)
    lin = [np.zeros((B,) + tuple(s), np.float32) for s in shapes]
    mx = [np.zeros((B, s[-1] if len(s) == 3 else 1), np.float32) for s in shapes]
    wc = np.zeros((B, max(1, len(customs))), np.float32)
    for b, obj in enumerate(objectives):
        for c in obj.custom:
            wc[b, customs.index(replace(c, weight=1.0))] += c.weight
        for t in obj.terms:
            h = heads.index((t.layer, t.pre_activation))
            shape = shapes[h]
            if t.index >= shape[-1]:
                raise OipvizError(f"{t.label}: index out of range (layer has {shape[-1]})")
            if len(shape) == 3:
                if t.kind in ("mean", "premean"):
                    lin[h][b, :, :, t.index] += t.weight / (shape[0] * shape[1])
                elif t.kind == "max":
                    mx[h][b, t.index] += t.weight
                elif t.kind == "neuron":
                    row, col = t.row, t.col  # a Term built by hand may lack them
                    if (
                        row is None
                        or col is None
                        or not (0 <= row < shape[0] and 0 <= col < shape[1])
                    ):
                        raise OipvizError(
                            f"{t.label}: neuron outside the {shape[0]}×{shape[1]} map"
                        )
                    lin[h][b, row, col, t.index] += t.weight
                else:
                    raise OipvizError(f"{t.label}: {t.kind} needs a dense layer")
            else:
                if t.kind not in ("unit", "logit", "mean"):
                    raise OipvizError(f"{t.label}: {t.kind} needs a conv layer")
                lin[h][b, t.index] += t.weight
    return lin, mx, wc
