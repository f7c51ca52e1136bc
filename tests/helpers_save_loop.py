"""Child process for the crash-safety and concurrency tests (run as a script, not collected).

Modes
-----
``loop PROJECT START [COUNT]``
    Load the project, then add one annotation and ``save_work`` in a loop
    (forever, or ``COUNT`` times), printing ``saved ...`` after each save
    returns. The parent kills it with SIGKILL at a random moment.
``serve PROJECT``
    A fork server, so that a hundred trials do not each pay Python's start-up
    and the imports (several seconds): load the project once, print
    ``ready``, then for each ``go START`` line on stdin fork a child that runs
    the same save loop as ``loop`` (a real process; the parent SIGKILLs it),
    wait for it and print ``dead PID STATUS``. ``quit`` ends it.
``plan PLANFILE``
    One annotating session of the concurrency test: print ``ready``, wait for
    ``go`` on stdin, then make the edits listed in the JSON plan, each
    followed by ``save_work``, keeping ``result.records`` as the session's
    view (as the app does).

``team PROJECT ANNOTATOR COUNT [PAUSE]``
    One annotator of a team (issue 23): print ``ready``, wait for ``go``, then
    ``COUNT`` times take the next sample nobody has done or is doing
    (:func:`kpcal_core.workflows.next_sample`), click near the network's
    position (:func:`kpcal_core.workflows.record_annotation`) and print
    ``saved INDEX`` (the sample's index in the session) once the save returned,
    then wait ``PAUSE`` seconds (default 0);
    ``done`` at the end (``none`` when no sample was left).

Output lines of the save loop::

    loop PID
    saved INDEX COUNTER EXPORTED SLOPE INTERCEPT

``INDEX`` is the sample key index in :func:`sample_keys`, ``COUNTER`` the
global number of the edit (every edit is annotator ``crash``'s, made at
``CRASH_EPOCH + COUNTER`` microseconds, so the parent can tell which edit of a
sample a file holds and the newer edit wins), ``EXPORTED`` 1
when ``error_annotations.csv`` was written, ``SLOPE`` the slope saved to
``config.yml`` (``-`` when none), ``INTERCEPT`` likewise.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kpcal_core.annotations import CLEARED, Annotation, now_utc
from kpcal_core.project import ProjectData, load_project_data, load_working_annotations, save_work

CRASH_ANNOTATOR = "crash"
CRASH_EPOCH = datetime(2030, 1, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- parent side


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), str(Path(__file__).parent), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"  # forked children, 2 cores
    env.pop("PYTHONUNBUFFERED", None)  # the child writes each line in one write()
    return env


class LineReader:
    """Reads a child's stdout in a thread, so the test can wait with a timeout."""

    def __init__(self, stream):
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next(self, timeout: float = 60.0) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"child said nothing for {timeout} s") from None
        if line is None:
            raise AssertionError("child closed its output")
        if line.startswith("error"):
            raise AssertionError(f"child failed: {line}")
        return line


@contextlib.contextmanager
def child_sessions(sessions: dict):
    """Around a test driving ``{name: (process, LineReader, stderr file)}``: on a failed
    assertion print each child's stderr; always stop the children still running and close
    their stderr files."""
    try:
        yield sessions
    except AssertionError:
        for name, (_, _, errors) in sessions.items():
            errors.seek(0)
            print(f"--- {name} stderr\n{errors.read()}", file=sys.stderr)
        raise
    finally:
        for proc, _, errors in sessions.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            errors.close()


# --------------------------------------------------------------------------- child side


def sample_keys(data: ProjectData) -> list[tuple[str, int, str]]:
    """Every ``(recording, frame, bodypart)`` of the project, in a fixed order."""
    return [
        (recording, frame, bodypart)
        for recording in sorted(data.coordinates)
        for frame in range(len(data.coordinates[recording]))
        for bodypart in data.bodyparts
    ]


def crash_edit(data: ProjectData, keys: list, counter: int):
    """The sample and position of edit number ``counter``: near the prediction, so a fit exists."""
    index = counter % len(keys)
    recording, frame, bodypart = keys[index]
    px, py = data.coordinates[recording][frame, data.bodyparts.index(bodypart)]
    distance = 0.5 + (counter % 13) * 0.75
    angle = counter * 0.7
    x = float(px) + distance * math.cos(angle)
    y = float(py) + distance * math.sin(angle)
    return index, keys[index], x, y


def crash_time(counter: int) -> str:
    """When edit ``counter`` was made (its number, as microseconds after :data:`CRASH_EPOCH`)."""
    return (CRASH_EPOCH + timedelta(microseconds=counter)).isoformat(timespec="microseconds")


