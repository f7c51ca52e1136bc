"""The annotate page's stop status: the server time it adds per click and per Next.

On the demo project with 100 samples drawn (planned order), with 20, 50 and 100
of them annotated at their truth, times ``kpcal_app.cache.stop_status`` as the
annotate page calls it on every run:

- after a click (or Clear, Not visible): the annotations' content is new, so the
  stop rule is computed (``workflows.stop_status``: the points, the least-squares
  line and its two half-widths; the population comes from its own cache);
- after Next or Previous: the same content, a cache hit (the content digest, the
  keypoints' fingerprint and Streamlit's cache lookup).

Beside them, from the same run: the rest of a click's server work that the page
already did before (``workflows.record_annotation``: save under the lock, merge),
so the added share is visible. Median and p95 of ``--repeats`` calls each.

Run: ``python bench/bench_stop_status.py [--quick] [--repeats N]`` (Streamlit's cache runs
without a server here: it warns once that there is no runtime).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from common import machine_summary, print_table  # noqa: E402

from kpcal_app import cache  # noqa: E402
from kpcal_core import workflows  # noqa: E402
from kpcal_core.annotations import Annotation, now_utc  # noqa: E402
from kpcal_core.demo import load_ground_truth, make_demo_project  # noqa: E402


def ms(values: list[float]) -> tuple[str, str]:
    return f"{1000 * statistics.median(values):.2f}", f"{1000 * np.percentile(values, 95):.2f}"


def truth_records(project: Path, data, keys) -> dict:
    truth = load_ground_truth(project)["true_coordinates"]
    return {
        key: Annotation(
            *(float(c) for c in truth[key[0]][key[1], data.bodyparts.index(key[2])]),
            "bench",
            now_utc(),
        )
        for key in keys
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="50 repeats")
    args = parser.parse_args()
    if args.quick:
        args.repeats = min(args.repeats, 50)
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    print(machine_summary())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "demo"
        make_demo_project(project)
        data = cache.project_data(str(project))
        samples = workflows.draw_samples(data, num_samples=100, seed=0).sample_keys
        data = cache.project_data(str(project))
        for n in (20, 50, 100):
            records = truth_records(project, data, samples[:n])
            cache.stop_status(data, records)  # the population, once per keypoints
            hits, misses, saves = [], [], []
            key = samples[n - 1]
            for i in range(args.repeats):
                # a click: the last sample clicked again, 0.01 px further each time
                moved = records[key]
                records[key] = Annotation(moved.x + 0.01, moved.y, "bench", now_utc())
                t0 = time.perf_counter()
                check = cache.stop_status(data, records)
                misses.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                again = cache.stop_status(data, records)  # Next: same content
                hits.append(time.perf_counter() - t0)
                assert again == check
                if i < 20:  # a click's save (writes files): fewer repeats
                    t0 = time.perf_counter()
                    workflows.record_annotation(data, records, key, records[key])
                    saves.append(time.perf_counter() - t0)
            rows.append(
                [
                    n,
                    *ms(misses),
                    *ms(hits),
                    *ms(saves),
                    "settled" if check.settled else f"{check.more_needed} more",
                ]
            )
    print_table(
        [
            "annotations",
            "status per click ms (median)",
            "p95",
            "status per Next ms (median)",
            "p95",
            "click's save ms (median)",
            "p95",
            "verdict",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
