"""A full disk (and every other refused write) is one clear message; nothing is half written.

Issue 19, finding 6: a save raised an unhandled ``OSError`` (ENOSPC), with no
``event=error`` log line, and the edit it was saving was counted as saved. Here a
real 4 MiB filesystem is filled to the last byte (``small_disk``, a tmpfs: needs
root, as in CI), and the saves that belong together are made to fail one file at a
time (``refuse_writes``).
"""

from __future__ import annotations

import errno
import io
import os

import pytest
from demo_support import annotate_from_line

from kpcal_core import Annotation, workflows
from kpcal_core.annotations import annotations_path, save_annotations
from kpcal_core.atomic import atomic_write
from kpcal_core.cli import main as cli_main
from kpcal_core.config import config_path, load_config, update_config
from kpcal_core.demo import make_demo_project
from kpcal_core.errors import KpcalError
from kpcal_core.logs import parse_line
from kpcal_core.project import draft_path, load_project_data, load_working_annotations
from kpcal_core.session import load_session, save_session, session_dir


def _files(folder) -> dict:
    """Every file below ``folder`` and its bytes (temporary files included)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _click(key, x: float, second: int) -> Annotation:
    return Annotation(x, 10.0, "ana@lab.example", f"2025-01-01T00:00:{second:02d}+00:00")


def _error_lines(text: str) -> list[dict]:
    return [f for f in map(parse_line, text.splitlines()) if f and f["event"] == "error"]


@pytest.fixture
def on_small_disk(small_disk):
    """A small demo project with drawn samples on a 4 MiB filesystem (not full yet)."""
    project = small_disk / "proj"
    make_demo_project(project, n_recordings=1, n_frames=12, width=96, height=64)
    data = load_project_data(project)
    keys = workflows.draw_samples(data, seed=0, num_samples=6).sample_keys
    return project, data, keys


def test_a_click_on_a_full_disk_is_held_and_saved_with_the_next_save_that_works(
    on_small_disk, fill_disk, capfd
):
    project, data, keys = on_small_disk
    records: dict = {}
    workflows.record_annotation(data, records, keys[0], _click(keys[0], 1.0, 0))
    on_disk = _files(project)
    filler = fill_disk(project.parent)

    capfd.readouterr()
    result = workflows.record_annotation(data, records, keys[1], _click(keys[1], 2.0, 1))
    assert not result.saved and set(result.held) == {keys[1]}
    assert result.message.startswith("Not saved: the disk is full"), result.message
    assert "No space left on device" in result.message and "1 edit is kept" in result.message
    assert set(records) == {keys[0]} and result.n_annotations == 1  # what is on disk
    held = result.held
    result = workflows.record_annotation(data, records, keys[2], _click(keys[2], 3.0, 2), held=held)
    assert (
        not result.saved
        and set(held) == {keys[1], keys[2]}
        and "2 edits are kept" in (result.message)
    )
    assert _files(project) == on_disk  # nothing written, no temporary file left
    lines = _error_lines(capfd.readouterr().err)
    assert len(lines) == 2, lines
    assert lines[-1]["kind"] == "NotSaved" and lines[-1]["user"] == "ana@lab.example"
    assert lines[-1]["project"] == str(project) and "the disk is full" in lines[-1]["message"]

    filler.unlink()  # room again: the next click saves all three
    result = workflows.record_annotation(data, records, keys[3], _click(keys[3], 4.0, 3), held=held)
    assert result.saved and not held and result.n_annotations == 4
    assert set(load_working_annotations(project)) == set(keys[:4])
    assert set(records) == set(keys[:4])


def test_every_save_on_a_full_disk_is_one_clear_error_and_changes_nothing(
    on_small_disk, fill_disk, capfd
):
    project, data, keys = on_small_disk
    save_annotations(project, {k: (1.0, 2.0) for k in keys}, data.video_frame_indexes)
    fill_disk(project.parent)
    before = _files(project)
    saves = {
        "session": lambda: save_session(project, load_session(project)),
        "config": lambda: update_config(project, fps=12),
        "annotations": lambda: save_annotations(project, {keys[0]: (3.0, 4.0)}, None),
        "samples": lambda: workflows.draw_samples(data, seed=1, num_samples=3),
        "line": lambda: workflows.save_calibration(
            data, slope=-0.5, intercept=0.2, conf_threshold=0.5, confirm_slope=True
        ),
        "video": lambda: workflows.set_video(project, keys[0][0], None),
        "anatomy": lambda: workflows.set_anatomy(project, ["nose"], ["tail_base"]),
        "export": lambda: workflows.export(data, project / "calibration" / "export", png=False),
    }
    for what, save in saves.items():
        with pytest.raises(KpcalError, match="not saved: the disk is full") as info:
            save()
        assert "No space left on device" in str(info.value), what
        assert isinstance(info.value, OSError), what  # still the OSError it was, for callers
        assert _files(project) == before, what
    capfd.readouterr()
    err = io.StringIO()
    # (these clicks show no error shrinking with confidence: the line needs confirming)
    argv = ["fit", str(project), "--save", "--confirm-slope"]
    assert cli_main(argv, out=io.StringIO(), err=err) == 3
    assert "kpcal: not saved: the disk is full" in err.getvalue()
    (line,) = _error_lines(capfd.readouterr().err)
    assert line["kind"] == "NotSaved" and line["project"] == str(project)
    assert _files(project) == before


def test_files_that_belong_together_are_written_all_or_none(tmp_path, refuse_writes):
    project = tmp_path / "proj"
    make_demo_project(project, n_recordings=1, n_frames=12, width=96, height=64)
    data = load_project_data(project)
    keys = workflows.draw_samples(data, seed=0, num_samples=25).sample_keys
    # clicks whose error falls as confidence grows: autosave writes their line to config.yml
    clicks = annotate_from_line(data, keys, -0.6, 0.3, annotator="ana@lab.example")
    records = {k: clicks[k] for k in keys[:21]}
    workflows.record_annotation(data, records, keys[21], clicks[keys[21]])
    assert annotations_path(project).exists()  # the CSV and config.yml are autosaved now
    assert load_config(project)["error_estimator"]["slope"] != -0.5

    # An autosave whose config.yml is refused: neither the working copy nor the CSV changes.
    before = _files(project)
    refuse_writes(project, name="config.yml")
    result = workflows.record_annotation(data, records, keys[22], clicks[keys[22]])
    assert not result.saved and _files(project) == before
    held = result.held

    # Samples drawn with other bodyparts: use_bodyparts in config.yml and the samples in
    # session.json, or neither.
    refuse_writes(project, name="session.json")
    with pytest.raises(KpcalError, match="not saved"):
        workflows.draw_samples(data, use_bodyparts=["nose", "neck"], seed=1)
    assert _files(project) == before
    with pytest.raises(KpcalError, match="not saved"):
        workflows.save_calibration(data, slope=-0.3, intercept=0.1, conf_threshold=0.2)
    assert _files(project) == before

    # A new project's config.yml and session, or neither.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    refuse_writes(fresh, name="session.json")
    sources = workflows.Sources(str(project / "keypoints"), video_dir=str(project / "videos"))
    with pytest.raises(KpcalError, match="not saved"):
        workflows.choose_sources(fresh, sources)
    assert not config_path(fresh).exists() and not (session_dir(fresh) / "session.json").exists()

    refuse_writes(None)
    result = workflows.record_annotation(data, records, keys[23], clicks[keys[23]], held=held)
    assert result.saved and {keys[22], keys[23]} <= set(load_working_annotations(project))
    assert draft_path(project).exists() and load_config(project)["error_estimator"]


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EDQUOT, "the disk quota is used up"),
        (errno.EROFS, "the disk is read-only"),
        (errno.EACCES, "kpcal may not write there"),
        (errno.EIO, "the disk reported an input/output error"),
        (errno.ENAMETOOLONG, "the system refused the write"),
    ],
)
def test_each_refused_write_is_said_plainly(tmp_path, refuse_writes, number, words):
    target = tmp_path / "file.txt"
    target.write_text("before")
    refuse_writes(tmp_path, number)
    with pytest.raises(KpcalError) as info:
        atomic_write(target, "after")
    message = str(info.value)
    assert message.startswith(f"not saved: {words}") and os.strerror(number) in message
    assert repr(str(target)) in message and info.value.errno == number
    assert target.read_text() == "before" and sorted(tmp_path.iterdir()) == [target]
