"""The annotate page when the disk refuses a save (issue 19, finding 6).

A click whose save the disk refuses is said to be not saved, is held on the page
(drawn on the image, not counted), logged as ``event=error``, and saved with the
next save that works. The project's saves are made to fail by ``refuse_writes``
(this process's ``os.fsync`` fails for files under the project, as on a full disk);
the engine side, on a real full filesystem, is ``tests/engine/test_full_disk.py``.
"""

from __future__ import annotations

import getpass

from apptest_support import (
    FIT,
    SETUP,
    button,
    check,
    click_image,
    current_sample,
    draft_keys,
    draw_demo_samples,
    errors,
    image_src,
    new_app,
    open_page,
    page_text,
    shown,
    true_display_position,
    widget,
)

from kpcal_core.logs import parse_line


def _errors_logged(text: str) -> list[dict]:
    return [f for f in map(parse_line, text.splitlines()) if f and f["event"] == "error"]


def test_a_click_the_disk_refuses_is_held_shown_and_saved_with_the_next(demo, refuse_writes, capfd):
    samples = draw_demo_samples(demo)
    at = check(new_app().run())
    first = current_sample(at)
    unmarked = image_src(at)
    refuse_writes(demo)  # the disk is full from now on
    capfd.readouterr()

    click_image(at, *true_display_position(demo, first))
    warnings = shown(at.warning)
    assert any(w.startswith("Not saved: the disk is full") for w in warnings), warnings
    assert any("No space left on device" in w and "kept on this page" in w for w in warnings)
    assert any(w.startswith("1 edit held, not saved") for w in warnings), warnings
    assert not at.exception
    assert current_sample(at)["completed"] == 0 == len(draft_keys(demo))  # what is on disk
    assert image_src(at) != unmarked  # the click is drawn all the same
    (logged,) = _errors_logged(capfd.readouterr().err)
    assert logged["kind"] == "NotSaved" and logged["project"] == str(demo.resolve())
    assert logged["user"] == getpass.getuser() and "the disk is full" in logged["message"]

    check(button(at, "Next").click().run())
    click_image(at, *true_display_position(demo, current_sample(at)))
    assert "2 edits held, not saved" in page_text(at)
    assert current_sample(at)["completed"] == 0 and not draft_keys(demo)
    check(button(at, "Previous").click().run())
    assert image_src(at) != unmarked  # still drawn on the first sample
    at = open_page(at, FIT)
    assert "2 edits held, not saved on the annotate page" in page_text(at)

    refuse_writes(None)  # room again: the next click saves all three
    at = open_page(at, "pages/annotate.py")
    check(button(at, "Next").click().run())
    check(button(at, "Next").click().run())
    click_image(at, *true_display_position(demo, current_sample(at)))
    assert current_sample(at)["completed"] == 3, page_text(at)
    assert set(draft_keys(demo)) == set(samples[:3])
    assert "held, not saved" not in page_text(at) and not at.warning
    assert not at.exception


def test_held_edits_can_be_saved_again_without_a_new_click(demo, refuse_writes):
    draw_demo_samples(demo)
    at = check(new_app().run())
    refuse_writes(demo)
    click_image(at, *true_display_position(demo, current_sample(at)))
    check(button(at, "Save held edits").click().run())
    assert "1 edit held, not saved" in page_text(at)  # still full
    refuse_writes(None)
    check(button(at, "Save held edits").click().run())
    assert current_sample(at)["completed"] == 1 == len(draft_keys(demo))
    assert "held, not saved" not in page_text(at)


def test_a_setup_page_save_the_disk_refuses_says_so_and_changes_nothing(demo, refuse_writes):
    at = open_page(new_app(), SETUP)
    session_before = (demo / "calibration" / "session.json").read_bytes()
    config_before = (demo / "config.yml").read_bytes()
    refuse_writes(demo)
    check(button(at, "Sample frames").click().run())
    assert any(e.startswith("not saved: the disk is full") for e in errors(at)), errors(at)
    check(widget(at.button, "Load keypoints").click().run())
    assert any("No space left on device" in e for e in errors(at)), errors(at)
    assert (demo / "calibration" / "session.json").read_bytes() == session_before
    assert (demo / "config.yml").read_bytes() == config_before
