"""What the calibration does to keypoint-MoSeq's model: the noise prior of every keypoint.

This module owns the numbers of the fit page's "What this calibration does to
your model" panel and of ``kpcal fit --json``'s ``model_prior``, and the check
that keeps a line whose errors do not shrink with confidence out of
``config.yml`` unless someone asks for it:

- :func:`noise_prior`: the prior jax-moseq puts on each keypoint's noise scale,
  ``s0 = 10 ** (2 * (log10(conf + 1e-6) * slope + intercept))``
  (``estimate_error`` in ``jax_moseq/models/keypoint_slds/initialize.py``),
  where ``conf`` is the keypoint's confidence plus ``conf_pseudocount``:
  keypoint-MoSeq's ``format_data`` first sets the confidence of a keypoint with
  no position (or a NaN confidence) to 0 and clamps negative ones to 0, then
  adds the pseudocount. So ``s0 = (predicted error + 1)^2`` px² at that
  confidence, and a missing keypoint gets s0 at the pseudocount;
- :func:`bodypart_confidences`: per bodypart, what s0 depends on: its keypoints
  with a position (count, smallest, middle and largest confidence) and those
  keypoint-MoSeq sets to confidence 0; :func:`interpolated_counts`: how many of
  each bodypart's positioned keypoints ``conf_threshold`` marks as outliers
  (``confidence + conf_pseudocount <= conf_threshold``, jax-moseq's
  ``conf > conf_threshold`` read the other way);
- :func:`model_prior`: those for one line, beside keypoint-MoSeq's default line
  (:data:`DEFAULT_LINE`) and the line ``config.yml`` holds, with each
  bodypart's own line where it has one (:class:`ModelPrior`,
  :class:`BodypartPrior`);
- :func:`slope_check`: whether a line shows errors shrinking as confidence grows
  (the 95% interval of its slope below 0); a line that does not is written to
  ``config.yml`` only when a person confirms it (:class:`SlopeCheck`).

Every function here is pure (arrays in, typed results out); the sentences
about these numbers are in :mod:`kpcal_core.workflows`.

Human-labelled keypoints (SLEAP user instances) count here like every other:
keypoint-MoSeq's arrays hold them with confidence 1, so the model sees them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .config import CONFIG_FILENAME
from .errors import KpcalError
from .fitting import points_xy
from .validate import check_bodyparts
from .wording import count

#: jax-moseq adds this to ``conf`` (which already includes the pseudocount) before the log.
JAX_MOSEQ_EPSILON = 1e-6
#: keypoint-MoSeq's pseudocount when ``config.yml`` names none.
DEFAULT_PSEUDOCOUNT = 1e-3
#: Coverage of :func:`slope_check`'s interval.
SLOPE_LEVEL = 0.95
#: A bodypart's own line that does not follow the shared one is acted on (left out of
#: ``use_bodyparts``, network retrained) only from this many of its annotations on: the
#: bootstrap interval of a handful of points is too narrow to be sure.
OWN_LINE_SURE = 10


@dataclass(frozen=True)
class Line:
    """A calibration line: ``log10(error + 1) = slope * log10(conf) + intercept``.

    Attributes
    ----------
    slope, intercept
        The line's numbers (``error_estimator`` in ``config.yml``).
    label
        What it is, for people ("this fit", "keypoint-MoSeq's default", "config.yml").
    """

    slope: float
    intercept: float
    label: str = "this fit"


#: keypoint-MoSeq's line before any calibration: ``error_estimator`` in the
#: ``config.yml`` its ``setup_project`` writes (``keypoint_moseq/io.py``,
#: ``generate_config``).
DEFAULT_LINE = Line(-0.5, 0.25, "keypoint-MoSeq's default")


def noise_prior(
    confidence: np.ndarray | float,
    slope: float,
    intercept: float,
    conf_pseudocount: float = DEFAULT_PSEUDOCOUNT,
) -> np.ndarray:
    """jax-moseq's prior on a keypoint's noise scale, s0 (px²), from its raw confidence.

    Parameters
    ----------
    confidence
        Raw confidences as the keypoint file holds them, any shape; NaN (no
        confidence, or a keypoint with no position: pass 0 or NaN) and
        negative values count as 0, as keypoint-MoSeq's ``format_data`` makes them.
    slope, intercept
        The line.
    conf_pseudocount
        keypoint-MoSeq's ``conf_pseudocount`` (added after the clamp).

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``confidence``:
        ``10 ** (2 * (log10(conf + conf_pseudocount + 1e-6) * slope + intercept))``.
    """
    conf = np.nan_to_num(np.asarray(confidence, dtype=np.float64), nan=0.0)
    conf = np.maximum(conf, 0.0) + float(conf_pseudocount)
    return 10 ** (2 * (np.log10(conf + JAX_MOSEQ_EPSILON) * float(slope) + float(intercept)))


# --------------------------------------------------------------------------- per bodypart


@dataclass(frozen=True)
class BodypartConfidences:
    """What a bodypart's s0 depends on: its confidences as keypoint-MoSeq will use them.

    Attributes
    ----------
    bodypart
        The name.
    n_positioned
        Keypoints with a position and a confidence.
    n_zero
        Keypoints keypoint-MoSeq sets to confidence 0: no position, or a NaN confidence.
    low, high
        Smallest and largest confidence of the positioned keypoints (negative
        ones count as 0); NaN when there are none.
    middle_low, middle_high
        The two middle confidences (the same one when ``n_positioned`` is odd):
        s0 is monotonic in the confidence, so the median s0 is the mean of
        their two s0 values.
    """

    bodypart: str
    n_positioned: int
    n_zero: int
    low: float
    middle_low: float
    middle_high: float
    high: float


def _column_values(
    confidences: Mapping[str, np.ndarray],
    missing: Mapping[str, np.ndarray],
    column: int,
) -> tuple[np.ndarray, int]:
    """One bodypart's positioned confidences ``(n,)`` float64 (clamped at 0), and the rest."""
    parts, zero = [], 0
    for name, conf in confidences.items():
        values = np.asarray(conf)[:, column]
        good = ~np.isnan(values)
        if name in missing:
            good &= ~np.asarray(missing[name])[:, column]
        zero += int(values.size - np.count_nonzero(good))
        parts.append(np.maximum(values[good].astype(np.float64), 0.0))
    return (np.concatenate(parts) if parts else np.empty(0)), zero


