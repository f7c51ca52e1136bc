"""What a new user sees on first use (issue 11): readable charts and tables, the demo
introduced, one colour per bodypart, clicks off the video refused, counts that add up."""

from __future__ import annotations

import json

from apptest_support import (
    FIT,
    SETUP,
    annotate_truly,
    button,
    check,
    click_image,
    current_sample,
    draft_keys,
    draw_demo_samples,
    new_app,
    open_page,
    page_text,
    sample_lines,
    shown,
)

from kpcal_core import workflows
from kpcal_core.colours import bodypart_colours
from kpcal_core.demo import DEMO_BODYPARTS, make_demo_project
from kpcal_core.project import load_project_data
from kpcal_core.views import crop_for_sample


def charts(at) -> list[dict]:
    return [
        json.loads(e.proto.spec) for e in at.main if getattr(e, "type", None) == "vega_lite_chart"
    ]


def test_the_histogram_has_filled_bars_on_a_readable_axis(demo):
    at = open_page(new_app(), SETUP)
    spec = json.dumps(charts(at)[0])
    assert '"rect"' in spec and '"sqrt"' in spec  # filled bars from 0, a square-root axis
    assert "symlog" not in spec


def test_the_demo_is_introduced_and_each_bodypart_has_one_colour(demo):
    annotate_truly(demo, draw_demo_samples(demo)[:30])
    at = check(new_app().run())
    assert any("Demo project" in i.value and "-0.55" in i.value for i in at.sidebar.info)
    colours = bodypart_colours(DEMO_BODYPARTS)
    lines = sample_lines(at)  # the legend is shown by the click view, below its image
    assert lines["legend"] == [[b, colours[b]] for b in DEMO_BODYPARTS], lines
    assert lines["target"] == current_sample(at)["bodypart"]
    at = open_page(at, FIT)
    scatter = json.dumps(charts(at)[0])
    assert all(c in scatter for c in colours.values())  # the chart's colour scale, same colours


def test_one_sample_is_one_sample(demo):
    workflows.draw_samples(load_project_data(demo), num_samples=1, seed=0)
    at = open_page(new_app(), SETUP)
    assert "1 sample drawn (seed 0)." in page_text(at)


def test_a_click_outside_the_video_frame_is_refused(tmp_path, monkeypatch):
    project = tmp_path / "small"
    make_demo_project(project, n_recordings=1, n_frames=40, width=160, height=160)
    data = load_project_data(project)
    samples = workflows.draw_samples(data, num_samples=40, seed=0).sample_keys
    monkeypatch.setenv("KPCAL_PROJECT", str(project))
    # a sample whose view reaches past the frame's left edge (the keypoint is near it)
    index = next(
        i
        for i, (recording, frame, bodypart) in enumerate(samples)
        if crop_for_sample(
            (160, 160),
            data.coordinates[recording][frame][DEMO_BODYPARTS.index(bodypart)],
            data.coordinates[recording][frame],
        ).x0
        < -2
    )
    at = check(new_app().run())  # samples ready: the root opens the annotate page
    for _ in range(index):
        check(button(at, "Next").click().run())
    assert current_sample(at)["index"] == index + 1
    at = click_image(at, 0, 280)  # the left edge of the view: off the video
    assert any("outside the video frame: not saved" in w for w in shown(at.warning)), page_text(at)
    assert current_sample(at)["completed"] == 0 and draft_keys(project) == {}
