"""``oipviz serve``: the live explorer in the browser (a local web app)."""

from __future__ import annotations

import os
import sys

import click

from oipviz.cli.params import model_options


def _display_available() -> bool:
    """True where a browser tab can open without taking over the terminal."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@click.command("serve")
@model_options
@click.option(
    "--compare",
    "compare_path",
    default=None,
    metavar="PATH",
    help="A second model (e.g. the random-weight one): the drawing goes through both.",
)
@click.option(
    "--gallery",
    "gallery_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="A folder 'oipviz gallery' wrote for the same model: its results show at once "
    "and its pages are served under /gallery/.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but 127.0.0.1/localhost exposes the server "
    "(no authentication) to your network.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0: any free."
)
@click.option(
    "--open/--no-open",
    "open_browser",
    default=None,
    help="Open the page in a browser tab [default: when a display is available].",
)
@click.option(
    "--queue",
    type=click.IntRange(1, 1000),
    default=8,
    show_default=True,
    help="Jobs (OIPs, dreams, ...) that may wait; more get HTTP 429.",
)
def command(model, compare_path, gallery_dir, host, port, open_browser, queue) -> None:
    """Start the live explorer: draw a digit and watch the model read it.

    \b
    A local web app (FastAPI on uvicorn) with one page and a JSON API:
      * draw (or drop an image): class probabilities, every layer's activation maps
        and saliency/Grad-CAM update as you draw; the MNIST-style preprocessed input
        is shown beside the drawing;
      * click a map: its OIP is computed and streamed while it climbs, with its top-9
        real digits, its class selectivity and a precursor search;
      * dream on a photo with a map or layer;
      * --compare: the same drawing through a second model, side by side.
    The API is described at /openapi.json (predict, explain, oip, precursor, dream, jobs
    with server-sent events).  Stop with Ctrl-C.
    """
    from oipviz.cli.params import ModelSpec
    from oipviz.serve.server import (
        LOCAL_HOSTS,
        allowed_hosts,
        build_state,
        listen,
        run,
        setup_logging,
        url_of,
    )

    if host not in LOCAL_HOSTS:
        click.echo(
            f"warning: listening on {host}: anyone who can reach this machine can use the "
            "server (no authentication); use --host 127.0.0.1 to keep it local",
            err=True,
        )
    sock = listen(host, port)  # a busy port fails before the models load
    if gallery_dir is not None:  # ... and a gallery of another model file
        from oipviz.serve.files import Gallery

        Gallery(gallery_dir).check_model(model.identity()["sha256"], model.path or "seed_cnn")
    click.echo("loading the model(s) and TensorFlow ...")
    compare = None
    if compare_path is not None:
        compare = ModelSpec(compare_path, model.input_scale, model.unsafe).load()
    state = build_state(model.load(), compare, gallery_dir, max_queue=queue)
    state.allowed_hosts = allowed_hosts(host)
    url = url_of(sock, host)
    names = ", ".join(f"{r} {s.name}" for r, s in state.models.items())
    extra = f"; gallery {state.gallery.root}" if state.gallery else ""
    setup_logging()
    should_open = _display_available() if open_browser is None else open_browser

    def started() -> None:
        click.echo(f"oipviz explorer on {url} ({names}{extra}); API: {url}openapi.json")
        click.echo("warming up the engine (the first OIP streams at once after it); Ctrl-C stops")
        if should_open:
            import webbrowser

            webbrowser.open(url)

    run(state, sock, on_started=started)
