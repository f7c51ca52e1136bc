"""Does a bodypart follow a line of its own? And which annotations sit farthest from the line.

This module owns (pure functions: no files)

- :func:`per_bodypart_fits`: each bodypart's own line beside the line shared
  by the others, and which bodyparts differ, as a :class:`PerBodypartFits`
  (each bodypart's :class:`BodypartJudgement` holds why, as numbers: the
  sentence is :func:`kpcal_core.sentences.bodypart_reason`);
- :func:`largest_residuals`: the annotations farthest from a line, to look at again.

Numbers and typed facts only: no words (``lint-imports`` forbids this module
:mod:`kpcal_core.sentences` and :mod:`kpcal_core.wording`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import KpcalError, NotEnoughAnnotations
from .fitting import check_whole, points_xy
from .intervals import BootstrapFit, bootstrap_fit

PER_BODYPART_COLUMNS = (
    "bodypart",
    "n",
    "slope",
    "intercept",
    "slope_low",
    "slope_high",
    "intercept_low",
    "intercept_high",
    "differs",
)


class Verdict(enum.Enum):
    """How a bodypart's own line was judged against the shared one."""

    #: Too few annotations (or confidences) for a line of its own: not judged.
    TOO_FEW = "too_few"
    #: Its intervals overlap those of the shared line.
    FOLLOWS = "follows"
    #: Its intervals do not overlap those of the shared line: flagged.
    DIFFERS = "differs"


@dataclass(frozen=True)
class IntervalGap:
    """One parameter whose interval does not overlap the shared line's.

    Attributes
    ----------
    parameter
        ``"slope"`` or ``"intercept"``.
    value, low, high
        The bodypart's own estimate and its interval.
    reference, reference_low, reference_high
        The shared line's estimate and its interval.
    """

    parameter: str
    value: float
    low: float
    high: float
    reference: float
    reference_low: float
    reference_high: float


@dataclass(frozen=True)
class BodypartJudgement:
    """Why one bodypart differs, follows, or is not judged: the numbers a sentence needs.

    Attributes
    ----------
    bodypart
        Its name.
    verdict
        :class:`Verdict`.
    n
        Its annotations.
    n_confidences
        Distinct confidences among them.
    min_points
        Annotations a line of its own needs.
    level
        Coverage of the intervals compared (0.95).
    against_others
        True when the shared line is that of the bodyparts not flagged (some
        bodypart is flagged); False when it is the pooled line of all.
    gaps
        For a bodypart that differs, each parameter whose intervals are
        disjoint from the shared line's (empty when they overlapped the final
        shared line though they did not when it was flagged).
    """

    bodypart: str
    verdict: Verdict
    n: int
    n_confidences: int
    min_points: int
    level: float
    against_others: bool
    gaps: tuple[IntervalGap, ...] = ()


@dataclass(frozen=True)
class PerBodypartFits:
    """Each bodypart's own line beside the shared one (:func:`per_bodypart_fits`).

    Attributes
    ----------
    pooled
        :func:`~kpcal_core.intervals.bootstrap_fit` of all points.
    reference
        The shared line the flags are judged against: the pooled line of the
        bodyparts not flagged (the pooled line when none is).
    table
        One row per bodypart (sorted), columns :data:`PER_BODYPART_COLUMNS`.
    differs
        Names of the bodyparts flagged, the most different first.
    judgements
        One per bodypart, in the table's order: why it differs, follows or is
        not judged.
    """

    pooled: BootstrapFit
    reference: BootstrapFit
    table: pd.DataFrame
    differs: tuple[str, ...]
    judgements: tuple[BodypartJudgement, ...]


def _separation(own: BootstrapFit, reference: BootstrapFit) -> float:
    """How far apart two lines' intervals are (> 0: disjoint), over slope and intercept.

    The gap between the intervals divided by the sum of their half-widths;
    the larger of the slope's and the intercept's.
    """
    worst = -math.inf
    for name in ("slope", "intercept"):
        low, high = own.interval(name)
        rlow, rhigh = reference.interval(name)
        gap = max(low, rlow) - min(high, rhigh)
        worst = max(worst, gap / max((high - low + rhigh - rlow) / 2, 1e-300))
    return worst


