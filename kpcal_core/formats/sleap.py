"""SLEAP files: labels/predictions ``.slp`` and analysis ``.h5``.

Owns the ``sleap`` format.

Recognised by content (HDF5):

- ``.slp``: a ``metadata`` group beside ``frames`` or ``videos_json``; read
  through ``sleap_io`` (the SLEAP team's reader), as keypoint-MoSeq does;
- analysis ``.h5``: datasets ``tracks``, ``node_names`` and usually
  ``point_scores``; read with h5py. SLEAP writes ``tracks`` as (tracks, 2,
  nodes, frames); sleap-io can write other axis orders and then names them in
  each dataset's ``dims`` attribute, which is followed.

A file with more than one track gives one recording per track (suffix
``_track{i}``). The stored video path and the skeleton's edges are kept.

Sizes are checked before anything is read (:mod:`kpcal_core.limits`): an
analysis file's ``tracks`` by its declared shape (tracks x frames x nodes);
a ``.slp`` by its datasets' declared bytes, its instances, and the array
sleap-io will allocate (last labelled frame x tracks x nodes), all from
dataset shapes and a few small columns, before sleap-io loads anything.

Precision: coordinates and scores are returned at the precision keypoint-MoSeq
gets: float32 from ``.slp`` (``sleap_io.Labels.numpy``), and the stored
precision of an analysis file's datasets (float32 stays float32; other types
become float64).

Pixel convention. SLEAP files of format 1.1 and later (``format_id`` in the
``metadata`` group's attributes) store pixel-centre coordinates, kpcal's
convention. Files written before format 1.1 put (0, 0) at the top-left
corner of the first pixel; their coordinates are shifted by -0.5 on reading.
sleap-io (0.9.5, the version kpcal pins) already applies that shift when it
reads such a file, so kpcal checks what sleap-io returned against the raw
points and shifts only if sleap-io did not (never twice). Analysis ``.h5``
files carry no format version: they are returned as stored (SLEAP and
sleap-io write them in the pixel-centre convention).
"""

from __future__ import annotations

import json

import h5py
import numpy as np

from .. import limits
from ..errors import KpcalError
from .model import (
    PoseFile,
    PoseFormat,
    ReadOptions,
    keypoint_float,
    named_edges,
    text,
    track_suffixes,
)
from .probe import FileProbe

NAME = "sleap"

#: The first ``.slp`` format version whose coordinates are pixel-centre based.
PIXEL_CENTRE_FORMAT_ID = 1.1
#: What files of earlier formats need added to be pixel-centre based.
LEGACY_SHIFT = -0.5

_TRACKS_DIMS = ("track", "xy", "node", "frame")  # SLEAP's (MATLAB-style) axis order


# --------------------------------------------------------------------------- recognising


def _is_slp(handle: h5py.File) -> bool:
    return "metadata" in handle and ("frames" in handle or "videos_json" in handle)


def recognise(probe: FileProbe) -> bool:
    """A ``.slp`` or an analysis ``.h5``; refuses 3-D (sleap-anipose) ``tracks``."""
    if not probe.is_hdf5:
        return False
    handle = probe.h5
    if _is_slp(handle):
        return True
    if "tracks" not in handle:
        return False
    if "node_names" in handle:
        return True
    shape = handle["tracks"].shape
    if len(shape) == 4 and shape[-1] == 3:
        raise KpcalError(
            f"file {probe.path!r} holds 3-D keypoints (sleap-anipose layout, tracks "
            f"{shape}); error calibration works on 2-D keypoints in video frames"
        )
    raise KpcalError(
        f"file {probe.path!r} has a 'tracks' dataset but no 'node_names': "
        "it is not a SLEAP analysis file"
    )


def slp_format_id(handle: h5py.File) -> float | None:
    """The ``format_id`` a ``.slp`` stores in its ``metadata`` attributes, or None."""
    if "metadata" not in handle or "format_id" not in handle["metadata"].attrs:
        return None
    try:
        return float(handle["metadata"].attrs["format_id"])
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- analysis .h5


def _stored_dims(dataset: h5py.Dataset) -> list[str] | None:
    """Axis names from sleap-io's JSON ``dims`` attribute, or None if absent."""
    if "dims" not in dataset.attrs:
        return None
    try:
        dims = json.loads(text(dataset.attrs["dims"]))
    except ValueError:
        return None
    return [str(d) for d in dims] if isinstance(dims, list) else None


def _analysis_dims(dataset: h5py.Dataset, handle: h5py.File) -> list[str]:
    dims = _stored_dims(dataset)
    if dims is not None:
        return dims
    if not bool(
        handle.attrs.get("transpose", True)
    ):  # very old exports: (frames, nodes, 2, tracks)
        return ["frame", "node", "xy", "track"]
    return list(_TRACKS_DIMS)


