"""Reading pose-tracking output files into keypoint arrays.

Owns :func:`load_keypoints` (keypoint-MoSeq's loader contract: the same
arguments, recording names and return values), :func:`detect_format`, which
tells a file's format from its content, and :func:`stored_video_paths`, which
reads the video path some formats store next to the keypoints.

Formats
-------
``deeplabcut``
    DeepLabCut ``.csv`` (header rows ``scorer``, optional ``individuals``,
    ``bodyparts``, ``coords``) and ``.h5`` (a pandas HDF store holding a
    DataFrame with the same column levels).
``lightning-pose``
    Lightning Pose ``.csv``: the DeepLabCut layout with a scorer such as
    ``heatmap_tracker``; read by the same reader.
``sleap``
    SLEAP ``.slp`` (through ``sleap_io``) and SLEAP analysis ``.h5``
    (datasets ``tracks``, ``point_scores``, ``node_names``).
``nwb``
    NWB files with ndx-pose ``PoseEstimation`` containers (through ``pynwb``).

Each format has one small private reader that only reads (``_read_*``); the
checks that what was read can be calibrated together (2-D, frames present,
same bodyparts everywhere, unique recording names) live in
:func:`_combine`. Every problem raises :class:`~kpcal_core.errors.KpcalError`
naming the file, and nothing is returned unless every file loaded.

Safety: DeepLabCut ``.h5`` files are read with ``pandas.read_hdf`` (PyTables),
which unpickles some attributes and object arrays. Before that call the file
is inspected with ``h5py`` (which never unpickles) and refused if it holds a
pickled object array or an attribute whose pickle would import or call
anything.
"""

from __future__ import annotations

import csv
import glob
import itertools
import json
import os
import pickletools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import h5py
import numpy as np
import pandas as pd

from .errors import KpcalError

FORMATS = ("deeplabcut", "sleap", "lightning-pose", "nwb")

#: Extensions searched in folders and globs, per format (case-insensitive).
FORMAT_EXTENSIONS = {
    "deeplabcut": (".csv", ".h5", ".hdf5"),
    "sleap": (".slp", ".h5", ".hdf5"),
    "lightning-pose": (".csv",),
    "nwb": (".nwb",),
}

#: keypoint-MoSeq formats kpcal does not read, and why.
_UNSUPPORTED_FORMATS = {
    "anipose": "anipose gives 3-D keypoints",
    "sleap-anipose": "sleap-anipose gives 3-D keypoints",
    "freipose": "FreiPose gives 3-D keypoints",
    "dannce": "DANNCE gives 3-D keypoints",
    "facemap": "Facemap files are not supported",
}

_HDF5_EXTENSIONS = (".h5", ".hdf5", ".slp", ".nwb")
_DLC_COORDS = ("x", "y", "likelihood")
_ANALYSIS_TRACKS_DIMS = ("track", "xy", "node", "frame")  # SLEAP's (MATLAB-style) axis order

# Pickle opcodes that import or call something. A pickle without them can only
# build plain containers, numbers and strings, so PyTables may unpickle it.
_UNSAFE_PICKLE_OPCODES = frozenset(
    {
        "GLOBAL",
        "STACK_GLOBAL",
        "INST",
        "OBJ",
        "NEWOBJ",
        "NEWOBJ_EX",
        "REDUCE",
        "BUILD",
        "EXT1",
        "EXT2",
        "EXT4",
        "PERSID",
        "BINPERSID",
    }
)


@dataclass
class _PoseFile:
    """What a reader got from one file.

    ``tracks`` maps a name suffix (``""``, ``"_mouse1"``, ``"_track0"``, ...)
    to ``(coordinates (T, K, 2), confidences (T, K))`` in ``bodyparts`` order.
    """

    path: str
    format: str
    bodyparts: list[str]
    tracks: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    video: str | None = None


# --------------------------------------------------------------------------- public


def load_keypoints(
    filepath_pattern: str | os.PathLike | Sequence[str | os.PathLike],
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

    Parameters
    ----------
    filepath_pattern
        A file, a folder, a glob pattern, or a list of them. Folders and globs
        are searched for the format's extensions (all supported extensions
        when ``format`` is None); a file named explicitly is read whatever its
        extension.
    format
        ``"deeplabcut"``, ``"sleap"``, ``"lightning-pose"``, ``"nwb"`` or None.
        A named format is checked against each file's content.
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
        ``{recording: (T, K, 2) float64}``; NaN where a point is missing.
    confidences : dict
        ``{recording: (T, K) float64}`` as stored (SLEAP scores may exceed 1;
        NaN stays NaN); ones for NWB series without confidence and SLEAP
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
    records, bodyparts = _load_records(
        filepath_pattern,
        format,
        extension=extension,
        recursive=recursive,
        path_in_name=path_in_name,
        path_sep=path_sep,
        remove_extension=remove_extension,
        exclude_individuals=exclude_individuals,
    )
    coordinates = {name: coords for name, (coords, _, _) in records.items()}
    confidences = {name: conf for name, (_, conf, _) in records.items()}
    return coordinates, confidences, bodyparts


