"""The format registry, SLEAP's pixel convention and precision, skeletons, duplicate
outputs, and the rules that give each recording its video."""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import pytest
from pose_files import dlc_frame, write_dlc, write_nwb, write_sleap_analysis, write_slp

from kpcal_core import check_videos, workflows
from kpcal_core.cli import build_parser
from kpcal_core.errors import KpcalError
from kpcal_core.formats import (
    FORMATS,
    REGISTRY,
    PoseFormat,
    choose_anterior_posterior,
    detect_format,
    get_format,
    load_keypoints,
    read_keypoints,
    stored_skeleton,
)
from kpcal_core.formats.discovery import choose_duplicates
from kpcal_core.formats.sleap import PIXEL_CENTRE_FORMAT_ID
from kpcal_core.video.match import (
    PREFIX_MATCH,
    SET_BY_USER,
    STORED_NAME_BESIDE_KEYPOINTS,
    STORED_NAME_IN_VIDEO_FOLDER,
    STORED_PATH,
    resolve_videos,
)

# --------------------------------------------------------------------------- registry


def test_every_list_of_formats_comes_from_the_registry(capsys):
    assert tuple(f.name for f in REGISTRY) == FORMATS
    assert set(FORMATS) == {"deeplabcut", "sleap", "lightning-pose", "nwb"}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["check", "PROJECT", "--format", "bogus"])
    message = capsys.readouterr().err
    assert "choose from " + ", ".join(repr(n) for n in ("auto", *FORMATS)) in message
    setup_page = os.path.join(os.path.dirname(__file__), "..", "..", "pages", "setup.py")
    with open(setup_page, encoding="utf-8") as handle:
        source = handle.read()
    # the page's list is the registry's, through the workflows (the app's one way in)
    assert '"deeplabcut"' not in source and "FORMATS" in source
    assert workflows.FORMATS is FORMATS
    for fmt in REGISTRY:
        assert get_format(fmt.name.upper().replace("-", "_")) is fmt
        assert fmt.extensions and all(e.startswith(".") for e in fmt.extensions)


def test_every_format_module_is_registered():
    """Adding a format is one module defining FORMAT plus its line in REGISTRY."""
    import importlib
    import pkgutil

    import kpcal_core.formats as package

    defined = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if isinstance(getattr(module, "FORMAT", None), PoseFormat):
            defined.append(module.FORMAT)
    assert sorted(f.name for f in defined) == sorted(FORMATS)
    assert all(f in REGISTRY for f in defined)


def test_a_variant_is_detected_as_itself_and_read_under_either_name(tmp_path):
    frame = dlc_frame(["nose"], scorer="heatmap_tracker")
    path = write_dlc(frame, tmp_path / "lp.csv")
    assert detect_format(path) == "lightning-pose"
    for name in ("deeplabcut", "lightning-pose"):
        assert read_keypoints(path, name).formats == {"lp": "lightning-pose"}
    dlc = write_dlc(dlc_frame(["nose"]), tmp_path / "dlc.csv")
    assert read_keypoints(dlc, "lightning-pose").formats == {"dlc": "deeplabcut"}
    with pytest.raises(KpcalError, match="holds deeplabcut data, not nwb"):
        read_keypoints(dlc, "nwb")


def test_a_csv_that_is_not_utf8_says_so(tmp_path):
    path = write_dlc(dlc_frame(["nose"]), tmp_path / "latin.csv")
    path.write_bytes(path.read_text().replace("nose", "museau-é").encode("latin-1"))
    with pytest.raises(KpcalError, match="not a pose file.*not UTF-8 text.*at byte") as info:
        load_keypoints(path)
    assert "latin.csv" in str(info.value)


# --------------------------------------------------------------------------- SLEAP


