"""The timeline writer: points → files, through the output layer
(:class:`~oipviz.core.outputs.OutputFolder`, kind ``timeline``, resumable).

* :meth:`TimelineWriter.add` keeps each point as soon as it is measured:
  ``points/pNNNN.npz`` (the arrays, deterministic bytes), its frames (each map's OIP,
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
import zipfile
from pathlib import Path

import numpy as np

from oipviz.core.errors import OutputError
from oipviz.core.outputs import (
    MARKER,
    OutputFolder,
    check_replaceable,
    load_npz,
    resolve_target,
    write_bytes,
    write_json,
    write_text,
)
from oipviz.timeline import figures, pages
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
    if resume and not exists:
        raise OutputError(f"--resume: {out} does not exist")
    if exists and not (force or resume):
        raise OutputError(
            f"{out} already exists; use --force to replace it or --resume to continue it"
        )
    if exists and force:
        check_replaceable(target, os.fspath(out))
    if not os.access(target.parent, os.W_OK):
        raise OutputError(f"cannot write in {target.parent}")
    return target


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz whose bytes depend on the arrays only (``np.savez`` stamps the time)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


class TimelineWriter:
    """Writes one timeline folder point by point (see the module's description).

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
        self.published = False
        self.finished = False
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
        identity = {k: manifest[k] for k in ("parameters", "source")}
        self.folder = OutputFolder(
            self.target, KIND, self.force, self.resume, resumable=True, identity=identity
        )
        self.manifest, self.info, self.probes = dict(manifest, page=info), info, probes
        if self.folder.resumed:
            self.published = True
            self.timeline = Timeline(self._read_points(convention))
            write_text(self.folder.path / MARKER, "timeline in progress\n")
            self.vmax = max(
                (float(np.abs(p.kernels).max(initial=0)) for p in self.timeline.points), default=0.0
            )
        return self.timeline

    def open_kept(self) -> Timeline:
        """Reopen a timeline folder as it is (``oipviz track --finish``): its manifest,
        page settings and points, whatever the settings were."""
        from oipviz.core.convention import InputConvention

        self.folder = OutputFolder(self.target, KIND, resume=True, resumable=True)
        self.manifest = {
            k: v
            for k, v in self.folder.previous.items()
            if k not in ("tool", "complete", "interrupted", "points", "layers", "seconds")
        }
        self.info = self.manifest.get("page") or {}
        if not self.info:
            raise OutputError(f"{self.shown} has no page settings in its manifest.json")
        conv = InputConvention(**self.manifest["model"]["input_convention"])
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

    # -- points
    def add(self, point: TimelinePoint) -> None:
        """Keep ``point`` (the next one) with its frames; rewrite pages and manifest."""
        root = self.out.path
        t = len(self.timeline)
        if point.position.index != t:
            raise OutputError(f"point {point.position.index} arrives after {t} points")
        (root / POINTS).mkdir(exist_ok=True)
        self._frames(root, point, t)
        write_bytes(root / POINTS / f"p{t:04d}.npz", npz_bytes(point.to_arrays()))
        self.timeline.points.append(point)
        self.finished = False
        self._pages(complete=False)
        if not self.published:
            self.out.commit()  # in place from now on, still marked incomplete
            write_text(self.out.path / MARKER, "timeline in progress\n")
            self.published = True

    def _frames(self, root: Path, point: TimelinePoint, t: int) -> None:
        for layer, run in point.runs.items():
            (root / pages.FRAMES / layer).mkdir(parents=True, exist_ok=True)
            for k, m in enumerate(run.maps):
                img = figures.frame(run.shown(run.best_images[k]))
                figures.save_png(root / pages.frame_path(layer, m, t), img)
        if point.kernels.size:
            # one colour range for the whole timeline: the first point's, widened as needed
            self.vmax = max(self.vmax, float(np.abs(point.kernels).max()))
            pic = figures.kernels(
                point.kernels, self.vmax, f"{point.kernel_layer} at {point.position.label}"
            )
            figures.save_png(root / pages.FRAMES / f"kernels_p{t:04d}.png", pic)
        if len(point.attribution) and self.probes is not None:
            pic = figures.attribution(
                self.probes, point.attribution, point.predicted, point.probability,
                self.info.get("attribution", ""), point.position.label,
            )  # fmt: skip
            figures.save_png(root / pages.FRAMES / f"attribution_p{t:04d}.png", pic)

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
        ``interrupted``, left marked incomplete with every point kept)."""
        if self.folder is None:
            raise OutputError("the timeline has no points; nothing to finish")
        t0 = time.perf_counter()
        if len(self.timeline):
            self._summaries()
        self._pages(complete=not interrupted, interrupted=interrupted)
        if not interrupted:
            self.out.commit()
            self.finished = True
        write_json(
            self.folder.path / "timings.json", {"summaries": round(time.perf_counter() - t0, 3)}
        )
        return self.folder.path

    def _summaries(self) -> None:
        root, tl = self.out.path, self.timeline
        labels = [p.position.label for p in tl.points]
        for layer in tl.layers:
            states = tl.states(layer)
            shown = [[p.runs[layer].shown(b) for b in p.runs[layer].best_images] for p in tl.points]
            (root / layer).mkdir(exist_ok=True)
            maps = tl.maps(layer)
            for k, m in enumerate(maps):
                figures.map_gif(
                    root / layer / f"m{m:03d}.gif",
                    [row[k] for row in shown],
                    labels,
                    [row[k] for row in states],
                )
            pic = figures.sheet(
                shown, maps, labels, states, f"{layer}: OIPs, a row per map, a column per point"
            )
            figures.save_png(root / layer / "sheet.png", pic)

    def reopen(self) -> None:
        """After :meth:`finish`: more points follow (another ``fit`` of the same model)."""
        if self.folder is not None and self.finished:
            write_text(self.folder.path / MARKER, "timeline in progress\n")
            self.finished = False

    def discard(self) -> None:
        """After an error before the first point was kept: remove the working folder."""
        if self.folder is not None and not self.published:
            self.folder.discard()


def load_timeline(folder) -> Timeline:
    """The points kept in a timeline folder, as a :class:`Timeline` (read only)."""
    from oipviz.core.convention import InputConvention
    from oipviz.core.outputs import read_json

    folder = Path(folder)
    m = read_json(folder / "manifest.json")
    if not isinstance(m, dict) or m.get("kind") != KIND:
        raise OutputError(f"{folder} is not an oipviz timeline (no timeline manifest.json)")
    conv = InputConvention(**m["model"]["input_convention"])
    points = []
    for t in range(len(m.get("points", []))):
        a = load_npz(folder / POINTS / f"p{t:04d}.npz")
        if a is None:
            break
        points.append(TimelinePoint.from_arrays(a, conv))
    return Timeline(points)
