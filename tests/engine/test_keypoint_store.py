"""The project's stored keypoint copy: memory-mapped coordinates, rebuilt on change, optional."""

from __future__ import annotations

import os

import numpy as np
import pytest

from kpcal_core import keypoint_store, workflows
from kpcal_core.annotations import Annotation
from kpcal_core.demo import make_demo_project, write_deeplabcut_csv
from kpcal_core.formats import loading, read_keypoints
from kpcal_core.keypoint_store import store_dir
from kpcal_core.sampling import sample_error_frames

SMALL = dict(n_frames=80, width=200, height=160)


@pytest.fixture
def demo(tmp_path):
    demo = make_demo_project(tmp_path / "project", **SMALL)
    # Some keypoints without a position, so the mask of missing positions matters.
    first = sorted(demo.coordinates)[0]
    coords = demo.coordinates[first].copy()
    coords[::7, 1] = np.nan
    coords[3, 2, 0] = np.nan
    write_deeplabcut_csv(
        demo.keypoints_dir / f"{first}.csv", coords, demo.confidences[first], demo.bodyparts
    )
    demo.coordinates[first] = coords
    return demo


def in_memory(project, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(keypoint_store, "ENABLED", False)
        return workflows.open_project(project)


def copies(project) -> list[str]:
    return sorted(p.name for p in store_dir(project).iterdir())


def truth_records(demo, keys) -> dict:
    records = {}
    for i, (recording, frame, bodypart) in enumerate(keys):
        x, y = demo.true_coordinates[recording][frame, demo.bodyparts.index(bodypart)]
        records[(recording, frame, bodypart)] = Annotation(
            float(x) + 1.5, float(y) - 0.5, "store-test", f"2025-01-01T00:00:{i:02d}"
        )
    return records


def test_memory_mapped_project_gives_the_same_samples_fit_and_views(demo, monkeypatch):
    lean = workflows.open_project(demo.project_dir)
    memory = in_memory(demo.project_dir, monkeypatch)
    assert all(isinstance(c, np.memmap) for c in lean.coordinates.values())
    assert not any(isinstance(c, np.memmap) for c in memory.coordinates.values())
    assert list(lean.coordinates) == list(memory.coordinates)
    for r in memory.coordinates:
        np.testing.assert_array_equal(lean.coordinates[r], memory.coordinates[r])
        np.testing.assert_array_equal(lean.confidences[r], memory.confidences[r])
        assert lean.confidences[r].dtype == memory.confidences[r].dtype
        np.testing.assert_array_equal(lean.missing[r], memory.missing[r])
        np.testing.assert_array_equal(lean.missing[r], np.isnan(demo.coordinates[r]).any(axis=-1))
    assert lean.missing[sorted(lean.missing)[0]].any()
    coordinate_bytes = sum(c.nbytes for c in memory.coordinates.values())
    assert coordinate_bytes < keypoint_store.store_bytes(demo.project_dir) < 3 * coordinate_bytes

    planned = [workflows.draw_samples(d, num_samples=40, seed=3) for d in (lean, memory)]
    assert planned[0].sample_keys == planned[1].sample_keys  # the default, planned order
    draws = [
        workflows.draw_samples(d, num_samples=40, seed=3, order="keypoint-moseq")
        for d in (lean, memory)
    ]
    assert draws[0].sample_keys == draws[1].sample_keys
    assert (draws[0].available, draws[0].new) == (draws[1].available, draws[1].new)
    for recording, frame, bodypart in draws[0].sample_keys:  # never a missing position
        assert not np.isnan(
            demo.coordinates[recording][frame, demo.bodyparts.index(bodypart)]
        ).any()
    # Same draw as sampling with the coordinates themselves (keypoint-MoSeq's way).
    assert draws[0].sample_keys == sample_error_frames(
        demo.confidences,
        demo.bodyparts,
        lean.use_bodyparts,
        lean.session.num_bins,
        40,
        lean.conf_pseudocount,
        coordinates=demo.coordinates,
        seed=3,
    )

    records = truth_records(demo, draws[0].sample_keys[:25])
    fits = [workflows.calibration_fit(d, records) for d in (lean, memory)]
    assert fits[0].line == fits[1].line
    assert fits[0].project.points.equals(fits[1].project.points)

    frame = np.random.default_rng(0).integers(0, 255, size=(160, 200, 3), dtype=np.uint8)
    for key in draws[0].sample_keys[:5]:
        view_lean, image_lean = workflows.sample_view(lean, key, frame, 2.0, records.get(key))
        view_mem, image_mem = workflows.sample_view(memory, key, frame, 2.0, records.get(key))
        assert view_lean == view_mem
        np.testing.assert_array_equal(image_lean, image_mem)

    histograms = [workflows.sampling_histogram(d, d.bodyparts, 1e-3, 10) for d in (lean, memory)]
    assert histograms[0]["bars"].equals(histograms[1]["bars"])
    assert histograms[0]["no_position"] == histograms[1]["no_position"] > 0


def test_annotated_keypoints_are_not_drawn_again_and_confidences_are_not_copied(demo):
    data = workflows.open_project(demo.project_dir)
    first = workflows.draw_samples(data, num_samples=30, seed=1)
    annotated = truth_records(demo, first.sample_keys[:10])
    workflows.save_work(data, annotated)
    before = {r: c.copy() for r, c in data.confidences.items()}
    again = workflows.draw_samples(data, num_samples=60, seed=2)
    assert again.kept == 10 and len(set(again.sample_keys)) == 60
    assert set(annotated) <= set(again.sample_keys)
    assert len(set(again.sample_keys) - set(annotated)) == 50  # new ones are others
    for r, c in data.confidences.items():  # the shared arrays are left as they were
        np.testing.assert_array_equal(c, before[r])
    assert again.available == first.available - 10


def test_choosing_the_files_reads_each_once_for_setup_and_open(demo, monkeypatch):
    read = []
    original = loading.read_pose_file

    def counting(path, *args, **kwargs):
        read.append(path)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(loading, "read_pose_file", counting)
    workflows.choose_sources(
        demo.project_dir, workflows.Sources("keypoints", "deeplabcut", "videos")
    )
    data = workflows.open_project(demo.project_dir)
    workflows.recordings_report(data)
    assert len(read) == len(demo.coordinates) == len(data.coordinates)
    assert len(copies(demo.project_dir)) == 1


def test_the_copy_is_rebuilt_when_a_keypoint_file_changes_and_never_read_stale(demo):
    data = workflows.open_project(demo.project_dir)
    (old,) = copies(demo.project_dir)
    recording = sorted(data.coordinates)[1]
    path = demo.keypoints_dir / f"{recording}.csv"

    # Only the modification time changes: read again (a new copy replaces the old one).
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    workflows.open_project(demo.project_dir)
    (touched,) = copies(demo.project_dir)
    assert touched != old

    # New content: the new values, never the stored ones.
    moved = demo.coordinates[recording] + 0.25
    write_deeplabcut_csv(path, moved, demo.confidences[recording], demo.bodyparts)
    fresh = workflows.open_project(demo.project_dir)
    expected = read_keypoints(str(demo.keypoints_dir), "deeplabcut")
    np.testing.assert_array_equal(fresh.coordinates[recording], expected.coordinates[recording])
    np.testing.assert_allclose(fresh.coordinates[recording], moved)
    assert not np.allclose(data.coordinates[recording], moved, equal_nan=True)
    (new,) = copies(demo.project_dir)  # the old copy is gone
    assert new not in (old, touched)

    # A copy whose record does not match the files is not used, whatever its name says.
    index = store_dir(demo.project_dir) / new / keypoint_store.INDEX_FILENAME
    index.write_text(index.read_text().replace('"duplicates": "unfiltered"', '"duplicates": "x"'))
    coords = store_dir(demo.project_dir) / new / "1.coordinates.npy"
    tampered = np.load(coords)
    tampered[:] = -1.0
    np.save(coords, tampered)
    again = workflows.open_project(demo.project_dir)
    np.testing.assert_array_equal(again.coordinates[recording], expected.coordinates[recording])


def test_a_project_folder_that_cannot_be_written_keeps_the_keypoints_in_memory(demo, monkeypatch):
    # A file where the store's folder would go: creating it fails as on a read-only
    # folder (a chmod does not stop root, who runs these tests in CI).
    store_dir(demo.project_dir).write_text("not a folder")
    data = workflows.open_project(demo.project_dir)
    memory = in_memory(demo.project_dir, monkeypatch)
    for r in memory.coordinates:
        assert not isinstance(data.coordinates[r], np.memmap)
        np.testing.assert_array_equal(data.coordinates[r], memory.coordinates[r])
    assert workflows.draw_samples(data, num_samples=10, seed=0).new == 10
    assert store_dir(demo.project_dir).read_text() == "not a folder"
    assert keypoint_store.store_bytes(demo.project_dir) == 0


def test_a_copy_that_fails_half_way_is_not_kept(demo, monkeypatch):
    written = []

    def disk_full(path, array):
        if written:
            raise OSError(28, "No space left on device")
        written.append(path)
        np.save(path, array)

    monkeypatch.setattr(keypoint_store, "_write_array", disk_full)
    data = workflows.open_project(demo.project_dir)
    monkeypatch.undo()
    memory = in_memory(demo.project_dir, monkeypatch)
    for r in memory.coordinates:
        np.testing.assert_array_equal(data.coordinates[r], memory.coordinates[r])
    assert copies(demo.project_dir) == []


def test_the_read_that_made_the_copy_is_handed_once_to_the_next_open(demo):
    made = workflows.open_project(demo.project_dir)
    handed = workflows.open_project(demo.project_dir)
    loaded = workflows.open_project(demo.project_dir)
    recording = sorted(made.coordinates)[0]
    assert handed.confidences[recording] is made.confidences[recording]
    assert loaded.confidences[recording] is not made.confidences[recording]
    np.testing.assert_array_equal(loaded.confidences[recording], made.confidences[recording])
