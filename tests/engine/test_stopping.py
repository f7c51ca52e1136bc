"""The stop rule on the keypoint populations of real projects (issue 20).

Each finding of issue 20 about the stop rule is reproduced here on small
vectorised simulations (the bench, ``bench/bench_design.py``, measures them
at scale): noise that grows at low confidence, a few percent of gross errors,
a population at one confidence, one low-confidence keypoint, and advice that
asks for more annotations than the drawn samples (or the project) hold.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpcal_core import sentences
from kpcal_core.diagnostics import (
    STOP_RMS_HALF_WIDTH,
    settled_mask,
    stop_numbers,
    stop_rule,
)
from kpcal_core.planning import Population
from kpcal_core.stopping import (
    gross_error_mask,
    line_numbers,
    satterthwaite_dof,
    t_quantile,
)


def points_of(x, y, bodypart="nose"):
    """An error_points-like table of ``(n,)`` x = log10 confidence and y = log10(error + 1)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    return pd.DataFrame(
        {
            "recording": "rec",
            "frame": np.arange(len(x)),
            "bodypart": bodypart,
            "confidence": 10**x,
            "error_px": 10**y - 1,
            "log10_confidence": x,
            "log10_error": y,
            "annotated_at": [f"{i:06d}" for i in range(len(x))],
        }
    )


def mixture_x(n, rng):
    """log10 confidences of a typical population: mostly confident, a low tail."""
    u = rng.random(n)
    conf = np.where(u < 0.8, rng.beta(8, 1, n), 10 ** rng.uniform(-3, 0, n))
    return np.log10(conf + 1e-3)


# --------------------------------------------------------------------------- the numbers


def test_t_quantile_matches_student_t_tables_for_real_degrees_of_freedom():
    # t_{0.975} from tables (2.5: scipy.stats.t.ppf)
    exact = {1: 12.7062, 2: 4.30265, 2.5: 3.57465, 3: 3.18245, 5: 2.57058, 10: 2.22814}
    exact.update({30: 2.04227, 1e9: 1.95996, math.inf: 1.95996})
    for dof, value in exact.items():
        assert float(t_quantile(0.975, dof)) == pytest.approx(value, rel=2e-4), dof
    assert float(t_quantile(0.95, 4)) == pytest.approx(2.13185, rel=2e-4)


def test_satterthwaite_degrees_of_freedom_are_those_of_the_matrices():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 0.1, 12), [-2.0, -2.5, -1.5]])
    m = len(x)
    design = np.stack([np.ones(m), x], axis=1)
    hat = design @ np.linalg.inv(design.T @ design) @ design.T
    residual_maker = np.eye(m) - hat
    g = rng.random(m)
    expected = float((g * (1 - np.diag(hat))).sum())
    variance = 2 * float(np.sum(np.outer(g, g) * residual_maker**2))
    xc = x - x.mean()
    dof = satterthwaite_dof(g, np.diag(hat), xc, np.array((xc**2).sum()), np.array(float(m)))
    assert float(dof) == pytest.approx(2 * expected**2 / variance, rel=1e-10)


def test_slope_interval_holds_its_95_percent_under_noise_that_grows_at_low_confidence():
    """Issue 20: clicking noise larger at low confidence, a design like the planned order's
    (a few low confidences, most annotations confident): the classical interval covered
    the slope in about 80% of runs. The stop rule's interval covers it in about 95%."""
    rng = np.random.default_rng(0)
    reps = 4000
    x = np.concatenate([np.linspace(-3, -1, 8), np.linspace(-0.25, 0, 32)])
    x = np.broadcast_to(x, (reps, len(x)))
    y = -0.55 * x + 0.5 + rng.normal(0, 1, x.shape) * (0.08 - 0.1 * x)
    numbers = stop_numbers(x, y, -0.3, 0.5, screen=False, steps=[x.shape[1]])
    covered = np.abs(numbers["slope"][:, -1] + 0.55) <= numbers["slope_half_width"][:, -1]
    classical = (
        np.abs(numbers["slope"][:, -1] + 0.55) <= numbers["slope_half_width_classical"][:, -1]
    )
    print(f"\ncoverage of the slope: {covered.mean():.3f} (classical {classical.mean():.3f})")
    assert classical.mean() < 0.88  # the finding, still there for the classical interval
    assert covered.mean() >= 0.93


