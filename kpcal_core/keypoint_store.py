"""A project's stored copy of its keypoints: coordinates memory-mapped, read once per file change.

Owns :func:`read_project_keypoints`, the app's and the command line's way to
read a project's keypoint files lean: the files are read one at a time
(:func:`kpcal_core.formats.read_keypoints` with a ``keep`` hook); each
recording's coordinates are written to ``calibration/keypoint_store/KEY/`` as
``.npy`` and memory-mapped back (``np.load(mmap_mode="r")``: a view needs
one frame's keypoints, the fit a few hundred), while confidences (needed whole by
sampling and the histogram) stay in memory at their stored precision, with a
``(T, K)`` boolean mask of missing positions (what sampling needs from the
coordinates) and, for recordings that have any, a ``(T, K)`` mask of points a
person labelled (``{i}.labelled.npy``: never drawn for annotation).

The copy is written while the files are read, by one background thread
(:class:`_CopyWriter`): when a file's arrays are ready, its coordinates file
is made at its full size and memory-mapped (what the read keeps), and the
thread fills it, writes the confidences and the missing-position mask and
computes that mask, while the next file is read. At most
:data:`WRITE_AHEAD` files' arrays wait for the thread (memory stays bounded);
the read returns only once the thread has finished, so nothing is read from
a file before it is whole.

``KEY`` is a digest of the keypoint source (path, format, duplicate choice)
and the paths, sizes and modification times of the files it may read
(:func:`source_key`): a changed file gives a new key, so a stale copy is
never read; the copy is checked against the key it was written for before
use. Copies are written into a temporary folder and renamed into place
(atomic); older copies are removed when a new one is in place.

The read that made a copy is handed once to the next read of the same key
in the process (within :data:`HANDOFF_SECONDS`): choosing the files on the
setup page (or ``kpcal sample --keypoints``) checks them by reading them, and
the project opened right after uses those arrays instead of loading the copy
again. At most one such result is held.

A stored copy is a set of files in the project's folder, which others may
write: before any is memory-mapped or loaded, its ``.npy`` headers are read
and checked (plain numbers, shapes that agree, the file exactly as long as
its header says, at most the ``keypoint_values`` limit of
:mod:`kpcal_core.limits` per recording; a copy over the limit is refused with
:class:`~kpcal_core.limits.LimitExceeded`, one that does not agree is read
again from the keypoint files), and ``index.json`` is read bounded.

When the project folder cannot be written (read-only, disk full), the
keypoints are kept in memory instead, without an error. With a data root
(``KPCAL_DATA_ROOT``), a store inside it that a symbolic link leads out of it
is neither read, written nor cleaned up: that is an error naming the link
(:func:`kpcal_core.paths.check_no_link_out`). Set
``KPCAL_KEYPOINT_STORE=0`` in the environment (or :data:`ENABLED` to False)
to always keep them in memory.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from . import limits
from .atomic import _UMASK
from .formats import LoadedKeypoints, read_keypoints
from .paths import check_no_link_out
from .session import session_dir
from .textio import read_user_text

STORE_DIRNAME = "keypoint_store"
INDEX_FILENAME = "index.json"
#: Store coordinates on disk (memory-mapped); False: every array in memory.
ENABLED = os.environ.get("KPCAL_KEYPOINT_STORE", "1").strip().lower() not in ("0", "false", "no")
_VERSION = 2  # 2: masks of human-labelled points (SLEAP user instances)
#: Write the copy in a background thread while the next file is read (False:
#: each file's copy is written before the next file is read, e.g. to compare).
BACKGROUND_WRITE = True
#: Files whose arrays may wait for the background writer.
WRITE_AHEAD = 2
#: How long a freshly read result waits for the next read of the same files.
HANDOFF_SECONDS = 120.0
_handoff: dict[tuple[str, str], tuple[float, tuple]] = {}
_handoff_lock = threading.Lock()


def store_dir(project_dir: str | os.PathLike) -> Path:
    """``calibration/keypoint_store`` of a project."""
    return session_dir(project_dir) / STORE_DIRNAME


def store_bytes(project_dir: str | os.PathLike) -> int:
    """Bytes the project's stored keypoint copies take on disk (0 when there is none)."""
    total = 0
    for folder, _, names in os.walk(store_dir(project_dir)):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(folder, name)).st_size
    return total


def stat_entry(path: str | os.PathLike) -> tuple:
    """``(path, size, mtime_ns)``; ``(path, None, None)`` when it cannot be read."""
    try:
        stat = os.stat(path)
    except OSError:
        return (os.fspath(path), None, None)
    return (os.fspath(path), stat.st_size, stat.st_mtime_ns)


