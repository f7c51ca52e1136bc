"""A real SLEAP project from the first click, in Chromium: set up, sample, annotate, fit.

``../shared/data/sleap_centered_pair``: the ``.slp`` stores its video's path
from another machine, and the video lies beside it under another name than
the recordings'. Nothing is renamed: the app finds the video by the name the
file stores, all 27 recordings are ``ok``, and 20 clicks autosave a fit.
"""

from __future__ import annotations

import re

import pytest
import yaml
from browser_support import (
    CHROMIUM,
    COMPLETED_JS,
    FRESH_IMAGE_JS,
    IMAGE_IFRAME,
    SAMPLE_SHOWN_JS,
    chromium,
    streamlit_server,
)

from kpcal_core import load_annotations, workflows

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

N_CLICKS = 20


def test_sleap_centered_pair_from_setup_to_fit_in_chromium(shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv("KPCAL_PROJECT", raising=False)
    slp = shared_data / "sleap_centered_pair" / "centered_pair_predictions.slp"
    project = tmp_path / "centered-pair"
    env = {"KPCAL_DEMO_DIR": str(tmp_path / "demo"), "KPCAL_STATE_DIR": str(tmp_path / "state")}
    with (
        streamlit_server(env, tmp_path / "streamlit.log") as server,
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(90_000)
        page_errors: list[str] = []
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.goto(f"{server.url}/setup")
        page.get_by_text("Project folder").first.click()  # the expander
        page.get_by_role("textbox", name="Project folder").fill(str(project))
        page.get_by_role("button", name="Open project").click()
        page.get_by_role("button", name=re.compile("^Create the folder")).click()
        page.get_by_text(f"Project: {project}").wait_for()
        page.get_by_text("This folder has no config.yml yet").wait_for()
        page.get_by_role("textbox", name="Keypoint files (file, folder or glob)").fill(str(slp))
        page.get_by_role("button", name="Load keypoints").click()
        page.get_by_text(
            re.compile("^Created config.yml from the keypoints' 24 bodyparts")
        ).wait_for()
        page.get_by_text("Recordings", exact=True).wait_for()
        page.locator('[data-testid="stDataFrame"]').first.wait_for()
        assert page.get_by_text(re.compile(r"recordings? needs? attention")).count() == 0
        config = yaml.safe_load((project / "config.yml").read_text())
        assert len(config["bodyparts"]) == 24 and len(config["skeleton"]) == 23

        page.get_by_role("spinbutton", name="num_samples").fill("30")
        page.get_by_role("spinbutton", name="num_samples").press("Enter")
        page.get_by_role("button", name="Sample frames").click()
        page.get_by_text(re.compile("drew 30 new; 30 samples in all")).wait_for()
        page.get_by_text("All frames ready.").wait_for()
        page.get_by_role("button", name=re.compile("Start annotating")).click()

        page.wait_for_function(SAMPLE_SHOWN_JS, arg=1)
        image = page.frame_locator(IMAGE_IFRAME).locator("#image")
        src = page.wait_for_function(FRESH_IMAGE_JS, arg=[True, None]).json_value()
        for n in range(N_CLICKS):
            shown = image.evaluate("(img) => img.width")
            # near the network's position (the view's centre), a few pixels off
            dx, dy = 3 + n % 5, -2 - n % 3
            image.click(position={"x": shown / 2 + dx, "y": shown / 2 + dy})
            page.wait_for_function(COMPLETED_JS, arg=n + 1, polling="raf")
            src = page.wait_for_function(FRESH_IMAGE_JS, arg=[False, src]).json_value()  # the X
            if n < N_CLICKS - 1:
                page.get_by_role("button", name=re.compile("^Next unannotated")).click()
                page.wait_for_function(SAMPLE_SHOWN_JS, arg=n + 2)
                src = page.wait_for_function(FRESH_IMAGE_JS, arg=[True, src]).json_value()
        page.get_by_text(re.compile("annotations to error_annotations.csv")).wait_for()

        page.goto(f"{server.url}/fit?project={project}")
        page.get_by_text(re.compile(r"slope = .* intercept = ")).wait_for()
        assert not page_errors, page_errors
    assert "Traceback" not in server.log(), server.log()[-4000:]
    saved = load_annotations(project)
    assert len(saved) == N_CLICKS
    report = workflows.recordings_report(workflows.open_project(project))
    assert len(report) == 27 and (report["status"] == "ok").all(), report
    estimator = yaml.safe_load((project / "config.yml").read_text())["error_estimator"]
    assert estimator["slope"] != 0 or estimator["intercept"] != 0
