"""Frame decoding with PyAV, the compressed frame cache, filling it, and frames prepared ahead."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from frame_videos import coded_frame, decode_number, encode_coded, ffmpeg, write_mp4v

from kpcal_core import KpcalError
from kpcal_core.logs import logger
from kpcal_core.video import cache as frame_cache
from kpcal_core.video import decode, source
from kpcal_core.video import index as video_index
from kpcal_core.video.prefetch import BACKGROUND_NICE, BackgroundJob, Prefetcher
from kpcal_core.video.source import sample_frame_loader, sample_video_frames

N = 300
X264 = ("-c:v", "libx264", "-g", "60", "-pix_fmt", "yuv420p")


@pytest.fixture(scope="module")
def coded(tmp_path_factory) -> dict[str, Path]:
    """Videos of :func:`coded_frame` 0..299 that make exact decoding hard."""
    folder = tmp_path_factory.mktemp("coded")
    vfr = "setpts='(N+N*N/100)/25/TB'"  # frame gaps grow from 40 ms to 280 ms
    return {
        # B-pyramid (reference B-frames and non-reference ones), closed GOPs
        "bpyramid": encode_coded(folder / "bpyramid.mp4", N, *X264, "-bf", "4", "-b_strategy", "2"),
        # open GOPs: leading B-frames refer to the previous GOP
        "open_gop": encode_coded(
            folder / "open_gop.mkv",
            N,
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-bf",
            "3",
            "-x264-params",
            "open-gop=1:keyint=60:scenecut=0",
        ),  # fmt: skip
        "vfr_mkv": encode_coded(
            folder / "vfr.mkv", N, "-vf", vfr, "-fps_mode", "passthrough", *X264, "-bf", "3"
        ),
        "vfr_mp4": encode_coded(
            folder / "vfr.mp4", N, "-vf", vfr, "-fps_mode", "passthrough", *X264, "-bf", "3"
        ),
        # timestamps starting at 7.3 s (Matroska) and 5.5 s (MP4), and an MPEG-TS
        "offset_mkv": encode_coded(
            folder / "offset.mkv", N, "-output_ts_offset", "7.3", *X264, "-bf", "3"
        ),
        "offset_mp4": encode_coded(
            folder / "offset.mp4", N, "-vf", "setpts=PTS+5.5/TB", *X264, "-bf", "3"
        ),
        "mpegts": encode_coded(folder / "clip.ts", N, *X264, "-bf", "2"),
        "no_b": encode_coded(folder / "no_b.mp4", N, *X264, "-bf", "0"),
        "mp4v": write_mp4v(folder / "mp4v.avi", (coded_frame(i) for i in range(N))),
        "mjpeg": encode_coded(folder / "mjpeg.avi", N, "-c:v", "mjpeg", "-q:v", "3"),
    }


WANTED = [0, 1, 2, 3, 58, 59, 60, 61, 62, 100, 149, 150, 151, 238, 239, 240, 297, 298, 299]


@pytest.mark.parametrize(
    "name",
    [
        "bpyramid",
        "open_gop",
        "vfr_mkv",
        "vfr_mp4",
        "offset_mkv",
        "offset_mp4",
        "mpegts",
        "no_b",
        "mp4v",
        "mjpeg",
    ],
)
def test_pyav_frames_equal_sequential_decoding(coded, name):
    path = coded[name]
    index = video_index.frame_index(path)
    assert index.n_frames == N
    sent = []
    got = dict(
        decode.read_frames(path, WANTED, method="pyav", on_packet=sent.append)
    )  # PyAV, no fallback
    reference = dict(
        decode.read_frames(path, WANTED, method="sequential")
    )  # OpenCV, from the start
    assert sorted(got) == WANTED
    for i in WANTED:
        np.testing.assert_array_equal(got[i], reference[i], err_msg=f"{name} frame {i}")
        assert decode_number(got[i]) == i
    # one pass per group of pictures, each packet at most once
    assert len(sent) <= N


def test_frame_threads_give_the_same_frames(coded):
    path = coded["bpyramid"]
    one = dict(decode.read_frames(path, WANTED, method="pyav", threads=1))
    two = dict(decode.read_frames(path, WANTED, method="pyav", threads=2))
    for i in WANTED:
        np.testing.assert_array_equal(one[i], two[i])


def test_index_uses_timestamps_not_the_frame_rate(coded):
    vfr = video_index.frame_index(coded["vfr_mkv"])
    gaps = np.diff(vfr.pts)
    assert gaps.min() < gaps.max() / 3  # really variable
    offset = video_index.frame_index(coded["offset_mkv"])
    assert offset.pts[0] > 0  # really not starting at 0


def test_decoding_skips_what_no_wanted_frame_needs(coded):
    """Only packets from each group's keyframe to its last wanted frame are sent."""
    path = coded["bpyramid"]
    index = video_index.frame_index(path)
    sent = []
    wanted = [5, 130, 131, 250]
    dict(decode.read_frames(path, wanted, method="pyav", on_packet=sent.append))
    span = 0
    for group in decode.plan_groups(index, wanted):
        last = max(int(index.decode_pos[f]) for f in group.frames)
        span += last - int(index.key_pos[group.key]) + 1
    assert len(sent) == span
    assert span < 200  # far less than decoding up to frame 250


