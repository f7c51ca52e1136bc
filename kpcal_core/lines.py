"""Least-squares lines in closed form, the ground floor of kpcal's statistics.

This module owns (pure functions of arrays: no files, no sentences)

- :func:`running_least_squares`: the one running update of a least-squares
  line over the prefixes of a sequence (the first ``k`` points, for every
  ``k``), from cumulative sums; the running fit
  (:func:`kpcal_core.running.running_fit`) and the stop rule's projection over
  the drawn samples (:func:`kpcal_core.stopping.projected_half_widths`) both
  use it;
- :func:`weighted_line`: weighted least squares over the last axis, vectorised
  over leading axes (the robust line and the spread models);
- :func:`t_quantile`: Student's t quantile for real degrees of freedom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

#: The mean of log10|z| for a standard normal z (turns a mean log|residual| into a scale).
MEAN_LOG_ABS_NORMAL = -0.6351814227307391 / math.log(10)


def t_quantile(p: float, dof: np.ndarray | float) -> np.ndarray:
    """Student-t quantile for real degrees of freedom (Hill 1970, Algorithm 396).

    Within 1e-4 (relative) of the exact quantile for ``dof >= 2``, and a few
    percent too large (conservative) between 1 and 2; ``dof`` below 1 is taken
    as 1, ``inf`` gives the normal quantile. ``p`` in (0.5, 1).

    Parameters
    ----------
    p
        Lower-tail probability of the quantile (0.975 for a 95% interval).
    dof
        ``(m,)`` or scalar degrees of freedom.

    Returns
    -------
    numpy.ndarray
        The quantiles, the shape of ``dof``.
    """
    normal = NormalDist()
    z = normal.inv_cdf(p)
    n = np.maximum(np.asarray(dof, dtype=float), 1.0)
    p2 = 2 * (1 - p)  # two-tailed probability
    with np.errstate(all="ignore"):
        a = 1 / (n - 0.5)
        b = 48 / (a * a)
        c = ((20700 * a / b - 98) * a - 16) * a + 96.36
        d = ((94.5 / (b + c) - 3) / b + 1) * np.sqrt(a * math.pi / 2) * n
        y = (d * p2) ** (2 / n)
        # the tail branch, from the normal deviate
        x = -z
        c_tail = np.where(n < 5, c + 0.3 * (n - 4.5) * (x + 0.6), c)
        c_tail = (((0.05 * d * x - 5) * x - 7) * x - 2) * x + b + c_tail
        yt = ((((0.4 * x * x + 6.3) * x * x + 36) * x * x + 94.5) / c_tail - x * x - 3) / b + 1
        yt = a * (yt * x) ** 2
        yt = np.where(yt > 0.002, np.expm1(yt), 0.5 * yt * yt + yt)
        # the centre branch
        yc = (
            (1 / (((n + 6) / (n * y) - 0.089 * d - 0.822) * (n + 2) * 3) + 0.5 / (n + 4)) * y - 1
        ) * (n + 1) / (n + 2) + 1 / y
        general = np.sqrt(n * np.where(y > 0.05 + a, yt, yc))
        one = 1 / np.tan(p2 * math.pi / 2)
        two = np.sqrt(2 / (p2 * (2 - p2)) - 2)
        out = np.where(n == 1, one, np.where(n == 2, two, general))
        out = np.where(np.isinf(n), z, out)
    return out


def weighted_line(
    x: np.ndarray, y: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares over the last axis: ``(slope, intercept, Sxx)``, ``(...,)`` each."""
    sw = w.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mx = (w * x).sum(axis=-1) / sw
        my = (w * y).sum(axis=-1) / sw
        xc = x - mx[..., None]
        sxx = (w * xc * xc).sum(axis=-1)
        slope = (w * xc * (y - my[..., None])).sum(axis=-1) / sxx
    return slope, my - slope * mx, sxx


@dataclass(frozen=True)
class RunningSums:
    """The least-squares sums of every prefix of a sequence (see :func:`running_least_squares`).

    Attributes
    ----------
    k
        ``(n,)`` prefix lengths 1, 2, ..., n (float).
    mean_x, mean_y
        ``(n,)`` means of the first ``k`` x and y.
    sxx, sxy, syy
        ``(n,)`` centred sums of squares and products of the first ``k`` points.
    """

    k: np.ndarray
    mean_x: np.ndarray
    mean_y: np.ndarray
    sxx: np.ndarray
    sxy: np.ndarray
    syy: np.ndarray


def running_least_squares(x: np.ndarray, y: np.ndarray | None = None) -> RunningSums:
    """The sums of the least-squares line of the first ``k`` points, for every ``k``, in O(n).

    The data are centred on their overall mean first, so that the cumulative
    sums stay accurate; the line of the first ``k`` points is then
    ``slope = sxy / sxx``, ``intercept = mean_y - slope * mean_x``.

    Parameters
    ----------
    x
        ``(n,)`` in order.
    y
        ``(n,)`` in the same order; None: only the x sums are needed (``mean_y``,
        ``sxy`` and ``syy`` are then 0).

    Returns
    -------
    RunningSums
        ``(n,)`` arrays, index ``k - 1`` for the first ``k`` points.
    """
    x = np.asarray(x, dtype=float)
    y = np.zeros_like(x) if y is None else np.asarray(y, dtype=float)
    k = np.arange(1, len(x) + 1, dtype=float)
    x0 = float(x.mean()) if len(x) else 0.0
    y0 = float(y.mean()) if len(y) else 0.0
    xc, yc = x - x0, y - y0
    mx, my = np.cumsum(xc) / k, np.cumsum(yc) / k
    return RunningSums(
        k=k,
        mean_x=mx + x0,
        mean_y=my + y0,
        sxx=np.cumsum(xc * xc) - k * mx * mx,
        sxy=np.cumsum(xc * yc) - k * mx * my,
        syy=np.cumsum(yc * yc) - k * my * my,
    )
