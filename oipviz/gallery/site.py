"""The layer gallery: a static site composed from results, written by :mod:`.pages`.

Per (model, layer), one job of :mod:`.work` on an executor (local or Ray): the OIP probe
(:func:`oipviz.compute.oip.oip` in resumable parts; its inits, steps, range and style default to
the rescue probe's: valid, readable) and :func:`oipviz.compute.rescue.rescue` on that probe (the
code, wake and counts of ``precursor --dead-only``); the ``--compare`` model's layers get
the probe only.  Then the dataset statistics of :mod:`.stats` and the in-range activations
and uniqueness of :mod:`.measures`.  No optimizer or precursor of its own.  Everything
finished is kept in the resumable :class:`~oipviz.core.outputs.OutputFolder`: statistics (``data/``), OIP parts
(``<layer>/parts/``), each map's precursor (``<layer>/map_NNN/precursor/``) and pages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from oipviz.compute.datastats import BINS, DatasetStats, LayerStats, dataset_stats
from oipviz.compute.measures import Measures, measure
from oipviz.compute.precursor_settings import DEFAULT_WAKE
from oipviz.compute.rescue import (
    PROBE_INITS,
    PROBE_RANGE,
    PROBE_STEPS,
    PROBE_STYLE,
    RescueResult,
    RescueRow,
)
from oipviz.core.folders import OutputFolder
from oipviz.core.outputs import load_npz, read_json, save_npz, write_bytes, write_json
from oipviz.core.precision import check as check_precision
from oipviz.core.progress import Stages
from oipviz.core.status import LIVE, PENDING, fires
from oipviz.data.inputs import dataset_of
from oipviz.gallery import extras, mappage, pages

KIND = "gallery"
DATA_SEED = 0
#: the gallery's precursor: the fast forward screen, a short refinement, the default wake
PRECURSOR_DEFAULTS = {
    "screen": "forward",
    "grid": 3,
    "values": [0.2, 0.5, 0.8],
    "test_steps": 10,
    "top": 2,
    "steps": 200,
    "wake": DEFAULT_WAKE,
}


@dataclass
class LayerState:
    """One layer's results, filled phase by phase (``status`` works in every state)."""

    info: object
    maps: list[int]
    probe: object = None  # OIPRun
    done: dict = field(default_factory=dict)  # map -> RescueRow of a finished precursor
    entries: dict = field(default_factory=dict)  # map -> its precursor files' entry
    rescue: RescueResult | None = None
    data: DatasetStats | None = None
    stats: LayerStats | None = None
    compare: object = None  # OIPRun of the other model
    measures: Measures | None = None

    def status(self, k: int) -> str:
        if self.rescue is not None:
            return self.rescue.rows[k].status
        if self.probe is None:
            return PENDING
        if fires(self.probe.best_values[k]):
            return LIVE
        row = self.done.get(self.maps[k])
        return row.status if row else PENDING

    def value(self, k: int) -> float | None:
        """The activation shown: the best OIP's, or the precursor's where it ran."""
        if self.probe is None:
            return None
        row = self.rescue.rows[k] if self.rescue is not None else self.done.get(self.maps[k])
        if row is not None and row.precursor_value is not None:
            return float(row.precursor_value)
        return float(self.probe.best_values[k])


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
    *,
    inits: int = PROBE_INITS,
    steps: int = PROBE_STEPS,
    lr: float = 0.02,
    range_mode: str = PROBE_RANGE,
    style: str = PROBE_STYLE,
    seed: int = 0,
    precursor: dict | None = PRECURSOR_DEFAULTS,
    data_limit: int | None = 5000,
    compare=None,
    progress=None,
    manifest: dict | None = None,
    explain: bool = True,
    feature_space: bool = True,
    feature_method: str = "tsne",
    feature_samples: int = extras.FEATURE_SAMPLES,
    executor=None,
    precision: str = "float32",
) -> GalleryResult:
    """Compute what ``folder`` lacks and write the site into it (the caller commits).

    ``maps``: {layer: [maps]} (default: every map).  ``precursor``: the rescue settings
    (:data:`PRECURSOR_DEFAULTS`; None: no precursor, dead maps stay dead).  ``range_mode``,
    ``style``: of the OIPs (:func:`oipviz.compute.oip.oip`); the precursor's stay free.  ``compare``:
    another LoadedModel whose same-named layer is shown side by side.  ``progress``:
    ``f(stage, n, total)``, False or None (progress bars).  Ctrl-C (KeyboardInterrupt)
    leaves the finished parts and a valid index; ``manifest``: its common part.
    ``explain``: Grad-CAM strips on the map pages and ``misclassified.html``;
    ``feature_space``: ``feature_space.html`` (``feature_method``: tsne or pca, on
    ``feature_samples`` digits); ``weights.html`` always (:mod:`.extras`).
    ``executor``: where the (model, layer) jobs run (:func:`oipviz.compute.executors.executor`;
    None: in this process), see :mod:`.work`.  ``precision``: of the OIP and precursor
    ascents (:mod:`oipviz.core.precision`; activations are float32).
    """
    from oipviz.compute.layerjobs import LayerJob, run_jobs
    from oipviz.compute.parts import parts
    from oipviz.gallery.figures import SimilarityPlotter, StatsPlotter, save
    from oipviz.writers.oip import FolderParts
    from oipviz.writers.precursor import write_result

    pp = None if precursor is None else dict(PRECURSOR_DEFAULTS, **precursor)
    dataset = dataset_of(loaded)
    params = dict(
        inits=inits,
        steps=steps,
        lr=lr,
        range=range_mode,
        style=style,
        seed=seed,
        precursor=pp,
        dataset=dataset,
        explain=explain,
        feature_space=dict(method=feature_method, samples=feature_samples)
        if feature_space
        else None,
        precision=check_precision(precision),
    )
    states = [
        LayerState(loaded.layer(n), list((maps or {}).get(n) or range(loaded.layer(n).units)))
        for n in layers
    ]
    site = _site_info(loaded, params, compare, manifest)
    stages, root, seconds, cpu, written = Stages(progress), folder.path, {}, {}, [0]

    def timed(phase, fn, *args):
        t, c = time.perf_counter(), time.process_time()
        try:
            return fn(*args)
        finally:
            seconds[phase] = round(seconds.get(phase, 0.0) + time.perf_counter() - t, 3)
            cpu[phase] = round(cpu.get(phase, 0.0) + time.process_time() - c, 3)

    def load_stats():
        have = {st.info.name: load_npz(root / "data" / f"{st.info.name}.npz") for st in states}
        if all(v is not None for v in have.values()):
            return DatasetStats.from_arrays(have)
        from oipviz.data.inputs import real_images

        x01, labels, source = real_images(dataset, data_limit, DATA_SEED, "all")
        res = dataset_stats(
            loaded,
            layers,
            x01,
            labels,
            source,
            progress=stages.tick("digits through the model", len(x01)),
        )
        (root / "data").mkdir(exist_ok=True)
        for name in layers:
            save_npz(root / "data" / f"{name}.npz", res.to_arrays(name))
        return res

    def keep(st, res):
        """A dead map's precursor result: its files, then result.json (the map is done)."""
        d = root / st.info.name / f"map_{res.map:03d}" / "precursor"
        d.mkdir(parents=True, exist_ok=True)
        entry = write_result(d, res)
        write_json(d / "result.json", entry)
        st.entries[res.map] = entry
        st.done[res.map] = RescueRow(res.map, 0.0, res.status, res.best_value)

    def fan_out():
        jobs, stores, owners = [], [], []
        for st in states:
            name = st.info.name
            _load_precursors(root, st)
            todo = [(loaded, name, st.maps, True, name)]
            if compare is not None:
                theirs = [m for m in st.maps if m < compare.layer(name).units]
                if theirs:
                    todo.append(
                        (compare, f"compare/{name}", theirs, False, f"{name} ({compare.name})")
                    )
            for model, sub, some, own, label in todo:
                store = FolderParts(folder, model.convention, under=sub)
                have = {g[0]: a for g in parts(some, inits) if (a := store.arrays(g)) is not None}
                jobs.append(
                    (
                        model,
                        LayerJob(
                            name,
                            some,
                            inits,
                            steps,
                            lr,
                            range_mode,
                            style,
                            seed,
                            pp,
                            own,
                            label,
                            have,
                            dict(st.done),
                            precision,
                        ),
                    )
                )
                stores.append(store)
                owners.append(st)

        def probed(i, run):  # the index of an interrupted run shows it
            if jobs[i][1].rescue:
                owners[i].probe = run

        def done(i, work):
            st = owners[i]
            for phase, t in work.seconds.items():
                seconds[phase] = round(seconds.get(phase, 0.0) + t, 3)
            for phase, t in work.cpu_seconds.items():
                cpu[phase] = round(cpu.get(phase, 0.0) + t, 3)
            if work.rescue is None:
                st.compare = work.probe
            else:
                st.probe, st.rescue = work.probe, work.rescue

        t = time.perf_counter()
        run_jobs(executor, jobs, stores, lambda i, res: keep(owners[i], res), done, stages, probed)
        if executor is not None and executor.name != "local":
            seconds[f"jobs on {executor.name}"] = round(time.perf_counter() - t, 3)

    def write_pages(st):
        plotter = StatsPlotter(BINS, unit=pages.noun(st.info))
        sims = SimilarityPlotter(inits)
        todo = [
            k for k, m in enumerate(st.maps) if not (root / pages.page_of(st.info.name, m)).exists()
        ]
        cams = extras.gradcam_strips(root, loaded, st, todo) if explain else {}
        tick = stages.tick(f"{st.info.name}: pages", len(todo))
        for k in todo:
            mappage.write_map(root, st, k, site, plotter, sims, cams.get(k))
            written[0] += 1
            tick(1)
        save(root / st.info.name / "sheet.png", pages.sheet_of(st))
        if st.compare is not None:
            pages.write_compare(root, st, site)

    try:
        data = timed("stats", load_stats)
        site.n_digits, site.data_source = len(data.labels), data.source
        for st in states:
            st.data, st.stats = data, data.layers[st.info.name]
        fan_out()
        for st in states:
            st.measures = timed("measures", measure, loaded, st)
        for st in states:
            timed("pages", write_pages, st)
        timed("weights", extras.write_weights, root, loaded, site)
        if explain:
            timed("explain", extras.write_misclassified, root, loaded, states[-1], site, seed)
        if feature_space:
            timed(
                "feature_space",
                lambda: extras.write_feature_space(
                    root,
                    loaded,
                    states,
                    site,
                    method=feature_method,
                    samples=feature_samples,
                    compare=compare,
                    seed=seed,
                    progress=stages,
                ),
            )
    except BaseException:
        if folder.finished_items():  # Ctrl-C or an error: a valid index of what is done
            try:
                _index(root, loaded, states, site, complete=False)
                if manifest:
                    folder.write_manifest(
                        dict(manifest, runs=_runs(folder, seconds, cpu, written[0])), complete=False
                    )
            except Exception:  # the first error is the one to report
                pass
        raise
    finally:
        stages.close()
    _index(root, loaded, states, site, complete=True)
    counts = {st.info.name: st.rescue.counts for st in states}
    folder.write_manifest(
        _manifest(
            folder,
            manifest,
            params,
            data_limit,
            states,
            counts,
            _runs(folder, seconds, cpu, written[0]),
            compare,
        )
    )
    return GalleryResult(
        folder.final, {st.info.name: st for st in states}, counts, seconds, written[0]
    )


