"""``oipviz info``: the model's layers, input convention and card."""

from __future__ import annotations

import click

from oipviz.cli.params import model_options


@click.command("info")
@model_options
def command(model) -> None:
    """Show the model's layers (name, type, output shape, maps/units) and its card.

    Layers inside nested models are listed with their path (backbone/c2); --layer takes
    the path, or the layer's own name where it is unique."""
    loaded = model.load()
    click.echo(f"model: {loaded.path}")
    click.echo(f"input: {loaded.geometry.describe()}, {loaded.convention.describe()}")
    if loaded.nested:
        click.echo(f"nested models: {', '.join(loaded.nested)}")
    rows = [("layer", "type", "output shape", "maps/units")]
    for info in loaded.layers:
        shape = "(" + ", ".join("N" if d is None else str(d) for d in info.shape) + ")"
        kind = "maps" if info.is_conv else "units"
        rows.append((info.name, info.type, shape, f"{info.units} {kind}" if info.units else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, row in enumerate(rows):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            click.echo("  ".join("-" * w for w in widths))
    card = loaded.card
    if card:
        click.echo(
            f"card: {card.get('architecture')} trained on {card.get('dataset')} "
            f"({card.get('data_source')}, {card.get('samples', {}).get('train')} train / "
            f"{card.get('samples', {}).get('test')} held out), held-out accuracy "
            f"{card.get('heldout_accuracy', float('nan')):.2%}"
        )
    else:
        click.echo("card: none (no NAME.card.json beside the model)")
