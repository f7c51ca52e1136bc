"""Load: five browser sessions annotate at once on one server; nothing is lost, nothing fails.

One ``streamlit run app.py`` serves five Playwright contexts (separate
browser sessions, like five people) in Debian's Chromium:

* three work on three separate projects and annotate samples 1..20 each
  (moving on with "Next unannotated", "Next", or both in turn);
* two work on the same project as a team (issue 23): each takes the sample
  the page gives with "Next unannotated", so they share the work; only the
  second-look share is clicked by both. (Before issue 23, A annotated 1..20
  and B, from ``?sample=11``, 11..30: the later click replaced the earlier.)

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
clicked positions; the shared project holds all 40 clicks, each as its
annotator's row at the clicked position with a time within the round trip,
no sample clicked by both but the second-look share; after a reload every
page shows its project's full count. Prints the wall time and
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
    check_team_project,
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


def test_five_sessions_annotate_at_once(tmp_path, monkeypatch):
    started = time.monotonic()
    monkeypatch.delenv("KPCAL_PROJECT", raising=False)
    projects = [tmp_path / f"project{i}" for i in range(1, 5)]
    samples = {
        p: prepared_demo_project(p, seed=i, num_samples=60) for i, p in enumerate(projects, 1)
    }
    for keys in samples.values():
        assert len(keys) >= 2 * N_CLICKS and len(set(keys)) == len(keys)
    separate, shared = projects[:3], projects[3]
    plans = [
        Plan("solo1", separate[0], 1, "unannotated", (-20, 0)),
        Plan("solo2", separate[1], 1, "next", (0, -20)),
        Plan("solo3", separate[2], 1, "alternate", (10, 10)),
        Plan("shared_a", shared, 1, "unannotated", (-20, -10), shared=True, team=True),
        Plan("shared_b", shared, 1, "unannotated", (20, 10), shared=True, team=True),
    ]
    expected = {**dict.fromkeys(separate, N_CLICKS), shared: None}
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

    # ------------------------------------------------ shared project: a team, every click kept
    team = check_team_project(shared, plans[3:])
    assert team["rows"] == 2 * N_CLICKS

    # ------------------------------------------------ figures
    navigations = [t for plan in plans for t in plan.navigation_times]
    per_session = ", ".join(
        f"{p.name} {1000 * statistics.median(c.round_trip for c in p.clicks):.0f}" for p in plans
    )
    print(
        f"\nbrowser load: {len(plans)} sessions; the team of two kept {team['rows']} clicks on "
        f"{team['samples']} samples ({team['twice']} second looks); "
        f"{round_trip_summary(plans)} (per session median: {per_session} ms); next sample median "
        f"{1000 * statistics.median(navigations):.0f} ms, p95 "
        f"{1000 * percentile(navigations, 0.95):.0f} ms; browsing {browsing:.1f} s, "
        f"total {time.monotonic() - started:.1f} s"
    )
