"""Does a bodypart follow a line of its own? And which annotations sit farthest from the line.

This module owns (pure functions: no files)

- :func:`per_bodypart_fits`: each bodypart's own line beside the line shared
  by the others, and which bodyparts differ, as a :class:`PerBodypartFits`
  (each row's ``reason`` says why, with the numbers);
- :func:`largest_residuals`: the annotations farthest from a line, to look at again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import KpcalError, NotEnoughAnnotations
from .fitting import check_whole, points_xy
from .intervals import BootstrapFit, bootstrap_fit
from .wording import count

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
    "reason",
)


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
    """

    pooled: BootstrapFit
    reference: BootstrapFit
    table: pd.DataFrame
    differs: tuple[str, ...]


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
    own: dict[str, BootstrapFit] = {}
    for bodypart, group in groups.items():
        name = str(bodypart)
        row: dict[str, object] = dict.fromkeys(PER_BODYPART_COLUMNS, math.nan)
        row.update(bodypart=name, n=int(len(group)), differs=False, reason="")
        distinct = len(np.unique(group["log10_confidence"].to_numpy(dtype=float)))
        if len(group) < min_points or distinct < 2:
            row["reason"] = (
                f"{count(len(group), 'annotation')} at {count(distinct, 'confidence')}: "
                f"too few for a line of its own (need {min_points})"
            )
        else:
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
    label = "pooled line" if not flagged else "shared line of the other bodyparts"
    for name, fit in own.items():
        problems = []
        for key in ("slope", "intercept"):
            low, high = fit.interval(key)
            rlow, rhigh = reference.interval(key)
            if high < rlow or low > rhigh:
                problems.append(
                    f"{key} {getattr(fit, key):.3f} [{low:.3f}, {high:.3f}] vs "
                    f"{getattr(reference, key):.3f} "
                    f"[{rlow:.3f}, {rhigh:.3f}]"
                )
        differs = name in flagged
        rows[name]["differs"] = differs
        if differs:
            rows[name]["reason"] = (
                f"its {level:.0%} intervals do not overlap those of the {label}: "
                + ("; ".join(problems) or "(they did when it was flagged)")
            )
        else:
            rows[name]["reason"] = f"its {level:.0%} intervals overlap those of the {label}"
    table = pd.DataFrame(list(rows.values()), columns=list(PER_BODYPART_COLUMNS))
    table = table.astype({"n": "int64", "differs": bool})
    return PerBodypartFits(pooled, reference, table, tuple(flagged))


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
