"""Every size limit kpcal applies to its input, in one place.

Owns :data:`LIMITS` (each limit's name, default, environment variable and
reason), :func:`limit` (a limit's value, read from the environment at the
moment of the check), :func:`check` (refuse an input larger than a limit) and
the header checks of NumPy files (:func:`npy_header`, :func:`check_npz`),
used before anything is allocated from a size a file declares.

One server process serves a whole lab, so a file on the data share must not
make it allocate more than a legitimate file would: every reader compares
the sizes a file *declares* (an HDF5 dataset's shape, a CSV's columns and
rows, a video's width and height, a ``.npy`` header) with these limits before
it reads or allocates, and refuses with :class:`LimitExceeded` (a
:class:`~kpcal_core.errors.KpcalError`) naming the file, the declared size,
the limit and the environment variable that raises it. Nothing is written
for a refused file.

The server's operator sets a limit with its environment variable (e.g. in
``deploy/kpcal.service``: ``Environment=KPCAL_MAX_VIDEO_PIXELS=50000000``); a
value that is not a positive whole number (``_`` separators allowed) is
refused with a message naming the variable. Values are read at each check, so
a test or a notebook can change them with ``os.environ``.

================================  ==============  ==========================================
environment variable              default         why this default
================================  ==============  ==========================================
KPCAL_MAX_KEYPOINT_VALUES         50,000,000      frames x keypoints x tracks (individuals)
                                                  in one keypoint file or stored recording:
                                                  12 h of 30 fps video with 38 keypoint
                                                  tracks (e.g. 19 bodyparts x 2 animals); a
                                                  file costs 24-48 bytes a value while it is
                                                  read (x, y, confidence, copies): 1.2-2.4 GB
KPCAL_MAX_COLUMNS                 20,000          columns of a DeepLabCut / Lightning Pose
                                                  table (.csv header, .h5 labels): 10x a
                                                  30-bodypart, 20-animal DeepLabCut file
KPCAL_MAX_CSV_LINE_BYTES          4,194,304       bytes of one line of a keypoint CSV (4 MiB):
                                                  a header of 20,000 columns of 200 bytes
KPCAL_MAX_HDF5_READ_BYTES         1,073,741,824   declared bytes of the HDF5 datasets a reader
                                                  loads whole from one file (1 GiB: a .slp's
                                                  tables; keypoint arrays count as keypoint
                                                  values instead)
KPCAL_MAX_HDF5_OBJECTS            50,000          groups, datasets, links and attributes of
                                                  one HDF5 file (pose files hold 10 to a few
                                                  hundred); checking one takes ~40 us, so a
                                                  file at the limit is checked in ~2 s
KPCAL_MAX_HDF5_METADATA_BYTES     16,777,216      bytes of attributes, and of names and JSON
                                                  text datasets, read from one HDF5 file
                                                  (16 MiB; SLEAP's JSON metadata is the
                                                  largest, kilobytes to a few MB; parsed
                                                  JSON takes ~10x its bytes)
KPCAL_MAX_SLP_INSTANCES           1,000,000       instances in one SLEAP .slp (sleap-io keeps
                                                  ~2.5 KB and ~35 us per instance: 2.5 GB,
                                                  ~35 s; 2 h of 30 fps video with 4 animals)
KPCAL_MAX_VIDEO_PIXELS            36,000,000      width x height of a video (8K UHD is 33.2
                                                  million); a decoded RGB frame is 3 bytes a
                                                  pixel, and a decoder holds several
KPCAL_MAX_VIDEO_FRAMES            10,000,000      frames of one video indexed for exact
                                                  seeking (a day at 115 fps; 16 bytes each)
KPCAL_MAX_TEXT_FILE_BYTES         67,108,864      bytes of config.yml, session.json, an
                                                  annotations CSV or a stored index (64 MiB;
                                                  100,000 annotations take ~15 MB)
================================  ==============  ==========================================
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from typing import IO

import numpy as np

from .errors import KpcalError

__all__ = [
    "LIMITS",
    "Limit",
    "LimitExceeded",
    "check",
    "check_npz",
    "limit",
    "npy_header",
]


@dataclass(frozen=True)
class Limit:
    """One size limit.

    Attributes
    ----------
    name
        The key in :data:`LIMITS`.
    env
        The environment variable that sets it.
    default
        Its value when the variable is not set.
    unit
        What is counted, plural (``"keypoint values"``, ``"bytes"``, ...).
    scope
        What it applies to, for messages (``"per keypoint file"``).
    why
        Why the default is what it is (the worst legitimate case and what it costs).
    """

    name: str
    env: str
    default: int
    unit: str
    scope: str
    why: str


_ALL = (
    Limit(
        "keypoint_values",
        "KPCAL_MAX_KEYPOINT_VALUES",
        50_000_000,
        "keypoint values",
        "(frames x keypoints x tracks) per keypoint file",
        "12 h of 30 fps video with 38 keypoint tracks; 24-48 bytes a value while read",
    ),
    Limit(
        "columns",
        "KPCAL_MAX_COLUMNS",
        20_000,
        "columns",
        "per keypoint table",
        "10x a DeepLabCut file with 30 bodyparts and 20 animals",
    ),
    Limit(
        "csv_line_bytes",
        "KPCAL_MAX_CSV_LINE_BYTES",
        4 * 1024**2,
        "bytes",
        "per line of a keypoint CSV",
        "a header line of 20,000 columns of 200 bytes",
    ),
    Limit(
        "hdf5_read_bytes",
        "KPCAL_MAX_HDF5_READ_BYTES",
        1024**3,
        "bytes",
        "of HDF5 datasets read whole from one file",
        "SLEAP tables of the largest .slp allowed, names and skeletons",
    ),
    Limit(
        "hdf5_objects",
        "KPCAL_MAX_HDF5_OBJECTS",
        50_000,
        "groups, datasets, links and attributes",
        "per HDF5 file",
        "pose files hold 10 to a few hundred; each is checked (~40 us)",
    ),
    Limit(
        "hdf5_metadata_bytes",
        "KPCAL_MAX_HDF5_METADATA_BYTES",
        16 * 1024**2,
        "bytes of attributes or text",
        "per HDF5 file",
        "SLEAP's JSON metadata, the largest, takes kilobytes to a few MB",
    ),
    Limit(
        "slp_instances",
        "KPCAL_MAX_SLP_INSTANCES",
        1_000_000,
        "instances or labelled frames",
        "per SLEAP .slp file",
        "sleap-io keeps ~2.5 KB per instance: 2.5 GB; 2 h of 30 fps video, 4 animals",
    ),
    Limit(
        "video_pixels",
        "KPCAL_MAX_VIDEO_PIXELS",
        36_000_000,
        "pixels (width x height)",
        "per video frame",
        "8K UHD is 33.2 million; a decoded RGB frame takes 3 bytes a pixel",
    ),
    Limit(
        "video_frames",
        "KPCAL_MAX_VIDEO_FRAMES",
        10_000_000,
        "frames",
        "per video",
        "a day of video at 115 fps; the frame index keeps 16 bytes a frame",
    ),
    Limit(
        "text_file_bytes",
        "KPCAL_MAX_TEXT_FILE_BYTES",
        64 * 1024**2,
        "bytes",
        "per text file (config.yml, session.json, annotations CSV)",
        "100,000 annotations take ~15 MB",
    ),
)

#: Every limit, by name.
LIMITS: dict[str, Limit] = {entry.name: entry for entry in _ALL}


class LimitExceeded(KpcalError):
    """An input declares more than a limit of :data:`LIMITS` allows."""


def limit(name: str) -> int:
    """The value of limit ``name`` now: its environment variable, else its default.

    Raises
    ------
    KpcalError
        The environment variable is set to something that is not a positive
        whole number (the message names the variable and its value).
    """
    entry = LIMITS[name]
    raw = os.environ.get(entry.env)
    if raw is None or not raw.strip():
        return entry.default
    text = raw.strip().replace("_", "")
    try:
        number = int(text, 10)
    except ValueError:
        number = 0
    if number <= 0 or not text.isdigit():
        raise KpcalError(
            f"the server setting {entry.env}={raw!r} is not a positive whole number of "
            f"{entry.unit}: set it to a number such as {entry.default} (the default) or "
            "remove it"
        )
    return number


def check(name: str, amount: int, where: str, what: str = "") -> None:
    """Refuse ``amount`` if it is above limit ``name``.

    Parameters
    ----------
    name
        A key of :data:`LIMITS`.
    amount
        The declared size.
    where
        What declares it, naming the file (e.g. ``"file '/d/a.h5'"``).
    what
        How the amount is made up, said before it (e.g. ``"'tracks' declares
        15,000,000 frames x 4 nodes x 1 track = "``).

    Raises
    ------
    LimitExceeded
        ``amount`` is above the limit; the message names ``where``, the
        amount, the limit and its environment variable.
    """
    allowed = limit(name)
    if int(amount) <= allowed:
        return
    entry = LIMITS[name]
    raise LimitExceeded(
        f"{where} is refused: {what}{int(amount):,} {entry.unit}, more than kpcal's limit "
        f"of {allowed:,} {entry.unit} {entry.scope}. Nothing was read from it; split or "
        f"trim the file, or ask the server's operator to raise {entry.env}"
    )


# --------------------------------------------------------------------------- NumPy files


def npy_header(handle: IO[bytes], source: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """Read a ``.npy`` header without reading its data.

    Parameters
    ----------
    handle
        The file, positioned at its start.
    source
        The file (or ``archive:member``), for messages.

    Returns
    -------
    shape : tuple of int
    dtype : numpy.dtype
        Never an object (pickled) dtype.
    nbytes : int
        What the data takes: ``prod(shape) * dtype.itemsize``.

    Raises
    ------
    KpcalError
        Not a ``.npy`` header, or an object dtype.
    """
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
        else:  # 3.0 (UTF-8 field names): kpcal never writes it
            raise ValueError(f"format version {version[0]}.{version[1]}")
    except (ValueError, OSError, EOFError) as error:
        raise KpcalError(f"{source}: not a NumPy array file ({error})") from None
    if dtype.hasobject:
        raise KpcalError(f"{source}: holds Python objects (pickled), which kpcal never reads")
    count = 1
    for size in shape:
        count *= int(size)
    return tuple(int(s) for s in shape), dtype, count * dtype.itemsize


def check_npz(path: str | os.PathLike, name: str, unit_bytes: int) -> None:
    """Check every member of a ``.npz`` before NumPy allocates it.

    Parameters
    ----------
    path
        The archive.
    name
        The limit of :data:`LIMITS` its arrays count against.
    unit_bytes
        Bytes per unit of that limit: the members may declare at most
        ``limit(name) * unit_bytes`` bytes together (e.g. 24 bytes per
        keypoint value).

    Raises
    ------
    LimitExceeded
        The members declare more than that.
    KpcalError
        Not a NumPy archive, a member that is not a plain array, or a member
        whose header declares more than its stored size.
    """
    source = os.fspath(path)
    total = 0
    try:
        with zipfile.ZipFile(source) as archive:
            for member in archive.infolist():
                where = f"file {source!r}, array {member.filename!r}"
                with archive.open(member) as handle:
                    shape, dtype, nbytes = npy_header(handle, where)
                if nbytes > member.file_size:
                    raise KpcalError(
                        f"{where} declares {shape} {dtype} ({nbytes:,} bytes) but holds "
                        f"{member.file_size:,} bytes: it is damaged"
                    )
                total += nbytes
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise KpcalError(f"file {source!r} is not a readable NumPy archive ({error})") from None
    check(name, -(-total // unit_bytes), f"file {source!r}", "its arrays declare ")
