"""Crash safety: SIGKILL at random moments while a process saves in a loop.

A child process (``tests/helpers_save_loop.py``) adds one annotation and calls
``save_work`` in a loop, printing ``saved ...`` only after ``save_work``
returned. The test kills it with SIGKILL after a random delay, then checks
that ``calibration/annotations_draft.csv``, ``error_annotations.csv`` (once it
exists) and ``config.yml`` all parse, and hold every annotation reported
saved. One project is reused across all trials, so the trials go through the
first export at 20 annotations and then the export-on-every-save path.

Python's start-up and the imports take seconds, so most trials fork the save
loop from a server process that loaded the project once; every trial still
SIGKILLs a real process in the middle of its loop. A few trials also start a
fresh interpreter each, killed the same way.

``pytest -s`` prints the number of trials survived and how many temporary
files (``.NAME.*.tmp``, left when a kill lands inside ``atomic_write``)
accumulated.
"""

from __future__ import annotations

import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import helpers_save_loop as helper
import pytest
import yaml
from helpers_save_loop import REPO, LineReader, child_env

from kpcal_core.annotations import (
    POSITION,
    Annotation,
    annotations_path,
    load_annotation_records,
    load_annotations,
    parse_annotations,
    save_annotations,
)
from kpcal_core.config import config_path, load_config, save_params, setup_project, update_config
from kpcal_core.demo import make_demo_project
from kpcal_core.errors import KpcalError
from kpcal_core.fitting import error_points, fit_points
from kpcal_core.keypoints import load_keypoints
from kpcal_core.project import (
    draft_path,
    load_project_data,
    load_working_annotations,
    save_use_bodyparts,
    save_work,
)
from kpcal_core.session import (
    CalibrationSession,
    load_session,
    save_session,
    save_session_keypoints,
    session_dir,
)

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or sys.platform == "win32", reason="needs fork and SIGKILL (POSIX)"
)

HELPER = Path(helper.__file__)
FORK_TRIALS = 120
EARLY_TRIALS = 5  # killed within 20 ms, so that some kills land before the first export
FRESH_TRIALS = 3
MAX_DELAY = 0.3  # seconds after the loop started (or after 0-3 saves finished)
SEED = 20241124
TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.[^.]+\.tmp$")  # what atomic_write's mkstemp names


def temp_files(project: Path) -> list[Path]:
    return sorted(
        p
        for folder in (project, session_dir(project))
        for p in folder.glob(".*.tmp")
        if p.is_file()
    )


