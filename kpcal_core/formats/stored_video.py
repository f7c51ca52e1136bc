"""Where the video a pose file stores is on this machine (paths only, no video is opened).

Owns :func:`stored_video_near` and :func:`find_stored_video`: SLEAP and NWB
files store the path of the video the network ran on, often written on
another machine. Such a path is looked for as written (absolute, or relative
to the pose file's folder), then by its file name beside the pose file.
:func:`file_name` reads the file name of a path written on Windows or POSIX.

On a shared server (``KPCAL_DATA_ROOT``) every candidate is checked against
the root before it is even looked at (:func:`kpcal_core.paths.refusal`); one
that leads outside is not used, and the caller gets the sentence saying why.
Which video a recording finally uses is decided by
:func:`kpcal_core.video.match.resolve_videos`, which calls this module.
"""

from __future__ import annotations

import os
import re

from ..paths import refusal

#: The rule names of the two ways a stored path is found here
#: (two of :data:`kpcal_core.video.match.RULES`).
STORED_PATH = "stored path"
STORED_NAME_BESIDE_KEYPOINTS = "stored name beside keypoint file"


def file_name(stored: str) -> str:
    """The file name of a stored path written on Windows or POSIX."""
    return re.split(r"[\\/]", stored)[-1]


def find_stored_video(
    stored: str,
    keypoint_file: str | os.PathLike | None,
    project: str | os.PathLike | None = None,
) -> tuple[tuple[str, str] | None, list[str]]:
    """:func:`stored_video_near`, and the sentences of candidates refused outside the data root.

    Returns
    -------
    found : (path, rule) or None
        As :func:`stored_video_near` returns it.
    refused : list of str
        One sentence per candidate not looked at because it leads outside the data root.
    """
    name = file_name(stored)
    if not name:
        return None, []
    folder = os.path.dirname(os.path.abspath(keypoint_file)) if keypoint_file else None
    candidates = [stored] if os.path.isabs(stored) or folder is None else []
    if folder is not None and not os.path.isabs(stored):
        candidates.append(os.path.join(folder, stored))
    refused = []
    for candidate in candidates:
        why = refusal(candidate, what="video path", source=keypoint_file, project=project)
        if why is not None:  # never looked at: not even whether it exists
            refused.append(f"Stored video outside the data folder, not used: {why}.")
        elif os.path.isfile(candidate):
            return (os.path.normpath(candidate), STORED_PATH), refused
    beside = os.path.join(folder, name) if folder is not None else None
    if beside is not None and refusal(beside, project=project) is None and os.path.isfile(beside):
        return (os.path.normpath(beside), STORED_NAME_BESIDE_KEYPOINTS), refused
    return None, refused


def stored_video_near(
    stored: str,
    keypoint_file: str | os.PathLike | None,
    *,
    project: str | os.PathLike | None = None,
) -> tuple[str, str] | None:
    """Find a stored video path: as written, else by its name beside the keypoint file.

    Parameters
    ----------
    stored
        The video path a pose file stores.
    keypoint_file
        That pose file (for relative paths and its folder), or None.
    project
        The project (with a data root, its folder is allowed when it lies
        outside the root, see :func:`kpcal_core.paths.allowed_areas`).

    Returns
    -------
    (path, rule) or None
        The existing file and :data:`STORED_PATH` or
        :data:`STORED_NAME_BESIDE_KEYPOINTS`; None when neither exists (or, with
        a data root, neither leads inside it).
    """
    return find_stored_video(stored, keypoint_file, project)[0]
