"""The stop rule in words.

The fit page's and ``kpcal fit``'s verdict (:func:`stop_statement`), the annotate
page's status line (:func:`stop_status_line`), how the rule judges, and the button
that draws more samples.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from ..running import SlopeSettled, slope_settled
from ..stop_check import StopCheck
from ..wording import count

if TYPE_CHECKING:  # the workflows use these sentences: their types are named only
    pass


def _known(n: int | None) -> int:
    """A count the stop rule gives on this path (``None`` there would be a bug)."""
    if n is None:
        raise ValueError("the stop rule left a count unknown where its sentence needs it")
    return n


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


def how_the_stop_rule_judges(held: int) -> str:
    """How the stop rule judges, in one sentence (``held``: annotations in a row)."""
    return (
        "How it is judged: the line's 95% band over all your keypoints (root mean square) and "
        "the slope's interval, allowing for clicking noise that changes with confidence, within "
        f"their targets, with a negative slope, for the last {held} annotations in a row "
        "(docs/method.md in kpcal's repository has the rule)."
    )


def draw_more_label(n: int) -> str:
    """``"Draw 12 more samples"``: the button the stop rule asks for."""
    return f"Draw {count(n, 'more sample')}"


def slope_settled_statement(check: SlopeSettled) -> str:
    """The slope-only rule's verdict in a plain sentence, with the numbers and what is missing.

    "annotate about N more" where that can be estimated from the
    ``(half-width / target)^2`` law.
    """
    window, level, target = check.window, check.level, check.slope_target
    if not check.enough:
        need = (check.first if check.first is not None else max(check.n, 5)) + window
        return (
            f"Too early to tell whether the fit has settled: {count(check.n, 'annotation')} so "
            f"far; at least {need} are needed to watch the slope over {window} annotations."
        )
    start, end, moved = check.start, check.end, check.moved
    half, slope = check.half_width, check.slope
    if check.settled:
        return (
            f"Settled: over the last {window} annotations (n = {start} to {end}) the slope "
            f"moved by at most {moved:.4f}, less than the half-width {half:.4f} of its "
            f"{level:.0%} interval, which is within ±{target}, and the slope "
            f"{slope:.4f} is negative."
        )
    gaps = []
    if moved >= half:
        gaps.append(
            f"over the last {window} annotations (n = {start} to {end}) the slope moved by "
            f"{moved:.4f}, not less than the half-width {half:.4f} of its {level:.0%} interval"
        )
    if half > target:
        gaps.append(
            f"the slope's {level:.0%} interval is {slope - half:.4f} to {slope + half:.4f}, "
            f"wider than ±{target}"
        )
    if slope >= 0:
        gaps.append(f"the slope {slope:.4f} is not negative")
    advice = "annotate more"
    if slope >= 0 and slope - half > 0:
        advice = "check that the clicks are on the true positions"
    elif half > target:
        advice = f"annotate about {max(math.ceil(end * (half / target) ** 2) - end, 1)} more"
    return f"Not settled yet: {'; '.join(gaps)}; {advice}."


def has_settled(
    running: pd.DataFrame, window: int = 10, slope_target: float = 0.1
) -> tuple[bool, str]:
    """Whether the running fit has settled, as a yes/no and a sentence for the user.

    :func:`kpcal_core.running.slope_settled` (the numbers) said by
    :func:`slope_settled_statement`.

    Parameters
    ----------
    running
        The table from :func:`~kpcal_core.running.running_fit`.
    window
        How many of the latest annotations to look back over.
    slope_target
        Largest half-width of the slope's interval that counts as precise.

    Returns
    -------
    tuple
        ``(settled, statement)``.
    """
    check = slope_settled(running, window, slope_target)
    return check.settled, slope_settled_statement(check)
