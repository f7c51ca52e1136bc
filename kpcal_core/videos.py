"""Videos: matching recordings to video files and reading frames exactly.

Owns :func:`find_matching_videos` (keypoint-MoSeq's rule: the longest video
name that prefixes the recording name wins), :func:`video_info`, and
:func:`load_sampled_frames`, which decodes the frames behind a list of samples.

Frame-accurate reading. The frame for video index ``i`` is the ``i``-th frame
sequential decoding gives. :func:`read_frames` decodes with PyAV
(:mod:`kpcal_core.decoding`: frame numbers from packet timestamps, one seek per
group of pictures, frames nothing refers to skipped, no frame decoded twice)
and falls back to OpenCV (:func:`read_frames_opencv`: step or seek, every seek's
landing checked, else sequential from the start) for what PyAV cannot read
exactly.

A video whose frames are larger than the ``video_pixels`` limit of
:mod:`kpcal_core.limits` is refused when it is opened, before a frame is
decoded (:func:`kpcal_core.decoding.check_frame_size`, for PyAV and OpenCV).

Videos are decoded in parallel threads, one per core, each with frame
threading (both libraries release the GIL while decoding). With ``cache_dir``
each decoded frame goes to the frame cache (:mod:`kpcal_core.framecache`:
lossless, compact, size-capped) as soon as it is decoded, so a second call
decodes nothing. :func:`fill_frame_cache` fills the cache without keeping the
frames (bounded memory, the first sample first, cancellable);
:func:`load_sampled_frames` (keypoint-MoSeq's API) returns them;
:func:`index_videos` builds the videos' frame indexes before the first read.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import decoding, framecache
from .errors import KpcalError, NotSaved
from .paths import MAX_SEARCHED, check_video_to_open
from .samplekeys import SampleKey, check_sample_key
from .wording import count, verb

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv")  # keypoint-MoSeq 0.8.1's list

#: Step forward with grab() when the next wanted frame is at most this far ahead;
#: seek otherwise. About one keyframe interval of common H.264 encodes.
SEEK_GAP = 120

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- matching


def _normalise_extensions(video_extension: str | None) -> tuple[str, ...]:
    if video_extension is None or video_extension == "":
        return VIDEO_EXTENSIONS
    ext = str(video_extension)
    return ("." + ext.lstrip("."),)


def list_videos(
    video_dir: str | os.PathLike, video_extension: str | None = None, recursive: bool = True
) -> list[Path]:
    """Video files in ``video_dir`` with the given extension (case-insensitive)."""
    if video_dir is None or str(video_dir) == "":
        raise KpcalError("video_dir is empty: give the folder that holds the videos")
    folder = Path(video_dir)
    if not folder.is_dir():
        raise KpcalError(f"video folder {str(folder)!r} does not exist or is not a folder")
    extensions = {e.lower() for e in _normalise_extensions(video_extension)}
    found, seen = [], 0
    for root, dirs, files in os.walk(folder):  # unreadable sub-folders are skipped
        seen += len(dirs) + len(files)
        if seen > MAX_SEARCHED:  # e.g. "/" or a whole disk typed
            raise KpcalError(
                f"video folder {str(folder)!r} holds more than {MAX_SEARCHED:,} files and "
                "folders: give the folder that holds the videos"
            )
        found += [Path(root, f) for f in files if os.path.splitext(f)[1].lower() in extensions]
        if not recursive:
            break
    return sorted(p for p in found if p.is_file())


def match_videos(
    keys: Iterable[str],
    video_dir: str | os.PathLike,
    recursive: bool = True,
    recording_name_suffix: str = "",
    video_extension: str | None = None,
) -> dict[str, Path | None]:
    """Like :func:`find_matching_videos` but ``None`` where a recording has no video."""
    videos = list_videos(video_dir, video_extension, recursive)
    by_stem: dict[str, Path] = {}
    for path in videos:  # sorted: the first of equal stems wins, repeatably
        by_stem.setdefault(path.stem, path)
    out: dict[str, Path | None] = {}
    for key in keys:
        name = str(key)
        base = os.path.basename(name)
        candidates = [stem for stem in by_stem if base.startswith(stem + recording_name_suffix)]
        out[name] = by_stem[max(candidates, key=len)] if candidates else None
    return out


def find_matching_videos(
    keys: Sequence[str],
    video_dir: str | os.PathLike,
    as_dict: bool = False,
    recursive: bool = True,
    recording_name_suffix: str = "",
    video_extension: str | None = None,
) -> list[str] | dict[str, str]:
    """Find the video of each recording: the longest video name that prefixes it.

    A video ``{video_dir}/NAME.ext`` matches recording ``key`` when the base
    name of ``key`` starts with ``NAME + recording_name_suffix`` (case-sensitive;
    extensions are compared case-insensitively); of several matches the longest
    ``NAME`` wins.

    Parameters
    ----------
    keys
        Recording names.
    video_dir
        Folder searched for videos.
    as_dict
        Return ``{key: path}`` instead of a list in the order of ``keys``.
    recursive
        Search sub-folders too.
    recording_name_suffix
        Text that follows the video name in every recording name.
    video_extension
        Only this extension (with or without the dot); default mp4, avi, mov and mkv.

    Returns
    -------
    list of str or dict
        Video paths, one per key.
    """
    matched = match_videos(keys, video_dir, recursive, recording_name_suffix, video_extension)
    missing = [k for k, v in matched.items() if v is None]
    if missing:
        exts = ", ".join(_normalise_extensions(video_extension))
        raise KpcalError(
            f"no video in {str(video_dir)!r} ({exts}) matches recording {missing[0]!r}: "
            "a video's file name (without extension) must be the start of the recording name"
            + (f" followed by {recording_name_suffix!r}" if recording_name_suffix else "")
            + (
                f"; {count(len(missing) - 1, 'more recording')} "
                f"{verb(len(missing) - 1, 'has', 'have')} no video"
                if len(missing) > 1
                else ""
            )
        )
    if as_dict:
        return {str(k): str(matched[str(k)]) for k in keys}
    return [str(matched[str(k)]) for k in keys]


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video."""

    path: str
    n_frames: int
    fps: float
    width: int
    height: int


