"""The stop rule: has annotating done its job? Its verdict as a :class:`StopCheck`.

This module owns (pure functions: no files, no sentences;
:mod:`kpcal_core.workflows` says the verdict in words)

- :func:`stop_rule`: the rule that judges the line over the keypoints it will
  be applied to, from :func:`kpcal_core.running.stop_numbers` of the last
  few prefixes, with how many more annotations would reach the targets;
- :class:`StopSettings` (its thresholds) and :class:`StopCheck` (its verdict).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import pandas as pd

from .fitting import check_level, check_whole, points_xy
from .gross_errors import GrossErrors, point_keys, residual_flags
from .planning import Population
from .running import (
    population_histogram,
    population_lever,
    population_moments,
    settled_mask,
    stop_numbers,
)
from .stopping import (
    STOP_HELD,
    STOP_MIN_ANNOTATIONS,
    STOP_RMS_HALF_WIDTH,
    STOP_SLOPE_HALF_WIDTH,
    half_widths_at,
    projected_half_widths,
    slope_reach,
    slope_target_met,
)


@dataclass(frozen=True)
class StopSettings:
    """The stop rule's settings (see :func:`stop_rule`).

    Attributes
    ----------
    level
        Coverage of the intervals.
    rms_target
        Largest root mean square, over the population, of the mean line's
        half-width (log10(error + 1)).
    slope_target
        Largest half-width of the slope (unless its reach is within ``rms_target``).
    min_annotations
        Fewest annotations in the line.
    held
        After how many annotations in a row the targets must hold.
    """

    level: float = 0.95
    rms_target: float = STOP_RMS_HALF_WIDTH
    slope_target: float = STOP_SLOPE_HALF_WIDTH
    min_annotations: int = STOP_MIN_ANNOTATIONS
    held: int = STOP_HELD

    def checked(self) -> StopSettings:
        """The same settings, each checked (a :class:`~kpcal_core.errors.KpcalError` names a bad one)."""
        return StopSettings(
            level=check_level(self.level),
            rms_target=self.rms_target,
            slope_target=self.slope_target,
            min_annotations=check_whole(self.min_annotations, "min_annotations", 3),
            held=check_whole(self.held, "held", 1),
        )


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
    settings
        The rule's settings (``level``, ``rms_target``, ``slope_target``,
        ``min_annotations``, ``held`` are also properties of the check).
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
    settings: StopSettings = field(default_factory=lambda: StopSettings())

    @property
    def level(self) -> float:
        """Coverage of the intervals (:attr:`StopSettings.level`)."""
        return self.settings.level

    @property
    def rms_target(self) -> float:
        """:attr:`StopSettings.rms_target`."""
        return self.settings.rms_target

    @property
    def slope_target(self) -> float:
        """:attr:`StopSettings.slope_target`."""
        return self.settings.slope_target

    @property
    def min_annotations(self) -> int:
        """:attr:`StopSettings.min_annotations`."""
        return self.settings.min_annotations

    @property
    def held(self) -> int:
        """:attr:`StopSettings.held`."""
        return self.settings.held

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
        """The fields as plain values (for JSON), with the settings and the derived numbers."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "settings"}
        out["unmet"] = list(self.unmet)
        out["gross_errors"] = [{**asdict(g), "key": list(g.key)} for g in self.gross_errors.flagged]
        out.update(asdict(self.settings))
        out["n_left_out"] = self.n_left_out
        out["slope_reach"] = self.slope_reach
        out["slope_by_reach"] = self.slope_by_reach
        return out


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
    mu, var = population_moments(population)
    lever = population_lever(population)
    settings = StopSettings(
        level=level,
        rms_target=rms_target,
        slope_target=slope_target,
        min_annotations=min_annotations,
        held=held,
    ).checked()
    n = len(x)
    gross_errors = gross_errors if gross_errors is not None else GrossErrors()
    keys = point_keys(points) if n else []
    flagged_keys = {g.key for g in gross_errors.flagged}
    kept_keys = set(gross_errors.kept)
    flagged = np.array([k in flagged_keys for k in keys], bool)
    kept = np.array([k in kept_keys for k in keys], bool)
    to_come = np.asarray([] if remaining is None else remaining, dtype=float)
    to_come = to_come[np.isfinite(to_come)]
    samples_left = len(to_come) if to_come.size or candidates is not None else None
    steps = np.arange(max(n - settings.held + 1, 1), n + 1)
    numbers = None
    last: dict[str, float] = {}
    if n:
        numbers = stop_numbers(
            x, y, mu, var, settings.level, flagged=flagged, kept=kept, steps=steps
        )
        # flags of the residual screen too, for the caller's list
        screened = numbers["flagged_final"] & ~flagged
        if screened.any():
            extra = residual_flags(points, screened, kept_keys)
            gross_errors = GrossErrors(
                tuple(sorted((*gross_errors.flagged, *extra), key=lambda g: -g.residual))
            )
        last = {k: float(v[-1]) for k, v in numbers.items() if k not in ("n", "flagged_final")}
    n_used = int(last.get("n_used", 0))
    check = StopCheck(
        settled=False,
        n=n,
        n_used=n_used,
        slope=last.get("slope", math.nan),
        intercept=last.get("intercept", math.nan),
        slope_half_width=last.get("slope_half_width", math.nan),
        rms_half_width=last.get("rms_half_width", math.nan),
        slope_lever=lever,
        held_count=0,
        unmet=(),
        more_needed=None,
        samples_left=samples_left,
        candidates=candidates,
        gross_errors=gross_errors,
        settings=settings,
    )
    if var <= 1e-12:
        # every keypoint at one confidence: no slope to measure, none that matters
        return replace(check, unmet=("slope",), blocker="one-confidence")
    if numbers is None or not (
        math.isfinite(check.slope_half_width) and math.isfinite(check.rms_half_width)
    ):
        more = max(settings.min_annotations - n_used, 3 - n_used, 1)
        return replace(
            check,
            unmet=("min-annotations",) if n_used < settings.min_annotations else ("rms", "slope"),
            more_needed=more,
            blocker="no-line",
            draw_more=max(more - len(to_come), 0) if samples_left is not None else None,
        )
    return _judged(check, numbers, x, y, kept, population, to_come, mu, var)


