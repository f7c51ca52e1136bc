"""Finding keypoint files: patterns, extensions, recording names, duplicates.

Owns :func:`list_files` (a file, a folder, a glob, or a list of them),
:func:`recording_name` (keypoint-MoSeq's rule for a file's recording name)
and :func:`choose_duplicates`, which notices files that are one network's
output for one video saved more than once (DeepLabCut writes
``VIDEODLC_..._N.h5``, a ``.csv`` copy, and ``..._Nfiltered.h5``/``.csv``
after filtering) and keeps one of each group.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import KpcalError
from ..paths import MAX_SEARCHED, check_no_link_out

#: Choices of :func:`choose_duplicates`.
DUPLICATE_CHOICES = ("unfiltered", "filtered", "all")

# DeepLabCut's filtered outputs: "<scorer>filtered" (the scorer ends in its iteration
# number) or "..._filtered".
_FILTERED = re.compile(r"(?:_filtered|(?<=\d)filtered)$", re.IGNORECASE)
# Preferred storage of one output: the .h5 DeepLabCut writes first, then its .csv copy.
_EXTENSION_RANK = {".h5": 0, ".hdf5": 0, ".slp": 0, ".nwb": 0, ".csv": 1}


def list_files(pattern, extensions: tuple[str, ...], recursive: bool) -> list[str]:
    """Files named by ``pattern`` (file, folder, glob, or a list), sorted, without repeats.

    A file named explicitly is kept whatever its extension; folders and globs
    keep files with one of ``extensions`` (case-insensitive).

    With a data root (``KPCAL_DATA_ROOT``), a file found inside it that a
    symbolic link leads out of it (the file itself, or a folder on its way,
    searched recursively or not) is refused before anything reads it
    (:func:`kpcal_core.paths.check_no_link_out`); links whose target is inside
    the root are followed.

    Raises
    ------
    KpcalError
        ``pattern`` is not a path or a list of them; a search holds more than
        :data:`~kpcal_core.paths.MAX_SEARCHED` entries; a file found leads out
        of the data root.
    """
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
        check_no_link_out(candidate, what="keypoint file")
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
                    found_below = glob.iglob(os.path.join(glob.escape(match), "**"), recursive=True)
                    for entry in found_below:
                        matches.append(entry)
                        if len(matches) > MAX_SEARCHED:  # e.g. "/" or a whole disk typed
                            raise KpcalError(
                                f"the keypoint path {text!r} holds more than {MAX_SEARCHED:,} "
                                "files and folders: give the folder that holds the keypoint "
                                "files (or a glob such as 'folder/*.h5')"
                            )
        for match in matches:
            if os.path.splitext(match)[1].lower() in extensions and os.path.isfile(match):
                add(match)
    return sorted(found.values())


def describe_pattern(pattern) -> str:
    """``pattern`` for a message."""
    if isinstance(pattern, (str, os.PathLike)):
        return repr(os.fspath(pattern))
    return repr([os.fspath(p) for p in pattern])


def recording_name(path: str, path_in_name: bool, path_sep: str, remove_extension: bool) -> str:
    """keypoint-MoSeq's rule for a file's recording name."""
    if remove_extension:
        path = os.path.splitext(path)[0]
    if path_in_name:
        return path.replace(os.path.sep, path_sep)
    return os.path.basename(path)


def is_filtered(path: str) -> bool:
    """True for DeepLabCut's filtered output (``...filtered.h5``, ``..._filtered.csv``)."""
    return bool(_FILTERED.search(os.path.splitext(os.path.basename(path))[0]))


def output_key(path: str) -> str:
    """What a file is an output for: its folder and name without extension and ``filtered``.

    Outputs for one video stand in one folder (DeepLabCut writes them side by
    side); files of the same name in different folders are different recordings.
    """
    folder, name = os.path.split(os.path.splitext(path)[0])
    return os.path.join(folder, _FILTERED.sub("", name))


@dataclass(frozen=True)
class DuplicateGroup:
    """Files that are outputs for one video, and the one kept.

    Attributes
    ----------
    key
        What they are outputs for (:func:`output_key`: folder and name without
        ``filtered`` and extension).
    files
        Every file of the group, sorted.
    kept
        The files kept (one, or all with ``duplicates="all"``).
    """

    key: str
    files: tuple[str, ...]
    kept: tuple[str, ...]

    @property
    def left_out(self) -> tuple[str, ...]:
        """The files of the group that are not loaded, in the group's order."""
        return tuple(f for f in self.files if f not in self.kept)

    def message(self, duplicates: str) -> str:
        """A sentence for the user, in words (no setting's code name)."""
        names = ", ".join(os.path.basename(f) for f in self.files)
        change = (
            "To load them differently, change \u201cSeveral outputs of one video\u201d on the "
            "setup page (on the command line: --duplicates)."
        )
        if not self.left_out:
            return (
                f"{len(self.files)} files are outputs for the same video: {names}. All of them "
                f"are loaded, each as a recording of its own. {change}"
            )
        kept = ", ".join(os.path.basename(f) for f in self.kept)
        which = {"unfiltered": "the unfiltered output", "filtered": "the filtered output"}
        kind = which.get(duplicates, "one output")
        return (
            f"{len(self.files)} files are outputs for the same video: {names}. Only {kept} is "
            f"loaded (one file per video, {kind} where there is one). {change}"
        )


def choose_duplicates(
    paths: Sequence[str], duplicates: str = "unfiltered"
) -> tuple[list[str], list[DuplicateGroup]]:
    """Keep one file per video among outputs saved more than once.

    Files are grouped by :func:`output_key` (same folder, same name without
    extension and DeepLabCut's ``filtered``). In a group of two or more,
    ``"unfiltered"`` keeps the unfiltered output, ``"filtered"`` the filtered
    one (each falling back to the other kind when absent), ``.h5`` before
    ``.csv``; ``"all"`` keeps every file.

    Parameters
    ----------
    paths
        The files found, sorted.
    duplicates
        One of :data:`DUPLICATE_CHOICES`.

    Returns
    -------
    kept : list of str
        The files to read, in the order of ``paths``.
    groups : list of DuplicateGroup
        Each group of two or more files.
    """
    if duplicates not in DUPLICATE_CHOICES:
        raise KpcalError(
            f"duplicates must be one of {', '.join(DUPLICATE_CHOICES)}, not {duplicates!r}"
        )
    by_key: dict[str, list[str]] = {}
    for path in paths:
        by_key.setdefault(output_key(path), []).append(path)
    want_filtered = duplicates == "filtered"
    groups: list[DuplicateGroup] = []
    dropped: set[str] = set()
    for key, files in by_key.items():
        if len(files) < 2:
            continue
        if duplicates == "all":
            kept = tuple(files)
        else:
            best = min(
                files,
                key=lambda f: (
                    is_filtered(f) != want_filtered,
                    _EXTENSION_RANK.get(os.path.splitext(f)[1].lower(), 2),
                    f,
                ),
            )
            kept = (best,)
        group = DuplicateGroup(key, tuple(files), kept)
        dropped.update(group.left_out)
        groups.append(group)
    return [p for p in paths if p not in dropped], groups
