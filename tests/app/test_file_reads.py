"""Files read on a click and on a Next of the annotate page (issue 22).

``config.yml`` and ``calibration/session.json`` are asked for several times per page run
(the stop status, autosave, the page's own settings); they are read from disk only when
they changed (:func:`kpcal_core.textio.read_when_changed`). Counted with an audit hook
(:func:`sys.addaudithook`, every ``open``) in a separate interpreter, as the 21st to 23rd
annotations are clicked and between them on each Next.
Before: a click read config.yml 5 times and session.json 3 times, a Next 3 and 2 times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

PROBE = """
import collections, json, os, sys
from pathlib import Path
from apptest_support import annotate_truly, button, check, click_image, draw_demo_samples
from apptest_support import new_app, open_page
from kpcal_core.demo import make_demo_project

project = Path(sys.argv[1]) / "demo"
make_demo_project(project)
annotate_truly(project, draw_demo_samples(project)[:20])
at = check(open_page(new_app(), "pages/annotate.py"))
opens, recording = collections.Counter(), [False]

def hook(event, args):
    if recording[0] and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        mode, flags = args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR)
        )
        if path.startswith(str(project)) and not writing:
            opens[Path(path).name] += 1

sys.addaudithook(hook)
steps = []
for _ in range(3):
    for name, act in (
        ("click", lambda: click_image(at, 280, 280)),
        ("next", lambda: (button(at, "Next").click(), check(at.run()))),
    ):
        opens.clear()
        recording[0] = True
        act()
        recording[0] = False
        steps.append([name, dict(opens)])
print(json.dumps(steps), flush=True)
# the page's background frame work may still be running: leave without tearing it down
os._exit(0)
"""


def test_config_and_session_are_read_only_when_they_changed(tmp_path):
    env = {
        **os.environ,
        "KPCAL_PROJECT": str(tmp_path / "demo"),
        "KPCAL_STATE_DIR": str(tmp_path / "state"),
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
    }
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=HERE.parents[1],
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    steps = json.loads(run.stdout.strip().splitlines()[-1])
    assert [name for name, _ in steps] == ["click", "next"] * 3
    for name, reads in steps:
        assert reads.get("session.json", 0) == 0, (name, reads)
        if name == "next":  # nothing changed: neither is read
            assert reads.get("config.yml", 0) == 0, (name, reads)
        else:
            # the click's save writes config.yml's line (autosave): it is read once as text
            # to edit it (it changed at the previous click) and once after this write
            assert reads.get("config.yml", 0) <= 2, (name, reads)
            assert reads.get("error_annotations.csv", 0) == 1, (name, reads)  # the merge
