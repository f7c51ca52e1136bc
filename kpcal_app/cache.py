"""Every cached loader of the app, in one place, keyed by file content.

Keys are what the data was read from (paths, sizes, modification times),
never the samples, the session's timestamps or an object's ``id()``:

- :func:`project_data`: a project's keypoints and matched videos, read once per
  change of its keypoint files and shared by every session on the server
  (``st.cache_resource``, never copied); the session and config, which change
  with every draw, are read fresh on each run and attached to it;
- :func:`recordings`, :func:`histogram`, :func:`share_above`: computed from
  those keypoints (``st.cache_data``), keyed by the same fingerprint;
- :func:`stop_status`: the stop rule for the annotate page, by the annotations' content;
- :func:`frames`: the samples' frames, the next ones prepared in the background;
- :func:`start_video_indexing`: the project's videos indexed in the background, started by
  the setup page (no cached loader starts a thread or has another side effect);
- :func:`frame_fill`: the job filling a project's frame cache, one per project, which
  goes on when the page that started it is left;
- :func:`fit_diagnostics`: the bootstrap and the rest, by the fitted points' content;
- :func:`model_prior`: what the line does to the model, the keypoints' part cached.
"""

from __future__ import annotations

import dataclasses
import os
import threading

import pandas as pd
import streamlit as st

from kpcal_core import workflows
from kpcal_core.workflows import (
    BackgroundJob,
    CalibrationSession,
    FitDiagnostics,
    FittedLine,
    ModelPrior,
    PerBodypartFits,
    Prefetcher,
    ProjectData,
    StopCheck,
    bodypart_confidences,
    config_pseudocount,
    frame_cache_dir,
    interpolated_counts,
    load_config,
    load_session,
    project_population,
    sample_frame_loader,
    sample_video_frames,
    share_above_threshold,
    source_fingerprint,
)


def file_key(path: str | os.PathLike | None) -> tuple:
    """``(path, size, mtime_ns)`` of a file or folder; ``(path, None, None)`` when absent."""
    if not path:
        return ("", None, None)
    try:
        stat = os.stat(path)
        return (os.fspath(path), stat.st_size, stat.st_mtime_ns)
    except OSError:
        return (os.fspath(path), None, None)


#: Frames held in memory per project (about 4 MB each at 1280×1024).
FRAMES_HELD = 12

_jobs_lock = threading.Lock()
_indexing: dict[str, BackgroundJob] = {}  # project -> its videos being indexed
_fills: dict[str, tuple[tuple, BackgroundJob]] = {}  # project -> (its samples, the fill)


_indexed: dict[str, tuple] = {}  # project -> the files its videos were last indexed for


@st.cache_resource(max_entries=8, show_spinner="Loading keypoints…")
def _keypoints(project: str, fingerprint: tuple) -> ProjectData:
    session = load_session(project) or CalibrationSession()
    return workflows.open_project(project, session)


def project_data(project: str) -> ProjectData:
    """The project's keypoints and videos, with its current session and config.

    The keypoints are read once per change of the files they come from (see
    :func:`kpcal_core.project.source_fingerprint`) and shared by every browser
    session; drawing samples or saving a fit does not read them again.
    """
    session = load_session(project) or CalibrationSession()
    loaded = _keypoints(project, source_fingerprint(project, session))
    return dataclasses.replace(loaded, session=session, config=load_config(project))


def _data_key(data: ProjectData) -> tuple:
    return source_fingerprint(data.project_dir, data.session)


def start_video_indexing(data: ProjectData) -> None:
    """Index the project's videos in the background, once per change of its files.

    The setup page calls it when it opens a project, so the first "Sample frames" does
    not wait for a scan of each video (:func:`kpcal_core.workflows.start_video_indexing`).
    One job per project on the server; not started while a frame fill runs for the
    project (the fill indexes what it needs), nor again for the same keypoint files,
    session and videos.
    """
    project, key = str(data.project_dir), _data_key(data)
    with _jobs_lock:
        if _indexed.get(project) == key:
            return
        _indexed[project] = key
        fill = _fills.get(project)
        if fill is not None and not fill[1].progress().finished:
            return
        previous = _indexing.pop(project, None)
        if previous is not None:
            previous.stop()
        _indexing[project] = workflows.start_video_indexing(data)


@st.cache_data(max_entries=16, show_spinner="Checking videos…")
def _recordings(_data: ProjectData, key: tuple, videos: tuple) -> pd.DataFrame:
    return workflows.recordings_report(_data)


def recordings(data: ProjectData) -> pd.DataFrame:
    """:func:`kpcal_core.workflows.recordings_report` (cached until a file or video changes)."""
    videos = tuple(file_key(v) for v in data.video_paths.values())
    return _recordings(data, _data_key(data), videos)


@st.cache_data(max_entries=32, show_spinner=False)
def _histogram(
    _data: ProjectData,
    key: tuple,
    use: tuple[str, ...],
    pseudocount: float,
    num_bins: int,
    samples: tuple,
) -> dict:
    return workflows.sampling_histogram(_data, list(use), pseudocount, num_bins, list(samples))


def histogram(data: ProjectData, use: list[str], pseudocount: float, num_bins: int) -> dict:
    """:func:`kpcal_core.workflows.sampling_histogram` of the used bodyparts (cached)."""
    return _histogram(
        data,
        _data_key(data),
        tuple(use),
        float(pseudocount),
        int(num_bins),
        tuple(data.session.sample_keys),
    )