def _check_numbers(dataset: h5py.Dataset, path: str) -> None:
    """Refuse keypoints that are not numbers (read whole, they could be anything)."""
    if dataset.dtype.kind not in "fiu" or dataset.dtype.itemsize > 8:
        raise KpcalError(
            f"file {path!r}: {dataset.name!r} holds {dataset.dtype} values, not numbers"
        )


def _declared_bytes(dataset: h5py.Dataset) -> int:
    """What reading a dataset whole allocates before any variable-length item."""
    return int(np.prod(dataset.shape, dtype=np.int64)) * dataset.dtype.itemsize


def _small(handle: h5py.File, name: str, path: str):
    """A dataset of names (nodes, edges, the video path) read whole, its size checked first."""
    dataset = handle[name]
    if not isinstance(dataset, h5py.Dataset):
        raise KpcalError(f"file {path!r}: {name!r} is not a dataset")
    limits.check(
        "hdf5_metadata_bytes", _declared_bytes(dataset), f"file {path!r}", f"{name!r} declares "
    )
    return dataset[()]


def _read_analysis(probe: FileProbe) -> PoseFile:
    """SLEAP analysis .h5: ``tracks``, ``point_scores`` and ``node_names``."""
    path, handle = probe.path, probe.h5
    dataset = handle["tracks"]
    dims = _analysis_dims(dataset, handle)
    if dataset.ndim != 4 or sorted(dims) != sorted(_TRACKS_DIMS):
        raise KpcalError(
            f"file {path!r}: 'tracks' has shape {dataset.shape} (axes {dims}), not SLEAP's "
            "(tracks, 2, nodes, frames)"
        )
    order = [dims.index(d) for d in ("track", "frame", "node", "xy")]
    declared = [dataset.shape[i] for i in order]
    if declared[3] != 2:
        raise KpcalError(
            f"file {path!r} holds {declared[3]}-D keypoints ('tracks' shape "
            f"{dataset.shape}); error calibration works on 2-D keypoints in video frames"
        )
    _check_numbers(dataset, path)
    limits.check(
        "keypoint_values",
        declared[0] * declared[1] * declared[2],
        f"file {path!r}",
        f"'tracks' declares {declared[0]:,} tracks x {declared[1]:,} frames x "
        f"{declared[2]:,} nodes = ",
    )
    if "point_scores" in handle:
        _check_numbers(handle["point_scores"], path)
        if handle["point_scores"].size != declared[0] * declared[1] * declared[2]:
            raise KpcalError(
                f"file {path!r}: 'point_scores' do not match 'tracks' (shape "
                f"{handle['point_scores'].shape} for {declared[0]} tracks, {declared[1]} frames, "
                f"{declared[2]} nodes)"
            )
    tracks = np.transpose(keypoint_float(dataset[()]), order)  # (tracks, frames, nodes, xy)
    n_tracks, n_frames, n_nodes, _ = tracks.shape
    bodyparts = [text(n) for n in _small(handle, "node_names", path)]
    if "point_scores" in handle:
        scores_set = handle["point_scores"]
        score_dims = _stored_dims(scores_set) or [d for d in dims if d != "xy"]
        if scores_set.ndim != 3 or sorted(score_dims) != ["frame", "node", "track"]:
            raise KpcalError(
                f"file {path!r}: 'point_scores' has shape {scores_set.shape}, expected "
                "(tracks, nodes, frames)"
            )
        order = [score_dims.index(d) for d in ("track", "frame", "node")]
        scores = np.transpose(keypoint_float(scores_set[()]), order)
    else:
        scores = np.ones((n_tracks, n_frames, n_nodes), dtype=tracks.dtype)
    video = text(_small(handle, "video_path", path)) if "video_path" in handle else None
    edges = _small(handle, "edge_names", path) if "edge_names" in handle else []
    if len(bodyparts) != n_nodes:
        raise KpcalError(
            f"file {path!r}: {len(bodyparts)} node_names but 'tracks' has {n_nodes} nodes"
        )
    if scores.shape != tracks.shape[:3]:
        raise KpcalError(
            f"file {path!r}: 'point_scores' do not match 'tracks' ({scores.shape} for "
            f"{n_tracks} tracks, {n_frames} frames, {n_nodes} nodes)"
        )
    if n_tracks == 0:
        raise KpcalError(f"file {path!r} has no tracks")
    out = {
        suffix: (np.ascontiguousarray(tracks[i]), np.ascontiguousarray(scores[i]))
        for i, suffix in enumerate(track_suffixes(n_tracks))
    }
    return PoseFile(path, NAME, bodyparts, out, video or None, named_edges(edges, bodyparts))


# --------------------------------------------------------------------------- .slp


