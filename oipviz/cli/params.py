"""Validated parameter types and the option stacks every command shares.

Every numeric option goes through :class:`Finite` or :func:`count`, so NaN, ±inf,
negative or absurd values are one-line errors before anything is loaded.  Seeds are
in [0, 2^31 - 1]: the engine feeds them to TensorFlow's stateless RNG as int32.
"""

from __future__ import annotations

import functools
import math

import click

from oipviz.cli.options import choice, opt, stack
from oipviz.core.transforms import MAX_JITTER

SEED_MAX = 2**31 - 1


class Finite(click.ParamType):
    """A finite float in a range (``min_open``: the minimum itself is excluded)."""

    name = "float"

    def __init__(self, lo: float | None = None, hi: float | None = None, min_open: bool = False):
        self.lo, self.hi, self.min_open = lo, hi, min_open

    def convert(self, value, param, ctx):
        if isinstance(value, float) and math.isfinite(value):
            v = value
        else:
            try:
                v = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.lo is not None and (v < self.lo or (self.min_open and v == self.lo)):
            self.fail(f"{value!r} must be {'>' if self.min_open else '>='} {self.lo:g}", param, ctx)
        if self.hi is not None and v > self.hi:
            self.fail(f"{value!r} must be <= {self.hi:g}", param, ctx)
        return v

    def get_metavar(self, param, *args, **kwargs):
        lo = "" if self.lo is None else f"{self.lo:g}{'<' if self.min_open else '<='}"
        hi = "" if self.hi is None else f"<={self.hi:g}"
        return f"FLOAT {lo}x{hi}" if (lo or hi) else "FLOAT"


def count(lo: int = 1, hi: int = 1_000_000) -> click.IntRange:
    """An integer count in [lo, hi]."""
    return click.IntRange(lo, hi)


LR = Finite(0.0, 100.0, min_open=True)
NONNEG_SMALL = Finite(0.0, 1000.0)
SIGMA = Finite(0.0, 10.0)
SEED = click.IntRange(0, SEED_MAX)


def seed_option(help_text: str = "Random seed (0 to 2^31-1); the same seed gives the same bytes."):
    return click.option("--seed", type=SEED, default=0, show_default=True, help=help_text)


def _nonempty_path(ctx, param, value):
    """--out "" (e.g. an unset shell variable) is an error, not the default folder."""
    if value is not None and not value.strip():
        raise click.BadParameter("the output path is empty", ctx=ctx, param=param)
    return value


