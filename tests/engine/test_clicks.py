"""The click rules of ``kpcal_core.clicks``: a click's shape, its view token, a late click.

The page's use of them (AppTest) is in ``tests/app/test_app_late_click.py``.
"""

from __future__ import annotations

import math

import pytest

from kpcal_core.annotations import CLEARED, NOT_VISIBLE, Annotation
from kpcal_core.clicks import (
    MAX_SHOWN_PX,
    MAX_VIEW_PX,
    MAX_VIEW_TOKEN,
    MIN_VIEW_PX,
    NO_LONGER_SHOWN,
    Click,
    late_click,
    parse_click,
    parse_view_size,
    view_token,
)

GOOD = {"x": 10.5, "y": 20.25, "width": 560, "height": 560, "unix_time": 1, "view": "abc@1"}
SAMPLES = [("rec", 0, "nose"), ("rec", 5, "tail"), ("other", 2, "nose")]


def test_a_click_of_the_click_views_shape_is_taken_as_sent():
    assert parse_click(GOOD) == Click(10.5, 20.25, 560.0, 560.0, "abc@1")
    assert parse_click({**GOOD, "x": -560, "y": 1120}) is not None  # far outside, still sane


@pytest.mark.parametrize(
    "value",
    [
        None,
        "x",
        ["x"],
        [GOOD],
        7,
        True,
        {},
        {**GOOD, "x": "10"},
        {**GOOD, "x": True},
        {**GOOD, "y": math.nan},
        {**GOOD, "y": math.inf},
        {**GOOD, "x": -561},
        {**GOOD, "y": 1121},
        {**GOOD, "width": 0},
        {**GOOD, "width": -5},
        {**GOOD, "height": MAX_SHOWN_PX + 1},
        {**GOOD, "width": None},
        {**GOOD, "view": 3},
        {**GOOD, "view": ""},
        {**GOOD, "view": "v" * (MAX_VIEW_TOKEN + 1)},
        {k: v for k, v in GOOD.items() if k != "height"},
    ],
)
def test_anything_else_is_no_click(value):
    assert parse_click(value) is None


def test_view_tokens_are_short_and_name_project_sample_zoom_and_size():
    long_name = "r" * 5000
    token = view_token("/p", (long_name, 3, "<b>ear</b>"), "2", 560)
    assert len(token) <= MAX_VIEW_TOKEN and token.endswith("@2/560")
    assert token == view_token("/p", (long_name, 3, "<b>ear</b>"), "2", 560)
    others = {
        view_token("/q", (long_name, 3, "<b>ear</b>"), "2", 560),
        view_token("/p", (long_name, 4, "<b>ear</b>"), "2", 560),
        view_token("/p", (long_name, 3, "ear"), "2", 560),
        view_token("/p", (long_name, 3, "<b>ear</b>"), "1", 560),
        view_token("/p", (long_name, 3, "<b>ear</b>"), "2", 404),
    }
    assert token not in others and len(others) == 5
    assert len(view_token("/p", (long_name, 3, "x"), "frame", MAX_VIEW_PX)) <= MAX_VIEW_TOKEN


def test_the_size_the_view_asks_for_is_bounded_and_nothing_else_is_a_size():
    assert parse_view_size({"fit": 404, "unix_time": 1}) == 404
    assert parse_view_size({"fit": 404.4}) == 404
    assert parse_view_size({"fit": 3}) == MIN_VIEW_PX
    assert parse_view_size({"fit": 30000}) == MAX_VIEW_PX  # a forged size draws no huge image
    for value in [GOOD, None, 404, "404", {"fit": "404"}, {"fit": True}, {"fit": math.nan},
                  {"fit": -1}, {"fit": 0}, {"fit": 1e300}, {"fit": [404]}, {}]:  # fmt: skip
        assert parse_view_size(value) is None, value
        assert value is GOOD or parse_click(value) is None  # and no size is a click


def annotation(status: str = "") -> Annotation:
    return Annotation(1.0, 2.0, "someone", "2025-01-01T00:00:00+00:00", status)


def test_a_click_on_the_sample_shown_is_saved_even_over_its_annotation():
    rule = late_click(SAMPLES[1], SAMPLES[1], SAMPLES, annotation())
    assert rule.save and rule.message is None


def test_a_late_click_on_a_sample_without_annotation_is_saved_there_and_named():
    for existing in (None, annotation(CLEARED)):
        rule = late_click(SAMPLES[1], SAMPLES[2], SAMPLES, existing)
        assert rule.save and rule.message == "Saved on sample 2, the image you clicked."


@pytest.mark.parametrize("status", ["", NOT_VISIBLE])
def test_a_late_click_never_replaces_an_annotation(status):
    rule = late_click(SAMPLES[0], SAMPLES[1], SAMPLES, annotation(status))
    assert not rule.save
    assert rule.message.startswith(
        "Not saved: that click was on sample 1, which already has an annotation and is no "
        "longer shown."
    )


def test_a_click_on_a_sample_no_longer_drawn_is_refused():
    rule = late_click(("gone", 1, "nose"), SAMPLES[0], SAMPLES, None)
    assert not rule.save and rule.message == NO_LONGER_SHOWN
