"""The setup page says what it shows (issue 21): the histogram, the counts right after
sampling, the front/back question, the recordings table, a real button to annotate,
counts of one in the singular. Run headless with AppTest on copies of the demo project."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st
from apptest_support import (
    FIT,
    SETUP,
    annotate_truly,
    button,
    chart_bars,
    chart_sample_counts,
    check,
    draw_demo_samples,
    new_app,
    open_page,
    page_text,
    set_up_project,
    shown,
    widget,
)

from kpcal_app import panels
from kpcal_core import workflows
from kpcal_core.annotations import NOT_VISIBLE, Annotation, save_annotations
from kpcal_core.config import load_config
from kpcal_core.demo import write_deeplabcut_csv
from kpcal_core.project import load_project_data

OLD_QUESTION = "The bodypart names do not say which are front and back"


def test_keypoints_without_a_position_get_no_bar(demo):
    """A keypoint with a confidence (0) but no position is counted in the caption, and
    drawn nowhere: before, it made a bar at log10(0 + 0.001) = -3.0."""
    data = load_project_data(demo)
    recording = next(iter(data.coordinates))
    coordinates = np.array(data.coordinates[recording])
    confidences = np.array(data.confidences[recording])
    coordinates[:50, 0] = np.nan  # the nose lost in 50 frames, with likelihood 0
    confidences[:50, 0] = 0.0
    write_deeplabcut_csv(
        demo / "keypoints" / f"{recording}.csv", coordinates, confidences, data.bodyparts
    )
    after = load_project_data(demo)
    positioned = sum(int((~missing).sum()) for missing in after.missing.values())
    at = open_page(new_app(), SETUP)
    bars = chart_bars(at)
    assert int(bars["keypoints"].sum()) == positioned  # the 50 are in no bar
    assert bars[bars["start"] < -2.95]["keypoints"].sum() == 0  # nothing at -3.0
    assert "50 keypoints have a confidence but no position: not shown, never sampled." in (
        " ".join(shown(at.caption))
    )


def test_the_sample_counts_show_as_soon_as_samples_are_drawn(demo, monkeypatch):
    """The histogram's counts are those of the new samples while the frames are still
    being decoded (here the run ends before the decoding does, as when the page is
    left): before, they stayed 0 until the decoding had finished."""
    monkeypatch.setattr(panels, "frame_fill_progress", lambda *args, **kwargs: st.stop())
    at = open_page(new_app(), SETUP)
    assert sum(chart_sample_counts(at)) == 0
    check(button(at, "Sample frames").click().run())
    assert "drew 100 new; 100 samples in all" in page_text(at)
    assert sum(chart_sample_counts(at)) == 100


def write_keypoints(folder, bodyparts: list[str], n_frames: int = 30) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir()
    coordinates = rng.uniform(10, 90, size=(n_frames, len(bodyparts), 2))
    confidences = rng.uniform(0.01, 1.0, size=(n_frames, len(bodyparts)))
    write_deeplabcut_csv(folder / "fly1DLC_x.csv", coordinates, confidences, bodyparts)


def test_the_front_and_back_question_says_what_the_names_tell(tmp_path):
    """Names with a head but no tail: the page says the front is known and asks for the
    back only, opens the form, and says nothing more once the back is chosen."""
    write_keypoints(tmp_path / "kp", ["head", "thorax", "wing"])
    at = open_page(new_app(), SETUP)
    project = set_up_project(at, tmp_path / "project", str(tmp_path / "kp"))
    warnings = " ".join(shown(at.warning))
    assert "say which is the front ('head') but not which is the back" in warnings, warnings
    assert "config.yml has 'wing' as the back for now" in warnings
    assert OLD_QUESTION not in warnings
    form = next(e for e in at.expander if e.label.startswith("Front and back bodyparts"))
    assert form.proto.expanded
    widget(at.multiselect, "Back").set_value(["thorax"])
    check(button(at, "Save to config.yml").click().run())
    assert load_config(project)["posterior_bodyparts"] == ["thorax"]
    assert "which is the back" not in " ".join(shown(at.warning))


def test_no_front_and_back_question_once_they_are_chosen_or_when_the_names_say(tmp_path):
    write_keypoints(tmp_path / "kp", ["head", "thorax", "wing"])
    at = open_page(new_app(), SETUP)
    project = set_up_project(at, tmp_path / "project", str(tmp_path / "kp"))
    assert "which is the back" in " ".join(shown(at.warning))
    workflows.set_anatomy(project, ["head"], ["wing", "thorax"])  # e.g. by the command line
    check(at.run())
    assert "which is the back" not in " ".join(shown(at.warning)), page_text(at)

    write_keypoints(tmp_path / "kp2", ["nose", "ear", "tail_base"])
    at = open_page(new_app(), SETUP)
    set_up_project(at, tmp_path / "project2", str(tmp_path / "kp2"))
    warnings = " ".join(shown(at.warning))
    assert "front" not in warnings and OLD_QUESTION not in warnings, warnings


def test_the_recordings_table_fits_and_a_detail_row_holds_the_rest(demo):
    """Short columns (the video's file name, no reason: nothing cut at 1280 pixels), and
    one recording's full video path and reason as text under the table."""
    (demo / "videos" / "mouse2.mp4").rename(demo / "videos" / "elsewhere.mkv")
    at = open_page(new_app(), SETUP)
    grid = at.dataframe[0]
    assert list(grid.proto.column_order) == [
        "status",
        "recording",
        "video",
        "video_frames",
        "keypoint_frames",
    ]
    assert sum(column["width"] for column in panels.RECORDING_COLUMNS.values()) <= 818
    assert set(grid.value["video"]) == {"mouse1.mp4", "–"}
    details = widget(at.selectbox, "Details of recording")
    problem = load_project_data(demo)
    report = workflows.recordings_report(problem)
    missing = report[report["status"] != "ok"].iloc[0]
    assert details.format_func(details.value) == missing["recording"]  # the problem first
    text = " ".join(shown(at.caption)).replace("**", "")
    assert "no video · video: none" in text and missing["reason"] in text
    ok = report[report["status"] == "ok"].iloc[0]
    check(details.set_value(list(report["recording"]).index(ok["recording"])).run())
    text = " ".join(shown(at.caption)).replace("**", "")
    assert f"ok · video: `{ok['video']}`" in text and ok["reason"] in text


def test_start_annotating_is_a_button_that_opens_the_annotate_page(demo):
    at = open_page(new_app(), SETUP)
    check(button(at, "Sample frames").click().run())
    start = button(at, "Start annotating")
    assert start.proto.type == "primary"
    at = check(start.click().run())
    assert [t.value for t in at.title] == ["Annotate"]
    # a later visit, frames decoded: the same button (a new session: on Streamlit 1.55 a
    # widget clicked after switching back to the page of an earlier run is not found)
    at = open_page(new_app(), SETUP)
    assert [t.value for t in check(button(at, "Start annotating").click().run()).title] == [
        "Annotate"
    ]


def test_going_back_to_setup_after_start_annotating_stays_there(demo):
    """The button is followed at the top of the setup page (its value read from session
    state): its press must not follow the user back to the setup page later."""
    at = open_page(new_app(), SETUP)
    check(button(at, "Sample frames").click().run())
    at = check(button(at, "Start annotating").click().run())
    assert [t.value for t in at.title] == ["Annotate"]
    at = open_page(at, SETUP)
    assert [t.value for t in at.title] == ["Set up & sample"]
    assert [t.value for t in check(at.run()).title] == ["Set up & sample"]


def test_counts_of_one_are_singular(demo):
    """ "1 of 2 recordings needs attention", "1 sample marked not visible"."""
    keys = draw_demo_samples(demo)
    records = {
        k: Annotation(*xy, "tester", "2025-01-01")
        for k, xy in annotate_truly(demo, keys[:25]).items()
    }
    records[keys[30]] = Annotation(math.nan, math.nan, "tester", "2025-01-01", NOT_VISIBLE)
    save_annotations(demo, records, load_project_data(demo).video_frame_indexes)
    at = open_page(new_app(), FIT)
    assert "1 sample marked not visible: kept in the CSV" in page_text(at)
    (demo / "videos" / "mouse2.mp4").rename(demo / "videos" / "elsewhere.mkv")
    at = open_page(at, SETUP)
    assert "1 of 2 recordings needs attention:" in shown(at.warning), page_text(at)
