"""Write an :class:`~oipviz.compute.attribution.explain.ExplainResult`: the grid picture
(:mod:`oipviz.render.explain`), the raw maps (.npy), the sanity tables (CSV) and plots,
and the manifest."""

from __future__ import annotations

from oipviz.core.folders import OutputFolder
from oipviz.core.outputs import save_array, save_csv, save_image
from oipviz.render.explain import grid_figure, picture, sanity_figure, sanity_maps_figure


def write_explain(out: OutputFolder, res, manifest: dict) -> dict:
    """Write ``res`` into ``out`` and its manifest.

    Parameters
    ----------
    out : OutputFolder
        The open output folder.
    res : ExplainResult
        The attribution maps (and, with ``res.sanity``, the sanity checks).
    manifest : dict
        The manifest's common part (command, model, parameters...).

    Returns
    -------
    dict
        The manifest written: explain.png, inputs.npy, probs.npy, maps_METHOD.npy
        (+ each method's extras), the sanity files, per input its prediction and target.
    """
    files = _write_maps(out.path, res)
    if res.sanity is not None:
        files += _write_sanity(out.path, res)
    manifest = dict(
        manifest,
        methods=res.methods,
        method_parameters=res.params(),
        precision=res.precision,
        target_mode=res.target_mode,
        units="maps in pixel space [0,1]; class targets are pre-softmax logits",
        inputs=[_input_entry(res, i) for i in range(len(res.images))],
        files=files,
    )
    if res.sanity is not None:
        manifest["sanity"] = _sanity_entry(res.sanity)
    out.write_manifest(manifest)
    return manifest


def _write_maps(root, res) -> list[str]:
    """The grid picture and the arrays; returns the file names."""
    save_image(root / "explain.png", grid_figure(res))
    save_array(root / "inputs.npy", picture(res.images))
    save_array(root / "probs.npy", res.probs)
    files = ["explain.png", "inputs.npy", "probs.npy"]
    for m in res.methods:
        a = res.attributions[m]
        save_array(root / f"maps_{m}.npy", a.maps)
        files.append(f"maps_{m}.npy")
        for k, v in a.extras.items():
            save_array(root / f"{m}_{k}.npy", v)
            files.append(f"{m}_{k}.npy")
    return files


def _input_entry(res, i: int) -> dict:
    """The manifest entry of input ``i``."""
    e = {
        "input": i,
        "source": res.sources[i] if i < len(res.sources) else None,
        "label": None if res.labels is None else int(res.labels[i]),
        "prediction": int(res.predicted[i]),
        "probability": float(res.probability[i]),
        "target": res.targets[i],
        "target_value": {m: float(res.attributions[m].scores[i]) for m in res.methods},
    }
    if "ig" in res.methods:
        e["ig_completeness_error"] = float(res.attributions["ig"].extras["completeness_error"][i])
    return e


def _write_sanity(root, res) -> list[str]:
    """The sanity tables (CSV) and figures; returns the file names."""
    s = res.sanity
    save_csv(root / "sanity.csv", s.table())
    save_csv(
        root / "sanity_cascade.csv",
        s.cascade + [dict(r, randomized="random_features") for r in s.reference],
    )
    save_image(root / "sanity.png", sanity_figure(s))
    save_image(root / "sanity_maps.png", sanity_maps_figure(res))
    return ["sanity.csv", "sanity_cascade.csv", "sanity.png", "sanity_maps.png"]


def _sanity_entry(s) -> dict:
    return {
        "table": s.table(),
        "cascade": s.cascade,
        "random_features": s.reference,
        "random_features_model": s.reference_note,
        "threshold": s.threshold,
        "fractions": s.fractions,
        "curves": s.curves,
        "faithfulness_baseline": "pixels set to 0 (black)",
    }
