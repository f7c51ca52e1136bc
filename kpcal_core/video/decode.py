"""Exact frame reading: the one reader, :func:`read_frames`, and what a video's container says.

Owns :func:`read_frames` (video frame numbers in, RGB frames out, exactly),
:func:`video_info` (frame count, rate and size from the container) and the
conversions to RGB (:func:`to_rgb`, :func:`as_rgb`). The frame for video index
``i`` is the ``i``-th frame sequential decoding gives. :func:`read_frames` has
one entry and several ways to get there (its ``method``):

- **PyAV** (``"pyav"``), with the least work the codec allows: frame numbers
  come from the frame index (:mod:`kpcal_core.video.index`: packet timestamps,
  not the frame rate); wanted frames are grouped by the keyframe they depend on
  (the last keyframe at or before them in decode order whose pts is not after
  theirs) and each group costs one seek, to that keyframe (by its pts, or by its
  decode timestamp for containers that seek by that), whose landing is checked
  from the first packet's pts; decoding goes forward only up to the group's last
  wanted packet, then the decoder is drained, so no frame is decoded twice and
  the group of the frame a user waits for can go first. Every packet that is not
  a wanted frame is sent with ``skip_frame = NONREF``: the decoder drops it if
  no other frame refers to it (non-reference B-frames), which cannot change any
  other frame; a wanted frame's packet is sent with ``DEFAULT``.
- **OpenCV** (``"opencv"``): near frames reached by stepping, far ones by
  seeking; a seek whose landing cannot be confirmed makes the rest of the video
  read from the start.
- **sequential** (``"sequential"``): OpenCV decoding every frame from the start;
  slow on long videos, exact by definition: the reference the tests compare with.
- ``"auto"`` (the default): PyAV, and OpenCV for whatever PyAV cannot read
  exactly (:class:`~kpcal_core.video.index.NotDecodable`: PyAV cannot open the
  file, a packet or frame without a timestamp, duplicate timestamps, a seek that
  lands after its keyframe, a wanted frame the decoder never outputs).

RGB like OpenCV: PyAV frames are converted with libswscale's bicubic filter to
BGR24 then to RGB (:func:`to_rgb`), the very pixels OpenCV's ``VideoCapture``
gives (checked by the tests against the sequential method).

Sizes (:mod:`kpcal_core.limits`): a video whose frames are larger than the
``video_pixels`` limit is refused when it is opened, before a frame is decoded
(:func:`kpcal_core.video.index.check_frame_size`, for PyAV and OpenCV); one
with more packets than the ``video_frames`` limit is refused while its index
is built.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from ..errors import KpcalError
from ..paths import check_video_to_open
from ..wording import count
from .index import FrameIndex, NotDecodable, check_frame_size, frame_index, open_av

#: OpenCV: step forward with grab() when the next wanted frame is at most this far ahead;
#: seek otherwise. About one keyframe interval of common H.264 encodes.
SEEK_GAP = 120

#: The ways :func:`read_frames` can read (see the module docstring).
METHODS = ("auto", "pyav", "opencv", "sequential")
Method = Literal["auto", "pyav", "opencv", "sequential"]

#: Called with the video path once per packet sent to the decoder (a test/bench hook).
DecodeHook = Callable[[str], None]


# --------------------------------------------------------------------------- the container
@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video."""

    path: str
    n_frames: int
    fps: float
    width: int
    height: int


