"""Videos: matching recordings to files, and reading exactly the right frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from frame_videos import H, W, coded_frame, decode_number, ffmpeg, write_mp4v

from kpcal_core import KpcalError, find_matching_videos, load_sampled_frames
from kpcal_core.video import decode, source
from kpcal_core.video.decode import SEEK_GAP, read_frames


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory) -> Path:
    """mp4v (90 frames), H.264 testsrc2 (600), H.264 with coded frame numbers (600), pure red."""
    folder = tmp_path_factory.mktemp("videos")
    write_mp4v(folder / "coded_mp4v.mp4", (coded_frame(i) for i in range(90)))
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-frames:v",
        "600",
        "-c:v",
        "libx264",
        "-g",
        "250",
        "-bf",
        "2",
        "-pix_fmt",
        "yuv420p",
        str(folder / "testsrc.mp4"),
    )
    raw = b"".join(coded_frame(i).tobytes() for i in range(600))
    ffmpeg(
        "-f",
        "rawvideo",
        "-pix_fmt",
        "bgr24",
        "-s",
        f"{W}x{H}",
        "-r",
        "25",
        "-i",
        "-",
        "-c:v",
        "libx264",
        "-g",
        "250",
        "-bf",
        "2",
        "-pix_fmt",
        "yuv420p",
        str(folder / "coded_h264.mp4"),
        stdin=raw,
    )
    red = np.zeros((64, 64, 3), np.uint8)
    red[:, :, 2] = 255  # BGR: pure red
    write_mp4v(folder / "red.mp4", [red] * 5)
    return folder


def sequential(path, indexes) -> dict[int, np.ndarray]:
    return dict(read_frames(path, indexes, method="sequential"))


def check_against_sequential(path: Path, recording: str, frames: list[int]) -> dict:
    keys = [(recording, t, "nose") for t in frames]
    n = max(frames) + 1
    out = load_sampled_frames(keys, path.parent, {recording: np.arange(n)})
    reference = sequential(path, frames)
    assert set(out) == set(keys)
    for key in keys:
        image = out[key]
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        np.testing.assert_array_equal(image, reference[key[1]], err_msg=f"{path.name} {key}")
    return out


# --------------------------------------------------------------------------- frame accuracy


def test_coded_frames_decode_to_their_numbers(video_dir):
    """Sanity check of the test videos: the drawn number survives compression."""
    for name, n in [("coded_mp4v.mp4", 90), ("coded_h264.mp4", 600)]:
        frames = sequential(video_dir / name, range(n))
        assert [decode_number(frames[i]) for i in range(n)] == list(range(n))


def test_mp4v_frames_match_sequential_decoding(video_dir):
    frames = [0, 1, 2, 17, 44, 45, 46, 88, 89]
    out = check_against_sequential(video_dir / "coded_mp4v.mp4", "coded_mp4vDLC", frames)
    for (_, t, _), image in out.items():
        assert decode_number(image) == t


@pytest.mark.parametrize("name", ["testsrc.mp4", "coded_h264.mp4"])
def test_h264_with_b_frames_matches_sequential_decoding(video_dir, name):
    # far apart (seeks, into the second GOP and mid-GOP) and close together (steps)
    frames = [0, 1, 3, 130, 249, 250, 251, 252, 380, 381, 499, 500, 597, 598, 599]
    assert max(np.diff(frames)) > SEEK_GAP
    out = check_against_sequential(video_dir / name, name[:-4] + "_rec", frames)
    images = [out[(name[:-4] + "_rec", t, "nose")] for t in frames]
    # neighbouring frames differ, so an off-by-one would have been caught
    assert not np.array_equal(images[frames.index(250)], images[frames.index(251)])
    if name == "coded_h264.mp4":
        assert [decode_number(img) for img in images] == frames


@pytest.mark.parametrize("method", ["auto", "opencv"])
def test_every_seek_is_exact_on_h264(video_dir, method):
    """seek_gap=1: OpenCV seeks for every frame (with "auto", PyAV reads and never steps)."""
    path = video_dir / "coded_h264.mp4"
    rng = np.random.default_rng(0)
    frames = sorted(rng.choice(600, size=25, replace=False).tolist())
    got = dict(read_frames(path, frames, method=method, seek_gap=1))
    reference = sequential(path, frames)
    for t in frames:
        np.testing.assert_array_equal(got[t], reference[t])
        assert decode_number(got[t]) == t


def test_an_unknown_reading_method_is_refused(video_dir):
    with pytest.raises(ValueError, match="method must be one of"):
        list(read_frames(video_dir / "coded_h264.mp4", [1], method="fast"))


def test_real_videos_match_sequential_decoding(shared_data):
    cases = [
        (
            shared_data / "sleap_flies_clip" / "clip.mp4",
            "clip.predictions",
            [0, 1, 2, 260, 261, 520, 749, 750],
        ),
        (
            shared_data / "sleap_centered_pair" / "centered_pair_low_quality.mp4",
            "centered_pair_low_quality",
            [0, 5, 200, 201, 640, 1098, 1099],
        ),
        (
            shared_data / "dlc_tiny" / "vid1_camera-1.avi",
            "vid1_camera-1DLC_resnet50_TESTNov4shuffle1_10",
            [0, 1, 5, 10, 11],
        ),
    ]
    for path, recording, frames in cases:
        assert path.exists()
        out = check_against_sequential(path, recording, frames)
        first, second = out[(recording, frames[0], "nose")], out[(recording, frames[1], "nose")]
        assert first.shape == second.shape
        assert not np.array_equal(first, out[(recording, frames[-1], "nose")])


def test_video_frame_indexes_mapping_is_honoured(video_dir):
    """Keypoints downsampled by 3 and starting at video frame 7."""
    path = video_dir / "coded_h264.mp4"
    n_keypoint_frames = (600 - 7) // 3
    mapping = {"coded_h264_x": 7 + 3 * np.arange(n_keypoint_frames)}
    frames = [0, 1, 2, 50, 120, n_keypoint_frames - 1]
    keys = [("coded_h264_x", t, "ear") for t in frames]
    out = load_sampled_frames(keys, video_dir, mapping)
    reference = sequential(path, [7 + 3 * t for t in frames])
    for key in keys:
        video_frame = 7 + 3 * key[1]
        np.testing.assert_array_equal(out[key], reference[video_frame])
        assert decode_number(out[key]) == video_frame


def test_frames_are_rgb_not_bgr(video_dir):
    out = load_sampled_frames([("red", 2, "nose")], video_dir, {"red": np.arange(5)})
    image = out[("red", 2, "nose")]
    assert image.shape == (64, 64, 3)
    assert image[..., 0].mean() > 200  # red channel first
    assert image[..., 2].mean() < 50


def test_same_frame_for_several_bodyparts_and_extension_filter(video_dir):
    keys = [("coded_mp4v", 10, "nose"), ("coded_mp4v", 10, "tail"), ("coded_mp4v", 11, "nose")]
    out = load_sampled_frames(keys, video_dir, {"coded_mp4v": np.arange(90)}, "mp4")
    np.testing.assert_array_equal(out[keys[0]], out[keys[1]])
    assert decode_number(out[keys[2]]) == 11
    with pytest.raises(KpcalError, match="coded_mp4v"):
        load_sampled_frames(keys, video_dir, {"coded_mp4v": np.arange(90)}, ".avi")


# --------------------------------------------------------------------------- progress and cache


def test_progress_reports_increasing_counts_up_to_total(video_dir):
    calls = []
    keys = [("coded_mp4v", t, "nose") for t in (3, 9, 9, 40)] + [
        ("testsrc", t, "a") for t in (0, 300)
    ]
    mapping = {"coded_mp4v": np.arange(90), "testsrc": np.arange(600)}
    load_sampled_frames(keys, video_dir, mapping, progress=lambda d, t: calls.append((d, t)))
    assert calls, "progress was never called"
    totals = {t for _, t in calls}
    assert totals == {5}  # unique video frames
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert done[-1] == 5
    assert len(set(done)) >= 3  # reported as frames arrived, not once at the end


def test_cache_second_call_decodes_nothing(video_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    keys = [("coded_h264", t, "nose") for t in (0, 5, 260, 599)] + [("coded_mp4v", 30, "ear")]
    mapping = {"coded_h264": np.arange(600), "coded_mp4v": np.arange(90)}
    first = load_sampled_frames(keys, video_dir, mapping, cache_dir=cache)
    assert any(cache.rglob("*.kpf"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a video on the cached call")

    monkeypatch.setattr(source, "read_frames", no_decoding)
    monkeypatch.setattr(decode.cv2, "VideoCapture", no_decoding)
    calls = []
    second = load_sampled_frames(
        keys, video_dir, mapping, cache_dir=cache, progress=lambda d, t: calls.append((d, t))
    )
    assert set(second) == set(first)
    for key in keys:
        assert second[key].dtype == np.uint8
        np.testing.assert_array_equal(second[key], first[key])
    assert calls[-1] == (5, 5)


def test_cache_is_not_used_for_a_changed_video(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    path = write_mp4v(folder / "clip.mp4", (coded_frame(i) for i in range(10)))
    cache = tmp_path / "cache"
    key = ("clip", 4, "nose")
    assert (
        decode_number(
            load_sampled_frames([key], folder, {"clip": np.arange(10)}, cache_dir=cache)[key]
        )
        == 4
    )
    write_mp4v(path, (coded_frame(i + 100) for i in range(12)))  # same name, new content
    out = load_sampled_frames([key], folder, {"clip": np.arange(12)}, cache_dir=cache)
    assert decode_number(out[key]) == 104


# --------------------------------------------------------------------------- errors


def test_video_shorter_than_a_needed_frame(video_dir):
    mapping = {"coded_mp4v": np.arange(90) + 50}  # needs frames up to 139 of 90
    with pytest.raises(KpcalError) as info:
        load_sampled_frames([("coded_mp4v", 80, "nose")], video_dir, mapping)
    message = str(info.value)
    assert "coded_mp4v.mp4" in message and "130" in message
    # a frame far away (reached by seeking) past the end of the H.264 video
    with pytest.raises(KpcalError) as info:
        load_sampled_frames(
            [("coded_h264", 1, "nose")], video_dir, {"coded_h264": np.array([0, 1000])}
        )
    assert "coded_h264.mp4" in str(info.value) and "1000" in str(info.value)


def test_no_matching_video_names_the_recording(video_dir):
    with pytest.raises(KpcalError, match="mouse_without_video"):
        load_sampled_frames(
            [("mouse_without_video", 0, "nose")], video_dir, {"mouse_without_video": np.arange(3)}
        )


@pytest.mark.parametrize(
    "keys, mapping, needle",
    [
        ([("red", 0)], {"red": np.arange(5)}, "('red', 0)"),
        ([("red", "x", "nose")], {"red": np.arange(5)}, "'x'"),
        ([("red", 1.5, "nose")], {"red": np.arange(5)}, "1.5"),
        ([("red", 5, "nose")], {"red": np.arange(5)}, "red"),
        ([("red", -1, "nose")], {"red": np.arange(5)}, "red"),
        ([("red", 0, "nose")], {}, "red"),
        ([("red", 0, "nose")], {"red": np.array([-3])}, "-3"),
    ],
)
def test_bad_sample_input(video_dir, keys, mapping, needle):
    with pytest.raises(KpcalError) as info:
        load_sampled_frames(keys, video_dir, mapping)
    assert needle in str(info.value)


def test_missing_or_empty_video_dir():
    for folder in (None, "", "/no/such/folder"):
        with pytest.raises(KpcalError):
            load_sampled_frames([("a", 0, "b")], folder, {"a": np.arange(1)})


# --------------------------------------------------------------------------- find_matching_videos


def touch(folder: Path, *names: str) -> Path:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return folder


def test_longest_prefix_wins(tmp_path):
    touch(tmp_path, "m1.mp4", "m1_long.mp4", "m.mp4")
    keys = ["m1_longDLC_resnet", "m1_other", "m1DLC", "mX"]
    got = find_matching_videos(keys, tmp_path)
    assert got == [
        str(tmp_path / "m1_long.mp4"),
        str(tmp_path / "m1.mp4"),
        str(tmp_path / "m1.mp4"),
        str(tmp_path / "m.mp4"),
    ]


def test_list_order_follows_keys_and_as_dict(tmp_path):
    touch(tmp_path, "a.mp4", "b.mp4", "c.avi")
    keys = ["c_1", "a_1", "b_1", "a_2"]
    got = find_matching_videos(keys, tmp_path)
    assert [Path(p).name for p in got] == ["c.avi", "a.mp4", "b.mp4", "a.mp4"]
    as_dict = find_matching_videos(keys, tmp_path, as_dict=True)
    assert as_dict == dict(zip(keys, got, strict=True))
    assert all(type(v) is str for v in got)


def test_recording_name_suffix(tmp_path):
    touch(tmp_path, "a.mp4", "ab.mp4")
    # key form: {video}{suffix}{anything}
    assert find_matching_videos(["a_pose_1"], tmp_path, recording_name_suffix="_pose") == [
        str(tmp_path / "a.mp4")
    ]
    assert find_matching_videos(["ab_pose"], tmp_path, recording_name_suffix="_pose") == [
        str(tmp_path / "ab.mp4")
    ]
    with pytest.raises(KpcalError, match="a_1"):
        find_matching_videos(["a_1"], tmp_path, recording_name_suffix="_pose")


def test_extension_filter_with_or_without_dot_and_case_insensitive(tmp_path):
    touch(tmp_path, "x.avi", "y.MP4", "z.Mov", "w.mkv", "v.txt", "x.json")
    keys = ["x_1", "y_1", "z_1", "w_1"]
    got = find_matching_videos(keys, tmp_path)  # default mp4, avi, mov, mkv
    assert [Path(p).name for p in got] == ["x.avi", "y.MP4", "z.Mov", "w.mkv"]
    for ext in ("avi", ".avi", "AVI"):
        assert find_matching_videos(["x_1"], tmp_path, video_extension=ext) == [
            str(tmp_path / "x.avi")
        ]
        with pytest.raises(KpcalError, match="y_1"):
            find_matching_videos(["y_1"], tmp_path, video_extension=ext)
    assert find_matching_videos(["y_1"], tmp_path, video_extension="mp4") == [
        str(tmp_path / "y.MP4")
    ]
    with pytest.raises(KpcalError, match="v_1"):
        find_matching_videos(["v_1"], tmp_path)  # .txt is not a video


def test_recursive_search(tmp_path):
    touch(tmp_path, "top.mp4", "day1/sub/deep.mp4")
    assert find_matching_videos(["deep_x"], tmp_path) == [str(tmp_path / "day1/sub/deep.mp4")]
    assert find_matching_videos(["top_x"], tmp_path, recursive=False) == [str(tmp_path / "top.mp4")]
    with pytest.raises(KpcalError, match="deep_x"):
        find_matching_videos(["deep_x"], tmp_path, recursive=False)


def test_matching_uses_the_base_name_and_is_case_sensitive(tmp_path):
    touch(tmp_path, "m1.mp4")
    assert find_matching_videos(["some/dir/m1_a"], tmp_path) == [str(tmp_path / "m1.mp4")]
    with pytest.raises(KpcalError, match="M1_a"):
        find_matching_videos(["M1_a"], tmp_path)
    with pytest.raises(KpcalError, match="recording 'm'"):
        # the video name must prefix the key, not the other way round
        find_matching_videos(["m"], tmp_path)


def test_error_names_the_first_unmatched_recording_and_counts_the_rest(tmp_path):
    touch(tmp_path, "a.mp4")
    with pytest.raises(KpcalError) as info:
        find_matching_videos(["a_1", "nothing_1", "nothing_2"], tmp_path)
    assert "nothing_1" in str(info.value)
    assert "1 more" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("folder", [None, "", "/no/such/folder"])
def test_bad_video_dir(folder):
    with pytest.raises(KpcalError):
        find_matching_videos(["a"], folder)


def test_video_dir_that_is_a_file(tmp_path):
    touch(tmp_path, "a.mp4")
    with pytest.raises(KpcalError, match="a.mp4"):
        find_matching_videos(["a"], tmp_path / "a.mp4")


def test_a_caller_that_gives_up_stops_the_decoding_soon(tmp_path):
    """When progress() raises (Streamlit stopping a page), workers stop after one frame."""
    import time

    path = tmp_path / "long.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
    for i in range(400):
        writer.write(np.full((48, 64, 3), i % 255, np.uint8))
    writer.release()
    keys = [("long", i, "nose") for i in range(0, 400, 2)]
    decoded = []
    original = source.read_frames

    def counting(*args, **kwargs):
        for item in original(*args, **kwargs):
            decoded.append(item[0])
            yield item

    class Leave(Exception):
        pass

    def progress(done, total):
        if done >= 3:
            raise Leave

    source.read_frames = counting
    try:
        with pytest.raises(Leave):
            source.load_sampled_frames(
                keys,
                tmp_path,
                {"long": np.arange(400)},
                progress=progress,
                video_paths={"long": str(path)},
            )
    finally:
        source.read_frames = original
    time.sleep(0.05)
    assert len(decoded) < 20  # not all 200 frames
