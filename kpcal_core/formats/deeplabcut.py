"""DeepLabCut output files: ``.csv`` and ``.h5``, single- and multi-animal.

Owns the ``deeplabcut`` format and the reader of DeepLabCut's table layout,
which Lightning Pose's CSV shares (:mod:`.lightning_pose` reuses
:func:`read_csv`).

Recognised by content:

- ``.csv``: header rows ``scorer``, optional ``individuals``, ``bodyparts``,
  ``coords``, then one row per frame (the first field is the frame index);
- ``.h5``: a pandas HDF store holding one DataFrame with the same column
  levels (DeepLabCut's key is ``df_with_missing``).

How an ``.h5`` is read: with h5py only; pandas and PyTables never open it
(PyTables unpickles attributes, which can run code). Every HDF5 file is first
checked by :func:`~kpcal_core.formats.pickle_guard.check_hdf5_file` (in the
probe). The table is found under ``df_with_missing`` (or the store's only
pandas key) in either of pandas' layouts:

- "table" (``pandas_type`` ``frame_table``, what DeepLabCut writes): an HDF5
  compound dataset ``{key}/table`` whose rows hold the row index and one or
  more blocks of numbers (``values_block_{i}``), with the column labels in
  pickled attributes (``non_index_axes``: the frame's column order;
  ``values_block_{i}_kind``: each block's; ``info``: the level names);
- "fixed" (``pandas_type`` ``frame``): the column labels as levels and codes
  (``axis0_level{i}``, ``axis0_label{i}``), and one ``(T, n)`` dataset per
  block (``block{i}_values``, labelled by ``block{i}_items``); the row index
  (``axis1``, a MultiIndex for labelled data) is not needed and not read.

Pickled labels are decoded by an unpickler that refuses every import (it
builds only containers, numbers and strings). Any other layout, or values
that are not numbers, is refused with a :class:`KpcalError` saying what
differs. :func:`_read_rows` copies the blocks into the tracks' arrays a few
thousand rows at a time, so the table is never held whole. Sizes are checked
against :mod:`kpcal_core.limits` before anything is allocated: columns, and
frames x bodyparts x individuals; CSV files are measured (lines, longest
line) before pandas reads them.

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
from dataclasses import dataclass

import h5py
import numpy as np
import pandas as pd

from .. import limits
from ..errors import KpcalError
from .model import PoseFile, PoseFormat, ReadOptions, Tracks
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
    bodyparts, where = track_columns(path, columns, multi, options.exclude_individuals)
    n_rows, whole = _count_rows(path, len(levels), len(bodyparts) * len(where))
    limits.check(
        "keypoint_values",
        n_rows * len(bodyparts) * len(where),
        f"file {path!r}",
        f"it has {'' if whole else 'at least '}{n_rows:,} rows x {len(bodyparts)} bodyparts x "
        f"{len(where)} individuals = {'' if whole else 'at least '}",
    )
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


#: Bytes of a CSV read at a time while its lines are counted.
_COUNT_BLOCK = 1024**2


def _count_rows(path: str, n_header: int, values_per_row: int) -> tuple[int, bool]:
    """The data rows of a CSV (lines after the header), measured before pandas reads it.

    Streams the file once, a block at a time, and stops as soon as a line is
    longer than the ``csv_line_bytes`` limit (refused here) or the rows hold
    more than ``keypoint_values`` (refused by the caller): pandas then
    allocates only what the limits allow.

    Parameters
    ----------
    path
        The CSV.
    n_header
        Its header lines.
    values_per_row
        Keypoint values a row holds (bodyparts x individuals kept).

    Returns
    -------
    rows : int
        Data rows (a lower bound when ``whole`` is False).
    whole : bool
        False when counting stopped early, at more rows than the limit allows.
    """
    longest = limits.limit("csv_line_bytes")
    most_rows = limits.limit("keypoint_values") // max(1, values_per_row) + n_header
    lines = current = 0  # whole lines; bytes of the line being read
    try:
        with open(path, "rb") as handle:
            while block := handle.read(_COUNT_BLOCK):
                ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 0x0A)
                if len(ends):
                    first = current + int(ends[0]) + 1
                    inner = int(np.diff(ends).max()) if len(ends) > 1 else 0
                    current = len(block) - int(ends[-1]) - 1
                    line = max(first, inner)
                else:
                    current += len(block)
                    line = 0
                lines += len(ends)
                if max(line, current) > longest:
                    limits.check(
                        "csv_line_bytes",
                        max(line, current),
                        f"file {path!r}",
                        f"a line near line {lines + 1:,} is at least ",
                    )
                if lines > most_rows:
                    return lines - n_header, False  # the caller refuses it
    except OSError as error:
        raise KpcalError(f"file {path!r} cannot be read: {error.strerror or error}") from None
    return max(0, lines + (current > 0) - n_header), True


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


# --------------------------------------------------------------------------- .h5 with h5py


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles only what needs no import: containers, numbers, strings, None."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused to import {module}.{name}")


class _Layout(Exception):
    """The store is not in a layout this reader knows (the message says what differs)."""


_PLAIN_LABEL = (str, int, float, type(None))


def _raw_bytes(value) -> bytes | None:
    """An attribute's value as bytes when it is a string (fixed or variable length)."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return None


