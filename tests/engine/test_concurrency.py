"""Several sessions on one project: two processes annotate at once through ``save_work``.

Each process (``tests/helpers_save_loop.py plan``) is one annotating session
with its own annotator name. They annotate disjoint samples and the same
samples, at the same time; every overlapping pair of edits carries distinct
known times, and the two processes make them in opposite orders. Since issue
23 no annotator's edit replaces another's: both clicks of a shared sample are
kept (the fit uses their mean), and one process's clear of a sample only the
other clicked leaves that click. The test checks that the union survives on
disk, that no annotation is lost, and that each session's ``save_work``
returned the other session's annotations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import helpers_save_loop as helper
import pytest
from helpers_save_loop import REPO, LineReader, child_env, child_sessions

from kpcal_core.annotations import (
    CLEARED,
    POSITION,
    load_annotation_records,
    load_annotation_rows,
    load_annotations,
)
from kpcal_core.demo import make_demo_project
from kpcal_core.project import (
    broken_annotation_files,
    load_project_data,
    load_working_annotations,
    load_working_rows,
    save_work,
)

HELPER = Path(helper.__file__)
BASE_TIME = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (BASE_TIME + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


def position(data, key, shift: float) -> tuple[float, float]:
    recording, frame, bodypart = key
    x, y = data.coordinates[recording][frame, data.bodyparts.index(bodypart)]
    return float(x) + shift, float(y) - shift / 2


def interleave(a: list, b: list) -> list:
    out = []
    for i in range(max(len(a), len(b))):
        out += a[i : i + 1] + b[i : i + 1]
    return out


def start_session(plan_file: Path, log: Path) -> tuple[subprocess.Popen, LineReader, object]:
    errors = open(log, "w+")  # noqa: SIM115  # returned: the caller closes it
    proc = subprocess.Popen(
        [sys.executable, str(HELPER), "plan", str(plan_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env=child_env(),
        cwd=REPO,
    )
    return proc, LineReader(proc.stdout), errors


@pytest.mark.parametrize("round_", [1, 2])
def test_two_sessions_at_once_keep_the_union(tmp_path, round_):
    project = tmp_path / "project"
    make_demo_project(project, n_recordings=2, n_frames=10, width=160, height=160, seed=round_)
    data = load_project_data(project)
    keys = helper.sample_keys(data)
    only_a, only_b, overlap = keys[0:30], keys[30:60], keys[60:84]
    cleared_key = keys[90]

    edits_a = [
        {"key": k, "x": position(data, k, 1.0)[0], "y": position(data, k, 1.0)[1]} for k in only_a
    ]
    edits_b = [
        {"key": k, "x": position(data, k, 2.0)[0], "y": position(data, k, 2.0)[1]} for k in only_b
    ]
    expected = {k: ("alice", position(data, k, 1.0)) for k in only_a}
    expected.update({k: ("bob", position(data, k, 2.0)) for k in only_b})
    overlap_a, overlap_b = [], []
    for i, k in enumerate(overlap):
        # distinct known times: alice's edit is the later one for even i, bob's for odd i
        t_a, t_b = (10 * i + 5, 10 * i) if i % 2 == 0 else (10 * i, 10 * i + 5)
        xa, ya = position(data, k, 3.0)
        xb, yb = position(data, k, 4.0)
        overlap_a.append({"key": k, "x": xa, "y": ya, "at": at(t_a)})
        overlap_b.append({"key": k, "x": xb, "y": yb, "at": at(t_b)})
        # both kept: one position per sample, the mean of the two clicks
        expected[k] = ("alice+bob", ((xa + xb) / 2, (ya + yb) / 2))
    # alice goes through the shared samples forwards, bob backwards: for half of them the
    # losing (earlier) edit reaches the disk after the winning one.
    plan_a = interleave(edits_a, overlap_a) + [{"key": cleared_key, "clear_after_seen": "bob"}]
    cx, cy = position(data, cleared_key, 5.0)
    plan_b = [{"key": cleared_key, "x": cx, "y": cy}] + interleave(edits_b, overlap_b[::-1])

    sessions = {}
    for name, plan in (("alice", plan_a), ("bob", plan_b)):
        plan_file = tmp_path / f"{name}.json"
        plan_file.write_text(
            json.dumps({"project": str(project), "annotator": name, "edits": plan, "pause": 0.02}),
            encoding="utf-8",
        )
        sessions[name] = start_session(plan_file, tmp_path / f"{name}.stderr")
    with child_sessions(sessions):
        for proc, reader, _ in sessions.values():
            assert reader.next(timeout=120) == "ready"
        for proc, _, _ in sessions.values():  # both start saving at once
            proc.stdin.write("go\n")
            proc.stdin.flush()
        done = {}
        for name, (proc, reader, _) in sessions.items():
            while True:
                line = reader.next(timeout=120)
                if line.startswith("done"):
                    done[name] = int(line.split()[1])
                    break
            assert proc.wait(timeout=60) == 0

    # each session was shown the other's annotations by its own save_work
    assert done["alice"] > 0 and done["bob"] > 0, done

    assert broken_annotation_files(project) == []
    working = load_working_annotations(project)
    csv_records = load_annotation_records(project)
    positions = load_annotations(project)
    rows = load_working_rows(project)
    for key, (annotator, xy) in expected.items():
        for where, records in (("working copy", working), ("error_annotations.csv", csv_records)):
            ann = records.get(key)
            assert ann is not None, f"{where} lost {key}"
            assert ann.annotator == annotator and ann.status == POSITION, (where, key, ann)
            assert ann.xy == pytest.approx(xy, abs=1e-9), (where, key, ann)
        assert positions[key] == pytest.approx(xy, abs=1e-9)
    for i, key in enumerate(overlap):  # nothing replaced: each click kept with its time
        assert (rows[(key, "alice")].annotated_at, rows[(key, "bob")].annotated_at) == (
            overlap_a[i]["at"],
            overlap_b[i]["at"],
        )
        assert rows[(key, "alice")].xy == (overlap_a[i]["x"], overlap_a[i]["y"])
        assert rows[(key, "bob")].xy == (overlap_b[i]["x"], overlap_b[i]["y"])

    # alice's clear of a sample only bob clicked clears her own (empty) row: bob's click stays
    assert rows[(cleared_key, "alice")].status == CLEARED
    assert csv_records[cleared_key].xy == (cx, cy) == positions[cleared_key]
    assert working[cleared_key].status == POSITION and working[cleared_key].xy == (cx, cy)
    assert set(csv_records) == set(expected) | {cleared_key}
    assert set(working) == set(expected) | {cleared_key}
    assert len(load_annotation_rows(project)) == len(only_a) + len(only_b) + 2 * len(overlap) + 1

    # "the app shows annotations made elsewhere when it next saves": a third session that
    # knows nothing gets everything back from its first save.
    result = save_work(load_project_data(project), {})
    assert result.records == working
    assert result.exported and result.n_annotations == len(expected) + 1
    print(
        f"\nround {round_}: {len(expected)} annotations from two sessions at once kept "
        f"({len(overlap)} overlapping, both clicks kept); largest number of the other session's "
        f"annotations returned by one save_work: alice {done['alice']}, bob {done['bob']}"
    )


def test_clear_in_one_session_wins_over_older_click_in_another(tmp_path):
    """In-process version of the clear rule, with known times (no process timing involved):
    an annotator's clear in one session wins over their own older click saved by another
    session; another annotator's clear leaves the click (issue 23)."""
    from kpcal_core.annotations import Annotation

    project = tmp_path / "project"
    make_demo_project(project, n_recordings=1, n_frames=30, width=160, height=160)
    data = load_project_data(project)
    keys = helper.sample_keys(data)
    clicks = {k: Annotation(*position(data, k, 1.0), "bob", at(i)) for i, k in enumerate(keys[:25])}
    save_work(data, clicks)
    target, other = keys[3], keys[4]
    nan = float("nan")
    # alice clears bob's click: only her own row is cleared, bob's click stays
    result = save_work(data, {other: Annotation(nan, nan, "alice", at(100), CLEARED)})
    assert result.records[other].xy == clicks[other].xy
    assert load_annotation_records(project)[other].xy == clicks[other].xy
    # bob's other session still has an older view (without his clicks); his clear is later
    result = save_work(data, {target: Annotation(nan, nan, "bob", at(100), CLEARED)})
    assert result.records[target].status == CLEARED
    assert target not in load_annotation_records(project)
    assert set(result.records) == set(clicks)  # bob's other clicks came back to this session
    # a stale session re-saving bob's old click does not bring it back
    save_work(data, {target: clicks[target]})
    assert target not in load_annotation_records(project)
    # but a newer click does
    save_work(data, {target: Annotation(*position(data, target, 2.0), "bob", at(200))})
    assert load_annotation_records(project)[target].xy == position(data, target, 2.0)
    assert os.path.exists(project / "error_annotations.csv")
