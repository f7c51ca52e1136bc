"""Words shown to people, built once for the pages and the command line.

Sentences from the engine's results: the stop rule's verdict
(:func:`stop_statement` for the fit page and ``kpcal fit``,
:func:`stop_status_line` for the annotate page), the model's prior panel
(:func:`model_prior_table`, :func:`model_prior_lines`,
:func:`bodypart_line_statement`), flagged and far annotations
(:func:`gross_error_rows`, :func:`residual_sentence`), edits held in memory
(:func:`held_status`, :func:`held_sentence`), the anatomy note, and the small
sentences the setup and fit pages and ``kpcal sample`` share. Plain text, never
Markdown: the pages show them as text. The grammar helpers :func:`count` and
:func:`verb` live in :mod:`kpcal_core.wording` (the engine's error messages use
them too) and are re-exported here for the app.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from .annotations import Annotation
from .diagnostics import GrossErrors, StopCheck
from .prior import OWN_LINE_SURE, Line, ModelPrior
from .samplekeys import SampleKey
from .wording import count, verb

if TYPE_CHECKING:  # the workflows use these sentences: their types are named only
    from .workflows.annotators import TeamProgress
    from .workflows.drawing import SampleDraw
    from .workflows.saving import SavedLine

__all__ = [
    "COMBINE_RULE",
    "anatomy_note",
    "bodypart_line_statement",
    "bootstrap_intervals",
    "config_created",
    "count",
    "draw_more_label",
    "fit_numbers",
    "frame_cache_sentence",
    "frames_ready",
    "gross_error_rows",
    "gross_errors_heading",
    "held_sentence",
    "held_status",
    "how_the_stop_rule_judges",
    "line_saved",
    "method_line",
    "model_prior_lines",
    "model_prior_table",
    "never_sampled",
    "not_drawn_in_band",
    "not_loaded_left_out",
    "not_visible_left_out",
    "recordings_needing_attention",
    "residual_sentence",
    "sample_draw_message",
    "samples_drawn",
    "share_above_threshold",
    "stop_statement",
    "stop_status_line",
    "team_progress_lines",
    "verb",
]


def _known(n: int | None) -> int:
    """A count the stop rule gives on this path (``None`` there would be a bug)."""
    if n is None:
        raise ValueError("the stop rule left a count unknown where its sentence needs it")
    return n


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


def frames_ready(done: int, total: int) -> str:
    """``"3 of 40 frames ready"``: the frame cache's fill, for the setup page and ``kpcal sample``."""
    return f"{done} of {count(total, 'frame')} ready"


def anatomy_note(anterior: str | None, posterior: str | None, front: str, back: str) -> str:
    """What the bodypart names do not say about front and back, and what config.yml has."""
    if anterior is None and posterior is None:
        return (
            "The bodypart names do not say which are the front and the back of the animal: "
            f"config.yml has {front!r} as the front and {back!r} as the back for now."
        )
    if anterior is None:
        return (
            f"The bodypart names say which is the back ({posterior!r}) but not which is the "
            f"front: config.yml has {front!r} as the front for now."
        )
    return (
        f"The bodypart names say which is the front ({anterior!r}) but not which is the back: "
        f"config.yml has {back!r} as the back for now."
    )


#: How the fit combines several annotators' clicks of one sample (said on the fit page).
COMBINE_RULE = (
    "The fit uses one position per sample: the mean of its annotators' clicks; a click "
    "another person corrected in review is replaced by the reviewer's."
)


def held_sentence(n: int) -> str:
    """What happens to ``n`` held edits, for the message."""
    edits = count(n, "edit")
    them = "it" if n == 1 else "them"
    return (
        f"Your {edits} {'is' if n == 1 else 'are'} kept on this page, not on disk yet, and "
        f"saved with the next save that works (your next click, or Save held edits); closing "
        f"this page loses {them}."
    )


def held_status(held: Mapping[SampleKey, Annotation]) -> str | None:
    """``"2 edits held, not saved"``, or ``None`` when nothing is held."""
    return f"{count(len(held), 'edit')} held, not saved" if held else None


def _factor(half_width: float) -> str:
    """The factor a half-width in log10(error + 1) is on keypoint-MoSeq's s0 = (error + 1)^2."""
    return f"{10 ** (2 * half_width):.2f}"


def _stop_numbers(check: StopCheck) -> str:
    """The verdict's numbers, once: both half-widths, their targets, the annotations."""
    text = (
        f"the line is known to ±{check.rms_half_width:.3f} over your keypoints (target "
        f"±{check.rms_target}: keypoint-MoSeq's noise scale s0 to within a factor "
        f"{_factor(check.rms_half_width)}) and the slope {check.slope:.3f} to "
        f"±{check.slope_half_width:.3f} (target ±{check.slope_target}"
    )
    if check.slope_by_reach:
        text += (
            f", or a change of s0 within the line's target at the edges of your keypoints' "
            f"confidences: here ±{check.slope_reach:.3f}"
        )
    text += f"), {check.level:.0%} intervals from {count(check.n_used, 'annotation')}"
    return text


