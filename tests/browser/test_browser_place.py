"""The app keeps a person's place, in Chromium (issue 21, items 1-4).

- **The address**: started with no ``--project``, a real SLEAP project
  (``../shared/data/sleap_flies_clip``, copied into a temporary folder) is opened
  from the setup page and annotated from its "Start annotating" button; on the annotate page the test goes to sample 5 at zoom 3×
  with the keyboard and the zoom buttons, then reloads, moves to another page and
  back, and opens the same address in a new browser context: each time the same
  project, sample and zoom (the same view token: same image). The link surviving
  sign-in is in ``tests/browser/test_deploy.py``.
- **The keys**: after the zoom buttons are used with the mouse, → goes to the
  next sample (before, the zoom slider kept the keyboard and → changed the zoom);
  + and - zoom, 0 fits.
- **In view**: at 1280×800, the refusal of a click outside the video, "Marked not
  visible", the stop status and the key help are inside the window without
  scrolling.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from browser_support import (
    CHROMIUM,
    IDLE_JS,
    IMAGE_IFRAME,
    LIVE_IMAGE_JS,
    SAMPLE_SHOWN_JS,
    chromium,
    prepared_demo_project,
    prepared_flies_project,
    streamlit_server,
)

from kpcal_core.annotations import NOT_VISIBLE
from kpcal_core.project import load_working_annotations

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

TIMEOUT_MS = 90_000
ZOOM_LINE = re.compile(r"^Zoom: (.+)$")
# The click view's image once drawn at its shown size: its view token (sample, zoom, size).
VIEW_JS = """() => { const live = (%s)(); return live && document.querySelector('%s')
  .contentDocument.getElementById('image').dataset.view; }""" % (
    LIVE_IMAGE_JS.strip(),
    IMAGE_IFRAME.replace("'", "\\'"),
)


def server_env(tmp_path) -> dict:
    return {"KPCAL_DEMO_DIR": str(tmp_path / "demo"), "KPCAL_STATE_DIR": str(tmp_path / "state")}


def new_page(browser, width: int = 1280, height: int = 800):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, errors


def zoom_shown(page) -> str:
    """The zoom the annotate page says it shows ("3×", "fit (5.8×)")."""
    line = page.get_by_text(ZOOM_LINE).inner_text()
    return ZOOM_LINE.match(line.strip())[1]


def view_token(page) -> str:
    """The view token of the image shown, once drawn at its size and settled."""
    page.wait_for_function(IDLE_JS)
    return page.wait_for_function(VIEW_JS, polling="raf").json_value()


def wait_for_zoom(page, label: str) -> None:
    page.get_by_text(f"Zoom: {label}", exact=True).wait_for()
    view_token(page)


def zoom_to(page, label: str, magnification: float) -> None:
    """Press + or - (keys) until the page shows zoom ``label``."""
    for _ in range(12):
        shown = zoom_shown(page)
        if shown == label:
            return
        number = float(re.search(r"([\d.]+)×", shown)[1])
        page.keyboard.press("+" if number < magnification else "-")
        page.wait_for_function(
            "(before) => ![...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
            ".some((e) => e.innerText.trim() === before)",
            arg=f"Zoom: {shown}",
        )
    assert zoom_shown(page) == label


def place(page) -> dict:
    """The address's query (the app's keys)."""
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def test_reload_pages_and_a_link_keep_project_sample_and_zoom(shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv("KPCAL_PROJECT", raising=False)
    project = tmp_path / "flies"
    samples = prepared_flies_project(project, shared_data)
    with (
        streamlit_server(server_env(tmp_path), tmp_path / "streamlit.log") as server,
        chromium() as browser,
    ):
        page, errors = new_page(browser)
        page.goto(server.url)  # no project given: the demo project, which has no samples
        page.get_by_role("heading", name="Set up & sample").wait_for()
        page.get_by_text("Project folder").first.click()  # the expander
        page.get_by_role("textbox", name="Project folder").fill(str(project))
        page.get_by_role("button", name="Open project").click()
        page.get_by_text(f"Project: {project}").wait_for()
        assert place(page) == {"project": str(project)}

        # The setup page's button (a real button, issue 21) opens the annotate page there.
        page.get_by_role("button", name=re.compile("Start annotating")).click()
        page.wait_for_function(SAMPLE_SHOWN_JS, arg=1)
        page.get_by_text(f"Project: {project}").wait_for()
        assert place(page) == {"project": str(project), "sample": "1"}
        view_token(page)
        for n in range(2, 6):
            page.keyboard.press("ArrowRight")
            page.wait_for_function(SAMPLE_SHOWN_JS, arg=n)
        assert zoom_shown(page).startswith("fit (")
        zoom_to(page, "3×", 3.0)
        token = view_token(page)
        assert place(page) == {"project": str(project), "sample": "5", "zoom": "3"}
        assert "@3/" in token

        # A reload: a new browser session on the same address.
        page.reload()
        page.wait_for_function(SAMPLE_SHOWN_JS, arg=5)
        wait_for_zoom(page, "3×")
        page.get_by_text(f"Project: {project}").wait_for()
        assert view_token(page) == token
        assert place(page) == {"project": str(project), "sample": "5", "zoom": "3"}

        # Another page and back, by the sidebar (which clears the address's query).
        navigation = page.locator('[data-testid="stSidebarNav"] a')
        navigation.filter(has_text="Fit & save").click()
        page.locator("h1").filter(has_text="Fit & save").wait_for()
        page.wait_for_function("() => location.search.includes('sample=5')")
        assert place(page) == {"project": str(project), "sample": "5", "zoom": "3"}
        navigation.filter(has_text="Annotate").click()
        page.wait_for_function(SAMPLE_SHOWN_JS, arg=5)
        wait_for_zoom(page, "3×")
        address = page.url

        # The link, opened elsewhere (another browser context: a colleague).
        other, other_errors = new_page(browser)
        other.goto(address)
        other.wait_for_function(SAMPLE_SHOWN_JS, arg=5)
        wait_for_zoom(other, "3×")
        assert view_token(other) == token
        other.get_by_text(f"Project: {project}").wait_for()
        assert not errors and not other_errors, errors + other_errors
    assert "Traceback" not in server.log(), server.log()[-4000:]
    assert not load_working_annotations(project)  # only looked
    assert len(samples) == 30


def test_keys_act_on_samples_after_the_zoom_control_and_zoom_has_keys(tmp_path, monkeypatch):
    monkeypatch.delenv("KPCAL_PROJECT", raising=False)
    project = tmp_path / "demo"
    prepared_demo_project(project, seed=4, num_samples=20)
    with (
        streamlit_server(server_env(tmp_path), tmp_path / "streamlit.log") as server,
        chromium() as browser,
    ):
        page, errors = new_page(browser)
        page.goto(f"{server.url}/annotate?project={project}&sample=1")
        page.wait_for_function(SAMPLE_SHOWN_JS, arg=1)
        fitted_view = view_token(page)  # drawn at its size: the magnification is final
        fitted = zoom_shown(page)
        assert fitted.startswith("fit (")

        # The zoom control used with the mouse, then the arrow keys: they go on acting on
        # samples (the zoom slider this replaced kept the keyboard: → zoomed).
        page.get_by_role("button", name="+", exact=True).click()
        page.wait_for_function(
            "() => ![...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
            ".some((e) => e.innerText.trim().startsWith('Zoom: fit'))"
        )
        zoomed = zoom_shown(page)
        assert re.fullmatch(r"\d+×", zoomed), zoomed
        assert page.evaluate("() => document.activeElement.tagName") != "BUTTON"
        view_token(page)
        page.keyboard.press("ArrowRight")
        page.wait_for_function(SAMPLE_SHOWN_JS, arg=2)
        assert zoom_shown(page) == zoomed  # the zoom stays, from sample to sample
        page.keyboard.press("ArrowLeft")
        page.wait_for_function(SAMPLE_SHOWN_JS, arg=1)

        # + and - zoom, 0 fits; the image follows.
        before = view_token(page)
        page.keyboard.press("+")
        page.wait_for_function(
            "(z) => ![...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
            ".some((e) => e.innerText.trim() === z)",
            arg=f"Zoom: {zoomed}",
        )
        larger = zoom_shown(page)
        assert float(larger.rstrip("×")) > float(zoomed.rstrip("×")), (zoomed, larger)
        assert view_token(page) != before
        page.keyboard.press("-")
        wait_for_zoom(page, zoomed)
        page.keyboard.press("0")
        page.get_by_text(re.compile(r"^Zoom: fit \(")).wait_for()
        assert zoom_shown(page) == fitted
        page.wait_for_function(f"(want) => ({VIEW_JS})() === want", arg=fitted_view)  # as before
        page.keyboard.press("ArrowRight")
        page.wait_for_function(SAMPLE_SHOWN_JS, arg=2)

        # Typing in a box is typing, not zooming; Enter commits the name and leaves the box.
        box = page.get_by_role("textbox", name="Annotator")
        box.fill("ana")
        box.press("+")
        assert box.input_value() == "ana+"
        assert zoom_shown(page).startswith("fit (")
        box.press("Enter")
        assert page.evaluate("() => document.activeElement.tagName") != "INPUT"
        page.keyboard.press("ArrowRight")
        page.wait_for_function(SAMPLE_SHOWN_JS, arg=3)
        assert not errors, errors
    assert "Traceback" not in server.log(), server.log()[-4000:]


def in_view(page, locator) -> bool:
    """``locator``'s box lies inside the window, the page not scrolled."""
    box = locator.bounding_box()
    height = page.viewport_size["height"]
    scrolled = page.evaluate("() => window.scrollY")
    return (
        scrolled == 0 and box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height
    )


