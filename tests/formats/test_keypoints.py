"""Loading keypoints: every format's layout, keypoint-MoSeq's names, and bad input."""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
from pose_files import dlc_frame, write_dlc, write_nwb, write_sleap_analysis, write_slp

from kpcal_core.errors import KpcalError
from kpcal_core.keypoints import detect_format, load_keypoints, stored_video_paths


def assert_names_file(excinfo, path):
    """The error message names the file at fault."""
    message = str(excinfo.value)
    assert os.path.basename(str(path)) in message, message


# --------------------------------------------------------------------------- DeepLabCut


@pytest.mark.parametrize("kind", ["csv", "table", "fixed"])
def test_dlc_single_animal(tmp_path, kind):
    ext = "csv" if kind == "csv" else "h5"
    path = write_dlc(dlc_frame(["nose", "tail"]), tmp_path / f"mouse1DLC.{ext}", kind)
    coordinates, confidences, bodyparts = load_keypoints(path)
    assert bodyparts == ["nose", "tail"] and isinstance(bodyparts, list)
    assert list(coordinates) == ["mouse1DLC"]
    coords, conf = coordinates["mouse1DLC"], confidences["mouse1DLC"]
    assert coords.shape == (5, 2, 2) and conf.shape == (5, 2)
    assert coords.dtype == np.float64 and conf.dtype == np.float64
    # columns: nose x,y,lik = 0,1,2; tail x,y,lik = 3,4,5; value = 1000 t + column
    np.testing.assert_array_equal(coords[2, 1], [2003.0, 2004.0])
    np.testing.assert_array_equal(conf[:, 0], 1000.0 * np.arange(5) + 2)
    assert detect_format(path) == "deeplabcut"


def test_dlc_csv_and_h5_agree_and_nan_kept(tmp_path):
    frame = dlc_frame(["a", "b", "c"], n_frames=7)
    frame.iloc[3, 0:2] = np.nan  # a missing in frame 3; likelihood kept
    frame.iloc[4, 5] = np.nan  # b's likelihood NaN in frame 4
    write_dlc(frame, tmp_path / "one.csv")
    write_dlc(frame, tmp_path / "two.h5")
    coordinates, confidences, _ = load_keypoints(tmp_path)
    np.testing.assert_array_equal(coordinates["one"], coordinates["two"])
    np.testing.assert_array_equal(confidences["one"], confidences["two"])
    assert np.isnan(coordinates["one"][3, 0]).all()
    assert confidences["one"][3, 0] == 3002.0
    assert np.isnan(confidences["two"][4, 1])


def test_dlc_multi_animal_excludes_single(tmp_path):
    individuals = {"mouse1": ["nose", "tail"], "mouse2": ["nose", "tail"], "single": ["cage"]}
    frame = dlc_frame(None, individuals=individuals)
    for ext in ("csv", "h5"):
        path = write_dlc(frame, tmp_path / f"arena.{ext}")
        coordinates, confidences, bodyparts = load_keypoints(path)
        assert list(coordinates) == ["arena_mouse1", "arena_mouse2"]
        assert bodyparts == ["nose", "tail"]
        # mouse2 columns start at 6: nose x,y,lik = 6,7,8
        np.testing.assert_array_equal(coordinates["arena_mouse2"][1, 0], [1006.0, 1007.0])
        np.testing.assert_array_equal(confidences["arena_mouse2"][1], [1008.0, 1011.0])
        path.unlink()


def test_dlc_multi_animal_other_bodypart_order_is_reordered(tmp_path):
    individuals = {"m1": ["nose", "tail"], "m2": ["tail", "nose"]}
    path = write_dlc(dlc_frame(None, individuals=individuals), tmp_path / "x.csv")
    coordinates, _, bodyparts = load_keypoints(path)
    assert bodyparts == ["nose", "tail"]
    # m2's nose is its second bodypart: columns 9, 10
    np.testing.assert_array_equal(coordinates["x_m2"][0, 0], [9.0, 10.0])


