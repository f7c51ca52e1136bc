"""Real SLEAP and DeepLabCut outputs set up from the app, as a new user would (../shared/data).

The keypoint files are typed into the setup page; nothing is renamed or
copied: the SLEAP file's own video is found beside it, DeepLabCut's .h5 and
filtered .csv of one video give one recording.
"""

from __future__ import annotations

import pytest
import yaml
from apptest_support import (
    ANNOTATE,
    SETUP,
    button,
    check,
    current_sample,
    errors,
    new_app,
    open_page,
    page_text,
    set_up_project,
    shown,
    widget,
)
from demo_support import (
    REAL_PROJECTS,
    assert_followable,
    real_project_with_samples,
    simulated_clicks,
)

from kpcal_core.session import load_session


def set_up(at, tmp_path, keypoints: str, video_dir: str = ""):
    return set_up_project(at, tmp_path / "project", keypoints, video_dir)


def test_sleap_centered_pair_from_the_setup_page(shared_data, tmp_path):
    folder = shared_data / "sleap_centered_pair"
    at = open_page(new_app(), SETUP)
    project = set_up(at, tmp_path, str(folder / "centered_pair_predictions.slp"))

    table = at.dataframe[0].value
    assert len(table) == 27 and (table["status"] == "ok").all(), table
    assert set(table["rule"]) == {"stored name beside keypoint file"}
    config = yaml.safe_load((project / "config.yml").read_text())
    assert len(config["skeleton"]) == 23  # taken from the .slp
    assert (config["anterior_bodyparts"], config["posterior_bodyparts"]) == (["head"], ["abdomen"])
    captions = " ".join(shown(at.caption))
    assert "have a confidence but no position: not shown, never sampled" in captions

    widget(at.number_input, "num_samples").set_value(30)
    check(button(at, "Sample frames").click().run())
    message = " ".join(shown(at.success))
    assert "Asked for 30 samples: kept 0 already annotated, drew 30 new" in message, page_text(at)
    assert len(load_session(project).sample_keys) == 30

    at = open_page(at, ANNOTATE)
    assert not errors(at), page_text(at)
    assert current_sample(at)["index"] == 1
    assert any(e for e in at.main if getattr(e, "type", None) == "component_instance")


def test_deeplabcut_h5_and_filtered_csv_of_one_video_are_one_recording(shared_data, tmp_path):
    folder = shared_data / "dlc_tiny"
    at = open_page(new_app(), SETUP)
    set_up(at, tmp_path, str(folder), str(folder))
    warnings = " ".join(shown(at.warning))
    assert "filtered.csv" in warnings, page_text(at)  # the left-out duplicate is named
    assert "shuffle1_10.h5 is loaded (one file per video, the unfiltered output" in warnings
    assert "duplicates=" not in warnings  # in words, not the setting's code value
    table = at.dataframe[0].value
    assert len(table) == 1 and table["status"].iloc[0] == "ok", table
    assert table["recording"].iloc[0].endswith("shuffle1_10")

    check(button(at, "Sample frames").click().run())
    message = " ".join(shown(at.success))
    # 12 frames x 4 bodyparts: fewer keypoints than asked, and the message says so
    assert "Asked for 100 samples" in message and "could be drawn" in message, message


def test_fit_page_on_a_real_project_says_how_many_samples_to_draw_and_draws_them(
    shared_data, tmp_path, monkeypatch
):
    """Issue 20: the flies after 30 annotations of 40 drawn samples. The fit page says how
    many more samples to draw (the drawn ones cannot be enough) and its button draws them
    with the same order and seed, keeping every annotation; the annotate page says so too."""
    import numpy as np
    from apptest_support import FIT

    from kpcal_core import sentences, workflows
    from kpcal_core.annotations import save_annotations
    from kpcal_core.project import load_working_annotations

    folder = shared_data / "sleap_flies_clip"
    project = tmp_path / "flies"
    workflows.choose_sources(
        project,
        workflows.Sources(str(folder / "clip.predictions.slp"), video_dir=str(folder)),
        create=True,
    )
    data = workflows.open_project(project)
    drawn = workflows.draw_samples(data, num_samples=40, seed=3).sample_keys
    records = simulated_clicks(data, drawn[:30], np.random.default_rng(1))
    save_annotations(project, records, data.video_frame_indexes)
    check_ = workflows.stop_status(
        workflows.open_project(project), load_working_annotations(project)
    )
    assert not check_.settled and check_.draw_more > 0

    monkeypatch.setenv("KPCAL_PROJECT", str(project))
    at = open_page(new_app(), FIT)
    statement = sentences.stop_statement(check_)
    assert statement in [w.value for w in at.warning], page_text(at)
    label = f"Draw {check_.draw_more:,} more samples"
    check(button(at, label).click().run())
    assert not errors(at), page_text(at)
    session = load_session(project)
    assert len(session.sample_keys) == 40 + check_.draw_more
    assert session.sample_keys[:40] == drawn and session.seed == 3
    assert load_working_annotations(project) == load_working_annotations(project) | records
    assert set(load_working_annotations(project)) == set(records)
    message = " ".join(shown(at.success))
    assert f"kept 30 already annotated, drew {10 + check_.draw_more} new" in message, message

    # the annotate page counts the new samples (the projection moves with their confidences)
    at = open_page(at, ANNOTATE)
    after = workflows.stop_status(
        workflows.open_project(project), load_working_annotations(project)
    )
    assert after.samples_left == 10 + check_.draw_more
    assert after.draw_more < check_.draw_more
    assert sentences.stop_status_line(after) in page_text(at)