def _plain_attr(attrs, name: str, where: str):
    """A pickled PyTables attribute as plain Python data (never importing anything)."""
    raw = _raw_bytes(attrs.get(name)) if name in attrs else None
    if raw is None:
        raise _Layout(f"{where} has no pickled attribute {name!r}")
    try:
        return _PlainUnpickler(io.BytesIO(raw)).load()
    except Exception:
        raise _Layout(f"attribute {name!r} of {where} is not plain data") from None


def _attr_text(attrs, name: str) -> str | None:
    """A string attribute as text (None when absent or not a string)."""
    raw = _raw_bytes(attrs.get(name)) if name in attrs else None
    return raw.decode("utf-8", "replace") if raw is not None else None


def _attr_int(attrs, name: str, where: str) -> int:
    value = attrs.get(name)
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise _Layout(f"{where} has no whole-number attribute {name!r}")
    return int(value)


def _name_attr(attrs):
    """A level's name as pandas stores it: text, or a pickle of None or a number."""
    raw = _raw_bytes(attrs.get("name")) if "name" in attrs else None
    if raw is None:
        return None
    if raw.endswith(b"."):
        try:
            value = _PlainUnpickler(io.BytesIO(raw)).load()
        except Exception:
            pass
        else:
            if isinstance(value, _PLAIN_LABEL):
                return value
    return raw.decode("utf-8", "replace")


def _pandas_keys(handle: h5py.File) -> list[str]:
    """Groups that hold a pandas object (what ``HDFStore.keys()`` lists), as ``/name``."""
    keys = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and "pandas_type" in obj.attrs:
            keys.append("/" + name)

    handle.visititems(visit)
    return keys


def _choose_key(handle: h5py.File, path: str) -> str:
    """DeepLabCut's ``df_with_missing``, or the store's only pandas key (as pandas chooses)."""
    usual = handle.get("df_with_missing")
    if isinstance(usual, h5py.Group) and "pandas_type" in usual.attrs:
        return "/df_with_missing"
    keys = _pandas_keys(handle)
    if len(keys) == 1:
        return keys[0]
    if not keys:
        raise KpcalError(f"file {path!r} holds no pandas table")
    raise KpcalError(
        f"file {path!r} holds several pandas tables {keys} and none is DeepLabCut's "
        "'df_with_missing'"
    )


def _check_numbers(dtype: np.dtype, path: str, key: str) -> None:
    if dtype.kind not in "fiub" or dtype.itemsize > 8:
        raise KpcalError(f"file {path!r}: table {key!r} holds non-numeric values ({dtype})")


def _small_array(group: h5py.Group, name: str, path: str) -> np.ndarray:
    """A dataset of the store's labels read whole, after checking what it declares."""
    dataset = group.get(name)
    where = f"{group.name}/{name}"
    if not isinstance(dataset, h5py.Dataset) or dataset.ndim != 1:
        raise _Layout(f"{where} is missing or not a list")
    if dataset.dtype.kind not in "fiuS":
        raise _Layout(f"{where} holds {dataset.dtype} values, not names or numbers")
    limits.check("columns", dataset.shape[0], f"file {path!r}", f"{where} declares ")
    limits.check(
        "hdf5_metadata_bytes",
        dataset.shape[0] * dataset.dtype.itemsize,
        f"file {path!r}",
        f"{where} declares ",
    )
    return dataset[()]


