"""The fit page's "Where is it trusted?" chart in Chromium, on a real SLEAP project (issue 20).

``../shared/data/sleap_flies_clip``: two flies, 246 keypoints with no position,
which SLEAP gives confidence 0. Before, the chart's x axis ran down to
log10(pseudocount) = -3 for them and its linear error axis up to millions of
pixels, with the keypoints' range a flat line at 0; at 1280×800 it spilled past
the right edge. Now (the chart is drawn as SVG, so its axes are read as text):
every confidence that holds a keypoint with a position is in view and nothing
below it, the error axis is logarithmic and ends at most 10x the largest error
the line predicts there, and the chart stays inside the window.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlencode

import numpy as np
import pytest
from browser_support import CHROMIUM, chromium, streamlit_server
from demo_support import annotate_from_line

from kpcal_core import fit_error_model, workflows
from kpcal_core.annotations import save_annotations
from kpcal_core.project import load_project_data

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

AXIS = re.compile(
    r"^(X|Y)-axis titled '([^']*)' for a (\w+) scale with values from (\S+) to (\S+)$"
)


def number(text: str) -> float:
    return float(text.replace(",", "").replace("\u2212", "-"))  # Vega writes a minus sign


@pytest.fixture(scope="module")
def flies(shared_data, tmp_path_factory):
    """The flies clip set up as a project, 40 samples clicked along a known line."""
    folder = tmp_path_factory.mktemp("flies") / "project"
    source = shared_data / "sleap_flies_clip"
    workflows.choose_sources(
        folder,
        workflows.Sources(str(source / "clip.predictions.slp"), None, str(source)),
        create=True,
    )
    data = load_project_data(folder)
    keys = workflows.draw_samples(data, num_samples=40, seed=0).sample_keys
    records = annotate_from_line(data, keys, -0.6, 0.3, noise_sd=0.1)
    save_annotations(folder, records, data.video_frame_indexes)
    return folder, data, records


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fit-chart-server")
    env = {"KPCAL_DEMO_DIR": str(folder / "demo"), "KPCAL_STATE_DIR": str(folder / "state")}
    with streamlit_server(env, folder / "streamlit.log") as running:
        yield running
    assert "Traceback" not in running.log(), running.log()[-4000:]


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_the_trusted_chart_shows_every_positioned_confidence_on_a_bounded_log_axis(
    size, flies, server
):
    project, data, records = flies
    pseudocount = data.conf_pseudocount
    positioned = np.concatenate(
        [data.confidences[r][~data.missing[r]] for r in sorted(data.confidences)]
    )
    n_missing = sum(int(m.sum()) for m in data.missing.values())
    assert n_missing == 246 and positioned.min() > 0.2  # SLEAP's missing points: confidence 0
    fit = fit_error_model(data.coordinates, data.confidences, records, data.bodyparts)

    with chromium() as browser:
        width, height = size
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(90_000)
        page_errors: list[str] = []
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.goto(f"{server.url}/fit?{urlencode({'project': str(project)})}")
        page.locator("h1").filter(has_text="Fit & save").wait_for()
        page.get_by_role("tab", name="Where is it trusted?").click()
        panel = page.get_by_role("tabpanel", name="Where is it trusted?")
        chart = panel.locator('[data-testid="stVegaLiteChart"]')
        chart.locator("svg [aria-label^='Y-axis titled']").first.wait_for()
        chart.scroll_into_view_if_needed()
        labels = chart.locator("svg [aria-label]").evaluate_all(
            "els => els.map(e => e.getAttribute('aria-label'))"
        )
        axes = {}
        for label in labels:
            found = AXIS.match(label)
            if found:
                axes[found[2]] = (found[1], found[3], number(found[4]), number(found[5]))
        box = chart.bounding_box()
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        caption = panel.locator('[data-testid="stCaptionContainer"]').all_inner_texts()
    assert not page_errors, page_errors

    # every confidence holding a keypoint with a position is in view, the missing ones not
    (x_title,) = [title for title, axis in axes.items() if axis[0] == "X"]
    kind, scale, low, high = axes[x_title]
    assert low > 100 * pseudocount, low  # not down where the keypoints with no position sit
    assert low <= positioned.min() + pseudocount and high >= positioned.max() + pseudocount
    assert (x_title, scale) == ("confidence + pseudocount (log scale)", "log")
    # the error axis: logarithmic, at most 10x the largest error the line predicts there
    (y_title,) = [title for title, axis in axes.items() if axis[0] == "Y" and "error" in title]
    kind, scale, bottom, top = axes[y_title]
    assert scale == "log", (y_title, bottom, top)
    ends = np.array([low, high])
    predicted = 10 ** (fit["slope"] * np.log10(ends) + fit["intercept"]) - 1
    assert 0 < bottom < top <= 10 * predicted.max() * (1 + 1e-9), (top, predicted)
    assert math.isfinite(top)
    # inside the window, and wide enough to read
    assert widths[0] <= widths[1], widths
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert box["width"] >= 500 and box["height"] >= 250, box
    # the keypoints left out are stated apart
    assert any(f"Not drawn: {n_missing:,} keypoints with no position" in c for c in caption)
