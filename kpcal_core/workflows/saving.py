"""Saving and export: the calibration line to ``config.yml``, the export files, and the exported points."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..annotations import (
    ANNOTATIONS_FILENAME,
    CLEARED,
    Annotation,
    expand_records,
    format_annotations,
)
from ..atomic import atomic_write, together
from ..charts import chart_png, fit_chart
from ..config import config_path, load_config, save_params
from ..errors import KpcalError
from ..fit_service import ProjectFit, fit_project, project_points
from ..fitting import FIT_METHODS, FittedLine, LineFit
from ..logs import log_event
from ..prior import SlopeCheck, slope_check
from ..project import ProjectData, load_working_annotations, project_lock
from ..samplekeys import SampleKey
from ..session import load_session, save_session, session_dir


class SlopeNotConfirmed(KpcalError):
    """A flat or rising line was not written: a person must confirm it (``check`` says why)."""

    def __init__(self, message: str, check: SlopeCheck):
        super().__init__(message)
        self.check = check


@dataclass(frozen=True)
class SavedLine:
    """What :func:`save_calibration` wrote to ``config.yml``.

    Attributes
    ----------
    path
        The ``config.yml`` written.
    method
        The fit method, remembered in the session for autosave.
    slope, intercept
        The line in log10(error + 1) against log10(confidence + pseudocount).
    conf_threshold
        keypoint-MoSeq's confidence threshold saved with it.
    """

    path: str
    method: str
    slope: float
    intercept: float
    conf_threshold: float


def save_calibration(
    data: ProjectData,
    *,
    slope: float,
    intercept: float,
    conf_threshold: float,
    method: str = "least-squares",
    user: str = "",
    points: pd.DataFrame | None = None,
    confirm_slope: bool = False,
) -> SavedLine:
    """Save the line and threshold to ``config.yml`` under the project lock.

    The method is remembered in the session, so autosave after the next click
    fits with it too (until another method is saved). A line whose slope does
    not show errors shrinking as confidence grows (its 95% interval reaches 0:
    :func:`kpcal_core.prior.slope_check`) is written only with ``confirm_slope``.

    Parameters
    ----------
    points
        The :func:`~kpcal_core.diagnostics.project_points` table the line was
        fitted to (the fit page's, e.g. the mean of several annotators'
        clicks); default: the project's saved annotations.
    confirm_slope
        A person confirmed writing a line that is flat or rising.

    Returns
    -------
    SavedLine
        What was written, and where.

    Raises
    ------
    SlopeNotConfirmed
        The slope is flat or positive and ``confirm_slope`` is False; nothing is written.
    """
    if method not in FIT_METHODS:
        raise KpcalError(f"unknown fit method {method!r}: use one of {', '.join(FIT_METHODS)}")
    for name, value in (
        ("slope", slope),
        ("intercept", intercept),
        ("conf_threshold", conf_threshold),
    ):
        if not math.isfinite(float(value)):
            raise KpcalError(f"{name} must be a finite number, got {value!r}")
    if points is None:
        points = project_points(data, load_working_annotations(data.project_dir))
    check = slope_check(points, float(slope))
    if not check.decreasing and not confirm_slope:
        raise SlopeNotConfirmed(
            f"Not saved to {config_path(data.project_dir)}: {check.problem} Confirm to write it "
            "anyway (the fit page's checkbox, or `kpcal fit --save --confirm-slope`).",
            check,
        )
    with project_lock(data.project_dir), together():  # the line and its method, or neither
        new_config = save_params(
            data.project_dir,
            {
                "slope": float(slope),
                "intercept": float(intercept),
                "conf_threshold": float(conf_threshold),
            },
        )
        session = load_session(data.project_dir) or data.session
        session.fit_method = method
        save_session(data.project_dir, session)
    data.config = new_config
    data.session.fit_method = method
    log_event(
        "params",
        user=user,
        project=str(data.project_dir),
        method=method,
        slope=float(slope),
        intercept=float(intercept),
        conf_threshold=float(conf_threshold),
    )
    return SavedLine(
        path=str(config_path(data.project_dir)),
        method=method,
        slope=float(slope),
        intercept=float(intercept),
        conf_threshold=float(conf_threshold),
    )


def annotations_csv(data: ProjectData, records: Mapping[SampleKey, Annotation]) -> str:
    """The annotations CSV to hand on: every annotator's row, none cleared.

    What :func:`export` writes and the fit page's "Download annotations CSV"
    gives. A row one annotator cleared is left out even when another person
    clicked the same sample (the sample's combined annotation then has a
    position, but the cleared row is not an annotation).

    Parameters
    ----------
    records
        The annotations by sample (as :func:`kpcal_core.project.load_working_annotations`
        gives them) or by ``(sample, annotator)`` row.
    """
    kept = {k: v for k, v in expand_records(records).items() if v.status != CLEARED}
    return format_annotations(kept, data.video_frame_indexes)


@dataclass(frozen=True)
class Exported:
    """The files :func:`export` wrote.

    Attributes
    ----------
    annotations
        The annotations CSV (:func:`annotations_csv`).
    points
        The error table with residuals (``error_points.csv``).
    chart
        The chart as PNG, or ``None`` when it was not asked for.
    """

    annotations: Path
    points: Path
    chart: Path | None = None

    def paths(self) -> dict[str, Path]:
        """``{"annotations": path, "points": path[, "chart": path]}``: what was written."""
        written = {"annotations": self.annotations, "points": self.points}
        if self.chart is not None:
            written["chart"] = self.chart
        return written


def export(
    data: ProjectData,
    out_dir: str | os.PathLike | None = None,
    *,
    records: Mapping[SampleKey, Annotation] | None = None,
    conf_threshold: float | None = None,
    png: bool = True,
) -> Exported:
    """Write the annotations CSV, the error table (with residuals) and the chart PNG.

    The annotations are always written; the error table and chart need a fit
    (else :class:`~kpcal_core.errors.NotEnoughAnnotations`, after the CSV).

    Returns
    -------
    Exported
        The paths written (:meth:`Exported.paths` as a dict).
    """
    records = load_working_annotations(data.project_dir) if records is None else dict(records)
    folder = Path(out_dir) if out_dir else session_dir(data.project_dir) / "export"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise KpcalError(f"cannot create the export folder {str(folder)!r}: {error}") from None
    annotations = atomic_write(folder / ANNOTATIONS_FILENAME, annotations_csv(data, records))
    result = fit_project(data=data, records=records)
    points = atomic_write(
        folder / "error_points.csv", exported_points(data, result).to_csv(index=False)
    )
    if not png:
        return Exported(annotations, points)
    threshold = (
        float(conf_threshold)
        if conf_threshold is not None
        else float(load_config(data.project_dir).get("conf_threshold", 0.5))
    )
    chart = fit_chart(result.points, [least_squares_line(result.fit)], threshold)
    return Exported(annotations, points, atomic_write(folder / "error_fit.png", chart_png(chart)))


#: ``error_points.csv``'s columns, each named for what it holds.
EXPORTED_POINT_COLUMNS = (
    "recording",
    "frame",
    "bodypart",
    "confidence",
    "confidence_plus_pseudocount",
    "error_px",
    "log10_confidence_plus_pseudocount",
    "log10_error_plus_1",
    "residual",
    "annotator",
    "annotated_at",
)


def exported_points(data: ProjectData, result: ProjectFit) -> pd.DataFrame:
    """``error_points.csv``: one row per fitted annotation, each column named for what it holds.

    ``confidence`` is the keypoint file's own value; ``confidence_plus_pseudocount``
    and ``log10_confidence_plus_pseudocount`` are what the line is fitted on
    (x), ``log10_error_plus_1`` its y; ``residual`` is y minus the least-squares
    line. Columns :data:`EXPORTED_POINT_COLUMNS`.
    """
    points = result.points
    fit = result.fit
    raw = [
        float(data.confidences[r][int(f), data.bodyparts.index(b)])
        for r, f, b in zip(points["recording"], points["frame"], points["bodypart"], strict=True)
    ]
    table = pd.DataFrame(
        {
            "recording": points["recording"],
            "frame": points["frame"],
            "bodypart": points["bodypart"],
            "confidence": raw,
            "confidence_plus_pseudocount": points["confidence"],
            "error_px": points["error_px"],
            "log10_confidence_plus_pseudocount": points["log10_confidence"],
            "log10_error_plus_1": points["log10_error"],
            "residual": points["log10_error"]
            - (fit.slope * points["log10_confidence"] + fit.intercept),
        }
    )
    for column in ("annotator", "annotated_at"):
        table[column] = points.get(column, "")
    return table[list(EXPORTED_POINT_COLUMNS)]


def least_squares_line(fit: LineFit) -> FittedLine:
    """The least-squares line of a :func:`~kpcal_core.fitting.fit_points` result, to draw or save."""
    return FittedLine.least_squares(fit)
