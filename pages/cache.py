"""Every cached loader of the app, in one place.

``st.cache_resource`` holds objects shared by all sessions and never copied
(keypoint arrays, decoded frames); the keys include file modification times,
so an edited file is read again.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st

from kpcal_core.project import ProjectData, load_project_data
from kpcal_core.session import CalibrationSession, frame_cache_dir, load_session
from kpcal_core.videos import load_sampled_frames, read_cached_frame


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
    cached = read_cached_frame(cache_dir, video, index)
    if cached is not None:
        return cached
    key = ("frame", index, "")
    frames = load_sampled_frames(
        [key],
        video_dir=os.path.dirname(video),
        video_frame_indexes={"frame": np.arange(index + 1)},
        cache_dir=cache_dir,
        video_paths={"frame": video},
    )
    return frames[key]


def frame(project: str, video: str, index: int) -> np.ndarray:
    """Video frame ``index`` (RGB): from memory, else the project's frame cache, else decoded once."""
    return _frame(video, int(index), _mtime(video), str(frame_cache_dir(project)))


if __name__ == "__main__":  # opened as a page by the folder-based navigation
    from pages.state import ensure_app_navigation

    ensure_app_navigation()
