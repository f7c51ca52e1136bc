"""The planned annotation order and the population it is planned for.

This module owns

- :class:`Population`: the keypoints the error line will be applied to (the
  used bodyparts' keypoints with a confidence, and with a position when
  coordinates are given), summarised by the mean and second moment of their
  ``x = log10(confidence + conf_pseudocount)`` and a histogram of ``x``;
  :func:`population_of` computes it from the confidences;
- :func:`plan_annotation_order`: every keypoint to annotate, in order, chosen
  before the first click by an I-optimal sequential design (below).

Why a planned order
-------------------
keypoint-MoSeq applies the fitted line to every keypoint, and most keypoints
sit at high confidence. Its sampling (:func:`~kpcal_core.sampling.sample_error_frames`)
draws an equal number from each of 10 log-spaced confidence bins, which spends
most clicks on rare low confidences. The planned order instead picks, one at a
time, the keypoint that most shrinks the uncertainty of the line *where the
keypoints are*: the prediction variance of the least-squares line averaged
over the population.

For a design ``X`` (rows ``[1, x_i]`` of the ``n`` annotated keypoints) and
noise variance ``s^2``, the variance of the fitted mean at ``x`` is
``s^2 v(x)^T (X^T X)^{-1} v(x)`` with ``v(x) = [1, x]``. Averaged over the
population it is ``s^2 trace((X^T X)^{-1} M)``, where
``M = mean over the population of v v^T = [[1, mu], [mu, m2]]`` (``mu`` and
``m2`` the population's mean and mean square of ``x``). In closed form, with
``xbar`` the design's mean and ``Sxx`` its centred sum of squares,
``trace((X^T X)^{-1} M) = 1/n + (var_pop + (mu - xbar)^2) / Sxx`` with
``var_pop = m2 - mu^2``. Adding a point ``v`` changes ``(X^T X)^{-1} = A^{-1}``
by Sherman-Morrison, and the criterion drops by
``v^T A^{-1} M A^{-1} v / (1 + v^T A^{-1} v)``. It depends only on ``x``, not
on the errors, so the whole order is known up front.

The rule (:func:`plan_annotation_order`): split ``x`` into the same
log-spaced bins as keypoint-MoSeq (:func:`~kpcal_core.sampling.confidence_bin_edges`);
first one pick from each non-empty bin (so the whole range is seen, which a
curved truth needs); then each next pick is the next keypoint of the bin whose
next keypoint most reduces the criterion, except every third pick, which goes
round-robin over the bins (so no bin is starved and a bent line shows).
Where several bodyparts are used, every fourth pick (:data:`POPULATION_EVERY`,
before the round-robin) is drawn from the population across bins instead: the
bin where a golden-ratio (Weyl) sequence of the step number falls in the
keypoints' cumulative share per bin, so these picks alone are a stratified
miniature of the population. The line pooled over bodyparts is the line of a
mixture: where their confidences differ, the mix of bodyparts changes along
``x`` and the mean error is not straight in ``x``, and least squares on a design
far from the population (an I-optimal one sits at the ends) then aims at
another line than the population's; the population picks pull the design
towards it (on the real fly population of ``bench/bench_design.py`` the
planned line's error at the stop went from 1.20x the equal bins' to 1.02x).
With one bodypart there is no mixture, and the picks stay I-optimal (the
population picks cost a few clicks there: on the bench's noise that grows at
low confidence, 50 clicks became 54). Within
a bin keypoints come in random (seeded) order; where several bodyparts are
used, each bin serves its bodyparts in proportion to their share of the bin's
keypoints (the bodypart furthest behind its share of the bin's picks next), so
the annotations of every part of the confidence range are a miniature of the
population there. Bodyparts differ (a tail tip is far less confident than a
nose, and has its own error line): the population's line is the line of that
mixture, and a bin that served its bodyparts in equal turns would make a
bodyparts' rare low-confidence keypoints as common among the annotations as the
common ones, pulling the slope towards the rare bodypart's own line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import KpcalError
from .sampling import (
    CHUNK_SIZE,
    SampleKey,
    bin_chunk,
    check_sampling_args,
    confidence_bin_edges,
    is_whole,
)

#: Every how-many-th pick of the planned order goes round-robin over the bins.
ROUND_ROBIN_EVERY = 3
#: Where several bodyparts are used, every how-many-th pick is drawn from the
#: population across bins (before the round-robin; 0: never).
POPULATION_EVERY = 4
#: The golden ratio's fractional part: the step of the population picks' Weyl sequence.
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
#: The share of keypoints at each end that :meth:`Population.winsorized` holds in.
WINSOR_TAIL = 0.005


@dataclass(frozen=True)
class Population:
    """The x = log10(confidence + pseudocount) of the keypoints the line is applied to.

    Attributes
    ----------
    n
        Number of keypoints.
    mean, second_moment
        Mean of ``x`` and mean of ``x**2``.
    hist_counts
        ``(n_hist_bins,)`` keypoints per histogram bin of ``x``.
    hist_edges
        ``(n_hist_bins + 1,)`` histogram edges, in ``x`` units.
    hist_sums, hist_squares
        ``(n_hist_bins,)`` sums of ``x`` and of ``x**2`` per histogram bin
        (``None``: taken from the bins' centres).
    """

    n: int
    mean: float
    second_moment: float
    hist_counts: np.ndarray = field(repr=False)
    hist_edges: np.ndarray = field(repr=False)
    hist_sums: np.ndarray | None = field(default=None, repr=False)
    hist_squares: np.ndarray | None = field(default=None, repr=False)

    @property
    def variance(self) -> float:
        """Population variance of ``x`` (never negative)."""
        return max(self.second_moment - self.mean**2, 0.0)

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of ``x`` (linear within the histogram's bins)."""
        counts = np.asarray(self.hist_counts, dtype=float)
        edges = np.asarray(self.hist_edges, dtype=float)
        total = counts.sum()
        if total <= 0:
            return float(self.mean)
        cumulative = np.concatenate(([0.0], np.cumsum(counts))) / total
        return float(np.interp(min(max(float(q), 0.0), 1.0), cumulative, edges))

    def winsorized(self, tail: float = WINSOR_TAIL) -> tuple[float, float]:
        """Mean and variance of ``x`` held within its ``tail`` and ``1 - tail`` quantiles.

        Keypoints beyond those quantiles count as if at them: a handful of
        extreme confidences (one keypoint at 0.003 among thousands at 0.9)
        keep their weight but cannot dominate a mean over the population.
        Computed from the histogram's per-bin sums (a bin cut by a quantile
        is split in proportion).
        """
        counts = np.asarray(self.hist_counts, dtype=float)
        edges = np.asarray(self.hist_edges, dtype=float)
        total = counts.sum()
        if total <= 0:
            return float(self.mean), float(self.variance)
        centres = (edges[:-1] + edges[1:]) / 2
        sums = counts * centres if self.hist_sums is None else np.asarray(self.hist_sums, float)
        squares = (
            counts * centres**2
            if self.hist_squares is None
            else np.asarray(self.hist_squares, float)
        )
        low, high = self.quantile(tail), self.quantile(1 - tail)
        width = np.maximum(edges[1:] - edges[:-1], 1e-300)
        below = np.clip((low - edges[:-1]) / width, 0, 1)  # share of each bin below ``low``
        above = np.clip((edges[1:] - high) / width, 0, 1)  # ... above ``high``
        inside = np.clip(1 - below - above, 0, 1)
        n_low, n_high = (counts * below).sum(), (counts * above).sum()
        s1 = (sums * inside).sum() + n_low * low + n_high * high
        s2 = (squares * inside).sum() + n_low * low**2 + n_high * high**2
        mean = s1 / total
        return float(mean), float(max(s2 / total - mean**2, 0.0))

    @property
    def slope_lever(self) -> float:
        """How far the central 95% of ``x`` reaches from its mean (log10 units, >= 0).

        A slope error ``d`` moves the line at the 2.5th or 97.5th percentile
        of the population by up to ``d * slope_lever`` (relative to the mean):
        the reach of the slope over these keypoints.
        """
        low, high = self.quantile(0.025), self.quantile(0.975)
        mean = self.winsorized()[0]
        return float(max(mean - low, high - mean, 0.0))

    @classmethod
    def from_x(cls, x: np.ndarray, n_hist_bins: int = 60) -> Population:
        """The population of the given ``(n,)`` x values (NaN ignored)."""
        x = np.asarray(x, dtype=float).ravel()
        x = x[np.isfinite(x)]
        if x.size == 0:
            raise KpcalError("the population has no keypoint with a finite log10 confidence")
        low, high = float(x.min()), float(x.max())
        if high <= low:
            high = low + 1e-6
        counts, edges = np.histogram(x, bins=n_hist_bins, range=(low, high))
        index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n_hist_bins - 1)
        return cls(
            n=int(x.size),
            mean=float(x.mean()),
            second_moment=float(np.mean(x * x)),
            hist_counts=counts.astype(np.int64),
            hist_edges=edges,
            hist_sums=np.bincount(index, weights=x, minlength=n_hist_bins),
            hist_squares=np.bincount(index, weights=x * x, minlength=n_hist_bins),
        )


