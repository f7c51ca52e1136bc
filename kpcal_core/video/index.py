"""The frame index: which packet is video frame ``i``, from one scan of the packets.

Owns :class:`FrameIndex` (video frame number ↔ presentation timestamp, and
where the keyframes are), :func:`frame_index` (built once per video, kept in
memory per process and on disk in the video's frame-cache folder),
:func:`open_av` (a video opened with PyAV, its frame size checked first),
:func:`check_frame_size` and :class:`NotDecodable`.

**Frame numbers come from the packets, not the frame rate.** Frame ``i`` is
the packet with the ``i``-th smallest presentation timestamp (pts) among the
packets the decoder outputs (packets flagged *discard* by an edit list are
left out). This is what sequential decoding counts, for constant or variable
frame rates, B-frames, and timestamps that do not start at 0. The index is
built by one demuxing pass (no decoding) and kept per process, keyed by the
video's path, size and modification time. What cannot number the frames (PyAV
cannot open the file, a packet without a timestamp, two packets sharing one)
raises :class:`NotDecodable`, and :mod:`kpcal_core.video.decode` reads that
video with OpenCV.

Sizes (:mod:`kpcal_core.limits`): a video whose frames are larger than the
``video_pixels`` limit (width x height, from the container, before anything
is decoded: :func:`check_frame_size`) or that has more packets than the
``video_frames`` limit (counted while the index is built) is refused with a
:class:`~kpcal_core.limits.LimitExceeded`, never handed to OpenCV. An index
file on disk is in the project's folder, which others may write: its size is
checked before NumPy reads it, and one that does not hold together is built again.
"""

from __future__ import annotations

import os
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:  # PyAV ships its own FFmpeg; without it every video goes through OpenCV
    import av
except ImportError:  # pragma: no cover - av is in requirements.txt
    av = None  # type: ignore[assignment]  # optional: each use checks for None

from .. import limits
from ..errors import KpcalError
from ..paths import check_no_link_out, check_video_to_open

#: Frame indexes kept in memory (one per video; a 21,000-frame video's index is ~0.5 MB).
INDEX_CACHE_SIZE = 64


class NotDecodable(Exception):
    """PyAV cannot read this video exactly; the caller falls back to OpenCV."""


# --------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class FrameIndex:
    """Where each frame of a video is, from one scan of its packets.

    Attributes
    ----------
    path
        The video file.
    pts
        ``(N,) int64``: presentation timestamp of frame ``i`` (display order,
        strictly increasing), in the stream's time base.
    decode_pos
        ``(N,) int64``: position of frame ``i``'s packet in decode order.
    key_pos
        ``(K,) int64``: decode positions of the keyframes, increasing.
    key_pts, key_dts
        ``(K,) int64``: their presentation and decode timestamps.
    """

    path: str
    pts: np.ndarray
    decode_pos: np.ndarray
    key_pos: np.ndarray
    key_pts: np.ndarray
    key_dts: np.ndarray

    @property
    def n_frames(self) -> int:
        """How many frames sequential decoding gives."""
        return int(len(self.pts))

    def frame_of_pts(self) -> dict[int, int]:
        """``{pts: frame index}``."""
        return {int(p): i for i, p in enumerate(self.pts)}


_index_lock = threading.Lock()
_index_cache: OrderedDict[tuple, FrameIndex] = OrderedDict()
_index_building: dict[tuple, threading.Event] = {}  # one scan per file at a time


def _file_key(path: str | os.PathLike) -> tuple:
    real = os.path.realpath(path)
    stat = os.stat(real)
    return (real, stat.st_size, stat.st_mtime_ns)


def check_frame_size(path: str | os.PathLike, width: float, height: float) -> None:
    """Refuse a video whose frames are larger than the ``video_pixels`` limit.

    ``width`` and ``height`` as the reader gives them (OpenCV's are floats).

    Raises
    ------
    LimitExceeded
        ``width x height`` is above the limit (the message names the video,
        its size, the limit and ``KPCAL_MAX_VIDEO_PIXELS``).
    """
    limits.check(
        "video_pixels",
        int(width) * int(height),
        f"video {str(path)!r}",
        f"its frames are {int(width):,} x {int(height):,} = ",
    )


def open_av(path: str | os.PathLike):
    """The video opened with PyAV (container headers only), its frame size checked."""
    check_video_to_open(path)  # a shared server opens no video outside its data root
    if av is None:
        raise NotDecodable("PyAV is not installed")
    try:
        container = av.open(str(path))
    except Exception as error:  # any PyAV/FFmpeg failure: OpenCV may still read it
        raise NotDecodable(f"PyAV cannot open {str(path)!r}: {error}") from None
    if not container.streams.video:
        container.close()
        raise NotDecodable(f"{str(path)!r} has no video stream PyAV can read")
    codec = container.streams.video[0].codec_context
    try:
        check_frame_size(path, codec.width, codec.height)
    except KpcalError:
        container.close()
        raise
    return container


