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
