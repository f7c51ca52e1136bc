"""Several annotators on one project (issue 23): rows kept per annotator, leases, the next
sample for each, the second look, reviews, agreement, and old files opening unchanged."""

from __future__ import annotations

import json
import math
import queue
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import helpers_save_loop as helper
import numpy as np
import pytest
from helpers_save_loop import REPO, LineReader, child_env, child_sessions

from kpcal_core import team, workflows
from kpcal_core.agreement import (
    annotator_agreement,
    annotator_bias,
    disagreeing_samples,
    load_annotator_files,
    project_annotators,
)
from kpcal_core.annotations import (
    ANNOTATIONS_FILENAME,
    CLEARED,
    NOT_VISIBLE,
    POSITION,
    Annotation,
    annotations_path,
    combine_rows,
    load_annotation_rows,
    parse_annotation_rows,
    parse_annotations,
)
from kpcal_core.cli import main
from kpcal_core.demo import make_demo_project
from kpcal_core.diagnostics import fit_project
from kpcal_core.errors import KpcalError
from kpcal_core.fitting import error_points, fit_points
from kpcal_core.project import (
    draft_path,
    load_project_data,
    load_working_annotations,
    load_working_rows,
    save_work,
)
from kpcal_core.session import load_session, session_path

HELPER = Path(helper.__file__)
T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)

#: error_annotations.csv as kpcal wrote it before issue 23 (main at 2068da3, by
#: ``save_annotations``): one row per sample, a quoted recording name, a "not
#: visible" row, rows with and without an annotator and a time.
OLD_CSV = (
    "# key: recording name\n"
    "# coordinate_index: index of the keypoint data in coordinates (same as "
    "video_frame_index if every frame was used)\n"
    "# video_frame_index: frame number in the video\n"
    "# bodypart: name of the bodypart that was annotated\n"
    "# x: x-coordinate of the annotated keypoint\n"
    "# y: y-coordinate of the annotated keypoint\n"
    "key,coordinate_index,video_frame_index,bodypart,x,y,annotator,annotated_at,status\n"
    '"mouse, ""one""",3,3,nose,10.5,20.25,ana@lab.example,2026-12-01T10:00:00.000001+00:00,\n'
    "mouse2,7,7,tail,,,,2026-12-01T10:00:01.000000+00:00,not_visible\n"
    "mouse2,8,8,nose,1.0,2.0,,,\n"
    "mouse2,9,9,nose,3.0,4.0,bob,2026-12-01T10:00:02.000000+00:00,\n"
)
#: Its working copy then: bob cleared his click of mouse2/9 (same writer).
OLD_DRAFT = OLD_CSV.replace(
    "mouse2,9,9,nose,3.0,4.0,bob,2026-12-01T10:00:02.000000+00:00,\n",
    "mouse2,9,9,nose,,,bob,2026-12-01T10:00:03.000000+00:00,cleared\n",
)
#: What main's reader gave for them.
OLD_RECORDS = {
    ('mouse, "one"', 3, "nose"): Annotation(
        10.5, 20.25, "ana@lab.example", "2026-12-01T10:00:00.000001+00:00"
    ),
    ("mouse2", 7, "tail"): Annotation(
        math.nan, math.nan, "", "2026-12-01T10:00:01.000000+00:00", NOT_VISIBLE
    ),
    ("mouse2", 8, "nose"): Annotation(1.0, 2.0, "", ""),
    ("mouse2", 9, "nose"): Annotation(3.0, 4.0, "bob", "2026-12-01T10:00:02.000000+00:00"),
}


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


def same(a: Annotation, b: Annotation) -> bool:
    """Equal annotations, NaN positions equal."""
    xy = all(u == v or (math.isnan(u) and math.isnan(v)) for u, v in zip(a.xy, b.xy))
    return xy and (a.annotator, a.annotated_at, a.status) == (b.annotator, b.annotated_at, b.status)


@pytest.fixture
def project(tmp_path):
    """A demo project with 40 samples in the planned order."""
    folder = tmp_path / "project"
    make_demo_project(folder, n_recordings=2, n_frames=30, width=160, height=160, seed=3)
    data = load_project_data(folder)
    workflows.draw_samples(data, num_samples=40, seed=1, order="planned")
    return folder


def near(data, key, shift: float = 1.0) -> tuple[float, float]:
    recording, frame, bodypart = key
    x, y = data.coordinates[recording][frame, data.bodyparts.index(bodypart)]
    return float(x) + shift, float(y) - shift


