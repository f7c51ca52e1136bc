"""The safety check of every HDF5 file kpcal opens, before anything reads it.

Owns :func:`check_hdf5_file` (run by :class:`~kpcal_core.formats.probe.FileProbe`
the first time a file is opened, so before any recogniser, reader or other
library sees it) and :func:`pickle_is_unsafe`.

kpcal itself never unpickles anything from a file: DeepLabCut ``.h5`` files
are read with h5py (:mod:`.deeplabcut`), their pickled metadata decoded by an
unpickler that refuses every import. This check is the second line of
defence. It walks every group, dataset, committed datatype and link of the
file (the root too, each object once) and refuses the file when:

- an attribute of any type (fixed-length bytes, variable-length ASCII or
  UTF-8 strings, arrays of either, opaque / void values, compound values,
  variable-length byte sequences) holds a pickle that would import or call
  something when unpickled (as PyTables does with its string attributes);
- a dataset is an array of pickled Python objects (PyTables' ``PSEUDOATOM``
  ``object``);
- a link or a dataset's storage points into another file (an external link,
  external storage, a virtual dataset): kpcal reads only the file it was given;
- the file holds more objects than :data:`~kpcal_core.limits.LIMITS`
  ``hdf5_objects`` allows, or its attributes more bytes than
  ``hdf5_metadata_bytes``: the walk stops there, so a file with millions of
  attributes is refused in about a second instead of hanging the server.

Limit: a variable-length attribute cannot be sized before it is read (HDF5
stores its strings in the file's heap, uncompressed); each is read whole,
then counted, and the walk stops once the bytes read pass the limit.
"""

from __future__ import annotations

import io
import pickle

import h5py
import numpy as np

from .. import limits
from ..errors import KpcalError

# Kinds of numpy dtypes that hold only numbers: nothing to unpickle in them.
_NUMERIC_KINDS = frozenset("biufcmM")


class _WouldImport(Exception):
    """Unpickling reached an import (or a persistent id): code could run."""


class _ImportSpotter(pickle.Unpickler):
    """An unpickler that stops at the first import, before anything is imported."""

    def find_class(self, module, name):
        raise _WouldImport(f"{module}.{name}")

    def persistent_load(self, pid):
        raise _WouldImport("a persistent id")


def pickle_is_unsafe(data: bytes) -> bool:
    """True if unpickling ``data`` would import something (and so could run code).

    ``data`` is unpickled by an unpickler whose every import fails before it
    happens: a pickle can only call what it imports, so one that builds
    without importing holds plain data (containers, numbers, strings), and
    one that stops for another reason first (most text, e.g. ``b"Range
    Values"``, whose first byte is the REDUCE opcode) never reaches code
    either.
    """
    try:
        _ImportSpotter(io.BytesIO(bytes(data))).load()
    except _WouldImport:
        return True
    except Exception:
        return False  # not a pickle: unpickling it stops before anything runs
    return False


class _Refused(Exception):
    """Why the file is refused (a sentence naming the object)."""


class _Walk:
    """One bounded walk over a file: counts objects and attribute bytes."""

    def __init__(self, path: str):
        self.path = path
        self.where = f"HDF5 file {path!r}"
        self.max_objects = limits.limit("hdf5_objects")
        self.max_attribute_bytes = limits.limit("hdf5_metadata_bytes")
        self.objects = 0
        self.attribute_bytes = 0
        self.seen: set[tuple[int, int]] = set()

    def count_objects(self, n: int) -> None:
        self.objects += int(n)
        if self.objects > self.max_objects:
            limits.check("hdf5_objects", self.objects, self.where, "it holds at least ")

    def count_bytes(self, n: int) -> None:
        self.attribute_bytes += int(n)
        if self.attribute_bytes > self.max_attribute_bytes:
            limits.check(
                "hdf5_metadata_bytes", self.attribute_bytes, self.where, "its attributes hold "
            )

    def first_visit(self, obj) -> bool:
        info = h5py.h5o.get_info(obj.id)
        key = (int(info.fileno), int(info.addr))
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def _chunks(values: np.ndarray):
    """Every byte string an attribute value holds (strings, opaque values, byte sequences)."""
    kind = values.dtype.kind
    if kind in _NUMERIC_KINDS:
        return
    if values.dtype.names:
        for field in values.dtype.names:
            yield from _chunks(np.asarray(values[field]))
        return
    if values.dtype.subdtype is not None:
        yield from _chunks(np.asarray(values))
        return
    for item in values.reshape(-1):
        if isinstance(item, (bytes, np.bytes_)):
            yield bytes(item)
        elif isinstance(item, str):
            yield item.encode("utf-8", "surrogateescape")
        elif isinstance(item, np.void):
            yield item.tobytes()
        elif isinstance(item, np.ndarray):  # a variable-length sequence
            if item.dtype.kind in "iub" and item.dtype.itemsize == 1:
                yield item.tobytes()
            else:
                yield from _chunks(item)


