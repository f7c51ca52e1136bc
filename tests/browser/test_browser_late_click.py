"""A click right after Next belongs to what the person saw (issue 19, finding 7), in Chromium.

The app is served by ``streamlit run`` and driven by Playwright's async API
over a slow link: Playwright's ``page.route_web_socket`` relays the app's
WebSocket, passing what the page sends at once and what the server sends
through :class:`browser_support.SlowLink` (200 KB/s plus 20 ms, in order), so a
sample's image (a ~60 KB message) arrives a few hundred milliseconds after
the small messages of the same rerun. On the page as it was, the caption
("Sample n of N", "Target bodypart = …") is one of those small messages: it
changed long before the image did.

Some samples are annotated on disk before the run (every other one). The test
presses Next and, 0–30 ms later, clicks the image (the click lands within about 50 ms); 30 times, waiting for the
page to settle after each click. In the page it records, at each pointerdown
on the image, the image's ``data-view`` and the caption shown with it (the
click view's lines; on the old page, the page's caption), every pair of
(``data-view``, caption) the page ever showed (a ``MutationObserver`` in both
documents), each click value sent, and whether the view refused the click and
showed its word. Checked:

* the caption shown always belongs to the image shown (never one without the
  other), at every moment observed and at every click;
* every annotation saved during the run is on the sample whose image and
  caption were shown at the click, at that click's position;
* no annotation present before the run was replaced, except by a click on
  its own image while it was the sample the session was on;
* each click the view refused showed its word on the image; each click sent
  was answered by a message (saved, saved on the sample clicked, or not saved
  naming it);
* no error box, no JavaScript error, no traceback.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import statistics
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

from browser_support import (  # noqa: E402
    CHROMIUM,
    DEMO_FRAME_SHAPE,
    IMAGE_IFRAME,
    NEXT,
    STREAM_URL,
    WATCH_JS,
    SlowLink,
    async_chromium,
    prepared_demo_project,
    streamlit_server,
)

from kpcal_core.annotations import Annotation  # noqa: E402
from kpcal_core.project import load_project_data, load_working_annotations, save_work  # noqa: E402
from kpcal_core.views import crop_for_sample  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

N_CLICKS = 30
N_SAMPLES = 40
BYTES_PER_SECOND = 200_000
LATENCY_S = 0.02
# The session's own name (no name is typed: the OS user): another name's samples would be
# skipped by Next (issue 23: a team's Next skips what someone else did).
EARLIER = getpass.getuser()

# In every document: the top page keeps what was shown and clicked; the click view's
# iframe reports its pointerdowns and clicks, and its changes.
RECORD_JS = """
(() => {
  const top = window.top;
  const when = (event) => performance.timeOrigin + (event ? event.timeStamp : performance.now());
  if (window === top) {
    window.kpcalIteration = -1;
    window.kpcalNexts = [];  // [iteration, time] of each click on Next
    window.kpcalClicks = [];  // one per pointerdown on the image
    window.kpcalSent = [];  // each click value the view sent
    window.kpcalPairs = [];  // each (data-view, caption) the page showed
    // What the page shows: the image's view and the caption with it (the click view's
    // lines; a page without them has its caption among the page's elements).
    window.kpcalShown = () => {
      const frame = document.querySelector('IMAGE_IFRAME');
      const doc = frame && frame.contentDocument;
      const img = doc && doc.getElementById('image');
      const box = doc && doc.getElementById('sample');
      let caption = null;
      if (box) {
        caption = box.hidden ? null : doc.getElementById('sample-caption').textContent;
      } else {
        caption = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
          .map((e) => e.innerText).find((t) => /^Sample \\d+ of /.test(t)) || null;
      }
      return { view: (img && img.dataset.view) || null, caption };
    };
    let last = '';
    window.kpcalPair = () => {
      const shown = window.kpcalShown();
      const key = JSON.stringify(shown);
      if (key !== last) {
        last = key;
        window.kpcalPairs.push([shown.view, shown.caption]);
      }
    };
    const watch = () => new MutationObserver(window.kpcalPair).observe(document,
      { subtree: true, childList: true, characterData: true, attributes: true });
    if (document.documentElement) watch(); else document.addEventListener('DOMContentLoaded', watch);
    document.addEventListener('click', (event) => {
      const button = event.target.closest && event.target.closest('button');
      if (button && /^Next(?! unannotated)/.test(button.innerText)) {
        window.kpcalNexts.push([window.kpcalIteration, when(event)]);
      }
    }, true);
    window.addEventListener('message', (event) => {
      if (event.data && event.data.type === 'streamlit:setComponentValue') {
        window.kpcalSent.push([window.kpcalIteration, event.data.value]);
      }
    });
    return;
  }
  // An iframe's window may outlive its first (blank) document: listen on the window, once,
  // and watch the document the page loads.
  if (window.kpcalRecording) return;
  window.kpcalRecording = true;
  const pair = () => { try { top.kpcalPair(); } catch (e) {} };
  window.addEventListener('DOMContentLoaded', () => new MutationObserver(pair).observe(document,
    { subtree: true, childList: true, characterData: true, attributes: true }));
  window.addEventListener('pointerdown', (event) => {
    if (event.target.id !== 'image') return;
    const note = document.getElementById('note');
    top.kpcalClicks.push({ iteration: top.kpcalIteration, at: when(event), ...top.kpcalShown(),
                           refusedBefore: note ? Number(note.dataset.refused || 0) : 0 });
  }, true);
  window.addEventListener('click', (event) => {  // after the view's own click handler
    if (event.target.id !== 'image') return;
    const note = document.getElementById('note');
    const click = top.kpcalClicks[top.kpcalClicks.length - 1];
    click.refusedAfter = note ? Number(note.dataset.refused || 0) : 0;
    click.word = note && !note.hidden ? note.textContent : null;
  });
})();
""".replace("IMAGE_IFRAME", IMAGE_IFRAME)
# Settled: the script has run, the image is loaded and the page shows a view and a caption.
SETTLED_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.dataset.testScriptState !== 'notRunning') return null;
  const frame = document.querySelector('IMAGE_IFRAME');
  const img = frame && frame.contentDocument && frame.contentDocument.getElementById('image');
  if (!img || !img.complete || !img.naturalWidth) return null;
  const shown = window.kpcalShown();
  return shown.view && shown.caption ? shown : null;
}""".replace("IMAGE_IFRAME", IMAGE_IFRAME)
# The save message of the annotate page (a caption, or a warning when not saved).
MESSAGE_JS = """() => [...document.querySelectorAll(
  '[data-testid="stCaptionContainer"], [data-testid="stAlertContainer"], [role="alert"]')]
  .map((e) => e.innerText.trim())
  .find((t) => /^(Saved|Not saved|That click)/.test(t)) || null"""
