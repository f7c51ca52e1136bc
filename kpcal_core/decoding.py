"""Exact, economical frame decoding with PyAV: the frame index and grouped decoding.

Owns :class:`FrameIndex` (video frame number ↔ presentation timestamp, built
once per video from a scan of its packets, without decoding) and
:func:`read_frames_av`, which decodes a set of frames with the least work the
codec allows:

- **Frame numbers come from the packets, not the frame rate.** Frame ``i`` is
  the packet with the ``i``-th smallest presentation timestamp (pts) among the
  packets the decoder outputs (packets flagged *discard* by an edit list are
  left out). This is what sequential decoding counts, for constant or variable
  frame rates, B-frames, and timestamps that do not start at 0. The index is
  built by one demuxing pass (no decoding) and kept per process, keyed by the
  video's path, size and modification time.
- **One seek per group of pictures.** Wanted frames are grouped by the keyframe
  they depend on (the last keyframe at or before them in decode order whose pts
  is not after theirs). For each group the reader seeks once, to that keyframe
  (by its pts, or by its decode timestamp for containers that seek by that),
  checks where it landed (from the first packet's pts), and decodes forward only
  up to the group's last wanted packet; then it drains the decoder. No frame is
  decoded twice. The group of the frame a user waits for can go first.
- **Frames nothing refers to are not decoded.** Every packet that is not a
  wanted frame is sent with ``skip_frame = NONREF``: the decoder drops it if no
  other frame refers to it (e.g. non-reference B-frames), which cannot change
  any other frame. A wanted frame's packet is sent with ``DEFAULT``, so a
  wanted non-reference B-frame is decoded. The setting is per packet, so the
  skipping stops exactly at the target's position in decode order.
- **RGB like OpenCV.** Frames are converted with ``to_ndarray(format="rgb24")``
  (libswscale, the frame's own colour space and range), which gives the same
  pixels as OpenCV's ``VideoCapture`` followed by BGR→RGB (checked by the tests
  against :func:`kpcal_core.videos.read_frames_sequentially`).

Anything this module cannot do exactly (PyAV cannot open the file, a packet or
frame without a timestamp, duplicate timestamps, a seek that lands after its
keyframe, a wanted frame the decoder never outputs) raises
:class:`NotDecodable`; :func:`kpcal_core.videos.read_frames` then reads those
frames with OpenCV, which is slower but always exact.

Sizes (:mod:`kpcal_core.limits`): a video whose frames are larger than the
``video_pixels`` limit (width x height, from the container, before anything
is decoded: :func:`check_frame_size`) or that has more packets than the
``video_frames`` limit (counted while the index is built) is refused with a
:class:`~kpcal_core.limits.LimitExceeded`, never handed to OpenCV.
"""

from __future__ import annotations

import itertools
import os
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

try:  # PyAV ships its own FFmpeg; without it every video goes through OpenCV
    import av
except ImportError:  # pragma: no cover - av is in requirements.txt
    av = None

from . import limits
from .errors import KpcalError
from .paths import check_no_link_out, check_video_to_open
from .wording import count

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


def check_frame_size(path: str | os.PathLike, width: int, height: int) -> None:
    """Refuse a video whose frames are larger than the ``video_pixels`` limit.

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


def _open(path: str | os.PathLike):
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
    container = _open(path)
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


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Group:
    """Wanted frames that share the keyframe decoding starts from."""

    key: int  # index into FrameIndex.key_*
    frames: tuple[int, ...]  # wanted frame indexes, increasing


def plan_groups(index: FrameIndex, frames: Iterable[int], first: int | None = None) -> list[Group]:
    """Group wanted frames by the keyframe each depends on, in decode order.

    ``first``: a wanted frame whose group is put first (the frame a user waits for).
    """
    by_key: dict[int, list[int]] = {}
    for frame in sorted(set(int(f) for f in frames)):
        position = index.decode_pos[frame]
        k = int(np.searchsorted(index.key_pos, position, side="right")) - 1
        # an open GOP's leading frames (decoded after the keyframe, shown before it)
        # depend on the previous GOP: start from a keyframe shown no later than the frame
        while k > 0 and index.key_pts[k] > index.pts[frame]:
            k -= 1
        by_key.setdefault(max(k, 0), []).append(frame)
    groups = [Group(k, tuple(by_key[k])) for k in sorted(by_key)]
    if first is not None:
        groups.sort(key=lambda group: int(first) not in group.frames)  # stable
    return groups


# --------------------------------------------------------------------------- decoding


#: Called with the video path once per packet sent to the decoder (a test/bench hook).
DecodeHook = Callable[[str], None]


def read_frames_av(
    path: str | os.PathLike,
    frames: Iterable[int],
    *,
    threads: int | None = None,
    first: int | None = None,
    on_packet: DecodeHook | None = None,
    raw: bool = False,
    index_store: str | os.PathLike | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame index, RGB uint8 (H, W, 3))`` for each wanted frame, exactly.

    Frames come group by group (by increasing keyframe, ``first``'s group first), each once.

    Parameters
    ----------
    path
        The video.
    frames
        Wanted frame indexes (0-based, in sequential decoding order).
    threads
        Decoder threads for this video (frame threading); default 1.
    first
        A wanted frame to deliver as early as possible (its group is decoded first).
    on_packet
        Called with ``path`` for every packet sent to the decoder.
    raw
        Yield PyAV ``VideoFrame`` objects instead (:func:`to_rgb` converts them).
    index_store
        Folder where the video's frame index is kept on disk (:func:`frame_index`).

    Raises
    ------
    KpcalError
        A wanted frame is past the video's last frame.
    NotDecodable
        PyAV cannot read this video exactly (see the module docstring).
    """
    wanted = sorted(set(int(f) for f in frames))
    if not wanted:
        return
    index = frame_index(path, index_store)
    if wanted[0] < 0:
        raise KpcalError(f"video {str(path)!r}: negative frame index {wanted[0]}")
    if wanted[-1] >= index.n_frames:
        raise KpcalError(
            f"video {str(path)!r} has no frame {wanted[-1]}: it has {count(index.n_frames, 'frame')}"
        )
    frame_of_pts = index.frame_of_pts()
    container = _open(path)
    try:
        stream = container.streams.video[0]
        codec = stream.codec_context
        if threads and threads > 1:
            codec.thread_type = "FRAME"
            codec.thread_count = int(threads)
        else:
            codec.thread_count = 1
        for group in plan_groups(index, wanted, first):
            yield from _decode_group(
                container, stream, codec, index, frame_of_pts, group, str(path), on_packet, raw
            )
    finally:
        container.close()


