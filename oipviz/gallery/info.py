"""What the gallery states about itself: the model and settings on every page
(:class:`~oipviz.gallery.pages.SiteInfo`), the runs' timings, the finished site's manifest."""

from __future__ import annotations

from oipviz.gallery.pages import SiteInfo, noun

DATA_SEED = 0  # the dataset statistics' digits


def site_info(loaded, params: dict, compare, manifest: dict | None) -> SiteInfo:
    """What every page states: the model (its card), the settings, how to resume.

    Parameters
    ----------
    loaded : LoadedModel
        The model.
    params : dict
        :meth:`~oipviz.gallery.settings.GallerySettings.params`.
    compare : LoadedModel or None
        The other model.
    manifest : dict or None
        The manifest's common part (its ``command`` gives the resume command).

    Returns
    -------
    SiteInfo
    """
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
    rows.append(("layers", _layer_list(loaded)))
    src = loaded.path.with_name(card["confusion_png"]) if card.get("confusion_png") else None
    confusion = "model_confusion.png" if src is not None and src.exists() else None
    cmd = (manifest or {}).get("command") or "oipviz gallery …"
    resume = cmd if "--resume" in cmd else cmd.replace(" --force", "") + " --resume"
    return SiteInfo(
        loaded.name,
        params,
        compare=compare.name if compare else None,
        model_rows=rows,
        confusion=confusion,
        resume_command=resume,
    )


def run_history(
    folder, seconds: dict, cpu: dict, written: int, beside: dict | None = None
) -> list[dict]:
    """The runs so far (an interrupted one, its resumes): wall and CPU time per phase (the
    process's CPU, so a phase's includes what ran beside it), the pages written and, as
    ``beside_seconds``, the wall time of work that ran on a thread beside the phases (the
    feature spaces, beside the pages: not part of the phases' sum), this run's last."""
    prev = getattr(folder, "previous", None) or {}
    run = {"seconds": seconds, "cpu_seconds": cpu, "pages_written": written}
    if beside:
        run["beside_seconds"] = beside
    return list(prev.get("runs", [])) + [run]


def site_manifest(base, params, data_limit, states, counts, runs, compare) -> dict:
    """The finished site's manifest: settings, data, per layer its counts and maps.

    Parameters
    ----------
    base : dict or None
        The manifest's common part.
    params : dict
        The settings (:meth:`~oipviz.gallery.settings.GallerySettings.params`).
    data_limit : int or None
        Digits of the dataset statistics.
    states : list of LayerState
        The finished layers.
    counts : dict
        {layer: live/rescued/dead/pending counts}.
    runs : list of dict
        :func:`run_history`.
    compare : LoadedModel or None
        The other model.

    Returns
    -------
    dict
    """
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
                "kind": noun(st.info),
                "class_counts": st.data.class_counts,
                "rescue": st.rescue.params,
                "summary": counts[st.info.name],
                "in_range": st.measures.summary(),
                "precision_used": getattr(st.probe, "precision", "float32"),
                "probe_steps": _probe_steps(st.probe),
                "maps": [map_entry(st, k) for k in range(len(st.maps))],
            }
            for st in states
        },
    )


def map_entry(st, k: int) -> dict:
    """The manifest entry of map ``k`` of a finished layer: status, activation, the OIPs,
    the measures, the precursor, the compare model's value, the data statistics and
    the top digits.

    Parameters
    ----------
    st : LayerState
        A finished layer.
    k : int
        The map's position in ``st.maps``.

    Returns
    -------
    dict
    """
    m, row, s = st.maps[k], st.rescue.rows[k], st.stats
    pe = st.entries.get(m)
    return {
        "map": m,
        "status": row.status,
        "activation": st.value(k),
        "oip": {
            "start": st.probe.start[k],
            "final": st.probe.final[k],
            "best_init": int(st.probe.best[k]),
            "best": float(st.probe.best_values[k]),
            "range": st.probe.range_mode,
            "steps": None if st.probe.steps_each is None else st.probe.steps_each[k],
        },
        **st.measures.entry(k),
        "precursor": None
        if pe is None
        else {
            k2: pe[k2]
            for k2 in (
                "status",
                "best_activation",
                "best_candidate",
                "wake",
                "screen",
                "candidates",
            )
        },
        "compare": _other(st, m),
        "data": s.summary(m),
        "selectivity": s.selectivity[:, m],
        "examples": [
            {
                "rank": r + 1,
                "index": int(i),
                "label": int(st.data.labels[i]),
                "prediction": int(st.data.pred[i]),
                "probability": float(st.data.prob[i]),
                "activation": float(a),
            }
            for r, (i, a) in enumerate(zip(s.top_idx[m], s.top_acts[m], strict=True))
        ],
    }


def _probe_steps(probe) -> dict:
    """The probe's image-steps taken and its budget (inits stop early on a plateau)."""
    each = probe.steps_each
    budget = int(probe.final.size) * int(probe.steps_done)
    taken = budget if each is None else int(each.sum())
    return {"taken": taken, "budget": budget, "saved_share": 1 - taken / budget if budget else 0.0}


def _other(st, m: int) -> dict | None:
    """The other model's best activation and status for map ``m`` (compare), if run."""
    c = st.compare
    if c is None or m not in c.maps:
        return None
    j = c.maps.index(m)
    return {"value": float(c.best_values[j]), "status": c.status[j]}


#: layers listed by name on the home page; a deeper model's others are counted
SHOWN_LAYERS = 12


def _layer_list(loaded) -> str:
    """The layers with maps or units (``conv1 32×26×26, …``); past :data:`SHOWN_LAYERS`,
    the first and last few and how many more (``oipviz info`` lists them all)."""
    names = [
        f"{i.name} {i.units}" + (f"×{i.shape[1]}×{i.shape[2]}" if i.is_conv else "")
        for i in loaded.layers
        if i.units is not None
    ]
    if len(names) <= SHOWN_LAYERS:
        return ", ".join(names)
    head, tail = names[: SHOWN_LAYERS - 3], names[-3:]
    more = len(names) - len(head) - len(tail)
    return ", ".join(head) + f", … {more} more (oipviz info lists them), " + ", ".join(tail)
