"""Loading keypoint files into keypoint-MoSeq's arrays, checked together.

Owns :func:`read_keypoints` (kpcal's loader: arrays plus what the files say
about themselves, with duplicate outputs handled), :func:`load_keypoints`
(keypoint-MoSeq's loader contract: the same arguments, recording names and
return values), :func:`stored_video_paths` and :func:`stored_skeleton`.

Each file is read by its registered format (:mod:`.registry`); the checks
that what was read can be calibrated together (2-D, frames present, same
bodyparts everywhere, unique recording names) live in :func:`_combine`.
Every problem raises :class:`~kpcal_core.errors.KpcalError` naming the file,
and nothing is returned unless every file loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import KpcalError
from .discovery import (
    DuplicateGroup,
    choose_duplicates,
    describe_pattern,
    list_files,
    recording_name,
)
from .model import PoseFile, ReadOptions
from .registry import get_format, read_pose_file, search_extensions
from .stored_video import stored_video_near

Pattern = str | os.PathLike | Sequence[str | os.PathLike]
#: ``keep(recording, coordinates, confidences) -> (coordinates, confidences)``.
Keep = Callable[[str, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class LoadedKeypoints:
    """Keypoints of every recording, and what their files say about them.

    Attributes
    ----------
    coordinates
        ``{recording: (T, K, 2)}``: float64, or float32 where the file stores
        float32 (SLEAP); NaN where a point is missing. Pixel-centre based.
    confidences
        ``{recording: (T, K)}``, same precision as the coordinates.
    bodyparts
        The ``K`` names.
    files
        ``{recording: keypoint file it came from}``.
    formats
        ``{recording: format name}``.
    stored_videos
        ``{recording: video path as stored in its file}`` for files that
        store one (SLEAP, NWB).
    skeleton
        Edges ``[source, destination]`` of the first file that stores a
        skeleton (SLEAP, NWB); ``[]`` if none does.
    duplicates
        Groups of files that are outputs for the same video, and which were kept.
    labelled
        ``{recording: (T, K) bool}``: True where a point was labelled by a person
        (SLEAP user instances; see :attr:`~.model.PoseFile.labelled`), for the
        recordings that have any. The arrays keep those points as keypoint-MoSeq
        does; sampling leaves them out.
    """

    coordinates: dict[str, np.ndarray]
    confidences: dict[str, np.ndarray]
    bodyparts: list[str]
    files: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    stored_videos: dict[str, str] = field(default_factory=dict)
    skeleton: list[list[str]] = field(default_factory=list)
    duplicates: list[DuplicateGroup] = field(default_factory=list)
    duplicates_choice: str = "all"
    labelled: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        """Sentences for the user about the files (duplicate outputs)."""
        return [group.message(self.duplicates_choice) for group in self.duplicates]


def read_keypoints(
    filepath_pattern: Pattern,
    format: str | None = None,
    *,
    duplicates: str = "unfiltered",
    extension: str | None = None,
    recursive: bool = True,
    path_in_name: bool = False,
    path_sep: str = "-",
    remove_extension: bool = True,
    exclude_individuals: Iterable[str] = ("single",),
    keep: Keep | None = None,
) -> LoadedKeypoints:
    """Load keypoints, the videos and skeleton the files store, in one read.

    The loader the app and the command line call. Arguments as for
    :func:`load_keypoints`, plus ``duplicates`` and ``keep``. Files are read
    one at a time: at most one file's arrays are held besides what ``keep``
    returns.

    Parameters
    ----------
    duplicates
        What to do with files that are outputs for the same video (same
        folder and name once the extension and DeepLabCut's ``filtered`` are
        removed, e.g. ``vidDLC_..._10.h5``, its ``.csv`` copy and
        ``vidDLC_..._10filtered.csv``): ``"unfiltered"`` (default) keeps the
        unfiltered output, ``"filtered"`` the filtered one (``.h5`` before
        ``.csv`` in both), ``"all"`` loads every file. The groups found are
        in :attr:`LoadedKeypoints.duplicates` and
        :attr:`LoadedKeypoints.warnings`.
    keep
        Called as ``keep(recording, coordinates, confidences)`` with each
        recording's checked ``(T, K, 2)`` and ``(T, K)`` arrays (bodyparts in
        the order of :attr:`LoadedKeypoints.bodyparts`) as soon as its file is
        read; what it returns, ``(coordinates, confidences)``, is stored instead
        (e.g. a memory-mapped copy). Default: the arrays themselves.

    Returns
    -------
    LoadedKeypoints

    Raises
    ------
    KpcalError
        As :func:`load_keypoints`; also an unknown ``duplicates`` value.
    """
    format_name = get_format(format, filepath_pattern).name if format is not None else None
    extensions = search_extensions(format_name, extension)
    if isinstance(exclude_individuals, str):
        exclude = frozenset({exclude_individuals})
    else:
        exclude = frozenset(str(i) for i in (exclude_individuals or ()))
    paths = list_files(filepath_pattern, extensions, recursive)
    if not paths:
        raise KpcalError(
            f"no keypoint files match {describe_pattern(filepath_pattern)} "
            f"(searched extensions {', '.join(extensions)}"
            + (", recursively" if recursive else "")
            + ")"
        )
    paths, groups = choose_duplicates(paths, duplicates)
    options = ReadOptions(exclude_individuals=exclude)
    poses = (read_pose_file(path, format_name, options) for path in paths)  # one at a time
    loaded = _combine(poses, path_in_name, path_sep, remove_extension, keep)
    loaded.duplicates, loaded.duplicates_choice = groups, duplicates
    return loaded


def load_keypoints(
    filepath_pattern: Pattern,
    format: str | None = None,
    *,
    extension: str | None = None,
    recursive: bool = True,
    path_in_name: bool = False,
    path_sep: str = "-",
    remove_extension: bool = True,
    exclude_individuals: Iterable[str] = ("single",),
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    """Load 2-D keypoints and confidences from pose-tracking output files.

    Follows keypoint-MoSeq's ``load_keypoints``: same arguments, recording
    names and return values, except that ``format`` may be ``None`` (detect
    each file's format from its content) and ``bodyparts`` is always a list.
    Every file found is loaded (see :func:`read_keypoints` for kpcal's
    choice among duplicate outputs).

    Parameters
    ----------
    filepath_pattern
        A file, a folder, a glob pattern, or a list of them. Folders and globs
        are searched for the format's extensions (all supported extensions
        when ``format`` is None); a file named explicitly is read whatever its
        extension.
    format
        A name of :data:`~kpcal_core.formats.FORMATS` (``"deeplabcut"``,
        ``"sleap"``, ``"lightning-pose"``, ``"nwb"``) or None. A named format
        is checked against each file's content.
    extension
        Search only this extension in folders and globs (with or without dot).
    recursive
        Also search sub-folders of folders and of glob matches.
    path_in_name
        Recording names are the whole path as found (separators replaced by
        ``path_sep``) instead of the file name; use it when files in
        different folders share a name.
    path_sep
        Replaces the path separator when ``path_in_name`` is True.
    remove_extension
        Drop the file's last extension from the recording name.
    exclude_individuals
        Multi-animal DeepLabCut individuals to leave out (DeepLabCut's
        ``"single"`` holds the unique bodyparts, not an animal).

    Returns
    -------
    coordinates : dict
        ``{recording: (T, K, 2)}``, float64 (float32 for SLEAP files, as
        keypoint-MoSeq returns them); NaN where a point is missing;
        pixel-centre based (the centre of the top-left pixel is (0, 0)).
    confidences : dict
        ``{recording: (T, K)}`` as stored (SLEAP scores may exceed 1; NaN
        stays NaN); ones for NWB series without confidence and SLEAP
        analysis files without ``point_scores``.
    bodyparts : list of str
        The ``K`` bodypart names, in the order of the arrays' second axis.

    Notes
    -----
    Recording names: the file name without its last extension, plus
    ``_{individual}`` for multi-animal DeepLabCut files, ``_track{i}`` for
    SLEAP files with more than one track, and ``_{PoseEstimation name}`` for
    NWB files with more than one PoseEstimation. Files are read in sorted
    path order. When files list the same bodyparts in different orders, the
    arrays are reordered to the first file's order.

    Raises
    ------
    KpcalError
        No file matches; a file cannot be read, is not a pose file, holds 3-D
        keypoints or no frames; bodyparts differ between individuals or files;
        two files give the same recording name.
    """
    loaded = read_keypoints(
        filepath_pattern,
        format,
        duplicates="all",
        extension=extension,
        recursive=recursive,
        path_in_name=path_in_name,
        path_sep=path_sep,
        remove_extension=remove_extension,
        exclude_individuals=exclude_individuals,
    )
    return loaded.coordinates, loaded.confidences, loaded.bodyparts


def stored_video_paths(filepath_pattern: Pattern, format: str | None = None, **kwargs) -> dict:
    """The video path each pose file stores, by recording name.

    SLEAP ``.slp`` files, SLEAP analysis ``.h5`` files and NWB
    ``PoseEstimation`` video links record the video the network ran on.

    Parameters
    ----------
    filepath_pattern, format, **kwargs
        As for :func:`load_keypoints` (same keyword arguments), so the
        recording names are the same.

    Returns
    -------
    dict
        ``{recording: path}`` for the recordings whose file stores one video
        (others are absent). A stored path that does not exist as written is
        looked for relative to the pose file's folder, then by its file name
        in that folder (SLEAP files often store a path from another machine);
        the first that exists is returned, else the path as stored.

    Notes
    -----
    The files are read in full (the recording names of multi-track files
    depend on their content): call :func:`read_keypoints` once instead when
    the arrays are wanted too.
    """
    loaded = read_keypoints(filepath_pattern, format, duplicates="all", **kwargs)
    out = {}
    for name, stored in loaded.stored_videos.items():
        found = stored_video_near(stored, loaded.files[name])
        out[name] = found[0] if found is not None else stored
    return out


def stored_skeleton(filepath_pattern: Pattern, format: str | None = None, **kwargs) -> list:
    """The skeleton the pose files store, as ``[[source, destination], ...]`` bodypart names.

    Parameters
    ----------
    filepath_pattern, format, **kwargs
        As for :func:`load_keypoints`.

    Returns
    -------
    list of [str, str]
        The edges of the first file that stores a skeleton (SLEAP ``.slp``
        and analysis ``.h5``, NWB ndx-pose); ``[]`` when none does
        (DeepLabCut and Lightning Pose keep theirs in the project's config).
    """
    return read_keypoints(filepath_pattern, format, duplicates="all", **kwargs).skeleton


def _combine(
    poses: Iterable[PoseFile],
    path_in_name: bool,
    path_sep: str,
    remove_extension: bool,
    keep: Keep | None = None,
) -> LoadedKeypoints:
    """Check the files agree (2-D, frames, bodyparts, names) and gather their recordings.

    ``poses`` may be a generator: each file is dropped once its recordings are kept.
    """
    reference: PoseFile | None = None
    bodyparts: list[str] = []
    loaded = LoadedKeypoints({}, {}, bodyparts)
    for pose in poses:
        if reference is None:
            reference = pose
            bodyparts.extend(pose.bodyparts)
        if not pose.tracks or not pose.bodyparts:
            raise KpcalError(f"file {pose.path!r} holds no tracks or no bodyparts")
        if set(pose.bodyparts) != set(bodyparts):
            only_here = sorted(set(pose.bodyparts) - set(bodyparts))
            only_there = sorted(set(bodyparts) - set(pose.bodyparts))
            raise KpcalError(
                f"file {pose.path!r} has bodyparts {pose.bodyparts} but {reference.path!r} has "
                f"{bodyparts} (only in the first: {only_here}; only in the second: {only_there}); "
                "load files from networks with the same bodyparts together"
            )
        order = [pose.bodyparts.index(b) for b in bodyparts]
        reorder = order != list(range(len(order)))
        base = recording_name(pose.path, path_in_name, path_sep, remove_extension)
        for suffix, (coords, conf) in pose.tracks.items():
            name = base + suffix
            if coords.ndim != 3 or coords.shape[2] != 2 or conf.shape != coords.shape[:2]:
                raise KpcalError(
                    f"file {pose.path!r}, recording {name!r}: expected (T, K, 2) coordinates "
                    f"and (T, K) confidences, got {coords.shape} and {conf.shape}"
                )
            if coords.shape[0] == 0:
                raise KpcalError(f"file {pose.path!r}, recording {name!r} has no frames")
            if name in loaded.files:
                raise KpcalError(
                    f"recording name {name!r} comes from both {loaded.files[name]!r} and "
                    f"{pose.path!r}: give path_in_name=True to put the folders in the names, "
                    "remove_extension=False to keep extensions, or narrow the pattern "
                    "(e.g. extension='h5') so each recording is loaded once"
                )
            human = pose.labelled.get(suffix)
            if human is not None and human.shape != conf.shape:
                raise KpcalError(
                    f"file {pose.path!r}, recording {name!r}: the mask of human labels has "
                    f"shape {human.shape}, not the confidences' {conf.shape}"
                )
            if reorder:
                coords, conf = coords[:, order], conf[:, order]
                human = human[:, order] if human is not None else None
            if human is not None and human.any():
                loaded.labelled[name] = np.ascontiguousarray(human, dtype=bool)
            if keep is not None:
                coords, conf = keep(name, coords, conf)
            loaded.coordinates[name] = coords
            loaded.confidences[name] = conf
            loaded.files[name] = pose.path
            loaded.formats[name] = pose.format
            if pose.video:
                loaded.stored_videos[name] = pose.video
        if not loaded.skeleton and pose.skeleton:
            loaded.skeleton = [list(edge) for edge in pose.skeleton]
        pose.tracks, pose.labelled = {}, {}  # let the file's arrays go before the next is read
        del coords, conf
    return loaded