def make_legacy_slp(modern, legacy, format_id=1.0):
    """A copy of ``modern`` in SLEAP's format 1.0 layout (no tracking_score, format_id 1.0)."""
    shutil.copy(modern, legacy)
    with h5py.File(legacy, "a") as handle:
        instances = handle["instances"][()]
        names = [n for n in instances.dtype.names if n != "tracking_score"]
        old = np.empty(len(instances), dtype=[(n, instances.dtype[n]) for n in names])
        for name in names:
            old[name] = instances[name]
        del handle["instances"]
        handle.create_dataset("instances", data=old, maxshape=(None,))
        handle["metadata"].attrs["format_id"] = format_id
    return legacy


def test_legacy_slp_is_shifted_to_pixel_centres_exactly_once(tmp_path):
    modern = write_slp(tmp_path / "modern.slp", n_tracks=2)
    legacy = make_legacy_slp(modern, tmp_path / "legacy.slp")
    with h5py.File(modern, "r") as handle:
        assert float(handle["metadata"].attrs["format_id"]) >= PIXEL_CENTRE_FORMAT_ID
        raw = handle["pred_points"][()]
    # the modern file is read as stored: pixel-centre based already
    coords, conf, _ = load_keypoints(modern)
    visible = raw[raw["visible"]]
    assert np.nanmin(coords["modern_track0"][..., 0]) == visible["x"].min()
    # the legacy file stores the same numbers in the top-left-corner convention
    legacy_coords, legacy_conf, _ = load_keypoints(legacy)
    for i in range(2):
        shifted = legacy_coords[f"legacy_track{i}"]
        np.testing.assert_array_equal(shifted, coords[f"modern_track{i}"] - np.float32(0.5))
        np.testing.assert_array_equal(legacy_conf[f"legacy_track{i}"], conf[f"modern_track{i}"])
    # format 1.1 is already pixel-centre based: not shifted
    same = make_legacy_slp(modern, tmp_path / "v11.slp", format_id=1.1)
    np.testing.assert_array_equal(load_keypoints(same)[0]["v11_track1"], coords["modern_track1"])


def test_sleap_keeps_float32_and_other_formats_float64(tmp_path):
    slp = write_slp(tmp_path / "a.slp", n_tracks=1)
    coords, conf, _ = load_keypoints(slp)
    assert coords["a"].dtype == np.float32 and conf["a"].dtype == np.float32
    tracks = np.arange(2 * 4 * 3 * 2, dtype=np.float32).reshape(2, 4, 3, 2)
    analysis = write_sleap_analysis(
        tmp_path / "b.h5", tracks, np.ones((2, 4, 3), np.float32), list("xyz")
    )
    coords, conf, _ = load_keypoints(analysis)
    assert coords["b_track1"].dtype == np.float32 and conf["b_track1"].dtype == np.float32
    np.testing.assert_array_equal(coords["b_track1"], tracks[1])
    wide = write_sleap_analysis(tmp_path / "c.h5", tracks.astype(int), np.ones((2, 4, 3)), "xyz")
    assert load_keypoints(wide)[0]["c_track0"].dtype == np.float64
    dlc = write_dlc(dlc_frame(["nose"]), tmp_path / "d.csv")
    assert load_keypoints(dlc)[0]["d"].dtype == np.float64


def test_real_sleap_values_are_those_of_sleap_io_at_float32(shared_data):
    import sleap_io

    path = shared_data / "sleap_centered_pair" / "centered_pair_predictions.slp"
    coordinates, confidences, _ = load_keypoints(path)
    labels = sleap_io.load_slp(str(path), open_videos=False)
    expected = labels.numpy(video=labels.videos[0], return_confidence=True)
    assert expected.dtype == np.float32
    for i in (0, 26):
        got = coordinates[f"centered_pair_predictions_track{i}"]
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected[:, i, :, :2])
        np.testing.assert_array_equal(
            confidences[f"centered_pair_predictions_track{i}"], expected[:, i, :, 2]
        )


# --------------------------------------------------------------------------- skeleton, anatomy


