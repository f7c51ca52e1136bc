"""Where the person is lives in the address (issue 21, item 1), and zoom in video pixels (item 4).

The address holds the project, the sample and the zoom on every page: a link (a
new session, as a reload) opens that place, page switches keep it, and anything
else in it is ignored and dropped. The zoom buttons change it; the click view's
size message draws the image at the size it is shown at. The browser side (a
real reload, the sidebar, sign-in) is in ``tests/browser/test_browser_place.py``
and ``tests/browser/test_deploy.py``.
"""

from __future__ import annotations

import pytest
from apptest_support import (
    ANNOTATE,
    FIT,
    SETUP,
    button,
    check,
    click_image,
    current_sample,
    draft_keys,
    draw_demo_samples,
    errors,
    image_view,
    new_app,
    open_page,
    page_text,
    send_click_value,
    shown,
    true_display_position,
)

from kpcal_core.clicks import MAX_VIEW_PX
from kpcal_core.demo import make_demo_project


def address(at) -> dict:
    """The app's query parameters after the run (one value each; AppTest of Streamlit 1.55
    gives each as a list)."""
    return {key: single(at.query_params[key]) for key in at.query_params}


def single(value):
    return value[0] if isinstance(value, list) else value


def link(demo, **place) -> object:
    """A new browser session opened on ``?project=demo&...`` (a link, a reload)."""
    at = new_app()
    at.query_params["project"] = str(demo)
    for key, value in place.items():
        at.query_params[key] = value
    return check(at.run())


def test_a_link_opens_its_sample_and_zoom_and_page_switches_keep_them(demo):
    draw_demo_samples(demo)
    at = link(demo, sample="4", zoom="3")
    assert [t.value for t in at.title] == ["Annotate"]
    assert current_sample(at)["index"] == 4
    assert "@3/" in image_view(at)  # drawn at 3 display px per video px
    assert "Zoom: 3×" in page_text(at)
    place = {"project": str(demo), "sample": "4", "zoom": "3"}
    assert address(at) == place

    for page in (FIT, SETUP, ANNOTATE):
        at = open_page(at, page)
        assert address(at) == place, page
    assert current_sample(at)["index"] == 4 and "@3/" in image_view(at)

    check(button(at, "Next").click().run())
    assert single(at.query_params["sample"]) == "5"
    assert not errors(at), page_text(at)


def test_the_setup_pages_start_annotating_button_keeps_the_sample_and_zoom(demo):
    draw_demo_samples(demo)
    place = {"project": str(demo), "sample": "4", "zoom": "3"}
    at = open_page(link(demo, **place), SETUP)
    assert address(at) == place
    at = check(button(at, "Start annotating").click().run())
    assert [t.value for t in at.title] == ["Annotate"]
    assert current_sample(at)["index"] == 4 and "@3/" in image_view(at)
    assert address(at) == place
    assert not errors(at), page_text(at)


@pytest.mark.parametrize(
    "sample, zoom",
    [("abc", "<b>3</b>"), ("0", "2.5"), ("-1", "nan"), ("1" * 40, "1e9"), ("", "fit;frame")],
)
def test_anything_else_in_the_address_is_ignored_and_dropped(demo, sample, zoom):
    draw_demo_samples(demo)
    at = link(demo, sample=sample, zoom=zoom, evil="<script>alert(1)</script>")
    assert current_sample(at)["index"] == 1  # the first not done
    assert "@fit/" in image_view(at)
    assert address(at) == {"project": str(demo), "sample": "1"}
    assert not errors(at), page_text(at)


def test_a_sample_beyond_the_last_opens_the_last(demo):
    samples = draw_demo_samples(demo)
    at = link(demo, sample=str(len(samples) + 50))
    assert current_sample(at)["index"] == len(samples)
    assert single(at.query_params["sample"]) == str(len(samples))


def test_the_zoom_buttons_change_the_zoom_of_every_sample_and_the_address(demo):
    draw_demo_samples(demo)
    at = open_page(new_app(), ANNOTATE)
    fitted = image_view(at)
    assert fitted.endswith("@fit/560") and button(at, "Fit").disabled
    check(button(at, "+").click().run())
    zoomed = single(at.query_params["zoom"])
    assert zoomed.isdigit() and image_view(at).endswith(f"@{zoomed}/560")
    check(button(at, "Next").click().run())
    assert image_view(at).endswith(f"@{zoomed}/560")  # the zoom stays from sample to sample
    check(button(at, "Frame").click().run())
    assert "@frame/" in image_view(at) and button(at, "−").disabled
    assert single(at.query_params["zoom"]) == "frame"
    check(button(at, "Fit").click().run())
    assert "zoom" not in at.query_params and image_view(at).endswith("@fit/560")


def test_the_image_is_drawn_at_the_size_the_browser_shows_it_and_clicks_still_map(demo):
    samples = draw_demo_samples(demo)
    at = open_page(new_app(), ANNOTATE)
    send_click_value(at, {"fit": 404, "unix_time": 1})
    assert image_view(at).endswith("@fit/404")
    assert not draft_keys(demo) and not shown(at.warning)  # a size is no click
    first = current_sample(at)
    click_image(at, *true_display_position(demo, first), shown=404)  # mapped as shown
    assert list(draft_keys(demo)) == [samples[0]]
    send_click_value(at, {"fit": 30_000, "unix_time": 2})  # forged: bounded
    assert image_view(at).endswith(f"@fit/{MAX_VIEW_PX}")
    send_click_value(at, {"fit": 10**6, "unix_time": 3})  # not a size any screen has
    assert image_view(at).endswith(f"@fit/{MAX_VIEW_PX}") and not errors(at)


def test_the_project_the_server_was_started_with_may_be_in_the_address(tmp_path, monkeypatch):
    """On a shared server, the address names the project on every page; the one the server
    was started with (``KPCAL_PROJECT``), outside the data root, must not then be refused."""
    given = tmp_path / "given"
    make_demo_project(given, n_recordings=1, n_frames=40)
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("KPCAL_PROJECT", str(given))
    monkeypatch.setenv("KPCAL_DATA_ROOT", str(root))
    at = check(new_app().run())
    assert single(at.query_params["project"]) == str(given.resolve())
    again = link(given.resolve())  # the address, reloaded
    assert not errors(again), page_text(again)
    assert "outside the data folder" not in page_text(again)
    elsewhere = tmp_path / "elsewhere"
    make_demo_project(elsewhere, n_recordings=1, n_frames=40)
    refused = link(elsewhere, sample="7")  # any other project outside the root still is
    assert "outside the data folder" in " ".join(errors(refused)), page_text(refused)
    # The session stays on the given project, without the refused link's sample.
    assert address(refused) == {"project": str(given.resolve())}, address(refused)
