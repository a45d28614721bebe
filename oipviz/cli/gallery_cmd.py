"""``oipviz gallery``: a static HTML site of a layer's maps (OIPs, precursor, data)."""
from __future__ import annotations

import sys

import click

from .common import model_options, parse_maps


class StageBars:
    """One click progress bar per stage, opened when the stage first reports."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None
        self.stage = None

    def __call__(self, stage: str, n: int, total: int) -> None:
        if self.quiet:
            return
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = click.progressbar(length=max(total, 1), label=stage, show_eta=True,
                                         file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command("gallery")
@click.option("--layer", default=None, help="Conv layer to show (default: the last conv layer).")
@click.option("--all-layers", is_flag=True, help="One site with every conv layer.")
@click.option("--maps", "map_spec", default="all", show_default=True,
              help="Subset of maps: index, list (1,3,9), range (0-15) or all (one layer only).")
@click.option("--inits", type=click.IntRange(min=1), default=4, show_default=True,
              help="Random multi-scale inits per map (their diversity is shown).")
@click.option("--epochs", type=click.IntRange(min=1), default=300, show_default=True,
              help="Gradient-ascent steps per init.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.02, show_default=True)
@click.option("--precursor", "precursor_screen", default="forward", show_default=True,
              type=click.Choice(["forward", "halving", "exhaustive", "off"]),
              help="Screen of the precursor run on maps no random init woke (off: skip it).")
@click.option("--precursor-top", type=click.IntRange(min=1), default=2, show_default=True,
              help="Precursor patterns refined per dead map.")
@click.option("--precursor-epochs", type=click.IntRange(min=1), default=200, show_default=True,
              help="Refinement steps of each precursor pattern.")
@click.option("--data-limit", type=click.IntRange(min=10), default=5000, show_default=True,
              help="Use at most this many real digits for the dataset statistics.")
@click.option("--compare", "compare_path", type=click.Path(dir_okay=False), default=None,
              help="Another model (e.g. a random_features model) shown side by side.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: gallery_LAYER, or gallery_all with --all-layers).")
@click.option("--resume", is_flag=True, help="Continue an interrupted gallery (same settings).")
@click.option("--force", is_flag=True, help="Replace an existing gallery folder.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@model_options
def command(loaded, layer, all_layers, map_spec, inits, epochs, lr, precursor_screen, precursor_top,
            precursor_epochs, data_limit, compare_path, seed, out, resume, force, quiet) -> None:
    """Build a static HTML gallery of a conv layer: open OUT/index.html in a browser.

    \b
    The index shows the model, its card and a contact sheet of every map's optimal
    input pattern (OIP) with a status badge (live, rescued by the precursor, dead).
    Each map has a page with OIPs from several inits, the precursor result where
    random inits failed, the 9 real digits that excite the map most (activation
    overlaid), a histogram of its activation over the data and its class selectivity.
    A map's activation is the spatial mean of its output.

    \b
    Ctrl-C keeps finished maps and a valid index; --resume computes only what is
    missing (same settings, same seed: the same images).  No network, no JavaScript.
    """
    from ..errors import LayerError
    from ..gallery.site import PRECURSOR_DEFAULTS, build_gallery, default_out, gallery_layers
    from ..loader import load_model

    if all_layers and layer:
        raise LayerError("give --layer or --all-layers, not both")
    layers = gallery_layers(loaded, layer, all_layers)
    maps = None
    if map_spec.strip().lower() != "all":
        if len(layers) != 1:
            raise LayerError("--maps needs a single --layer")
        maps = parse_maps(map_spec, loaded.layer(layers[0]).units)
    compare = load_model(compare_path) if compare_path else None
    precursor = None if precursor_screen == "off" else dict(
        PRECURSOR_DEFAULTS, screen=precursor_screen, top=precursor_top, epochs=precursor_epochs)
    out = out or str(default_out(layers, all_layers))
    bars = StageBars(quiet)
    try:
        res = build_gallery(loaded, layers, out, maps, inits=inits, epochs=epochs, lr=lr, seed=seed,
                            precursor=precursor, data_limit=data_limit, compare=compare,
                            resume=resume, force=force, progress=bars)
    except KeyboardInterrupt:
        bars.close()
        click.echo(f"interrupted: finished maps and {out}/index.html are kept; continue with "
                   "--resume", err=True)
        sys.exit(130)
    bars.close()
    parts = []
    for name, c in res.counts.items():
        parts.append(f"{name}: {c['live']} live, {c['rescued']} rescued, {c['dead']} dead"
                     + (f", {c['pending']} pending" if c["pending"] else ""))
    click.echo("; ".join(parts))
    click.echo(f"wrote {len(res.written)} map page(s); open {res.out}/index.html")