def stored_video_paths(
    filepath_pattern: str | os.PathLike | Sequence[str | os.PathLike],
    format: str | None = None,
    *,
    extension: str | None = None,
    recursive: bool = True,
    path_in_name: bool = False,
    path_sep: str = "-",
    remove_extension: bool = True,
    exclude_individuals: Iterable[str] = ("single",),
) -> dict[str, str]:
    """The video path each pose file stores, by recording name.

    SLEAP ``.slp`` files, SLEAP analysis ``.h5`` files and NWB
    ``PoseEstimation.original_videos`` record the video the network ran on.
    Pass the result to :func:`kpcal_core.recordings.check_videos` as
    ``video_paths``: it is used when the video folder has no match.

    Parameters
    ----------
    filepath_pattern, format, extension, recursive, path_in_name, path_sep, \
remove_extension, exclude_individuals
        As for :func:`load_keypoints`, so the recording names are the same.

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
    depend on their content), so this costs about as much as
    :func:`load_keypoints`.
    """
    records, _ = _load_records(
        filepath_pattern,
        format,
        extension=extension,
        recursive=recursive,
        path_in_name=path_in_name,
        path_sep=path_sep,
        remove_extension=remove_extension,
        exclude_individuals=exclude_individuals,
    )
    out = {}
    for name, (_, _, pose) in records.items():
        if pose.video:
            out[name] = _resolve_stored_video(pose.video, pose.path)
    return out