def output_options(default: str, resumable: bool = False):
    """--out, --force, --quiet (and --resume) for a command writing one folder."""

    opts = [
        opt("--out", str, None, f"Output folder [default: {default}].", callback=_nonempty_path),
        click.option(
            "--force",
            is_flag=True,
            help="Replace an existing output folder (only an empty folder or "
            "an earlier oipviz output).",
        ),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    if resumable:
        opts.append(
            click.option(
                "--resume",
                is_flag=True,
                help="Continue an interrupted run in --out (same settings).",
            )
        )
    return stack(*opts)


def executor_options(what: str):
    """--executor, --address, --cpus-per-task: where the jobs (``what``) run."""

    return stack(
        choice("--executor", ["local", "ray"], "local",
               f"Where {what} run: local (this process) or ray (one task each; "
               "pip install 'oipviz[ray]').", dest="executor_name"),
        opt("--address", None, None,
            "Ray cluster to use (HOST:PORT of 'ray start --head'); default: a "
            "local Ray cluster on this machine's cores."),
        opt("--cpus-per-task", count(1, 1024), 1,
            "Ray: cores per task (TensorFlow's threads inside it)."),
    )  # fmt: skip


def job_options(what: str, output: str, resumable: bool = False):
    """The options of a command that runs batches of ascents as jobs (gallery, precursor):
    where the jobs (``what``) run, their precision and seed, the output folder (default
    ``output``) and the model."""
    return stack(
        executor_options(what),
        precision_option,
        seed_option(),
        output_options(output, resumable=resumable),
        model_options,
    )


def precision_option(f):
    """--precision: of the ascent steps (oipviz.core.precision)."""
    from oipviz.core.precision import PRECISIONS

    return choice(
        "--precision",
        PRECISIONS,
        "float32",
        "Of the ascent steps: bfloat16 runs the conv chain in bf16 (activations reported are "
        "float32; 1.5-1.7x on big batches on an AVX512_BF16 CPU); auto: bfloat16 on CPUs with "
        "AMX, float32 elsewhere (the precursor: always float32).",
    )(f)


def ascent_options(epochs: int, lr: float, range_mode: str = "free", style: str = "plain"):
    """--epochs, --lr, --range, --style, --jitter, --tv, --blur: the engine's step and its
    transforms."""

    return stack(
        choice("--range", ["free", "valid"], range_mode,
               "free: the articles' unconstrained ascent (values far outside the "
               "pixel range); valid: the image stays a real input (pixels in "
               "[0, 1]) and maps at zero climb their pre-activation until they fire.",
               dest="range_mode"),
        choice("--style", ["plain", "readable"], style,
               "readable: ±2 px jitter, 5% scale, 5° rotation, a gradient blur "
               "and a TV penalty relative to the activation (smoother, "
               "transformation-robust pictures)."),
        opt("--epochs", count(1), epochs, "Gradient-ascent steps."),
        opt("--lr", LR, lr, "Step size: RMS of each step, in standardized pixels (0 < lr <= 100)."),
        opt("--jitter", click.IntRange(0, MAX_JITTER), 0,
            "Random roll of up to ± this many pixels per step."),
        opt("--tv", NONNEG_SMALL, 0.0, "Total-variation penalty (smoother pictures)."),
        opt("--blur", SIGMA, 0.0, "Sigma (px, <= 10) of a Gaussian blur of each gradient."),
    )  # fmt: skip


class ModelSpec:
    """What --model/--input-scale/--unsafe asked for; :meth:`load` imports TensorFlow."""

    def __init__(self, path, input_scale, unsafe):
        self.path, self.input_scale, self.unsafe = path, input_scale, unsafe

    def load(self):
        from oipviz.core.loader import load_model

        return load_model(self.path, unsafe=self.unsafe, input_scale=self.input_scale)

    def geometry(self):
        """The model's image geometry from its file, without loading it (None if unknown)."""
        from oipviz.core.loader import peek_geometry

        return peek_geometry(self.path)

    def identity(self) -> dict:
        """The model file's SHA-256 and how it is read: its card's SHA-256 (the card gives
        the input convention and the data set) and the options (a run's identity, for
        --resume); the files are checked, not loaded."""
        from oipviz.core.loader import card_path, model_path
        from oipviz.core.versions import file_sha256

        path = model_path(self.path)
        card = card_path(path)
        return {
            "sha256": file_sha256(path),
            "card_sha256": file_sha256(card) if card.is_file() else None,
            "input_scale": self.input_scale,
            "unsafe": bool(self.unsafe),
        }


def model_options(f):
    """--model, --input-scale and --unsafe, passed as ``model`` (a :class:`ModelSpec`)."""

    @click.option(
        "--model",
        "model_path",
        type=str,
        default=None,
        help="A .keras or .h5 model, or a bundled name (seed_cnn) [default: the bundled seed CNN].",
    )
    @click.option(
        "--input-scale",
        default=None,
        metavar="CONV",
        help="How the model wants pixels: unit, 255 or standardize[:MEAN,STD] "
        "(default: from the model card or a Rescaling layer).",
    )
    @click.option(
        "--unsafe", is_flag=True, help="Allow Lambda layers (runs code stored in the model file)."
    )
    @functools.wraps(f)
    def wrapper(*args, model_path, input_scale, unsafe, **kwargs):
        if input_scale is not None:
            from oipviz.core.convention import InputConvention

            InputConvention.parse(input_scale)  # a bad value fails before anything loads
        kwargs["model"] = ModelSpec(model_path, input_scale, unsafe)
        return f(*args, **kwargs)

    return wrapper


def float_list(
    text: str | None, name: str, lo: float | None = None, hi: float | None = None
) -> list[float] | None:
    """Comma-separated finite numbers (optionally in [lo, hi])."""
    from oipviz.core.errors import OipvizError

    if text is None:
        return None
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise OipvizError(f"bad {name} {text!r}; give comma-separated numbers") from None
    if not vals:
        raise OipvizError(f"{name} is empty; give comma-separated numbers")
    for v in vals:
        if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f" in [{lo:g}, {hi:g}]" if lo is not None and hi is not None else ""
            raise OipvizError(f"bad {name} value {v!r}; give finite numbers{rng}")
    return vals
