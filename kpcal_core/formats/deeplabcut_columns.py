"""DeepLabCut's column layout: which columns hold each track's x, y and likelihood.

Owns the step from a DeepLabCut (or Lightning Pose) table's column labels
(``scorer``, optional ``individuals``, ``bodyparts``, ``coords``) to tracks:
:func:`track_columns` finds each bodypart's columns, :func:`split_tracks` one
recording per individual, and :func:`_gather` copies the columns into
``(T, K, 2)`` coordinates and ``(T, K)`` confidences. Used by the CSV reader
(:mod:`.deeplabcut`) and the ``.h5`` reader (:mod:`.deeplabcut_h5`).
"""

from __future__ import annotations

import numpy as np

from ..errors import KpcalError
from .model import Tracks

NAME = "deeplabcut"
_COORDS = ("x", "y", "likelihood")


def split_tracks(
    path: str,
    values: np.ndarray,
    columns: list[tuple[str, str, str]],
    multi_animal: bool,
    exclude: frozenset[str],
) -> tuple[list[str], Tracks]:
    """Split a DeepLabCut table into per-individual arrays.

    Parameters
    ----------
    path
        The file, for messages.
    values
        ``(T, C)`` float64, one column per entry of ``columns``.
    columns
        ``(individual, bodypart, coord)`` per column (individual ``""`` for
        single-animal files).
    multi_animal
        The file has an ``individuals`` level.
    exclude
        Individuals to leave out.

    Returns
    -------
    bodyparts : list of str
    tracks : dict
        ``{"" or "_{individual}": ((T, K, 2), (T, K))}``.
    """
    bodyparts, where = track_columns(path, columns, multi_animal, exclude)
    return bodyparts, {suffix: _gather(values, *cols) for suffix, cols in where.items()}


def track_columns(
    path: str,
    columns: list[tuple[str, str, str]],
    multi_animal: bool,
    exclude: frozenset[str],
) -> tuple[list[str], dict[str, tuple[list[int], list[int], list[int]]]]:
    """Where each track's coordinates are in a DeepLabCut table, checked.

    Parameters
    ----------
    path, columns, multi_animal, exclude
        As for :func:`split_tracks`.

    Returns
    -------
    bodyparts : list of str
        The ``K`` bodyparts, in the first kept individual's order.
    where : dict
        ``{"" or "_{individual}": (x, y, likelihood)}``, each the ``K``
        column numbers of that coordinate, bodyparts in order.

    Raises
    ------
    KpcalError
        3-D keypoints, a coordinate or bodypart missing, a column twice,
        individuals with different bodyparts, every individual excluded.
    """
    coords_present = {c for _, _, c in columns}
    if "z" in coords_present:
        raise KpcalError(
            f"file {path!r} holds 3-D keypoints (a 'z' coordinate, e.g. DeepLabCut 3D); "
            "error calibration works on 2-D keypoints in video frames"
        )
    for needed in _COORDS:
        if needed not in coords_present:
            extra = (
                " (a file without likelihoods is usually labelled training data, not predictions)"
                if needed == "likelihood"
                else ""
            )
            raise KpcalError(f"file {path!r} has no {needed!r} coordinate columns{extra}")
    position: dict[tuple[str, str, str], int] = {}
    for index, column in enumerate(columns):
        if column[2] not in _COORDS:
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
    where = {}
    for ind in kept:
        idx = {}
        for coord in _COORDS:
            missing = [bp for bp in bodyparts if (ind, bp, coord) not in position]
            if missing:
                who = f"individual {ind!r}, " if multi_animal else ""
                raise KpcalError(f"file {path!r}: {who}bodypart {missing[0]!r} has no {coord!r}")
            idx[coord] = [position[(ind, bp, coord)] for bp in bodyparts]
        where[f"_{ind}" if multi_animal else ""] = (idx["x"], idx["y"], idx["likelihood"])
    return bodyparts, where


def _step(indices: list[int]) -> int | None:
    """The common difference of ``indices`` (> 0), or None if they are not evenly spaced."""
    if len(indices) == 1:
        return 1
    step = indices[1] - indices[0]
    if step <= 0 or any(b - a != step for a, b in zip(indices, indices[1:], strict=False)):
        return None
    return step


def _gather(
    values: np.ndarray,
    x: list[int],
    y: list[int],
    likelihood: list[int],
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates ``(T, K, 2)`` and confidences ``(T, K)`` from a table's columns.

    Parameters
    ----------
    values
        ``(T, C)`` floats (float64 from every reader).
    x, y, likelihood
        The ``K`` columns of each coordinate, bodyparts in order.
    out
        ``(xy, conf)`` to fill (C-contiguous, ``values``' dtype); new arrays
        when None.

    Returns
    -------
    xy : ndarray
        ``(T, K, 2)``, ``values``' dtype, C-contiguous, a copy.
    conf : ndarray
        ``(T, K)``, ``values``' dtype, C-contiguous, a copy.

    Notes
    -----
    DeepLabCut's columns are ``x, y, likelihood`` per bodypart, so the ``x``
    and ``y`` columns are evenly spaced with ``y`` next to ``x``: then both
    arrays are copied from strided views of ``values`` (one pass, no index
    arrays; each ``(x, y)`` pair copied as one 16-byte item). Any other
    arrangement is gathered by index. The values are the same either way.
    """
    n_frames, n_parts = len(values), len(x)
    if out is None:
        out = (
            np.empty((n_frames, n_parts, 2), dtype=values.dtype),
            np.empty((n_frames, n_parts), dtype=values.dtype),
        )
    xy, conf = out
    step = _step(x)
    end = x[0] + (step or 0) * n_parts
    if step is not None and step >= 2 and y == [i + 1 for i in x] and end <= values.shape[1]:
        window = values[:, x[0] : end]
        if values.dtype == np.float64 and values.strides[1] == values.itemsize:
            # Each (x, y) pair as one 16-byte item: numpy copies T x K items instead
            # of T x K runs of two floats (about twice as fast, same bytes).
            pair = np.dtype(
                {"names": ["xy"], "formats": [np.complex128], "offsets": [0], "itemsize": 8 * step}
            )
            np.copyto(xy.view(np.complex128)[..., 0], window.view(pair)["xy"])
        else:
            np.copyto(xy, window.reshape(n_frames, n_parts, step)[:, :, :2])
    else:
        xy[:, :, 0] = values[:, x]
        xy[:, :, 1] = values[:, y]
    step = _step(likelihood)
    if step is not None:
        np.copyto(conf, values[:, likelihood[0] : likelihood[-1] + 1 : step])
    else:
        conf[...] = values[:, likelihood]
    return xy, conf