# --------------------------------------------------------------------------- gross errors


def test_swaps_are_flagged_and_left_out_of_the_line():
    rng = np.random.default_rng(2)
    x = mixture_x(80, rng)
    y = -0.55 * x + 0.5 + rng.normal(0, 0.15, 80)
    swaps = np.array([5, 30, 61])
    x[swaps] = -0.02
    y[swaps] = np.log10(np.array([60.0, 120.0, 35.0]) + 1)  # clicks on another bodypart
    flagged, residual, spread, _ = gross_error_mask(x, y)
    assert set(np.flatnonzero(flagged)) == set(swaps.tolist())
    check = stop_rule(points_of(x, y), Population.from_x(mixture_x(20_000, rng)))
    assert check.n == 80 and check.n_used == 77 and check.n_left_out == 3
    assert {g.key[1] for g in check.gross_errors.flagged} == set(swaps.tolist())
    clean = np.polyfit(np.delete(x, swaps), np.delete(y, swaps), 1)
    assert check.slope == pytest.approx(clean[0]) and check.intercept == pytest.approx(clean[1])
    assert "left out of the line as likely swaps" in sentences.stop_statement(check)
    # a flagged annotation the user keeps is back in the line
    kept = stop_rule(
        points_of(x, y),
        Population.from_x(mixture_x(20_000, rng)),
        gross_errors=type(check.gross_errors)(
            tuple(
                type(g)(**{**g.__dict__, "kept": g.key[1] == 5}) for g in check.gross_errors.flagged
            )
        ),
    )
    assert kept.n_used == 78


def test_clean_noise_that_grows_at_low_confidence_is_not_flagged():
    rng = np.random.default_rng(3)
    reps = 300
    x = np.broadcast_to(mixture_x(120, rng), (reps, 120))
    y = -0.55 * x + 0.5 + rng.normal(0, 1, x.shape) * (0.08 - 0.1 * x)
    flagged, *_ = gross_error_mask(x, y)
    assert flagged.mean() < 0.005, flagged.mean()


def test_few_noisy_low_confidences_are_not_taken_for_gross_errors():
    """Issue 20 (H): with noise that grows at low confidence and a design like the planned
    order's at an early stop (most annotations confident, a few far below), the screen took
    an ordinary low-confidence click (2 standard deviations) for a gross error in 19% of
    runs; leaving it out bent the slope and "Settled" came with the slope more than 0.1 off
    in 7% of calls. The spread at a confidence few annotations tell is now judged by its
    upper bound, and the bulk by each residual's own spread. Swaps among the confident
    keypoints are still found."""
    rng = np.random.default_rng(4)
    reps = 400
    x = np.concatenate(
        [rng.uniform(-0.3, 0.0, (reps, 17)), rng.uniform(-2.7, -1.0, (reps, 8))], axis=1
    )
    y = -0.55 * x + 0.5 + rng.normal(0, 1, x.shape) * (0.08 - 0.1 * x)
    flagged, *_ = gross_error_mask(x, y)
    assert flagged.any(axis=1).mean() < 0.05  # 0.19 before, 0.02 now
    swapped = y.copy()
    swapped[:, 3] = np.log10(rng.uniform(20, 200, reps) + 1)  # a click on another animal
    flagged, *_ = gross_error_mask(x, swapped)
    assert flagged[:, 3].mean() > 0.95


def test_settled_calls_with_5_percent_swaps_keep_the_line_within_its_target():
    """Issue 20: with 5% identity swaps, 13-23% of "Settled" calls had a population RMSE
    above 0.073. Swaps flagged and left out, the line at the stop is within the target
    against the population's line without the swaps in at most about 5% of the calls."""
    rng = np.random.default_rng(4)
    reps, n = 400, 160
    population = mixture_x(50_000, rng)
    mu, var = population.mean(), population.var()
    # a planned-like design: a few low confidences, most where the population is
    x = np.where(rng.random((reps, n)) < 0.15, rng.uniform(-3, -1, (reps, n)), 0)
    x = np.where(x == 0, rng.choice(population, (reps, n)), x)
    y = -0.55 * x + 0.5 + rng.normal(0, 0.2, x.shape)
    swapped = rng.random(x.shape) < 0.05
    y[swapped] = np.log10(10 ** rng.uniform(np.log10(20), np.log10(200), swapped.sum()) + 1)
    y = np.maximum(y, 0)
    numbers = stop_numbers(x, y, mu, var)
    settled = settled_mask(numbers)
    assert settled.any(axis=1).mean() > 0.9
    stop = settled.argmax(axis=1)
    rows = np.arange(reps)[settled.any(axis=1)]
    slope = numbers["slope"][rows, stop[rows]]
    intercept = numbers["intercept"][rows, stop[rows]]
    d_intercept, d_slope = intercept - 0.5, slope + 0.55
    rmse = np.sqrt(d_intercept**2 + 2 * d_intercept * d_slope * mu + d_slope**2 * (var + mu**2))
    print(f"\nline off at the stop: {np.mean(rmse > STOP_RMS_HALF_WIDTH):.3f}")
    assert np.mean(rmse > STOP_RMS_HALF_WIDTH) <= 0.06


