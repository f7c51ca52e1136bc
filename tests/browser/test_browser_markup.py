"""No markup from data in a real browser (issue 19, findings 2 and 3).

* :mod:`kpcal_app.text` against Streamlit's own Markdown renderer: strings holding
  every kind of markup (and seeded random strings of Markdown's special characters),
  given to ``st.markdown``, ``st.caption``, ``st.error`` and a button label through
  :func:`~kpcal_app.text.literal` and :func:`~kpcal_app.text.code`, are shown as
  themselves, in paragraphs, line breaks and code spans only.
* The app on a project whose names hold markup (:func:`demo_support.make_hostile_project`),
  page by page (setup, annotate, fit; the refusal box of a hostile ``?project=``): the
  names are in the page's text, nothing is created from them (no link, image, frame
  or style to another host, no script run: ``window.kpcalPwned`` stays unset), and no
  request leaves the page: every URL any frame asks for is the local server's, or
  ``data:``/``blob:``. A chart point's tooltip shows its bodypart's name as text.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from apptest_support import shown_by_code, shown_by_literal
from browser_support import (
    CHROMIUM,
    IDLE_JS,
    IMAGE_IFRAME,
    SAMPLE_SHOWN_JS,
    chromium,
    streamlit_server,
)
from demo_support import (
    EVIL,
    HOSTILE_ANNOTATOR,
    HOSTILE_BODYPARTS,
    HOSTILE_NO_VIDEO,
    HOSTILE_VIDEOS,
    make_hostile_project,
)

from kpcal_app.text import WORD_JOINER
from kpcal_core.demo import DEMO_SCORER

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

REPO = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------- the escaping

MARKUP_SAMPLES = [
    *HOSTILE_BODYPARTS,
    *HOSTILE_VIDEOS,
    HOSTILE_ANNOTATOR,
    "<script>window.kpcalPwned='script'</script><svg onload=window.kpcalPwned='svg'>",
    f"[sign in](http://{EVIL}) [ref][1]\n\n[1]: http://{EVIL}",
    f"![x](http://{EVIL}/x.png) <http://{EVIL}> <a@{EVIL}> www.{EVIL}. mailto:a@{EVIL}",
    f"HTTPS://{EVIL.upper()} WWW.{EVIL.upper()} xmpp:a@{EVIL} a.b+c-d_e@{EVIL}",
    ':red[r] :blue-background[b] :orange-badge[o] :color[c]{foreground="red"} :help[h]',
    ":material/home: :material_home: :smile: :+1: :-1: :streamlit: :small[s] :shimmer[s]",
    "$x^2$ $$\\frac{1}{2}$$ \\(x\\) \\[x\\] $5 and $6",
    "`a` ``b`` ```c``` `` ` `` \\` x`",
    "*a* **b** ***c*** _d_ __e__ ~f~ ~~g~~ <b>h</b> <i>i</i>",
    "# h1\n## h2\nsetext\n===\nsetext\n---\n> quote\n- item\n+ item\n* item\n1. one\n2) two",
    "| a | b |\n|---|---|\n| c | d |",
    "    indented code\n\n```\nfence\n```\n~~~\nfence\n~~~",
    "a -> b <- c <-> d -- e >= f <= g ~= h",
    "&amp; &lt;b&gt; &#60;i&#62; &#x3C; &copy; &nbsp;|",
    "line\\\nbreak  \ntwo spaces\r\nCRLF\rCR\n\n\nblank lines\n   indented",
    "C:\\path\\to\\file \\\\server\\share \\n \\x1b",
    "ESC\x1b[31m NUL\x00 DEL\x7f CSI\x9b tab\there",
    "[^1] footnote\n\n[^1]: note",
    "- [ ] task\n- [x] done",
    "left_ear tail_base __init__ _lead trail_ snake_case_name",
    "a\u00a0b \u2060 \u202eoverride",
    "---",
    "***",
    ">",
    "#",
    "1.",
    "`",
    "\\",
]
FUZZ_ALPHABET = "\\`*_{}[]()<>#+-.!|~:$&=^@/\"';,?% \n\taAbw1:"


def fuzz_samples(n: int, seed: int = 19) -> list[str]:
    rng = random.Random(seed)
    words = ["www.", "http://", "https:", "@evil", ":red[", ":smile:", ":material/", "->", "$"]
    samples = []
    for _ in range(n):
        parts = [
            rng.choice(words) if rng.random() < 0.2 else rng.choice(FUZZ_ALPHABET)
            for _ in range(rng.randint(1, 40))
        ]
        text = "".join(parts)
        if text.strip():
            samples.append(text)
    return samples


TEXT_APP = """
import json, os, sys
sys.path.insert(0, {repo!r})
import streamlit as st
from kpcal_app.text import code, literal

