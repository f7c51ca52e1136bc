"""Fitting: the calibration line, the fit's diagnostics and the stop status shown while annotating."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..annotations import CLEARED, Annotation
from ..diagnostics import (
    ProjectFit,
    StopCheck,
    bootstrap_fit,
    fit_project,
    has_settled,
    per_bodypart_fits,
    prediction_band,
    project_points,
    project_population,
    running_fit,
    screen_gross_errors,
    stop_rule,
)
from ..fitting import fit_by_method
from ..planning import Population
from ..project import ProjectData
from ..samplekeys import SampleKey
from ..sentences import stop_statement


@dataclass
class CalibrationFit:
    """The project's fit and the line of the chosen method.

    Attributes
    ----------
    project
        :class:`~kpcal_core.diagnostics.ProjectFit` (least squares, points, counts).
    method
        One of :data:`~kpcal_core.fitting.FIT_METHODS`.
    line
        ``{"method", "slope", "intercept"}`` of that method.
    """

    project: ProjectFit
    method: str
    line: dict


def calibration_fit(
    data: ProjectData,
    records: Mapping[SampleKey, Annotation] | None = None,
    method: str = "least-squares",
) -> CalibrationFit:
    """Fit the project's annotations; the line of ``method`` is what would be saved."""
    result = fit_project(data=data, records=records)
    line = fit_by_method(result.line_points, method)
    return CalibrationFit(project=result, method=line["method"], line=line)


def fit_diagnostics(
    points: pd.DataFrame, population: Population | None = None, stop: StopCheck | None = None
) -> dict:
    """How far to trust the fit: what the fit page shows beside the line.

    Parameters
    ----------
    points
        The points the line is fitted to (:attr:`ProjectFit.line_points`).
    population
        The project's keypoints (:func:`~kpcal_core.diagnostics.project_population`).
    stop
        The stop rule's verdict when the caller has it (:func:`stop_status`);
        default: :func:`~kpcal_core.diagnostics.stop_rule` of ``points``.

    Returns
    -------
    dict
        ``bootstrap`` (:func:`~kpcal_core.diagnostics.bootstrap_fit`), ``running``
        (:func:`~kpcal_core.diagnostics.running_fit`), ``settled`` (``(bool, sentence)``
        of the stop rule), ``stop`` (the :class:`~kpcal_core.diagnostics.StopCheck`
        over ``population``: the project's keypoints), ``band``
        (:func:`~kpcal_core.diagnostics.prediction_band`), ``per_bodypart``
        (:func:`~kpcal_core.diagnostics.per_bodypart_fits`) and ``part_lines``
        (``bodypart, x, y``: each bodypart's own line over the points' confidences).
    """
    running = running_fit(points)
    per_bodypart = per_bodypart_fits(points)
    ends = [float(points["log10_confidence"].min()), float(points["log10_confidence"].max())]
    part_lines = pd.DataFrame(
        [
            {"bodypart": row.bodypart, "x": x, "y": row.slope * x + row.intercept}
            for row in per_bodypart["table"].itertuples()
            if np.isfinite(row.slope)
            for x in ends
        ],
        columns=["bodypart", "x", "y"],
    )
    if stop is None and population is not None:
        stop = stop_rule(points, population)
    return {
        "bootstrap": bootstrap_fit(points),
        "running": running,
        "settled": (stop.settled, stop_statement(stop))
        if stop is not None
        else has_settled(running),
        "stop": stop,
        "band": prediction_band(points, population) if population is not None else None,
        "per_bodypart": per_bodypart,
        "part_lines": part_lines,
    }


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
