"""The video pre-flight report and frame thinning."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpcal_core.errors import KpcalError
from kpcal_core.keypoints import load_keypoints, stored_video_paths
from kpcal_core.video.recordings import REPORT_COLUMNS, STATUSES, check_videos, downsample


def make_video(path, n_frames, size=(32, 24)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, size)
    assert writer.isOpened()
    for i in range(n_frames):
        writer.write(np.full((size[1], size[0], 3), (i * 7) % 256, dtype=np.uint8))
    writer.release()
    return path


def coords(n_frames, n_keypoints=2):
    return np.zeros((n_frames, n_keypoints, 2))


def row(report, recording):
    rows = report[report["recording"] == recording]
    assert len(rows) == 1
    return rows.iloc[0]


# --------------------------------------------------------------------------- check_videos


def test_each_status(tmp_path):
    make_video(tmp_path / "fits.mp4", 20)
    make_video(tmp_path / "short.mp4", 10)
    make_video(tmp_path / "long.mp4", 30)
    (tmp_path / "broken.mp4").write_bytes(b"this is not a video" * 50)
    coordinates = {
        "fitsDLC_resnet50": coords(20),
        "shortDLC": coords(20),
        "longDLC": coords(20),
        "brokenDLC": coords(20),
        "orphan": coords(20),
    }
    report = check_videos(coordinates, tmp_path)
    assert list(report.columns) == list(REPORT_COLUMNS)
    assert list(report["recording"]) == list(coordinates)
    assert set(report["status"]) <= set(STATUSES)

    ok = row(report, "fitsDLC_resnet50")
    assert ok["status"] == "ok" and ok["video"].endswith("fits.mp4")
    assert ok["video_frames"] == 20 and ok["keypoint_frames"] == 20
    assert ok["max_frame_needed"] == 19

    short = row(report, "shortDLC")
    assert short["status"] == "video too short"
    assert "10 frames" in short["reason"] and "19" in short["reason"]

    long = row(report, "longDLC")
    assert long["status"] == "length differs" and long["video_frames"] == 30
    assert "30 frames" in long["reason"]

    broken = row(report, "brokenDLC")
    assert broken["status"] == "video unreadable" and "broken.mp4" in broken["reason"]
    assert broken["video"].endswith("broken.mp4")

    orphan = row(report, "orphan")
    assert orphan["status"] == "no video"
    assert orphan["video"] is None and orphan["video_frames"] is None
    assert "orphan" in orphan["reason"] and "recording_name_suffix" in orphan["reason"]


def test_counts_are_python_ints_or_none(tmp_path):
    make_video(tmp_path / "a.mp4", 5)
    report = check_videos({"a": coords(5), "b": coords(5)}, tmp_path)
    assert isinstance(row(report, "a")["video_frames"], int)
    assert row(report, "b")["video_frames"] is None
    assert report["keypoint_frames"].dtype == np.int64


def test_video_frame_indexes_set_the_frames_needed(tmp_path):
    make_video(tmp_path / "rec.mp4", 100)
    # thinned by 10: keypoint frame t is video frame 10 t, the last one is 90
    _, _, indexes = downsample({"rec": coords(100)}, {"rec": np.ones((100, 2))}, 10)
    report = check_videos({"rec": coords(10)}, tmp_path, video_frame_indexes=indexes)
    assert row(report, "rec")["max_frame_needed"] == 90
    assert row(report, "rec")["status"] == "ok"  # the 9 frames after 90 are not "longer"

    far = {"rec": np.array([0, 50, 150])}
    report = check_videos({"rec": coords(3)}, tmp_path, video_frame_indexes=far)
    assert row(report, "rec")["status"] == "video too short"
    assert row(report, "rec")["max_frame_needed"] == 150


def test_fallback_video_paths(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    elsewhere = make_video(tmp_path / "camera_A.mp4", 8)
    coordinates = {"predictions_track0": coords(8), "lost": coords(8)}
    report = check_videos(
        coordinates,
        videos,
        video_paths={"predictions_track0": elsewhere, "lost": tmp_path / "gone.mp4"},
    )
    found = row(report, "predictions_track0")
    assert found["status"] == "ok" and found["video"] == str(elsewhere)
    assert "video_paths" in found["reason"]
    lost = row(report, "lost")
    assert lost["status"] == "no video" and "gone.mp4" in lost["reason"]
    assert "does not exist" in lost["reason"]


def test_folder_match_wins_over_fallback(tmp_path):
    make_video(tmp_path / "rec.mp4", 4)
    other = make_video(tmp_path / "sub_other.avi", 4)
    report = check_videos({"rec1": coords(4)}, tmp_path, video_paths={"rec1": other})
    assert row(report, "rec1")["video"].endswith("rec.mp4")


def test_suffix_and_extension_are_passed_to_matching(tmp_path):
    make_video(tmp_path / "mouse.mp4", 3)
    make_video(tmp_path / "mouse.avi", 3)
    report = check_videos(
        {"mouse_camA_DLC": coords(3)}, tmp_path, None, "avi", recording_name_suffix="_camA"
    )
    assert row(report, "mouse_camA_DLC")["video"].endswith("mouse.avi")
    report = check_videos({"mouse_DLC": coords(3)}, tmp_path, recording_name_suffix="_camA")
    assert row(report, "mouse_DLC")["status"] == "no video"


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(KpcalError, match="does not exist"):
        check_videos({"a": coords(3)}, tmp_path / "nowhere")
    with pytest.raises(KpcalError, match="video_frame_indexes"):
        check_videos({"a": coords(3)}, tmp_path, video_frame_indexes={"a": np.arange(5)})
    with pytest.raises(KpcalError, match="negative"):
        check_videos({"a": coords(3)}, tmp_path, video_frame_indexes={"a": np.array([-1, 0, 1])})
    with pytest.raises(KpcalError):
        check_videos({"a": coords(3)}, tmp_path, video_frame_indexes={"b": np.arange(3)})


def test_no_video_folder_uses_only_video_paths(tmp_path):
    video = make_video(tmp_path / "x.mp4", 6)
    report = check_videos({"r1": coords(6), "r2": coords(6)}, None, video_paths={"r1": video})
    assert list(report["status"]) == ["ok", "no video"]
    assert "No video folder" in row(report, "r2")["reason"]


# --------------------------------------------------------------------------- real data


def test_real_data_rows_are_ok_once_matched(shared_data):
    dlc = shared_data / "dlc_tiny"
    coordinates, _, _ = load_keypoints(dlc)
    report = check_videos(coordinates, dlc)
    assert (report["status"] == "ok").all(), report.to_dict("records")
    assert (report["video_frames"] == 12).all()

    flies = shared_data / "sleap_flies_clip"
    coordinates, _, _ = load_keypoints(flies)
    report = check_videos(coordinates, flies)
    assert list(report["status"]) == ["ok", "ok"]
    assert all(v.endswith("clip.mp4") for v in report["video"])


def test_real_centered_pair_needs_the_stored_path_or_an_explicit_one(shared_data):
    folder = shared_data / "sleap_centered_pair"
    coordinates, _, _ = load_keypoints(folder)
    report = check_videos(coordinates, folder)
    assert (report["status"] == "no video").all()  # predictions name != video name

    # the path stored in the .slp (tests/data/json_format_v1/...) is not on this machine;
    # its file name is found next to the .slp
    stored = stored_video_paths(folder)
    report = check_videos(coordinates, folder, video_paths=stored)
    assert (report["status"] == "ok").all()
    assert (report["video_frames"] == 1100).all()
    assert "video_paths" in report["reason"].iloc[0]

    explicit = {name: folder / "centered_pair_low_quality.mp4" for name in coordinates}
    report = check_videos(coordinates, folder, video_paths=explicit)
    assert (report["status"] == "ok").all()


# --------------------------------------------------------------------------- downsample


def test_downsample_values_and_indexes():
    c = np.arange(7 * 2 * 2, dtype=float).reshape(7, 2, 2)
    f = np.arange(7 * 2, dtype=float).reshape(7, 2)
    coordinates, confidences, indexes = downsample({"a": c, "b": c[:4]}, {"a": f, "b": f[:4]}, 3)
    np.testing.assert_array_equal(indexes["a"], [0, 3, 6])
    np.testing.assert_array_equal(indexes["b"], [0, 3])
    np.testing.assert_array_equal(coordinates["a"], c[[0, 3, 6]])
    np.testing.assert_array_equal(confidences["a"], f[[0, 3, 6]])
    assert indexes["a"].dtype == np.int64
    coordinates["a"][0] = -1  # copies: the input is untouched
    assert c[0, 0, 0] == 0
    same, _, idx = downsample({"a": c}, {"a": f}, 1)
    np.testing.assert_array_equal(same["a"], c)
    np.testing.assert_array_equal(idx["a"], np.arange(7))
    _, _, idx = downsample({"a": c}, {"a": f}, 2.0)  # a whole float is accepted
    np.testing.assert_array_equal(idx["a"], [0, 2, 4, 6])


@pytest.mark.parametrize("rate", [0, -2, 2.5, "2", True, None, float("nan")])
def test_downsample_bad_rate(rate):
    with pytest.raises(KpcalError, match="rate"):
        downsample({"a": coords(4)}, {"a": np.ones((4, 2))}, rate)


def test_downsample_mismatched_arrays():
    with pytest.raises(KpcalError):
        downsample({"a": coords(4)}, {"a": np.ones((5, 2))}, 2)


@settings(max_examples=30, deadline=None)
@given(n_frames=st.integers(1, 60), rate=st.integers(1, 20))
def test_downsample_indexes_address_the_kept_frames(n_frames, rate):
    c = np.random.default_rng(n_frames).normal(size=(n_frames, 3, 2))
    coordinates, _, indexes = downsample({"r": c}, {"r": np.ones((n_frames, 3))}, rate)
    assert len(indexes["r"]) == -(-n_frames // rate)
    np.testing.assert_array_equal(coordinates["r"], c[indexes["r"]])
    assert indexes["r"].max() <= n_frames - 1


def test_report_is_a_dataframe_even_for_one_recording(tmp_path):
    report = check_videos({"x": coords(2)}, tmp_path)
    assert isinstance(report, pd.DataFrame) and len(report) == 1
