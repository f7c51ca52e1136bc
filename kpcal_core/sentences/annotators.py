"""Several annotators and held edits in words.

How the fit combines clicks (:data:`COMBINE_RULE`), the team's progress, and
edits kept in memory when a save fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..annotations import Annotation
from ..samplekeys import SampleKey
from ..wording import count

if TYPE_CHECKING:  # the workflows use these sentences: their types are named only
    from ..workflows.annotators import TeamProgress


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


def team_progress_lines(progress: TeamProgress) -> list[str]:
    """Who did what, in plain sentences (names are data: show them as text)."""
    out = [
        f"Team: {progress.samples_done} of {count(progress.samples, 'sample')} done by "
        f"{count(len(progress.counts), 'annotator')}; second looks {progress.second_look_done} of "
        f"{progress.second_look}."
    ]
    out += [f"{name or '(unnamed)'}: {count(n, 'sample')}" for name, n in progress.counts.items()]
    return out
