"""Statistics on the ground floor (issue 22, items 2 and 3): pure modules, typed results.

The statistics modules read and write no file (``lint-imports``' contract lists each), stay
under 700 lines and say what they own; the running least-squares update is written once;
the results are frozen dataclasses, and ``kpcal fit --json`` says them as before.
"""

from __future__ import annotations

import dataclasses
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpcal_core import lines, running, stopping
from kpcal_core.agreement import Agreement, annotator_agreement
from kpcal_core.annotations import Annotation
from kpcal_core.fitting import FittedLine, LineFit, fit_by_method, fit_points
from kpcal_core.intervals import BootstrapFit, bootstrap_fit
from kpcal_core.per_bodypart import PerBodypartFits, per_bodypart_fits
from kpcal_core.planning import Population
from kpcal_core.stop_check import StopCheck, StopSettings, stop_rule

REPO = Path(__file__).resolve().parents[2]
STATISTICS = (
    "lines",
    "fitting",
    "gross_errors",
    "intervals",
    "running",
    "stopping",
    "stop_check",
    "per_bodypart",
    "planning",
    "sampling",
)


def line_points(n: int = 60, seed: int = 0, bodyparts=("nose", "tail")) -> pd.DataFrame:
    """An ``error_points``-like table around y = -0.5 x + 0.2, annotated in row order."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.5, 0.0, n)
    y = -0.5 * x + 0.2 + rng.normal(0, 0.1, n)
    return pd.DataFrame(
        {
            "recording": "rec",
            "frame": np.arange(n),
            "bodypart": np.resize(np.array(bodyparts), n),
            "confidence": 10**x,
            "error_px": 10**y - 1,
            "log10_confidence": x,
            "log10_error": y,
            "annotated_at": [f"{i:06d}" for i in range(n)],
        }
    )


def test_the_statistics_modules_are_listed_in_the_contract_small_and_say_what_they_own():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    [pure] = [c for c in contracts if c["name"] == "The statistics read and write no file"]
    assert sorted(pure["source_modules"]) == sorted(f"kpcal_core.{m}" for m in STATISTICS)
    for forbidden in ("project", "session", "config", "annotations", "fit_service", "workflows"):
        assert f"kpcal_core.{forbidden}" in pure["forbidden_modules"]
    # the one fit service, not the statistics, reads the project
    source = (REPO / "kpcal_core" / "fit_service.py").read_text(encoding="utf-8")
    assert "from .project import" in source


def test_one_running_least_squares_update_for_the_running_fit_and_the_projection():
    x = np.random.default_rng(1).uniform(-2, 0, 30)
    y = -0.6 * x + 0.1 + np.random.default_rng(2).normal(0, 0.1, 30)
    sums = lines.running_least_squares(x, y)
    for k in (2, 3, 17, 30):
        slope, intercept = np.polyfit(x[:k], y[:k], 1)
        assert sums.sxy[k - 1] / sums.sxx[k - 1] == pytest.approx(slope, rel=1e-9)
        got = sums.mean_y[k - 1] - slope * sums.mean_x[k - 1]
        assert got == pytest.approx(intercept, rel=1e-9, abs=1e-12)
    # the running fit and the stop rule's projection over the drawn samples run this code
    update = lines.running_least_squares.__code__
    callers: list[str] = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code is update:
            callers.append(frame.f_back.f_code.co_name)

    points = line_points()
    population = Population.from_x(np.random.default_rng(3).uniform(-2.5, 0, 5000))
    sys.setprofile(profile)
    try:
        running.running_fit(points)
        stop_rule(points.iloc[:8], population, remaining=[-1.0, -2.0, -0.5])
    finally:
        sys.setprofile(None)
    assert sorted(set(callers)) == ["projected_half_widths", "running_fit"]
    assert running.running_least_squares is stopping.running_least_squares


def test_the_statistics_return_frozen_typed_results():
    points = line_points()
    results = {
        LineFit: fit_points(points),
        FittedLine: fit_by_method(points, "theil-sen"),
        BootstrapFit: bootstrap_fit(points, n_resamples=50),
        PerBodypartFits: per_bodypart_fits(points, n_resamples=50),
        Agreement: annotator_agreement(
            {
                "ann": {("rec", 0, "nose"): Annotation(1.0, 1.0, "ann", "1")},
                "bob": {("rec", 0, "nose"): Annotation(4.0, 5.0, "bob", "2")},
            }
        ),
    }
    for kind, result in results.items():
        assert type(result) is kind
        field = dataclasses.fields(result)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(result, field, None)
    assert results[Agreement].n_pairs == 1 and results[Agreement].median_px == 5.0
    assert results[FittedLine].details["n_pairs"] > 0
    assert set(results[LineFit].per_bodypart) == {"nose", "tail"}


def test_the_stop_check_is_built_from_typed_settings():
    population = Population.from_x(np.random.default_rng(3).uniform(-2.5, 0, 5000))
    check = stop_rule(line_points(), population, rms_target=0.05, held=2)
    assert isinstance(check, StopCheck)
    assert check.settings == StopSettings(rms_target=0.05, held=2)
    assert (check.rms_target, check.held, check.level) == (0.05, 2, 0.95)
    plain = check.as_dict()
    assert "settings" not in plain
    assert {k: plain[k] for k in ("level", "rms_target", "slope_target")} == {
        "level": 0.95,
        "rms_target": 0.05,
        "slope_target": stopping.STOP_SLOPE_HALF_WIDTH,
    }
    assert plain["min_annotations"] == stopping.STOP_MIN_ANNOTATIONS and plain["held"] == 2


def test_the_running_fit_says_no_words_and_the_sentences_say_its_slope_rule():
    from kpcal_core import sentences
    from kpcal_core.running import SlopeSettled, running_fit, slope_settled

    source = (REPO / "kpcal_core" / "running.py").read_text(encoding="utf-8")
    assert "wording" not in source and "sentences import" not in source
    table = running_fit(line_points(200))
    check = slope_settled(table, window=10)
    assert isinstance(check, SlopeSettled) and check.enough
    assert sentences.has_settled(table, window=10) == (
        check.settled,
        sentences.slope_settled_statement(check),
    )
    early = slope_settled(table.iloc[:8])
    assert not early.enough and "Too early" in sentences.slope_settled_statement(early)


# --------------------------------------------------------------------------- no words


def test_the_statistics_say_no_words_and_the_contract_keeps_it_so():
    """The statistics (and agreement) return numbers and typed facts: no sentence, no grammar."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    [words] = [c for c in contracts if c["name"] == "The statistics say no words"]
    expected = sorted(f"kpcal_core.{m}" for m in (*STATISTICS, "agreement"))
    assert sorted(words["source_modules"]) == expected
    assert sorted(words["forbidden_modules"]) == ["kpcal_core.sentences", "kpcal_core.wording"]
    assert words["ignore_imports"] == ["kpcal_core.fitting -> kpcal_core.wording"]
    for module in ("per_bodypart", "agreement"):
        source = (REPO / "kpcal_core" / f"{module}.py").read_text(encoding="utf-8")
        assert "wording" not in source.split('"""', 2)[2], module  # the docstring may name it

    fits = per_bodypart_fits(line_points(), n_resamples=50)
    assert "reason" not in fits.table.columns
    assert [j.bodypart for j in fits.judgements] == list(fits.table["bodypart"])
    agreement = annotator_agreement(
        {
            "ann": {("rec", 0, "nose"): Annotation(1.0, 1.0, "ann", "1")},
            "bob": {("rec", 0, "nose"): Annotation(4.0, 5.0, "bob", "2")},
        }
    )
    results = [agreement, fits, *fits.judgements]
    for result in results:
        for field in dataclasses.fields(result):
            value = getattr(result, field.name)
            sentence = isinstance(value, str) and " " in value
            assert not sentence, f"{type(result).__name__}.{field.name} is a sentence: {value!r}"