def detect_format(path: str | os.PathLike) -> str:
    """Tell a pose file's format from its content.

    Parameters
    ----------
    path
        A file.

    Returns
    -------
    str
        One of ``"deeplabcut"``, ``"lightning-pose"``, ``"sleap"``, ``"nwb"``.

    Raises
    ------
    KpcalError
        The file is missing, unreadable, or not a pose file kpcal reads (the
        message says what it looks like, e.g. 3-D sleap-anipose output).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise KpcalError(f"file {path!r} does not exist or is not a file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as error:
        raise KpcalError(f"file {path!r} cannot be read: {error}") from error
    if is_hdf5:
        return _detect_hdf5(path)
    if os.path.splitext(path)[1].lower() in _HDF5_EXTENSIONS:
        raise KpcalError(
            f"file {path!r} is not a readable HDF5 file (damaged, truncated, or not HDF5), "
            "so it cannot be a DeepLabCut .h5, SLEAP or NWB file"
        )
    header = _csv_header(path)
    levels = _dlc_header_levels(header)
    if levels is None:
        raise KpcalError(
            f"file {path!r} is not a pose file kpcal reads: a pose .csv must start with "
            "DeepLabCut's header rows 'scorer', ['individuals',] 'bodyparts', 'coords' "
            "(DeepLabCut, Lightning Pose); narrow the pattern to the pose files"
        )
    scorers = {s for s in header[0][1:] if s}
    if scorers and all(s.endswith("_tracker") for s in scorers):
        return "lightning-pose"
    return "deeplabcut"


# --------------------------------------------------------------------------- listing


def _check_format_name(format: str | None, pattern: object) -> str | None:
    if format is None:
        return None
    name = str(format).strip().lower().replace("_", "-")
    if name in FORMATS:
        return name
    if name in _UNSUPPORTED_FORMATS:
        raise KpcalError(
            f"format {format!r} asked for {pattern!r}: {_UNSUPPORTED_FORMATS[name]}; "
            f"kpcal calibrates 2-D keypoints and reads {', '.join(FORMATS)}"
        )
    raise KpcalError(
        f"unknown format {format!r} asked for {pattern!r}: choose one of {', '.join(FORMATS)}, "
        "or None to detect each file's format"
    )


def _search_extensions(format: str | None, extension: str | None) -> tuple[str, ...]:
    if extension:
        return ("." + str(extension).lstrip(".").lower(),)
    if format is not None:
        return FORMAT_EXTENSIONS[format]
    return tuple(sorted({e for exts in FORMAT_EXTENSIONS.values() for e in exts}))


def _list_files(pattern, extensions: tuple[str, ...], recursive: bool) -> list[str]:
    """Files named by ``pattern`` (file, folder, glob, or a list), sorted, without repeats."""
    if isinstance(pattern, (str, os.PathLike)):
        patterns = [pattern]
    else:
        try:
            patterns = list(pattern)
        except TypeError:
            raise KpcalError(
                f"filepath_pattern must be a path, a glob or a list of them, not {pattern!r}"
            ) from None
    found: dict[str, str] = {}  # real path -> path as found

    def add(candidate: str) -> None:
        found.setdefault(os.path.realpath(candidate), candidate)

    for item in patterns:
        text = os.fspath(item)
        if os.path.isfile(text):
            add(text)  # named explicitly: read whatever its extension
            continue
        search = os.path.join(glob.escape(text), "*") if os.path.isdir(text) else text
        matches = glob.glob(search, recursive=True)
        if recursive:
            for match in list(matches):
                if os.path.isdir(match):
                    matches += glob.glob(os.path.join(glob.escape(match), "**"), recursive=True)
        for match in matches:
            if os.path.splitext(match)[1].lower() in extensions and os.path.isfile(match):
                add(match)
    return sorted(found.values())


def _recording_name(path: str, path_in_name: bool, path_sep: str, remove_extension: bool) -> str:
    """keypoint-MoSeq's rule for a file's recording name."""
    if remove_extension:
        path = os.path.splitext(path)[0]
    if path_in_name:
        return path.replace(os.path.sep, path_sep)
    return os.path.basename(path)


# --------------------------------------------------------------------------- loading


def _load_records(
    filepath_pattern,
    format,
    *,
    extension,
    recursive,
    path_in_name,
    path_sep,
    remove_extension,
    exclude_individuals,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, _PoseFile]], list[str]]:
    """Read every file, then check them together: ``{name: (coords, conf, file)}``, bodyparts."""
    format = _check_format_name(format, filepath_pattern)
    extensions = _search_extensions(format, extension)
    if isinstance(exclude_individuals, str):
        exclude = {exclude_individuals}
    else:
        exclude = {str(i) for i in (exclude_individuals or ())}
    paths = _list_files(filepath_pattern, extensions, recursive)
    if not paths:
        raise KpcalError(
            f"no keypoint files match {_describe_pattern(filepath_pattern)} "
            f"(searched extensions {', '.join(extensions)}"
            + (", recursively" if recursive else "")
            + ")"
        )
    poses = [_read_file(path, format, exclude) for path in paths]
    return _combine(poses, path_in_name, path_sep, remove_extension)


def _describe_pattern(pattern) -> str:
    if isinstance(pattern, (str, os.PathLike)):
        return repr(os.fspath(pattern))
    return repr([os.fspath(p) for p in pattern])


def _read_file(path: str, format: str | None, exclude: set[str]) -> _PoseFile:
    """Detect and read one file; any failure becomes a KpcalError naming it."""
    try:
        detected = detect_format(path)
        compatible = {detected}
        if detected in ("deeplabcut", "lightning-pose"):
            compatible = {"deeplabcut", "lightning-pose"}
        if format is not None and format not in compatible:
            raise KpcalError(
                f"file {path!r} holds {detected} data, not {format}: "
                "give the right format, or format=None to detect it"
            )
        if detected in ("deeplabcut", "lightning-pose"):
            if h5py.is_hdf5(path):
                pose = _read_dlc_h5(path, exclude)
            else:
                pose = _read_dlc_csv(path, exclude, detected)
        elif detected == "sleap":
            with h5py.File(path, "r") as handle:
                is_analysis = "tracks" in handle
            pose = _read_sleap_analysis(path) if is_analysis else _read_slp(path)
        else:
            pose = _read_nwb(path)
    except KpcalError:
        raise
    except Exception as error:  # a reader library failed: report it against the file
        raise KpcalError(
            f"file {path!r} cannot be read ({type(error).__name__}: {error}); "
            "it may be damaged, truncated, or not the format it looks like"
        ) from error
    return pose


def _combine(
    poses: list[_PoseFile], path_in_name: bool, path_sep: str, remove_extension: bool
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, _PoseFile]], list[str]]:
    """Check the files agree (2-D, frames, bodyparts, names) and gather their recordings."""
    reference = poses[0]
    bodyparts = list(reference.bodyparts)
    records: dict[str, tuple[np.ndarray, np.ndarray, _PoseFile]] = {}
    for pose in poses:
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
        base = _recording_name(pose.path, path_in_name, path_sep, remove_extension)
        for suffix, (coords, conf) in pose.tracks.items():
            name = base + suffix
            if coords.ndim != 3 or coords.shape[2] != 2 or conf.shape != coords.shape[:2]:
                raise KpcalError(
                    f"file {pose.path!r}, recording {name!r}: expected (T, K, 2) coordinates "
                    f"and (T, K) confidences, got {coords.shape} and {conf.shape}"
                )
            if coords.shape[0] == 0:
                raise KpcalError(f"file {pose.path!r}, recording {name!r} has no frames")
            if name in records:
                other = records[name][2].path
                raise KpcalError(
                    f"recording name {name!r} comes from both {other!r} and {pose.path!r}: "
                    "give path_in_name=True to put the folders in the names, "
                    "remove_extension=False to keep extensions, or narrow the pattern "
                    "(e.g. extension='h5') so each recording is loaded once"
                )
            if reorder:
                coords, conf = coords[:, order], conf[:, order]
            records[name] = (coords, conf, pose)
    return records, bodyparts


# --------------------------------------------------------------------------- detection


def _text(value) -> str:
    """An HDF5 string attribute or element as ``str``."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _detect_hdf5(path: str) -> str:
    try:
        with h5py.File(path, "r") as handle:
            if _text(handle.attrs.get("neurodata_type", "")) == "NWBFile":
                return "nwb"
            if "metadata" in handle and ("frames" in handle or "videos_json" in handle):
                return "sleap"
            if "tracks" in handle:
                if "node_names" in handle:
                    return "sleap"
                shape = handle["tracks"].shape
                if len(shape) == 4 and shape[-1] == 3:
                    raise KpcalError(
                        f"file {path!r} holds 3-D keypoints (sleap-anipose layout, tracks "
                        f"{shape}); error calibration works on 2-D keypoints in video frames"
                    )
                raise KpcalError(
                    f"file {path!r} has a 'tracks' dataset but no 'node_names': "
                    "it is not a SLEAP analysis file"
                )
            if "Facemap" in handle:
                raise KpcalError(f"file {path!r} is a Facemap file, which kpcal does not read")
            if _has_pandas_group(handle):
                return "deeplabcut"
    except KpcalError:
        raise
    except Exception as error:
        raise KpcalError(
            f"file {path!r} cannot be opened as HDF5 ({type(error).__name__}: {error}); "
            "it may be damaged or truncated"
        ) from error
    raise KpcalError(
        f"HDF5 file {path!r} is not a pose file: it holds no DeepLabCut table (pandas "
        "HDF store), no SLEAP labels or tracks, and no NWB PoseEstimation"
    )