def test_first_frame_is_decoded_first(coded):
    order = [
        i for i, _ in decode.read_frames(coded["no_b"], [10, 70, 250], method="pyav", first=250)
    ]
    assert order[0] == 250


def test_index_is_built_once_per_file_version(tmp_path):
    path = write_mp4v(tmp_path / "a.avi", (coded_frame(i) for i in range(20)))
    first = video_index.frame_index(path)
    assert video_index.frame_index(path) is first
    write_mp4v(path, (coded_frame(i) for i in range(25)))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert video_index.frame_index(path).n_frames == 25


def test_threads_asking_at_once_share_one_scan_and_a_failed_scan_is_tried_again(
    tmp_path, monkeypatch
):
    path = write_mp4v(tmp_path / "a.avi", (coded_frame(i) for i in range(20)))
    scans, release = [], threading.Event()
    real = video_index.build_frame_index

    def slow_scan(video):
        scans.append(video)
        release.wait(10)
        return real(video)

    monkeypatch.setattr(video_index, "build_frame_index", slow_scan)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(video_index.frame_index(path)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(scans) == 1 and len(results) == 4
    assert all(r is results[0] for r in results) and results[0].n_frames == 20

    broken = write_mp4v(tmp_path / "b.avi", (coded_frame(i) for i in range(5)))
    calls = []

    def fail_once(video):
        calls.append(video)
        if len(calls) == 1:
            raise video_index.NotDecodable("the disk hiccupped")
        return real(video)

    monkeypatch.setattr(video_index, "build_frame_index", fail_once)
    with pytest.raises(video_index.NotDecodable):
        video_index.frame_index(broken)
    assert video_index.frame_index(broken).n_frames == 5 and len(calls) == 2


def test_index_is_kept_in_the_cache_for_other_processes(coded, tmp_path, monkeypatch):
    path = coded["offset_mp4"]
    cache = tmp_path / "c"
    source.fill_cache(cache, [(str(path), 10)])
    store = frame_cache.video_cache_folder(cache, path)
    assert (store / video_index.INDEX_FILE).is_file()
    built = video_index.frame_index(path)

    def refuse(_path):
        raise AssertionError("the video was scanned again")

    monkeypatch.setattr(video_index, "_index_cache", video_index.OrderedDict())  # a new process
    monkeypatch.setattr(video_index, "build_frame_index", refuse)
    again = video_index.frame_index(path, store)
    np.testing.assert_array_equal(again.pts, built.pts)
    np.testing.assert_array_equal(again.decode_pos, built.decode_pos)
    assert frame_cache.cache_size(cache).frames == 1  # the index is not counted as a frame


def test_opencv_reads_what_pyav_cannot(coded, monkeypatch):
    path = coded["bpyramid"]

    def refuse(_path):
        raise video_index.NotDecodable("PyAV refuses this file in the test")

    used = []
    original = decode._read_opencv

    def opencv(*args, **kwargs):
        used.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(video_index, "build_frame_index", refuse)
    monkeypatch.setattr(video_index, "_index_cache", {})
    monkeypatch.setattr(decode, "_read_opencv", opencv)
    got = dict(decode.read_frames(path, [3, 61, 200]))
    assert used == [path]
    assert [decode_number(got[i]) for i in (3, 61, 200)] == [3, 61, 200]


def test_a_file_pyav_cannot_open_is_not_a_video_for_opencv_either(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00" * 1000)
    with pytest.raises(KpcalError, match="broken.mp4"):
        list(decode.read_frames(path, [0]))


def test_frame_past_the_end_names_video_and_frame(coded):
    with pytest.raises(KpcalError, match=r"vfr\.mkv.*300.*300 frames"):
        list(decode.read_frames(coded["vfr_mkv"], [5, 300]))


# --------------------------------------------------------------------------- the cache


@pytest.fixture(scope="module")
def textured(tmp_path_factory) -> Path:
    """A 320x256 H.264 video of a moving test pattern with film-grain noise (not flat)."""
    path = tmp_path_factory.mktemp("textured") / "textured.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x256:rate=25,noise=alls=12:allf=t",
        "-frames:v", "40", "-c:v", "libx264", "-crf", "20", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def test_cache_is_lossless_and_compact(textured, tmp_path):
    cache = tmp_path / "cache"
    wanted = list(range(0, 40, 4))
    source.fill_cache(cache, [(str(textured), i) for i in wanted])
    frames = dict(
        decode.read_frames(textured, wanted, method="sequential")
    )  # OpenCV, from the start
    raw = sum(f.nbytes for f in frames.values())
    for i, frame in frames.items():
        np.testing.assert_array_equal(frame_cache.read_cached_frame(cache, textured, i), frame)
    size = frame_cache.cache_size(cache)
    assert size.frames == len(frames)
    assert size.bytes <= 0.40 * raw, f"{size.bytes / raw:.0%} of raw"


@pytest.mark.parametrize(
    "name, layout",
    [
        ("mp4v", "i420"),
        ("offset_mp4", "i420"),
        ("open_gop", "i420"),
        # JPEG chroma sits between the luma samples, which the stored planes do not
        # record: the first-frame check sees the difference and stores RGB instead
        ("mjpeg", "rgb"),
    ],
)
def test_cached_frames_equal_sequential_decoding(coded, name, layout, tmp_path):
    path = coded[name]
    wanted = [0, 61, 299]
    source.fill_cache(tmp_path / "c", [(str(path), i) for i in wanted])
    reference = dict(decode.read_frames(path, wanted, method="sequential"))
    for i in wanted:
        back = frame_cache.read_cached_frame(tmp_path / "c", path, i)
        np.testing.assert_array_equal(back, reference[i])
    layouts = set()
    for file in (tmp_path / "c").rglob("*.kpf"):
        data = file.read_bytes()
        layouts.add(json.loads(data[6 : 6 + int.from_bytes(data[4:6], "little")])["layout"])
    assert layouts == {layout}


def test_grey_frames_are_stored_in_one_channel_and_read_back_rgb(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (64, 80), dtype=np.uint8)
    frame = np.repeat(grey[:, :, None], 3, axis=2)
    colour = frame.copy()
    colour[0, 0, 1] ^= 1  # one pixel differs in one channel: not grey
    video = write_mp4v(tmp_path / "v.avi", [coded_frame(0)])
    frame_cache.write_cached_frame(tmp_path / "c", video, 0, frame)
    frame_cache.write_cached_frame(tmp_path / "c", video, 1, colour)
    for i, expected in ((0, frame), (1, colour)):
        back = frame_cache.read_cached_frame(tmp_path / "c", video, i)
        assert back.shape == (64, 80, 3) and back.dtype == np.uint8
        np.testing.assert_array_equal(back, expected)
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "c").rglob("*.kpf")}
    assert sizes["00000000.kpf"] < 0.7 * sizes["00000001.kpf"]


