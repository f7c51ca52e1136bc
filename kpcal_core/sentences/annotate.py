"""The annotate page's sentences built from values: the sample's title and caption, the counts.

Also what a refused save says (``Not saved: ...``), another annotator working on
the sample or having annotated it, a sample no longer in the keypoints, a recording
without a video, the broken annotation file kept as a backup, and edits held on the
page.

Plain text. A parameter documented as *shown* is a name or message exactly as the
page shows it: the page passes it already escaped for Markdown
(``kpcal_app.text.literal`` or ``code``), so these functions never see or escape a
raw name themselves; the others are numbers, or text the page shows without Markdown
(the click view's title and caption, a message the page escapes as a whole).
"""

from __future__ import annotations

#: How a refused save starts: the page tells a refusal from a save by it.
NOT_SAVED = "Not saved"


def not_saved(error: object) -> str:
    """``"Not saved: <why>"``: an annotation (or the held edits) the save refused.

    Parameters
    ----------
    error
        The refusal (a ``KpcalError``); its text, unescaped (the page escapes the
        whole message when it shows it).
    """
    return f"{NOT_SAVED}: {error}"


def late_click_saved(rule_message: str, said: str) -> str:
    """What a late click's rule says, then what its save said (either may be empty)."""
    return f"{rule_message} {said}".strip()


def sample_title(bodypart: str, confidence: float) -> str:
    """``"Target bodypart = nose | confidence = 0.8123"``, above the sample's image.

    Shown by the click view as text (never Markdown): ``bodypart`` is the raw name.
    """
    return f"Target bodypart = {bodypart} | confidence = {confidence:.4f}"


def sample_caption(
    number: int, n_samples: int, recording: str, frame: int, video_frame: int
) -> str:
    """``"Sample 3 of 50 · recording r1 · keypoint frame 120 (video frame 121)"``.

    Shown by the click view as text (never Markdown): ``recording`` is the raw name.

    Parameters
    ----------
    number
        The sample's 1-based place among the ``n_samples`` drawn.
    recording, frame, video_frame
        Where it is: the keypoint frame and the video frame it was read from.
    """
    return (
        f"Sample {number} of {n_samples} · recording {recording} · keypoint frame "
        f"{frame} (video frame {video_frame})"
    )


def annotation_counts_line(positions: int, done: int, not_visible: int) -> str:
    """``"Completed annotations = 40 · 42 of these samples done · 2 marked not visible"``.

    Parameters
    ----------
    positions
        Annotations with a position, in the project.
    done
        The drawn samples somebody has annotated (a position or not visible).
    not_visible
        Annotations marked not visible.
    """
    return (
        f"Completed annotations = {positions} · {done} of these samples done · "
        f"{not_visible} marked not visible"
    )


def someone_else_is_working(shown_name: str) -> str:
    """Another annotator holds the sample shown (``shown_name``: their name as shown)."""
    return f"{shown_name} is working on this sample: press Next unannotated for a free one."


def annotated_by(shown_names: str) -> str:
    """The sample is annotated by others (``shown_names``: their names as shown)."""
    return (
        f"Annotated by {shown_names} (drawn). A click here corrects it as your review: "
        "the fit then uses yours."
    )


def sample_not_loaded(shown_key: str) -> str:
    """The sample ``shown_key`` (as shown) is not in the keypoints loaded now."""
    return f"Sample {shown_key} is not in the loaded keypoints (were they changed?): press Next."


def recording_without_video(shown_recording: str) -> str:
    """The sample's recording (as shown) has no video to show it from."""
    return f"Recording {shown_recording} has no video: set it on the setup page."


def kept_as_backup(shown_file: str, shown_backup: str) -> str:
    """``"Kept <file> as <backup>"``: a broken annotation file set aside (names as shown)."""
    return f"Kept {shown_file} as {shown_backup}"


def held_on_this_page(held_status: str) -> str:
    """The held edits' status line (:func:`held_status`) on the annotate page."""
    return f"{held_status}: drawn on the image, not counted above."


def held_not_in_fit(held_status: str) -> str:
    """The held edits' status line (:func:`held_status`) on the fit page."""
    return f"{held_status} on the annotate page: not in this fit."


def zoom_caption(zoom: str) -> str:
    """``"Zoom: 2×"``: the zoom shown beside the image (``zoom``: its label)."""
    return f"Zoom: {zoom}"
