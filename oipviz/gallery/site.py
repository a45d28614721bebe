"""The layer gallery: a static site composed from results, written by :mod:`.pages`,
:mod:`.mappage` and :mod:`.extras`.

Per (model, layer), one job of :mod:`oipviz.compute.layerjobs` on an executor (local or
Ray): the OIP probe (:func:`oipviz.compute.oip.oip` in resumable parts; its inits, steps,
range and style default to the rescue probe's: valid, readable) and
:func:`oipviz.compute.rescue.rescue` on that probe (the code, wake and counts of
``precursor --dead-only``); the ``--compare`` model's layers get the probe only.  Then the
dataset statistics of :mod:`oipviz.compute.datastats` and the in-range activations and
uniqueness of :mod:`oipviz.compute.measures`.  No optimizer or precursor of its own.
Everything finished is kept in the resumable :class:`~oipviz.core.outputs.OutputFolder`:
statistics (``data/``), OIP parts (``<layer>/parts/``), each map's precursor
(``<layer>/map_NNN/precursor/``) and pages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from oipviz.compute.datastats import DatasetStats, dataset_stats
from oipviz.compute.layerjobs import LayerJob, run_jobs
from oipviz.compute.measures import measure
from oipviz.compute.parts import parts
from oipviz.compute.rescue import RescueRow
from oipviz.core.folders import OutputFolder
from oipviz.core.layers import folder_name
from oipviz.core.outputs import load_npz, save_npz, write_json
from oipviz.core.progress import Stages
from oipviz.core.status import rescued_or_dead
from oipviz.data.inputs import dataset_of, real_images
from oipviz.gallery import extras, pages, spacepage
from oipviz.gallery.info import DATA_SEED, run_history, site_info, site_manifest
from oipviz.gallery.layerpages import write_layer_pages
from oipviz.gallery.settings import (
    PRECURSOR_DEFAULTS,
    FeatureSpaceSettings,
    GallerySettings,
    RescueSettings,
)
from oipviz.gallery.state import LayerState, load_precursors, precursor_folder
from oipviz.writers.oip import FolderParts
from oipviz.writers.precursor import write_result

KIND = "gallery"
__all__ = [
    "build_gallery",
    "GalleryResult",
    "GallerySettings",
    "RescueSettings",
    "FeatureSpaceSettings",
    "PRECURSOR_DEFAULTS",
    "LayerState",
]


@dataclass
class GalleryResult:
    """What :func:`build_gallery` made; ``counts`` are the RescueResults' counts."""

    path: Path
    layers: dict[str, LayerState]
    counts: dict[str, dict[str, int]]
    seconds: dict[str, float]
    pages_written: int


def build_gallery(
    folder: OutputFolder,
    loaded,
    layers: list[str],
    maps: dict | None = None,
    settings: GallerySettings | None = None,
    *,
    compare=None,
    progress=None,
    manifest: dict | None = None,
    executor=None,
    **options,
) -> GalleryResult:
    """Compute what ``folder`` lacks and write the site into it (the caller commits).

    Parameters
    ----------
    folder : OutputFolder
        The open (resumable) output folder.
    loaded : LoadedModel
        The model.
    layers : list of str
        The layers shown.
    maps : dict or None
        {layer: [maps]} (default: every map).
    settings : GallerySettings or None
        What to compute and show.  None: from ``options``.
    compare : LoadedModel or None
        Another model whose same-named layer is shown side by side.
    progress : callable, False or None
        ``f(stage, n, total)``, False (silent) or None (progress bars).
    manifest : dict or None
        The manifest's common part.
    executor : Executor or None
        Where the (model, layer) jobs run (:func:`oipviz.compute.executors.executor`;
        None: in this process).
    **options
        Instead of ``settings``: :meth:`GallerySettings.from_options`'s keywords
        (``inits``, ``steps``, ``lr``, ``range_mode``, ``style``, ``seed``, ``precision``,
        ``precursor`` (a dict), ``data_limit``, ``explain``, ``feature_space`` (bool),
        ``feature_method``, ``feature_samples``).

    Returns
    -------
    GalleryResult

    Ctrl-C (KeyboardInterrupt) leaves the finished parts and a valid index.
    """
    if settings is None:
        settings = GallerySettings.from_options(**options)
    elif options:
        raise TypeError("give settings or keyword options, not both")
    site = _SiteBuild(folder, loaded, layers, maps, settings, compare, manifest, executor)
    return site.run(progress)