def _judged(
    check: StopCheck,
    numbers: Mapping[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    kept: np.ndarray,
    population: Population | np.ndarray | Sequence[float],
    remaining: np.ndarray,
    mu: float,
    var: float,
) -> StopCheck:
    """The verdict of :func:`stop_rule` once the last prefixes have a line."""
    settings = check.settings
    met = settled_mask(
        numbers,
        settings.min_annotations,
        settings.rms_target,
        settings.slope_target,
        slope_lever=check.slope_lever,
        held=1,
    )
    held_count = 0
    for value in met[::-1]:
        if not value:
            break
        held_count += 1
    held_count = min(held_count, settings.held)
    settled_now = held_count >= settings.held
    unmet = []
    if check.n_used < settings.min_annotations:
        unmet.append("min-annotations")
    if not check.rms_half_width <= settings.rms_target:
        unmet.append("rms")
    if not slope_target_met(
        check.slope_half_width, check.slope_lever, settings.rms_target, settings.slope_target
    ):
        unmet.append("slope")
    if not check.slope < 0:
        unmet.append("negative")
    if not unmet and not settled_now:
        unmet.append("held")
    used = ~np.asarray(numbers["flagged_final"], bool) | kept
    share, low, high = _within_target(x, y, used, population, settings.rms_target, settings.level)
    check = replace(
        check,
        share_within_target=share,
        within_low=low,
        within_high=high,
        held_count=held_count,
        unmet=tuple(unmet),
    )
    if settled_now:
        return replace(check, settled=True, more_needed=0, draw_more=0)
    if check.slope >= 0 and check.slope - check.slope_half_width > 0:
        # precisely not negative: more of the same will not turn it
        return replace(check, blocker="positive-slope")
    more = _more_needed(
        x[used], numbers, remaining, mu, var, check.slope_lever, held_count, settings
    )
    candidates = check.candidates
    draw = None
    if check.samples_left is not None:
        draw = max(more - len(remaining), 0)
        if candidates is not None:
            draw = min(draw, max(candidates - len(remaining), 0))
    return replace(
        check,
        more_needed=more,
        blocker="too-few-keypoints" if candidates is not None and more > candidates else "",
        draw_more=draw,
    )


def _within_target(
    x: np.ndarray,
    y: np.ndarray,
    used: np.ndarray,
    population: Population | np.ndarray | Sequence[float],
    rms_target: float,
    level: float,
) -> tuple[float, float, float]:
    """Share of the population where the line's own half-width is within the target.

    Returns
    -------
    share, low, high
        The share of the keypoints, and the range of confidences (plus
        pseudocount) that holds them (NaN when none).
    """
    centres, counts = population_histogram(population)
    mu, var = population_moments(population)
    half = half_widths_at(x, y, used, centres, level, mu, var)
    inside = np.isfinite(half) & (half <= rms_target) & (counts > 0)
    total = counts.sum()
    if not inside.any() or total <= 0:
        return 0.0, math.nan, math.nan
    share = float(counts[inside].sum() / total)
    return share, float(10 ** centres[inside].min()), float(10 ** centres[inside].max())


def _widening(robust: float, classical: float) -> float:
    """How much wider the robust half-width is than the classical one (at least 1).

    1 when the classical one is 0 or not a number: every annotation on the
    line, or too few.
    """
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
    settings: StopSettings,
) -> int:
    """Annotations still needed: over the drawn samples' known confidences, then the square law."""
    level, held = settings.level, settings.held
    min_annotations, rms_target = settings.min_annotations, settings.rms_target
    slope_target = settings.slope_target
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
