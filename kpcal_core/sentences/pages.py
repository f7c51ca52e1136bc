"""The setup and fit pages' and the app's panels' sentences built from values.

A project folder to create, a refused project or seed, a broken config.yml set aside, a recording's video, frames
not cached, the stop rule not ready, the annotators' flag rule, a line whose slope
is not negative, no fit yet, and the demo project's note. The command line says the
flag rule and the slope's problem with the same functions (:func:`flag_rule`,
:func:`slope_not_written`).

Plain text. A parameter documented as *shown* is a name or message exactly as the
page shows it: the page passes it already escaped for Markdown
(``kpcal_app.text.literal`` or ``code``), so these functions never see or escape a
raw name themselves; the page shows the others' results through ``literal`` when
they hold data.
"""

from __future__ import annotations


def no_fit_yet(shown_error: str) -> str:
    """Too few annotations to fit (``shown_error``: why, as shown)."""
    return f"No fit yet: {shown_error}"


def create_folder(shown_folder: str) -> str:
    """The button that creates a missing project folder (``shown_folder`` as shown)."""
    return f"Create the folder {shown_folder}"


def create_folder_and_load(shown_folder: str) -> str:
    """The setup page's button that creates the folder and loads the keypoints into it."""
    return f"{create_folder(shown_folder)} and load the keypoints"


def nothing_created_yet(shown_error: str) -> str:
    """The project folder is missing (``shown_error`` as shown): nothing was written."""
    return f"{shown_error}. Nothing was created yet."


def bad_seed(shown_seed: str) -> str:
    """The seed typed is not a whole number (``shown_seed``: its ``repr``, as shown)."""
    return f"seed must be a whole number >= 0 or empty, got {shown_seed}"


def kept_broken_config(shown_backup: str) -> str:
    """``"Kept the broken config as <backup>"``: config.yml set aside to start over (name as shown)."""
    return f"Kept the broken config as {shown_backup}"


def project_refused(error: object) -> str:
    """A project named in the address was refused; the session keeps the one it had.

    Parameters
    ----------
    error
        Why (a ``KpcalError``); unescaped, the page escapes the whole sentence.
    """
    return f"{error}. Still working on the previous project."


def recording_video(shown_video: str | None, shown_rule: str | None) -> str:
    """``"video: <file> · found by the rule <rule>"``, after a recording's status.

    Parameters
    ----------
    shown_video
        The video file as shown, or ``None`` when the recording has none.
    shown_rule
        The rule that found it as shown, or ``None`` (set by hand, or no video).
    """
    found = "" if shown_rule is None else f" · found by the rule {shown_rule}"
    return f"video: {'none' if shown_video is None else shown_video}{found}"


def frames_not_cached(shown_error: str) -> str:
    """The frame cache stopped (``shown_error``: why, as shown)."""
    return f"Frames could not all be cached: {shown_error}"


def cannot_tell_stop(shown_error: str) -> str:
    """The stop rule could not be computed (``shown_error``: why, as shown)."""
    return f"Cannot tell yet whether you can stop: {shown_error}"


def systematically_off(shown_names: str) -> str:
    """Annotators whose clicks the flag rule flags (``shown_names``: their names as shown)."""
    return (
        f"Systematically off: {shown_names}. Review their clicks on the annotate page "
        "(Review flagged clicks)."
    )


def flag_rule(rule: str) -> str:
    """``"Flag rule: <rule>."``: when an annotator is flagged (the app and ``kpcal annotators``)."""
    return f"Flag rule: {rule}."


def slope_not_written(problem: str) -> str:
    """A fitted line whose slope is not negative: the problem, and that it is not written.

    Parameters
    ----------
    problem
        What is wrong with the slope (``SlopeCheck.problem``), a whole sentence.

    Returns
    -------
    str
        What the fit page and ``kpcal fit`` say: autosave leaves config.yml's line as it is.
    """
    return f"{problem} Autosave does not write it: config.yml keeps the line it has."


def demo_note(slope: float, intercept: float) -> str:
    """What the demo project is and which line the fit should find (its known truth)."""
    return (
        "synthetic videos of a moving animal whose network errors follow a known line "
        f"(slope {slope:g}, intercept {intercept:g}). Click the centre of the dot the yellow "
        "circle is meant for; after a few dozen clicks the fit page should find about that line."
    )
