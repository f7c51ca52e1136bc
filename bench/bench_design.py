"""Benchmark: which keypoints to annotate, and when to stop (issue 15's simulation).

Simulates annotating keypoints from pools of 100,000, on five kinds of truth,
in three orders, and checks each order with the stop rules, all in one run:

- generators (``y = log10(error + 1)``, ``x = log10(confidence + 0.001)``, noise
  sd 0.2 on ``y``, ``y`` kept >= 0): ``L`` (a control the issue does not have)
  linear ``y = -0.55 x + 0.5`` with normal noise only, where every rule's
  assumptions hold;
  ``A`` linear ``y = -0.55 x + 0.5`` with 5% identity swaps (error log-uniform
  20..200 px at any confidence); ``B`` ``-0.55 x + 0.2`` held between a 1 px
  floor and a 40 px cap; ``B2`` ``-x + 0.2`` between 2 px and 20 px; ``C``
  three bodyparts, ``-0.55 x`` plus intercepts 0.3, 0.5, 0.7; ``D`` the B
  curve per bodypart (intercepts 0.1, 0.2, 0.4) with 5% swaps;
- confidences: 80% Beta(8, 1), 15% Beta(2, 2), 5% log-uniform 1e-3..1e-1 (the
  same for every bodypart);
- orders: ``fixed`` keypoint-MoSeq's equal share per log-spaced bin in random
  order (:func:`kpcal_core.sampling.sample_error_frames`), ``planned`` the
  I-optimal order (:func:`kpcal_core.planning.plan_annotation_order`), and
  ``ends`` one per bin then alternately the lowest and highest bin (an
  ends-heavy design);
- stop rules: ``population`` (:func:`kpcal_core.diagnostics.stop_rule`: from 20
  annotations, RMS over the population of the 95% half-width of the mean
  line <= 0.073, slope half-width <= 0.1, slope < 0) and, for the fixed bins
  only, ``slope +-0.05`` (from 20 annotations, slope half-width <= 0.05: a
  stop on the slope alone, as the issue's "today" row).

Reported per generator and design: annotations to the stop (median, p90; a run
not settled by ``--max-n`` counts as ``--max-n`` and is counted in "never");
the population RMSE (of the fitted line's log10(error + 1), over the pool's
confidences, against the least-squares line of the whole pool: the best
straight line for that population) at the stop (median over repetitions, and
pooled: the root of the mean square over repetitions, which the ratios use;
the median favours designs whose error lies mostly in one direction, as equal
bins' does, whose tail is heavier) and at N = 50 and 100 (pooled); the
slope's bias at the stop against the pool's line; how often the slope's 95%
interval at the stop covers the pool's slope; false "settled": a stop whose
slope is off the pool's slope by more than 0.1 (the slope target; our reading
of the issue's definition, which it does not spell out); and "line off", a
stricter check: a stop whose population RMSE exceeds 0.073 (the RMS target).
"Line off" cannot be much below 2-5% for any design even when the model is
exactly right, because the target is a 95% half-width: the control ``L``
shows that floor.

    python bench/bench_design.py --quick     # 100 repetitions (~1-2 minutes on 2 loaded cores)
    python bench/bench_design.py             # 1,000 repetitions

Also times :func:`plan_annotation_order` on 1e7 confidences against
``sample_error_frames`` on the same input (best of 3).
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

from kpcal_core.diagnostics import (  # noqa: E402
    STOP_RMS_HALF_WIDTH,
    STOP_SLOPE_HALF_WIDTH,
    settled_mask,
    stop_numbers,
)
from kpcal_core.planning import plan_annotation_order, population_of  # noqa: E402
from kpcal_core.sampling import confidence_bin_edges, sample_error_frames  # noqa: E402

POOL = 100_000
NUM_BINS = 10
PC = 1e-3
NOISE = 0.2
SWAP_RATE = 0.05
OLD_SLOPE_TARGET = 0.05
#: A "settled" call is false when the slope is off the pool's by more than this.
FALSE_SLOPE_ERROR = STOP_SLOPE_HALF_WIDTH
GENERATORS = ("L", "A", "B", "B2", "C", "D")
DESIGNS = ("fixed", "planned", "ends")


# --------------------------------------------------------------------------- the truth


def confidences(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n,)`` confidences: 80% Beta(8,1), 15% Beta(2,2), 5% log-uniform 1e-3..1e-1."""
    u = rng.random(n)
    return np.where(
        u < 0.8,
        rng.beta(8, 1, n),
        np.where(u < 0.95, rng.beta(2, 2, n), 10 ** rng.uniform(-3, -1, n)),
    )