def test_old_npy_cache_is_read_and_rewritten(tmp_path):
    video = write_mp4v(tmp_path / "v.avi", [coded_frame(0)])
    folder = frame_cache.video_cache_folder(tmp_path / "c", video)
    folder.mkdir(parents=True)
    frame = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    np.save(frame_cache.npy_file(folder, 7), frame)
    np.testing.assert_array_equal(frame_cache.read_cached_frame(tmp_path / "c", video, 7), frame)
    assert not frame_cache.npy_file(folder, 7).exists()
    assert frame_cache.frame_file(folder, 7).exists()
    np.testing.assert_array_equal(frame_cache.read_cached_frame(tmp_path / "c", video, 7), frame)


def test_lru_cap_is_respected_and_recently_read_frames_stay(tmp_path):
    cache = tmp_path / "c"
    video = write_mp4v(tmp_path / "v.avi", [coded_frame(0)])
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (40, 50, 3), dtype=np.uint8) for _ in range(30)]
    one = len(frame_cache.encode_frame(frames[0]))
    cap = 10 * one
    base = time.time_ns() - 10**12
    for i, frame in enumerate(frames):
        frame_cache.write_cached_frame(cache, video, i, frame, max_bytes=cap)
        # distinct modification times even on coarse clocks
        os.utime(
            frame_cache.frame_file(frame_cache.video_cache_folder(cache, video), i),
            ns=(base + i * 10**9,) * 2,
        )
        if i == 2:
            frame_cache.read_cached_frame(cache, video, 0)  # used: must outlive frames 1, 3, 4...
            os.utime(
                frame_cache.frame_file(frame_cache.video_cache_folder(cache, video), 0),
                ns=(base + 100 * 10**9,) * 2,
            )
        assert frame_cache.cache_size(cache).bytes <= cap
    kept = {i for i in range(30) if frame_cache.read_cached_frame(cache, video, i) is not None}
    assert 0 in kept  # read recently
    assert 29 in kept and 28 in kept  # written last
    assert 1 not in kept and 3 not in kept  # least recently used
    assert len(kept) <= 10


