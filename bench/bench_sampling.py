"""Benchmark: kpcal_core.sampling.sample_error_frames vs the plain approach.

The plain approach is the straightforward reading of the method: for each of
``num_bins`` log-spaced confidence bins, loop over the recordings, make one
Python tuple ``(recording, frame, bodypart)`` per keypoint in the bin, draw
``min(num_samples // num_bins, len)`` of them with ``np.random.choice``
(without replacement), and shuffle the result.

Every measurement runs in a fresh interpreter that builds the same seeded
input; see ``bench/common.py`` for how peak memory is measured.

    python bench/bench_sampling.py            # 1e7 and 1e8 confidences (~1-2 min)
    python bench/bench_sampling.py --quick    # 1e6 and 5e6, smoke run (< 30 s)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import common  # noqa: E402

NUM_BINS = 10
NUM_SAMPLES = 100
CONF_PSEUDOCOUNT = 1e-3


# --------------------------------------------------------------------------- input


def bodyparts_for(n_keypoints: int) -> tuple[list[str], list[str]]:
    """``(bodyparts, use_bodyparts)``: every bodypart but the last is used."""
    bodyparts = [f"bp{k}" for k in range(n_keypoints)]
    return bodyparts, bodyparts[:-1] if n_keypoints > 1 else bodyparts


def make_confidences(
    n_recordings: int, n_frames: int, n_keypoints: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Realistic float64 confidences: mostly near 1, a long low tail, a few NaN.

    88 % of keypoints are ``1 - Exponential(0.02)`` (clipped at 0), 12 % are
    log-uniform on [1e-4, 1), and 0.05 % are NaN. Built one recording at a time
    so that building 800 MB needs little more than 800 MB.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for r in range(n_recordings):
        conf = np.empty((n_frames, n_keypoints), dtype=np.float64)
        flat = conf.reshape(-1)
        n = flat.size
        rng.standard_exponential(out=flat)
        flat *= 0.02
        np.subtract(1.0, flat, out=flat)
        np.maximum(flat, 0.0, out=flat)
        selector = rng.random(n)
        tail = selector < 0.12
        flat[tail] = 10.0 ** rng.uniform(-4.0, 0.0, size=int(tail.sum()))
        flat[selector > 1.0 - 5e-4] = np.nan
        del selector, tail
        out[f"session{r:03d}_cam0"] = conf
    return out


# --------------------------------------------------------------------------- plain approach


def plain_sample_error_frames(
    confidences,
    bodyparts,
    use_bodyparts,
    num_bins=NUM_BINS,
    num_samples=NUM_SAMPLES,
    conf_pseudocount=CONF_PSEUDOCOUNT,
):
    """The plain approach (see the module docstring); half-open bins ``[low, high)``."""
    used = np.isin(np.array(bodyparts), np.array(use_bodyparts))
    low, high = np.inf, -np.inf
    for conf in confidences.values():
        low = min(low, float(np.nanmin(conf[:, used])))
        high = max(high, float(np.nanmax(conf[:, used])))
    edges = np.logspace(
        np.log10(low + conf_pseudocount), np.log10(high + conf_pseudocount), num_bins + 1
    )
    picked = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = []
        for key, conf in confidences.items():
            shifted = conf + conf_pseudocount
            mask = (shifted >= lo) & (shifted < hi) & used[None, :]
            frames, keypoints = np.nonzero(mask)
            for t, k in zip(frames.tolist(), keypoints.tolist()):
                in_bin.append((key, t, bodyparts[k]))
        n = min(num_samples // num_bins, len(in_bin))
        if n > 0:
            for i in np.random.choice(len(in_bin), n, replace=False):
                picked.append(in_bin[i])
    order = np.random.permutation(len(picked))
    return [picked[i] for i in order]


# --------------------------------------------------------------------------- worker


def _check_result(samples, confidences, bodyparts, use_bodyparts) -> None:
    """Every sample is a distinct candidate: used bodypart, in range, not NaN."""
    assert len(set(samples)) == len(samples), "duplicate samples"
    index = {b: k for k, b in enumerate(bodyparts)}
    for key, t, b in samples:
        assert b in use_bodyparts, (key, t, b)
        assert not np.isnan(confidences[key][t, index[b]]), (key, t, b)


def worker(params: dict) -> dict:
    """One side, one mode ("time" or "memory"), in this fresh interpreter."""
    from kpcal_core.sampling import sample_error_frames

    confidences = make_confidences(
        params["n_recordings"], params["n_frames"], params["n_keypoints"], params["seed"]
    )
    bodyparts, use_bodyparts = bodyparts_for(params["n_keypoints"])
    input_bytes = sum(c.nbytes for c in confidences.values())

    if params["side"] == "ours":

        def call():
            return sample_error_frames(
                confidences,
                bodyparts,
                use_bodyparts,
                NUM_BINS,
                NUM_SAMPLES,
                CONF_PSEUDOCOUNT,
                seed=params["seed"],
            )
    else:

        def call():
            np.random.seed(params["seed"])
            return plain_sample_error_frames(
                confidences, bodyparts, use_bodyparts, NUM_BINS, NUM_SAMPLES, CONF_PSEUDOCOUNT
            )

    out = {"input_bytes": input_bytes}
    if params["mode"] == "time":
        # First call: also the RSS cross-check (a lower bound, see common.py).
        (samples, rss), first = common.timed(lambda: common.rss_growth(call))
        times = [first]
        for _ in range(params["repeats"] - 1):
            samples, seconds = common.timed(call)
            times.append(seconds)
        out.update(seconds=min(times), times=times, rss_growth=rss)
    else:
        samples, peak = common.tracemalloc_peak(call)
        out.update(tracemalloc_peak=peak)
    _check_result(samples, confidences, bodyparts, use_bodyparts)
    out["n_samples"] = len(samples)
    return out


# --------------------------------------------------------------------------- driver


def measure(side: str, shape: tuple[int, int, int], repeats: int, timeout: float | None):
    """``{"time": ..., "memory": ...}`` worker results for one side, or ``None`` on time-out."""
    n_recordings, n_frames, n_keypoints = shape
    base = dict(
        side=side, n_recordings=n_recordings, n_frames=n_frames, n_keypoints=n_keypoints, seed=1234
    )
    timing = common.run_worker(__file__, {**base, "mode": "time", "repeats": repeats}, timeout)
    if timing is None:
        return None
    memory = common.run_worker(__file__, {**base, "mode": "memory"}, timeout)
    return {"time": timing, "memory": memory}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, smoke run (< 30 s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of ours (best kept)")
    parser.add_argument(
        "--plain-repeats", type=int, default=2, help="timed calls of the plain approach (best kept)"
    )
    parser.add_argument(
        "--plain-large-timeout",
        type=float,
        default=0.0,
        help="also run the plain approach on the large case, killed after this many "
        "seconds (default 0: not run, extrapolated from the small case)",
    )
    parser.add_argument(
        "--plain-timeout",
        type=float,
        default=900.0,
        help="time limit of each plain-approach worker on the small case",
    )
    args = parser.parse_args(argv)

    if args.quick:
        small, large = (5, 20_000, 10), (5, 100_000, 10)
    else:
        small, large = (20, 50_000, 10), (100, 100_000, 10)

    started = time.perf_counter()
    print(f"machine: {common.machine_summary()}")
    print(
        f"sample_error_frames(num_bins={NUM_BINS}, num_samples={NUM_SAMPLES}); "
        f"ours: best of {args.repeats} calls; plain: best of {args.plain_repeats}; "
        "each side in a fresh interpreter"
    )
    print("peak MB = tracemalloc peak during the call, input excluded (see bench/common.py)")

    rows, rss_rows = [], []
    small_plain = None
    for label, shape, run_plain in (("small", small, True), ("large", large, None)):
        n = int(np.prod(shape))
        name = f"{n:.0e} conf ({shape[0]} rec x {shape[1]:,} x {shape[2]})"
        print(f"running {name} ...", flush=True)
        ours = measure("ours", shape, args.repeats, None)
        input_bytes = ours["time"]["input_bytes"]
        ours_t = ours["time"]["seconds"]
        ours_peak = ours["memory"]["tracemalloc_peak"]

        plain, plain_note = None, None
        if label == "small":
            plain = measure("plain", shape, args.plain_repeats, args.plain_timeout)
            if plain is None:
                plain_note = f"time-out (> {args.plain_timeout:.0f} s)"
            else:
                small_plain = (n, plain)
        elif args.plain_large_timeout > 0:
            plain = measure("plain", shape, args.plain_repeats, args.plain_large_timeout)
            if plain is None:
                plain_note = f"time-out (> {args.plain_large_timeout:.0f} s)"
        if plain is None and plain_note is None:
            if small_plain is not None:
                scale = n / small_plain[0]
                t = small_plain[1]["time"]["seconds"] * scale
                m = small_plain[1]["memory"]["tracemalloc_peak"] * scale
                plain_note = (
                    f"not run: would take ~{t:.0f} s and ~{m / 1024**3:.1f} GB "
                    f"(x{scale:.0f} the small case)"
                )
            else:
                plain_note = "not run"

        if plain is not None:
            plain_t = plain["time"]["seconds"]
            plain_peak = plain["memory"]["tracemalloc_peak"]
            ratio = plain_t / ours_t
            speed_ok = ratio >= 20
            speed_txt = f"speed >=20x: {'yes' if speed_ok else 'NO'}"
        else:
            plain_t = plain_peak = ratio = None
            speed_ok = ours_t < 5.0
            speed_txt = f"< 5 s: {'yes' if speed_ok else 'NO'}"
        mem_ok = ours_peak <= 2 * input_bytes
        mem_txt = f"peak <= 2x input: {'yes' if mem_ok else 'NO'} ({ours_peak / input_bytes:.2f}x)"
        met = "YES" if speed_ok and mem_ok else "NO"
        rows.append(
            [
                name,
                common.fmt_seconds(ours_t),
                common.fmt_mb(ours_peak),
                common.fmt_seconds(plain_t) if plain is not None else plain_note,
                common.fmt_mb(plain_peak) if plain is not None else "-",
                common.fmt_ratio(ratio),
                common.fmt_mb(input_bytes),
                f"{met}: {speed_txt}; {mem_txt}",
            ]
        )
        rss_rows.append(
            [
                name,
                ", ".join(common.fmt_seconds(s) for s in ours["time"]["times"]),
                ", ".join(common.fmt_seconds(s) for s in plain["time"]["times"])
                if plain is not None
                else "-",
                common.fmt_mb(ours["time"]["rss_growth"]),
                common.fmt_mb(plain["time"]["rss_growth"]) if plain is not None else "-",
                f"{ours['time']['n_samples']} / "
                + (str(plain["time"]["n_samples"]) if plain is not None else "-"),
            ]
        )

    common.print_table(
        [
            "case",
            "ours time",
            "ours peak MB",
            "plain time",
            "plain peak MB",
            "ratio",
            "input MB",
            "target met?",
        ],
        rows,
        title="sample_error_frames vs plain approach",
    )
    common.print_table(
        [
            "case",
            "ours: every timed call",
            "plain: every timed call",
            "ours RSS growth MB",
            "plain RSS growth MB",
            "samples ours / plain",
        ],
        rss_rows,
        title="cross-checks (RSS growth = ru_maxrss after - RSS before: a lower bound)",
    )
    print(f"\ntotal wall time of this script: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    params = common.worker_params(sys.argv)
    if params is not None:
        common.worker_reply(worker(params))
    else:
        sys.exit(main(sys.argv[1:]))
