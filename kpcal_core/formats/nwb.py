"""NWB files with ndx-pose ``PoseEstimation`` containers.

Owns the ``nwb`` format. Recognised by the root attribute
``neurodata_type == "NWBFile"``; read through ``pynwb`` with ``ndx_pose``.

Each ``PoseEstimation`` gives one recording (suffix ``_{name}`` when the file
has more than one; ``_{module}_{name}`` if two modules use one name). Its
bodyparts are its skeleton's nodes (else its series' names); a series
without confidence gives ones. The video is the ``source_video`` link's
external file, else ``original_videos``, when the file names one video; the
skeleton's edges are kept as bodypart-name pairs.

Precision: float64 (NWB pose series are usually float64).

Sizes are checked with h5py before pynwb opens the file
(:mod:`kpcal_core.limits`): every ``PoseEstimationSeries``' declared frames
(summed: keypoint values) and the names pynwb reads whole (skeleton nodes
and edges, video file names). pynwb reads the rest lazily.

Pixel convention: ndx-pose describes the origin only in free text
(``reference_frame``); coordinates are returned as stored, which is
pixel-centre based for files converted from DeepLabCut or current SLEAP
(kpcal's convention).
"""

from __future__ import annotations

import h5py
import numpy as np

from .. import limits
from ..errors import KpcalError
from ..wording import count
from .model import PoseFile, PoseFormat, ReadOptions, named_edges, text
from .probe import FileProbe

NAME = "nwb"


def recognise(probe: FileProbe) -> bool:
    """An HDF5 file whose root says it is an ``NWBFile``."""
    return probe.is_hdf5 and text(probe.h5.attrs.get("neurodata_type", "")) == "NWBFile"


def read(probe: FileProbe, options: ReadOptions) -> PoseFile:
    """One recording per PoseEstimation."""
    import ndx_pose  # noqa: F401  (registers the PoseEstimation classes)
    import pynwb

    path = probe.path
    _check_sizes(probe.h5, path)
    probe.close()  # pynwb opens the file itself
    with pynwb.NWBHDF5IO(path, mode="r", load_namespaces=True) as io:
        nwbfile = io.read()
        poses = [
            obj
            for obj in nwbfile.objects.values()
            if getattr(obj, "neurodata_type", None) == "PoseEstimation"
        ]
        if not poses:
            raise KpcalError(f"NWB file {path!r} has no ndx-pose PoseEstimation")
        poses.sort(key=lambda p: (getattr(p.parent, "name", ""), p.name))
        bodyparts: list[str] | None = None
        tracks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        videos = set()
        skeleton: list[list[str]] = []
        for pose in poses:
            where = f"NWB file {path!r}, PoseEstimation {pose.name!r}"
            parts, coords, conf = _read_pose_estimation(pose, where)
            if bodyparts is None:
                bodyparts = parts
                skeleton = _skeleton_edges(pose, parts)
            elif set(parts) != set(bodyparts):
                raise KpcalError(
                    f"{where} has bodyparts {parts} but {poses[0].name!r} has {bodyparts}"
                )
            else:
                order = [parts.index(b) for b in bodyparts]
                coords, conf = coords[:, order], conf[:, order]
            suffix = f"_{pose.name}" if len(poses) > 1 else ""
            if suffix in tracks:  # same name in two processing modules
                suffix = f"_{getattr(pose.parent, 'name', '')}_{pose.name}"
            tracks[suffix] = (coords, conf)
            videos.update(_pose_videos(pose))
    video = videos.pop() if len(videos) == 1 else None
    return PoseFile(path, NAME, bodyparts or [], tracks, video, skeleton)


