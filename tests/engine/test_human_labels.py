"""Human labels are not network output (issue 20, item 6).

A SLEAP ``.slp`` of a project holds the network's predictions and, in the frames a
person labelled, their own ``Instance``s. keypoint-MoSeq's arrays (``Labels.numpy``)
put such a label in place of its track's prediction with confidence 1.0: kpcal keeps
those arrays exactly, but never draws a human label for annotation (calibrating a
person's click against a person's click), and the population the line is judged on
leaves them out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from demo_support import slp_project
from pose_files import write_slp

from kpcal_core import load_keypoints, sample_error_frames, sentences, workflows
from kpcal_core.diagnostics import project_population
from kpcal_core.formats import read_keypoints
from kpcal_core.project import load_project_data

N_FRAMES, N_TRACKS = 12, 2
#: Frames a person labelled, and the tracks they labelled there.
USER = {0: [0], 1: [0, 1], 2: [1], 7: [0]}


def human_points(n_frames: int = N_FRAMES) -> dict[str, np.ndarray]:
    """Where the .slp holds a user label with a position: ``{recording suffix: (T, K) bool}``."""
    mask = np.zeros((N_TRACKS, n_frames, 3), dtype=bool)
    for frame, tracks in USER.items():
        for track in tracks:
            mask[track, frame] = True
            if frame == 1:
                mask[track, frame, 2] = False  # the paw has no position in frame 1
    return {f"_track{i}": mask[i] for i in range(N_TRACKS)}


@pytest.fixture
def project(tmp_path) -> Path:
    """A project on one .slp with user labels beside predictions, and its video."""
    return slp_project(tmp_path / "project", N_TRACKS, N_FRAMES, USER)


def test_keypoint_moseqs_arrays_are_kept_and_the_human_points_are_named(tmp_path):
    import sleap_io as sio

    path = write_slp(tmp_path / "flies.slp", N_TRACKS, N_FRAMES, user=USER)
    coordinates, confidences, bodyparts = load_keypoints(path)
    # keypoint-MoSeq's own reader: Labels.numpy with the user instances preferred
    labels = sio.load_slp(str(path), open_videos=False)
    expected = labels.numpy(video=labels.videos[0], return_confidence=True)
    for i in range(N_TRACKS):
        np.testing.assert_array_equal(coordinates[f"flies_track{i}"], expected[:, i, :, :2])
        np.testing.assert_array_equal(confidences[f"flies_track{i}"], expected[:, i, :, 2])
    # the person's labels are in those arrays (1.5 px right of the prediction, confidence 1)
    assert coordinates["flies_track0"][0, 0, 0] == 1.5
    assert (confidences["flies_track0"][0] == 1.0).all()

    loaded = read_keypoints(path)
    wanted = human_points()
    assert sorted(loaded.labelled) == ["flies_track0", "flies_track1"]
    for suffix, mask in wanted.items():
        np.testing.assert_array_equal(loaded.labelled[f"flies{suffix}"], mask)


def test_a_file_without_user_labels_has_no_human_points(tmp_path):
    path = write_slp(tmp_path / "flies.slp", N_TRACKS, N_FRAMES)
    assert read_keypoints(path).labelled == {}


def test_untracked_user_labels_are_found_too(tmp_path):
    """One animal, no tracks (single-instance): a user instance replaces the prediction."""
    path = write_slp(tmp_path / "one.slp", 1, 6, tracked=False, user={3: [0]})
    loaded = read_keypoints(path)
    mask = np.zeros((6, 3), dtype=bool)
    mask[3] = True
    np.testing.assert_array_equal(loaded.labelled["one"], mask)
    assert (loaded.confidences["one"][3] == 1.0).all()


@pytest.mark.parametrize("order", workflows.SAMPLE_ORDERS)
def test_no_human_label_is_ever_drawn(project, order):
    data = load_project_data(project)
    wanted = human_points()
    human = {
        (name, int(frame), data.bodyparts[k])
        for name in data.confidences
        for frame, k in zip(*np.nonzero(wanted[name[len("flies") :]]), strict=True)
    }
    assert len(human) == 13
    predicted = sum(int((~data.missing[name]).sum()) for name in data.confidences) - len(human)
    # Ask for every keypoint there is: all the predictions are drawn, no human label.
    draw = workflows.draw_samples(data, num_samples=200, seed=3, order=order)
    assert not human & set(draw.sample_keys)
    assert len(draw.sample_keys) == draw.available == predicted
    message = sentences.sample_draw_message(draw)
    assert f"Only {predicted} keypoints could be drawn" in message
    assert "13 keypoints labelled by a person (SLEAP user instances) are never drawn" in message
    # Drawn again (the project opened again: from the stored copy of the keypoints).
    again = load_project_data(project)
    for name, mask in again.labelled.items():
        np.testing.assert_array_equal(mask, data.labelled[name])
    for seed in range(5):
        keys = workflows.draw_samples(again, num_samples=20, seed=seed, order=order).sample_keys
        assert not human & set(keys)


def test_the_population_and_the_setup_page_leave_the_human_labels_out(project):
    data = load_project_data(project)
    positioned = sum(int((~data.missing[name]).sum()) for name in data.confidences)
    assert project_population(data).n == positioned - 13
    histogram = workflows.sampling_histogram(data, data.bodyparts, 1e-3, 10)
    assert histogram.human_labelled == 13


def test_keypoint_moseqs_sampler_given_the_mask_never_draws_them(project):
    data = load_project_data(project)
    never = data.never_drawn()
    keys = sample_error_frames(
        data.confidences, data.bodyparts, data.bodyparts, 10, 500, 1e-3, missing=never, seed=0
    )
    for recording, frame, bodypart in keys:
        assert not data.labelled[recording][frame, data.bodyparts.index(bodypart)]
