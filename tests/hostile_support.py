"""Files an attacker with write access to the data share could leave: pickles and size bombs.

Shared by the safety tests (tests/formats/test_hdf5_safety.py) and the size-limit
tests (tests/engine/test_input_limits.py). Every payload only creates a marker
file the test names (in its tmp_path): no code of an attacker's runs.
"""

from __future__ import annotations

import json
import os
import pickle
import zlib
from pathlib import Path

import h5py
import numpy as np

# --------------------------------------------------------------------------- pickles


class _CreatesMarker:
    """Unpickled, it calls ``open(marker, "w")``: the marker file appears."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def marker_pickle(marker: Path, protocol: int = 0) -> bytes:
    """A pickle whose unpickling creates ``marker`` (protocol 0: ASCII, fits any string type)."""
    return pickle.dumps(_CreatesMarker(str(marker)), protocol=protocol)


def _put_fixed_bytes(attrs, name: str, payload: bytes) -> None:
    attrs[name] = np.bytes_(payload)


def _put_vlen_ascii(attrs, name: str, payload: bytes) -> None:
    attrs.create(name, payload, dtype=h5py.string_dtype("ascii"))


def _put_vlen_utf8(attrs, name: str, payload: bytes) -> None:
    attrs.create(name, payload.decode("ascii"), dtype=h5py.string_dtype("utf-8"))


def _put_bytes_array(attrs, name: str, payload: bytes) -> None:
    attrs[name] = np.array([b"plain", payload])


def _put_vlen_array(attrs, name: str, payload: bytes) -> None:
    attrs.create(name, [b"plain", payload], dtype=h5py.string_dtype("ascii"))


def _put_opaque(attrs, name: str, payload: bytes) -> None:
    attrs[name] = np.void(payload)  # HDF5 opaque


#: How an attribute may hold a pickle: ``put(attrs, name, payload)``.
ATTRIBUTE_KINDS = {
    "fixed-length bytes": _put_fixed_bytes,
    "vlen ascii str": _put_vlen_ascii,
    "vlen utf-8 str": _put_vlen_utf8,
    "array of bytes": _put_bytes_array,
    "array of vlen str": _put_vlen_array,
    "opaque (numpy void)": _put_opaque,
}


def plant_pickle(path: Path, where: str, kind: str, marker: Path) -> None:
    """Add an attribute holding a marker pickle to ``where`` (a group or dataset; created if absent)."""
    with h5py.File(path, "a") as handle:
        if where not in handle:
            if where.endswith("_data"):
                handle[where] = np.arange(3)
            else:
                handle.require_group(where)
        ATTRIBUTE_KINDS[kind](handle[where].attrs, "planted", marker_pickle(marker))


# --------------------------------------------------------------------------- size bombs


def sleap_analysis_bomb(path: Path, n_frames: int, n_nodes: int = 4) -> Path:
    """A SLEAP analysis .h5 declaring ``n_frames`` frames in a few KB (chunked, never written)."""
    with h5py.File(path, "w") as handle:
        handle.create_dataset(
            "tracks", shape=(1, 2, n_nodes, n_frames), dtype="f8", chunks=(1, 2, n_nodes, 4096)
        )
        handle.create_dataset(
            "point_scores", shape=(1, n_nodes, n_frames), dtype="f8", chunks=(1, n_nodes, 4096)
        )
        handle["node_names"] = np.array([f"n{i}".encode() for i in range(n_nodes)])
    return path


def gzip_bomb(path: Path, n_frames: int, n_nodes: int = 4) -> Path:
    """A SLEAP analysis .h5 whose gzip-compressed ``tracks`` hold ``n_frames`` frames of zeros.

    Every chunk is written (the same compressed bytes, ~1000x smaller than the
    chunk): reading the dataset would decompress all of it.
    """
    chunk = (1, 2, n_nodes, 65536)
    packed = zlib.compress(np.zeros(chunk).tobytes(), 9)
    with h5py.File(path, "w") as handle:
        tracks = handle.create_dataset(
            "tracks", shape=(1, 2, n_nodes, n_frames), dtype="f8", chunks=chunk, compression="gzip"
        )
        for start in range(0, n_frames, chunk[-1]):
            tracks.id.write_direct_chunk((0, 0, 0, start), packed)
        handle["node_names"] = np.array([f"n{i}".encode() for i in range(n_nodes)])
    return path


def grow_dataset(handle: h5py.File, name: str, shape: tuple[int, ...]) -> None:
    """Replace dataset ``name`` by a chunked one declaring ``shape`` (attributes kept, nothing written)."""
    old = handle[name]
    attrs = {key: old.attrs[key] for key in old.attrs}
    dtype = old.dtype
    del handle[name]
    chunks = (min(shape[0], 4096),) + tuple(shape[1:])
    new = handle.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks)
    for key, value in attrs.items():
        new.attrs[key] = value


def slp_bomb(path: Path, n_instances: int) -> Path:
    """A .slp shaped as SLEAP writes one, whose tables declare ``n_instances`` instances."""
    frames_type = [
        ("frame_id", "<u8"),
        ("video", "<u4"),
        ("frame_idx", "<u8"),
        ("instance_id_start", "<u8"),
        ("instance_id_end", "<u8"),
    ]
    instances_type = [
        ("instance_id", "<i8"),
        ("instance_type", "u1"),
        ("frame_id", "<u8"),
        ("skeleton", "<u4"),
        ("track", "<i4"),
        ("from_predicted", "<i8"),
        ("score", "<f4"),
        ("point_id_start", "<u8"),
        ("point_id_end", "<u8"),
        ("tracking_score", "<f4"),
    ]
    points_type = [
        ("x", "<f8"),
        ("y", "<f8"),
        ("visible", "?"),
        ("complete", "?"),
        ("score", "<f8"),
    ]
    with h5py.File(path, "w") as handle:
        metadata = handle.create_group("metadata")
        metadata.attrs["format_id"] = 1.2
        metadata.attrs["json"] = np.bytes_(json.dumps({"version": "2.0", "nodes": []}).encode())
        handle.create_dataset("frames", shape=(n_instances,), dtype=frames_type, chunks=(4096,))
        handle.create_dataset(
            "instances", shape=(n_instances,), dtype=instances_type, chunks=(4096,)
        )
        handle.create_dataset(
            "pred_points", shape=(4 * n_instances,), dtype=points_type, chunks=(4096,)
        )
        handle.create_dataset("points", shape=(0,), dtype=points_type[:4], maxshape=(None,))
        handle["videos_json"] = np.array([b'{"backend": {"filename": "v.mp4"}}'])
        handle["tracks_json"] = np.array([b'[0, "t"]'])
    return path


def csv_with_columns(path: Path, n_columns: int, n_lines: int = 3) -> Path:
    """A DeepLabCut-style CSV whose first ``n_lines`` header rows have ``n_columns`` columns.

    Written streaming (never a whole line in memory); with all three header
    rows, one data row follows.
    """
    rows = (("scorer", "s"), ("bodyparts", "b"), ("coords", "x"))
    with open(path, "w") as handle:
        for first, value in rows[:n_lines]:
            handle.write(first)
            chunk = ("," + value) * 100_000
            for _ in range(n_columns // 100_000):
                handle.write(chunk)
            handle.write(("," + value) * (n_columns % 100_000))
            handle.write("\n")
        if n_lines == len(rows):
            handle.write("0" + ",1" * n_columns + "\n")
    return path


def csv_with_rows(path: Path, n_rows: int, n_bodyparts: int = 1) -> Path:
    """A DeepLabCut-style CSV with ``n_rows`` frames (written streaming, short rows)."""
    with open(path, "w") as handle:
        parts = [f"b{i}" for i in range(n_bodyparts)]
        handle.write("scorer" + ",s" * 3 * n_bodyparts + "\n")
        handle.write("bodyparts" + "".join(f",{b},{b},{b}" for b in parts) + "\n")
        handle.write("coords" + ",x,y,likelihood" * n_bodyparts + "\n")
        row = ",1,1,1" * n_bodyparts + "\n"
        block = "".join(f"{i}{row}" for i in range(1000))
        for _ in range(n_rows // 1000):
            handle.write(block)
    return path


def mjpeg_video(path: Path, width: int, height: int, n_frames: int = 3) -> Path:
    """A few grey MJPEG frames of ``width`` x ``height`` (small on disk, huge decoded)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=5)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        stream.options = {"q": "31"}
        frame = av.VideoFrame(width, height, "yuvj420p")
        for plane in frame.planes:  # mid grey, written without a (H, W) array per plane
            plane.update(b"\x80" * plane.buffer_size)
        for _ in range(n_frames):
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def oversized_npy(path: Path, shape: tuple[int, ...], dtype=np.float64) -> Path:
    """A ``.npy`` whose header declares ``shape`` while holding (almost) nothing."""
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
        )
        handle.write(b"\0" * 64)
    return path


