"""``oipviz precursor``: grid search for maps that random inits don't wake."""

from __future__ import annotations

from dataclasses import dataclass

import click

from oipviz.cli.params import LR, count, float_list, job_options

SCREEN_HELP = (
    "halving: forward on all, 3 steps on the best 1/8, TEST-EPOCHS steps on the best "
    "1/4 of those; exhaustive: TEST-EPOCHS ascent steps on every pattern (the "
    "articles'); forward: rank by the raw pattern's activation (one pass for all "
    "maps).  [default: halving; exhaustive with --executor ray or --shard-size, as "
    "halving is not sharded]"
)


def _search_options(f):
    """The grid, the screen and the refinement."""
    opts = [
        click.option("--grid", type=count(1, 64), default=3, show_default=True,
                     help="Squares per side of the coarse pattern (3 = squares of about 9 px "
                          "on 28×28)."),
        click.option("--values", "values_text", default="0.2,0.5,0.8", show_default=True,
                     help="Grey values of the squares, in [0, 1]."),
        click.option("--palette", type=click.Choice(["grey", "colour"]), default="grey",
                     show_default=True,
                     help="colour (colour models): squares of red, green or blue instead of "
                          "the grey values (3×3 grid: 19,683 patterns, as many as grey)."),
        click.option("--test-epochs", type=count(0, 10_000), default=10, show_default=True,
                     help="Ascent steps per pattern in the screen."),
        click.option("--top", type=count(1, 100_000), default=8, show_default=True,
                     help="Candidates refined per map."),
        click.option("--epochs", type=count(1), default=1200, show_default=True,
                     help="Ascent steps of the refinement."),
        click.option("--lr", type=LR, default=0.02, show_default=True,
                     help="Step size (RMS of each step, in standardized pixels)."),
        click.option("--range", "range_mode", type=click.Choice(["free", "valid"]),
                     default="free", show_default=True,
                     help="free: the articles' standardized patterns and unconstrained "
                          "ascent; valid: the grey patterns as real pixels, every step kept "
                          "in the model's input range (the pictures are real inputs)."),
        click.option("--screen", type=click.Choice(["halving", "exhaustive", "forward"]),
                     default=None, help=SCREEN_HELP),
        click.option("--chunk", type=count(1, 65_536), default=1024, show_default=True,
                     help="Patterns per engine batch."),
        click.option("--wake", type=count(0, 100_000), default=200, show_default=True,
                     help="Steps up the map's pre-activation (before its ReLU) for candidates "
                          "whose map is zero everywhere and so has no gradient; 0 = the "
                          "articles' method."),
    ]  # fmt: skip
    for o in reversed(opts):
        f = o(f)
    return f


def _probe_options(f):
    """--dead-only and its random-init probe."""
    opts = [
        click.option("--dead-only", is_flag=True,
                     help="First try random multi-scale inits on every map; run the precursor "
                          "only on the maps that stay dead, and write a rescue table."),
        click.option("--probe-inits", type=count(1, 4096), default=8, show_default=True,
                     help="Random inits per map for --dead-only."),
        click.option("--probe-epochs", type=count(1), default=300, show_default=True,
                     help="Ascent steps of the random inits for --dead-only."),
        click.option("--probe-range", type=click.Choice(["valid", "free"]), default="valid",
                     show_default=True,
                     help="Pixel range of the random inits for --dead-only (as the gallery's; "
                          "free + --probe-style plain: the articles' probe)."),
        click.option("--probe-style", type=click.Choice(["readable", "plain"]),
                     default="readable", show_default=True,
                     help="Style of the random inits for --dead-only."),
        click.option("--yes", is_flag=True,
                     help="Go on with a grid of more than 1.5 million patterns."),
        click.option("--shard-size", type=count(1, 50_000_000), default=None,
                     help="Patterns per shard, rounded up to a multiple of --chunk [default: "
                          "about 1/8 of the grid, at most 16 chunks]."),
    ]  # fmt: skip
    for o in reversed(opts):
        f = o(f)
    return f