def mean_curve(generator: str, x: np.ndarray, part: np.ndarray) -> np.ndarray:
    """E[log10(error + 1)] before noise, for bodypart index ``part``."""
    if generator in ("A", "L"):
        return -0.55 * x + 0.5
    if generator == "B":
        return np.clip(-0.55 * x + 0.2, np.log10(2), np.log10(41))
    if generator == "B2":
        return np.clip(-1.0 * x + 0.2, np.log10(3), np.log10(21))
    if generator == "C":
        return -0.55 * x + np.array([0.3, 0.5, 0.7])[part]
    if generator == "D":
        latent = -0.55 * x + np.array([0.1, 0.2, 0.4])[part]
        return np.clip(latent, np.log10(2), np.log10(41))
    raise ValueError(generator)


def make_pool(generator: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """``(conf (T, K), y (T, K), K)``: a pool of ``POOL`` keypoints and their errors."""
    k = 3 if generator in ("C", "D") else 1
    conf = confidences(POOL // k * k, rng).reshape(-1, k)
    x = np.log10(conf + PC)
    part = np.broadcast_to(np.arange(k), conf.shape)
    y = mean_curve(generator, x, part) + rng.normal(0, NOISE, conf.shape)
    if generator in ("A", "D"):
        swapped = rng.random(conf.shape) < SWAP_RATE
        y[swapped] = np.log10(10 ** rng.uniform(np.log10(20), np.log10(200), swapped.sum()) + 1)
    return conf, np.maximum(y, 0.0), k


def ends_order(conf: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Flat indices: one per bin, then alternately the lowest and highest bin not used up."""
    flat = conf.ravel()
    names = [f"bp{i}" for i in range(conf.shape[1])]
    edges = confidence_bin_edges({"pool": conf}, names, names, NUM_BINS, PC)
    bins = np.clip(np.searchsorted(edges, flat + PC, side="right") - 1, 0, NUM_BINS - 1)
    members = [rng.permutation(np.flatnonzero(bins == b)) for b in range(NUM_BINS)]
    filled = [b for b in range(NUM_BINS) if members[b].size]
    used = dict.fromkeys(filled, 0)
    out = []
    for b in filled:
        out.append(members[b][0])
        used[b] = 1
    while len(out) < n:
        left = [b for b in filled if used[b] < members[b].size]  # bins not yet used up
        if not left:
            break
        b = left[0] if len(out) % 2 else left[-1]
        out.append(members[b][used[b]])
        used[b] += 1
    return np.array(out[:n])


def keys_to_index(keys, names) -> np.ndarray:
    k = len(names)
    lookup = {name: i for i, name in enumerate(names)}
    return np.array([frame * k + lookup[part] for _, frame, part in keys])


# --------------------------------------------------------------------------- one generator


def simulate(generator: str, reps: int, max_n: int, seed: int) -> dict:
    """Every repetition's designs, their x and y, and the pool's line and moments."""
    xs = {d: np.empty((reps, max_n)) for d in DESIGNS}
    ys = {d: np.empty((reps, max_n)) for d in DESIGNS}
    best = np.empty((reps, 2))  # slope, intercept of the pool's line
    moments = np.empty((reps, 2))  # mean, mean square of the pool's x
    plan_seconds = 0.0
    seeds = np.random.SeedSequence([seed, GENERATORS.index(generator)]).spawn(reps)
    for r in range(reps):
        rng = np.random.default_rng(seeds[r])
        conf, y, k = make_pool(generator, rng)
        names = [f"bp{i}" for i in range(k)]
        x = np.log10(conf + PC)
        best[r] = np.polyfit(x.ravel(), y.ravel(), 1)
        population = population_of({"pool": conf}, names, names, PC)
        moments[r] = population.mean, population.second_moment
        start = time.perf_counter()
        planned = plan_annotation_order({"pool": conf}, names, names, NUM_BINS, max_n, PC, seed=r)
        plan_seconds += time.perf_counter() - start
        fixed = sample_error_frames({"pool": conf}, names, names, NUM_BINS, max_n, PC, seed=r)
        orders = {
            "fixed": keys_to_index(fixed, names),
            "planned": keys_to_index(planned, names),
            "ends": ends_order(conf, max_n, rng),
        }
        for d, index in orders.items():
            xs[d][r] = x.ravel()[index]
            ys[d][r] = y.ravel()[index]
    return {
        "x": xs,
        "y": ys,
        "best": best,
        "moments": moments,
        "plan_ms": 1000 * plan_seconds / reps,
    }


def population_rmse(slope, intercept, best, moments) -> np.ndarray:
    """RMS over the pool of (fitted - best line): closed form from the pool's moments."""
    da = intercept - best[..., 1]
    db = slope - best[..., 0]
    mean, square = moments[..., 0], moments[..., 1]
    return np.sqrt(np.maximum(da * da + 2 * da * db * mean + db * db * square, 0.0))


def summarise(sim: dict, design: str, rule: str, max_n: int) -> dict:
    x, y = sim["x"][design], sim["y"][design]
    moments, best = sim["moments"], sim["best"]
    variance = moments[:, 1] - moments[:, 0] ** 2
    numbers = stop_numbers(x, y, moments[:, 0], variance)
    if rule == "population":
        settled = settled_mask(numbers)
    else:
        with np.errstate(invalid="ignore"):
            settled = (numbers["n"] >= 20) & (numbers["slope_half_width"] <= OLD_SLOPE_TARGET)
    ever = settled.any(axis=1)
    stop = np.where(ever, settled.argmax(axis=1), max_n - 1)
    rows = np.arange(len(stop))
    slope = numbers["slope"][rows, stop]
    intercept = numbers["intercept"][rows, stop]
    half = numbers["slope_half_width"][rows, stop]
    rmse_stop = population_rmse(slope, intercept, best, moments)
    slope_error = slope - best[:, 0]
    at = {}
    for n in (50, 100):
        if n <= max_n:
            at[n] = population_rmse(
                numbers["slope"][:, n - 1], numbers["intercept"][:, n - 1], best, moments
            )
    slope_off = ever & (np.abs(slope_error) > FALSE_SLOPE_ERROR)
    line_off = ever & (rmse_stop > STOP_RMS_HALF_WIDTH)
    return {
        "stop": stop + 1,
        "never": 1 - ever.mean(),
        "rmse_stop": rmse_stop,
        "rmse_at": at,
        "bias": float(np.mean(slope_error)),
        "coverage": float(np.mean(np.abs(slope_error) <= half)),
        "false": float(slope_off.sum() / max(ever.sum(), 1)),
        "line_off": float(line_off.sum() / max(ever.sum(), 1)),
    }


# --------------------------------------------------------------------------- timing


def timing(repeats: int = 3) -> None:
    """plan_annotation_order vs sample_error_frames on 1e7 confidences (10 x 50,000 x 20)."""
    rng = np.random.default_rng(0)
    conf = {f"rec{i}": confidences(1_000_000, rng).reshape(-1, 20) for i in range(10)}
    names = [f"bp{i}" for i in range(20)]
    rows = []
    for label, fn in (
        (
            "sample_error_frames, 100 samples",
            lambda: sample_error_frames(conf, names, names, 10, 100, PC, seed=0),
        ),
        (
            "plan_annotation_order, 100 samples",
            lambda: plan_annotation_order(conf, names, names, 10, 100, PC, seed=0),
        ),
        (
            "plan_annotation_order, 1,000 samples",
            lambda: plan_annotation_order(conf, names, names, 10, 1000, PC, seed=0),
        ),
        ("population_of", lambda: population_of(conf, names, names, PC)),
    ):
        _, best, _ = common.best_of(fn, repeats)
        rows.append((label, common.fmt_seconds(best)))
    common.print_table(
        ["1e7 confidences (10 recordings x 50,000 frames x 20 bodyparts)", "best of 3"],
        rows,
        "Time to plan",
    )


# --------------------------------------------------------------------------- main


def pooled(rmse: np.ndarray) -> float:
    """RMSE pooled over repetitions: the root of the mean squared population RMSE."""
    return float(np.sqrt(np.mean(np.square(rmse))))


def fmt_stop(stop: np.ndarray) -> str:
    return f"{np.median(stop):.0f} / {np.percentile(stop, 90):.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 repetitions")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 1,000)")
    parser.add_argument("--max-n", type=int, default=400, help="most annotations per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()
    reps = args.reps or (100 if args.quick else 1000)
    print(common.machine_summary())
    print(f"{reps} repetitions per generator, pools of {POOL:,}, at most {args.max_n} annotations")
    if not args.no_timing:
        timing()
    summary_rows = []
    for generator in GENERATORS:
        start = time.perf_counter()
        sim = simulate(generator, reps, args.max_n, args.seed)
        elapsed = time.perf_counter() - start
        results = {(d, "population"): summarise(sim, d, "population", args.max_n) for d in DESIGNS}
        results[("fixed", "slope ±0.05")] = summarise(sim, "fixed", "slope", args.max_n)
        rows = []
        for (design, rule), res in results.items():
            rows.append(
                (
                    design,
                    rule,
                    fmt_stop(res["stop"]),
                    f"{res['never']:.1%}",
                    f"{np.median(res['rmse_stop']):.4f} / {pooled(res['rmse_stop']):.4f}",
                    *(
                        f"{pooled(res['rmse_at'][n]):.4f}" if n in res["rmse_at"] else "-"
                        for n in (50, 100)
                    ),
                    f"{res['bias']:+.3f}",
                    f"{res['coverage']:.0%}",
                    f"{res['false']:.1%}",
                    f"{res['line_off']:.1%}",
                )
            )
        common.print_table(
            [
                "design",
                "stop rule",
                "annotations to stop (median / p90)",
                "never settled",
                "pop. RMSE at stop (median / pooled)",
                "pooled at N=50",
                "pooled at N=100",
                "slope bias at stop",
                "slope CI covers",
                "false settled (slope off > 0.1)",
                "line off (pop. RMSE > 0.073)",
            ],
            rows,
            f"Generator {generator} ({elapsed:.0f} s; planning {sim['plan_ms']:.0f} ms per run)",
        )
        fixed, planned = results[("fixed", "population")], results[("planned", "population")]
        today = results[("fixed", "slope ±0.05")]
        summary_rows.append(
            (
                generator,
                f"{np.median(fixed['stop']) / np.median(planned['stop']):.2f}x",
                f"{np.median(today['stop']) / np.median(planned['stop']):.2f}x",
                f"{pooled(planned['rmse_stop']) / pooled(fixed['rmse_stop']):.2f}",
                f"{pooled(planned['rmse_stop']) / pooled(today['rmse_stop']):.2f}",
                f"{pooled(planned['rmse_at'][50]) / pooled(fixed['rmse_at'][50]):.2f}"
                if 50 in planned["rmse_at"]
                else "-",
                f"{planned['bias']:+.3f}",
                f"{planned['false']:.1%}",
                f"{planned['line_off']:.1%}",
            )
        )
    common.print_table(
        [
            "generator",
            "saving vs fixed (same rule)",
            "saving vs fixed (slope ±0.05)",
            "RMSE at stop, planned / fixed",
            "planned / fixed (slope ±0.05)",
            "RMSE at N=50, planned / fixed",
            "planned slope bias",
            "planned false settled",
            "planned line off",
        ],
        summary_rows,
        "Targets: saving >= 1.5x on every generator; planned RMSE <= 1.05x fixed (lower when curved); false settled <= 2%",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
