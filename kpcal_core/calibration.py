"""The notebook entry point: :func:`noise_calibration`, and sampling that keeps annotations.

:func:`noise_calibration` keeps keypoint-MoSeq's signature. Instead of a
Jupyter widget it validates everything, stores a calibration session in the
project and returns the command that opens the app on it. It never deletes or
overwrites annotations: samples already annotated stay in the list.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from . import appfiles
from .annotations import load_annotation_records
from .config import config_path, load_config
from .errors import KpcalError
from .samplekeys import SampleKey
from .sampling import sample_error_frames
from .session import CalibrationSession, frame_cache_dir, save_session, save_session_keypoints
from .validate import (
    check_bodyparts,
    check_confidences,
    check_coordinates,
    check_video_frame_indexes,
)
from .video import fill_cache, find_matching_videos, sample_video_frames, video_info
from .wording import count


def merge_samples(
    new_samples: Sequence[SampleKey], annotated: Sequence[SampleKey]
) -> list[SampleKey]:
    """Annotated samples first (in their order), then the new ones not already among them."""
    seen = set()
    merged = []
    for key in list(annotated) + list(new_samples):
        key = (str(key[0]), int(key[1]), str(key[2]))
        if key not in seen:
            seen.add(key)
            merged.append(key)
    return merged


def check_frames_in_videos(
    video_paths: Mapping[str, str], video_frame_indexes: Mapping[str, np.ndarray]
) -> None:
    """Raise if a recording needs a frame beyond the end of its video."""
    for recording, video in video_paths.items():
        indexes = video_frame_indexes[recording]
        if len(indexes) == 0:
            continue
        needed = int(np.max(indexes))
        n_frames = video_info(video).n_frames
        if n_frames > 0 and needed >= n_frames:
            raise KpcalError(
                f"recording {recording!r} needs video frame {needed}, but its video {video!r} "
                f"has {count(n_frames, 'frame')} (trimmed video, or paired with the wrong one?)"
            )


def app_command(project_dir: str | os.PathLike) -> str:
    """The shell command that opens the app on a project.

    ``kpcal app PROJECT`` run by this Python (:func:`kpcal_core.appfiles.app_command`).
    """
    return appfiles.app_command(project_dir)


def noise_calibration(
    project_dir: str | os.PathLike,
    coordinates: Mapping[str, np.ndarray],
    confidences: Mapping[str, np.ndarray],
    *,
    bodyparts: Sequence[str],
    use_bodyparts: Sequence[str],
    video_dir: str | os.PathLike,
    video_extension: str | None = None,
    conf_pseudocount: float = 0.001,
    video_frame_indexes: Mapping[str, np.ndarray] | None = None,
    launch: bool = False,
    **kwargs,
) -> str:
    """Prepare error calibration of a project and return the command that opens the app.

    Validates the keypoints, matches every recording to its video, draws the
    samples (``num_bins``, ``num_samples``, ``seed`` may be given in
    ``kwargs``; the rest of ``kwargs``, e.g. a loaded config, is ignored as in
    keypoint-MoSeq), and stores a calibration session under
    ``{project_dir}/calibration/``. Existing annotations are kept and their
    samples stay in the list.

    Parameters
    ----------
    project_dir
        Project folder with a ``config.yml``.
    coordinates
        ``{recording: (T, K, 2)}`` keypoint positions.
    confidences
        ``{recording: (T, K)}`` non-negative confidences.
    bodyparts, use_bodyparts
        All bodypart names, and the ones to calibrate.
    video_dir, video_extension
        Where the videos are (matched with :func:`find_matching_videos`).
    conf_pseudocount
        Added to confidences before taking logs.
    video_frame_indexes
        ``{recording: (T,) int}`` video frame of each keypoint frame (trimmed or
        downsampled keypoints); default ``arange(T)``.
    launch
        Also start the app (in the background).

    Returns
    -------
    str
        The shell command that opens the app on this project.
    """
    project_dir = Path(project_dir)
    if not config_path(project_dir).exists():
        raise KpcalError(
            f"{config_path(project_dir)} does not exist: create the project with setup_project first"
        )
    config = load_config(project_dir)
    # The app's files are found as `kpcal app` finds them; missing, nothing is written.
    launch_arguments = appfiles.app_arguments(project_dir) if launch else None
    use_bodyparts = check_bodyparts(bodyparts, use_bodyparts)
    check_confidences(confidences, bodyparts)
    check_coordinates(coordinates, confidences, bodyparts)
    indexes = check_video_frame_indexes(
        video_frame_indexes, {name: len(c) for name, c in coordinates.items()}
    )
    suffix = str(kwargs.get("recording_name_suffix", config.get("recording_name_suffix", "")) or "")
    video_paths = find_matching_videos(
        list(coordinates),
        video_dir,
        as_dict=True,
        recording_name_suffix=suffix,
        video_extension=video_extension,
    )
    check_frames_in_videos(video_paths, indexes)

    num_bins = int(kwargs.get("num_bins", 10))
    num_samples = int(kwargs.get("num_samples", 100))
    seed = kwargs.get("seed")
    if seed is None:  # store the seed actually used, so the draw can be repeated
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    samples = sample_error_frames(
        confidences,
        bodyparts,
        use_bodyparts,
        num_bins,
        num_samples,
        conf_pseudocount,
        coordinates=coordinates,
        seed=seed,
    )
    annotated = [k for k in load_annotation_records(project_dir) if k[0] in coordinates]
    session = CalibrationSession(
        keypoints_path=None,
        video_dir=str(Path(video_dir).resolve()),
        video_extension=video_extension,
        recording_name_suffix=suffix,
        num_bins=num_bins,
        num_samples=num_samples,
        conf_pseudocount=float(conf_pseudocount),
        seed=None if seed is None else int(seed),
        sample_keys=merge_samples(samples, annotated),
        video_paths={k: str(Path(v).resolve()) for k, v in video_paths.items()},
    )
    # Decode the frames now (as keypoint-MoSeq does) so the app opens on ready samples;
    # a video that cannot give a needed frame fails here, before anything is written.
    video_of = sample_video_frames(
        session.sample_keys, video_dir, indexes, video_extension, video_paths=session.video_paths
    )
    fill_cache(frame_cache_dir(project_dir), video_of)  # frames not kept in memory
    save_session_keypoints(project_dir, coordinates, confidences, bodyparts, indexes)
    save_session(project_dir, session)
    command = app_command(project_dir)
    if launch_arguments:
        subprocess.Popen(launch_arguments, start_new_session=True)
    return command