# --------------------------------------------------------------------------- old files


def test_old_single_annotator_file_reads_as_before():
    records = parse_annotations(OLD_CSV)
    assert set(records) == set(OLD_RECORDS)
    for key, expected in OLD_RECORDS.items():
        assert same(records[key], expected), key
        assert records[key].rows == ()  # one row per sample: the annotation is that row
    assert len(parse_annotation_rows(OLD_CSV)) == 4


def test_old_project_opens_unchanged_and_a_new_save_keeps_every_row(tmp_path):
    folder = tmp_path / "old"
    (folder / "calibration").mkdir(parents=True)
    annotations_path(folder).write_text(OLD_CSV, encoding="utf-8")
    draft_path(folder).write_text(OLD_DRAFT, encoding="utf-8")
    working = load_working_annotations(folder)
    expected = dict(OLD_RECORDS)
    expected[("mouse2", 9, "nose")] = Annotation(
        math.nan, math.nan, "bob", "2026-12-01T10:00:03.000000+00:00", CLEARED
    )
    assert set(working) == set(expected)
    for key in expected:
        assert same(working[key], expected[key]), key


def test_old_format_project_fits_as_before(project):
    """A project whose CSV was written by the single-annotator version: the same line."""
    data = load_project_data(project)
    keys = data.session.sample_keys[:25]
    clicks = {
        k: Annotation(*near(data, k, 1.0 + (i % 5)), "ana", at(i)) for i, k in enumerate(keys)
    }
    lines = [OLD_CSV.split("key,")[0] + "key,coordinate_index,video_frame_index,bodypart,x,y,"]
    lines[0] += "annotator,annotated_at,status\n"
    for (r, f, b), a in clicks.items():
        lines.append(f"{r},{f},{f},{b},{a.x!r},{a.y!r},ana,{a.annotated_at},\n")
    annotations_path(project).write_text("".join(lines), encoding="utf-8")
    records = load_working_annotations(project)
    assert set(records) == set(clicks)
    assert all(records[k] == clicks[k] and records[k].rows == () for k in clicks)
    fitted = fit_project(project).fit
    direct = fit_points(
        error_points(data.coordinates, data.confidences, clicks, data.bodyparts, 1e-3)
    )
    assert fitted.slope == pytest.approx(direct.slope, rel=1e-12)
    assert fitted.intercept == pytest.approx(direct.intercept, rel=1e-12)


# --------------------------------------------------------------------------- rows


def test_every_annotators_click_is_kept_and_the_fit_uses_their_mean(project):
    """Before issue 23 bob's later click replaced alice's: 1 row, bob's position."""
    data = load_project_data(project)
    key = data.session.sample_keys[0]
    save_work(data, {key: Annotation(10.0, 20.0, "alice", at(1))})
    result = save_work(data, {key: Annotation(14.0, 26.0, "bob", at(2))})
    assert result.records[key].xy == (12.0, 23.0)
    assert result.records[key].annotators() == ["alice", "bob"]
    assert result.n_annotations == 1  # counts samples
    rows = load_working_rows(project)
    assert rows[(key, "alice")].xy == (10.0, 20.0) and rows[(key, "bob")].xy == (14.0, 26.0)
    # an annotator's own newer edit still wins over their older one
    save_work(data, {key: Annotation(16.0, 26.0, "bob", at(3))})
    assert load_working_annotations(project)[key].xy == (13.0, 23.0)
    # a save from a session that never saw bob's click does not lose it
    result = save_work(data, {key: Annotation(10.0, 20.0, "alice", at(1))})
    assert result.records[key].xy == (13.0, 23.0)


def test_a_review_replaces_the_corrected_click_in_the_fit(project):
    data = load_project_data(project)
    key = data.session.sample_keys[0]
    records: dict = {}
    workflows.record_annotation(data, records, key, Annotation(10.0, 20.0, "alice", at(1)))
    looks = workflows.second_look(data)
    assert key not in looks or pytest.skip("first sample is a second look")
    workflows.record_annotation(data, records, key, Annotation(30.0, 40.0, "bob", at(2)))
    rows = load_working_rows(project)
    assert rows[(key, "bob")].corrects == "alice"
    assert records[key].xy == (30.0, 40.0)
    assert records[key].annotators() == ["alice", "bob"]
    # both kept in the file, with whom the review corrects
    text = annotations_path(project).read_text() if annotations_path(project).exists() else ""
    text = text or draft_path(project).read_text()
    assert text.splitlines()[6].endswith(",annotator,annotated_at,status,corrects")
    assert ",bob," in text and ",alice," in text


