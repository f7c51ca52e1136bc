"""Tests aimed at the boundaries where a small slip goes unnoticed elsewhere.

- autosave of keypoint-MoSeq's files at exactly 20 positioned annotations, not 19
  and not 21 (:func:`kpcal_core.project.save_work`, no browser);
- the fitted line it saves into ``config.yml`` is :func:`fit_error_model` of the CSV
  it writes (slope and intercept not swapped, to 1e-9);
- the merge rule of two sessions' annotations (:func:`merge_records`);
- the order of the steps of :func:`kpcal_core.atomic.atomic_write`, observed.
"""

from __future__ import annotations

import csv
import math
import os
import stat
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import yaml

from kpcal_core import atomic, fit_error_model, load_annotations
from kpcal_core.annotations import (
    CLEARED,
    NOT_VISIBLE,
    Annotation,
    annotations_path,
    merge_records,
)
from kpcal_core.atomic import atomic_write
from kpcal_core.demo import load_ground_truth, make_demo_project
from kpcal_core.project import (
    AUTOSAVE_MIN_ANNOTATIONS,
    draft_path,
    load_project_data,
    load_working_annotations,
    save_work,
)

AUTOSAVE_AT = 20  # keypoint-MoSeq's widget: its files are written from the 20th annotation on


@pytest.fixture
def project(tmp_path):
    """A small demo project (1 recording, 40 frames) and its ground truth."""
    folder = tmp_path / "project"
    make_demo_project(folder, n_recordings=1, n_frames=40, width=160, height=160)
    return folder


def true_annotations(project: Path, n: int, start: int = 0) -> dict:
    """``n`` annotations at the true positions of distinct samples, one second apart."""
    data = load_project_data(project)
    truth = load_ground_truth(project)["true_coordinates"]
    recording = next(iter(data.coordinates))
    keys = [
        (recording, frame, bodypart)
        for frame in range(len(data.coordinates[recording]))
        for bodypart in data.bodyparts
    ]
    records = {}
    for i in range(start, start + n):
        key = keys[(7 * i) % len(keys)]  # spread over frames and bodyparts
        x, y = truth[recording][key[1], data.bodyparts.index(key[2])]
        stamp = f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}.000000+00:00"
        records[key] = Annotation(float(x), float(y), "tester", stamp)
    assert len(records) == n
    return records


def csv_rows(project: Path) -> list[list[str]]:
    lines = annotations_path(project).read_text().splitlines()
    rows = list(csv.reader(line for line in lines if not line.startswith("#")))
    return rows[1:]  # after the header


def estimator(project: Path) -> dict:
    return yaml.safe_load((project / "config.yml").read_text())["error_estimator"]


def save_one_by_one(project: Path, records: dict) -> list:
    """Save as the app does: one more annotation per save; the result of each save."""
    data = load_project_data(project)
    shown: dict = {}
    results = []
    for key, ann in records.items():
        shown[key] = ann
        result = save_work(data, shown)
        shown = dict(result.records)
        results.append(result)
    return results


# --------------------------------------------------------------------------- autosave at 20


def test_autosave_constant_is_keypoint_moseqs():
    assert AUTOSAVE_MIN_ANNOTATIONS == AUTOSAVE_AT


def test_nineteen_positions_write_only_the_working_copy(project):
    before = (project / "config.yml").read_text()
    results = save_one_by_one(project, true_annotations(project, AUTOSAVE_AT - 1))
    assert [r.n_annotations for r in results] == list(range(1, AUTOSAVE_AT))
    assert not any(r.exported for r in results)
    assert not annotations_path(project).exists()
    assert (project / "config.yml").read_text() == before
    assert len(load_working_annotations(project)) == AUTOSAVE_AT - 1
    assert "1 more to go" in results[-1].message


def test_nineteen_positions_and_a_hidden_and_a_cleared_one_are_still_nineteen(project):
    records = true_annotations(project, AUTOSAVE_AT + 1)
    keys = list(records)
    hidden_at, cleared_at = "2024-01-02T00:00:00+00:00", "2024-01-02T00:00:01+00:00"
    records[keys[-2]] = Annotation(math.nan, math.nan, "tester", hidden_at, NOT_VISIBLE)
    records[keys[-1]] = Annotation(math.nan, math.nan, "tester", cleared_at, CLEARED)
    results = save_one_by_one(project, records)
    assert results[-1].n_annotations == AUTOSAVE_AT - 1
    assert not annotations_path(project).exists()


