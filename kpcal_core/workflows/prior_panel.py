"""The model's prior: the project's prior, its table, its lines and the per-bodypart line statement."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from ..fitting import FittedLine
from ..per_bodypart import PerBodypartFits
from ..prior import (
    OWN_LINE_SURE,
    BodypartConfidences,
    Line,
    ModelPrior,
    bodypart_confidences,
    config_pseudocount,
    interpolated_counts,
    model_prior,
    saved_line,
)
from ..project import ProjectData
from ..wording import count


def project_model_prior(
    data: ProjectData,
    line: FittedLine,
    conf_threshold: float | None = None,
    *,
    per_bodypart: PerBodypartFits | None = None,
    summaries: Sequence[BodypartConfidences] | None = None,
    interpolated: Mapping[str, int] | None = None,
) -> ModelPrior:
    """What ``line`` does to keypoint-MoSeq's model of this project (:func:`kpcal_core.prior.model_prior`).

    keypoint-MoSeq's settings come from ``config.yml`` (``conf_pseudocount``,
    and ``conf_threshold`` unless given); the saved line is ``config.yml``'s
    ``error_estimator``.

    Parameters
    ----------
    line
        The line that would be saved (:class:`~kpcal_core.fitting.FittedLine`).
    conf_threshold
        The threshold to judge (the fit page's control); default: ``config.yml``'s.
    per_bodypart
        :func:`~kpcal_core.per_bodypart.per_bodypart_fits` of the fitted points, for
        each bodypart's own line; None: no own lines.
    summaries, interpolated
        :func:`~kpcal_core.prior.bodypart_confidences` and
        :func:`~kpcal_core.prior.interpolated_counts` when the caller has them (the
        app caches them); computed otherwise.
    """
    pseudocount = config_pseudocount(data.config)
    threshold = float(
        data.config.get("conf_threshold", 0.5) if conf_threshold is None else conf_threshold
    )
    use = data.use_bodyparts
    if summaries is None:
        summaries = bodypart_confidences(data.confidences, data.missing, data.bodyparts, use)
    if interpolated is None:
        interpolated = interpolated_counts(
            data.confidences, data.missing, data.bodyparts, use, threshold, pseudocount
        )
    return model_prior(
        summaries,
        Line(float(line.slope), float(line.intercept), f"this fit ({line.method})"),
        conf_pseudocount=pseudocount,
        conf_threshold=threshold,
        interpolated=interpolated,
        saved=saved_line(data.config),
        own_lines=per_bodypart.table if per_bodypart is not None else None,
    )


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
    """The panel's sentences: s0 at confidence 0 under each line, missing and interpolated
    keypoints. Plain text, each number once."""
    line, default, saved = prior.line, prior.default, prior.saved
    zero = (
        f"s0 = (predicted error + 1)² px² is keypoint-MoSeq's prior on each keypoint's noise, "
        f"from its confidence plus conf_pseudocount ({prior.conf_pseudocount:g}). A keypoint "
        f"with no position gets confidence 0: s0 {_px2(prior.s0_zero)} px² with this fit "
        f"(slope {line.slope:.4f}, intercept {line.intercept:.4f}), "
        f"{_px2(prior.default_s0_zero)} px² with keypoint-MoSeq's default line (slope "
        f"{default.slope:g}, intercept {default.intercept:g})"
    )
    if _saved_differs(prior):
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
    """Sentences on the bodyparts' own lines: none possible yet, all follow, or which do not
    and what to do (more annotations; then leave it out of ``use_bodyparts`` or retrain)."""
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