def _index(
    root: Path, loaded, states: list[LayerState], site: pages.SiteInfo, complete: bool
) -> None:
    """index.html with its stylesheet and the model's confusion matrix."""
    pages.copy_css(root)
    if site.confusion:
        write_bytes(
            root / site.confusion, loaded.path.with_name(loaded.card["confusion_png"]).read_bytes()
        )
    pages.write_index(root, states, site, complete, extras.links(root))


def _load_precursors(root: Path, st: LayerState) -> None:
    """The maps' precursors finished by an earlier (interrupted) run, if any (their
    random-init activation is filled in by :func:`~.work.layer_work` from the probe)."""
    for m in st.maps:
        d = root / st.info.name / f"map_{m:03d}" / "precursor"
        entry = read_json(d / "result.json")
        if entry is None or not (d / "best.npy").exists():
            continue
        st.entries[m] = entry
        st.done[m] = RescueRow(
            m,
            None,
            entry["status"],
            float(entry["best_activation"]),
            np.load(d / "best.npy"),
            int(entry["best_candidate"]),
        )


def _site_info(loaded, params, compare, manifest) -> pages.SiteInfo:
    card = loaded.card or {}
    rows = [("file", loaded.name), ("input", loaded.convention.describe())]
    if card:
        acc = card.get("heldout_accuracy")
        rows += [
            ("architecture", card.get("architecture", "?")),
            ("trained on", f"{card.get('dataset', '?')} ({card.get('data_source', '?')})"),
            ("held-out accuracy", f"{acc:.2%}" if isinstance(acc, (int, float)) else "?"),
            ("steps", card.get("steps", "?")),
        ]
    else:
        rows.append(("card", "none (no NAME.card.json beside the model)"))
    rows.append(
        (
            "layers",
            ", ".join(
                f"{i.name} {i.units}" + (f"×{i.shape[1]}×{i.shape[2]}" if i.is_conv else "")
                for i in loaded.layers
                if i.units is not None
            ),
        )
    )
    src = loaded.path.with_name(card["confusion_png"]) if card.get("confusion_png") else None
    confusion = "model_confusion.png" if src is not None and src.exists() else None
    cmd = (manifest or {}).get("command") or "oipviz gallery …"
    resume = cmd if "--resume" in cmd else cmd.replace(" --force", "") + " --resume"
    return pages.SiteInfo(
        loaded.name,
        params,
        compare=compare.name if compare else None,
        model_rows=rows,
        confusion=confusion,
        resume_command=resume,
    )


