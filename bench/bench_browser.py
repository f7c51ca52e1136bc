"""What a person waits for in Chromium: "Sample frames" → first sample shown, and Next.

The app (``streamlit run app.py``) is driven by Debian's Chromium (Playwright,
``/usr/bin/chromium``) on two projects:

- ``demo``: the demo project (``kpcal_core.demo``) with 1280×1024 videos of 2 × 300 frames;
- ``bench``: the frame bench's videos (``bench_frames.py``): four 1280×1024 H.264 videos of
  21,000 frames, keyframe every 250 frames, 3 B-frames (generated once under ``--workdir``,
  about 10 minutes), with synthetic DeepLabCut keypoints for every frame.

On each:

1. open the setup page, wait until it has run and then ``--read-seconds`` (default 2: a
   person reads the recordings table and the form; the app indexes the videos meanwhile;
   0: at once), press **Sample frames** (100
   samples), then press "Start annotating" as soon as the page says the first sample's
   frame is ready: the time from the press to that, and to the first sample's image shown;
2. press **Next** 30 times, with a pause after each as a person looks at the sample: the
   time from the click on Next to the next sample's image shown (the annotate page prepares
   the next samples' frames in the background).

Next is timed inside the page, from the click event's time stamp to the first animation
frame in which the new image is loaded and shown (so Playwright's own checks before it
clicks are not counted); the time Playwright waited, from its call to its return, is
printed beside it. Prints median and p95. ``--quick``: 10 Nexts, the demo project only.
Targets (issue 12): first sample ≤ 1.5 s, Next median ≤ 120 ms and p95 ≤ 250 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_frames import ensure_videos  # noqa: E402

from kpcal_app.click import IFRAME_TITLE  # noqa: E402
from kpcal_core.config import setup_project  # noqa: E402
from kpcal_core.demo import DEMO_BODYPARTS, make_demo_project, write_deeplabcut_csv  # noqa: E402
from kpcal_core.session import CalibrationSession, save_session  # noqa: E402

REPO = HERE.parent
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.dataset.testScriptState === 'notRunning';
}"""
IFRAME = f'iframe[title="{IFRAME_TITLE}"]'
# Counts the clicks on Next: the time stamp of the last one (performance.now() clock).
WATCH_NEXT_JS = """() => document.addEventListener('click', (event) => {
  const button = event.target.closest('button');
  if (button && /^Next(?! unannotated)/.test(button.innerText)) window.kpcalNextAt = event.timeStamp;
}, true)"""
# The image of sample ``i`` shown: the click view's caption says so (kpcal_app.click: shown
# with its image) and the view shows another view's image, loaded. Notes when
# (performance.now()) it first saw it.
SHOWN_JS = """
([i, iframe]) => {
  const frames = document.querySelectorAll(iframe);
  if (frames.length !== 1) return false;
  const doc = frames[0].contentDocument;
  const caption = doc && doc.getElementById('sample-caption');
  if (!caption || !caption.textContent.startsWith(`Sample ${i} of `)) return false;
  const img = doc.getElementById('image');
  if (!img || !img.complete || !img.naturalWidth || !img.dataset.view) return false;
  if (img.dataset.view === window.kpcalLastView) return false;
  window.kpcalLastView = img.dataset.view;
  window.kpcalShownAt = performance.now();
  return true;
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_project(project: Path, workdir: Path, n_frames: int = 21_000, seed: int = 0) -> None:
    """The frame bench's long-GOP videos with synthetic keypoints for every frame."""
    videos = ensure_videos(workdir, "h264-g250-bf3", n_frames)
    rng = np.random.default_rng(seed)
    keypoints = project / "keypoints"
    keypoints.mkdir(parents=True, exist_ok=True)
    k = len(DEMO_BODYPARTS)
    for video in videos:
        centre = np.array([640.0, 512.0]) + rng.normal(0, 200, (n_frames, 1, 2))
        coordinates = centre + rng.normal(0, 30, (n_frames, k, 2))
        confidences = np.where(
            rng.random((n_frames, k)) < 0.35,
            10 ** rng.uniform(-3, 0, (n_frames, k)),
            rng.uniform(0.85, 1.0, (n_frames, k)),
        )
        name = f"{video.stem}DLC_bench"
        write_deeplabcut_csv(keypoints / f"{name}.csv", coordinates, confidences, DEMO_BODYPARTS)
    folder = str(videos[0].parent)
    setup_project(project, bodyparts=DEMO_BODYPARTS, video_dir=folder, fps=30.0)
    save_session(
        project,
        CalibrationSession(
            keypoints_path="keypoints", keypoints_format="deeplabcut", video_dir=folder
        ),
    )