def _has_pandas_group(handle: h5py.File) -> bool:
    hits = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and "pandas_type" in obj.attrs:
            hits.append(name)
            return True  # stop
        return None

    handle.visititems(visit)
    return bool(hits)


def _csv_header(path: str, n_lines: int = 4) -> list[list[str]]:
    """The first ``n_lines`` rows of a text file, split as CSV ([] if it is not text)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return [row for row in itertools.islice(csv.reader(handle), n_lines)]
    except (UnicodeDecodeError, csv.Error):
        return []
    except OSError as error:
        raise KpcalError(f"file {path!r} cannot be read: {error}") from error


def _dlc_header_levels(header: list[list[str]]) -> list[str] | None:
    """Level names of a DeepLabCut-style csv header, or None if it is not one."""
    firsts = [row[0].strip().lower() if row else "" for row in header]
    if len(firsts) >= 3 and firsts[:3] == ["scorer", "bodyparts", "coords"]:
        return ["scorer", "bodyparts", "coords"]
    if len(firsts) >= 4 and firsts[:4] == ["scorer", "individuals", "bodyparts", "coords"]:
        return ["scorer", "individuals", "bodyparts", "coords"]
    return None


# --------------------------------------------------------------------------- DeepLabCut


def _dlc_tracks(
    path: str,
    values: np.ndarray,
    columns: list[tuple[str, str, str]],
    multi_animal: bool,
    exclude: set[str],
) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Split a DeepLabCut table into per-individual arrays.

    Parameters
    ----------
    values
        ``(T, C)`` float64, one column per entry of ``columns``.
    columns
        ``(individual, bodypart, coord)`` per column (individual ``""`` for
        single-animal files).
    """
    coords_present = {c for _, _, c in columns}
    if "z" in coords_present:
        raise KpcalError(
            f"file {path!r} holds 3-D keypoints (a 'z' coordinate, e.g. DeepLabCut 3D); "
            "error calibration works on 2-D keypoints in video frames"
        )
    for needed in _DLC_COORDS:
        if needed not in coords_present:
            extra = (
                " (a file without likelihoods is usually labelled training data, not predictions)"
                if needed == "likelihood"
                else ""
            )
            raise KpcalError(f"file {path!r} has no {needed!r} coordinate columns{extra}")
    position: dict[tuple[str, str, str], int] = {}
    for index, column in enumerate(columns):
        if column[2] not in _DLC_COORDS:
            continue  # e.g. Lightning Pose ensemble variances
        if column in position:
            raise KpcalError(f"file {path!r} has the column {column} twice")
        position[column] = index

    individuals = list(dict.fromkeys(ind for ind, _, _ in position))
    kept = [ind for ind in individuals if not (multi_animal and ind in exclude)]
    if not kept:
        raise KpcalError(
            f"file {path!r}: every individual ({individuals}) is in exclude_individuals"
        )
    parts_of = {ind: list(dict.fromkeys(bp for i, bp, _ in position if i == ind)) for ind in kept}
    bodyparts = parts_of[kept[0]]
    for ind in kept[1:]:
        if set(parts_of[ind]) != set(bodyparts):
            raise KpcalError(
                f"file {path!r}: individual {ind!r} has bodyparts {parts_of[ind]} but "
                f"{kept[0]!r} has {bodyparts}; every individual must have the same bodyparts "
                "(put individuals with other bodyparts in exclude_individuals)"
            )
    tracks = {}
    for ind in kept:
        idx = {}
        for coord in _DLC_COORDS:
            missing = [bp for bp in bodyparts if (ind, bp, coord) not in position]
            if missing:
                who = f"individual {ind!r}, " if multi_animal else ""
                raise KpcalError(f"file {path!r}: {who}bodypart {missing[0]!r} has no {coord!r}")
            idx[coord] = [position[(ind, bp, coord)] for bp in bodyparts]
        xy = np.stack((values[:, idx["x"]], values[:, idx["y"]]), axis=-1)
        conf = np.ascontiguousarray(values[:, idx["likelihood"]])
        tracks[f"_{ind}" if multi_animal else ""] = (xy, conf)
    return bodyparts, tracks


