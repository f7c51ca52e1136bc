"""The model prior panel in words.

s0 per bodypart (:func:`model_prior_table`), the lines compared
(:func:`model_prior_lines`), the bodyparts' own lines
(:func:`bodypart_line_statement`) and the band chart's caption.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from ..prior import OWN_LINE_SURE, Line, ModelPrior
from ..wording import count

if TYPE_CHECKING:  # the workflows use these sentences: their types are named only
    pass


def _px2(value: float) -> str:
    """An s0 in px², to 3 significant figures (``"–"`` when there is none)."""
    if not math.isfinite(value):
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _same_line(a: Line | None, b: Line | None) -> bool:
    return a is not None and b is not None and (a.slope, a.intercept) == (b.slope, b.intercept)


def _saved_differs(prior: ModelPrior) -> bool:
    """``config.yml``'s line is neither keypoint-MoSeq's default nor this fit's."""
    saved = prior.saved
    return saved is not None and not (
        _same_line(saved, prior.default) or _same_line(saved, prior.line)
    )


def model_prior_table(prior: ModelPrior) -> pd.DataFrame:
    """The panel's table: one row per bodypart, each number once, as text for people.

    The column of ``config.yml``'s line is there only when that line is neither
    keypoint-MoSeq's default nor this fit's (:func:`model_prior_lines` says which).
    """
    rows = []
    for b in prior.bodyparts:
        row = {
            "bodypart": b.bodypart,
            "keypoints with a position": f"{b.n_positioned:,}",
            "s0 median (px²)": _px2(b.s0_median),
            "s0 range (px²)": f"{_px2(b.s0_low)} to {_px2(b.s0_high)}",
            "s0 median, keypoint-MoSeq's default line": _px2(b.default_s0_median),
        }
        if _saved_differs(prior):
            row["s0 median, config.yml's line"] = _px2(b.saved_s0_median)
        row["no position (s0 at confidence 0)"] = f"{b.n_zero:,}"
        row["interpolated by conf_threshold"] = (
            f"{b.interpolated_share:.1%}" if math.isfinite(b.interpolated_share) else "–"
        )
        if b.follows_pooled is None:
            row["own line"] = f"too few annotations ({b.own_n})"
        else:
            row["own line"] = f"slope {b.own_slope:.3f}, intercept {b.own_intercept:.3f}" + (
                "" if b.follows_pooled else ": does not follow the shared line"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def model_prior_lines(prior: ModelPrior) -> list[str]:
    """The model prior panel's sentences, plain text, each number once.

    s0 at confidence 0 under each line, then the keypoints with no position and
    those ``conf_threshold`` interpolates.
    """
    line, default, saved = prior.line, prior.default, prior.saved
    zero = (
        f"s0 = (predicted error + 1)² px² is keypoint-MoSeq's prior on each keypoint's noise, "
        f"from its confidence plus conf_pseudocount ({prior.conf_pseudocount:g}). A keypoint "
        f"with no position gets confidence 0: s0 {_px2(prior.s0_zero)} px² with this fit "
        f"(slope {line.slope:.4f}, intercept {line.intercept:.4f}), "
        f"{_px2(prior.default_s0_zero)} px² with keypoint-MoSeq's default line (slope "
        f"{default.slope:g}, intercept {default.intercept:g})"
    )
    if saved is not None and _saved_differs(prior):
        zero += (
            f", {_px2(prior.saved_s0_zero)} px² with the line config.yml holds now (slope "
            f"{saved.slope:.4f}, intercept {saved.intercept:.4f})."
        )
    elif _same_line(saved, line):
        zero += "; config.yml holds this fit's line now."
    elif _same_line(saved, default):
        zero += "; config.yml still holds keypoint-MoSeq's default line."
    else:
        zero += "."
    lines = [zero]
    if prior.n_positioned + prior.n_zero:
        missing = (
            f"{prior.n_zero:,} keypoints of the used bodyparts have no position (s0 at "
            "confidence 0, above), and "
            if prior.n_zero
            else "Every keypoint of the used bodyparts has a position; "
        )
        lines.append(
            missing
            + f"{prior.n_interpolated:,} of the {prior.n_positioned:,} with one have confidence "
            f"+ pseudocount at or below conf_threshold {prior.conf_threshold:g}: keypoint-MoSeq "
            "treats these as outliers and interpolates them when it initialises a model."
        )
    return lines


def bodypart_line_statement(prior: ModelPrior) -> str:
    """Sentences on the bodyparts' own lines: do they follow the shared line.

    None possible yet, all follow, or which do not and what to do (more
    annotations; then leave it out of ``use_bodyparts`` or retrain).
    """
    if not prior.with_own_line:
        return (
            "No bodypart has enough annotations for its own line yet (5 at two or more "
            "confidences each), so whether each follows the shared line cannot be told."
        )
    apart = [b for b in prior.bodyparts if b.follows_pooled is False]
    if not apart:
        some = len(prior.with_own_line) < len(prior.bodyparts)
        return (
            f"The own lines of {len(prior.with_own_line)} bodyparts follow the shared line within "
            "their 95% intervals"
            + ("; the others have too few annotations for one." if some else ".")
        )
    sure = set(prior.surely_not_following)
    parts = []
    groups = (
        ([b for b in apart if b.bodypart in sure], True),
        ([b for b in apart if b.bodypart not in sure], False),
    )
    for group, known in groups:
        if not group:
            continue
        names = ", ".join(f"{b.bodypart!r} ({count(b.own_n, 'annotation')})" for b in group)
        one = len(group) == 1
        it, its = ("it", "its") if one else ("them", "their")
        if known:
            parts.append(
                f"{names}: {its} own line{'' if one else 's'} {'does' if one else 'do'} not follow "
                f"the shared line (see the table), so one line gives {it} the wrong prior. Leave "
                f"{it} out of use_bodyparts, or retrain the network with more labels of {it}."
            )
        else:
            parts.append(
                f"{names}: {its} own line{'' if one else 's'} may not follow the shared line (see "
                f"the table), but {count(OWN_LINE_SURE, 'annotation')} of each are needed to be "
                f"sure: annotate more of {it}. If {it} still {'stays' if one else 'stay'} apart, "
                f"leave {it} out of use_bodyparts, or retrain the network with more labels of {it}."
            )
    return " ".join(parts)


def not_drawn_in_band(n_zero: int) -> str:
    """The keypoints with no position, which the band chart leaves out ("" when none)."""
    if not n_zero:
        return ""
    return (
        f" Not drawn: {n_zero:,} keypoints with no position, which keypoint-MoSeq "
        "gives confidence 0 (their s0 is in the panel below the chart)."
    )