def measure(project: Path, state: Path, n_next: int, read_seconds: float) -> dict:
    port = free_port()
    env = {**os.environ, "KPCAL_STATE_DIR": str(state), "KPCAL_PROJECT": str(project)}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(300_000)
            page.goto(f"{url}/setup")
            button = page.get_by_role("button", name="Sample frames")
            button.wait_for()
            page.wait_for_function(IDLE_JS)
            page.wait_for_timeout(1000 * read_seconds)
            started = time.monotonic()
            button.click()
            # The button is there at once; the first sample's frame is ready when the page
            # says so (or, on a fast fill, when all are).
            page.get_by_text(
                re.compile(r"^(The first sample is ready|All frames ready)")
            ).first.wait_for()
            offered = time.monotonic() - started
            page.get_by_role("button", name=re.compile("Start annotating")).click()
            page.wait_for_function(SHOWN_JS, arg=[1, IFRAME], polling="raf")
            first = time.monotonic() - started
            page.evaluate(WATCH_NEXT_JS)
            in_page, waited = [], []
            for i in range(2, n_next + 2):
                page.wait_for_timeout(400)  # a person looks at the sample
                started = time.monotonic()
                page.get_by_role("button", name=re.compile(r"^Next(?! unannotated)")).click()
                page.wait_for_function(SHOWN_JS, arg=[i, IFRAME], polling="raf")
                waited.append(time.monotonic() - started)
                in_page.append(
                    page.evaluate("() => window.kpcalShownAt - window.kpcalNextAt") / 1000
                )
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"offered": offered, "first": first, "in_page": in_page, "waited": waited}


def summary(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {1000 * statistics.median(ordered):.0f} ms, p95 {1000 * p95:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 Nexts, the demo project only")
    parser.add_argument("--projects", default=None, help="comma-separated: demo,bench")
    parser.add_argument("--workdir", default="/tmp/kpcal-bench", help="the bench's videos")
    parser.add_argument(
        "--read-seconds", type=float, default=2.0, help="pause before Sample frames"
    )
    args = parser.parse_args()
    n_next = 10 if args.quick else 30
    names = (args.projects or ("demo" if args.quick else "demo,bench")).split(",")
    work = Path(tempfile.mkdtemp(prefix="kpcal-bench-browser-"))
    descriptions = {
        "demo": "demo project, 1280x1024 H.264 videos of 2 x 300 frames",
        "bench": "bench project, 4 x 1280x1024 H.264 videos of 21,000 frames, GOP 250, B-frames",
    }
    results = {}
    for name in names:
        project = work / name
        if name == "demo":
            make_demo_project(project, n_recordings=2, n_frames=300, width=1280, height=1024)
        else:
            bench_project(project, Path(args.workdir))
        results[name] = measure(project, work / f"state-{name}", n_next, args.read_seconds)
    print("Chromium, 100 samples drawn on the setup page; targets: first <= 1.5 s, "
          "Next median <= 120 ms, p95 <= 250 ms")  # fmt: skip
    print(f"(Sample frames pressed {args.read_seconds:g} s after the setup page had run)")
    for name, result in results.items():
        print(f"  {descriptions[name]}:")
        print(
            f'    "Sample frames" -> "Start annotating" offered: {result["offered"]:.2f} s, '
            f"-> first sample shown: {result['first']:.2f} s"
        )
        print(f"    Next -> next image shown, {len(result['in_page'])} Nexts, from the click "
              f"event: {summary(result['in_page'])}")  # fmt: skip
        print(f"      (Playwright's wait, from its click call: {summary(result['waited'])})")


if __name__ == "__main__":
    main()