def _left_out_sentence(check: StopCheck) -> str:
    n = check.n_left_out
    if not n:
        return ""
    return (
        f" {count(n, 'annotation')} far from {'its' if n == 1 else 'their'} keypoint's "
        f"prediction {'is' if n == 1 else 'are'} left out of the line as likely "
        "swaps or wrong clicks (the fit page lists them: keep any that are right)."
    )


_UNMET = {
    "min-annotations": "at least {min} annotations in the line",
    "rms": "the line over your keypoints within its target",
    "slope": "the slope within its target",
    "negative": "a negative slope",
    "held": "the targets met after {held} annotations in a row",
}


def _unmet(check: StopCheck) -> str:
    return "; ".join(
        _UNMET[u].format(min=check.min_annotations, held=check.held) for u in check.unmet
    )


def _as_it_stands(check: StopCheck) -> str:
    """What the line is good for now, in one sentence."""
    if not check.share_within_target > 0:
        return "As it stands the line is not within its target for any of your keypoints."
    return (
        f"As it stands the line is within its target for {check.share_within_target:.0%} of "
        f"your keypoints (confidence + pseudocount {check.within_low:.3g} to "
        f"{check.within_high:.3g}), and within a factor {_factor(check.rms_half_width)} on "
        "s0 over all of them (RMS)."
    )


def stop_statement(check: StopCheck, draw_hint: str = "Draw more samples on the fit page") -> str:
    """The stop rule's verdict for the fit page and ``kpcal fit``: the numbers once, what to do.

    Parameters
    ----------
    check
        :func:`stop_status` (or :func:`~kpcal_core.diagnostics.stop_rule`).
    draw_hint
        How to draw more samples where the reader is (the fit page's button,
        or the ``kpcal sample`` command).
    """
    left_out = _left_out_sentence(check)
    if check.settled:
        text = f"Settled: {_stop_numbers(check)}."
        if check.slope_by_reach:
            text += (
                " The slope itself is not pinned down, but over your keypoints' confidences it "
                "barely changes s0; it would for confidences outside that range."
            )
        return text + left_out
    if check.blocker == "one-confidence":
        return (
            "Cannot settle: every keypoint of the used bodyparts has the same confidence, so "
            "there is no slope to measure and none that changes s0 from one keypoint to "
            "another. More annotations will not change that; keep the line in config.yml."
        )
    if check.blocker == "positive-slope":
        return (
            f"Not settled: {_stop_numbers(check)}. The error grows with confidence here, which "
            "more annotations will not change: check that the clicks are on the true "
            "positions and that the confidences belong to these keypoints." + left_out
        )
    if check.blocker == "no-line":
        text = (
            f"Not settled yet: no line yet ({count(check.n_used, 'annotation')} in the line; "
            "a line needs annotations at three or more confidences)."
        )
        return text + _more_advice(check, draw_hint) + left_out
    text = f"Not settled yet: {_stop_numbers(check)}. Still missing: {_unmet(check)}."
    if check.blocker == "too-few-keypoints":
        return (
            text
            + f" It would take about {count(_known(check.more_needed), 'more annotation')}, and only "
            f"{count(_known(check.candidates), 'keypoint')} of the used bodyparts are left to "
            "annotate: this project cannot reach the targets (too few keypoints). "
            + _as_it_stands(check)
            + left_out
        )
    return text + _more_advice(check, draw_hint) + left_out


def _more_advice(check: StopCheck, draw_hint: str) -> str:
    more = _known(check.more_needed)
    if check.samples_left is None:
        return f" Annotate about {count(more, 'more annotation')}."
    left = check.samples_left
    if not check.draw_more:
        return (
            f" Annotate about {more:,} more of your {count(left, 'drawn sample')} "
            "not annotated yet."
        )
    have = (
        "no drawn sample is left to annotate"
        if not left
        else f"only {count(left, 'drawn sample')} {'is' if left == 1 else 'are'} not annotated yet"
    )
    return (
        f" That takes about {count(more, 'more annotation')}, and {have}: draw "
        f"{count(_known(check.draw_more), 'more sample')} ({draw_hint}; every annotation is kept)."
    )