def test_lightning_pose_csv(tmp_path):
    frame = dlc_frame(
        ["l_ear", "r_ear"], scorer="heatmap_mhcrnn_tracker", coords=("x", "y", "likelihood")
    )
    path = write_dlc(frame, tmp_path / "video1.csv")
    assert detect_format(path) == "lightning-pose"
    coordinates, confidences, bodyparts = load_keypoints(path, "lightning-pose")
    assert bodyparts == ["l_ear", "r_ear"]
    np.testing.assert_array_equal(confidences["video1"][1], [1002.0, 1005.0])
    np.testing.assert_array_equal(coordinates["video1"][4, 1], [4003.0, 4004.0])
    # the DeepLabCut format reads it too (same layout)
    assert load_keypoints(path, "deeplabcut")[2] == ["l_ear", "r_ear"]


def test_lightning_pose_ensemble_columns_are_ignored(tmp_path):
    coords = ("x", "y", "likelihood", "x_ens_median", "x_ens_var")
    frame = dlc_frame(["nose"], scorer="ensemble-kalman_tracker", coords=coords)
    path = write_dlc(frame, tmp_path / "eks.csv")
    assert detect_format(path) == "lightning-pose"
    coordinates, confidences, _ = load_keypoints(path)
    np.testing.assert_array_equal(coordinates["eks"][0, 0], [0.0, 1.0])
    assert confidences["eks"][0, 0] == 2.0


# --------------------------------------------------------------------------- SLEAP


def test_sleap_analysis_h5_tracks(tmp_path):
    rng = np.random.default_rng(0)
    tracks = rng.uniform(0, 500, size=(3, 8, 2, 2))  # (tracks, frames, nodes, xy)
    scores = rng.uniform(0, 1.5, size=(3, 8, 2))
    tracks[1, 5, 0] = np.nan
    path = write_sleap_analysis(tmp_path / "flies.h5", tracks, scores, ["head", "thorax"], "v.mp4")
    assert detect_format(path) == "sleap"
    coordinates, confidences, bodyparts = load_keypoints(path)
    assert list(coordinates) == ["flies_track0", "flies_track1", "flies_track2"]
    assert bodyparts == ["head", "thorax"]
    np.testing.assert_array_equal(coordinates["flies_track2"], tracks[2])
    np.testing.assert_array_equal(confidences["flies_track1"], scores[1])
    assert np.isnan(coordinates["flies_track1"][5, 0]).all()


def test_sleap_analysis_h5_single_track_has_plain_name(tmp_path):
    tracks = np.arange(4 * 3 * 2, dtype=float).reshape(1, 4, 3, 2)
    path = write_sleap_analysis(tmp_path / "solo.h5", tracks, np.ones((1, 4, 3)), list("abc"))
    coordinates, _, _ = load_keypoints(path)
    assert list(coordinates) == ["solo"]
    np.testing.assert_array_equal(coordinates["solo"][2, 1], [14.0, 15.0])


def test_sleap_analysis_h5_written_by_sleap_io_both_axis_orders(tmp_path):
    import sleap_io as sio

    slp = write_slp(tmp_path / "src.slp", n_tracks=2)
    labels = sio.load_slp(str(slp), open_videos=False)
    expected, expected_conf, _ = load_keypoints(slp)
    for preset in ("matlab", "standard"):
        out = tmp_path / "export" / f"{preset}.h5"
        out.parent.mkdir(exist_ok=True)
        sio.save_analysis_h5(labels, str(out), preset=preset)
        coordinates, confidences, bodyparts = load_keypoints(out)
        assert bodyparts == ["nose", "tail", "paw"]
        for i in range(2):  # sleap-io's numpy() gives float32: equal to float32 precision
            np.testing.assert_allclose(
                coordinates[f"{preset}_track{i}"], expected[f"src_track{i}"], rtol=1e-6
            )
            np.testing.assert_allclose(
                confidences[f"{preset}_track{i}"], expected_conf[f"src_track{i}"], rtol=1e-6
            )


def test_slp_two_tracks(tmp_path):
    path = write_slp(tmp_path / "session1.predictions.slp", n_tracks=2)
    assert detect_format(path) == "sleap"
    coordinates, confidences, bodyparts = load_keypoints(path)
    assert list(coordinates) == ["session1.predictions_track0", "session1.predictions_track1"]
    assert bodyparts == ["nose", "tail", "paw"]
    coords = coordinates["session1.predictions_track1"]
    assert coords.shape == (4, 3, 2)
    np.testing.assert_array_equal(coords[2, 1], [100 + 20 + 1, 201])
    assert np.isnan(coords[1, 2]).all()
    np.testing.assert_allclose(confidences["session1.predictions_track1"][0], [1.5, 1.7, 0.25])
    assert confidences["session1.predictions_track0"].max() > 1  # not clipped


