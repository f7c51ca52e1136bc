"""Load: five browser sessions annotate at once on one server; nothing is lost, nothing fails.

One ``streamlit run app.py`` serves five Playwright contexts (separate
browser sessions, like five people) in Debian's Chromium:

* three work on three separate projects and annotate samples 1..20 each
  (moving on with "Next unannotated", "Next", or both in turn);
* two work on the same project: A annotates samples 1..20, B opens
  ``?sample=11`` and annotates 11..30, so samples 11..20 are clicked by both
  (B first, A about ten clicks later).

The sessions run concurrently (Playwright's async API, one coroutine per
session, ``asyncio.gather``): each click is answered while the other
sessions' clicks and page changes are being handled. Each session types its
own name in the sidebar's "Annotator" box and clicks its own spot near the
centre of the image (the sampled keypoint), so every click redraws the image
(the red X moves) and every saved position tells whose click it was.

Checked: no page ever shows a Streamlit exception or an error box (watched
continuously by a ``MutationObserver``), no JavaScript error in any page or
frame, no traceback in the server log; each separate project's
``error_annotations.csv`` holds exactly its session's 20 samples at the
clicked positions; the shared project holds the union (30): each sample at
the position, with the annotator and a time within the round trip, of the
session that clicked it, the overlapping ones of the later click; after a
reload every page shows its project's full count. Prints the wall time and
the click round trips (click -> red X drawn) under this load. On a failure,
a screenshot and the state of the image component of the page at fault are
written to the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

from browser_support import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    IMAGE_IFRAME,
    prepared_demo_project,
    streamlit_server,
)

from kpcal_core import load_annotations  # noqa: E402
from kpcal_core.annotations import now_utc  # noqa: E402
from kpcal_core.project import (  # noqa: E402
    load_project_data,
    load_working_annotations,
)
from kpcal_core.views import crop_for_sample  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

N_CLICKS = 20  # per session
N_SAMPLES = 60  # per project
SHARED_B_START = 11  # session B's first sample (1-based): overlap 11..20 with A
FRAME_SHAPE = (360, 480)  # the demo videos' height, width
TIMEOUT_MS = 60_000

ERROR_SELECTOR = '[data-testid="stException"], [data-testid="stAlertContentError"]'
CAPTION = re.compile(r"Sample (\d+) of (\d+) · recording (\S+) · keypoint frame (\d+)")
TARGET = re.compile(
    r"Target bodypart = (\S+) \| confidence = [\d.]+ \| Completed annotations = (\d+)"
)
NEXT = re.compile(r"^Next(?! unannotated)")  # the button's name also holds its shortcut
NEXT_UNANNOTATED = re.compile(r"^Next unannotated")


def _js(text: str) -> str:
    return text.replace("IMAGE_IFRAME", IMAGE_IFRAME.replace("'", "\\'")).replace(
        "ERROR_SELECTOR", ERROR_SELECTOR.replace("'", "\\'")
    )


# In every document (the page and the component's iframes): each Streamlit exception or
# error box ever shown, even for a moment, and each JavaScript error, go to the page's
# kpcalErrors; the component messages each document receives go to its kpcalMessages.
WATCH_JS = _js("""
(() => {
  const top = window.top;
  if (window === top) window.kpcalErrors = [];
  const report = (text) => { try { top.kpcalErrors.push(text); } catch (e) {} };
  window.addEventListener('error', (e) =>
    report(`JavaScript error in ${location.pathname}: ${e.message} (${e.filename}:${e.lineno})`));
  window.kpcalMessages = [];
  window.addEventListener('message', (e) => {
    if (!e.data || !e.data.type) return;
    window.kpcalMessages.push([Date.now() % 1000000, e.data.type]);
    if (window.kpcalMessages.length > 40) window.kpcalMessages.shift();
  });
  if (window !== top) return;
  const look = () => document.querySelectorAll('ERROR_SELECTOR').forEach((e) => {
    if (!e.dataset.kpcalSeen) { e.dataset.kpcalSeen = '1'; report(e.innerText); }
  });
  new MutationObserver(look).observe(document, { childList: true, subtree: true });
})();
""")
# The live image (loaded, sized to the window, listening to clicks), else null.
IMAGE_JS = _js("""
() => {
  const frames = document.querySelectorAll('IMAGE_IFRAME');
  if (frames.length !== 1) return null;
  const frame = frames[0];
  const img = frame.contentDocument && frame.contentDocument.getElementById('image');
  if (!img || !img.complete || !img.naturalWidth || img.style.width !== img.width + 'px') return null;
  if (typeof img.onclick !== 'function') return null;
  return { frame, src: img.src, width: img.width, height: img.height };
}
""").strip()
# Sample ``i`` shown with its image in another iframe than the last one seen (a new sample).
NEW_SAMPLE_JS = (
    """
