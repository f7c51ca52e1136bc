"""Fit diagnostics: intervals, the running fit, per-bodypart and robust lines, annotators.

Ground truth comes from the demo project (errors follow slope -0.55,
intercept 0.2): annotating samples at their true positions must give
intervals that cover the truth, a running fit that settles, and no bodypart
flagged unless one is biased on purpose.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from demo_support import annotate_truth

from kpcal_core import (
    Annotation,
    KpcalError,
    NotEnoughAnnotations,
    annotation_counts,
    annotator_agreement,
    bootstrap_fit,
    fit_error_model,
    fit_project,
    has_settled,
    largest_residuals,
    mean_click_annotations,
    per_bodypart_fits,
    running_fit,
    sentences,
    workflows,
)
from kpcal_core.annotations import (
    NOT_VISIBLE,
    annotations_path,
    format_annotations,
    load_annotation_records,
)
from kpcal_core.demo import make_demo_project
from kpcal_core.diagnostics import (
    PREDICTION_BAND_COLUMNS,
    _bootstrap_lines,
    load_annotator_files,
    prediction_band,
    project_points,
    project_population,
    settled_mask,
    stop_numbers,
    stop_rule,
)
from kpcal_core.fitting import robust_fit
from kpcal_core.per_bodypart import Verdict
from kpcal_core.planning import Population
from kpcal_core.project import load_project_data, load_working_annotations
from kpcal_core.stopping import t_quantile as _t_quantile

TRUE_SLOPE, TRUE_INTERCEPT = -0.55, 0.2


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_project(
        tmp_path_factory.mktemp("diag") / "project", n_frames=100, width=240, height=180
    )


@pytest.fixture(scope="module")
def data(demo):
    return load_project_data(demo.project_dir)


def synthetic_points(n, seed=0, noise=0.05, slope=TRUE_SLOPE, intercept=TRUE_INTERCEPT):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 0, n)
    y = slope * x + intercept + rng.normal(0, noise, n)
    return pd.DataFrame(
        {
            "recording": "rec",
            "frame": np.arange(n),
            "bodypart": rng.choice(["a", "b", "c"], n),
            "confidence": 10**x,
            "error_px": 10**y - 1,
            "log10_confidence": x,
            "log10_error": y,
            "annotated_at": [f"{i:08d}" for i in range(n)],
        }
    )


# --------------------------------------------------------------------------- bootstrap


def test_closed_form_resample_lines_match_polyfit():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=40), rng.normal(size=40)
    index = rng.integers(0, 40, size=(25, 40))
    index[7] = 5  # every draw the same point: no line
    slopes, intercepts = _bootstrap_lines(x, y, index)
    for b in range(25):
        if b == 7:
            assert math.isnan(slopes[b]) and math.isnan(intercepts[b])
            continue
        slope, intercept = np.polyfit(x[index[b]], y[index[b]], 1)
        assert slopes[b] == pytest.approx(slope, rel=1e-10, abs=1e-12)
        assert intercepts[b] == pytest.approx(intercept, rel=1e-10, abs=1e-12)


def test_bootstrap_interval_covers_the_true_line_on_the_demo(demo, data):
    records = annotate_truth(demo, 100)
    result = fit_project(data=data, records=records)
    boot = bootstrap_fit(result.points, n_resamples=1000, seed=0)
    reference = fit_error_model(demo.coordinates, demo.confidences, records, demo.bodyparts)
    assert boot.slope == pytest.approx(reference["slope"], rel=1e-12)
    assert boot.intercept == pytest.approx(reference["intercept"], rel=1e-12)
    assert boot.slope_low < TRUE_SLOPE < boot.slope_high
    assert boot.intercept_low < TRUE_INTERCEPT < boot.intercept_high
    assert boot.slope_low < boot.slope < boot.slope_high
    assert boot.n == 100 and boot.n_resamples == 1000 and boot.n_degenerate == 0
    assert boot.slope_high - boot.slope_low < 0.1  # informative, not just wide


def test_bootstrap_has_about_nominal_coverage():
    hits = 0
    for trial in range(200):
        points = synthetic_points(60, seed=1000 + trial, noise=0.1)
        boot = bootstrap_fit(points, n_resamples=400, seed=trial)
        hits += boot.slope_low <= TRUE_SLOPE <= boot.slope_high
    assert 0.88 <= hits / 200 <= 0.99


def test_bootstrap_is_seeded_and_fast_enough(capsys):
    points = synthetic_points(1000)
    first = bootstrap_fit(points, seed=5, return_samples=True)
    again = bootstrap_fit(points, seed=5, return_samples=True)
    np.testing.assert_array_equal(first.slopes, again.slopes)
    assert first.slopes.shape == (1000,)
    other = bootstrap_fit(points, seed=6)
    assert other.slope_low != first.slope_low
    times = []
    for _ in range(5):
        start = time.perf_counter()
        bootstrap_fit(points, n_resamples=1000, seed=0)
        times.append(time.perf_counter() - start)
    with capsys.disabled():
        print(
            f"\nbootstrap_fit, 1000 points x 1000 resamples: best {min(times) * 1000:.1f} ms, "
            f"median {sorted(times)[2] * 1000:.1f} ms"
        )


def test_bootstrap_rejects_bad_input():
    points = synthetic_points(20)
    with pytest.raises(NotEnoughAnnotations):
        bootstrap_fit(points.iloc[:1])
    same_x = points.assign(log10_confidence=-1.0)
    with pytest.raises(NotEnoughAnnotations, match="different confidences"):
        bootstrap_fit(same_x)
    with pytest.raises(KpcalError, match="level"):
        bootstrap_fit(points, level=95)
    with pytest.raises(KpcalError, match="n_resamples"):
        bootstrap_fit(points, n_resamples=0)
    with pytest.raises(KpcalError, match="not finite"):
        bootstrap_fit(points.assign(log10_confidence=-np.inf))
    with pytest.raises(KpcalError, match="log10_error"):
        bootstrap_fit(points.drop(columns="log10_error"))


# --------------------------------------------------------------------------- running fit


def test_t_quantile_is_close_to_student_t():
    exact = {3: 3.182446, 5: 2.570582, 10: 2.228139, 30: 2.042272, 1e9: 1.959964}
    for dof, value in exact.items():
        assert float(_t_quantile(0.975, dof)) == pytest.approx(value, rel=0.01)


def test_running_fit_is_the_exact_fit_of_every_prefix():
    points = synthetic_points(60, seed=2)
    running = running_fit(points, min_points=5)
    assert list(running["n"]) == list(range(1, 61))
    assert running.loc[:3, "slope"].isna().all()
    x = points["log10_confidence"].to_numpy()
    y = points["log10_error"].to_numpy()
    for k in (5, 17, 60):
        slope, intercept = np.polyfit(x[:k], y[:k], 1)
        row = running.iloc[k - 1]
        assert row["slope"] == pytest.approx(slope, rel=1e-9)
        assert row["intercept"] == pytest.approx(intercept, rel=1e-9)
        # standard errors from the covariance of the least-squares estimate
        design = np.column_stack([x[:k], np.ones(k)])
        coef, ssr, _, _ = np.linalg.lstsq(design, y[:k], rcond=None)
        cov = ssr[0] / (k - 2) * np.linalg.inv(design.T @ design)
        assert row["slope_se"] == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-7)
        assert row["intercept_se"] == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-7)
        t = float(_t_quantile(0.975, k - 2))
        assert row["slope_high"] - row["slope"] == pytest.approx(t * row["slope_se"])
        assert row["half_width"] == pytest.approx(t * row["slope_se"])
    assert running.attrs["level"] == 0.95


def test_running_fit_follows_annotation_time_or_an_explicit_order():
    points = synthetic_points(40, seed=4)
    shuffled = points.sample(frac=1.0, random_state=1)
    by_time = running_fit(shuffled)
    in_order = running_fit(points)
    np.testing.assert_allclose(by_time["slope"], in_order["slope"], rtol=1e-9)
    assert list(by_time["frame"]) == list(range(40))
    reverse = running_fit(points, order=np.arange(40)[::-1])
    assert list(reverse["frame"]) == list(range(39, -1, -1))
    assert reverse["slope"].iloc[-1] == pytest.approx(in_order["slope"].iloc[-1], rel=1e-9)
    with pytest.raises(KpcalError, match="annotated_at"):
        running_fit(points.drop(columns="annotated_at"))
    with pytest.raises(KpcalError, match="row positions"):
        running_fit(points, order=[0, 0, 1])


def test_running_fit_bootstraps_at_a_few_steps():
    points = synthetic_points(80, seed=5)
    running = running_fit(points, n_resamples=200, bootstrap_steps=5)
    filled = running.dropna(subset=["boot_slope_low"])
    assert 4 <= len(filled) <= 6
    assert filled["n"].iloc[-1] == 80
    last = filled.iloc[-1]
    assert last["boot_slope_low"] < last["slope"] < last["boot_slope_high"]


def test_settles_before_100_annotations_on_the_demo(demo, data):
    records = annotate_truth(demo, 150, seed=2)
    points = fit_project(data=data, records=records).points
    running = running_fit(points)
    settled_at = None
    for k in range(1, len(running) + 1):
        settled, statement = has_settled(running.iloc[:k], window=10)
        if settled:
            settled_at = k
            break
    assert settled_at is not None and settled_at < 100, statement
    assert statement.startswith("Settled") and "10 annotations" in statement
    early, sentence = has_settled(running.iloc[:8])
    assert not early and "Too early" in sentence


def test_not_settled_while_the_slope_still_moves():
    points = synthetic_points(30, seed=6)
    outliers = synthetic_points(10, seed=7, slope=0.5, intercept=2.0)
    outliers["annotated_at"] = [f"9{i:07d}" for i in range(10)]
    running = running_fit(pd.concat([points, outliers], ignore_index=True))
    settled, statement = has_settled(running, window=10)
    assert not settled and statement.startswith("Not settled yet")


def test_a_fit_that_says_nothing_is_not_settled():
    """Issue 11 item 6: a slope interval of about -1.65 to +1.21 never counts as settled."""
    rng = np.random.default_rng(11)
    x = rng.uniform(-0.3, 0, 40)  # little spread in confidence, much noise: R^2 ~ 0
    points = synthetic_points(40, seed=11)
    points["log10_confidence"] = x
    points["log10_error"] = 0.5 + rng.normal(0, 0.3, 40)
    running = running_fit(points)
    assert running["half_width"].iloc[-1] > 0.5
    settled, statement = has_settled(running, window=10)
    assert not settled
    assert "wider than ±0.1" in statement and "annotate about" in statement


def test_a_precise_positive_slope_is_not_settled():
    points = synthetic_points(60, seed=12, slope=0.4)
    settled, statement = has_settled(running_fit(points), window=10)
    assert not settled and "not negative" in statement and "true positions" in statement


# --------------------------------------------------------------------------- the stop rule


def population_x(n=20_000, seed=0):
    """log10 confidences of a typical population: mostly confident, a low tail."""
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    conf = np.where(u < 0.8, rng.beta(8, 1, n), 10 ** rng.uniform(-3, 0, n))
    return np.log10(conf + 1e-3)


def test_stop_numbers_hold_the_classical_and_hc2_half_widths_of_every_prefix():
    points = synthetic_points(30, seed=4, noise=0.2)
    x, y = points["log10_confidence"].to_numpy(), points["log10_error"].to_numpy()
    pop = population_x()
    numbers = stop_numbers(x, y, pop.mean(), pop.var(), screen=False)
    # straight from the matrices, at the prefix of 25 annotations
    k = 25
    design = np.stack([np.ones(k), x[:k]], axis=1)
    beta, ssr, *_ = np.linalg.lstsq(design, y[:k], rcond=None)
    s2 = float(ssr[0]) / (k - 2)
    t = float(_t_quantile(0.975, k - 2))
    inverse = np.linalg.inv(design.T @ design)
    population = np.stack([np.ones_like(pop), pop], axis=1)
    half = t * np.sqrt(s2 * np.einsum("ij,jk,ik->i", population, inverse, population))
    moment = population.T @ population / len(pop)
    assert numbers["slope"][k - 1] == pytest.approx(beta[1], rel=1e-9)
    classical = numbers["rms_half_width_classical"][k - 1]
    assert classical == pytest.approx(np.sqrt(np.mean(half**2)), rel=1e-9)
    assert classical == pytest.approx(t * np.sqrt(s2 * np.trace(inverse @ moment)), rel=1e-9)
    assert numbers["slope_half_width_classical"][k - 1] == pytest.approx(
        t * np.sqrt(s2 * inverse[1, 1])
    )
    # HC2: each annotation's own variance, unbiased for one spread (Bell and McCaffrey)
    residual = y[:k] - design @ beta
    leverage = np.einsum("ij,jk,ik->i", design, inverse, design)
    meat = design.T @ (design * (residual**2 / (1 - leverage))[:, None])
    hc2 = inverse @ meat @ inverse
    dof_slope, dof_rms = numbers["dof_slope"][k - 1], numbers["dof_rms"][k - 1]
    assert 1 <= dof_slope <= k - 2 and 1 <= dof_rms <= k - 2
    t_slope, t_rms = float(_t_quantile(0.975, dof_slope)), float(_t_quantile(0.975, dof_rms))
    assert numbers["slope_half_width"][k - 1] >= t_slope * np.sqrt(hc2[1, 1]) * (1 - 1e-9)
    assert numbers["rms_half_width"][k - 1] >= t_rms * np.sqrt(np.trace(hc2 @ moment)) * (1 - 1e-9)
    assert np.isnan(numbers["rms_half_width"][:2]).all()
    # vectorised over leading axes: two series at once give each one's numbers
    both = stop_numbers(np.stack([x, x[::-1]]), np.stack([y, y[::-1]]), pop.mean(), pop.var())
    np.testing.assert_allclose(
        both["rms_half_width"][0], stop_numbers(x, y, pop.mean(), pop.var())["rms_half_width"]
    )
    mask = settled_mask(both)
    assert mask.shape == (2, 30) and not mask[:, :21].any()  # 20 in the line, held for 3


def test_stop_rule_settles_on_a_precise_negative_line():
    pop = Population.from_x(population_x())
    points = synthetic_points(60, seed=5, noise=0.1)
    check = stop_rule(points, pop)
    assert check.settled and check.more_needed == 0 and check.unmet == ()
    assert check.rms_half_width <= 0.073 and check.slope_half_width <= 0.1 and check.slope < 0
    statement = sentences.stop_statement(check)
    assert statement.startswith("Settled") and "±" in statement
    assert statement.count(f"{check.rms_half_width:.3f}") == 1  # each number once
    assert stop_rule(points, population_x()).rms_half_width == pytest.approx(
        check.rms_half_width, rel=0.02
    )
    assert check.as_dict()["n"] == 60
    running = running_fit(points, population=pop)
    assert np.isfinite(running["rms_half_width"].iloc[-1])


def test_stop_rule_says_what_is_missing_and_how_many_more():
    pop = Population.from_x(population_x())
    few = stop_rule(synthetic_points(12, seed=6, noise=0.1), pop)
    assert not few.settled and "min-annotations" in few.unmet
    assert few.more_needed >= 10  # 20 in the line, held for 3 annotations
    noisy = synthetic_points(30, seed=7, noise=0.45)
    check = stop_rule(noisy, pop)
    assert not check.settled and check.more_needed > 0
    statement = sentences.stop_statement(check)
    assert "known to" in statement and f"about {check.more_needed} more" in statement
    # about that many more from the same design about reach the target
    more = synthetic_points(30 + check.more_needed, seed=8, noise=0.45)
    after = stop_rule(more, pop)
    assert after.rms_half_width <= 0.073 * 1.25 and after.slope_half_width <= 0.1 * 1.25
    positive = stop_rule(synthetic_points(60, seed=9, slope=0.5), pop)
    assert not positive.settled and positive.more_needed is None
    assert positive.blocker == "positive-slope" and "negative" in positive.unmet
    none = stop_rule(synthetic_points(2, seed=9), pop)
    assert not none.settled and none.blocker == "no-line" and none.more_needed == 18
    assert "no line yet" in sentences.stop_statement(none)


def test_the_demo_projects_fit_is_judged_over_its_keypoints(demo, data):
    population = project_population(data)
    assert population.n == sum(c.size for c in demo.confidences.values())  # all positioned
    points = fit_project(data=data, records=annotate_truth(demo, 40, seed=4)).points
    check = stop_rule(points, population)
    assert check.settled, sentences.stop_statement(check)  # the demo's noise is small
    assert check.slope == pytest.approx(TRUE_SLOPE, abs=check.slope_half_width)
    band = prediction_band(points, population)
    truth = TRUE_SLOPE * band["log10_confidence"] + TRUE_INTERCEPT
    inside = (band["band_low"] <= truth) & (truth <= band["band_high"])
    assert np.average(inside, weights=band["keypoints"]) > 0.9


def test_annotate_pages_stop_status_is_the_fit_pages_verdict(demo, data):
    """workflows.stop_status (no bootstrap) gives the fit page's StopCheck, from the same
    annotations: "not visible", cleared and unloaded samples are left out alike."""
    from kpcal_core.annotations import CLEARED

    records = annotate_truth(demo, 30, seed=5)
    keys = list(records)
    records[keys[0]] = Annotation(math.nan, math.nan, "tester", "2025", NOT_VISIBLE)
    records[keys[1]] = Annotation(math.nan, math.nan, "tester", "2025", CLEARED)
    records[("not-loaded", 0, demo.bodyparts[0])] = Annotation(1.0, 1.0, "tester", "2025")
    population = project_population(data)
    rule = stop_rule(fit_project(data=data, records=records).points, population)

    def numbers(check):
        return (check.settled, check.n, check.n_used, check.slope, check.rms_half_width)

    for given in (population, None):
        status = workflows.stop_status(data, records, given)
        assert numbers(status) == numbers(rule) and status.n == 28
        # it also knows the drawn samples left and the keypoints left to annotate
        assert status.samples_left is not None and status.candidates == population.n - 29
    for n in (0, 1, 5, 19, 20):
        part = dict(list(records.items())[2 : 2 + n])
        status = workflows.stop_status(data, part, population)
        rule = stop_rule(project_points(data, part), population)
        assert (status.settled, status.rms_half_width, status.slope) == pytest.approx(
            (rule.settled, rule.rms_half_width, rule.slope), nan_ok=True
        )
        assert not status.settled and status.n == n  # 20 with the targets held for 3 first


def test_prediction_band_over_the_population():
    pop = Population.from_x(population_x(), n_hist_bins=40)
    points = synthetic_points(50, seed=10, noise=0.2)
    band = prediction_band(points, pop)
    assert list(band.columns) == list(PREDICTION_BAND_COLUMNS) and len(band) == 40
    assert band["keypoints"].sum() == pop.n
    assert (band["band_low"] < band["predicted"]).all()
    assert (band["predicted"] < band["band_high"]).all()
    slope, intercept = np.polyfit(points["log10_confidence"], points["log10_error"], 1)
    np.testing.assert_allclose(band["predicted"], slope * band["log10_confidence"] + intercept)
    width = band["band_high"] - band["band_low"]
    # its RMS over the population is the stop rule's number
    rms = np.sqrt(np.average((width / 2) ** 2, weights=band["keypoints"]))
    assert rms == pytest.approx(stop_rule(points, pop).rms_half_width, rel=0.05)
    with pytest.raises(NotEnoughAnnotations):
        prediction_band(points.iloc[:2], pop)


# --------------------------------------------------------------------------- per bodypart


def test_per_bodypart_flags_only_the_bodypart_annotated_off_target(demo, data):
    fair = fit_project(data=data, records=annotate_truth(demo, 240, seed=3)).points
    result = per_bodypart_fits(fair, n_resamples=500, seed=0)
    assert result.differs == ()
    table = result.table
    assert list(table["bodypart"]) == sorted(demo.bodyparts)
    assert (table["n"] >= 5).all() and table["slope"].notna().all()

    biased = annotate_truth(demo, 240, seed=3, offsets={"tail_base": (8.0, 0.0)})
    result = per_bodypart_fits(fit_project(data=data, records=biased).points, 500, 0)
    assert result.differs == ("tail_base",)
    row = result.table.set_index("bodypart").loc["tail_base"]
    judged = {j.bodypart: j for j in result.judgements}["tail_base"]
    assert row["differs"] and judged.verdict is Verdict.DIFFERS and judged.gaps
    assert judged.against_others
    assert "do not overlap" in sentences.bodypart_reason(judged)
    assert result.pooled.n == 240


def test_per_bodypart_seldom_flags_bodyparts_that_share_one_line():
    flagged = 0
    for trial in range(40):
        points = synthetic_points(240, seed=2000 + trial, noise=0.1)
        points["bodypart"] = np.repeat(list("abcdef"), 40)
        flagged += bool(per_bodypart_fits(points, n_resamples=300, seed=trial).differs)
    assert flagged <= 4  # well under 10% of projects get a false flag


def test_per_bodypart_leaves_small_groups_unflagged():
    points = synthetic_points(60, seed=8)
    points.loc[:2, "bodypart"] = "rare"
    result = per_bodypart_fits(points, n_resamples=200)
    rare = result.table.set_index("bodypart").loc["rare"]
    assert rare["n"] == 3 and math.isnan(rare["slope"]) and not rare["differs"]
    judged = {j.bodypart: j for j in result.judgements}["rare"]
    assert judged.verdict is Verdict.TOO_FEW and judged.n == 3
    assert "too few" in sentences.bodypart_reason(judged)


# --------------------------------------------------------------------------- robust


def test_robust_fits_resist_ten_percent_outliers(demo, data):
    points = fit_project(data=data, records=annotate_truth(demo, 200, seed=4)).points
    rng = np.random.default_rng(0)
    bad = rng.choice(len(points), size=len(points) // 10, replace=False)
    # wrong clicks: large errors where the network was confident
    points.loc[bad, "log10_confidence"] = rng.uniform(-0.3, 0.0, bad.size)
    points.loc[bad, "log10_error"] = rng.uniform(1.2, 1.8, bad.size)
    ols = bootstrap_fit(points, n_resamples=1)
    ols_miss = abs(ols.slope - TRUE_SLOPE)
    for method in ("theil-sen", "huber"):
        robust = robust_fit(points, method)
        assert robust["method"] == method
        assert abs(robust["slope"] - TRUE_SLOPE) < ols_miss / 2, (method, robust, ols)
        assert abs(robust["intercept"] - TRUE_INTERCEPT) < abs(ols.intercept - TRUE_INTERCEPT)
    assert robust_fit(points, "huber")["converged"]


def test_theil_sen_is_the_median_of_pairwise_slopes():
    points = synthetic_points(30, seed=9)
    x = points["log10_confidence"].to_numpy()
    y = points["log10_error"].to_numpy()
    pairwise = [(y[j] - y[i]) / (x[j] - x[i]) for i in range(30) for j in range(i + 1, 30)]
    slope = float(np.median(pairwise))
    fit = robust_fit(points)
    assert fit["slope"] == pytest.approx(slope, rel=1e-12)
    assert fit["intercept"] == pytest.approx(float(np.median(y - slope * x)), rel=1e-12)
    assert fit["exact"] and fit["n_pairs"] == 435
    sampled = robust_fit(synthetic_points(400, seed=9), max_pairs=20_000, seed=1)
    assert not sampled["exact"] and sampled["slope"] == pytest.approx(TRUE_SLOPE, abs=0.02)
    with pytest.raises(KpcalError, match="unknown robust method"):
        robust_fit(points, "ransac")


def test_robust_fit_of_a_thousand_points_is_quick():
    points = synthetic_points(2000, seed=10)
    start = time.perf_counter()
    robust_fit(points)
    assert time.perf_counter() - start < 5  # ~2M pairs, vectorised


# --------------------------------------------------------------------------- residuals, counts, project


def test_largest_residuals_lists_the_worst_annotations_first():
    points = synthetic_points(50, seed=11)
    points.loc[17, "log10_error"] += 1.0
    points.loc[33, "log10_error"] -= 0.6
    fit = {"slope": TRUE_SLOPE, "intercept": TRUE_INTERCEPT}
    worst = largest_residuals(points, fit, n=3)
    assert list(worst["frame"][:2]) == [17, 33]
    assert list(worst.columns[:7]) == [
        "recording",
        "frame",
        "bodypart",
        "confidence",
        "error_px",
        "line_error_px",
        "residual",
    ]
    expected = points.loc[17, "log10_error"] - (
        TRUE_SLOPE * points.loc[17, "log10_confidence"] + TRUE_INTERCEPT
    )
    assert worst["residual"].iloc[0] == pytest.approx(expected)
    assert len(largest_residuals(points, fit, n=500)) == 50


def test_annotation_counts():
    records = {
        ("r", 0, "a"): Annotation(1.0, 2.0),
        ("r", 1, "a"): Annotation(math.nan, math.nan, status=NOT_VISIBLE),
        ("r", 2, "a"): Annotation(math.nan, math.nan, status="cleared"),
        ("r", 3, "a"): (4.0, 5.0),
    }
    assert annotation_counts(records) == {"positions": 2, "not_visible": 1, "cleared": 1}
    assert annotation_counts([]) == {"positions": 0, "not_visible": 0, "cleared": 0}


def test_fit_project_leaves_out_not_visible_and_unloaded_and_matches_fit_error_model(demo, data):
    records = annotate_truth(demo, 40, seed=5)
    key = next(iter(records))
    records[key] = Annotation(math.nan, math.nan, "tester", "2030", NOT_VISIBLE)
    records[("not-loaded", 3, "nose")] = Annotation(1.0, 1.0, "tester", "2030")
    result = fit_project(data=data, records=records)
    assert result.counts == {"positions": 40, "not_visible": 1, "cleared": 0}
    assert result.n_left_out == 1 and result.fit.n == 39
    positions = {k: v for k, v in records.items() if v.has_position and k[0] != "not-loaded"}
    reference = fit_error_model(demo.coordinates, demo.confidences, positions, demo.bodyparts)
    assert result.fit.slope == pytest.approx(reference["slope"], rel=1e-12)
    assert result.fit.intercept == pytest.approx(reference["intercept"], rel=1e-12)
    assert {"annotator", "annotated_at"} <= set(result.points.columns)
    assert set(project_points(data, records)["annotator"]) == {"tester"}
    with pytest.raises(NotEnoughAnnotations, match="annotate more"):
        fit_project(data=data, records=dict(list(records.items())[:1]))
    with pytest.raises(KpcalError, match="does not exist"):
        fit_project(demo.project_dir / "missing")


# --------------------------------------------------------------------------- annotators


def three_annotators() -> dict:
    s1, s2, s3 = ("rec", 0, "nose"), ("rec", 1, "nose"), ("rec", 2, "tail")
    return {
        "ann": {
            s1: Annotation(0.0, 0.0, "ann", "t1"),
            s2: Annotation(10.0, 10.0, "ann", "t1"),
            s3: Annotation(5.0, 5.0, "ann", "t1", video_frame=7),
        },
        "bob": {
            s1: Annotation(3.0, 4.0, "bob", "t2"),
            s2: Annotation(10.0, 10.0, "bob", "t2"),
            s3: Annotation(math.nan, math.nan, "bob", "t2", NOT_VISIBLE),
        },
        "cy": {s1: Annotation(0.0, 8.0, "cy", "t3")},
    }


def test_agreement_distances_on_a_hand_made_example():
    result = annotator_agreement(three_annotators())
    table = result.distances
    got = {(r.frame, r.annotator_a, r.annotator_b): r.distance_px for r in table.itertuples()}
    # sample 0: ann (0,0), bob (3,4), cy (0,8); sample 1: ann and bob both at (10,10)
    assert got == {
        (0, "ann", "bob"): 5.0,
        (0, "ann", "cy"): 8.0,
        (0, "bob", "cy"): 5.0,
        (1, "ann", "bob"): 0.0,
    }
    assert result.n_annotators == 3 and result.n_shared_samples == 2
    assert result.n_pairs == 4 and result.visibility_disagreements == 1
    assert result.median_px == 5.0
    assert result.p90_px == pytest.approx(np.percentile([0.0, 5.0, 5.0, 8.0], 90))
    assert result.mean_px == 4.5 and result.max_px == 8.0
    by_pair = result.by_pair.set_index(["annotator_a", "annotator_b"])
    assert by_pair.loc[("ann", "bob"), "n"] == 2 and by_pair.loc[("ann", "bob"), "median_px"] == 2.5
    statement = sentences.agreement_statement(result)
    assert "human error floor" in statement and "not visible" in statement


def test_agreement_from_pairs_keeps_each_annotators_newest_click():
    key = ("rec", 0, "nose")
    history = [
        (key, Annotation(0.0, 0.0, "ann", "2025-01-01T00:00:01")),
        (key, Annotation(6.0, 8.0, "ann", "2025-01-01T00:00:09")),  # ann's newer click
        (key, Annotation(0.0, 0.0, "bob", "2025-01-01T00:00:05")),
    ]
    result = annotator_agreement(history)
    assert result.distances["distance_px"].tolist() == [10.0]
    alone = annotator_agreement(history[:2])
    assert alone.n_pairs == 0 and math.isnan(alone.median_px)
    assert "No sample" in sentences.agreement_statement(alone)


def test_mean_clicks_are_fittable_annotations():
    mean = mean_click_annotations(three_annotators())
    s1, s2, s3 = ("rec", 0, "nose"), ("rec", 1, "nose"), ("rec", 2, "tail")
    assert mean[s1].xy == pytest.approx((1.0, 4.0))
    assert mean[s1].annotator == "ann+bob+cy" and mean[s1].annotated_at == "t3"
    assert mean[s2].xy == (10.0, 10.0)
    assert mean[s3].xy == (5.0, 5.0) and mean[s3].video_frame == 7  # bob's "not visible" outvoted
    shared = mean_click_annotations(three_annotators(), min_annotators=2)
    assert set(shared) == {s1, s2}
    nobody = mean_click_annotations(
        {"a": {s3: Annotation(math.nan, math.nan, "a", "t", NOT_VISIBLE)}}
    )
    assert nobody[s3].status == NOT_VISIBLE
    assert "rec,0,0,nose,1.0,4.0" in format_annotations(mean, None)


def test_annotator_files_are_labelled_by_their_annotator(tmp_path):
    by_name = three_annotators()
    paths = []
    for name in ("ann", "bob"):
        path = tmp_path / name / "error_annotations.csv"
        path.parent.mkdir()
        path.write_text(format_annotations(by_name[name], None), encoding="utf-8")
        paths.append(path)
    loaded = load_annotator_files(paths)
    assert sorted(loaded) == ["ann", "bob"]
    assert annotator_agreement(loaded).n_pairs == 2
    with pytest.raises(KpcalError, match="does not exist"):
        load_annotator_files([tmp_path / "nope.csv"])
    with pytest.raises(KpcalError, match="given twice"):
        load_annotator_files([paths[0], paths[0]])


def test_excel_saved_csv_with_bom_loads_as_project_annotations_and_for_agreement(tmp_path):
    """One text reader: a byte order mark (Excel's "CSV UTF-8") is skipped everywhere."""
    by_name = three_annotators()
    paths = []
    for name in ("ann", "bob"):
        project = tmp_path / name
        project.mkdir()
        path = annotations_path(project)
        path.write_bytes(format_annotations(by_name[name], None).encode("utf-8-sig"))
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
        assert load_annotation_records(project) == by_name[name]
        assert load_working_annotations(project) == by_name[name]
        paths.append(path)
    loaded = load_annotator_files(paths)
    assert sorted(loaded) == ["ann", "bob"]
    assert annotator_agreement(loaded).n_pairs == 2
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        format_annotations({("é", 0, "nose"): by_name["ann"][("rec", 0, "nose")]}, None).encode(
            "latin-1"
        )
    )
    with pytest.raises(KpcalError, match="not UTF-8") as info:
        load_annotator_files([paths[0], latin])
    assert "latin.csv" in str(info.value) and "byte" in str(info.value)