@dataclass
class _Store:
    """A DeepLabCut table found in a pandas HDF store, to be read a block of rows at a time.

    Attributes
    ----------
    key
        The pandas key (``/df_with_missing``).
    level_names
        The column levels' names.
    labels
        One tuple per column of the frame, in the frame's order.
    n_rows
        ``T``.
    blocks
        ``(dataset, field, columns)``: where each block's values are (a field
        of the table's compound rows, or a whole ``(T, n)`` dataset when
        ``field`` is None) and the frame columns they fill, in block order.
    """

    key: str
    level_names: list
    labels: list[tuple]
    n_rows: int
    blocks: list[tuple[h5py.Dataset, str | None, list[int]]]


def _frame_table(group: h5py.Group, key: str, path: str) -> _Store:
    """pandas' "table" format: a compound table, labels in pickled attributes."""
    attrs, where = group.attrs, f"table {key!r}"
    if _attr_text(attrs, "table_type") != "appendable_frame":
        raise _Layout(f"{where} is a {_attr_text(attrs, 'table_type')!r} table, not a frame")
    table = group.get("table")
    if not isinstance(table, h5py.Dataset) or table.ndim != 1 or table.dtype.names is None:
        raise _Layout(f"{where} has no table of rows")
    values_cols = _plain_attr(attrs, "values_cols", where)
    data_columns = _plain_attr(attrs, "data_columns", where)
    index_cols = _plain_attr(attrs, "index_cols", where)
    non_index_axes = _plain_attr(attrs, "non_index_axes", where)
    info = _plain_attr(attrs, "info", where)
    if data_columns != [] or not isinstance(index_cols, list) or len(index_cols) != 1:
        raise _Layout(f"{where} has data columns or a row index of several columns")
    n_blocks = len(values_cols) if isinstance(values_cols, list) else 0
    if not n_blocks or values_cols != [f"values_block_{i}" for i in range(n_blocks)]:
        raise _Layout(f"{where} names its value blocks {values_cols!r}")
    if not (
        isinstance(non_index_axes, list)
        and len(non_index_axes) == 1
        and isinstance(non_index_axes[0], (tuple, list))
        and len(non_index_axes[0]) == 2
    ):
        raise _Layout(f"{where} has no column labels")
    axis, labels = non_index_axes[0]
    if axis != 1 or not isinstance(labels, list) or not labels:
        raise _Layout(f"{where} has no column labels")
    limits.check("columns", len(labels), f"file {path!r}", f"{where} has ")
    column_info = info.get(1) if isinstance(info, dict) else None
    if not isinstance(column_info, dict) or not isinstance(column_info.get("names"), list):
        raise _Layout(f"{where}'s columns are not described")
    if column_info.get("type") != "MultiIndex":  # one level: refused by its name below
        labels = [(label,) for label in labels]
    _check_labels(labels, where)
    level_names = column_info.get("names")
    if not isinstance(level_names, list) or len(level_names) != len(labels[0]):
        raise _Layout(f"{where}'s column level names do not match its labels")
    blocks, fields_bytes = [], 0
    for i, field in enumerate(values_cols):
        if field not in table.dtype.names:
            raise _Layout(f"{where} has no field {field!r}")
        block_labels = _plain_attr(table.attrs, f"{field}_kind", where)
        if not isinstance(block_labels, list):
            raise _Layout(f"{where}: block {i}'s labels are not a list")
        kind = table.dtype.fields[field][0]
        if kind.subdtype is None or kind.subdtype[1] != (len(block_labels),):
            raise _Layout(f"{where}: block {i} does not hold one value per label")
        _check_numbers(kind.subdtype[0], path, key)
        blocks.append((table, field, block_labels))
        fields_bytes += kind.itemsize
    if table.dtype.itemsize - fields_bytes > MAX_INDEX_BYTES:
        raise _Layout(
            f"{where}'s row index takes {table.dtype.itemsize - fields_bytes} bytes a row"
        )
    return _Store(key, level_names, labels, table.shape[0], _place_blocks(blocks, labels, where))


def _check_labels(labels, where: str) -> None:
    width = len(labels[0]) if isinstance(labels[0], tuple) else 0
    for label in labels:
        if not (
            isinstance(label, tuple)
            and len(label) == width > 0
            and all(isinstance(part, _PLAIN_LABEL) for part in label)
        ):
            raise _Layout(f"{where}'s column labels are not tuples of names")


