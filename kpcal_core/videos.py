"""Videos: matching recordings to video files and reading frames exactly.

Owns :func:`find_matching_videos` (keypoint-MoSeq's rule: the longest video
name that prefixes the recording name wins), :func:`video_info`, and
:func:`load_sampled_frames`, which decodes the frames behind a list of samples.

Frame-accurate reading. The frame for video index ``i`` is the ``i``-th frame
sequential decoding gives. Frames are read per video in sorted order: the
reader steps forward with ``grab()`` when the next wanted frame is near, and
seeks when it is far. After every seek the reader's reported position is
checked; if the container cannot say it landed on the wanted frame, that video
is re-read sequentially from the start, which is always exact.

Videos are decoded in parallel threads (OpenCV releases the GIL while
decoding). With ``cache_dir``, decoded frames are stored as ``.npy`` files
keyed by the video's path, size and modification time, so a second call
decodes nothing.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import KpcalError
from .paths import MAX_SEARCHED
from .samplekeys import SampleKey, check_sample_key

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
            + (f"; {len(missing) - 1} more recordings have no video" if len(missing) > 1 else "")
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
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise KpcalError(f"video {str(path)!r} cannot be opened (missing, or not a video)")
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
        f"video {str(path)!r} has no frame {index}: it has {info.n_frames} frames"
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
            while position < target:
                if not capture.grab():
                    raise _too_short(path, target, position)
                position += 1
            ok, frame = capture.read()
            if not ok:
                raise _too_short(path, target, position)
            position += 1
            yield target, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def read_frames(path: str | os.PathLike, frame_indexes: Iterable[int], seek_gap: int | None = None):
    """Yield ``(index, RGB uint8 (H, W, 3) frame)`` for the given video frame indexes.

    Indexes are visited in sorted order (duplicates once). Near frames are
    reached by stepping, far ones by seeking; a seek whose landing the reader
    cannot confirm makes the rest of this video read sequentially.
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
            while position < target:
                if not capture.grab():
                    raise _too_short(path, target, position)
                position += 1
            ok, frame = capture.read()
            if not ok:
                raise _too_short(path, target, position)
            position += 1
            yield target, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


# --------------------------------------------------------------------------- cache


def _video_cache_folder(cache_dir: str | os.PathLike, video_path: str | os.PathLike) -> Path:
    path = Path(video_path).resolve()
    stat = path.stat()
    digest = hashlib.sha1(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{path.stem[:40]}-{digest}"


def _cache_file(folder: Path, index: int) -> Path:
    return folder / f"{index:08d}.npy"


def read_cached_frame(
    cache_dir: str | os.PathLike, video_path: str | os.PathLike, index: int
) -> np.ndarray | None:
    """The cached RGB frame ``index`` of a video, or ``None`` if it is not cached."""
    file = _cache_file(_video_cache_folder(cache_dir, video_path), int(index))
    try:
        return np.load(file, allow_pickle=False)
    except (FileNotFoundError, ValueError, OSError):
        return None


def _write_cached_frame(folder: Path, index: int, frame: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    target = _cache_file(folder, index)
    tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, frame, allow_pickle=False)
    os.replace(tmp, target)


# --------------------------------------------------------------------------- samples


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
        Folder for decoded frames; a second call with the same samples decodes nothing.
    video_paths
        ``{recording: video path}`` that overrides matching for those recordings.
    recording_name_suffix
        Passed to :func:`find_matching_videos`.

    Returns
    -------
    dict
        ``{sample_key: RGB uint8 array (H, W, 3)}``.
    """
    sample_keys = [check_sample_key(key) for key in sample_keys]
    recordings = sorted({k for k, _, _ in sample_keys})
    paths = dict(video_paths or {})
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

    # keypoint frame -> video frame, per video
    wanted: dict[str, set[int]] = {}
    video_index_of: dict[SampleKey, tuple[str, int]] = {}
    for key in sample_keys:
        recording, frame, bodypart = key
        if recording not in video_frame_indexes:
            raise KpcalError(f"recording {recording!r} has no entry in video_frame_indexes")
        indexes = video_frame_indexes[recording]
        if not 0 <= frame < len(indexes):
            raise KpcalError(
                f"recording {recording!r}: sample frame {frame} is outside its "
                f"{len(indexes)} keypoint frames"
            )
        video = str(paths[recording])
        video_index = int(indexes[frame])
        video_index_of[key] = (video, video_index)
        wanted.setdefault(video, set()).add(video_index)

    total = sum(len(v) for v in wanted.values())
    frames: dict[tuple[str, int], np.ndarray] = {}
    to_decode: dict[str, list[int]] = {}
    for video, indexes in wanted.items():
        if cache_dir is not None:
            for index in sorted(indexes):
                cached = read_cached_frame(cache_dir, video, index)
                if cached is None:
                    to_decode.setdefault(video, []).append(index)
                else:
                    frames[(video, index)] = cached
        else:
            to_decode[video] = sorted(indexes)
    if progress is not None:
        progress(len(frames), total)

    if to_decode:
        arrivals: queue.Queue = queue.Queue()

        stop = threading.Event()  # set when the caller gives up (e.g. the user left the page)

        def decode(video: str, indexes: list[int]) -> None:
            folder = _video_cache_folder(cache_dir, video) if cache_dir is not None else None
            try:
                for index, frame in read_frames(video, indexes):
                    if stop.is_set():
                        return
                    if folder is not None:
                        _write_cached_frame(folder, index, frame)
                    arrivals.put((video, index, frame))
            except BaseException as error:  # reported in the calling thread
                arrivals.put(error)
            finally:
                arrivals.put(None)

        workers = max(1, min(len(to_decode), os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for video, indexes in to_decode.items():
                pool.submit(decode, video, indexes)
            finished, failure = 0, None
            try:
                while finished < len(to_decode):
                    item = arrivals.get()
                    if item is None:
                        finished += 1
                    elif isinstance(item, BaseException):
                        failure = failure or item
                    else:
                        video, index, frame = item
                        frames[(video, index)] = frame
                        if progress is not None:
                            progress(len(frames), total)
            except BaseException:
                stop.set()  # the progress callback raised: workers stop after their current frame
                raise
        if failure is not None:
            raise failure

    return {key: frames[video_index_of[key]] for key in sample_keys}


def load_frame(
    video_path: str | os.PathLike, index: int, cache_dir: str | os.PathLike | None = None
) -> np.ndarray:
    """One RGB frame ``(H, W, 3)`` of a video: from ``cache_dir`` if there, else decoded (and cached)."""
    if cache_dir is not None:
        cached = read_cached_frame(cache_dir, video_path, index)
        if cached is not None:
            return cached
    frames = dict(read_frames(video_path, [int(index)]))
    frame = frames[int(index)]
    if cache_dir is not None:
        _write_cached_frame(_video_cache_folder(cache_dir, video_path), int(index), frame)
    return frame
