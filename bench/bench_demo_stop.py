"""Clicks to "Settled" on demo projects: the planned order vs keypoint-MoSeq's bins.

For each demo seed (80 frames per recording, clicking noise sd 0.2 in
log10(error + 1), as ``tests/browser/test_browser_stop.py``) and each sampling
seed, draws 100 samples in both orders (``plan_annotation_order`` and
``sample_error_frames``, what ``workflows.draw_samples`` draws on a fresh
project), annotates them at the demo's true positions in order and counts the
annotations until ``stop_rule`` settles (over the project's keypoints). Prints
every pair's counts and a summary; this is how the browser test's seeds were
chosen (both counts small, a clear gap).

Run: ``python bench/bench_demo_stop.py [--quick] [--demo-seeds N] [--sample-seeds N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from common import machine_summary, print_table  # noqa: E402

from kpcal_core import Annotation, plan_annotation_order, sample_error_frames  # noqa: E402
from kpcal_core.demo import load_ground_truth, make_demo_project  # noqa: E402
from kpcal_core.fit_service import project_points, project_population  # noqa: E402
from kpcal_core.project import load_project_data  # noqa: E402
from kpcal_core.running import settled_mask, stop_numbers  # noqa: E402

N_SAMPLES = 100


def clicks_to_settled(data, truth, keys, population) -> int | None:
    """Annotations at the truth, in ``keys`` order, until the stop rule settles (None: never)."""
    records = {}
    for i, (recording, frame, bodypart) in enumerate(keys):
        x, y = truth[recording][frame, data.bodyparts.index(bodypart)]
        records[(recording, frame, bodypart)] = Annotation(float(x), float(y), "sim", f"{i:06d}")
    points = project_points(data, records).sort_values("annotated_at", kind="stable")
    mean, variance = population.winsorized()  # as stop_rule takes them
    numbers = stop_numbers(
        points["log10_confidence"].to_numpy(),
        points["log10_error"].to_numpy(),
        mean,
        variance,
    )
    settled = settled_mask(numbers, slope_lever=population.slope_lever)
    return int(np.argmax(settled)) + 1 if settled.any() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-seeds", type=int, default=20)
    parser.add_argument("--sample-seeds", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="3 demo seeds x 4 sampling seeds")
    args = parser.parse_args()
    if args.quick:
        args.demo_seeds, args.sample_seeds = 3, 4
    print(machine_summary())
    rows, pairs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for demo_seed in range(args.demo_seeds):
            folder = Path(tmp) / f"demo{demo_seed}"
            make_demo_project(folder, n_frames=80, seed=demo_seed, noise_sd=0.2)
            data = load_project_data(folder)
            truth = load_ground_truth(folder)["true_coordinates"]
            population = project_population(data)
            for sample_seed in range(args.sample_seeds):
                draw = (
                    data.confidences,
                    data.bodyparts,
                    data.use_bodyparts,
                    10,
                    N_SAMPLES,
                    data.conf_pseudocount,
                )
                planned = plan_annotation_order(
                    *draw, coordinates=data.coordinates, seed=sample_seed
                )
                bins = sample_error_frames(*draw, coordinates=data.coordinates, seed=sample_seed)
                counts = [clicks_to_settled(data, truth, k, population) for k in (planned, bins)]
                pairs.append(counts)
                rows.append([demo_seed, sample_seed, *(c or f">{N_SAMPLES}" for c in counts)])
    print_table(["demo seed", "sample seed", "planned", "keypoint-MoSeq bins"], rows)
    cap = N_SAMPLES + 1  # not settled within the samples: counted as one more
    planned = [p or cap for p, _ in pairs]
    bins = [b or cap for _, b in pairs]
    print(
        f"\n{len(pairs)} pairs: median clicks to 'Settled' planned {statistics.median(planned)}, "
        f"bins {statistics.median(bins)} (not settled within {N_SAMPLES}: planned "
        f"{sum(p is None for p, _ in pairs)}, bins {sum(b is None for _, b in pairs)}); planned "
        f"fewer in {sum(p < b for p, b in zip(planned, bins, strict=True))} of {len(pairs)}"
    )


if __name__ == "__main__":
    main()
