"""The three pages of the app, run headless with ``streamlit.testing.v1.AppTest``.

Every test works on its own copy of the demo project (known ground truth) and
points ``KPCAL_DEMO_DIR`` / ``KPCAL_STATE_DIR`` at temporary folders. After
every run the test checks that nothing was shown as a traceback
(``at.exception`` is empty): bad input must come out as ``st.error``.

Clicks on the annotate image (a custom component AppTest cannot click) are
simulated by sending the component's value, ``{x, y, width, height}`` in
display pixels, exactly as its frontend does; that runs the page's own click
handler. The real click is covered by ``test_browser_e2e.py``.
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

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from streamlit.runtime.pages_manager import PagesManager  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from kpcal_core import fit_error_model, load_annotations, noise_calibration  # noqa: E402
from kpcal_core.annotations import save_annotations  # noqa: E402
from kpcal_core.config import setup_project  # noqa: E402
from kpcal_core.demo import (  # noqa: E402
    DEMO_BODYPARTS,
    DEMO_SKELETON,
    load_ground_truth,
    make_demo_project,
)
from kpcal_core.keypoints import load_keypoints  # noqa: E402
from kpcal_core.project import draft_path, draw_samples, load_project_data  # noqa: E402
from kpcal_core.session import load_session, save_session  # noqa: E402
from kpcal_core.views import crop_for_sample  # noqa: E402

APP = str(REPO / "app.py")
SETUP, ANNOTATE, FIT = "pages/setup.py", "pages/annotate.py", "pages/fit.py"
ANNOTATE_BUTTONS = ["Previous", "Next", "Next unannotated", "Clear"]
SAMPLE_CAPTION = re.compile(
    r"^Sample (\d+) of (\d+) · recording `([^`]+)` · keypoint frame (\d+)", re.MULTILINE
)
TARGET_LINE = re.compile(r"Target bodypart = (\S+) \| .* Completed annotations = (\d+)")
BROKEN_YAML = "bodyparts: [nose, tail\nuse_bodyparts: {: oops\n"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """One demo project written once; tests work on copies of it."""
    folder = tmp_path_factory.mktemp("demo-template") / "demo"
    make_demo_project(folder)
    return folder


@pytest.fixture(autouse=True)
def app_env(monkeypatch, tmp_path):
    """Temporary demo and state folders, no project from the outside, and AppTest's page mode.

    AppTest resets ``PagesManager.uses_pages_directory`` to ``None`` before
    every run, so with a ``pages/`` folder beside ``app.py`` each run first
    starts in Streamlit's folder-based navigation and the page's
    :func:`kpcal_app.state.ensure_app_navigation` reruns it, which drops button
    clicks. A real server leaves that mode for good on its first request; the
    wrapper below does the same for AppTest.
    """
    monkeypatch.setenv("KPCAL_DEMO_DIR", str(tmp_path / "no-demo-here"))
    monkeypatch.setenv("KPCAL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("KPCAL_PROJECT", raising=False)
    monkeypatch.setattr(sys, "argv", ["streamlit"])
    original_init = PagesManager.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def demo(tmp_path, demo_template, monkeypatch) -> Path:
    """A copy of the demo project, opened by the app as its demo project."""
    folder = tmp_path / "demo"
    shutil.copytree(demo_template, folder)
    monkeypatch.setenv("KPCAL_DEMO_DIR", str(folder))
    return folder


# --------------------------------------------------------------------------- helpers


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def check(at: AppTest) -> AppTest:
    """No traceback on the page."""
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    if not at._finished_page_script_hash:  # switch_page needs the pages of one run
        check(at.run())
    return check(at.switch_page(page).run())


def button(at: AppTest, label: str):
    found = [b for b in at.button if b.label == label]
    assert len(found) == 1, f"{len(found)} buttons {label!r}; have {[b.label for b in at.button]}"
    return found[0]


def widget(elements, label: str):
    found = [w for w in elements if w.label == label]
    assert len(found) == 1, f"no single widget {label!r}; have {[w.label for w in elements]}"
    return found[0]


def page_text(at: AppTest) -> str:
    parts = [e.value for e in at.title]
    for kind in (at.markdown, at.caption, at.error, at.warning, at.info, at.success):
        parts += [str(e.value) for e in kind]
    return "\n".join(parts)


def errors(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.error]


def current_sample(at: AppTest) -> dict:
    """What the annotate page shows: sample index (1-based), recording, frame, bodypart, count."""
    text = page_text(at)
    caption = SAMPLE_CAPTION.search(text)
    target = TARGET_LINE.search(text)
    assert caption and target, text
    return {
        "index": int(caption[1]),
        "n": int(caption[2]),
        "recording": caption[3],
        "frame": int(caption[4]),
        "bodypart": target[1],
        "completed": int(target[2]),
    }


def image_component(at: AppTest):
    found = [
        e
        for e in at.main
        if getattr(e, "type", None) == "component_instance"
        and "streamlit_image_coordinates" in e.proto.component_name
    ]
    assert len(found) == 1, [type(e).__name__ for e in at.main]
    return found[0]


def click_image(at: AppTest, u: float, v: float, *, also_click: str | None = None) -> AppTest:
    """Send what the image component sends on a click at display ``(u, v)``, and rerun.

    ``also_click``: a button clicked before the rerun arrives (both in one rerun).
    """
    component = image_component(at)
    if also_click:
        button(at, also_click).click()
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = component.proto.id
    state.json_value = json.dumps(
        {"x": round(u), "y": round(v), "width": 560, "height": 560, "unix_time": 1}
    )
    return check(at._run(states))


def true_display_position(project: Path, sample: dict) -> tuple[float, float]:
    """Where the true position of the shown sample is in the 560 px image (zoom 1)."""
    data = load_project_data(project)
    truth = load_ground_truth(project)["true_coordinates"]
    k = DEMO_BODYPARTS.index(sample["bodypart"])
    keypoints = data.coordinates[sample["recording"]][sample["frame"]]
    view = crop_for_sample((360, 480), keypoints[k], keypoints, zoom=1.0)
    return view.to_display(*truth[sample["recording"]][sample["frame"], k])


def draw_demo_samples(project: Path, seed: int = 0) -> list[tuple[str, int, str]]:
    """What "Sample frames" stores, without decoding the frames."""
    data = load_project_data(project)
    session = data.session
    session.sample_keys = draw_samples(
        data,
        [],
        use_bodyparts=data.use_bodyparts,
        num_bins=session.num_bins,
        num_samples=session.num_samples,
        conf_pseudocount=session.conf_pseudocount,
        seed=seed,
    )
    session.seed = seed
    save_session(project, session)
    return session.sample_keys


def annotate_truly(project: Path, keys) -> dict:
    """Save annotations of ``keys`` at the demo's true positions (as error_annotations.csv)."""
    truth = load_ground_truth(project)["true_coordinates"]
    data = load_project_data(project)
    annotations = {
        key: tuple(float(c) for c in truth[key[0]][key[1], DEMO_BODYPARTS.index(key[2])])
        for key in keys
    }
    save_annotations(project, annotations, data.video_frame_indexes)
    return annotations