def counter_of(annotation: Annotation) -> int | None:
    """The edit number a crash-test annotation carries, or ``None``."""
    if annotation.annotator != CRASH_ANNOTATOR or annotation.rows:
        return None
    when = datetime.fromisoformat(annotation.annotated_at) - CRASH_EPOCH
    return when // timedelta(microseconds=1)


def say(line: str) -> None:
    """Write one whole line in a single write (print() writes the newline separately)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_loop(data: ProjectData, start: int, count: int | None, report=say) -> None:
    keys = sample_keys(data)
    records = load_working_annotations(data.project_dir)  # what the app does on opening
    report(f"loop {os.getpid()}")
    counter = start
    while count is None or counter < start + count:
        index, key, x, y = crash_edit(data, keys, counter)
        records[key] = Annotation(x, y, CRASH_ANNOTATOR, crash_time(counter))
        result = save_work(data, records)
        records = dict(result.records)
        fit = result.fit
        slope, intercept = (repr(fit.slope), repr(fit.intercept)) if fit else ("-", "-")
        report(f"saved {index} {counter} {int(result.exported)} {slope} {intercept}")
        counter += 1


def warm_up(project: str) -> None:
    """Save 25 times in a scratch copy, so that lazy imports and caches are loaded once here
    rather than in every forked child."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "project"
        shutil.copytree(project, copy, ignore=shutil.ignore_patterns("videos", ".*"))
        run_loop(load_project_data(copy), 0, 25, report=lambda line: None)


def serve(project: str) -> None:
    data = load_project_data(project)
    warm_up(project)
    say("ready")
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        if words[0] != "go":
            say(f"error unknown command {line!r}")
            continue
        start = int(words[1])
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # the child: save in a loop until killed
            code = 0
            try:
                run_loop(data, start, None)
            except BaseException as error:  # noqa: BLE001 - reported to the parent
                say(f"error {type(error).__name__}: {error}")
                code = 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        say(f"dead {pid} {status}")


def run_plan(plan_file: str) -> None:
    plan = json.loads(Path(plan_file).read_text(encoding="utf-8"))
    data = load_project_data(plan["project"])
    me = plan["annotator"]
    records = load_working_annotations(data.project_dir)
    say("ready")
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go'")
    foreign_seen = 0
    for step, edit in enumerate(plan["edits"]):
        key = tuple(edit["key"])
        key = (str(key[0]), int(key[1]), str(key[2]))
        if "clear_after_seen" in edit:
            # Keep saving (as the app does after each change) until the other
            # session's click on this sample shows up, then clear it.
            deadline = time.monotonic() + 60
            while not (key in records and records[key].annotator == edit["clear_after_seen"]):
                if time.monotonic() > deadline:
                    raise SystemExit(f"never saw {edit['clear_after_seen']}'s click on {key}")
                time.sleep(0.01)
                records = dict(save_work(data, records).records)
            say(f"seen {step}")
            records[key] = Annotation(math.nan, math.nan, me, now_utc(), CLEARED)
        else:
            at = edit.get("at") or now_utc()
            records[key] = Annotation(float(edit["x"]), float(edit["y"]), me, at)
        result = save_work(data, records)
        records = dict(result.records)
        foreign = sum(1 for a in records.values() if a.annotator not in (me, ""))
        foreign_seen = max(foreign_seen, foreign)
        say(f"saved {step} {foreign}")
        # a person clicks between saves; without a pause one session saving back to back
        # takes the lock again before the other's poll (filelock polls every 50 ms) sees it free
        time.sleep(plan.get("pause", 0.0))
    say(f"done {foreign_seen}")


def run_team(project: str, me: str, count: int, pause: float = 0.0) -> None:
    from kpcal_core import workflows

    data = load_project_data(project)
    records = load_working_annotations(data.project_dir)
    say("ready")
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go'")
    current = None
    for _ in range(count):
        index = workflows.next_sample(data, me, current, unannotated=True)
        if index is None:
            say("none")
            break
        key = data.session.sample_keys[index]
        recording, frame, bodypart = key
        x, y = data.coordinates[recording][frame, data.bodyparts.index(bodypart)]
        shift = 1.0 + 0.1 * (sum(map(ord, me)) % 7)
        click = Annotation(float(x) + shift, float(y) - shift, me, now_utc())
        result = workflows.record_annotation(data, records, key, click)
        if not result.saved:
            raise SystemExit(f"not saved: {result.message}")
        say(f"saved {index}")
        current = index
        time.sleep(pause)  # a person looks before the next click
    say("done")


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "loop":
        data = load_project_data(argv[1])
        run_loop(data, int(argv[2]), int(argv[3]) if len(argv) > 3 else None)
    elif mode == "serve":
        serve(argv[1])
    elif mode == "plan":
        run_plan(argv[1])
    elif mode == "team":
        run_team(argv[1], argv[2], int(argv[3]), float(argv[4]) if len(argv) > 4 else 0.0)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
