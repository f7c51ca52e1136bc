"""What a pose-format reader returns: the small data model every format fills.

Owns :class:`PoseFile` (one file's bodyparts, per-track arrays, stored video
and skeleton), :class:`ReadOptions` (what a reader may be asked), and the
helpers the format modules share (:func:`text` for HDF5 strings,
:func:`track_suffixes` for keypoint-MoSeq's recording-name suffixes).

Pixel convention: every reader returns coordinates in kpcal's convention,
pixel-centre based (the centre of the top-left pixel is (0, 0), as OpenCV,
DeepLabCut and SLEAP files of format 1.1 and later); each format module says
in its docstring what its files store and what it converts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .probe import FileProbe

#: ``{suffix: (coordinates (T, K, 2), confidences (T, K))}`` of one file.
Tracks = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ReadOptions:
    """What :func:`kpcal_core.formats.load_keypoints` passes every reader.

    Attributes
    ----------
    exclude_individuals
        Multi-animal individuals to leave out (DeepLabCut's ``"single"``).
    """

    exclude_individuals: frozenset[str] = frozenset({"single"})


@dataclass
class PoseFile:
    """What a reader got from one file.

    Attributes
    ----------
    path
        The file, as found.
    format
        The registered format's name (``"deeplabcut"``, ``"sleap"``, ...).
    bodyparts
        The ``K`` bodypart names, in the order of the arrays' second axis.
    tracks
        ``{name suffix: (coordinates (T, K, 2), confidences (T, K))}``; the
        suffix (``""``, ``"_mouse1"``, ``"_track0"``, ...) follows the file's
        recording name, as keypoint-MoSeq names recordings.
    video
        The video path the file stores (as stored, possibly from another
        machine), or None.
    skeleton
        Edges stored in the file, as ``[source, destination]`` bodypart
        names; ``[]`` when the format stores none.
    labelled
        ``{name suffix: (T, K) bool}``: True where the arrays hold a point a
        person labelled, not the network (SLEAP user instances, which
        keypoint-MoSeq's arrays keep with confidence 1); only tracks that have
        one. Such points are never drawn for annotation.
    """

    path: str
    format: str
    bodyparts: list[str]
    tracks: Tracks = field(default_factory=dict)
    video: str | None = None
    skeleton: list[list[str]] = field(default_factory=list)
    labelled: dict[str, np.ndarray] = field(default_factory=dict)


def keypoint_float(values) -> np.ndarray:
    """``values`` as a float array at their stored precision.

    float32 (and narrower floats) become float32, as keypoint-MoSeq keeps
    SLEAP's arrays; anything else becomes float64. Values are unchanged.
    """
    array = np.asarray(values)
    kind = np.float32 if array.dtype.kind == "f" and array.dtype.itemsize <= 4 else np.float64
    return np.asarray(array, dtype=kind)


def text(value) -> str:
    """An HDF5 string attribute or element as ``str``."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def track_suffixes(n: int) -> list[str]:
    """keypoint-MoSeq's suffixes for ``n`` tracks: ``[""]`` for one, ``_track{i}`` otherwise."""
    return [""] if n == 1 else [f"_track{i}" for i in range(n)]


def named_edges(edges, bodyparts: list[str]) -> list[list[str]]:
    """``[[source, destination], ...]`` names from index pairs or name pairs; others dropped."""
    out = []
    for edge in edges:
        pair = [text(e) if isinstance(e, (bytes, np.bytes_, str)) else e for e in edge]
        if len(pair) != 2:
            continue
        names = [
            bodyparts[int(p)] if not isinstance(p, str) and 0 <= int(p) < len(bodyparts) else p
            for p in pair
        ]
        if all(isinstance(n, str) and n in bodyparts for n in names):
            out.append([str(n) for n in names])
    return out


@dataclass(frozen=True)
class PoseFormat:
    """One registered pose format: how to recognise its files and how to read them.

    Attributes
    ----------
    name
        The name users give (``format=`` of :func:`load_keypoints`, the
        CLI's ``--format``, the setup page's list).
    label
        A short description for people, e.g. ``"DeepLabCut (.csv, .h5)"``.
    extensions
        Extensions searched in folders and globs (lower case, with the dot).
    recognise
        ``recognise(probe) -> bool``: True if the file is of this format.
        May raise :class:`~kpcal_core.errors.KpcalError` for a file it knows
        and refuses (e.g. 3-D keypoints in this format's layout).
    read
        ``read(probe, options) -> PoseFile``.
    variant_of
        The name of a format this one is a variant of (same layout): a file
        recognised by both is detected as the variant, and either name reads it.
    """

    name: str
    label: str
    extensions: tuple[str, ...]
    recognise: Callable[[FileProbe], bool]
    read: Callable[[FileProbe, ReadOptions], PoseFile]
    variant_of: str | None = None
