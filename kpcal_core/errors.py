"""The one exception type the engine raises for bad input.

Every check in ``kpcal_core`` that rejects what a user gave it raises
:class:`KpcalError`, a ``ValueError``, with a message that names the file,
recording, bodypart or frame at fault. Callers (the app, the CLI, a notebook)
can catch this one type and show its message as it is. :class:`NotSaved`, one
of them, is a write the system refused (a full disk...): the caller may keep
what it was saving and try again.
"""

from __future__ import annotations


class KpcalError(ValueError):
    """Bad input: the message says what is wrong and where."""


class NotEnoughAnnotations(KpcalError):
    """Too few positioned annotations (or confidences) to fit a line."""


class NotSaved(KpcalError, OSError):
    """A save the system refused (disk full, quota, read-only disk, no permission, I/O error).

    Raised by :func:`kpcal_core.atomic.atomic_write` (and the other writers of a
    project) for the ``OSError`` met; nothing was written. The message says
    which file, why in plain words, and the system's own text. It is a
    :class:`KpcalError` (shown as a message) and still an ``OSError``, so code
    that caught the ``OSError`` before goes on working.

    Attributes
    ----------
    path
        The file that was not saved.
    errno
        The ``OSError``'s errno (``errno.ENOSPC``...), or ``None``.
    """

    def __init__(self, message: str, path: str = "", errno: int | None = None):
        super().__init__(message)
        self.path = path
        self.errno = errno

    def __str__(self) -> str:  # the message, not OSError's "[Errno N] ..."
        return str(self.args[0]) if self.args else ""