def _read_dlc_csv(path: str, exclude: set[str], format: str) -> _PoseFile:
    """DeepLabCut / Lightning Pose csv: header rows, then one row per frame."""
    header = _csv_header(path)
    levels = _dlc_header_levels(header)
    if levels is None:  # detect_format said otherwise; be safe
        raise KpcalError(f"file {path!r} does not have DeepLabCut's csv header rows")
    rows = header[: len(levels)]
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise KpcalError(f"file {path!r}: the csv header rows have different numbers of fields")
    level = {name: rows[i] for i, name in enumerate(levels)}
    multi = "individuals" in level
    columns = []
    for j in range(1, width):
        individual = level["individuals"][j].strip() if multi else ""
        columns.append((individual, level["bodyparts"][j].strip(), level["coords"][j].strip()))
    wanted = [j for j, column in enumerate(columns) if column[2] in (*_DLC_COORDS, "z")]
    if not wanted:
        raise KpcalError(f"file {path!r} has no x/y/likelihood columns")
    try:
        table = pd.read_csv(
            path,
            header=None,
            skiprows=len(levels),
            usecols=[j + 1 for j in wanted],  # +1: the first field is the frame index
            dtype=np.float64,
            engine="c",
        ).to_numpy(dtype=np.float64)
    except pd.errors.EmptyDataError:  # header rows only
        table = np.empty((0, len(wanted)))
    values = np.empty((len(table), len(columns)), dtype=np.float64)
    values[:, wanted] = table
    bodyparts, tracks = _dlc_tracks(path, values, columns, multi, exclude)
    return _PoseFile(path, format, bodyparts, tracks)


