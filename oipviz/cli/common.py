"""Options shared by several commands."""
from __future__ import annotations

import functools

import click


def model_options(f):
    """--model, --input-scale and --unsafe; passes ``loaded`` (a LoadedModel) lazily."""
    @click.option("--model", "model_path", type=click.Path(dir_okay=False), default=None,
                  help="A .keras or .h5 model (default: the bundled seed CNN).")
    @click.option("--input-scale", default=None, metavar="CONV",
                  help="How the model wants pixels: unit, 255 or standardize[:MEAN,STD] "
                       "(default: from the model card or a Rescaling layer).")
    @click.option("--unsafe", is_flag=True,
                  help="Allow Lambda layers (runs code stored in the model file).")
    @functools.wraps(f)
    def wrapper(*args, model_path, input_scale, unsafe, **kwargs):
        from ..loader import load_model

        kwargs["loaded"] = load_model(model_path, unsafe=unsafe, input_scale=input_scale)
        return f(*args, **kwargs)

    return wrapper


def parse_maps(text: str, n_maps: int) -> list[int]:
    """Parse ``46``, ``1,3,9``, ``0-15`` or ``all`` into map indices."""
    from ..errors import LayerError

    text = text.strip().lower()
    if text == "all":
        return list(range(n_maps))
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = (int(v) for v in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise LayerError(f"bad --map {text!r}; use an index, a list (1,3,9), a range (0-15) "
                             "or all") from None
    bad = [m for m in out if not 0 <= m < n_maps]
    if bad:
        raise LayerError(f"map {bad[0]} out of range: valid 0–{n_maps - 1}")
    return list(dict.fromkeys(out))
