"""The stop rule's statistics: how well the line is known where keypoint-MoSeq uses it.

This module owns the numbers behind "Settled" (pure functions of arrays: no
files, no sentences; :mod:`kpcal_core.stop_check` turns them into a
:class:`~kpcal_core.stop_check.StopCheck`, :mod:`kpcal_core.workflows` into words),
and the rule's thresholds (:data:`STOP_RMS_HALF_WIDTH` and the rest):

- the gross-error screen it leaves out of the line is
  :func:`kpcal_core.gross_errors.gross_error_mask`;
- :func:`line_numbers`: the least-squares line of the annotations kept and
  the 95% half-widths the stop rule compares with its targets, from
  heteroscedasticity-consistent (HC2) and spread-model variances, with
  Satterthwaite (Bell-McCaffrey) degrees of freedom;
- :func:`prefix_numbers`: the same after every prefix of a sequence of
  annotations, vectorised over independent series (the bench's repetitions);
- :func:`projected_half_widths`: the half-widths a design extended by known
  confidences would have (to say how many of the drawn samples are still
  needed).

What the model uses
-------------------
jax-moseq turns each keypoint's confidence ``c`` (pseudocount included) into
the scale of its noise prior, ``s0 = 10 ** (2 * (slope * log10(c) + intercept))``
px², i.e. ``log10(s0) = 2 * line(x)``. An uncertainty ``h`` in the line at
``x`` is a factor ``10 ** (2 h)`` in ``s0`` there. The stop rule therefore
measures the line over the keypoints the model will weigh (the population):

- ``rms_half_width``: the root mean square over the population of the 95%
  half-width of the mean line (0.073: ``s0`` known to a factor of about 1.4);
- ``slope_half_width`` and ``slope_lever``: the slope's 95% half-width, and
  how far the population's central 95% reaches from its mean (in log10
  confidence). The slope matters for ``s0`` only through
  ``slope_half_width * slope_lever``: on a narrow population a loose slope
  changes no keypoint's ``s0`` much.

Why robust intervals and gross errors
------------------------
Clicking noise grows at low confidence, so the classical interval (one
spread for all) is too narrow for the slope, which low confidences decide.
HC2 (MacKinnon and White 1985) estimates each annotation's own spread from
its residual (unbiased when the spread is one); a log-linear model of the
spread in confidence pools what all annotations say about it; and the
degrees of freedom of Bell and McCaffrey (2002) widen the interval when a
handful of annotations decide it. The larger of the HC2 and model variances
is used (the classical one, which assumes one spread, is reported beside
them: with most annotations at low confidence, as keypoint-MoSeq's bins
have them, it overstates how uncertain the line is where the keypoints are). A few percent of gross errors (a click nearer
another bodypart's prediction: a swap) are not what the prior's scale
describes: keypoint-MoSeq's per-observation noise has a scaled inverse
chi-square prior around ``s0``, so its marginal is a Student t whose tails
carry them. The line is the bulk's; annotations flagged here are left out
of it unless the user keeps them.
"""

from __future__ import annotations

import numpy as np

from .gross_errors import (  # noqa: F401 - importable from here as before
    GROSS_ERROR_MIN_N,
    GROSS_ERROR_MIN_RESIDUAL,
    GROSS_ERROR_SDS,
    HUBER_C,
    gross_error_mask,
    robust_line,
)
from .lines import MEAN_LOG_ABS_NORMAL, running_least_squares, t_quantile, weighted_line

#: The stop rule's thresholds (see :func:`kpcal_core.stop_check.stop_rule`).
STOP_MIN_ANNOTATIONS = 20
STOP_RMS_HALF_WIDTH = 0.073
STOP_SLOPE_HALF_WIDTH = 0.1
#: The targets must hold after this many annotations in a row: one lucky click
#: that narrows an interval for a moment does not stop annotating.
STOP_HELD = 3


