"""Benchmark: a 20-hour DeepLabCut project in the app's and the CLI's loading paths.

Makes (once, reused from ``--workdir``, default ``/tmp/kpcal-bench-keypoints``)
20 DeepLabCut ``.h5`` files x 108,000 frames x 20 bodyparts (DeepLabCut's
pandas "table" layout under ``df_with_missing``, float64 as DeepLabCut writes
it; about 1 GB) and one small video with 108,000 frames that every recording
uses (a symbolic link per recording, so the videos are long enough and
sampling can run). ``--quick``: 4 recordings.

Measured, each in a fresh interpreter (:func:`common.run_worker`), on the
sides of ``kpcal_core.keypoint_store.ENABLED`` (in memory: every array read
whole, as before; lean: coordinates memory-mapped from the project's stored
copy, confidences in memory, the missing-position mask in memory), and for
the loading figures (1.) a third side, lean with the copy written in line
rather than in the background (``keypoint_store.BACKGROUND_WRITE`` False;
pandas no longer reads any ``.h5``, so the pandas reader of earlier runs is
gone from this side):

1. "Load keypoints" as the setup page does it, through the workflow calls: ``choose_sources`` (reads and
   checks every file, creates the config), then ``open_project`` and
   ``recordings_report`` (the recordings table), then ``sampling_histogram``
   (the histogram). Times from the click; and the same again with the
   project already set up (a server restart: the stored copy is reused).
   Then the setup page itself in AppTest: type the files, click "Load
   keypoints", time the page run that follows (recordings table, histogram).
2. Server RSS: three simulated browser sessions in one process calling
   :func:`kpcal_app.cache.project_data` (``st.cache_resource``, shared as on a
   server), the recordings table, the histogram and the share above the
   threshold, as the pages do; then samples drawn five times (each followed by
   every session's rerun). RSS now and peak (``ru_maxrss``).
3. The CLI: ``python -m kpcal_core sample PROJECT --no-frames --json`` as a
   subprocess; its peak RSS from ``getrusage(RUSAGE_CHILDREN)``; first run
   (no stored copy) and second run.

Run: ``python bench/bench_keypoints_scale.py [--quick] [--workdir DIR]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import (  # noqa: E402
    MB,
    current_rss_bytes,
    fmt_mb,
    fmt_seconds,
    machine_summary,
    max_rss_bytes,
    print_table,
    run_worker,
    worker_params,
    worker_reply,
)

FPS = 30
SECONDS = 3600
N_BODYPARTS = 20
TARGETS = {"table": 4.0, "histogram": 5.0, "server_mb": 800, "cli_mb": 800}
SCORER = "DLC_resnet50_benchJan1shuffle1_100000"


# --------------------------------------------------------------------------- data


def write_dlc_h5(path: Path, n_frames: int, n_bodyparts: int, seed: int) -> None:
    """A DeepLabCut prediction table (x, y, likelihood per bodypart; some points missing)."""
    rng = np.random.default_rng(seed)
    bodyparts = [f"bodypart{i}" for i in range(n_bodyparts)]
    columns = pd.MultiIndex.from_product(
        [[SCORER], bodyparts, ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"],
    )
    values = rng.uniform(0, 640, size=(n_frames, n_bodyparts, 3))
    values[..., 2] = rng.beta(2, 1, size=(n_frames, n_bodyparts))
    missing = rng.random((n_frames, n_bodyparts)) < 0.01
    values[missing, :2] = np.nan
    frame = pd.DataFrame(values.reshape(n_frames, -1), columns=columns)
    tmp = path.with_suffix(".tmp")
    frame.to_hdf(tmp, key="df_with_missing", format="table", mode="w")
    os.replace(tmp, path)


def make_data(workdir: Path, n_recordings: int) -> tuple[Path, Path]:
    """``(keypoint folder, video folder)``, written the first time."""
    n_frames = FPS * SECONDS
    keypoints = workdir / f"dlc_{n_recordings}x{n_frames}x{N_BODYPARTS}"
    videos = workdir / f"videos_{n_recordings}"
    keypoints.mkdir(parents=True, exist_ok=True)
    videos.mkdir(parents=True, exist_ok=True)
    video = workdir / f"gray_{n_frames}.mp4"
    if not video.exists():
        tmp = workdir / "gray.tmp.mp4"
        subprocess.run(
            [
                "ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                f"color=c=gray:s=32x32:r={FPS}:d={SECONDS}", "-c:v", "libx264",
                "-preset", "ultrafast", "-g", "300", "-pix_fmt", "yuv420p", str(tmp),
            ],
            check=True,
        )  # fmt: skip
        os.replace(tmp, video)
    for i in range(n_recordings):
        name = f"session{i:02d}"
        path = keypoints / f"{name}{SCORER}.h5"
        if not path.exists():
            write_dlc_h5(path, n_frames, N_BODYPARTS, seed=i)
        link = videos / f"{name}.mp4"
        if not link.exists():
            link.symlink_to(video)
    return keypoints, videos


# --------------------------------------------------------------------------- workers


def _set_mode(lean: bool, fast_load: bool = True) -> None:
    from kpcal_core import keypoint_store

    keypoint_store.ENABLED = lean
    keypoint_store.BACKGROUND_WRITE = fast_load  # False: each file's copy in line


def worker_load(params: dict) -> dict:
    """Setup page: choose the files, then the recordings table, then the histogram."""
    _set_mode(params["lean"], params.get("fast_load", True))
    from kpcal_core import workflows

    project = Path(params["project"])
    rss0 = current_rss_bytes()
    start, cpu = time.perf_counter(), time.process_time()
    if params["choose"]:
        workflows.choose_sources(
            project,
            workflows.Sources(params["keypoints"], None, params["videos"]),
            create=True,
        )
    chosen = time.perf_counter() - start
    data = workflows.open_project(project)
    workflows.recordings_report(data)
    table, table_cpu = time.perf_counter() - start, time.process_time() - cpu
    workflows.sampling_histogram(data, data.use_bodyparts, data.conf_pseudocount, 20, [])
    histogram, histogram_cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "table_cpu": table_cpu,
        "histogram_cpu": histogram_cpu,
        "chosen": chosen,
        "table": table,
        "histogram": histogram,
        "rss": current_rss_bytes() - rss0,
        "peak": max_rss_bytes(),
    }


def worker_apptest(params: dict) -> dict:
    """The setup page in AppTest: type the files, click "Load keypoints", time the page run."""
    _set_mode(params["lean"], params.get("fast_load", True))
    sys.path.insert(0, str(ROOT / "tests"))
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from apptest_support import SETUP, button, check, errors, new_app, open_page, page_text, widget

    at = open_page(new_app(), SETUP)
    widget(at.text_input, "Project folder").input(params["project"])
    check(button(at, "Open project").click().run())
    widget(at.text_input, "Keypoint files (file, folder or glob)").input(params["keypoints"])
    widget(at.text_input, "Video folder").input(params["videos"])
    start = time.perf_counter()
    check(button(at, "Load keypoints").click().run(timeout=300))
    seconds = time.perf_counter() - start
    assert not errors(at), page_text(at)
    table = at.dataframe[0].value
    assert len(table) == params["recordings"] and (table["status"] == "ok").all(), table
    charts = len(at.get("arrow_vega_lite_chart")) + len(at.get("vega_lite_chart"))
    return {
        "seconds": seconds,
        "charts": charts,
        "rss": current_rss_bytes(),
        "peak": max_rss_bytes(),
    }


def worker_server(params: dict) -> dict:
    """Three sessions open the project (shared cache), then five draws, each with reruns."""
    _set_mode(params["lean"])
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from kpcal_app import cache
    from kpcal_core import workflows

    project = params["project"]

    def rerun() -> None:
        data = cache.project_data(project)
        cache.recordings(data)
        cache.histogram(data, data.use_bodyparts, data.conf_pseudocount, data.session.num_bins)
        cache.share_above(data, 0.5)

    start = time.perf_counter()
    for _ in range(3):
        rerun()
    opened = current_rss_bytes()
    for draw in range(5):
        data = cache.project_data(project)
        workflows.draw_samples(data, num_samples=100, seed=draw)
        for _ in range(3):
            rerun()
    return {
        "seconds": time.perf_counter() - start,
        "opened": opened,
        "rss": current_rss_bytes(),
        "peak": max_rss_bytes(),
    }


def worker_cli(params: dict) -> dict:
    """``kpcal sample`` in a subprocess; its peak RSS."""
    env = dict(os.environ, KPCAL_KEYPOINT_STORE="1" if params["lean"] else "0")
    cmd = [sys.executable, "-m", "kpcal_core", "sample", params["project"], "--no-frames"]
    cmd += ["--num-samples", "100", "--seed", "1", "--json"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT))
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {"seconds": seconds, "peak": peak}


WORKERS = {
    "load": worker_load,
    "apptest": worker_apptest,
    "server": worker_server,
    "cli": worker_cli,
}


# --------------------------------------------------------------------------- main


def fresh_project(workdir: Path, name: str) -> Path:
    project = workdir / "projects" / name
    if project.exists():
        shutil.rmtree(project)
    project.mkdir(parents=True)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 recordings instead of 20")
    parser.add_argument("--workdir", default="/tmp/kpcal-bench-keypoints")
    parser.add_argument("--worker")
    args = parser.parse_args()
    params = worker_params(sys.argv)
    if params is not None:
        worker_reply(WORKERS[params.pop("kind")](params))
        return
    n = 4 if args.quick else 20
    workdir = Path(args.workdir)
    start = time.perf_counter()
    keypoints, videos = make_data(workdir, n)
    size = sum(p.stat().st_size for p in keypoints.glob("*.h5"))
    print(machine_summary())
    print(
        f"{n} DeepLabCut .h5 x {FPS * SECONDS} frames x {N_BODYPARTS} bodyparts, "
        f"{size / 1e9:.2f} GB in {keypoints} (ready in {time.perf_counter() - start:.0f} s)"
    )
    script = str(Path(__file__).resolve())
    rows_load, rows_page, rows_server, rows_cli = [], [], [], []
    sides = (
        ("in memory (before)", False, True),
        ("lean, copy written in line", True, False),
        ("lean (stored copy, memory-mapped)", True, True),
    )
    for side, lean, fast_load in sides:
        name = ("lean" if lean else "memory") + ("" if fast_load else "-pandas")
        project = fresh_project(workdir, name)
        common = {"project": str(project), "lean": lean, "fast_load": fast_load}
        first = run_worker(
            script,
            {"kind": "load", "choose": True, "keypoints": str(keypoints), "videos": str(videos)}
            | common,
        )
        again = run_worker(script, {"kind": "load", "choose": False} | common)
        for label, r in (("first load", first), ("project set up (restart)", again)):
            rows_load.append(
                [
                    side,
                    label,
                    fmt_seconds(r["chosen"]) if label == "first load" else "-",
                    f"{fmt_seconds(r['table'])} (CPU {fmt_seconds(r['table_cpu'])})",
                    f"{fmt_seconds(r['histogram'])} (CPU {fmt_seconds(r['histogram_cpu'])})",
                    fmt_mb(r["peak"]),
                ]
            )
        page = run_worker(
            script,
            {
                "kind": "apptest",
                "keypoints": str(keypoints),
                "videos": str(videos),
                "recordings": n,
                "project": str(fresh_project(workdir, "page-" + name)),
                "lean": lean,
                "fast_load": fast_load,
            },
        )
        rows_page.append([side, fmt_seconds(page["seconds"]), page["charts"], fmt_mb(page["peak"])])
        if not fast_load:  # memory is the same on this side: measured on the others
            continue
        server = run_worker(script, {"kind": "server"} | common)
        rows_server.append(
            [
                side,
                fmt_mb(server["opened"]),
                fmt_mb(server["rss"]),
                fmt_mb(server["peak"]),
                fmt_seconds(server["seconds"]),
            ]
        )
        project = fresh_project(workdir, "cli-lean" if lean else "cli-memory")
        subprocess.run(
            [sys.executable, "-m", "kpcal_core", "check", str(project), "--keypoints",
             str(keypoints), "--video-dir", str(videos)],
            check=True, capture_output=True, cwd=str(ROOT),
            env=dict(os.environ, KPCAL_KEYPOINT_STORE="0"),
        )  # fmt: skip
        if lean:  # set up without a stored copy: the first lean run makes it
            shutil.rmtree(project / "calibration" / "keypoint_store", ignore_errors=True)
        for label in ("first run", "second run"):
            r = run_worker(script, {"kind": "cli", "project": str(project), "lean": lean})
            rows_cli.append([side, label, fmt_seconds(r["seconds"]), fmt_mb(r["peak"])])
    print_table(
        ["side", "case", "files chosen", "recordings table", "histogram", "peak RSS MB"],
        rows_load,
        f'"Load keypoints" (choose_sources, open_project, recordings_report, '
        f"sampling_histogram); targets: table <= {TARGETS['table']:.0f} s, "
        f"histogram <= {TARGETS['histogram']:.0f} s",
    )
    print_table(
        ["side", "click → page done (table + histogram)", "charts on page", "peak RSS MB"],
        rows_page,
        f'Setup page in AppTest: "Load keypoints" on a new project; target <= '
        f"{TARGETS['histogram']:.0f} s",
    )
    print_table(
        ["side", "RSS MB, 3 sessions opened", "RSS MB after 5 draws", "peak RSS MB", "time"],
        rows_server,
        f"Server: 3 sessions (kpcal_app.cache), 5 draws of 100 samples; target RSS <= "
        f"{TARGETS['server_mb']} MB",
    )
    print_table(
        ["side", "case", "time", "peak RSS MB"],
        rows_cli,
        f"CLI `kpcal sample --no-frames` (subprocess, RUSAGE_CHILDREN); target <= "
        f"{TARGETS['cli_mb']} MB",
    )
    print(f"(1 MB = {MB} bytes)")


if __name__ == "__main__":
    main()
