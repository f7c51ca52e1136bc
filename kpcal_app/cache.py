"""Every cached loader of the app, in one place.

``st.cache_resource`` holds objects shared by all sessions and never copied
(keypoint arrays, decoded frames); the keys include file modification times,
so an edited file is read again.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from kpcal_core.fitting import share_above_threshold
from kpcal_core.project import ProjectData, load_project_data
from kpcal_core.recordings import check_videos
from kpcal_core.sampling import confidence_histogram
from kpcal_core.session import CalibrationSession, frame_cache_dir, load_session
from kpcal_core.videos import load_frame


def _mtime(path: str | os.PathLike | None) -> float:
    try:
        return os.stat(path).st_mtime if path else 0.0
    except OSError:
        return 0.0


@st.cache_resource(max_entries=4, show_spinner="Loading keypoints…")
def _project_data(
    project: str, session_json: str, keypoints_mtime: float, stored_mtime: float
) -> ProjectData:
    session = CalibrationSession.from_json(session_json, "session")
    return load_project_data(project, session)


def project_data(project: str) -> ProjectData:
    """The project's keypoints and videos (cached until its session or files change)."""
    session = load_session(project) or CalibrationSession()
    keypoints = session.keypoints_path
    source = Path(project, keypoints) if keypoints and not os.path.isabs(keypoints) else keypoints
    stored = Path(project, "calibration", "keypoints.npz")
    data = _project_data(project, session.to_json(), _mtime(source), _mtime(stored))
    return data


@st.cache_resource(max_entries=64, show_spinner=False)
def _frame(video: str, index: int, video_mtime: float, cache_dir: str) -> np.ndarray:
    return load_frame(video, index, cache_dir)


def frame(project: str, video: str, index: int) -> np.ndarray:
    """Video frame ``index`` (RGB): from memory, else the project's frame cache, else decoded once."""
    return _frame(video, int(index), _mtime(video), str(frame_cache_dir(project)))


def _data_key(data: ProjectData) -> str:
    """Identifies a loaded project's keypoints (a new load gives a new key)."""
    return f"{data.project_dir}|{id(data)}"


@st.cache_data(max_entries=16, show_spinner="Checking videos…")
def recordings_table(
    _data: ProjectData, key: str, video_dir: str | None, video_mtime: float
) -> pd.DataFrame:
    """The recordings-vs-videos report of :func:`kpcal_core.check_videos`."""
    session = _data.session
    return check_videos(
        _data.coordinates,
        video_dir,
        _data.video_frame_indexes,
        video_extension=session.video_extension,
        recording_name_suffix=session.recording_name_suffix,
        video_paths={k: v for k, v in _data.video_paths.items() if v},
    )


def recordings(data: ProjectData, video_dir: str | None) -> pd.DataFrame:
    return recordings_table(data, _data_key(data), video_dir, _mtime(video_dir))


@st.cache_data(max_entries=32, show_spinner=False)
def _histogram(
    _data: ProjectData, key: str, use: tuple[str, ...], pseudocount: float, num_bins: int
):
    return confidence_histogram(
        _data.confidences, _data.bodyparts, list(use), pseudocount, num_bins
    )


def histogram(data: ProjectData, use: list[str], pseudocount: float, num_bins: int):
    """:func:`kpcal_core.sampling.confidence_histogram` of the used bodyparts (cached)."""
    return _histogram(data, _data_key(data), tuple(use), float(pseudocount), int(num_bins))


@st.cache_data(max_entries=256, show_spinner=False)
def _share(_data: ProjectData, key: str, use: tuple[str, ...], threshold: float) -> float:
    return share_above_threshold(
        _data.confidences, _data.bodyparts, list(use), threshold, _data.conf_pseudocount
    )


def share_above(data: ProjectData, threshold: float) -> float:
    """Percentage of used keypoints above the threshold (cached per threshold)."""
    return _share(data, _data_key(data), tuple(data.use_bodyparts), float(threshold))