def _refuse_pickles(path: str) -> None:
    """Refuse an HDF5 file that PyTables would unpickle into more than plain data.

    Checked with h5py, which never unpickles: object arrays (PyTables stores
    them pickled) and string attributes whose pickle imports or calls anything.
    """
    problems = []

    def check_attrs(name, obj):
        if obj.attrs.get("PSEUDOATOM") is not None and _text(obj.attrs["PSEUDOATOM"]) == "object":
            problems.append(f"{name or '/'} is an array of pickled Python objects")
        for key in obj.attrs:
            value = obj.attrs[key]
            is_text = isinstance(value, (bytes, np.bytes_)) and bytes(value).endswith(b".")
            if is_text and _pickle_is_unsafe(bytes(value)):  # PyTables would unpickle it
                problems.append(f"attribute {key!r} of {name or '/'} is a pickle that runs code")

    with h5py.File(path, "r") as handle:
        check_attrs("", handle)
        handle.visititems(check_attrs)
    if problems:
        raise KpcalError(
            f"file {path!r} is refused for safety: {problems[0]}; a DeepLabCut .h5 holds only "
            "numbers and names, so this file was not written by DeepLabCut (or was altered)"
        )


def _pickle_is_unsafe(data: bytes) -> bool:
    """True if unpickling ``data`` would import or call something (disassembled, never run)."""
    try:
        for opcode, _, _ in pickletools.genops(data):
            if opcode.name in _UNSAFE_PICKLE_OPCODES:
                return True
    except Exception:
        return False  # not a pickle past this point; nothing unsafe came before
    return False


def _read_dlc_h5(path: str, exclude: set[str]) -> _PoseFile:
    """DeepLabCut .h5: a pandas HDF store holding one MultiIndex-column DataFrame."""
    _refuse_pickles(path)
    with pd.HDFStore(path, mode="r") as store:
        keys = store.keys()
        if len(keys) == 1:
            key = keys[0]
        elif "/df_with_missing" in keys:
            key = "/df_with_missing"
        else:
            raise KpcalError(
                f"file {path!r} holds several pandas tables {keys} and none is DeepLabCut's "
                "'df_with_missing'"
            )
        frame = store.get(key)
    if not isinstance(frame, pd.DataFrame) or not isinstance(frame.columns, pd.MultiIndex):
        raise KpcalError(
            f"file {path!r} is a pandas HDF store but its table {key!r} does not have "
            "DeepLabCut's column levels scorer/bodyparts/coords"
        )
    names = [str(n).lower() if n is not None else None for n in frame.columns.names]
    nlevels = frame.columns.nlevels
    if "bodyparts" in names and "coords" in names:
        i_bp, i_coord = names.index("bodyparts"), names.index("coords")
        i_ind = names.index("individuals") if "individuals" in names else None
    elif nlevels in (3, 4):
        i_bp, i_coord = nlevels - 2, nlevels - 1
        i_ind = 1 if nlevels == 4 else None
    else:
        raise KpcalError(
            f"file {path!r}: table {key!r} has column levels {frame.columns.names}, "
            "not DeepLabCut's scorer/[individuals/]bodyparts/coords"
        )
    columns = [
        (str(c[i_ind]) if i_ind is not None else "", str(c[i_bp]), str(c[i_coord]))
        for c in frame.columns
    ]
    try:
        values = frame.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise KpcalError(f"file {path!r}: table {key!r} holds non-numeric values") from error
    bodyparts, tracks = _dlc_tracks(path, values, columns, i_ind is not None, exclude)
    return _PoseFile(path, "deeplabcut", bodyparts, tracks)


# --------------------------------------------------------------------------- SLEAP


def _track_suffixes(n: int) -> list[str]:
    return [""] if n == 1 else [f"_track{i}" for i in range(n)]


