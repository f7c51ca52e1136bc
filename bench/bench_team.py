"""Benchmark: clicks per annotator to "Settled" with 1, 2 and 4 annotators (issue 23).

Several annotators share a project as the app shares it (:mod:`kpcal_core.team`):
each takes, in the planned order, the first sample nobody has done or a
second-look sample another person did (:func:`kpcal_core.team.second_look_samples`,
the default 10% share spread over the samples' confidences), one click per
step each; the samples done are then always the first ones of the order
(up to the ``k - 1`` taken in the same step), so the stop rule sees the same
sequence as one annotator sees. A run is stopped by the app's rule
(:func:`kpcal_core.running.stop_numbers` and
:func:`~kpcal_core.running.settled_mask`, the population's moments as
``stop_rule`` takes them) on the samples done, exactly as ``bench_design.py``
does; "clicks per annotator" is the step at which the samples done reach the
settled prefix, "clicks" all clicks made by then (second looks included).
A second look costs a click here but its click does not change the sample's
error (the bench does not model the mean of two clicks). A lone annotator gets
no second look (nobody else did the sample).

Both orders of ``bench_design.py`` are run on its synthetic pools (same
generators, noise, seeds): ``fixed`` (keypoint-MoSeq's equal bins) and
``planned``; the saving (fixed / planned, medians of clicks per annotator)
is printed for each team size, all three from one run.

    python bench/bench_team.py --quick    # 100 repetitions per case
    python bench/bench_team.py            # 300 repetitions per case
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

import bench_design  # noqa: E402
import common  # noqa: E402

from kpcal_core.team import SECOND_LOOK_SHARE, second_look_samples  # noqa: E402

TEAMS = (1, 2, 4)
CASES = ("L", "H", "M3", "MHS")


def schedule(n: int, second: set[int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """How ``k`` annotators work through ``n`` samples in the planned order.

    Returns ``(first_done, clicks)``, each ``(steps,)``: after each step, how many
    samples have their first click (always the first ones of the order) and how
    many clicks were made in all.
    """
    first_by = np.full(n, -1)
    pending: list[int] = []  # second looks offered: done once, not twice
    done_second: set[int] = set()
    next_first, clicks = 0, 0
    first_done, total = [], []
    while next_first < n or pending:
        for a in range(k):
            pick = next((i for i in pending if first_by[i] != a), None)
            if pick is not None:
                pending.remove(pick)
                done_second.add(pick)
            elif next_first < n:
                pick = next_first
                first_by[pick] = a
                next_first += 1
                if k > 1 and pick in second:
                    pending.append(pick)
                    pending.sort()
            else:
                continue
            clicks += 1
        first_done.append(next_first)
        total.append(clicks)
    return np.array(first_done), np.array(total)


def team_cost(stop: np.ndarray, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(clicks per annotator, clicks in all)`` to reach each run's settled prefix ``stop``.

    ``x``: ``(reps, n)`` log10 confidences in the order (the second look is chosen by them).
    """
    reps, n = x.shape
    per, total = np.empty(reps), np.empty(reps)
    keys = [("pool", i, "bp") for i in range(n)]
    for r in range(reps):
        second = {key[1] for key in second_look_samples(keys, x[r], SECOND_LOOK_SHARE)}
        first_done, clicks = schedule(n, second, k)
        step = int(np.searchsorted(first_done, stop[r]))  # first step with the prefix done
        step = min(step, len(first_done) - 1)
        per[r], total[r] = step + 1, clicks[step]
    return per, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 repetitions")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 300)")
    parser.add_argument("--max-n", type=int, default=400, help="most samples per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", default=",".join(CASES), help="bench_design generators")
    args = parser.parse_args()
    reps = args.reps or (100 if args.quick else 300)
    started = time.perf_counter()
    print(common.machine_summary())
    print(
        f"{reps} repetitions per case, pools of {bench_design.POOL:,}, at most {args.max_n} "
        f"samples; second-look share {SECOND_LOOK_SHARE:.0%}; teams of {TEAMS}"
    )
    summary = []
    for generator in args.cases.split(","):
        start = time.perf_counter()
        sim = bench_design.simulate(generator, reps, args.max_n, args.seed)
        rows, medians = [], {}
        for design in bench_design.DESIGNS:
            stop = bench_design.summarise(sim, design)["stop"]
            for k in TEAMS:
                per, total = team_cost(stop, sim["x"][design], k)
                medians[design, k] = float(np.median(per))
                rows.append(
                    (
                        design,
                        str(k),
                        f"{np.median(per):.0f} / {np.percentile(per, 90):.0f}",
                        f"{np.median(total):.0f}",
                        f"{np.median(stop):.0f}",
                        f"{np.median(per) * k / np.median(stop):.2f}",
                    )
                )
        common.print_table(
            [
                "order",
                "annotators",
                "clicks per annotator to Settled (median / p90)",
                "clicks in all (median)",
                "samples at Settled (median)",
                "team overhead (clicks per annotator x k / samples)",
            ],
            rows,
            f"Case {generator} ({time.perf_counter() - start:.0f} s)",
        )
        summary.append(
            (
                generator,
                *(
                    f"{medians['planned', k]:.0f} vs {medians['fixed', k]:.0f} "
                    f"({medians['fixed', k] / medians['planned', k]:.2f}x)"
                    for k in TEAMS
                ),
            )
        )
    common.print_table(
        ["case", *(f"{k} annotator(s): planned vs fixed (saving)" for k in TEAMS)],
        summary,
        "Clicks per annotator to Settled (medians): the planned order's saving with a team",
    )
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
