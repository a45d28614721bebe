"""Keras callbacks: :class:`Tracker` records a timeline of OIPs during ``model.fit``.

    import oipviz.callbacks
    tracker = oipviz.callbacks.Tracker(layers={"conv3": range(16)}, every="epoch",
                                       probes=probe_digits, out="track/")
    model.fit(x, y, epochs=10, callbacks=[tracker])

Importing this module imports TensorFlow/Keras.
"""

from __future__ import annotations

from oipviz.timeline.tracker import Tracker

__all__ = ["Tracker"]
