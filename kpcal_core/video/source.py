"""The one frame source: the frame behind a sample, from the cache or decoded, and the fill.

Owns what the rest of kpcal asks for frames:

- :func:`sample_video_frames`: the ``(video, video frame)`` behind each sample
  key (the recording's video, matched or given; the keypoint frame's video frame);
- :func:`fill_cache`: the one way to fill a project's frame cache (the setup
  page's background job and ``kpcal sample`` through
  :func:`kpcal_core.workflows.fill_frame_cache`, and the notebook entry point),
  frames written as they are decoded and never kept, the first sample first,
  cancellable;
- :func:`load_frame` (one frame: cached, else decoded and cached) and
  :func:`sample_frame_loader` (the same per sample key, what a page's
  :class:`~kpcal_core.video.prefetch.Prefetcher` loads ahead);
- :func:`load_sampled_frames` (keypoint-MoSeq's API: the frames in memory);
- :func:`index_videos`: the videos' frame indexes built before the first read.

The path a frame takes: match (:mod:`~kpcal_core.video.match`) → index
(:mod:`~kpcal_core.video.index`) → decode (:mod:`~kpcal_core.video.decode`,
exact) → cache (:mod:`~kpcal_core.video.cache`: lossless, compact,
size-capped) → prefetch (:mod:`~kpcal_core.video.prefetch`).

Videos are decoded in parallel threads, one per core, each with frame
threading (both libraries release the GIL while decoding); each decoded frame
goes to the frame cache as soon as it is decoded, so a second call decodes nothing.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from ..errors import KpcalError, NotSaved
from ..samplekeys import SampleKey, check_sample_key
from .cache import (
    DEFAULT_MAX_BYTES,
    index_folder,
    is_cached,
    read_cached_frame,
    write_cached_frame,
)
from .decode import as_rgb, read_frames
from .index import NotDecodable, frame_index
from .match import find_matching_videos

Progress = Callable[[int, int], None]
#: ``progress(done, total, ready keys)`` of :func:`fill_cache` and :func:`index_videos`.
ReadyProgress = Callable[[int, int, list], object]
#: What :func:`_decode_parallel`'s ``handle`` gives for each frame.
Handled = TypeVar("Handled")
#: What :func:`fill_cache` names each frame by (a sample key).
FrameKey = TypeVar("FrameKey", bound=Hashable)


# --------------------------------------------------------------------------- indexing ahead


def index_videos(
    cache_dir: str | os.PathLike,
    videos: Iterable[str | os.PathLike],
    *,
    progress: ReadyProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Build each video's frame index now and keep it in its frame-cache folder.

    Reading frames needs the index (:func:`kpcal_core.video.index.frame_index`: one
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
            frame_index(video, index_folder(cache_dir, video))
            indexed += 1
        except (NotDecodable, KpcalError, OSError):
            pass
        if progress is not None:
            progress(done + 1, len(videos), [video])
    return indexed


# --------------------------------------------------------------------------- parallel decoding


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
    handle: Callable[[str, int, np.ndarray], Handled],
    stop: threading.Event,
    first: tuple[str, int] | None = None,
    poll: Callable[[], bool] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Iterator[tuple[str, int, Handled]]:
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
            store = index_folder(cache_dir, video)
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
    max_cache_bytes: int | None = DEFAULT_MAX_BYTES,
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
        Folder for decoded frames (:mod:`kpcal_core.video.cache`); a second call
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


# --------------------------------------------------------------------------- the fill


@dataclass(frozen=True)
class FillSummary:
    """What :func:`fill_cache` did.

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