def _judgement(verdict, n=12, n_confidences=9, against_others=False, gaps=()):
    from kpcal_core.per_bodypart import BodypartJudgement

    return BodypartJudgement("nose", verdict, n, n_confidences, 5, 0.95, against_others, gaps)


def test_the_bodypart_reason_says_what_the_statistic_said():
    """Word for word what per_bodypart_fits wrote into its ``reason`` column before."""
    from kpcal_core.per_bodypart import IntervalGap, Verdict
    from kpcal_core.sentences import bodypart_reason

    assert bodypart_reason(_judgement(Verdict.TOO_FEW, 3, 3)) == (
        "3 annotations at 3 confidences: too few for a line of its own (need 5)"
    )
    assert bodypart_reason(_judgement(Verdict.TOO_FEW, 1, 1)) == (
        "1 annotation at 1 confidence: too few for a line of its own (need 5)"
    )
    assert bodypart_reason(_judgement(Verdict.FOLLOWS)) == (
        "its 95% intervals overlap those of the pooled line"
    )
    assert bodypart_reason(_judgement(Verdict.FOLLOWS, against_others=True)) == (
        "its 95% intervals overlap those of the shared line of the other bodyparts"
    )
    gaps = (
        IntervalGap("slope", -0.1611, -0.37742, -0.0446, -0.5131, -0.5444, -0.4864),
        IntervalGap("intercept", 1.2222, 0.6930, 1.3579, 0.4630, 0.4214, 0.5040),
    )
    assert bodypart_reason(_judgement(Verdict.DIFFERS, against_others=True, gaps=gaps)) == (
        "its 95% intervals do not overlap those of the shared line of the other bodyparts: "
        "slope -0.161 [-0.377, -0.045] vs -0.513 [-0.544, -0.486]; "
        "intercept 1.222 [0.693, 1.358] vs 0.463 [0.421, 0.504]"
    )
    assert bodypart_reason(_judgement(Verdict.DIFFERS, against_others=True)) == (
        "its 95% intervals do not overlap those of the shared line of the other bodyparts: "
        "(they did when it was flagged)"
    )