def test_combined_not_visible_and_cleared():
    key = ("r", 1, "nose")
    rows = {
        (key, "a"): Annotation(math.nan, math.nan, "a", at(1), NOT_VISIBLE),
        (key, "b"): Annotation(math.nan, math.nan, "b", at(2), CLEARED),
    }
    combined = combine_rows(rows)[key]
    assert combined.status == NOT_VISIBLE and combined.annotators() == ["a"]
    rows[(key, "a")] = Annotation(math.nan, math.nan, "a", at(3), CLEARED)
    assert combine_rows(rows)[key].status == CLEARED


# --------------------------------------------------------------------------- leases


def test_two_annotators_get_different_samples_in_the_planned_order(project):
    data = load_project_data(project)
    first = workflows.next_sample(data, "alice", None, unannotated=True)
    second = workflows.next_sample(data, "bob", None, unannotated=True)
    assert (first, second) == (0, 1)  # before issue 23 both started at sample 0
    # alice clicks hers and moves on: she skips bob's (leased) sample
    key = data.session.sample_keys[0]
    workflows.record_annotation(data, {}, key, Annotation(*near(data, key), "alice", at(1)))
    assert workflows.next_sample(data, "alice", 0, unannotated=True) == 2
    # her lease moved with her: sample 0 is done, sample 1 still bob's, 2 hers
    leases = team.read_leases(project)
    assert {k: v.annotator for k, v in leases.items()} == {
        data.session.sample_keys[1]: "bob",
        data.session.sample_keys[2]: "alice",
    }
    # "Next" from 0 for bob skips alice's sample 2
    key1 = data.session.sample_keys[1]
    workflows.record_annotation(data, {}, key1, Annotation(*near(data, key1), "bob", at(2)))
    assert workflows.next_sample(data, "bob", 1, unannotated=False) == 3
    # a person who leaves frees their sample
    workflows.leave_samples(data, "alice")
    assert workflows.next_sample(data, "carol", None, unannotated=True) == 2


def test_a_lease_expires_and_is_renewed(project):
    key = ("r", 1, "nose")
    now = datetime.now(UTC)
    assert team.take_lease(project, key, "alice", now) is None
    assert team.take_lease(project, key, "bob", now) == "alice"
    later = now + timedelta(seconds=team.LEASE_SECONDS + 1)
    assert team.holder(project, key, later) is None
    assert team.take_lease(project, key, "bob", later) is None
    # renewed while shown: less than RENEW_BELOW_SECONDS left gives a new lease
    almost = later + timedelta(seconds=team.LEASE_SECONDS - 10)
    assert team.take_lease(project, key, "bob", almost) is None
    assert team.holder(project, key, almost + timedelta(seconds=60)) == "bob"


def test_an_unreadable_lease_file_counts_as_no_lease(project):
    team.leases_path(project).write_text('{"leases": [{"sample": 5}]', encoding="utf-8")
    assert team.read_leases(project) == {}
    assert team.take_lease(project, ("r", 1, "nose"), "alice") is None
    assert team.holder(project, ("r", 1, "nose")) == "alice"


# --------------------------------------------------------------------------- second look