def _open_cv(path: str | os.PathLike) -> cv2.VideoCapture:
    """The video opened with OpenCV (headers only), its frame size checked before decoding."""
    check_video_to_open(path)  # a shared server opens no video outside its data root
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise KpcalError(f"video {str(path)!r} cannot be opened (missing, or not a video)")
    try:
        check_frame_size(
            path, capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
        )
    except KpcalError:
        capture.release()
        raise
    return capture


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Frame count, frame rate and size of a video, as its container reports them."""
    capture = _open_cv(path)
    try:
        return VideoInfo(
            path=str(path),
            n_frames=int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
            fps=float(capture.get(cv2.CAP_PROP_FPS)),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
    finally:
        capture.release()


def decodes_a_frame(path: str | os.PathLike) -> bool:
    """Whether OpenCV decodes the video's first frame (a container can open and hold none).

    Raises
    ------
    KpcalError
        The video cannot be opened, or is too large (as :func:`video_info`).
    """
    capture = _open_cv(path)
    try:
        ok, frame = capture.read()
        return bool(ok) and frame is not None
    finally:
        capture.release()


def _too_short(path, index: int, n_read: int | None = None) -> KpcalError:
    info = video_info(path)
    return KpcalError(
        f"video {str(path)!r} has no frame {index}: it has {count(info.n_frames, 'frame')}"
        + (f" (decoding stopped after {n_read})" if n_read is not None else "")
    )


# --------------------------------------------------------------------------- the reader


def read_frames(
    path: str | os.PathLike,
    frame_indexes: Iterable[int],
    *,
    method: Method = "auto",
    threads: int | None = None,
    first: int | None = None,
    on_packet: DecodeHook | None = None,
    raw: bool = False,
    index_store: str | os.PathLike | None = None,
    seek_gap: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, RGB uint8 (H, W, 3) frame)`` for the given video frame indexes, exactly.

    Each index once (duplicates dropped). With PyAV, frames arrive grouped by
    keyframe (``first``'s group first), not necessarily sorted; OpenCV and the
    sequential method give them sorted.

    Parameters
    ----------
    path
        The video.
    frame_indexes
        Frame numbers, 0-based, in sequential decoding order.
    method
        ``"auto"`` (PyAV, OpenCV for what PyAV cannot read exactly), ``"pyav"``
        (no fallback: raises :class:`~kpcal_core.video.index.NotDecodable`),
        ``"opencv"`` or ``"sequential"`` (OpenCV from the first frame: the reference).
    threads
        PyAV: decoder threads for this video (frame threading); default 1.
    first
        PyAV: a wanted frame to deliver as early as possible.
    on_packet
        PyAV: called with ``path`` for every packet sent to the decoder.
    raw
        PyAV: frames come as PyAV ``VideoFrame`` objects (for the frame cache,
        which stores their YUV planes); :func:`as_rgb` converts either kind.
    index_store
        PyAV: folder that keeps the video's frame index on disk.
    seek_gap
        OpenCV: step rather than seek up to this many frames (default :data:`SEEK_GAP`).

    Raises
    ------
    KpcalError
        A negative index, a frame past the video's end (naming the video, the
        frame and its frame count), a video that cannot be opened or is too large.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    wanted = sorted(set(int(i) for i in frame_indexes))
    if not wanted:
        return
    if wanted[0] < 0:
        raise KpcalError(f"video {str(path)!r}: negative frame index {wanted[0]}")
    if method == "sequential":
        yield from _read_sequential(path, wanted)
        return
    if method == "opencv":
        yield from _read_opencv(path, wanted, seek_gap)
        return
    done: set[int] = set()
    try:
        for index, frame in _read_av(
            path,
            wanted,
            threads=threads,
            first=first,
            on_packet=on_packet,
            raw=raw,
            index_store=index_store,
        ):
            done.add(index)
            yield index, frame
        return
    except NotDecodable:
        if method == "pyav":
            raise
    yield from _read_opencv(path, [i for i in wanted if i not in done], seek_gap)


def to_rgb(frame) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` of a decoded PyAV frame, pixel for pixel as OpenCV gives it.

    OpenCV's FFmpeg reader converts with libswscale to BGR24 with bicubic
    filtering (which matters where chroma is interpolated, e.g. MJPEG's
    yuvj420p); the same call here, then BGR→RGB, gives identical pixels.
    """
    bgr = frame.to_ndarray(format="bgr24", interpolation="BICUBIC")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def as_rgb(frame) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` of what :func:`read_frames` yields (array or PyAV frame)."""
    return frame if isinstance(frame, np.ndarray) else to_rgb(frame)


# --------------------------------------------------------------------------- OpenCV


def _read_sequential(
    path: str | os.PathLike, wanted: list[int]
) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, RGB frame)`` for sorted ``wanted`` by decoding every frame from the start."""
    capture = _open_cv(path)
    try:
        position = 0
        for target in wanted:
            position, frame = _step_to(capture, path, position, target)
            yield target, frame
    finally:
        capture.release()


def _step_to(
    capture: cv2.VideoCapture, path: str | os.PathLike, position: int, target: int
) -> tuple[int, np.ndarray]:
    """Decode forward from frame ``position`` to ``target``: ``(next position, RGB frame)``."""
    while position < target:
        if not capture.grab():
            raise _too_short(path, target, position)
        position += 1
    ok, frame = capture.read()
    if not ok:
        raise _too_short(path, target, position)
    return position + 1, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def _read_opencv(
    path: str | os.PathLike, wanted: list[int], seek_gap: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, RGB frame)`` for sorted ``wanted`` with OpenCV: step or seek, landings checked.

    The fallback for videos PyAV cannot read exactly. Near frames are reached
    by stepping, far ones by seeking; a seek whose landing the reader cannot
    confirm makes the rest of this video read sequentially.
    """
    seek_gap = SEEK_GAP if seek_gap is None else int(seek_gap)
    if not wanted:
        return
    capture = _open_cv(path)
    try:
        position = 0  # index of the frame the next read() returns
        trust_seek = True
        for target in wanted:
            if trust_seek and target - position > seek_gap:
                capture.set(cv2.CAP_PROP_POS_FRAMES, target)
                landed = int(round(capture.get(cv2.CAP_PROP_POS_FRAMES)))
                if landed == target:
                    position = target
                else:  # the container cannot seek exactly: go back and step
                    trust_seek = False
                    capture.release()
                    capture = _open_cv(path)
                    position = 0
            position, frame = _step_to(capture, path, position, target)
            yield target, frame
    finally:
        capture.release()


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


# --------------------------------------------------------------------------- PyAV


def _read_av(
    path: str | os.PathLike,
    frames: Iterable[int],
    *,
    threads: int | None = None,
    first: int | None = None,
    on_packet: DecodeHook | None = None,
    raw: bool = False,
    index_store: str | os.PathLike | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame index, RGB frame)`` for each wanted frame, with PyAV, exactly.

    Frames come group by group (by increasing keyframe, ``first``'s group first),
    each once. Parameters as for :func:`read_frames`.

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
    container = open_av(path)
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
