"""Drawing the keypoints to annotate: log-spaced confidence bins, equal shares.

:func:`sample_error_frames` keeps keypoint-MoSeq's name, parameters and
return type. It works chunk by chunk on each recording's ``(T, K)`` array, so
it never builds a Python object per candidate and never copies all the
confidences at once: its extra memory is one byte per confidence (the bin of
each keypoint) plus one chunk of temporaries.

Differences from keypoint-MoSeq, on purpose:

- A bin with fewer candidates than its share passes the shortfall to the other
  bins, so the list holds exactly ``num_samples`` entries whenever that many
  candidates exist (keypoint-MoSeq returns fewer).
- The largest confidence falls in the last bin (keypoint-MoSeq's half-open
  bins leave it out).
- Keypoints with a NaN confidence, or a NaN coordinate when ``coordinates`` is
  given, are never drawn; ``seed`` makes the draw repeatable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .errors import KpcalError
from .samplekeys import SampleKey
from .validate import check_bodyparts, check_confidences, check_coordinates

#: Number of confidences processed at once; bounds temporary memory (~8 bytes each).
CHUNK_SIZE = 1 << 20


def confidence_bin_edges(
    confidences: Mapping[str, np.ndarray],
    bodyparts: Sequence[str],
    use_bodyparts: Sequence[str],
    num_bins: int = 10,
    conf_pseudocount: float = 1e-3,
) -> np.ndarray:
    """Log-spaced bin edges over the used bodyparts' ``confidence + conf_pseudocount``.

    Returns
    -------
    numpy.ndarray
        Shape ``(num_bins + 1,)``, from the smallest to the largest value (NaN ignored).
    """
    use_bodyparts = check_bodyparts(bodyparts, use_bodyparts)
    columns = [list(bodyparts).index(b) for b in use_bodyparts]
    low, high = np.inf, -np.inf
    for conf in confidences.values():
        conf = np.asarray(conf)
        if conf.size == 0:
            continue
        lows, highs = _column_extremes(conf)
        lows, highs = lows[columns], highs[columns]
        if np.isnan(np.fmax.reduce(highs)):
            continue  # every value NaN
        low = min(low, float(np.fmin.reduce(lows)))
        high = max(high, float(np.fmax.reduce(highs)))
    if not np.isfinite(low):
        raise KpcalError(f"no confidence of the used bodyparts {list(use_bodyparts)} is a number")
    low, high = low + conf_pseudocount, high + conf_pseudocount
    if low <= 0:
        raise KpcalError(
            f"the smallest confidence plus conf_pseudocount is {low}; "
            "conf_pseudocount must be > 0 when confidences contain 0"
        )
    return np.logspace(np.log10(low), np.log10(high), num_bins + 1)


def _column_extremes(conf: np.ndarray, rows: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """NaN-ignoring per-column min and max of a (T, K) array in one contiguous pass.

    Rows are grouped ``rows`` at a time into (T // rows, rows * K) so the reduction's
    inner loop runs over rows * K contiguous values instead of K.
    """
    n_frames, n_keypoints = conf.shape
    head = (n_frames // rows) * rows
    mins, maxs = [conf[head:]], [conf[head:]]
    if head:
        block = conf[:head].reshape(-1, rows * n_keypoints)
        mins.append(np.fmin.reduce(block, axis=0).reshape(rows, n_keypoints))
        maxs.append(np.fmax.reduce(block, axis=0).reshape(rows, n_keypoints))
    return np.fmin.reduce(np.concatenate(mins), axis=0), np.fmax.reduce(
        np.concatenate(maxs), axis=0
    )


def bin_chunk(
    conf: np.ndarray,
    coords: np.ndarray | None,
    mask: np.ndarray | None,
    used: np.ndarray,
    edges: np.ndarray,
    conf_pseudocount: float,
    invalid: int,
    dtype: np.dtype,
) -> np.ndarray:
    """Bin number of each keypoint in ``conf`` (``(t, K)``); ``invalid`` where not a candidate."""
    values = conf.astype(np.float64, copy=True)
    values += conf_pseudocount
    # bin = number of inner edges <= value: a few vectorised compares beat
    # searchsorted's per-element binary search ~7x for small num_bins.
    num_bins = len(edges) - 1
    if num_bins <= 32:
        out = np.zeros(values.shape, dtype=dtype)
        above = np.empty(values.shape, dtype=bool)
        for edge in edges[1:-1]:
            np.greater_equal(values, edge, out=above)
            out += above
    else:
        bins = np.searchsorted(edges, values, side="right")
        bins -= 1
        np.clip(bins, 0, num_bins - 1, out=bins)
        out = bins.astype(dtype)
    bad = np.isnan(values)
    bad |= ~used[None, :]
    if coords is not None:
        bad |= np.isnan(coords).any(axis=-1)
    if mask is not None:
        bad |= mask
    out[bad] = invalid
    return out


def _bin_quotas(counts: np.ndarray, num_samples: int) -> np.ndarray:
    """Equal shares per bin; a bin short of its share passes the rest on.

    Bins are served from the fewest candidates up, each taking
    ``min(count, remaining // bins_left)``, so the total is
    ``min(num_samples, counts.sum())``.
    """
    quotas = np.zeros_like(counts)
    remaining = int(num_samples)
    order = np.argsort(counts, kind="stable")
    for position, b in enumerate(order):
        share = remaining // (len(order) - position)
        quotas[b] = min(int(counts[b]), share)
        remaining -= int(quotas[b])
    return quotas


def is_whole(value) -> bool:
    """Whether ``value`` is a finite whole number (an int, or a float like 3.0; not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return False
    return bool(np.isfinite(value)) and int(value) == value


def check_sampling_args(
    confidences: Mapping[str, np.ndarray],
    bodyparts: Sequence[str],
    use_bodyparts: Sequence[str],
    num_bins: int,
    conf_pseudocount: float,
    coordinates: Mapping[str, np.ndarray] | None = None,
    missing: Mapping[str, np.ndarray] | None = None,
) -> list[str]:
    """Check what a sampler is given (one check for every sampler); the used bodyparts.

    Raises :class:`KpcalError` naming the recording or the parameter at fault.
    """
    use_bodyparts = check_bodyparts(bodyparts, use_bodyparts)
    check_confidences(confidences, bodyparts)
    if coordinates is not None:
        check_coordinates(coordinates, confidences, bodyparts)
    if missing is not None:
        for name, conf in confidences.items():
            if name not in missing or np.shape(missing[name]) != np.shape(conf):
                raise KpcalError(
                    f"recording {name!r}: the mask of missing positions must have the "
                    f"confidences' shape {np.shape(conf)}"
                )
    if not is_whole(num_bins) or num_bins < 1:
        raise KpcalError(f"num_bins must be a whole number >= 1, got {num_bins!r}")
    if (
        isinstance(conf_pseudocount, bool)
        or not isinstance(conf_pseudocount, (int, float, np.number))
        or not np.isfinite(conf_pseudocount)
        or conf_pseudocount < 0
    ):
        raise KpcalError(f"conf_pseudocount must be a number >= 0, got {conf_pseudocount!r}")
    return use_bodyparts


def sample_error_frames(
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
) -> list[SampleKey]:
    """Randomly sample keypoints to annotate, enriched for low confidence.

    Confidences of the used bodyparts (plus ``conf_pseudocount``, added once)
    are split into ``num_bins`` log-spaced bins and each bin gets an equal share
    of ``num_samples``.

    Parameters
    ----------
    confidences
        ``{recording: (T, K) array}`` of non-negative keypoint confidences.
    bodyparts
        The ``K`` bodypart names, in column order.
    use_bodyparts
        The bodyparts to draw from.
    num_bins
        Number of log-spaced confidence bins.
    num_samples
        Number of keypoints to draw.
    conf_pseudocount
        Added to every confidence before binning.
    coordinates
        Optional ``{recording: (T, K, 2) array}``; keypoints with a NaN
        coordinate are never drawn.
    missing
        Optional ``{recording: (T, K) bool array}``, True where a keypoint may
        not be drawn (no position, already annotated); the same as NaN
        coordinates without reading them (e.g.
        :attr:`kpcal_core.project.ProjectData.missing`). May be given with
        ``coordinates``.
    seed
        Seed of the random generator; the same seed gives the same list.

    Returns
    -------
    list of tuple
        ``(recording, frame, bodypart)`` as ``(str, int, str)``, in random order,
        without duplicates; ``min(num_samples, number of candidates)`` entries.
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
    edges = confidence_bin_edges(confidences, bodyparts, use_bodyparts, num_bins, conf_pseudocount)
    used = np.isin(np.array(bodyparts), np.array(use_bodyparts))
    dtype = np.dtype(np.uint8 if num_bins < 255 else np.uint32)
    invalid = num_bins  # any value >= num_bins; keeps bincount short

    # Pass 1: bin of every keypoint (1 byte each) and candidate counts per chunk.
    names = list(confidences)
    binned: list[np.ndarray] = []
    chunk_counts = []  # (recording index, row start, per-bin counts)
    for r, name in enumerate(names):
        conf = np.asarray(confidences[name])
        coords = None if coordinates is None else np.asarray(coordinates[name])
        mask = None if missing is None else np.asarray(missing[name], dtype=bool)
        n_frames, n_keypoints = conf.shape
        rows = max(1, CHUNK_SIZE // max(n_keypoints, 1))
        bins = np.empty(conf.shape, dtype=dtype)
        for start in range(0, n_frames, rows):
            stop = min(start + rows, n_frames)
            block = bin_chunk(
                conf[start:stop],
                None if coords is None else coords[start:stop],
                None if mask is None else mask[start:stop],
                used,
                edges,
                conf_pseudocount,
                invalid,
                dtype,
            )
            bins[start:stop] = block
            counts = (
                np.array([np.count_nonzero(block == k) for k in range(num_bins)])
                if num_bins <= 32
                else np.bincount(block.ravel(), minlength=num_bins + 1)[:num_bins]
            )
            chunk_counts.append((r, start, stop, counts))
        binned.append(bins)

    if not chunk_counts:
        return []
    per_chunk = np.stack([c[3] for c in chunk_counts])  # (n_chunks, num_bins)
    totals = per_chunk.sum(axis=0)
    quotas = _bin_quotas(totals, num_samples)

    # Pass 2: draw ranks within each bin, then find those ranks chunk by chunk.
    rng = np.random.default_rng(None if seed is None else int(seed))
    ends = np.cumsum(per_chunk, axis=0)  # candidates of each bin up to each chunk's end
    samples: list[SampleKey] = []
    for b in range(num_bins):
        if quotas[b] == 0:
            continue
        ranks = np.sort(rng.choice(int(totals[b]), size=int(quotas[b]), replace=False))
        chunk_of_rank = np.searchsorted(ends[:, b], ranks, side="right")
        for c in np.unique(chunk_of_rank):
            r, start, stop, _ = chunk_counts[c]
            first = ends[c, b] - per_chunk[c, b]
            local = ranks[chunk_of_rank == c] - first
            positions = np.flatnonzero(binned[r][start:stop].ravel() == b)[local]
            frames, keypoints = np.divmod(positions, binned[r].shape[1])
            name = str(names[r])
            samples.extend(
                (name, int(start + t), bodyparts[k])
                for t, k in zip(frames.tolist(), keypoints.tolist())
            )
    order = rng.permutation(len(samples))
    return [samples[i] for i in order]


def confidence_histogram(
    confidences: Mapping[str, np.ndarray],
    bodyparts: Sequence[str],
    use_bodyparts: Sequence[str],
    conf_pseudocount: float = 1e-3,
    num_bins: int = 10,
    n_hist_bins: int = 60,
    missing: Mapping[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histogram of log10(confidence + pseudocount) over the used bodyparts.

    The sampling bins span every confidence (as keypoint-MoSeq's do); the
    histogram counts only keypoints that can be drawn when ``missing`` is given.

    Parameters
    ----------
    missing
        Optional ``{recording: (T, K) bool array}``, True where a keypoint has
        no position: left out of the counts (it is never sampled).

    Returns
    -------
    counts : numpy.ndarray
        ``(n_hist_bins,)`` keypoints per histogram bin.
    hist_edges : numpy.ndarray
        ``(n_hist_bins + 1,)`` edges in log10 units.
    sampling_edges : numpy.ndarray
        ``(num_bins + 1,)`` the sampling bins' edges in log10 units.
    """
    edges = confidence_bin_edges(confidences, bodyparts, use_bodyparts, num_bins, conf_pseudocount)
    log_edges = np.log10(edges)
    low, high = log_edges[0], log_edges[-1]
    if high <= low:
        high = low + 1e-6
    hist_edges = np.linspace(low, high, n_hist_bins + 1)
    counts = np.zeros(n_hist_bins, dtype=np.int64)
    columns = [list(bodyparts).index(b) for b in check_bodyparts(bodyparts, use_bodyparts)]
    for name, conf in confidences.items():
        values = np.asarray(conf)[:, columns].astype(np.float64)  # one recording at a time
        if missing is not None and name in missing:
            values[np.asarray(missing[name], dtype=bool)[:, columns]] = np.nan
        values += conf_pseudocount
        np.log10(values, out=values)
        # Equal-width bins given by number and range: numpy bins by arithmetic
        # (the same counts as with the edges, without sorting the values) and
        # leaves out what is outside the range, NaN included.
        counts += np.histogram(values, bins=n_hist_bins, range=(low, high))[0]
    return counts, hist_edges, log_edges