def test_skeleton_from_slp_analysis_and_nwb(tmp_path):
    slp = write_slp(tmp_path / "a.slp", n_tracks=1)
    assert stored_skeleton(slp) == []  # the writer's skeleton has no edges
    nwb = write_nwb(tmp_path / "m.nwb", ["PoseEstimation"])
    assert stored_skeleton(nwb) == [["snout", "tailbase"]]
    tracks = np.zeros((1, 3, 2, 2))
    analysis = write_sleap_analysis(tmp_path / "b.h5", tracks, np.ones((1, 3, 2)), ["a", "b"])
    with h5py.File(analysis, "a") as handle:
        handle["edge_names"] = np.array([[b"a", b"b"], [b"b", b"gone"]])
    assert stored_skeleton(analysis) == [["a", "b"]]  # an edge to no bodypart is dropped
    assert stored_skeleton(write_dlc(dlc_frame(["a"]), tmp_path / "d.csv")) == []


def test_real_centered_pair_skeleton_and_anatomy(shared_data):
    path = shared_data / "sleap_centered_pair" / "centered_pair_predictions.slp"
    loaded = read_keypoints(path)
    skeleton = loaded.skeleton
    assert len(skeleton) == 23  # a tree over the 24 nodes
    assert ["neck", "head"] in skeleton and ["thorax", "abdomen"] in skeleton
    assert all(a in loaded.bodyparts and b in loaded.bodyparts for a, b in skeleton)
    assert stored_skeleton(path) == skeleton
    assert choose_anterior_posterior(loaded.bodyparts) == ("head", "abdomen")


@pytest.mark.parametrize(
    ("bodyparts", "expected"),
    [
        (["nose", "left_ear", "tail_base", "tail_tip"], ("nose", "tail_base")),
        (["Snout", "spine", "TailBase", "tail"], ("Snout", "TailBase")),
        (["head_top", "thorax", "tail"], ("head_top", "tail")),
        (["ear", "tail_end"], (None, None)),  # a tail tip is not a safe posterior
        (["bodypart1", "bodypart2", "objectA"], (None, None)),
        (["nose", "base_of_tail"], ("nose", "base_of_tail")),
    ],
)
def test_choose_anterior_posterior_from_names(bodyparts, expected):
    assert choose_anterior_posterior(bodyparts) == expected


# --------------------------------------------------------------------------- duplicate outputs


def test_duplicate_outputs_keep_one_file_per_video(tmp_path):
    stem = "vidDLC_resnet50_xNov4shuffle1_10"
    frame = dlc_frame(["nose"])
    files = [
        write_dlc(frame, tmp_path / f"{stem}.h5"),
        write_dlc(frame, tmp_path / f"{stem}.csv"),
        write_dlc(frame, tmp_path / f"{stem}filtered.csv"),
        write_dlc(frame, tmp_path / f"{stem}filtered.h5"),
        write_dlc(frame, tmp_path / "other_filtered.csv"),
    ]
    paths = sorted(str(p) for p in files)
    kept, groups = choose_duplicates(paths)
    assert sorted(os.path.basename(p) for p in kept) == ["other_filtered.csv", f"{stem}.h5"]
    assert len(groups) == 1 and len(groups[0].files) == 4
    kept, _ = choose_duplicates(paths, "filtered")
    assert f"{stem}filtered.h5" in {os.path.basename(p) for p in kept}
    assert choose_duplicates(paths, "all")[0] == paths
    with pytest.raises(KpcalError, match="duplicates must be one of"):
        choose_duplicates(paths, "newest")
    # files of one name in different folders are different recordings, not duplicates
    (tmp_path / "b").mkdir()
    elsewhere = str(write_dlc(frame, tmp_path / "b" / f"{stem}.csv"))
    assert elsewhere in choose_duplicates([*paths, elsewhere])[0]