def test_cache_size_counts_bytes_and_frames(tmp_path):
    assert frame_cache.cache_size(tmp_path / "none") == frame_cache.CacheSize(0, 0)
    video = write_mp4v(tmp_path / "v.avi", [coded_frame(0)])
    frame = coded_frame(3)[:, :, ::-1].copy()
    frame_cache.write_cached_frame(tmp_path / "c", video, 3, frame)
    size = frame_cache.cache_size(tmp_path / "c")
    assert size.frames == 1
    assert size.bytes == len(frame_cache.encode_frame(frame))


# --------------------------------------------------------------------------- filling


def test_fill_writes_every_frame_and_reports_the_first_early(coded, tmp_path):
    cache = tmp_path / "c"
    wanted = [(str(coded["no_b"]), 250), (str(coded["mp4v"]), 5)]
    wanted += [(str(coded["no_b"]), i) for i in (3, 70, 71, 290)]
    wanted += [(str(coded["mp4v"]), i) for i in (100, 200)]
    calls = []
    summary = source.fill_cache(cache, wanted, progress=lambda d, t, r: calls.append((d, t, r)))
    assert summary.total == 8 and summary.written == 8 and summary.cached_before == 0
    assert not summary.stopped and summary.first_ready_s is not None
    assert calls[0] == (0, 8, [])  # nothing was cached
    assert [d for d, _, _ in calls] == list(range(9))
    ready = [r for _, _, r in calls[1:]]
    assert ready[0] == [wanted[0]]  # the other videos waited for it
    assert sorted(pair for r in ready for pair in r) == sorted(wanted)  # pairs are their own keys
    for video, index in wanted:
        frame = frame_cache.read_cached_frame(cache, video, index)
        assert decode_number(frame) == index
    again = source.fill_cache(cache, wanted)
    assert again.cached_before == 8 and again.written == 0


