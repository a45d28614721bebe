"""User-facing errors: each prints as one line `error: ...` and exits with status 2."""

from __future__ import annotations


class OipvizError(Exception):
    """An error caused by the user's input (file, argument, model), not by a bug."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class DataError(OipvizError):
    """No data source worked, or a data file is malformed."""


class ModelError(OipvizError):
    """A model file is missing, corrupt, unsafe or not an MNIST-shaped model."""


class LayerError(OipvizError):
    """An unknown layer or map index."""


class ImageError(OipvizError):
    """An input image cannot be read or is unusable."""


class OutputError(OipvizError):
    """The output location is not usable (exists without --force, ...)."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM): handled like Ctrl-C, exit status 143."""