CAPTION_INDEX = re.compile(r"^Sample (\d+) of ")


def sample_number(caption: str | None) -> int | None:
    found = CAPTION_INDEX.match(caption or "")
    return int(found[1]) if found else None


def pre_annotate(project: Path, samples: list) -> dict:
    """Every other sample (1, 3, 5, ...) annotated on disk by someone else, off its keypoint."""
    data = load_project_data(project)
    records = {}
    for key in samples[: N_CLICKS + 2 : 2]:
        recording, frame, bodypart = key
        x, y = data.coordinates[recording][frame, data.bodyparts.index(bodypart)]
        records[key] = Annotation(
            float(x) + 3.25, float(y) - 2.5, EARLIER, "2025-01-01T00:00:00.000000+00:00"
        )
    save_work(data, dict(records))
    return load_working_annotations(project)


def frame_position(data, key, value: dict) -> tuple[float, float]:
    """Where a click value lands in the video frame of sample ``key`` (zoom 1)."""
    recording, frame, bodypart = key
    keypoints = np.asarray(data.coordinates[recording][frame], dtype=float)
    view = crop_for_sample(DEMO_FRAME_SHAPE, keypoints[data.bodyparts.index(bodypart)], keypoints)
    return view.to_frame(value["x"], value["y"], value["width"])