def _chunks(confidences: Mapping[str, np.ndarray], n_keypoints: int):
    """``(recording index, name, start, stop)`` of every chunk of rows."""
    rows = max(1, CHUNK_SIZE // max(n_keypoints, 1))
    for r, name in enumerate(confidences):
        n_frames = np.asarray(confidences[name]).shape[0]
        for start in range(0, n_frames, rows):
            yield r, name, start, min(start + rows, n_frames)


def population_of(
    confidences: Mapping[str, np.ndarray],
    bodyparts: Sequence[str],
    use_bodyparts: Sequence[str],
    conf_pseudocount: float = 1e-3,
    *,
    coordinates: Mapping[str, np.ndarray] | None = None,
    missing: Mapping[str, np.ndarray] | None = None,
    n_hist_bins: int = 60,
) -> Population:
    """The population the line is applied to, from ``{recording: (T, K)}`` confidences.

    The keypoints of ``use_bodyparts`` with a confidence (not NaN) and, when
    ``coordinates`` (``{recording: (T, K, 2)}``) or ``missing`` (``{recording:
    (T, K) bool}``, True where a keypoint has no position: the lean way, which
    never reads the coordinates) is given, a position. Works
    chunk by chunk (no copy of all confidences). The histogram spans the same
    range as the sampling bins (:func:`~kpcal_core.sampling.confidence_bin_edges`).

    Returns
    -------
    Population
    """
    use_bodyparts = check_sampling_args(
        confidences, bodyparts, use_bodyparts, 1, conf_pseudocount, coordinates, missing
    )
    if not is_whole(n_hist_bins) or n_hist_bins < 1:
        raise KpcalError(f"n_hist_bins must be a whole number >= 1, got {n_hist_bins!r}")
    bodyparts = [str(b) for b in bodyparts]
    edges = np.log10(
        confidence_bin_edges(confidences, bodyparts, use_bodyparts, 1, conf_pseudocount)
    )
    low, high = float(edges[0]), float(edges[-1])
    if high <= low:
        high = low + 1e-6
    hist_edges = np.linspace(low, high, int(n_hist_bins) + 1)
    used = np.isin(np.array(bodyparts), np.array(use_bodyparts))
    sums = [0, 0.0, 0.0]
    counts = np.zeros(int(n_hist_bins), dtype=np.int64)
    bin_sums = np.zeros(int(n_hist_bins))
    bin_squares = np.zeros(int(n_hist_bins))
    for _, name, start, stop in _chunks(confidences, len(bodyparts)):
        conf = np.asarray(confidences[name])[start:stop]
        coords = None if coordinates is None else np.asarray(coordinates[name])[start:stop]
        mask = None if missing is None else np.asarray(missing[name])[start:stop]
        good = _good(conf, coords, mask, used)
        x = _chunk_x(conf, good, conf_pseudocount)
        n_good = int(np.count_nonzero(good))
        _add_moments(x, n_good, sums)
        index = ((x - np.float32(low)) * np.float32(n_hist_bins / (high - low))).astype(np.int32)
        np.clip(index, 0, n_hist_bins - 1, out=index)
        index[~good] = n_hist_bins
        counts += np.bincount(index.ravel(), minlength=n_hist_bins + 1)[:n_hist_bins]
        flat_x = x.ravel().astype(np.float64)
        bin_sums += np.bincount(index.ravel(), weights=flat_x, minlength=n_hist_bins + 1)[
            :n_hist_bins
        ]
        bin_squares += np.bincount(
            index.ravel(), weights=flat_x * flat_x, minlength=n_hist_bins + 1
        )[:n_hist_bins]
    total, sum_x, sum_x2 = sums
    if total == 0:
        raise KpcalError(
            f"no keypoint of the used bodyparts {list(use_bodyparts)} has a confidence "
            "and a position"
        )
    return Population(
        n=int(total),
        mean=sum_x / total,
        second_moment=sum_x2 / total,
        hist_counts=counts,
        hist_edges=hist_edges,
        hist_sums=bin_sums,
        hist_squares=bin_squares,
    )


def _good(
    conf: np.ndarray, coords: np.ndarray | None, missing: np.ndarray | None, used: np.ndarray
) -> np.ndarray:
    """``(t, K)`` booleans: a used bodypart with a confidence (and a position)."""
    good = ~np.isnan(conf)
    good &= used[None, :]
    if coords is not None:
        good &= ~np.isnan(coords).any(axis=-1)
    if missing is not None:
        good &= ~missing
    return good


def _chunk_x(conf: np.ndarray, good: np.ndarray, conf_pseudocount: float) -> np.ndarray:
    """``(t, K)`` float32 log10(conf + pseudocount), 0 where not ``good``.

    Single precision (relative error ~1e-7) is ample for the population's
    moments and histogram and halves the cost of the log; planned keypoints'
    own x are computed in double precision.
    """
    values = conf.astype(np.float32)
    values += np.float32(conf_pseudocount)
    values[~good] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(values, out=values)


def _add_moments(x: np.ndarray, count: int, sums: list) -> None:
    """Add a chunk's count, sum of x and sum of x^2 (x is 0 where not counted)."""
    sums[0] += count
    sums[1] += float(x.sum(dtype=np.float64))
    sums[2] += float(np.square(x).sum(dtype=np.float64))


def _criterion_drop(inv: tuple[float, float, float], m: tuple[float, float], x: float) -> float:
    """How much adding a point at ``x`` lowers ``trace(A^{-1} M)``.

    ``inv`` = ``(p, q, r)`` of the symmetric ``A^{-1} = [[p, q], [q, r]]``;
    ``m`` = ``(mu, m2)`` of ``M = [[1, mu], [mu, m2]]``.
    """
    p, q, r = inv
    mu, m2 = m
    u0, u1 = p + q * x, q + r * x  # A^{-1} v
    return (u0 * u0 + 2 * mu * u0 * u1 + m2 * u1 * u1) / (1.0 + u0 + u1 * x)


def _inverse(s0: float, s1: float, s2: float) -> tuple[float, float, float] | None:
    """``A^{-1}`` of ``A = [[s0, s1], [s1, s2]]`` as ``(p, q, r)``, or None when singular."""
    det = s0 * s2 - s1 * s1
    if s0 < 2 or det <= 1e-12 * max(1.0, s0 * s2):
        return None
    return s2 / det, -s1 / det, s0 / det


def _random_ranks(count: int, size: int, seed: np.random.SeedSequence, pool: int) -> np.ndarray:
    """The first ``min(size, count)`` of a random order of ``range(count)``.

    Prefix-stable: a larger ``size`` extends the same order, so a plan made
    after some annotations continues the plan made before them. Small pools
    are permuted; large ones take the distinct values of a stream of random
    integers, in blocks, without touching ``count`` values.
    """
    rng = np.random.default_rng(
        np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, pool))
    )
    size = min(size, count)
    if count <= 1 << 16:
        return rng.permutation(count)[:size]
    out = np.zeros(0, np.int64)
    while out.size < size:
        stream = np.concatenate((out, rng.integers(0, count, size=4096)))
        _, first = np.unique(stream, return_index=True)
        out = stream[np.sort(first)]
    return out[:size]


