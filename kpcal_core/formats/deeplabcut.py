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
differs. :func:`.deeplabcut_h5._read_rows` copies the blocks into the tracks' arrays a few
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

import h5py
import numpy as np
import pandas as pd

from .. import limits
from ..errors import KpcalError
from .deeplabcut_columns import _COORDS, NAME, split_tracks, track_columns
from .deeplabcut_h5 import _read_h5
from .model import PoseFile, PoseFormat, ReadOptions
from .probe import FileProbe, csv_header

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