async def settle(page, link: SlowLink, sample: int) -> dict:
    """Wait until the page shows ``sample`` (1-based), the server has been silent for a second
    and the page has run and drawn all it sent."""
    for _ in range(60):
        await link.quiet(1.0)
        shown = await (await page.wait_for_function(SETTLED_JS, polling=20)).json_value()
        await page.wait_for_timeout(100)  # the image's load event, the lines, the message
        if sample_number(shown["caption"]) == sample and not link.pending:
            return {**shown, "message": await page.evaluate(MESSAGE_JS)}
    raise AssertionError(f"sample {sample} never shown: {shown}")


async def drive(url: str, project: Path, folder: Path) -> dict:
    """Press Next and click the image within 50 ms, N_CLICKS times; what the page recorded."""
    async with async_chromium() as browser:
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(60_000)
        await context.add_init_script(WATCH_JS)
        await context.add_init_script(RECORD_JS)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
        link = SlowLink(BYTES_PER_SECOND, LATENCY_S)
        await page.route_web_socket(STREAM_URL, link.route)
        try:
            await page.goto(f"{url}/annotate?{urlencode({'project': str(project), 'sample': 1})}")
            settled = [await settle(page, link, 1)]
            next_box = await page.get_by_role("button", name=NEXT).bounding_box()
            image_box = await page.frame_locator(IMAGE_IFRAME).locator("#image").bounding_box()
            for n in range(N_CLICKS):
                await page.evaluate(f"() => {{ window.kpcalIteration = {n}; }}")
                await page.mouse.click(
                    next_box["x"] + next_box["width"] / 2, next_box["y"] + next_box["height"] / 2
                )
                await asyncio.sleep((n * 7 % 31) / 1000)  # 0-30 ms later (then the click itself)
                # Near the centre (the sampled keypoint, inside the video), a spot per click.
                await page.mouse.click(
                    round(image_box["x"] + image_box["width"] / 2) + n % 7 * 4 - 12,
                    round(image_box["y"] + image_box["height"] / 2) + n % 5 * 4 - 8,
                )
                settled.append(await settle(page, link, n + 2))
            recorded = await page.evaluate(
                "() => ({ clicks: kpcalClicks, sent: kpcalSent, pairs: kpcalPairs,"
                " nexts: kpcalNexts, errors: kpcalErrors })"
            )
        except BaseException:
            await page.screenshot(path=str(folder / "late-click.png"))
            raise
        finally:
            link.close()
        await context.close()
    return {**recorded, "settled": settled, "page_errors": errors}