samples = json.loads(open(os.environ["KPCAL_TEXT_SAMPLES"]).read())
for i, sample in enumerate(samples):
    with st.container(key=f"sample-{{i}}"):
        st.markdown(literal(sample))
        st.caption(code(sample))
        st.error(literal(sample))
        st.button(literal(sample), key=f"button-{{i}}")
"""

# Each sample's four texts (markdown, caption, error, button label), the tags inside them.
READ_SAMPLES_JS = """
(n) => [...Array(n).keys()].map((i) => {
  const box = document.querySelector(`.st-key-sample-${i}`);
  if (!box) return null;
  const parts = [...box.querySelectorAll(
    '[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"]')];
  return parts.map((p) => ({
    testid: p.dataset.testid,
    text: p.innerText,
    tags: [...p.querySelectorAll('*')].map((e) => e.tagName),
  }));
})
"""
ALLOWED_TAGS = {"P", "BR", "CODE"}
# Every sample's four texts drawn (Markdown shows a skeleton while a plugin loads).
ALL_DRAWN_JS = """
(n) => !document.querySelector('[data-testid="stSkeleton"]') && [...Array(n).keys()].every(
  (i) => document.querySelectorAll(`.st-key-sample-${i} [data-testid="stMarkdownContainer"], `
    + `.st-key-sample-${i} [data-testid="stCaptionContainer"]`).length === 4)
