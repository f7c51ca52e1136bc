"""fit_error_model: the same line keypoint-MoSeq fits, plus n, r2 and per-bodypart fits."""

from __future__ import annotations

import numpy as np
import pytest

from kpcal_core import Annotation, KpcalError, fit_error_model, predicted_error_px

BODYPARTS = ["nose", "ear", "tail"]


@pytest.fixture
def data():
    """Predictions, confidences and annotations whose error shrinks with confidence."""
    rng = np.random.default_rng(42)
    coordinates = {
        "rec_a": rng.uniform(0, 300, (80, 3, 2)),
        "rec_b": rng.uniform(0, 300, (50, 3, 2)),
    }
    confidences = {name: 10 ** rng.uniform(-3, 0, c.shape[:2]) for name, c in coordinates.items()}
    annotations = {}
    for name, coords in coordinates.items():
        for t in rng.choice(len(coords), 25, replace=False):
            for k, bp in enumerate(BODYPARTS):
                if rng.random() < 0.6:
                    size = 10 ** (-0.5 * np.log10(confidences[name][t, k]) + rng.normal(0, 0.2)) - 1
                    angle = rng.uniform(0, 2 * np.pi)
                    x, y = coords[t, k] + max(size, 0) * np.array([np.cos(angle), np.sin(angle)])
                    annotations[(name, int(t), bp)] = (float(x), float(y))
    return coordinates, confidences, annotations


def independent_points(coordinates, confidences, annotations, pseudocount):
    xs, ys, parts = [], [], []
    for (name, t, bp), (x, y) in annotations.items():
        k = BODYPARTS.index(bp)
        px, py = coordinates[name][t, k]
        error = np.sqrt((px - x) ** 2 + (py - y) ** 2)
        xs.append(np.log10(confidences[name][t, k] + pseudocount))
        ys.append(np.log10(error + 1))
        parts.append(bp)
    return np.array(xs), np.array(ys), parts


def r_squared(x, y, slope, intercept):
    residual = y - (slope * x + intercept)
    return 1 - np.sum(residual**2) / np.sum((y - y.mean()) ** 2)


@pytest.mark.parametrize("pseudocount", [1e-3, 1e-2, 0.0])
def test_matches_polyfit_computed_independently(data, pseudocount):
    coordinates, confidences, annotations = data
    fit = fit_error_model(coordinates, confidences, annotations, BODYPARTS, pseudocount)
    x, y, _ = independent_points(coordinates, confidences, annotations, pseudocount)
    slope, intercept = np.polyfit(x, y, 1)
    assert fit["slope"] == pytest.approx(slope, rel=1e-9, abs=1e-12)
    assert fit["intercept"] == pytest.approx(intercept, rel=1e-9, abs=1e-12)
    assert type(fit["slope"]) is float and type(fit["intercept"]) is float
    assert fit["n"] == len(annotations) and type(fit["n"]) is int
    assert fit["r2"] == pytest.approx(r_squared(x, y, slope, intercept), rel=1e-9)
    # for a least-squares line r2 is also the squared correlation
    assert fit["r2"] == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, rel=1e-9)
    assert fit["slope"] < 0  # the data were made so


def test_pseudocount_changes_the_fit(data):
    coordinates, confidences, annotations = data
    a = fit_error_model(coordinates, confidences, annotations, BODYPARTS, 1e-3)
    b = fit_error_model(coordinates, confidences, annotations, BODYPARTS, 1e-1)
    assert a["slope"] != pytest.approx(b["slope"], rel=1e-3)


def test_per_bodypart_fits(data):
    coordinates, confidences, annotations = data
    fit = fit_error_model(coordinates, confidences, annotations, BODYPARTS)
    x, y, parts = independent_points(coordinates, confidences, annotations, 1e-3)
    parts = np.array(parts)
    assert set(fit["per_bodypart"]) == set(BODYPARTS)
    for bp in BODYPARTS:
        entry = fit["per_bodypart"][bp]
        mask = parts == bp
        slope, intercept = np.polyfit(x[mask], y[mask], 1)
        assert entry["n"] == int(mask.sum())
        assert entry["slope"] == pytest.approx(slope, rel=1e-9)
        assert entry["intercept"] == pytest.approx(intercept, rel=1e-9)
        assert entry["r2"] == pytest.approx(r_squared(x[mask], y[mask], slope, intercept), rel=1e-9)
        assert entry["median_error_px"] == pytest.approx(np.median(10 ** y[mask] - 1), rel=1e-9)
    assert sum(e["n"] for e in fit["per_bodypart"].values()) == fit["n"]


def test_bodypart_with_one_annotation_has_no_line(data):
    coordinates, confidences, annotations = data
    subset = {k: v for k, v in annotations.items() if k[2] != "tail"}
    one_tail = next(k for k in annotations if k[2] == "tail")
    subset[one_tail] = annotations[one_tail]
    fit = fit_error_model(coordinates, confidences, subset, BODYPARTS)
    tail = fit["per_bodypart"]["tail"]
    assert tail["n"] == 1
    assert tail["slope"] is None and tail["intercept"] is None and tail["r2"] is None


def test_annotation_records_are_accepted(data):
    coordinates, confidences, annotations = data
    records = {
        k: Annotation(x, y, "me", "2025-01-01T00:00:00+00:00") for k, (x, y) in annotations.items()
    }
    plain = fit_error_model(coordinates, confidences, annotations, BODYPARTS)
    assert fit_error_model(coordinates, confidences, records, BODYPARTS) == plain


