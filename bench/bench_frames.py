"""Benchmark: load_sampled_frames (PyAV, grouped, skipping) vs open/seek/read per sample; the cache.

Three cases of four 1280x1024 videos of a moving test pattern (generated once
with ffmpeg, cached under --workdir):

- ``h264-g250-bf3``: H.264, keyframe every 250 frames, 3 B-frames (21,000
  frames each; the case of issue 12);
- ``h264-g30-bf0``: H.264, keyframe every 30 frames, no B-frames;
- ``mp4v-g12``: MPEG-4 part 2 (OpenCV's ``mp4v``), keyframe every 12 frames.

For each case, the frames behind 100 samples spread at random over the videos:

(a) plain: per sample, in the samples' random order, open the video with
    OpenCV, seek with ``CAP_PROP_POS_FRAMES``, read one frame;
(b) ``load_sampled_frames(..., cache_dir=None)``, the first load;
(c) ``load_sampled_frames`` with a ``cache_dir`` (fills it): bytes on disk vs
    the raw RGB bytes, the same call again (all from the cache), and the time
    to read one cached frame back.

(a) and (b) alternate for ``--rounds`` rounds (best kept, with its CPU time)
and are both checked frame by frame against ``read_frames(method="sequential")``
(OpenCV decoding every frame from the start: exact by definition).

Last, in a fresh interpreter, ``fill_cache`` over 500 samples of the
g30 case: the growth of the resident set (RSS, sampled every 10 ms) over the
call, against the raw size of the frames it wrote. (``ru_maxrss`` is no use
here: Linux carries it over from the parent process across fork and exec.)

    python bench/bench_frames.py            # 21,000 / 6,000 / 6,000 frames per video
                                            # (~10 min to generate the first time)
    python bench/bench_frames.py --quick    # 2,000 frames per video, 40 samples: a few minutes
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import common  # noqa: E402

from kpcal_core.video import cache as frame_cache  # noqa: E402
from kpcal_core.video import decode, source  # noqa: E402
from kpcal_core.video import index as video_index  # noqa: E402
from kpcal_core.views import crop_for_sample, encode_jpeg, render_view  # noqa: E402

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
FPS = 30
WIDTH, HEIGHT = 1280, 1024
N_VIDEOS = 4
CASES = {
    "h264-g250-bf3": ["-c:v", "libx264", "-preset", "ultrafast", "-g", "250", "-bf", "3"],
    "h264-g30-bf0": ["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-bf", "0"],
    "mp4v-g12": ["-c:v", "mpeg4", "-tag:v", "mp4v", "-q:v", "4", "-g", "12", "-bf", "0"],
}


# --------------------------------------------------------------------------- videos


def ensure_videos(workdir: Path, case: str, n_frames: int) -> list[Path]:
    """The case's 4 videos, generated if absent (testsrc2, hue-shifted per video)."""
    if case == "h264-g250-bf3":  # the folder earlier versions of this bench made
        folder = workdir / f"videos-{WIDTH}x{HEIGHT}-{n_frames}f"
    else:
        folder = workdir / f"videos-{case}-{WIDTH}x{HEIGHT}-{n_frames}f"
    paths = [folder / f"mouse{i}.mp4" for i in range(N_VIDEOS)]
    if all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i, path in enumerate(paths):
        if path.exists():
            continue
        tmp = path.with_suffix(".part.mp4")
        cmd = [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i"]
        cmd += [f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS},hue=h={90 * i}"]
        cmd += ["-frames:v", str(n_frames), *CASES[case], "-pix_fmt", "yuv420p", str(tmp)]
        subprocess.run(cmd, check=True)
        tmp.replace(path)
    print(f"generated {case} videos in {time.perf_counter() - start:.0f} s", flush=True)
    return paths


def warm_page_cache(paths) -> None:
    """Read every video once so that both sides decode from memory, not disk."""
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass


def opencv_frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()


# --------------------------------------------------------------------------- the two sides


def plain_load(samples, path_of: dict[str, Path]) -> dict:
    """(a): per sample, in the given order: open, seek to the frame, read, close."""
    out = {}
    for key in samples:
        recording, frame, _ = key
        capture = cv2.VideoCapture(str(path_of[recording]))
        capture.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, image = capture.read()
        capture.release()
        if not ok:
            raise RuntimeError(f"plain approach could not read {key}")
        out[key] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return out


def ours_load(samples, path_of, frame_indexes, cache_dir=None) -> dict:
    """(b) / (c): kpcal_core.video.source.load_sampled_frames."""
    return source.load_sampled_frames(
        samples,
        "",
        frame_indexes,
        cache_dir=cache_dir,
        video_paths={k: str(v) for k, v in path_of.items()},
    )


def reference_frames(samples, path_of, workers: int = 2) -> dict:
    """The sampled frames decoded sequentially from the start of each video (exact)."""
    by_video: dict[str, list[int]] = {}
    for recording, frame, _ in samples:
        by_video.setdefault(recording, []).append(frame)

    def decode_one(recording):
        frames = decode.read_frames(path_of[recording], by_video[recording], method="sequential")
        return recording, dict(frames)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        per_video = dict(pool.map(decode_one, sorted(by_video)))
    return {key: per_video[key[0]][key[1]] for key in samples}


def count_identical(frames: dict, reference: dict) -> tuple[int, int, list]:
    wrong = [k for k in reference if not np.array_equal(frames[k], reference[k])]
    return len(reference) - len(wrong), len(reference), wrong


def draw_samples(paths, n_frames: int, n_samples: int, seed: int):
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(paths) * n_frames, size=n_samples, replace=False)
    return [(paths[i // n_frames].stem, int(i % n_frames), "nose") for i in picks]


# --------------------------------------------------------------------------- one case


def run_case(case, paths, n_frames, n_samples, rounds, seed, verify, workdir) -> list:
    for path in paths:
        count = opencv_frame_count(path)
        if count != n_frames:
            print(f"WARNING: {path.name} reports {count} frames, expected {n_frames}")
    warm_page_cache(paths)
    path_of = {p.stem: p for p in paths}
    samples = draw_samples(paths, n_frames, n_samples, seed)
    frame_indexes = {p.stem: np.arange(n_frames) for p in paths}

    runs_a, runs_b = [], []
    frames_a = frames_b = None
    for _ in range(rounds):
        frames_a, seconds, cpu = common.timed_cpu(lambda: plain_load(samples, path_of))
        runs_a.append((seconds, cpu))
        # a fresh process would rebuild the frame index; so does this (the first load)
        video_index._index_cache.clear()
        frames_b, seconds, cpu = common.timed_cpu(
            lambda: ours_load(samples, path_of, frame_indexes)
        )
        runs_b.append((seconds, cpu))
    (t_a, cpu_a), (t_b, cpu_b) = min(runs_a), min(runs_b)

    cache_dir = workdir / "frame-cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    video_index._index_cache.clear()
    _, t_fill, _ = common.timed_cpu(lambda: ours_load(samples, path_of, frame_indexes, cache_dir))
    size = frame_cache.cache_size(cache_dir)
    raw = n_samples * WIDTH * HEIGHT * 3
    _, t_second = common.timed(lambda: ours_load(samples, path_of, frame_indexes, cache_dir))
    reads, reads_cpu, views, same_cached = [], [], [], 0
    for key in samples:
        start, start_cpu = time.perf_counter(), time.thread_time()
        frame = frame_cache.read_cached_frame(cache_dir, path_of[key[0]], key[1])
        reads.append(time.perf_counter() - start)
        reads_cpu.append(time.thread_time() - start_cpu)
        # the rest of a view: crop around a point, draw the markers, JPEG
        points = np.array([[640.0, 512.0], [700.0, 540.0], [600.0, 480.0]])
        view = crop_for_sample(frame.shape, points[0], points)
        encode_jpeg(render_view(frame, view, target_xy=points[0], keypoints_xy=points))
        views.append(time.perf_counter() - start)
        same_cached += bool(np.array_equal(frame, frames_b[key]))
    shutil.rmtree(cache_dir, ignore_errors=True)

    if verify:
        reference, t_ref = common.timed(lambda: reference_frames(samples, path_of))
        a_ok, a_n, a_wrong = count_identical(frames_a, reference)
        b_ok, b_n, b_wrong = count_identical(frames_b, reference)
        if a_wrong or b_wrong:
            print(f"{case}: differ from sequential: (a) {a_wrong[:5]} (b) {b_wrong[:5]}")
        ok_a, ok_b = f"{a_ok}/{a_n}", f"{b_ok}/{b_n}"
    else:
        ok_a = ok_b = "not checked"
    ratio = t_a / t_b
    target = ">= 2x" if case == "h264-g250-bf3" else ">= 1x"
    met = ratio >= (2 if case == "h264-g250-bf3" else 1)
    reads_ms, cpu_ms = np.array(reads) * 1000, np.array(reads_cpu) * 1000
    return [
        case,
        f"{n_samples} of {N_VIDEOS}x{n_frames}",
        f"{common.fmt_seconds(t_a)} (CPU {common.fmt_seconds(cpu_a)})",
        f"{common.fmt_seconds(t_b)} (CPU {common.fmt_seconds(cpu_b)})",
        f"{ratio:.2f}x (CPU {cpu_a / cpu_b:.2f}x); {target}: {'YES' if met else 'NO'}",
        f"(a) {ok_a}, (b) {ok_b}",
        f"{size.bytes / raw:.1%} of raw ({size.bytes / common.MB:.0f} of "
        f"{raw / common.MB:.0f} MiB); fill {common.fmt_seconds(t_fill)}; "
        f"second call {common.fmt_seconds(t_second)}",
        f"median {np.median(reads_ms):.0f} ms (CPU {np.median(cpu_ms):.0f} ms), "
        f"p95 {np.percentile(reads_ms, 95):.0f} ms; whole view (read, crop, render, JPEG) "
        f"median {np.median(views) * 1000:.0f} ms, p95 {np.percentile(views, 95) * 1000:.0f} ms; "
        f"{same_cached}/{n_samples} = (b)",
    ]


# --------------------------------------------------------------------------- memory worker


def rss_worker(params: dict) -> dict:
    """In a fresh interpreter: fill_cache over the given pairs; RSS growth over the call."""
    pairs = [tuple(p) for p in params["pairs"]]
    cache_dir = Path(params["cache_dir"])
    shutil.rmtree(cache_dir, ignore_errors=True)
    peak = [common.current_rss_bytes()]
    done = threading.Event()

    def sample():
        while not done.wait(0.01):
            peak[0] = max(peak[0], common.current_rss_bytes())

    before = common.current_rss_bytes()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    first = []
    summary, seconds = common.timed(
        lambda: source.fill_cache(
            cache_dir,
            pairs,
            progress=lambda d, t, r: first.append(time.perf_counter()) if not first else None,
        )
    )
    done.set()
    sampler.join()
    peak[0] = max(peak[0], common.current_rss_bytes())
    size = frame_cache.cache_size(cache_dir)
    shutil.rmtree(cache_dir, ignore_errors=True)
    return {
        "growth": peak[0] - before,
        "seconds": seconds,
        "written": summary.written,
        "first_ready_s": summary.first_ready_s,
        "cache_bytes": size.bytes,
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    params = common.worker_params(argv)
    if params is not None:
        common.worker_reply(rss_worker(params))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="/tmp/kpcal-bench", help="videos and cache live here")
    parser.add_argument("--quick", action="store_true", help="2,000 frames per video, 40 samples")
    parser.add_argument("--samples", type=int, default=None, help="default 100 (quick: 40)")
    parser.add_argument("--rounds", type=int, default=None, help="default 2 (quick: 1)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated subset")
    parser.add_argument("--rss-samples", type=int, default=500)
    parser.add_argument("--verify", choices=("all", "none"), default="all")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    n_samples = args.samples or (40 if args.quick else 100)
    rounds = args.rounds or (1 if args.quick else 2)
    workdir = Path(args.workdir)
    started = time.perf_counter()
    import av

    print(f"machine: {common.machine_summary()}; OpenCV {cv2.__version__}, PyAV {av.__version__}")
    rows = []
    for case in args.cases.split(","):
        n_frames = 2000 if args.quick else 21000 if case == "h264-g250-bf3" else 6000
        paths = ensure_videos(workdir, case, n_frames)
        rows.append(
            run_case(
                case,
                paths,
                n_frames,
                n_samples,
                rounds,
                args.seed,
                args.verify == "all",
                workdir,
            )
        )
        print(f"({case} done at {time.perf_counter() - started:.0f} s)", flush=True)
    common.print_table(
        [
            "case",
            "samples",
            "(a) open+seek+read per sample",
            "(b) load_sampled_frames, first load",
            "ratio (wall) / target",
            "identical to sequential",
            "(c) cache on disk",
            "one cached frame: read / whole view",
        ],
        rows,
        title=f"{WIDTH}x{HEIGHT} videos; (a) and (b): best of {rounds} alternating rounds",
    )

    if args.rss_samples:
        n_frames = 2000 if args.quick else 6000
        paths = ensure_videos(workdir, "h264-g30-bf0", n_frames)
        warm_page_cache(paths)
        rng = np.random.default_rng(args.seed)
        picks = rng.choice(N_VIDEOS * n_frames, size=args.rss_samples, replace=False)
        pairs = [(str(paths[i // n_frames]), int(i % n_frames)) for i in picks]
        result = common.run_worker(
            str(Path(__file__).resolve()),
            {"pairs": pairs, "cache_dir": str(workdir / "rss-cache")},
        )
        raw = len(pairs) * WIDTH * HEIGHT * 3
        common.print_table(
            [
                "fill_cache",
                "frames written",
                "wall",
                "first frame ready",
                "RSS growth (peak, sampled every 10 ms)",
                "raw size of the frames",
                "cache on disk",
                "<= 300 MB",
            ],
            [
                [
                    f"{len(pairs)} samples, h264-g30-bf0 {N_VIDEOS}x{n_frames}",
                    result["written"],
                    common.fmt_seconds(result["seconds"]),
                    common.fmt_seconds(result["first_ready_s"]),
                    f"{common.fmt_mb(result['growth'])} MiB",
                    f"{common.fmt_mb(raw)} MiB",
                    f"{common.fmt_mb(result['cache_bytes'])} MiB",
                    "YES" if result["growth"] <= 300 * common.MB else "NO",
                ]
            ],
            title="Memory while filling the frame cache (fresh interpreter)",
        )
    print(f"\ntotal wall time of this script: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
