"""The on-disk frame cache: lossless compressed frames, a size cap, least recently used evicted.

Owns where a decoded frame is stored (``{cache_dir}/{video stem}-{hash}/{index:08d}.kpf``,
the hash over the video's resolved path, size and modification time, so a
changed video never serves stale frames), how it is stored and read back, and
how big the cache may grow.

Format. One file per frame, ``{index:08d}.kpf``: the magic ``KPF1``, a
2-byte header length, a small JSON header, then a PNG (OpenCV, zlib level 1,
the fastest that still compresses well). What the PNG holds is lossless for
the RGB frame the app shows:

- ``i420``: a frame decoded by PyAV as 4:2:0 YUV (nearly every H.264/MPEG-4
  video) is stored as its decoded planes (1.5 bytes per pixel instead of 3),
  with the pixel format, colour space and range in the header; reading
  converts it to RGB with the very call that made the RGB frame in the first
  place (:func:`kpcal_core.video.decode.to_rgb`), so the pixels are identical.
  This is checked on the first frame of each video per process; a video
  where it does not hold is stored as RGB.
- ``grey``: an RGB frame whose three channels are equal, one channel.
- ``rgb``: anything else.

Measured on 1280×1024 frames (bench/bench_frames.py): 3–25% of the raw RGB
size on behaviour and test videos, ~36% on a noisy colour video (where a PNG
of the RGB frame takes 63%); read back in 10–20 ms. WebP lossless is smaller
but takes ~200–300 ms to write a frame. Caches of older kpcal versions stored
raw ``.npy`` files; those are still read (safely: ``allow_pickle=False``) and
rewritten in the new format on first read.

A cache file is a file in the project's folder, which others may write: its
image's size (the PNG header's width and height, a ``.npy``'s header) is
checked against the ``video_pixels`` limit of :mod:`kpcal_core.limits`
before it is decoded; a file that does not pass is treated as not cached.

Size cap. Each cache directory (one per project) holds at most ``max_bytes``
(default :data:`DEFAULT_MAX_BYTES`, 2 GiB, about 20,000 frames of 1280×1024
behaviour video). Reading a frame marks it used (its modification time is set
to now); writing one that takes the cache over the cap deletes the least
recently used frames until the cache is at most 90% of the cap (so eviction
scans the folder once per ~10% of the cap, not on every write). The running
total is kept per process and re-measured from the disk whenever it crosses
the cap, so several processes sharing a cache may overshoot only by what the
others wrote since the last scan.

Safety. With a data root (``KPCAL_DATA_ROOT``), a cache folder inside it that
a symbolic link leads out of it is neither read nor written
(:func:`kpcal_core.paths.check_no_link_out`). A write the system refuses (a
full disk) raises :class:`~kpcal_core.errors.NotSaved` and leaves no
temporary file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np

from .. import limits
from ..atomic import not_saved
from ..errors import KpcalError, NotSaved
from ..paths import check_no_link_out
from .decode import to_rgb
from .index import av

#: Default size cap of one project's frame cache, in bytes (2 GiB).
DEFAULT_MAX_BYTES = 2 * 1024**3
#: After an eviction the cache holds at most this share of the cap.
LOW_WATER = 0.9
#: zlib level of the PNG files (0–9): 1 is the fastest that still compresses well.
PNG_LEVEL = 1

_SUFFIXES = (".kpf", ".npy")
MAGIC = b"KPF1"


@dataclass(frozen=True)
class CacheSize:
    """How much a frame cache holds: ``bytes`` on disk in ``frames`` files."""

    bytes: int
    frames: int


def video_cache_folder(cache_dir: str | os.PathLike, video_path: str | os.PathLike) -> Path:
    """The folder of one video's frames, keyed by its resolved path, size and mtime.

    Raises
    ------
    OSError
        The video cannot be looked at (missing).
    KpcalError
        With a data root, a link leads the folder out of it.
    """
    path = Path(video_path).resolve()
    stat = path.stat()
    digest = hashlib.sha1(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    folder = Path(cache_dir) / f"{path.stem[:40]}-{digest}"
    return check_no_link_out(folder, what="frame cache folder")


def index_folder(cache_dir: str | os.PathLike | None, video_path: str | os.PathLike) -> Path | None:
    """Where a video's frame index is kept (its cache folder), or ``None`` (no cache, missing video).

    ``None`` when the folder cannot be used: reading the video then builds the
    index in memory only, and reports a missing video itself.
    """
    if cache_dir is None:
        return None
    try:
        return video_cache_folder(cache_dir, video_path)
    except OSError:
        return None


def frame_file(folder: Path, index: int) -> Path:
    """The cache file of frame ``index`` in a video's cache folder."""
    return folder / f"{int(index):08d}.kpf"


def npy_file(folder: Path, index: int) -> Path:
    """The raw ``.npy`` file older kpcal versions wrote for frame ``index``."""
    return folder / f"{int(index):08d}.npy"