class CrashChecker:
    """What the trials reported saved, and the checks after each kill."""

    def __init__(self, project: Path):
        self.project = project
        self.data = load_project_data(project)
        self.keys = helper.sample_keys(self.data)
        self.reported: dict[int, int] = {}  # key index -> last counter reported saved
        self.exported = False
        self.config_slope = float(load_config(project)["error_estimator"]["slope"])
        self.trials = 0
        self.saves = 0
        self.kills_inside_atomic_write = 0
        self.seen_csv_missing = False
        self.seen_csv_present = False
        self.max_csv_lag = 0

    def next_counter(self) -> int:
        counters = [helper.counter_of(a) for a in load_working_annotations(self.project).values()]
        return max([c for c in counters if c is not None] + list(self.reported.values()) + [-1]) + 1

    def check_record(self, key, ann: Annotation, where: str) -> int:
        counter = helper.counter_of(ann)
        assert counter is not None, f"{where}: {key} holds a foreign annotation {ann}"
        index, expected_key, x, y = helper.crash_edit(self.data, self.keys, counter)
        assert expected_key == key, f"{where}: edit {counter} belongs to {expected_key}, not {key}"
        assert ann.status == POSITION and (ann.x, ann.y) == (x, y), f"{where}: {key} is {ann}"
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$", ann.annotated_at)
        return counter

    def check_holds_reported(self, records: dict, where: str) -> dict:
        counters = {key: self.check_record(key, ann, where) for key, ann in records.items()}
        for index, last in self.reported.items():
            key = self.keys[index]
            assert key in records, f"{where} lost {key}, reported saved as edit {last}"
            assert counters[key] >= last, (
                f"{where} holds edit {counters[key]} of {key}, older than edit {last} reported saved"
            )
        return counters

    def after_kill(self, saved: list[tuple[int, int, int, str]]) -> None:
        self.trials += 1
        self.saves += len(saved)
        slopes = {self.config_slope}
        for index, counter, exported, slope in saved:
            self.reported[index] = max(counter, self.reported.get(index, -1))
            self.exported |= bool(exported)
            if slope != "-":
                slopes.add(float(slope))
        where = f"after kill {self.trials}"

        # The working copy: parses, both directly and through the project loader.
        draft_file = draft_path(self.project)
        if self.reported:
            assert draft_file.exists(), f"{where}: saves were reported but there is no draft"
        draft = {}
        if draft_file.exists():
            with open(draft_file, encoding="utf-8", newline="") as handle:
                draft = parse_annotations(handle.read(), str(draft_file))
        draft_counters = self.check_holds_reported(draft, f"{where}, draft")
        working = load_working_annotations(self.project)
        self.check_holds_reported(working, f"{where}, working annotations")

        # error_annotations.csv: once it exists, it holds every saved annotation.
        csv_file = annotations_path(self.project)
        if self.exported:
            assert csv_file.exists(), f"{where}: an export was reported but the CSV is missing"
        if csv_file.exists():
            self.seen_csv_present = True
            records = load_annotation_records(self.project)
            assert parse_annotations(csv_file.read_text(encoding="utf-8"), str(csv_file)) == records
            positions = load_annotations(self.project)
            assert positions == {k: a.xy for k, a in records.items()}
            assert len(records) >= 20, f"{where}: the CSV was written below 20 annotations"
            csv_counters = self.check_holds_reported(records, f"{where}, {csv_file.name}")
            # The draft is written first in each save, so a kill between the two leaves the
            # CSV behind by the edit in flight (kills in a row: one edit each). Never by an
            # edit reported saved, and by at most the one in flight after an export this trial.
            assert all(csv_counters[k] <= draft_counters[k] for k in csv_counters)
            behind = [k for k in draft_counters if csv_counters.get(k) != draft_counters[k]]
            for key in behind:
                index = self.keys.index(key)
                assert draft_counters[key] > self.reported.get(index, -1), (where, key)
            if any(exported for _, _, exported, _ in saved):
                assert len(behind) <= 1, f"{where}: the CSV lags the draft on {behind}"
            self.max_csv_lag = max(self.max_csv_lag, len(behind))
            fit_now = fit_points(
                error_points(
                    self.data.coordinates,
                    self.data.confidences,
                    records,
                    self.data.bodyparts,
                    self.data.conf_pseudocount,
                )
            )
            slopes.add(fit_now["slope"])
        else:
            self.seen_csv_missing = True

        # config.yml: parses with kpcal and with PyYAML (keypoint-MoSeq's reader), comments kept,
        # and its slope is the one saved by the last finished save (or by the save killed).
        text = config_path(self.project).read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
        config = load_config(self.project)
        assert raw["error_estimator"] == config["error_estimator"]
        assert "# used to access columns in the keypoint data" in text
        slope = config["error_estimator"]["slope"]
        assert isinstance(slope, float) and math.isfinite(slope)
        assert any(math.isclose(slope, s, rel_tol=1e-9, abs_tol=1e-12) for s in slopes), (
            f"{where}: config slope {slope} is none of the fits saved around the kill {slopes}"
        )
        assert config["conf_threshold"] == 0.5
        self.config_slope = slope

        for path in temp_files(self.project):
            assert TEMP_NAME.match(path.name), path


def parse_saved(line: str) -> tuple[int, int, int, str]:
    _, index, counter, exported, slope, _intercept = line.split()
    return int(index), int(counter), int(exported), slope


@pytest.fixture(scope="module")
def checker(tmp_path_factory) -> CrashChecker:
    project = tmp_path_factory.mktemp("crash") / "project"
    make_demo_project(project, n_recordings=2, n_frames=10, width=160, height=160)
    return CrashChecker(project)


