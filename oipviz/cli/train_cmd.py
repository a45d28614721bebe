"""``oipviz train``: train a zoo architecture and write model, card and confusion matrix."""
from __future__ import annotations

import click

from ..models import ARCH_NAMES


@click.command("train")
@click.option("--arch", type=click.Choice(ARCH_NAMES), default="seed_cnn", show_default=True)
@click.option("--dataset", type=click.Choice(["mnist", "fashion_mnist"]), default="mnist",
              show_default=True)
@click.option("--data", type=click.Path(exists=True), default=None,
              help="An .npz (keras layout) or a folder of IDX files; default: first source that works.")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-augment", is_flag=True, help="Train without random shifts/rotations.")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="Model file to write (.keras or .h5); NAME.card.json and "
                   "NAME.confusion.png go beside it.")
@click.option("--force", is_flag=True, help="Replace existing output files.")
def command(arch, dataset, data, epochs, seed, no_augment, out, force) -> None:
    """Train an architecture from the zoo on MNIST or Fashion-MNIST."""
    from pathlib import Path

    from ..errors import OipvizError
    from ..models.train import card_path, save_trained, train
    from ..outputs import check_target

    if Path(out).suffix not in (".keras", ".h5"):
        raise OipvizError(f"--out must end in .keras or .h5, not {Path(out).name!r}")
    check_target(out, force)
    check_target(card_path(out), force)
    with click.progressbar(length=epochs, label=f"training {arch}", show_eta=True,
                           item_show_func=lambda s: s) as bar:
        def on_epoch(epoch, logs):
            bar.update(1, f"acc {logs['accuracy']:.3f} held-out {logs['val_accuracy']:.3f}")

        model, card, confusion = train(arch, dataset, data, epochs, seed,
                                       augment_data=not no_augment, on_epoch=on_epoch)
    paths = save_trained(model, card, confusion, out, force=force)
    click.echo(f"held-out accuracy {card['heldout_accuracy']:.2%} on {card['samples']['test']} "
               f"images ({card['data_source']})")
    for p in paths:
        click.echo(f"wrote {p}")
