"""One timeline being made: the settings and probes (checked at once), the recorder
(bound to the model when it is known) and the writer.  The training callback
(:mod:`oipviz.timeline.tracker`) and ``oipviz track`` (saved checkpoints) both drive one.
"""

from __future__ import annotations

import hashlib
import shlex
import sys
from datetime import datetime, timezone

import numpy as np

from oipviz.core.errors import OipvizError
from oipviz.core.versions import file_sha256, package_versions
from oipviz.timeline.point import Position, Timeline, TimelinePoint
from oipviz.timeline.record import Recorder, check_probes, probe_images
from oipviz.timeline.spec import TrackSpec
from oipviz.timeline.writer import KIND, TimelineWriter

FINISH_HINT = (
    "The GIFs and the maps × points sheet are made at the end; make them now with "
    "'oipviz track --finish FOLDER'."
)


class TrackSession:
    """Settings, probes, recorder and writer of one timeline.

    Parameters
    ----------
    spec : TrackSpec
        Maps, schedule and the measurements' settings.
    out : str or Path
        The timeline folder (checked now: see :class:`TimelineWriter`).
    probes : int or ndarray
        A count of held-out images of ``dataset`` or the images (:func:`probe_images`);
        checked now, against the model's geometry when it is known (:meth:`start`).
    validation : tuple, optional
        (images in [0, 1], labels) for ``heldout_accuracy`` / ``heldout_loss``.
    force, resume : bool
        Replace an earlier timeline / continue one with the same settings.
    dataset : str or Dataset, optional
        Where counted probes come from: a data set's name (``mnist``, ``fashion_mnist``,
        ``shapes``), a loaded :class:`~oipviz.data.dataset.Dataset`, or None: the model's
        (:func:`~oipviz.timeline.record.default_dataset`).
    """

    def __init__(
        self,
        spec: TrackSpec,
        out,
        probes=8,
        validation=None,
        force: bool = False,
        resume: bool = False,
        dataset=None,
    ):
        self.spec = spec
        self.writer = TimelineWriter(out, force, resume)
        self.probe_spec, self.dataset = check_probes(probes), dataset
        self.probes = np.zeros((0, 1, 1, 1), np.float32)
        self.probe_labels: np.ndarray | None = None
        self.class_names: list[str] | None = None
        self.validation = validation
        self.recorder: Recorder | None = None
        self.timeline = Timeline()

    @property
    def path(self):
        return self.writer.path

    def start(self, loaded, source: str) -> Timeline:
        """Bind to ``loaded`` (its layers and maps, the probes and the validation images
        are checked here, before any point) and open the folder; returns the points
        already kept (resume)."""
        self.probes, self.probe_labels, self.class_names = probe_images(
            self.probe_spec, loaded, self.dataset, self.spec.seed
        )
        recorder = Recorder(loaded, self.spec, self.probes, self.validation)
        manifest = self._manifest(loaded, recorder, source)
        info = self._info(loaded, recorder)
        self.timeline = self.writer.open(manifest, info, self.probes, loaded.convention)
        if self.timeline.points:
            kept = self.timeline.points[-1]
            if kept.layers != list(recorder.maps):
                self.writer.discard()
                raise OipvizError("the kept points track other layers; use --force to start over")
            recorder.previous = kept
        self.recorder = recorder
        return self.timeline

    def record(self, position: Position, logs: dict | None = None) -> TimelinePoint:
        """Measure and keep the next point."""
        try:
            if self.recorder is None:
                raise OipvizError("the timeline is not started (no model yet)")
            point = self.recorder.record(position, logs)
            self.writer.add(point)
        except BaseException:
            self.writer.discard()
            raise
        return point

    def finish(self, interrupted: bool = False):
        """Summaries and the final pages; returns the folder."""
        return self.writer.finish(interrupted)

    # -- what the folder states
    def _parameters(self, recorder: Recorder) -> dict:
        p = self.spec.as_dict()
        p["layers"] = {k: list(v) for k, v in recorder.maps.items()}
        p["probes"] = {
            "count": len(self.probes),
            "labels": None if self.probe_labels is None else self.probe_labels.tolist(),
            "sha256": hashlib.sha256(np.ascontiguousarray(self.probes).tobytes()).hexdigest(),
        }
        p["validation_images"] = (
            None if recorder.validation is None else len(recorder.validation[1])
        )
        return p

    def _manifest(self, loaded, recorder: Recorder, source: str) -> dict:
        model = {"name": loaded.name, "input_convention": loaded.convention.as_dict()}
        if loaded.path.is_file():
            model.update(path=str(loaded.path), sha256=file_sha256(loaded.path))
        argv = sys.argv
        return {
            "kind": KIND,
            "command": " ".join(shlex.quote(a) for a in ["oipviz"] + argv[1:])
            if argv and argv[0].endswith("oipviz")
            else None,
            "parameters": self._parameters(recorder),
            "source": source,
            "seed": self.spec.seed,
            "model": model,
            "states": "live: the map's OIP fires; waking: live now, dead at the previous "
            "point; dead: its OIP (warm-started, climbing the pre-activation while the map is "
            "zero) does not fire",
            "note": "OIP images in the .npz files are in engine space: pixel = mean + std * value",
            "versions": package_versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def _info(self, loaded, recorder: Recorder) -> dict:
        s = self.spec
        maps = "; ".join(f"{k}: {_ranges(v)}" for k, v in recorder.maps.items())
        probes = f"{len(self.probes)} images" + (
            f" (held-out, classes {', '.join(map(str, self.probe_labels.tolist()))})"
            if self.probe_labels is not None
            else " (given)"
        )
        warm = (
            f"{s.steps} steps at lr {s.lr:g}; at the first point {s.first_steps} steps "
            "from random inits"
        )
        n_attr = min(s.attribution_probes, len(self.probes))
        return {
            "model": loaded.name,
            "schedule": s.every.describe(),
            "warm": warm,
            "n_probes": len(self.probes),
            "attribution": s.attribution,
            "finish_hint": FINISH_HINT,
            "class_names": self.class_names,
            "model_rows": [
                ("model", loaded.name),
                ("images", loaded.geometry.describe()),
                ("input", loaded.convention.describe()),
                ("layers", ", ".join(i.name for i in loaded.layers)),
            ],
            "param_rows": [
                ("maps", maps),
                ("points", s.every.describe() + "; point 0 = before training"),
                ("OIPs", f"{s.range_mode} range, {s.style} style, {s.inits} init(s) per map"),
                ("seed", s.seed),
                ("warm start", warm),
                ("probe inputs", probes),
                ("attribution", f"{s.attribution} on the first {n_attr} probes"),
                ("kernels", recorder.kernel_layer or "none (no conv layer)"),
            ],
        }  # fmt: skip


def _ranges(maps: list[int]) -> str:
    """[0, 1, 2, 3, 7] → ``0–3, 7``."""
    out, start = [], None
    for i, m in enumerate(maps):
        if start is None:
            start = m
        if i + 1 == len(maps) or maps[i + 1] != m + 1:
            out.append(str(start) if start == m else f"{start}–{m}")
            start = None
    return ", ".join(out)
