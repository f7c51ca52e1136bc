"""Small synthetic pose files of every format, for the format tests."""

from __future__ import annotations

import datetime
import os

import h5py
import numpy as np
import pandas as pd

SCORER = "DLC_resnet50_testJan1shuffle1_1000"


# --------------------------------------------------------------------------- writers


def dlc_frame(
    bodyparts, n_frames=5, individuals=None, scorer=SCORER, coords=("x", "y", "likelihood")
):
    """A DeepLabCut-style table whose value at (t, column j) is 1000 * t + j."""
    if individuals is None:
        tuples = [(scorer, bp, c) for bp in bodyparts for c in coords]
        names = ["scorer", "bodyparts", "coords"]
    else:
        tuples = [
            (scorer, ind, bp, c)
            for ind, parts in individuals.items()
            for bp in parts
            for c in coords
        ]
        names = ["scorer", "individuals", "bodyparts", "coords"]
    columns = pd.MultiIndex.from_tuples(tuples, names=names)
    values = 1000.0 * np.arange(n_frames)[:, None] + np.arange(len(tuples))[None, :]
    return pd.DataFrame(values, columns=columns)


def write_dlc(frame, path, kind=None):
    kind = kind or os.path.splitext(str(path))[1].lstrip(".")
    if kind == "csv":
        frame.to_csv(path)
    else:
        frame.to_hdf(path, key="df_with_missing", format=kind if kind != "h5" else "table")
    return path


def write_sleap_analysis(path, tracks, scores, node_names, video_path=None):
    """SLEAP's analysis layout from (tracks, frames, nodes, 2) and (tracks, frames, nodes)."""
    with h5py.File(path, "w") as handle:
        handle["tracks"] = np.transpose(tracks, (0, 3, 2, 1))  # (tracks, 2, nodes, frames)
        handle["point_scores"] = np.transpose(scores, (0, 2, 1))  # (tracks, nodes, frames)
        handle["node_names"] = np.array([n.encode() for n in node_names], dtype="S")
        if video_path is not None:
            handle["video_path"] = video_path.encode()
    return path


def write_slp(path, n_tracks, n_frames=4, tracked=True, video="/elsewhere/session1.mp4", user=None):
    """A .slp with PredictedInstances: track i, frame t, node k at (100 i + 10 t + k, ...).

    ``user``: ``{frame: [track, ...]}``: in those frames a person's label (a SLEAP user
    ``Instance`` made from the prediction, 1.5 px to the right, its paw not labelled in
    frame 1) beside the prediction of each track named (as a SLEAP project holds them).
    """
    import sleap_io as sio

    skeleton = sio.Skeleton(["nose", "tail", "paw"])
    movie = sio.Video(filename=video)
    tracks = [sio.Track(f"animal{i}") for i in range(n_tracks)]
    frames = []
    for t in range(n_frames):
        instances = []
        for i in range(n_tracks):
            points = np.array([[100 * i + 10 * t + k, 200 + k] for k in range(3)], dtype=float)
            points[2] = np.nan if t == 1 else points[2]  # paw missing in frame 1
            instances.append(
                sio.PredictedInstance.from_numpy(
                    points,
                    skeleton=skeleton,
                    point_scores=np.array([0.5 + i, 1.7, 0.25]),  # SLEAP scores may exceed 1
                    score=1.0,
                    track=tracks[i] if tracked else None,
                )
            )
        for i in (user or {}).get(t, []):
            predicted = instances[i]
            instances.append(
                sio.Instance.from_numpy(
                    predicted.numpy() + [1.5, 0.0],
                    skeleton=skeleton,
                    track=tracks[i] if tracked else None,
                    from_predicted=predicted,
                )
            )
        frames.append(sio.LabeledFrame(video=movie, frame_idx=t, instances=instances))
    labels = sio.Labels(
        labeled_frames=frames,
        videos=[movie],
        skeletons=[skeleton],
        tracks=tracks if tracked else [],
    )
    sio.save_slp(labels, str(path))
    return path


def write_nwb(path, poses, with_confidence=True, n_dims=2, n_frames=6):
    """An NWB file with one ndx-pose PoseEstimation per name in ``poses``."""
    from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.image import ImageSeries

    nwb = NWBFile(
        session_description="test",
        identifier="kpcal-test",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    )
    video = ImageSeries(
        name="video",
        external_file=["/videos/mouse.mp4"],
        format="external",
        rate=30.0,
        starting_frame=[0],
        num_samples=n_frames,
    )
    nwb.add_acquisition(video)
    module = nwb.create_processing_module(name="behavior", description="pose")
    nodes = ["snout", "tailbase"]
    skeletons = []
    for p, pose_name in enumerate(poses):
        skeleton = Skeleton(
            name=f"skeleton_{pose_name}", nodes=nodes, edges=np.array([[0, 1]], dtype="uint8")
        )
        skeletons.append(skeleton)
        series = []
        for k, node in enumerate(nodes):
            data = (
                100 * p
                + 10 * k
                + np.arange(n_frames * n_dims, dtype=float).reshape(n_frames, n_dims)
            )
            series.append(
                PoseEstimationSeries(
                    name=node,
                    data=data,
                    confidence=np.linspace(0, 1, n_frames) + k if with_confidence else None,
                    reference_frame="top left corner",
                    rate=30.0,
                    starting_time=0.0,
                )
            )
        module.add(
            PoseEstimation(
                name=pose_name,
                pose_estimation_series=series,
                skeleton=skeleton,
                source_software="DeepLabCut",
                source_video=video,
            )
        )
    module.add(Skeletons(skeletons=skeletons))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path
