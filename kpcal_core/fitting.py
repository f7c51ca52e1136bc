"""The error model: a line through log10(error + 1) against log10(confidence).

:func:`error_points` turns annotations into one row per annotated keypoint
(confidence, error in pixels and their logs); :func:`fit_error_model` fits the
line with ``numpy.polyfit`` exactly as keypoint-MoSeq does, so the slope and
intercept are the same numbers it would save. :func:`predicted_error_px`
reads the fitted line back in pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import KpcalError, NotEnoughAnnotations
from .samplekeys import SampleKey
from .wording import count

#: Largest number of pairs whose slopes Theil-Sen computes exactly; above
#: that, this many random pairs are used.
THEIL_SEN_MAX_PAIRS = 2_000_000

POINT_COLUMNS = (
    "recording",
    "frame",
    "bodypart",
    "confidence",
    "error_px",
    "log10_confidence",
    "log10_error",
)


def error_points(
    coordinates: Mapping[str, np.ndarray],
    confidences: Mapping[str, np.ndarray],
    annotations: Mapping[SampleKey, Any],
    bodyparts: Sequence[str],
    conf_pseudocount: float = 1e-3,
) -> pd.DataFrame:
    """One row per annotation: confidence, error and their logs.

    Parameters
    ----------
    coordinates
        ``{recording: (T, K, 2)}`` predicted positions.
    confidences
        ``{recording: (T, K)}`` confidences.
    annotations
        ``{(recording, frame, bodypart): (x, y)}`` (or objects with ``.x``, ``.y``).
    bodyparts
        The ``K`` bodypart names.
    conf_pseudocount
        Added to each confidence before its log is taken.

    Returns
    -------
    pandas.DataFrame
        Columns ``recording, frame, bodypart, confidence, error_px,
        log10_confidence, log10_error`` (``confidence`` includes the pseudocount;
        ``log10_error`` is ``log10(error_px + 1)``).
    """
    bodyparts = [str(b) for b in bodyparts]
    rows = []
    for key, value in annotations.items():
        if getattr(value, "status", "") != "":
            continue  # marked not visible, or cleared: no position to measure
        try:
            recording, frame, bodypart = key
            recording, frame, bodypart = str(recording), int(frame), str(bodypart)
        except (TypeError, ValueError):
            raise KpcalError(
                f"annotation key {key!r} must be a (recording, frame, bodypart) tuple"
            ) from None
        try:
            x, y = (value.x, value.y) if hasattr(value, "x") else value
            x, y = float(x), float(y)
        except (TypeError, ValueError):
            raise KpcalError(
                f"annotation of recording {recording!r}, frame {frame}, bodypart {bodypart!r} "
                f"must be an (x, y) pair of numbers, got {value!r}"
            ) from None
        if not (np.isfinite(x) and np.isfinite(y)):
            raise KpcalError(
                f"annotation of recording {recording!r}, frame {frame}, bodypart {bodypart!r} "
                f"is not a finite position: ({x}, {y})"
            )
        if recording not in coordinates or recording not in confidences:
            raise KpcalError(
                f"annotation of recording {recording!r} (frame {frame}, {bodypart}): "
                "that recording is not in the loaded keypoints"
            )
        if bodypart not in bodyparts:
            raise KpcalError(
                f"annotation of recording {recording!r}, frame {frame}: bodypart {bodypart!r} "
                f"is not one of {bodyparts}"
            )
        k = bodyparts.index(bodypart)
        coords_shape, conf_shape = (
            np.shape(coordinates[recording]),
            np.shape(confidences[recording]),
        )
        if (
            len(coords_shape) != 3
            or coords_shape[1:] != (len(bodyparts), 2)
            or tuple(conf_shape) != tuple(coords_shape[:2])
        ):
            raise KpcalError(
                f"recording {recording!r}: coordinates of shape {coords_shape} and confidences of "
                f"shape {conf_shape} do not fit (T, {len(bodyparts)}, 2) and (T, {len(bodyparts)})"
            )
        n_frames = coords_shape[0]
        if not 0 <= frame < n_frames:
            raise KpcalError(
                f"annotation of recording {recording!r}, bodypart {bodypart!r}: frame {frame} "
                f"is outside its {n_frames} keypoint frames"
            )
        predicted = np.asarray(coordinates[recording][frame, k], dtype=float)
        confidence = float(confidences[recording][frame, k]) + conf_pseudocount
        if np.isnan(predicted).any() or not np.isfinite(confidence):
            raise KpcalError(
                f"annotation of recording {recording!r}, frame {frame}, bodypart {bodypart!r}: "
                "the network gave no position or confidence there (NaN)"
            )
        error = float(np.hypot(predicted[0] - x, predicted[1] - y))
        rows.append((recording, frame, bodypart, confidence, error))
    table = pd.DataFrame(rows, columns=list(POINT_COLUMNS[:5]))
    table = table.astype({"frame": "int64", "confidence": "float64", "error_px": "float64"})
    with np.errstate(divide="ignore"):
        table["log10_confidence"] = np.log10(table["confidence"].to_numpy())
    table["log10_error"] = np.log10(table["error_px"].to_numpy() + 1)
    return table


def fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The least-squares line through ``(x, y)``, as keypoint-MoSeq fits it.

    Parameters
    ----------
    x, y
        ``(n,)`` arrays, ``n >= 2`` with at least two distinct ``x``.

    Returns
    -------
    tuple of float
        ``(slope, intercept)`` of ``numpy.polyfit(x, y, 1)``.
    """
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    slope, intercept = fit_line(x, y)
    residual = y - (slope * x + intercept)
    total = ((y - y.mean()) ** 2).sum()
    r2 = float(1 - (residual**2).sum() / total) if total > 0 else float("nan")
    return float(slope), float(intercept), r2


