"""DeepLabCut output files: ``.csv`` and ``.h5``, single- and multi-animal.

Owns the ``deeplabcut`` format and the reader of DeepLabCut's table layout,
which Lightning Pose's CSV shares (:mod:`.lightning_pose` reuses
:func:`read_csv`).

Recognised by content:

- ``.csv``: header rows ``scorer``, optional ``individuals``, ``bodyparts``,
  ``coords``, then one row per frame (the first field is the frame index);
- ``.h5``: a pandas HDF store (PyTables) holding one DataFrame with the same
  column levels (DeepLabCut's key is ``df_with_missing``). Before pandas reads
  it, :func:`~kpcal_core.formats.pickle_guard.refuse_pickles` checks it holds
  no pickle that runs code.

Multi-animal files give one recording per individual (suffix
``_{individual}``), leaving out ``ReadOptions.exclude_individuals``.
Columns other than ``x``, ``y``, ``likelihood`` (e.g. Lightning Pose's
ensemble variances) are ignored; a ``z`` column is refused (3-D).

Pixel convention: DeepLabCut stores pixel-centre coordinates (the centre of
the top-left pixel is (0, 0)), kpcal's convention: values are returned as
stored, float64.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd

from ..errors import KpcalError
from .model import PoseFile, PoseFormat, ReadOptions, Tracks
from .pickle_guard import refuse_pickles
from .probe import FileProbe, csv_header

NAME = "deeplabcut"
_COORDS = ("x", "y", "likelihood")


# --------------------------------------------------------------------------- recognising


def header_levels(header: list[list[str]]) -> list[str] | None:
    """Level names of a DeepLabCut-style CSV header, or None if it is not one."""
    firsts = [row[0].strip().lower() if row else "" for row in header]
    for levels in (
        ["scorer", "bodyparts", "coords"],
        ["scorer", "individuals", "bodyparts", "coords"],
    ):
        if firsts[: len(levels)] == levels:
            return levels
    return None


def _has_pandas_group(probe: FileProbe) -> bool:
    hits = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and "pandas_type" in obj.attrs:
            hits.append(name)
            return True  # stop
        return None

    probe.h5.visititems(visit)
    return bool(hits)


def recognise(probe: FileProbe) -> bool:
    """A pandas HDF store, or a CSV with DeepLabCut's header rows."""
    if probe.is_hdf5:
        return _has_pandas_group(probe)
    return header_levels(probe.header) is not None


# --------------------------------------------------------------------------- reading


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
    tracks = {}
    for ind in kept:
        idx = {}
        for coord in _COORDS:
            missing = [bp for bp in bodyparts if (ind, bp, coord) not in position]
            if missing:
                who = f"individual {ind!r}, " if multi_animal else ""
                raise KpcalError(f"file {path!r}: {who}bodypart {missing[0]!r} has no {coord!r}")
            idx[coord] = [position[(ind, bp, coord)] for bp in bodyparts]
        xy = np.stack((values[:, idx["x"]], values[:, idx["y"]]), axis=-1)
        conf = np.ascontiguousarray(values[:, idx["likelihood"]])
        tracks[f"_{ind}" if multi_animal else ""] = (xy, conf)
    return bodyparts, tracks


def read_csv(probe: FileProbe, options: ReadOptions, format: str = NAME) -> PoseFile:
    """DeepLabCut / Lightning Pose CSV: header rows, then one row per frame."""
    path = probe.path
    header = csv_header(path)
    levels = header_levels(header)
    if levels is None:  # recognised as another format's; be safe
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
    wanted = [j for j, column in enumerate(columns) if column[2] in (*_COORDS, "z")]
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
    bodyparts, tracks = split_tracks(path, values, columns, multi, options.exclude_individuals)
    return PoseFile(path, format, bodyparts, tracks)


def _read_h5(probe: FileProbe, options: ReadOptions) -> PoseFile:
    """DeepLabCut .h5: a pandas HDF store holding one MultiIndex-column DataFrame."""
    path = probe.path
    refuse_pickles(probe.h5, path)
    probe.close()  # PyTables opens the file itself
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
    bodyparts, tracks = split_tracks(
        path, values, columns, i_ind is not None, options.exclude_individuals
    )
    return PoseFile(path, NAME, bodyparts, tracks)


def read(probe: FileProbe, options: ReadOptions) -> PoseFile:
    """Read a DeepLabCut ``.h5`` or ``.csv`` (chosen by content)."""
    return _read_h5(probe, options) if probe.is_hdf5 else read_csv(probe, options)


FORMAT = PoseFormat(
    name=NAME,
    label="DeepLabCut (.csv, .h5; multi-animal too)",
    extensions=(".csv", ".h5", ".hdf5"),
    recognise=recognise,
    read=read,
)