# --------------------------------------------------------------------------- encoding

_checked_lock = threading.Lock()
_i420_ok: dict[str, bool] = {}  # video cache folder -> YUV storage verified identical


def _png(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 images
        raise KpcalError("OpenCV could not encode a frame as PNG")
    return buffer.tobytes()


def _pack(header: dict, png: bytes) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + len(head).to_bytes(2, "little") + head + png


def _encode_rgb(frame: np.ndarray) -> bytes:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise KpcalError(
            f"a cached frame must be an RGB uint8 (H, W, 3) array, not {frame.dtype} {frame.shape}"
        )
    red, green, blue = frame[..., 0], frame[..., 1], frame[..., 2]
    if np.array_equal(red, green) and np.array_equal(green, blue):
        return _pack({"layout": "grey"}, _png(np.ascontiguousarray(red)))
    return _pack({"layout": "rgb"}, _png(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)))


def _encode_i420(frame) -> bytes | None:
    """The ``i420`` encoding of a PyAV frame, or ``None`` if it does not apply."""
    if frame.format.name not in ("yuv420p", "yuvj420p") or frame.width % 2 or frame.height % 2:
        return None
    header = {
        "layout": "i420",
        "format": frame.format.name,
        "colorspace": int(frame.colorspace),
        "range": int(frame.color_range),
    }
    return _pack(header, _png(frame.to_ndarray()))


def encode_frame(frame, check_key: str | None = None) -> bytes:
    """The cache file's bytes for a frame.

    Parameters
    ----------
    frame
        An RGB uint8 ``(H, W, 3)`` array, or a decoded PyAV ``VideoFrame``.
    check_key
        For a PyAV frame: the first time a key is seen, decoding the result is
        compared with the RGB frame; if they differ, frames under this key are
        stored as RGB.
    """
    if isinstance(frame, np.ndarray):
        return _encode_rgb(frame)
    with _checked_lock:
        verdict = _i420_ok.get(check_key) if check_key is not None else True
    data = _encode_i420(frame) if verdict is not False else None
    if data is not None and verdict is None and check_key is not None:  # None: not checked yet
        rgb = to_rgb(frame)
        back = decode_frame(data)
        verdict = back is not None and np.array_equal(back, rgb)
        with _checked_lock:
            _i420_ok[check_key] = verdict
        if not verdict:
            return _encode_rgb(rgb)
    if data is None:
        return _encode_rgb(to_rgb(frame))
    return data


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_fits(png: np.ndarray) -> bool:
    """A PNG (signature, then the IHDR chunk) whose image is within the ``video_pixels`` limit.

    The ``i420`` layout stores 1.5 rows per frame row, so 1.5 times the limit is allowed.
    """
    head = png[:24].tobytes()
    if len(head) < 24 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return False
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return width * height <= 1.5 * limits.limit("video_pixels")