def test_the_fit_page_table_gets_its_reasons_from_the_sentences():
    from kpcal_core import sentences, workflows
    from kpcal_core.per_bodypart import PER_BODYPART_COLUMNS, Verdict

    points = line_points(80, bodyparts=("nose", "tail", "ear"))
    points.loc[points["bodypart"] == "ear", "log10_error"] += 0.8  # a bodypart far off
    points.loc[:3, "bodypart"] = "rare"
    diag = workflows.fit_diagnostics(points)
    table = diag.bodypart_table
    assert list(table.columns) == [*PER_BODYPART_COLUMNS, "reason"]
    pd.testing.assert_frame_equal(table.drop(columns="reason"), diag.per_bodypart.table)
    judged = {j.bodypart: j for j in diag.per_bodypart.judgements}
    assert judged["ear"].verdict is Verdict.DIFFERS and judged["rare"].verdict is Verdict.TOO_FEW
    assert judged["nose"].verdict is Verdict.FOLLOWS
    assert list(table["reason"]) == [
        sentences.bodypart_reason(judged[name]) for name in table["bodypart"]
    ]
    assert (
        table.set_index("bodypart")
        .loc["ear", "reason"]
        .startswith(
            "its 95% intervals do not overlap those of the shared line of the other bodyparts: "
            "intercept "  # shifted up: the intercept differs
        )
    )


def test_the_agreement_statement_says_what_the_statistic_said():
    from kpcal_core.sentences import agreement_statement

    def said(clicks):
        return agreement_statement(annotator_agreement(clicks))

    key, other = ("r", 0, "nose"), ("r", 1, "nose")
    assert said(
        {
            "a": {key: Annotation(1, 1, "a", "1"), other: Annotation(1, 1, "a", "1")},
            "b": {
                key: Annotation(1, 1, "b", "1", status="not_visible"),
                other: Annotation(4, 5, "b", "1"),
            },
            "c": {other: Annotation(2, 5, "c", "1")},
        }
    ) == (
        "3 annotators positioned 1 of the same samples: their clicks are 4.12 px apart at the "
        "median and 4.82 px at the 90th percentile (the human error floor). On 1 sample one "
        "annotator clicked a position and another marked the bodypart not visible."
    )
    assert said({"a": {key: Annotation(1, 1, "a", "1")}}) == (
        "No sample was positioned by two or more of the 1 annotator: have several people "
        "annotate the same samples to measure agreement."
    )