def per_bodypart_fits(
    points: pd.DataFrame,
    n_resamples: int = 1000,
    seed: int | None = 0,
    level: float = 0.95,
    min_points: int = 5,
) -> PerBodypartFits:
    """Each bodypart's own line beside the pooled one, and which bodyparts differ.

    A bodypart *differs* when its bootstrap interval and the interval of the
    line shared by the other bodyparts do not overlap, for the slope or for
    the intercept. Disjoint intervals are a conservative test (for 95%
    intervals, roughly p < 0.01 each), so a bodypart that truly follows the
    common line is seldom flagged by chance.

    The shared line is found by elimination, so that one bodypart far off
    does not drag the pooled line away from all the others and get them all
    flagged: start from the pooled line of all points; while some bodypart's
    intervals are disjoint from it, flag the one farthest away (gap between
    the intervals over the sum of their half-widths), and refit the shared
    line without it. ``reference`` is the line at the end (the pooled line of
    the bodyparts not flagged); with no flag it is the pooled line.

    Parameters
    ----------
    points
        Table from :func:`~kpcal_core.fitting.error_points`.
    n_resamples, seed, level
        As for :func:`bootstrap_fit` (each line gets its own seed derived from ``seed``).
    min_points
        Bodyparts with fewer annotations (or fewer than two distinct
        confidences) get no line of their own (NaN, never flagged; their
        points stay in the shared line).

    Returns
    -------
    PerBodypartFits
    """
    points_xy(points)
    min_points = check_whole(min_points, "min_points", 2)
    if "bodypart" not in points.columns:
        raise KpcalError("points lack the 'bodypart' column: make them with error_points")
    groups = dict(list(points.groupby("bodypart", sort=True)))
    root = np.random.SeedSequence(seed)
    line_seeds = iter(root.spawn(2 * len(groups) + 1))

    def boot(table: pd.DataFrame) -> BootstrapFit:
        return bootstrap_fit(table, n_resamples, np.random.default_rng(next(line_seeds)), level)

    pooled = boot(points)
    rows: dict[str, dict[str, object]] = {}
    sizes: dict[str, tuple[int, int]] = {}  # annotations, distinct confidences
    own: dict[str, BootstrapFit] = {}
    for bodypart, group in groups.items():
        name = str(bodypart)
        row: dict[str, object] = dict.fromkeys(PER_BODYPART_COLUMNS, math.nan)
        row.update(bodypart=name, n=int(len(group)), differs=False)
        distinct = len(np.unique(group["log10_confidence"].to_numpy(dtype=float)))
        sizes[name] = (len(group), distinct)
        if len(group) >= min_points and distinct >= 2:
            own[name] = fit = boot(group)
            row.update(
                slope=fit.slope,
                slope_low=fit.slope_low,
                slope_high=fit.slope_high,
                intercept=fit.intercept,
                intercept_low=fit.intercept_low,
                intercept_high=fit.intercept_high,
            )
        rows[name] = row

    flagged: list[str] = []
    reference = pooled
    while len(flagged) < len(own) - 1:
        gaps = {b: _separation(fit, reference) for b, fit in own.items() if b not in flagged}
        worst = max(gaps, key=lambda name: gaps[name])
        if gaps[worst] <= 0:
            break
        flagged.append(worst)
        rest = points[~points["bodypart"].astype(str).isin(flagged)]
        try:
            reference = boot(rest)
        except NotEnoughAnnotations:
            break
    judgements = []
    for name, row in rows.items():
        verdict, disjoint = Verdict.TOO_FEW, tuple[IntervalGap, ...]()
        if name in own:
            verdict = Verdict.DIFFERS if name in flagged else Verdict.FOLLOWS
            disjoint = _disjoint(own[name], reference) if name in flagged else ()
        row["differs"] = verdict is Verdict.DIFFERS
        judgements.append(
            BodypartJudgement(
                bodypart=name,
                verdict=verdict,
                n=sizes[name][0],
                n_confidences=sizes[name][1],
                min_points=min_points,
                level=level,
                against_others=bool(flagged),
                gaps=disjoint,
            )
        )
    table = pd.DataFrame(list(rows.values()), columns=list(PER_BODYPART_COLUMNS))
    table = table.astype({"n": "int64", "differs": bool})
    return PerBodypartFits(pooled, reference, table, tuple(flagged), tuple(judgements))


def _disjoint(fit: BootstrapFit, reference: BootstrapFit) -> tuple[IntervalGap, ...]:
    """The parameters (slope, then intercept) whose intervals do not overlap the reference's."""
    gaps = []
    for key in ("slope", "intercept"):
        low, high = fit.interval(key)
        rlow, rhigh = reference.interval(key)
        if high < rlow or low > rhigh:
            gaps.append(
                IntervalGap(key, getattr(fit, key), low, high, getattr(reference, key), rlow, rhigh)
            )
    return tuple(gaps)


def largest_residuals(points: pd.DataFrame, fit: object, n: int = 10) -> pd.DataFrame:
    """The annotations farthest from the line, largest first (to look at again).

    Parameters
    ----------
    points
        Table from :func:`~kpcal_core.fitting.error_points` (m rows).
    fit
        Anything with numbers ``slope`` and ``intercept``: a line object
        (:class:`~kpcal_core.fitting.LineFit`, :class:`~kpcal_core.fitting.FittedLine`...)
        or a mapping with those keys.
    n
        How many rows to return (at most m).

    Returns
    -------
    pandas.DataFrame
        ``min(n, m)`` rows sorted by ``|residual|``: ``recording, frame,
        bodypart, confidence, error_px, line_error_px, residual`` (plus
        ``annotator, annotated_at`` when ``points`` has them). ``residual`` is
        ``log10(error_px + 1)`` minus the line, in log10 units (> 0: the
        annotation is farther from the prediction than the line expects);
        ``line_error_px = 10**line - 1``. ``(recording, frame, bodypart)`` is
        the sample key the annotate page opens.
    """
    x, y = points_xy(points)
    n = check_whole(n, "n", 0)
    try:
        if isinstance(fit, Mapping):
            slope, intercept = float(fit["slope"]), float(fit["intercept"])
        else:
            slope, intercept = float(fit.slope), float(fit.intercept)  # type: ignore[attr-defined]
    except (AttributeError, KeyError, TypeError, ValueError):
        raise KpcalError("fit must hold numbers 'slope' and 'intercept'") from None
    line = slope * x + intercept
    residual = y - line
    table = points.copy()
    table["line_error_px"] = 10**line - 1
    table["residual"] = residual
    order = np.argsort(-np.abs(residual), kind="stable")[:n]
    columns = [
        "recording",
        "frame",
        "bodypart",
        "confidence",
        "error_px",
        "line_error_px",
        "residual",
    ] + [c for c in ("annotator", "annotated_at") if c in table.columns]
    return table.iloc[order][columns].reset_index(drop=True)
