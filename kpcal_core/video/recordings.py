"""Recordings and their videos: the pre-flight report and frame thinning.

Owns :func:`check_videos`, which reports, one row per recording, which video
was found and by which rule (:func:`~kpcal_core.video.match.resolve_videos`:
set by the user, stored in the keypoint file, prefix match in the video
folder, a fallback path) and whether it has the frames the keypoints need;
and :func:`downsample`, which keeps every ``rate``-th keypoint frame together
with the video frame each kept frame came from.

:func:`check_videos` is a report: problems with a recording's video become a
row's ``status`` and ``reason``, never an exception. It raises
:class:`~kpcal_core.errors.KpcalError` only for bad arguments (a video folder
that does not exist, malformed ``video_frame_indexes``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import cv2
import numpy as np
import pandas as pd

from ..errors import KpcalError
from ..limits import LimitExceeded
from ..validate import check_coordinates, check_video_frame_indexes
from ..wording import count
from .decode import decodes_a_frame, video_info
from .match import VIDEO_EXTENSIONS, VideoChoice, resolve_videos

#: Columns of the :func:`check_videos` report, in order.
REPORT_COLUMNS = (
    "recording",
    "video",
    "video_frames",
    "keypoint_frames",
    "max_frame_needed",
    "status",
    "reason",
    "rule",
)

#: Values of the report's ``status`` column. ``length differs`` is a warning:
#: the video has more frames than the keypoints cover.
STATUSES = ("ok", "no video", "video too short", "length differs", "video unreadable")


def check_videos(
    coordinates: Mapping[str, np.ndarray],
    video_dir: str | os.PathLike | None,
    video_frame_indexes: Mapping[str, np.ndarray] | None = None,
    video_extension: str | None = None,
    recording_name_suffix: str = "",
    *,
    video_paths: Mapping[str, str | os.PathLike] | None = None,
    recursive: bool = True,
    stored_videos: Mapping[str, str] | None = None,
    keypoint_files: Mapping[str, str | os.PathLike] | None = None,
    user_videos: Mapping[str, str | os.PathLike] | None = None,
    video_choices: Mapping[str, VideoChoice] | None = None,
) -> pd.DataFrame:
    """Report, per recording, which video it uses and whether the video fits.

    A recording's video is chosen by
    :func:`kpcal_core.video.match.resolve_videos`: a path set by the user,
    the video its keypoint file stores (as stored, by name in ``video_dir``,
    by name beside the keypoint file), keypoint-MoSeq's prefix match in
    ``video_dir`` (the longest video name that starts the recording name),
    then ``video_paths[recording]`` if that file exists.

    Parameters
    ----------
    coordinates
        ``{recording: (T, K, 2) array}``; only ``T`` is used.
    video_dir
        Folder searched for videos, or None to rely on ``video_paths`` only.
    video_frame_indexes
        ``{recording: (T,) int array}``: the video frame of each keypoint frame
        (e.g. from :func:`downsample`); None means frame ``t`` is video frame ``t``.
    video_extension
        Only videos with this extension (default: mp4, avi, mov).
    recording_name_suffix
        Text that follows the video name in every recording name.
    video_paths
        ``{recording: video path}`` fallbacks for recordings the folder does
        not match, e.g. from :func:`kpcal_core.formats.stored_video_paths`.
        Entries for other recordings are ignored.
    recursive
        Search sub-folders of ``video_dir`` too.
    stored_videos, keypoint_files
        ``{recording: video path stored in its keypoint file}`` and
        ``{recording: keypoint file}``, e.g. from
        :func:`kpcal_core.formats.read_keypoints`.
    user_videos
        ``{recording: video path}`` set by the user; wins when it exists.
    video_choices
        ``{recording: VideoChoice}`` already made (e.g.
        :attr:`kpcal_core.project.ProjectData.video_choices`): used as they
        are for the recordings they cover, instead of choosing again.

    Returns
    -------
    pandas.DataFrame
        One row per recording, in the order of ``coordinates``, with columns
        ``recording``; ``video`` (path str, or None); ``video_frames`` (the
        container's frame count, int, or None); ``keypoint_frames`` (``T``);
        ``max_frame_needed`` (the highest video frame the keypoints use: the
        largest video frame index, or ``T - 1``; -1 when ``T`` is 0);
        ``status`` (one of :data:`STATUSES`); ``reason`` (what is wrong and
        how to fix it, or why the row is ok); ``rule`` (the rule that found
        the video, one of :data:`kpcal_core.video.match.RULES`, or "").

    Raises
    ------
    KpcalError
        ``video_dir`` is not an existing folder; ``video_frame_indexes`` or
        ``coordinates`` are malformed. Problems with a recording's video never
        raise: they are reported in its row.
    """
    check_coordinates(coordinates)
    lengths = {str(name): int(np.shape(coords)[0]) for name, coords in coordinates.items()}
    indexes = check_video_frame_indexes(video_frame_indexes, lengths)
    if video_paths is not None and not isinstance(video_paths, Mapping):
        raise KpcalError("video_paths must be a dict {recording name: video path}")
    choices = resolve_videos(
        [name for name in lengths if name not in (video_choices or {})],
        video_dir=video_dir,
        stored_videos=stored_videos,
        keypoint_files=keypoint_files,
        user_videos=user_videos,
        video_paths=video_paths,
        recording_name_suffix=recording_name_suffix,
        video_extension=video_extension,
        recursive=recursive,
    )
    choices.update({str(k): v for k, v in (video_choices or {}).items() if str(k) in lengths})
    if video_dir is None or os.fspath(video_dir) == "":
        where = None
    else:
        exts = ("." + str(video_extension).lstrip("."),) if video_extension else VIDEO_EXTENSIONS
        where = f"{os.fspath(video_dir)!r} ({', '.join(exts)})"

    rows = []
    for name, n_frames in lengths.items():
        idx = indexes[name]
        needed = int(idx.max()) if idx.size else -1
        step = int(np.diff(np.sort(idx)).max()) if idx.size > 1 else 1
        row: dict[str, Any] = {
            "recording": name,
            "video": None,
            "video_frames": None,
            "keypoint_frames": n_frames,
            "max_frame_needed": needed,
        }
        choice = choices[name]
        row["rule"] = choice.rule or ""
        if choice.path is None:
            row["status"] = "no video"
            row["reason"] = _no_video_reason(name, where, recording_name_suffix, choice.reason)
        else:
            row["video"] = choice.path
            row.update(_judge_video(choice.path, needed, step, n_frames))
            row["reason"] += " " + choice.reason
        rows.append(row)
    return _report_frame(rows)


def downsample(
    coordinates: Mapping[str, np.ndarray],
    confidences: Mapping[str, np.ndarray],
    rate: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Keep every ``rate``-th frame (0, rate, 2*rate, ...) of each recording.

    Parameters
    ----------
    coordinates
        ``{recording: (T, K, 2) array}``.
    confidences
        ``{recording: (T, K) array}`` with the same recordings and shapes.
    rate
        A whole number >= 1; 1 keeps every frame.

    Returns
    -------
    coordinates : dict
        ``{recording: (ceil(T / rate), K, 2)}`` copies.
    confidences : dict
        ``{recording: (ceil(T / rate), K)}`` copies.
    video_frame_indexes : dict
        ``{recording: (ceil(T / rate),) int64}``: the video frame of each kept
        frame, ``arange(0, T, rate)``.

    Raises
    ------
    KpcalError
        ``rate`` is not a whole number >= 1, or the arrays do not match.
    """
    whole = isinstance(rate, Integral) or (
        isinstance(rate, Real) and bool(np.isfinite(rate)) and rate == int(rate)
    )
    if isinstance(rate, bool) or not whole or rate < 1:
        raise KpcalError(f"downsample rate must be a whole number >= 1, not {rate!r}")
    rate = int(rate)
    check_coordinates(coordinates, confidences)
    coords_out, conf_out, frame_indexes = {}, {}, {}
    for name, coords in coordinates.items():
        coords = np.asarray(coords)
        coords_out[name] = coords[::rate].copy()
        conf_out[name] = np.asarray(confidences[name])[::rate].copy()
        frame_indexes[name] = np.arange(0, coords.shape[0], rate, dtype=np.int64)
    return coords_out, conf_out, frame_indexes


# --------------------------------------------------------------------------- helpers


def _no_video_reason(name: str, where: str | None, suffix: str, note: str) -> str:
    if where is None:
        text = (
            f"No video folder was given, and recording {name!r} has no video stored in its "
            "keypoint file, set for it, or given in video_paths."
        )
    else:
        text = (
            f"No video in {where} has a file name (without extension) that starts the "
            f"recording name {name!r}"
            + (f" followed by {suffix!r}" if suffix else "")
            + ". Rename the video or the keypoint file so the video name is the start of "
            "the recording name, set recording_name_suffix, or set this recording's video."
        )
    return f"{text} {note}".strip()


def _judge_video(video: str, needed: int, step: int, n_keypoint_frames: int) -> dict:
    """``video_frames``, ``status`` and ``reason`` for a video file; never raises."""
    try:
        n_video = video_info(video).n_frames
        problem = None if n_video > 0 else "its container reports no frame count"
        if problem is None and not decodes_a_frame(video):
            problem = "OpenCV opens it but cannot decode its first frame"
    except LimitExceeded as error:  # too large to decode: say which limit
        return {"video_frames": None, "status": "video unreadable", "reason": str(error)}
    except KpcalError:
        n_video, problem = None, "OpenCV cannot open it (missing, damaged, or not a video)"
    except (cv2.error, OSError) as error:
        n_video, problem = None, f"OpenCV failed on it ({error})"
    if problem is not None or n_video is None:  # no frame count: always with a problem
        return {
            "video_frames": n_video,
            "status": "video unreadable",
            "reason": (
                f"Video {video!r} cannot be read: {problem}. Check the file is complete, "
                "or re-encode it (e.g. ffmpeg -i in.avi -c:v libx264 -pix_fmt yuv420p out.mp4)."
            ),
        }
    covered = needed + 1
    if n_video < covered:
        return {
            "video_frames": n_video,
            "status": "video too short",
            "reason": (
                f"Video {video!r} has {count(n_video, 'frame')} but the keypoints need video "
                f"frame {needed} ({count(covered, 'frame')}): it is probably not the video these keypoints "
                "were made from. Check which video matches this recording, and the "
                "video_frame_indexes if the keypoints were thinned."
            ),
        }
    if n_video - covered >= step:
        return {
            "video_frames": n_video,
            "status": "length differs",
            "reason": (
                f"Warning: video {video!r} has {count(n_video, 'frame')} but the "
                f"{count(n_keypoint_frames, 'keypoint frame')} reach only video frame {needed}. Keypoint frames are "
                "matched to video frames from the start, so if the keypoints come from a "
                "trimmed or different video the annotations will be wrong: check the match."
            ),
        }
    return {
        "video_frames": n_video,
        "status": "ok",
        "reason": (
            f"Video {video!r} has {count(n_video, 'frame')}, enough for the keypoints "
            f"(highest video frame needed: {needed})."
        ),
    }


def _report_frame(rows: list[dict]) -> pd.DataFrame:
    """The report with None kept as None (object columns) and int counts as int64."""
    data = {}
    for column in REPORT_COLUMNS:
        values = [row[column] for row in rows]
        if column in ("video", "video_frames"):
            data[column] = pd.Series(values, dtype=object)
        elif column in ("keypoint_frames", "max_frame_needed"):
            data[column] = pd.Series(values, dtype=np.int64)
        else:
            data[column] = pd.Series(values, dtype=str)
    return pd.DataFrame(data, columns=list(REPORT_COLUMNS))
