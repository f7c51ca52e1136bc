"""Likely gross errors: annotations far above the rest at their confidence, or swaps.

This module owns (pure functions: no files, no sentences)

- :func:`gross_error_mask`: annotations whose error is far above what the
  rest say at their confidence (likely identity swaps or wrong clicks),
  judged against a robust (Huber, :func:`robust_line`) line and a robust
  spread that may change with confidence; vectorised over leading axes (the
  stop rule's prefixes, the bench's repetitions);
- :class:`GrossError`, :class:`GrossErrors`: the flagged annotations, which are
  left out of the line (the fit, autosave and the stop rule) unless a person
  keeps them;
- :func:`screen_gross_errors`: the residual screen plus clicks nearer another
  bodypart's prediction than their own (a swap), for a project's annotations;
  :func:`residual_flags` for those only the stop rule's screen found;
- :func:`without_gross_errors`: the points the line is fitted to.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from .fitting import points_xy
from .lines import MEAN_LOG_ABS_NORMAL, weighted_line
from .samplekeys import SampleKey

#: Huber's tuning constant (95% efficient for normal errors).
HUBER_C = 1.345
#: An annotation whose residual above the robust line exceeds this many robust
#: standard deviations (at its confidence) is a likely gross error.
GROSS_ERROR_SDS = 4.0
#: ... and it must be at least this far above the line, in log10(error + 1)
#: (a factor of 2 in error + 1), so that a tiny spread never flags a few pixels.
GROSS_ERROR_MIN_RESIDUAL = math.log10(2.0)
#: Fewest annotations for screening: below it nothing is flagged.
GROSS_ERROR_MIN_N = 12
#: How often the bulk the spread is fitted to is chosen (the first time by the
#: pooled spread, then by the spread at each annotation's confidence).
SPREAD_PASSES = 3
#: The spread an annotation is judged by is the one-sided 90% upper bound of
#: the fitted spread at its confidence (normal quantile). Measured on the bench
#: (500 repetitions): 95% (1.645) flagged too few swaps among confident
#: keypoints (SC: line off 5.2%), one standard error (1.0) too many clean
#: low-confidence clicks (H: slope-off 4.8%); 90% keeps both within 5%.
SPREAD_UPPER_Z = 1.2815515655446004
#: The standard deviation of log10|z| for a standard normal z: pi / sqrt(8) in
#: natural-log units (the variance of log|z| is pi^2 / 8).
_SD_LOG_ABS_NORMAL = math.pi / math.sqrt(8) / math.log(10)
_MAD_TO_SD = 1 / 0.6744897501960817


def robust_line(
    x: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    max_iter: int = 50,
    tol: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Huber M-estimate of the line over the last axis, by reweighted least squares.

    The scale is re-estimated from the residuals' median absolute deviation
    each iteration (as :func:`kpcal_core.fitting.robust_fit`). Iterates until
    every series has converged (or ``max_iter``).

    Parameters
    ----------
    x, y
        ``(..., n)`` data.
    valid
        ``(..., n)`` booleans: the entries to use.
    start
        Optional ``(slope, intercept)`` ``(...,)`` to start from (default:
        least squares of the valid entries).

    Returns
    -------
    slope, intercept, scale
        ``(...,)`` each; ``scale`` is the robust standard deviation of the
        residuals (MAD / 0.6745).
    """
    w0 = valid.astype(float)
    if start is None:
        slope, intercept, _ = weighted_line(x, y, w0)
    else:
        slope, intercept = start
    scale = np.zeros(slope.shape)
    for _ in range(max_iter):
        residual = y - (slope[..., None] * x + intercept[..., None])
        scale = _mad_scale(residual, valid)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.abs(residual) / scale[..., None]
            w = np.where(u <= HUBER_C, 1.0, HUBER_C / np.maximum(u, 1e-300))
        w = np.where(valid & np.isfinite(w), w, 0.0)
        w = np.where((scale > 0)[..., None], w, w0)
        new_slope, new_intercept, sxx = weighted_line(x, y, w)
        bad = ~np.isfinite(new_slope) | (sxx <= 0)
        new_slope = np.where(bad, slope, new_slope)
        new_intercept = np.where(bad, intercept, new_intercept)
        with np.errstate(invalid="ignore"):
            change = np.abs(new_slope - slope) + np.abs(new_intercept - intercept)
        slope, intercept = new_slope, new_intercept
        if not np.any(change > tol):
            break
    return slope, intercept, scale