# --------------------------------------------------------------------------- edge cases


def test_a_population_at_one_confidence_never_asks_for_one_more_again_and_again():
    """Issue 20: every keypoint at one confidence gave "annotate about 1 more" forever."""
    rng = np.random.default_rng(5)
    population = Population.from_x(np.full(1000, math.log10(0.9 + 1e-3)))
    for n in (5, 20, 21, 40):
        x = np.full(n, math.log10(0.9 + 1e-3))
        check = stop_rule(points_of(x, 0.3 + rng.normal(0, 0.1, n)), population)
        assert not check.settled and check.more_needed is None
        assert check.blocker == "one-confidence"
        line = sentences.stop_status_line(check)
        assert "About" not in line and "same confidence" in line
        assert "More annotations will not change that" in sentences.stop_statement(check)


def test_annotations_exactly_on_a_flat_line_are_a_verdict_not_an_error():
    """Clicks exactly at the network's positions (every error 0, the line flat with no
    spread) ended the annotate page's stop status in a ZeroDivisionError (Chromium late-click
    test, whose pre-annotations are such clicks)."""
    rng = np.random.default_rng(8)
    population = Population.from_x(mixture_x(5000, rng))
    for n in (3, 12, 25):
        check = stop_rule(points_of(mixture_x(n, rng), np.zeros(n)), population)
        assert not check.settled
        assert sentences.stop_status_line(check)


def test_one_low_confidence_keypoint_does_not_ask_for_hundreds_more():
    """Issue 20: one low-confidence keypoint among confident ones gave "about 450 more"."""
    rng = np.random.default_rng(6)
    population_x = np.concatenate([np.log10(rng.uniform(0.85, 1.0, 5000) + 1e-3), [-2.5]])
    population = Population.from_x(population_x)
    x = np.concatenate([[-2.5], population_x[:39]])  # the planned order takes it first
    y = -0.55 * x + 0.5 + rng.normal(0, 0.1, 40)
    check = stop_rule(points_of(x, y), population)
    assert check.settled, (check.unmet, check.more_needed)
    assert check.slope_by_reach  # the slope barely matters over these keypoints
    assert "barely changes s0" in sentences.stop_statement(check)


def test_a_narrow_range_of_confidences_can_settle_on_the_line_alone():
    rng = np.random.default_rng(7)
    population = Population.from_x(np.log10(rng.uniform(0.4, 1.0, 20_000)))
    x = np.log10(rng.uniform(0.4, 1.0, 60))
    y = -0.5 * x + 0.4 + rng.normal(0, 0.1, 60)
    check = stop_rule(points_of(x, y), population)
    assert check.slope_half_width > 0.1  # the old rule's target, out of reach here
    assert check.settled and check.slope_reach <= STOP_RMS_HALF_WIDTH


def test_the_targets_must_hold_for_three_annotations_in_a_row():
    rng = np.random.default_rng(8)
    x = mixture_x(80, rng)
    y = -0.55 * x + 0.5 + rng.normal(0, 0.1, 80)
    population = Population.from_x(mixture_x(20_000, rng))
    numbers = stop_numbers(x, y, population.mean, population.variance)
    once = settled_mask(numbers, slope_lever=population.slope_lever, held=1)
    thrice = settled_mask(numbers, slope_lever=population.slope_lever)
    assert once.any() and not thrice[:21].any()
    np.testing.assert_array_equal(thrice[2:], once[2:] & once[1:-1] & once[:-2])
    first = int(np.argmax(thrice))
    check = stop_rule(points_of(x[: first + 1], y[: first + 1]), population)
    assert check.settled and check.held_count == 3
    before = stop_rule(points_of(x[:first], y[:first]), population)
    assert not before.settled and "held" in before.unmet or before.unmet


