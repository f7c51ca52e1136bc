"""What the calibration does to keypoint-MoSeq's model, and lines never written silently.

Issue 20, items 4 and 5. The s0 panel (fit page, ``kpcal fit --json``) must give the
numbers of jax-moseq's own formula, written out here from its source
(``jax_moseq/models/keypoint_slds/initialize.py``, ``estimate_error``) and
keypoint-MoSeq's ``format_data`` (which sets missing keypoints' confidence to 0,
clamps negative ones and adds ``conf_pseudocount``); a line whose errors do not
shrink with confidence never reaches ``config.yml`` without a person confirming it.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from demo_support import annotate_from_line, annotate_truth

from kpcal_core import sentences, workflows
from kpcal_core.annotations import save_annotations
from kpcal_core.charts import BAND_AXIS_FACTOR, band_chart, band_view
from kpcal_core.cli import EXIT_BAD_INPUT, EXIT_OK, main
from kpcal_core.config import load_config, save_params
from kpcal_core.demo import make_demo_project
from kpcal_core.diagnostics import per_bodypart_fits, prediction_band
from kpcal_core.fitting import error_points
from kpcal_core.planning import population_of
from kpcal_core.prior import DEFAULT_LINE, slope_check
from kpcal_core.project import load_project_data, load_working_annotations

SMALL = dict(n_frames=80, width=200, height=160)
SAVED = {"slope": -0.8, "intercept": 0.4, "conf_threshold": 0.3}


def jax_moseq_s0(confidence, slope, intercept, pseudocount):
    """s0 as keypoint-MoSeq and jax-moseq compute it, written out from their sources."""
    conf = np.nan_to_num(np.asarray(confidence, dtype=np.float64), nan=0.0)  # format_data
    conf = np.maximum(conf, 0) + pseudocount  # format_data: clamp, then the pseudocount
    return 10 ** (2 * (np.log10(conf + 1e-6) * slope + intercept))  # estimate_error


def run(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def demo(tmp_path):
    return make_demo_project(tmp_path / "project", **SMALL)


def config_line(project) -> tuple[float, float]:
    estimator = yaml.safe_load((project / "config.yml").read_text())["error_estimator"]
    return estimator["slope"], estimator["intercept"]


# --------------------------------------------------------------------------- s0


def test_the_s0_panel_gives_jax_moseqs_numbers_on_the_saved_line(demo):
    project = demo.project_dir
    save_params(project, SAVED)
    data = load_project_data(project)
    # What real files hold: keypoints with no position (SLEAP: confidence 0), NaN and
    # negative confidences, scores above 1; an odd and an even count of positioned ones.
    first, second = sorted(data.confidences)
    conf, missing = data.confidences[first], data.missing[first]
    conf[:7, 0], missing[:7, 0] = 0.0, True
    conf[7:10, 1] = np.nan
    conf[10:13, 2] = -0.2
    conf[13:20, 3] = 1.6
    missing[20, 4] = True
    records = annotate_truth(demo, 40)
    fit = workflows.calibration_fit(data, records)
    pseudocount = float(data.config.get("conf_pseudocount", 1e-3))
    threshold = 0.3
    prior = workflows.project_model_prior(
        data, fit.line, threshold, per_bodypart=per_bodypart_fits(fit.project.points)
    )

    lines = {
        "": (fit.line.slope, fit.line.intercept),
        "default_": (-0.5, 0.25),
        "saved_": (SAVED["slope"], SAVED["intercept"]),
    }
    counts = set()
    for row in prior.bodyparts:
        k = data.bodyparts.index(row.bodypart)
        values = np.concatenate([data.confidences[r][:, k] for r in (first, second)])
        gone = np.concatenate([data.missing[r][:, k] for r in (first, second)])
        positioned = values[~gone & ~np.isnan(values)]
        counts.add(len(positioned) % 2)
        assert row.n_positioned == len(positioned)
        assert row.n_zero == len(values) - len(positioned)
        for prefix, (slope, intercept) in lines.items():
            s0 = jax_moseq_s0(positioned, slope, intercept, pseudocount)
            assert getattr(row, f"{prefix}s0_median") == pytest.approx(np.median(s0), rel=1e-12)
        s0 = jax_moseq_s0(positioned, *lines[""], pseudocount)
        assert (row.s0_low, row.s0_high) == pytest.approx((s0.min(), s0.max()), rel=1e-12)
        low = np.maximum(positioned, 0) + pseudocount <= threshold  # jax-moseq: conf > threshold
        assert row.n_interpolated == int(low.sum())
        assert row.interpolated_share == pytest.approx(low.mean())
    assert counts == {0, 1}  # both medians: of an odd and of an even count
    for prefix, (slope, intercept) in lines.items():
        at_zero = getattr(prior, f"{prefix}s0_zero")
        assert at_zero == pytest.approx(jax_moseq_s0(0.0, slope, intercept, pseudocount))
    assert round(prior.default_s0_zero) == 3159  # the number for the default line
    assert (
        (prior.default.slope, prior.default.intercept)
        == (-0.5, 0.25)
        == (
            DEFAULT_LINE.slope,
            DEFAULT_LINE.intercept,
        )
    )
    assert (prior.saved.slope, prior.saved.intercept) == (SAVED["slope"], SAVED["intercept"])
    # the page's table shows the same numbers, each once
    table = sentences.model_prior_table(prior)
    nose = table.set_index("bodypart").loc[data.bodyparts[0]]
    median = prior.bodyparts[0].s0_median
    assert nose["s0 median (px²)"] == (f"{median:,.0f}" if median >= 100 else f"{median:.3g}")
    assert "s0 median, config.yml's line" in table.columns


def test_fit_json_reports_the_model_prior_of_the_saved_line(demo):
    project = demo.project_dir
    save_params(project, SAVED)
    data = load_project_data(project)
    save_annotations(project, annotate_truth(demo, 40), data.video_frame_indexes)
    code, out, err = run("fit", project, "--json", "--bootstrap", "200")
    assert code == EXIT_OK, err
    result = json.loads(out)
    prior = result["model_prior"]
    assert prior["saved"] == {"slope": -0.8, "intercept": 0.4, "label": "config.yml"}
    assert prior["conf_threshold"] == SAVED["conf_threshold"]
    assert "log10(conf + 1e-6)" in prior["formula"]
    for row in prior["bodyparts"]:
        k = data.bodyparts.index(row["bodypart"])
        values = np.concatenate([c[:, k] for c in data.confidences.values()])
        for key, (slope, intercept) in {
            "saved_s0_median": (-0.8, 0.4),
            "s0_median": (result["slope"], result["intercept"]),
        }.items():
            expected = np.median(jax_moseq_s0(values, slope, intercept, 1e-3))
            assert row[key] == pytest.approx(expected, rel=1e-12)
    assert result["slope_check"]["needs_confirmation"] is False
    assert any("keypoint-MoSeq's default line" in s for s in prior["sentences"])


# --------------------------------------------------------------------------- slope check


def points_on(slope: float, n: int = 30, noise: float = 0.05, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.5, 0, n)
    y = slope * x + 0.3 + rng.normal(0, noise, n)
    return pd.DataFrame({"log10_confidence": x, "log10_error": y})


def test_a_line_is_negative_positive_or_flat_by_its_slopes_interval():
    assert slope_check(points_on(-0.5)).kind == "negative"
    assert slope_check(points_on(-0.5)).decreasing and not slope_check(points_on(-0.5)).problem
    rising = slope_check(points_on(0.4))
    assert rising.kind == "positive" and "is positive" in rising.problem
    flat = slope_check(points_on(0.0, noise=0.3))
    assert flat.kind == "flat" and "reaches 0" in flat.problem
    # a robust line's slope is judged with the least-squares interval moved to it
    moved = slope_check(points_on(-0.5), slope=0.01)
    assert moved.kind == "flat" and not moved.decreasing
    few = slope_check(points_on(-0.5, n=2))
    assert not few.decreasing and "no interval yet" in few.problem


def rising_records(demo, n: int) -> dict:
    data = load_project_data(demo.project_dir)
    keys = list(annotate_truth(demo, n))
    return annotate_from_line(data, keys, 0.5, 0.6, noise_sd=0.05)


def test_autosave_keeps_the_annotations_and_not_a_positive_line(demo):
    project = demo.project_dir
    before = config_line(project)
    assert before == (-0.5, 0.25)
    data = load_project_data(project)
    records, result = {}, None
    for key, annotation in rising_records(demo, 25).items():
        result = workflows.record_annotation(data, records, key, annotation)
    assert result.exported and result.n_annotations == 25
    assert len(load_working_annotations(project)) == 25
    assert (project / "error_annotations.csv").exists()
    assert config_line(project) == before  # through every autosave from the 20th on
    assert result.fit is None
    assert "is positive" in result.withheld
    assert "config.yml keeps its line (slope -0.5000, intercept 0.2500)" in result.message
    assert "save it on the fit page and confirm" in result.message

    # Saving it asks for a confirmation: refused without one, nothing written ...
    points = workflows.calibration_fit(data, records).project.points
    line = workflows.calibration_fit(data, records).line
    with pytest.raises(workflows.SlopeNotConfirmed, match="is positive") as refused:
        workflows.save_calibration(
            data, slope=line.slope, intercept=line.intercept, conf_threshold=0.5
        )
    assert refused.value.check.kind == "positive"
    assert config_line(project) == before
    code, out, err = run("fit", project, "--save")
    assert code == EXIT_BAD_INPUT and "--confirm-slope" in err
    assert config_line(project) == before
    # ... and written once confirmed.
    workflows.save_calibration(
        data,
        slope=line.slope,
        intercept=line.intercept,
        conf_threshold=0.5,
        points=points,
        confirm_slope=True,
    )
    assert config_line(project) == pytest.approx((line.slope, line.intercept))


def test_the_command_line_writes_a_rising_line_only_with_confirm_slope(demo):
    project = demo.project_dir
    data = load_project_data(project)
    save_annotations(project, rising_records(demo, 25), data.video_frame_indexes)
    code, out, err = run("fit", project, "--json")
    assert code == EXIT_OK
    check = json.loads(out)["slope_check"]
    assert check["kind"] == "positive" and check["needs_confirmation"]
    code, out, err = run("fit", project, "--save", "--confirm-slope")
    assert code == EXIT_OK, err
    assert config_line(project)[0] > 0


def test_the_command_line_says_a_rising_line_and_a_save_as_the_fit_page_does(demo):
    """One sentence for one event: the slope not written (panels.save_panel's warning) and
    the line saved (its success), in `kpcal fit`'s text output too."""
    project = demo.project_dir
    data = load_project_data(project)
    save_annotations(project, rising_records(demo, 25), data.video_frame_indexes)
    code, out, err = run("fit", project, "--json")
    problem = json.loads(out)["slope_check"]["problem"]
    code, out, err = run("fit", project)
    assert code == EXIT_OK, err
    assert problem and sentences.slope_not_written(problem) in out.splitlines(), out
    code, out, err = run("fit", project, "--save", "--confirm-slope")
    assert code == EXIT_OK, err
    saved = workflows.SavedLine(
        path=str(project / "config.yml"),
        slope=config_line(project)[0],
        intercept=config_line(project)[1],
        conf_threshold=float(load_config(project)["conf_threshold"]),
        method="least-squares",
    )
    assert out.splitlines()[-1] == sentences.line_saved(saved), out
    assert sentences.slope_not_written(problem) not in out  # it was written: confirmed


def test_a_flat_line_is_not_autosaved_either(demo):
    project = demo.project_dir
    data = load_project_data(project)
    keys = list(annotate_truth(demo, 24))
    flat = annotate_from_line(data, keys, 0.0, 0.5, noise_sd=0.4, seed=2)
    records, result = {}, None
    for key, annotation in flat.items():
        result = workflows.record_annotation(data, records, key, annotation)
    check = slope_check(workflows.calibration_fit(data, records).project.points)
    assert check.kind == "flat", check
    assert config_line(project) == (-0.5, 0.25)
    assert "reaches 0" in result.withheld


# --------------------------------------------------------------------------- trusted chart


def test_the_trusted_chart_spans_the_positioned_keypoints_on_a_log_error_axis():
    """SLEAP files give keypoints with no position confidence 0: they are not plotted at
    log10 = -3, and the error axis stops at 10x the largest predicted error there."""
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.2, 1.7, (400, 2))
    missing = np.zeros_like(conf, dtype=bool)
    conf[:60, 0], missing[:60, 0] = 0.0, True
    population = population_of({"r": conf}, ["a", "b"], ["a", "b"], 1e-3, missing={"r": missing})
    coordinates = {"r": np.zeros((400, 2, 2))}
    for slope in (-0.6, 0.4):  # a rising line too: the old axis ran to 8,000,000 px
        annotations = {}
        for t in range(60, 100):
            x = math.log10(conf[t, 0] + 1e-3)
            annotations[("r", t, "a")] = (10 ** (slope * x + 0.5) - 1, 0.0)
        points = error_points(coordinates, {"r": conf}, annotations, ["a", "b"])
        band = prediction_band(points, population)
        rows, (x_low, x_high), (y_low, y_high) = band_view(band)
        assert x_low <= 0.2 + 1e-3 and x_high >= conf[~missing].max() + 1e-3
        assert x_low > 0.1  # not down to the pseudocount where the missing ones sit
        assert rows["keypoints"].sum() == (~missing).sum()
        largest = rows["predicted_px"].max()
        assert y_high <= BAND_AXIS_FACTOR * largest
        assert y_low > 0
        spec = band_chart(band).to_dict()
        scales = [layer["encoding"]["y"].get("scale", {}) for layer in _layers(spec)]
        assert {"type": "log", "domain": [y_low, y_high], "nice": False, "clamp": True} in scales


