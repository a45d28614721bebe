"""``oipviz train``: train a zoo architecture and write model, card and confusion matrix."""

from __future__ import annotations

import click

from oipviz.cli.options import choice
from oipviz.cli.params import count, seed_option
from oipviz.models import ARCH_NAMES
from oipviz.models.train import MAX_BATCH, MAX_EPOCHS


@click.command("train")
@click.option("--arch", type=click.Choice(ARCH_NAMES), default="seed_cnn", show_default=True)
@choice(
    "--dataset",
    ["mnist", "fashion_mnist", "shapes"],
    "mnist",
    "shapes: colour images (32×32×3) of 24 classes such as 'red circle', generated "
    "from --seed (50,000 training and 10,000 test images unless told).",
)
@click.option(
    "--data",
    type=click.Path(exists=True),
    default=None,
    help="An .npz (keras layout: x_train, y_train, x_test, y_test) or a folder of IDX "
    "files; default: first source that works.  Checked before training: 28×28 "
    "images, pixels uint8 0..255 or floats in [0, 1] or [0, 255], labels 0..9 "
    "(one-hot rows are converted with argmax), at least one sample per split.  Not for "
    "--dataset shapes.",
)
@click.option(
    "--epochs",
    type=count(1, MAX_EPOCHS),
    default=None,
    help="Passes over the training images [default: 8 for shapes, else 30].",
)
@click.option(
    "--train-samples",
    type=count(1, 1_000_000),
    default=None,
    help="Use the first N training images (shapes: generate N) [default: all; shapes 50,000].",
)
@click.option(
    "--test-samples",
    type=count(1, 1_000_000),
    default=None,
    help="Use the first N test images (shapes: generate N) [default: all; shapes 10,000].",
)
@click.option("--batch-size", type=count(1, MAX_BATCH), default=64, show_default=True)
@seed_option(
    "Random seed (0 to 2^31-1): weights, augmentation, the offline split and the generated shapes."
)
@click.option(
    "--no-augment",
    is_flag=True,
    help="Train without random shifts/rotations (shapes: flips/quarter turns).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    required=True,
    help="Model file to write (.keras or .h5); NAME.card.json and NAME.confusion.png go beside it.",
)
@click.option("--force", is_flag=True, help="Replace existing output files.")
@click.option(
    "--track",
    multiple=True,
    metavar="LAYER:MAPS",
    help="Record a timeline of these maps' OIPs at every epoch (e.g. conv3:0-15; repeat "
    "for more layers) in NAME.track/ beside the model.",
)
def command(
    arch,
    dataset,
    data,
    epochs,
    train_samples,
    test_samples,
    batch_size,
    seed,
    no_augment,
    out,
    force,
    track,
) -> None:
    """Train an architecture from the zoo on MNIST, Fashion-MNIST or the generated shapes."""
    import sys

    from oipviz.core.folders import disk_errors
    from oipviz.data.sources import load_dataset
    from oipviz.models.train import default_epochs, pixel_stats, train
    from oipviz.writers.trained import check_outputs, save_trained

    check_outputs(out, force)  # before the data are read and long before training
    # validated: bad data fail here
    ds = load_dataset(dataset, data, seed, n_train=train_samples, n_test=test_samples)
    pixel_stats(ds)
    epochs = epochs or default_epochs(ds.name)
    for note in ds.notes:
        click.echo(f"note: {note}", err=True)
    from oipviz.cli.track_cmd import training_callbacks

    callbacks = training_callbacks(track, out, force, ds, arch, seed, epochs)  # checked now
    with click.progressbar(
        length=epochs, label=f"training {arch}", show_eta=True, item_show_func=lambda s: s,
        file=sys.stderr,
    ) as bar:  # fmt: skip

        def on_epoch(epoch, logs):
            bar.update(1, f"acc {logs['accuracy']:.3f} held-out {logs['val_accuracy']:.3f}")

        model, card, confusion = train(
            arch,
            dataset,
            ds,
            epochs,
            seed,
            batch_size=batch_size,
            augment_data=not no_augment,
            on_epoch=on_epoch,
            callbacks=callbacks,
        )
    with disk_errors(out):  # a full disk is one line (the temp files are removed)
        paths = save_trained(model, card, confusion, out, force=force)
    click.echo(
        f"held-out accuracy {card['heldout_accuracy']:.2%} on {card['samples']['test']} "
        f"images ({card['data_source']})"
    )
    for p in paths + [cb.path for cb in callbacks]:
        click.echo(f"wrote {p}")