def test_exact_line_is_recovered():
    """Errors placed exactly on log10(err + 1) = -0.6 log10(c + pc) + 0.3."""
    conf = np.array([[0.001], [0.01], [0.1], [0.5], [0.9]])
    coords = np.zeros((5, 1, 2))
    error = 10 ** (-0.6 * np.log10(conf[:, 0] + 1e-3) + 0.3) - 1
    annotations = {("r", t, "nose"): (float(error[t]), 0.0) for t in range(5)}
    fit = fit_error_model({"r": coords}, {"r": conf}, annotations, ["nose"])
    assert fit["slope"] == pytest.approx(-0.6, abs=1e-9)
    assert fit["intercept"] == pytest.approx(0.3, abs=1e-9)
    assert fit["r2"] == pytest.approx(1.0, abs=1e-12)


def test_two_distinct_confidences_are_enough():
    conf = {"r": np.array([[0.2], [0.8]])}
    coords = {"r": np.zeros((2, 1, 2))}
    fit = fit_error_model(coords, conf, {("r", 0, "a"): (3, 4), ("r", 1, "a"): (0, 1)}, ["a"])
    assert fit["n"] == 2
    x = np.log10(np.array([0.2, 0.8]) + 1e-3)
    y = np.log10(np.array([5.0, 1.0]) + 1)
    assert fit["slope"] == pytest.approx((y[1] - y[0]) / (x[1] - x[0]))


@pytest.mark.parametrize(
    "annotations",
    [
        {},
        {("r", 0, "a"): (1.0, 1.0)},
        {("r", 0, "a"): (1.0, 1.0), ("r", 1, "a"): (5.0, 5.0)},  # same confidence twice
    ],
)
def test_fewer_than_two_distinct_points(annotations):
    conf = {"r": np.array([[0.5], [0.5], [0.9]])}
    coords = {"r": np.zeros((3, 1, 2))}
    with pytest.raises(KpcalError, match="two"):
        fit_error_model(coords, conf, annotations, ["a"])


GOOD_COORDS = {"r": np.zeros((4, 2, 2))}
GOOD_CONF = {"r": np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]])}
GOOD_ANN = {("r", 0, "a"): (1.0, 1.0), ("r", 1, "a"): (2.0, 2.0)}


@pytest.mark.parametrize(
    "coords, conf, extra, pseudocount, needle",
    [
        (GOOD_COORDS, GOOD_CONF, {("zz", 0, "a"): (1, 1)}, 1e-3, "zz"),
        (GOOD_COORDS, GOOD_CONF, {("r", 0, "paw"): (1, 1)}, 1e-3, "paw"),
        (GOOD_COORDS, GOOD_CONF, {("r", 9, "a"): (1, 1)}, 1e-3, "frame 9"),
        (GOOD_COORDS, GOOD_CONF, {("r", -1, "a"): (1, 1)}, 1e-3, "frame -1"),
        (GOOD_COORDS, GOOD_CONF, {("r", 2, "a"): (float("nan"), 1)}, 1e-3, "'r'"),
        (GOOD_COORDS, GOOD_CONF, {("r", 2, "a"): (1, float("inf"))}, 1e-3, "'r'"),
        (GOOD_COORDS, GOOD_CONF, {("r", 2, "a"): (1,)}, 1e-3, "'r'"),
        (GOOD_COORDS, GOOD_CONF, {("r", 2, "a"): ("x", "y")}, 1e-3, "'r'"),
        (GOOD_COORDS, GOOD_CONF, {("r", 2): (1, 1)}, 1e-3, "('r', 2)"),
        (GOOD_COORDS, GOOD_CONF, {("r", "two", "a"): (1, 1)}, 1e-3, "two"),
        ({"r": np.full((4, 2, 2), np.nan)}, GOOD_CONF, {}, 1e-3, "'r'"),
        ({"r": np.zeros((4, 2))}, GOOD_CONF, {}, 1e-3, "'r'"),
        ({"r": np.zeros((4, 3, 2))}, GOOD_CONF, {}, 1e-3, "'r'"),
        (GOOD_COORDS, {"r": GOOD_CONF["r"][:3]}, {}, 1e-3, "'r'"),
        (GOOD_COORDS, {"r": np.zeros((4, 2))}, {}, 0.0, "conf"),
    ],
)
def test_bad_input_raises_kpcal_error(coords, conf, extra, pseudocount, needle):
    with pytest.raises(KpcalError) as info:
        fit_error_model(coords, conf, {**GOOD_ANN, **extra}, ["a", "b"], pseudocount)
    assert needle in str(info.value)


def test_predicted_error_px():
    assert predicted_error_px(-0.5, 0.25, 0.01) == pytest.approx(10 ** (-0.5 * -2 + 0.25))
    out = predicted_error_px(-0.5, 0.25, np.array([1.0, 0.1]))
    np.testing.assert_allclose(out, [10**0.25, 10**0.75])
    assert type(predicted_error_px(-0.5, 0.25, 0.5)) is float


@pytest.mark.parametrize(
    "args",
    [(-0.5, 0.25, "high"), (-0.5, 0.25, -0.1), (-0.5, 0.25, [0.5, -1.0]), ("steep", 0.25, 0.5)],
)
def test_predicted_error_px_bad_input(args):
    with pytest.raises(KpcalError):
        predicted_error_px(*args)
