"""The setup page's and ``kpcal sample``'s words.

``config.yml`` created, the anatomy note, recordings needing attention, the
histogram's caption, the draw's message, the frame cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..wording import count, verb

if TYPE_CHECKING:  # the workflows use these sentences: their types are named only
    from ..workflows.drawing import SampleDraw


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


def config_created(n_bodyparts: int, fps: float | None) -> str:
    """``"Created config.yml from the keypoints' 8 bodyparts (fps: 30, from the videos)"``."""
    rate = "" if fps is None else f" (fps: {fps:g}, from the videos)"
    return f"Created config.yml from the keypoints' {count(n_bodyparts, 'bodypart')}" + rate


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


def samples_drawn(n: int, seed: int) -> str:
    """``"40 samples drawn (seed 0)."``: the session's samples, on the setup page."""
    return f"{count(n, 'sample')} drawn (seed {seed})."


def frames_ready(done: int, total: int) -> str:
    """``"3 of 40 frames ready"``: the frame cache's fill, for the setup page and ``kpcal sample``."""
    return f"{done} of {count(total, 'frame')} ready"


def frame_cache_sentence(frames: int, size_bytes: int, cap_gib: float, folder: object) -> str:
    """Where the project's frame cache is, its size and its cap, in one sentence."""
    return (
        f"Frame cache: {count(frames, 'frame')}, {size_bytes / 2**20:,.0f} MB of {cap_gib:g} GiB "
        f"(least recently used frames go first) in {folder}."
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
