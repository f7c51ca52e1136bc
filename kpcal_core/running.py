"""The line as annotations come in: the running fit, and the stop rule's numbers per prefix.

This module owns (pure functions: no files; no words: :func:`kpcal_core.sentences.has_settled`
says the slope-only rule)

- :func:`running_fit`: the least-squares line of the first ``k`` annotations,
  for every ``k``, with its interval (the fit page's "Has it settled?"), from
  the one running update :func:`kpcal_core.lines.running_least_squares`;
  :func:`slope_settled`, the older slope-only rule's numbers;
- :func:`stop_numbers` and :func:`settled_mask`: the stop rule's numbers and
  verdict after every prefix, vectorised over repetitions (the simulation
  bench, and :func:`kpcal_core.stop_check.stop_rule` for the last few);
- the population's moments as the stop rule takes them (held within its
  0.5th and 99.5th percentiles), its lever and histogram.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import KpcalError, NotEnoughAnnotations
from .fitting import check_level, check_whole, points_xy
from .intervals import bootstrap_fit
from .lines import running_least_squares, t_quantile
from .planning import WINSOR_TAIL, Population
from .stopping import (
    STOP_HELD,
    STOP_MIN_ANNOTATIONS,
    STOP_RMS_HALF_WIDTH,
    STOP_SLOPE_HALF_WIDTH,
    prefix_numbers,
    settled,
)

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
    level = check_level(level)
    rows = _annotation_order(points, order)
    x, y = x_all[rows], y_all[rows]
    n_total = len(x)
    sums = running_least_squares(x, y)  # the one running update (also the stop rule's projection)
    k, mean_x, mean_y = sums.k, sums.mean_x, sums.mean_y
    sxx, sxy, syy = sums.sxx, sums.sxy, sums.syy
    # a prefix whose confidences are all equal has no line
    flat = np.maximum.accumulate(x) == np.minimum.accumulate(x) if n_total else np.array([])
    valid = (k >= min_points) & ~flat & (sxx > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(valid, sxy / sxx, np.nan)
        intercept = mean_y - slope * mean_x
        ssr = np.maximum(syy - slope * sxy, 0.0)
        s2 = ssr / (k - 2)
        slope_se = np.sqrt(s2 / sxx)
        intercept_se = np.sqrt(s2 * (1 / k + mean_x**2 / sxx))
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
        mu, var = population_moments(population)
        if n_total:
            rms = stop_numbers(x, y, mu, var, level)["rms_half_width"]
            table["rms_half_width"] = np.where(valid, rms, np.nan)
        else:
            table["rms_half_width"] = np.nan
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
                table.loc[step, "boot_slope_low"] = boot.slope_low
                table.loc[step, "boot_slope_high"] = boot.slope_high
                table.loc[step, "boot_intercept_low"] = boot.intercept_low
                table.loc[step, "boot_intercept_high"] = boot.intercept_high
            table.attrs["interval"] += f"; bootstrap ({n_resamples}) at {len(chosen)} steps"
    return table


@dataclass(frozen=True)
class SlopeSettled:
    """The slope-only rule's numbers on a running fit (:func:`slope_settled`).

    Attributes
    ----------
    settled
        The slope moved less than its half-width over the window, the
        half-width is within ``slope_target`` and the slope is negative.
    n
        Annotations in the running fit.
    window, slope_target, level
        The rule's settings and the intervals' coverage.
    first
        The first step with a line (None when none has one yet).
    enough
        At least ``window + 1`` steps have a line (else nothing else is known).
    start, end
        The first and last annotation of the window (``n`` values).
    moved
        Largest minus smallest slope over the window.
    half_width, slope
        The slope's current half-width and value.
    """

    settled: bool
    n: int
    window: int
    slope_target: float
    level: float
    first: int | None = None
    enough: bool = False
    start: int = 0
    end: int = 0
    moved: float = math.nan
    half_width: float = math.nan
    slope: float = math.nan


def slope_settled(
    running: pd.DataFrame, window: int = 10, slope_target: float = 0.1
) -> SlopeSettled:
    """Whether the running fit's slope has settled (numbers; :func:`kpcal_core.sentences.has_settled` says it).

    Settled means all of: over the last ``window`` annotations the slope
    moved (its largest minus its smallest value over those ``window + 1``
    steps) by less than the half-width of its current interval; that
    half-width is at most ``slope_target``; and the slope is negative.
    :func:`kpcal_core.stop_check.stop_rule` is the rule that judges the line over
    the keypoints it will be applied to; this one only watches the slope.

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
    SlopeSettled
    """
    window = check_whole(window, "window", 1)
    for column in ("slope", "half_width"):
        if column not in getattr(running, "columns", ()):
            raise KpcalError(f"running lacks the column {column!r}: make it with running_fit")
    level = float(running.attrs.get("level", 0.95))
    fitted = running.dropna(subset=["slope", "half_width"])
    n = int(running["n"].iloc[-1]) if len(running) else 0
    first = int(fitted["n"].iloc[0]) if len(fitted) else None
    if len(fitted) < window + 1:
        return SlopeSettled(False, n, window, slope_target, level, first)
    last = fitted.iloc[-(window + 1) :]
    moved = float(last["slope"].max() - last["slope"].min())
    half = float(fitted["half_width"].iloc[-1])
    slope = float(fitted["slope"].iloc[-1])
    return SlopeSettled(
        settled=bool(moved < half and half <= slope_target and slope < 0),
        n=n,
        window=window,
        slope_target=slope_target,
        level=level,
        first=first,
        enough=True,
        start=int(last["n"].iloc[0]),
        end=int(last["n"].iloc[-1]),
        moved=moved,
        half_width=half,
        slope=slope,
    )


def population_moments(
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
    level = check_level(level)
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


def population_lever(population: Population | np.ndarray | Sequence[float]) -> float:
    """How far the population's central 95% reaches from its mean (log10 confidence)."""
    if isinstance(population, Population):
        return population.slope_lever
    x = np.asarray(population, dtype=float).ravel()
    x = x[np.isfinite(x)]
    low, high = np.quantile(x, [0.025, 0.975])
    mean = population_moments(x)[0]
    return float(max(mean - low, high - mean, 0.0))


def population_histogram(
    population: Population | np.ndarray | Sequence[float],
) -> tuple[np.ndarray, np.ndarray]:
    """``(centres, counts)`` of the population's x histogram."""
    if not isinstance(population, Population):
        population = Population.from_x(np.asarray(population, dtype=float))
    edges = np.asarray(population.hist_edges, dtype=float)
    return (edges[:-1] + edges[1:]) / 2, np.asarray(population.hist_counts, dtype=float)