def _place_blocks(blocks, labels: list[tuple], where: str):
    """Each block with the frame columns it fills; every column filled exactly once."""
    position = {label: j for j, label in enumerate(labels)}
    if len(position) != len(labels):
        raise _Layout(f"{where} has a column label twice")
    filled: set[int] = set()
    placed = []
    for dataset, field, block_labels in blocks:
        block_labels = [label if isinstance(label, tuple) else (label,) for label in block_labels]
        if not all(all(isinstance(part, _PLAIN_LABEL) for part in label) for label in block_labels):
            raise _Layout(f"{where}: a block's labels are not tuples of names")
        columns = [position.get(label) for label in block_labels]
        if None in columns or filled.intersection(columns) or len(set(columns)) != len(columns):
            raise _Layout(f"{where}: a block's labels are not the frame's column labels")
        filled.update(columns)
        placed.append((dataset, field, columns))
    if len(filled) != len(labels):
        raise _Layout(f"{where}: some columns are in no block")
    return placed


def _fixed_index(group: h5py.Group, name: str, path: str) -> tuple[list, list[tuple]]:
    """A pandas "fixed" index (``axis0``, ``block0_items``): level names and one tuple per entry."""
    attrs, where = group.attrs, f"{group.name}/{name}"
    encoding = _attr_text(attrs, "encoding") or "UTF-8"
    variety = _attr_text(attrs, f"{name}_variety")
    if variety == "regular":
        parts = [(f"{name}", None)]
    elif variety == "multi":
        nlevels = _attr_int(attrs, f"{name}_nlevels", where)
        if not 1 <= nlevels <= 16:
            raise _Layout(f"{where} has {nlevels} levels")
        parts = [(f"{name}_level{i}", f"{name}_label{i}") for i in range(nlevels)]
    else:
        raise _Layout(f"{where} is not a pandas index")
    names, columns = [], []
    for level_name, codes_name in parts:
        level = group[level_name] if level_name in group else None
        values = _small_array(group, level_name, path)
        kind = _attr_text(level.attrs, "kind")
        if kind == "string" and values.dtype.kind == "S":
            nan_rep = _attr_text(level.attrs, "nan_rep")
            decoded = [v.decode(encoding, "replace") for v in values.tolist()]
            values = [np.nan if nan_rep and v == nan_rep else v for v in decoded]
        elif kind in ("integer", "float") and values.dtype.kind in "fiu":
            values = values.tolist()
        else:
            raise _Layout(f"{where}: level {level_name!r} holds {kind!r} values")
        names.append(_name_attr(level.attrs))
        if codes_name is None:
            columns.append(values)
            continue
        codes = _small_array(group, codes_name, path)
        if codes.dtype.kind not in "iu" or (len(codes) and codes.max() >= len(values)):
            raise _Layout(f"{where}: codes {codes_name!r} do not index its level")
        columns.append([values[c] if c >= 0 else np.nan for c in codes.tolist()])
    if len({len(c) for c in columns}) > 1:
        raise _Layout(f"{where}: its levels have different lengths")
    return names, list(zip(*columns, strict=True))


def _frame_fixed(group: h5py.Group, key: str, path: str) -> _Store:
    """pandas' "fixed" format: an index per axis and one ``(T, n)`` dataset per block."""
    attrs, where = group.attrs, f"table {key!r}"
    if _attr_int(attrs, "ndim", where) != 2:
        raise _Layout(f"{where} is not two-dimensional")
    n_blocks = _attr_int(attrs, "nblocks", where)
    if not 1 <= n_blocks <= MAX_BLOCKS:
        raise _Layout(f"{where} has {n_blocks} blocks")
    level_names, labels = _fixed_index(group, "axis0", path)
    if not labels:
        raise _Layout(f"{where} has no columns")
    blocks, n_rows = [], None
    for i in range(n_blocks):
        dataset = group.get(f"block{i}_values")
        if not isinstance(dataset, h5py.Dataset):
            raise _Layout(f"{where} has no block {i}")
        _check_numbers(dataset.dtype, path, key)
        _, block_labels = _fixed_index(group, f"block{i}_items", path)
        if "shape" in dataset.attrs:  # pandas' stand-in for an empty block: (columns, 0)
            rows = 0
        elif dataset.ndim == 2 and bool(dataset.attrs.get("transposed", False)):
            rows = dataset.shape[0]
            if dataset.shape[1] != len(block_labels):
                raise _Layout(f"{where}: block {i} does not hold one column per label")
        else:
            raise _Layout(f"{where}: block {i} is not stored as rows of values")
        if n_rows is not None and rows != n_rows:
            raise _Layout(f"{where}: its blocks have different numbers of rows")
        n_rows = rows
        blocks.append((dataset, None, list(block_labels)))
    return _Store(key, level_names, labels, n_rows, _place_blocks(blocks, labels, where))


