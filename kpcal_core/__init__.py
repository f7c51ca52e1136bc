"""kpcal_core: keypoint error calibration, the engine behind the kpcal app.

The first names keep keypoint-MoSeq's calibration API (names, parameters,
defaults, file formats), so ``from kpcal_core import noise_calibration``
replaces ``from keypoint_moseq import noise_calibration``.

Layers, from the top:

- ``workflows``: the steps a user or a script takes (choose sources, open a
  project, the recordings report, draw samples, fill the frame cache, record
  an annotation, fit, save, export), a package with one module per part. The
  app's pages and ``cli`` call these; the app imports from the engine only
  ``workflows`` (which re-exports the types and helpers it needs), ``errors``
  and ``sentences``.
- ``sentences``: every sentence said from the engine's results (the stop rule,
  the model's prior, held edits, the draw...), for the pages and ``cli`` alike.
- ``cli``: ``kpcal {app,check,sample,video,fit,export,agreement}``: runs and prints
  (``cli_parser``: every subcommand's arguments);
  ``appfiles``: where the app's ``app.py`` is (installed or a checkout) and the
  ``streamlit run`` command ``kpcal app`` runs.
- ``charts`` (every Altair chart), ``colours`` (one colour per bodypart),
  ``views`` (the cropped, marked-up image a person clicks on; zoom in video pixels),
  ``clicks`` (which sample a click belongs to: its checks, the view token, the
  late-click rule; the view's size message).

The engine, one concern per module:

- ``project``: a project's loaded data (:class:`~kpcal_core.project.ProjectData`)
  and how its work is saved (lock, merge, working copy, autosave)
- ``sampling``: which keypoints to annotate (:func:`sample_error_frames`)
- ``planning``: the planned annotation order (:func:`plan_annotation_order`) and
  the population the line is applied to (:func:`population_of`)
- ``fitting``: the error-vs-confidence line, least squares or robust
  (typed results :class:`~kpcal_core.fitting.LineFit`, :class:`~kpcal_core.fitting.FittedLine`)
- the statistics, pure (no file, no project, no words: ``sentences`` says
  them): ``lines`` (the one running
  least-squares update, t quantiles), ``intervals`` (bootstrap, prediction band),
  ``running`` (the running fit, the stop rule's numbers per prefix),
  ``gross_errors`` (the screen), ``stopping`` (the stop rule's half-widths and
  thresholds), ``stop_check`` (:func:`stop_rule`, its settings and verdict),
  ``per_bodypart`` (each bodypart's own line and why it differs, the largest
  residuals);
  ``diagnostics`` re-exports them under their old names
- ``fit_service``: the one fit of a project (:func:`fit_project`), used by
  autosave, the workflows and ``kpcal fit``
- ``agreement``: several annotators: distances between their clicks, each one's bias
  and spread, the flag for one systematically off (project file or one CSV each;
  numbers only, ``sentences`` says them)
- ``team``: several annotators sharing a project: leases, the next sample for each,
  the second-look share, reviews, counts per annotator
- ``prior``: what the line does to keypoint-MoSeq's model (jax-moseq's noise prior
  s0 of each keypoint, per bodypart, beside the default and the saved line), and
  whether a line may be written to ``config.yml`` without asking (its slope)
- ``annotations``: the ``error_annotations.csv`` file (rows per sample and annotator),
  the merge rule and the one position per sample the fit uses (:func:`combine_rows`)
- ``video``: the one frame source, a module per step: ``match`` (which video a
  recording uses: keypoint-MoSeq's prefix match, the named rules, the frame rate),
  ``index`` (frame number ↔ packet), ``decode`` (the one exact reader: PyAV near the
  codec's floor, OpenCV where PyAV cannot be exact), ``cache`` (the on-disk frame
  cache: lossless, compact, LRU size cap), ``source`` (a sample's frame, the one
  fill of the cache, :func:`load_sampled_frames`), ``prefetch`` (frames prepared in
  the background, the fill job), ``recordings`` (the recordings-vs-videos check,
  :func:`downsample`)
- ``config``: the project's ``config.yml`` (``config_template``: keypoint-MoSeq's
  template; ``config_text``: editing the file's text in place)
- ``session``: the calibration session under ``{project}/calibration/``
- ``formats``: DeepLabCut, SLEAP, Lightning Pose and NWB files (a registry,
  one module per format, file discovery, duplicate outputs, where a stored video
  path is on this machine; no video code); ``keypoints`` re-exports
  keypoint-MoSeq's loader names
- ``keypoint_store``: a project's keypoints read once per file change, with
  coordinates memory-mapped from a stored copy under ``calibration/``
- ``calibration``: the notebook entry point (:func:`noise_calibration`)
- ``demo``: a synthetic project with a known answer
- ``statedir``: the one folder kpcal writes outside projects (``KPCAL_STATE_DIR``);
  ``logs``: one parseable log line per save and per error, on stderr
- ``paths``: typed paths, and on a shared server the one check that every path
  (typed, read from a file, opened or written in a project) stays in the data root
- ``atomic``: atomic writes, several files written together, a refused write
  (full disk...) said plainly (:class:`~kpcal_core.errors.NotSaved`)
- ``limits``: every size limit on input (keypoint values, columns, HDF5
  datasets and attributes, video frames, text files), each overridable with an
  environment variable, checked before anything is allocated
- ``samplekeys``, ``textio``, ``validate``, ``errors``, ``wording``: the sample key,
  the text reader, input checks, the error types, counts in sentences ("1 sample")
"""

from .agreement import annotator_agreement, mean_click_annotations
from .annotations import Annotation, annotation_counts, load_annotations, save_annotations
from .calibration import noise_calibration
from .config import load_config, save_params, setup_project, update_config
from .errors import KpcalError, NotEnoughAnnotations
from .fit_service import fit_project
from .fitting import fit_error_model, predicted_error_px, robust_fit
from .formats import (
    choose_anterior_posterior,
    detect_format,
    load_keypoints,
    read_keypoints,
    stored_skeleton,
    stored_video_paths,
)
from .intervals import bootstrap_fit, prediction_band
from .per_bodypart import largest_residuals, per_bodypart_fits
from .planning import Population, plan_annotation_order, population_of
from .running import running_fit
from .sampling import sample_error_frames
from .sentences import has_settled
from .stop_check import stop_rule
from .video import check_videos, downsample, find_matching_videos, load_sampled_frames

__all__ = [
    "Annotation",
    "KpcalError",
    "NotEnoughAnnotations",
    "Population",
    "annotation_counts",
    "annotator_agreement",
    "bootstrap_fit",
    "check_videos",
    "choose_anterior_posterior",
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
    "plan_annotation_order",
    "population_of",
    "prediction_band",
    "predicted_error_px",
    "read_keypoints",
    "robust_fit",
    "running_fit",
    "sample_error_frames",
    "save_annotations",
    "save_params",
    "setup_project",
    "stop_rule",
    "stored_skeleton",
    "stored_video_paths",
    "update_config",
]
