"""The stop rule in words, drawing more samples, gross errors kept or dropped, and the residual and error-size tables."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import KpcalError
from ..fitting import FittedLine, LineFit, predicted_error_px
from ..gross_errors import GrossErrors
from ..per_bodypart import largest_residuals
from ..project import ProjectData, project_lock
from ..samplekeys import SampleKey
from ..session import load_session, save_session
from ..stop_check import StopCheck
from ..wording import count
from .drawing import SampleDraw, draw_samples


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
            text + f" It would take about {count(check.more_needed, 'more annotation')}, and only "
            f"{count(check.candidates, 'keypoint')} of the used bodyparts are left to "
            "annotate: this project cannot reach the targets (too few keypoints). "
            + _as_it_stands(check)
            + left_out
        )
    return text + _more_advice(check, draw_hint) + left_out


def _more_advice(check: StopCheck, draw_hint: str) -> str:
    more = check.more_needed
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
        f"{count(check.draw_more, 'more sample')} ({draw_hint}; every annotation is kept)."
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
    text = f"About {count(check.more_needed, 'more annotation')} needed ({check.n} so far"
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
            else f"Only {count(check.samples_left, 'drawn sample')} left"
        )
        text += f" {left}: draw {count(check.draw_more, 'more sample')}."
    if check.n_left_out:
        text += f" {count(check.n_left_out, 'likely gross error')} left out: see the fit page."
    return text


def draw_more_samples(data: ProjectData, more: int) -> SampleDraw:
    """Draw ``more`` samples beyond the session's, keeping every annotation.

    :func:`draw_samples` with the session's settings, order and seed and
    ``num_samples`` raised by ``more``: annotated samples are kept (and, in
    the planned order, count in the design), and the samples not annotated yet
    come back first where the order gives them again (the planned order with
    the same seed continues its plan).
    """
    if not is_whole_number(more) or more < 1:
        raise KpcalError(f"the number of samples to draw must be a whole number >= 1, got {more!r}")
    session = data.session
    return draw_samples(
        data,
        num_samples=len(session.sample_keys) + int(more),
        seed=session.seed,
        order=session.sample_order,
    )


def is_whole_number(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def set_kept_gross_errors(
    data: ProjectData, keys: Sequence[SampleKey], keep: bool = True
) -> list[SampleKey]:
    """Keep (or leave out again) flagged annotations in the line; saved in the session.

    Returns the session's kept keys. The next save (autosave on a click, or
    Save to config.yml) fits with them.
    """
    keys = [(str(r), int(f), str(b)) for r, f, b in keys]
    with project_lock(data.project_dir):
        session = load_session(data.project_dir) or data.session
        kept = [k for k in session.kept_gross_errors if k not in keys]
        if keep:
            kept += keys
        session.kept_gross_errors = kept
        save_session(data.project_dir, session)
    data.session.kept_gross_errors = list(kept)
    return list(kept)


def gross_error_rows(gross_errors: GrossErrors) -> list[str]:
    """One plain sentence per flagged annotation (:class:`~kpcal_core.diagnostics.GrossErrors`).

    Plain text (the recording name in quotes), not Markdown.
    """
    rows = []
    for g in gross_errors.flagged:
        recording, frame, bodypart = g.key
        text = (
            f"{recording!r} frame {frame}, {bodypart}: error {g.error_px:.1f} px where the line "
            f"expects {g.line_error_px:.1f} px"
        )
        if g.nearer_bodypart is not None:
            text += (
                f"; the click is {g.nearer_px:.1f} px from {g.nearer_bodypart}'s prediction, "
                "nearer than its own (a swap?)"
            )
        text += " — kept in the line." if g.kept else " — left out of the line."
        rows.append(text)
    return rows


def residual_rows(
    points: pd.DataFrame, fit: LineFit | FittedLine, sample_keys: Sequence[SampleKey], n: int = 10
) -> list[dict]:
    """The annotations farthest from the line, as sentences, with their sample's index.

    The sentences are plain text (the recording name in quotes), not Markdown.

    Returns
    -------
    list of dict
        ``key`` (sample key), ``text`` (one sentence), ``sample_index`` (0-based
        position in ``sample_keys``, or ``None`` when it is not a sample now).
    """
    where = {key: i for i, key in enumerate(sample_keys)}
    rows = []
    for row in largest_residuals(points, fit, n=n).itertuples():
        key = (str(row.recording), int(row.frame), str(row.bodypart))
        rows.append(
            {
                "key": key,
                "sample_index": where.get(key),
                "text": f"{key[0]!r} frame {row.frame}, {row.bodypart}: error "
                f"{row.error_px:.1f} px where the line expects {row.line_error_px:.1f} px "
                f"(residual {row.residual:+.3f})",
            }
        )
    return rows


def error_size_table(
    line: LineFit | FittedLine,
    conf_pseudocount: float,
    confidences: Sequence[float] = (0.01, 0.1, 0.3, 0.5, 0.9, 1.0),
) -> pd.DataFrame:
    """The line in pixels: the error size keypoint-MoSeq's prior expects at a few confidences."""
    confs = np.asarray(confidences, dtype=float)
    return pd.DataFrame(
        {
            "confidence": confs,
            "error size (px)": predicted_error_px(
                line.slope, line.intercept, confs + conf_pseudocount
            ),
        }
    )
