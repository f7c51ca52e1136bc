"""Where the fit diagnostics used to live: every name still importable from here.

This module owns nothing; it re-exports, so that ``from kpcal_core.diagnostics
import ...`` keeps working. The statistics are in modules of their own, which
read and write no file:

- :mod:`kpcal_core.lines`: the one running least-squares update, weighted lines, t quantiles;
- :mod:`kpcal_core.intervals`: :func:`bootstrap_fit`, :func:`prediction_band`;
- :mod:`kpcal_core.running`: :func:`running_fit` (:func:`has_settled` says its
  slope-only rule, in :mod:`kpcal_core.sentences`),
  :func:`stop_numbers`, :func:`settled_mask`;
- :mod:`kpcal_core.gross_errors`: the gross-error screen;
- :mod:`kpcal_core.stop_check`: :func:`stop_rule`, :class:`StopCheck`, :class:`StopSettings`;
- :mod:`kpcal_core.per_bodypart`: :func:`per_bodypart_fits`, :func:`largest_residuals`;
- :mod:`kpcal_core.agreement`: several annotators.

The one fit of a project (:func:`fit_project`, :func:`project_points`,
:func:`project_population`) is the service :mod:`kpcal_core.fit_service`.
"""

from __future__ import annotations

from .agreement import (
    UNNAMED,
    annotator_agreement,
    load_annotator_files,
    mean_click_annotations,
)
from .annotations import annotation_counts
from .errors import NotEnoughAnnotations
from .fit_service import ProjectFit, fit_project, project_points, project_population
from .fitting import robust_fit
from .gross_errors import (
    GrossError,
    GrossErrors,
    screen_gross_errors,
    without_gross_errors,
)
from .intervals import (
    BOOTSTRAP_BLOCK,
    PREDICTION_BAND_COLUMNS,
    BootstrapFit,
    _bootstrap_lines,
    bootstrap_fit,
    prediction_band,
)
from .per_bodypart import (
    PER_BODYPART_COLUMNS,
    PerBodypartFits,
    largest_residuals,
    per_bodypart_fits,
)
from .running import RUNNING_COLUMNS, running_fit, settled_mask, stop_numbers
from .sentences import has_settled
from .stop_check import BLOCKERS, StopCheck, StopSettings, stop_rule
from .stopping import (
    STOP_HELD,
    STOP_MIN_ANNOTATIONS,
    STOP_RMS_HALF_WIDTH,
    STOP_SLOPE_HALF_WIDTH,
)

__all__ = [
    "BLOCKERS",
    "BOOTSTRAP_BLOCK",
    "PER_BODYPART_COLUMNS",
    "PREDICTION_BAND_COLUMNS",
    "RUNNING_COLUMNS",
    "STOP_HELD",
    "STOP_MIN_ANNOTATIONS",
    "STOP_RMS_HALF_WIDTH",
    "STOP_SLOPE_HALF_WIDTH",
    "UNNAMED",
    "BootstrapFit",
    "GrossError",
    "GrossErrors",
    "NotEnoughAnnotations",
    "PerBodypartFits",
    "ProjectFit",
    "StopCheck",
    "StopSettings",
    "_bootstrap_lines",
    "annotation_counts",
    "annotator_agreement",
    "bootstrap_fit",
    "fit_project",
    "has_settled",
    "largest_residuals",
    "load_annotator_files",
    "mean_click_annotations",
    "per_bodypart_fits",
    "prediction_band",
    "project_points",
    "project_population",
    "robust_fit",
    "running_fit",
    "screen_gross_errors",
    "settled_mask",
    "stop_numbers",
    "stop_rule",
    "without_gross_errors",
]