def fit_points(points: pd.DataFrame) -> dict:
    """Fit the line to a table from :func:`error_points` (see :func:`fit_error_model`)."""
    x = points["log10_confidence"].to_numpy(dtype=float)
    y = points["log10_error"].to_numpy(dtype=float)
    if not np.isfinite(x).all():
        bad = points.loc[~np.isfinite(x)].iloc[0]
        raise KpcalError(
            f"annotation of recording {bad['recording']!r}, frame {bad['frame']}, "
            f"bodypart {bad['bodypart']!r} has confidence 0 and conf_pseudocount is 0: "
            "log10(0) cannot be fitted; use a pseudocount > 0"
        )
    if len(np.unique(x)) < 2:
        raise KpcalError(
            f"need annotations at two or more different confidences to fit a line; "
            f"have {count(len(points), 'annotation')} at {count(len(np.unique(x)), 'confidence')}"
        )
    slope, intercept, r2 = _line(x, y)
    per_bodypart = {}
    for bodypart, group in points.groupby("bodypart", sort=True):
        gx = group["log10_confidence"].to_numpy(dtype=float)
        gy = group["log10_error"].to_numpy(dtype=float)
        entry = {
            "n": int(len(group)),
            "slope": None,
            "intercept": None,
            "r2": None,
            "median_error_px": float(group["error_px"].median()),
        }
        if len(np.unique(gx)) >= 2:
            entry["slope"], entry["intercept"], entry["r2"] = _line(gx, gy)
        per_bodypart[str(bodypart)] = entry
    return {
        "slope": slope,
        "intercept": intercept,
        "n": int(len(points)),
        "r2": r2,
        "per_bodypart": per_bodypart,
    }


def fit_error_model(
    coordinates: Mapping[str, np.ndarray],
    confidences: Mapping[str, np.ndarray],
    annotations: Mapping[SampleKey, object],
    bodyparts: Sequence[str],
    conf_pseudocount: float = 1e-3,
) -> dict:
    """Fit log10(error + 1) = slope * log10(confidence + conf_pseudocount) + intercept.

    Parameters
    ----------
    coordinates, confidences, annotations, bodyparts, conf_pseudocount
        As for :func:`error_points`.

    Returns
    -------
    dict
        ``slope``, ``intercept`` (``numpy.polyfit`` of degree 1: keypoint-MoSeq's
        numbers), ``n`` (annotations used), ``r2``, and ``per_bodypart``:
        ``{bodypart: {n, slope, intercept, r2, median_error_px}}`` (slope,
        intercept and r2 are ``None`` with fewer than two distinct confidences).
    """
    points = error_points(coordinates, confidences, annotations, bodyparts, conf_pseudocount)
    return fit_points(points)


