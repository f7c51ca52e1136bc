"""Atomic file writes: a crash mid-write leaves the previous file whole.

Every file the engine writes in a project (``config.yml``,
``error_annotations.csv``, the calibration session) goes through
:func:`atomic_write`: the new content goes to a temporary file in the same
folder, is flushed and fsynced, replaces the target with ``os.replace`` (atomic
on POSIX and Windows), and the folder itself is fsynced so the rename survives
a power cut.
"""

from __future__ import annotations

import glob
import os
import tempfile
import time
from pathlib import Path

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
        The path written.
    """
    path = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            try:
                os.chmod(tmp_name, path.stat().st_mode & 0o777)
            except OSError:
                pass
        else:
            os.chmod(tmp_name, 0o666 & ~_UMASK)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    _remove_stale_temporaries(path)
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