"""


def as_read(text: str) -> str:
    """Text as the browser lays it out: word joiners gone, runs of blanks one space, lines
    without blanks at their ends (what ``innerText`` gives of ``white-space: normal``)."""
    text = text.replace(WORD_JOINER, "").replace("\u00a0", " ")
    return "\n".join(re.sub(r"[ \t]+", " ", line).strip(" ") for line in text.split("\n"))


def local_only(requests: list[str], server_url: str) -> list[str]:
    """The requests that left the page: not the local server, ``data:`` or ``blob:``."""
    return [u for u in requests if not u.startswith((server_url, "data:", "blob:"))]


def test_escaped_text_is_shown_literally_by_streamlit(tmp_path):
    samples = MARKUP_SAMPLES + fuzz_samples(60)
    (tmp_path / "samples.json").write_text(json.dumps(samples))
    app = tmp_path / "text_app.py"
    app.write_text(TEXT_APP.format(repo=str(REPO)))
    env = {"KPCAL_TEXT_SAMPLES": str(tmp_path / "samples.json")}
    with (
        streamlit_server(env, tmp_path / "streamlit.log", app=app) as server,
        chromium() as browser,
    ):
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        requests: list[str] = []
        context.on("request", lambda request: requests.append(request.url))
        page = context.new_page()
        page.set_default_timeout(60_000)
        page_errors: list[str] = []
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.goto(server.url)
        page.wait_for_function(IDLE_JS)
        page.wait_for_function(ALL_DRAWN_JS, arg=len(samples))
        read = page.evaluate(READ_SAMPLES_JS, len(samples))
        pwned = page.evaluate("() => window.kpcalPwned ?? null")
    wrong = []
    for sample, parts in zip(samples, read):
        kinds = [p["testid"] for p in parts or []]
        if kinds.count("stCaptionContainer") != 1 or len(kinds) != 4:
            wrong.append((sample, "elements", kinds))
            continue
        for part in parts:
            expected = (
                shown_by_code(sample)
                if part["testid"] == "stCaptionContainer"
                else shown_by_literal(sample)
            )
            if as_read(part["text"]) != as_read(expected):
                wrong.append((sample, part["testid"], part["text"]))
            if not set(part["tags"]) <= ALLOWED_TAGS:
                wrong.append((sample, part["testid"], part["tags"]))
    assert not wrong, wrong[:10]
    assert pwned is None and not page_errors, (pwned, page_errors)
    assert not local_only(requests, server.url), local_only(requests, server.url)
    assert "Traceback" not in server.log(), server.log()[-4000:]


# --------------------------------------------------------------------------- the app

# Anything made from the data: links, images, frames, styles to another host; any element
# with an event handler attribute; a script payload run (window.kpcalPwned). In the page
# and every frame of the same origin.
INJECTED_JS = """
() => {
  const found = [];
  const documents = [document];
  for (const frame of document.querySelectorAll('iframe')) {
    try { if (frame.contentDocument) documents.push(frame.contentDocument); } catch (e) {}
  }
  for (const doc of documents) {
    for (const e of doc.querySelectorAll(
        'a[href*="evil"], img[src*="evil"], img[src="x"], iframe[srcdoc], link[href*="evil"], '
        + '[style*="evil"], [onerror], [onload], svg[onload], script:not([src])')) {
      if (e.tagName === 'SCRIPT' && !/kpcalPwned/.test(e.textContent)) continue;
      // The app's own links to its pages carry the address (the project's path, encoded).
      if (e.matches('a[data-testid="stPageLink-NavLink"]')
          && new URL(e.href).origin === location.origin) continue;
      found.push(e.outerHTML.slice(0, 200));
    }
    for (const s of doc.querySelectorAll('style')) {
      if (/evil|kpcal-evil/.test(s.textContent)) found.push('style: ' + s.textContent.slice(0, 200));
    }
    for (const a of doc.querySelectorAll('a[href]')) {
      if (/^(mailto:|https?:\\/\\/(?!127\\.0\\.0\\.1))/i.test(a.getAttribute('href'))
          && /evil/i.test(a.href)) found.push(a.outerHTML.slice(0, 200));
    }
  }
  return { found, pwned: window.kpcalPwned ?? null };
}
"""


def page_text(page) -> str:
    """The page's text as a person reads it (word joiners taken out), the click view's too."""
    texts = [page.locator("body").inner_text()]
    if page.locator(IMAGE_IFRAME).count() == 1:
        texts.append(page.frame_locator(IMAGE_IFRAME).locator("body").inner_text())
    return "\n".join(texts).replace(WORD_JOINER, "")


def nothing_injected(page, where: str) -> None:
    result = page.evaluate(INJECTED_JS)
    assert not result["found"] and result["pwned"] is None, (where, result)


def wait_idle(page) -> None:
    page.wait_for_function(IDLE_JS)


def point_tooltips(page, chart) -> list[str]:
    """Hover each point of ``chart`` (Vega's SVG): the tooltip texts shown."""
    tooltips = []
    points = chart.locator("g.mark-symbol.role-mark path")
    for i in range(points.count()):
        box = points.nth(i).bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        tooltip = page.locator("#vg-tooltip-element")
        tooltip.wait_for(state="visible", timeout=10_000)
        tooltips.append(tooltip.inner_text())
        page.mouse.move(0, 0)
        tooltip.wait_for(state="hidden", timeout=10_000)
    return tooltips


def test_hostile_names_are_text_on_every_page_and_nothing_leaves_it(tmp_path, monkeypatch):
    monkeypatch.delenv("KPCAL_PROJECT", raising=False)
    root = tmp_path / "root"
    root.mkdir()
    project = make_hostile_project(root)
    env = {
        "KPCAL_DATA_ROOT": str(root),
        "KPCAL_STATE_DIR": str(tmp_path / "state"),
        "KPCAL_DEMO_DIR": str(tmp_path / "demo"),
    }
    recordings = [v + DEMO_SCORER for v in HOSTILE_VIDEOS]
    with (
        streamlit_server(env, tmp_path / "streamlit.log") as server,
        chromium() as browser,
    ):
        context = browser.new_context(viewport={"width": 1400, "height": 1100})
        context.set_default_timeout(60_000)
        requests: list[str] = []
        context.on("request", lambda request: requests.append(request.url))
        page = context.new_page()
        page_errors: list[str] = []
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        query = urlencode({"project": str(project)})

        # Setup: the sidebar's project, the recording without video, then the samples drawn
        page.goto(f"{server.url}/setup?{query}")
        page.get_by_text(re.compile(r"recordings? needs? attention")).first.wait_for()
        wait_idle(page)
        text = page_text(page)
        assert f"Project: {project}" in text, text
        assert HOSTILE_NO_VIDEO + DEMO_SCORER in text, text
        nothing_injected(page, "setup")
        page.get_by_role("button", name="Sample frames").click()
        page.get_by_text("Left out 1 recording", exact=False).wait_for()
        page.get_by_role("button", name=re.compile("Start annotating")).first.wait_for()
        wait_idle(page)
        assert repr(HOSTILE_NO_VIDEO + DEMO_SCORER) in page_text(page)
        nothing_injected(page, "setup, samples drawn")

        # Annotate: the legend, the caption, a hostile annotator's click and its message
        page.goto(f"{server.url}/annotate?{query}")
        page.wait_for_function(SAMPLE_SHOWN_JS, arg=1)  # the click view's lines
        wait_idle(page)
        text = page_text(page)
        assert all(name in text for name in HOSTILE_BODYPARTS), text
        assert any(f"recording {r} · " in text for r in recordings), text
        box = page.locator('input[aria-label="Annotator"]')
        box.fill(HOSTILE_ANNOTATOR)
        box.press("Enter")
        wait_idle(page)
        image = page.frame_locator(IMAGE_IFRAME).locator("#image")
        image.wait_for()
        image.click(position={"x": 100, "y": 100})
        page.get_by_text("Saved", exact=False).first.wait_for()
        wait_idle(page)
        assert str(project) in page_text(page)
        nothing_injected(page, "annotate")

        # Fit: the residuals named, and a chart point's tooltip
        page.goto(f"{server.url}/fit?{query}")
        page.get_by_text("slope =", exact=False).first.wait_for()
        wait_idle(page)
        page.get_by_role("tab", name="Largest residuals").click()
        residuals = page.get_by_text(" px where the line expects ", exact=False)
        residuals.first.wait_for()
        texts = [t.replace(WORD_JOINER, "") for t in residuals.all_inner_texts()]
        assert any(repr(r) in t for t in texts for r in recordings), texts
        nothing_injected(page, "fit")
        chart = page.locator('[data-testid="stVegaLiteChart"]').first
        chart.scroll_into_view_if_needed()
        tooltips = point_tooltips(page, chart)
        named = [t for t in tooltips if any(name in t for name in HOSTILE_BODYPARTS)]
        assert len(named) == len(tooltips) >= 10, tooltips  # each point's bodypart, as text
        nothing_injected(page, "fit, tooltips")

        # The refusal box of a project outside the data root
        outside = f"/elsewhere/[Session expired: sign in again](http://{EVIL}) ![x](http://{EVIL}/x.png) <img src=x onerror=window.kpcalPwned=3> `x`"
        page.goto(f"{server.url}/setup?{urlencode({'project': outside})}")
        page.get_by_text("Still working on the previous project", exact=False).wait_for()
        wait_idle(page)
        assert outside in page_text(page)
        nothing_injected(page, "refusal")
        assert not page_errors, page_errors
    assert not local_only(requests, server.url), sorted(set(local_only(requests, server.url)))
    log = server.log()
    assert "Traceback" not in log, log[-4000:]
