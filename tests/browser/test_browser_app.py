"""The app's frame in a real browser: navigation from the very first request, the click view.

* A fresh server whose first request is a page's address (``/annotate``,
  ``/fit``) shows that page inside ``app.py``'s navigation, with its
  ``?project=`` and ``?sample=`` kept (``kpcal_app.startup.ensure_app_navigation``).
* The click view is our own declared component (``kpcal_app.click``): served
  with the image element before the scripts, registered once (no
  "overriding previously-registered" warning in the server log).
* The first-render race of streamlit-image-coordinates 0.4.1, made
  deterministic: the component's page is served with its end held back (as a
  busy browser parses it late). The package's own page (scripts before the
  image) stays blank with "Cannot read properties of null"; ours shows the
  image on its first render.
* The click view fits the window at three window sizes: the whole image is
  above the fold, and a mouse click on a whole screen pixel saves the video
  position of that pixel's centre (within Chromium's 1/64 px layout unit).
"""

from __future__ import annotations

import contextlib
import re
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

from browser_support import (  # noqa: E402
    CHROMIUM,
    IMAGE_IFRAME,
    LIVE_IMAGE_JS,
    SAMPLE_SHOWN_JS,
    chromium,
    http_server,
    prepared_demo_project,
    streamlit_server,
)

from kpcal_app.click import BOTTOM_MARGIN, CLICK_JS, INDEX_HTML, package_frontend  # noqa: E402
from kpcal_core.annotations import parse_annotations  # noqa: E402
from kpcal_core.project import draft_path, load_project_data  # noqa: E402
from kpcal_core.views import crop_for_sample  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

FRAME_SHAPE = (360, 480)  # the demo videos' height, width
NAVIGATION = ["Set up & sample", "Annotate", "Fit & save"]
OVERRIDING = "overriding previously-registered"


@pytest.fixture
def project(tmp_path) -> Path:
    folder = tmp_path / "project"
    prepared_demo_project(folder, seed=1, num_samples=12, n_frames=40)
    return folder


def server_env(tmp_path: Path) -> dict[str, str]:
    return {"KPCAL_DEMO_DIR": str(tmp_path / "demo"), "KPCAL_STATE_DIR": str(tmp_path / "state")}


