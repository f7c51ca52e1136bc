"""What a person waits for in the app: a click, the bytes of one view, the fit page.

Rows (both sides from one run where there is a comparison):

- one click on the annotate page: the server's work (record the annotation, save with
  the file lock and merge, re-render the crop from the frame cache, JPEG-encode), timed
  over many clicks; median and p95. Target <= 100 ms median, <= 250 ms p95.
- the annotate page's whole script rerun after "Next" in streamlit's AppTest
  (in-process runner: includes Streamlit's own overhead).
- bytes sent for one annotate view of a 1280x1024 frame: this app's JPEG crop vs the
  click component's default (uncompressed PNG of the full frame). Target <= 300 KB.
- the fit page's rerun with 1,000 annotations (AppTest). Target < 200 ms.

Run: ``python bench/bench_app.py [--quick]``.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from common import machine_summary, print_table  # noqa: E402

from kpcal_core.annotations import Annotation, now_utc  # noqa: E402
from kpcal_core.demo import make_demo_project  # noqa: E402
from kpcal_core.project import load_project_data, save_work  # noqa: E402
from kpcal_core.views import crop_for_sample, encode_jpeg, render_view  # noqa: E402


def percentile(values, q):
    return float(np.percentile(np.asarray(values), q))


def click_work(project: Path, n_clicks: int) -> list[float]:
    """Server work of one click, as pages/annotate.py does it, without Streamlit."""
    data = load_project_data(project)
    rng = np.random.default_rng(0)
    records: dict = {}
    frames = {}
    times = []
    names = list(data.coordinates)
    for i in range(n_clicks):
        recording = names[i % len(names)]
        frame = int(rng.integers(len(data.coordinates[recording])))
        k = int(rng.integers(len(data.bodyparts)))
        key = (recording, frame, data.bodyparts[k])
        video = data.video_paths[recording]
        if (video, frame) not in frames:  # the app's frame cache (decoded before the clicks)
            from kpcal_core.video import read_frames

            frames[(video, frame)] = dict(read_frames(video, [frame]))[frame]
        image = frames[(video, frame)]
        keypoints = data.coordinates[recording][frame]
        start = time.perf_counter()
        view = crop_for_sample(image.shape, keypoints[k], keypoints)
        x, y = view.to_frame(320.0, 321.0)
        records[key] = Annotation(x, y, "bench", now_utc())
        result = save_work(data, records)
        records = result.records
        rendered = render_view(
            image, view, target_xy=keypoints[k], keypoints_xy=keypoints, annotation_xy=(x, y)
        )
        encode_jpeg(rendered)
        times.append(time.perf_counter() - start)
    return times


def view_bytes() -> tuple[int, int, int]:
    """(our JPEG crop, base64 of it, the component's default PNG of the full frame) in bytes."""
    rng = np.random.default_rng(1)
    # A camera-like 1280x1024 frame: smooth background, texture and noise.
    yy, xx = np.mgrid[0:1024, 0:1280]
    base = (90 + 40 * np.sin(xx / 97.0) * np.cos(yy / 71.0)).astype(np.float32)
    frame = np.clip(base[..., None] + rng.normal(0, 12, (1024, 1280, 3)), 0, 255).astype(np.uint8)
    keypoints = np.array([[600.0, 500.0], [650.0, 520.0], [700.0, 560.0], [560.0, 470.0]])
    view = crop_for_sample(frame.shape, keypoints[0], keypoints)
    ours = encode_jpeg(render_view(frame, view, target_xy=keypoints[0], keypoints_xy=keypoints))
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG", compress_level=0)
    return len(ours), len(base64.b64encode(ours)), len(buffer.getvalue())


def apptest_reruns(project: Path, page: str, n: int, action=None) -> list[float]:
    from streamlit.testing.v1 import AppTest

    os.environ["KPCAL_PROJECT"] = str(project)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(page)
    at.run()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        if action is None:
            at.run()
        else:
            action(at).run()
        times.append(time.perf_counter() - start)
        if at.exception:
            raise RuntimeError(at.exception[0].value)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    n_clicks = 30 if args.quick else 120
    n_reruns = 5 if args.quick else 20
    print(machine_summary())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KPCAL_STATE_DIR"] = str(Path(tmp, "state"))
        project = Path(tmp, "demo")
        demo = make_demo_project(project, n_frames=200)
        times = click_work(project, n_clicks)
        rows.append(
            [
                f"one click: server work ({n_clicks} clicks, saving from the 20th on)",
                f"median {statistics.median(times) * 1e3:.1f} ms, p95 {percentile(times, 95) * 1e3:.1f} ms",
                "-",
                "<= 100 ms median, <= 250 ms p95",
                "yes"
                if statistics.median(times) <= 0.1 and percentile(times, 95) <= 0.25
                else "NO",
            ]
        )

        # annotate page rerun after "Next" (AppTest) on a project with samples
        from kpcal_core import workflows

        data = load_project_data(project)
        workflows.draw_samples(data, num_bins=10, num_samples=100, conf_pseudocount=1e-3, seed=0)
        reruns = apptest_reruns(
            project,
            "pages/annotate.py",
            n_reruns,
            action=lambda at: next(b for b in at.button if b.label == "Next").click(),
        )
        rows.append(
            [
                f"annotate page rerun after Next (AppTest, {n_reruns} reruns)",
                f"median {statistics.median(reruns) * 1e3:.0f} ms, p95 {percentile(reruns, 95) * 1e3:.0f} ms",
                "-",
                "(whole page; a click reruns only the fragment)",
                "-",
            ]
        )

        ours, ours_b64, png = view_bytes()
        rows.append(
            [
                "bytes for one annotate view of a 1280x1024 frame",
                f"{ours / 1e3:.0f} KB JPEG crop ({ours_b64 / 1e3:.0f} KB as sent, base64)",
                f"{png / 1e3:.0f} KB PNG, no compression (component default)",
                "<= 300 KB",
                f"{png / ours_b64:.0f}x smaller; " + ("yes" if ours_b64 <= 300e3 else "NO"),
            ]
        )

        # fit page with 1,000 annotations
        big = Path(tmp, "big")
        big_demo = make_demo_project(big, n_frames=600, n_recordings=2, seed=3)
        from kpcal_core.annotations import save_annotations

        rng = np.random.default_rng(2)
        annotations = {}
        names = sorted(big_demo.true_coordinates)
        while len(annotations) < 1000:
            r = names[int(rng.integers(len(names)))]
            t = int(rng.integers(600))
            k = int(rng.integers(len(big_demo.bodyparts)))
            annotations[(r, t, big_demo.bodyparts[k])] = tuple(big_demo.true_coordinates[r][t, k])
        save_annotations(big, annotations, None)
        fit_times = apptest_reruns(big, "pages/fit.py", n_reruns)
        rows.append(
            [
                f"fit page rerun, 1,000 annotations (AppTest, {n_reruns} reruns)",
                f"median {statistics.median(fit_times) * 1e3:.0f} ms, p95 {percentile(fit_times, 95) * 1e3:.0f} ms",
                "-",
                "< 200 ms",
                "yes" if statistics.median(fit_times) < 0.2 else "NO",
            ]
        )
        del demo
    print_table(
        ["case", "kpcal", "plain approach", "target", "met?"], rows, title="App responsiveness"
    )


if __name__ == "__main__":
    main()
