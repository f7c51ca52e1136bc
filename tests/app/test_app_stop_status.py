"""The annotate page's stop status: the fit page's stop rule, recomputed only on a change.

The demo project (noise sd 0.05) settles at the rule's minimum when clicked at
its truth: 20 annotations, the targets held for 3 in a row, i.e. 22. So 21
saved annotations and one click on the page cross from "About N more
annotations needed" to "Settled".
"""

from __future__ import annotations

import numpy as np
import pytest
from apptest_support import (
    ANNOTATE,
    FIT,
    annotate_truly,
    button,
    check,
    click_image,
    current_sample,
    draw_demo_samples,
    new_app,
    open_page,
    page_text,
    true_display_position,
)
from demo_support import simulated_clicks

from kpcal_core import sentences, workflows
from kpcal_core.annotations import save_annotations
from kpcal_core.project import load_project_data, load_working_annotations

_stop_status = workflows.stop_status  # not the counted one of the fixture below


def saved_verdict(project):
    """The fit's stop rule, computed from what is saved on disk."""
    data = load_project_data(project)
    return _stop_status(data, load_working_annotations(project))


@pytest.fixture
def stop_calls(monkeypatch) -> list[int]:
    """Counts the page's calls of workflows.stop_status (the uncached computation)."""
    calls: list[int] = []
    original = workflows.stop_status

    def counted(data, records, population=None, **kwargs):
        calls.append(len(records))
        return original(data, records, population, **kwargs)

    monkeypatch.setattr(workflows, "stop_status", counted)
    return calls


def test_annotate_page_says_when_to_stop_and_computes_it_once_per_change(demo, stop_calls):
    samples = draw_demo_samples(demo)
    annotate_truly(demo, samples[:21])
    before = saved_verdict(demo)
    assert not before.settled and before.more_needed >= 1

    at = open_page(new_app(), ANNOTATE)
    text = page_text(at)
    assert sentences.stop_status_line(before) in [c.value for c in at.caption], text
    assert text.count("more annotation") == 1 and "Settled" not in text
    assert not at.success
    assert len(stop_calls) == 1

    # Next and Previous change no annotation: the status is not computed again.
    check(button(at, "Next").click().run())
    check(button(at, "Previous").click().run())
    assert len(stop_calls) == 1
    assert sentences.stop_status_line(before) in page_text(at)

    # The 22nd annotation, clicked on the page at the sample's truth: settled.
    shown = current_sample(at)
    assert shown["index"] == 22 and shown["completed"] == 21
    click_image(at, *true_display_position(demo, shown))
    assert current_sample(at)["completed"] == 22
    after = saved_verdict(demo)
    assert after.settled and after.n == 22
    assert [s.value for s in at.success] == [sentences.stop_status_line(after)]
    assert at.success[0].value.startswith("Settled: the line is trusted — you can stop")
    assert len(stop_calls) == 2
    check(button(at, "Next").click().run())
    assert len(stop_calls) == 2 and at.success[0].value == sentences.stop_status_line(after)

    # Clear takes it back below the run of 3; the fit page agrees with either verdict.
    check(button(at, "Previous").click().run())
    check(button(at, "Clear").click().run())
    assert len(stop_calls) == 3 and not at.success
    assert sentences.stop_status_line(saved_verdict(demo)) in page_text(at)
    # Next and Previous again: no change, no computation.
    check(button(at, "Next").click().run())
    check(button(at, "Previous").click().run())
    assert len(stop_calls) == 3
    click_image(at, *true_display_position(demo, current_sample(at)))
    assert len(stop_calls) == 4  # the annotations' order changed: the last 3 are others
    assert [s.value for s in at.success] == [sentences.stop_status_line(saved_verdict(demo))]
    at = open_page(at, FIT)
    settled = [s.value for s in at.success if s.value.startswith("Settled")]
    assert len(settled) == 1 and settled[0] == sentences.stop_statement(saved_verdict(demo))


def test_stop_status_line_says_how_many_more_or_that_more_will_not_help(demo):
    data = load_project_data(demo)
    none_yet = workflows.stop_status(data, {})
    assert sentences.stop_status_line(none_yet) == (
        f"About {none_yet.more_needed} more annotations needed (0 so far). No drawn sample "
        f"is left: draw {none_yet.more_needed} more samples."
    )
    samples = draw_demo_samples(demo)
    annotate_truly(demo, samples[:21])
    check19 = workflows.stop_status(data, load_working_annotations(demo))
    line = sentences.stop_status_line(check19)
    assert line.startswith(f"About {check19.more_needed} more annotation")
    assert f"±{check19.rms_half_width:.3f}" in line and "target ≤ 0.073" in line

    # Clicks whose error grows with confidence: the slope is precisely not negative.
    def network_plus(key, a):
        k = data.bodyparts.index(key[2])
        x, y = data.coordinates[key[0]][key[1], k]
        c = float(data.confidences[key[0]][key[1], k])
        return type(a)(float(x) + 50 * c, float(y), a.annotator, a.annotated_at)

    flipped = {key: network_plus(key, a) for key, a in load_working_annotations(demo).items()}
    verdict = workflows.stop_status(data, flipped)
    assert verdict.more_needed is None and not verdict.settled
    assert sentences.stop_status_line(verdict).endswith(
        "more annotations will not change that: see the fit page."
    )


@pytest.mark.parametrize("n", [3, 25])
def test_clicks_exactly_on_the_networks_positions_give_a_verdict_on_both_pages(demo, n):
    """Every error 0 (a person agreeing with every prediction): the line is flat with no
    spread. The stop status once ended there in a ZeroDivisionError (Streamlit's error box)."""
    data = load_project_data(demo)
    keys = draw_demo_samples(demo)[:n]
    clicks = simulated_clicks(
        data, keys, np.random.default_rng(0), slope=0.0, intercept=0.0, noise=0.0
    )
    assert all(
        np.allclose([a.x, a.y], data.coordinates[r][f, data.bodyparts.index(b)])
        for (r, f, b), a in clicks.items()
    )
    save_annotations(demo, clicks, data.video_frame_indexes)
    at = open_page(new_app(), ANNOTATE)
    assert "Settled" not in page_text(at)
    at = open_page(at, FIT)
    assert "Settled" not in page_text(at)