@dataclass
class Request:
    """What the command line asked for, checked before anything is loaded."""

    layer: str
    map_spec: str
    settings: object  # PrecursorSettings
    probe: dict | None  # --dead-only: inits, steps, range, style
    executor: tuple  # (name, address, cpus per task)
    shard_size: int | None
    yes: bool
    params: dict  # the parameters as given, for the manifest and the run's identity

    @property
    def tag(self) -> str:
        return self.map_spec.strip().lower().replace(",", "_").replace(" ", "")


def default_screen(executor_name: str, shard_size: int | None) -> str:
    """The precursor's default screen, or exhaustive for a sharded run (halving is not
    sharded)."""
    from oipviz.compute.precursor_settings import DEFAULT_SCREEN

    return DEFAULT_SCREEN if executor_name == "local" and shard_size is None else "exhaustive"


def _values(o: dict):
    """The grey ``--values``, or the colour palette of ``--palette colour``."""
    from oipviz.compute.precursor_settings import COLOUR_PALETTE
    from oipviz.core.errors import OipvizError

    if o["palette"] == "grey":
        return float_list(o["values_text"], "--values", 0.0, 1.0)
    source = click.get_current_context().get_parameter_source("values_text")
    if source is not click.core.ParameterSource.DEFAULT:
        raise OipvizError("--values are grey values; --palette colour brings its own colours")
    return COLOUR_PALETTE


def _request(o: dict) -> Request:
    from oipviz.compute.executors import check_executor
    from oipviz.compute.precursor_settings import PrecursorSettings

    screen = o["screen"] or default_screen(o["executor_name"], o["shard_size"])
    s = PrecursorSettings.checked(
        grid=o["grid"], values=_values(o),
        test_steps=o["test_epochs"], top=o["top"], steps=o["epochs"], lr=o["lr"],
        seed=o["seed"], screen=screen, chunk=o["chunk"], wake=o["wake"],
        precision=o["precision"], range_mode=o["range_mode"],
    )  # fmt: skip
    size = check_executor(
        o["executor_name"], o["address"], screen, s.n_patterns, s.chunk, o["shard_size"]
    )
    probe = None
    if o["dead_only"]:
        probe = dict(inits=o["probe_inits"], steps=o["probe_epochs"], range=o["probe_range"],
                     style=o["probe_style"])  # fmt: skip
    params = dict(
        layer=o["layer"], maps=o["map_spec"], grid=s.grid, values=list(s.values), screen=screen,
        test_epochs=s.test_steps, top=s.top, epochs=s.steps, lr=s.lr, chunk=s.chunk,
        wake=s.wake, range=s.range_mode, dead_only=o["dead_only"], shard_size=size,
        precision=s.precision,
    )  # fmt: skip
    if probe:
        params.update({f"probe_{k}": v for k, v in probe.items()})
    where = (o["executor_name"], o["address"], o["cpus_per_task"])
    return Request(o["layer"], o["map_spec"], s, probe, where, size, o["yes"], params)


@click.command("precursor")
@click.option("--layer", required=True, help="Layer name, e.g. conv3 (see 'oipviz info').")
@click.option(
    "--map", "map_spec", required=True, help="Map index, list (1,3,9), range (0-15) or all."
)
@_search_options
@_probe_options
@job_options("the shards and the refinements", "precursor_LAYER_MAP", resumable=True)
def command(model, out, force, quiet, resume, **opts) -> None:
    """Screen every coarse GRID×GRID pattern of grey VALUES on a map, refine the best.

    \b
    Writes the top candidates' start patterns and refined OIPs (viridis, gray),
    a histogram of the screen losses, the refinement curves, a contact sheet and
    manifest.json.  With several maps (or --dead-only) each map gets a subfolder,
    written as soon as it is finished, and a rescue table; Ctrl-C keeps finished
    maps and --resume continues.
    """
    from oipviz.cli.precursor_run import run_precursor
    from oipviz.cli.run import already_complete, result
    from oipviz.core.folders import OutputFolder

    req = _request(opts)
    identity = {"parameters": req.params, "seed": opts["seed"], "model": model.identity()}
    target = out or f"precursor_{req.layer}_{req.tag}"
    with OutputFolder(target, "precursor", force, resume, True, identity) as folder:
        if already_complete(folder):
            return
        lines = run_precursor(folder, model, req, quiet)
        folder.commit()
    for line in lines:
        result(line)
    result(f"wrote {folder.shown}/")
