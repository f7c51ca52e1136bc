"""The command line, ``python -m kpcal_core``: same numbers as the app, exit codes scripts rely on."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from demo_support import annotate_truth

from kpcal_core import Annotation, fit_error_model, fit_project
from kpcal_core.annotations import NOT_VISIBLE, format_annotations, parse_annotations
from kpcal_core.cli import EXIT_BAD_INPUT, EXIT_NOT_ENOUGH, EXIT_OK, EXIT_USAGE, main
from kpcal_core.demo import make_demo_project
from kpcal_core.project import draft_path, load_project_data, load_working_annotations
from kpcal_core.session import frame_cache_dir, load_session, session_dir

REPO = Path(__file__).resolve().parents[2]
SMALL = dict(n_frames=80, width=200, height=160)


def run(*argv: str) -> tuple[int, str, str]:
    """Run the command line in this process: ``(exit code, stdout, stderr)``."""
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


def run_process(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "kpcal_core", *map(str, argv)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def truth_records(demo, n: int, seed: int = 1) -> dict:
    return annotate_truth(demo, n, seed, annotator="cli-test")


@pytest.fixture(scope="module")
def annotated(tmp_path_factory):
    """A demo project with 60 annotations in the CSV and 20 more (and 2 not visible) in the draft."""
    demo = make_demo_project(tmp_path_factory.mktemp("cli") / "project", **SMALL)
    records = truth_records(demo, 82)
    keys = list(records)
    saved = {k: records[k] for k in keys[:60]}
    draft = {k: records[k] for k in keys[60:80]}
    for k in keys[80:]:
        draft[k] = Annotation(math.nan, math.nan, "cli-test", "2025-01-02", NOT_VISIBLE)
    (demo.project_dir / "error_annotations.csv").write_text(format_annotations(saved, None))
    draft_path(demo.project_dir).write_text(format_annotations(draft, None))
    positions = {k: records[k] for k in keys[:80]}
    return demo, positions


@pytest.fixture
def fresh(tmp_path):
    return make_demo_project(tmp_path / "project", **SMALL)


# --------------------------------------------------------------------------- fit


def test_fit_json_gives_the_numbers_of_fit_error_model_and_of_the_app(annotated):
    demo, positions = annotated
    done = run_process("fit", demo.project_dir, "--json", "--robust")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    reference = fit_error_model(demo.coordinates, demo.confidences, positions, demo.bodyparts)
    assert result["n"] == reference["n"] == 80
    assert result["slope"] == pytest.approx(reference["slope"], rel=1e-12)
    assert result["intercept"] == pytest.approx(reference["intercept"], rel=1e-12)
    assert result["r2"] == pytest.approx(reference["r2"], rel=1e-12)
    app = fit_project(demo.project_dir).fit  # the function the app's fit page calls
    assert (result["slope"], result["intercept"], result["n"]) == (
        app.slope,
        app.intercept,
        app.n,
    )
    assert result["not_visible"] == 2 and result["left_out"] == 0
    low, high = result["interval"]["slope"]
    assert low < result["slope"] < high and high - low < 0.1
    assert result["robust"]["method"] == "theil-sen"
    assert result["robust"]["slope"] == pytest.approx(demo.slope, abs=0.05)
    assert isinstance(result["settled"], bool) and result["settled_statement"]
    assert result["saved"] is None
    assert set(result["per_bodypart"]) == set(demo.bodyparts)


def test_fit_text_output(annotated):
    demo, _ = annotated
    code, out, err = run("fit", demo.project_dir, "--robust", "huber", "--bootstrap", "200")
    assert code == EXIT_OK, err
    assert out.startswith("slope ") and "95% CI" in out and "robust (huber)" in out
    assert "80 positioned annotations fitted (2 not visible" in out


def test_fit_save_writes_config_yml(fresh):
    records = truth_records(fresh, 40)
    (fresh.project_dir / "error_annotations.csv").write_text(format_annotations(records, None))
    code, out, err = run("fit", fresh.project_dir, "--save", "--conf-threshold", "0.25", "--json")
    assert code == EXIT_OK, err
    saved = json.loads(out)["saved"]
    config = yaml.safe_load((fresh.project_dir / "config.yml").read_text())
    assert config["error_estimator"]["slope"] == saved["slope"]
    assert config["error_estimator"]["intercept"] == saved["intercept"]
    assert config["conf_threshold"] == 0.25 and saved["method"] == "least-squares"
    code, out, err = run("fit", fresh.project_dir, "--robust", "--save-robust", "--json")
    robust = json.loads(out)
    assert robust["saved"]["method"] == "theil-sen"
    config = yaml.safe_load((fresh.project_dir / "config.yml").read_text())
    assert config["error_estimator"]["slope"] == robust["robust"]["slope"]
    assert config["conf_threshold"] == 0.25  # kept from the config


def test_fit_save_prints_no_server_log_line_unless_asked(fresh, monkeypatch):
    """The `kpcal time=... event=params` line is for a server's journal: the command line
    prints it only with --log or KPCAL_LOG=1 (a save the disk refuses is always logged:
    tests/engine/test_full_disk.py)."""
    records = truth_records(fresh, 30)
    (fresh.project_dir / "error_annotations.csv").write_text(format_annotations(records, None))
    done = run_process("fit", fresh.project_dir, "--save", "--bootstrap", "50")
    assert done.returncode == EXIT_OK, done.stderr
    assert "kpcal time=" not in done.stderr and "event=" not in done.stderr, done.stderr
    assert "saved" in done.stdout.lower(), done.stdout
    done = run_process("fit", fresh.project_dir, "--save", "--bootstrap", "50", "--log")
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("kpcal time=")]
    assert " event=params " in line and f"project={fresh.project_dir}" in line
    monkeypatch.setenv("KPCAL_LOG", "1")
    done = run_process("fit", fresh.project_dir, "--save", "--bootstrap", "50")
    assert " event=params " in done.stderr, done.stderr


def test_fit_of_the_mean_of_several_annotators(annotated, tmp_path):
    demo, positions = annotated
    keys = list(positions)[:30]
    shifted = {
        k: Annotation(positions[k].x + 2.0, positions[k].y, "bob", positions[k].annotated_at)
        for k in keys
    }
    mirrored = {
        k: Annotation(positions[k].x - 2.0, positions[k].y, "ann", positions[k].annotated_at)
        for k in keys
    }
    (tmp_path / "bob.csv").write_text(format_annotations(shifted, None))
    (tmp_path / "ann.csv").write_text(format_annotations(mirrored, None))
    code, out, err = run(
        "fit", demo.project_dir, "--json", "--mean-of", tmp_path / "bob.csv", tmp_path / "ann.csv"
    )
    assert code == EXIT_OK, err
    result = json.loads(out)
    truth = fit_error_model(
        demo.coordinates, demo.confidences, {k: positions[k] for k in keys}, demo.bodyparts
    )
    assert result["n"] == 30
    assert result["slope"] == pytest.approx(truth["slope"], rel=1e-9)  # mean = the true click


# --------------------------------------------------------------------------- exit codes


def test_bad_input_exit_code_of_a_real_process(tmp_path):
    missing = run_process("fit", tmp_path / "no-such-project")
    assert missing.returncode == EXIT_BAD_INPUT
    assert "no-such-project" in missing.stderr and "does not exist" in missing.stderr
    assert missing.stdout == ""


def test_too_few_annotations_exit_4(fresh):
    code, out, err = run("fit", fresh.project_dir)
    assert code == EXIT_NOT_ENOUGH and "not enough annotations" in err and out == ""
    one = dict(list(truth_records(fresh, 5).items())[:1])
    (fresh.project_dir / "error_annotations.csv").write_text(format_annotations(one, None))
    code, _, err = run("fit", fresh.project_dir, "--json")
    assert code == EXIT_NOT_ENOUGH and "have 1 annotation" in err


def test_bad_input_exit_3_names_what_to_fix(fresh, tmp_path):
    csv = fresh.project_dir / "error_annotations.csv"
    csv.write_text("key,frame\nbroken\n")
    code, _, err = run("fit", fresh.project_dir)
    assert code == EXIT_BAD_INPUT and str(csv) in err
    csv.unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run("check", empty)
    assert code == EXIT_BAD_INPUT and "config.yml" in err and "--keypoints" in err
    code, _, err = run("check", fresh.project_dir, "--video-dir", tmp_path / "nowhere")
    assert code == EXIT_BAD_INPUT and "nowhere" in err
    code, _, err = run("fit", fresh.project_dir, "--save-robust")
    assert code == EXIT_BAD_INPUT and "--robust" in err


@pytest.mark.parametrize("command", ["check", "sample", "video", "fit", "export", "agreement"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    assert f"usage: kpcal {command}" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    for argv in ([], ["fit"], ["sample", "p", "--num-samples", "0"]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == EXIT_USAGE, argv
    capsys.readouterr()


# --------------------------------------------------------------------------- check, sample, export


def test_check_reports_recordings_and_fails_on_a_missing_video(fresh):
    code, out, err = run("check", fresh.project_dir, "--json")
    assert code == EXIT_OK, err
    report = json.loads(out)
    assert report["ok"] and len(report["recordings"]) == 2
    assert {r["status"] for r in report["recordings"]} == {"ok"}
    (fresh.video_dir / "mouse2.mp4").unlink()
    code, out, err = run("check", fresh.project_dir)
    assert code == EXIT_BAD_INPUT
    assert "no video" in out and "mouse2" in err
    assert "kpcal: 1 of 2 recordings cannot be annotated" in err  # no "recording(s)"


# ESC sequences (clear the screen, red), a carriage return, backspace, a C1 control (CSI) and a
# right-to-left override: each would rewrite what a terminal shows.
TERMINAL_TRICKS = "\x1b[2J\x1b[31mred\rback\x08\x9b31m\u202eevil"
TERMINAL_CONTROLS = {"\x1b", "\r", "\x08", "\x9b", "\u202e"}


def test_names_with_terminal_control_characters_are_printed_as_escapes(fresh):
    """Issue 19: a recording named with ESC[ ... cannot rewrite the terminal (text or JSON)."""
    keypoints = fresh.project_dir / "keypoints"
    (source,) = keypoints.glob("mouse2*.csv")
    source.rename(keypoints / source.name.replace("mouse2", "mouse2" + TERMINAL_TRICKS))
    code, out, err = run("check", fresh.project_dir)
    assert code == EXIT_OK, err
    assert not TERMINAL_CONTROLS & set(out + err), (out, err)
    assert "mouse2\\x1b[2J\\x1b[31mred\\rback\\x08\\x9b31m\\u202eevil" in out, out
    code, out, err = run("check", fresh.project_dir, "--json")
    assert not TERMINAL_CONTROLS & set(out + err), (out, err)
    names = [r["recording"] for r in json.loads(out)["recordings"]]
    assert any(TERMINAL_TRICKS in name for name in names), names  # the same JSON


def test_sample_keeps_annotated_samples_and_caches_frames(fresh):
    code, out, err = run("sample", fresh.project_dir, "--num-samples", "12", "--seed", "7")
    assert code == EXIT_OK, err
    session = load_session(fresh.project_dir)
    assert len(session.sample_keys) == 12 and session.seed == 7
    assert session.keypoints_path == "keypoints"  # untouched: the demo's session
    cached = list(frame_cache_dir(fresh.project_dir).rglob("*.kpf"))
    assert len(cached) == len({(r, f) for r, f, _ in session.sample_keys})
    done = {k: Annotation(1.0, 2.0, "x", "2025") for k in session.sample_keys[:3]}
    draft_path(fresh.project_dir).write_text(format_annotations(done, None))
    code, out, err = run(
        "sample", fresh.project_dir, "--num-samples", "5", "--seed", "8", "--no-frames", "--json"
    )
    assert code == EXIT_OK, err
    summary = json.loads(out)
    again = load_session(fresh.project_dir)
    assert again.sample_keys[:3] == session.sample_keys[:3]  # annotated ones kept first
    assert summary["annotated_kept"] == 3 and summary["seed"] == 8
    assert again.num_samples == 5 and summary["samples"] == len(again.sample_keys)


def test_sample_sets_up_a_new_project_from_keypoint_files(fresh, tmp_path):
    project = tmp_path / "new-project"
    code, out, err = run(
        "sample",
        project,
        "--keypoints",
        fresh.keypoints_dir,
        "--video-dir",
        fresh.video_dir,
        "--num-samples",
        "6",
        "--seed",
        "1",
        "--use-bodyparts",
        "nose,back",
    )
    assert code == EXIT_OK, err
    assert "created" in err
    config = yaml.safe_load((project / "config.yml").read_text())
    assert config["bodyparts"] == fresh.bodyparts and config["use_bodyparts"] == ["nose", "back"]
    session = load_session(project)
    assert session.keypoints_path == str(fresh.keypoints_dir)
    assert {b for _, _, b in session.sample_keys} <= {"nose", "back"}
    assert (session_dir(project) / "frame_cache").is_dir()
    code, _, err = run("sample", tmp_path / "other")
    assert code == EXIT_BAD_INPUT and "does not exist" in err


def test_export_writes_csv_table_and_png(annotated, tmp_path):
    demo, positions = annotated
    out_dir = tmp_path / "export"
    code, out, err = run("export", demo.project_dir, "--out", out_dir, "--json")
    assert code == EXIT_OK, err
    written = json.loads(out)
    csv_text = Path(written["annotations"]).read_text(encoding="utf-8")
    exported = parse_annotations(csv_text)
    assert exported == load_working_annotations(demo.project_dir)
    assert len(exported) == 82
    png = Path(written["chart"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    table = Path(written["points"]).read_text().splitlines()
    assert len(table) == 81
    # Each column says what it holds: `confidence` is the keypoint file's own value, the
    # pseudocount is added only in the columns named so (issue 20).
    points = pd.read_csv(written["points"])
    assert list(points.columns[:9]) == [
        "recording",
        "frame",
        "bodypart",
        "confidence",
        "confidence_plus_pseudocount",
        "error_px",
        "log10_confidence_plus_pseudocount",
        "log10_error_plus_1",
        "residual",
    ]
    data = load_project_data(demo.project_dir)
    raw = [
        float(data.confidences[r][f, data.bodyparts.index(b)])
        for r, f, b in zip(points["recording"], points["frame"], points["bodypart"])
    ]
    assert points["confidence"].tolist() == pytest.approx(raw, abs=1e-12)
    pseudocount = data.conf_pseudocount
    assert points["confidence_plus_pseudocount"].to_numpy() == pytest.approx(
        points["confidence"].to_numpy() + pseudocount, abs=1e-12
    )
    assert points["log10_confidence_plus_pseudocount"].to_numpy() == pytest.approx(
        np.log10(points["confidence"].to_numpy() + pseudocount), abs=1e-12
    )


def test_export_without_enough_annotations_still_writes_the_csv(fresh, tmp_path):
    code, out, err = run("export", fresh.project_dir, "--out", tmp_path / "x", "--no-png")
    assert code == EXIT_NOT_ENOUGH
    assert (tmp_path / "x" / "error_annotations.csv").exists()


# --------------------------------------------------------------------------- agreement


def test_agreement_of_two_annotator_files(tmp_path):
    key_a, key_b = ("rec", 0, "nose"), ("rec", 1, "tail")
    ann = {key_a: Annotation(0.0, 0.0, "ann", "t"), key_b: Annotation(1.0, 1.0, "ann", "t")}
    bob = {key_a: Annotation(3.0, 4.0, "bob", "t")}
    for name, records in (("ann", ann), ("bob", bob)):
        (tmp_path / f"{name}.csv").write_text(format_annotations(records, None))
    code, out, err = run(
        "agreement",
        tmp_path / "ann.csv",
        tmp_path / "bob.csv",
        "--json",
        "--mean-out",
        tmp_path / "mean.csv",
        "--distances",
        tmp_path / "d.csv",
    )
    assert code == EXIT_OK, err
    result = json.loads(out)
    assert result["n_shared_samples"] == 1 and result["median_px"] == 5.0
    # the sentence keeps its place in the JSON (after the numbers it says)
    assert list(result) == [
        *("by_pair", "n_annotators", "n_shared_samples", "n_pairs", "median_px", "p90_px"),
        *("mean_px", "max_px", "visibility_disagreements", "statement", "by_annotator"),
        *("flagged", "flag_rule"),
    ]
    assert result["statement"] == (
        "2 annotators positioned 1 of the same samples: their clicks are 5.00 px apart at the "
        "median and 5.00 px at the 90th percentile (the human error floor)."
    )
    assert result["flag_rule"].startswith("an annotator is flagged when, over at least 5 ")
    mean = parse_annotations((tmp_path / "mean.csv").read_text())
    assert mean[key_a].xy == (1.5, 2.0) and mean[key_b].xy == (1.0, 1.0)
    assert "5.0" in (tmp_path / "d.csv").read_text()
    shutil.copy(tmp_path / "ann.csv", tmp_path / "ann2.csv")
    lone = {key_b: Annotation(9.0, 9.0, "cy", "t")}
    (tmp_path / "cy.csv").write_text(format_annotations(lone, None))
    code, out, err = run("agreement", tmp_path / "bob.csv", tmp_path / "cy.csv")
    assert code == EXIT_NOT_ENOUGH and "No sample" in out
