"""The steps a person or a script takes on a project, each written once.

The app's pages and the command line (:mod:`kpcal_core.cli`) call these
functions and nothing lower for the same jobs, so both give the same numbers
and write the same files:

- :func:`choose_sources`: point a project at its keypoint files and videos
  (checked by reading them before anything is written; creates ``config.yml``);
- :func:`open_project`: the project's config, keypoints and videos;
  :func:`recordings_report`: which video each recording uses and whether it fits;
- :func:`draw_samples`: the samples to annotate (annotated ones kept, recordings
  that cannot be annotated left out and named), saved in the session;
  :func:`fill_frame_cache`: decode their frames into the project's frame cache
  without keeping them in memory;
- :func:`record_annotation`: keep one click (or clear / not visible) and save
  under the project lock (keypoint-MoSeq's files from 20 annotations on); when
  the disk refuses (full, read-only...) or the lock is held elsewhere, the edit
  is held in memory and saved with the next save that works
  (:func:`save_held_edits`);
- several annotators (:mod:`kpcal_core.team`): :func:`next_sample` (the next
  sample nobody has done or is doing, leased), :func:`hold_sample`,
  :func:`leave_samples`, :func:`second_look`, :func:`shown_annotation`,
  :func:`team_progress`, :func:`review_samples`; :func:`record_annotation`
  saves a click on a sample someone else did as a review of theirs;
- :func:`stop_status`: whether the annotator can stop (the fit page's stop rule,
  without the bootstrap), :func:`stop_status_line` its sentence;
- :func:`calibration_fit` and :func:`save_calibration`: the line (least squares
  or robust) and saving it to ``config.yml`` under the lock; the method saved is
  remembered, so autosave keeps using it;
- :func:`export`: the annotations CSV, the error table and the chart as PNG.

Every problem a user can fix raises :class:`~kpcal_core.errors.KpcalError`
naming what is at fault, before anything is written. A save the system
refuses raises :class:`~kpcal_core.errors.NotSaved` (one of them), and the
files that belong together (a new ``config.yml`` and the session; the
session and ``use_bodyparts``; the line and the session) are written all or
none (:func:`kpcal_core.atomic.together`).

The package re-exports every step; each module owns one part: ``opening``
(folder, sources, anatomy, recordings report), ``drawing`` (samples, more
samples, frame cache, video indexing, histogram), ``annotating`` (one click),
``annotators`` (several annotators, held edits), ``fit`` (the line and the stop
status), ``fit_extras`` (the model's prior, kept gross errors, residual and
error-size tables) and ``saving`` (``config.yml`` and export). The words these
results are said in are :mod:`kpcal_core.sentences`'.
"""

from __future__ import annotations

from ..agreement import Agreement

# What the app (app.py, pages/, kpcal_app/) uses from the modules below the workflows,
# re-exported here so that the app has one way into the engine: these names, the
# workflows below, kpcal_core.errors and kpcal_core.sentences. pyproject.toml's
# import-linter contract and tests/engine/test_layers.py check it.
from ..annotations import CLEARED, NOT_VISIBLE, POSITION, Annotation, annotation_counts, now_utc
from ..appfiles import app_script
from ..atomic import atomic_write
from ..charts import band_chart, distances_chart, fit_chart, histogram_chart, running_chart
from ..clicks import (
    DEFAULT_VIEW_PX,
    MAX_VIEW_PX,
    MIN_VIEW_PX,
    NO_LONGER_SHOWN,
    late_click,
    parse_click,
    parse_view_size,
    view_token,
)
from ..colours import bodypart_colours
from ..config import load_config
from ..demo import default_demo_dir, demo_truth, ensure_demo_project
from ..fit_service import ProjectFit, project_population
from ..fitting import FIT_METHODS, FittedLine, LineFit, share_above_threshold
from ..formats import DUPLICATE_CHOICES, FORMATS
from ..intervals import BootstrapFit
from ..logs import log_event
from ..paths import clean_user_path, resolve_user_path
from ..per_bodypart import PerBodypartFits
from ..prior import (
    ModelPrior,
    bodypart_confidences,
    config_pseudocount,
    interpolated_counts,
    slope_check,
)
from ..project import (
    ProjectData,
    backup_file,
    broken_annotation_files,
    load_working_annotations,
    source_fingerprint,
)
from ..session import CalibrationSession, frame_cache_dir, load_session
from ..statedir import STATE_DIR_ENV, describe_state_dir, set_state_dir, state_dir, user_state_dir
from ..stop_check import StopCheck, StopSettings
from ..video import BackgroundJob, Prefetcher, sample_frame_loader, sample_video_frames
from ..views import FIT, FRAME, ZOOMS, CropView, parse_zoom, step_zoom, zoom_label
from .annotating import record_annotation, samples_ahead
from .annotators import (
    OtherAnnotators,
    TeamAgreement,
    TeamProgress,
    compare_with_files,
    hold_sample,
    leave_samples,
    next_sample,
    not_for,
    review_samples,
    sample_view,
    save_held_edits,
    second_look,
    shown_annotation,
    team_agreement,
    team_progress,
)
from .drawing import (
    BLOCKING_STATUSES,
    SAMPLE_ORDERS,
    Progress,
    SampleDraw,
    SamplingHistogram,
    draw_more_samples,
    draw_samples,
    fill_frame_cache,
    frame_cache_summary,
    is_whole_number,
    sampling_histogram,
    start_frame_fill,
    start_video_indexing,
)
from .fit import (
    CalibrationFit,
    FitDiagnostics,
    bodypart_table,
    calibration_fit,
    fit_diagnostics,
    stop_status,
)
from .fit_extras import (
    ResidualRow,
    error_size_table,
    project_model_prior,
    residual_rows,
    set_kept_gross_errors,
)
from .opening import (
    ProjectFolderMissing,
    Sources,
    SourcesChosen,
    broken_config,
    choose_sources,
    open_project,
    project_folder,
    recordings_report,
    set_anatomy,
    set_video,
    start_config_over,
)
from .saving import (
    EXPORTED_POINT_COLUMNS,
    Exported,
    SavedLine,
    SlopeNotConfirmed,
    annotations_csv,
    export,
    exported_points,
    least_squares_line,
    save_calibration,
)

