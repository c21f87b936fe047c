"""Exceptions that carry a message for the user.

Every problem with a user's input raises :class:`InputError` (or a subclass) whose message names the
file, column or option and says what was expected. The command line turns these into a one-line
``Error: ...`` and a non-zero exit, never a traceback.
"""

from __future__ import annotations


class OmicsDisentError(Exception):
    """Base class of every error omicsdisent raises on purpose."""


class InputError(OmicsDisentError, ValueError):
    """Bad user input: a file, a column, an option or a value that cannot be used as given."""


class DataMismatchError(InputError):
    """Data that does not match what a model or another modality expects (features, ids)."""
