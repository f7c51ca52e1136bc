"""Run every benchmark and print their tables: ``python bench/run_all.py [--quick]``.

Each script runs in its own interpreter, one after the other (never in parallel:
the machine has 2 cores and both sides of a comparison must see the same load).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_sampling.py",
    "bench_design.py",
    "bench_frames.py",
    "bench_load_dlc.py",
    "bench_keypoints_scale.py",
    "bench_app.py",
    "bench_stop_status.py",
    "bench_demo_stop.py",
    "bench_browser.py",
]


def main() -> int:
    extra = [a for a in sys.argv[1:]]
    failed = []
    for script in SCRIPTS:
        args = [a for a in extra if script != "bench_load_dlc.py" or a != "--quick"]
        print(f"\n## {script} {' '.join(args)}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(BENCH / script), *args])
        print(f"({script}: {time.perf_counter() - start:.0f} s, exit {code})", flush=True)
        if code:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