def plan_annotation_order(
    confidences: Mapping[str, np.ndarray],
    bodyparts: Sequence[str],
    use_bodyparts: Sequence[str],
    num_bins: int = 10,
    num_samples: int = 100,
    conf_pseudocount: float = 1e-3,
    *,
    coordinates: Mapping[str, np.ndarray] | None = None,
    missing: Mapping[str, np.ndarray] | None = None,
    seed: int | None = None,
    annotated: Iterable[SampleKey] = (),
) -> list[SampleKey]:
    """The keypoints to annotate, in the order that teaches the line most (I-optimal).

    Same arguments as :func:`~kpcal_core.sampling.sample_error_frames` (a
    drop-in alternative), plus ``annotated``. The rule is in this module's
    docstring: ``x = log10(confidence + conf_pseudocount)`` is binned into
    ``num_bins`` log-spaced bins; one pick per non-empty bin first (a bin that
    already holds an annotated keypoint counts as seen); then each pick comes
    from the bin whose next keypoint most lowers the population-averaged
    prediction variance ``trace((X^T X)^{-1} M)``, every third pick
    (:data:`ROUND_ROBIN_EVERY`) going round-robin over the bins instead and,
    where several used bodyparts have keypoints, every fourth
    (:data:`POPULATION_EVERY`) to the population's bin of a golden-ratio
    sequence of the step.
    Within a bin keypoints are in seeded random order, and the bin serves the
    used bodypart furthest behind its share of the bin's keypoints (largest
    ``share * (picks in the bin + 1) - its picks in the bin``; ties in a seeded
    random order per bin), so each bin's picks follow the population's mix of
    bodyparts there.

    Parameters
    ----------
    confidences
        ``{recording: (T, K) array}`` of non-negative confidences.
    bodyparts
        The ``K`` bodypart names, in column order.
    use_bodyparts
        The bodyparts calibrated: both the candidates and the population.
    num_bins
        Number of log-spaced confidence bins.
    num_samples
        Length of the plan (new keypoints, not counting ``annotated``).
    conf_pseudocount
        Added to every confidence before the log.
    coordinates
        Optional ``{recording: (T, K, 2)}``; a keypoint with a NaN coordinate
        is never planned, nor counted in the population.
    missing
        Optional ``{recording: (T, K) bool}``, True where a keypoint has no
        position: the same as ``coordinates`` without reading them (a project's
        ``ProjectData.missing``).
    seed
        Seed of the random order within bins; same seed, same plan.
    annotated
        Keys ``(recording, frame, bodypart)`` already annotated: they are part
        of the design the next picks improve on, and never planned again.
        Keys that are not candidates (other recordings or bodyparts, no
        position) are ignored.

    Returns
    -------
    list of tuple
        ``(recording, frame, bodypart)`` as ``(str, int, str)``, in the order
        to annotate, without duplicates; ``min(num_samples, candidates left)``
        entries.
    """
    use_bodyparts = check_sampling_args(
        confidences, bodyparts, use_bodyparts, num_bins, conf_pseudocount, coordinates, missing
    )
    if not is_whole(num_samples) or num_samples < 0:
        raise KpcalError(f"num_samples must be a whole number >= 0, got {num_samples!r}")
    if seed is not None and (not is_whole(seed) or seed < 0):
        raise KpcalError(f"seed must be None or a whole number >= 0, got {seed!r}")
    num_bins, num_samples = int(num_bins), int(num_samples)
    bodyparts = [str(b) for b in bodyparts]
    n_keypoints = len(bodyparts)
    names = list(confidences)
    index_of = {str(n): i for i, n in enumerate(names)}
    used = np.isin(np.array(bodyparts), np.array(use_bodyparts))
    edges = confidence_bin_edges(confidences, bodyparts, use_bodyparts, num_bins, conf_pseudocount)

    # The annotated keypoints that are candidates: (recording index, frame, column).
    done: set[tuple[int, int, int]] = set()
    for key in annotated:
        try:
            recording, frame, bodypart = key
        except (TypeError, ValueError):
            raise KpcalError(
                f"annotated keys must be (recording, frame, bodypart), got {key!r}"
            ) from None
        r = index_of.get(str(recording))
        if r is None or str(bodypart) not in use_bodyparts:
            continue
        conf = np.asarray(confidences[names[r]])
        if not is_whole(frame) or not 0 <= int(frame) < conf.shape[0]:
            continue
        done.add((r, int(frame), bodyparts.index(str(bodypart))))

    # Pass 1: pool code (bin * K + column) of every keypoint, pool counts, population moments.
    n_pools = num_bins * n_keypoints
    code_dtype = np.dtype(np.uint16 if n_pools + n_keypoints < 1 << 16 else np.uint32)
    columns = np.arange(n_keypoints, dtype=code_dtype)
    chunk_list, codes, per_chunk = [], [], []
    sums = [0, 0.0, 0.0]
    for r, name, start, stop in _chunks(confidences, n_keypoints):
        conf = np.asarray(confidences[name])[start:stop]
        coords = None if coordinates is None else np.asarray(coordinates[name])[start:stop]
        mask = None if missing is None else np.asarray(missing[name])[start:stop]
        bins = bin_chunk(conf, coords, mask, used, edges, conf_pseudocount, num_bins, code_dtype)
        good = bins != num_bins
        _add_moments(_chunk_x(conf, good, conf_pseudocount), int(np.count_nonzero(good)), sums)
        bins *= code_dtype.type(n_keypoints)
        bins += columns[None, :]
        code = bins
        chunk_list.append((r, start, stop))
        codes.append(code.ravel())
        per_chunk.append(np.bincount(codes[-1], minlength=n_pools + n_keypoints)[:n_pools])
    total, sum_x, sum_x2 = sums
    if total == 0:
        raise KpcalError(
            f"no keypoint of the used bodyparts {list(use_bodyparts)} has a confidence "
            "and a position"
        )
    moments = (sum_x / total, sum_x2 / total)
    per_chunk_arr = np.stack(per_chunk)  # (n_chunks, n_pools)
    totals = per_chunk_arr.sum(axis=0)

    # Pass 2: each pool's keypoints in a seeded random order (as many as could be used).
    root = np.random.SeedSequence(None if seed is None else int(seed))
    tie_seed, pool_seed = root.spawn(2)
    cap = num_samples + len(done)
    ranks_by_pool = {
        int(p): _random_ranks(int(totals[p]), cap, pool_seed, int(p))
        for p in np.flatnonzero(totals)
    }
    ends = np.cumsum(per_chunk_arr, axis=0)
    firsts = ends - per_chunk_arr
    found_pool, found_order, found_chunk, found_local = [], [], [], []
    for p, ranks in ranks_by_pool.items():
        chunk = np.searchsorted(ends[:, p], ranks, side="right")
        found_pool.append(np.full(ranks.size, p))
        found_order.append(np.arange(ranks.size))
        found_chunk.append(chunk)
        found_local.append(ranks - firsts[chunk, p])
    pool_of = np.concatenate(found_pool) if found_pool else np.zeros(0, np.int64)
    order_in_pool = np.concatenate(found_order) if found_order else np.zeros(0, np.int64)
    chunk_of = np.concatenate(found_chunk) if found_chunk else np.zeros(0, np.int64)
    local = np.concatenate(found_local) if found_local else np.zeros(0, np.int64)
    rec_of = np.zeros(pool_of.size, np.int64)
    frame_of = np.zeros(pool_of.size, np.int64)
    for c in np.unique(chunk_of):
        r, start, _ = chunk_list[c]
        sel = np.flatnonzero(chunk_of == c)
        # stable sort groups the chunk's keypoints by pool, each in position order
        grouped = np.argsort(codes[c], kind="stable")
        pool_start = np.concatenate(([0], np.cumsum(per_chunk_arr[c])))[pool_of[sel]]
        positions = grouped[pool_start + local[sel]]
        rec_of[sel] = r
        frame_of[sel] = start + positions // n_keypoints
    col_of = pool_of % n_keypoints
    x_of = np.empty(pool_of.size)
    for r in np.unique(rec_of):
        sel = np.flatnonzero(rec_of == r)
        conf = np.asarray(confidences[names[r]])
        x_of[sel] = np.log10(conf[frame_of[sel], col_of[sel]].astype(np.float64) + conf_pseudocount)

    # Candidate lists per (bin, column), in random order, without the annotated keypoints.
    arrange = np.lexsort((order_in_pool, pool_of))
    if done:
        frames_of = np.array([np.asarray(confidences[n]).shape[0] for n in names], np.int64)
        offset = np.concatenate(([0], np.cumsum(frames_of)))
        flat = (offset[rec_of[arrange]] + frame_of[arrange]) * n_keypoints + col_of[arrange]
        flat_done = np.array([(offset[r] + t) * n_keypoints + k for r, t, k in done], np.int64)
        arrange = arrange[~np.isin(flat, flat_done)]
    pools, starts = np.unique(pool_of[arrange], return_index=True)
    queues = {
        (int(p) // n_keypoints, int(p) % n_keypoints): queue
        for p, queue in zip(pools, np.split(arrange, starts[1:]) if arrange.size else [])
    }
    pointer = {pool: 0 for pool in queues}

    # The design so far: sums of 1, x, x^2; picks per bin and per bodypart.
    s0 = s1 = s2 = 0.0
    bin_picks = np.zeros(num_bins, np.int64)
    bin_part_picks = np.zeros((num_bins, n_keypoints), np.int64)
    for r, frame, k in done:
        value = float(np.asarray(confidences[names[r]])[frame, k]) + conf_pseudocount
        if not value > 0:  # NaN confidence: not part of the design
            continue
        x = math.log10(value)
        b = min(max(int(np.searchsorted(edges, value, side="right")) - 1, 0), num_bins - 1)
        s0, s1, s2 = s0 + 1, s1 + x, s2 + x * x
        bin_picks[b] += 1
        bin_part_picks[b, k] += 1
    # bodypart tie-break: a random order of the bodyparts for each bin
    tie = np.argsort(np.random.default_rng(tie_seed).random((num_bins, n_keypoints)), axis=1)
    tie = np.argsort(tie, axis=1)  # tie[b, k]: rank of bodypart k in bin b's order

    # Which bodypart each bin serves next: the one furthest behind its share of
    # the bin's keypoints, then in the bin's own random order. The picks of a
    # bin then follow the population's mix of bodyparts at those confidences,
    # whatever each bodypart's confidences and own line.
    left = np.zeros((num_bins, n_keypoints), np.int64)  # keypoints left in each queue
    for (b, k), queue in queues.items():
        left[b, k] = queue.size
    counts = totals.reshape(num_bins, n_keypoints).astype(float)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    population_cumulative = np.cumsum(counts.sum(axis=1)) / max(float(counts.sum()), 1.0)
    # a pooled line is a mixture's only where several bodyparts have keypoints
    population_every = POPULATION_EVERY if np.count_nonzero(counts.sum(axis=0)) > 1 else 0
    closed = n_keypoints + 1
    plan: list[SampleKey] = []
    n_done = int(s0)
    while len(plan) < num_samples:
        deficit = np.round(share * (bin_picks[:, None] + 1) - bin_part_picks, 9)
        deficit = np.where(left > 0, deficit, -np.inf)
        first = (deficit == deficit.max(axis=1, keepdims=True)) & (left > 0)
        serve = np.where(first, tie, closed).argmin(axis=1)  # (num_bins,) bodypart served
        open_bins = np.flatnonzero(left[np.arange(num_bins), serve] > 0)
        if open_bins.size == 0:
            break
        heads = {
            int(b): int(queues[(int(b), int(serve[b]))][pointer[(int(b), int(serve[b]))]])
            for b in open_bins
        }
        unseen = [b for b in heads if bin_picks[b] == 0]
        inv = _inverse(s0, s1, s2)
        step = n_done + len(plan) + 1
        if unseen:
            candidates = unseen
        elif population_every and step % population_every == 0 and inv is not None:
            # a low-discrepancy draw from the population's bins, from the step alone
            u = ((step // population_every) * GOLDEN) % 1.0
            wanted = int(np.searchsorted(population_cumulative, u, side="right"))
            candidates = [min(heads, key=lambda c: (abs(c - wanted), c))]
        elif step % ROUND_ROBIN_EVERY == 0 or inv is None:
            robin = (step // ROUND_ROBIN_EVERY) % num_bins  # from the step: replans agree
            while robin not in heads:
                robin = (robin + 1) % num_bins
            candidates = [robin]
        else:
            candidates = list(heads)
        if len(candidates) == 1:
            b = candidates[0]
        elif inv is None:
            # no line yet: the bin farthest from the design's mean (the lowest first)
            centre = s1 / s0 if s0 else math.inf
            b = max(candidates, key=lambda c: (abs(x_of[heads[c]] - centre), -c))
        else:
            b = max(candidates, key=lambda c: (_criterion_drop(inv, moments, x_of[heads[c]]), -c))
        i = heads[b]
        k = int(col_of[i])
        pointer[(b, k)] += 1
        left[b, k] -= 1
        x = float(x_of[i])
        s0, s1, s2 = s0 + 1, s1 + x, s2 + x * x
        bin_picks[b] += 1
        bin_part_picks[b, k] += 1
        plan.append((str(names[int(rec_of[i])]), int(frame_of[i]), bodyparts[k]))
    return plan
