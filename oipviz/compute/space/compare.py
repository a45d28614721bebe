"""Which layer of a second model to compare with a layer of the first."""

from __future__ import annotations

from oipviz.core.errors import LayerError


def matching_layer(loaded, layer: str, override: str | None = None) -> str:
    """The layer of the second model to compare with ``layer``: ``override``, else the
    layer of the same name, else (also for ``pixels``) the features its classifier sees:
    the output of the layer before its last."""
    if override:
        return loaded.layer(override).name
    try:
        return loaded.layer(layer).name
    except LayerError:
        pass
    names = [i.name for i in loaded.layers]
    if len(names) < 2:
        raise LayerError(
            f"{loaded.name} has no layer {layer!r} and no layer before its output; "
            "give --compare-layer"
        )
    return names[-2]