def test_a_click_right_after_next_belongs_to_the_image_and_caption_shown(tmp_path, monkeypatch):
    monkeypatch.delenv("KPCAL_PROJECT", raising=False)
    project = tmp_path / "project"
    samples = prepared_demo_project(project, seed=3, num_samples=N_SAMPLES)
    before = pre_annotate(project, samples)
    assert len(before) == N_CLICKS // 2 + 1
    env = {"KPCAL_DEMO_DIR": str(tmp_path / "demo"), "KPCAL_STATE_DIR": str(tmp_path / "state")}
    with streamlit_server(env, tmp_path / "streamlit.log") as server:
        seen = asyncio.run(drive(server.url, project, tmp_path))
        log = server.log()
    after = load_working_annotations(project)
    data = load_project_data(project)
    (tmp_path / "recorded.json").write_text(json.dumps(seen, indent=1))

    assert not seen["errors"] and not seen["page_errors"], (seen["errors"], seen["page_errors"])
    assert "Traceback" not in log, log[-4000:]
    # Where the session was after each Next (it moved one sample each time).
    where = [sample_number(s["caption"]) for s in seen["settled"]]
    assert where == list(range(1, N_CLICKS + 2)), where
    # A view token names the sample (before "@"), the zoom and the image's size: the first
    # image of sample 1 is redrawn at the size the view shows it (another token).
    numbers = {s["view"].split("@")[0]: sample_number(s["caption"]) for s in seen["settled"]}

    def view_sample(view: str | None) -> int | None:
        return numbers.get(str(view).split("@")[0])

    clicks = seen["clicks"]
    assert len(clicks) == N_CLICKS, clicks
    problems: list[str] = []

    # 1. The caption shown always belongs to the image shown: never one without the other,
    # never another sample's, at any moment observed and at each click.
    for view, caption in seen["pairs"]:
        if view is None and caption is None:
            continue  # nothing shown yet
        if view is None or caption is None:
            problems.append(f"one without the other: image {view}, caption {caption!r:.30}")
        elif view_sample(view) != sample_number(caption):
            problems.append(
                f"image of sample {view_sample(view)} shown under the caption of sample "
                f"{sample_number(caption)}"
            )
    for n, click in enumerate(clicks):
        image, caption = view_sample(click["view"]), sample_number(click["caption"])
        if image != caption:
            problems.append(f"click {n}: on the image of sample {image} captioned {caption}")

    # 2. Each click refused by the view said so on the image; each click sent was answered.
    refused = [c for c in clicks if c.get("refusedAfter", 0) > c["refusedBefore"]]
    problems += [f"refused without a word: {c}" for c in refused if "click again" not in c["word"]]
    # The view also asks once, on opening, for its image drawn at the size it shows it.
    sizes = [(n, value) for n, value in seen["sent"] if "fit" in value]
    assert all(n == -1 for n, _ in sizes), sizes  # never among the clicks
    sent_clicks = [(n, value) for n, value in seen["sent"] if "fit" not in value]
    sent = dict(sent_clicks)
    assert len(sent) == len(sent_clicks) == N_CLICKS - len(refused), seen["sent"]
    for n, value in sent.items():
        assert value["view"] == clicks[n]["view"], (n, value, clicks[n])
        message = seen["settled"][n + 1]["message"] or ""
        late = re.match(r"^(Saved on|Not saved: that click was on) sample (\d+)", message)
        if not (message.startswith("Saved") or late):
            problems.append(f"click {n}: answered {message!r}")
        elif late and int(late[2]) != view_sample(value["view"]):
            problems.append(f"click {n} on sample {view_sample(value['view'])}: {message!r}")

    # 3. Every annotation saved in the run is on the sample whose image and caption were shown
    # at its click, at that click's position.
    changed = {k: a for k, a in after.items() if before.get(k) != a}
    made_by = {}
    for key, annotation in changed.items():
        number = samples.index(key) + 1
        made_by[number] = [
            n
            for n, value in sent.items()
            if np.allclose(annotation.xy, frame_position(data, key, value))
        ]
        seen_at = [
            (view_sample(sent[n]["view"]), sample_number(clicks[n]["caption"]))
            for n in made_by[number]
        ]
        if seen_at != [(number, number)]:
            problems.append(f"sample {number} saved from clicks seeing (image, caption) {seen_at}")

    # 4. No annotation present before the run was replaced, unless by a click on its own image
    # while it was the sample the session had moved to.
    replaced = [samples.index(k) + 1 for k in before if after.get(k) != before[k]]
    for number in replaced:
        if [where[n + 1] for n in made_by[number]] != [number]:
            problems.append(
                f"sample {number}, annotated before, replaced by a click made after the "
                f"session moved on to sample {[where[n + 1] for n in made_by[number]]}"
            )

    delays = [c["at"] - t for (n, t), c in zip(seen["nexts"], clicks, strict=True)]
    messages = [s["message"] or "" for s in seen["settled"][1:]]
    print(
        f"\nlate clicks: {N_CLICKS} clicks {statistics.median(delays):.0f} ms (median, max "
        f"{max(delays):.0f} ms) after Next; {len(refused)} refused by the view while an image "
        f"loaded, {len(sent)} sent: "
        f"{sum(m.startswith('Saved on sample') for m in messages)} saved on the sample clicked "
        f"(no longer shown), {sum(m.startswith('Not saved') for m in messages)} refused "
        f"(already annotated); {len(changed)} annotations saved, {len(replaced)} earlier ones "
        f"replaced; {len(problems)} problems"
    )
    assert not problems, "\n".join(problems)