def _layers(spec: dict) -> list[dict]:
    out = []
    for layer in spec.get("layer", []):
        out += _layers(layer) if "layer" in layer else [layer]
    return out


# --------------------------------------------------------------------------- per bodypart


def test_the_per_bodypart_statement_says_when_no_bodypart_has_enough(demo):
    data = load_project_data(demo.project_dir)
    by_part: dict = {}
    for key, annotation in annotate_truth(demo, 60).items():
        if len(by_part.setdefault(key[2], {})) < 3:
            by_part[key[2]][key] = annotation
    records = {k: v for part in by_part.values() for k, v in part.items()}
    fit = workflows.calibration_fit(data, records)
    prior = workflows.project_model_prior(
        data, fit.line, per_bodypart=per_bodypart_fits(fit.project.points)
    )
    statement = sentences.bodypart_line_statement(prior)
    assert statement.startswith("No bodypart has enough annotations for its own line")
    assert prior.with_own_line == []
    # with enough, the statement says they follow (the demo's bodyparts share one line)
    fit = workflows.calibration_fit(data, annotate_truth(demo, 80))
    prior = workflows.project_model_prior(
        data, fit.line, per_bodypart=per_bodypart_fits(fit.project.points)
    )
    assert prior.with_own_line
    assert "follow the shared line" in sentences.bodypart_line_statement(prior)


def test_config_pseudocount_and_threshold_come_from_config_yml(demo):
    project = demo.project_dir
    save_params(project, SAVED)
    data = load_project_data(project)
    fit = workflows.calibration_fit(data, annotate_truth(demo, 30))
    prior = workflows.project_model_prior(data, fit.line)
    assert prior.conf_threshold == load_config(project)["conf_threshold"] == 0.3
    assert prior.conf_pseudocount == load_config(project).get("conf_pseudocount", 1e-3)
