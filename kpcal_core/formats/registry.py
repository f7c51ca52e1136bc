"""The one list of pose formats kpcal reads, and detection by content.

Owns :data:`REGISTRY` (every :class:`~.model.PoseFormat`, in the order users
see them), :data:`FORMATS` (their names: ``format=`` of ``load_keypoints``,
the CLI's ``--format`` choices and the setup page's list all come from it),
:func:`get_format`, :func:`detect_format` and :func:`read_pose_file`.

Adding a format: write a module beside this one that defines ``FORMAT`` (a
name, extensions, ``recognise(probe)`` and ``read(probe, options)``), and add
it to :data:`REGISTRY`. Nothing else names formats.
"""

from __future__ import annotations

import os

from ..errors import KpcalError
from . import deeplabcut, lightning_pose, nwb, sleap
from .model import PoseFile, PoseFormat, ReadOptions
from .probe import HDF5_EXTENSIONS, FileProbe

#: Every format kpcal reads, in the order users see them.
REGISTRY: tuple[PoseFormat, ...] = (
    deeplabcut.FORMAT,
    sleap.FORMAT,
    lightning_pose.FORMAT,
    nwb.FORMAT,
)

#: The names of :data:`REGISTRY`'s formats.
FORMATS: tuple[str, ...] = tuple(f.name for f in REGISTRY)

#: Extensions searched in folders and globs, per format.
FORMAT_EXTENSIONS: dict[str, tuple[str, ...]] = {f.name: f.extensions for f in REGISTRY}

#: keypoint-MoSeq formats kpcal does not read, and why.
UNSUPPORTED_FORMATS = {
    "anipose": "anipose gives 3-D keypoints",
    "sleap-anipose": "sleap-anipose gives 3-D keypoints",
    "freipose": "FreiPose gives 3-D keypoints",
    "dannce": "DANNCE gives 3-D keypoints",
    "facemap": "Facemap files are not supported",
}

_BY_NAME = {f.name: f for f in REGISTRY}


def get_format(name: str, asked_for: object = None) -> PoseFormat:
    """The registered format called ``name`` (case and ``_``/``-`` ignored).

    Raises :class:`KpcalError` for unknown names and for keypoint-MoSeq
    formats kpcal does not read, naming ``asked_for`` (the pattern) if given.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key in _BY_NAME:
        return _BY_NAME[key]
    where = f" asked for {asked_for!r}" if asked_for is not None else ""
    if key in UNSUPPORTED_FORMATS:
        raise KpcalError(
            f"format {name!r}{where}: {UNSUPPORTED_FORMATS[key]}; "
            f"kpcal calibrates 2-D keypoints and reads {', '.join(FORMATS)}"
        )
    raise KpcalError(
        f"unknown format {name!r}{where}: choose one of {', '.join(FORMATS)}, "
        "or None to detect each file's format"
    )


def search_extensions(format: str | None, extension: str | None = None) -> tuple[str, ...]:
    """Extensions searched for ``format`` (every format's when None), or just ``extension``."""
    if extension:
        return ("." + str(extension).lstrip(".").lower(),)
    if format is not None:
        return get_format(format).extensions
    return tuple(sorted({e for f in REGISTRY for e in f.extensions}))


def _detect(probe: FileProbe) -> PoseFormat:
    """The format whose recogniser accepts the file (a variant wins over its base)."""
    path = probe.path
    if not probe.is_hdf5 and os.path.splitext(path)[1].lower() in HDF5_EXTENSIONS:
        raise KpcalError(
            f"file {path!r} is not a readable HDF5 file (damaged, truncated, or not HDF5), "
            "so it cannot be a DeepLabCut .h5, SLEAP or NWB file"
        )
    matches = [f for f in REGISTRY if f.recognise(probe)]
    bases = {f.variant_of for f in matches}
    matches = [f for f in matches if f.name not in bases]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise KpcalError(
            f"file {path!r} looks like several formats ({', '.join(f.name for f in matches)}): "
            "give the format"
        )
    if probe.is_hdf5:
        if "Facemap" in probe.h5:
            raise KpcalError(f"file {path!r} is a Facemap file, which kpcal does not read")
        raise KpcalError(
            f"HDF5 file {path!r} is not a pose file: it holds no DeepLabCut table (pandas "
            "HDF store), no SLEAP labels or tracks, and no NWB PoseEstimation"
        )
    why = f" ({probe.text_problem})" if probe.text_problem else ""
    raise KpcalError(
        f"file {path!r} is not a pose file kpcal reads{why}: a pose .csv must start with "
        "DeepLabCut's header rows 'scorer', ['individuals',] 'bodyparts', 'coords' "
        "(DeepLabCut, Lightning Pose); narrow the pattern to the pose files"
    )


def detect_format(path: str | os.PathLike) -> str:
    """Tell a pose file's format from its content.

    Parameters
    ----------
    path
        A file.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    KpcalError
        The file is missing, unreadable, or not a pose file kpcal reads (the
        message says what it looks like, e.g. 3-D sleap-anipose output).
    """
    with FileProbe(path) as probe:
        return _guarded(probe, _detect).name


def read_pose_file(path: str, format: str | None, options: ReadOptions) -> PoseFile:
    """Detect and read one file; any failure becomes a KpcalError naming it.

    ``format`` (a registered name, or None) must agree with the content: a
    format and its variants read each other's files.
    """
    with FileProbe(path) as probe:
        return _guarded(probe, lambda p: _read(p, format, options))


def _read(probe: FileProbe, format: str | None, options: ReadOptions) -> PoseFile:
    detected = _detect(probe)
    if format is not None:
        family = {detected.name, detected.variant_of}
        asked = get_format(format)
        if asked.name not in family and asked.variant_of not in family - {None}:
            raise KpcalError(
                f"file {probe.path!r} holds {detected.name} data, not {asked.name}: "
                "give the right format, or format=None to detect it"
            )
    return detected.read(probe, options)


def _guarded(probe: FileProbe, step):
    """Run ``step(probe)``; a reader library's failure becomes a KpcalError naming the file."""
    try:
        return step(probe)
    except KpcalError:
        raise
    except Exception as error:
        raise KpcalError(
            f"file {probe.path!r} cannot be read ({type(error).__name__}: {error}); "
            "it may be damaged, truncated, or not the format it looks like"
        ) from error