def predicted_error_px(
    slope: float, intercept: float, confidence: float | np.ndarray
) -> float | np.ndarray:
    """Error size the line gives at a confidence: ``10**(slope * log10(c) + intercept)``.

    This is the noise scale keypoint-MoSeq derives from the calibration (its
    prior on keypoint error has standard deviation of this size, in pixels).
    """
    try:
        c = np.asarray(confidence, dtype=float)
        slope, intercept = float(slope), float(intercept)
    except (TypeError, ValueError):
        raise KpcalError(
            f"slope, intercept and confidence must be numbers, got {slope!r}, {intercept!r}, "
            f"{confidence!r}"
        ) from None
    if np.any(c < 0):
        raise KpcalError(f"confidence must be >= 0, got {confidence!r}")
    with np.errstate(divide="ignore"):  # confidence 0: infinite error for a negative slope
        out = 10 ** (slope * np.log10(c) + intercept)
    return float(out) if out.ndim == 0 else out


def share_above_threshold(
    confidences: Mapping[str, np.ndarray],
    bodyparts: Sequence[str],
    use_bodyparts: Sequence[str],
    conf_threshold: float,
    conf_pseudocount: float = 1e-3,
) -> float:
    """Percentage of the used keypoints (NaN excluded) whose confidence + pseudocount exceeds the threshold.

    keypoint-MoSeq treats keypoints below ``conf_threshold`` as outliers to
    interpolate when it initialises a model.
    """
    columns = [list(bodyparts).index(b) for b in use_bodyparts if b in bodyparts]
    above = total = 0
    for conf in confidences.values():
        values = np.asarray(conf)[:, columns]
        valid = ~np.isnan(values)
        total += int(valid.sum())
        above += int(((values + conf_pseudocount) > conf_threshold).sum())
    return 100.0 * above / total if total else float("nan")


# --------------------------------------------------------------------------- checks


def points_xy(points: pd.DataFrame, what: str = "points") -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: ``(n,)`` log10 confidence and log10(error + 1), checked finite."""
    if not isinstance(points, pd.DataFrame):
        raise KpcalError(f"{what} must be a DataFrame from error_points, got {type(points)}")
    missing = [c for c in ("log10_confidence", "log10_error") if c not in points.columns]
    if missing:
        raise KpcalError(f"{what} lack the columns {missing}: make them with error_points")
    x = points["log10_confidence"].to_numpy(dtype=float)
    y = points["log10_error"].to_numpy(dtype=float)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        bad = int(np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))[0])
        raise KpcalError(
            f"{what}: row {bad} has a log10 confidence or error that is not finite "
            "(confidence 0 with conf_pseudocount 0?): use a pseudocount > 0"
        )
    return x, y


def require_line(x: np.ndarray, what: str = "the fit") -> None:
    """Refuse a fit on fewer than two distinct confidences.

    Parameters
    ----------
    x : (n,) float array
        The annotations' log confidences.
    what
        What needs the line, named in the message.

    Raises
    ------
    NotEnoughAnnotations
        When ``x`` holds fewer than two values, or all of them are equal.
    """
    distinct = len(np.unique(x))
    if len(x) < 2 or distinct < 2:
        raise NotEnoughAnnotations(
            f"{what} needs positioned annotations at two or more different confidences; "
            f"have {count(len(x), 'annotation')} at {count(distinct, 'confidence')}: annotate more"
        )


def check_whole(value: int, name: str, minimum: int) -> int:
    """``value`` as an ``int`` when it is a whole number (not a bool) at least ``minimum``.

    Raises
    ------
    KpcalError
        Naming the setting ``name`` and the value given, otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise KpcalError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- robust


def _theil_sen(
    x: np.ndarray, y: np.ndarray, max_pairs: int, seed: int | None
) -> tuple[float, float, int, bool]:
    n = len(x)
    exact = n * (n - 1) // 2 <= max_pairs
    if exact:
        i, j = np.triu_indices(n, k=1)
    else:  # random pairs: the median of a large sample of the pairwise slopes
        rng = np.random.default_rng(seed)
        i, j = rng.integers(0, n, size=(2, max_pairs))
    dx = x[j] - x[i]
    keep = dx != 0
    slopes = (y[j] - y[i])[keep] / dx[keep]
    if slopes.size == 0:
        raise NotEnoughAnnotations(
            "Theil-Sen found no pair of annotations at different confidences"
        )
    slope = float(np.median(slopes))
    return slope, float(np.median(y - slope * x)), int(slopes.size), exact