def stop_status_line(check: StopCheck) -> str:
    """One short sentence for the annotator from :func:`stop_status`'s verdict.

    ``"Settled: the line is trusted — you can stop (n annotations)."`` or
    ``"About N more annotations needed (...)"`` with the two half-widths and
    their targets, and how many samples to draw when the drawn ones are too
    few; when more annotations would not help, it says why.
    """
    if check.settled:
        return f"Settled: the line is trusted — you can stop ({count(check.n, 'annotation')})."
    if check.blocker == "one-confidence":
        return (
            f"Not settled ({count(check.n, 'annotation')}): every keypoint has the same "
            "confidence, so there is no slope to measure; more annotations will not change "
            "that: see the fit page."
        )
    if check.blocker == "positive-slope":
        return (
            f"Not settled ({count(check.n, 'annotation')}): the slope {check.slope:.3f} is "
            "not negative, and more annotations will not change that: see the fit page."
        )
    if check.blocker == "too-few-keypoints":
        return (
            f"Not settled ({count(check.n, 'annotation')}): this project has too few "
            "keypoints left to reach the targets: see the fit page for what the line is good for."
        )
    text = f"About {count(_known(check.more_needed), 'more annotation')} needed ({check.n} so far"
    if math.isfinite(check.rms_half_width) and math.isfinite(check.slope_half_width):
        text += (
            f": the line ±{check.rms_half_width:.3f} where your keypoints are, target "
            f"≤ {check.rms_target}; the slope ±{check.slope_half_width:.3f}, target "
            f"≤ {check.slope_target}"
        )
    text += ")."
    if check.draw_more:
        left = (
            "No drawn sample is left"
            if not check.samples_left
            else f"Only {count(_known(check.samples_left), 'drawn sample')} left"
        )
        text += f" {left}: draw {count(_known(check.draw_more), 'more sample')}."
    if check.n_left_out:
        text += f" {count(check.n_left_out, 'likely gross error')} left out: see the fit page."
    return text


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


def samples_drawn(n: int, seed: int) -> str:
    """``"40 samples drawn (seed 0)."``: the session's samples, on the setup page."""
    return f"{count(n, 'sample')} drawn (seed {seed})."


def recordings_needing_attention(n_problems: int, n_recordings: int) -> str:
    """``"2 of 5 recordings need attention:"``, above the list of their problems."""
    return (
        f"{n_problems} of {count(n_recordings, 'recording')} "
        f"{verb(n_problems, 'needs', 'need')} attention:"
    )


def never_sampled(no_position: int, human_labelled: int) -> str:
    """The keypoints the sampling histogram leaves out, and why ("" when none is).

    Parameters
    ----------
    no_position
        Keypoints with a confidence but no position.
    human_labelled
        Keypoints a person labelled (SLEAP user instances), not predicted.
    """
    text = ""
    if no_position:
        text += (
            f" {count(no_position, 'keypoint')} {verb(no_position, 'has', 'have')} a "
            "confidence but no position: not shown, never sampled."
        )
    if human_labelled:
        text += (
            f" {count(human_labelled, 'keypoint')} {verb(human_labelled, 'was', 'were')} "
            "labelled by a person (SLEAP user instances), not predicted: never sampled."
        )
    return text


def not_loaded_left_out(n: int) -> str:
    """Annotations of recordings or bodyparts the project does not load, on the fit page."""
    return (
        f"{count(n, 'annotation')} {verb(n, 'is', 'are')} of recordings or bodyparts not "
        "loaded: left out of the fit."
    )


def not_visible_left_out(n: int) -> str:
    """Samples marked not visible, on the fit page."""
    return f"{count(n, 'sample')} marked not visible: kept in the CSV, left out of the fit."


def config_created(n_bodyparts: int, fps: float | None) -> str:
    """``"Created config.yml from the keypoints' 8 bodyparts (fps: 30, from the videos)"``."""
    rate = "" if fps is None else f" (fps: {fps:g}, from the videos)"
    return f"Created config.yml from the keypoints' {count(n_bodyparts, 'bodypart')}" + rate


def line_saved(saved: SavedLine) -> str:
    """What the fit page says after "Save to config.yml" (:func:`kpcal_core.workflows.save_calibration`)."""
    return (
        f"Saved the {saved.method} line (slope {saved.slope:.4f}, intercept "
        f"{saved.intercept:.4f}) and conf_threshold {saved.conf_threshold:.4f} to "
        f"{saved.path}. Autosave keeps using this line."
    )


def fit_numbers(fit: Mapping) -> str:
    """``"slope = -0.3000 · intercept = 0.1000 · R² = 0.420 · n = 40"``: the fit page's headline.

    Parameters
    ----------
    fit
        The least-squares fit: ``slope``, ``intercept``, ``r2``, ``n``.
    """
    return (
        f"slope = {fit['slope']:.4f} · intercept = {fit['intercept']:.4f} · "
        f"R² = {fit['r2']:.3f} · n = {fit['n']}"
    )


