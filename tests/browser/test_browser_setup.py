"""What the setup page and the bodypart legend show, in Chromium at 1280×800 (issue 21).

- the recordings table fits the page's column: no column runs out of sight;
- "Start annotating" is a button, and it opens the annotate page;
- with 24 bodyparts the legend under the annotate image is in the window, one entry
  per bodypart, the target's ringed in the yellow of its circle on the image.
"""

from __future__ import annotations

import json
import re

import pytest
from browser_support import CHROMIUM, IMAGE_IFRAME, LIVE_IMAGE_JS, chromium, streamlit_server

from kpcal_core.colours import bodypart_colours

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

WINDOW = {"width": 1280, "height": 800}


def test_the_setup_page_at_1280_by_800(tmp_path):
    env = {"KPCAL_STATE_DIR": str(tmp_path / "state"), "KPCAL_DEMO_DIR": str(tmp_path / "demo")}
    with streamlit_server(env, tmp_path / "s.log") as server, chromium() as browser:
        page = browser.new_page(viewport=WINDOW)
        page.set_default_timeout(60_000)
        page.goto(f"{server.url}/setup")
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.wait_for()
        page.get_by_text("Details of recording").wait_for()
        # The grid's scroller holds every column: nothing to scroll sideways to.
        sideways = grid.evaluate(
            """(g) => [...g.querySelectorAll('*')]
                 .filter((e) => getComputedStyle(e).overflowX !== 'visible')
                 .map((e) => e.scrollWidth - e.clientWidth)"""
        )
        assert sideways and max(sideways) <= 1, sideways

        page.get_by_role("button", name="Sample frames").click()
        page.get_by_text(re.compile("drew 100 new; 100 samples in all")).wait_for()
        start = page.get_by_role("button", name=re.compile("Start annotating"))
        start.wait_for()
        assert page.get_by_role("link", name=re.compile("^Start annotating")).count() == 0
        start.click()
        page.wait_for_url(re.compile(r"/annotate"))
        page.get_by_role("heading", name="Annotate").wait_for()
    assert "Traceback" not in server.log()


LEGEND_APP = """
import json
import os

import streamlit as st

from kpcal_app.click import SampleLines, click_image
from kpcal_core.clicks import parse_view_size
import numpy as np

sample = SampleLines(**json.loads(os.environ["KPCAL_TEST_SAMPLE"]))
st.title("Annotate")
# Drawn at the width the view asks for, as the annotate page does (one image pixel a shown pixel).
size = parse_view_size(st.session_state.get("view")) or 600
image = np.full((size, size, 3), 90, np.uint8)
click_image(image, key="view", view=f"v{size}", sample=sample)
"""
# The 24 nodes of the centered-pair flies in ../shared/data (SLEAP's test data).
FLY_NODES = [
    "head",
    "neck",
    "thorax",
    "abdomen",
    "wingL",
    "wingR",
    *(f"{leg}leg{side}{i}" for leg in ("fore", "mid", "hind") for side in "LR" for i in (1, 2, 3)),
]


def test_a_24_bodypart_legend_is_in_the_window_with_the_target_ringed(tmp_path):
    assert len(FLY_NODES) == 24
    target = "midlegL1"
    legend = list(bodypart_colours(FLY_NODES).items())
    sample = {"title": f"Target bodypart = {target}", "caption": "Sample 1 of 1", "target": target}
    env = {"KPCAL_TEST_SAMPLE": json.dumps({**sample, "legend": legend})}
    app = tmp_path / "legend_app.py"
    app.write_text(LEGEND_APP)
    with streamlit_server(env, tmp_path / "s.log", app=app) as server, chromium() as browser:
        page = browser.new_page(viewport=WINDOW)
        page.set_default_timeout(60_000)
        page.goto(server.url)
        page.wait_for_function(LIVE_IMAGE_JS)
        frame = page.frame_locator(IMAGE_IFRAME)
        entries = frame.locator("#legend .entry")
        assert entries.count() == 24
        for i in range(24):  # each entry whole, and in the window: nothing to scroll to
            box = entries.nth(i).bounding_box()  # in the window's pixels
            assert box["height"] > 0 and box["y"] + box["height"] <= WINDOW["height"], (i, box)
        assert [entries.nth(i).inner_text().lstrip("\u25cf ") for i in range(24)] == FLY_NODES
        ringed = frame.locator("#legend .entry.target")
        assert ringed.count() == 1 and ringed.inner_text().endswith(target)
        ring = ringed.evaluate("(e) => getComputedStyle(e).borderTopColor")
        assert ring == "rgb(255, 221, 0)", ring  # kpcal_core.views.YELLOW, the target's circle
        dots = frame.locator("#legend .dot")
        shown = {dots.nth(i).evaluate("(e) => getComputedStyle(e).color") for i in range(24)}
        assert len(shown) == 24  # 24 colours