def test_the_twentieth_position_writes_the_csv_and_the_fitted_config(project):
    results = save_one_by_one(project, true_annotations(project, AUTOSAVE_AT))
    assert [r.exported for r in results] == [False] * (AUTOSAVE_AT - 1) + [True]
    assert len(csv_rows(project)) == AUTOSAVE_AT
    assert len(load_annotations(project)) == AUTOSAVE_AT
    assert results[-1].fit is not None and results[-1].fit.n == AUTOSAVE_AT
    assert_config_holds_the_fit_of_the_csv(project)


def test_after_autosave_every_change_rewrites_both_files(project):
    records = true_annotations(project, AUTOSAVE_AT + 3)
    save_one_by_one(project, records)
    assert len(csv_rows(project)) == AUTOSAVE_AT + 3
    assert_config_holds_the_fit_of_the_csv(project)


def assert_config_holds_the_fit_of_the_csv(project: Path) -> None:
    """``config.yml``'s ``error_estimator`` is the fit of ``error_annotations.csv``."""
    data = load_project_data(project)
    fit = fit_error_model(
        data.coordinates,
        data.confidences,
        load_annotations(project),
        data.bodyparts,
        data.conf_pseudocount,
    )
    saved = estimator(project)
    # the demo's line is far from slope == intercept: a swap cannot pass by chance
    assert abs(fit["slope"] - fit["intercept"]) > 0.2, fit
    assert saved["slope"] == pytest.approx(fit["slope"], abs=1e-9), (saved, fit)
    assert saved["intercept"] == pytest.approx(fit["intercept"], abs=1e-9), (saved, fit)


# --------------------------------------------------------------------------- merge rule


def ann(x: float, who: str, when: str, status: str = "") -> Annotation:
    if status:
        return Annotation(math.nan, math.nan, who, f"2024-05-01T10:00:{when}+00:00", status)
    return Annotation(x, x + 1, who, f"2024-05-01T10:00:{when}+00:00")


def test_merge_newer_edit_wins_either_side():
    a, b = ("rec", 1, "nose"), ("rec", 2, "tail")
    disk = {a: ann(1.0, "alice", "05.000000"), b: ann(2.0, "alice", "09.000000")}
    local = {a: ann(10.0, "bob", "07.000000"), b: ann(20.0, "bob", "08.000000")}
    merged = merge_records(disk, local)
    assert merged[a] == local[a]  # local newer
    assert merged[b] == disk[b]  # disk newer
    # the same with the sides swapped: the rule is about time, not about side
    assert merge_records(local, disk) == merged


def test_merge_later_clear_wins_and_older_clear_loses():
    a, b = ("rec", 1, "nose"), ("rec", 2, "tail")
    disk = {a: ann(1.0, "alice", "05.000000"), b: ann(2.0, "alice", "09.000000")}
    local = {a: ann(0, "bob", "06.000000", CLEARED), b: ann(0, "bob", "08.000000", CLEARED)}
    merged = merge_records(disk, local)
    assert merged[a].status == CLEARED and merged[a].annotator == "bob"  # later clear
    assert merged[b] == disk[b] and merged[b].has_position  # older clear loses
    assert merge_records(local, disk) == merged
    # a click after a clear brings the sample back
    again = merge_records(merged, {a: ann(3.0, "carol", "07.000000")})
    assert again[a].xy == (3.0, 4.0) and again[a].annotator == "carol"


def test_merge_keeps_every_sample_with_its_annotator_and_time():
    a, b, c = ("rec", 1, "nose"), ("rec", 2, "tail"), ("other", 3, "nose")
    disk = {a: ann(1.0, "alice", "05.000000"), b: ann(2.0, "alice", "01.000000")}
    local = {a: ann(10.0, "bob", "02.000000"), c: ann(3.0, "bob", "03.000000")}
    merged = merge_records(disk, local)
    assert set(merged) == {a, b, c}
    assert (merged[a].annotator, merged[a].annotated_at) == ("alice", disk[a].annotated_at)
    assert (merged[b].annotator, merged[b].xy) == ("alice", (2.0, 3.0))
    assert (merged[c].annotator, merged[c].annotated_at) == ("bob", local[c].annotated_at)
    assert disk == {a: ann(1.0, "alice", "05.000000"), b: ann(2.0, "alice", "01.000000")}


def test_merge_tie_goes_to_this_session():
    a = ("rec", 1, "nose")
    merged = merge_records({a: ann(1.0, "alice", "05.000000")}, {a: ann(2.0, "bob", "05.000000")})
    assert merged[a].annotator == "bob"


