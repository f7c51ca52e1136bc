"""Fit diagnostics: how far to trust the error line, and the one fit of a project.

This module owns

- :func:`fit_project`, the single code path from a project folder (or the
  app's loaded project and in-memory annotations) to the fitted line: the
  positioned annotations of loaded recordings and bodyparts, through
  :func:`~kpcal_core.fitting.error_points` and
  :func:`~kpcal_core.fitting.fit_points`. The app's fit page and the command
  line (``python -m kpcal_core fit``) both call it, so they give the same
  numbers;
- the uncertainty of the line: :func:`bootstrap_fit` (percentile bootstrap,
  vectorised), :func:`running_fit` and :func:`has_settled` (is annotating
  more still changing the slope?), :func:`per_bodypart_fits` (does a bodypart
  follow a line of its own?);
- when to stop annotating: :func:`stop_rule` (is the line known where the
  keypoints are?), built on :func:`stop_numbers` (vectorised over prefixes
  and repetitions, for the simulation bench), and :func:`prediction_band`
  (the line and its band over the histogram of the population, for the fit
  page); :func:`project_population` gives a loaded project's population;
- alternatives and checks: :func:`robust_fit` (Theil-Sen or Huber),
  :func:`largest_residuals`, :func:`annotation_counts`;
- several annotators: moved to :mod:`kpcal_core.agreement` (the names
  :func:`load_annotator_files`, :func:`annotator_agreement` and
  :func:`mean_click_annotations` are still importable from here).

Every estimator is plain numpy. Least squares (``numpy.polyfit``) stays the
line that is saved, as keypoint-MoSeq does; the others only inform.

``points`` everywhere is the table :func:`~kpcal_core.fitting.error_points`
returns (``recording, frame, bodypart, confidence, error_px,
log10_confidence, log10_error``); :func:`project_points` adds ``annotator``
and ``annotated_at``, which :func:`running_fit` orders by.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .agreement import (  # noqa: F401 - moved there; importable from here as before
    UNNAMED,
    annotator_agreement,
    load_annotator_files,
    mean_click_annotations,
)
from .annotations import (
    Annotation,
    annotation_counts,
)
from .errors import KpcalError, NotEnoughAnnotations
from .fitting import (
    check_whole,
    error_points,
    fit_line,
    fit_points,
    points_xy,
    require_line,
)
from .planning import WINSOR_TAIL, Population, population_of
from .project import ProjectData, load_project_data, load_working_annotations, usable_annotations
from .samplekeys import SampleKey
from .stopping import (
    GROSS_ERROR_MIN_RESIDUAL,
    gross_error_mask,
    half_widths_at,
    prefix_numbers,
    projected_half_widths,
    settled,
    slope_reach,
    slope_target_met,
    t_quantile,
)
from .wording import count

#: Elements of the ``(resamples, n)`` index matrix built at once; bounds the
#: bootstrap's temporary memory (about 5 arrays of this many float64).
BOOTSTRAP_BLOCK = 1 << 21


# --------------------------------------------------------------------------- helpers


def _check_level(level: float) -> float:
    try:
        level = float(level)
    except (TypeError, ValueError):
        raise KpcalError(f"level must be a number between 0 and 1, got {level!r}") from None
    if not 0 < level < 1:
        raise KpcalError(f"level must be between 0 and 1 (e.g. 0.95), got {level}")
    return level


def _bootstrap_lines(
    x: np.ndarray, y: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line of each resample, in closed form.

    Parameters
    ----------
    x, y
        ``(n,)`` data.
    index
        ``(B, m)`` integer rows: resample ``b`` is ``x[index[b]], y[index[b]]``.

    Returns
    -------
    slopes, intercepts
        ``(B,)`` each; NaN for a resample whose x values are all equal.
    """
    x0, y0 = float(x.mean()), float(y.mean())
    xb = (x - x0)[index]  # centred first: sums of squares stay accurate
    yb = (y - y0)[index]
    flat = np.ptp(xb, axis=1) == 0
    mx = xb.mean(axis=1)
    my = yb.mean(axis=1)
    xb -= mx[:, None]
    yb -= my[:, None]
    sxx = np.einsum("ij,ij->i", xb, xb)
    sxy = np.einsum("ij,ij->i", xb, yb)
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = np.where(flat | (sxx <= 0), np.nan, sxy / sxx)
    intercepts = (my + y0) - slopes * (mx + x0)
    return slopes, intercepts


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of the finite ``values`` ``(B,)``; NaNs when none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(finite, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(low), float(high)


# --------------------------------------------------------------------------- bootstrap


def bootstrap_fit(
    points: pd.DataFrame,
    n_resamples: int = 1000,
    seed: int | np.random.Generator | None = 0,
    level: float = 0.95,
    *,
    return_samples: bool = False,
) -> dict:
    """Percentile bootstrap intervals for the least-squares slope and intercept.

    Each resample draws ``n`` annotations with replacement and fits the line
    in closed form; all resamples are computed together on a ``(B, n)`` index
    matrix (in blocks of :data:`BOOTSTRAP_BLOCK` elements), with no Python
    loop over resamples. A resample whose confidences are all equal has no
    line: it is left out of the intervals and counted in ``n_degenerate``.

    Parameters
    ----------
    points
        ``(n rows)`` table from :func:`~kpcal_core.fitting.error_points`.
    n_resamples
        ``B``, the number of resamples.
    seed
        Seed (or generator) of the resampling: same seed, same intervals; ``None``: random.
    level
        Coverage of the intervals (0.95: the 2.5th to 97.5th percentiles).
    return_samples
        Also return the ``(B,)`` arrays ``slopes`` and ``intercepts``.

    Returns
    -------
    dict
        ``slope``, ``intercept`` (``numpy.polyfit`` on all points: the saved
        numbers), ``slope_low``, ``slope_high``, ``intercept_low``,
        ``intercept_high``, ``level``, ``n``, ``n_resamples``,
        ``n_degenerate``, ``seed`` (and ``slopes``, ``intercepts``).

    Raises
    ------
    NotEnoughAnnotations
        Fewer than two distinct confidences.
    KpcalError
        Bad arguments or non-finite points.
    """
    x, y = points_xy(points)
    require_line(x)
    n_resamples = check_whole(n_resamples, "n_resamples", 1)
    level = _check_level(level)
    slope, intercept = fit_line(x, y)
    rng = np.random.default_rng(seed)
    n = len(x)
    block = max(1, BOOTSTRAP_BLOCK // n)
    slopes = np.empty(n_resamples)
    intercepts = np.empty(n_resamples)
    for start in range(0, n_resamples, block):  # blocks of resamples bound the memory
        stop = min(start + block, n_resamples)
        index = rng.integers(0, n, size=(stop - start, n))
        slopes[start:stop], intercepts[start:stop] = _bootstrap_lines(x, y, index)
    slope_low, slope_high = _interval(slopes, level)
    intercept_low, intercept_high = _interval(intercepts, level)
    out = {
        "slope": slope,
        "intercept": intercept,
        "slope_low": slope_low,
        "slope_high": slope_high,
        "intercept_low": intercept_low,
        "intercept_high": intercept_high,
        "level": level,
        "n": n,
        "n_resamples": n_resamples,
        "n_degenerate": int(np.isnan(slopes).sum()),
        "seed": seed,
    }
    if return_samples:
        out["slopes"], out["intercepts"] = slopes, intercepts
    return out


# --------------------------------------------------------------------------- running fit


RUNNING_COLUMNS = (
    "n",
    "recording",
    "frame",
    "bodypart",
    "annotated_at",
    "slope",
    "intercept",
    "slope_se",
    "intercept_se",
    "slope_low",
    "slope_high",
    "intercept_low",
    "intercept_high",
    "half_width",
)


def _annotation_order(points: pd.DataFrame, order: str | Sequence[int] | None) -> np.ndarray:
    """Row positions ``(n,)`` of ``points`` in annotation order."""
    n = len(points)
    if order is None or isinstance(order, str):
        column = "annotated_at" if order is None else order
        if column not in points.columns:
            raise KpcalError(
                f"points have no {column!r} column to order the annotations by: make them "
                "with project_points, or pass order= (row positions in annotation order)"
            )
        # stable: annotations with the same (or no) time keep their row order
        return np.argsort(points[column].astype(str).to_numpy(), kind="stable")
    try:
        positions = np.asarray(order, dtype=np.int64)
    except (TypeError, ValueError):
        raise KpcalError("order must be a column name or row positions (whole numbers)") from None
    if positions.shape != (n,) or not np.array_equal(np.sort(positions), np.arange(n)):
        raise KpcalError(
            f"order must list each of the {n} row positions 0..{n - 1} once, in annotation order"
        )
    return positions


def running_fit(
    points: pd.DataFrame,
    order: str | Sequence[int] | None = None,
    min_points: int = 5,
    n_resamples: int = 0,
    *,
    level: float = 0.95,
    seed: int | None = 0,
    bootstrap_steps: int = 20,
    population: Population | np.ndarray | None = None,
) -> pd.DataFrame:
    """The line fitted to the first ``k`` annotations, for every ``k``, with its interval.

    All prefixes are fitted at once from cumulative sums (exact least
    squares, O(n)). The interval of each step is the normal-theory one:
    ``estimate ± t * standard error``, with the OLS standard errors
    ``se(slope) = s / sqrt(Sxx)``, ``se(intercept) = s * sqrt(1/k + mean(x)^2 / Sxx)``,
    ``s^2 = SSR / (k - 2)``, and ``t`` the Student quantile with ``k - 2``
    degrees of freedom (Cornish-Fisher expansion; 1.96 for large ``k`` at
    0.95). It assumes independent errors of equal spread around the line, so
    it can be narrower than the bootstrap when the spread changes with
    confidence. With ``n_resamples > 0`` a bootstrap interval
    (:func:`bootstrap_fit`) is also computed at ``bootstrap_steps`` evenly
    spread steps (always including the last), in the ``boot_*`` columns.

    Parameters
    ----------
    points
        ``(n rows)`` table from :func:`project_points` (or
        :func:`~kpcal_core.fitting.error_points` with an ``annotated_at`` column).
    order
        ``None``: sort by ``annotated_at`` (stable); a column name to sort by;
        or ``(n,)`` row positions in annotation order.
    min_points
        Steps with fewer annotations get NaN (need at least 3 for an interval).
    n_resamples
        Bootstrap resamples at the chosen steps; 0: none.
    level
        Coverage of the intervals.
    seed
        Seed of the bootstrap.
    bootstrap_steps
        How many steps get a bootstrap interval.
    population
        Optional :class:`~kpcal_core.planning.Population` (or ``(m,)`` x
        array): adds the column ``rms_half_width`` (:func:`stop_numbers`), the
        number :func:`stop_rule` compares with its target, at every step.

    Returns
    -------
    pandas.DataFrame
        One row per annotation in order (``n`` = 1, 2, ...), columns
        :data:`RUNNING_COLUMNS`: the annotation added at that step
        (``recording, frame, bodypart, annotated_at``), the line so far,
        standard errors, intervals and ``half_width`` (of the slope interval);
        plus ``boot_slope_low, boot_slope_high, boot_intercept_low,
        boot_intercept_high`` when ``n_resamples > 0`` (NaN at other steps).
        ``attrs`` holds ``level`` and ``interval`` (how it was made).
    """
    x_all, y_all = points_xy(points)
    min_points = max(3, check_whole(min_points, "min_points", 1))
    n_resamples = check_whole(n_resamples, "n_resamples", 0)
    level = _check_level(level)
    rows = _annotation_order(points, order)
    x, y = x_all[rows], y_all[rows]
    n_total = len(x)
    k = np.arange(1, n_total + 1, dtype=float)
    x0 = float(x.mean()) if n_total else 0.0
    y0 = float(y.mean()) if n_total else 0.0
    xc, yc = x - x0, y - y0
    sx, sy = np.cumsum(xc), np.cumsum(yc)
    mx, my = sx / k, sy / k
    sxx = np.cumsum(xc * xc) - k * mx * mx
    sxy = np.cumsum(xc * yc) - k * mx * my
    syy = np.cumsum(yc * yc) - k * my * my
    # a prefix whose confidences are all equal has no line
    flat = np.maximum.accumulate(x) == np.minimum.accumulate(x) if n_total else np.array([])
    valid = (k >= min_points) & ~flat & (sxx > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(valid, sxy / sxx, np.nan)
        intercept = (my + y0) - slope * (mx + x0)
        ssr = np.maximum(syy - slope * sxy, 0.0)
        s2 = ssr / (k - 2)
        slope_se = np.sqrt(s2 / sxx)
        intercept_se = np.sqrt(s2 * (1 / k + (mx + x0) ** 2 / sxx))
    t = t_quantile(0.5 + level / 2, k - 2)
    table = pd.DataFrame(
        {
            "n": np.arange(1, n_total + 1, dtype=np.int64),
            "recording": points["recording"].to_numpy()[rows]
            if "recording" in points
            else [""] * n_total,
            "frame": points["frame"].to_numpy()[rows] if "frame" in points else -1,
            "bodypart": points["bodypart"].to_numpy()[rows]
            if "bodypart" in points
            else [""] * n_total,
            "annotated_at": points["annotated_at"].astype(str).to_numpy()[rows]
            if "annotated_at" in points
            else [""] * n_total,
            "slope": slope,
            "intercept": np.where(valid, intercept, np.nan),
            "slope_se": np.where(valid, slope_se, np.nan),
            "intercept_se": np.where(valid, intercept_se, np.nan),
            "slope_low": np.where(valid, slope - t * slope_se, np.nan),
            "slope_high": np.where(valid, slope + t * slope_se, np.nan),
            "intercept_low": np.where(valid, intercept - t * intercept_se, np.nan),
            "intercept_high": np.where(valid, intercept + t * intercept_se, np.nan),
            "half_width": np.where(valid, t * slope_se, np.nan),
        }
    )
    table.attrs["level"] = level
    table.attrs["interval"] = "OLS standard error x Student t (normal theory)"
    if population is not None:
        mu, var = _population_moments(population)
        rms = stop_numbers(x, y, mu, var, level)["rms_half_width"] if n_total else []
        table["rms_half_width"] = np.where(valid, rms, np.nan) if n_total else np.nan
    if n_resamples > 0:
        for column in ("boot_slope_low", "boot_slope_high", "boot_intercept_low"):
            table[column] = np.nan
        table["boot_intercept_high"] = np.nan
        candidates = np.flatnonzero(valid)
        if candidates.size:
            spread = np.linspace(0, candidates.size - 1, max(1, bootstrap_steps))
            chosen = np.unique(np.append(candidates[spread.round().astype(int)], candidates[-1]))
            ordered = points.iloc[rows]
            seeds = np.random.SeedSequence(seed).spawn(len(chosen))
            for step, step_seed in zip(chosen, seeds):
                try:
                    boot = bootstrap_fit(
                        ordered.iloc[: step + 1],
                        n_resamples,
                        np.random.default_rng(step_seed),
                        level,
                    )
                except NotEnoughAnnotations:
                    continue
                table.loc[step, "boot_slope_low"] = boot["slope_low"]
                table.loc[step, "boot_slope_high"] = boot["slope_high"]
                table.loc[step, "boot_intercept_low"] = boot["intercept_low"]
                table.loc[step, "boot_intercept_high"] = boot["intercept_high"]
            table.attrs["interval"] += f"; bootstrap ({n_resamples}) at {len(chosen)} steps"
    return table


def has_settled(
    running: pd.DataFrame, window: int = 10, slope_target: float = 0.1
) -> tuple[bool, str]:
    """Whether the running fit has settled, as a yes/no and a sentence for the user.

    Settled means all of: over the last ``window`` annotations the slope
    moved (its largest minus its smallest value over those ``window + 1``
    steps) by less than the half-width of its current interval; that
    half-width is at most ``slope_target``; and the slope is negative. A
    slope that stopped moving but is still imprecise (an interval of -1.65 to
    +1.21 says nothing) or not negative is not settled. :func:`stop_rule` is
    the rule that judges the line over the keypoints it will be applied to;
    this one only watches the slope.

    Parameters
    ----------
    running
        The table from :func:`running_fit`.
    window
        How many of the latest annotations to look back over.
    slope_target
        Largest half-width of the slope's interval that counts as precise.

    Returns
    -------
    tuple
        ``(settled, statement)``: ``bool`` and a plain sentence that says
        which, with the numbers, and what is missing ("annotate about N more"
        where that can be estimated from the ``(half-width / target)^2`` law).
    """
    window = check_whole(window, "window", 1)
    for column in ("slope", "half_width"):
        if column not in getattr(running, "columns", ()):
            raise KpcalError(f"running lacks the column {column!r}: make it with running_fit")
    level = float(running.attrs.get("level", 0.95))
    fitted = running.dropna(subset=["slope", "half_width"])
    n = int(running["n"].iloc[-1]) if len(running) else 0
    if len(fitted) < window + 1:
        first = int(fitted["n"].iloc[0]) if len(fitted) else None
        need = (first if first is not None else max(n, 5)) + window
        return False, (
            f"Too early to tell whether the fit has settled: {count(n, 'annotation')} so far; "
            f"at least {need} are needed to watch the slope over {window} annotations."
        )
    last = fitted.iloc[-(window + 1) :]
    moved = float(last["slope"].max() - last["slope"].min())
    half = float(fitted["half_width"].iloc[-1])
    slope = float(fitted["slope"].iloc[-1])
    start, end = int(last["n"].iloc[0]), int(last["n"].iloc[-1])
    if moved < half and half <= slope_target and slope < 0:
        return True, (
            f"Settled: over the last {window} annotations (n = {start} to {end}) the slope "
            f"moved by at most {moved:.4f}, less than the half-width {half:.4f} of its "
            f"{level:.0%} interval, which is within ±{slope_target}, and the slope "
            f"{slope:.4f} is negative."
        )
    gaps = []
    if moved >= half:
        gaps.append(
            f"over the last {window} annotations (n = {start} to {end}) the slope moved by "
            f"{moved:.4f}, not less than the half-width {half:.4f} of its {level:.0%} interval"
        )
    if half > slope_target:
        gaps.append(
            f"the slope's {level:.0%} interval is {slope - half:.4f} to {slope + half:.4f}, "
            f"wider than ±{slope_target}"
        )
    if slope >= 0:
        gaps.append(f"the slope {slope:.4f} is not negative")
    advice = "annotate more"
    if slope >= 0 and slope - half > 0:
        advice = "check that the clicks are on the true positions"
    elif half > slope_target:
        advice = f"annotate about {max(math.ceil(end * (half / slope_target) ** 2) - end, 1)} more"
    return False, f"Not settled yet: {'; '.join(gaps)}; {advice}."


# --------------------------------------------------------------------------- the stop rule

#: The stop rule's thresholds (see :func:`stop_rule`).
STOP_MIN_ANNOTATIONS = 20
STOP_RMS_HALF_WIDTH = 0.073
STOP_SLOPE_HALF_WIDTH = 0.1
#: The targets must hold after this many annotations in a row: one lucky click
#: that narrows an interval for a moment does not stop annotating.
STOP_HELD = 3


def _population_moments(
    population: Population | np.ndarray | Sequence[float],
) -> tuple[float, float]:
    """``(mean, variance)`` of the population's x, held within its 0.5th and 99.5th percentiles.

    :meth:`~kpcal_core.planning.Population.winsorized`: the stop rule's mean
    over the population cannot be taken over by a handful of keypoints at an
    extreme confidence (whose s0 hardly matters to the model, and whose line
    no annotation could pin down).
    """
    if isinstance(population, Population):
        return population.winsorized()
    x = np.asarray(population, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise KpcalError(
            "the population has no keypoint with a finite log10 confidence: pass "
            "planning.population_of(...) or an array of log10(confidence + pseudocount)"
        )
    low, high = np.quantile(x, [WINSOR_TAIL, 1 - WINSOR_TAIL])
    x = np.clip(x, low, high)
    return float(x.mean()), float(x.var())


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


def stop_numbers(
    x: np.ndarray,
    y: np.ndarray,
    population_mean: float | np.ndarray,
    population_variance: float | np.ndarray,
    level: float = 0.95,
    *,
    screen: bool = True,
    flagged: np.ndarray | None = None,
    kept: np.ndarray | None = None,
    steps: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The stop rule's numbers after every prefix of the annotations, vectorised.

    At each prefix, likely gross errors are flagged
    (:func:`kpcal_core.stopping.gross_error_mask`: far above a robust line,
    for the spread at their confidence) and left out unless ``kept``; the
    least-squares line of the rest gives (:func:`kpcal_core.stopping.line_numbers`)
    the slope's 95% half-width and the root mean square over the population
    (mean ``mu``, variance ``var``) of the mean line's 95% half-width, from
    HC2 (heteroscedasticity-consistent) and spread-model variances; the
    classical ``t s sqrt(1/k + (var + (mu - xbar)^2) / Sxx)`` (the population
    mean of ``(x0 - xbar)^2`` being ``var + (mu - xbar)^2``; see
    :mod:`kpcal_core.planning`) is reported beside them.

    Parameters
    ----------
    x, y
        ``(..., n)`` log10 confidence and log10(error + 1) in annotation order
        (leading axes: independent series, e.g. simulation repetitions).
    population_mean, population_variance
        Scalars or arrays broadcasting against ``(...,)``.
    level
        Coverage of the intervals.
    screen, flagged, kept, steps
        As :func:`kpcal_core.stopping.prefix_numbers`.

    Returns
    -------
    dict
        ``(..., n)`` arrays ``slope``, ``intercept``, ``slope_half_width``,
        ``rms_half_width`` (NaN for prefixes without a line), the classical
        half-widths (``*_classical``), ``residual_sd``, ``n_used`` (annotations
        in the line), ``n_flagged``, ``n_left_out``; ``flagged_final``
        (``(..., n)``: the flags of the whole sequence) and ``n`` (``(n,)``,
        1-based prefix length).
    """
    level = _check_level(level)
    x = np.asarray(x, dtype=float)
    numbers = prefix_numbers(
        x,
        y,
        population_mean,
        population_variance,
        level,
        screen=screen,
        flagged=flagged,
        kept=kept,
        steps=steps,
    )
    numbers["n"] = np.arange(1, x.shape[-1] + 1, dtype=np.int64)
    return numbers


def settled_mask(
    numbers: Mapping[str, np.ndarray],
    min_annotations: int = STOP_MIN_ANNOTATIONS,
    rms_target: float = STOP_RMS_HALF_WIDTH,
    slope_target: float = STOP_SLOPE_HALF_WIDTH,
    *,
    slope_lever: float | np.ndarray | None = None,
    held: int = STOP_HELD,
) -> np.ndarray:
    """``(..., n)`` booleans: the stop rule's verdict after each prefix of :func:`stop_numbers`.

    ``slope_lever`` (:attr:`~kpcal_core.planning.Population.slope_lever`,
    scalar or broadcasting against ``(..., n)``): the slope target is met
    also where the slope's uncertainty moves the line at the population's
    edges by at most ``rms_target``; None: only by the slope's half-width.
    ``held``: the targets must be met after each of the last ``held``
    prefixes (1: after this one alone).
    """
    n_used = numbers["n_used"] if "n_used" in numbers else numbers["n"]
    met = settled(
        n_used,
        numbers["slope"],
        numbers["slope_half_width"],
        numbers["rms_half_width"],
        slope_lever=slope_lever,
        min_annotations=min_annotations,
        rms_target=rms_target,
        slope_target=slope_target,
    )
    return _held(met, check_whole(held, "held", 1))


def _held(met: np.ndarray, held: int) -> np.ndarray:
    """``met`` along the last axis and at each of the ``held - 1`` prefixes before."""
    out = met.copy()
    for back in range(1, held):
        out[..., back:] &= met[..., :-back]
        out[..., :back] = False
    return out


@dataclass(frozen=True)
class GrossError:
    """One annotation flagged as a likely gross error (see :func:`screen_gross_errors`).

    Attributes
    ----------
    key
        ``(recording, frame, bodypart)``: the sample, as the annotate page opens it.
    confidence
        The keypoint's confidence plus ``conf_pseudocount`` (what the line's x is the log of).
    error_px
        Distance from the click to the network's prediction of this bodypart.
    line_error_px
        The error the robust line expects at this confidence.
    residual
        ``log10(error_px + 1)`` minus the robust line (> 0: larger than expected).
    nearer_bodypart, nearer_px
        The other bodypart whose prediction is nearer the click than this
        one's, and its distance; ``None`` when there is none.
    kept
        The user chose to keep it in the line.
    """

    key: SampleKey
    confidence: float
    error_px: float
    line_error_px: float
    residual: float
    nearer_bodypart: str | None = None
    nearer_px: float | None = None
    kept: bool = False


@dataclass(frozen=True)
class GrossErrors:
    """The annotations flagged as likely gross errors, largest residual first.

    Flagged annotations are left out of the line (the fit, autosave and the
    stop rule) unless kept.
    """

    flagged: tuple[GrossError, ...] = ()

    @property
    def left_out(self) -> tuple[SampleKey, ...]:
        """Keys of the flagged annotations not kept: out of the line."""
        return tuple(g.key for g in self.flagged if not g.kept)

    @property
    def kept(self) -> tuple[SampleKey, ...]:
        """Keys of the flagged annotations the user kept in the line."""
        return tuple(g.key for g in self.flagged if g.kept)


def _point_keys(points: pd.DataFrame) -> list[SampleKey]:
    return [
        (str(r), int(f), str(b))
        for r, f, b in zip(points["recording"], points["frame"], points["bodypart"], strict=True)
    ]


def screen_gross_errors(
    data: ProjectData,
    points: pd.DataFrame,
    records: Mapping[SampleKey, Annotation],
    kept: Iterable[SampleKey] = (),
) -> GrossErrors:
    """Flag annotations that are likely gross errors (identity swaps, wrong clicks).

    An annotation is flagged when either holds:

    - its residual above a robust (Huber) line is more than
      :data:`~kpcal_core.stopping.GROSS_ERROR_SDS` robust standard deviations
      of the residuals at its confidence (the spread may change with
      confidence) and more than a factor 2 in ``error + 1``
      (:func:`kpcal_core.stopping.gross_error_mask`; 12 annotations or more);
    - the click is nearer the network's prediction of another bodypart (in
      the same frame and recording) than of its own, and its error is more
      than twice what the robust line expects: the network put this bodypart
      where another one is.

    Parameters
    ----------
    data
        The project (the predictions of every bodypart).
    points
        :func:`project_points` of ``records``: the annotations to judge.
    records
        ``{sample_key: Annotation}`` (the clicks' positions).
    kept
        Keys the user chose to keep in the line although flagged.

    Returns
    -------
    GrossErrors
    """
    if len(points) == 0:
        return GrossErrors()
    x, y = points_xy(points)
    found, residual, _, line = gross_error_mask(x, y)
    slope, intercept = float(line[0]), float(line[1])
    keys = _point_keys(points)
    kept = set(kept)
    flagged = []
    for i, key in enumerate(keys):
        nearer, nearer_px = _nearer_bodypart(data, key, records.get(key))
        swap = nearer is not None and residual[i] > GROSS_ERROR_MIN_RESIDUAL
        if not (found[i] or swap):
            continue
        flagged.append(
            GrossError(
                key=key,
                confidence=float(points["confidence"].iloc[i]),
                error_px=float(points["error_px"].iloc[i]),
                line_error_px=float(10 ** (slope * x[i] + intercept) - 1),
                residual=float(residual[i]),
                nearer_bodypart=nearer,
                nearer_px=nearer_px,
                kept=key in kept,
            )
        )
    flagged.sort(key=lambda g: -g.residual)
    return GrossErrors(tuple(flagged))


def _nearer_bodypart(
    data: ProjectData, key: SampleKey, annotation: Annotation | None
) -> tuple[str | None, float | None]:
    """The other bodypart whose prediction is nearer the click than the target's own."""
    if annotation is None or not annotation.has_position:
        return None, None
    recording, frame, bodypart = key
    try:
        row = np.asarray(data.coordinates[recording][frame], dtype=float)  # (K, 2)
    except (KeyError, IndexError):
        return None, None
    click = np.array([annotation.x, annotation.y], dtype=float)
    distance = np.hypot(*(row - click).T)
    own = data.bodyparts.index(bodypart)
    others = np.array([k != own and np.isfinite(distance[k]) for k in range(len(row))])
    if not others.any():
        return None, None
    nearest = int(np.flatnonzero(others)[np.argmin(distance[others])])
    if distance[nearest] < distance[own]:
        return data.bodyparts[nearest], float(distance[nearest])
    return None, None


#: Why the targets cannot be reached by annotating more (``StopCheck.blocker``).
BLOCKERS = ("no-line", "positive-slope", "one-confidence", "too-few-keypoints")


@dataclass(frozen=True)
class StopCheck:
    """The stop rule's verdict on the annotations so far (see :func:`stop_rule`).

    Numbers only; :func:`kpcal_core.workflows.stop_statement` and
    :func:`kpcal_core.workflows.stop_status_line` say them in words.

    Attributes
    ----------
    settled
        True when annotating more is no longer needed.
    n
        Positioned annotations judged.
    n_used
        Of them, in the line (the rest: likely gross errors left out).
    slope, intercept
        The least-squares line of those in the line (NaN when there is none).
    slope_half_width
        The 95% half-width of the slope.
    rms_half_width
        Root mean square, over the population's keypoints, of the 95%
        half-width of the mean line, in log10(error + 1) units (``2 *`` it in
        ``log10(s0)``).
    slope_lever
        How far the population's central 95% reaches from its mean (log10
        confidence); the slope's uncertainty moves the line at those edges by
        ``slope_half_width * slope_lever``.
    held_count
        After how many annotations in a row (up to ``held``) all targets were met.
    unmet
        Which conditions fail now: any of ``"min-annotations"``, ``"rms"``,
        ``"slope"``, ``"negative"``, ``"held"``.
    more_needed
        About how many more annotations reach the targets (0 when settled;
        None when more would not help: see ``blocker``).
    samples_left
        Drawn samples not annotated yet (None: not known).
    draw_more
        Samples to draw beyond them (0 when the drawn ones should do; None: not known).
    candidates
        Keypoints that could still be annotated at all (None: not known).
    blocker
        Why the targets cannot be reached by annotating (one of
        :data:`BLOCKERS`), or ``""``.
    share_within_target, within_low, within_high
        Share of the population's keypoints where the line's own 95%
        half-width is within ``rms_target`` now, and the range of confidences
        (plus pseudocount) that holds them (NaN when none).
    gross_errors
        The flagged annotations.
    level, rms_target, slope_target, min_annotations, held
        The rule's settings.
    """

    settled: bool
    n: int
    n_used: int
    slope: float
    intercept: float
    slope_half_width: float
    rms_half_width: float
    slope_lever: float
    held_count: int
    unmet: tuple[str, ...]
    more_needed: int | None
    samples_left: int | None = None
    draw_more: int | None = None
    candidates: int | None = None
    blocker: str = ""
    share_within_target: float = math.nan
    within_low: float = math.nan
    within_high: float = math.nan
    gross_errors: GrossErrors = field(default_factory=GrossErrors)
    level: float = 0.95
    rms_target: float = STOP_RMS_HALF_WIDTH
    slope_target: float = STOP_SLOPE_HALF_WIDTH
    min_annotations: int = STOP_MIN_ANNOTATIONS
    held: int = STOP_HELD

    @property
    def n_left_out(self) -> int:
        """Annotations left out of the line as likely gross errors."""
        return self.n - self.n_used

    @property
    def slope_reach(self) -> float:
        """``slope_half_width * slope_lever``: the slope's uncertainty at the population's edges."""
        return float(slope_reach(self.slope_half_width, self.slope_lever))

    @property
    def slope_by_reach(self) -> bool:
        """The slope target is met only because the population is narrow (its reach is small)."""
        return bool(
            not self.slope_half_width <= self.slope_target and self.slope_reach <= self.rms_target
        )

    def as_dict(self) -> dict:
        """The fields as plain values (for JSON), with the derived numbers."""
        out = asdict(self)
        out["unmet"] = list(self.unmet)
        out["n_left_out"] = self.n_left_out
        out["slope_reach"] = self.slope_reach
        out["slope_by_reach"] = self.slope_by_reach
        out["gross_errors"] = [{**asdict(g), "key": list(g.key)} for g in self.gross_errors.flagged]
        return out


def _population_lever(population: Population | np.ndarray | Sequence[float]) -> float:
    if isinstance(population, Population):
        return population.slope_lever
    x = np.asarray(population, dtype=float).ravel()
    x = x[np.isfinite(x)]
    low, high = np.quantile(x, [0.025, 0.975])
    mean = _population_moments(x)[0]
    return float(max(mean - low, high - mean, 0.0))


def _population_histogram(
    population: Population | np.ndarray | Sequence[float],
) -> tuple[np.ndarray, np.ndarray]:
    """``(centres, counts)`` of the population's x histogram."""
    if not isinstance(population, Population):
        population = Population.from_x(np.asarray(population, dtype=float))
    edges = np.asarray(population.hist_edges, dtype=float)
    return (edges[:-1] + edges[1:]) / 2, np.asarray(population.hist_counts, dtype=float)


def _in_annotation_order(points: pd.DataFrame) -> pd.DataFrame:
    """The points in the order they were annotated (``annotated_at``, stable), when known."""
    if "annotated_at" not in points.columns or len(points) < 2:
        return points
    order = np.argsort(points["annotated_at"].astype(str).to_numpy(), kind="stable")
    return points.iloc[order]


def stop_rule(
    points: pd.DataFrame,
    population: Population | np.ndarray | Sequence[float],
    *,
    level: float = 0.95,
    min_annotations: int = STOP_MIN_ANNOTATIONS,
    rms_target: float = STOP_RMS_HALF_WIDTH,
    slope_target: float = STOP_SLOPE_HALF_WIDTH,
    held: int = STOP_HELD,
    gross_errors: GrossErrors | None = None,
    remaining: np.ndarray | Sequence[float] | None = None,
    candidates: int | None = None,
) -> StopCheck:
    """Has annotating done its job? The rule that judges the line where the model uses it.

    Settled when, after each of the last ``held`` (3) annotations, all hold:

    - at least ``min_annotations`` (20) annotations in the line;
    - the root mean square, over every keypoint of the population (the used
      bodyparts' keypoints with a position: what keypoint-MoSeq will weigh),
      of the 95% half-width of the fitted mean line is at most ``rms_target``
      (0.073 in log10(error + 1): the predicted error + 1 known to a factor of
      about 1.18, keypoint-MoSeq's ``s0 = (error + 1)^2`` to about 1.4);
    - the slope is known: its 95% half-width is at most ``slope_target``
      (0.1), or its uncertainty moves the line at the edges of the
      population's central 95% by at most ``rms_target`` (a narrow range of
      confidences, where the slope hardly changes ``s0``);
    - the slope is negative (errors shrink as confidence grows).

    The half-widths (:func:`stop_numbers`) hold under clicking noise that
    changes with confidence (the larger of the HC2 and a spread-model
    variance, with Satterthwaite degrees of freedom), and likely
    gross errors (:func:`screen_gross_errors` and the residual screen of
    :func:`kpcal_core.stopping.gross_error_mask`) are left out of the line
    unless the user keeps them.

    When not settled, ``more_needed`` projects the half-widths over the next
    drawn samples (``remaining``: their confidences, known before they are
    clicked) with the current spread; beyond them it scales by
    ``(half-width / target)^2``. It never exceeds ``candidates`` without
    ``blocker`` saying so.

    Parameters
    ----------
    points
        ``(n rows)`` table from :func:`project_points` (or
        :func:`~kpcal_core.fitting.error_points`): the usable annotations,
        judged in ``annotated_at`` order when that column is there.
    population
        :class:`~kpcal_core.planning.Population` (from
        :func:`~kpcal_core.planning.population_of`) or an ``(m,)`` array of
        the population's ``log10(confidence + pseudocount)``.
    level, min_annotations, rms_target, slope_target, held
        The rule's settings.
    gross_errors
        :func:`screen_gross_errors` of ``points`` (flags from the positions,
        and the user's choices); default: the residual screen alone.
    remaining
        ``(r,)`` log10 confidences (plus pseudocount) of the drawn samples not
        annotated yet, in the order they come.
    candidates
        Keypoints of the population not annotated yet.

    Returns
    -------
    StopCheck
    """
    points = _in_annotation_order(points)
    x, y = points_xy(points)
    mu, var = _population_moments(population)
    lever = _population_lever(population)
    min_annotations = check_whole(min_annotations, "min_annotations", 3)
    held = check_whole(held, "held", 1)
    level = _check_level(level)
    n = len(x)
    gross_errors = gross_errors if gross_errors is not None else GrossErrors()
    keys = _point_keys(points) if n else []
    flagged_keys = {g.key for g in gross_errors.flagged}
    kept_keys = set(gross_errors.kept)
    flagged = np.array([k in flagged_keys for k in keys], bool)
    kept = np.array([k in kept_keys for k in keys], bool)
    remaining = np.asarray([] if remaining is None else remaining, dtype=float)
    remaining = remaining[np.isfinite(remaining)]
    settings = dict(
        level=level,
        rms_target=rms_target,
        slope_target=slope_target,
        min_annotations=min_annotations,
        held=held,
    )
    common = dict(
        samples_left=len(remaining) if remaining.size or candidates is not None else None,
        candidates=candidates,
        **settings,
    )
    steps = np.arange(max(n - held + 1, 1), n + 1)
    if n:
        numbers = stop_numbers(x, y, mu, var, level, flagged=flagged, kept=kept, steps=steps)
    else:
        numbers = None
    # flags of the residual screen too, for the caller's list
    if numbers is not None:
        screened = numbers["flagged_final"] & ~flagged
        if screened.any():
            extra = _residual_flags(points, numbers, screened, kept_keys)
            gross_errors = GrossErrors(
                tuple(sorted((*gross_errors.flagged, *extra), key=lambda g: -g.residual))
            )
    last = {}
    if numbers is not None:
        last = {k: float(v[-1]) for k, v in numbers.items() if k not in ("n", "flagged_final")}
    slope = last.get("slope", math.nan)
    intercept = last.get("intercept", math.nan)
    slope_hw = last.get("slope_half_width", math.nan)
    rms_hw = last.get("rms_half_width", math.nan)
    n_used = int(last.get("n_used", 0))
    base = dict(
        n=n,
        n_used=n_used,
        slope=slope,
        intercept=intercept,
        slope_half_width=slope_hw,
        rms_half_width=rms_hw,
        slope_lever=lever,
        gross_errors=gross_errors,
    )
    if var <= 1e-12:
        # every keypoint at one confidence: no slope to measure, none that matters
        return StopCheck(
            settled=False,
            held_count=0,
            unmet=("slope",),
            more_needed=None,
            blocker="one-confidence",
            draw_more=None,
            **base,
            **common,
        )
    if not (math.isfinite(slope_hw) and math.isfinite(rms_hw)):
        more = max(min_annotations - n_used, 3 - n_used, 1)
        return StopCheck(
            settled=False,
            held_count=0,
            unmet=("min-annotations",) if n_used < min_annotations else ("rms", "slope"),
            more_needed=more,
            blocker="no-line",
            draw_more=max(more - len(remaining), 0) if common["samples_left"] is not None else None,
            **base,
            **common,
        )
    met = settled_mask(
        numbers, min_annotations, rms_target, slope_target, slope_lever=lever, held=1
    )
    held_count = 0
    for value in met[::-1]:
        if not value:
            break
        held_count += 1
    held_count = min(held_count, held)
    settled_now = held_count >= held
    unmet = []
    if n_used < min_annotations:
        unmet.append("min-annotations")
    if not rms_hw <= rms_target:
        unmet.append("rms")
    if not slope_target_met(slope_hw, lever, rms_target, slope_target):
        unmet.append("slope")
    if not slope < 0:
        unmet.append("negative")
    if not unmet and not settled_now:
        unmet.append("held")
    used = ~np.asarray(numbers["flagged_final"], bool) | kept
    within = _within_target(x, y, used, population, rms_target, level)
    base.update(
        share_within_target=within[0],
        within_low=within[1],
        within_high=within[2],
        held_count=held_count,
        unmet=tuple(unmet),
    )
    if settled_now:
        return StopCheck(settled=True, more_needed=0, draw_more=0, **base, **common)
    if slope >= 0 and slope - slope_hw > 0:
        # precisely not negative: more of the same will not turn it
        return StopCheck(
            settled=False,
            more_needed=None,
            blocker="positive-slope",
            draw_more=None,
            **base,
            **common,
        )
    more = _more_needed(
        x[used],
        numbers,
        remaining,
        mu,
        var,
        lever,
        held_count,
        level=level,
        min_annotations=min_annotations,
        rms_target=rms_target,
        slope_target=slope_target,
        held=held,
    )
    blocker = ""
    if candidates is not None and more > candidates:
        blocker = "too-few-keypoints"
    draw = None
    if common["samples_left"] is not None:
        draw = max(more - len(remaining), 0)
        if candidates is not None:
            draw = min(draw, max(candidates - len(remaining), 0))
    return StopCheck(
        settled=False,
        more_needed=more,
        blocker=blocker,
        draw_more=draw,
        **base,
        **common,
    )


def _residual_flags(
    points: pd.DataFrame,
    numbers: Mapping[str, np.ndarray],
    screened: np.ndarray,
    kept_keys: set,
) -> list[GrossError]:
    """:class:`GrossError` rows for annotations only the residual screen flagged."""
    x, y = points_xy(points)
    _, residual, _, line = gross_error_mask(x, y)
    slope, intercept = float(line[0]), float(line[1])
    keys = _point_keys(points)
    out = []
    for i in np.flatnonzero(screened):
        out.append(
            GrossError(
                key=keys[i],
                confidence=float(points["confidence"].iloc[i]),
                error_px=float(points["error_px"].iloc[i]),
                line_error_px=float(10 ** (slope * x[i] + intercept) - 1),
                residual=float(residual[i]),
                kept=keys[i] in kept_keys,
            )
        )
    return out


def _within_target(
    x: np.ndarray,
    y: np.ndarray,
    used: np.ndarray,
    population: Population | np.ndarray | Sequence[float],
    rms_target: float,
    level: float,
) -> tuple[float, float, float]:
    """Share of the population where the line's own half-width is within the target, and
    the confidences (plus pseudocount) that hold it."""
    centres, counts = _population_histogram(population)
    mu, var = _population_moments(population)
    half = half_widths_at(x, y, used, centres, level, mu, var)
    inside = np.isfinite(half) & (half <= rms_target) & (counts > 0)
    total = counts.sum()
    if not inside.any() or total <= 0:
        return 0.0, math.nan, math.nan
    share = float(counts[inside].sum() / total)
    return share, float(10 ** centres[inside].min()), float(10 ** centres[inside].max())


def _widening(robust: float, classical: float) -> float:
    """How much wider the robust half-width is than the classical one (at least 1; 1 when
    the classical one is 0 or not a number: every annotation on the line, or too few)."""
    if not (classical > 0 and math.isfinite(classical) and math.isfinite(robust)):
        return 1.0
    return max(robust / classical, 1.0)


def _more_needed(
    x_used: np.ndarray,
    numbers: Mapping[str, np.ndarray],
    remaining: np.ndarray,
    mu: float,
    var: float,
    lever: float,
    held_count: int,
    *,
    level: float,
    min_annotations: int,
    rms_target: float,
    slope_target: float,
    held: int,
) -> int:
    """Annotations still needed: over the drawn samples' known confidences, then the square law."""
    last = {k: float(v[-1]) for k, v in numbers.items() if k not in ("n", "flagged_final")}
    n_used = int(last["n_used"])
    if (
        n_used >= min_annotations
        and last["rms_half_width"] <= rms_target
        and slope_target_met(last["slope_half_width"], lever, rms_target, slope_target)
    ):
        return max(held - held_count, 1)  # met now; only the run of annotations is missing
    ratio_rms = _widening(last["rms_half_width"], last["rms_half_width_classical"])
    ratio_slope = _widening(last["slope_half_width"], last["slope_half_width_classical"])
    proj_rms, proj_slope = projected_half_widths(
        x_used, remaining, last["residual_sd"], mu, var, level
    )
    proj_rms = proj_rms * ratio_rms
    proj_slope = proj_slope * ratio_slope
    j = np.arange(len(proj_rms))
    ok = (
        (n_used + j >= min_annotations)
        & (proj_rms <= rms_target)
        & slope_target_met(proj_slope, lever, rms_target, slope_target)
    )
    if ok[1:].any():
        return int(np.flatnonzero(ok[1:])[0] + 1) + held - 1
    # beyond the drawn samples: half-widths shrink as 1/sqrt(n) while the design keeps its shape
    total = n_used + len(remaining)
    effective_slope_target = max(slope_target, rms_target / lever) if lever > 0 else math.inf
    factor = max(
        (proj_rms[-1] / rms_target) ** 2 if math.isfinite(proj_rms[-1]) else 1.0,
        (proj_slope[-1] / effective_slope_target) ** 2 if math.isfinite(proj_slope[-1]) else 1.0,
        min_annotations / max(total, 1),
        1.0,
    )
    slope = last["slope"]
    if slope >= 0 and last["slope_half_width"] > 0:
        factor = max(
            factor, ((last["slope_half_width"] + abs(slope)) / last["slope_half_width"]) ** 2
        )
    return max(math.ceil(total * factor) - n_used, len(remaining) + 1) + held - 1


PREDICTION_BAND_COLUMNS = (
    "log10_confidence",
    "bin_low",
    "bin_high",
    "confidence",
    "keypoints",
    "share",
    "predicted",
    "band_low",
    "band_high",
    "predicted_px",
    "px_low",
    "px_high",
)


def prediction_band(
    points: pd.DataFrame, population: Population, level: float = 0.95
) -> pd.DataFrame:
    """The fitted error line with its interval over the population's confidences, for a plot.

    One row per histogram bin of the population (``population.hist_edges``):
    the bin and how many keypoints it holds (the histogram to draw beneath
    the line), and at the bin's centre the line's prediction with the
    ``level`` interval of the mean line (the stop rule's variance, robust to a
    spread that changes with confidence: :func:`kpcal_core.stopping.half_widths_at`),
    in log10(error + 1) and in pixels. Where the band is narrow and the bars
    are tall, the line is trusted where it matters.

    Parameters
    ----------
    points
        ``(n rows)`` table from :func:`~kpcal_core.fitting.error_points`.
    population
        :func:`~kpcal_core.planning.population_of` of the project.
    level
        Coverage of the band.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PREDICTION_BAND_COLUMNS`: ``log10_confidence`` (bin
        centre; log10 of confidence + pseudocount), ``bin_low``, ``bin_high``,
        ``confidence`` (``10**log10_confidence``), ``keypoints`` (count),
        ``share`` (of the population), ``predicted``, ``band_low``,
        ``band_high`` (log10(error + 1)) and ``predicted_px``, ``px_low``,
        ``px_high`` (``10**value - 1`` pixels).

    Raises
    ------
    NotEnoughAnnotations
        Fewer than three annotations or one confidence.
    """
    x, y = points_xy(points)
    level = _check_level(level)
    if not isinstance(population, Population):
        raise KpcalError("population must come from planning.population_of")
    n = len(x)
    if n < 3 or len(np.unique(x)) < 2:
        raise NotEnoughAnnotations(
            f"the prediction band needs annotations at two or more confidences and at least "
            f"3 in all; have {n}: annotate more"
        )
    slope, intercept = fit_line(x, y)
    edges = np.asarray(population.hist_edges, dtype=float)
    centre = (edges[:-1] + edges[1:]) / 2
    predicted = slope * centre + intercept
    # the stop rule's variance (robust to a spread that changes with confidence)
    half = half_widths_at(
        x, y, np.ones(n, bool), centre, level, population.mean, population.variance
    )
    counts = np.asarray(population.hist_counts, dtype=np.int64)
    table = pd.DataFrame(
        {
            "log10_confidence": centre,
            "bin_low": edges[:-1],
            "bin_high": edges[1:],
            "confidence": 10**centre,
            "keypoints": counts,
            "share": counts / max(int(counts.sum()), 1),
            "predicted": predicted,
            "band_low": predicted - half,
            "band_high": predicted + half,
            "predicted_px": 10**predicted - 1,
            "px_low": 10 ** (predicted - half) - 1,
            "px_high": 10 ** (predicted + half) - 1,
        }
    )
    table.attrs.update(level=level, slope=slope, intercept=intercept, n=n)
    return table


# --------------------------------------------------------------------------- per bodypart


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


def _separation(own: Mapping, reference: Mapping) -> float:
    """How far apart two lines' intervals are (> 0: disjoint), over slope and intercept.

    The gap between the intervals divided by the sum of their half-widths;
    the larger of the slope's and the intercept's.
    """
    worst = -math.inf
    for name in ("slope", "intercept"):
        low, high = own[f"{name}_low"], own[f"{name}_high"]
        rlow, rhigh = reference[f"{name}_low"], reference[f"{name}_high"]
        gap = max(low, rlow) - min(high, rhigh)
        worst = max(worst, gap / max((high - low + rhigh - rlow) / 2, 1e-300))
    return worst


def per_bodypart_fits(
    points: pd.DataFrame,
    n_resamples: int = 1000,
    seed: int | None = 0,
    level: float = 0.95,
    min_points: int = 5,
) -> dict:
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
    dict
        ``pooled``: :func:`bootstrap_fit` of all points; ``reference``: the
        shared line the flags are judged against (:func:`bootstrap_fit` dict);
        ``table``: one row per bodypart (sorted), columns
        :data:`PER_BODYPART_COLUMNS` (``reason`` says why, with the numbers);
        ``differs``: names of the bodyparts flagged, the most different first.
    """
    points_xy(points)
    min_points = check_whole(min_points, "min_points", 2)
    if "bodypart" not in points.columns:
        raise KpcalError("points lack the 'bodypart' column: make them with error_points")
    groups = dict(list(points.groupby("bodypart", sort=True)))
    root = np.random.SeedSequence(seed)
    line_seeds = iter(root.spawn(2 * len(groups) + 1))

    def boot(table: pd.DataFrame) -> dict:
        return bootstrap_fit(table, n_resamples, np.random.default_rng(next(line_seeds)), level)

    pooled = boot(points)
    rows: dict[str, dict] = {}
    own: dict[str, dict] = {}
    for bodypart, group in groups.items():
        name = str(bodypart)
        row = dict.fromkeys(PER_BODYPART_COLUMNS, math.nan)
        row.update(bodypart=name, n=int(len(group)), differs=False, reason="")
        distinct = len(np.unique(group["log10_confidence"].to_numpy(dtype=float)))
        if len(group) < min_points or distinct < 2:
            row["reason"] = (
                f"{count(len(group), 'annotation')} at {count(distinct, 'confidence')}: "
                f"too few for a line of its own (need {min_points})"
            )
        else:
            own[name] = boot(group)
            for key in ("slope", "intercept"):
                for end in ("", "_low", "_high"):
                    row[key + end] = own[name][key + end]
        rows[name] = row

    flagged: list[str] = []
    reference = pooled
    while len(flagged) < len(own) - 1:
        gaps = {b: _separation(fit, reference) for b, fit in own.items() if b not in flagged}
        worst = max(gaps, key=gaps.get)
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
            low, high = fit[f"{key}_low"], fit[f"{key}_high"]
            rlow, rhigh = reference[f"{key}_low"], reference[f"{key}_high"]
            if high < rlow or low > rhigh:
                problems.append(
                    f"{key} {fit[key]:.3f} [{low:.3f}, {high:.3f}] vs {reference[key]:.3f} "
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
    return {"pooled": pooled, "reference": reference, "table": table, "differs": flagged}


# --------------------------------------------------------------------------- residuals, counts


def largest_residuals(points: pd.DataFrame, fit: Mapping, n: int = 10) -> pd.DataFrame:
    """The annotations farthest from the line, largest first (to look at again).

    Parameters
    ----------
    points
        Table from :func:`~kpcal_core.fitting.error_points` (m rows).
    fit
        Anything with ``slope`` and ``intercept`` (a fit dict).
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
        slope, intercept = float(fit["slope"]), float(fit["intercept"])
    except (KeyError, TypeError, ValueError):
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


# --------------------------------------------------------------------------- the project's fit


@dataclass
class ProjectFit:
    """The fit of a project's annotations, and what went into it.

    Attributes
    ----------
    fit
        :func:`~kpcal_core.fitting.fit_points` output: ``slope, intercept, n,
        r2, per_bodypart``.
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
    """

    fit: dict
    points: pd.DataFrame
    counts: dict[str, int]
    n_left_out: int
    records: dict[SampleKey, Annotation] = field(repr=False)
    data: ProjectData = field(repr=False)
    gross_errors: GrossErrors = field(default_factory=GrossErrors)
    line_points: pd.DataFrame | None = field(default=None, repr=False)


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
) -> ProjectFit:
    """Fit the line to a project's annotations: the app's and the command line's one path.

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
    return ProjectFit(
        fit=fit,
        points=points,
        counts=counts,
        n_left_out=counts["positions"] - len(points),
        records=records,
        data=data,
        gross_errors=gross,
        line_points=line_points,
    )


def without_gross_errors(points: pd.DataFrame, gross_errors: GrossErrors) -> pd.DataFrame:
    """``points`` without the flagged annotations that are not kept (what the line is fitted to)."""
    left_out = set(gross_errors.left_out)
    if not left_out or len(points) == 0:
        return points
    keep = np.array([key not in left_out for key in _point_keys(points)], bool)
    return points.loc[keep]