def source_files(source: str | os.PathLike) -> list[str]:
    """The files a keypoint path (file, folder or glob) may read, without reading them."""
    text = str(source)
    if any(c in text for c in "*?["):
        return sorted(glob.glob(text, recursive=True))
    if os.path.isdir(text):
        return sorted(
            os.path.join(folder, name) for folder, _, names in os.walk(text) for name in names
        )
    return [text]


def source_key(source: str | os.PathLike, format: str | None, duplicates: str) -> dict:
    """What a keypoint read depends on: the source, its options and its files' stats."""
    return {
        "version": _VERSION,
        "source": os.fspath(source),
        "format": format or None,
        "duplicates": duplicates,
        "files": [list(stat_entry(f)) for f in source_files(source)],
    }


def _digest(key: Mapping) -> str:
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def position_missing(coordinates: np.ndarray) -> np.ndarray:
    """``(T, K)`` bool: True where a keypoint has no position (x or y is NaN).

    Read in blocks, so a memory-mapped ``(T, K, 2)`` array is never copied whole.
    """
    out = np.empty(coordinates.shape[:2], dtype=bool)
    rows = max(1, (1 << 20) // max(1, coordinates.shape[1]))
    for start in range(0, len(coordinates), rows):
        block = coordinates[start : start + rows]
        part = out[start : start + rows]
        np.isnan(block[..., 0], out=part)
        part |= np.isnan(block[..., 1])  # faster than .any(axis=-1) over pairs
    return out


def _write_array(path: Path, array: np.ndarray) -> None:
    """``array`` as ``.npy`` at ``path`` (a new file in a folder no one reads yet)."""
    np.save(path, np.ascontiguousarray(array))


def _make_array_file(path: Path, dtype: np.dtype, shape: tuple) -> tuple[np.ndarray, int]:
    """A ``.npy`` file of ``shape`` at its full size (not yet filled), memory-mapped read-only.

    Returns the read-only memory map and the offset of the data in the file.
    """
    made = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    offset = made.offset
    del made  # nothing written through it: the file is the header and a hole
    return np.load(path, mmap_mode="r", allow_pickle=False), offset


def _fill_array(path: Path, offset: int, array: np.ndarray) -> None:
    """Write ``array``'s bytes into the file made by :func:`_make_array_file`."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(np.ascontiguousarray(array).data.cast("B"))


class _CopyWriter:
    """Writes each recording's stored copy while the next file is read.

    :meth:`add` is called (by the reading thread) with a recording's arrays;
    it makes the coordinates file at its full size and returns its read-only
    memory map, and hands the arrays to a thread that computes the
    missing-position mask and writes the three files. :meth:`finish` waits for
    the thread. After a write fails (disk full), nothing more is written and
    the arrays of the recordings not written are kept in :attr:`in_memory`.

    Parameters
    ----------
    folder
        The copy's temporary folder.
    background
        Write in a thread (:data:`BACKGROUND_WRITE`); False: in :meth:`add`.
    """

    def __init__(self, folder: Path, background: bool):
        self.folder = folder
        self.names: list[str] = []
        self.missing: dict[str, np.ndarray] = {}
        #: ``{recording: (T, K, 2)}`` whose file could not be written.
        self.in_memory: dict[str, np.ndarray] = {}
        self.failed = False
        self.cancelled = False
        self.error: BaseException | None = None  # anything but OSError, raised by finish()
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(maxsize=WRITE_AHEAD)
            self._thread = threading.Thread(
                target=self._run, args=(self._queue,), name="kpcal-keypoint-store", daemon=True
            )
            self._thread.start()

    def add(self, name: str, coords: np.ndarray, conf: np.ndarray) -> np.ndarray:
        """Queue a recording's copy; the coordinates to keep (memory-mapped when writable)."""
        i = len(self.names)
        self.names.append(name)
        view, offset = coords, None
        if not self.failed:
            try:
                view, offset = _make_array_file(
                    self.folder / f"{i}.coordinates.npy", coords.dtype, coords.shape
                )
            except OSError:
                self.failed = True
        job = (i, name, coords, conf, offset)
        if self._queue is None:
            self._write(*job)
        else:
            self._queue.put(job)
        return view

    def cancel(self) -> None:
        """Write nothing more (the read failed): queued recordings are dropped."""
        self.cancelled = True

    def finish(self) -> None:
        """Wait until every queued copy is written (or kept in memory)."""
        if self._thread is not None and self._queue is not None:  # both set, or neither
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self.error is not None:
            raise self.error

    def _run(self, jobs: queue.Queue) -> None:
        while (job := jobs.get()) is not None:
            try:
                self._write(*job)
            except BaseException as error:  # reported by finish(), in the reading thread
                self.error = self.error or error
                self.failed = True
                self.in_memory[job[1]] = job[2]

    def _write(self, i: int, name: str, coords, conf, offset: int | None) -> None:
        if self.cancelled:
            return
        self.missing[name] = position_missing(coords)
        if offset is None or self.failed:
            self.failed = True
            self.in_memory[name] = coords
            return
        try:
            _fill_array(self.folder / f"{i}.coordinates.npy", offset, coords)
            _write_array(self.folder / f"{i}.confidences.npy", conf)
            _write_array(self.folder / f"{i}.missing.npy", self.missing[name])
        except OSError:
            self.failed = True
            self.in_memory[name] = coords


def _read_index(folder: Path) -> dict | None:
    """The copy's ``index.json`` (read bounded), or None if absent or not a JSON object."""
    try:
        index = json.loads(read_user_text(folder / INDEX_FILENAME))
    except (ValueError, RecursionError):  # KpcalError too: absent, too large, not UTF-8
        return None
    return index if isinstance(index, dict) else None


def _stored_key(folder: Path) -> dict | None:
    index = _read_index(folder)
    return index.get("key") if index is not None else None


def _npy_shape(path: Path) -> tuple[tuple[int, ...], np.dtype, bool]:
    """Shape and type of a stored ``.npy`` from its header, and whether the file is that long."""
    with open(path, "rb") as handle:
        shape, dtype, nbytes = limits.npy_header(handle, f"file {str(path)!r}")
        whole = handle.tell() + nbytes == os.fstat(handle.fileno()).st_size
    return shape, dtype, whole


def _check_stored(folder: Path, i: int) -> None:
    """Check recording ``i``'s three files before anything maps or loads them.

    Raises
    ------
    LimitExceeded
        The recording declares more keypoint values than the limit.
    ValueError
        The files do not agree (the copy is read again from the keypoint files).
    """
    path = folder / f"{i}.coordinates.npy"
    coords, coords_type, whole = _npy_shape(path)
    if len(coords) == 3:
        limits.check(
            "keypoint_values",
            coords[0] * coords[1],
            f"file {str(path)!r}",
            f"the stored copy declares {coords[0]:,} frames x {coords[1]:,} keypoints = ",
        )
    conf, conf_type, conf_whole = _npy_shape(folder / f"{i}.confidences.npy")
    mask, mask_type, mask_whole = _npy_shape(folder / f"{i}.missing.npy")
    if len(coords) != 3 or coords[2] != 2 or conf != coords[:2] or mask != coords[:2]:
        raise ValueError(f"{folder}: recording {i}'s arrays do not agree")
    if coords_type.kind != "f" or conf_type.kind != "f" or mask_type != np.bool_:
        raise ValueError(f"{folder}: recording {i}'s arrays are not keypoints")
    if not (whole and conf_whole and mask_whole):
        raise ValueError(f"{folder}: recording {i}'s files are not as long as they say")


def _load_stored(
    folder: Path, key: Mapping
) -> tuple[LoadedKeypoints, dict[str, np.ndarray], list[str]] | None:
    """The copy in ``folder`` when it was written for ``key``, else None.

    Raises
    ------
    LimitExceeded
        A recording of the copy holds more keypoint values than the limit.
    """
    index = _read_index(folder)
    if index is None or index.get("key") != json.loads(json.dumps(key)):
        return None
    try:
        loaded = LoadedKeypoints({}, {}, list(index["bodyparts"]))
        missing = {}
        for i, name in enumerate(index["recordings"]):
            _check_stored(folder, i)
            loaded.coordinates[name] = np.load(
                folder / f"{i}.coordinates.npy", mmap_mode="r", allow_pickle=False
            )
            loaded.confidences[name] = np.load(folder / f"{i}.confidences.npy", allow_pickle=False)
            missing[name] = np.load(folder / f"{i}.missing.npy", allow_pickle=False)
        for i in index["labelled"]:
            if not isinstance(i, int) or not 0 <= i < len(index["recordings"]):
                raise ValueError(f"{folder}: the index names no recording {i!r}")
            name = index["recordings"][i]
            path = folder / f"{i}.labelled.npy"
            shape, dtype, whole = _npy_shape(path)
            if shape != loaded.confidences[name].shape or dtype != np.bool_ or not whole:
                raise ValueError(f"{folder}: recording {i}'s mask of human labels does not agree")
            loaded.labelled[name] = np.load(path, allow_pickle=False)
        loaded.files = dict(index["files"])
        loaded.formats = dict(index["formats"])
        loaded.stored_videos = dict(index["stored_videos"])
        loaded.skeleton = [list(edge) for edge in index["skeleton"]]
        warnings = [str(w) for w in index["warnings"]]
    except limits.LimitExceeded:
        raise
    except (OSError, ValueError, KeyError, TypeError):  # KpcalError too: read the files again
        return None
    return loaded, missing, warnings


def _remove_others(store: Path, keep: str) -> None:
    """Remove every copy but ``keep`` (and other processes' unfinished ones younger than a day)."""
    try:
        entries = list(store.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name == keep:
            continue
        if entry.name.startswith(".tmp-"):
            try:
                if time.time() - entry.stat().st_mtime < 86400:
                    continue
            except OSError:
                continue
        shutil.rmtree(entry, ignore_errors=True)


def read_project_keypoints(
    project_dir: str | os.PathLike,
    source: str | os.PathLike,
    format: str | None = None,
    *,
    duplicates: str = "unfiltered",
) -> tuple[LoadedKeypoints, dict[str, np.ndarray], list[str]]:
    """A project's keypoints, lean: from its stored copy, or read and stored.

    Parameters
    ----------
    project_dir
        The project folder (the copy goes to ``calibration/keypoint_store``).
    source, format, duplicates
        As for :func:`kpcal_core.formats.read_keypoints`.

    Returns
    -------
    loaded : LoadedKeypoints
        Coordinates ``{recording: (T, K, 2)}`` memory-mapped read-only (in
        memory when the copy cannot be written or :data:`ENABLED` is False),
        confidences ``{recording: (T, K)}`` in memory as stored.
    missing : dict
        ``{recording: (T, K) bool}``, True where a keypoint has no position.
    warnings : list of str
        Sentences about the files (duplicate outputs left out).

    Raises
    ------
    KpcalError
        As :func:`kpcal_core.formats.read_keypoints`; nothing is written then.
        Also, with a data root, when a link leads the store out of it.
    """
    source = os.fspath(source)
    if not ENABLED:
        loaded = read_keypoints(source, format, duplicates=duplicates)
        missing = {name: position_missing(c) for name, c in loaded.coordinates.items()}
        return loaded, missing, loaded.warnings
    key = source_key(source, format, duplicates)
    digest = _digest(key)
    store = check_no_link_out(store_dir(project_dir), what="keypoint store")
    check_no_link_out(store / digest, what="keypoint store")
    with _handoff_lock:
        handed = _handoff.pop((str(store), digest), None)
    if (
        handed is not None
        and time.monotonic() - handed[0] < HANDOFF_SECONDS
        and _stored_key(store / digest) == json.loads(json.dumps(key))
    ):
        return handed[1]
    found = _load_stored(store / digest, key)
    if found is not None:
        return found

    folder: Path | None = None
    made = [p for p in (store.parent, store) if not p.exists()]  # removed again on bad input
    try:
        store.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=".tmp-", dir=store))
    except OSError:
        pass
    if folder is None:  # the project folder cannot be written: keep everything in memory
        loaded = read_keypoints(source, format, duplicates=duplicates)
        missing = {name: position_missing(c) for name, c in loaded.coordinates.items()}
        return loaded, missing, loaded.warnings
    writer = _CopyWriter(folder, BACKGROUND_WRITE)

    def keep(name: str, coords: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return writer.add(name, coords, conf), conf

    try:
        try:
            loaded = read_keypoints(source, format, duplicates=duplicates, keep=keep)
        except BaseException:
            writer.cancel()
            raise
        finally:
            writer.finish()  # never leave the thread writing, whatever happened
    except BaseException:  # bad input writes nothing: not even the empty folders
        shutil.rmtree(folder, ignore_errors=True)
        for made_folder in reversed(made):
            with contextlib.suppress(OSError):
                made_folder.rmdir()
        raise
    missing, names = writer.missing, writer.names
    if writer.failed or source_key(source, format, duplicates) != key:
        # A file changed while it was read, or the copy could not be written: keep
        # what was read (memory-mapped arrays of whole files stay valid, the others
        # are in memory) but store nothing.
        loaded.coordinates.update(writer.in_memory)
        shutil.rmtree(folder, ignore_errors=True)
        return loaded, missing, loaded.warnings
    labelled = [i for i, name in enumerate(names) if name in loaded.labelled]
    index = {
        "key": key,
        "bodyparts": list(loaded.bodyparts),
        "recordings": names,
        "labelled": labelled,
        "files": loaded.files,
        "formats": loaded.formats,
        "stored_videos": loaded.stored_videos,
        "skeleton": loaded.skeleton,
        "warnings": loaded.warnings,
    }
    try:
        for i in labelled:
            _write_array(folder / f"{i}.labelled.npy", loaded.labelled[names[i]])
        (folder / INDEX_FILENAME).write_text(json.dumps(index))
        os.chmod(folder, 0o777 & ~_UMASK)  # mkdtemp made it private
        target = store / digest
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.rename(folder, target)
    except OSError:  # another process put its copy in place first, or the disk is full
        shutil.rmtree(folder, ignore_errors=True)
        return loaded, missing, loaded.warnings
    _remove_others(store, digest)
    result = (loaded, missing, loaded.warnings)
    with _handoff_lock:
        _handoff.clear()
        _handoff[(str(store), digest)] = (time.monotonic(), result)
    return result