def test_save_work_merges_with_what_another_session_saved(project):
    """Through save_work: the same annotator's newer edit in another session beats this
    session's older one (another annotator's edit is kept beside it: tests/engine/test_team.py)."""
    data = load_project_data(project)
    mine = true_annotations(project, 3)
    save_work(data, mine)
    key = next(iter(mine))
    theirs = Annotation(5.0, 6.0, mine[key].annotator, "2030-01-01T00:00:00.000000+00:00")
    save_work(load_project_data(project), {key: theirs})
    result = save_work(data, mine)  # this session still holds its older click
    assert result.records[key] == theirs
    assert load_working_annotations(project)[key] == theirs
    assert draft_path(project).exists()


# --------------------------------------------------------------------------- atomic_write


def test_atomic_write_fsyncs_the_file_then_replaces_then_fsyncs_the_folder(tmp_path):
    """The order observed through the module's own ``os`` calls."""
    target = tmp_path / "data.csv"
    target.write_text("old\n")
    payload = "new content\n" * 1000
    calls: list[tuple] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        info = os.fstat(fd)
        kind = "folder" if stat.S_ISDIR(info.st_mode) else "file"
        calls.append(("fsync", kind, info.st_ino, info.st_size))
        return real_fsync(fd)

    def replace(src, dst):
        calls.append(("replace", Path(src), Path(dst), Path(dst).read_text()))
        return real_replace(src, dst)

    with (
        mock.patch.object(atomic.os, "fsync", side_effect=fsync),
        mock.patch.object(atomic.os, "replace", side_effect=replace),
    ):
        atomic_write(target, payload)

    assert target.read_text() == payload
    kinds = [c[0] if c[0] == "replace" else f"fsync {c[1]}" for c in calls]
    assert kinds == ["fsync file", "replace", "fsync folder"], calls
    _, _, file_inode, file_size = calls[0]
    assert file_inode == target.stat().st_ino  # the file fsynced is the one now in place
    assert file_size == len(payload.encode())  # fsynced with all its content
    _, src, dst, old = calls[1]
    assert dst == target and src.parent == target.parent and old == "old\n"
    assert calls[2][2] == tmp_path.stat().st_ino  # the folder holding the target


def test_save_work_fsyncs_each_file_it_replaces_and_then_its_folder(project):
    """Every replace in an autosave comes after its file's fsync and is followed by
    the folder's: observed over the whole save (draft, CSV, config, written together:
    every file is written and fsynced before the first replace)."""
    data = load_project_data(project)
    records = true_annotations(project, AUTOSAVE_AT)
    last = records.popitem()
    shown = dict(save_work(data, records).records)
    shown[last[0]] = last[1]
    calls: list[tuple] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        info = os.fstat(fd)
        calls.append(("fsync", "folder" if stat.S_ISDIR(info.st_mode) else "file", info.st_ino))
        return real_fsync(fd)

    def replace(src, dst):
        calls.append(("replace", Path(dst).name, Path(dst).parent.stat().st_ino))
        real_replace(src, dst)
        calls.append(("replaced", Path(dst).name, Path(dst).stat().st_ino))

    with (
        mock.patch.object(atomic.os, "fsync", side_effect=fsync),
        mock.patch.object(atomic.os, "replace", side_effect=replace),
    ):
        assert save_work(data, shown).exported
    names = [c[1] for c in calls if c[0] == "replace"]
    assert {"annotations_draft.csv", "error_annotations.csv", "config.yml"} <= set(names)
    first_replace = next(i for i, c in enumerate(calls) if c[0] == "replace")
    synced_first = {c[2] for c in calls[:first_replace] if c[:2] == ("fsync", "file")}
    for i, call in enumerate(calls):
        if call[0] != "replace":
            continue
        replaced, after = calls[i + 1], calls[i + 2]
        assert replaced[2] in synced_first, calls  # its content was on disk before any replace
        assert after[:2] == ("fsync", "folder") and after[2] == call[2], calls
    assert np.isfinite(estimator(project)["slope"])


def test_a_config_broken_during_annotation_loses_no_annotation_and_says_so(project):
    data = load_project_data(project)
    every = list(true_annotations(project, 26).items())
    save_work(data, dict(every[:25]))
    (project / "config.yml").write_text("bodyparts: [nose\n")  # broken by hand meanwhile
    result = save_work(data, dict(every))
    assert result.exported and result.fit is None
    assert "config.yml was NOT updated" in result.message, result.message
    assert "line 2" in result.message and "annotations are safe" in result.message
    assert len(csv_rows(project)) == 26
    assert (project / "config.yml").read_text() == "bodyparts: [nose\n"  # left as it was