def _runs(folder, seconds: dict, cpu: dict, written: int) -> list[dict]:
    """The runs so far (an interrupted one, its resumes): wall and CPU time per phase."""
    prev = getattr(folder, "previous", None) or {}
    return list(prev.get("runs", [])) + [
        {"seconds": seconds, "cpu_seconds": cpu, "pages_written": written}
    ]


def _manifest(folder, base, params, data_limit, states, counts, runs, compare) -> dict:
    st0 = states[0]
    return dict(
        base or {},
        settings=dict(params, data_limit=data_limit, data_seed=DATA_SEED),
        range=params["range"],
        style=params["style"],
        rendering=(
            "OIPs: exact pixels (0 = black, 1 = white)"
            if params["range"] == "valid"
            else "OIPs: min-max scaled per image (the articles' plots)"
        )
        + "; *_enhanced.png: contrast-enhanced; precursor images: free range, min-max",
        data={
            "dataset": params["dataset"],
            "source": st0.data.source,
            "digits": int(len(st0.data.labels)),
            "split": "all",
            "seed": DATA_SEED,
        },
        compare=None if compare is None else {"path": str(compare.path)},
        summary=counts,
        runs=runs,
        layers={
            st.info.name: {
                "shape": list(st.info.shape[1:]),
                "kind": pages.noun(st.info),
                "class_counts": st.data.class_counts,
                "rescue": st.rescue.params,
                "summary": counts[st.info.name],
                "in_range": st.measures.summary(),
                "precision_used": getattr(st.probe, "precision", "float32"),
                "maps": [mappage.map_entry(st, k) for k in range(len(st.maps))],
            }
            for st in states
        },
    )