def _check_sizes(handle: h5py.File, path: str) -> None:
    """Refuse pose series (and names) larger than the limits, from their declared shapes."""
    values = names = 0
    groups = []
    handle.visititems(lambda _, obj: groups.append(obj) if isinstance(obj, h5py.Group) else None)
    for group in groups:
        kind = text(group.attrs.get("neurodata_type", ""))
        if kind == "PoseEstimationSeries":
            data, confidence = group.get("data"), group.get("confidence")
            where = f"NWB file {path!r}, series {group.name!r}"
            if not isinstance(data, h5py.Dataset) or not data.shape:
                continue  # pynwb says what is wrong
            for dataset in (data, confidence):
                if isinstance(dataset, h5py.Dataset) and (
                    dataset.dtype.kind not in "fiu" or dataset.dtype.itemsize > 8
                ):
                    raise KpcalError(f"{where} holds {dataset.dtype} values, not numbers")
            n_frames = data.shape[0]
            if data.size > 3 * n_frames or (
                isinstance(confidence, h5py.Dataset) and confidence.size > n_frames
            ):
                raise KpcalError(f"{where} has shape {data.shape}, not (T, 2)")
            values += n_frames
        elif kind in ("Skeleton", "ImageSeries"):
            for name in ("nodes", "edges", "external_file"):
                dataset = group.get(name)
                if isinstance(dataset, h5py.Dataset):
                    names += dataset.size * dataset.dtype.itemsize
    limits.check(
        "keypoint_values", values, f"NWB file {path!r}", "its pose series declare, together, "
    )
    limits.check(
        "hdf5_metadata_bytes", names, f"NWB file {path!r}", "its skeletons and video names declare "
    )


def _skeleton_edges(pose, bodyparts: list[str]) -> list[list[str]]:
    skeleton = getattr(pose, "skeleton", None)
    edges = getattr(skeleton, "edges", None) if skeleton is not None else None
    if skeleton is None or edges is None:
        return []
    nodes = [text(n) for n in skeleton.nodes[:]]
    return named_edges([[nodes[int(a)], nodes[int(b)]] for a, b in edges[:]], bodyparts)


def _pose_videos(pose) -> list[str]:
    """Video files a PoseEstimation names: its source_video link, or original_videos."""
    source = getattr(pose, "source_video", None)
    files = getattr(source, "external_file", None) if source is not None else None
    if files is None:
        files = getattr(pose, "original_videos", None)
    return [text(f) for f in files[:]] if files is not None else []


def _read_pose_estimation(pose, where: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    series = pose.pose_estimation_series
    skeleton = getattr(pose, "skeleton", None)
    if skeleton is not None and skeleton.nodes is not None:
        bodyparts = [text(n) for n in skeleton.nodes[:]]
    else:
        bodyparts = list(series.keys())
    missing = [b for b in bodyparts if b not in series]
    if missing:
        raise KpcalError(f"{where}: bodypart {missing[0]!r} has no PoseEstimationSeries")
    if not bodyparts:
        raise KpcalError(f"{where} has no bodyparts")
    xy: list[np.ndarray] = []
    conf: list[np.ndarray] = []
    for name in bodyparts:
        s = series[name]
        data = np.asarray(s.data[()], dtype=np.float64)
        if data.ndim != 2 or data.shape[1] not in (2, 3):
            raise KpcalError(f"{where}: series {name!r} has shape {data.shape}, not (T, 2)")
        if data.shape[1] == 3:
            raise KpcalError(
                f"{where} holds 3-D keypoints (series {name!r} is (T, 3)); "
                "error calibration works on 2-D keypoints in video frames"
            )
        if xy and len(data) != len(xy[0]):
            raise KpcalError(
                f"{where}: series {name!r} has {count(len(data), 'frame')} but "
                f"{bodyparts[0]!r} has {len(xy[0])}"
            )
        c = s.confidence
        c = np.ones(len(data)) if c is None else np.asarray(c[()], dtype=np.float64)
        if c.shape != (len(data),):
            raise KpcalError(
                f"{where}: series {name!r} has {c.shape} confidences for {count(len(data), 'frame')}"
            )
        xy.append(data)
        conf.append(c)
    return bodyparts, np.stack(xy, axis=1), np.stack(conf, axis=1)


FORMAT = PoseFormat(
    name=NAME,
    label="NWB (ndx-pose PoseEstimation)",
    extensions=(".nwb",),
    recognise=recognise,
    read=read,
)
