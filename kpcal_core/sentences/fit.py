"""The fit page's and ``kpcal fit``'s other words.

The line's numbers and intervals, annotations far from the line or left out of it,
why a bodypart's own line differs from the shared one (:func:`bodypart_reason`),
the threshold's share of keypoints, and the line saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..gross_errors import GrossErrors
from ..per_bodypart import Verdict
from ..samplekeys import SampleKey
from ..wording import count, verb

if TYPE_CHECKING:  # the workflows use these sentences: their types are named only
    from ..fitting import FittedLine, LineFit
    from ..intervals import BootstrapFit
    from ..per_bodypart import BodypartJudgement
    from ..workflows.saving import SavedLine


def _error_where(key: SampleKey, error_px: float, line_error_px: float) -> str:
    """``'rec' frame 12, nose: error 8.0 px where the line expects 3.1 px``."""
    recording, frame, bodypart = key
    return (
        f"{recording!r} frame {frame}, {bodypart}: error {error_px:.1f} px where the line "
        f"expects {line_error_px:.1f} px"
    )


def residual_sentence(
    key: SampleKey, error_px: float, line_error_px: float, residual: float
) -> str:
    """One annotation far from the line, with its residual in log10(error + 1).

    Parameters
    ----------
    key
        ``(recording, frame, bodypart)`` of the sample.
    error_px, line_error_px
        The click's distance from the keypoint, and the line's prediction, in px.
    residual
        The difference in log10(error + 1).
    """
    return f"{_error_where(key, error_px, line_error_px)} (residual {residual:+.3f})"


def gross_error_rows(gross_errors: GrossErrors) -> list[str]:
    """One plain sentence per flagged annotation (:class:`~kpcal_core.diagnostics.GrossErrors`).

    Plain text (the recording name in quotes), not Markdown.
    """
    rows = []
    for g in gross_errors.flagged:
        text = _error_where(g.key, g.error_px, g.line_error_px)
        if g.nearer_bodypart is not None:
            text += (
                f"; the click is {g.nearer_px:.1f} px from {g.nearer_bodypart}'s prediction, "
                "nearer than its own (a swap?)"
            )
        text += " — kept in the line." if g.kept else " — left out of the line."
        rows.append(text)
    return rows


def gross_errors_heading(flagged: int, left_out: int) -> str:
    """``"Likely gross errors: 3 flagged, 2 left out of the line"``."""
    return f"Likely gross errors: {flagged} flagged, {left_out} left out of the line"


def fit_numbers(fit: LineFit) -> str:
    """``"slope = -0.3000 · intercept = 0.1000 · R² = 0.420 · n = 40"``: the fit page's headline.

    Parameters
    ----------
    fit
        The least-squares fit: ``slope``, ``intercept``, ``r2``, ``n``.
    """
    return (
        f"slope = {fit.slope:.4f} · intercept = {fit.intercept:.4f} · "
        f"R² = {fit.r2:.3f} · n = {fit.n}"
    )


def method_line(method: str, line: FittedLine) -> str:
    """``"huber: slope -0.3000, intercept 0.1000"``: a robust line beside the headline."""
    return f"{method}: slope {line.slope:.4f}, intercept {line.intercept:.4f}"


def bootstrap_intervals(boot: BootstrapFit) -> str:
    """The fit page's bootstrap intervals of the slope and intercept (1,000 resamples)."""
    return (
        f"95% bootstrap intervals (1,000 resamples): slope {boot.slope_low:.4f} to "
        f"{boot.slope_high:.4f}, intercept {boot.intercept_low:.4f} to "
        f"{boot.intercept_high:.4f}."
    )


def share_above_threshold(percent: float, threshold: float) -> str:
    """What ``conf_threshold`` keeps: ``percent`` of the used keypoints are above it."""
    return (
        f"{percent:.1f}% of all used keypoints have confidence above "
        f"{threshold:.4f}; keypoint-MoSeq treats the rest as outliers to interpolate when it "
        "initialises a model."
    )


def not_loaded_left_out(n: int) -> str:
    """Annotations of recordings or bodyparts the project does not load, on the fit page."""
    return (
        f"{count(n, 'annotation')} {verb(n, 'is', 'are')} of recordings or bodyparts not "
        "loaded: left out of the fit."
    )


def not_visible_left_out(n: int) -> str:
    """Samples marked not visible, on the fit page."""
    return f"{count(n, 'sample')} marked not visible: kept in the CSV, left out of the fit."


def line_saved(saved: SavedLine) -> str:
    """What the fit page says after "Save to config.yml" (:func:`kpcal_core.workflows.save_calibration`)."""
    return (
        f"Saved the {saved.method} line (slope {saved.slope:.4f}, intercept "
        f"{saved.intercept:.4f}) and conf_threshold {saved.conf_threshold:.4f} to "
        f"{saved.path}. Autosave keeps using this line."
    )


def bodypart_reason(judgement: BodypartJudgement) -> str:
    """Why a bodypart's own line differs, follows the shared one, or is not judged.

    The ``reason`` column of the fit page's per-bodypart table, with the numbers.

    Parameters
    ----------
    judgement
        One of :attr:`PerBodypartFits.judgements <kpcal_core.per_bodypart.PerBodypartFits>`.
    """
    j = judgement
    if j.verdict is Verdict.TOO_FEW:
        return (
            f"{count(j.n, 'annotation')} at {count(j.n_confidences, 'confidence')}: "
            f"too few for a line of its own (need {j.min_points})"
        )
    label = "shared line of the other bodyparts" if j.against_others else "pooled line"
    if j.verdict is Verdict.FOLLOWS:
        return f"its {j.level:.0%} intervals overlap those of the {label}"
    gaps = "; ".join(
        f"{g.parameter} {g.value:.3f} [{g.low:.3f}, {g.high:.3f}] vs "
        f"{g.reference:.3f} [{g.reference_low:.3f}, {g.reference_high:.3f}]"
        for g in j.gaps
    )
    return f"its {j.level:.0%} intervals do not overlap those of the {label}: " + (
        gaps or "(they did when it was flagged)"
    )