def decode_frame(data: bytes | np.ndarray) -> np.ndarray | None:
    """The RGB uint8 ``(H, W, 3)`` frame of :func:`encode_frame`'s bytes; ``None`` if corrupt.

    Also ``None`` when the stored image is not a PNG or is larger than the
    ``video_pixels`` limit allows (checked from its header, before decoding).
    """
    buffer = np.frombuffer(data, np.uint8) if isinstance(data, bytes | bytearray) else data
    if buffer.size < 6 or buffer[:4].tobytes() != MAGIC:
        return None
    size = int.from_bytes(buffer[4:6].tobytes(), "little")
    try:
        header = json.loads(buffer[6 : 6 + size].tobytes())
    except ValueError:
        return None
    if not _png_fits(buffer[6 + size :]):
        return None
    image = cv2.imdecode(buffer[6 + size :], cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint8:
        return None
    layout = header.get("layout") if isinstance(header, dict) else None
    if layout == "grey" and image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if layout == "rgb" and image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if layout == "i420" and image.ndim == 2 and av is not None:
        try:
            planes = cast("np.ndarray[Any, np.dtype[np.uint8]]", image)  # uint8: checked above
            frame = av.VideoFrame.from_ndarray(planes, format=header["format"])
            frame.colorspace = int(header["colorspace"])
            frame.color_range = int(header["range"])
            return to_rgb(frame)
        except (KeyError, ValueError, TypeError):
            return None
    return None


# --------------------------------------------------------------------------- the cache


_tally_lock = threading.Lock()
_tally: dict[str, int] = {}  # resolved cache dir -> bytes, as far as this process knows


def _files(cache_dir: Path):
    """``(path, size, mtime_ns)`` of every cached frame file."""
    try:
        folders = list(os.scandir(cache_dir))
    except FileNotFoundError:
        return
    for folder in folders:
        if not folder.is_dir():
            continue
        try:
            entries = list(os.scandir(folder.path))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.endswith(_SUFFIXES):
                try:
                    stat = entry.stat()
                except FileNotFoundError:
                    continue
                yield entry.path, stat.st_size, stat.st_mtime_ns


def cache_size(cache_dir: str | os.PathLike) -> CacheSize:
    """Bytes and frames in a frame cache (0, 0 if it does not exist): for the setup page."""
    total = frames = 0
    for _, size, _ in _files(Path(cache_dir)):
        total += size
        frames += 1
    return CacheSize(total, frames)


def evict(cache_dir: str | os.PathLike, max_bytes: int) -> int:
    """Delete least recently used frames until the cache holds at most ``max_bytes``.

    Returns
    -------
    int
        How many frames were deleted.
    """
    files = sorted(_files(Path(cache_dir)), key=lambda item: item[2])
    total = sum(size for _, size, _ in files)
    deleted = 0
    for path, size, _ in files:
        if total <= max_bytes:
            break
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        total -= size
        deleted += 1
    with _tally_lock:
        _tally[_key(cache_dir)] = total
    return deleted


def _key(cache_dir: str | os.PathLike) -> str:
    return os.path.realpath(cache_dir)


def is_cached(cache_dir: str | os.PathLike, video_path: str | os.PathLike, index: int) -> bool:
    """Whether frame ``index`` of a video is cached (or in the legacy ``.npy``); marks it used.

    Cheaper than :func:`read_cached_frame`: nothing is read or decoded.
    """
    try:
        folder = video_cache_folder(cache_dir, video_path)
    except OSError:
        return False
    file = frame_file(folder, index)
    try:
        os.utime(file)
        return True
    except OSError:
        return npy_file(folder, index).is_file()


def read_cached_frame(
    cache_dir: str | os.PathLike, video_path: str | os.PathLike, index: int
) -> np.ndarray | None:
    """The cached RGB uint8 ``(H, W, 3)`` frame ``index`` of a video, or ``None``.

    Marks the frame as just used. A frame cached by an older kpcal as ``.npy``
    is read (never unpickled) and rewritten in the current format.
    """
    try:
        folder = video_cache_folder(cache_dir, video_path)
    except OSError:
        return None
    file = frame_file(folder, index)
    try:
        data = np.fromfile(file, np.uint8)
    except (FileNotFoundError, OSError):
        return _read_legacy(cache_dir, folder, int(index))
    frame = decode_frame(data)
    if frame is not None:
        with contextlib.suppress(OSError):
            os.utime(file)
    return frame


def _read_legacy(cache_dir, folder: Path, index: int) -> np.ndarray | None:
    file = npy_file(folder, index)
    try:
        with open(file, "rb") as handle:  # the header first: shape, type, size on disk
            shape, dtype, nbytes = limits.npy_header(handle, str(file))
            whole = handle.tell() + nbytes == os.fstat(handle.fileno()).st_size
        if not whole or dtype != np.uint8 or len(shape) != 3 or shape[2] != 3:
            return None
        if shape[0] * shape[1] > limits.limit("video_pixels"):
            return None
        frame = np.load(file, allow_pickle=False)
    except (FileNotFoundError, ValueError, OSError):  # KpcalError too (a ValueError)
        return None
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        return None
    try:
        _write(cache_dir, folder, index, frame, None)
        size = file.stat().st_size
        file.unlink()
        with _tally_lock:
            if _key(cache_dir) in _tally:
                _tally[_key(cache_dir)] -= size
    except (OSError, NotSaved):
        pass
    return frame


def write_cached_frame(
    cache_dir: str | os.PathLike,
    video_path: str | os.PathLike,
    index: int,
    frame,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> int:
    """Store frame ``index`` of a video (atomically).

    Parameters
    ----------
    frame
        An RGB uint8 ``(H, W, 3)`` array or a decoded PyAV ``VideoFrame``
        (stored as its YUV planes where that is lossless, see the module docstring).
    max_bytes
        The cache's size cap; least recently used frames are deleted when a
        write takes the cache over it. ``None``: no cap.

    Returns
    -------
    int
        Frames evicted by this write.

    Raises
    ------
    NotSaved
        The system refused the write (a full disk...); nothing is left behind.
    """
    return _write(
        cache_dir, video_cache_folder(cache_dir, video_path), int(index), frame, max_bytes
    )


def _write(cache_dir, folder: Path, index: int, frame, max_bytes: int | None) -> int:
    data = encode_frame(frame, check_key=str(folder))
    target = frame_file(folder, index)
    tmp = folder / f".{index:08d}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise not_saved(target, error) from None
    key = _key(cache_dir)
    with _tally_lock:
        known = key in _tally
        if known:
            _tally[key] += len(data)
            over = max_bytes is not None and _tally[key] > max_bytes
    if not known:
        size = cache_size(cache_dir).bytes  # first write of this process: measure
        with _tally_lock:
            _tally[key] = size
        over = max_bytes is not None and size > max_bytes
    if over and max_bytes is not None:
        return evict(cache_dir, int(max_bytes * LOW_WATER))
    return 0