#: Blocks of values a pandas table may have (pandas makes one per column type).
MAX_BLOCKS = 64
#: Bytes a table's row index may take per row (DeepLabCut's: a number, or an image path).
MAX_INDEX_BYTES = 4096


def _find_store(probe: FileProbe) -> _Store:
    """The DeepLabCut table in a pandas HDF store, found and checked with h5py."""
    path, handle = probe.path, probe.h5
    key = _choose_key(handle, path)
    group = handle[key]
    kind = _attr_text(group.attrs, "pandas_type")
    try:
        if kind == "frame_table":
            return _frame_table(group, key, path)
        if kind == "frame":
            return _frame_fixed(group, key, path)
        raise _Layout(f"it holds a pandas {kind!r}, not a DataFrame")
    except _Layout as why:
        raise KpcalError(
            f"file {path!r} is a pandas HDF store but not in a layout of DeepLabCut's table "
            f"kpcal reads: {why}"
        ) from None


def _read_h5(probe: FileProbe, options: ReadOptions) -> PoseFile:
    """DeepLabCut .h5: a pandas HDF store holding one MultiIndex-column DataFrame, via h5py."""
    path = probe.path
    store = _find_store(probe)
    columns, multi = _column_levels(path, store.key, store.level_names, store.labels)
    bodyparts, where = track_columns(path, columns, multi, options.exclude_individuals)
    limits.check(
        "keypoint_values",
        store.n_rows * len(bodyparts) * len(where),
        f"file {path!r}",
        f"table {store.key!r} declares {store.n_rows:,} frames x {len(bodyparts)} bodyparts "
        f"x {len(where)} individuals = ",
    )
    return PoseFile(path, NAME, bodyparts, _read_rows(store, where, len(bodyparts)))


#: Rows of a DeepLabCut table read at a time (a few MB, reused for every block).
ROWS_PER_READ = 4096
#: At most this many bytes of a table's rows are read at a time.
BYTES_PER_READ = 8 * 1024**2


def _rows_per_read(dataset: h5py.Dataset) -> int:
    """Rows per read: :data:`ROWS_PER_READ`, fewer for wide rows, whole chunks when possible."""
    row_bytes = dataset.dtype.itemsize * int(np.prod(dataset.shape[1:], dtype=np.int64))
    step = max(1, min(ROWS_PER_READ, BYTES_PER_READ // max(1, row_bytes)))
    if dataset.chunks and dataset.chunks[0] <= step:  # whole chunks: HDF5 copies them once
        step -= step % dataset.chunks[0]
    return step


def _read_rows(store: _Store, where: dict, n_parts: int) -> Tracks:
    """Each track's arrays from a DeepLabCut table, read in blocks of rows.

    Parameters
    ----------
    store
        The table (:func:`_find_store`).
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
    one field of a compound table would do, more slowly) into a buffer of at
    most :data:`ROWS_PER_READ` rows (whole HDF5 chunks), converted to float64
    in the frame's column order, and copied into the tracks' arrays: the
    file's ``(T, C)`` table is never held whole. The usual layout (one block
    holding every column in order) is used as read, without a copy.
    """
    n_frames, n_columns = store.n_rows, len(store.labels)
    tracks = {
        suffix: (np.empty((n_frames, n_parts, 2)), np.empty((n_frames, n_parts)))
        for suffix in where
    }
    if n_frames == 0:
        return tracks
    datasets = list(dict.fromkeys(dataset for dataset, _, _ in store.blocks))
    step = min(_rows_per_read(dataset) for dataset in datasets)
    buffers = {d: np.empty((min(n_frames, step),) + d.shape[1:], dtype=d.dtype) for d in datasets}
    direct = len(store.blocks) == 1 and store.blocks[0][2] == list(range(n_columns))
    values = None if direct else np.empty((min(n_frames, step), n_columns))
    for start in range(0, n_frames, step):
        stop = min(n_frames, start + step)
        for dataset, buffer in buffers.items():
            dataset.read_direct(buffer, np.s_[start:stop], np.s_[0 : stop - start])
        for dataset, field, columns in store.blocks:
            rows = buffers[dataset][: stop - start]
            block = rows[field] if field is not None else rows
            if direct:
                chunk = block.astype(np.float64, copy=False)
            else:
                chunk = values[: stop - start]
                chunk[:, columns] = block
        for suffix, (x, y, likelihood) in where.items():
            xy, conf = tracks[suffix]
            _gather(chunk, x, y, likelihood, out=(xy[start:stop], conf[start:stop]))
    return tracks


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
