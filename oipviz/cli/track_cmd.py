"""``oipviz track``: a timeline of OIPs from saved checkpoints (``--checkpoints DIR``), or
the summaries of one that training left unfinished (``--finish FOLDER``).  Also the
helper behind ``oipviz train --track``."""

from __future__ import annotations

from pathlib import Path

import click

from oipviz.cli.params import LR, count, model_options, output_options, seed_option
from oipviz.timeline.spec import ATTRIBUTIONS, FIRST_STEPS, PROBES, TRACK_LR, WARM_STEPS

#: held-out images measured at every point (accuracy ± ~1 %; the full MNIST test split
#: of 10,000 would cost more than the rest of a point)
HELDOUT = 500
TRACK_HELP = (
    "Maps to track, LAYER:MAPS (conv3:0-15, conv2:1,3,9, conv3 = all maps); repeat for more layers."
)


def timeline_path(model_out: str | Path) -> Path:
    """Where ``oipviz train --track`` writes the timeline: ``my.keras`` → ``my.track``."""
    p = Path(model_out)
    return p.with_name(p.name.rsplit(".", 1)[0] + ".track")


def training_callbacks(
    track: tuple[str, ...], model_out, force: bool, ds, arch: str, seed: int, epochs: int
) -> list:
    """``oipviz train --track``: [] without it; else a checked Tracker writing
    ``NAME.track/`` beside the model.  Its maps are checked against ``arch`` built for the
    data's image shape and classes now, before training; the held-out split gives the
    held-out metrics (its first ``HELDOUT`` images) and the 8 probe images (one per class
    in turn, named by the data set's class names)."""
    if not track:
        return []
    from oipviz.core.loader import wrap_model
    from oipviz.core.tfenv import import_keras
    from oipviz.models.train import input_convention
    from oipviz.timeline.spec import TrackSpec

    import_keras()
    from oipviz.models.zoo import ARCHITECTURES
    from oipviz.timeline.tracker import Tracker

    card = {"preprocessing": input_convention(ds)}  # the convention training will use
    model = ARCHITECTURES[arch](input_shape=ds.image_shape, classes=ds.n_classes)
    TrackSpec(list(track)).resolve(wrap_model(model, None, arch, card))
    x = ds.x_test[:HELDOUT].astype("float32") / 255.0
    held_out = (x if x.ndim == 4 else x[..., None], ds.y_test[:HELDOUT])
    return [
        Tracker(
            list(track),
            out=timeline_path(model_out),
            validation=held_out,
            input_scale=input_scale(card["preprocessing"]),
            seed=seed,
            epochs=epochs,
            force=force,
            dataset=ds,
            name=Path(model_out).name,
        )
    ]


def input_scale(preprocessing: dict) -> str:
    """A card's ``preprocessing`` as an ``--input-scale`` text (``unit``,
    ``standardize:MEAN,STD``)."""
    if preprocessing["kind"] == "standardize":
        return f"standardize:{preprocessing['mean']!r},{preprocessing['std']!r}"
    return str(preprocessing["kind"])


