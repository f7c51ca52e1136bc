"""The three pages of the app, run headless with ``streamlit.testing.v1.AppTest``.

Every test works on its own copy of the demo project (known ground truth) and
points ``KPCAL_DEMO_DIR`` / ``KPCAL_STATE_DIR`` at temporary folders. After
every run the test checks that nothing was shown as a traceback
(``at.exception`` is empty): bad input must come out as ``st.error``.

Clicks on the annotate image (a custom component AppTest cannot click) are
simulated by sending the component's value, ``{x, y, width, height}`` in
display pixels, exactly as its frontend does; that runs the page's own click
handler. The real click is covered by ``test_browser_e2e.py`` and, at three window
sizes, ``test_browser_app.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from apptest_support import (
    ANNOTATE,
    FIT,
    SETUP,
    annotate_truly,
    button,
    chart_sample_counts,
    check,
    click_image,
    current_sample,
    draft_keys,
    draw_demo_samples,
    errors,
    image_component,
    image_view,
    new_app,
    open_page,
    page_text,
    shown,
    true_display_position,
    widget,
)
from demo_support import annotate_from_line, slp_project
from streamlit.testing.v1 import AppTest

from kpcal_app.text import code
from kpcal_core import (
    fit_error_model,
    load_annotations,
    noise_calibration,
)
from kpcal_core.annotations import save_annotations
from kpcal_core.config import setup_project
from kpcal_core.demo import (
    DEMO_BODYPARTS,
    DEMO_SKELETON,
    load_ground_truth,
    make_demo_project,
)
from kpcal_core.keypoints import load_keypoints
from kpcal_core.planning import plan_annotation_order
from kpcal_core.project import load_project_data
from kpcal_core.session import load_session

ANNOTATE_BUTTONS = ["Previous", "Next", "Next unannotated", "Clear"]
BROKEN_YAML = "bodyparts: [nose, tail\nuse_bodyparts: {: oops\n"


# --------------------------------------------------------------------------- setup page


def test_every_page_opened_by_its_address_runs_inside_the_app(demo):
    """Each AppTest run starts in Streamlit's folder-based navigation (a ``pages/`` folder
    stands beside app.py): a page opened by its address still shows app.py's frame, and a
    button pressed in that run still counts."""
    draw_demo_samples(demo)
    at = new_app()
    for page, title in ((SETUP, "Set up & sample"), (FIT, "Fit & save"), (ANNOTATE, "Annotate")):
        at = open_page(at, page)
        assert [t.value for t in at.title] == [title]
        assert f"Project: `{demo.resolve()}`" in [c.value for c in at.sidebar.caption], page
        assert widget(at.sidebar.text_input, "Annotator")
    check(button(at, "Next").click().run())  # a click in a run that started page-first
    assert current_sample(at)["index"] == 2


def test_setup_page_widgets_on_a_fresh_demo(tmp_path, monkeypatch):
    demo_dir = tmp_path / "fresh-demo"  # the app writes the demo project on first use
    monkeypatch.setenv("KPCAL_DEMO_DIR", str(demo_dir))
    at = check(new_app().run())
    assert [t.value for t in at.title] == ["Set up & sample"]  # no samples: root shows setup
    assert (demo_dir / "config.yml").exists()
    assert f"Project: `{demo_dir.resolve()}`" in [c.value for c in at.sidebar.caption]

    load = button(at, "Load keypoints")
    assert load.proto.form_id == "sources" and load.proto.is_form_submitter
    keypoints = widget(at.text_input, "Keypoint files (file, folder or glob)")
    assert keypoints.proto.form_id == "sources" and keypoints.value == "keypoints"
    assert widget(at.text_input, "Video folder").value == "videos"
    assert not button(at, "Sample frames").disabled
    assert widget(at.text_input, "seed (empty: random)").value == "0"

    use = widget(at.multiselect, "Bodyparts to calibrate (use_bodyparts)")
    assert use.value == DEMO_BODYPARTS and list(use.options) == DEMO_BODYPARTS

    assert len(at.dataframe) == 1
    table = at.dataframe[0].value
    truth = load_ground_truth(demo_dir)["true_coordinates"]
    assert sorted(table["recording"]) == sorted(truth)
    assert (table["status"] == "ok").all(), table
    assert not errors(at) and not at.warning


def test_setup_page_says_how_many_human_labels_are_left_out(tmp_path, monkeypatch):
    """A SLEAP project holding a person's labels (13 points, issue 20): the setup page says
    they are never sampled, and "Sample frames" draws every prediction and none of them."""
    project = slp_project(tmp_path / "slp", 2, 12, {0: [0], 1: [0, 1], 2: [1], 7: [0]})
    monkeypatch.setenv("KPCAL_PROJECT", str(project))
    at = open_page(new_app(), SETUP)
    captions = " ".join(shown(at.caption))
    assert "13 keypoints were labelled by a person (SLEAP user instances)" in captions
    widget(at.number_input, "num_samples").set_value(200)
    check(button(at, "Sample frames").click().run())
    message = " ".join(shown(at.success))
    assert "13 keypoints labelled by a person (SLEAP user instances) are never drawn" in message
    data = load_project_data(project)
    for recording, frame, bodypart in load_session(project).sample_keys:
        assert not data.labelled[recording][frame, data.bodyparts.index(bodypart)]


def test_missing_keypoints_path_in_the_setup_form_is_an_error(demo):
    at = open_page(new_app(), SETUP)
    widget(at.text_input, "Keypoint files (file, folder or glob)").input("no/such/keypoints")
    check(button(at, "Load keypoints").click().run())
    shown = errors(at)
    assert shown and any("no/such/keypoints" in e for e in shown), shown
    # Nothing was saved: the working path stays, the other pages keep working.
    assert load_session(demo).keypoints_path == "keypoints"
    button(at, "Load keypoints")
    assert widget(at.multiselect, "Bodyparts to calibrate (use_bodyparts)").value == DEMO_BODYPARTS
    at = open_page(at, FIT)
    assert not errors(at), page_text(at)


def test_sampling_draws_the_seeded_samples_and_keeps_annotated_ones(demo):
    at = open_page(new_app(), SETUP)
    assert sum(chart_sample_counts(at)) == 0
    check(button(at, "Sample frames").click().run())
    message = "Asked for 100 samples: kept 0 already annotated, drew 100 new; 100 samples in all"
    assert any(message in s for s in shown(at.success)), page_text(at)
    assert sum(chart_sample_counts(at)) == 100  # the histogram shows the new samples at once
    first = load_session(demo).sample_keys
    data = load_project_data(demo)
    assert len(first) == 100 and first == plan_annotation_order(
        data.confidences,
        data.bodyparts,
        DEMO_BODYPARTS,
        10,
        100,
        1e-3,
        coordinates=data.coordinates,
        seed=0,
    )

    annotated = [first[5], first[40], first[77]]
    annotate_truly(demo, annotated)
    widget(at.text_input, "seed (empty: random)").input("7")
    check(button(at, "Sample frames").click().run())
    message = "Asked for 100 samples: kept 3 already annotated, drew 97 new; 100 samples in all"
    assert any(message in s for s in shown(at.success)), page_text(at)
    again = load_session(demo).sample_keys
    assert set(annotated) <= set(again) and len(again) == 100
    assert set(again[:3]) == set(annotated)  # annotated samples come first
    assert again != first and len(set(again)) == len(again)

    at = open_page(at, ANNOTATE)
    assert current_sample(at)["completed"] == 3
    assert "3 of these samples done" in page_text(at)


def test_sampling_leaves_out_a_recording_without_video_and_says_so(demo):
    (demo / "videos" / "mouse2.mp4").rename(demo / "videos" / "elsewhere.mkv")
    at = open_page(new_app(), SETUP)
    assert at.warning, "the recordings table should flag the recording without video"
    table = at.dataframe[0].value
    assert (table["status"] != "ok").sum() == 1
    missing = table[table["status"] == "no video"].iloc[0]
    assert missing["video"] == "–" and missing["video_frames"] == "–"  # blanks, not "None"
    assert any(missing["reason"] in m for m in shown(at.markdown))  # the whole reason, wrapped
    check(button(at, "Sample frames").click().run())
    success = " ".join(shown(at.success))
    mouse2 = "mouse2DLC_resnet50_demoNov24shuffle1_100000"
    assert "Left out 1 recording with 1,200 keypoints" in success, page_text(at)
    assert f"'{mouse2}' (no video)" in success, page_text(at)
    samples = load_session(demo).sample_keys
    assert len(samples) == 100 and all(key[0] != mouse2 for key in samples)


# --------------------------------------------------------------------------- annotate page


def test_annotate_widgets_and_the_sample_survive_reruns_and_page_switches(demo):
    at = open_page(new_app(), SETUP)
    check(button(at, "Sample frames").click().run())
    at = open_page(at, ANNOTATE)
    labels = [b.label for b in at.button]
    assert [label for label in labels if label in ANNOTATE_BUTTONS] == ANNOTATE_BUTTONS, labels
    assert button(at, "Previous").disabled and button(at, "Clear").disabled
    shown = current_sample(at)
    assert (shown["index"], shown["n"], shown["completed"]) == (1, 100, 0)
    assert "Completed annotations = 0" in page_text(at)
    image_component(at)

    check(button(at, "Next").click().run())
    check(button(at, "Next").click().run())
    assert current_sample(at)["index"] == 3
    assert re.search(r"^Sample 3 of 100", page_text(at), re.MULTILINE)
    assert at.query_params.get("sample") in ("3", ["3"])

    check(at.run())
    assert current_sample(at)["index"] == 3
    at = open_page(at, FIT)
    assert [t.value for t in at.title] == ["Fit & save"]
    at = open_page(at, ANNOTATE)
    assert current_sample(at)["index"] == 3

    check(button(at, "Previous").click().run())
    assert current_sample(at)["index"] == 2


def test_a_click_annotates_the_sample_it_was_made_on(demo):
    samples = draw_demo_samples(demo)
    at = check(new_app().run())
    assert [t.value for t in at.title] == ["Annotate"]  # samples ready: root opens annotate
    truth = load_ground_truth(demo)["true_coordinates"]

    first = current_sample(at)
    assert first["index"] == 1
    key1 = (first["recording"], first["frame"], first["bodypart"])
    assert key1 == samples[0]
    click_image(at, *true_display_position(demo, first), shown=840)  # a large window
    assert current_sample(at)["completed"] == 1
    assert not button(at, "Clear").disabled
    saved = draft_keys(demo)
    assert list(saved) == [key1]
    true_xy = truth[key1[0]][key1[1], DEMO_BODYPARTS.index(key1[2])]
    assert np.hypot(*(np.array(saved[key1].xy) - true_xy)) < 1.0
    assert not (demo / "error_annotations.csv").exists()
    assert "19 more to go" in page_text(at)

    # A click and "Next" in one rerun (the click's round trip had not come back
    # when Next was pressed): the click still belongs to sample 2.
    check(button(at, "Next").click().run())
    second = current_sample(at)
    key2 = (second["recording"], second["frame"], second["bodypart"])
    assert second["index"] == 2 and key2 == samples[1]
    click_image(at, *true_display_position(demo, second), shown=350, also_click="Next")
    third = current_sample(at)
    assert third["index"] == 3 and third["completed"] == 2
    saved = draft_keys(demo)
    assert set(saved) == {key1, key2} and samples[2] not in saved
    assert saved[key1].xy == draft_keys(demo)[key1].xy
    true_xy = truth[key2[0]][key2[1], DEMO_BODYPARTS.index(key2[2])]
    assert np.hypot(*(np.array(saved[key2].xy) - true_xy)) < 1.0

    # Clear removes the annotation of the sample shown, and only that one.
    check(button(at, "Previous").click().run())
    check(button(at, "Clear").click().run())
    assert current_sample(at)["completed"] == 1
    reloaded = new_app()
    reloaded.query_params["sample"] = "2"
    check(reloaded.run())
    assert current_sample(reloaded)["completed"] == 1


def test_a_late_click_goes_to_the_image_it_was_made_on_and_an_unknown_one_is_refused(demo):
    """One click view serves every sample: each click names the view of the image clicked."""
    samples = draw_demo_samples(demo)
    at = check(new_app().run())
    first = current_sample(at)
    first_view = image_view(at)
    check(button(at, "Next").click().run())
    assert image_view(at) != first_view  # another sample: another view
    # The click was made on sample 1's image before sample 2's arrived in the browser.
    click_image(at, *true_display_position(demo, first), view=first_view)
    saved = draft_keys(demo)
    assert list(saved) == [samples[0]]  # not sample 2, shown now
    truth = load_ground_truth(demo)["true_coordinates"]
    true_xy = truth[samples[0][0]][samples[0][1], DEMO_BODYPARTS.index(samples[0][2])]
    assert np.hypot(*(np.array(saved[samples[0]].xy) - true_xy)) < 1.0
    assert current_sample(at)["index"] == 2
    # A view this session never showed (or showed too long ago): nothing is saved.
    click_image(at, 280, 280, view="elsewhere/0/nose@1")
    assert list(draft_keys(demo)) == [samples[0]]
    assert "no longer shown: not saved" in page_text(at)


def test_a_sample_whose_recording_has_no_video_is_an_error(demo):
    samples = draw_demo_samples(demo)
    recording = samples[0][0]
    video = next((demo / "videos").glob(f"{recording.split('DLC')[0]}.mp4"))
    video.rename(demo / "videos" / "moved-away.bin")
    at = check(new_app().run())
    assert [t.value for t in at.title] == ["Annotate"]
    assert any("has no video" in e for e in errors(at)), page_text(at)
    # The other recording's samples can still be annotated.
    index = next(i for i, k in enumerate(samples) if k[0] != recording)
    for _ in range(index):
        check(button(at, "Next").click().run())
    assert not errors(at)
    assert current_sample(at)["recording"] != recording
    image_component(at)


# --------------------------------------------------------------------------- fit page


def test_fit_page_shows_and_saves_the_fit_of_saved_annotations(demo):
    samples = draw_demo_samples(demo)
    annotations = annotate_truly(demo, samples[:40])
    at = open_page(new_app(), FIT)
    text = page_text(at)
    assert "slope" in text and "intercept" in text
    found = re.search(r"slope = (-?[\d.]+) · intercept = (-?[\d.]+) · .* n = (\d+)", text)
    assert found, text
    data = load_project_data(demo)
    fit = fit_error_model(data.coordinates, data.confidences, annotations, data.bodyparts, 1e-3)
    assert float(found[1]) == pytest.approx(fit["slope"], abs=1e-4)
    assert float(found[2]) == pytest.approx(fit["intercept"], abs=1e-4)
    assert int(found[3]) == 40
    assert abs(fit["slope"] - (-0.55)) < 0.1 and abs(fit["intercept"] - 0.2) < 0.15

    check(button(at, "Save to config.yml").click().run())
    assert at.success, page_text(at)
    config = yaml.safe_load((demo / "config.yml").read_text())
    assert config["error_estimator"]["slope"] == pytest.approx(fit["slope"], abs=1e-9)
    assert config["error_estimator"]["intercept"] == pytest.approx(fit["intercept"], abs=1e-9)
    assert load_annotations(demo) == annotations


def test_fit_page_shows_what_the_calibration_does_to_the_model(demo):
    samples = draw_demo_samples(demo)
    annotate_truly(demo, samples[:30])
    at = open_page(new_app(), FIT)
    assert [h.value for h in at.subheader] == ["What this calibration does to your model"]
    text = page_text(at)
    assert "with keypoint-MoSeq's default line (slope -0.5, intercept 0.25)" in text
    assert "3,159 px²" in text  # s0 of a keypoint with no position under the default line
    assert "config.yml still holds keypoint-MoSeq's default line" in text
    table = [d.value for d in at.dataframe if "s0 median (px²)" in d.value.columns]
    assert len(table) == 1 and list(table[0]["bodypart"]) == DEMO_BODYPARTS
    assert not [w.value for w in at.warning], page_text(at)  # a decreasing line: no warning
    # the per-bodypart tab: each bodypart's own line, and why (the sentences' words)
    (own,) = [d.value for d in at.dataframe if "reason" in d.value.columns]
    assert list(own.columns) == [
        *("bodypart", "n", "slope", "intercept", "slope_low", "slope_high"),
        *("intercept_low", "intercept_high", "differs", "reason"),
    ]
    assert sorted(own["bodypart"]) == sorted(DEMO_BODYPARTS)
    for row in own.itertuples():
        judged = f"its 95% intervals {'do not overlap' if row.differs else 'overlap'} those of the "
        assert row.reason.startswith(judged) or row.reason.endswith(
            "too few for a line of its own (need 5)"
        ), row


def test_fit_page_warns_of_a_positive_slope_and_saves_it_only_when_confirmed(demo):
    samples = draw_demo_samples(demo)
    data = load_project_data(demo)
    rising = annotate_from_line(data, samples[:25], 0.5, 0.6, noise_sd=0.05)
    save_annotations(demo, rising, data.video_frame_indexes)
    before = yaml.safe_load((demo / "config.yml").read_text())["error_estimator"]
    at = open_page(new_app(), FIT)
    warning = " ".join(shown(at.warning))
    assert "is positive" in warning and "Autosave does not write it" in warning, page_text(at)
    assert button(at, "Save to config.yml").disabled
    confirm = widget(at.checkbox, "Write this line to config.yml anyway")
    check(confirm.check().run())
    assert not button(at, "Save to config.yml").disabled
    assert yaml.safe_load((demo / "config.yml").read_text())["error_estimator"] == before
    check(button(at, "Save to config.yml").click().run())
    assert at.success, page_text(at)
    saved = yaml.safe_load((demo / "config.yml").read_text())["error_estimator"]
    fit = fit_error_model(data.coordinates, data.confidences, rising, data.bodyparts, 1e-3)
    assert saved["slope"] == pytest.approx(fit["slope"]) and fit["slope"] > 0


def test_fit_page_says_when_no_bodypart_has_enough_annotations_for_its_own_line(demo):
    samples = draw_demo_samples(demo)
    few: dict = {}
    for key in samples:
        if sum(k[2] == key[2] for k in few) < 3:
            few[key] = None
    annotate_truly(demo, list(few)[:18])
    at = open_page(new_app(), FIT)
    text = page_text(at)
    assert "No bodypart has enough annotations for its own line" in text, text
    assert "No bodypart's own line differs" not in text


def test_fit_page_without_annotations_says_so(demo):
    at = open_page(new_app(), FIT)
    assert any("No fit yet" in i.value for i in at.info), page_text(at)


# --------------------------------------------------------------------------- broken projects


@pytest.fixture
def broken_project(tmp_path, demo_template) -> Path:
    """A project with samples whose config.yml is not valid YAML."""
    folder = tmp_path / "broken"
    shutil.copytree(demo_template, folder)
    draw_demo_samples(folder)
    (folder / "config.yml").write_text(BROKEN_YAML)
    return folder


def assert_every_page_shows_an_error(at: AppTest) -> None:
    check(at.run())
    assert errors(at), page_text(at)
    for page in (SETUP, ANNOTATE, FIT):
        at = open_page(at, page)
        assert any("config.yml" in e for e in errors(at)), (page, page_text(at))


def test_malformed_config_opened_with_the_environment(broken_project, monkeypatch):
    monkeypatch.setenv("KPCAL_PROJECT", str(broken_project))
    assert_every_page_shows_an_error(new_app())


def test_a_broken_config_names_line_and_column_and_can_be_started_over(
    broken_project, demo_template, monkeypatch
):
    monkeypatch.setenv("KPCAL_PROJECT", str(broken_project))
    shutil.copy(demo_template / "config.yml", broken_project / "config.yml")
    annotate_truly(broken_project, load_session(broken_project).sample_keys[:5])
    (broken_project / "config.yml").write_text(BROKEN_YAML)
    at = open_page(new_app(), ANNOTATE)
    shown = errors(at)
    assert any("line 2, column 14" in e and "'use_bodyparts: {: oops'" in e for e in shown), shown
    check(button(at, "Start config.yml over (keep the broken file as a backup)").click().run())
    backups = list(broken_project.glob("config.yml.broken-*"))
    assert len(backups) == 1 and backups[0].read_text() == BROKEN_YAML
    assert (
        yaml.safe_load((broken_project / "config.yml").read_text())["bodyparts"] == DEMO_BODYPARTS
    )
    at = open_page(at, ANNOTATE)
    assert not errors(at), page_text(at)
    assert current_sample(at)["completed"] == 5  # the annotations were never touched


def test_malformed_config_opened_with_the_url(broken_project, demo):
    at = new_app()
    at.query_params["project"] = str(broken_project)
    assert_every_page_shows_an_error(at)


def test_malformed_config_opened_with_the_project_form(broken_project, demo, tmp_path):
    at = open_page(new_app(), SETUP)
    assert not errors(at)
    widget(at.text_input, "Project folder").input(str(broken_project))
    check(button(at, "Open project").click().run())
    assert any("config.yml" in e for e in errors(at)), page_text(at)
    assert at.session_state["kpcal_project"] == str(broken_project.resolve())
    for page in (ANNOTATE, FIT, SETUP):
        at = open_page(at, page)
        assert any("config.yml" in e for e in errors(at)), (page, page_text(at))
    # A folder that does not exist yet is created only when the user says so, then it is an
    # invitation to load keypoints, not a traceback.
    widget(at.text_input, "Project folder").input(str(tmp_path / "not-yet"))
    check(button(at, "Open project").click().run())
    assert any("does not exist" in w.value for w in at.warning), page_text(at)
    assert not (tmp_path / "not-yet").exists()
    check(button(at, "Create the folder " + code(tmp_path / "not-yet")).click().run())
    assert (tmp_path / "not-yet").is_dir()
    assert any("no config.yml yet" in i.value for i in at.info), page_text(at)
    assert state_recent(tmp_path)[:2] == [str(tmp_path / "not-yet"), str(broken_project)]


def state_recent(tmp_path: Path) -> list[str]:
    path = tmp_path / "state" / "recent.json"
    return json.loads(path.read_text()) if path.exists() else []


# --------------------------------------------------------------------------- notebook projects


@pytest.mark.parametrize("how", ["environment", "command line"])
def test_a_project_prepared_in_a_notebook_opens_on_annotate(how, tmp_path, demo, monkeypatch):
    project = tmp_path / "notebook-project"
    setup_project(project, bodyparts=DEMO_BODYPARTS, skeleton=DEMO_SKELETON)
    coordinates, confidences, bodyparts = load_keypoints(str(demo / "keypoints"), "deeplabcut")
    command = noise_calibration(
        project,
        coordinates,
        confidences,
        bodyparts=bodyparts,
        use_bodyparts=bodyparts,
        video_dir=demo / "videos",
        seed=0,
    )
    assert command.endswith(" app " + str(project.resolve()))  # kpcal app PROJECT
    if how == "environment":
        monkeypatch.setenv("KPCAL_PROJECT", str(project))
    else:
        monkeypatch.setattr(sys, "argv", ["app.py", "--project", str(project)])
    at = check(new_app().run())
    assert [t.value for t in at.title] == ["Annotate"], page_text(at)
    assert not errors(at)
    shown = current_sample(at)
    samples = load_session(project).sample_keys
    assert (shown["index"], shown["n"]) == (1, len(samples)) and len(samples) == 100
    assert (shown["recording"], shown["frame"], shown["bodypart"]) == samples[0]
    assert f"Project: `{project.resolve()}`" in [c.value for c in at.sidebar.caption]
    image_component(at)


def test_the_own_demo_project_opens_under_a_data_root_and_nothing_else_in_the_state_folder(
    tmp_path, demo_template, monkeypatch
):
    """Issue 19, finding 8: "Open the demo project" under KPCAL_DATA_ROOT showed a false
    "outside the data folder" error (the demo lives in the state folder)."""
    root, state = tmp_path / "root", tmp_path / "state"
    inside = root / "p"
    shutil.copytree(demo_template, inside)
    own = state / "demo-project"  # where the server keeps the (not signed-in) user's demo
    shutil.copytree(demo_template, own)
    other = state / "users" / "bob@lab.example-1234abcd" / "demo-project"
    shutil.copytree(demo_template, other)
    monkeypatch.delenv("KPCAL_DEMO_DIR")
    monkeypatch.setenv("KPCAL_DATA_ROOT", str(root))
    monkeypatch.setenv("KPCAL_PROJECT", str(inside))

    def project_caption(app) -> str:
        return next(c.value for c in app.sidebar.caption if c.value.startswith("Project:"))

    at = open_page(new_app(), SETUP)
    assert str(inside.resolve()) in project_caption(at)
    check(button(at, "Open the demo project").click().run())
    assert not errors(at), errors(at)
    assert project_caption(at) == f"Project: `{own.resolve()}`"
    check(widget(at.button, "Load keypoints").click().run())  # its own relative paths: allowed
    assert not errors(at), errors(at)
    assert not [w for w in at.warning if "outside" in w.value]

    link = new_app()  # a link to it works for its owner
    link.query_params["project"] = str(own)
    check(link.run())
    assert not errors(link) and project_caption(link) == f"Project: `{own.resolve()}`"

    for elsewhere in (
        other,
        state,
        state / "users",
        own / "keypoints",
        f"{own}/../demo-project/..",
    ):
        refused = new_app()
        refused.query_params["project"] = str(elsewhere)
        check(refused.run())
        assert any("outside the data folder" in e for e in errors(refused)), (
            elsewhere,
            errors(refused),
        )
        assert str(inside.resolve()) in project_caption(refused)


def test_a_project_in_the_url_outside_the_data_root_is_refused(tmp_path, monkeypatch):
    """On a shared server (KPCAL_DATA_ROOT), ?project= cannot open a folder outside the root."""
    root = tmp_path / "root"
    inside = root / "demo"
    make_demo_project(inside, n_frames=40)
    outside = tmp_path / "elsewhere"
    make_demo_project(outside, n_frames=40)
    monkeypatch.setenv("KPCAL_DATA_ROOT", str(root))
    monkeypatch.setenv("KPCAL_PROJECT", str(inside))
    at = new_app()
    at.query_params["project"] = str(outside / ".." / "elsewhere")
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("outside the data folder" in e for e in errors), errors
    captions = [c.value for c in at.caption if c.value.startswith("Project:")]
    assert captions and str(inside.resolve()) in captions[0], captions  # still the old project