def satterthwaite_dof(
    g: np.ndarray, h: np.ndarray, xc: np.ndarray, sxx: np.ndarray, m: np.ndarray
) -> np.ndarray:
    """Degrees of freedom of a variance ``sum_i g_i e_i^2`` (Satterthwaite; Bell and McCaffrey).

    For least-squares residuals ``e = (I - H) eps`` with ``eps`` independent
    normal of one spread, ``E = s^2 sum g_i (1 - h_i)`` and
    ``Var = 2 s^4 sum_ij g_i g_j (I - H)_ij^2``; the estimate behaves like
    ``E chi2_df / df`` with ``df = 2 E^2 / Var``. Few annotations deciding the
    number (a slope held by a handful of low confidences) give few degrees
    of freedom, and so a wider interval.

    Parameters
    ----------
    g
        ``(..., n)`` non-negative weights (0 for annotations not used).
    h
        ``(..., n)`` leverages; ``xc`` ``(..., n)`` centred x (0 where not used).
    sxx, m
        ``(...,)`` centred sum of squares of x and number of annotations used.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = (g * (1 - h)).sum(axis=-1)
        sg = g.sum(axis=-1)
        sgx = (g * xc).sum(axis=-1)
        sgxx = (g * xc * xc).sum(axis=-1)
        hat_squares = sg * sg / (m * m) + 2 * sgx * sgx / (m * sxx) + sgxx * sgxx / (sxx * sxx)
        variance = (g * g * (1 - 2 * h)).sum(axis=-1) + hat_squares
        return expected * expected / variance


def line_numbers(
    x: np.ndarray,
    y: np.ndarray,
    keep: np.ndarray,
    population_mean: float | np.ndarray,
    population_variance: float | np.ndarray,
    level: float = 0.95,
) -> dict[str, np.ndarray]:
    """The least-squares line of the kept annotations and its 95% half-widths.

    For the kept annotations (``m`` of them; least squares ``a + b x``,
    residuals ``e``, leverages ``h = 1/m + (x - xbar)^2 / Sxx``):

    - classical (reported, not used): ``var(b) = s^2 / Sxx`` and, averaged
      over the population (mean ``mu``, variance ``var``), ``var(line) = s^2
      (1/m + (var + (mu - xbar)^2) / Sxx)`` with ``s^2 = sum(e^2) / (m - 2)``;
    - HC2: each annotation's variance is ``e^2 / (1 - h)``; the line at
      ``x0`` is ``sum_i (1/m + (x0 - xbar)(x_i - xbar)/Sxx) y_i``, so its
      population-averaged variance is ``sum_i u_i (1/m^2 + 2 (mu - xbar)(x_i -
      xbar)/(m Sxx) + (var + (mu - xbar)^2)(x_i - xbar)^2 / Sxx^2)`` and
      ``var(b) = sum_i u_i (x_i - xbar)^2 / Sxx^2``;
    - the spread model: each annotation's variance is ``sd(x_i)^2`` of a
      log-linear fit of ``log10 |e_i| / sqrt(1 - h_i)`` on ``x`` (all
      annotations inform each one's spread);

    each variance is the larger of HC2 and the model (HC2 alone can be too
    small when one annotation decides the slope), times Student's ``t`` with the
    Satterthwaite degrees of freedom of the HC2 estimate
    (:func:`satterthwaite_dof`, at most ``m - 2``).

    Parameters
    ----------
    x, y
        ``(..., n)`` log10(confidence + pseudocount) and log10(error + 1).
    keep
        ``(..., n)`` booleans: the annotations in the line.
    population_mean, population_variance
        Of the population's x; scalars or ``(...,)``.
    level
        Coverage of the intervals.

    Returns
    -------
    dict
        ``(...,)`` arrays ``n`` (kept), ``slope``, ``intercept``,
        ``slope_half_width``, ``rms_half_width`` (NaN without a line: fewer
        than 3 kept or one confidence), ``slope_half_width_classical``,
        ``rms_half_width_classical`` and ``residual_sd`` (``s``).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.asarray(keep, bool) & np.isfinite(x) & np.isfinite(y)
    w = keep.astype(float)
    m = w.sum(axis=-1)
    mu = np.asarray(population_mean, dtype=float)
    var = np.asarray(population_variance, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = (w * np.where(keep, x, 0.0)).sum(axis=-1) / m
        ybar = (w * np.where(keep, y, 0.0)).sum(axis=-1) / m
        xc = np.where(keep, x - xbar[..., None], 0.0)
        yc = np.where(keep, y - ybar[..., None], 0.0)
        sxx = (xc * xc).sum(axis=-1)
        scale = np.maximum((x * x * w).sum(axis=-1), 1e-300)
        valid = (m >= 3) & (sxx > 1e-12 * scale)
        slope = (xc * yc).sum(axis=-1) / sxx
        intercept = ybar - slope * xbar
        e = np.where(keep, yc - slope[..., None] * xc, 0.0)
        s2 = (e * e).sum(axis=-1) / (m - 2)
        offset = mu - xbar
        spread = var + offset * offset
        classical_rms = s2 * (1 / m + spread / sxx)
        classical_slope = s2 / sxx
        h = np.where(keep, 1 / m[..., None] + xc * xc / sxx[..., None], 0.0)
        inflate = np.where(keep, 1 / np.maximum(1 - h, 1e-6), 0.0)
        # each annotation's share of the slope's and of the population-averaged
        # line's variance (the squared weights of y_i in them)
        g_slope = inflate * xc * xc / (sxx * sxx)[..., None]
        g_rms = inflate * (
            1 / (m * m)[..., None]
            + 2 * offset[..., None] * xc / (m * sxx)[..., None]
            + spread[..., None] * xc * xc / (sxx * sxx)[..., None]
        )
        hc_slope = (g_slope * e * e).sum(axis=-1)
        hc_rms = (g_rms * e * e).sum(axis=-1)
        dof_slope = satterthwaite_dof(g_slope, h, xc, sxx, m)
        dof_rms = satterthwaite_dof(g_rms, h, xc, sxx, m)
        # the spread as a smooth function of confidence (all annotations inform it)
        spread2 = _spread_model(x, e, h, keep, s2) ** 2
        model_slope = (xc * xc * spread2).sum(axis=-1) / (sxx * sxx)
        model_rms = (
            spread2
            * (
                1 / (m * m)[..., None]
                + 2 * offset[..., None] * xc / (m * sxx)[..., None]
                + spread[..., None] * xc * xc / (sxx * sxx)[..., None]
            )
        ).sum(axis=-1)
    p = 0.5 + level / 2
    t = t_quantile(p, np.maximum(m - 2, 1))
    t_slope = t_quantile(p, np.clip(np.nan_to_num(dof_slope, nan=1.0), 1, m - 2))
    t_rms = t_quantile(p, np.clip(np.nan_to_num(dof_rms, nan=1.0), 1, m - 2))
    variance_slope = np.fmax(hc_slope, model_slope)
    variance_rms = np.fmax(hc_rms, model_rms)
    out = {
        "n": m.astype(np.int64),
        "slope": slope,
        "intercept": intercept,
        "slope_half_width": t_slope * np.sqrt(variance_slope),
        "rms_half_width": t_rms * np.sqrt(variance_rms),
        "slope_half_width_classical": t * np.sqrt(classical_slope),
        "rms_half_width_classical": t * np.sqrt(classical_rms),
        "residual_sd": np.sqrt(s2),
        "dof_slope": dof_slope,
        "dof_rms": dof_rms,
    }
    return {
        key: (value if key == "n" else np.where(valid, value, np.nan)) for key, value in out.items()
    }


def _spread_model(
    x: np.ndarray, e: np.ndarray, h: np.ndarray, keep: np.ndarray, s2: np.ndarray
) -> np.ndarray:
    """Each annotation's clicking spread from a log-linear model in confidence, ``(..., n)``.

    ``log10 |e_i| / sqrt(1 - h_i)`` regressed on ``x`` (least squares over the
    kept annotations) estimates ``log10 sd(x) + E[log10 |z|]`` for normal
    ``z``; 0 where not kept. One spread for all (``sqrt(s2)``) where the
    regression has no slope to fit.
    """
    floor = np.maximum(np.sqrt(np.maximum(s2, 0.0)), 1e-12)[..., None] * 1e-3
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log10(np.maximum(np.abs(e) / np.sqrt(np.maximum(1 - h, 1e-6)), floor))
    z = np.where(keep, z, 0.0)
    slope, intercept, sxx = weighted_line(x, z, keep.astype(float))
    ok = np.isfinite(slope) & (sxx > 0)
    with np.errstate(over="ignore", invalid="ignore"):
        model = 10 ** (slope[..., None] * x + intercept[..., None] - MEAN_LOG_ABS_NORMAL)
    model = np.where(ok[..., None], model, np.sqrt(np.maximum(s2, 0.0))[..., None])
    return np.where(keep, np.nan_to_num(model, nan=0.0, posinf=1e6), 0.0)


def prefix_numbers(
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
    """:func:`line_numbers` after every prefix of the annotations, with gross errors screened.

    At each prefix ``k`` the first ``k`` annotations are screened
    (:func:`gross_error_mask`, unless ``screen`` is False); the flagged ones
    are left out of the line unless ``kept``; annotations in ``flagged`` (e.g.
    clicks nearer another bodypart's prediction, found from the positions)
    are always flagged. One loop over prefixes, vectorised over the leading
    axes; the robust fit of each prefix starts from the previous one's.

    Parameters
    ----------
    x, y
        ``(..., n)`` in annotation order.
    population_mean, population_variance
        Scalars or ``(...,)``.
    screen
        Screen residuals for gross errors.
    flagged, kept
        Optional ``(..., n)`` booleans: flagged by other evidence; kept by the
        user although flagged.
    steps
        Optional 1-based prefix lengths to compute (default: all ``1..n``);
        other prefixes are NaN.

    Returns
    -------
    dict
        ``(..., n)`` arrays: every key of :func:`line_numbers` plus
        ``n_flagged`` (flagged among the prefix) and ``n_left_out`` (flagged
        and not kept); ``flagged_final``: ``(..., n)`` booleans, the flags of
        the whole sequence.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    shape = x.shape
    n_total = shape[-1]
    mu = np.asarray(population_mean, dtype=float)
    var = np.asarray(population_variance, dtype=float)
    extra = np.zeros(shape, bool) if flagged is None else np.asarray(flagged, bool)
    keep_anyway = np.zeros(shape, bool) if kept is None else np.asarray(kept, bool)
    keys = (
        "slope",
        "intercept",
        "slope_half_width",
        "rms_half_width",
        "slope_half_width_classical",
        "rms_half_width_classical",
        "residual_sd",
        "dof_slope",
        "dof_rms",
    )
    out = {key: np.full(shape, np.nan) for key in keys}
    out["n_used"] = np.zeros(shape, np.int64)
    out["n_flagged"] = np.zeros(shape, np.int64)
    out["n_left_out"] = np.zeros(shape, np.int64)
    wanted = np.arange(1, n_total + 1) if steps is None else np.unique(np.asarray(steps))
    wanted = wanted[(wanted >= 1) & (wanted <= n_total)]
    start = None
    final = np.zeros(shape, bool)
    for k in wanted:
        xs, ys = x[..., :k], y[..., :k]
        flags = extra[..., :k].copy()
        if screen and k >= GROSS_ERROR_MIN_N:
            found, _, _, line = gross_error_mask(xs, ys, start=start)
            flags |= found
            start = (line[..., 0], line[..., 1])
        used = ~flags | keep_anyway[..., :k]
        numbers = line_numbers(xs, ys, used, mu, var, level)
        for key in keys:
            out[key][..., k - 1] = numbers[key]
        out["n_used"][..., k - 1] = numbers["n"]
        out["n_flagged"][..., k - 1] = flags.sum(axis=-1)
        out["n_left_out"][..., k - 1] = (~used).sum(axis=-1)
        if k == n_total:
            final = flags
    out["flagged_final"] = final
    return out


def projected_half_widths(
    x_used: np.ndarray,
    x_next: np.ndarray,
    residual_sd: float,
    population_mean: float,
    population_variance: float,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Classical half-widths after adding the first ``j`` of ``x_next``, for every ``j``.

    The residual spread is taken as it is now; the design (``x_used`` plus the
    next confidences) is known. The caller scales these by the current ratio
    of the stop rule's half-widths to the classical ones.

    Returns
    -------
    rms, slope
        ``(len(x_next) + 1,)`` each: index ``j`` after ``j`` more annotations.
    """
    xs = np.concatenate([np.asarray(x_used, float), np.asarray(x_next, float)])
    base = len(x_used)
    sums = running_least_squares(xs)
    k, sxx = sums.k, sums.sxx
    t = t_quantile(0.5 + level / 2, np.maximum(k - 2, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rms = (
            t
            * residual_sd
            * np.sqrt(1 / k + (population_variance + (population_mean - sums.mean_x) ** 2) / sxx)
        )
        slope = t * residual_sd / np.sqrt(sxx)
    bad = (k < 3) | ~(sxx > 0)
    rms = np.where(bad, np.nan, rms)[max(base - 1, 0) :]
    slope = np.where(bad, np.nan, slope)[max(base - 1, 0) :]
    if base == 0:
        rms = np.concatenate([[np.nan], rms])
        slope = np.concatenate([[np.nan], slope])
    return rms, slope


def slope_reach(
    slope_half_width: float | np.ndarray, slope_lever: float | np.ndarray
) -> np.ndarray:
    """How far the slope's uncertainty moves the line at the population's edges.

    ``slope_half_width * slope_lever``, in log10(error + 1) units: the
    half-width the slope alone gives the line at the 2.5th or 97.5th
    percentile of the population's confidences (relative to their mean).
    """
    with np.errstate(invalid="ignore"):
        return np.asarray(slope_half_width, dtype=float) * np.asarray(slope_lever, dtype=float)


def slope_target_met(
    slope_half_width: float | np.ndarray,
    slope_lever: float | np.ndarray | None,
    rms_target: float,
    slope_target: float,
) -> np.ndarray:
    """The slope is known well enough for these keypoints.

    Either its half-width is at most ``slope_target``, or its reach over the
    population (:func:`slope_reach`) is at most ``rms_target``: on a narrow
    range of confidences a loose slope changes no keypoint's ``s0`` much.
    ``slope_lever`` None: the slope target always applies.
    """
    hw = np.asarray(slope_half_width, dtype=float)
    with np.errstate(invalid="ignore"):
        met = hw <= slope_target
        if slope_lever is not None:
            met = met | (slope_reach(hw, slope_lever) <= rms_target)
    return met


def settled(
    n_used: np.ndarray,
    slope: np.ndarray,
    slope_half_width: np.ndarray,
    rms_half_width: np.ndarray,
    *,
    slope_lever: float | np.ndarray | None,
    min_annotations: int,
    rms_target: float,
    slope_target: float,
) -> np.ndarray:
    """The stop rule's verdict, elementwise (see :func:`kpcal_core.stop_check.stop_rule`)."""
    with np.errstate(invalid="ignore"):
        return (
            (np.asarray(n_used) >= min_annotations)
            & (np.asarray(rms_half_width, dtype=float) <= rms_target)
            & slope_target_met(slope_half_width, slope_lever, rms_target, slope_target)
            & (np.asarray(slope, dtype=float) < 0)
        )


def half_widths_at(
    x: np.ndarray,
    y: np.ndarray,
    keep: np.ndarray,
    x0: np.ndarray,
    level: float = 0.95,
    population_mean: float | None = None,
    population_variance: float | None = None,
) -> np.ndarray:
    """The 95% half-width of the kept annotations' least-squares line at each of ``x0``.

    The same variance as :func:`line_numbers` (the larger of the HC2 and
    spread-model variances of the line at ``x0``; Student's ``t`` with
    the degrees of freedom of the population-averaged one), for one series.

    Parameters
    ----------
    x, y, keep
        ``(n,)`` annotations and which are in the line.
    x0
        ``(q,)`` where to evaluate.
    population_mean, population_variance
        Of the population the degrees of freedom are for (default: of ``x0``).

    Returns
    -------
    numpy.ndarray
        ``(q,)`` half-widths in log10(error + 1); NaN without a line.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.asarray(keep, bool) & np.isfinite(x) & np.isfinite(y)
    x0 = np.asarray(x0, dtype=float)
    m = int(keep.sum())
    if m < 3:
        return np.full(x0.shape, np.nan)
    xs, ys = x[keep], y[keep]
    xbar = xs.mean()
    xc = xs - xbar
    sxx = float(xc @ xc)
    if not sxx > 1e-12 * max(float(xs @ xs), 1e-300):
        return np.full(x0.shape, np.nan)
    slope = float(xc @ (ys - ys.mean())) / sxx
    e = ys - ys.mean() - slope * xc
    s2 = float(e @ e) / (m - 2)
    h = 1 / m + xc * xc / sxx
    spread2 = _spread_model(xs, e, h, np.ones(m, bool), np.asarray(s2)) ** 2
    weights = 1 / m + np.outer(x0 - xbar, xc) / sxx  # (q, m): the line at x0 in the y_i
    hc2 = (weights**2 * (e * e / np.maximum(1 - h, 1e-6))).sum(axis=1)
    model = (weights**2 * spread2).sum(axis=1)
    mu = float(np.mean(x0)) if population_mean is None else float(population_mean)
    var = float(np.var(x0)) if population_variance is None else float(population_variance)
    numbers = line_numbers(xs, ys, np.ones(m, bool), mu, var, level)
    dof = float(np.nan_to_num(numbers["dof_rms"], nan=1.0))
    t = float(t_quantile(0.5 + level / 2, min(max(dof, 1.0), m - 2)))
    return t * np.sqrt(np.fmax(hc2, model))