def build_frame_index(path: str | os.PathLike) -> FrameIndex:
    """Scan a video's packets (no decoding) and return its :class:`FrameIndex`.

    Raises
    ------
    NotDecodable
        If PyAV cannot open it or its timestamps cannot number the frames.
    """
    container = open_av(path)
    most = limits.limit("video_frames")
    try:
        stream = container.streams.video[0]
        pts_list = array("q")
        positions = array("q")  # decode position of each kept packet (discards count too)
        keys: list[tuple[int, int, int]] = []
        position = 0
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet at the end
                continue
            if position >= most:
                limits.check(
                    "video_frames", position + 1, f"video {str(path)!r}", "it has at least "
                )
            if packet.is_discard:  # before an edit list's start: never output
                position += 1
                continue
            if packet.pts is None:
                raise NotDecodable(f"{str(path)!r}: a packet without a timestamp")
            pts_list.append(int(packet.pts))
            positions.append(position)
            if packet.is_keyframe:
                dts = packet.dts if packet.dts is not None else packet.pts
                keys.append((position, int(packet.pts), int(dts)))
            position += 1
    except (NotDecodable, KpcalError):
        raise
    except Exception as error:
        raise NotDecodable(f"PyAV cannot read {str(path)!r}: {error}") from None
    finally:
        container.close()
    if not pts_list:
        raise NotDecodable(f"{str(path)!r}: no video packets")
    if not keys:
        raise NotDecodable(f"{str(path)!r}: no keyframe")
    pts = np.asarray(pts_list, dtype=np.int64)
    order = np.argsort(pts, kind="stable")
    sorted_pts = pts[order]
    if np.any(np.diff(sorted_pts) <= 0):
        raise NotDecodable(f"{str(path)!r}: two packets share a timestamp")
    decode_positions = np.asarray(positions, dtype=np.int64)
    key_arr = np.asarray(keys, dtype=np.int64)
    return FrameIndex(
        path=str(path),
        pts=sorted_pts,
        decode_pos=decode_positions[order],
        key_pos=key_arr[:, 0],
        key_pts=key_arr[:, 1],
        key_dts=key_arr[:, 2],
    )


INDEX_FILE = "frame_index.npz"
_ARRAYS = ("pts", "decode_pos", "key_pos", "key_pts", "key_dts")


def _load_index(path: str | os.PathLike, folder: str | os.PathLike) -> FrameIndex | None:
    file = Path(folder) / INDEX_FILE
    try:
        check_no_link_out(folder, what="frame cache folder")
    except KpcalError:
        return None
    try:
        # five int64 arrays of at most one entry per frame: checked before NumPy allocates
        limits.check_npz(file, "video_frames", 5 * 8)
        with np.load(file, allow_pickle=False) as stored:
            arrays = {name: np.asarray(stored[name], dtype=np.int64) for name in _ARRAYS}
    except (OSError, KeyError, ValueError):  # KpcalError too: scanning the video again is bounded
        return None
    n, k = len(arrays["pts"]), len(arrays["key_pos"])
    if (
        n == 0
        or k == 0
        or len(arrays["decode_pos"]) != n
        or not (len(arrays["key_pts"]) == len(arrays["key_dts"]) == k)
    ):
        return None
    if np.any(np.diff(arrays["pts"]) <= 0):
        return None
    return FrameIndex(path=str(path), **arrays)


def _save_index(index: FrameIndex, folder: str | os.PathLike) -> None:
    try:
        check_no_link_out(folder, what="frame cache folder")
    except KpcalError:
        return  # kept in memory only
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tmp = Path(folder) / f".{INDEX_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as handle:
            np.savez(handle, **{name: getattr(index, name) for name in _ARRAYS})
        os.replace(tmp, Path(folder) / INDEX_FILE)
    except OSError:
        pass  # a read-only cache only costs a rescan next time


def frame_index(path: str | os.PathLike, store: str | os.PathLike | None = None) -> FrameIndex:
    """The :class:`FrameIndex` of a video, built once per path, size and mtime.

    Kept in memory per process; with ``store`` (a folder that belongs to this
    version of the video, e.g. its frame-cache folder) also on disk, so other
    processes do not scan the video again. Threads asking for an index being
    built wait for it (one scan per file at a time).
    """
    key = _file_key(path)
    while True:
        with _index_lock:
            found = _index_cache.get(key)
            if found is not None:
                _index_cache.move_to_end(key)
                break
            building = _index_building.get(key)
            if building is None:  # this thread builds it; others wait for it
                _index_building[key] = threading.Event()
                break
        building.wait()
    if found is not None:
        if store is not None and not (Path(store) / INDEX_FILE).exists():
            _save_index(found, store)
        return found
    try:
        index = _load_index(path, store) if store is not None else None
        if index is None:
            index = build_frame_index(path)
            if store is not None:
                _save_index(index, store)
        with _index_lock:
            _index_cache[key] = index
            while len(_index_cache) > INDEX_CACHE_SIZE:
                _index_cache.popitem(last=False)
    finally:
        with _index_lock:
            _index_building.pop(key).set()  # on failure the next caller tries again
    return index
