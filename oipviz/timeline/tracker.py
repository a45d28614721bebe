"""``oipviz.callbacks.Tracker``: a Keras callback that records a timeline of OIPs during
``model.fit``.  It stays small: the checks and the measuring are
:class:`~oipviz.timeline.session.TrackSession`'s, the files the writer's.

    tracker = oipviz.callbacks.Tracker(layers={"conv3": range(16)}, out="track/")
    model.fit(x, y, epochs=10, callbacks=[tracker])

Importing this module imports TensorFlow/Keras (the callback is a Keras class).
"""

from __future__ import annotations

from oipviz.core.tfenv import import_keras
from oipviz.timeline.point import Position
from oipviz.timeline.session import TrackSession
from oipviz.timeline.spec import FIRST_STEPS, PROBES, TRACK_LR, WARM_STEPS, TrackSpec

keras = import_keras()


class Tracker(keras.callbacks.Callback):  # type: ignore[name-defined]
    """Records the tracked maps' OIPs, the probes' activations, an attribution, the first
    conv layer's kernels and the metrics at chosen points of training.

    Parameters
    ----------
    layers : dict, str or list of str
        ``{"conv3": range(16)}`` (None as maps: all of them), or ``"conv3:0-15"``.
    every : str, int or list of int
        ``"epoch"``, a number of batches, or the epochs after which to record (0 = before
        training).  Point 0, before training, is always recorded except for a list
        without 0.
    probes : int or ndarray
        Probe inputs: images (P, H, W[, C]) in [0, 1] of the model's size, or how many
        held-out images of ``dataset`` (one per class in turn).
    out : str or Path
        The timeline folder (an existing one is refused unless ``force`` or ``resume``).
    validation : tuple, optional
        (images in [0, 1], labels): held-out accuracy and loss at every point (the
        training metrics come from Keras' logs).
    steps, first_steps, lr, seed : int, int, float, int
        Warm-start ascent steps per point, steps from random inits at the first point,
        step size, seed (:mod:`oipviz.timeline.spec` for the measured defaults).
    input_scale : str, optional
        The model's input convention if it has no leading Rescaling layer (``unit``,
        ``255``, ``standardize:MEAN,STD``); see :func:`oipviz.core.loader.wrap_model`.
    epochs : int, optional
        Finish after this many epochs (for training loops that call ``fit`` once per
        epoch); by default the timeline is finished when ``fit`` ends.
    force, resume : bool
        Replace an earlier timeline / continue one (e.g. training resumed from a
        checkpoint; the epochs count on from the last point kept).
    attribution : str
        ``saliency`` (default), ``gradinput`` or ``gradcam`` (of the last conv layer).
    dataset : str or Dataset, optional
        Where counted probes come from: ``mnist``, ``fashion_mnist``, ``shapes`` or a
        loaded :class:`~oipviz.data.dataset.Dataset` (its held-out split; its class names
        label the attribution); default: by the model's image size (28×28×1: MNIST,
        32×32×3: shapes).
    name : str
        The model's name in the pages and the manifest.

    Every argument is checked here, the layers and maps when ``fit`` starts: bad input is
    a one-line :class:`~oipviz.OipvizError` before any training step.  Each point is kept
    on disk as soon as it is measured, so Ctrl-C keeps every point recorded so far.
    """

    def __init__(
        self,
        layers,
        every="epoch",
        probes=PROBES,
        out="track",
        *,
        validation=None,
        steps: int = WARM_STEPS,
        first_steps: int = FIRST_STEPS,
        lr: float = TRACK_LR,
        seed: int = 0,
        input_scale: str | None = None,
        epochs: int | None = None,
        force: bool = False,
        resume: bool = False,
        attribution: str = "saliency",
        dataset=None,
        name: str = "model",
    ):
        super().__init__()
        from oipviz.core import checks

        spec = TrackSpec(layers, every, steps, first_steps, lr, seed=seed, attribution=attribution)
        if input_scale is not None:
            from oipviz.core.convention import InputConvention

            InputConvention.parse(input_scale)
        self.stop_after = None if epochs is None else checks.integer("epochs", epochs, 1)
        self.session = TrackSession(spec, out, probes, validation, force, resume, dataset)
        self.input_scale, self.name = input_scale, name
        self.epochs_done = 0
        self.batches_done = 0
        self.started = False

    @property
    def timeline(self):
        """The :class:`~oipviz.timeline.point.Timeline` recorded so far."""
        return self.session.timeline

    @property
    def path(self):
        """The timeline folder."""
        return self.session.path

    # -- Keras hooks
    def on_train_begin(self, logs=None):
        if not self.started:
            from oipviz.core.loader import wrap_model

            loaded = wrap_model(self.model, self.input_scale, self.name)
            kept = self.session.start(loaded, "training")
            self.started = True
            if kept.points:  # resumed: count on from the last point kept
                last = kept.points[-1].position
                self.epochs_done, self.batches_done = int(last.epoch), last.batch
        if not len(self.timeline) and self.session.spec.every.at_start:
            self._record({})

    def on_train_batch_end(self, batch, logs=None):
        self.batches_done += 1
        if self.session.spec.every.after_batch(self.batches_done):
            self._record(logs)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done += 1
        every = self.session.spec.every
        if every.kind != "batches" and every.after_epoch(self.epochs_done):
            self._record(logs)
        if self.stop_after is not None and self.epochs_done >= self.stop_after:
            self.close()

    def on_train_end(self, logs=None):
        if self.stop_after is None:
            self.close()

    # -- the rest
    def _record(self, logs) -> None:
        every = self.session.spec.every
        per_epoch = (self.params or {}).get("steps") or 0
        if every.kind == "batches":
            epoch = self.batches_done / per_epoch if per_epoch else float(self.epochs_done)
            label = f"batch {self.batches_done}"
        else:
            epoch, label = float(self.epochs_done), f"epoch {self.epochs_done}"
        position = Position(len(self.timeline), round(epoch, 4), self.batches_done, label)
        try:
            self.session.record(position, logs)
        except KeyboardInterrupt:
            if len(self.timeline):
                self.session.finish(interrupted=True)
            raise

    def close(self, interrupted: bool = False):
        """Write the summaries (GIFs, sheet) and mark the timeline complete (or
        ``interrupted``); returns its folder.  Called when ``fit`` ends; call it yourself
        after stopping ``fit`` with Ctrl-C to get the summaries of the points so far."""
        if not self.started:
            return None
        if not len(self.timeline):  # no point was due: leave nothing behind
            self.session.writer.discard()
            self.started = False
            return None
        return self.session.finish(interrupted)
