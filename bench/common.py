"""Shared helpers for the benchmarks: timing, peak memory, fresh-subprocess workers, tables.

Peak memory, and why it is measured this way
--------------------------------------------
Each measured call runs in a *fresh* interpreter (:func:`run_worker`), so
nothing left over from another measurement (allocator caches, the other
side's garbage, imported modules) is counted.

The number reported as "peak MB" comes from :mod:`tracemalloc`, started
*after* the input has been built and just before the measured call
(:func:`tracemalloc_peak`). numpy reports every array data buffer to
tracemalloc (``PyTraceMalloc_Track``), and every Python object (the plain
approach's tuples and lists) goes through the traced Python allocator, so the
traced peak is exactly "the most memory the call had allocated at any one time
beyond what existed before it". Blocks allocated before ``start()`` (the
input) are not traced and freeing them is ignored, so the input is not counted.
What it cannot see: memory allocated by C libraries behind numpy's and
Python's back (none here: no BLAS, no OpenCV in the sampling code) and the
interpreter's own small fixed overhead. tracemalloc slows Python-object-heavy
code several-fold, so it is never on during a *timed* run.

As a cross-check the timed run also reports the growth of ``ru_maxrss`` (the
OS's peak resident set) over the call. That figure is a *lower bound*: if
building the input had already pushed the peak above the resident size at the
start of the call, the call's own peak only shows up where it exceeds that
earlier high-water mark. The inputs are built in place, recording by recording,
to keep that earlier overshoot small, and the baseline printed is the current
RSS (``/proc/self/statm``), not the earlier peak.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

MB = 1024 * 1024


# --------------------------------------------------------------------------- timing


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), wall seconds)``."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def timed_cpu(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``(fn(), wall seconds, CPU seconds of this process, all threads)``.

    CPU time counts the work done and is less sensitive than wall time to
    other load on a shared machine; wall time shows what parallelism gained.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[Any, float, list[float]]:
    """Run ``fn`` ``repeats`` times; ``(last result, fastest seconds, all seconds)``.

    The fastest run is the least disturbed by other load on a shared machine.
    """
    times = []
    result = None
    for _ in range(max(1, repeats)):
        result, seconds = timed(fn)
        times.append(seconds)
    return result, min(times), times


# --------------------------------------------------------------------------- memory


def current_rss_bytes() -> int:
    """Resident set size of this process now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as handle:
        resident_pages = int(handle.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def max_rss_bytes() -> int:
    """Peak resident set size of this process so far (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def tracemalloc_peak(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``(fn(), peak bytes traced during fn)``; see the module docstring.

    Must be called with tracemalloc off, after the input exists.
    """
    if tracemalloc.is_tracing():
        raise RuntimeError("tracemalloc is already tracing; start from a fresh interpreter")
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak - before


def rss_growth(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``(fn(), ru_maxrss after fn - current RSS before fn)``: a lower bound of fn's peak."""
    before = current_rss_bytes()
    result = fn()
    return result, max(0, max_rss_bytes() - before)


# --------------------------------------------------------------------------- workers


def run_worker(script: str, params: dict, timeout: float | None = None) -> dict | None:
    """Run ``python script --worker JSON`` in a fresh interpreter; its last stdout line is JSON.

    Returns the parsed dict, or ``None`` when the worker ran past ``timeout``
    seconds (it is killed). A worker that fails raises with its stderr.
    """
    cmd = [sys.executable, script, "--worker", json.dumps(params)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"worker {params} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1])


def worker_params(argv: Sequence[str]) -> dict | None:
    """The worker's parameters if ``argv`` is ``[... '--worker', JSON]``, else ``None``."""
    if "--worker" in argv:
        return json.loads(argv[argv.index("--worker") + 1])
    return None


def worker_reply(result: dict) -> None:
    """Print the worker's result as the last line of stdout."""
    print(json.dumps(result), flush=True)


# --------------------------------------------------------------------------- printing


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def fmt_mb(nbytes: float | None) -> str:
    return "-" if nbytes is None else f"{nbytes / MB:.0f}"


def fmt_ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.1f}x"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    """A GitHub-style pipe table, columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"

    if title:
        print(f"\n{title}")
    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))
    sys.stdout.flush()


def machine_summary() -> str:
    """One line: cores, memory, Python and numpy versions."""
    import platform

    import numpy as np

    try:
        with open("/proc/meminfo") as handle:
            total_kb = int(handle.readline().split()[1])
        mem = f"{total_kb / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        mem = "RAM unknown"
    try:
        load = "load %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = ""
    return (
        f"{os.cpu_count()} cores, {mem}, {load}; Python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )
