"""DeepLabCut output files: ``.csv`` and ``.h5``, single- and multi-animal.

Owns the ``deeplabcut`` format and the reader of DeepLabCut's table layout,
which Lightning Pose's CSV shares (:mod:`.lightning_pose` reuses
:func:`read_csv`).

Recognised by content:

- ``.csv``: header rows ``scorer``, optional ``individuals``, ``bodyparts``,
  ``coords``, then one row per frame (the first field is the frame index);
- ``.h5``: a pandas HDF store (PyTables) holding one DataFrame with the same
  column levels (DeepLabCut's key is ``df_with_missing``). Before anything
  reads it, :func:`~kpcal_core.formats.pickle_guard.refuse_pickles` checks it
  holds no pickle that runs code.

How an ``.h5`` is read: DeepLabCut writes pandas' "table" format, a PyTables
table (an HDF5 compound dataset ``{key}/table``) whose rows hold the row index
and one block of float columns (``values_block_0``), with the column labels
in the pickled attributes ``non_index_axes`` (the frame's column order),
``values_block_0_kind`` (the block's order) and ``info`` (the level names).
:func:`_read_table_directly` finds that table with h5py (the file is already
open for the safety check) and reads its labels with an unpickler that may
build only plain containers, numbers and strings, and :func:`_read_rows`
copies the block into the tracks' arrays a few thousand rows at a time; every
other layout (pandas' "fixed" format, several blocks, a row MultiIndex,
labels that are not as expected) is read by ``pandas.HDFStore`` as before.
Both give identical arrays.

Multi-animal files give one recording per individual (suffix
``_{individual}``), leaving out ``ReadOptions.exclude_individuals``.
Columns other than ``x``, ``y``, ``likelihood`` (e.g. Lightning Pose's
ensemble variances) are ignored; a ``z`` column is refused (3-D).

Pixel convention: DeepLabCut stores pixel-centre coordinates (the centre of
the top-left pixel is (0, 0)), kpcal's convention: values are returned as
stored, float64.
"""

from __future__ import annotations

import io
import pickle

import h5py
import numpy as np
import pandas as pd

from ..errors import KpcalError
from .model import PoseFile, PoseFormat, ReadOptions, Tracks
from .pickle_guard import refuse_pickles
from .probe import FileProbe, csv_header

NAME = "deeplabcut"
_COORDS = ("x", "y", "likelihood")
#: Read DeepLabCut's usual ``.h5`` layout without pandas (False: always through
#: ``pandas.HDFStore``, e.g. to compare the two in a benchmark).
READ_DIRECTLY = True


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


def _column_levels(
    path: str, key: str, level_names, labels
) -> tuple[list[tuple[str, str, str]], bool]:
    """``(individual, bodypart, coord)`` per column from a table's MultiIndex labels.

    Parameters
    ----------
    path, key
        The file and its table, for messages.
    level_names
        The column levels' names (None for unnamed levels).
    labels
        One tuple per column, one entry per level.

    Returns
    -------
    columns : list of (individual, bodypart, coord)
        Individual ``""`` for single-animal files.
    multi_animal : bool
        The labels have an individuals level.
    """
    names = [str(n).lower() if n is not None else None for n in level_names]
    nlevels = len(names)
    if "bodyparts" in names and "coords" in names:
        i_bp, i_coord = names.index("bodyparts"), names.index("coords")
        i_ind = names.index("individuals") if "individuals" in names else None
    elif nlevels in (3, 4):
        i_bp, i_coord = nlevels - 2, nlevels - 1
        i_ind = 1 if nlevels == 4 else None
    else:
        raise KpcalError(
            f"file {path!r}: table {key!r} has column levels {list(level_names)}, "
            "not DeepLabCut's scorer/[individuals/]bodyparts/coords"
        )
    columns = [
        (str(c[i_ind]) if i_ind is not None else "", str(c[i_bp]), str(c[i_coord])) for c in labels
    ]
    return columns, i_ind is not None


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles only what needs no import: containers, numbers, strings, None."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused to import {module}.{name}")


def _plain_attr(attrs, name: str):
    """A pickled PyTables attribute as plain Python data; raises LookupError if it is not."""
    if name not in attrs:
        raise LookupError(name)
    raw = attrs[name]
    if not isinstance(raw, (bytes, np.bytes_)):
        raise LookupError(name)
    try:
        return _PlainUnpickler(io.BytesIO(bytes(raw))).load()
    except Exception as error:  # not a plain pickle: let pandas decide
        raise LookupError(name) from error


def _plain_text(attrs, name: str) -> str | None:
    value = attrs.get(name)
    return (
        bytes(value).decode("utf-8", "replace") if isinstance(value, (bytes, np.bytes_)) else None
    )


def _pandas_keys(handle: h5py.File) -> list[str]:
    """Groups that hold a pandas object (what ``HDFStore.keys()`` lists), as ``/name``."""
    keys = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and "pandas_type" in obj.attrs:
            keys.append("/" + name)

    handle.visititems(visit)
    return keys