def to_rgb(frame) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` of a decoded PyAV frame, pixel for pixel as OpenCV gives it.

    OpenCV's FFmpeg reader converts with libswscale to BGR24 with bicubic
    filtering (which matters where chroma is interpolated, e.g. MJPEG's
    yuvj420p); the same call here, then BGR→RGB, gives identical pixels.
    """
    bgr = frame.to_ndarray(format="bgr24", interpolation="BICUBIC")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _seek(container, stream, index, frame_of_pts, key, path):
    """Seek to keyframe ``key``; an iterator over packets from there (landing checked).

    Containers differ in what they seek by (MP4 and Matroska by presentation
    time, AVI by decode time): the keyframe's pts is tried first, then its dts.
    Landing earlier than the keyframe is fine (more decoding, same frames);
    landing after it is not.
    """
    key_position = int(index.key_pos[key])
    for timestamp in dict.fromkeys((int(index.key_pts[key]), int(index.key_dts[key]))):
        try:
            container.seek(timestamp, backward=True, any_frame=False, stream=stream)
        except Exception as error:
            raise NotDecodable(f"{path!r}: seek failed: {error}") from None
        packets = container.demux(stream)
        skipped = []
        for packet in packets:
            skipped.append(packet)
            if packet.size == 0 and packet.pts is None and packet.dts is None:
                break
            if packet.is_discard or packet.size == 0:
                continue
            number = frame_of_pts.get(packet.pts) if packet.pts is not None else None
            if number is not None and int(index.decode_pos[number]) <= key_position:
                return itertools.chain(skipped, packets)
            break
    raise NotDecodable(f"{path!r}: a seek did not land on or before its keyframe")


def _decode_group(container, stream, codec, index, frame_of_pts, group, path, on_packet, raw):
    pending = set(group.frames)
    last_position = max(int(index.decode_pos[f]) for f in group.frames)
    packets = _seek(container, stream, index, frame_of_pts, group.key, path)
    codec.flush_buffers()

    def wanted(decoded) -> Iterator[tuple[int, np.ndarray]]:
        for frame in decoded:
            if frame.pts is None:
                raise NotDecodable(f"{path!r}: a decoded frame without a timestamp")
            number = frame_of_pts.get(int(frame.pts))
            if number in pending:
                pending.discard(number)
                yield number, frame if raw else to_rgb(frame)

    try:
        for packet in packets:
            if packet.size == 0:
                if packet.pts is None and packet.dts is None:
                    break  # the end of the file
                continue
            number = frame_of_pts.get(packet.pts) if packet.pts is not None else None
            codec.skip_frame = "DEFAULT" if number in pending else "NONREF"
            if on_packet is not None:
                on_packet(path)
            yield from wanted(codec.decode(packet))
            if number is not None and int(index.decode_pos[number]) >= last_position:
                break
        codec.skip_frame = "DEFAULT"
        yield from wanted(codec.decode(None))  # drain the frames still held back
    except (NotDecodable, KpcalError):
        raise
    except Exception as error:  # FFmpeg decode errors and the like
        raise NotDecodable(f"{path!r}: PyAV failed decoding: {error}") from None
    finally:
        codec.flush_buffers()
    if pending:
        raise NotDecodable(f"{path!r}: frames {sorted(pending)[:5]} were never output")