def test_messages_about_the_last_action_are_in_view_at_1280x800(tmp_path, monkeypatch):
    monkeypatch.delenv("KPCAL_PROJECT", raising=False)
    project = tmp_path / "demo"
    samples = prepared_demo_project(project, seed=5, num_samples=20)
    with (
        streamlit_server(server_env(tmp_path), tmp_path / "streamlit.log") as server,
        chromium() as browser,
    ):
        page, errors = new_page(browser, 1280, 800)
        # The whole frame: 480×360 in a square view, striped above and below the video.
        page.goto(f"{server.url}/annotate?project={project}&sample=1&zoom=frame")
        page.wait_for_function(SAMPLE_SHOWN_JS, arg=1)
        page.get_by_text(re.compile(r"^Zoom: whole frame \(")).wait_for()
        image = page.frame_locator(IMAGE_IFRAME).locator("#image")
        view_token(page)
        stop = page.get_by_text(re.compile(r"^About \d+ more annotations? needed"))
        keys = page.get_by_text(re.compile(r"^Keys: "))
        assert in_view(page, stop) and in_view(page, keys)
        assert in_view(page, image)

        width = image.evaluate("(img) => img.width")
        image.click(position={"x": width / 2, "y": 3})  # the stripes above the video
        refusal = page.get_by_text("That click was outside the video frame: not saved.")
        refusal.wait_for()
        assert in_view(page, refusal), refusal.bounding_box()
        assert not load_working_annotations(project)

        page.keyboard.press("v")
        marked = page.get_by_text("Marked not visible in this frame.", exact=False)
        marked.wait_for()
        assert in_view(page, marked), marked.bounding_box()
        saved = page.get_by_text(re.compile(r"^Saved to the working copy"))
        saved.first.wait_for()
        assert in_view(page, saved.first)
        assert load_working_annotations(project)[samples[0]].status == NOT_VISIBLE
        assert in_view(page, stop) and in_view(page, keys)
        page.screenshot(path=str(tmp_path / "annotate-1280x800.png"))
        assert not errors, errors
    assert "Traceback" not in server.log(), server.log()[-4000:]