def file_size_kb(path: Path) -> float:
    return os.path.getsize(path) / 1024


# --------------------------------------------------------------------------- measuring a refusal

_MEASURE = """
import json, resource, sys, time
sys.path[:0] = {paths!r}
from kpcal_core.errors import KpcalError
from kpcal_core import keypoints, workflows, video, keypoint_store  # imports before the clock
import pynwb, sleap_io, av  # noqa: F401  (readers the checks run before)
started = time.perf_counter()
result = {{"refused": None, "type": None}}
try:
{body}
except KpcalError as error:
    result["refused"], result["type"] = str(error), type(error).__name__
result["seconds"] = time.perf_counter() - started
result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with open("/proc/self/status") as status:  # the kernel's own high-water mark, to cross-check
    result["vm_hwm_mb"] = int(status.read().split("VmHWM:")[1].split()[0]) / 1024
print("RESULT " + json.dumps(result))
"""


def run_measured(body: str, env: dict | None = None, timeout: float = 120) -> dict:
    """Run ``body`` (Python, may name ``kpcal_core`` modules) in a fresh interpreter.

    Returns ``{"refused": message or None, "type": exception class name,
    "seconds": time of ``body``, "peak_rss_mb": the process's peak RSS}``.
    """
    import subprocess
    import sys
    import textwrap

    repo = str(Path(__file__).resolve().parents[1])
    code = _MEASURE.format(paths=[repo], body=textwrap.indent(textwrap.dedent(body), "    "))
    environment = dict(os.environ, **(env or {}))
    # Through a shell that forks: a process exec'd straight from this one would inherit this
    # process's peak RSS in its ru_maxrss (Linux keeps it across exec), not only its own.
    done = subprocess.run(
        ["/bin/sh", "-c", '"$0" -c "$1"; exit $?', sys.executable, code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=repo,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])
