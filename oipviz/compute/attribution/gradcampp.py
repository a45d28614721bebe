"""Grad-CAM++ (Chattopadhay et al. 2018): pixel-weighted gradients, for several instances."""

from __future__ import annotations

from oipviz.compute.attribution.gradcam import GradCAM
from oipviz.compute.attribution.registry import register


@register("gradcam++", "grad-cam++")
class GradCAMPlusPlus(GradCAM):
    """Grad-CAM with αₖ = Σᵢⱼ aᵢⱼₖ ReLU(gᵢⱼₖ), aᵢⱼₖ = g² / (2g² + Σ A · g³) (the closed
    form for an exponential of the score, as in the paper and tf-keras-vis)."""

    name, title = "gradcampp", "Grad-CAM++"
    order = 60

    def weights(self, a, g):
        import tensorflow as tf

        g2, g3 = g * g, g * g * g
        denom = 2.0 * g2 + tf.reduce_sum(a, axis=[1, 2], keepdims=True) * g3
        alpha = g2 / tf.where(denom != 0.0, denom, tf.ones_like(denom))
        return tf.reduce_sum(alpha * tf.nn.relu(g), axis=[1, 2])