def method_line(method: str, line: Mapping) -> str:
    """``"huber: slope -0.3000, intercept 0.1000"``: a robust line beside the headline."""
    return f"{method}: slope {line['slope']:.4f}, intercept {line['intercept']:.4f}"


def bootstrap_intervals(boot: Mapping) -> str:
    """The fit page's bootstrap intervals of the slope and intercept (1,000 resamples)."""
    return (
        f"95% bootstrap intervals (1,000 resamples): slope {boot['slope_low']:.4f} to "
        f"{boot['slope_high']:.4f}, intercept {boot['intercept_low']:.4f} to "
        f"{boot['intercept_high']:.4f}."
    )


def how_the_stop_rule_judges(held: int) -> str:
    """How the stop rule judges, in one sentence (``held``: annotations in a row)."""
    return (
        "How it is judged: the line's 95% band over all your keypoints (root mean square) and "
        "the slope's interval, allowing for clicking noise that changes with confidence, within "
        f"their targets, with a negative slope, for the last {held} annotations in a row "
        "(docs/method.md in kpcal's repository has the rule)."
    )


def share_above_threshold(percent: float, threshold: float) -> str:
    """What ``conf_threshold`` keeps: ``percent`` of the used keypoints are above it."""
    return (
        f"{percent:.1f}% of all used keypoints have confidence above "
        f"{threshold:.4f}; keypoint-MoSeq treats the rest as outliers to interpolate when it "
        "initialises a model."
    )


def draw_more_label(n: int) -> str:
    """``"Draw 12 more samples"``: the button the stop rule asks for."""
    return f"Draw {count(n, 'more sample')}"


def gross_errors_heading(flagged: int, left_out: int) -> str:
    """``"Likely gross errors: 3 flagged, 2 left out of the line"``."""
    return f"Likely gross errors: {flagged} flagged, {left_out} left out of the line"


def not_drawn_in_band(n_zero: int) -> str:
    """The keypoints with no position, which the band chart leaves out ("" when none)."""
    if not n_zero:
        return ""
    return (
        f" Not drawn: {n_zero:,} keypoints with no position, which keypoint-MoSeq "
        "gives confidence 0 (their s0 is in the panel below the chart)."
    )


def sample_draw_message(draw: SampleDraw) -> str:
    """One paragraph on a draw: asked, kept, drawn, and why the total differs from what was asked.

    Shown by the setup page, the fit page's "Draw more" and ``kpcal sample``
    (:func:`kpcal_core.workflows.draw_samples`).
    """
    total = len(draw.sample_keys)
    text = (
        f"Asked for {count(draw.asked, 'sample')}: kept {draw.kept} already annotated, "
        f"drew {draw.new} new; {count(total, 'sample')} in all (seed {draw.seed}, "
        f"{'planned order' if draw.order == 'planned' else 'as keypoint-MoSeq'})."
    )
    if draw.kept > draw.asked:
        text += " More samples are annotated than asked for: all of them are kept."
    elif total < draw.asked:
        text += (
            f" Only {count(draw.available, 'keypoint')} could be drawn (a position, a "
            "bodypart in use_bodyparts, a usable video, not annotated yet, not labelled "
            "by a person)."
        )
    if draw.human_labelled:
        text += (
            f" {count(draw.human_labelled, 'keypoint')} labelled by a person (SLEAP user "
            "instances) are never drawn: they are not the network's predictions."
        )
    if draw.left_out:
        names = ", ".join(f"{name!r} ({status})" for name, status in draw.left_out.items())
        text += (
            f" Left out {count(len(draw.left_out), 'recording')} with "
            f"{count(draw.left_out_keypoints, 'keypoint')} that cannot be annotated: {names}."
        )
    return text


def team_progress_lines(progress: TeamProgress) -> list[str]:
    """Who did what, in plain sentences (names are data: show them as text)."""
    out = [
        f"Team: {progress.samples_done} of {count(progress.samples, 'sample')} done by "
        f"{count(len(progress.counts), 'annotator')}; second looks {progress.second_look_done} of "
        f"{progress.second_look}."
    ]
    out += [f"{name or '(unnamed)'}: {count(n, 'sample')}" for name, n in progress.counts.items()]
    return out


def frame_cache_sentence(frames: int, size_bytes: int, cap_gib: float, folder: object) -> str:
    """Where the project's frame cache is, its size and its cap, in one sentence."""
    return (
        f"Frame cache: {count(frames, 'frame')}, {size_bytes / 2**20:,.0f} MB of {cap_gib:g} GiB "
        f"(least recently used frames go first) in {folder}."
    )
