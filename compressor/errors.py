"""The project's own error types.

Every problem caused by what a user hands in (a file, an array, a flag, a
config value) is raised as an :class:`EieError` subclass whose message names
the file, field or value at fault. The CLI turns these into exit code 2 with
the message on stderr; anything else is an internal error (exit code 1).
"""

from __future__ import annotations


class EieError(Exception):
    """Base class: bad input or configuration, reported to the user as is."""


class EieFormatError(EieError):
    """A file (``.eie``, Huffman stream, TOML, CSV) is malformed or corrupt."""


class EieInputError(EieError, ValueError):
    """An array or argument handed in by the user is invalid."""


class EieConfigError(EieError, ValueError):
    """A configuration field is outside its allowed range."""


class EieSimulationError(EieError):
    """A run cannot proceed: a cycle limit was hit or a layer cannot be mapped."""


class EieWarning(UserWarning):
    """Suspicious but valid input (e.g. negative activations after a ReLU)."""
