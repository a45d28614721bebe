"""Write the feature views (embedding, clusters, weights) into an
:class:`~oipviz.core.outputs.OutputFolder`: PNGs, CSV, .npy, an HTML page, the manifest.
Nothing is computed here: everything comes from the result objects."""

from __future__ import annotations

from oipviz.core.folders import OutputFolder
from oipviz.core.outputs import save_array, save_csv, save_image, write_text
from oipviz.writers.trained import write_built_model


def _data(digits) -> dict:
    return {
        "source": digits.source,
        "samples": len(digits),
        "heldout_first": digits.heldout,
        "note": "held-out digits first, then training digits",
    }


def write_embed(out: OutputFolder, res, manifest: dict) -> dict:
    """embedding.png, index.html, coords.npy (first panel; coords_<panel>.npy for the
    others), labels.npy, scores.csv, a copy of a model built for the run, manifest."""
    from oipviz.writers.embed_page import render

    tmp = out.path
    files = [save_image(tmp / "embedding.png", res.figure()).name]
    for j, p in enumerate(res.panels):
        files.append(
            save_array(tmp / ("coords.npy" if j == 0 else f"coords_{p.tag}.npy"), p.coords).name
        )
    files.append(save_array(tmp / "labels.npy", res.labels).name)
    files.append(save_csv(tmp / "scores.csv", res.summary()).name)
    if res.built is not None:  # keep the random-weight net the run trained, with its card
        files += write_built_model(tmp, res.built)
    title = " vs ".join(p.title for p in res.panels[:2]) + f" ({res.method})"
    meta = (
        f"{len(res.digits)} digits from {res.digits.source} ({res.digits.heldout} held-out "
        f"first, then training digits) · {res.method} · seed {res.seed} · k = {res.k}"
    )
    write_text(tmp / "index.html", render(res, title, meta))
    files.append("index.html")
    manifest = dict(
        manifest,
        data=_data(res.digits),
        method=res.method,
        mode=res.mode,
        k=res.k,
        perplexity=res.perplexity,
        notes=res.notes,
        panels=[dict(s, notes=p.notes) for s, p in zip(res.summary(), res.panels, strict=True)],
        files=sorted(files) + ["manifest.json"],
    )
    out.write_manifest(manifest)
    return manifest


def write_clusters(out: OutputFolder, res, manifest: dict) -> dict:
    """elbow.png, silhouette.png, cpu_time.png, scores.csv; for the chosen K the
    centroid sheet, the contingency table (CSV + PNG), assignment and centroids (.npy)."""
    from oipviz.render.plots import contingency, curve

    tmp, k = out.path, res.show_k
    desc = f"{res.features}, {len(res.labels)} digits"
    files = [
        save_image(
            tmp / "elbow.png", curve(res.ks, res.inertia, "inertia", f"elbow: {desc}", k)
        ).name,
        save_image(
            tmp / "silhouette.png",
            curve(
                res.ks,
                res.silhouette,
                "mean silhouette",
                f"silhouette ({res.silhouette_n} points): {desc}",
                res.best_k,
            ),
        ).name,
        save_image(
            tmp / "cpu_time.png",
            curve(res.ks, res.cpu_seconds, "CPU seconds", f"MiniBatchKMeans CPU time: {desc}"),
        ).name,
        save_csv(tmp / "scores.csv", res.rows()).name,
        save_image(tmp / f"centroids_K{k}.png", res.sheet()).name,
        save_image(
            tmp / f"contingency_K{k}.png",
            contingency(res.contingency, f"K={k}: cluster × class (purity {res.purity:.3f})"),
        ).name,
        save_csv(
            tmp / f"contingency_K{k}.csv",
            [
                {
                    "cluster": j,
                    **{str(c): int(v) for c, v in enumerate(row)},
                    "size": int(row.sum()),
                    "majority": int(row.argmax()),
                }
                for j, row in enumerate(res.contingency)
            ],
        ).name,
        save_array(tmp / "assignment.npy", res.assignment).name,
        save_array(tmp / "centroids.npy", res.centroids).name,
    ]
    manifest = dict(
        manifest,
        data=_data(res.digits),
        summary=res.summary(),
        scan=res.rows(),
        notes=res.notes,
        files=sorted(files) + ["manifest.json"],
    )
    out.write_manifest(manifest)
    return manifest


def write_weights(out: OutputFolder, res, manifest: dict) -> dict:
    """templates.png or kernels.png, class_means.png, the raw arrays, the manifest."""
    tmp = out.path
    files = [
        save_image(tmp / f"{res.kind}.png", res.sheet()).name,
        save_array(tmp / f"{res.kind}.npy", res.images).name,
        save_image(tmp / "class_means.png", res.means_sheet()).name,
        save_array(tmp / "class_means.npy", res.class_means).name,
    ]
    corr = res.correlation()
    if corr is not None:
        files.append(
            save_csv(
                tmp / "correlation.csv",
                [
                    {"template": f"class {c}", **{f"mean {d}": float(v) for d, v in enumerate(row)}}
                    for c, row in enumerate(corr)
                ],
            ).name
        )
    manifest = dict(
        manifest,
        summary=res.summary(),
        data={"source": res.source, "class_counts": res.class_counts},
        files=sorted(files) + ["manifest.json"],
    )
    out.write_manifest(manifest)
    return manifest