(i) => {
  const shown = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .some((e) => e.innerText.startsWith(`Sample ${i} of `));
  const live = (%s)();
  if (!shown || !live || live.frame === window.kpcalFrame) return null;
  window.kpcalFrame = live.frame;
  return live.src;
}
"""
    % IMAGE_JS
)
# The same iframe's image redrawn (a new mark) with at least / exactly ``n`` completed.
REDRAWN_JS = (
    """
([previousSrc, n, exact]) => {
  const live = (%s)();
  if (!live || live.frame !== window.kpcalFrame || live.src === previousSrc) return null;
  const count = [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
    .map((e) => /Completed annotations = (\\d+)/.exec(e.innerText)).find((m) => m);
  if (!count || (exact ? Number(count[1]) !== n : Number(count[1]) < n)) return null;
  return live.src;
}
"""
    % IMAGE_JS
)
CURRENT_IMAGE_JS = (
    """
() => { const live = (%s)(); if (live) window.kpcalFrame = live.frame; return live; }
"""
    % IMAGE_JS
)
COMPLETED_JS = """
(n) => [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')].some(
  (e) => { const m = /Completed annotations = (\\d+)/.exec(e.innerText); return m && m[1] === String(n); })
"""
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.dataset.testScriptState === 'notRunning';
}"""
# For a failure report: the component iframes and the messages around them.
DIAGNOSE_JS = """() => ({ errors: window.kpcalErrors, page: window.kpcalMessages,
  frames: [...document.querySelectorAll('iframe')].map((f) => {
    const img = f.contentDocument && f.contentDocument.getElementById('image');
    return { title: f.title, height: f.height, newest: f === window.kpcalFrame,
      messages: f.contentWindow && f.contentWindow.kpcalMessages,
      image: img && { complete: img.complete, width: img.width, src: img.src.length,
                      onclick: typeof img.onclick } };
  }) })"""


@dataclass
class Click:
    index: int  # 1-based sample number shown
    key: tuple[str, int, str]
    display_xy: tuple[int, int]  # in the pixels of the image as shown
    shown_width: int  # the width the image was shown at
    started: str  # UTC ISO, just before the click
    answered: str  # UTC ISO, once the mark was drawn
    round_trip: float  # seconds


@dataclass
class Plan:
    """What one browser session does, and what it saw."""

    name: str  # annotator name, typed in the sidebar
    project: Path
    start: int  # first sample (1-based)
    navigation: str  # "next", "unannotated" or "alternate"
    offset: tuple[int, int]  # where this session clicks: display pixels from the centre
    shared: bool = False
    clicks: list[Click] = field(default_factory=list)
    navigation_times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def clicked_position(project_data, click: Click) -> tuple[float, float]:
    """Video position of ``click`` in the image of its sample."""
    recording, frame, bodypart = click.key
    keypoints = np.asarray(project_data.coordinates[recording][frame], dtype=float)
    k = project_data.bodyparts.index(bodypart)
    view = crop_for_sample(FRAME_SHAPE, keypoints[k], keypoints, zoom=1.0)
    return view.to_frame(*click.display_xy, click.shown_width)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


@contextlib.asynccontextmanager
async def async_chromium():
    """:func:`browser.chromium` for Playwright's async API."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def shown(page) -> dict:
    """The sample number, key and completed count the page shows."""
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(
        has_text=re.compile(r"^Sample \d+ of \d+")
    )
    target = page.locator('[data-testid="stMarkdownContainer"]').filter(
        has_text="Target bodypart ="
    )
    caption_text, target_text = await caption.first.inner_text(), await target.first.inner_text()
    c, t = CAPTION.search(caption_text), TARGET.search(target_text)
    assert c and t, (caption_text, target_text)
    return {
        "index": int(c[1]),
        "n": int(c[2]),
        "key": (c[3], int(c[4]), t[1]),
        "completed": int(t[2]),
    }


async def collect_errors(page, plan: Plan) -> None:
    """Move what the page's watcher saw to ``plan.errors`` (plus any error shown now)."""
    seen = await page.evaluate("() => window.kpcalErrors.splice(0)")
    now = await page.locator(ERROR_SELECTOR).all_inner_texts()
    plan.errors += list(seen) + [e for e in now if e not in seen]


@contextlib.asynccontextmanager
async def reported(page, plan: Plan, folder: Path, step: str):
    """On a failure inside, save the page's screenshot and component state to ``folder``."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(folder / f"{plan.name}.png"))
            state = await page.evaluate(DIAGNOSE_JS)
            (folder / f"{plan.name}.txt").write_text(f"failed while {step}\n{state}\n")
        raise


async def annotate(context, base_url: str, plan: Plan, samples: list, folder: Path):
    """Open the annotate page of ``plan.project`` and make ``N_CLICKS`` annotations."""
    page = await context.new_page()
    page.on("pageerror", lambda error: plan.errors.append(f"pageerror: {error}"))
    query = {"project": str(plan.project)}
    if plan.start != 1:
        query["sample"] = str(plan.start)
    async with reported(page, plan, folder, "opening the page"):
        await page.goto(f"{base_url}/annotate?{urlencode(query)}")
        await page.wait_for_function(NEW_SAMPLE_JS, arg=plan.start, timeout=120_000)

        # The annotator's name: committed with Enter (a full rerun), saved with every click.
        box = page.locator('input[aria-label="Annotator"]')
        await box.fill(plan.name)
        await box.press("Enter")
        with contextlib.suppress(Exception):  # the rerun may be over before we look
            await page.wait_for_function(f"() => !({IDLE_JS})()", timeout=2_000, polling=20)
        await page.wait_for_function(IDLE_JS)
        live = await (await page.wait_for_function(CURRENT_IMAGE_JS)).json_value()
        src = live["src"]
        assert live["height"] == live["width"], live  # a square view centred on the keypoint

    image = page.frame_locator(IMAGE_IFRAME).locator("#image")
    for n in range(N_CLICKS):
        async with reported(page, plan, folder, f"clicking annotation {n + 1}"):
            view = await shown(page)
            assert view["index"] == plan.start + n, (plan.name, view)
            assert view["n"] == len(samples), (plan.name, view)
            assert view["key"] == samples[view["index"] - 1], (plan.name, view)
            if not plan.shared:
                assert view["completed"] == n, (plan.name, view)
            size = await image.evaluate("(img) => img.width")  # as shown now
            x, y = size // 2 + plan.offset[0], size // 2 + plan.offset[1]
            started, t0 = now_utc(), time.monotonic()
            await image.click(position={"x": x, "y": y})
            # A separate project counts exactly; the shared one at least this session's.
            handle = await page.wait_for_function(
                REDRAWN_JS, arg=[src, n + 1, not plan.shared], polling="raf"
            )
            t1, answered = time.monotonic(), now_utc()
            src = await handle.json_value()
            plan.clicks.append(
                Click(view["index"], view["key"], (x, y), size, started, answered, t1 - t0)
            )
            await collect_errors(page, plan)
        if n + 1 == N_CLICKS:
            break
        unannotated = plan.navigation == "unannotated" or (
            plan.navigation == "alternate" and n % 2 == 0
        )
        async with reported(page, plan, folder, f"going on from sample {view['index']}"):
            t0 = time.monotonic()
            await page.get_by_role("button", name=NEXT_UNANNOTATED if unannotated else NEXT).click()
            handle = await page.wait_for_function(
                NEW_SAMPLE_JS, arg=view["index"] + 1, polling="raf"
            )
            plan.navigation_times.append(time.monotonic() - t0)
            src = await handle.json_value()
    return page


async def reload_and_count(page, plan: Plan, expected: int, folder: Path) -> None:
    """Reload: the page opens on the last sample with the project's full count."""
    async with reported(page, plan, folder, "reloading"):
        await page.reload()
        await page.wait_for_function(NEW_SAMPLE_JS, arg=plan.clicks[-1].index)
        await page.wait_for_function(COMPLETED_JS, arg=expected)
        assert (await shown(page))["completed"] == expected, plan.name
        await collect_errors(page, plan)


async def run_all(
    base_url: str, plans: list[Plan], samples: dict, expected: dict, folder: Path
) -> None:
    async with async_chromium() as browser:
        contexts = []
        for _ in plans:
            context = await browser.new_context(viewport={"width": 1400, "height": 1200})
            context.set_default_timeout(TIMEOUT_MS)
            await context.add_init_script(WATCH_JS)
            contexts.append(context)
        pages = await asyncio.gather(
            *(
                annotate(context, base_url, plan, samples[plan.project], folder)
                for context, plan in zip(contexts, plans)
            )
        )
        await asyncio.gather(
            *(
                reload_and_count(page, plan, expected[plan.project], folder)
                for page, plan in zip(pages, plans)
            )
        )
        for context in contexts:
            await context.close()


def test_five_sessions_annotate_at_once(tmp_path, monkeypatch):
    started = time.monotonic()
    monkeypatch.delenv("KPCAL_PROJECT", raising=False)
    projects = [tmp_path / f"project{i}" for i in range(1, 5)]
    samples = {
        p: prepared_demo_project(p, seed=i, num_samples=N_SAMPLES)
        for i, p in enumerate(projects, 1)
    }
    for keys in samples.values():
        assert len(keys) >= SHARED_B_START - 1 + N_CLICKS and len(set(keys)) == len(keys)
    separate, shared = projects[:3], projects[3]
    plans = [
        Plan("solo1", separate[0], 1, "unannotated", (-20, 0)),
        Plan("solo2", separate[1], 1, "next", (0, -20)),
        Plan("solo3", separate[2], 1, "alternate", (10, 10)),
        Plan("shared_a", shared, 1, "next", (-20, -10), shared=True),
        Plan("shared_b", shared, SHARED_B_START, "next", (20, 10), shared=True),
    ]
    a, b = plans[3], plans[4]
    overlap = set(range(SHARED_B_START, N_CLICKS + 1))
    union_size = 2 * N_CLICKS - len(overlap)
    expected = {**dict.fromkeys(separate, N_CLICKS), shared: union_size}
    env = {"KPCAL_DEMO_DIR": str(tmp_path / "demo"), "KPCAL_STATE_DIR": str(tmp_path / "state")}
    prepared = time.monotonic()

    with streamlit_server(env, tmp_path / "streamlit.log") as server:
        asyncio.run(run_all(server.url, plans, samples, expected, tmp_path))
        log = server.log()
    browsing = time.monotonic() - prepared

    # ------------------------------------------------ no error anywhere
    for plan in plans:
        assert not plan.errors, (plan.name, plan.errors)
        assert len(plan.clicks) == N_CLICKS
    assert "Traceback" not in log, log[-4000:]
    assert not (tmp_path / "demo").exists()  # every session stayed on its own project

    # ------------------------------------------------ separate projects: exactly their clicks
    for plan in plans[:3]:
        data = load_project_data(plan.project)
        saved = load_annotations(plan.project)
        records = load_working_annotations(plan.project)
        clicked = {c.key: c for c in plan.clicks}
        assert [c.index for c in plan.clicks] == list(range(1, N_CLICKS + 1))
        assert len(saved) == N_CLICKS and set(saved) == set(clicked), plan.name
        assert set(records) == set(clicked), plan.name
        for key, click in clicked.items():
            assert records[key].annotator == plan.name
            assert click.started <= records[key].annotated_at <= click.answered
            assert np.allclose(saved[key], clicked_position(data, click)), key

    # ------------------------------------------------ shared project: the union, later click wins
    data = load_project_data(shared)
    saved = load_annotations(shared)
    records = load_working_annotations(shared)
    by_a = {c.key: c for c in a.clicks}
    by_b = {c.key: c for c in b.clicks}
    assert [c.index for c in a.clicks] == list(range(1, N_CLICKS + 1))
    assert [c.index for c in b.clicks] == list(range(SHARED_B_START, SHARED_B_START + N_CLICKS))
    both = set(by_a) & set(by_b)
    assert {by_a[k].index for k in both} == overlap
    assert len(saved) == union_size and set(saved) == set(by_a) | set(by_b)
    assert set(records) == set(saved) and all(r.has_position for r in records.values())
    a_won = 0
    for key in saved:
        clicks = sorted(
            [(plan, by[key]) for plan, by in ((a, by_a), (b, by_b)) if key in by],
            key=lambda pc: pc[1].started,
        )
        if len(clicks) == 2:  # round trips apart, so which click came later is known
            assert clicks[0][1].answered < clicks[1][1].started, (key, clicks)
        winner, click = clicks[-1]
        record = records[key]
        assert record.annotator == winner.name, (key, record, [p.name for p, _ in clicks])
        assert click.started <= record.annotated_at <= click.answered, (key, record, click)
        assert np.allclose(saved[key], clicked_position(data, click)), key
        a_won += len(clicks) == 2 and winner is a

    # ------------------------------------------------ figures
    round_trips = [c.round_trip for plan in plans for c in plan.clicks]
    navigations = [t for plan in plans for t in plan.navigation_times]
    per_session = ", ".join(
        f"{p.name} {1000 * statistics.median(c.round_trip for c in p.clicks):.0f}" for p in plans
    )
    print(
        f"\nbrowser load: {len(plans)} sessions, {len(round_trips)} clicks, "
        f"{len(both)} samples clicked by both shared sessions (later click kept: "
        f"A {a_won}, B {len(both) - a_won}); click -> mark round trip median "
        f"{1000 * statistics.median(round_trips):.0f} ms, p95 "
        f"{1000 * percentile(round_trips, 0.95):.0f} ms, max {1000 * max(round_trips):.0f} ms "
        f"(per session median: {per_session} ms); next sample median "
        f"{1000 * statistics.median(navigations):.0f} ms, p95 "
        f"{1000 * percentile(navigations, 0.95):.0f} ms; browsing {browsing:.1f} s, "
        f"total {time.monotonic() - started:.1f} s"
    )