def site_bytes(geometry, n_maps: int) -> int:
    """About how many bytes a gallery of ``n_maps`` maps writes: 238 KB per map on 28×28
    (a default conv3 gallery of 128 maps wrote 30.5 MB), growing with the image's pixels,
    plus the site's own pages and arrays."""
    pixels = geometry.height * geometry.width * geometry.channels
    return n_maps * (120_000 + 150 * pixels) + 2_000_000


class _SiteBuild:
    """One call of :func:`build_gallery`: its inputs, the layers' states and timings."""

    def __init__(self, folder, loaded, layers, maps, settings, compare, manifest, executor):
        self.folder, self.root, self.loaded = folder, folder.path, loaded
        self.layer_names, self.s, self.compare = list(layers), settings, compare
        self.manifest, self.executor = manifest, executor
        self.dataset = dataset_of(loaded, settings.data)
        self.params = settings.params(self.dataset)
        self.states = [
            LayerState(loaded.layer(n), list((maps or {}).get(n) or range(loaded.layer(n).units)))
            for n in layers
        ]
        self.site = site_info(loaded, self.params, compare, manifest)
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.beside: dict[str, float] = {}  # wall time of work done beside the phases
        self.beside_jobs: list = []  # that work (core.beside.Beside or None)
        self.written = 0
        self.stages = Stages(False)

    def timed(self, phase: str, fn, *args):
        t, c = time.perf_counter(), time.process_time()
        try:
            return fn(*args)
        finally:
            self.seconds[phase] = round(self.seconds.get(phase, 0.0) + time.perf_counter() - t, 3)
            self.cpu[phase] = round(self.cpu.get(phase, 0.0) + time.process_time() - c, 3)

    def run(self, progress) -> GalleryResult:
        """Every phase (``progress``: of :class:`~oipviz.core.progress.Stages`); on an error
        or Ctrl-C a valid index of what is finished."""
        self.stages = Stages(progress)
        try:
            self._phases()
        except BaseException:
            for job in self.beside_jobs:  # an error or Ctrl-C does not wait for them
                if job is not None:
                    job.stop()
            self._keep_partial()
            raise
        finally:
            self.stages.close()
        self._index(complete=True)
        counts = {}
        for st in self.states:
            assert st.rescue is not None  # every layer's own job ran its rescue (_fan_out)
            counts[st.info.name] = st.rescue.counts
        self.folder.write_manifest(
            site_manifest(
                self.manifest,
                self.params,
                self.s.data_limit,
                self.states,
                counts,
                self._runs(),
                self.compare,
            )
        )
        return GalleryResult(
            self.folder.final,
            {st.info.name: st for st in self.states},
            counts,
            self.seconds,
            self.written,
        )

    def _index(self, complete: bool) -> None:
        pages.write_home(self.root, self.loaded, self.states, self.site, complete, extras.links)

    def _runs(self) -> list[dict]:
        return run_history(self.folder, self.seconds, self.cpu, self.written, self.beside)

    def _phases(self) -> None:
        data = self.timed("stats", self._load_stats)
        self.site.n_digits, self.site.data_source = len(data.labels), data.source
        for st in self.states:
            st.data, st.stats = data, data.layers[st.info.name]
        self._fan_out()
        for st in self.states:
            st.measures = self.timed("measures", measure, self.loaded, st)
        fs = (self.root, self.loaded, self.states, self.site, self.s.feature_space)
        spaces = spacepage.start(*fs, compare=self.compare, seed=self.s.seed)  # beside the pages
        self.beside_jobs.append(spaces)
        for st in self.states:
            self.timed("pages", self._write_pages, st)
        self.timed("weights", extras.write_weights, self.root, self.loaded, self.site)
        if self.s.explain:
            mis = (self.root, self.loaded, self.states[-1], self.site, self.s.seed)
            self.timed("explain", extras.write_misclassified, *mis)
        if self.s.feature_space is not None:
            more = (self.stages, self.compare, self.s.seed)
            took = self.timed("feature_space", spacepage.finish, spaces, *fs, *more)
            if took is not None:
                self.beside["feature_space"] = round(took, 3)

    def _keep_partial(self) -> None:
        """After Ctrl-C or an error: a valid index (and manifest) of what is done."""
        if not self.folder.finished_items():
            return
        try:
            self._index(complete=False)
            if self.manifest:
                self.folder.write_manifest(dict(self.manifest, runs=self._runs()), complete=False)
        except Exception:  # the first error is the one to report
            pass

    def _load_stats(self) -> DatasetStats:
        """The dataset statistics: kept in ``data/`` by an earlier run, or computed."""
        data = self.root / "data"
        names = [st.info.name for st in self.states]
        have = {n: a for n in names if (a := load_npz(data / f"{folder_name(n)}.npz")) is not None}
        if len(have) == len(names):
            return DatasetStats.from_arrays(have)
        x01, labels, source = real_images(
            self.dataset, self.s.data_limit, DATA_SEED, "all", self.loaded
        )
        res = dataset_stats(
            self.loaded,
            self.layer_names,
            x01,
            labels,
            source,
            progress=self.stages.tick("digits through the model", len(x01)),
        )
        data.mkdir(exist_ok=True)
        for name in self.layer_names:
            save_npz(data / f"{folder_name(name)}.npz", res.to_arrays(name))
        return res

    def _keep(self, st: LayerState, res) -> None:
        """A dead map's precursor result: its files, then result.json (the map is done)."""
        d = precursor_folder(self.root, st.info.name, res.map)
        d.mkdir(parents=True, exist_ok=True)
        entry = write_result(d, res)
        write_json(d / "result.json", entry)
        st.entries[res.map] = entry
        st.done[res.map] = RescueRow(res.map, 0.0, rescued_or_dead(res.best_value), res.best_value)

    def _jobs(self) -> tuple[list, list, list[LayerState]]:
        """The (model, LayerJob) of every layer (and of the compare model's), the parts
        store of each, and the layer each belongs to."""
        s, jobs, stores, owners = self.s, [], [], []
        pp = None if s.precursor is None else s.precursor.as_dict()
        for st in self.states:
            name = st.info.name
            load_precursors(self.root, st)
            todo = [(self.loaded, folder_name(name), st.maps, True, name)]
            if self.compare is not None:
                theirs = [m for m in st.maps if m < self.compare.layer(name).units]
                if theirs:
                    label = f"{name} ({self.compare.name})"
                    todo.append(
                        (self.compare, f"compare/{folder_name(name)}", theirs, False, label)
                    )
            for model, sub, some, own, label in todo:
                store = FolderParts(self.folder, model.convention, under=sub)
                have = {g[0]: a for g in parts(some, s.inits) if (a := store.arrays(g)) is not None}
                job = LayerJob(
                    name,
                    some,
                    s.inits,
                    s.steps,
                    s.lr,
                    s.range_mode,
                    s.style,
                    s.seed,
                    pp,
                    own,
                    label,
                    have,
                    dict(st.done),
                    s.precision,
                    s.plateau,
                )
                jobs.append((model, job))
                stores.append(store)
                owners.append(st)
        return jobs, stores, owners

    def _fan_out(self) -> None:
        """Run the (model, layer) jobs; fill each layer's probe, rescue and compare."""
        jobs, stores, owners = self._jobs()

        def probed(i, run):  # the index of an interrupted run shows it
            if jobs[i][1].rescue:
                owners[i].probe = run

        def done(i, work):
            st = owners[i]
            for phase, t in work.seconds.items():
                self.seconds[phase] = round(self.seconds.get(phase, 0.0) + t, 3)
            for phase, t in work.cpu_seconds.items():
                self.cpu[phase] = round(self.cpu.get(phase, 0.0) + t, 3)
            if work.rescue is None:
                st.compare = work.probe
            else:
                st.probe, st.rescue = work.probe, work.rescue

        def keep(i, res):
            self._keep(owners[i], res)

        t, ex = time.perf_counter(), self.executor
        run_jobs(ex, jobs, stores, keep, done, self.stages, probed)
        if ex is not None and ex.name != "local":
            self.seconds[f"jobs on {ex.name}"] = round(time.perf_counter() - t, 3)

    def _write_pages(self, st: LayerState) -> None:
        """The layer's map pages that do not exist yet, its contact sheet and compare page."""

        def counted() -> None:
            self.written += 1

        write_layer_pages(
            self.root,
            self.loaded,
            st,
            self.site,
            self.s.inits,
            self.s.explain,
            self.stages,
            counted,
        )