@click.command("track")
@click.option(
    "--checkpoints",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of checkpoints of --model's architecture (*.weights.h5, *.keras, *.h5), "
    "one point each, ordered by the epoch number in their names.",
)
@click.option(
    "--track",
    "track",
    multiple=True,
    metavar="LAYER:MAPS",
    help=TRACK_HELP + " [default: the last conv layer, maps 0-15]",
)
@click.option(
    "--probes",
    type=count(1, 256),
    default=PROBES,
    show_default=True,
    help="Held-out images whose activations are recorded.",
)
@click.option(
    "--steps",
    type=count(1, 100_000),
    default=WARM_STEPS,
    show_default=True,
    help="Ascent steps per point, from the previous point's OIPs.",
)
@click.option(
    "--first-steps",
    type=count(1, 100_000),
    default=FIRST_STEPS,
    show_default=True,
    help="Ascent steps at the first point (from random inits).",
)
@click.option("--lr", type=LR, default=TRACK_LR, show_default=True, help="Step size of the ascent.")
@click.option(
    "--attribution",
    type=click.Choice(ATTRIBUTIONS),
    default="saliency",
    show_default=True,
    help="Attribution of the predicted class on the first 4 probes at every point "
    "(gradcam: of the last conv layer).",
)
@seed_option()
@output_options("MODEL.track beside the model", resumable=True)
@click.option(
    "--finish",
    "finish_dir",
    default=None,
    metavar="FOLDER",
    help="Only finish a timeline that training left incomplete (Ctrl-C): its GIFs and "
    "sheets from the points kept.",
)
@model_options
def command(
    model,
    checkpoints,
    track,
    probes,
    steps,
    first_steps,
    lr,
    attribution,
    seed,
    out,
    force,
    quiet,
    resume,
    finish_dir,
) -> None:
    """A training timeline of OIPs from saved checkpoints."""
    if finish_dir is not None:
        from oipviz.timeline.writer import TimelineWriter

        writer = TimelineWriter(finish_dir, resume=True)
        tl = writer.open_kept()
        click.echo(f"wrote {writer.finish()} ({len(tl)} points)")
        return
    if checkpoints is None:
        raise click.UsageError("give --checkpoints DIR (or --finish FOLDER)")
    from oipviz.timeline.checkpoints import find_checkpoints, track_checkpoints
    from oipviz.timeline.session import TrackSession
    from oipviz.timeline.spec import TrackSpec
    from oipviz.timeline.writer import check_target

    target = out or default_out(model.path)
    check_target(target, force, resume)  # before anything is loaded
    ckpts = find_checkpoints(checkpoints)
    loaded = model.load()
    spec = TrackSpec(
        list(track) or _default_layers(loaded), steps=steps, first_steps=first_steps, lr=lr,
        seed=seed, attribution=attribution,
    )  # fmt: skip
    spec.resolve(loaded)
    ds = heldout_data(loaded)
    x = ds.x_test.astype("float32") / 255.0
    validation = (x if x.ndim == 4 else x[..., None], ds.y_test)
    session = TrackSession(spec, target, probes, validation, force, resume, ds)
    say = (lambda t, label: None) if quiet else (lambda t, label: click.echo(f"point {t}: {label}"))
    path = track_checkpoints(session, loaded, ckpts, say)
    tl = session.timeline
    click.echo(f"wrote {path} ({len(tl)} points, {', '.join(tl.layers)})")


def default_out(model_path: str | None) -> Path:
    """``runs/my.keras`` → ``runs/my.track``; a bundled model → ``./NAME.track``."""
    from oipviz.core.loader import BUNDLED

    if model_path is None or (model_path in BUNDLED and not Path(model_path).exists()):
        return Path(f"{model_path or 'seed_cnn'}.track")
    return timeline_path(model_path)


def heldout_data(loaded):
    """The held-out split the model was trained with: its card's data set (by the image
    size without a card: :func:`oipviz.timeline.record.default_dataset`), its seed and,
    for the generated ``shapes``, its test count (the split depends on it)."""
    from oipviz.data.sources import load_dataset
    from oipviz.timeline.record import default_dataset

    card = loaded.card or {}
    name = default_dataset(loaded)
    tests = (card.get("samples") or {}).get("test") if name == "shapes" else None
    seed = int(card.get("seed", 0))
    return load_dataset(name, seed=seed, allow_download=False, n_train=1, n_test=tests)


def _default_layers(loaded) -> dict:
    from oipviz.core.errors import LayerError

    convs = loaded.conv_layers()
    if not convs:
        raise LayerError(f"{loaded.name} has no conv layer; give --track LAYER:MAPS")
    return {convs[-1].name: list(range(min(16, convs[-1].units)))}