def _read_sleap_analysis(path: str) -> _PoseFile:
    """SLEAP analysis .h5: ``tracks``, ``point_scores`` and ``node_names``.

    SLEAP writes ``tracks`` as (tracks, 2, nodes, frames) and ``point_scores``
    as (tracks, nodes, frames); sleap-io can write other axis orders and then
    names them in each dataset's ``dims`` attribute, which is followed here.
    """
    with h5py.File(path, "r") as handle:
        dataset = handle["tracks"]
        dims = _analysis_dims(dataset, handle)
        if dataset.ndim != 4 or sorted(dims) != sorted(_ANALYSIS_TRACKS_DIMS):
            raise KpcalError(
                f"file {path!r}: 'tracks' has shape {dataset.shape} (axes {dims}), not SLEAP's "
                "(tracks, 2, nodes, frames)"
            )
        # -> (tracks, frames, nodes, xy)
        order = [dims.index(d) for d in ("track", "frame", "node", "xy")]
        tracks = np.transpose(np.asarray(dataset[()], dtype=np.float64), order)
        if tracks.shape[3] != 2:
            raise KpcalError(
                f"file {path!r} holds {tracks.shape[3]}-D keypoints ('tracks' shape "
                f"{dataset.shape}); error calibration works on 2-D keypoints in video frames"
            )
        n_tracks, n_frames, n_nodes, _ = tracks.shape
        bodyparts = [_text(n) for n in handle["node_names"][()]]
        if "point_scores" in handle:
            scores_set = handle["point_scores"]
            score_dims = _stored_dims(scores_set) or [d for d in dims if d != "xy"]
            if scores_set.ndim != 3 or sorted(score_dims) != ["frame", "node", "track"]:
                raise KpcalError(
                    f"file {path!r}: 'point_scores' has shape {scores_set.shape}, expected "
                    "(tracks, nodes, frames)"
                )
            order = [score_dims.index(d) for d in ("track", "frame", "node")]
            scores = np.transpose(np.asarray(scores_set[()], dtype=np.float64), order)
        else:
            scores = np.ones((n_tracks, n_frames, n_nodes))
        video = _text(handle["video_path"][()]) if "video_path" in handle else None
    if len(bodyparts) != n_nodes:
        raise KpcalError(
            f"file {path!r}: {len(bodyparts)} node_names but 'tracks' has {n_nodes} nodes"
        )
    if scores.shape != tracks.shape[:3]:
        raise KpcalError(
            f"file {path!r}: 'point_scores' do not match 'tracks' ({scores.shape} for "
            f"{n_tracks} tracks, {n_frames} frames, {n_nodes} nodes)"
        )
    if n_tracks == 0:
        raise KpcalError(f"file {path!r} has no tracks")
    out = {
        suffix: (np.ascontiguousarray(tracks[i]), np.ascontiguousarray(scores[i]))
        for i, suffix in enumerate(_track_suffixes(n_tracks))
    }
    return _PoseFile(path, "sleap", bodyparts, out, video or None)


def _stored_dims(dataset: h5py.Dataset) -> list[str] | None:
    """Axis names from sleap-io's JSON ``dims`` attribute, or None if absent."""
    if "dims" not in dataset.attrs:
        return None
    try:
        dims = json.loads(_text(dataset.attrs["dims"]))
    except ValueError:
        return None
    return [str(d) for d in dims] if isinstance(dims, list) else None


def _analysis_dims(dataset: h5py.Dataset, handle: h5py.File) -> list[str]:
    dims = _stored_dims(dataset)
    if dims is not None:
        return dims
    transpose = handle.attrs.get("transpose", True)
    if not bool(transpose):  # very old SLEAP exports: (frames, nodes, 2, tracks)
        return ["frame", "node", "xy", "track"]
    return list(_ANALYSIS_TRACKS_DIMS)


def _read_slp(path: str) -> _PoseFile:
    """SLEAP .slp through sleap_io: every track, or instances in frame order if untracked.

    Frames run from 0 to the last labelled frame (the video is not opened).
    As in keypoint-MoSeq (``Labels.numpy``), a user-labelled instance replaces
    the prediction of its track with confidence 1, and instances without a
    track are left out when the file has tracks.
    """
    import sleap_io

    labels = sleap_io.load_slp(path, open_videos=False)
    if len(labels.skeletons) != 1:
        raise KpcalError(
            f"file {path!r} has {len(labels.skeletons)} skeletons; kpcal reads files with one"
        )
    if not labels.labeled_frames:
        raise KpcalError(f"file {path!r} has no labelled frames (no predictions)")
    used = {id(lf.video) for lf in labels.labeled_frames}
    if len(used) > 1:
        raise KpcalError(
            f"file {path!r} holds predictions for {len(used)} videos; kpcal needs one video "
            "per file: save each video's predictions in its own .slp"
        )
    video = next(lf.video for lf in labels.labeled_frames)
    bodyparts = [node.name for node in labels.skeletons[0].nodes]
    # (frames, tracks, nodes, 3): x, y, score; frames run from 0 to the last labelled one
    array = labels.numpy(video=video, untracked=not labels.tracks, return_confidence=True)
    if labels.tracks and np.isnan(array[..., :2]).all():  # tracks exist but nothing is on one
        array = labels.numpy(video=video, untracked=True, return_confidence=True)
    array = np.asarray(array, dtype=np.float64)
    if array.shape[1] == 0:
        raise KpcalError(f"file {path!r} has no instances to read")
    tracks = {
        suffix: (
            np.ascontiguousarray(array[:, i, :, :2]),
            np.ascontiguousarray(array[:, i, :, 2]),
        )
        for i, suffix in enumerate(_track_suffixes(array.shape[1]))
    }
    stored = video.filename if isinstance(video.filename, str) else None  # list: image files
    if stored and stored.lower().endswith(".slp"):
        stored = None  # frames embedded in a .slp, not a video file
    return _PoseFile(path, "sleap", bodyparts, tracks, stored)


