"""The line's uncertainty from resampling, and its band over the population.

This module owns (pure functions: no files, no sentences)

- :func:`bootstrap_fit`: percentile bootstrap intervals of the least-squares
  slope and intercept (vectorised over resamples), as a :class:`BootstrapFit`;
- :func:`prediction_band`: the line and its interval over the histogram of the
  population's confidences (the fit page's "Where is it trusted?").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import KpcalError, NotEnoughAnnotations
from .fitting import check_level, check_whole, fit_line, points_xy, require_line
from .planning import Population
from .stopping import half_widths_at

#: Elements of the ``(resamples, n)`` index matrix built at once; bounds the
#: bootstrap's temporary memory (about 5 arrays of this many float64).
BOOTSTRAP_BLOCK = 1 << 21


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


@dataclass(frozen=True)
class BootstrapFit:
    """Percentile bootstrap intervals of the least-squares line (:func:`bootstrap_fit`).

    Attributes
    ----------
    slope, intercept
        ``numpy.polyfit`` on all points: the saved numbers.
    slope_low, slope_high, intercept_low, intercept_high
        The ``level`` percentile intervals (NaN when no resample has a line).
    level
        Coverage of the intervals.
    n
        Annotations.
    n_resamples
        Resamples drawn.
    n_degenerate
        Resamples whose confidences were all equal (no line; left out).
    seed
        The seed the resamples were drawn with.
    slopes, intercepts
        ``(n_resamples,)`` each resample's line, when asked for (else None).
    """

    slope: float
    intercept: float
    slope_low: float
    slope_high: float
    intercept_low: float
    intercept_high: float
    level: float
    n: int
    n_resamples: int
    n_degenerate: int
    seed: int | np.random.Generator | None
    slopes: np.ndarray | None = None
    intercepts: np.ndarray | None = None

    def interval(self, name: str) -> tuple[float, float]:
        """``(low, high)`` of ``"slope"`` or ``"intercept"``."""
        if name == "slope":
            return self.slope_low, self.slope_high
        if name == "intercept":
            return self.intercept_low, self.intercept_high
        raise KpcalError(f"no interval named {name!r}: use 'slope' or 'intercept'")


def bootstrap_fit(
    points: pd.DataFrame,
    n_resamples: int = 1000,
    seed: int | np.random.Generator | None = 0,
    level: float = 0.95,
    *,
    return_samples: bool = False,
) -> BootstrapFit:
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
    BootstrapFit
        With ``slopes`` and ``intercepts`` when ``return_samples``.

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
    level = check_level(level)
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
    return BootstrapFit(
        slope=slope,
        intercept=intercept,
        slope_low=slope_low,
        slope_high=slope_high,
        intercept_low=intercept_low,
        intercept_high=intercept_high,
        level=level,
        n=n,
        n_resamples=n_resamples,
        n_degenerate=int(np.isnan(slopes).sum()),
        seed=seed,
        slopes=slopes if return_samples else None,
        intercepts=intercepts if return_samples else None,
    )


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
    level = check_level(level)
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
