"""No markup from data (issue 19, findings 2 and 3): names, paths, the annotator and the URL
are shown as text on every page.

The project (:func:`demo_support.make_hostile_project`) has bodyparts, recordings and a
folder whose names hold HTML, <style>, Markdown links and images, backticks, Streamlit's
``:red[...]``, ``:material/...:`` and emoji shortcodes, ``$...$``, emphasis, headings,
tables, bare links and arrows. On each page, every string given to Streamlit's Markdown
(bodies, labels, help texts, toasts, the sidebar) must read that data as text:
:func:`apptest_support.markup_in` finds nothing, and no Markdown allows HTML. The
browser test (``tests/browser/test_browser_markup.py``) checks what Chromium shows.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from apptest_support import (
    ANNOTATE,
    FIT,
    SETUP,
    button,
    check,
    click_image,
    code_span_end,
    markdown_sources,
    markup_in,
    new_app,
    open_page,
    sample_lines,
    shown_by_code,
    shown_by_literal,
    unescaped,
    widget,
)
from demo_support import (
    EVIL,
    HOSTILE_ANNOTATOR,
    HOSTILE_BODYPARTS,
    HOSTILE_NO_VIDEO,
    HOSTILE_VIDEOS,
    make_hostile_project,
)
from hypothesis import given, settings
from hypothesis import strategies as hs
from streamlit.testing.v1 import AppTest

from kpcal_app.click import KEYS_SCRIPT
from kpcal_app.text import WORD_JOINER, code, literal
from kpcal_core.demo import DEMO_SCORER
from kpcal_core.session import load_session


@pytest.fixture(scope="module")
def hostile_template(tmp_path_factory) -> Path:
    return make_hostile_project(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def hostile(tmp_path, hostile_template, monkeypatch) -> Path:
    """A copy of the hostile project, opened by the app as its demo project."""
    folder = tmp_path / hostile_template.name
    shutil.copytree(hostile_template, folder)
    monkeypatch.setenv("KPCAL_DEMO_DIR", str(folder))
    return folder


# Text made of what Markdown and Streamlit give a meaning to, and of anything else.
MARKDOWN_TEXT = hs.text(
    hs.sampled_from(list("\\`*_{}[]()<>#+-.!|~:$&=^@/\"' \n\r\t\x1b\x00aw1")) | hs.characters(),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(MARKDOWN_TEXT)
def test_literal_text_reads_as_itself_and_makes_no_markup(text):
    """The checks of the page tests, on any text (the browser test checks Streamlit itself)."""
    markdown = literal(text)
    assert not markup_in(markdown), (text, markdown)
    assert unescaped(markdown) == shown_by_literal(text).replace(WORD_JOINER, ""), markdown


@settings(max_examples=300, deadline=None)
@given(MARKDOWN_TEXT)
def test_a_code_span_holds_the_whole_text(text):
    span = code(text)
    if not text:
        assert span == ""
        return
    assert "\n" not in span and "\r" not in span
    run, end = code_span_end(span, 0)
    assert end == len(span), (text, span)  # one code span, from the first to the last character
    content = span[run : end - run]  # inside the fences (as long as the first run)
    if content.startswith(" ") and content.endswith(" ") and content.strip(" "):
        content = content[1:-1]  # Markdown takes one space off each side
    assert content.replace(WORD_JOINER, "") == shown_by_code(text).replace(WORD_JOINER, ""), span


def shown_as_text(at: AppTest) -> str:
    """Check every Markdown string of the page; return them all as a person reads them."""
    check(at)
    sources = markdown_sources(at)
    unsafe = [body for where, body in sources if where == "unsafe_allow_html"]
    assert not unsafe, unsafe
    html = [body for where, body in sources if where == "st.html"]
    assert all(body == KEYS_SCRIPT for body in html), html  # the one fixed script
    sources = [(where, body) for where, body in sources if where != "st.html"]
    found = {f"{where}: {source!r}": markup_in(source) for where, source in sources}
    assert not {k: v for k, v in found.items() if v}, {k: v for k, v in found.items() if v}
    return "\n".join(unescaped(source) for _, source in sources)


def test_the_setup_page_shows_names_and_paths_as_text(hostile):
    at = open_page(new_app(), SETUP)
    text = shown_as_text(at)
    assert f"Project: `{hostile.resolve()}`" not in text  # its backtick: a longer fence
    assert str(hostile.resolve()) in text  # the sidebar's project, in a code span
    assert HOSTILE_NO_VIDEO + DEMO_SCORER in text  # the recording that needs attention

    check(button(at, "Sample frames").click().run())
    text = shown_as_text(at)
    assert "Left out 1 recording" in text and repr(HOSTILE_NO_VIDEO + DEMO_SCORER) in text

    # A typed folder that does not exist: the warning and the "Create the folder" button
    typed = str(hostile.parent / f"new [sign in](http://{EVIL}) `x` <b>")
    widget(at.text_input, "Project folder").input(typed)
    check(button(at, "Open project").click().run())
    text = shown_as_text(at)
    assert typed in text and [b for b in at.button if b.label.startswith("Create the folder")]


def test_the_annotate_page_shows_names_as_text(hostile):
    at = open_page(new_app(), ANNOTATE)
    widget(at.sidebar.text_input, "Annotator").input(HOSTILE_ANNOTATOR)
    check(at.run())
    text = shown_as_text(at)
    recording, _, bodypart = load_session(hostile).sample_keys[0]
    # The sample's lines and the legend: plain text the click view writes as text (never
    # Markdown nor HTML; the browser side is in tests/browser/test_browser_markup.py).
    lines = sample_lines(at)
    assert lines["title"].startswith(f"Target bodypart = {bodypart} | confidence = ")
    assert f" · recording {recording} · " in lines["caption"]
    assert [name for name, _ in lines["legend"]] == HOSTILE_BODYPARTS and lines[
        "target"
    ] == bodypart
    assert "Target bodypart =" not in text, text  # only in the click view
    assert "Completed annotations = " in text, text

    at = click_image(at, 280, 280)  # saved: the message names the project folder
    text = shown_as_text(at)
    assert "Saved" in text and str(hostile) in text, text


def test_the_fit_page_shows_names_as_text(hostile):
    at = open_page(new_app(), FIT)
    text = shown_as_text(at)
    recordings = [v + DEMO_SCORER for v in HOSTILE_VIDEOS]
    residuals = [line for line in text.splitlines() if " px where the line expects " in line]
    assert residuals and all(any(repr(r) in line for r in recordings) for line in residuals)
    assert any(b in line for line in residuals for b in HOSTILE_BODYPARTS)
    for chart in (e for e in at.main if getattr(e, "type", None) == "vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        assert "href" not in json.dumps(spec), spec.get("encoding")  # no name becomes a link


def test_a_refused_project_in_the_url_is_shown_as_text(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("KPCAL_DATA_ROOT", str(root))
    outside = f"/elsewhere/[Session expired: sign in again](http://{EVIL}) ![x](http://{EVIL}/x.png) <img src=x onerror=window.kpcalPwned=3> `x` :red[r]\n# h"
    at = new_app()
    at.query_params["project"] = outside
    text = shown_as_text(check(at.run()))
    quoted = repr(outside)  # the message quotes the path (its line break as \n)
    assert quoted in text and "Still working on the previous project" in text, text
    at = open_page(at, SETUP)  # shown again on the next page
    assert quoted in shown_as_text(at)


def test_a_backtick_in_the_project_path_stays_inside_the_sidebar_code_span(hostile):
    at = check(new_app().run())
    captions = [c.value for c in at.sidebar.caption if c.value.startswith("Project: ")]
    assert len(captions) == 1 and not markup_in(captions[0]), captions
    assert unescaped(captions[0]) == f"Project: ``{hostile.resolve()}``", captions