# --------------------------------------------------------------------------- advice


def test_advice_never_asks_for_more_than_the_drawn_samples_without_saying_draw_more():
    rng = np.random.default_rng(9)
    population = Population.from_x(mixture_x(20_000, rng))
    x = mixture_x(26, rng)
    y = -0.55 * x + 0.5 + rng.normal(0, 0.3, 26)
    points = points_of(x, y)
    # 4 drawn samples left, 100,000 keypoints in the project
    few_left = stop_rule(points, population, remaining=mixture_x(4, rng), candidates=100_000)
    assert not few_left.settled and few_left.more_needed > 4
    assert few_left.samples_left == 4 and few_left.draw_more == few_left.more_needed - 4
    statement = sentences.stop_statement(few_left)
    assert f"draw {few_left.draw_more:,} more samples" in statement
    assert "only 4 drawn samples are not annotated yet" in statement
    line = sentences.stop_status_line(few_left)
    assert f"draw {few_left.draw_more:,} more sample" in line
    # plenty left: annotate that many of them
    plenty = stop_rule(points, population, remaining=mixture_x(400, rng), candidates=100_000)
    assert plenty.draw_more == 0 and plenty.more_needed <= 400
    assert f"Annotate about {plenty.more_needed:,} more of your 400 drawn samples" in (
        sentences.stop_statement(plenty)
    )
    # a project with too few keypoints: it says so, and never asks for more than exist
    tiny = stop_rule(points, population, remaining=mixture_x(4, rng), candidates=10)
    assert tiny.blocker == "too-few-keypoints" and tiny.draw_more <= 10 - 4
    statement = sentences.stop_statement(tiny)
    assert "cannot reach the targets (too few keypoints)" in statement
    assert "As it stands the line is" in statement
    assert "draw" not in sentences.stop_status_line(tiny).lower()


def test_more_needed_counts_the_drawn_samples_confidences():
    """The projection uses the drawn samples' own confidences: samples all at one
    confidence cannot pin the slope, so more are needed than the square law says."""
    rng = np.random.default_rng(10)
    population = Population.from_x(mixture_x(20_000, rng))
    x = mixture_x(30, rng)
    y = -0.55 * x + 0.5 + rng.normal(0, 0.25, 30)
    spread = stop_rule(points_of(x, y), population, remaining=mixture_x(300, rng))
    same = stop_rule(points_of(x, y), population, remaining=np.full(300, -0.02))
    assert spread.more_needed < same.more_needed


def test_line_numbers_without_a_line_are_nan():
    numbers = line_numbers(
        np.array([0.1, 0.1, 0.1]), np.array([1.0, 2.0, 3.0]), np.ones(3, bool), 0, 1
    )
    assert np.isnan(numbers["slope_half_width"]) and np.isnan(numbers["rms_half_width"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    x=st.lists(st.sampled_from([-3.0, -2.0, -1.0, -0.5, -0.1, 0.0]), min_size=1, max_size=30),
    y=st.one_of(  # any errors, or one error for all (no spread at all)
        st.lists(st.sampled_from([0.0, 0.1, 0.5, 1.5, 3.0]), min_size=30, max_size=30),
        st.sampled_from([0.0, 0.5]).map(lambda error: [error] * 30),
    ),
    population=st.sampled_from(["one confidence", "wide", "narrow"]),
    remaining=st.integers(0, 50),
)
def test_any_annotations_give_a_verdict_in_words(x, y, population, remaining):
    """Degenerate annotations (one confidence, no spread, a handful, a rising line) give a
    verdict and its words, never an arithmetic error."""
    pools = {
        "one confidence": np.full(100, -0.5),
        "wide": np.linspace(-3.0, 0.0, 100),
        "narrow": np.linspace(-0.2, 0.0, 100),
    }
    pool = pools[population]
    check = stop_rule(
        points_of(np.array(x), np.array(y[: len(x)])),
        Population.from_x(pool),
        remaining=pool[:remaining],
    )
    assert sentences.stop_status_line(check) and sentences.stop_statement(check)