@st.cache_data(max_entries=256, show_spinner=False)
def _share(_data: ProjectData, key: tuple, use: tuple[str, ...], threshold: float) -> float:
    return share_above_threshold(
        _data.confidences, _data.bodyparts, list(use), threshold, _data.conf_pseudocount
    )


def share_above(data: ProjectData, threshold: float) -> float:
    """Percentage of used keypoints above the threshold (cached per threshold)."""
    return _share(data, _data_key(data), tuple(data.use_bodyparts), float(threshold))


@st.cache_data(max_entries=16, show_spinner=False)
def _bodypart_confidences(_data: ProjectData, key: tuple, use: tuple[str, ...]) -> tuple:
    return bodypart_confidences(_data.confidences, _data.missing, _data.bodyparts, list(use))


@st.cache_data(max_entries=256, show_spinner=False)
def _interpolated(
    _data: ProjectData, key: tuple, use: tuple[str, ...], threshold: float, pseudocount: float
) -> dict:
    return interpolated_counts(
        _data.confidences, _data.missing, _data.bodyparts, list(use), threshold, pseudocount
    )


def model_prior(
    data: ProjectData, line: FittedLine, threshold: float, per_bodypart: PerBodypartFits
) -> ModelPrior:
    """:func:`kpcal_core.workflows.project_model_prior` with the keypoints' part cached.

    Cached per change of the keypoints, and per threshold.
    """
    key, use = _data_key(data), tuple(data.use_bodyparts)
    return workflows.project_model_prior(
        data,
        line,
        threshold,
        per_bodypart=per_bodypart,
        summaries=_bodypart_confidences(data, key, use),
        interpolated=_interpolated(
            data, key, use, float(threshold), config_pseudocount(data.config)
        ),
    )


@st.cache_resource(max_entries=4, show_spinner=False)
def _frames(cache_dir: str, video_of: tuple) -> Prefetcher:
    return Prefetcher(sample_frame_loader(cache_dir, dict(video_of)), capacity=FRAMES_HELD)


def frames(data: ProjectData) -> Prefetcher:
    """The frames of the project's samples, shared by every session on the project.

    ``get(sample_key)`` returns the RGB frame (from memory, else the project's
    frame cache, else decoded once); ``prepare(keys)`` loads the next ones in
    the background. At most :data:`FRAMES_HELD` frames are held per project.
    """
    keys = [k for k in data.session.sample_keys if data.video_paths.get(k[0])]
    video_of = sample_video_frames(keys, "", data.video_frame_indexes, video_paths=data.video_paths)
    return _frames(str(frame_cache_dir(data.project_dir)), tuple(video_of.items()))


@st.cache_data(max_entries=64, show_spinner=False)
def _stop_status(_data: ProjectData, _records: dict, key: tuple, content: str) -> StopCheck:
    return workflows.stop_status(_data, _records, _population(_data, *key))


def stop_status(data: ProjectData, records: dict) -> StopCheck:
    """:func:`kpcal_core.workflows.stop_status` of the session's annotations.

    Computed once per content of the annotations (a click, clear or "not visible" changes
    it; Next and Previous do not), of the drawn samples and the gross errors kept, and per
    change of the keypoints.
    """
    key = (_data_key(data), tuple(data.use_bodyparts), data.conf_pseudocount)
    content = repr(
        (
            sorted((k, a.x, a.y, a.status, a.annotated_at) for k, a in records.items()),
            data.session.sample_keys,
            sorted(data.session.kept_gross_errors),
        )
    )
    return _stop_status(data, records, key, content)


@st.cache_data(max_entries=16, show_spinner=False)
def _population(_data: ProjectData, key: tuple, use: tuple[str, ...], pseudocount: float):
    return project_population(_data)


@st.cache_data(max_entries=8, show_spinner="Bootstrapping…")
def _fit_diagnostics(
    points: pd.DataFrame, _population, key: tuple, _stop, stop: str
) -> FitDiagnostics:
    return workflows.fit_diagnostics(points, _population, _stop)


def fit_diagnostics(data: ProjectData, points: pd.DataFrame, stop: StopCheck) -> FitDiagnostics:
    """:func:`kpcal_core.workflows.fit_diagnostics` over the project's keypoints.

    With the stop rule's verdict ``stop`` (:func:`stop_status`), cached by the points'
    content, the verdict and the keypoints' fingerprint.
    """
    key = (_data_key(data), tuple(data.use_bodyparts), data.conf_pseudocount)
    return _fit_diagnostics(points, _population(data, *key), key, stop, repr(stop))


def frame_fill(data: ProjectData, *, start: bool = False) -> BackgroundJob | None:
    """The job filling the frame cache for the project's current samples.

    One per project on the server, shared by its sessions. ``start``: start
    one unless one for these samples is still running (a finished one is run
    again: it only decodes what is not cached); a fill for other samples, and
    the indexing of the project's videos, are stopped. Without ``start``: the
    current job, or ``None``.
    """
    keys = tuple(data.session.sample_keys)
    with _jobs_lock:
        current = _fills.get(str(data.project_dir))
        if (
            current is not None
            and current[0] == keys
            and (not start or not current[1].progress().finished)
        ):
            return current[1]
        if not start:
            return None
        if current is not None:
            current[1].stop()
        indexing = _indexing.pop(str(data.project_dir), None)
        if indexing is not None:  # the fill indexes what it needs, its first video first
            indexing.stop()
        job = workflows.start_frame_fill(data, list(keys))
        _fills[str(data.project_dir)] = (keys, job)
        return job