def _open(path: str | os.PathLike) -> cv2.VideoCapture:
    """The video opened with OpenCV (headers only), its frame size checked before decoding."""
    check_video_to_open(path)  # a shared server opens no video outside its data root
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise KpcalError(f"video {str(path)!r} cannot be opened (missing, or not a video)")
    try:
        decoding.check_frame_size(
            path, capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
        )
    except KpcalError:
        capture.release()
        raise
    return capture


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Frame count, frame rate and size of a video, as its container reports them."""
    capture = _open(path)
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


def _too_short(path, index: int, n_read: int | None = None) -> KpcalError:
    info = video_info(path)
    return KpcalError(
        f"video {str(path)!r} has no frame {index}: it has {count(info.n_frames, 'frame')}"
        + (f" (decoding stopped after {n_read})" if n_read is not None else "")
    )


def read_frames_sequentially(path: str | os.PathLike, frame_indexes: Iterable[int]):
    """Yield ``(index, RGB frame)`` for sorted ``frame_indexes`` by decoding from the start.

    Slow on long videos, but exact by definition; used as the reference.
    """
    wanted = sorted(set(int(i) for i in frame_indexes))
    capture = _open(path)
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


def read_frames(
    path: str | os.PathLike,
    frame_indexes: Iterable[int],
    seek_gap: int | None = None,
    *,
    threads: int | None = None,
    first: int | None = None,
    on_packet: Callable[[str], None] | None = None,
    raw: bool = False,
    index_store: str | os.PathLike | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, RGB uint8 (H, W, 3) frame)`` for the given video frame indexes, exactly.

    Each index once (duplicates dropped). PyAV decodes them with the least
    work the codec allows (:mod:`kpcal_core.decoding`: one seek per group of
    pictures, frames nothing refers to skipped); whatever PyAV cannot read
    exactly is read with OpenCV (:func:`read_frames_opencv`). Frames arrive
    grouped by keyframe (``first``'s group first), not necessarily sorted.

    Parameters
    ----------
    path
        The video.
    frame_indexes
        Frame numbers, 0-based, in sequential decoding order.
    seek_gap
        OpenCV fallback only: step rather than seek up to this many frames.
    threads
        Decoder threads for this video (PyAV frame threading).
    first
        A wanted frame to deliver as early as possible.
    on_packet
        PyAV only: called with ``path`` for every packet sent to the decoder.
    raw
        Frames PyAV decoded come as PyAV ``VideoFrame`` objects (for the frame
        cache, which stores their YUV planes); :func:`as_rgb` converts either kind.
    index_store
        PyAV only: folder that keeps the video's frame index on disk.
    """
    wanted = sorted(set(int(i) for i in frame_indexes))
    if not wanted:
        return
    if wanted[0] < 0:
        raise KpcalError(f"video {str(path)!r}: negative frame index {wanted[0]}")
    done: set[int] = set()
    try:
        for index, frame in decoding.read_frames_av(
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
    except decoding.NotDecodable:
        pass
    yield from read_frames_opencv(path, [i for i in wanted if i not in done], seek_gap)


def as_rgb(frame) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` of what :func:`read_frames` yields (array or PyAV frame)."""
    return frame if isinstance(frame, np.ndarray) else decoding.to_rgb(frame)


def read_frames_opencv(
    path: str | os.PathLike, frame_indexes: Iterable[int], seek_gap: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, RGB uint8 (H, W, 3) frame)`` with OpenCV, in sorted order.

    The fallback for videos PyAV cannot read exactly. Near frames are reached
    by stepping, far ones by seeking; a seek whose landing the reader cannot
    confirm makes the rest of this video read sequentially.
    """
    seek_gap = SEEK_GAP if seek_gap is None else int(seek_gap)
    wanted = sorted(set(int(i) for i in frame_indexes))
    if not wanted:
        return
    if wanted[0] < 0:
        raise KpcalError(f"video {str(path)!r}: negative frame index {wanted[0]}")
    capture = _open(path)
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
                    capture = _open(path)
                    position = 0
            position, frame = _step_to(capture, path, position, target)
            yield target, frame
    finally:
        capture.release()


# --------------------------------------------------------------------------- cache

# The frame cache lives in kpcal_core.framecache; these names stay for callers.
read_cached_frame = framecache.read_cached_frame
write_cached_frame = framecache.write_cached_frame
cache_size = framecache.cache_size
_video_cache_folder = framecache.video_cache_folder
_cache_file = framecache.npy_file  # the legacy raw-frame file


def _is_cached(cache_dir, video: str, index: int) -> bool:
    """Whether frame ``index`` of ``video`` is cached (or in the legacy .npy); marks it used."""
    try:
        folder = framecache.video_cache_folder(cache_dir, video)
    except OSError:
        return False
    file = framecache.frame_file(folder, index)
    try:
        os.utime(file)
        return True
    except OSError:
        return framecache.npy_file(folder, index).is_file()


# --------------------------------------------------------------------------- parallel decoding


def _index_store(cache_dir, video) -> Path | None:
    """The video's cache folder (where its frame index is kept), if there is one."""
    if cache_dir is None:
        return None
    try:
        return framecache.video_cache_folder(cache_dir, video)
    except OSError:  # missing video: reading it reports that
        return None


def index_videos(
    cache_dir: str | os.PathLike,
    videos: Iterable[str | os.PathLike],
    *,
    progress: Callable[[int, int, list[str]], object] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Build each video's frame index now and keep it in its frame-cache folder.

    Reading frames needs the index (:func:`kpcal_core.decoding.frame_index`: one
    scan of the packets, no decoding); built ahead, the first frame of a new
    sample set waits only for its own decoding. Videos PyAV cannot index are
    passed over (reading them later says why, or uses OpenCV).

    Returns
    -------
    int
        Videos indexed (now or before).
    """
    videos = [str(v) for v in videos]
    indexed = 0
    for done, video in enumerate(videos):
        if should_stop is not None and should_stop():
            break
        try:
            decoding.frame_index(video, _index_store(cache_dir, video))
            indexed += 1
        except (decoding.NotDecodable, KpcalError, OSError):
            pass
        if progress is not None:
            progress(done + 1, len(videos), [video])
    return indexed


class _Stopped(Exception):
    """Raised inside a worker when the caller gave up."""


def _plan_threads(n_videos: int) -> tuple[int, int]:
    """``(parallel videos, decoder threads per video)`` for this machine.

    One video per core, and frame threading with one thread per core in each:
    frame threading decodes no packet twice, and on a machine shared with
    other work it keeps the cores busy while one video waits (measured on 2
    loaded cores: 2-3x less wall time than one thread per video, same CPU).
    """
    cpus = os.cpu_count() or 1
    return max(1, min(n_videos, cpus)), cpus


def _decode_parallel(
    to_decode: Mapping[str, Sequence[int]],
    handle: Callable[[str, int, np.ndarray], object],
    stop: threading.Event,
    first: tuple[str, int] | None = None,
    poll: Callable[[], bool] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Iterator[tuple[str, int, object]]:
    """Decode videos in parallel threads; yield ``(video, index, handle(...))`` in the caller.

    ``handle`` runs in the worker thread as soon as a frame is decoded (e.g.
    writes it to the cache and returns ``None``, so no frame is kept); at most
    a few frames per video exist at once beyond what ``handle`` keeps. The
    video of ``first`` decodes ``first``'s group first, and the other videos
    wait until that frame is out, so it has every core to itself.
    ``poll`` is called about every 0.1 s in the calling thread; when it returns
    True (or the caller stops iterating) the workers stop at their next packet.
    A worker's error is raised after all workers have ended. With
    ``cache_dir`` each video's frame index is kept in its cache folder.
    """
    arrivals: queue.Queue = queue.Queue()
    order = sorted(to_decode, key=lambda video: first is None or video != first[0])
    workers, threads = _plan_threads(len(order))

    def check(_path: str) -> None:
        if stop.is_set():
            raise _Stopped

    head_start = threading.Event()  # set once first's frame is out
    if first is None or first[0] not in to_decode:
        head_start.set()

    def decode(video: str) -> None:
        start = first[1] if first is not None and first[0] == video else None
        try:
            while start is None and not head_start.wait(0.05):
                if stop.is_set():
                    return
            if stop.is_set():
                return
            store = _index_store(cache_dir, video)
            for index, frame in read_frames(
                video,
                to_decode[video],
                threads=threads,
                first=start,
                on_packet=check,
                raw=True,
                index_store=store,
            ):
                if stop.is_set():
                    return
                arrivals.put((video, index, handle(video, index, frame)))
                if index == start:
                    head_start.set()
        except _Stopped:
            pass
        except BaseException as error:  # reported in the calling thread
            arrivals.put(error)
        finally:
            if start is not None:
                head_start.set()
            arrivals.put(None)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for video in order:
            pool.submit(decode, video)
        finished, failure = 0, None
        try:
            while finished < len(order):
                try:
                    item = arrivals.get(timeout=0.1)
                except queue.Empty:
                    if poll is not None and poll():
                        stop.set()
                        return
                    continue
                if item is None:
                    finished += 1
                elif isinstance(item, BaseException):
                    failure = failure or item
                else:
                    yield item
                    if poll is not None and poll():
                        stop.set()
                        return
        finally:
            stop.set()  # the caller gave up or raised: workers stop at their next packet
    if failure is not None:
        raise failure


# --------------------------------------------------------------------------- samples


def sample_video_frames(
    sample_keys: Sequence[SampleKey],
    video_dir: str | os.PathLike,
    video_frame_indexes: Mapping[str, np.ndarray],
    video_extension: str | None = None,
    *,
    video_paths: Mapping[str, str | os.PathLike] | None = None,
    recording_name_suffix: str = "",
) -> dict[SampleKey, tuple[str, int]]:
    """The ``(video path, video frame index)`` behind each sample key.

    Parameters are those of :func:`load_sampled_frames`.

    Returns
    -------
    dict
        ``{(recording, frame, bodypart): (video path, video frame)}`` in the order of ``sample_keys``.
    """
    sample_keys = [check_sample_key(key) for key in sample_keys]
    recordings = sorted({k for k, _, _ in sample_keys})
    paths = {str(k): v for k, v in (video_paths or {}).items()}
    unmatched = [r for r in recordings if r not in paths]
    if unmatched:
        paths.update(
            find_matching_videos(
                unmatched,
                video_dir,
                as_dict=True,
                recording_name_suffix=recording_name_suffix,
                video_extension=video_extension,
            )
        )
    out: dict[SampleKey, tuple[str, int]] = {}
    for key in sample_keys:
        recording, frame, _ = key
        if recording not in video_frame_indexes:
            raise KpcalError(f"recording {recording!r} has no entry in video_frame_indexes")
        indexes = video_frame_indexes[recording]
        if not 0 <= frame < len(indexes):
            raise KpcalError(
                f"recording {recording!r}: sample frame {frame} is outside its "
                f"{len(indexes)} keypoint frames"
            )
        out[key] = (str(paths[recording]), int(indexes[frame]))
    return out


def load_sampled_frames(
    sample_keys: Sequence[SampleKey],
    video_dir: str | os.PathLike,
    video_frame_indexes: Mapping[str, np.ndarray],
    video_extension: str | None = None,
    *,
    progress: Progress | None = None,
    cache_dir: str | os.PathLike | None = None,
    video_paths: Mapping[str, str | os.PathLike] | None = None,
    recording_name_suffix: str = "",
    max_cache_bytes: int | None = framecache.DEFAULT_MAX_BYTES,
) -> dict[SampleKey, np.ndarray]:
    """Decode the video frame behind each sample.

    Parameters
    ----------
    sample_keys
        ``(recording, frame, bodypart)`` tuples; ``frame`` indexes the keypoints.
    video_dir
        Folder of videos, matched with :func:`find_matching_videos`.
    video_frame_indexes
        ``{recording: (T,) int array}``: the video frame of each keypoint frame.
    video_extension
        Only videos with this extension.
    progress
        Called as ``progress(done, total)`` in the calling thread as frames arrive.
    cache_dir
        Folder for decoded frames (:mod:`kpcal_core.framecache`); a second call
        with the same samples decodes nothing.
    video_paths
        ``{recording: video path}`` that overrides matching for those recordings.
    recording_name_suffix
        Passed to :func:`find_matching_videos`.
    max_cache_bytes
        Size cap of ``cache_dir`` (least recently used frames evicted); ``None``: no cap.

    Returns
    -------
    dict
        ``{sample_key: RGB uint8 array (H, W, 3)}``. Samples on the same video
        frame share one array.
    """
    video_of = sample_video_frames(
        sample_keys,
        video_dir,
        video_frame_indexes,
        video_extension,
        video_paths=video_paths,
        recording_name_suffix=recording_name_suffix,
    )
    wanted: dict[str, set[int]] = {}
    for video, index in video_of.values():
        wanted.setdefault(video, set()).add(index)

    total = sum(len(v) for v in wanted.values())
    frames: dict[tuple[str, int], np.ndarray] = {}
    to_decode: dict[str, list[int]] = {}
    pairs = [(video, index) for video, indexes in wanted.items() for index in sorted(indexes)]
    if cache_dir is not None and pairs:  # PNG decoding releases the GIL: read in parallel
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            found = list(pool.map(lambda pair: read_cached_frame(cache_dir, *pair), pairs))
    else:
        found = [None] * len(pairs)
    for (video, index), cached in zip(pairs, found, strict=True):
        if cached is None:
            to_decode.setdefault(video, []).append(index)
        else:
            frames[(video, index)] = cached
    if progress is not None:
        progress(len(frames), total)

    def keep(video: str, index: int, frame) -> np.ndarray:
        if cache_dir is not None:
            write_cached_frame(cache_dir, video, index, frame, max_cache_bytes)
        return as_rgb(frame)

    if to_decode:
        for video, index, frame in _decode_parallel(
            to_decode, keep, threading.Event(), cache_dir=cache_dir
        ):
            frames[(video, index)] = frame
            if progress is not None:
                progress(len(frames), total)

    return {key: frames[video_of[key]] for key in video_of}


@dataclass(frozen=True)
class FillSummary:
    """What :func:`fill_frame_cache` did.

    Attributes
    ----------
    total
        Distinct ``(video, frame)`` pairs asked for.
    cached_before
        Of those, already in the cache.
    written
        Decoded and written by this call.
    evicted
        Older frames deleted to keep the cache under its cap.
    stopped
        ``should_stop`` returned True before the end.
    first_ready_s
        Seconds until the first asked frame was in the cache (0 if it was already).
    seconds
        Wall time of the call.
    """

    total: int
    cached_before: int
    written: int
    evicted: int
    stopped: bool
    first_ready_s: float | None
    seconds: float


def fill_frame_cache(
    cache_dir: str | os.PathLike,
    frames: Iterable[tuple[str | os.PathLike, int]],
    *,
    progress: Callable[[int, int, tuple[str, int] | None], object] | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_bytes: int | None = framecache.DEFAULT_MAX_BYTES,
) -> FillSummary:
    """Decode frames into the frame cache, each written as soon as it is decoded.

    Never keeps the frames: memory stays at a few frames per video however many
    are asked for. Videos are decoded in parallel; the first pair asked for is
    decoded first (its video starts first, its group of pictures first), so a
    page can show the first sample while the rest fill.

    Parameters
    ----------
    cache_dir
        The project's frame cache folder.
    frames
        ``(video path, video frame index)`` pairs, most wanted first (e.g. the
        values of :func:`sample_video_frames` in sample order).
    progress
        ``progress(done, total, ready)`` in the calling thread: once at the
        start with ``ready`` the first pair if it is already cached (else
        ``None``), then after each frame written with ``ready`` its
        ``(video, index)``.
    should_stop
        Polled about every 0.1 s; when it returns True decoding stops (the
        frames written so far stay).
    max_bytes
        The cache's size cap (:data:`kpcal_core.framecache.DEFAULT_MAX_BYTES`);
        ``None``: no cap.

    Returns
    -------
    FillSummary
    """
    started = time.perf_counter()
    ordered = list(dict.fromkeys((str(video), int(index)) for video, index in frames))
    for video, index in ordered:
        if index < 0:
            raise KpcalError(f"video {video!r}: negative frame index {index}")
    to_decode: dict[str, list[int]] = {}
    cached = 0
    for video, index in ordered:
        if _is_cached(cache_dir, video, index):
            cached += 1
        else:
            to_decode.setdefault(video, []).append(index)
    first = ordered[0] if ordered else None
    first_cached = first is not None and first[1] not in to_decode.get(first[0], ())
    first_ready = 0.0 if first_cached else None
    if progress is not None:
        progress(cached, len(ordered), first if first_cached else None)

    evicted = [0]

    def store(video: str, index: int, frame) -> None:
        evicted[0] += write_cached_frame(cache_dir, video, index, frame, max_bytes)

    written, stopped = 0, False
    if to_decode and not (should_stop is not None and should_stop()):
        stop = threading.Event()
        for video, index, _ in _decode_parallel(
            to_decode,
            store,
            stop,
            first=None if first_cached else first,
            poll=should_stop,
            cache_dir=cache_dir,
        ):
            written += 1
            if first_ready is None and (video, index) == first:
                first_ready = time.perf_counter() - started
            if progress is not None:
                progress(cached + written, len(ordered), (video, index))
        stopped = written < sum(len(v) for v in to_decode.values())
    elif to_decode:
        stopped = True
    return FillSummary(
        total=len(ordered),
        cached_before=cached,
        written=written,
        evicted=evicted[0],
        stopped=stopped,
        first_ready_s=first_ready,
        seconds=time.perf_counter() - started,
    )


def fill_sample_frames(
    cache_dir: str | os.PathLike,
    sample_keys: Sequence[SampleKey],
    video_frame_indexes: Mapping[str, np.ndarray],
    *,
    video_paths: Mapping[str, str | os.PathLike] | None = None,
    video_dir: str | os.PathLike = "",
    video_extension: str | None = None,
    recording_name_suffix: str = "",
    progress: Callable[[int, int, list[SampleKey]], object] | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_bytes: int | None = framecache.DEFAULT_MAX_BYTES,
) -> FillSummary:
    """:func:`fill_frame_cache` for sample keys (what the setup page and the CLI call).

    The first sample's frame is decoded first. ``progress(done, total, ready)``
    counts distinct video frames and gives the sample keys whose frame just
    became ready (at the start: those already cached), so a page can show the
    first sample as soon as ``sample_keys[0]`` is among them. Other parameters
    are those of :func:`load_sampled_frames` and :func:`fill_frame_cache`.
    """
    video_of = sample_video_frames(
        sample_keys,
        video_dir,
        video_frame_indexes,
        video_extension,
        video_paths=video_paths,
        recording_name_suffix=recording_name_suffix,
    )
    samples_of: dict[tuple[str, int], list[SampleKey]] = {}
    for key, pair in video_of.items():
        samples_of.setdefault(pair, []).append(key)
    report = None
    if progress is not None:
        started = []

        def report(done: int, total: int, ready: tuple[str, int] | None) -> None:
            if not started:  # the first call: the frames already cached
                started.append(True)
                cached = {pair for pair in samples_of if _is_cached(cache_dir, *pair)}
                keys = [k for k, pair in video_of.items() if pair in cached] if done else []
            else:
                keys = list(samples_of.get(ready, [])) if ready is not None else []
            progress(done, total, keys)

    return fill_frame_cache(
        cache_dir,
        list(video_of.values()),
        progress=report,
        should_stop=should_stop,
        max_bytes=max_bytes,
    )


def load_frame(
    video_path: str | os.PathLike,
    index: int,
    cache_dir: str | os.PathLike | None = None,
    max_cache_bytes: int | None = framecache.DEFAULT_MAX_BYTES,
) -> np.ndarray:
    """One RGB frame ``(H, W, 3)`` of a video: from ``cache_dir`` if there, else decoded (and cached)."""
    if cache_dir is not None:
        cached = read_cached_frame(cache_dir, video_path, index)
        if cached is not None:
            return cached
    store = _index_store(cache_dir, video_path)
    frames = dict(
        read_frames(video_path, [int(index)], raw=True, threads=os.cpu_count(), index_store=store)
    )
    frame = frames[int(index)]
    if cache_dir is not None:
        try:
            write_cached_frame(cache_dir, video_path, int(index), frame, max_cache_bytes)
        except NotSaved:  # a full disk: the frame is shown all the same, decoded again next time
            pass
    return as_rgb(frame)
