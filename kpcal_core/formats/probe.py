"""A first look at a file, shared by every format's recogniser.

Owns :class:`FileProbe`: whether the file is HDF5, its open ``h5py`` handle
(opened once, on first use, checked by
:func:`~kpcal_core.formats.pickle_guard.check_hdf5_file` before anything else
sees it, and closed by the ``with`` block), and the first rows of a text file
split as CSV (each line's length and the columns bounded by
:mod:`kpcal_core.limits` before it is split). Recognisers only look; nothing
here unpickles or reads the bulk of a file.
"""

from __future__ import annotations

import csv
import io
import os

import h5py

from .. import limits
from ..errors import KpcalError
from ..textio import read_user_text
from .pickle_guard import check_hdf5_file

#: Extensions of HDF5-based pose files: such a file that is not HDF5 is damaged.
HDF5_EXTENSIONS = (".h5", ".hdf5", ".slp", ".nwb")

#: Rows of a text file's header a recogniser may look at.
HEADER_ROWS = 4


class FileProbe:
    """What a recogniser may look at in one file; use as a context manager.

    Attributes
    ----------
    path
        The file.
    is_hdf5
        True if the file has HDF5's signature.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise KpcalError(f"file {self.path!r} does not exist or is not a file")
        try:
            self.is_hdf5 = bool(h5py.is_hdf5(self.path))
        except OSError as error:
            raise KpcalError(f"file {self.path!r} cannot be read: {error}") from error
        self._h5: h5py.File | None = None
        self._header: list[list[str]] | None = None
        #: Why the file is not readable text (e.g. not UTF-8), once :attr:`header` was asked.
        self.text_problem: str | None = None

    def __enter__(self) -> FileProbe:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the HDF5 handle if one was opened."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    @property
    def h5(self) -> h5py.File:
        """The file opened read-only with h5py (which never unpickles), checked for safety.

        Raises
        ------
        KpcalError
            The file cannot be opened, or :func:`check_hdf5_file` refuses it.
        """
        if not self.is_hdf5:
            raise KpcalError(f"file {self.path!r} is not an HDF5 file")
        if self._h5 is None:
            try:
                handle = h5py.File(self.path, "r")
            except Exception as error:
                raise KpcalError(
                    f"file {self.path!r} cannot be opened as HDF5 ({type(error).__name__}: "
                    f"{error}); it may be damaged or truncated"
                ) from error
            try:
                check_hdf5_file(handle, self.path)
            except BaseException:
                handle.close()
                raise
            self._h5 = handle
        return self._h5

    @property
    def header(self) -> list[list[str]]:
        """The first :data:`HEADER_ROWS` rows split as CSV; ``[]`` for HDF5, binary or non-UTF-8."""
        if self._header is None:
            self._header = []
            if not self.is_hdf5:
                try:
                    self._header = csv_header(self.path)
                except limits.LimitExceeded:
                    raise  # too large to look at: said as such, not as "not a pose file"
                except KpcalError as error:
                    self.text_problem = str(error)
        return self._header


def csv_header(path: str, n_rows: int = HEADER_ROWS) -> list[list[str]]:
    """The first ``n_rows`` rows of a text file, split as CSV (``[]`` if not CSV).

    Each line is read up to :data:`~kpcal_core.limits.LIMITS` ``csv_line_bytes``
    and its columns counted (commas) before it is split.

    Raises
    ------
    KpcalError
        The file cannot be read or is not UTF-8 text (naming the file and byte).
    LimitExceeded
        A line is too long, or has too many columns.
    """
    content = read_user_text(path, max_lines=n_rows)
    for number, line in enumerate(content.splitlines()[:n_rows], start=1):
        limits.check("columns", line.count(",") + 1, f"file {path!r}", f"line {number} has ")
    try:
        return list(csv.reader(io.StringIO(content, newline="")))
    except csv.Error:
        return []