def test_slp_one_track_and_untracked(tmp_path):
    single = write_slp(tmp_path / "one.slp", n_tracks=1)
    coordinates, _, _ = load_keypoints(single)
    assert list(coordinates) == ["one"]
    np.testing.assert_array_equal(coordinates["one"][3, 0], [30, 200])

    untracked = write_slp(tmp_path / "loose.slp", n_tracks=2, tracked=False)
    coordinates, _, _ = load_keypoints(untracked)
    assert list(coordinates) == ["loose_track0", "loose_track1"]
    # both animals are there (in some order per frame)
    firsts = sorted(coordinates[name][0, 0, 0] for name in coordinates)
    assert firsts == [0.0, 100.0]


def test_slp_stored_video_path(tmp_path):
    path = write_slp(tmp_path / "a.slp", n_tracks=2, video="/elsewhere/session1.mp4")
    assert stored_video_paths(path) == {
        "a_track0": "/elsewhere/session1.mp4",
        "a_track1": "/elsewhere/session1.mp4",
    }
    # a stored path that does not exist is looked up by file name next to the .slp
    (tmp_path / "session1.mp4").write_bytes(b"")
    found = stored_video_paths(path)
    assert found["a_track0"] == os.path.normpath(str(tmp_path / "session1.mp4"))


# --------------------------------------------------------------------------- NWB


def test_nwb_pose_estimation(tmp_path):
    path = write_nwb(tmp_path / "mouse.nwb", ["PoseEstimation"])
    assert detect_format(path) == "nwb"
    coordinates, confidences, bodyparts = load_keypoints(path)
    assert list(coordinates) == ["mouse"] and bodyparts == ["snout", "tailbase"]
    assert coordinates["mouse"].shape == (6, 2, 2)
    np.testing.assert_array_equal(coordinates["mouse"][2, 1], [14.0, 15.0])
    np.testing.assert_allclose(confidences["mouse"][:, 1], np.linspace(0, 1, 6) + 1)
    assert stored_video_paths(path) == {"mouse": "/videos/mouse.mp4"}


def test_nwb_without_confidence_gives_ones_and_several_poses_get_suffixes(tmp_path):
    path = write_nwb(tmp_path / "pair.nwb", ["mouse1", "mouse2"], with_confidence=False)
    coordinates, confidences, _ = load_keypoints(path, "nwb")
    assert list(coordinates) == ["pair_mouse1", "pair_mouse2"]
    np.testing.assert_array_equal(confidences["pair_mouse2"], np.ones((6, 2)))
    np.testing.assert_array_equal(coordinates["pair_mouse2"][0, 0], [100.0, 101.0])


# --------------------------------------------------------------------------- names, patterns


def test_names_follow_keypoint_moseq(tmp_path):
    (tmp_path / "day1").mkdir()
    (tmp_path / "day2").mkdir()
    write_dlc(dlc_frame(["a"]), tmp_path / "day1" / "m1.csv")
    write_dlc(dlc_frame(["a"]), tmp_path / "day2" / "m2.h5")
    coordinates, _, _ = load_keypoints(str(tmp_path))
    assert list(coordinates) == ["m1", "m2"]
    # not recursive: the sub-folders' files are not searched
    with pytest.raises(KpcalError, match="no keypoint files"):
        load_keypoints(str(tmp_path), recursive=False)
    # path_in_name: the path as found, separators replaced
    coordinates, _, _ = load_keypoints(str(tmp_path / "day1"), path_in_name=True, path_sep="+")
    assert list(coordinates) == [str(tmp_path / "day1" / "m1").replace(os.sep, "+")]
    coordinates, _, _ = load_keypoints(tmp_path / "day1" / "m1.csv", remove_extension=False)
    assert list(coordinates) == ["m1.csv"]
    # a glob and a list of patterns; extension narrows a search
    coordinates, _, _ = load_keypoints([str(tmp_path / "day*" / "*.csv"), tmp_path / "day2"])
    assert list(coordinates) == ["m1", "m2"]
    coordinates, _, _ = load_keypoints(str(tmp_path), extension="h5")
    assert list(coordinates) == ["m2"]