def _raw_min_x(handle: h5py.File) -> float | None:
    """The smallest x of a visible point in the file's point tables, as stored."""
    values = []
    for name in ("points", "pred_points"):
        if name in handle and len(handle[name]):
            table = handle[name][()]
            x = np.asarray(table["x"], dtype=np.float64)[np.asarray(table["visible"], dtype=bool)]
            x = x[np.isfinite(x)]
            if x.size:
                values.append(x.min())
    return float(min(values)) if values else None


def _legacy_shift_left(handle: h5py.File, labels) -> float:
    """What must still be added to sleap-io's coordinates of a pre-1.1 file (0 or -0.5).

    sleap-io converts such files itself (0.9.5 does); this compares the
    smallest visible x sleap-io returned with the raw tables', so the shift is
    applied exactly once whatever the sleap-io version.
    """
    raw = _raw_min_x(handle)
    got = [
        np.nanmin(points[:, 0])
        for frame in labels.labeled_frames
        for instance in frame.instances
        if np.isfinite((points := instance.numpy())[:, 0]).any()
    ]
    if raw is None or not got:
        return 0.0
    return 0.0 if abs(float(min(got)) - (raw + LEGACY_SHIFT)) < 1e-3 else LEGACY_SHIFT


def _column(dataset, field: str) -> np.ndarray | None:
    """One integer column of a ``.slp`` table (None if it has no such column)."""
    if not isinstance(dataset, h5py.Dataset) or dataset.dtype.names is None:
        return None
    if field not in dataset.dtype.names or dataset.dtype.fields[field][0].kind not in "iu":
        return None
    return dataset.fields(field)[()]


def _slp_nodes(handle: h5py.File) -> int:
    """The most nodes a skeleton in the ``.slp``'s JSON metadata declares (0 if unreadable)."""
    try:
        metadata = json.loads(text(handle["metadata"].attrs["json"]))
        counts = [len(metadata.get("nodes") or [])]
        counts += [len(s.get("nodes") or []) for s in metadata.get("skeletons") or []]
        return max(counts)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError):
        return 0


def _check_slp_sizes(handle: h5py.File, path: str) -> None:
    """Refuse a ``.slp`` that would make sleap-io allocate more than the limits allow.

    Checked from dataset shapes and three small integer columns, before
    sleap-io reads anything: the bytes of every dataset (sleap-io reads them
    whole; text, which it parses as JSON, against the smaller metadata
    limit), the labelled frames and instances (it builds an object for each),
    and the ``(last frame + 1) x tracks x nodes`` array ``Labels.numpy``
    allocates.
    """
    where = f"file {path!r}"
    datasets = []
    handle.visititems(
        lambda _, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None
    )
    text_sets = [d for d in datasets if d.dtype.kind in "SUO" or d.name.endswith("_json")]
    limits.check(
        "hdf5_read_bytes",
        sum(_declared_bytes(d) for d in datasets),
        where,
        f"its {len(datasets)} datasets declare ",
    )
    limits.check(
        "hdf5_metadata_bytes",
        sum(_declared_bytes(d) for d in text_sets),
        where,
        f"its {len(text_sets)} text datasets ({', '.join(d.name for d in text_sets[:4])}) declare ",
    )
    frames, instances = handle.get("frames"), handle.get("instances")
    for name, table in (("frames", frames), ("instances", instances)):
        if isinstance(table, h5py.Dataset):
            rows = table.shape[0] if table.ndim else 1
            limits.check("slp_instances", rows, where, f"its {name!r} table declares ")
    frame_idx = _column(frames, "frame_idx")
    starts, ends = _column(frames, "instance_id_start"), _column(frames, "instance_id_end")
    first, last = _column(instances, "point_id_start"), _column(instances, "point_id_end")
    if frame_idx is None or not len(frame_idx):
        return  # sleap-io says what is wrong
    n_frames = int(frame_idx.max()) + 1
    per_frame = points = 0
    if starts is not None and ends is not None:
        per_frame = int((ends.astype(np.int64) - starts.astype(np.int64)).max())
    if first is not None and last is not None and len(first):
        points = int((last.astype(np.int64) - first.astype(np.int64)).max())
    tracks = handle.get("tracks_json")
    n_tracks = max(
        1, per_frame, tracks.shape[0] if isinstance(tracks, h5py.Dataset) and tracks.ndim else 0
    )
    n_nodes = max(1, points, _slp_nodes(handle))
    limits.check(
        "keypoint_values",
        n_frames * n_tracks * n_nodes,
        where,
        f"it declares frames up to {n_frames - 1:,}, {n_tracks:,} tracks and {n_nodes:,} nodes: ",
    )


