"""Timelines of OIPs during training: what the maps of a model respond to, point by point,
from random weights to trained ones, for grey and colour models alike (the images have
the model's own geometry).

* :mod:`.spec`: what is tracked and when (checked before training starts);
* :mod:`.record`: the measurements at one point (OIPs warm-started from the previous
  point's, probe activations, an attribution, kernels, metrics) → :mod:`.point` results;
* :mod:`.writer`, :mod:`.pages`: the files, through the output layer (no TensorFlow);
  the pictures are :mod:`oipviz.render.timeline`'s, the charts :mod:`oipviz.render.svg`'s;
* :mod:`.session`: one timeline being made; :mod:`.tracker`: the Keras callback
  (``oipviz.callbacks.Tracker``); :mod:`.checkpoints`: a timeline from saved checkpoints.

Importing this package does not import TensorFlow; :mod:`.tracker` does.
"""
