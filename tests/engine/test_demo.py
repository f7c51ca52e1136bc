"""The demo project: files on disk, and a known answer that annotating recovers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from kpcal_core import KpcalError, fit_error_model, load_config, sample_error_frames
from kpcal_core.demo import (
    _COLOURS,
    DEMO_BODYPARTS,
    DEMO_SKELETON,
    load_ground_truth,
    make_demo_project,
)
from kpcal_core.video import find_matching_videos, read_frames, video_info

try:  # being written elsewhere; checked when present
    from kpcal_core.keypoints import load_keypoints
except ImportError:  # pragma: no cover
    load_keypoints = None

SMALL = dict(n_frames=60, width=240, height=180)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_project(tmp_path_factory.mktemp("demo") / "project", **SMALL)


def read_dlc_csv(path):
    table = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    bodyparts = list(dict.fromkeys(table.columns.get_level_values(1)))
    values = table.to_numpy(dtype=float).reshape(len(table), len(bodyparts), 3)
    return values[..., :2], values[..., 2], bodyparts


def test_writes_config_videos_csvs_and_ground_truth(demo):
    project = demo.project_dir
    assert (project / "config.yml").is_file()
    assert (project / "demo_ground_truth.npz").is_file()
    names = sorted(demo.true_coordinates)
    assert len(names) == 2
    csvs = sorted(p.name for p in demo.keypoints_dir.glob("*.csv"))
    assert csvs == [f"{n}.csv" for n in names]
    videos = find_matching_videos(names, demo.video_dir)
    for name, video in zip(names, videos, strict=True):
        info = video_info(video)
        assert (info.n_frames, info.width, info.height) == (60, 240, 180)
        assert demo.coordinates[name].shape == (60, 6, 2)
        assert demo.confidences[name].shape == (60, 6)
        assert demo.true_coordinates[name].shape == (60, 6, 2)
    config = load_config(project)
    assert config["bodyparts"] == DEMO_BODYPARTS == demo.bodyparts
    assert config["skeleton"] == DEMO_SKELETON == demo.skeleton
    assert config["video_dir"] == str(demo.video_dir.resolve())
    for key in ("anterior_bodyparts", "posterior_bodyparts"):
        assert set(config[key]) <= set(config["use_bodyparts"])
    truth = load_ground_truth(project)
    assert truth["slope"] == demo.slope and truth["intercept"] == demo.intercept
    assert truth["noise_sd"] == demo.noise_sd
    for name in names:
        np.testing.assert_array_equal(truth["true_coordinates"][name], demo.true_coordinates[name])


def test_csvs_hold_the_predictions(demo):
    for name in demo.coordinates:
        coords, conf, bodyparts = read_dlc_csv(demo.keypoints_dir / f"{name}.csv")
        assert bodyparts == DEMO_BODYPARTS
        np.testing.assert_array_equal(coords, demo.coordinates[name])
        np.testing.assert_array_equal(conf, demo.confidences[name])
        assert conf.min() >= 0 and conf.max() <= 1
    if load_keypoints is not None:
        coordinates, confidences, bodyparts = load_keypoints(str(demo.keypoints_dir), "deeplabcut")
        assert list(bodyparts) == DEMO_BODYPARTS
        assert set(coordinates) == set(demo.coordinates)
        for name in coordinates:
            np.testing.assert_array_equal(coordinates[name], demo.coordinates[name])
            np.testing.assert_array_equal(confidences[name], demo.confidences[name])


def test_predictions_follow_the_error_line(demo):
    """Averaged over every keypoint, the error follows slope and intercept."""
    x = np.concatenate([np.log10(c.ravel() + 1e-3) for c in demo.confidences.values()])
    err = np.concatenate(
        [
            np.linalg.norm(demo.coordinates[n] - demo.true_coordinates[n], axis=-1).ravel()
            for n in demo.coordinates
        ]
    )
    slope, intercept = np.polyfit(x, np.log10(err + 1), 1)
    assert slope == pytest.approx(demo.slope, abs=0.03)
    assert intercept == pytest.approx(demo.intercept, abs=0.03)


def test_dots_are_drawn_at_the_true_positions(demo):
    name = sorted(demo.true_coordinates)[0]
    video = find_matching_videos([name], demo.video_dir)[0]
    frames = dict(read_frames(video, [0, 31, 59], method="sequential"))
    for t, frame in frames.items():
        for k, colour in enumerate(_COLOURS):
            x, y = np.round(demo.true_coordinates[name][t, k]).astype(int)
            if 0 <= x < 240 and 0 <= y < 180:
                assert np.abs(frame[y, x].astype(int) - colour).max() < 60, (t, k)


def test_annotating_at_the_truth_recovers_the_line(demo):
    samples = sample_error_frames(
        demo.confidences,
        demo.bodyparts,
        demo.bodyparts,
        num_samples=100,
        coordinates=demo.coordinates,
        seed=7,
    )
    assert len(samples) == 100
    annotations = {
        (name, t, bp): tuple(demo.true_coordinates[name][t, demo.bodyparts.index(bp)])
        for name, t, bp in samples
    }
    fit = fit_error_model(demo.coordinates, demo.confidences, annotations, demo.bodyparts)
    assert fit["n"] == 100
    x = np.array(
        [np.log10(demo.confidences[n][t, demo.bodyparts.index(b)] + 1e-3) for n, t, b in samples]
    )
    # standard errors of a least-squares line with noise_sd around it; 5 sigma
    se_slope = demo.noise_sd / (x.std() * np.sqrt(len(x)))
    se_intercept = demo.noise_sd * np.sqrt(1 / len(x) + x.mean() ** 2 / (len(x) * x.var()))
    assert abs(fit["slope"] - demo.slope) < min(5 * se_slope, 0.1)
    assert abs(fit["intercept"] - demo.intercept) < min(5 * se_intercept, 0.1)
    assert fit["r2"] > 0.9


def test_same_seed_same_bytes_different_seed_different_bytes(tmp_path):
    a = make_demo_project(tmp_path / "a", seed=3, n_recordings=1, **SMALL)
    b = make_demo_project(tmp_path / "b", seed=3, n_recordings=1, **SMALL)
    c = make_demo_project(tmp_path / "c", seed=4, n_recordings=1, **SMALL)
    (name,) = a.coordinates
    files = [p.keypoints_dir / f"{name}.csv" for p in (a, b, c)]
    assert files[0].read_bytes() == files[1].read_bytes()
    assert files[0].read_bytes() != files[2].read_bytes()
    config_a = yaml.safe_load((a.project_dir / "config.yml").read_text())
    config_b = yaml.safe_load((b.project_dir / "config.yml").read_text())
    config_a.pop("video_dir"), config_b.pop("video_dir")
    assert config_a == config_b


def test_other_true_line(tmp_path):
    demo = make_demo_project(
        tmp_path / "p", slope=-0.3, intercept=0.5, noise_sd=0.02, n_recordings=1, **SMALL
    )
    samples = sample_error_frames(demo.confidences, demo.bodyparts, demo.bodyparts, seed=1)
    annotations = {
        (n, t, b): tuple(demo.true_coordinates[n][t, demo.bodyparts.index(b)])
        for n, t, b in samples
    }
    fit = fit_error_model(demo.coordinates, demo.confidences, annotations, demo.bodyparts)
    assert fit["slope"] == pytest.approx(-0.3, abs=0.05)
    assert fit["intercept"] == pytest.approx(0.5, abs=0.05)


def test_existing_project_needs_overwrite(tmp_path):
    make_demo_project(tmp_path / "p", n_recordings=1, **SMALL)
    with pytest.raises(KpcalError, match="config.yml"):
        make_demo_project(tmp_path / "p", n_recordings=1, **SMALL)
    make_demo_project(tmp_path / "p", n_recordings=1, overwrite=True, **SMALL)


def test_load_ground_truth_of_a_non_demo_folder(tmp_path):
    with pytest.raises(KpcalError, match="demo_ground_truth.npz"):
        load_ground_truth(tmp_path)


def test_a_crafted_ground_truth_file_in_any_project_is_never_an_error_nor_read_whole(
    demo, tmp_path
):
    from kpcal_core.demo import GROUND_TRUTH_FILENAME, demo_truth

    assert demo_truth(demo.project_dir) == {"slope": demo.slope, "intercept": demo.intercept}
    crafted = {
        "not_a_zip": lambda p: p.write(b"PK\x03\x04 not a zip"),
        "array_slope": lambda p: np.savez(p, slope=np.arange(3.0), intercept=0.5),
        "text_slope": lambda p: np.savez(p, slope=np.array("x"), intercept=0.5),
        "missing": lambda p: np.savez(p, slope=1.0),
        "nan": lambda p: np.savez(p, slope=np.nan, intercept=0.5),
        # 40 MB of zeros stored in 40 kB: refused from the zip's declared size, not read
        "bomb": lambda p: np.savez_compressed(p, slope=np.zeros(5_000_000), intercept=0.5),
    }
    for name, write in crafted.items():
        folder = tmp_path / name
        folder.mkdir()
        with open(folder / GROUND_TRUTH_FILENAME, "wb") as handle:
            write(handle)
        assert demo_truth(folder) is None, name