def _read_slp(probe: FileProbe) -> PoseFile:
    """SLEAP .slp through sleap_io: every track, or instances in frame order if untracked.

    Frames run from 0 to the last labelled frame (the video is not opened).
    As in keypoint-MoSeq (``Labels.numpy``), a user-labelled instance replaces
    the prediction of its track with confidence 1, and instances without a
    track are left out when the file has tracks. Which points are such human
    labels is kept beside the arrays (:attr:`PoseFile.labelled`), so they are
    never drawn for annotation.
    """
    import sleap_io

    path = probe.path
    format_id = slp_format_id(probe.h5)
    _check_slp_sizes(probe.h5, path)
    labels = sleap_io.load_slp(path, open_videos=False)
    if len(labels.skeletons) != 1:
        raise KpcalError(
            f"file {path!r} has {len(labels.skeletons)} skeletons; kpcal reads files with one"
        )
    if not labels.labeled_frames:
        raise KpcalError(f"file {path!r} has no labelled frames (no predictions)")
    used = {id(lf.video) for lf in labels.labeled_frames}
    if len(used) > 1:
        raise KpcalError(
            f"file {path!r} holds predictions for {len(used)} videos; kpcal needs one video "
            "per file: save each video's predictions in its own .slp"
        )
    shift = 0.0
    if format_id is not None and format_id < PIXEL_CENTRE_FORMAT_ID:
        shift = _legacy_shift_left(probe.h5, labels)
    video = next(lf.video for lf in labels.labeled_frames)
    skeleton = labels.skeletons[0]
    bodyparts = [node.name for node in skeleton.nodes]
    # (frames, tracks, nodes, 3): x, y, score (float32); frames run from 0 to the last labelled
    untracked = not labels.tracks
    array = labels.numpy(video=video, untracked=untracked, return_confidence=True)
    if labels.tracks and np.isnan(array[..., :2]).all():  # tracks exist but nothing is on one
        untracked = True
        array = labels.numpy(video=video, untracked=True, return_confidence=True)
    if array.shape[1] == 0:
        raise KpcalError(f"file {path!r} has no instances to read")
    labelled = _user_labelled(labels, video, untracked, array)
    if shift:
        array[..., :2] += np.float32(shift)
    suffixes = track_suffixes(array.shape[1])
    tracks = {
        suffix: (
            np.ascontiguousarray(array[:, i, :, :2]),
            np.ascontiguousarray(array[:, i, :, 2]),
        )
        for i, suffix in enumerate(suffixes)
    }
    human = {}
    if labelled is not None:
        human = {s: labelled[:, i] for i, s in enumerate(suffixes) if labelled[:, i].any()}
    stored = video.filename if isinstance(video.filename, str) else None  # list: image files
    if stored and stored.lower().endswith(".slp"):
        stored = None  # frames embedded in a .slp, not a video file
    edges = [[edge.source.name, edge.destination.name] for edge in skeleton.edges]
    return PoseFile(
        path, NAME, bodyparts, tracks, stored, named_edges(edges, bodyparts), labelled=human
    )


def _user_labelled(labels, video, untracked: bool, array: np.ndarray) -> np.ndarray | None:
    """``(frames, tracks, nodes)`` bool: True where ``array`` holds a user-labelled point.

    ``Labels.numpy`` (keypoint-MoSeq's array) puts a person's own label in place
    of the prediction of its track, with confidence 1. To tell which points
    those are with sleap-io's own choice of instances, the user instances'
    points are blanked in these (just loaded, about to be dropped) labels and
    the array is made again: the points that became NaN are the human ones.
    None when the video has no user instance (the common case: no second pass).
    """
    users = [
        instance
        for frame in labels.labeled_frames
        if frame.video is video
        for instance in frame.user_instances
    ]
    if not users:
        return None
    for instance in users:
        instance.points["xy"][:] = np.nan
    again = labels.numpy(video=video, untracked=untracked, return_confidence=False)
    if again.shape[:3] != array.shape[:3]:  # never expected: then every point of a user frame
        frames = sorted({f.frame_idx for f in labels.labeled_frames if f.user_instances})
        mask = np.zeros(array.shape[:3], dtype=bool)
        mask[[f for f in frames if f < len(mask)]] = True
        return mask
    return np.isnan(again[..., 0]) & ~np.isnan(array[..., 0])


def read(probe: FileProbe, options: ReadOptions) -> PoseFile:
    """Read a ``.slp`` or an analysis ``.h5`` (chosen by content)."""
    return _read_analysis(probe) if "tracks" in probe.h5 else _read_slp(probe)


FORMAT = PoseFormat(
    name=NAME,
    label="SLEAP (.slp, analysis .h5)",
    extensions=(".slp", ".h5", ".hdf5"),
    recognise=recognise,
    read=read,
)
