r"""Reading text files a user may have edited: the one place that decodes them.

Owns :func:`read_user_text`, used by every reader of a CSV, YAML or JSON
file that a person may have opened in Excel, Notepad or an editor
(``error_annotations.csv``, the working copy, ``config.yml``,
``calibration/session.json``, other annotators' CSV files, the header of a
DeepLabCut or Lightning Pose CSV). One rule for all of them:

- UTF-8, with or without a byte order mark (Excel and Notepad write one; it
  is skipped, as pandas and PyYAML do);
- line endings kept as they are (``newline=""``), so the CSV reader sees a
  ``"\r"`` inside a quoted field as written;
- anything else (UTF-16, Latin-1, binary) raises
  :class:`~kpcal_core.errors.KpcalError` naming the file and the byte offset
  of the first byte that is not UTF-8;
- with a data root, a file inside it that a symbolic link leads out of it is
  not read (:func:`kpcal_core.paths.check_no_link_out`): no message ever
  quotes a file outside the root.
- a file larger than :data:`~kpcal_core.limits.LIMITS` ``text_file_bytes``
  (or a header line longer than asked) is refused before it is read whole.

Also owns :func:`read_when_changed`: a small files' parsed contents kept in
memory and read again only when the file changes (``config.yml`` and
``session.json`` are asked for several times on every click).
"""

from __future__ import annotations

import codecs
import copy
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from . import limits
from .errors import KpcalError
from .paths import check_no_link_out

__all__ = ["read_user_text", "read_when_changed"]

_T = TypeVar("_T")
#: Parsed files kept by :func:`read_when_changed` (the least recently used go first).
MEMO_ENTRIES = 64
_memo: OrderedDict[tuple[str, str], tuple[tuple[int, ...], object]] = OrderedDict()
_memo_lock = threading.Lock()


def _signature(path: str) -> tuple[int, ...] | None:
    """What changes when a file is replaced or written: device, inode, size, times."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read_when_changed(path: str | os.PathLike, kind: str, read: Callable[[], _T]) -> _T:
    """``read()`` of a file, kept and given again (a deep copy) until the file changes.

    The file has changed when its device, inode, size, modification or
    status-change time differ from when it was read (kpcal's writes replace
    the file, so its inode changes; an editor's write changes its times). A
    read whose file changed while it was read is not kept. Errors are not
    kept: a broken file raises again on every call; nor is a value nested
    too deeply to copy (a hostile file), which is read every time.

    Parameters
    ----------
    path
        The file.
    kind
        What ``read`` makes of it (one file may be read in more than one way).
    read
        Reads and parses the file (any check it makes, it makes again only
        when the file changed).
    """
    key = (os.path.abspath(os.fspath(path)), kind)
    before = _signature(key[0])
    if before is not None:
        with _memo_lock:
            hit = _memo.get(key)
            if hit is not None and hit[0] == before:
                _memo.move_to_end(key)
                try:
                    return copy.deepcopy(hit[1])  # type: ignore[return-value]
                except RecursionError:  # deeper call stack than when kept: read it
                    del _memo[key]
    value = read()
    after = _signature(key[0])
    if before is not None and after == before:
        try:
            kept = copy.deepcopy(value)
        except RecursionError:  # nested deeper than a copy can go: not kept
            return value
        with _memo_lock:
            _memo[key] = (before, kept)
            _memo.move_to_end(key)
            while len(_memo) > MEMO_ENTRIES:
                _memo.popitem(last=False)
    return value


def read_user_text(path: str | os.PathLike, *, max_lines: int | None = None) -> str:
    """The text of a user-editable file, decoded as UTF-8 (a BOM is skipped).

    Parameters
    ----------
    path
        The file.
    max_lines
        Read only the first ``max_lines`` lines (e.g. a CSV header of a large
        file), each at most ``csv_line_bytes`` long (a longer one is refused
        without being read whole); None reads the whole file.

    Returns
    -------
    str
        The text, line endings as in the file, without the byte order mark.

    Raises
    ------
    KpcalError
        The file does not exist or cannot be read, or is not UTF-8 (the
        message names the file and the byte offset, counted from the start
        of the file, of the first byte that is not UTF-8); with a data root, a
        symbolic link leads the file out of it (it is not opened).
    LimitExceeded
        The file (whole) or one of the ``max_lines`` lines is too long.
    """
    name = os.fspath(path)
    check_no_link_out(name)
    try:
        with open(name, "rb") as handle:
            if max_lines is None:
                size = os.fstat(handle.fileno()).st_size
                limits.check("text_file_bytes", size, f"file {name!r}", "it holds ")
                data = handle.read(limits.limit("text_file_bytes") + 1)
                limits.check("text_file_bytes", len(data), f"file {name!r}", "it holds ")
            else:
                data = _first_lines(handle, name, int(max_lines))
    except FileNotFoundError:
        raise KpcalError(f"file {name!r} does not exist") from None
    except IsADirectoryError:
        raise KpcalError(f"{name!r} is a folder, not a file") from None
    except OSError as error:
        raise KpcalError(f"file {name!r} cannot be read: {error.strerror or error}") from None
    return decode_user_text(data, name)


def _first_lines(handle, name: str, n: int) -> bytes:
    """The first ``n`` lines, each read up to the ``csv_line_bytes`` limit (longer: refused)."""
    longest = limits.limit("csv_line_bytes")
    lines = []
    for number in range(1, max(0, n) + 1):
        # "\n" never occurs inside a multi-byte UTF-8 sequence: splitting bytes is safe
        line = handle.readline(longest + 1)
        limits.check("csv_line_bytes", len(line), f"file {name!r}", f"line {number} is at least ")
        lines.append(line)
    return b"".join(lines)


def decode_user_text(data: bytes, source: str) -> str:
    """``data``, the bytes of a user-editable file (an upload), decoded.

    Decoded as :func:`read_user_text` decodes a file; ``source`` names it in the error.
    """
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = start + error.start
        raise KpcalError(
            f"{source}: not UTF-8 text ({error.reason} at byte {offset}); save it as UTF-8 "
            "(in Excel: 'CSV UTF-8'; in an editor: encoding UTF-8)"
        ) from None