@pytest.mark.parametrize(
    "choice, words",
    [
        ("unfiltered", "Only a1.h5 is loaded (one file per video, the unfiltered output"),
        ("filtered", "Only a1filtered.csv is loaded (one file per video, the filtered output"),
        ("all", "All of them are loaded, each as a recording of its own."),
    ],
)
def test_the_duplicate_outputs_warning_is_in_plain_words(choice, words):
    """It says what was loaded and where to change it, not the setting's code value."""
    paths = ["/p/a1.h5", "/p/a1filtered.csv"]
    kept, (group,) = choose_duplicates(paths, choice)
    message = group.message(choice)
    assert message.startswith("2 files are outputs for the same video: a1.h5, a1filtered.csv.")
    assert words in message, message
    assert "Several outputs of one video" in message and "--duplicates" in message
    assert "duplicates=" not in message and f"'{choice}'" not in message


def test_real_dlc_tiny_default_gives_one_recording(shared_data):
    folder = shared_data / "dlc_tiny"
    loaded = read_keypoints(folder)
    (h5_path,) = folder.glob("*.h5")
    (csv_path,) = folder.glob("*filtered.csv")
    assert list(loaded.coordinates) == [h5_path.stem]
    assert loaded.files[h5_path.stem] == str(h5_path)
    (warning,) = loaded.warnings
    assert h5_path.name in warning and csv_path.name in warning
    assert f"Only {h5_path.name} is loaded" in warning and "duplicates=" not in warning
    filtered = read_keypoints(folder, duplicates="filtered")
    assert list(filtered.coordinates) == [csv_path.stem]
    assert len(read_keypoints(folder, duplicates="all").coordinates) == 2
    # keypoint-MoSeq's loader loads every file found, as before
    assert len(load_keypoints(folder)[0]) == 2


# --------------------------------------------------------------------------- video rules


def test_video_rules_in_order(tmp_path):
    (tmp_path / "kp").mkdir()
    (tmp_path / "videos").mkdir()
    beside = tmp_path / "kp" / "cam.mp4"
    in_folder = tmp_path / "videos" / "cam.mp4"
    prefix = tmp_path / "videos" / "rec4.mp4"
    user = tmp_path / "mine.avi"
    for path in (beside, in_folder, prefix, user):
        path.write_bytes(b"")
    keypoint_file = str(tmp_path / "kp" / "p.slp")
    recordings = ["rec1", "rec2", "rec3", "rec4", "rec5"]
    choices = resolve_videos(
        recordings,
        video_dir=tmp_path / "videos",
        stored_videos={
            "rec1": "C:\\lab\\cam.mp4",
            "rec2": "C:\\lab\\cam.mp4",
            "rec3": str(beside),
            "rec5": "/gone/nothing.mp4",
        },
        keypoint_files=dict.fromkeys(recordings, keypoint_file),
        user_videos={"rec1": str(user), "rec4": str(tmp_path / "moved.mp4")},
    )
    assert (choices["rec1"].path, choices["rec1"].rule) == (str(user), SET_BY_USER)
    assert (choices["rec2"].path, choices["rec2"].rule) == (
        str(in_folder),
        STORED_NAME_IN_VIDEO_FOLDER,
    )
    assert choices["rec3"].rule == STORED_PATH
    assert choices["rec4"].rule == PREFIX_MATCH and choices["rec4"].path == str(prefix)
    assert "moved.mp4" in choices["rec4"].reason and "does not exist" in choices["rec4"].reason
    assert choices["rec5"].path is None and choices["rec5"].rule is None
    assert "/gone/nothing.mp4" in choices["rec5"].reason
    # without a video folder, the stored name beside the keypoint file
    alone = resolve_videos(
        ["rec2"], stored_videos={"rec2": "C:\\lab\\cam.mp4"}, keypoint_files={"rec2": keypoint_file}
    )
    assert alone["rec2"].rule == STORED_NAME_BESIDE_KEYPOINTS
    assert alone["rec2"].path == os.path.normpath(str(beside))