def test_sigkill_forked_save_loops(checker):
    """Many trials: a server forks the save loop, each child is SIGKILLed at a random moment."""
    rng = random.Random(SEED + 1)
    started = time.monotonic()
    errors = open(checker.project.parent / "server.stderr", "w+")  # noqa: SIM115  # closed below
    server = subprocess.Popen(
        [sys.executable, str(HELPER), "serve", str(checker.project)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env=child_env(),
        cwd=REPO,
    )
    reader = LineReader(server.stdout)
    try:
        assert reader.next(timeout=120) == "ready"
        for trial in range(FORK_TRIALS):
            before = set(temp_files(checker.project))
            server.stdin.write(f"go {checker.next_counter()}\n")
            server.stdin.flush()
            first = reader.next()
            assert first.startswith("loop "), first
            pid = int(first.split()[1])
            saved = []
            # Let 0-3 saves finish first (so the trials make progress however loaded the
            # machine is), then kill after a random delay.
            for _ in range(0 if trial < EARLY_TRIALS else rng.randrange(4)):
                line = reader.next()
                assert line.startswith("saved"), f"the child stopped before it was killed: {line}"
                saved.append(parse_saved(line))
            time.sleep(rng.uniform(0.0, 0.02 if trial < EARLY_TRIALS else MAX_DELAY))
            os.kill(pid, signal.SIGKILL)
            while True:
                line = reader.next()
                if line.startswith("dead"):
                    _, dead_pid, status = line.split()
                    assert int(dead_pid) == pid
                    status = int(status)
                    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
                    break
                assert line.startswith("saved"), line
                saved.append(parse_saved(line))
            checker.after_kill(saved)
            if set(temp_files(checker.project)) - before:
                checker.kills_inside_atomic_write += 1
        server.stdin.write("quit\n")
        server.stdin.flush()
        assert server.wait(timeout=30) == 0
    except AssertionError:
        errors.seek(0)
        print(errors.read(), file=sys.stderr)
        raise
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        errors.close()
    elapsed = time.monotonic() - started
    leftovers = temp_files(checker.project)
    print(
        f"\nforked trials: {FORK_TRIALS} killed and survived in {elapsed:.1f} s "
        f"({checker.saves} saves reported over all {checker.trials} trials, "
        f"{len(checker.reported)} samples annotated)"
    )
    print(
        f"SIGKILL trials survived: {checker.trials}; kills that landed inside atomic_write "
        f"(left a temp file): {checker.kills_inside_atomic_write}; leftover temp files: "
        f"{len(leftovers)} {sorted({TEMP_NAME.match(p.name)['target'] for p in leftovers})}; "
        f"most edits the CSV was behind the draft after a kill: {checker.max_csv_lag}"
    )
    assert checker.trials == FORK_TRIALS
    assert checker.seen_csv_missing and checker.seen_csv_present, (
        "the trials should cover both the draft-only phase and the export phase"
    )
    assert checker.exported


def test_sigkill_fresh_processes(checker):
    """A new interpreter per trial (the real start-up), killed while it saves."""
    rng = random.Random(SEED)
    started = time.monotonic()
    for trial in range(FRESH_TRIALS):
        before = set(temp_files(checker.project))
        start = checker.next_counter()
        # Closed in the finally below, after the child has exited.
        errors = open(checker.project.parent / f"fresh-{trial}.stderr", "w+")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, str(HELPER), "loop", str(checker.project), str(start)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=child_env(),
            cwd=REPO,
        )
        reader = LineReader(proc.stdout)
        try:
            t0 = time.monotonic()
            first = reader.next(timeout=120)
            startup = time.monotonic() - t0
            assert first == f"loop {proc.pid}", first
            time.sleep(rng.uniform(0.05, MAX_DELAY))
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
            reader.thread.join(timeout=30)
        except AssertionError:
            errors.seek(0)
            print(errors.read(), file=sys.stderr)
            raise
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            errors.close()
        if set(temp_files(checker.project)) - before:
            checker.kills_inside_atomic_write += 1
        lines = []
        while not reader.lines.empty():
            line = reader.lines.get()
            if line is not None:
                lines.append(line)
        saved = [parse_saved(line) for line in lines if line.startswith("saved")]
        checker.after_kill(saved)
        print(f"\nfresh process: start-up + imports + project load {startup:.2f} s")
    print(
        f"fresh-process trials: {FRESH_TRIALS} killed and survived in "
        f"{time.monotonic() - started:.1f} s; SIGKILL trials survived in all: {checker.trials}; "
        f"kills inside atomic_write: {checker.kills_inside_atomic_write}; "
        f"leftover temp files: {len(temp_files(checker.project))}"
    )


def test_leftover_temp_files_are_never_read(checker):
    """Temp files left by a kill (real ones from the trials, plus planted ones) are ignored."""
    project = checker.project
    leftovers = temp_files(project)
    assert all(TEMP_NAME.match(p.name) for p in leftovers)
    before = load_working_annotations(project)
    csv_before = load_annotation_records(project)
    config_before = load_config(project)
    planted = []
    for target, content in (
        (annotations_path(project), "key,coordinate_index\nnot,a\nvalid,file\n"),
        (draft_path(project), "garbage \x00 half-writ"),
        (config_path(project), ": not yaml : [\n"),
        (session_dir(project) / "session.json", "{not json"),
    ):
        path = target.with_name(f".{target.name}.planted.tmp")
        path.write_text(content, encoding="utf-8")
        planted.append(path)
    # a complete newer-looking copy must not be taken either
    copy = annotations_path(project).with_name(".error_annotations.csv.newer.tmp")
    save_annotations(project, {checker.keys[0]: (1.0, 2.0)}, None)  # the real file, for now
    os.replace(annotations_path(project), copy)
    save_annotations(project, csv_before, checker.data.video_frame_indexes)
    planted.append(copy)

    assert load_working_annotations(project) == before
    assert load_annotation_records(project) == csv_before
    assert load_config(project) == config_before
    assert load_session(project) is not None
    data = load_project_data(project)
    assert sorted(data.coordinates) == sorted(checker.data.coordinates)
    coordinates, _, _ = load_keypoints(str(project / "keypoints"), "deeplabcut")
    assert sorted(coordinates) == sorted(checker.data.coordinates)
    result = save_work(data, {})
    assert result.records == before
    assert all(p.exists() for p in planted), "a save must not touch other files"
    assert len(temp_files(project)) == len(leftovers) + len(planted)
    print(
        f"\nleftover temp files from the kills: {len(leftovers)} (never read, never cleaned "
        f"up by the engine); {len(planted)} planted ones ignored too"
    )


