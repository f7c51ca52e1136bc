"""The one exception type the engine raises for bad input.

Every check in ``kpcal_core`` that rejects what a user gave it raises
:class:`KpcalError`, a ``ValueError``, with a message that names the file,
recording, bodypart or frame at fault. Callers (the app, the CLI, a notebook)
can catch this one type and show its message as it is.
"""

from __future__ import annotations


class KpcalError(ValueError):
    """Bad input: the message says what is wrong and where."""


class NotEnoughAnnotations(KpcalError):
    """Too few positioned annotations (or confidences) to fit a line."""
