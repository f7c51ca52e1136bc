"""Atomic file writes: a crash mid-write leaves the previous file whole.

A refused write is one clear error and leaves nothing behind.

Every file the engine writes in a project (``config.yml``,
``error_annotations.csv``, the calibration session) goes through
:func:`atomic_write`: the new content goes to a temporary file in the same
folder, is flushed and fsynced, replaces the target with ``os.replace`` (atomic
on POSIX and Windows), and the folder itself is fsynced so the rename survives
a power cut.

A write the system refuses (a full disk, a used-up quota, a read-only disk, no
permission, an I/O error: any ``OSError``) raises
:class:`~kpcal_core.errors.NotSaved` saying which file and why in plain words
(:func:`not_saved`); the temporary file is removed and the target is as it was.
A target inside the data root that a symbolic link leads out of it is refused
before anything is written (:func:`kpcal_core.paths.check_no_link_out`).

Several files that belong together (the annotations and ``config.yml``; the
session and a new ``config.yml``) are written with :func:`together`: every new
content is written to its temporary file first, and only when all of them are
on disk do they replace their targets, so a full disk leaves none of them
changed.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import glob
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import NotSaved
from .paths import check_no_link_out

# Read once at import: os.umask() sets the mask while reading it, which is not
# safe to do while other threads (a Streamlit server) create files.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows, where folders cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: Plain words for the errors a write can meet, and what to do.
_WHY = {
    errno.ENOSPC: ("the disk is full", "free some space on it (or ask the server's operator)"),
    getattr(errno, "EDQUOT", -1): (
        "the disk quota is used up",
        "free some space in your quota (or ask the server's operator)",
    ),
    errno.EROFS: ("the disk is read-only", "ask the server's operator to make it writable"),
    errno.EACCES: (
        "kpcal may not write there (permissions)",
        "give the account kpcal runs as write access to the folder",
    ),
    errno.EPERM: (
        "kpcal may not write there (permissions)",
        "give the account kpcal runs as write access to the folder",
    ),
    errno.EIO: ("the disk reported an input/output error", "check the disk"),
    errno.EFBIG: ("the file is too large for the disk", "ask the server's operator"),
}


def not_saved(path: str | os.PathLike, error: OSError) -> NotSaved:
    """The :class:`~kpcal_core.errors.NotSaved` for ``error``, met writing ``path``.

    The message: ``not saved: the disk is full ('PATH': No space left on device);
    free some space on it (or ask the server's operator), then save again``.
    """
    why, fix = _WHY.get(error.errno, ("the system refused the write", "check the disk"))
    text = error.strerror or str(error)
    return NotSaved(
        f"not saved: {why} ({os.fspath(path)!r}: {text}); {fix}, then save again",
        os.fspath(path),
        error.errno,
    )


#: Temporary files written by the :func:`together` block running in this context.
_staged: contextvars.ContextVar[list[tuple[str, Path]] | None] = contextvars.ContextVar(
    "kpcal_atomic_staged", default=None
)


@contextlib.contextmanager
def together() -> Iterator[None]:
    """Write every :func:`atomic_write` of the block, or none of them.

    Inside the block each write goes to its temporary file (flushed and
    fsynced) and waits; when the block ends without an error, they all replace
    their targets. If a write is refused (a full disk) or the block raises,
    every temporary file is removed and no target changes. A file written in
    the block reads as before until the block ends. Nested blocks join the
    outermost one.

    Raises
    ------
    NotSaved
        A target could not be replaced (the ones before it were).
    """
    if _staged.get() is not None:
        yield
        return
    staged: list[tuple[str, Path]] = []
    token = _staged.set(staged)
    try:
        yield
    except BaseException:
        for tmp_name, _ in staged:
            _unlink(tmp_name)
        raise
    finally:
        _staged.reset(token)
    for i, (tmp_name, path) in enumerate(staged):
        try:
            _replace(tmp_name, path)
        except NotSaved:
            for later, _ in staged[i + 1 :]:
                _unlink(later)
            raise


def _unlink(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)


def _write_temporary(path: Path, payload: bytes) -> str:
    """``payload`` in a new temporary file beside ``path``, fsynced; its name."""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise not_saved(path, error) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp_name, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp_name, 0o666 & ~_UMASK)
    except OSError as error:
        _unlink(tmp_name)
        raise not_saved(path, error) from None
    except BaseException:
        _unlink(tmp_name)
        raise
    return tmp_name


def _replace(tmp_name: str, path: Path) -> None:
    """Put the temporary file in place of ``path``, and make the rename durable."""
    try:
        os.replace(tmp_name, path)
    except OSError as error:
        _unlink(tmp_name)
        raise not_saved(path, error) from None
    _fsync_dir(path.parent)
    _remove_stale_temporaries(path)


def atomic_write(path: str | os.PathLike, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically.

    Parameters
    ----------
    path
        Target file. Its folder must exist.
    data
        Text (encoded with ``encoding``) or bytes.
    encoding
        Encoding of text data.

    Returns
    -------
    pathlib.Path
        The path written (inside a :func:`together` block: to be written when it ends).

    Raises
    ------
    NotSaved
        The system refused the write (disk full, quota, read-only, permissions,
        I/O error); ``path`` is as it was and no temporary file is left.
    KpcalError
        ``path`` lies inside the data root but a symbolic link leads it out.
    """
    path = Path(path)
    check_no_link_out(path)
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    tmp_name = _write_temporary(path, payload)
    staged = _staged.get()
    if staged is not None:
        staged.append((tmp_name, path))
        return path
    _replace(tmp_name, path)
    return path


#: A temporary file this old was left by a writer that died (a write takes milliseconds).
STALE_TEMPORARY_SECONDS = 600


def _remove_stale_temporaries(path: Path) -> int:
    """Delete temporary files of ``path`` left by killed writers; return how many."""
    now = time.time()
    removed = 0
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if now - leftover.stat().st_mtime > STALE_TEMPORARY_SECONDS:
                leftover.unlink()
                removed += 1
        except OSError:
            pass  # another process removed it, or it is not ours to remove
    return removed