def test_every_project_write_goes_through_atomic_write(tmp_path):
    """No project file is opened for writing except atomic_write's temp files and the lock."""
    project = tmp_path / "project"
    make_demo_project(project, n_recordings=1, n_frames=30, width=160, height=160)
    data = load_project_data(project)
    events: list[tuple] = []
    watching = [True]
    root = str(project)

    def hook(event, args):
        if not watching[0]:
            return
        if event == "open" and str(args[0]).startswith(root):
            mode, flags = args[1], args[2]
            writes = (mode is not None and any(c in mode for c in "wax+")) or (
                mode is None and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC)
            )
            if writes:
                events.append(("write", str(args[0])))
        elif event == "os.rename" and str(args[1]).startswith(root):
            events.append(("rename", str(args[0]), str(args[1])))

    sys.addaudithook(hook)  # cannot be removed: switched off through ``watching``
    try:
        keys = helper.sample_keys(data)
        records = {}
        for counter in range(25):  # through the first export at 20
            _, key, x, y = helper.crash_edit(data, keys, counter)
            records[key] = Annotation(x, y, "me", f"2024-01-01T00:00:{counter:02d}.000000+00:00")
            records = dict(save_work(data, records).records)
        save_work(data, records, force_export=True)
        update_config(project, fps=25)
        save_params(project, {"slope": -0.4, "intercept": 0.3, "conf_threshold": 0.4})
        save_use_bodyparts(project, data.bodyparts[:3])
        save_session(project, CalibrationSession(keypoints_path="keypoints"))
        save_session_keypoints(
            project, data.coordinates, data.confidences, data.bodyparts, data.video_frame_indexes
        )
        save_annotations(project, records, data.video_frame_indexes)
        setup_project(tmp_path / "other", bodyparts=["a", "b"])  # outside: not watched
    finally:
        watching[0] = False
    written = [e[1] for e in events if e[0] == "write"]
    renamed = [(e[1], e[2]) for e in events if e[0] == "rename"]
    assert written, "the audit hook saw nothing"
    for path in written:
        name = Path(path).name
        assert name == ".kpcal.lock" or TEMP_NAME.match(name), f"{path} written in place"
    targets = {Path(dst).name for _, dst in renamed}
    assert {
        "error_annotations.csv",
        "annotations_draft.csv",
        "config.yml",
        "session.json",
        "keypoints.npz",
    } <= targets
    for src, dst in renamed:
        match = TEMP_NAME.match(Path(src).name)
        assert match and match["target"] == Path(dst).name, (src, dst)
        assert Path(src).parent == Path(dst).parent
    assert temp_files(project) == []


def test_failed_write_leaves_previous_file_and_no_temp(tmp_path, monkeypatch):
    """An error inside atomic_write (before the rename) keeps the old file and removes the temp."""
    from kpcal_core import atomic

    save_annotations(tmp_path, {("rec", 1, "nose"): (1.0, 2.0)}, None)
    old = annotations_path(tmp_path).read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save_annotations(tmp_path, {("rec", 2, "nose"): (3.0, 4.0)}, None)
    assert annotations_path(tmp_path).read_bytes() == old
    assert list(tmp_path.glob(".*.tmp")) == []
    with pytest.raises(KpcalError):  # checked before anything is written
        save_annotations(tmp_path, {("rec", -1, "nose"): (3.0, 4.0)}, None)
    assert annotations_path(tmp_path).read_bytes() == old


def test_temporaries_left_by_a_killed_writer_are_removed_once_stale(tmp_path):
    import os
    import time

    from kpcal_core.atomic import STALE_TEMPORARY_SECONDS, atomic_write

    target = tmp_path / "error_annotations.csv"
    stale = tmp_path / ".error_annotations.csv.abc123.tmp"
    fresh = tmp_path / ".error_annotations.csv.def456.tmp"  # another writer, in flight
    for leftover in (stale, fresh):
        leftover.write_text("partial")
    old = time.time() - STALE_TEMPORARY_SECONDS - 5
    os.utime(stale, (old, old))
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert not stale.exists()
    assert fresh.exists()
