"""DeepLabCut's ``.h5`` files, read with h5py only (no pandas, no PyTables, no unpickling).

Owns :func:`_read_h5` and how the table is found in either of pandas' HDF5
layouts ("table" and "fixed"), its pickled labels decoded by an unpickler that
refuses every import, and its rows copied into tracks a few thousand at a time
(see :mod:`.deeplabcut`'s docstring for the layouts).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass

import h5py
import numpy as np

from .. import limits
from ..errors import KpcalError
from .deeplabcut_columns import NAME, _gather, track_columns
from .model import PoseFile, ReadOptions, Tracks
from .probe import FileProbe


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
    """Pandas' "table" format: a compound table, labels in pickled attributes."""
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
        found = [position.get(label) for label in block_labels]
        columns = [c for c in found if c is not None]
        if (
            len(columns) < len(found)
            or filled.intersection(columns)
            or len(set(columns)) != len(columns)
        ):
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
    parts: list[tuple[str, str | None]]
    if variety == "regular":
        parts = [(f"{name}", None)]
    elif variety == "multi":
        nlevels = _attr_int(attrs, f"{name}_nlevels", where)
        if not 1 <= nlevels <= 16:
            raise _Layout(f"{where} has {nlevels} levels")
        parts = [(f"{name}_level{i}", f"{name}_label{i}") for i in range(nlevels)]
    else:
        raise _Layout(f"{where} is not a pandas index")
    names: list = []
    columns: list[list] = []
    for level_name, codes_name in parts:
        level = group.get(level_name, None)
        stored = _small_array(group, level_name, path)
        kind = _attr_text(level.attrs, "kind")
        values: list
        if kind == "string" and stored.dtype.kind == "S":
            nan_rep = _attr_text(level.attrs, "nan_rep")
            decoded = [v.decode(encoding, "replace") for v in stored.tolist()]
            values = [np.nan if nan_rep and v == nan_rep else v for v in decoded]
        elif kind in ("integer", "float") and stored.dtype.kind in "fiu":
            values = stored.tolist()
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
    """Pandas' "fixed" format: an index per axis and one ``(T, n)`` dataset per block."""
    attrs, where = group.attrs, f"table {key!r}"
    if _attr_int(attrs, "ndim", where) != 2:
        raise _Layout(f"{where} is not two-dimensional")
    n_blocks = _attr_int(attrs, "nblocks", where)
    if not 1 <= n_blocks <= MAX_BLOCKS:
        raise _Layout(f"{where} has {n_blocks} blocks")
    level_names, labels = _fixed_index(group, "axis0", path)
    if not labels:
        raise _Layout(f"{where} has no columns")
    blocks: list[tuple[h5py.Dataset, str | None, list]] = []
    row_counts: set[int] = set()
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
        row_counts.add(rows)
        if len(row_counts) > 1:
            raise _Layout(f"{where}: its blocks have different numbers of rows")
        blocks.append((dataset, None, list(block_labels)))
    (n_rows,) = row_counts  # one count: there is at least one block
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
            if values is None:  # direct
                chunk = block.astype(np.float64, copy=False)
            else:
                chunk = values[: stop - start]
                chunk[:, columns] = block
        for suffix, (x, y, likelihood) in where.items():
            xy, conf = tracks[suffix]
            _gather(chunk, x, y, likelihood, out=(xy[start:stop], conf[start:stop]))
    return tracks
