"""Load: five browser sessions annotate at once on one server; nothing is lost, nothing fails.

One ``streamlit run app.py`` serves five Playwright contexts (separate
browser sessions, like five people) in Debian's Chromium:

* three work on three separate projects and annotate samples 1..20 each
  (moving on with "Next unannotated", "Next", or both in turn);
* two work on the same project: A annotates samples 1..20, B opens
  ``?sample=11`` and annotates 11..30, so samples 11..20 are clicked by both
  (B first, A about ten clicks later).

The sessions run concurrently (Playwright's async API, one coroutine per
session, ``asyncio.gather``): each click is answered while the other
sessions' clicks and page changes are being handled. Each session types its
own name in the sidebar's "Annotator" box and clicks its own spot near the
centre of the image (the sampled keypoint), so every click redraws the image
(the red X moves) and every saved position tells whose click it was.

Checked: no page ever shows a Streamlit exception or an error box (watched
continuously by a ``MutationObserver``), no JavaScript error in any page or
frame, no traceback in the server log; each separate project's
``error_annotations.csv`` holds exactly its session's 20 samples at the
clicked positions; the shared project holds the union (30): each sample at
the position, with the annotator and a time within the round trip, of the
session that clicked it, the overlapping ones of the later click; after a
reload every page shows its project's full count. Prints the wall time and
the click round trips (click -> red X drawn) under this load. On a failure,
a screenshot and the state of the image component of the page at fault are
written to the test's temporary folder. The session machinery and the checks
are in ``tests/browser.py`` (shared with the ten-session test behind the proxy,
``tests/test_deploy.py``).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

from browser_support import (  # noqa: E402
    CHROMIUM,
    Plan,
    check_own_project,
    check_shared_project,
    percentile,
    prepared_demo_project,
    round_trip_summary,
    run_all,
    streamlit_server,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

N_CLICKS = 20  # per session
SHARED_B_START = 11  # session B's first sample (1-based): overlap 11..20 with A


def test_five_sessions_annotate_at_once(tmp_path, monkeypatch):
    started = time.monotonic()
    monkeypatch.delenv("KPCAL_PROJECT", raising=False)
    projects = [tmp_path / f"project{i}" for i in range(1, 5)]
    samples = {
        p: prepared_demo_project(p, seed=i, num_samples=60) for i, p in enumerate(projects, 1)
    }
    for keys in samples.values():
        assert len(keys) >= SHARED_B_START - 1 + N_CLICKS and len(set(keys)) == len(keys)
    separate, shared = projects[:3], projects[3]
    plans = [
        Plan("solo1", separate[0], 1, "unannotated", (-20, 0)),
        Plan("solo2", separate[1], 1, "next", (0, -20)),
        Plan("solo3", separate[2], 1, "alternate", (10, 10)),
        Plan("shared_a", shared, 1, "next", (-20, -10), shared=True),
        Plan("shared_b", shared, SHARED_B_START, "next", (20, 10), shared=True),
    ]
    a, b = plans[3], plans[4]
    overlap = set(range(SHARED_B_START, N_CLICKS + 1))
    union_size = 2 * N_CLICKS - len(overlap)
    expected = {**dict.fromkeys(separate, N_CLICKS), shared: union_size}
    env = {"KPCAL_DEMO_DIR": str(tmp_path / "demo"), "KPCAL_STATE_DIR": str(tmp_path / "state")}
    prepared = time.monotonic()

    with streamlit_server(env, tmp_path / "streamlit.log") as server:
        asyncio.run(run_all(server.url, plans, samples, expected, tmp_path))
        log = server.log()
    browsing = time.monotonic() - prepared

    # ------------------------------------------------ no error anywhere
    for plan in plans:
        assert not plan.errors, (plan.name, plan.errors)
        assert len(plan.clicks) == N_CLICKS
    assert "Traceback" not in log, log[-4000:]
    assert not (tmp_path / "demo").exists()  # every session stayed on its own project

    # ------------------------------------------------ separate projects: exactly their clicks
    for plan in plans[:3]:
        check_own_project(plan)

    # ------------------------------------------------ shared project: the union, later click wins
    both = {c.key for c in a.clicks} & {c.key for c in b.clicks}
    assert {c.index for c in a.clicks if c.key in both} == overlap
    overlaps, separated = check_shared_project(shared, [a, b])
    assert overlaps == separated == len(overlap)  # round trips apart: the later click is known
    b_keys = {c.key: c for c in b.clicks}
    a_won = sum(1 for c in a.clicks if c.key in both and c.started > b_keys[c.key].answered)

    # ------------------------------------------------ figures
    navigations = [t for plan in plans for t in plan.navigation_times]
    per_session = ", ".join(
        f"{p.name} {1000 * statistics.median(c.round_trip for c in p.clicks):.0f}" for p in plans
    )
    print(
        f"\nbrowser load: {len(plans)} sessions, {len(both)} samples clicked by both shared "
        f"sessions (later click kept: A {a_won}, B {len(both) - a_won}); "
        f"{round_trip_summary(plans)} (per session median: {per_session} ms); next sample median "
        f"{1000 * statistics.median(navigations):.0f} ms, p95 "
        f"{1000 * percentile(navigations, 0.95):.0f} ms; browsing {browsing:.1f} s, "
        f"total {time.monotonic() - started:.1f} s"
    )