@pytest.mark.parametrize("address, title", [("annotate", "Annotate"), ("fit", "Fit & save")])
def test_the_first_request_for_a_page_shows_it_inside_the_app(
    address, title, project, tmp_path, monkeypatch
):
    monkeypatch.delenv("KPCAL_PROJECT", raising=False)
    query = {"project": str(project), "sample": "3"}
    with (
        streamlit_server(server_env(tmp_path), tmp_path / "streamlit.log") as server,
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page_errors: list[str] = []
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.goto(f"{server.url}/{address}?{urlencode(query)}")  # the server's first page
        page.locator("h1").filter(has_text=re.compile(f"^{re.escape(title)}$")).wait_for()
        page.get_by_text(f"Project: {project}").wait_for()  # app.py's sidebar caption
        navigation = page.locator('[data-testid="stSidebarNav"] a')
        # app.py's pages (after their icons' names), not the folder-based navigation's
        # (app, annotate, fit, setup).
        assert [t.split("\n")[-1] for t in navigation.all_inner_texts()] == NAVIGATION
        assert parse_qs(urlparse(page.url).query) == {k: [v] for k, v in query.items()}
        assert urlparse(page.url).path == f"/{address}"
        if address == "annotate":
            page.wait_for_function(SAMPLE_SHOWN_JS, arg=3)
            live = page.wait_for_function(LIVE_IMAGE_JS, polling="raf").json_value()
            # The click view's page: the image element before the component's scripts.
            served = page.request.get(live["src"]).text()
            assert served.index('id="image"') < served.index("<script"), served
            original = (package_frontend() / "index.html").read_text()
            assert original.index("<script") < original.index('id="image"')  # 0.4.1's race
            navigation.filter(has_text="Fit & save").click()
            page.locator("h1").filter(has_text="Fit & save").wait_for()
        else:
            page.get_by_text("No fit yet").wait_for()
            navigation.filter(has_text="Annotate").click()
            page.frame_locator(IMAGE_IFRAME).get_by_text(
                re.compile(r"^Sample \d+ of 12 · ")
            ).wait_for()
        assert not page_errors, page_errors
    log = server.log()
    assert "Traceback" not in log, log[-4000:]
    assert OVERRIDING not in log, log[-4000:]


def draft(project: Path) -> dict:
    path = draft_path(project)
    return parse_annotations(path.read_text(), str(path)) if path.exists() else {}


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for the window-size tests (each opens its own project with ``?project=``)."""
    folder = tmp_path_factory.mktemp("shared-server")
    with streamlit_server(server_env(folder), folder / "streamlit.log") as server:
        yield server
    assert "Traceback" not in server.log(), server.log()[-4000:]


@pytest.mark.parametrize("size", [(1280, 720), (1400, 1000), (1920, 1080)])
def test_the_click_view_fits_the_window_and_maps_clicks_exactly(size, project, shared_server):
    width, height = size
    data = load_project_data(project)
    samples = data.session.sample_keys
    index = 2  # 1-based sample shown
    recording, frame, bodypart = samples[index - 1]
    k = data.bodyparts.index(bodypart)
    keypoints = np.asarray(data.coordinates[recording][frame], dtype=float)
    view = crop_for_sample(FRAME_SHAPE, keypoints[k], keypoints)
    query = urlencode({"project": str(project), "sample": str(index)})
    with chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(60_000)
        page.goto(f"{shared_server.url}/annotate?{query}")
        page.wait_for_function(SAMPLE_SHOWN_JS, arg=index)
        live = page.wait_for_function(LIVE_IMAGE_JS, polling="raf").json_value()
        shown = live["width"]
        assert live["natural"] == shown  # drawn at the size it is shown at
        assert live["bottom"] <= height, (size, live)  # the whole image above the fold
        # As large as it can be: as wide as the column, or with the legend under it
        # reaching the window's bottom (the legend stays in the window too).
        legend = page.frame_locator(IMAGE_IFRAME).locator("#legend").bounding_box()
        legend_bottom = legend["y"] + legend["height"]
        assert legend_bottom <= height, (size, live, legend)
        fills_column = shown == int(live["column"])
        reaches_bottom = height - BOTTOM_MARGIN - legend_bottom < 2
        assert fills_column or reaches_bottom, (size, live, legend)

        # A mouse click on a whole screen pixel near the keypoint (another spot at each
        # size): it is saved at that pixel's centre, half a pixel right of and below the
        # corner the browser reports for a mouse.
        image = page.frame_locator(IMAGE_IFRAME).locator("#image")
        box = image.bounding_box()  # CSS px in the window: where the screen's pixels are
        u, v = (c * shown / view.display_width for c in view.to_display(*keypoints[k]))
        u = round(box["x"] + u) + width % 7 - 3 - box["x"]  # on whole screen pixels
        v = round(box["y"] + v) - height % 5 + 2 - box["y"]
        image.click(position={"x": u, "y": v})
        page.get_by_text("Completed annotations = 1").wait_for()
        saved = np.asarray(draft(project)[samples[index - 1]].xy)
        expected = np.asarray(view.to_frame(u + 0.5, v + 0.5, shown))
        layout_unit = view.scale * view.display_width / shown / 64  # video px
        assert np.all(np.abs(saved - expected) <= layout_unit + 1e-6), (size, saved, expected)
    print(
        f"\n{width}×{height}: view shown {shown}×{live['height']} px, bottom {live['bottom']:.0f}"
    )


# ----------------------------------------------------------------- the first-render race

HELD_BACK_S = 1.5  # how long the end of the component's page is held back
# The last script element of each page: the package's main.js, our click.js.
LAST_SCRIPT = {
    "original": '<script src="./main.js"></script>',
    "kpcal": '<script src="./click.js"></script>',
}
RACE_APP = """
import os

import streamlit as st
import streamlit.components.v1 as components

which = st.query_params["which"]
component = components.declare_component(which, url=os.environ["RACE_URL"] + which + "/")
# One white pixel; the arguments streamlit-image-coordinates' wrapper sends its main.js, and
# our click.js's view token.
src = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHw"
    "AFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
component(src=src, height=None, width=100, use_column_width=None, key="view",
          click_and_drag=False, cursor="crosshair", default=None, view="pixel")
"""


@contextlib.contextmanager
def late_page_server():
    """The component's frontend over HTTP, each page's end held back after its scripts.

    ``/original/``: streamlit-image-coordinates' own ``index.html``; ``/kpcal/``:
    ours. Both pages are sent up to the end of their last script element, then the
    rest after :data:`HELD_BACK_S`; the scripts come from the package (and ours).
    """
    pages = {"original": (package_frontend() / "index.html").read_text(), "kpcal": INDEX_HTML}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the connection closes

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            which, _, name = self.path.split("?")[0].strip("/").partition("/")
            with contextlib.suppress(ConnectionError):
                if name in ("", "index.html"):
                    page = pages[which]
                    cut = page.index(LAST_SCRIPT[which]) + len(LAST_SCRIPT[which])
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.end_headers()
                    self.wfile.write(page[:cut].encode())
                    self.wfile.flush()
                    time.sleep(HELD_BACK_S)  # the page's end arrives late
                    self.wfile.write(page[cut:].encode())
                else:
                    body = CLICK_JS.encode() if name == "click.js" else None
                    body = body or (package_frontend() / name).read_bytes()
                    kind = "text/css" if name.endswith(".css") else "text/javascript"
                    self.send_response(200)
                    self.send_header("Content-Type", kind)
                    self.end_headers()
                    self.wfile.write(body)

    with http_server(Handler) as url:
        yield url


def test_the_first_render_race_blanks_the_package_page_and_not_ours(tmp_path):
    app = tmp_path / "race_app.py"
    app.write_text(RACE_APP)
    with (
        late_page_server() as url,
        streamlit_server({"RACE_URL": url}, tmp_path / "streamlit.log", app=app) as server,
        chromium() as browser,
    ):
        seen = {}
        for which in ("original", "kpcal"):
            page = browser.new_page()
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
            page.goto(f"{server.url}/?which={which}")
            frame = page.frame_locator("iframe")
            frame.locator("#image").wait_for(state="attached")
            # The whole page has arrived and no render is pending any more.
            frame.locator("body").evaluate(
                "() => new Promise((done) => document.readyState === 'complete' ? done()"
                " : window.addEventListener('load', () => done()))"
            )
            if which == "kpcal":
                frame.locator("#image").evaluate(
                    "(img) => new Promise((done) => img.complete && img.naturalWidth ? done()"
                    " : img.addEventListener('load', () => done()))"
                )
            seen[which] = (frame.locator("#image").evaluate("(img) => img.naturalWidth"), errors)
            page.close()
    width, errors = seen["original"]
    assert width == 0, seen  # blank: its first render found no image element
    assert any("Cannot read properties of null" in e for e in errors), seen
    width, errors = seen["kpcal"]
    assert width == 1 and not errors, seen  # shown on the first render


# ----------------------------------------------------------------- one view, many images

SWAP_APP = """
import json
import os

import streamlit as st

from kpcal_app.click import _component

PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHw"
    "AFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
st.session_state.setdefault("which", "a")
st.button("Swap", on_click=lambda: st.session_state.update(which="b"))
which = st.session_state["which"]
src = PIXEL if which == "a" else os.environ["SLOW_IMAGE_URL"]
# The sample's lines: names from a file may hold markup, shown as text.
sample = {"title": f"Title {which}", "caption": f"Caption {which} <img src=x onerror=alert(1)>",
          "legend": [["<b>ear</b>", "#ff0000"], ["tail", "#00ff00"]], "target": "tail"}
value = _component()(src=src, view=which, sample=sample, cursor="crosshair", key="view",
                     default=None)
# The view also asks for its image drawn at the size it shows it ({"fit": width}): no click.
clicked = None if isinstance(value, dict) and "fit" in value else value
st.write("value: " + json.dumps(clicked))
"""
SLOW_IMAGE_S = 3.0


@contextlib.contextmanager
def slow_image_server():
    """A 2×2 PNG served after :data:`SLOW_IMAGE_S`, as a large image over a slow link."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), (0, 0, 0)).save(buffer, format="PNG")
    body = buffer.getvalue()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(SLOW_IMAGE_S)
            with contextlib.suppress(ConnectionError):
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

    with http_server(Handler) as url:
        yield url + "slow.png"


def test_one_view_swaps_images_and_the_old_image_refuses_a_click_while_the_new_loads(tmp_path):
    app = tmp_path / "swap_app.py"
    app.write_text(SWAP_APP)
    with (
        slow_image_server() as slow_url,
        streamlit_server({"SLOW_IMAGE_URL": slow_url}, tmp_path / "s.log", app=app) as server,
        chromium() as browser,
    ):
        page = browser.new_page()
        page.set_default_timeout(30_000)
        page.goto(server.url)
        frame = page.frame_locator("iframe")
        image = frame.locator("#image")
        frame.locator("#image[data-view='a']").wait_for(state="attached")
        page.get_by_text("value: null").wait_for()
        page.locator("iframe").evaluate("(f) => { f.dataset.kpcalMark = 'first'; }")

        page.get_by_role("button", name="Swap").click()
        asked = """(img, url) => new Promise((done) => {
          const check = () => (img.src === url && !img.complete ? done() : requestAnimationFrame(check));
          check();
        })"""
        image.evaluate(asked, slow_url)  # the new image was asked for and has not arrived
        image.click(position={"x": 5, "y": 5})  # on the old picture, still shown
        note = frame.locator("#note")
        assert note.is_visible() and note.inner_text().startswith("Loading another sample")
        assert note.get_attribute("data-refused") == "1"
        page.wait_for_timeout(500)
        assert page.get_by_text("value: null").is_visible()  # not taken
        assert image.get_attribute("data-view") == "a"
        # The old image keeps its own lines until the new one shows.
        assert frame.locator("#sample-title").inner_text() == "Title a"

        frame.locator("#image[data-view='b']").wait_for(state="attached")  # loaded
        assert frame.locator("#sample-title").inner_text() == "Title b"
        assert frame.locator("#sample-caption").inner_text() == (
            "Caption b <img src=x onerror=alert(1)>"  # as text: no element made from it
        )
        assert frame.locator("#sample img, #legend img, #legend b b").count() == 0
        assert frame.locator("#legend").inner_text() == "\u25cf <b>ear</b> \u25cf tail"
        assert frame.locator("#legend b").inner_text() == "tail"  # the target, in bold
        assert note.inner_text().startswith("That click was not taken")  # stays a moment
        assert page.locator("iframe").get_attribute("data-kpcal-mark") == "first"  # same view
        image.click(position={"x": 5, "y": 5})
        page.get_by_text(re.compile(r'^value: \{.*"view": "b"')).wait_for()
        assert note.get_attribute("data-refused") == "1"  # taken
        note.wait_for(state="hidden")  # the word goes