def fill_cache(
    cache_dir: str | os.PathLike,
    frames: Mapping[FrameKey, tuple[str | os.PathLike, int]]
    | Iterable[tuple[str | os.PathLike, int]],
    *,
    progress: ReadyProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> FillSummary:
    """Decode frames into the frame cache, each written as soon as it is decoded.

    The one fill of the frame cache. Never keeps the frames: memory stays at a
    few frames per video however many are asked for. Videos are decoded in
    parallel; the first frame asked for is decoded first (its video starts
    first, its group of pictures first), so a page can show the first sample
    while the rest fill.

    Parameters
    ----------
    cache_dir
        The project's frame cache folder.
    frames
        ``{key: (video path, video frame index)}`` most wanted first, e.g.
        :func:`sample_video_frames` of the samples (keys are sample keys); or
        ``(video path, video frame index)`` pairs, each its own key.
    progress
        ``progress(done, total, ready)`` in the calling thread, counting
        distinct video frames: once at the start with ``ready`` the keys whose
        frame is already cached, then after each frame written with the keys
        on that frame (several samples can share one).
    should_stop
        Polled about every 0.1 s; when it returns True decoding stops (the
        frames written so far stay).
    max_bytes
        The cache's size cap (:data:`kpcal_core.video.cache.DEFAULT_MAX_BYTES`);
        ``None``: no cap.

    Returns
    -------
    FillSummary

    Raises
    ------
    KpcalError
        A negative frame index (naming the video), or a video that cannot give
        a wanted frame (naming the video and the frame); frames written before stay.
    """
    started = time.perf_counter()
    if isinstance(frames, Mapping):
        keyed = [(key, (str(video), int(index))) for key, (video, index) in frames.items()]
    else:
        keyed = [((str(video), int(index)),) * 2 for video, index in frames]
    keys_on: dict[tuple[str, int], list] = {}
    for key, pair in keyed:
        keys_on.setdefault(pair, []).append(key)
    ordered = list(keys_on)
    for video, index in ordered:
        if index < 0:
            raise KpcalError(f"video {video!r}: negative frame index {index}")
    to_decode: dict[str, list[int]] = {}
    cached: set[tuple[str, int]] = set()
    for video, index in ordered:
        if is_cached(cache_dir, video, index):
            cached.add((video, index))
        else:
            to_decode.setdefault(video, []).append(index)
    first = ordered[0] if ordered else None
    first_ready = 0.0 if first in cached else None
    if progress is not None:
        progress(len(cached), len(ordered), [k for k, pair in keyed if pair in cached])

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
            first=None if first_ready is not None else first,
            poll=should_stop,
            cache_dir=cache_dir,
        ):
            written += 1
            if first_ready is None and (video, index) == first:
                first_ready = time.perf_counter() - started
            if progress is not None:
                progress(len(cached) + written, len(ordered), list(keys_on[(video, index)]))
        stopped = written < sum(len(v) for v in to_decode.values())
    elif to_decode:
        stopped = True
    return FillSummary(
        total=len(ordered),
        cached_before=len(cached),
        written=written,
        evicted=evicted[0],
        stopped=stopped,
        first_ready_s=first_ready,
        seconds=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------- one frame


def load_frame(
    video_path: str | os.PathLike,
    index: int,
    cache_dir: str | os.PathLike | None = None,
    max_cache_bytes: int | None = DEFAULT_MAX_BYTES,
) -> np.ndarray:
    """One RGB frame ``(H, W, 3)`` of a video: from ``cache_dir`` if there, else decoded (and cached)."""
    if cache_dir is not None:
        cached = read_cached_frame(cache_dir, video_path, index)
        if cached is not None:
            return cached
    store = index_folder(cache_dir, video_path)
    frames = dict(
        read_frames(video_path, [int(index)], raw=True, threads=os.cpu_count(), index_store=store)
    )
    frame = frames[int(index)]
    if cache_dir is not None:
        # A full disk: the frame is shown all the same, decoded again next time.
        with contextlib.suppress(NotSaved):
            write_cached_frame(cache_dir, video_path, int(index), frame, max_cache_bytes)
    return as_rgb(frame)


def sample_frame_loader(
    cache_dir: str | os.PathLike | None,
    video_of: Mapping[Hashable, tuple[str, int]],
    max_cache_bytes: int | None = DEFAULT_MAX_BYTES,
) -> Callable[[Hashable], np.ndarray]:
    """``load(sample_key) -> RGB uint8 (H, W, 3)``: from the frame cache, else decoded and cached.

    ``video_of``: ``{sample key: (video path, video frame)}``, e.g. from
    :func:`sample_video_frames`. What a page's
    :class:`~kpcal_core.video.prefetch.Prefetcher` loads.
    """

    def load(key: Hashable) -> np.ndarray:
        video, index = video_of[key]
        return load_frame(video, index, cache_dir, max_cache_bytes)

    return load