def test_real_centered_pair_finds_its_own_video(shared_data, tmp_path):
    folder = shared_data / "sleap_centered_pair"
    video = folder / "centered_pair_low_quality.mp4"
    loaded = read_keypoints(folder)
    assert len(loaded.coordinates) == 27
    report = check_videos(
        loaded.coordinates, None, stored_videos=loaded.stored_videos, keypoint_files=loaded.files
    )
    assert (report["status"] == "ok").all(), report["reason"].iloc[0]
    assert (report["rule"] == STORED_NAME_BESIDE_KEYPOINTS).all()
    assert {os.path.realpath(v) for v in report["video"]} == {os.path.realpath(video)}
    # given a video folder holding the file, the folder is where it is found
    videos = tmp_path / "videos"
    videos.mkdir()
    os.symlink(video, videos / video.name)
    choices = resolve_videos(
        loaded.coordinates,
        video_dir=videos,
        stored_videos=loaded.stored_videos,
        keypoint_files=loaded.files,
    )
    assert {c.rule for c in choices.values()} == {STORED_NAME_IN_VIDEO_FOLDER}
    assert {c.path for c in choices.values()} == {str(videos / video.name)}
    # without the stored paths, keypoint-MoSeq's prefix rule finds nothing
    plain = check_videos(loaded.coordinates, folder)
    assert (plain["status"] == "no video").all() and (plain["rule"] == "").all()


def test_real_centered_pair_project_uses_its_own_video(shared_data, tmp_path):
    from kpcal_core.config import setup_project
    from kpcal_core.project import load_project_data
    from kpcal_core.session import CalibrationSession

    folder = shared_data / "sleap_centered_pair"
    setup_project(tmp_path, bodyparts=["head", "thorax"])
    session = CalibrationSession(keypoints_path=str(folder))
    data = load_project_data(tmp_path, session)
    assert len(data.video_paths) == 27
    assert {os.path.basename(v) for v in data.video_paths.values()} == {
        "centered_pair_low_quality.mp4"
    }
    assert {c.rule for c in data.video_choices.values()} == {STORED_NAME_BESIDE_KEYPOINTS}
    assert ["neck", "head"] in data.skeleton


def test_real_dlc_tiny_project_keeps_the_duplicate_choice_of_its_session(shared_data, tmp_path):
    from kpcal_core.config import setup_project
    from kpcal_core.project import load_project_data
    from kpcal_core.session import CalibrationSession, load_session, save_session

    folder = shared_data / "dlc_tiny"
    setup_project(tmp_path, bodyparts=["bodypart1", "bodypart2", "bodypart3", "objectA"])
    session = CalibrationSession(keypoints_path=str(folder), video_dir=str(folder))
    data = load_project_data(tmp_path, session)
    assert list(data.coordinates) == ["vid1_camera-1DLC_resnet50_TESTNov4shuffle1_10"]
    assert len(data.keypoint_warnings) == 1 and "filtered.csv" in data.keypoint_warnings[0]
    assert {c.rule for c in data.video_choices.values()} == {PREFIX_MATCH}
    session.keypoints_duplicates = "filtered"
    save_session(tmp_path, session)
    data = load_project_data(tmp_path, load_session(tmp_path))
    assert list(data.coordinates) == ["vid1_camera-1DLC_resnet50_TESTNov4shuffle1_10filtered"]
    assert len(load_project_data(tmp_path, session, duplicates="all").coordinates) == 2


def test_keypoints_stored_in_the_session_keep_float32(tmp_path):
    from kpcal_core.session import load_session_keypoints, save_session_keypoints

    coords = {"a": np.full((3, 2, 2), 1 / 3, np.float32), "b": np.full((2, 2, 2), 1 / 3)}
    conf = {"a": np.full((3, 2), 0.1, np.float32), "b": np.arange(4).reshape(2, 2)}
    indexes = {"a": np.arange(3), "b": np.arange(2)}
    save_session_keypoints(tmp_path, coords, conf, ["x", "y"], indexes)
    got_coords, got_conf, _, _ = load_session_keypoints(tmp_path)
    assert got_coords["a"].dtype == np.float32 and got_conf["a"].dtype == np.float32
    assert got_coords["b"].dtype == np.float64 and got_conf["b"].dtype == np.float64
    np.testing.assert_array_equal(got_coords["a"], coords["a"])
    np.testing.assert_array_equal(got_conf["b"], conf["b"])