def _huber(
    x: np.ndarray, y: np.ndarray, c: float, max_iter: int, tol: float
) -> tuple[float, float, int, bool]:
    """Huber M-estimate by iteratively reweighted least squares, MAD scale re-estimated."""
    slope, intercept = fit_line(x, y)
    for iteration in range(1, max_iter + 1):
        residual = y - (slope * x + intercept)
        scale = float(np.median(np.abs(residual - np.median(residual)))) / 0.6744897501960817
        if scale <= 0:  # most points on the line already
            return slope, intercept, iteration, True
        u = np.abs(residual) / scale
        w = np.where(u <= c, 1.0, c / np.maximum(u, 1e-300))
        sw = w.sum()
        mx, my = (w * x).sum() / sw, (w * y).sum() / sw
        sxx = (w * (x - mx) ** 2).sum()
        if sxx <= 0:
            return slope, intercept, iteration, False
        new_slope = float((w * (x - mx) * (y - my)).sum() / sxx)
        new_intercept = float(my - new_slope * mx)
        done = abs(new_slope - slope) <= tol * (1 + abs(slope)) and abs(
            new_intercept - intercept
        ) <= tol * (1 + abs(intercept))
        slope, intercept = new_slope, new_intercept
        if done:
            return slope, intercept, iteration, True
    return slope, intercept, max_iter, False


def robust_fit(
    points: pd.DataFrame,
    method: str = "theil-sen",
    *,
    max_pairs: int = THEIL_SEN_MAX_PAIRS,
    seed: int | None = 0,
    huber_c: float = 1.345,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> dict:
    """A line that a few wrong annotations cannot drag far: Theil-Sen or Huber.

    - ``"theil-sen"``: slope = median of the slopes of all pairs of points at
      different confidences (computed at once on the pair index arrays: exact
      up to ``max_pairs`` pairs, about 2,000 points; beyond that, ``max_pairs``
      random pairs drawn with ``seed``); intercept = ``median(y - slope * x)``.
      Resists up to ~29% outliers.
    - ``"huber"``: Huber M-estimate (``huber_c`` = 1.345 robust standard
      deviations, 95% efficient for normal errors) by iteratively reweighted
      least squares from the least-squares start, the scale re-estimated from
      the residuals' median absolute deviation each iteration.

    Least squares remains what is saved (keypoint-MoSeq's choice); this is an
    alternative to compare with, or to save on purpose.

    Parameters
    ----------
    points
        Table from :func:`~kpcal_core.fitting.error_points` (n rows).
    method
        ``"theil-sen"`` or ``"huber"``.

    Returns
    -------
    dict
        ``method, slope, intercept, n``, and ``n_pairs, exact`` (Theil-Sen) or
        ``n_iter, converged`` (Huber).
    """
    x, y = points_xy(points)
    require_line(x, "a robust fit")
    name = str(method).lower().replace("_", "-").replace(" ", "-")
    if name in ("theil-sen", "theilsen"):
        max_pairs = check_whole(max_pairs, "max_pairs", 1)
        slope, intercept, pairs, exact = _theil_sen(x, y, max_pairs, seed)
        return {
            "method": "theil-sen",
            "slope": slope,
            "intercept": intercept,
            "n": len(x),
            "n_pairs": pairs,
            "exact": exact,
        }
    if name == "huber":
        if not (isinstance(huber_c, (int, float)) and huber_c > 0):
            raise KpcalError(f"huber_c must be a number > 0, got {huber_c!r}")
        max_iter = check_whole(max_iter, "max_iter", 1)
        slope, intercept, iterations, converged = _huber(x, y, float(huber_c), max_iter, tol)
        return {
            "method": "huber",
            "slope": slope,
            "intercept": intercept,
            "n": len(x),
            "n_iter": iterations,
            "converged": converged,
        }
    raise KpcalError(f"unknown robust method {method!r}: use 'theil-sen' or 'huber'")


#: Lines that can be saved: keypoint-MoSeq's least squares, or a robust line.
FIT_METHODS = ("least-squares", "theil-sen", "huber")


def fit_by_method(points: pd.DataFrame, method: str = "least-squares") -> dict:
    """The line of one of :data:`FIT_METHODS` through an :func:`error_points` table.

    Returns
    -------
    dict
        ``method``, ``slope``, ``intercept``, ``n``, and what :func:`fit_points`
        (least squares) or :func:`robust_fit` report beside them.
    """
    if method not in FIT_METHODS:
        raise KpcalError(f"unknown fit method {method!r}: use one of {', '.join(FIT_METHODS)}")
    if method == "least-squares":
        return {"method": method, **fit_points(points)}
    return robust_fit(points, method)
