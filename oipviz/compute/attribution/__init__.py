"""Attribution: which pixels of an image a class (or a map) depends on.

One module per method on one small base (:mod:`.base`), each registering itself under its
name (:mod:`.registry`): ``saliency``, ``gradinput``, ``smoothgrad``, ``ig``, ``gradcam``,
``gradcampp``, ``occlusion``.  Adding a method is one new file plus one import line below.
Sanity checks (model randomization, random-weight comparison, deletion/insertion) are in
:mod:`.sanity`; :func:`oipviz.explain` (:mod:`.explain`) runs several methods and returns
one result.
"""

from __future__ import annotations

# importing a method module registers it ("all" runs them by their ``order``)
from oipviz.compute.attribution import (  # noqa: F401
    gradcam,
    gradcampp,
    gradinput,
    integrated,
    occlusion,
    saliency,
    smoothgrad,
)
from oipviz.compute.attribution.base import Attribution, Method
from oipviz.compute.attribution.gradcam import GradCAM
from oipviz.compute.attribution.gradcampp import GradCAMPlusPlus
from oipviz.compute.attribution.gradinput import GradientInput
from oipviz.compute.attribution.integrated import IntegratedGradients
from oipviz.compute.attribution.occlusion import Occlusion
from oipviz.compute.attribution.registry import METHODS, build_methods, method_names, register
from oipviz.compute.attribution.saliency import Saliency
from oipviz.compute.attribution.smoothgrad import SmoothGrad

__all__ = ["METHODS", "Attribution", "Method", "build_methods", "method_names", "register",
           "Saliency", "GradientInput", "SmoothGrad", "IntegratedGradients", "GradCAM",
           "GradCAMPlusPlus", "Occlusion"]  # fmt: skip
