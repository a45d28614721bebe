"""Attribution: which pixels of a digit a class (or a map) depends on.

One module per method on one small base (:mod:`.base`): ``saliency``, ``gradinput``,
``smoothgrad``, ``ig``, ``gradcam``, ``gradcampp``, ``occlusion``.  Sanity checks (model
randomization, random-weight comparison, deletion/insertion) are in :mod:`.sanity`;
:func:`oipviz.explain` (:mod:`.explain`) runs several methods and returns one result.
"""

from __future__ import annotations

from oipviz.compute.attribution.base import Attribution, Method
from oipviz.compute.attribution.gradcam import GradCAM
from oipviz.compute.attribution.gradcampp import GradCAMPlusPlus
from oipviz.compute.attribution.gradinput import GradientInput
from oipviz.compute.attribution.integrated import IntegratedGradients
from oipviz.compute.attribution.occlusion import Occlusion
from oipviz.compute.attribution.saliency import Saliency
from oipviz.compute.attribution.smoothgrad import SmoothGrad
from oipviz.core.errors import OipvizError

METHODS: dict[str, type[Method]] = {
    c.name: c
    for c in (
        Saliency,
        GradientInput,
        SmoothGrad,
        IntegratedGradients,
        GradCAM,
        GradCAMPlusPlus,
        Occlusion,
    )
}
ALIASES = {
    "gradient": "saliency",
    "vanilla": "saliency",
    "gradxinput": "gradinput",
    "integrated_gradients": "ig",
    "gradcam++": "gradcampp",
    "grad-cam": "gradcam",
    "grad-cam++": "gradcampp",
}


def method_names(spec) -> list[str]:
    """Method names from ``"all"``, ``"saliency,ig"`` or a list; one-line error if unknown."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for item in items:
        name = str(item).strip().lower()
        if name == "all":
            out.extend(METHODS)
            continue
        name = ALIASES.get(name, name)
        if name not in METHODS:
            raise OipvizError(f"unknown method {item!r}; choose from {', '.join(METHODS)} or all")
        out.append(name)
    if not out:
        raise OipvizError(f"no method given; choose from {', '.join(METHODS)} or all")
    return list(dict.fromkeys(out))


__all__ = [
    "METHODS",
    "Attribution",
    "Method",
    "method_names",
    "Saliency",
    "GradientInput",
    "SmoothGrad",
    "IntegratedGradients",
    "GradCAM",
    "GradCAMPlusPlus",
    "Occlusion",
]

# the API on top (imported last: it uses METHODS); gradcam_maps is what the gallery needs
from oipviz.compute.attribution.explain import ExplainResult, explain, gradcam_maps  # noqa: E402

__all__ += ["ExplainResult", "explain", "gradcam_maps"]
