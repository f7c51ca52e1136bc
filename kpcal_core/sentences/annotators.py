"""Several annotators and held edits in words.

How the fit combines clicks (:data:`COMBINE_RULE`), how far apart annotators click
(:func:`agreement_statement`) and who is flagged (:data:`FLAG_RULE`), the team's
progress, and edits kept in memory when a save fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..agreement import FLAG_LOG, FLAG_MIN_SHARED, FLAG_OFFSET_PX
from ..annotations import Annotation
from ..samplekeys import SampleKey
from ..wording import count

if TYPE_CHECKING:  # the workflows use these sentences: their types are named only
    from ..agreement import Agreement
    from ..workflows.annotators import TeamProgress


#: How the fit combines several annotators' clicks of one sample (said on the fit page).
COMBINE_RULE = (
    "The fit uses one position per sample: the mean of its annotators' clicks; a click "
    "another person corrected in review is replaced by the reviewer's."
)

#: The flag rule of :func:`kpcal_core.agreement.annotator_bias`, in words (the fit page,
#: ``kpcal agreement`` and the docs say it).
FLAG_RULE = (
    f"an annotator is flagged when, over at least {FLAG_MIN_SHARED} samples shared with "
    f"others, their clicks lie on average at least {FLAG_OFFSET_PX:g} px in one direction from "
    "the median of all the sample's clicks, or their errors differ from the median error by "
    f"at least {FLAG_LOG:g} in log10(error + 1) on average, and in either case by more than "
    "twice the standard error of that mean (with two annotators both are flagged: a third "
    "look decides)"
)


def agreement_statement(agreement: Agreement) -> str:
    """How far apart the annotators click: the human error floor, in one or two sentences.

    Parameters
    ----------
    agreement
        :func:`kpcal_core.agreement.annotator_agreement`'s result.
    """
    a = agreement
    if a.n_pairs:
        text = (
            f"{a.n_annotators} annotators positioned {a.n_shared_samples} of the same samples: "
            f"their clicks are {a.median_px:.2f} px apart at the median and {a.p90_px:.2f} px "
            "at the 90th percentile (the human error floor)."
        )
    else:
        text = (
            f"No sample was positioned by two or more of the "
            f"{count(a.n_annotators, 'annotator')}: have several people annotate the same "
            "samples to measure agreement."
        )
    if a.visibility_disagreements:
        text += (
            f" On {count(a.visibility_disagreements, 'sample')} one annotator clicked a "
            "position and another marked the bodypart not visible."
        )
    return text


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


def team_progress_lines(progress: TeamProgress) -> list[str]:
    """Who did what, in plain sentences (names are data: show them as text)."""
    out = [
        f"Team: {progress.samples_done} of {count(progress.samples, 'sample')} done by "
        f"{count(len(progress.counts), 'annotator')}; second looks {progress.second_look_done} of "
        f"{progress.second_look}."
    ]
    out += [f"{name or '(unnamed)'}: {count(n, 'sample')}" for name, n in progress.counts.items()]
    return out
