"""The state folder (kpcal_core.statedir) and the log lines (kpcal_core.logs)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from kpcal_core import statedir
from kpcal_core.__main__ import run as cli_run
from kpcal_core.annotations import Annotation, now_utc
from kpcal_core.demo import default_demo_dir, make_demo_project
from kpcal_core.errors import KpcalError
from kpcal_core.logs import LOGGER_NAME, format_event, parse_line
from kpcal_core.project import load_project_data, save_work


@pytest.fixture
def no_state_env(monkeypatch):
    for name in ("KPCAL_STATE_DIR", "XDG_STATE_HOME", "KPCAL_DEMO_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(statedir, "_fallback_note", None)


def test_environment_variable_is_the_state_folder(tmp_path, no_state_env, monkeypatch):
    monkeypatch.setenv("KPCAL_STATE_DIR", str(tmp_path / "s"))
    assert statedir.state_dir() == tmp_path / "s" and (tmp_path / "s").is_dir()
    assert statedir.temp_dir() == tmp_path / "s" / "tmp"
    assert default_demo_dir() == tmp_path / "s" / "demo-project"
    assert statedir.state_dir_note() is None
    assert str(tmp_path / "s") in statedir.describe_state_dir()


def test_xdg_state_home_then_home(tmp_path, no_state_env, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert statedir.state_dir() == tmp_path / "home" / ".local" / "state" / "kpcal"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert statedir.state_dir() == tmp_path / "xdg" / "kpcal"


def test_unwritable_home_falls_back_to_a_temporary_folder_and_says_so(
    tmp_path, no_state_env, monkeypatch
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the home should be")
    monkeypatch.setenv("HOME", str(blocker / "home"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    folder = statedir.state_dir()
    assert folder == tmp_path / "tmp" / f"kpcal-state-{os.getuid()}" and folder.is_dir()
    note = statedir.state_dir_note()
    assert note and "KPCAL_STATE_DIR" in note and str(blocker) in note
    assert note in statedir.describe_state_dir()


def test_unwritable_state_folder_is_an_error_naming_it(tmp_path, no_state_env, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("KPCAL_STATE_DIR", str(blocker / "state"))
    with pytest.raises(KpcalError, match="KPCAL_STATE_DIR"):
        statedir.state_dir()


def test_per_user_folders_never_collide_or_escape(tmp_path, no_state_env, monkeypatch):
    monkeypatch.setenv("KPCAL_STATE_DIR", str(tmp_path / "s"))
    names = [
        statedir.safe_user_name(u)
        for u in ("ana@lab.example", "Ana@lab.example", "../..", "a/b", "a_b")
    ]
    assert len(set(names)) == len(names)
    assert all("/" not in n and not n.startswith(".") for n in names)
    demo = default_demo_dir("ana@lab.example")
    assert demo.parent.parent == tmp_path / "s" / "users"
    assert default_demo_dir("ben@lab.example") != demo
    with pytest.raises(KpcalError):
        statedir.safe_user_name("  ")


def test_cli_state_dir_option(tmp_path, no_state_env, monkeypatch, capsys):
    monkeypatch.setenv("KPCAL_STATE_DIR", "unused")  # restored by monkeypatch afterwards
    project = make_demo_project(tmp_path / "p", n_frames=20).project_dir
    assert cli_run(["--state-dir", str(tmp_path / "st"), "check", str(project)]) == 0
    assert os.environ["KPCAL_STATE_DIR"] == str((tmp_path / "st").resolve())
    assert (tmp_path / "st").is_dir()


def test_log_line_round_trip():
    line = format_event(
        "error", user="a b@x", project="/p q", exported=True, message='say "hi" = \\ok'
    )
    assert line.startswith("kpcal time=") and " event=error " in line
    fields = parse_line(line)
    assert fields["user"] == "a b@x" and fields["project"] == "/p q"
    assert fields["exported"] == "yes" and fields["message"] == 'say "hi" = \\ok'
    assert parse_line("Uvicorn server started") is None


def test_control_characters_from_names_never_reach_the_log_raw():
    # A recording or bodypart name from a file may hold a carriage return (a forged
    # second line in the journal) or a terminal escape (acted on when the log is read).
    name = "rec\r\x1b[2Jkpcal time=x event=save user=ana\x85\x07 \\x41"
    line = format_event("error", message=name, user="ana")
    assert line.isprintable() and "\x1b" not in line and "\r" not in line
    assert parse_line(line)["message"] == name  # nothing lost


def test_log_lines_go_to_stderr():
    code = "from kpcal_core.logs import log_event; log_event('save', user='ana', annotations=3)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path.cwd()
    )
    assert done.stdout == ""
    fields = parse_line(done.stderr.strip())
    assert fields and fields["event"] == "save" and fields["annotations"] == "3"


def test_save_work_writes_one_line_per_save(tmp_path):
    demo = make_demo_project(tmp_path / "p", n_frames=20)
    data = load_project_data(demo.project_dir)
    recording = next(iter(data.coordinates))
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    log = logging.getLogger(LOGGER_NAME)
    log.addHandler(handler)
    try:
        key = (recording, 3, data.bodyparts[0])
        save_work(data, {key: Annotation(1.0, 2.0, "ana@lab.example", now_utc())})
        save_work(data, {}, force_export=True, user="ben@lab.example")
    finally:
        log.removeHandler(handler)
    fields = [parse_line(line) for line in lines]
    assert [(f["event"], f["user"], f["annotations"], f["exported"]) for f in fields] == [
        ("save", "ana@lab.example", "1", "no"),
        ("save", "ben@lab.example", "1", "yes"),
    ]
    assert fields[0]["project"] == str(demo.project_dir)
