"""Fitting: the calibration line, the fit's diagnostics and the stop status shown while annotating."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..annotations import CLEARED, Annotation
from ..fit_service import ProjectFit, fit_project, project_points, project_population
from ..fitting import FittedLine
from ..gross_errors import screen_gross_errors
from ..intervals import BootstrapFit, bootstrap_fit, prediction_band
from ..per_bodypart import PerBodypartFits, per_bodypart_fits
from ..planning import Population
from ..project import ProjectData
from ..running import running_fit
from ..samplekeys import SampleKey
from ..sentences import bodypart_reason, has_settled, stop_statement
from ..stop_check import StopCheck, stop_rule


@dataclass(frozen=True)
class CalibrationFit:
    """The project's fit and the line of the chosen method.

    Attributes
    ----------
    project
        :class:`~kpcal_core.fit_service.ProjectFit` (least squares, points, counts).
    method
        One of :data:`~kpcal_core.fitting.FIT_METHODS`.
    line
        That method's line (:attr:`ProjectFit.line <kpcal_core.fit_service.ProjectFit.line>`).
    """

    project: ProjectFit
    method: str
    line: FittedLine


def calibration_fit(
    data: ProjectData,
    records: Mapping[SampleKey, Annotation] | None = None,
    method: str = "least-squares",
) -> CalibrationFit:
    """Fit the project's annotations; the line of ``method`` is what would be saved.

    Through :func:`kpcal_core.fit_service.fit_project`, the one fit autosave and
    ``kpcal fit`` use too.
    """
    result = fit_project(data=data, records=records, method=method)
    line = result.line if result.line is not None else FittedLine.least_squares(result.fit)
    return CalibrationFit(project=result, method=line.method, line=line)


@dataclass(frozen=True)
class FitDiagnostics:
    """How far to trust the fit: what the fit page shows beside the line (:func:`fit_diagnostics`).

    Attributes
    ----------
    bootstrap
        :func:`~kpcal_core.intervals.bootstrap_fit` of the points (1,000 resamples).
    running
        :func:`~kpcal_core.running.running_fit` table of the points.
    settled, statement
        The stop rule's verdict and its sentence (the slope-only rule's without a population).
    stop
        The stop rule's :class:`~kpcal_core.stop_check.StopCheck` over the
        project's keypoints, or None without a population.
    band
        :func:`~kpcal_core.intervals.prediction_band`, or None without a population.
    per_bodypart
        :func:`~kpcal_core.per_bodypart.per_bodypart_fits` of the points.
    bodypart_table
        The fit page's per-bodypart table: ``per_bodypart.table`` with a last
        column ``reason``, the sentence saying why (:func:`bodypart_table`).
    part_lines
        ``bodypart, x, y``: each bodypart's own line over the points' confidences.
    """

    bootstrap: BootstrapFit
    running: pd.DataFrame
    settled: bool
    statement: str
    stop: StopCheck | None
    band: pd.DataFrame | None
    per_bodypart: PerBodypartFits
    bodypart_table: pd.DataFrame
    part_lines: pd.DataFrame


def bodypart_table(fits: PerBodypartFits) -> pd.DataFrame:
    """Each bodypart's own line with a ``reason`` column, the sentence of its judgement.

    Parameters
    ----------
    fits
        :func:`~kpcal_core.per_bodypart.per_bodypart_fits`' result.

    Returns
    -------
    pandas.DataFrame
        ``fits.table`` (one row per bodypart, columns
        :data:`~kpcal_core.per_bodypart.PER_BODYPART_COLUMNS`) and ``reason``
        (:func:`kpcal_core.sentences.bodypart_reason`), in that order.
    """
    return fits.table.assign(reason=[bodypart_reason(j) for j in fits.judgements])


def fit_diagnostics(
    points: pd.DataFrame, population: Population | None = None, stop: StopCheck | None = None
) -> FitDiagnostics:
    """How far to trust the fit: what the fit page shows beside the line.

    Parameters
    ----------
    points
        The points the line is fitted to (:attr:`ProjectFit.line_points`).
    population
        The project's keypoints (:func:`~kpcal_core.fit_service.project_population`).
    stop
        The stop rule's verdict when the caller has it (:func:`stop_status`);
        default: :func:`~kpcal_core.stop_check.stop_rule` of ``points``.

    Returns
    -------
    FitDiagnostics
    """
    running = running_fit(points)
    per_bodypart = per_bodypart_fits(points)
    ends = [float(points["log10_confidence"].min()), float(points["log10_confidence"].max())]
    table = per_bodypart.table
    slopes = table["slope"].to_numpy(dtype=float)
    intercepts = table["intercept"].to_numpy(dtype=float)
    part_lines = pd.DataFrame(
        [
            {"bodypart": str(name), "x": x, "y": slope * x + intercept}
            for name, slope, intercept in zip(table["bodypart"], slopes, intercepts, strict=True)
            if np.isfinite(slope)
            for x in ends
        ],
        columns=["bodypart", "x", "y"],
    )
    if stop is None and population is not None:
        stop = stop_rule(points, population)
    settled, statement = (
        (stop.settled, stop_statement(stop)) if stop is not None else has_settled(running)
    )
    return FitDiagnostics(
        bootstrap=bootstrap_fit(points),
        running=running,
        settled=settled,
        statement=statement,
        stop=stop,
        band=prediction_band(points, population) if population is not None else None,
        per_bodypart=per_bodypart,
        bodypart_table=bodypart_table(per_bodypart),
        part_lines=part_lines,
    )


def stop_status(
    data: ProjectData,
    records: Mapping[SampleKey, Annotation],
    population: Population | None = None,
    *,
    level: float = 0.95,
) -> StopCheck:
    """Can the annotator stop? The one stop rule of the annotate page, the fit page and ``kpcal fit``.

    :func:`~kpcal_core.diagnostics.stop_rule` of the usable positions in
    ``records`` (those :func:`calibration_fit` fits) over the project's
    keypoints, with the likely gross errors of
    :func:`~kpcal_core.diagnostics.screen_gross_errors` (kept as the session
    says), the confidences of the drawn samples not annotated yet (to say how
    many of them are still needed) and the keypoints left to annotate. Cheap
    enough for every click (no resampling). Works from zero annotations on.

    Parameters
    ----------
    records
        ``{sample_key: Annotation}``: the session's annotations (cleared and
        "not visible" ones, and samples of recordings or bodyparts not loaded,
        are left out as in the fit).
    population
        :func:`~kpcal_core.diagnostics.project_population` of ``data`` when the
        caller has it already (the app caches it).
    level
        Coverage of the intervals.

    Returns
    -------
    StopCheck

    Raises
    ------
    KpcalError
        An annotated keypoint's log10 confidence is not finite (confidence 0
        with ``conf_pseudocount`` 0).
    """
    points = project_points(data, records)
    population = project_population(data) if population is None else population
    x = points["log10_confidence"].to_numpy(dtype=float)
    if not np.isfinite(x).all():
        fit_project(data=data, records=records)  # names the annotation at fault
    gross = screen_gross_errors(data, points, records, data.session.kept_gross_errors)
    annotated = {k for k, a in records.items() if a.status != CLEARED}
    used = set(data.use_bodyparts)
    remaining = []
    for recording, frame, bodypart in data.session.sample_keys:
        if (recording, frame, bodypart) in annotated or bodypart not in used:
            continue
        conf = data.confidences.get(recording)
        if conf is None or not 0 <= frame < len(conf) or bodypart not in data.bodyparts:
            continue
        value = float(conf[frame, data.bodyparts.index(bodypart)]) + data.conf_pseudocount
        if value > 0:
            remaining.append(math.log10(value))
    done = sum(1 for r, _, b in annotated if r in data.confidences and b in used)
    return stop_rule(
        points,
        population,
        level=level,
        gross_errors=gross,
        remaining=np.array(remaining, dtype=float),
        candidates=max(population.n - done, 0),
    )
