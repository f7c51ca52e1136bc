"""The project's stored keypoint copy: memory-mapped coordinates, rebuilt on change, optional."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from kpcal_core import keypoint_store, workflows
from kpcal_core.annotations import Annotation
from kpcal_core.demo import make_demo_project, write_deeplabcut_csv
from kpcal_core.errors import KpcalError
from kpcal_core.formats import loading, read_keypoints
from kpcal_core.keypoint_store import store_dir
from kpcal_core.project import save_work
from kpcal_core.sampling import sample_error_frames

REPO = Path(__file__).resolve().parents[2]
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
    assert histograms[0].bars.equals(histograms[1].bars)
    assert histograms[0].no_position == histograms[1].no_position > 0


def test_annotated_keypoints_are_not_drawn_again_and_confidences_are_not_copied(demo):
    data = workflows.open_project(demo.project_dir)
    first = workflows.draw_samples(data, num_samples=30, seed=1)
    annotated = truth_records(demo, first.sample_keys[:10])
    save_work(data, annotated)
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


# --------------------------------------------------------------------------- the background writer


def store_files(project) -> dict[str, bytes]:
    (copy,) = copies(project)
    folder = store_dir(project) / copy
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix == ".npy"}


def test_the_copy_written_in_the_background_is_the_one_written_in_line(demo, tmp_path, monkeypatch):
    source = str(demo.keypoints_dir)
    background = tmp_path / "background"
    in_line = tmp_path / "in_line"
    loaded, missing, _ = keypoint_store.read_project_keypoints(background, source, "deeplabcut")
    monkeypatch.setattr(keypoint_store, "BACKGROUND_WRITE", False)
    keypoint_store.read_project_keypoints(in_line, source, "deeplabcut")
    assert store_files(background) == store_files(in_line)
    assert len(store_files(background)) == 3 * len(demo.coordinates)
    expected = read_keypoints(source, "deeplabcut")
    for name, coords in expected.coordinates.items():
        assert isinstance(loaded.coordinates[name], np.memmap)
        assert loaded.coordinates[name].tobytes() == coords.tobytes()
        np.testing.assert_array_equal(missing[name], np.isnan(coords).any(axis=-1))


def test_reading_waits_when_the_writer_is_behind(tmp_path, monkeypatch):
    demo = make_demo_project(tmp_path / "project", n_recordings=6, **SMALL)
    read = []
    original_read = loading.read_pose_file
    monkeypatch.setattr(
        loading,
        "read_pose_file",
        lambda path, *a, **k: read.append(path) or original_read(path, *a, **k),
    )
    release = threading.Event()
    original_fill = keypoint_store._fill_array

    def slow_disk(path, offset, array):
        assert release.wait(30)
        original_fill(path, offset, array)

    monkeypatch.setattr(keypoint_store, "_fill_array", slow_disk)
    done = []
    reader = threading.Thread(
        target=lambda: done.append(
            keypoint_store.read_project_keypoints(demo.project_dir, str(demo.keypoints_dir))
        )
    )
    reader.start()
    # The writer holds the first file; WRITE_AHEAD more wait for it; the next one is
    # read and waits to be queued; no file after it is read.
    bound = keypoint_store.WRITE_AHEAD + 2
    deadline = time.monotonic() + 30
    while len(read) < bound and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert len(read) == bound < len(demo.coordinates)
    assert not done
    release.set()
    reader.join(30)
    (loaded, _, _) = done[0]
    for name, coords in demo.coordinates.items():
        np.testing.assert_array_equal(loaded.coordinates[name], coords)
    assert len(copies(demo.project_dir)) == 1


CRASH_WHILE_WRITING = """
import os, sys
import numpy as np
from kpcal_core import keypoint_store

original = keypoint_store._fill_array

def crash(path, offset, array):  # the process dies with the second file half written
    if not path.name.startswith("1."):
        return original(path, offset, array)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        data = memoryview(np.ascontiguousarray(array)).cast("B")
        handle.write(data[: len(data) // 2])
    os._exit(9)

keypoint_store._fill_array = crash
keypoint_store.read_project_keypoints(sys.argv[1], sys.argv[2], "deeplabcut")
"""


def test_a_crash_while_writing_leaves_no_copy_that_is_trusted(demo):
    done = subprocess.run(
        [sys.executable, "-c", CRASH_WHILE_WRITING, str(demo.project_dir), str(demo.keypoints_dir)],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 9, done.stderr
    (left,) = copies(demo.project_dir)  # the unfinished copy, under a temporary name
    assert left.startswith(".tmp-")
    assert not (store_dir(demo.project_dir) / left / keypoint_store.INDEX_FILENAME).exists()
    assert (store_dir(demo.project_dir) / left / "1.coordinates.npy").exists()

    data = workflows.open_project(demo.project_dir)  # reads the files again
    for name, coords in demo.coordinates.items():
        np.testing.assert_array_equal(data.coordinates[name], coords)
    trusted = [c for c in copies(demo.project_dir) if not c.startswith(".tmp-")]
    assert len(trusted) == 1 and trusted[0] != left
    workflows.open_project(demo.project_dir)  # takes the hand-over
    again = workflows.open_project(demo.project_dir)  # from the new copy
    for name, coords in demo.coordinates.items():
        assert isinstance(again.coordinates[name], np.memmap)
        np.testing.assert_array_equal(again.coordinates[name], coords)


def test_bad_input_after_some_files_stops_the_writer_and_writes_nothing(demo):
    bad = demo.keypoints_dir / "zz_broken.csv"
    bad.write_text("not,a,pose,file\n")
    with pytest.raises(KpcalError, match="zz_broken"):
        keypoint_store.read_project_keypoints(demo.project_dir, str(demo.keypoints_dir))
    assert not store_dir(demo.project_dir).exists()
    assert not [t for t in threading.enumerate() if t.name == "kpcal-keypoint-store"]


def test_a_bug_in_the_writer_is_raised_and_nothing_is_stored(demo, monkeypatch):
    def broken(path, offset, array):
        raise RuntimeError("writer bug")

    monkeypatch.setattr(keypoint_store, "_fill_array", broken)
    with pytest.raises(RuntimeError, match="writer bug"):
        keypoint_store.read_project_keypoints(demo.project_dir, str(demo.keypoints_dir))
    assert not store_dir(demo.project_dir).exists()
    assert not [t for t in threading.enumerate() if t.name == "kpcal-keypoint-store"]