def chart_sample_counts(at: AppTest) -> list[int]:
    """The red per-bin sample counts of the setup page's confidence histogram."""
    import pyarrow as pa

    for element in at.main:
        if getattr(element, "type", None) != "vega_lite_chart":
            continue
        for dataset in element.proto.datasets:
            table = pa.ipc.open_stream(dataset.data.data).read_all().to_pandas()
            if "samples" in table:
                return [int(c) for c in table["samples"]]
    raise AssertionError("no histogram with sample counts on the page")


def draft_keys(project: Path) -> dict:
    from kpcal_core.annotations import parse_annotations

    path = draft_path(project)
    return parse_annotations(path.read_text(), str(path)) if path.exists() else {}


# --------------------------------------------------------------------------- setup page


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
    assert any("Drew 100 samples" in s.value for s in at.success), page_text(at)
    assert sum(chart_sample_counts(at)) == 100  # the histogram shows the new samples at once
    first = load_session(demo).sample_keys
    assert len(first) == 100 and first == draw_samples(
        load_project_data(demo),
        [],
        use_bodyparts=DEMO_BODYPARTS,
        num_bins=10,
        num_samples=100,
        conf_pseudocount=1e-3,
        seed=0,
    )

    annotated = [first[5], first[40], first[77]]
    annotate_truly(demo, annotated)
    widget(at.text_input, "seed (empty: random)").input("7")
    check(button(at, "Sample frames").click().run())
    assert any("(3 already annotated kept)" in s.value for s in at.success), page_text(at)
    again = load_session(demo).sample_keys
    assert set(annotated) <= set(again)
    assert set(again[:3]) == set(annotated)  # annotated samples come first
    assert again != first and len(set(again)) == len(again)

    at = open_page(at, ANNOTATE)
    assert current_sample(at)["completed"] == 3
    assert "3 of these samples done" in page_text(at)


def test_sampling_with_a_recording_without_video_is_an_error(demo):
    (demo / "videos" / "mouse2.mp4").rename(demo / "videos" / "elsewhere.mkv")
    at = open_page(new_app(), SETUP)
    assert at.warning, "the recordings table should flag the recording without video"
    table = at.dataframe[0].value
    assert (table["status"] != "ok").sum() == 1
    check(button(at, "Sample frames").click().run())
    assert any("has no video" in e for e in errors(at)), page_text(at)
    assert load_session(demo).sample_keys == []


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
    click_image(at, *true_display_position(demo, first))
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
    click_image(at, *true_display_position(demo, second), also_click="Next")
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
    # A folder that does not exist yet: an invitation to load keypoints, not a traceback.
    widget(at.text_input, "Project folder").input(str(tmp_path / "not-yet"))
    check(button(at, "Open project").click().run())
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
    assert "--project" in command
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