def test_fill_stops_when_asked(coded, tmp_path):
    wanted = [(str(coded["mp4v"]), i) for i in range(0, 300, 3)]
    done = []

    def progress(d, t, r):
        done.append(d)

    summary = source.fill_cache(
        tmp_path / "c", wanted, progress=progress, should_stop=lambda: len(done) >= 4
    )
    assert summary.stopped
    assert summary.written < 30
    assert frame_cache.cache_size(tmp_path / "c").frames == summary.written


def test_fill_reports_sample_keys_first_sample_first(coded, tmp_path):
    keys = [("b", 250, "nose"), ("a", 5, "ear"), ("b", 3, "nose"), ("b", 250, "tail")]
    paths = {"a": coded["mp4v"], "b": coded["no_b"]}
    mapping = {"a": np.arange(N), "b": np.arange(N)}
    video_of = sample_video_frames(keys, "", mapping, video_paths=paths)
    calls = []
    summary = source.fill_cache(tmp_path / "c", video_of, progress=lambda *a: calls.append(a))
    assert summary.written == 3
    assert calls[0] == (0, 3, [])
    assert calls[1] == (1, 3, [keys[0], keys[3]])  # both samples on that frame
    assert sorted(k for _, _, ready in calls for k in ready) == sorted(keys)
    again = []
    source.fill_cache(tmp_path / "c", video_of, progress=lambda *a: again.append(a))
    assert again == [(3, 3, keys)]  # all ready at once


def test_load_sampled_frames_fills_the_cache(coded, tmp_path):
    keys = [("rec", t, "nose") for t in (4, 150, 299)]
    out = source.load_sampled_frames(
        keys,
        "",
        {"rec": np.arange(N)},
        cache_dir=tmp_path / "c",
        video_paths={"rec": coded["no_b"]},
    )
    assert [decode_number(out[k]) for k in keys] == [4, 150, 299]
    assert frame_cache.cache_size(tmp_path / "c").frames == 3


# --------------------------------------------------------------------------- prepared ahead


def test_prepared_frames_are_served_without_decoding(coded, tmp_path):
    video = str(coded["bpyramid"])
    keys = [("rec", t, "nose") for t in (10, 20, 130, 250)]
    video_of = {k: (video, k[1]) for k in keys}
    decodes = []
    load = sample_frame_loader(tmp_path / "c", video_of)

    def counting(key):
        decodes.append(key)
        return load(key)

    prefetcher = Prefetcher(counting, capacity=4)
    prefetcher.prepare(keys[1:3])
    assert prefetcher.wait(timeout=30)
    assert decodes == keys[1:3]
    for key in keys[1:3]:
        assert decode_number(prefetcher.get(key)) == key[1]
    assert decodes == keys[1:3]  # get() did not load again
    assert decode_number(prefetcher.get(keys[3])) == 250  # not prepared: loaded now
    assert len(decodes) == 3
    prefetcher.close()


def test_prefetcher_keeps_at_most_capacity_and_waits_for_a_load_in_flight():
    started, release = threading.Event(), threading.Event()
    loads = []

    def slow(key):
        loads.append(key)
        if key == "slow":
            started.set()
            release.wait(5)
        return key * 2

    prefetcher = Prefetcher(slow, capacity=3)
    prefetcher.prepare(["slow"])
    assert started.wait(5)
    threading.Timer(0.05, release.set).start()
    assert prefetcher.get("slow") == "slowslow"  # waited, did not load twice
    assert loads == ["slow"]
    for key in "abcdef":
        prefetcher.get(key)
    assert len(prefetcher.held()) == 3
    assert prefetcher.held() == ["d", "e", "f"]
    prefetcher.close()


