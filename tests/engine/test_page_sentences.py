"""The pages' sentences built from values (kpcal_core.sentences.annotate and .pages).

Each says today's words, character for character (the pages showed these before they moved
here), and passes a name through as it gets it: escaping names for Markdown is the app's.
"""

from __future__ import annotations

from kpcal_core import sentences

#: A name a page would have escaped already (kpcal_app.text.literal): kept as it is.
SHOWN = "\\*bold\\* `x`"


def test_the_annotate_page_sentences_say_what_the_page_said():
    assert sentences.sample_title("nose", 0.81234) == "Target bodypart = nose | confidence = 0.8123"
    assert (
        sentences.sample_caption(3, 50, "r1", 120, 121)
        == "Sample 3 of 50 · recording r1 · keypoint frame 120 (video frame 121)"
    )
    assert (
        sentences.annotation_counts_line(40, 42, 2)
        == "Completed annotations = 40 · 42 of these samples done · 2 marked not visible"
    )
    assert sentences.not_saved("the disk is full") == "Not saved: the disk is full"
    assert sentences.not_saved("x").startswith(sentences.NOT_SAVED)
    assert sentences.late_click_saved("", "Saved.") == "Saved."
    assert sentences.late_click_saved("Late.", "Saved.") == "Late. Saved."
    assert sentences.zoom_caption("2×") == "Zoom: 2×"
    assert sentences.held_on_this_page("1 edit held") == (
        "1 edit held: drawn on the image, not counted above."
    )
    assert sentences.held_not_in_fit("1 edit held") == (
        "1 edit held on the annotate page: not in this fit."
    )


def test_the_annotate_page_sentences_keep_the_names_as_shown():
    assert sentences.someone_else_is_working(SHOWN) == (
        f"{SHOWN} is working on this sample: press Next unannotated for a free one."
    )
    assert sentences.annotated_by(SHOWN) == (
        f"Annotated by {SHOWN} (drawn). A click here corrects it as your review: the fit "
        "then uses yours."
    )
    assert sentences.sample_not_loaded(SHOWN) == (
        f"Sample {SHOWN} is not in the loaded keypoints (were they changed?): press Next."
    )
    assert sentences.recording_without_video(SHOWN) == (
        f"Recording {SHOWN} has no video: set it on the setup page."
    )
    assert sentences.kept_as_backup(SHOWN, "b") == f"Kept {SHOWN} as b"


def test_the_setup_and_fit_page_sentences_say_what_the_pages_said():
    assert sentences.no_fit_yet(SHOWN) == f"No fit yet: {SHOWN}"
    assert sentences.create_folder(SHOWN) == f"Create the folder {SHOWN}"
    assert sentences.create_folder_and_load(SHOWN) == (
        f"Create the folder {SHOWN} and load the keypoints"
    )
    assert sentences.nothing_created_yet(SHOWN) == f"{SHOWN}. Nothing was created yet."
    assert sentences.bad_seed("'x'") == "seed must be a whole number >= 0 or empty, got 'x'"
    assert sentences.project_refused("no such folder") == (
        "no such folder. Still working on the previous project."
    )
    assert sentences.kept_broken_config(SHOWN) == f"Kept the broken config as {SHOWN}"
    assert sentences.recording_video(None, None) == "video: none"
    assert sentences.recording_video("`a.mp4`", None) == "video: `a.mp4`"
    assert sentences.recording_video("`a.mp4`", "") == "video: `a.mp4` · found by the rule "
    assert sentences.recording_video("`a.mp4`", "name") == (
        "video: `a.mp4` · found by the rule name"
    )
    assert sentences.frames_not_cached(SHOWN) == f"Frames could not all be cached: {SHOWN}"
    assert sentences.cannot_tell_stop(SHOWN) == (f"Cannot tell yet whether you can stop: {SHOWN}")
    assert sentences.systematically_off(SHOWN) == (
        f"Systematically off: {SHOWN}. Review their clicks on the annotate page (Review "
        "flagged clicks)."
    )
    assert sentences.flag_rule("a rule") == "Flag rule: a rule."
    assert sentences.slope_not_written("The slope is positive.") == (
        "The slope is positive. Autosave does not write it: config.yml keeps the line it has."
    )
    assert sentences.demo_note(-0.5, 0.25) == (
        "synthetic videos of a moving animal whose network errors follow a known line (slope "
        "-0.5, intercept 0.25). Click the centre of the dot the yellow circle is meant for; "
        "after a few dozen clicks the fit page should find about that line."
    )
