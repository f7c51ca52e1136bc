"""One fit service: autosave, the fit workflow and ``kpcal fit`` fit the line through one path.

Issue 22 item 2. ``kpcal_core.fit_service.fit_project`` is the only caller of the line
fits (``fitting.fit_points`` and ``fitting.fit_by_method``) on all three paths, and the
three give the same line, with the session's method (a robust one here, so that the
method matters). Calls are seen with ``sys.setprofile`` (no patching): whoever imported
the function under whatever name, its code object is the same.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable

import pytest
import yaml
from demo_support import annotate_truth

from kpcal_core import fit_service, fitting, workflows
from kpcal_core.cli import EXIT_OK, main
from kpcal_core.demo import make_demo_project
from kpcal_core.project import load_project_data, save_work
from kpcal_core.session import load_session, save_session

METHOD = "huber"


class CallTrace:
    """Which of some functions run inside a block, each with its caller's name."""

    def __init__(self, *functions: Callable) -> None:
        self.codes = {f.__code__: f.__name__ for f in functions}
        self.calls: list[tuple[str, str]] = []

    def __enter__(self) -> CallTrace:
        self._before = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(self._before)

    def _profile(self, frame, event, arg) -> None:
        if event == "call" and frame.f_code in self.codes:
            caller = frame.f_back.f_code.co_name if frame.f_back is not None else ""
            self.calls.append((self.codes[frame.f_code], caller))

    def callers(self, name: str) -> list[str]:
        return [caller for called, caller in self.calls if called == name]


def traced() -> CallTrace:
    return CallTrace(fit_service.fit_project, fitting.fit_points, fitting.fit_by_method)


def assert_one_path(trace: CallTrace, fits: int) -> None:
    assert trace.callers("fit_project") and len(trace.callers("fit_project")) == fits, trace.calls
    assert set(trace.callers("fit_by_method")) <= {"fit_project"}, trace.calls
    assert set(trace.callers("fit_points")) <= {"fit_project", "fit_by_method"}, trace.calls


def config_line(project) -> tuple[float, float]:
    estimator = yaml.safe_load((project / "config.yml").read_text())["error_estimator"]
    return estimator["slope"], estimator["intercept"]


def test_autosave_the_fit_workflow_and_kpcal_fit_give_one_line_through_fit_project(tmp_path):
    demo = make_demo_project(tmp_path / "project", n_frames=80, width=200, height=160)
    project = demo.project_dir
    session = load_session(project)
    session.fit_method = METHOD  # as the fit page's save leaves it
    save_session(project, session)
    data = load_project_data(project)
    records = annotate_truth(demo, 30, seed=2)

    with traced() as autosave:
        saved = save_work(data, records)
    assert saved.exported and saved.fit is not None and saved.fit.method == METHOD
    assert_one_path(autosave, 1)
    line = (saved.fit.slope, saved.fit.intercept)
    assert config_line(project) == line

    with traced() as workflow:
        fitted = workflows.calibration_fit(load_project_data(project), None, METHOD)
    assert_one_path(workflow, 1)
    assert fitted.method == METHOD and (fitted.line.slope, fitted.line.intercept) == line
    assert fitted.line is fitted.project.line

    out, err = io.StringIO(), io.StringIO()
    with traced() as command:
        code = main(["fit", str(project), "--json", "--robust", METHOD], out, err)
    assert code == EXIT_OK, err.getvalue()
    assert_one_path(command, 1)
    robust = json.loads(out.getvalue())["robust"]
    assert robust["method"] == METHOD and (robust["slope"], robust["intercept"]) == line
    # the least-squares line is another: the method is what makes the three agree
    assert fitted.project.fit.slope != pytest.approx(line[0], rel=1e-9)