# --------------------------------------------------------------------------- NWB


def _read_nwb(path: str) -> _PoseFile:
    """NWB with ndx-pose PoseEstimation: one recording per PoseEstimation."""
    import ndx_pose  # noqa: F401  (registers the PoseEstimation classes)
    import pynwb

    with pynwb.NWBHDF5IO(path, mode="r", load_namespaces=True) as io:
        nwbfile = io.read()
        poses = [
            obj
            for obj in nwbfile.objects.values()
            if getattr(obj, "neurodata_type", None) == "PoseEstimation"
        ]
        if not poses:
            raise KpcalError(f"NWB file {path!r} has no ndx-pose PoseEstimation")
        poses.sort(key=lambda p: (getattr(p.parent, "name", ""), p.name))
        bodyparts: list[str] | None = None
        tracks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        videos = set()
        for pose in poses:
            where = f"NWB file {path!r}, PoseEstimation {pose.name!r}"
            parts, coords, conf = _read_pose_estimation(pose, where)
            if bodyparts is None:
                bodyparts = parts
            elif set(parts) != set(bodyparts):
                raise KpcalError(
                    f"{where} has bodyparts {parts} but {poses[0].name!r} has {bodyparts}"
                )
            else:
                order = [parts.index(b) for b in bodyparts]
                coords, conf = coords[:, order], conf[:, order]
            suffix = f"_{pose.name}" if len(poses) > 1 else ""
            if suffix in tracks:  # same name in two processing modules
                suffix = f"_{getattr(pose.parent, 'name', '')}_{pose.name}"
            tracks[suffix] = (coords, conf)
            videos.update(_pose_videos(pose))
    video = videos.pop() if len(videos) == 1 else None
    return _PoseFile(path, "nwb", bodyparts or [], tracks, video)


def _pose_videos(pose) -> list[str]:
    """Video files a PoseEstimation names: its source_video link, or original_videos."""
    source = getattr(pose, "source_video", None)
    files = getattr(source, "external_file", None) if source is not None else None
    if files is None:
        files = getattr(pose, "original_videos", None)
    return [_text(f) for f in files[:]] if files is not None else []


def _read_pose_estimation(pose, where: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    series = pose.pose_estimation_series
    skeleton = getattr(pose, "skeleton", None)
    if skeleton is not None and skeleton.nodes is not None:
        bodyparts = [_text(n) for n in skeleton.nodes[:]]
    else:
        bodyparts = list(series.keys())
    missing = [b for b in bodyparts if b not in series]
    if missing:
        raise KpcalError(f"{where}: bodypart {missing[0]!r} has no PoseEstimationSeries")
    if not bodyparts:
        raise KpcalError(f"{where} has no bodyparts")
    xy, conf = [], []
    for name in bodyparts:
        s = series[name]
        data = np.asarray(s.data[()], dtype=np.float64)
        if data.ndim != 2 or data.shape[1] not in (2, 3):
            raise KpcalError(f"{where}: series {name!r} has shape {data.shape}, not (T, 2)")
        if data.shape[1] == 3:
            raise KpcalError(
                f"{where} holds 3-D keypoints (series {name!r} is (T, 3)); "
                "error calibration works on 2-D keypoints in video frames"
            )
        if xy and len(data) != len(xy[0]):
            raise KpcalError(
                f"{where}: series {name!r} has {len(data)} frames but "
                f"{bodyparts[0]!r} has {len(xy[0])}"
            )
        c = s.confidence
        c = np.ones(len(data)) if c is None else np.asarray(c[()], dtype=np.float64)
        if c.shape != (len(data),):
            raise KpcalError(
                f"{where}: series {name!r} has {c.shape} confidences for {len(data)} frames"
            )
        xy.append(data)
        conf.append(c)
    return bodyparts, np.stack(xy, axis=1), np.stack(conf, axis=1)


# --------------------------------------------------------------------------- videos


def _resolve_stored_video(stored: str, pose_path: str) -> str:
    """The stored video path, or where it is found next to the pose file."""
    folder = os.path.dirname(os.path.abspath(pose_path))
    name = re.split(r"[\\/]", stored)[-1]
    candidates = [stored] if os.path.isabs(stored) else []
    candidates += [os.path.join(folder, stored), os.path.join(folder, name)]
    for candidate in candidates:
        if name and os.path.isfile(candidate):
            return os.path.normpath(candidate)
    return stored
