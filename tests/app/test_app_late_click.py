"""A click belongs to the sample the person saw (issue 19, finding 7 and the click half of 8).

The click view reports, with each click, the view token of the image it was
made on. A click can arrive after the session moved on (Next, Previous, a key):
it is applied to the sample it was made on only if that sample has no annotation
yet, and the message says so; a click on a sample that has one is refused with
a message naming it, and nothing on disk changes. A click value of any other
shape than the click view's (a forged message) is refused quietly: no error box,
no save, no message.

Clicks are sent as the click view's value (``apptest_support.click_image`` /
``send_click_value``), as its frontend sends them; the browser side (the caption
shown with its image, the word on a refused click) is in
``tests/browser/test_browser_late_click.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from apptest_support import (
    ANNOTATE,
    button,
    check,
    click_image,
    current_sample,
    draft_keys,
    draw_demo_samples,
    errors,
    image_view,
    new_app,
    open_page,
    page_text,
    project_files,
    send_click_value,
    shown,
    true_display_position,
)

from kpcal_core.annotations import CLEARED, NOT_VISIBLE, POSITION
from kpcal_core.demo import DEMO_BODYPARTS, load_ground_truth

ALREADY = "which already has an annotation and is no longer shown"


def warnings(at) -> str:
    return "\n".join(shown(at.warning))


def key_of(shown: dict) -> tuple[str, int, str]:
    return (shown["recording"], shown["frame"], shown["bodypart"])


@pytest.mark.parametrize("earlier", ["click", "not visible"])
def test_a_late_click_never_replaces_an_annotation_of_a_sample_no_longer_shown(demo, earlier):
    draw_demo_samples(demo)
    at = check(new_app().run())
    first, first_view = current_sample(at), image_view(at)
    if earlier == "click":
        click_image(at, *true_display_position(demo, first))
    else:
        check(button(at, "Not visible").click().run())
    before = project_files(demo)
    status = draft_keys(demo)[key_of(first)].status
    assert status == (POSITION if earlier == "click" else NOT_VISIBLE)

    check(button(at, "Next").click().run())
    # Made on sample 1's image before sample 2's arrived in the browser (after Next).
    click_image(at, 60, 80, view=first_view)
    assert project_files(demo) == before  # nothing replaced, nothing written
    assert current_sample(at)["index"] == 2
    assert f"Not saved: that click was on sample 1, {ALREADY}" in warnings(at), page_text(at)
    assert not errors(at)


def test_a_late_click_on_a_sample_without_annotation_is_saved_there_and_says_so(demo):
    samples = draw_demo_samples(demo)
    at = check(new_app().run())
    first, first_view = current_sample(at), image_view(at)
    check(button(at, "Next").click().run())
    click_image(at, *true_display_position(demo, first), view=first_view)
    saved = draft_keys(demo)
    assert list(saved) == [samples[0]]  # the sample whose image was clicked, not sample 2
    truth = load_ground_truth(demo)["true_coordinates"]
    true_xy = truth[samples[0][0]][samples[0][1], DEMO_BODYPARTS.index(samples[0][2])]
    assert np.hypot(*(np.array(saved[samples[0]].xy) - true_xy)) < 1.0
    shown = current_sample(at)
    assert shown["index"] == 2 and shown["completed"] == 1
    assert "Saved on sample 1, the image you clicked" in page_text(at), page_text(at)
    assert not warnings(at)


def test_a_late_click_on_a_cleared_sample_is_saved_there(demo):
    samples = draw_demo_samples(demo)
    at = check(new_app().run())
    first, first_view = current_sample(at), image_view(at)
    click_image(at, 280, 280)  # the centre of the view: the network's guess, inside the video
    check(button(at, "Clear").click().run())
    assert draft_keys(demo)[samples[0]].status == CLEARED
    check(button(at, "Next").click().run())
    click_image(at, *true_display_position(demo, first), view=first_view)
    assert draft_keys(demo)[samples[0]].status == POSITION
    assert "Saved on sample 1, the image you clicked" in page_text(at)


def test_a_click_on_the_sample_shown_replaces_its_annotation(demo):
    """The person sees the sample (at any zoom): a new click moves its annotation."""
    samples = draw_demo_samples(demo)
    # Opened by its address: the root address switches to it on every run, which on
    # Streamlit 1.55's AppTest drops a widget value set between runs.
    at = open_page(new_app(), ANNOTATE)
    first = current_sample(at)
    click_image(at, 280, 280)  # the centre of the view: the network's guess, inside the video
    moved_from = draft_keys(demo)[samples[0]].xy
    fitted = image_view(at)
    check(button(at, "+").click().run())
    assert image_view(at) != fitted  # another view of the same sample
    # A click made on the fitted picture, arriving after the zoom changed: same sample.
    click_image(at, *true_display_position(demo, first), view=fitted)
    saved = draft_keys(demo)
    assert list(saved) == [samples[0]] and saved[samples[0]].xy != moved_from
    assert not warnings(at) and "the image you clicked" not in page_text(at)


def forged_values(good: dict, group: str) -> dict[str, object]:
    """Click values of one ``group`` of wrong types and shapes, by name."""
    if group == "not an object":
        return {"string": "x", "empty string": "", "number": 42, "true": True, "null": None}
    if group == "list":
        return {"list holding x": ["x"], "numbers": [1, 2, 3, 4], "objects": [good], "empty": []}
    if group == "missing":
        values: dict[str, object] = {"empty object": {}}
        for name in ("x", "y", "width", "height", "view"):
            values[f"no {name}"] = {k: v for k, v in good.items() if k != name}
        return values
    bad = {
        "x": ["12", None, True, [1], {"a": 1}, math.nan, math.inf, -math.inf, 1e300],
        "y": ["12", None, False, math.nan, -math.inf],
        "width": [0, -560, math.nan, math.inf, 1e9, "560", True, None],
        "height": [0, -1, math.nan, 1e9, "560", None],
        "view": [None, 7, ["a"], {"a": 1}, "", "v" * 10_000, True],
    }[group]
    return {f"{group}={value!r:.20}": {**good, group: value} for value in bad}


@pytest.mark.parametrize(
    "group", ["not an object", "list", "missing", "x", "y", "width", "height", "view"]
)
def test_a_click_value_of_any_other_shape_is_refused_quietly(demo, group):
    samples = draw_demo_samples(demo)
    at = check(new_app().run())
    first = current_sample(at)
    u, v = true_display_position(demo, first)
    good = {"x": u, "y": v, "width": 560, "height": 560, "unix_time": 1, "view": image_view(at)}
    before = project_files(demo)
    failures = []
    for n, (name, value) in enumerate(forged_values(good, group).items()):
        if isinstance(value, dict) and value:
            value = {**value, "unix_time": n + 2}  # each value another click
        try:
            send_click_value(at, value)
        except AssertionError as error:  # a traceback on the page
            failures.append(f"{name}: {error}")
            continue
        shown = page_text(at)
        if errors(at) or warnings(at) or "Saved" in shown or "not saved" in shown.lower():
            failures.append(f"{name}: said {errors(at) + [warnings(at)]}")
        if project_files(demo) != before:
            failures.append(f"{name}: wrote to the project")
            before = project_files(demo)
    assert not failures, "\n".join(failures)
    # The view still takes a real click.
    click_image(at, u, v)
    assert list(draft_keys(demo)) == [samples[0]]