def bodypart_confidences(
    confidences: Mapping[str, np.ndarray],
    missing: Mapping[str, np.ndarray],
    bodyparts: Sequence[str],
    use_bodyparts: Sequence[str],
) -> tuple[BodypartConfidences, ...]:
    """Each used bodypart's confidences as keypoint-MoSeq will use them (one pass per bodypart).

    Parameters
    ----------
    confidences
        ``{recording: (T, K)}`` raw confidences.
    missing
        ``{recording: (T, K) bool}``, True where a keypoint has no position
        (:attr:`kpcal_core.project.ProjectData.missing`); a recording absent
        from it counts as fully positioned.
    bodyparts, use_bodyparts
        The ``K`` names and the ones keypoint-MoSeq models.

    Returns
    -------
    tuple of BodypartConfidences
        In the order of ``use_bodyparts``. Memory: one bodypart's confidences
        at a time (8 bytes each).
    """
    use = check_bodyparts(bodyparts, use_bodyparts)
    names = [str(b) for b in bodyparts]
    out = []
    for bodypart in use:
        values, zero = _column_values(confidences, missing, names.index(bodypart))
        n = int(values.size)
        if n:
            middle = np.partition(values, [(n - 1) // 2, n // 2])
            low_mid, high_mid = float(middle[(n - 1) // 2]), float(middle[n // 2])
            low, high = float(values.min()), float(values.max())
        else:
            low = low_mid = high_mid = high = math.nan
        out.append(BodypartConfidences(bodypart, n, zero, low, low_mid, high_mid, high))
    return tuple(out)


def interpolated_counts(
    confidences: Mapping[str, np.ndarray],
    missing: Mapping[str, np.ndarray],
    bodyparts: Sequence[str],
    use_bodyparts: Sequence[str],
    conf_threshold: float,
    conf_pseudocount: float = DEFAULT_PSEUDOCOUNT,
) -> dict[str, int]:
    """How many of each used bodypart's positioned keypoints ``conf_threshold`` makes outliers.

    A keypoint with a position is an outlier when ``max(confidence, 0) +
    conf_pseudocount <= conf_threshold`` (jax-moseq keeps ``conf >
    conf_threshold``; keypoint-MoSeq interpolates the others when it
    initialises a model). Keypoints with no position are left out: they are
    interpolated whatever the threshold.

    Returns
    -------
    dict
        ``{bodypart: count}`` in the order of ``use_bodyparts``.
    """
    use = check_bodyparts(bodyparts, use_bodyparts)
    names = [str(b) for b in bodyparts]
    threshold, pseudocount = float(conf_threshold), float(conf_pseudocount)
    counts = dict.fromkeys(use, 0)
    for name, conf in confidences.items():
        conf = np.asarray(conf)
        for bodypart in use:
            column = names.index(bodypart)
            values = conf[:, column]
            low = (np.maximum(values, 0.0) + pseudocount) <= threshold  # NaN: False
            if name in missing:
                low &= ~np.asarray(missing[name])[:, column]
            counts[bodypart] += int(np.count_nonzero(low))
    return counts


# --------------------------------------------------------------------------- the panel


@dataclass(frozen=True)
class BodypartPrior:
    """One bodypart's s0 under a line, beside keypoint-MoSeq's default and ``config.yml``'s.

    Attributes
    ----------
    bodypart
        The name.
    n_positioned, n_zero
        Keypoints with a position; keypoints keypoint-MoSeq sets to confidence 0.
    s0_median, s0_low, s0_high
        s0 (px²) of the positioned keypoints under the line: median, smallest,
        largest (NaN when none has a position).
    default_s0_median, saved_s0_median
        The median s0 under :data:`DEFAULT_LINE` and under ``config.yml``'s line
        (NaN when there is no saved line).
    n_interpolated
        Positioned keypoints ``conf_threshold`` marks as outliers.
    interpolated_share
        ``n_interpolated / n_positioned`` (NaN when none has a position).
    own_n, own_slope, own_intercept
        Annotations of this bodypart and its own least-squares line (NaN when
        it has too few annotations for one).
    follows_pooled
        False when its own line's 95% intervals do not overlap the shared
        line's (:func:`~kpcal_core.diagnostics.per_bodypart_fits`); None when it
        has no own line.
    """

    bodypart: str
    n_positioned: int
    n_zero: int
    s0_median: float
    s0_low: float
    s0_high: float
    default_s0_median: float
    saved_s0_median: float
    n_interpolated: int
    interpolated_share: float
    own_n: int = 0
    own_slope: float = math.nan
    own_intercept: float = math.nan
    follows_pooled: bool | None = None


@dataclass(frozen=True)
class ModelPrior:
    """What one line does to keypoint-MoSeq's model, bodypart by bodypart.

    Attributes
    ----------
    line, default, saved
        The line looked at, :data:`DEFAULT_LINE`, and ``config.yml``'s line (None if unknown).
    conf_pseudocount, conf_threshold
        keypoint-MoSeq's settings used.
    s0_zero, default_s0_zero, saved_s0_zero
        s0 (px²) of a keypoint at confidence 0 (no position) under each line.
    bodyparts
        One :class:`BodypartPrior` per used bodypart.
    """

    line: Line
    default: Line
    saved: Line | None
    conf_pseudocount: float
    conf_threshold: float
    s0_zero: float
    default_s0_zero: float
    saved_s0_zero: float
    bodyparts: tuple[BodypartPrior, ...]

    @property
    def n_positioned(self) -> int:
        """Keypoints with a position, over all bodyparts."""
        return sum(b.n_positioned for b in self.bodyparts)

    @property
    def n_zero(self) -> int:
        """Keypoints keypoint-MoSeq sets to confidence 0, over all bodyparts."""
        return sum(b.n_zero for b in self.bodyparts)

    @property
    def n_interpolated(self) -> int:
        """Positioned keypoints ``conf_threshold`` marks as outliers, over all bodyparts."""
        return sum(b.n_interpolated for b in self.bodyparts)

    @property
    def with_own_line(self) -> list[str]:
        """Bodyparts with enough annotations for a line of their own."""
        return [b.bodypart for b in self.bodyparts if b.follows_pooled is not None]

    @property
    def not_following(self) -> list[str]:
        """Bodyparts whose own line does not follow the shared one."""
        return [b.bodypart for b in self.bodyparts if b.follows_pooled is False]

    @property
    def surely_not_following(self) -> list[str]:
        """Those of :attr:`not_following` with at least :data:`OWN_LINE_SURE` annotations."""
        return [
            b.bodypart
            for b in self.bodyparts
            if b.follows_pooled is False and b.own_n >= OWN_LINE_SURE
        ]

    def as_dict(self) -> dict:
        """Plain types, for JSON (NaN stays NaN: the caller maps it to null)."""
        return asdict(self)


def _median_s0(summary: BodypartConfidences, line: Line, pseudocount: float) -> float:
    if not summary.n_positioned:
        return math.nan
    pair = noise_prior(
        np.array([summary.middle_low, summary.middle_high]), line.slope, line.intercept, pseudocount
    )
    return float((pair[0] + pair[1]) / 2)


def model_prior(
    summaries: Sequence[BodypartConfidences],
    line: Line,
    *,
    conf_pseudocount: float,
    conf_threshold: float,
    interpolated: Mapping[str, int],
    saved: Line | None = None,
    own_lines: pd.DataFrame | None = None,
) -> ModelPrior:
    """s0 per bodypart under ``line``, beside keypoint-MoSeq's default and the saved line.

    Parameters
    ----------
    summaries
        :func:`bodypart_confidences` of the project.
    line
        The line to look at (the one that would be saved).
    conf_pseudocount, conf_threshold
        keypoint-MoSeq's settings (``config.yml``).
    interpolated
        :func:`interpolated_counts` at ``conf_threshold``.
    saved
        The line ``config.yml`` holds now, or None.
    own_lines
        :func:`~kpcal_core.diagnostics.per_bodypart_fits`'s ``table`` (columns
        ``bodypart, n, slope, intercept, differs``), or None.

    Returns
    -------
    ModelPrior
    """
    pseudocount = float(conf_pseudocount)
    for name, value in (("slope", line.slope), ("intercept", line.intercept)):
        if not math.isfinite(float(value)):
            raise KpcalError(f"the line's {name} must be a finite number, got {value!r}")
    # {bodypart: (n, slope, intercept, differs)}; differs is read only where the slope is finite
    own: dict[str, tuple[int, float, float, Any]] = {}
    if own_lines is not None:
        columns = ("bodypart", "n", "slope", "intercept", "differs")
        for bodypart, n, slope, intercept, differs in zip(
            *(own_lines[c] for c in columns), strict=True
        ):
            own[str(bodypart)] = (int(n), float(slope), float(intercept), differs)
    rows = []
    for summary in summaries:
        if summary.n_positioned:
            ends = noise_prior(
                np.array([summary.low, summary.high]), line.slope, line.intercept, pseudocount
            )
            s0_low, s0_high = float(ends.min()), float(ends.max())
        else:
            s0_low = s0_high = math.nan
        n_low = int(interpolated.get(summary.bodypart, 0))
        own_n, own_slope, own_intercept, follows = 0, math.nan, math.nan, None
        if summary.bodypart in own:
            own_n, own_slope, own_intercept, differs = own[summary.bodypart]
            if math.isfinite(own_slope):
                follows = not bool(differs)
        rows.append(
            BodypartPrior(
                bodypart=summary.bodypart,
                n_positioned=summary.n_positioned,
                n_zero=summary.n_zero,
                s0_median=_median_s0(summary, line, pseudocount),
                s0_low=s0_low,
                s0_high=s0_high,
                default_s0_median=_median_s0(summary, DEFAULT_LINE, pseudocount),
                saved_s0_median=(
                    _median_s0(summary, saved, pseudocount) if saved is not None else math.nan
                ),
                n_interpolated=n_low,
                interpolated_share=(
                    n_low / summary.n_positioned if summary.n_positioned else math.nan
                ),
                own_n=own_n,
                own_slope=own_slope,
                own_intercept=own_intercept,
                follows_pooled=follows,
            )
        )

    def at_zero(which: Line | None) -> float:
        if which is None:
            return math.nan
        return float(noise_prior(0.0, which.slope, which.intercept, pseudocount))

    return ModelPrior(
        line=line,
        default=DEFAULT_LINE,
        saved=saved,
        conf_pseudocount=pseudocount,
        conf_threshold=float(conf_threshold),
        s0_zero=at_zero(line),
        default_s0_zero=at_zero(DEFAULT_LINE),
        saved_s0_zero=at_zero(saved),
        bodyparts=tuple(rows),
    )


def saved_line(config: Mapping) -> Line | None:
    """``config.yml``'s ``error_estimator`` as a :class:`Line`, or None when it holds none."""
    estimator: Any = config.get("error_estimator") if isinstance(config, Mapping) else None
    try:
        slope, intercept = float(estimator["slope"]), float(estimator["intercept"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(slope) and math.isfinite(intercept)):
        return None
    return Line(slope, intercept, CONFIG_FILENAME)


def config_pseudocount(config: Mapping) -> float:
    """keypoint-MoSeq's ``conf_pseudocount`` from ``config.yml`` (its default when absent)."""
    try:
        value = float(config.get("conf_pseudocount", DEFAULT_PSEUDOCOUNT))
    except (TypeError, ValueError, AttributeError):
        return DEFAULT_PSEUDOCOUNT
    return value if math.isfinite(value) and value >= 0 else DEFAULT_PSEUDOCOUNT


# --------------------------------------------------------------------------- the slope check


@dataclass(frozen=True)
class SlopeCheck:
    """Whether a line shows errors shrinking as confidence grows.

    Attributes
    ----------
    slope
        The line's slope.
    low, high
        The 95% interval of the least-squares slope (normal theory, Student t
        with ``n - 2`` degrees of freedom) moved to ``slope``; ``-inf, inf``
        with fewer than 3 annotations.
    n
        Annotations fitted.
    """

    slope: float
    low: float
    high: float
    n: int

    @property
    def decreasing(self) -> bool:
        """True when the whole interval is below 0: the line may be written without asking."""
        return self.high < 0

    @property
    def kind(self) -> str:
        """``"negative"``, ``"positive"`` (errors grow with confidence) or ``"flat"``."""
        if self.high < 0:
            return "negative"
        return "positive" if self.low > 0 else "flat"

    @property
    def problem(self) -> str:
        """Why the line should not be written without asking, as sentences ("" when fine)."""
        if self.decreasing:
            return ""
        if not math.isfinite(self.high):
            return (
                f"a slope from {count(self.n, 'annotation')} has no interval yet, so it cannot show "
                "errors shrinking as confidence grows."
            )
        interval = f"{self.low:+.3f} to {self.high:+.3f}"
        if self.kind == "positive":
            said = f"the slope {self.slope:+.3f} (95% interval {interval}) is positive"
        else:
            said = (
                f"the slope {self.slope:+.3f} could be flat (its 95% interval {interval} reaches 0)"
            )
        return (
            f"{said}: these annotations do not show errors shrinking as confidence grows, and "
            "with this line keypoint-MoSeq would trust doubtful keypoints as much as confident "
            "ones, or more."
        )


def slope_check(points: pd.DataFrame, slope: float | None = None) -> SlopeCheck:
    """The interval of a line's slope, to tell whether it may be written to ``config.yml``.

    Parameters
    ----------
    points
        ``(n rows)`` :func:`~kpcal_core.fitting.error_points` table the line was fitted to.
    slope
        The slope of the line to write (a robust line's); default: least squares.

    Returns
    -------
    SlopeCheck
    """
    from .diagnostics import stop_numbers  # diagnostics imports the project module

    x, y = points_xy(points)
    n = len(x)
    ls_slope, half = math.nan, math.inf
    if n >= 3:
        numbers = stop_numbers(x, y, 0.0, 0.0, SLOPE_LEVEL)
        ls_slope = float(numbers["slope"][-1])
        half = float(numbers["slope_half_width"][-1])
    chosen = float(slope) if slope is not None else ls_slope
    if not math.isfinite(half) or not math.isfinite(chosen):
        return SlopeCheck(chosen, -math.inf, math.inf, n)
    return SlopeCheck(chosen, chosen - half, chosen + half, n)
