"""The one fit of a project: from its folder (or the app's loaded copy) to the line.

This module owns the single code path from a project's annotations to the
fitted line, used by autosave (:func:`kpcal_core.project.save_work`), the
workflows (:func:`kpcal_core.workflows.calibration_fit`, so the fit page) and
``kpcal fit``:

- :func:`project_points`: the usable annotations of loaded recordings and
  bodyparts as an :func:`~kpcal_core.fitting.error_points` table, with who and when;
- :func:`fit_project`: those points, the likely gross errors left out
  (:func:`~kpcal_core.gross_errors.screen_gross_errors`), the least-squares line
  and the line of the chosen method, as a :class:`ProjectFit`;
- :func:`project_population`: the keypoints the line is applied to (for the
  stop rule and the prediction band).

It reads the project (through :mod:`kpcal_core.project`); the statistics it
calls read nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .annotations import Annotation, annotation_counts
from .errors import KpcalError
from .fitting import FittedLine, LineFit, error_points, fit_by_method, fit_points, require_line
from .gross_errors import GrossErrors, screen_gross_errors, without_gross_errors
from .planning import Population, population_of
from .project import ProjectData, load_project_data, load_working_annotations, usable_annotations
from .samplekeys import SampleKey
from .wording import count


@dataclass(frozen=True)
class ProjectFit:
    """The fit of a project's annotations, and what went into it.

    Attributes
    ----------
    fit
        :func:`~kpcal_core.fitting.fit_points` of ``line_points``: the
        least-squares line (keypoint-MoSeq's numbers).
    points
        ``(n rows)`` :func:`project_points` table the line was fitted to.
    counts
        :func:`annotation_counts` of every annotation of the project.
    n_left_out
        Positions of recordings or bodyparts that are not loaded (not fitted).
    records
        Every annotation, ``{sample_key: Annotation}``.
    data
        The loaded project.
    gross_errors
        :func:`screen_gross_errors` of ``points``: the flagged annotations;
        those not kept (``data.session.kept_gross_errors``) are out of the line.
    line_points
        The rows of ``points`` the line was fitted to (``points`` without the
        flagged annotations not kept).
    line
        The line of the chosen method (:func:`~kpcal_core.fitting.fit_by_method`
        of ``line_points``): what would be saved.
    """

    fit: LineFit
    points: pd.DataFrame
    counts: dict[str, int]
    n_left_out: int
    records: dict[SampleKey, Annotation] = field(repr=False)
    data: ProjectData = field(repr=False)
    gross_errors: GrossErrors = field(default_factory=GrossErrors)
    line_points: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    line: FittedLine | None = None

    @property
    def method(self) -> str:
        """The chosen method (:data:`~kpcal_core.fitting.FIT_METHODS`)."""
        return self.line.method if self.line is not None else "least-squares"


def project_points(data: ProjectData, records: Mapping[SampleKey, Annotation]) -> pd.DataFrame:
    """:func:`~kpcal_core.fitting.error_points` of the usable annotations, with who and when.

    Returns
    -------
    pandas.DataFrame
        The ``error_points`` columns plus ``annotator`` and ``annotated_at``
        (text; empty when not recorded), one row per usable annotation.
    """
    usable = usable_annotations(data, records)
    points = error_points(
        data.coordinates, data.confidences, usable, data.bodyparts, data.conf_pseudocount
    )
    keys = list(
        zip(points["recording"], points["frame"].astype(int), points["bodypart"], strict=True)
    )
    points["annotator"] = [str(getattr(usable[k], "annotator", "")) for k in keys]
    points["annotated_at"] = [str(getattr(usable[k], "annotated_at", "")) for k in keys]
    return points


def fit_project(
    project_dir: str | os.PathLike | None = None,
    *,
    data: ProjectData | None = None,
    records: Mapping[SampleKey, Annotation] | None = None,
    method: str = "least-squares",
) -> ProjectFit:
    """Fit the line to a project's annotations: autosave's, the app's and the command line's one path.

    The annotations are the saved ``error_annotations.csv`` merged with the
    working copy (:func:`~kpcal_core.project.load_working_annotations`)
    unless ``records`` is given; only positions of loaded recordings and
    bodyparts are fitted, with the session's ``conf_pseudocount``, by
    :func:`~kpcal_core.fitting.fit_points` (``numpy.polyfit``: the numbers
    keypoint-MoSeq would save).

    Parameters
    ----------
    project_dir
        Project folder; may be omitted when ``data`` is given.
    data
        The loaded project (the app passes its cached one); default
        :func:`~kpcal_core.project.load_project_data` of ``project_dir``.
    records
        ``{sample_key: Annotation}`` to fit (the app passes its session's);
        default: read from the project's files.
    method
        One of :data:`~kpcal_core.fitting.FIT_METHODS`: the line in
        :attr:`ProjectFit.line` (autosave passes the session's).

    Returns
    -------
    ProjectFit

    Raises
    ------
    NotEnoughAnnotations
        Fewer than two usable positions at different confidences.
    KpcalError
        The project, its keypoints or its annotation files cannot be read.
    """
    if data is None:
        if project_dir is None:
            raise KpcalError("fit_project needs a project folder or loaded project data")
        folder = Path(project_dir)
        if not folder.is_dir():
            raise KpcalError(f"project folder {str(folder)!r} does not exist")
        data = load_project_data(folder)
    if records is None:
        records = load_working_annotations(data.project_dir)
    records = dict(records)
    counts = annotation_counts(records)
    points = project_points(data, records)
    x = points["log10_confidence"].to_numpy(dtype=float)
    gross = GrossErrors()
    line_points = points
    if np.isfinite(x).all():  # else fit_points names the annotation with confidence 0
        require_line(x, f"the fit of {data.project_dir}")
        gross = screen_gross_errors(data, points, records, data.session.kept_gross_errors)
        line_points = without_gross_errors(points, gross)
        require_line(
            line_points["log10_confidence"].to_numpy(dtype=float),
            f"the fit of {data.project_dir} without {count(len(gross.left_out), 'likely gross error')}",
        )
    fit = fit_points(line_points)
    line = (
        FittedLine.least_squares(fit)
        if method == "least-squares"
        else fit_by_method(line_points, method)
    )
    return ProjectFit(
        fit=fit,
        points=points,
        counts=counts,
        n_left_out=counts["positions"] - len(points),
        records=records,
        data=data,
        gross_errors=gross,
        line_points=line_points,
        line=line,
    )


def project_population(data: ProjectData, n_hist_bins: int = 60) -> Population:
    """The population a project's line is applied to, for :func:`stop_rule` and :func:`prediction_band`.

    :func:`~kpcal_core.planning.population_of` of the loaded project: its
    ``use_bodyparts``' keypoints with a confidence and a position, not labelled
    by a person (:meth:`~kpcal_core.project.ProjectData.never_drawn`), with the
    session's ``conf_pseudocount``.
    """
    return population_of(
        data.confidences,
        data.bodyparts,
        data.use_bodyparts,
        data.conf_pseudocount,
        missing=data.never_drawn(),  # the lean masks: the coordinates stay on disk
        n_hist_bins=n_hist_bins,
    )
