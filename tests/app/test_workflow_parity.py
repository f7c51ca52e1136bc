"""The app and the command line are two faces of the same workflows: same samples, numbers, files.

Each test does one step in the app (AppTest) on one copy of the demo project
and with the command line on another copy, and compares what they wrote.
Also: saving from the fit page takes the project lock while another process
autosaves, and a saved robust line survives the next autosave.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import helpers_save_loop
import yaml
from apptest_support import (
    ANNOTATE,
    FIT,
    SETUP,
    annotate_truly,
    button,
    check,
    click_image,
    current_sample,
    draw_demo_samples,
    new_app,
    open_page,
    true_display_position,
)
from helpers_save_loop import LineReader, child_env

from kpcal_core import workflows
from kpcal_core.cli import EXIT_OK, main
from kpcal_core.fitting import fit_by_method
from kpcal_core.project import load_project_data, load_working_annotations
from kpcal_core.session import load_session

HELPER = Path(helpers_save_loop.__file__)


def cli(*argv) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out, err)
    assert code == EXIT_OK, err.getvalue()
    return out.getvalue()


def config_line(project: Path) -> tuple[float, float, float]:
    estimator = yaml.safe_load((project / "config.yml").read_text())
    return (
        estimator["error_estimator"]["slope"],
        estimator["error_estimator"]["intercept"],
        estimator["conf_threshold"],
    )


def twin(demo: Path, tmp_path: Path) -> Path:
    other = tmp_path / "twin"
    shutil.copytree(demo, other)
    return other


def test_sampling_in_the_app_and_on_the_command_line_gives_the_same_samples(demo, tmp_path):
    other = twin(demo, tmp_path)
    check(button(open_page(new_app(), SETUP), "Sample frames").click().run())
    cli("sample", other, "--seed", "0", "--num-samples", "100", "--num-bins", "10", "--no-frames")
    in_app, on_cli = load_session(demo).sample_keys, load_session(other).sample_keys
    assert len(in_app) == 100 and in_app == on_cli


def test_fit_and_save_in_the_app_and_on_the_command_line_agree(demo, tmp_path):
    keys = draw_demo_samples(demo)[:30]
    annotate_truly(demo, keys)
    other = twin(demo, tmp_path)

    at = open_page(new_app(), FIT)
    check(button(at, "Save to config.yml").click().run())
    cli("fit", other, "--save", "--json")
    assert config_line(demo) == config_line(other)
    slope, intercept, _ = config_line(demo)
    fit = workflows.calibration_fit(load_project_data(demo)).project.fit
    assert (slope, intercept) == (fit.slope, fit.intercept)
    assert f"slope = {slope:.4f} · intercept = {intercept:.4f}" in at.markdown[0].value

    # export: the command line writes what the workflow writes
    written = workflows.export(load_project_data(other), tmp_path / "export", png=False)
    cli("export", other, "--out", tmp_path / "cli-export", "--no-png")
    for name in ("error_annotations.csv", "error_points.csv"):
        assert (tmp_path / "cli-export" / name).read_bytes() == (
            tmp_path / "export" / name
        ).read_bytes()
    assert set(written.paths()) == {"annotations", "points"} and written.chart is None


def test_a_saved_robust_line_survives_the_next_autosave(demo):
    keys = draw_demo_samples(demo)
    annotate_truly(demo, keys[:25])
    at = open_page(new_app(), FIT)
    at.radio[0].set_value("theil-sen").run()
    check(button(at, "Save to config.yml").click().run())
    assert load_session(demo).fit_method == "theil-sen"
    data = load_project_data(demo)
    robust = fit_by_method(workflows.calibration_fit(data).project.points, "theil-sen")
    assert config_line(demo)[:2] == (robust.slope, robust.intercept)

    # one more click on the annotate page: autosave refits with the saved (robust) method
    at = open_page(at, ANNOTATE)
    sample = current_sample(at)
    check(click_image(at, *true_display_position(demo, sample)))
    records = load_working_annotations(demo)
    assert len([a for a in records.values() if a.has_position]) == 26
    points = workflows.calibration_fit(data, records).project.points
    robust = fit_by_method(points, "theil-sen")
    least_squares = fit_by_method(points, "least-squares")
    slope, intercept, _ = config_line(demo)
    assert (slope, intercept) == (robust.slope, robust.intercept)
    assert slope != least_squares.slope


def test_saving_from_the_fit_page_while_another_process_autosaves(demo):
    annotate_truly(demo, draw_demo_samples(demo)[:25])
    at = open_page(new_app(), FIT)  # the page's annotations: the 25 above
    at.radio[0].set_value("huber").run()
    page_line = fit_by_method(
        workflows.calibration_fit(load_project_data(demo)).project.points, "huber"
    )
    written = [(page_line.slope, page_line.intercept)]  # every write, from both sides
    child = subprocess.Popen(
        [sys.executable, str(HELPER), "loop", str(demo), "0", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    reader = LineReader(child.stdout)
    try:
        assert reader.next(timeout=120).startswith("loop")
        for _ in range(4):
            check(button(at, "Save to config.yml").click().run())
            assert not at.error, [e.value for e in at.error]
        while True:
            words = reader.next(timeout=120).split()
            if words[4] != "-":
                written.append((float(words[4]), float(words[5])))
            if int(words[2]) == 59:
                break
    finally:
        child.kill()
        child.wait(timeout=30)
    final = config_line(demo)  # parses: no write was interleaved into another
    assert final[:2] in written, (final, written[-5:])
    assert load_session(demo).fit_method == "huber"