def _check_attributes(walk: _Walk, obj, name: str) -> None:
    """Refuse ``obj`` if an attribute holds a pickle that runs code (any type, bounded)."""
    walk.count_objects(h5py.h5a.get_num_attrs(obj.id))  # before any is listed
    names: list[bytes] = []
    h5py.h5a.iterate(obj.id, names.append)  # one pass, in name order
    for raw_name in names:
        attr = h5py.h5a.open(obj.id, raw_name)  # by name: an index lookup, not a scan
        key = raw_name.decode("utf-8", "replace")
        try:
            dtype = attr.dtype
            shape = attr.shape
        except Exception as error:  # a type h5py cannot map: nothing can check it
            raise _Refused(
                f"attribute {key!r} of {name} has a type that cannot be checked ({error})"
            ) from None
        if shape is None or dtype.kind in _NUMERIC_KINDS:
            continue  # an empty attribute, or only numbers
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        walk.count_bytes(n * dtype.itemsize)  # what the read allocates before any string
        values = np.empty(shape, dtype=dtype)
        try:
            attr.read(values)
        except Exception as error:
            raise _Refused(f"attribute {key!r} of {name} cannot be read ({error})") from None
        for chunk in _chunks(values):
            walk.count_bytes(len(chunk))
            if pickle_is_unsafe(chunk):
                raise _Refused(
                    f"attribute {key!r} of {name} is a pickle that would run code when read"
                )
        if key == "PSEUDOATOM" and any(c.rstrip(b"\0") == b"object" for c in _chunks(values)):
            raise _Refused(f"{name} is an array of pickled Python objects")


def _check_dataset(dataset: h5py.Dataset, name: str) -> None:
    try:
        external = dataset.external
        virtual = dataset.is_virtual
    except Exception as error:
        raise _Refused(f"dataset {name} cannot be inspected ({error})") from None
    if external or virtual:
        raise _Refused(f"dataset {name} keeps its data in another file")


def check_hdf5_file(handle: h5py.File, path: str) -> None:
    """Refuse an HDF5 file that could run code, reach other files, or is too large to walk.

    Parameters
    ----------
    handle
        The file, open read-only with h5py (which never unpickles).
    path
        Its path, for messages.

    Raises
    ------
    KpcalError
        The message names the file and the attribute, dataset or link at fault.
    LimitExceeded
        Too many objects or attribute bytes (naming the limit and its variable).
    """
    walk = _Walk(path)
    try:
        walk.first_visit(handle)
        _check_attributes(walk, handle, "the root group")
        groups = [("/", handle)]
        while groups:
            prefix, group = groups.pop()
            walk.count_objects(len(group))
            for key in group:
                name = prefix + key
                link = group.get(key, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    raise _Refused(f"{name} is a link to another file ({link.filename!r})")
                if isinstance(link, h5py.SoftLink):
                    continue  # its target is checked where it is stored
                obj = group.get(key)
                if obj is None or not walk.first_visit(obj):
                    continue
                _check_attributes(walk, obj, name)
                if isinstance(obj, h5py.Dataset):
                    _check_dataset(obj, name)
                elif isinstance(obj, h5py.Group):
                    groups.append((name + "/", obj))
    except _Refused as why:
        raise KpcalError(
            f"file {path!r} is refused for safety: {why}. Pose files (DeepLabCut, SLEAP, "
            "NWB) hold only numbers and names, so this file was not written by a "
            "pose-estimation tool, or was altered; kpcal reads nothing from it"
        ) from None


def refuse_pickles(handle: h5py.File, path: str) -> None:
    """The same check as :func:`check_hdf5_file` (kept for callers of the old name)."""
    check_hdf5_file(handle, path)