def _read_table_directly(probe: FileProbe) -> tuple[str, list, list, h5py.Dataset] | None:
    """DeepLabCut's usual layout read without pandas; None for any other layout.

    The usual layout: pandas' ``frame_table`` under one key (or
    ``df_with_missing`` among several), row index ``index`` only, no data
    columns, one block ``values_block_0`` of floats holding every column in
    the frame's order, MultiIndex column labels.

    Returns
    -------
    key : str
    level_names : list
        The column levels' names.
    labels : list of tuple
        One ``(scorer, [individual,] bodypart, coord)`` per column.
    table : h5py.Dataset
        The ``(T,)`` table; :func:`_read_rows` reads it.
    """
    handle = probe.h5
    usual = handle.get("df_with_missing")
    if isinstance(usual, h5py.Group) and "pandas_type" in usual.attrs:
        key = "/df_with_missing"  # pandas' choice whether it is the only table or not
    else:
        keys = _pandas_keys(handle)
        if len(keys) != 1:
            return None
        key = keys[0]
    group = handle[key]
    if not isinstance(group, h5py.Group) or not isinstance(group.get("table"), h5py.Dataset):
        return None
    table = group["table"]
    attrs = group.attrs
    if (
        _plain_text(attrs, "pandas_type") != "frame_table"
        or _plain_text(attrs, "table_type") != "appendable_frame"
    ):
        return None
    try:
        values_cols = _plain_attr(attrs, "values_cols")
        data_columns = _plain_attr(attrs, "data_columns")
        index_cols = _plain_attr(attrs, "index_cols")
        non_index_axes = _plain_attr(attrs, "non_index_axes")
        info = _plain_attr(attrs, "info")
        block_labels = _plain_attr(table.attrs, "values_block_0_kind")
    except LookupError:
        return None
    if values_cols != ["values_block_0"] or data_columns != [] or len(index_cols) != 1:
        return None
    if not (isinstance(non_index_axes, list) and len(non_index_axes) == 1):
        return None
    axis, labels = non_index_axes[0]
    if axis != 1 or not isinstance(labels, list) or labels != block_labels:
        return None
    if not labels or not all(isinstance(c, tuple) and len(c) == len(labels[0]) for c in labels):
        return None
    column_info = info.get(1) if isinstance(info, dict) else None
    if not isinstance(column_info, dict) or column_info.get("type") != "MultiIndex":
        return None
    level_names = column_info.get("names")
    if not isinstance(level_names, list) or len(level_names) != len(labels[0]):
        return None
    dtype = table.dtype
    if table.ndim != 1 or dtype.names is None or "values_block_0" not in dtype.names:
        return None
    block = dtype.fields["values_block_0"][0]
    if block.subdtype is None or block.subdtype[0].kind != "f":
        return None
    if block.subdtype[1] != (len(labels),):
        return None
    return key, level_names, labels, table


def _read_h5(probe: FileProbe, options: ReadOptions) -> PoseFile:
    """DeepLabCut .h5: a pandas HDF store holding one MultiIndex-column DataFrame."""
    path = probe.path
    refuse_pickles(probe.h5, path)
    direct = _read_table_directly(probe) if READ_DIRECTLY else None
    if direct is not None:
        key, level_names, labels, table = direct
        columns, multi = _column_levels(path, key, level_names, labels)
        bodyparts, where = track_columns(path, columns, multi, options.exclude_individuals)
        return PoseFile(path, NAME, bodyparts, _read_rows(table, where, len(bodyparts)))
    key, level_names, labels, values = _read_with_pandas(probe)
    columns, multi = _column_levels(path, key, level_names, labels)
    bodyparts, tracks = split_tracks(path, values, columns, multi, options.exclude_individuals)
    return PoseFile(path, NAME, bodyparts, tracks)


#: Rows of a DeepLabCut table read at a time (a few MB, reused for every block).
ROWS_PER_READ = 4096


def _read_rows(table: h5py.Dataset, where: dict, n_parts: int) -> Tracks:
    """Each track's arrays from a table in DeepLabCut's usual layout, read in blocks of rows.

    Parameters
    ----------
    table
        The ``(T,)`` compound table (``index``, ``values_block_0`` of ``C`` floats).
    where
        ``{suffix: (x, y, likelihood)}`` column numbers, from :func:`track_columns`.
    n_parts
        ``K``.

    Returns
    -------
    dict
        ``{suffix: ((T, K, 2), (T, K))}``, float64.

    Notes
    -----
    Whole rows are read as stored (no type conversion by HDF5, which reading
    the block's field alone would do, more slowly) into one buffer of at most
    :data:`ROWS_PER_READ` rows (whole HDF5 chunks), and each block is copied
    into the tracks' arrays: the file's ``(T, C)`` table is never held whole.
    """
    n_frames = table.shape[0]
    tracks = {
        suffix: (np.empty((n_frames, n_parts, 2)), np.empty((n_frames, n_parts)))
        for suffix in where
    }
    step = ROWS_PER_READ
    if table.chunks and table.chunks[0] <= ROWS_PER_READ:  # whole chunks: HDF5 copies them once
        step -= ROWS_PER_READ % table.chunks[0]
    buffer = np.empty(min(n_frames, step), dtype=table.dtype)
    for start in range(0, n_frames, step):
        stop = min(n_frames, start + step)
        rows = buffer[: stop - start]
        table.read_direct(rows, np.s_[start:stop], np.s_[0 : stop - start])
        values = rows["values_block_0"].astype(np.float64, copy=False)
        for suffix, (x, y, likelihood) in where.items():
            xy, conf = tracks[suffix]
            _gather(values, x, y, likelihood, out=(xy[start:stop], conf[start:stop]))
    return tracks


def _read_with_pandas(probe: FileProbe) -> tuple[str, list, list, np.ndarray]:
    """Any pandas HDF store, read by pandas: ``(key, level names, column labels, (T, C) float64)``."""
    path = probe.path
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
    try:
        values = frame.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise KpcalError(f"file {path!r}: table {key!r} holds non-numeric values") from error
    return key, list(frame.columns.names), list(frame.columns), values


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