def test_bodyparts_in_another_order_are_reordered_to_the_first_file(tmp_path):
    write_dlc(dlc_frame(["nose", "tail"]), tmp_path / "a.csv")
    write_dlc(dlc_frame(["tail", "nose"]), tmp_path / "b.csv")
    coordinates, confidences, bodyparts = load_keypoints(tmp_path)
    assert bodyparts == ["nose", "tail"]
    np.testing.assert_array_equal(coordinates["b"][0, 0], [3.0, 4.0])  # b's nose: columns 3-5
    assert confidences["b"][0, 1] == 2.0


# --------------------------------------------------------------------------- bad input


def test_unknown_and_unsupported_format_names(tmp_path):
    path = write_dlc(dlc_frame(["a"]), tmp_path / "x.csv")
    with pytest.raises(KpcalError, match="unknown format 'openpose'") as excinfo:
        load_keypoints(path, "openpose")
    assert_names_file(excinfo, path)
    with pytest.raises(KpcalError, match="3-D") as excinfo:
        load_keypoints(path, "anipose")
    assert_names_file(excinfo, path)


def test_format_that_does_not_match_the_content(tmp_path):
    path = write_dlc(dlc_frame(["a"]), tmp_path / "x.h5")
    with pytest.raises(KpcalError, match="holds deeplabcut data, not sleap") as excinfo:
        load_keypoints(path, "sleap")
    assert_names_file(excinfo, path)


