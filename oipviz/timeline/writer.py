"""The timeline writer: points → files, through the output layer
(:class:`~oipviz.core.folders.OutputFolder`, kind ``timeline``, resumable).

* :meth:`TimelineWriter.add` keeps each point as soon as it is measured:
  ``points/pNNNN.npz`` (the arrays, :func:`~oipviz.core.outputs.save_npz_compressed`:
  deterministic bytes), its frames (each map's OIP,
  the kernels, the attribution), ``<layer>/curves.svg``, the pages and the manifest.
  After the first point the folder is published, marked ``.incomplete``: a training
  process killed or interrupted by Ctrl-C leaves every point recorded so far in place,
  with pages that show them.
* :meth:`TimelineWriter.finish` adds the summaries (an animated GIF per map, the maps
  × points sheet), marks the folder complete and rewrites pages and manifest.

``--resume`` (``resume=True``) reopens a folder with the same settings and reads its
points back, so a computation continues after the last point kept.  No TensorFlow here.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np

from oipviz.core.errors import OutputError
from oipviz.core.folders import MARKER, OutputFolder, working_path
from oipviz.core.layers import folder_name
from oipviz.core.outputs import (
    MANIFEST,
    check_replaceable,
    load_npz,
    read_json,
    resolve_target,
    save_image,
    save_npz_compressed,
    write_bytes,
    write_json,
    write_text,
)
from oipviz.render import timeline as pictures
from oipviz.timeline import pages
from oipviz.timeline.point import Timeline, TimelinePoint

KIND = "timeline"
POINTS = "points"


def check_target(out, force: bool = False, resume: bool = False) -> Path:
    """The checks :class:`OutputFolder` makes, without creating anything (a tracker is
    built before training starts; its folder appears when the first point is taken)."""
    target = resolve_target(out)
    if force and resume:
        raise OutputError("--force and --resume exclude each other")
    if not target.parent.is_dir():
        raise OutputError(f"parent folder {target.parent} does not exist")
    exists = os.path.lexists(target)
    partial = os.path.lexists(working_path(target))
    if resume and not (exists or partial):
        raise OutputError(f"--resume: {out} does not exist")
    if partial and not (force or resume):
        raise OutputError(
            f"{out} has the working folder of an unfinished run ({working_path(target).name}); "
            "continue it with --resume or start over with --force"
        )
    if exists and not (force or resume):
        raise OutputError(
            f"{out} already exists; use --force to replace it or --resume to continue it"
        )
    if exists and force:
        check_replaceable(target, os.fspath(out))
    if not os.access(target.parent, os.W_OK):
        raise OutputError(f"cannot write in {target.parent}")
    return target


def gif_bytes(frames: list, durations: list[int]) -> bytes:
    """An animated GIF (looping) of palette-mode frames."""
    buf = io.BytesIO()
    frames[0].save(
        buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations,
        loop=0, optimize=False, disposal=1,
    )  # fmt: skip
    return buf.getvalue()


class TimelineWriter:
    """Writes one timeline folder point by point (see the module's description).

    Its lock (:class:`~oipviz.core.folders.OutputFolder`'s) is held from :meth:`open`
    until the first point is published, then only while a point or the summaries are
    written: between points (hours of training, or a notebook whose ``fit`` was stopped)
    ``oipviz track --finish`` may finish the folder.  Each time the lock is taken again,
    the folder must still hold this writer's points (another run's ``--force`` is an
    error, not a mix of two timelines).

    Parameters
    ----------
    out : str or Path
        The folder (checked at once: an existing one needs ``force`` or ``resume``).
    force, resume : bool
        Replace an earlier output / continue one with the same settings.
    """

    def __init__(self, out, force: bool = False, resume: bool = False):
        self.target = check_target(out, force, resume)
        self.shown, self.force, self.resume = os.fspath(out), force, resume
        self.folder: OutputFolder | None = None
        self.timeline = Timeline()
        self.manifest: dict = {}
        self.info: dict = {}
        self.identity: dict | None = None
        self.published = False
        self.probes: np.ndarray | None = None
        self.vmax = 0.0

    @property
    def path(self) -> Path:
        return self.folder.path if self.folder is not None else self.target

    @property
    def out(self) -> OutputFolder:
        """The open folder (after :meth:`open` or :meth:`open_kept`)."""
        if self.folder is None:
            raise OutputError("the timeline folder is not open yet")
        return self.folder

    def open(self, manifest: dict, info: dict, probes: np.ndarray, convention=None) -> Timeline:
        """Create (or with ``resume`` reopen) the folder; returns the points kept there.
        ``manifest``: its common part (``parameters`` and ``source`` must match on resume);
        ``info``: what the pages state (model, settings)."""
        self.identity = {k: manifest[k] for k in ("parameters", "source")}
        self.folder = OutputFolder(
            self.target, KIND, self.force, self.resume, resumable=True, identity=self.identity
        )
        self.manifest, self.info, self.probes = dict(manifest, page=info), info, probes
        if self.folder.resumed:
            self.published = True
            self.timeline = Timeline(self._read_points(convention))
            self.vmax = max(
                (float(np.abs(p.kernels).max(initial=0)) for p in self.timeline.points), default=0.0
            )
            self.release()
        return self.timeline

    def open_kept(self) -> Timeline:
        """Reopen a timeline folder as it is (``oipviz track --finish``): its manifest,
        page settings and points, whatever the settings were."""
        from oipviz.core.convention import InputConvention

        kept = read_json(self.target / MANIFEST)
        if not isinstance(kept, dict) or kept.get("kind") != KIND:
            raise OutputError(f"{self.shown} is not an oipviz timeline (no timeline manifest.json)")
        self.identity = {k: v for k, v in (kept.get("identity") or {}).items() if k != "command"}
        self.folder = OutputFolder(
            self.target, KIND, resume=True, resumable=True, identity=self.identity
        )
        drop = (
            "tool",
            "kind",
            "identity",
            "complete",
            "interrupted",
            "points",
            "layers",
            "seconds",
        )
        self.manifest = {k: v for k, v in self.folder.previous.items() if k not in drop}
        self.info = self.manifest.get("page") or {}
        if not self.info:
            raise OutputError(f"{self.shown} has no page settings in its manifest.json")
        conv = InputConvention(**convention_fields(self.manifest["model"]["input_convention"]))
        self.timeline = Timeline(self._read_points(conv))
        if not len(self.timeline):
            raise OutputError(f"{self.shown} holds no points")
        self.published = True
        return self.timeline

    def _read_points(self, convention) -> list[TimelinePoint]:
        out = []
        for t in range(100_000):
            a = load_npz(self.out.path / POINTS / f"p{t:04d}.npz")
            if a is None:
                break
            out.append(TimelinePoint.from_arrays(a, convention))
        return out

    def _lock(self) -> None:
        """Take the folder's lock again (if let go) and check that it holds our points."""
        if self.out.lock.fd is not None:
            return
        self.folder = OutputFolder(
            self.target, KIND, resume=True, resumable=True, identity=self.identity
        )
        self.folder.committed = True  # published: never moved or discarded again
        there = len(self.folder.previous.get("points") or [])
        if there != len(self.timeline):
            self.release()
            raise OutputError(
                f"{self.shown} was changed by another run ({there} points there, "
                f"{len(self.timeline)} here); use a new output folder"
            )

    def release(self) -> None:
        """Let the folder's lock go."""
        if self.folder is not None:
            self.folder.lock.release()

    def discard(self) -> None:
        """After an error: remove the working folder if no point was kept yet; let the
        lock go either way."""
        if self.folder is not None and not self.published:
            self.folder.discard()
        self.release()

    # -- points
    def add(self, point: TimelinePoint) -> None:
        """Keep ``point`` (the next one) with its frames; rewrite pages and manifest."""
        self._lock()
        root = self.out.path
        t = len(self.timeline)
        if point.position.index != t:
            raise OutputError(f"point {point.position.index} arrives after {t} points")
        (root / POINTS).mkdir(exist_ok=True)
        self._frames(root, point, t)
        save_npz_compressed(root / POINTS / f"p{t:04d}.npz", point.to_arrays())
        self.timeline.points.append(point)
        self._pages(complete=False)
        if not self.published:
            self.out.commit(keep_lock=True)  # in place from now on, marked incomplete
            self.published = True
        write_text(self.out.path / MARKER, "timeline in progress\n")
        self.release()

    def _frames(self, root: Path, point: TimelinePoint, t: int) -> None:
        for layer, run in point.runs.items():
            (root / pages.FRAMES / folder_name(layer)).mkdir(parents=True, exist_ok=True)
            for k, m in enumerate(run.maps):
                img = pictures.frame(run.shown(run.best_images[k]))
                save_image(root / pages.frame_path(layer, m, t), img)
        if point.kernels.size:
            # one colour range for the whole timeline: the first point's, widened as needed
            self.vmax = max(self.vmax, float(np.abs(point.kernels).max()))
            pic = pictures.kernels(
                point.kernels, self.vmax, f"{point.kernel_layer} at {point.position.label}"
            )
            save_image(root / pages.FRAMES / f"kernels_p{t:04d}.png", pic)
        if len(point.attribution) and self.probes is not None:
            pic = pictures.attribution(
                self.probes, point.attribution, point.predicted, point.probability,
                self.info.get("attribution", ""), point.position.label,
                self.info.get("class_names"),
            )  # fmt: skip
            save_image(root / pages.FRAMES / f"attribution_p{t:04d}.png", pic)

    def _pages(self, complete: bool, interrupted: bool = False) -> None:
        root, tl = self.out.path, self.timeline
        if not len(tl):
            return
        info = dict(self.info, complete=complete, interrupted=interrupted)
        pages.copy_css(root)
        for layer in tl.layers:
            pages.write_curves(root, tl, layer)
            pages.write_layer_page(root, tl, layer, info)
        pages.write_index(root, tl, info)
        self._manifest(complete, interrupted)

    def _manifest(self, complete: bool, interrupted: bool) -> None:
        tl = self.timeline
        layers = {}
        for layer in tl.layers:
            states = tl.states(layer)
            layers[layer] = {
                "maps": tl.maps(layer),
                "states": states,
                "oip_activation": tl.values(layer),
                "probe_mean_activation": tl.probe_means(layer),
                "events": tl.events(layer),
            }
        m = dict(
            self.manifest,
            interrupted=interrupted,
            points=[
                dict(p.position.as_dict(), file=f"{POINTS}/p{t:04d}.npz", metrics=p.metrics)
                for t, p in enumerate(tl.points)
            ],
            layers=layers,
            seconds={"points": [round(p.seconds, 3) for p in tl.points]},
        )
        self.out.write_manifest(m, complete=complete)

    # -- the end
    def finish(self, interrupted: bool = False) -> Path:
        """The per-map GIFs and the maps × points sheet; the folder marked complete (or,
        ``interrupted``, left marked incomplete with every point kept); the lock released."""
        if self.folder is None:
            raise OutputError("the timeline has no points; nothing to finish")
        self._lock()
        t0 = time.perf_counter()
        try:
            if len(self.timeline):
                self._summaries()
            self._pages(complete=not interrupted, interrupted=interrupted)
            seconds = {"summaries": round(time.perf_counter() - t0, 3)}
            write_json(self.out.path / "timings.json", seconds)
            if not interrupted:
                self.out.commit()
        finally:
            self.release()
        return self.out.path

    def _summaries(self) -> None:
        root, tl = self.out.path, self.timeline
        labels = [p.position.label for p in tl.points]
        for layer in tl.layers:
            states = tl.states(layer)
            shown = [[p.runs[layer].shown(b) for b in p.runs[layer].best_images] for p in tl.points]
            (root / folder_name(layer)).mkdir(exist_ok=True)
            maps = tl.maps(layer)
            for k, m in enumerate(maps):
                frames, durations = pictures.gif_frames(
                    [row[k] for row in shown], labels, [row[k] for row in states]
                )
                write_bytes(
                    root / folder_name(layer) / f"m{m:03d}.gif", gif_bytes(frames, durations)
                )
            pic = pictures.sheet(
                shown, maps, labels, states, f"{layer}: OIPs, a row per map, a column per point"
            )
            save_image(root / folder_name(layer) / "sheet.png", pic)


def load_timeline(folder) -> Timeline:
    """The points kept in a timeline folder, as a :class:`Timeline` (read only)."""
    from oipviz.core.convention import InputConvention

    folder = Path(folder)
    m = read_json(folder / MANIFEST)
    if not isinstance(m, dict) or m.get("kind") != KIND:
        raise OutputError(f"{folder} is not an oipviz timeline (no timeline manifest.json)")
    conv = InputConvention(**convention_fields(m["model"]["input_convention"]))
    points = []
    for t in range(len(m.get("points", []))):
        a = load_npz(folder / POINTS / f"p{t:04d}.npz")
        if a is None:
            break
        points.append(TimelinePoint.from_arrays(a, conv))
    return Timeline(points)


def convention_fields(d: dict) -> dict:
    """:class:`~oipviz.core.convention.InputConvention`'s fields from its ``as_dict()`` (in
    a manifest)."""
    means, stds = (tuple(float(v) for v in np.atleast_1d(d[k])) for k in ("mean", "std"))
    return {"kind": d["kind"], "means": means, "stds": stds, "source": d.get("source", "manifest")}
