"""kpcal_core: keypoint error calibration, the engine behind the kpcal app.

The first names keep keypoint-MoSeq's calibration API (names, parameters,
defaults, file formats), so ``from kpcal_core import noise_calibration``
replaces ``from keypoint_moseq import noise_calibration``.

Modules, one concern each:

- ``sampling``: which keypoints to annotate (:func:`sample_error_frames`)
- ``videos``: matching videos, reading frames exactly, filling the frame cache
- ``decoding``: PyAV decoding near the codec's floor (frame index from packet
  timestamps, one seek per group of pictures, non-reference frames skipped)
- ``framecache``: the on-disk frame cache (lossless, compact, LRU size cap)
- ``prefetch``: the next samples' frames prepared in the background
- ``annotations``: the ``error_annotations.csv`` file
- ``fitting``: the error-vs-confidence line
- ``config``: the project's ``config.yml``
- ``keypoints``: reading DeepLabCut, SLEAP, Lightning Pose and NWB files
- ``recordings``: the recordings-vs-videos check, downsampling
- ``session``: the calibration session under ``{project}/calibration/``
- ``calibration``: the notebook entry point (:func:`noise_calibration`)
- ``project``: everything the app needs about one project, in one object
- ``views``: the cropped, marked-up image a person clicks on
- ``demo``: a synthetic project with a known answer
- ``diagnostics``: the project's fit (:func:`fit_project`, shared by the app
  and the command line) and how far to trust it: bootstrap intervals, the
  running fit, per-bodypart and robust lines, annotator agreement
- ``cli``: ``python -m kpcal_core {check,sample,fit,export,agreement}``
- ``atomic``, ``validate``, ``errors``: atomic writes, input checks, the error type
"""

from .annotations import Annotation, load_annotations, save_annotations
from .calibration import noise_calibration
from .config import load_config, save_params, setup_project, update_config
from .diagnostics import (
    NotEnoughAnnotations,
    annotation_counts,
    annotator_agreement,
    bootstrap_fit,
    fit_project,
    has_settled,
    largest_residuals,
    mean_click_annotations,
    per_bodypart_fits,
    robust_fit,
    running_fit,
)
from .errors import KpcalError
from .fitting import fit_error_model, predicted_error_px
from .keypoints import detect_format, load_keypoints, stored_video_paths
from .recordings import check_videos, downsample
from .sampling import sample_error_frames
from .videos import find_matching_videos, load_sampled_frames

__all__ = [
    "Annotation",
    "KpcalError",
    "NotEnoughAnnotations",
    "annotation_counts",
    "annotator_agreement",
    "bootstrap_fit",
    "check_videos",
    "detect_format",
    "downsample",
    "find_matching_videos",
    "fit_error_model",
    "fit_project",
    "has_settled",
    "largest_residuals",
    "load_annotations",
    "load_config",
    "load_keypoints",
    "load_sampled_frames",
    "mean_click_annotations",
    "noise_calibration",
    "per_bodypart_fits",
    "predicted_error_px",
    "robust_fit",
    "running_fit",
    "sample_error_frames",
    "save_annotations",
    "save_params",
    "setup_project",
    "stored_video_paths",
    "update_config",
]