def test_second_look_share_is_spread_over_the_confidences():
    keys = [("r", i, "nose") for i in range(100)]
    conf = np.random.default_rng(0).random(100)
    chosen = team.second_look_samples(keys, conf, 0.1)
    assert len(chosen) == 10
    assert chosen == team.second_look_samples(keys, conf, 0.1)  # deterministic
    ranks = np.argsort(np.argsort(conf))
    deciles = sorted(int(ranks[k[1]]) // 10 for k in chosen)
    assert deciles == list(range(10))  # one in each tenth of the confidence range
    assert team.second_look_samples(keys, conf, 0.0) == set()
    with pytest.raises(KpcalError, match="between 0 and 1"):
        team.second_look_samples(keys, conf, 1.5)


def test_second_look_goes_to_a_second_annotator_who_does_not_see_the_first(project):
    data = load_project_data(project)
    keys = data.session.sample_keys
    looks = workflows.second_look(data)
    assert len(looks) == 4  # 10% of 40
    look = next(i for i, k in enumerate(keys) if k in looks)
    key = keys[look]
    records: dict = {}
    workflows.record_annotation(data, records, key, Annotation(*near(data, key), "alice", at(1)))
    # done samples before it for everyone, so bob's next is the second look
    for i in range(look):
        k = keys[i]
        workflows.record_annotation(data, records, k, Annotation(*near(data, k), "carol", at(2)))
    assert workflows.next_sample(data, "bob", None, unannotated=True) == look
    assert workflows.shown_annotation(data, records, key, "bob") is None  # not drawn
    assert workflows.shown_annotation(data, records, key, "alice").annotator == "alice"
    workflows.record_annotation(data, records, key, Annotation(*near(data, key, 3.0), "bob", at(3)))
    rows = load_working_rows(project)
    assert rows[(key, "bob")].corrects == ""  # an independent click, not a review
    # done twice: nobody is offered it again
    assert workflows.next_sample(data, "dan", look - 1, unannotated=False) != look
    assert workflows.team_progress(data, records).second_look_done == 1


def test_second_look_share_is_a_session_setting(project):
    data = load_project_data(project)
    data.session.second_look_share = 0.25
    assert len(workflows.second_look(data)) == 10
    from kpcal_core.session import CalibrationSession

    with pytest.raises(KpcalError, match="second_look_share"):
        CalibrationSession.from_json('{"second_look_share": 2}', "session.json")


# --------------------------------------------------------------------------- agreement


def three_annotators(offset: float = 6.0) -> dict:
    rng = np.random.default_rng(1)
    out: dict = {"ana": {}, "bo": {}, "cy": {}}
    for i in range(12):
        key = ("r", i, "nose")
        truth = rng.uniform(20, 100, 2)
        for name in out:
            shift = offset if name == "cy" else 0.0
            x, y = truth + rng.normal(0, 0.5, 2) + [shift, 0]
            out[name][key] = Annotation(float(x), float(y), name, at(i))
    return out


def test_annotator_bias_flags_the_one_systematically_off():
    bias = annotator_bias(three_annotators())
    flagged = bias.set_index("annotator")["flagged"]
    assert flagged.to_dict() == {"ana": False, "bo": False, "cy": True}
    row = bias.set_index("annotator").loc["cy"]
    assert row["offset_px"] == pytest.approx(6.0, abs=0.6)
    assert not annotator_bias(three_annotators(offset=0.0))["flagged"].any()


def test_bias_in_the_line_units_uses_the_network_positions():
    clicks = three_annotators()
    predictions = {k: (a.x - 2.0, a.y) for k, a in clicks["ana"].items()}
    bias = annotator_bias(clicks, predictions).set_index("annotator")
    assert bias.loc["cy", "bias_log10"] > 0.3  # 8 px instead of 2 px from the network
    assert math.isnan(annotator_bias(clicks).loc[0, "bias_log10"])


def test_disagreeing_samples_are_offered_for_review():
    clicks = three_annotators(offset=0.0)
    key = ("r", 5, "nose")
    bad = clicks["bo"][key]
    clicks["bo"][key] = Annotation(bad.x + 40, bad.y, "bo", bad.annotated_at)
    assert disagreeing_samples(clicks) == [key]


def test_agreement_on_the_project_file_and_cli(project, capsys):
    data = load_project_data(project)
    keys = data.session.sample_keys[:8]
    for name, shift in (("ana", 1.0), ("bo", 2.0)):
        save_work(
            data, {k: Annotation(*near(data, k, shift), name, at(i)) for i, k in enumerate(keys)}
        )
    by_name = project_annotators(project)
    assert sorted(by_name) == ["ana", "bo"]
    result = annotator_agreement(load_working_annotations(project))
    assert result.n_shared_samples == 8
    assert result.median_px == pytest.approx(math.sqrt(2), rel=1e-6)
    # the project's CSV file names both annotators: one entry each
    save_work(data, {}, force_export=True)
    assert sorted(load_annotator_files([annotations_path(project)])) == ["ana", "bo"]
    assert main(["agreement", str(project), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_shared_samples"] == 8
    assert [r["annotator"] for r in out["by_annotator"]] == ["ana", "bo"]
    assert all(math.isfinite(r["bias_log10"]) for r in out["by_annotator"])
    assert main(["agreement", str(project)]) == 0
    assert "Flag rule: an annotator is flagged when" in capsys.readouterr().out


def test_agreement_cli_refuses_a_folder_that_is_not_a_project(tmp_path, capsys):
    assert main(["agreement", str(tmp_path)]) != 0
    assert "not a kpcal project folder" in capsys.readouterr().err


# --------------------------------------------------------------------------- two processes


def start_annotator(project: Path, name: str, count: int, log: Path):
    errors = open(log, "w+")  # noqa: SIM115  # returned: the caller closes it
    proc = subprocess.Popen(
        [sys.executable, str(HELPER), "team", str(project), name, str(count), "0.02"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env=child_env(),
        cwd=REPO,
    )
    return proc, LineReader(proc.stdout), errors


def run_team(project: Path, tmp_path: Path, counts: dict[str, int], kill_after: dict):
    """Start one process per annotator at once; SIGKILL ``kill_after[name]`` after that many
    saves. Returns ``{name: [sample indexes reported saved]}``."""
    sessions = {n: start_annotator(project, n, c, tmp_path / f"{n}.err") for n, c in counts.items()}
    saved: dict[str, list[int]] = {n: [] for n in counts}
    with child_sessions(sessions):
        for _, reader, _ in sessions.values():
            assert reader.next(timeout=120) == "ready"
        for proc, _, _ in sessions.values():
            proc.stdin.write("go\n")
            proc.stdin.flush()
        running = dict(sessions)
        deadline = time.monotonic() + 300
        while running:
            assert time.monotonic() < deadline, "the annotators did not finish in 300 s"
            for name, (proc, reader, _) in list(running.items()):
                try:  # whichever speaks first: a kill lands while the other is saving
                    line = reader.lines.get(timeout=0.005)
                except queue.Empty:
                    continue
                assert line is not None and not line.startswith("error"), (name, line)
                if line.startswith("saved"):
                    saved[name].append(int(line.split()[1]))
                    if len(saved[name]) == kill_after.get(name):
                        time.sleep(random.Random(len(saved[name])).uniform(0, 0.03))
                        assert proc.poll() is None, f"{name} ended before the kill"
                        proc.send_signal(signal.SIGKILL)  # in its pause, claim or save
                        assert proc.wait(timeout=30) == -signal.SIGKILL
                        del running[name]
                elif line == "done":
                    assert proc.wait(timeout=60) == 0
                    del running[name]
    return saved


def check_team_work(project: Path, saved: dict[str, list[int]]) -> None:
    data = load_project_data(project)
    keys = data.session.sample_keys
    looks = workflows.second_look(data)
    rows = load_working_rows(project)
    for name, indexes in saved.items():
        for i in indexes:  # every save reported is on disk, under its annotator, unreplaced
            row = rows[(keys[i], name)]
            assert row.status == POSITION and row.xy == pytest.approx(
                near_shift(data, keys[i], name)
            )
    by_sample: dict = {}
    for key, name in rows:
        by_sample.setdefault(key, []).append(name)
    both = [k for k, names in by_sample.items() if len(names) > 1]
    assert all(k in looks for k in both), both  # only the second-look share twice
    reported = sum(len(v) for v in saved.values())
    assert reported <= len(rows) <= reported + 1  # at most a killed one's save in flight


def near_shift(data, key, name: str) -> tuple[float, float]:
    shift = 1.0 + 0.1 * (sum(map(ord, name)) % 7)
    return near(data, key, shift)


def test_two_processes_share_the_work_and_keep_every_click(project, tmp_path):
    saved = run_team(project, tmp_path, {"alice": 20, "bob": 20}, {})
    assert len(saved["alice"]) == len(saved["bob"]) == 20
    check_team_work(project, saved)
    rows = load_annotation_rows(project)  # error_annotations.csv (from 20 on)
    assert len(rows) == 40 and {n for _, n in rows} == {"alice", "bob"}
    print(
        f"\n2 processes x 20 clicks: {len(rows)} rows on disk, samples done twice: "
        f"{40 - len(load_working_annotations(project))}"
    )


def test_sigkill_of_one_annotator_mid_save_loses_nothing_of_the_other(project, tmp_path):
    saved = run_team(project, tmp_path, {"alice": 20, "bob": 20}, {"bob": 7})
    assert len(saved["alice"]) == 20 and len(saved["bob"]) == 7
    check_team_work(project, saved)


def test_a_session_keeps_its_lease_when_its_name_changes(project):
    """A name typed anew in the sidebar: the page session still holds its sample (before,
    the session was moved off its own sample, held under its former name)."""
    key = ("r", 1, "nose")
    assert team.take_lease(project, key, "root", session="s1") is None
    assert team.take_lease(project, key, "ana", session="s1") is None
    assert team.holder(project, key) == "ana"
    assert team.take_lease(project, key, "bob", session="s2") == "ana"
    team.release_leases(project, "carol", session="s1")  # leaving frees the session's lease
    assert team.holder(project, key) is None


def test_export_writes_each_annotators_row_but_no_clear(project, tmp_path):
    """Before: the combined annotation was written with all its rows, a clear among them."""
    data = load_project_data(project)
    key = data.session.sample_keys[0]
    save_work(data, {key: Annotation(10.0, 20.0, "alice", at(1))})
    save_work(data, {key: Annotation(12.0, 20.0, "bob", at(2))})
    save_work(data, {key: Annotation(math.nan, math.nan, "bob", at(3), CLEARED)})
    others = {
        k: Annotation(*near(data, k, 1.0 + i % 3), "alice", at(10 + i))
        for i, k in enumerate(data.session.sample_keys[1:6])
    }
    save_work(data, others)
    written = workflows.export(data, tmp_path / "out", png=False)
    rows = parse_annotation_rows(written.annotations.read_text(encoding="utf-8"))
    assert (key, "alice") in rows and (key, "bob") not in rows
    assert all(r.status != CLEARED for r in rows.values())


def test_the_share_seen_twice_is_drawn_with_the_samples_and_checked(tmp_path, capsys):
    project = tmp_path / "demo"
    make_demo_project(project)
    data = load_project_data(project)
    before = session_path(project).read_bytes()
    with pytest.raises(KpcalError, match="second_look_share must be between 0 and 1, got 1.5"):
        workflows.draw_samples(data, seed=1, second_look_share=1.5)
    assert session_path(project).read_bytes() == before  # nothing written
    workflows.draw_samples(data, seed=1, second_look_share=0.2)
    assert load_session(project).second_look_share == 0.2
    # the command line: `kpcal sample --second-look`
    assert main(["sample", str(project), "--second-look", "0.3", "--no-frames"]) == 0
    assert load_session(project).second_look_share == 0.3
    with pytest.raises(SystemExit) as refused:
        main(["sample", str(project), "--second-look", "2", "--no-frames"])
    assert refused.value.code == 2
    assert "must be a share between 0 and 1" in capsys.readouterr().err


def test_the_annotations_csv_to_hand_on_has_no_cleared_row(project):
    """Before: the fit page's "Download annotations CSV" kept the row an annotator cleared
    when another person clicked the same sample (export already left it out); both now
    come from workflows.annotations_csv."""
    data = load_project_data(project)
    key = data.session.sample_keys[0]
    save_work(data, {key: Annotation(10.0, 20.0, "alice", at(1))})
    save_work(data, {key: Annotation(12.0, 20.0, "bob", at(2))})
    save_work(data, {key: Annotation(math.nan, math.nan, "bob", at(3), CLEARED)})
    records = load_working_annotations(project)
    assert records[key].status != CLEARED  # alice's click: the sample is annotated
    rows = parse_annotation_rows(workflows.annotations_csv(data, records))
    assert set(rows) == {(key, "alice")}
    with pytest.raises(KpcalError, match="annotate more"):  # no line yet: after the CSV
        workflows.export(data, project / "out", records=records, png=False)
    written = (project / "out" / ANNOTATIONS_FILENAME).read_text(encoding="utf-8")
    assert written == workflows.annotations_csv(data, records)


def test_other_annotators_files_are_compared_and_a_bad_one_named(project):
    data = load_project_data(project)
    keys = data.session.sample_keys[:6]
    mine = {k: Annotation(*near(data, k, 1.0), "alice", at(i)) for i, k in enumerate(keys)}
    theirs = {k: Annotation(*near(data, k, 3.0), "bob", at(i)) for i, k in enumerate(keys)}
    files = {
        "bob.csv": workflows.annotations_csv(data, theirs).encode("utf-8"),
        "bad.csv": b"\xff\xfe not text",
    }
    comparison = workflows.compare_with_files(mine, files)
    assert set(comparison.everyone) == {"this project", "bob.csv"}
    assert list(comparison.problems) == ["bad.csv"]
    assert "bad.csv" in comparison.problems["bad.csv"] and "UTF-8" in comparison.problems["bad.csv"]
    assert comparison.agreement is not None and comparison.agreement.n_shared_samples == 6
    assert set(comparison.mean_clicks()) == set(keys)
    nothing = workflows.compare_with_files(mine, {"bad.csv": b"\xff"})
    assert nothing.agreement is None and nothing.everyone == {}