# --------------------------------------------------------------------------- background jobs


def test_a_background_job_reports_progress_and_result_and_runs_below_the_server():
    seen = {}

    def task(progress, should_stop):
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        progress(1, 3, ["a"])
        progress(2, 3, [])
        progress(3, 3, ["b", "c"])
        return "all done"

    job = BackgroundJob(task, name="test-job")
    assert job.wait(10)
    progress = job.progress()
    assert (progress.done, progress.total, progress.finished) == (3, 3, True)
    assert progress.ready == {"a", "b", "c"} and progress.result == "all done"
    assert progress.error is None
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen["nice"] == min(own + BACKGROUND_NICE, 19)  # decoding never slows the pages


def test_a_background_job_reports_bad_input_by_name_and_a_bug_in_one_line(caplog):
    def bad_input(progress, should_stop):
        raise KpcalError("video '/data/mouse1.mp4': frame 900 is past its last frame (899)")

    job = BackgroundJob(bad_input)
    assert job.wait(10)
    assert job.progress().finished
    assert (
        job.progress().error == "video '/data/mouse1.mp4': frame 900 is past its last frame (899)"
    )

    def bug(progress, should_stop):
        return {}["missing"]

    log = logger()  # it does not propagate: listen to it directly
    log.addHandler(caplog.handler)
    try:
        job = BackgroundJob(bug, name="buggy")
        assert job.wait(10)
    finally:
        log.removeHandler(caplog.handler)
    assert job.progress().error == "KeyError: 'missing' (details in the server log)"
    assert "Traceback" in caplog.text and "buggy" in caplog.text  # the whole story, in the log


def test_the_frame_fill_goes_on_without_its_caller_and_stops_when_asked(coded, tmp_path):
    keys = [("rec", i, "nose") for i in range(0, 300, 7)]
    job = BackgroundJob(
        lambda progress, should_stop: source.fill_cache(
            tmp_path / "c",
            sample_video_frames(
                keys, "", {"rec": np.arange(N)}, video_paths={"rec": coded["bpyramid"]}
            ),
            progress=progress,
            should_stop=should_stop,
        )
    )
    assert job.wait(60)  # nobody polled it meanwhile
    progress = job.progress()
    assert progress.result.written == len(keys) and progress.done == len(keys)
    assert progress.ready == set(keys)
    for key in keys:
        frame = frame_cache.read_cached_frame(tmp_path / "c", str(coded["bpyramid"]), key[1])
        assert decode_number(frame) == key[1]

    many = [(str(coded["mp4v"]), i) for i in range(300)]
    job = BackgroundJob(
        lambda progress, should_stop: source.fill_cache(
            tmp_path / "d", many, progress=progress, should_stop=should_stop
        )
    )
    job.stop()
    assert job.wait(60)
    assert job.progress().result.stopped
    assert frame_cache.cache_size(tmp_path / "d").frames < 300


def test_videos_are_indexed_ahead_and_a_broken_one_is_passed_over(coded, tmp_path, monkeypatch):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    cache = tmp_path / "c"
    names = ["bpyramid", "vfr_mp4"]
    reports = []
    indexed = source.index_videos(
        cache,
        [coded[n] for n in names] + [broken],
        progress=lambda *a: reports.append(a),
    )
    assert indexed == 2
    assert [r[:2] for r in reports] == [(1, 3), (2, 3), (3, 3)]
    for name in names:
        folder = frame_cache.video_cache_folder(cache, coded[name])
        assert (folder / video_index.INDEX_FILE).is_file()
    # Reading a frame later does not scan the video again.
    monkeypatch.setattr(video_index, "_index_cache", type(video_index._index_cache)())
    scans = []
    monkeypatch.setattr(video_index, "build_frame_index", lambda path: scans.append(path))
    frame = source.load_frame(coded["bpyramid"], 123, cache)
    assert decode_number(frame) == 123 and scans == []
