"""Refusing HDF5 files that PyTables would unpickle into more than plain data.

Owns :func:`refuse_pickles`. DeepLabCut ``.h5`` files are pandas HDF stores,
read with ``pandas.read_hdf`` (PyTables), which unpickles some attributes and
object arrays. Before that call the file is inspected with ``h5py`` (which
never unpickles) and refused if it holds a pickled object array or an
attribute whose pickle would import or call anything. A pickle without such
opcodes can only build plain containers, numbers and strings.
"""

from __future__ import annotations

import pickletools

import h5py
import numpy as np

from ..errors import KpcalError
from .model import text

# Pickle opcodes that import or call something.
_UNSAFE_PICKLE_OPCODES = frozenset(
    {
        "GLOBAL",
        "STACK_GLOBAL",
        "INST",
        "OBJ",
        "NEWOBJ",
        "NEWOBJ_EX",
        "REDUCE",
        "BUILD",
        "EXT1",
        "EXT2",
        "EXT4",
        "PERSID",
        "BINPERSID",
    }
)


def refuse_pickles(handle: h5py.File, path: str) -> None:
    """Raise :class:`KpcalError` if PyTables would unpickle code from the file.

    Parameters
    ----------
    handle
        The file, open with h5py.
    path
        Its path, for the message.
    """
    problems = []

    def check_attrs(name, obj):
        if obj.attrs.get("PSEUDOATOM") is not None and text(obj.attrs["PSEUDOATOM"]) == "object":
            problems.append(f"{name or '/'} is an array of pickled Python objects")
        for key in obj.attrs:
            value = obj.attrs[key]
            is_text = isinstance(value, (bytes, np.bytes_)) and bytes(value).endswith(b".")
            if is_text and pickle_is_unsafe(bytes(value)):  # PyTables would unpickle it
                problems.append(f"attribute {key!r} of {name or '/'} is a pickle that runs code")

    check_attrs("", handle)
    handle.visititems(check_attrs)
    if problems:
        raise KpcalError(
            f"file {path!r} is refused for safety: {problems[0]}; a DeepLabCut .h5 holds only "
            "numbers and names, so this file was not written by DeepLabCut (or was altered)"
        )


def pickle_is_unsafe(data: bytes) -> bool:
    """True if unpickling ``data`` would import or call something (disassembled, never run)."""
    try:
        for opcode, _, _ in pickletools.genops(data):
            if opcode.name in _UNSAFE_PICKLE_OPCODES:
                return True
    except Exception:
        return False  # not a pickle past this point; nothing unsafe came before
    return False