def test_unknown_content(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("frame,nose_x,nose_y\n0,1,2\n")
    with pytest.raises(KpcalError, match="not a pose file") as excinfo:
        load_keypoints(path)
    assert_names_file(excinfo, path)


@pytest.mark.parametrize("ext", ["csv", "h5"])
def test_dlc_3d_is_refused(tmp_path, ext):
    frame = dlc_frame(["a", "b"], coords=("x", "y", "z"))
    path = write_dlc(frame, tmp_path / f"cam3d.{ext}")
    with pytest.raises(KpcalError, match="3-D") as excinfo:
        load_keypoints(path)
    assert_names_file(excinfo, path)


def test_sleap_anipose_and_3d_sleap_and_nwb_are_refused(tmp_path):
    anipose = tmp_path / "points3d.h5"
    with h5py.File(anipose, "w") as handle:
        handle["tracks"] = np.zeros((10, 1, 4, 3))  # (frames, tracks, nodes, 3)
    analysis = tmp_path / "analysis3d.h5"
    with h5py.File(analysis, "w") as handle:
        handle["tracks"] = np.zeros((1, 3, 2, 10))
        handle["point_scores"] = np.zeros((1, 2, 10))
        handle["node_names"] = np.array([b"a", b"b"])
    nwb = write_nwb(tmp_path / "three.nwb", ["PoseEstimation"], n_dims=3)
    for path in (anipose, analysis, nwb):
        with pytest.raises(KpcalError, match="3-D") as excinfo:
            load_keypoints(path)
        assert_names_file(excinfo, path)


def test_bodyparts_differ_between_individuals(tmp_path):
    individuals = {"m1": ["nose", "tail"], "m2": ["nose", "ear"]}
    path = write_dlc(dlc_frame(None, individuals=individuals), tmp_path / "x.h5")
    with pytest.raises(KpcalError, match="individual 'm2'") as excinfo:
        load_keypoints(path)
    assert_names_file(excinfo, path)
    # 'single' is only excluded because exclude_individuals says so
    individuals = {"m1": ["nose"], "single": ["cage"]}
    path = write_dlc(dlc_frame(None, individuals=individuals), tmp_path / "y.csv")
    assert list(load_keypoints(path)[0]) == ["y_m1"]
    with pytest.raises(KpcalError, match="individual 'single'") as excinfo:
        load_keypoints(path, exclude_individuals=())
    assert_names_file(excinfo, path)


def test_bodyparts_differ_between_files(tmp_path):
    first = write_dlc(dlc_frame(["nose", "tail"]), tmp_path / "a.csv")
    second = write_dlc(dlc_frame(["nose", "paw"]), tmp_path / "b.csv")
    with pytest.raises(KpcalError, match="bodyparts") as excinfo:
        load_keypoints(tmp_path)
    assert_names_file(excinfo, first)
    assert_names_file(excinfo, second)


def test_file_with_no_frames(tmp_path):
    csv_path = write_dlc(dlc_frame(["a"], n_frames=0), tmp_path / "empty.csv")
    analysis = write_sleap_analysis(
        tmp_path / "empty_sleap.h5", np.zeros((1, 0, 2, 2)), np.zeros((1, 0, 2)), ["a", "b"]
    )
    for path in (csv_path, analysis):
        with pytest.raises(KpcalError, match="no frames") as excinfo:
            load_keypoints(path)
        assert_names_file(excinfo, path)


def test_hdf_file_that_is_not_a_pose_file(tmp_path):
    plain = tmp_path / "other.h5"
    with h5py.File(plain, "w") as handle:
        handle["data"] = np.arange(5)
    table = tmp_path / "table.h5"
    pd.DataFrame({"speed": [1.0, 2.0]}).to_hdf(table, key="df", format="table")
    for path, message in ((plain, "not a pose file"), (table, "column levels")):
        with pytest.raises(KpcalError, match=message) as excinfo:
            load_keypoints(path)
        assert_names_file(excinfo, path)


def test_duplicate_recording_names(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_dlc(dlc_frame(["nose"]), tmp_path / "a" / "mouse.csv")
    second = write_dlc(dlc_frame(["nose"]), tmp_path / "b" / "mouse.h5")
    with pytest.raises(KpcalError, match="path_in_name=True") as excinfo:
        load_keypoints(tmp_path)
    assert str(first) in str(excinfo.value) and str(second) in str(excinfo.value)
    coordinates, _, _ = load_keypoints(tmp_path, path_in_name=True)
    assert len(coordinates) == 2


def test_no_files_match(tmp_path):
    pattern = str(tmp_path / "*.slp")
    with pytest.raises(KpcalError, match="no keypoint files") as excinfo:
        load_keypoints(pattern)
    assert pattern in str(excinfo.value)


def test_unreadable_or_corrupt_files(tmp_path):
    good_slp = write_slp(tmp_path / "good.slp", n_tracks=1)
    truncated = tmp_path / "truncated.slp"
    truncated.write_bytes(good_slp.read_bytes()[: good_slp.stat().st_size // 2])
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(os.urandom(2000))
    bad_numbers = tmp_path / "words.csv"
    write_dlc(dlc_frame(["a"]), bad_numbers)
    bad_numbers.write_text(bad_numbers.read_text() + "5,hello,2,0.5\n")
    for path in (truncated, garbage, bad_numbers):
        with pytest.raises(KpcalError) as excinfo:
            load_keypoints(path)
        assert_names_file(excinfo, path)


def test_nothing_is_returned_when_one_file_fails(tmp_path):
    write_dlc(dlc_frame(["a"]), tmp_path / "a_good.csv")
    bad = tmp_path / "b_bad.csv"
    bad.write_text("not,a,pose,file\n")
    with pytest.raises(KpcalError) as excinfo:
        load_keypoints(tmp_path)
    assert_names_file(excinfo, bad)


def test_pickled_objects_in_h5_are_refused(tmp_path):
    objects = tmp_path / "objects.h5"
    with pytest.warns(Warning):  # pandas warns that it pickles the object column
        pd.DataFrame({"a": [1, "x", None]}).to_hdf(objects, key="df", format="fixed")
    with pytest.raises(KpcalError, match="safety") as excinfo:
        load_keypoints(objects)
    assert_names_file(excinfo, objects)

    # a DeepLabCut table whose metadata attribute is a pickle that would run os.mkdir
    marker = tmp_path / "was_unpickled"
    path = write_dlc(dlc_frame(["a"]), tmp_path / "evil.h5")
    payload = b"cos\nmkdir\n(V" + str(marker).encode() + b"\ntR."
    with h5py.File(path, "a") as handle:
        handle["df_with_missing"].attrs["info"] = np.bytes_(payload)
    with pytest.raises(KpcalError, match="safety") as excinfo:
        load_keypoints(path)
    assert_names_file(excinfo, path)
    assert not marker.exists()


def test_no_bare_lookup_errors_on_odd_sleap_files(tmp_path):
    odd = tmp_path / "odd.h5"
    with h5py.File(odd, "w") as handle:
        handle["tracks"] = np.zeros((1, 2, 3, 4))
        handle["point_scores"] = np.zeros((1, 5, 4))  # wrong node count
        handle["node_names"] = np.array([b"a", b"b", b"c"])
    with pytest.raises(KpcalError, match="point_scores") as excinfo:
        load_keypoints(odd)
    assert_names_file(excinfo, odd)


# --------------------------------------------------------------------------- real data


def test_real_sleap_flies(shared_data):
    path = shared_data / "sleap_flies_clip" / "clip.predictions.slp"
    coordinates, confidences, bodyparts = load_keypoints(path)
    assert list(coordinates) == ["clip.predictions_track0", "clip.predictions_track1"]
    assert bodyparts == ["head", "thorax"]
    assert all(c.shape == (1500, 2, 2) for c in coordinates.values())
    assert np.nanmax(confidences["clip.predictions_track0"]) > 1  # SLEAP scores exceed 1
    # independent read of the raw tables: frames -> instances -> predicted points
    with h5py.File(path, "r") as handle:
        frames = handle["frames"][:20]
        instances = handle["instances"][:]
        points = handle["pred_points"][:]
    checked = 0
    for frame in frames:
        for inst in instances[frame["instance_id_start"] : frame["instance_id_end"]]:
            name = f"clip.predictions_track{inst['track']}"
            pts = points[inst["point_id_start"] : inst["point_id_end"]]
            for k, point in enumerate(pts):
                got = coordinates[name][frame["frame_idx"], k]
                if point["visible"]:
                    np.testing.assert_allclose(got, [point["x"], point["y"]], rtol=1e-6)
                    assert confidences[name][frame["frame_idx"], k] == pytest.approx(
                        point["score"], rel=1e-6
                    )
                    checked += 1
                else:
                    assert np.isnan(got).all()
    assert checked > 50


def test_real_sleap_centered_pair(shared_data):
    path = shared_data / "sleap_centered_pair" / "centered_pair_predictions.slp"
    coordinates, confidences, bodyparts = load_keypoints(path)
    assert len(coordinates) == 27 and len(bodyparts) == 24
    assert set(confidences) == set(coordinates)
    assert bodyparts[:3] == ["head", "neck", "thorax"]
    assert list(coordinates)[-1] == "centered_pair_predictions_track26"
    assert all(c.shape == (1100, 24, 2) for c in coordinates.values())
    missing = np.mean([np.isnan(c[..., 0]).mean() for c in coordinates.values()])
    assert 0.85 < missing < 0.97  # about 93% of track x frame points are missing in this file
    stored = stored_video_paths(path)
    assert stored["centered_pair_predictions_track0"].endswith("centered_pair_low_quality.mp4")
    assert os.path.isfile(stored["centered_pair_predictions_track0"])


def test_real_dlc_tiny(shared_data):
    folder = shared_data / "dlc_tiny"
    (h5_path,) = folder.glob("*.h5")
    (csv_path,) = folder.glob("*filtered.csv")
    coordinates, confidences, bodyparts = load_keypoints([h5_path, csv_path])
    assert bodyparts == ["bodypart1", "bodypart2", "bodypart3", "objectA"]
    assert list(coordinates) == [h5_path.stem, csv_path.stem]  # single animal: no individuals
    table = pd.read_hdf(h5_path)
    assert "individuals" not in table.columns.names
    for name, raw in ((h5_path.stem, table.to_numpy()),):
        assert coordinates[name].shape == (12, 4, 2)
        np.testing.assert_array_equal(coordinates[name][5, 2], raw[5, 6:8])  # bodypart3 x, y
        np.testing.assert_array_equal(confidences[name][:, 3], raw[:, 11])  # objectA likelihood
    raw_csv = pd.read_csv(csv_path, header=[0, 1, 2], index_col=0).to_numpy()
    np.testing.assert_allclose(coordinates[csv_path.stem][11, 0], raw_csv[11, 0:2])
    np.testing.assert_allclose(confidences[csv_path.stem][0], raw_csv[0, 2::3])


def test_real_files_copied_under_other_names_are_detected(shared_data, tmp_path):
    slp = shared_data / "sleap_flies_clip" / "clip.predictions.slp"
    renamed = tmp_path / "flies.data"  # no telling extension: content decides
    shutil.copy(slp, renamed)
    assert detect_format(renamed) == "sleap"
    coordinates, _, _ = load_keypoints(renamed)
    assert list(coordinates) == ["flies_track0", "flies_track1"]
