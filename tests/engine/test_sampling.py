"""sample_error_frames: log-spaced confidence bins, equal shares, exact counts."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpcal_core import KpcalError, sample_error_frames
from kpcal_core.sampling import confidence_bin_edges, confidence_histogram

BODYPARTS = ["nose", "ear", "tail"]
PC = 1e-3


# --------------------------------------------------------------------------- reference


def reference_bins(
    confidences, bodyparts, use_bodyparts, num_bins, conf_pseudocount, coordinates=None
):
    """Plain per-bin lists of candidates, written from the issue's wording.

    Edges: log-spaced between min and max of conf + pseudocount over the used
    bodyparts (NaN ignored). A value v is in bin j when edges[j] <= v < edges[j+1];
    the largest value is in the last bin. NaN confidences (and NaN coordinates
    when given) are never candidates.
    """
    used = [bodyparts.index(b) for b in use_bodyparts]
    values = []
    for conf in confidences.values():
        for k in used:
            for c in np.asarray(conf, dtype=float)[:, k]:
                if not math.isnan(c):
                    values.append(c + conf_pseudocount)
    low, high = min(values), max(values)
    edges = np.logspace(math.log10(low), math.log10(high), num_bins + 1)
    per_bin = [[] for _ in range(num_bins)]
    for name, conf in confidences.items():
        conf = np.asarray(conf, dtype=float)
        for t in range(conf.shape[0]):
            for k in used:
                v = conf[t, k] + conf_pseudocount
                if math.isnan(v):
                    continue
                if coordinates is not None and np.isnan(coordinates[name][t, k]).any():
                    continue
                b = 0
                for j in range(1, num_bins):
                    if v >= edges[j]:
                        b = j
                per_bin[b].append((name, t, bodyparts[k]))
    return edges, per_bin


def bin_of(per_bin):
    return {key: b for b, keys in enumerate(per_bin) for key in keys}


def rich_confidences(seed=0, n_frames=400):
    """Log-uniform confidences over 3 decades: every one of 5 bins is well filled."""
    rng = np.random.default_rng(seed)
    return {
        "rec_a": 10 ** rng.uniform(-3, 0, size=(n_frames, 3)),
        "rec_b": 10 ** rng.uniform(-3, 0, size=(n_frames // 2, 3)),
    }


# --------------------------------------------------------------------------- basics


def test_returns_list_of_exact_python_types():
    conf = {np.str_("rec_a"): np.random.default_rng(1).uniform(0, 1, (50, 3))}
    samples = sample_error_frames(conf, BODYPARTS, BODYPARTS, num_samples=20, seed=0)
    assert isinstance(samples, list)
    assert len(samples) == 20
    for key in samples:
        assert type(key) is tuple and len(key) == 3
        assert type(key[0]) is str
        assert type(key[1]) is int
        assert type(key[2]) is str


def test_bin_edges_are_log_spaced_between_min_and_max_plus_pseudocount():
    conf = {
        "a": np.array([[0.0, 5.0, 0.5], [np.nan, 7.0, 0.25], [0.9, 9.0, np.nan]]),
        "b": np.array([[0.02, 100.0, 0.4]]),
    }
    # 'ear' (values up to 100) is not used: it must not stretch the edges
    edges = confidence_bin_edges(conf, BODYPARTS, ["nose", "tail"], num_bins=4, conf_pseudocount=PC)
    assert edges.shape == (5,)
    assert edges[0] == pytest.approx(0.0 + PC, rel=1e-12)
    assert edges[-1] == pytest.approx(0.9 + PC, rel=1e-12)
    np.testing.assert_allclose(np.diff(np.log10(edges)), np.log10((0.9 + PC) / PC) / 4, rtol=1e-10)
    ref_edges, _ = reference_bins(conf, BODYPARTS, ["nose", "tail"], 4, PC)
    np.testing.assert_allclose(edges, ref_edges, rtol=1e-12)


def test_pseudocount_is_added_exactly_once():
    # Edges for [0, 1] + 1e-3 in 2 bins: [1e-3, ~0.031638, 1.001].
    middle = math.sqrt(PC * (1 + PC))
    c = middle - 1.5 * PC  # c + pc is below the middle edge; c + 2*pc would be above it
    assert c + PC < middle < c + 2 * PC
    conf = np.ones((60, 1))
    conf[0, 0] = 0.0
    conf[1, 0] = c
    confidences = {"r": conf}
    edges = confidence_bin_edges(confidences, ["nose"], ["nose"], num_bins=2, conf_pseudocount=PC)
    assert edges[0] == pytest.approx(PC, rel=1e-12)  # not 2 * PC
    assert edges[1] == pytest.approx(middle, rel=1e-12)
    # The low bin holds exactly frames 0 and 1; with 4 samples it gives both,
    # the rest come from the high bin.
    for seed in range(10):
        samples = sample_error_frames(
            confidences,
            ["nose"],
            ["nose"],
            num_bins=2,
            num_samples=4,
            conf_pseudocount=PC,
            seed=seed,
        )
        frames = {t for _, t, _ in samples}
        assert {0, 1} <= frames
        assert len(samples) == 4


def test_every_sample_is_in_the_reference_bin_and_rich_bins_get_equal_shares():
    conf = rich_confidences()
    num_bins, num_samples = 5, 50
    edges, per_bin = reference_bins(conf, BODYPARTS, BODYPARTS, num_bins, PC)
    assert min(len(b) for b in per_bin) >= num_samples // num_bins  # all bins rich
    np.testing.assert_allclose(
        confidence_bin_edges(conf, BODYPARTS, BODYPARTS, num_bins, PC), edges, rtol=1e-12
    )
    which = bin_of(per_bin)
    for seed in range(5):
        samples = sample_error_frames(
            conf, BODYPARTS, BODYPARTS, num_bins, num_samples, PC, seed=seed
        )
        assert len(samples) == num_samples
        counts = Counter(which[key] for key in samples)  # KeyError = not a candidate at all
        # keypoint-MoSeq's intent: min(num_samples // num_bins, n) per bin
        assert counts == {b: min(num_samples // num_bins, len(per_bin[b])) for b in range(num_bins)}


def test_thin_bin_shortfall_goes_to_the_other_bins():
    rng = np.random.default_rng(3)
    # 4 bins over [1e-3, 1]: bin 0 gets only 2 candidates, the rest plenty.
    values = np.concatenate([[0.0, 0.002], 10 ** rng.uniform(-2.2, -0.01, size=400)])
    conf = {"r": values[:, None]}
    edges, per_bin = reference_bins(conf, ["nose"], ["nose"], 4, PC)
    assert len(per_bin[0]) == 2
    assert all(len(b) >= 30 for b in per_bin[1:])
    samples = sample_error_frames(conf, ["nose"], ["nose"], num_bins=4, num_samples=40, seed=1)
    assert len(samples) == 40  # keypoint-MoSeq would return 2 + 3 * 10 = 32
    counts = Counter(bin_of(per_bin)[k] for k in samples)
    assert counts[0] == 2
    assert sorted(counts[b] for b in (1, 2, 3)) == [12, 13, 13]


def test_empty_bins_pass_their_share_on():
    # values only at the two ends: 8 of 10 bins are empty
    conf = {"r": np.array([[0.0]] * 30 + [[1.0]] * 30)}
    samples = sample_error_frames(conf, ["nose"], ["nose"], num_bins=10, num_samples=20, seed=0)
    frames = [t for _, t, _ in samples]
    assert len(samples) == 20
    assert sum(t < 30 for t in frames) == 10


def test_fewer_candidates_than_num_samples_gives_every_candidate():
    conf = {"a": np.array([[0.1, 0.2, 0.3], [0.4, np.nan, 0.6]]), "b": np.array([[0.7, 0.8, 0.9]])}
    samples = sample_error_frames(conf, BODYPARTS, ["nose", "ear"], num_samples=100, seed=0)
    expected = {
        ("a", 0, "nose"),
        ("a", 0, "ear"),
        ("a", 1, "nose"),
        ("b", 0, "nose"),
        ("b", 0, "ear"),
    }
    assert len(samples) == len(expected)
    assert set(samples) == expected


def test_never_unused_bodyparts_nan_confidences_or_nan_coordinates():
    rng = np.random.default_rng(7)
    conf = {"a": rng.uniform(0, 1, (300, 3)), "b": rng.uniform(0, 1, (200, 3))}
    coords = {k: rng.uniform(0, 100, v.shape + (2,)) for k, v in conf.items()}
    conf["a"][rng.random((300, 3)) < 0.3] = np.nan
    nan_xy = rng.random((200, 3)) < 0.3
    coords["b"][nan_xy, 0] = np.nan  # only x missing is enough
    samples = sample_error_frames(
        conf, BODYPARTS, ["nose", "tail"], num_samples=300, coordinates=coords, seed=2
    )
    assert len(samples) == 300
    assert len(set(samples)) == len(samples)
    for name, t, bp in samples:
        assert bp in ("nose", "tail")
        k = BODYPARTS.index(bp)
        assert not np.isnan(conf[name][t, k])
        assert not np.isnan(coords[name][t, k]).any()
    # and without coordinates the NaN-coordinate keypoints are candidates again
    _, per_bin = reference_bins(conf, BODYPARTS, ["nose", "tail"], 10, PC)
    everything = sample_error_frames(conf, BODYPARTS, ["nose", "tail"], num_samples=10**6, seed=0)
    assert set(everything) == {k for b in per_bin for k in b}


def test_order_is_random_not_sorted_or_grouped_by_bin():
    conf = rich_confidences(5)
    edges, per_bin = reference_bins(conf, BODYPARTS, BODYPARTS, 10, PC)
    which = bin_of(per_bin)
    samples = sample_error_frames(conf, BODYPARTS, BODYPARTS, num_samples=100, seed=11)
    assert samples != sorted(samples)
    assert samples != sorted(samples, reverse=True)
    bins = [which[k] for k in samples]
    assert bins != sorted(bins) and bins != sorted(bins, reverse=True)
    # recordings are interleaved, not one block after the other
    names = [k[0] for k in samples]
    changes = sum(a != b for a, b in zip(names, names[1:], strict=False))
    assert changes > 5


def test_same_seed_same_list_different_seed_different_list():
    conf = rich_confidences(9)
    a = sample_error_frames(conf, BODYPARTS, BODYPARTS, num_samples=60, seed=123)
    b = sample_error_frames(conf, BODYPARTS, BODYPARTS, num_samples=60, seed=123)
    c = sample_error_frames(conf, BODYPARTS, BODYPARTS, num_samples=60, seed=124)
    assert a == b
    assert a != c
    assert set(a) != set(c)


def test_chunked_counting_gives_the_same_candidates(monkeypatch):
    """Small chunks (many per recording) must not change which keys are eligible."""
    import kpcal_core.sampling as sampling

    conf = rich_confidences(4, n_frames=120)
    edges, per_bin = reference_bins(conf, BODYPARTS, BODYPARTS, 6, PC)
    monkeypatch.setattr(sampling, "CHUNK_SIZE", 7)
    samples = sample_error_frames(conf, BODYPARTS, BODYPARTS, num_bins=6, num_samples=60, seed=3)
    counts = Counter(bin_of(per_bin)[k] for k in samples)
    assert counts == {b: 10 for b in range(6)}
    assert len(set(samples)) == 60


def test_all_values_equal_and_zero_samples():
    conf = {"r": np.full((10, 3), 0.5)}
    samples = sample_error_frames(conf, BODYPARTS, BODYPARTS, num_bins=4, num_samples=7, seed=0)
    assert len(samples) == 7 and len(set(samples)) == 7
    assert sample_error_frames(conf, BODYPARTS, BODYPARTS, num_samples=0) == []


# --------------------------------------------------------------------------- property


@st.composite
def sampling_inputs(draw):
    n_keypoints = draw(st.integers(1, 4))
    bodyparts = [f"bp{k}" for k in range(n_keypoints)]
    use = draw(st.lists(st.sampled_from(bodyparts), min_size=1, max_size=n_keypoints, unique=True))
    value = st.one_of(st.just(float("nan")), st.just(0.0), st.floats(0, 1.5, allow_subnormal=False))
    confidences, coordinates = {}, {}
    for r in range(draw(st.integers(1, 3))):
        n_frames = draw(st.integers(0, 12))
        flat = draw(
            st.lists(value, min_size=n_frames * n_keypoints, max_size=n_frames * n_keypoints)
        )
        conf = np.array(flat, dtype=float).reshape(n_frames, n_keypoints)
        missing = draw(
            st.lists(
                st.booleans(), min_size=n_frames * n_keypoints, max_size=n_frames * n_keypoints
            )
        )
        xy = np.zeros((n_frames, n_keypoints, 2))
        xy[np.array(missing, dtype=bool).reshape(n_frames, n_keypoints), 1] = np.nan
        confidences[f"rec{r}"] = conf
        coordinates[f"rec{r}"] = xy
    with_coords = draw(st.booleans())
    return dict(
        confidences=confidences,
        bodyparts=bodyparts,
        use_bodyparts=use,
        coordinates=coordinates if with_coords else None,
        num_bins=draw(st.integers(1, 12)),
        num_samples=draw(st.integers(0, 60)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sampling_inputs())
def test_property_exact_count_unique_and_valid(inputs):
    conf, bodyparts, use = inputs["confidences"], inputs["bodyparts"], inputs["use_bodyparts"]
    coords = inputs["coordinates"]
    used = [bodyparts.index(b) for b in use]
    candidates = set()
    any_number = False
    for name, c in conf.items():
        for t in range(c.shape[0]):
            for k in used:
                if np.isnan(c[t, k]):
                    continue
                any_number = True
                if coords is not None and np.isnan(coords[name][t, k]).any():
                    continue
                candidates.add((name, t, bodyparts[k]))
    kwargs = dict(
        num_bins=inputs["num_bins"],
        num_samples=inputs["num_samples"],
        coordinates=coords,
        seed=inputs["seed"],
    )
    if not any_number:
        with pytest.raises(KpcalError):
            sample_error_frames(conf, bodyparts, use, **kwargs)
        return
    samples = sample_error_frames(conf, bodyparts, use, **kwargs)
    assert len(samples) == min(inputs["num_samples"], len(candidates))
    assert len(set(samples)) == len(samples)
    assert set(samples) <= candidates
    assert all(type(n) is str and type(t) is int and type(b) is str for n, t, b in samples)
    assert sample_error_frames(conf, bodyparts, use, **kwargs) == samples


@settings(max_examples=40, deadline=None)
@given(
    num_bins=st.integers(1, 8),
    per_bin=st.integers(1, 6),
    extra=st.integers(0, 30),
    seed=st.integers(0, 1000),
)
def test_property_rich_bins_get_equal_counts(num_bins, per_bin, extra, seed):
    """num_samples = num_bins * per_bin and every bin has >= per_bin candidates."""
    rng = np.random.default_rng(seed)
    edges = np.logspace(-3, 0, num_bins + 1)
    values = [edges[0] - PC, edges[-1] - PC]  # pin the edges exactly
    for b in range(num_bins):
        lo, hi = np.log10(edges[b]), np.log10(edges[b + 1])
        # stay clear of the edges so rounding cannot move a value across one
        span = hi - lo
        values += list(10 ** rng.uniform(lo + 0.1 * span, hi - 0.1 * span, per_bin + extra) - PC)
    conf = {"r": np.array(values)[:, None]}
    _, ref = reference_bins(conf, ["a"], ["a"], num_bins, PC)
    assert all(len(b) >= per_bin for b in ref)
    samples = sample_error_frames(
        conf, ["a"], ["a"], num_bins=num_bins, num_samples=num_bins * per_bin, seed=seed
    )
    counts = Counter(bin_of(ref)[k] for k in samples)
    assert counts == {b: per_bin for b in range(num_bins)}


# --------------------------------------------------------------------------- bad input


GOOD = {"r": np.full((5, 3), 0.5)}


@pytest.mark.parametrize(
    "args, kwargs, needle",
    [
        ((GOOD, BODYPARTS, ["paw"]), {}, "paw"),
        ((GOOD, BODYPARTS, []), {}, "use_bodyparts"),
        ((GOOD, BODYPARTS, "nose"), {}, "nose"),
        ((GOOD, ["nose", "nose", "tail"], ["nose"]), {}, "nose"),
        (({"r": np.full((5, 2), 0.5)}, BODYPARTS, BODYPARTS), {}, "'r'"),
        (({"r": np.full(5, 0.5)}, BODYPARTS, BODYPARTS), {}, "'r'"),
        (({"r": -np.ones((5, 3))}, BODYPARTS, BODYPARTS), {}, "'r'"),
        (({"r": np.full((5, 3), np.inf)}, BODYPARTS, BODYPARTS), {}, "'r'"),
        (({"r": np.full((5, 3), "x")}, BODYPARTS, BODYPARTS), {}, "'r'"),
        (({"r": np.full((5, 3), np.nan)}, BODYPARTS, BODYPARTS), {}, "number"),
        (({}, BODYPARTS, BODYPARTS), {}, "confidences"),
        (([np.ones((5, 3))], BODYPARTS, BODYPARTS), {}, "confidences"),
        (({"r": np.zeros((5, 3))}, BODYPARTS, BODYPARTS), {"conf_pseudocount": 0}, "pseudocount"),
        ((GOOD, BODYPARTS, BODYPARTS), {"num_bins": 0}, "num_bins"),
        ((GOOD, BODYPARTS, BODYPARTS), {"num_bins": 2.5}, "num_bins"),
        ((GOOD, BODYPARTS, BODYPARTS), {"num_samples": -1}, "num_samples"),
        ((GOOD, BODYPARTS, BODYPARTS), {"num_samples": None}, "num_samples"),
        ((GOOD, BODYPARTS, BODYPARTS), {"num_samples": "ten"}, "num_samples"),
        ((GOOD, BODYPARTS, BODYPARTS), {"conf_pseudocount": None}, "pseudocount"),
        ((GOOD, BODYPARTS, BODYPARTS), {"conf_pseudocount": -1e-3}, "pseudocount"),
        ((GOOD, BODYPARTS, BODYPARTS), {"seed": "abc"}, "seed"),
        ((GOOD, BODYPARTS, BODYPARTS), {"seed": -1}, "seed"),
        ((GOOD, BODYPARTS, BODYPARTS), {"coordinates": {"other": np.zeros((5, 3, 2))}}, "other"),
        ((GOOD, BODYPARTS, BODYPARTS), {"coordinates": {"r": np.zeros((4, 3, 2))}}, "'r'"),
        ((GOOD, BODYPARTS, BODYPARTS), {"coordinates": {"r": np.zeros((5, 3, 3))}}, "'r'"),
    ],
)
def test_bad_input_raises_kpcal_error(args, kwargs, needle):
    with pytest.raises(KpcalError) as info:
        sample_error_frames(*args, **kwargs)
    assert isinstance(info.value, ValueError)
    assert needle in str(info.value)


def test_many_bins_do_not_need_a_huge_count_array():
    """num_bins >= 255 switches the bin array to uint32; counting must stay O(num_bins)."""
    rng = np.random.default_rng(0)
    confidences = {"r": rng.random((100, 3))}
    samples = sample_error_frames(
        confidences, ["a", "b", "c"], ["a", "b", "c"], num_bins=300, num_samples=50, seed=0
    )
    assert len(samples) == 50 and len(set(samples)) == 50


def test_confidence_histogram_counts_every_used_confidence_once_nan_left_out():
    rng = np.random.default_rng(5)
    confidences = {
        f"r{i}": rng.beta(2, 1, size=(500 + i, 4)).astype(dtype)
        for i, dtype in enumerate((np.float64, np.float32, np.float64))
    }
    confidences["r0"][::3, 1] = np.nan
    confidences["r2"][5, :] = 0.0
    bodyparts = ["a", "b", "c", "d"]
    counts, hist_edges, _ = confidence_histogram(
        confidences, bodyparts, ["a", "b", "d"], 1e-3, 8, 30
    )
    values = np.concatenate(
        [c[:, [0, 1, 3]].astype(np.float64).ravel() for c in confidences.values()]
    )
    values = np.log10(values[~np.isnan(values)] + 1e-3)
    np.testing.assert_array_equal(counts, np.histogram(values, bins=hist_edges)[0])
    assert counts.sum() == values.size
