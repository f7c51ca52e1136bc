r"""One log line per save and per error, on stderr, in a plain parseable format.

Every line is ``kpcal`` followed by ``key=value`` pairs (logfmt), for example::

    kpcal time=2026-11-30T06:01:02Z event=save user=ana@lab.example project=/data/p1 annotations=21 exported=yes

A value holding a space, ``=``, ``"`` or nothing at all is written in double
quotes with ``\`` and ``"`` escaped, so ``grep`` and any logfmt parser read it.
Events: ``save`` (annotations saved), ``params`` (slope and intercept saved
from the fit page), ``error`` (an error shown to a user), ``warning``.

The lines go through the ``logging`` logger ``kpcal`` (a server's operator can
add handlers to it); when nothing else handles it, they go to stderr (whatever
``sys.stderr`` is when the line is written). The command line writes only the
``error`` lines (:func:`errors_only`) unless asked for all (``--log`` or
``KPCAL_LOG=1``): a terminal is not the server's journal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

LOGGER_NAME = "kpcal"
#: Set to 1 (or yes, true, all) to have the command line write every log line, not only errors.
LOG_ENV = "KPCAL_LOG"
_PLAIN = re.compile(r'^[^\s="\\\x00-\x1f\x7f-\x9f]+$')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class _StderrHandler(logging.StreamHandler):
    """A stream handler writing to ``sys.stderr`` as it is now, not as it was when made.

    So a test's capture, or a server that redirects its stderr later, gets the lines.
    """

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler sets it; the property always looks it up
        pass


def logger() -> logging.Logger:
    """The ``kpcal`` logger, writing to stderr unless the program configured it."""
    log = logging.getLogger(LOGGER_NAME)
    if not log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def every_line_asked() -> bool:
    """Whether ``KPCAL_LOG`` asks the command line for every log line."""
    return os.environ.get(LOG_ENV, "").strip().lower() in ("1", "yes", "true", "all")


@contextlib.contextmanager
def errors_only(enabled: bool = True) -> Iterator[None]:
    """Within the block, only ``event=error`` lines are written (when ``enabled``).

    What the command line does by default: its user reads its messages, not the
    ``save`` and ``params`` lines meant for a server's journal; a save the disk
    refused is still logged for the operator. The logger's level is restored after.
    """
    log = logger()
    before = log.level
    if enabled:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(before)


def format_value(value: object) -> str:
    """``value`` as logfmt text: bare when plain, else double-quoted and escaped."""
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value).replace("\n", " ")
    if _PLAIN.match(text):
        return text
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    # Other control characters (a carriage return, a terminal escape from a file's name)
    # as \xNN: one line in the journal, nothing a terminal acts on when it is read.
    return '"' + _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text) + '"'


def format_event(event: str, **fields: object) -> str:
    """The line :func:`log_event` writes (without the newline)."""
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pairs = [("time", when), ("event", event), *fields.items()]
    return "kpcal " + " ".join(f"{key}={format_value(value)}" for key, value in pairs)


def log_event(event: str, **fields: object) -> None:
    """Write one line for ``event`` with ``fields`` (see the module docstring).

    Parameters
    ----------
    event
        ``save``, ``params``, ``error`` or ``warning``.
    **fields
        ``user``, ``project``, ``annotations``, ``exported``, ``message``... in
        the order given. ``True``/``False`` are written ``yes``/``no``.
    """
    level = logging.ERROR if event == "error" else logging.INFO
    logger().log(level, format_event(event, **fields))


def _unescape(match: re.Match) -> str:
    code = match[1]
    return chr(int(code[1:], 16)) if len(code) == 3 and code[0] == "x" else code


def parse_line(line: str) -> dict[str, str] | None:
    """The fields of a line :func:`log_event` wrote, or ``None`` for any other line."""
    if not line.startswith("kpcal "):
        return None
    fields: dict[str, str] = {}
    for match in re.finditer(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line[len("kpcal ") :]):
        key, value = match[1], match[2]
        if value.startswith('"'):
            value = re.sub(r"\\(x[0-9a-f]{2}|.)", _unescape, value[1:-1])
        fields[key] = value
    return fields if "event" in fields else None
