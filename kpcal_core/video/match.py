"""Which video each recording uses: the video folder, keypoint-MoSeq's match, named rules.

Owns :func:`list_videos` (the videos in a folder, bounded),
:func:`find_matching_videos` (keypoint-MoSeq's rule: the longest video name
that prefixes the recording name wins) and :func:`match_videos` (the same,
``None`` where nothing matches); :func:`resolve_videos`, which gives every
recording a :class:`VideoChoice` (the video, the rule that found it, and why);
and :func:`frame_rate`, the ``fps`` a new ``config.yml`` takes from the videos
chosen. Where a video path stored in a pose file is on this machine is the
job of :mod:`kpcal_core.formats.stored_video`.

The rules, in order (the first that finds an existing file wins):

``set by user``
    An explicit per-recording path (kept in the project's session).
``stored path``
    The path stored in the keypoint file exists (absolute, or relative to
    the keypoint file's folder).
``stored name in video folder``
    The stored path's file name is found in the video folder.
``stored name beside keypoint file``
    The stored path's file name is found in the keypoint file's folder.
``prefix match``
    keypoint-MoSeq's rule (:func:`find_matching_videos`):
    the longest video name in the video folder that starts the recording name.
``video_paths``
    A fallback path given by the caller (``check_videos(video_paths=...)``).

On a shared server (``KPCAL_DATA_ROOT``) every candidate is resolved (every
symbolic link) and checked against the root before it is even looked at
(:func:`kpcal_core.paths.refusal`): the video a pose file stores, a
video set by hand, a file in the video folder that a link leads out. One that
leads outside is not used, and the rule after it is tried; the recording's
reason says so ("stored video outside the data folder: ..."). The project's own
folder is allowed too when the project lies outside the root (the demo).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload

from ..errors import KpcalError
from ..formats.stored_video import (
    STORED_NAME_BESIDE_KEYPOINTS,
    STORED_PATH,
    file_name,
    find_stored_video,
)
from ..paths import MAX_SEARCHED, refusal
from ..wording import count, verb
from .decode import video_info

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv")  # keypoint-MoSeq 0.8.1's list

SET_BY_USER = "set by user"
STORED_NAME_IN_VIDEO_FOLDER = "stored name in video folder"
PREFIX_MATCH = "prefix match"
GIVEN_PATH = "video_paths"

#: Every rule, in the order they are tried.
RULES = (
    SET_BY_USER,
    STORED_PATH,
    STORED_NAME_IN_VIDEO_FOLDER,
    STORED_NAME_BESIDE_KEYPOINTS,
    PREFIX_MATCH,
    GIVEN_PATH,
)


@dataclass(frozen=True)
class VideoChoice:
    """A recording's video and how it was found.

    Attributes
    ----------
    path
        The video file, or None when no rule found one.
    rule
        One of :data:`RULES`, or None.
    reason
        A sentence: which rule found it, or why none did and what to do.
    """

    path: str | None
    rule: str | None
    reason: str


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


@overload
def find_matching_videos(
    keys: Sequence[str],
    video_dir: str | os.PathLike,
    as_dict: Literal[False] = False,
    recursive: bool = True,
    recording_name_suffix: str = "",
    video_extension: str | None = None,
) -> list[str]: ...


@overload
def find_matching_videos(
    keys: Sequence[str],
    video_dir: str | os.PathLike,
    as_dict: Literal[True],
    recursive: bool = True,
    recording_name_suffix: str = "",
    video_extension: str | None = None,
) -> dict[str, str]: ...


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


# --------------------------------------------------------------------------- the rules


def resolve_videos(
    recordings: Iterable[str],
    *,
    video_dir: str | os.PathLike | None = None,
    stored_videos: Mapping[str, str] | None = None,
    keypoint_files: Mapping[str, str | os.PathLike] | None = None,
    user_videos: Mapping[str, str | os.PathLike] | None = None,
    video_paths: Mapping[str, str | os.PathLike] | None = None,
    recording_name_suffix: str = "",
    video_extension: str | None = None,
    recursive: bool = True,
    project: str | os.PathLike | None = None,
    user_videos_source: str | os.PathLike | None = None,
) -> dict[str, VideoChoice]:
    """Choose each recording's video by the rules of this module, in order.

    With a data root, a candidate that leads outside it is passed over (see the
    module docstring) and the reason says so.

    Parameters
    ----------
    recordings
        Recording names.
    video_dir
        The video folder, or None. Must exist when given (see
        :func:`list_videos`).
    stored_videos
        ``{recording: video path stored in its keypoint file}``
        (:attr:`kpcal_core.formats.LoadedKeypoints.stored_videos`).
    keypoint_files
        ``{recording: keypoint file}`` (:attr:`~kpcal_core.formats.LoadedKeypoints.files`).
    user_videos
        ``{recording: path}`` set by the user; wins when the file exists.
    video_paths
        ``{recording: path}`` fallbacks, tried last.
    recording_name_suffix, video_extension, recursive
        As for :func:`find_matching_videos`.
    project
        The project the recordings belong to (its folder is allowed when it
        lies outside the data root: the demo project).
    user_videos_source
        The file ``user_videos`` were read from (``session.json``), named when
        one is refused.

    Returns
    -------
    dict
        ``{recording: VideoChoice}`` in the order of ``recordings``.
    """
    names = [str(r) for r in recordings]
    stored_paths = {str(k): str(v) for k, v in (stored_videos or {}).items() if v}
    files: dict[str, str] = {str(k): os.fspath(v) for k, v in (keypoint_files or {}).items() if v}
    users: dict[str, str] = {str(k): os.fspath(v) for k, v in (user_videos or {}).items() if v}
    given_paths: dict[str, str] = {
        str(k): os.fspath(v) for k, v in (video_paths or {}).items() if v
    }
    folder: str = "" if video_dir is None else os.fspath(video_dir)
    has_folder = folder != ""
    prefix: dict[str, Path | None] = (
        match_videos(names, folder, recursive, recording_name_suffix, video_extension)
        if has_folder
        else dict.fromkeys(names)
    )
    by_name: dict[str, Path] = {}
    if has_folder and stored_paths:
        for path in list_videos(folder, video_extension, recursive):
            by_name.setdefault(path.name, path)

    out = {}
    for name in names:
        notes = []
        user = users.get(name)
        if user is not None:
            why = refusal(
                user, what=f"video set for {name!r}", source=user_videos_source, project=project
            )
            if why is not None:
                notes.append(f"The video set for it is not used: {why}.")
            elif os.path.isfile(user):
                out[name] = VideoChoice(user, SET_BY_USER, f"The video set for {name!r}: {user!r}.")
                continue
            else:
                notes.append(f"The video set for it, {user!r}, does not exist.")
        stored = stored_paths.get(name)
        choice, refused = _stored_choice(name, stored, files.get(name), by_name, project)
        notes += refused
        matched = prefix[name]
        if choice is None and matched is not None:
            why = refusal(matched, project=project)
            if why is not None:
                notes.append(f"The video in the video folder that matches it is not used: {why}.")
            else:
                choice = VideoChoice(
                    str(matched),
                    PREFIX_MATCH,
                    f"Video {os.path.basename(matched)!r} in the video folder starts the "
                    f"recording name {name!r} (keypoint-MoSeq's rule).",
                )
        if choice is None and name in given_paths:
            given = given_paths[name]
            why = refusal(given, what=f"video path given for {name!r}", project=project)
            if why is not None:
                notes.append(f"The video path given for it in video_paths is not used: {why}.")
            elif os.path.isfile(given):
                choice = VideoChoice(
                    given,
                    GIVEN_PATH,
                    "No video in the video folder matches this recording, so the video path "
                    f"given for it in video_paths (e.g. stored in its SLEAP file) is used: "
                    f"{given!r}.",
                )
            else:
                notes.append(
                    f"The video path given for it in video_paths (e.g. stored in its SLEAP "
                    f"file), {given!r}, does not exist on this machine."
                )
        if stored is not None and choice is None and not refused:
            notes.append(
                f"Its keypoint file names the video {stored!r}, which is not on this machine, "
                f"nor by the name {file_name(stored)!r} in the video folder or beside the "
                "keypoint file."
            )
        elif stored is not None and choice is None:
            notes.append(
                f"No file named {file_name(stored)!r} is in the video folder or beside the "
                "keypoint file either."
            )
        if choice is None:
            out[name] = VideoChoice(None, None, " ".join(notes))
        else:
            out[name] = VideoChoice(choice.path, choice.rule, " ".join([choice.reason, *notes]))
    return out


def _stored_choice(
    name: str,
    stored: str | None,
    keypoint_file: str | None,
    by_name: Mapping[str, Path],
    project: str | os.PathLike | None = None,
) -> tuple[VideoChoice | None, list[str]]:
    """The stored-path rules for one recording, in order, and the candidates refused."""
    if stored is None:
        return None, []
    found, refused = find_stored_video(stored, keypoint_file, project)
    if found is not None and found[1] == STORED_PATH:
        return VideoChoice(
            found[0], STORED_PATH, f"The video stored in its keypoint file: {found[0]!r}."
        ), refused
    in_folder = by_name.get(file_name(stored))
    if in_folder is not None and refusal(in_folder, project=project) is None:
        return VideoChoice(
            str(in_folder),
            STORED_NAME_IN_VIDEO_FOLDER,
            f"Its keypoint file names the video {stored!r}; a file of that name is in the "
            f"video folder: {str(in_folder)!r}.",
        ), refused
    if found is not None:
        return VideoChoice(
            found[0],
            STORED_NAME_BESIDE_KEYPOINTS,
            f"Its keypoint file names the video {stored!r}; a file of that name is beside the "
            f"keypoint file: {found[0]!r}.",
        ), refused
    return None, refused


#: keypoint-MoSeq's ``fps`` when no video says otherwise.
DEFAULT_FPS = 30
#: Frame rates outside this range are taken as a container's mistake, not the video's.
_PLAUSIBLE_FPS = (0.1, 1000.0)
#: File names listed per frame rate in :func:`frame_rate`'s note.
_NAMES_SHOWN = 3


@dataclass(frozen=True)
class FrameRate:
    """The frame rate of a project's videos, for a new ``config.yml``.

    Attributes
    ----------
    fps
        The rate of the most recordings' videos (an ``int`` when whole, else
        rounded to 0.001), or ``None`` when no video could be read.
    note
        A sentence for the user when the videos disagree or none could be
        read (then keypoint-MoSeq's default, :data:`DEFAULT_FPS`, stays), else ``None``.
    """

    fps: int | float | None
    note: str | None = None


def _rate(value: float) -> int | float | None:
    """A container's frame rate as written to ``config.yml``; ``None`` when implausible."""
    if not (_PLAUSIBLE_FPS[0] <= value <= _PLAUSIBLE_FPS[1]):  # also NaN
        return None
    rounded = round(value, 3)
    return int(round(rounded)) if abs(rounded - round(rounded)) < 0.01 else rounded


def frame_rate(choices: Mapping[str, VideoChoice]) -> FrameRate:
    """The frame rate the recordings' videos give, read from their containers.

    Parameters
    ----------
    choices
        ``{recording: VideoChoice}`` from :func:`resolve_videos`; recordings
        without a video, and videos that cannot be read, are passed over.

    Returns
    -------
    FrameRate
        The rate of the most recordings (ties: the first recording's), with a
        note naming the rates and videos when they differ.
    """
    rates: dict[str, int | float] = {}  # video path -> rate
    by_recording: list[int | float] = []
    videos_at: dict[int | float, list[str]] = {}
    for choice in choices.values():
        if choice.path is None:
            continue
        if choice.path not in rates:
            try:
                rate = _rate(video_info(choice.path).fps)
            except KpcalError:  # unreadable: the recordings table says why
                rate = None
            if rate is None:
                continue
            rates[choice.path] = rate
            videos_at.setdefault(rate, []).append(os.path.basename(choice.path))
        by_recording.append(rates[choice.path])
    if not by_recording:
        return FrameRate(
            None,
            "No video of the recordings could be read for its frame rate, so config.yml has "
            f"keypoint-MoSeq's default, fps: {DEFAULT_FPS}. Change it there if your videos "
            "have another frame rate.",
        )
    counts = Counter(by_recording)
    first = {rate: i for i, rate in reversed(list(enumerate(by_recording)))}
    chosen = max(counts, key=lambda rate: (counts[rate], -first[rate]))
    if len(counts) == 1:
        return FrameRate(chosen)
    parts = []
    for rate in sorted(counts, key=lambda r: (-counts[r], first[r])):
        names = videos_at[rate]
        shown = ", ".join(repr(n) for n in names[:_NAMES_SHOWN])
        more = f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else ""
        recordings = f"{counts[rate]} recording{'' if counts[rate] == 1 else 's'}"
        parts.append(f"{rate:g} fps ({recordings}: {shown}{more})")
    return FrameRate(
        chosen,
        f"The videos' frame rates differ: {'; '.join(parts)}. config.yml has fps: {chosen:g}, "
        "the rate of the most recordings; keypoint-MoSeq uses one frame rate for the whole "
        "project, so check that it is the right one.",
    )