def test_sleap_flies_clip_from_the_setup_page(shared_data, tmp_path):
    """The flies clip (25 fps; bodyparts head and thorax): config.yml gets its fps, and the
    page asks only for the back, the front being the head."""
    slp = shared_data / "sleap_flies_clip" / "clip.predictions.slp"
    at = open_page(new_app(), SETUP)
    project = set_up(at, tmp_path, str(slp))
    config = yaml.safe_load((project / "config.yml").read_text())
    assert config["fps"] == 25 and config["anterior_bodyparts"] == ["head"]
    warnings = " ".join(shown(at.warning))
    assert "The bodypart names say which is the front ('head') but not which is the back" in (
        warnings
    )
    assert "do not say which are front and back" not in warnings
    table = at.dataframe[0].value
    assert (table["status"] == "ok").all() and list(table["video"]) == ["clip.mp4"] * len(table)


@pytest.mark.parametrize("name", sorted(REAL_PROJECTS))
def test_fit_page_on_each_real_project_settles_or_says_how_many_samples_to_draw(
    shared_data, tmp_path, monkeypatch, name
):
    """Issue 20, on every project of ../shared/data with 30 annotations simulated from a
    known line: the fit page states the stop rule's verdict (the same as ``kpcal fit``'s),
    which settles within the drawn samples or says how many more to annotate among them or
    exactly how many more samples to draw (with the button that draws them), or that the
    project has too few keypoints; no number it asks for exceeds the keypoints it has."""
    import io
    import json
    import re

    import numpy as np
    from apptest_support import FIT

    from kpcal_core import cli, sentences, workflows
    from kpcal_core.annotations import save_annotations
    from kpcal_core.project import load_working_annotations

    project, data, drawn = real_project_with_samples(shared_data, tmp_path, name)
    records = simulated_clicks(data, drawn[:30], np.random.default_rng(0))
    save_annotations(project, records, data.video_frame_indexes)
    stop = workflows.stop_status(workflows.open_project(project), load_working_annotations(project))
    statement = sentences.stop_statement(stop)
    assert_followable(stop, statement)

    monkeypatch.setenv("KPCAL_PROJECT", str(project))
    at = open_page(new_app(), FIT)
    assert not errors(at), page_text(at)
    shown_there = [w.value for w in (at.success if stop.settled else at.warning)]
    assert statement in shown_there, page_text(at)
    text = page_text(at)
    if stop.blocker == "too-few-keypoints":  # says what it would take, and that it cannot
        assert "this project cannot reach the targets (too few keypoints)" in text, text
    else:
        for asked in re.findall(r"about ([\d,]+) more", text):
            assert int(asked.replace(",", "")) <= stop.candidates, text
    draw_labels = [b.label for b in at.button if b.label.startswith("Draw ")]
    if stop.draw_more:
        assert draw_labels == [f"Draw {stop.draw_more:,} more samples"], draw_labels
    else:
        assert draw_labels == [], draw_labels

    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["fit", str(project), "--json", "--bootstrap", "20"], out, err) == 0
    summary = json.loads(out.getvalue())
    assert (summary["settled"], summary["stop_rule"]["draw_more"]) == (stop.settled, stop.draw_more)
    assert load_working_annotations(project) == records  # nothing lost by looking