__all__ = [
    "Agreement",
    "BootstrapFit",
    "FitDiagnostics",
    "FittedLine",
    "LineFit",
    "PerBodypartFits",
    "ProjectFit",
    "StopSettings",
    "Annotation",
    "BLOCKING_STATUSES",
    "BackgroundJob",
    "CLEARED",
    "CalibrationFit",
    "CalibrationSession",
    "CropView",
    "DEFAULT_VIEW_PX",
    "DUPLICATE_CHOICES",
    "EXPORTED_POINT_COLUMNS",
    "Exported",
    "FIT",
    "FIT_METHODS",
    "FORMATS",
    "FRAME",
    "MAX_VIEW_PX",
    "MIN_VIEW_PX",
    "ModelPrior",
    "NOT_VISIBLE",
    "NO_LONGER_SHOWN",
    "OtherAnnotators",
    "POSITION",
    "Prefetcher",
    "Progress",
    "ProjectData",
    "ProjectFolderMissing",
    "ResidualRow",
    "SAMPLE_ORDERS",
    "STATE_DIR_ENV",
    "SampleDraw",
    "SamplingHistogram",
    "SavedLine",
    "SlopeNotConfirmed",
    "Sources",
    "SourcesChosen",
    "StopCheck",
    "TeamAgreement",
    "TeamProgress",
    "ZOOMS",
    "annotation_counts",
    "annotations_csv",
    "app_script",
    "atomic_write",
    "backup_file",
    "band_chart",
    "bodypart_colours",
    "bodypart_confidences",
    "broken_annotation_files",
    "broken_config",
    "calibration_fit",
    "choose_sources",
    "clean_user_path",
    "compare_with_files",
    "config_pseudocount",
    "default_demo_dir",
    "demo_truth",
    "describe_state_dir",
    "distances_chart",
    "draw_more_samples",
    "draw_samples",
    "ensure_demo_project",
    "error_size_table",
    "export",
    "exported_points",
    "fill_frame_cache",
    "fit_chart",
    "fit_diagnostics",
    "bodypart_table",
    "frame_cache_dir",
    "frame_cache_summary",
    "histogram_chart",
    "hold_sample",
    "interpolated_counts",
    "is_whole_number",
    "late_click",
    "least_squares_line",
    "leave_samples",
    "load_config",
    "load_session",
    "load_working_annotations",
    "log_event",
    "next_sample",
    "not_for",
    "now_utc",
    "open_project",
    "parse_click",
    "parse_view_size",
    "parse_zoom",
    "project_folder",
    "project_model_prior",
    "project_population",
    "record_annotation",
    "recordings_report",
    "residual_rows",
    "resolve_user_path",
    "review_samples",
    "running_chart",
    "sample_frame_loader",
    "sample_video_frames",
    "sample_view",
    "samples_ahead",
    "sampling_histogram",
    "save_calibration",
    "save_held_edits",
    "second_look",
    "set_anatomy",
    "set_kept_gross_errors",
    "set_state_dir",
    "set_video",
    "share_above_threshold",
    "shown_annotation",
    "slope_check",
    "source_fingerprint",
    "start_config_over",
    "start_frame_fill",
    "start_video_indexing",
    "state_dir",
    "step_zoom",
    "stop_status",
    "team_agreement",
    "team_progress",
    "user_state_dir",
    "view_token",
    "zoom_label",
]