def _mad_scale(residual: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Robust standard deviation (MAD / 0.6745) of the valid residuals, ``(...,)``."""
    r = np.where(valid, residual, np.nan)
    with np.errstate(invalid="ignore"), _quiet_nan():
        centre = np.nanmedian(r, axis=-1)
        mad = np.nanmedian(np.abs(r - centre[..., None]), axis=-1)
    return np.nan_to_num(mad * _MAD_TO_SD, nan=0.0)


class _quiet_nan:
    """Silence numpy's "All-NaN slice" warnings inside a block (empty series give NaN)."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)
        return self

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


def gross_error_mask(
    x: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    sds: float = GROSS_ERROR_SDS,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Annotations whose error is far above the rest at their confidence.

    A robust line (Huber, :func:`robust_line`) is fitted; the spread of the
    residuals around it is allowed to change with confidence: ``log10 |r|``
    is regressed on ``x`` (least squares over the bulk: the residuals within 3
    robust standard deviations, first pooled, then at their own confidence,
    :data:`SPREAD_PASSES` times), which gives a robust standard deviation
    ``s(x)``. Where few annotations tell the spread (the ends of the range of
    confidences), ``s(x)`` is its one-sided 90% upper bound: the regression's
    standard error at ``x`` times :data:`SPREAD_UPPER_Z`, with the known
    standard deviation of ``log10 |z|`` for normal ``z``. An annotation is
    flagged when its residual is above the line by more than ``sds * s(x)``
    and by more than :data:`GROSS_ERROR_MIN_RESIDUAL`. Only
    errors larger than expected are flagged: a click closer than expected is
    not a gross error. Fewer than :data:`GROSS_ERROR_MIN_N` valid annotations:
    nothing is flagged.

    Parameters
    ----------
    x, y
        ``(..., n)`` log10(confidence + pseudocount) and log10(error + 1).
    valid
        ``(..., n)`` booleans (default: all).
    sds
        The threshold in robust standard deviations.
    start
        ``(slope, intercept)`` ``(...,)`` to start the robust fit from.

    Returns
    -------
    flagged, residual, spread, line
        ``(..., n)`` booleans, residuals above the robust line, the robust
        standard deviation ``s(x)`` at each annotation, and ``(slope,
        intercept)`` of the robust line as ``(..., 2)``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    valid = np.ones(x.shape, bool) if valid is None else np.asarray(valid, bool)
    valid = valid & np.isfinite(x) & np.isfinite(y)
    slope, intercept, scale = robust_line(x, y, valid, start)
    residual = y - (slope[..., None] * x + intercept[..., None])
    # the spread at each confidence: log10|r| against x, over the bulk. The
    # bulk is first the residuals within 3 pooled robust standard deviations,
    # then those within 3 of the spread at their own confidence: with noise
    # that grows at low confidence the pooled cut alone drops exactly the
    # noisy low-confidence residuals and so understates the spread there.
    floor = np.maximum(scale, 1e-6)[..., None] * 1e-3
    log_abs = np.log10(np.maximum(np.abs(residual), floor))
    spread = np.broadcast_to(scale[..., None], residual.shape)
    for _ in range(SPREAD_PASSES):
        bulk = valid & (np.abs(residual) <= 3 * np.maximum(spread, 1e-12))
        weights = bulk.astype(float)
        s_slope, s_intercept, sxx = weighted_line(x, log_abs, weights)
        n_bulk = weights.sum(axis=-1)
        ok = np.isfinite(s_slope) & (sxx > 0) & (n_bulk >= GROSS_ERROR_MIN_N)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            x_mean = (weights * np.where(bulk, x, 0.0)).sum(axis=-1) / n_bulk
            # the standard error of the fitted log10 spread at each x (few
            # annotations at the ends of the range tell it poorly)
            standard_error = _SD_LOG_ABS_NORMAL * np.sqrt(
                1 / n_bulk[..., None] + (x - x_mean[..., None]) ** 2 / sxx[..., None]
            )
            upper = (
                s_slope[..., None] * x
                + s_intercept[..., None]
                - MEAN_LOG_ABS_NORMAL
                + SPREAD_UPPER_Z * np.nan_to_num(standard_error, nan=0.0)
            )
            local = 10**upper
        spread = np.where(ok[..., None], local, scale[..., None])
    # never judge by a spread far below the pooled one (a few lucky tiny residuals)
    spread = np.maximum(spread, 0.5 * scale[..., None])
    enough = valid.sum(axis=-1) >= GROSS_ERROR_MIN_N
    with np.errstate(invalid="ignore"):
        flagged = (
            valid
            & enough[..., None]
            & (residual > sds * spread)
            & (residual > GROSS_ERROR_MIN_RESIDUAL)
        )
    return flagged, residual, spread, np.stack([slope, intercept], axis=-1)


class Predictions(Protocol):
    """What the screen needs of a project: the network's positions (a loaded project has them)."""

    @property
    def coordinates(self) -> Mapping[str, np.ndarray]:
        """``{recording: (T, K, 2)}`` predicted positions."""
        ...

    @property
    def bodyparts(self) -> Sequence[str]:
        """The ``K`` bodypart names."""
        ...


class Click(Protocol):
    """What the screen needs of an annotation: where the person clicked."""

    @property
    def x(self) -> float:
        """Horizontal position (video pixels)."""
        ...

    @property
    def y(self) -> float:
        """Vertical position (video pixels)."""
        ...

    @property
    def has_position(self) -> bool:
        """The annotation has a position (not cleared, not 'not visible')."""
        ...


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


def point_keys(points: pd.DataFrame) -> list[SampleKey]:
    """The sample key ``(recording, frame, bodypart)`` of each row of ``points``."""
    return [
        (str(r), int(f), str(b))
        for r, f, b in zip(points["recording"], points["frame"], points["bodypart"], strict=True)
    ]


def screen_gross_errors(
    data: Predictions,
    points: pd.DataFrame,
    records: Mapping[SampleKey, Click],
    kept: Iterable[SampleKey] = (),
) -> GrossErrors:
    """Flag annotations that are likely gross errors (identity swaps, wrong clicks).

    An annotation is flagged when either holds:

    - its residual above a robust (Huber) line is more than
      :data:`GROSS_ERROR_SDS` robust standard deviations
      of the residuals at its confidence (the spread may change with
      confidence) and more than a factor 2 in ``error + 1``
      (:func:`gross_error_mask`; 12 annotations or more);
    - the click is nearer the network's prediction of another bodypart (in
      the same frame and recording) than of its own, and its error is more
      than twice what the robust line expects: the network put this bodypart
      where another one is.

    Parameters
    ----------
    data
        The project (the predictions of every bodypart).
    points
        :func:`~kpcal_core.fit_service.project_points` of ``records``: the annotations to judge.
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
    keys = point_keys(points)
    kept_keys = set(kept)
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
                kept=key in kept_keys,
            )
        )
    flagged.sort(key=lambda g: -g.residual)
    return GrossErrors(tuple(flagged))


def _nearer_bodypart(
    data: Predictions, key: SampleKey, annotation: Click | None
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


def residual_flags(
    points: pd.DataFrame,
    screened: np.ndarray,
    kept_keys: set,
) -> list[GrossError]:
    """:class:`GrossError` rows for annotations only the residual screen flagged."""
    x, y = points_xy(points)
    _, residual, _, line = gross_error_mask(x, y)
    slope, intercept = float(line[0]), float(line[1])
    keys = point_keys(points)
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


def without_gross_errors(points: pd.DataFrame, gross_errors: GrossErrors) -> pd.DataFrame:
    """``points`` without the flagged annotations that are not kept (what the line is fitted to)."""
    left_out = set(gross_errors.left_out)
    if not left_out or len(points) == 0:
        return points
    keep = np.array([key not in left_out for key in point_keys(points)], bool)
    return points.loc[keep]
