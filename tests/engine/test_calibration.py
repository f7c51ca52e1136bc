"""noise_calibration: validate everything, store the session, keep annotations, return the command."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest

from kpcal_core import (
    KpcalError,
    load_annotations,
    load_config,
    noise_calibration,
    sample_error_frames,
    save_annotations,
)
from kpcal_core.demo import make_demo_project
from kpcal_core.session import load_session, load_session_keypoints

SMALL = dict(n_frames=40, width=240, height=180)


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    return make_demo_project(tmp_path_factory.mktemp("template") / "project", **SMALL)


@pytest.fixture
def demo(demo_template, tmp_path):
    """A fresh copy of the demo project, without a calibration session (the demo may write one)."""
    project_dir = tmp_path / "project"
    shutil.copytree(demo_template.project_dir, project_dir)
    shutil.rmtree(project_dir / "calibration", ignore_errors=True)
    return dataclasses.replace(
        demo_template,
        project_dir=project_dir,
        video_dir=project_dir / "videos",
        keypoints_dir=project_dir / "keypoints",
    )


def call(demo, **overrides):
    kwargs = dict(
        coordinates=demo.coordinates,
        confidences=demo.confidences,
        bodyparts=demo.bodyparts,
        use_bodyparts=demo.bodyparts,
        video_dir=demo.video_dir,
    )
    kwargs.update(overrides)
    project = kwargs.pop("project_dir", demo.project_dir)
    coordinates, confidences = kwargs.pop("coordinates"), kwargs.pop("confidences")
    return noise_calibration(project, coordinates, confidences, **kwargs)


def read_session_json(project):
    return json.loads((project / "calibration" / "session.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- success


def test_stores_session_and_returns_the_app_command(demo):
    command = call(demo, seed=5)
    project = demo.project_dir
    assert shlex.split(command) == [
        sys.executable,
        "-m",
        "kpcal_core",
        "app",
        str(project.resolve()),
    ]
    data = read_session_json(project)
    assert data["seed"] == 5
    assert data["num_bins"] == 10 and data["num_samples"] == 100
    assert data["conf_pseudocount"] == 0.001
    expected = sample_error_frames(
        demo.confidences,
        demo.bodyparts,
        demo.bodyparts,
        10,
        100,
        0.001,
        coordinates=demo.coordinates,
        seed=5,
    )
    assert [tuple(k) for k in data["sample_keys"]] == expected
    assert set(data["video_paths"]) == set(demo.coordinates)
    session = load_session(project)
    assert session.sample_keys == expected
    assert all(
        type(k[0]) is str and type(k[1]) is int and type(k[2]) is str for k in session.sample_keys
    )
    coordinates, confidences, bodyparts, indexes = load_session_keypoints(project)
    assert bodyparts == demo.bodyparts
    for name in demo.coordinates:
        np.testing.assert_array_equal(coordinates[name], demo.coordinates[name])
        np.testing.assert_array_equal(confidences[name], demo.confidences[name])
        np.testing.assert_array_equal(indexes[name], np.arange(40))
    assert not (project / "error_annotations.csv").exists()


def test_the_command_returned_runs_kpcal_app_from_any_folder(demo, tmp_path):
    """It was ``streamlit run <checkout>/app.py``, which only a checkout has (issue 22)."""
    command = call(demo, seed=5)
    env = {k: v for k, v in os.environ.items() if k != "KPCAL_PROJECT"}
    done = subprocess.run(
        [*shlex.split(command), "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: kpcal app"), done.stdout


def test_without_a_seed_the_seed_used_is_stored(demo):
    call(demo)
    data = read_session_json(demo.project_dir)
    assert isinstance(data["seed"], int)
    again = sample_error_frames(
        demo.confidences,
        demo.bodyparts,
        demo.bodyparts,
        coordinates=demo.coordinates,
        seed=data["seed"],
    )
    assert [tuple(k) for k in data["sample_keys"]] == again


def test_sampling_options_and_pseudocount_are_used(demo):
    use = ["nose", "neck"]
    call(demo, use_bodyparts=use, num_bins=4, num_samples=12, seed=1, conf_pseudocount=0.01)
    data = read_session_json(demo.project_dir)
    assert (data["num_bins"], data["num_samples"], data["conf_pseudocount"]) == (4, 12, 0.01)
    expected = sample_error_frames(
        demo.confidences, demo.bodyparts, use, 4, 12, 0.01, coordinates=demo.coordinates, seed=1
    )
    assert [tuple(k) for k in data["sample_keys"]] == expected
    assert {k[2] for k in data["sample_keys"]} <= set(use)


def test_video_frame_indexes_are_stored(demo):
    mapping = {name: np.arange(40)[::-1].copy() for name in demo.coordinates}
    call(demo, video_frame_indexes=mapping, seed=0)
    _, _, _, indexes = load_session_keypoints(demo.project_dir)
    for name in demo.coordinates:
        np.testing.assert_array_equal(indexes[name], mapping[name])


def test_called_with_a_loaded_config_like_keypoint_moseq(demo):
    """kpms.noise_calibration(project_dir, coordinates, confidences, **config)."""
    config = load_config(demo.project_dir)
    command = noise_calibration(demo.project_dir, demo.coordinates, demo.confidences, **config)
    assert shlex.split(command)[1:4] == ["-m", "kpcal_core", "app"]
    assert len(read_session_json(demo.project_dir)["sample_keys"]) == 100


def test_keeps_existing_annotations_and_their_samples(demo):
    name = sorted(demo.coordinates)[0]
    annotated = {
        (name, 3, "nose"): (10.0, 20.0),
        (name, 39, "tail_base"): (1.5, 2.5),
        (sorted(demo.coordinates)[1], 0, "back"): (3.0, 4.0),
    }
    save_annotations(demo.project_dir, annotated, None)
    csv_file = demo.project_dir / "error_annotations.csv"
    before = csv_file.read_bytes()
    call(demo, seed=2, num_samples=10)
    assert csv_file.read_bytes() == before
    assert load_annotations(demo.project_dir) == annotated
    keys = [tuple(k) for k in read_session_json(demo.project_dir)["sample_keys"]]
    assert set(annotated) <= set(keys)
    assert len(keys) == len(set(keys))
    assert len(keys) >= 10
    # a second call (e.g. more samples) still keeps them
    call(demo, seed=3, num_samples=20)
    assert csv_file.read_bytes() == before
    assert set(annotated) <= {tuple(k) for k in read_session_json(demo.project_dir)["sample_keys"]}


def test_keypoint_moseq_annotation_file_is_kept_too(demo):
    name = sorted(demo.coordinates)[0]
    text = "\n".join(
        [
            "# key: recording name",
            "key,coordinate_index,video_frame_index,bodypart,x,y",
            f"{name},5,5,neck,1.0,2.0",
        ]
    )
    csv_file = demo.project_dir / "error_annotations.csv"
    csv_file.write_text(text)
    call(demo, seed=0)
    assert csv_file.read_text() == text
    assert (name, 5, "neck") in {
        tuple(k) for k in read_session_json(demo.project_dir)["sample_keys"]
    }


# --------------------------------------------------------------------------- validation


def with_recording(mapping, name, value):
    out = dict(mapping)
    out[name] = value
    return out


def cases(demo):
    name = sorted(demo.coordinates)[0]
    coords, conf = demo.coordinates, demo.confidences
    negative = conf[name].copy()
    negative[7, demo.bodyparts.index("neck")] = -0.2
    empty_videos = demo.project_dir / "no_videos"
    empty_videos.mkdir(exist_ok=True)
    renamed = {f"rat_{k}": v for k, v in coords.items()}
    renamed_conf = {f"rat_{k}": v for k, v in conf.items()}
    return {
        "3-D coordinates": (
            dict(coordinates=with_recording(coords, name, np.zeros((40, 6, 3)))),
            [name, "3-D"],
        ),
        "shape mismatch": (
            dict(confidences=with_recording(conf, name, conf[name][:30])),
            [name],
        ),
        "too few keypoints": (
            dict(coordinates=with_recording(coords, name, coords[name][:, :5])),
            [name],
        ),
        "recording missing from confidences": (
            dict(confidences={k: v for k, v in conf.items() if k != name}),
            [name],
        ),
        "negative confidences": (
            dict(confidences=with_recording(conf, name, negative)),
            [name, "neck", "frame 7"],
        ),
        "use_bodyparts not in bodyparts": (dict(use_bodyparts=["nose", "whisker"]), ["whisker"]),
        "use_bodyparts a string": (dict(use_bodyparts="nose"), ["nose"]),
        "no matching video": (dict(video_dir=empty_videos), [name]),
        "no matching video for a renamed recording": (
            dict(coordinates=renamed, confidences=renamed_conf),
            [f"rat_{name}"],
        ),
        "video folder missing": (dict(video_dir=demo.project_dir / "nowhere"), ["nowhere"]),
        "video shorter than needed frame": (
            dict(video_frame_indexes={k: np.arange(40) + (5 if k == name else 0) for k in coords}),
            [name, "mouse1.mp4", "44"],
        ),
        "video_frame_indexes wrong keys": (
            dict(
                video_frame_indexes={"ghost": np.arange(40), **{k: np.arange(40) for k in coords}}
            ),
            ["ghost"],
        ),
        "video_frame_indexes missing a recording": (
            dict(video_frame_indexes={name: np.arange(40)}),
            [sorted(coords)[1]],
        ),
        "video_frame_indexes wrong length": (
            dict(video_frame_indexes={k: np.arange(40 if k != name else 39) for k in coords}),
            [name],
        ),
        "video_frame_indexes not whole numbers": (
            dict(video_frame_indexes={k: np.arange(40) + 0.5 for k in coords}),
            ["whole"],
        ),
        "video_frame_indexes not numbers": (
            dict(video_frame_indexes={k: np.array(["a"] * 40) for k in coords}),
            ["whole"],
        ),
        "confidences not a dict": (dict(confidences=list(conf.values())), ["confidences"]),
        "all confidences NaN": (
            dict(confidences={k: np.full_like(v, np.nan) for k, v in conf.items()}),
            ["number"],
        ),
        "bad num_samples": (dict(num_samples=-5), ["num_samples"]),
    }


CASE_NAMES = [
    "3-D coordinates",
    "shape mismatch",
    "too few keypoints",
    "recording missing from confidences",
    "negative confidences",
    "use_bodyparts not in bodyparts",
    "use_bodyparts a string",
    "no matching video",
    "no matching video for a renamed recording",
    "video folder missing",
    "video shorter than needed frame",
    "video_frame_indexes wrong keys",
    "video_frame_indexes missing a recording",
    "video_frame_indexes wrong length",
    "video_frame_indexes not whole numbers",
    "video_frame_indexes not numbers",
    "confidences not a dict",
    "all confidences NaN",
    "bad num_samples",
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_bad_input_raises_and_writes_nothing(demo, case):
    overrides, needles = cases(demo)[case]
    csv_file = demo.project_dir / "error_annotations.csv"
    save_annotations(demo.project_dir, {(sorted(demo.coordinates)[0], 1, "nose"): (1, 2)}, None)
    before_csv = csv_file.read_bytes()
    before_config = (demo.project_dir / "config.yml").read_bytes()
    with pytest.raises(KpcalError) as info:
        call(demo, seed=0, **overrides)
    assert isinstance(info.value, ValueError)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
    assert not (demo.project_dir / "calibration").exists()
    assert csv_file.read_bytes() == before_csv
    assert (demo.project_dir / "config.yml").read_bytes() == before_config


def test_all_cases_are_tested(demo):
    assert set(cases(demo)) == set(CASE_NAMES)


def test_project_without_config(demo, tmp_path):
    empty = tmp_path / "empty_project"
    empty.mkdir()
    with pytest.raises(KpcalError, match="config.yml"):
        call(demo, project_dir=empty)
    assert list(empty.iterdir()) == []


def test_malformed_annotations_file_writes_nothing(demo):
    (demo.project_dir / "error_annotations.csv").write_text("not,an,annotations,file\n1,2,3,4")
    with pytest.raises(KpcalError, match="error_annotations.csv"):
        call(demo, seed=0)
    assert not (demo.project_dir / "calibration").exists()
