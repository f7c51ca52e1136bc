"""The app when kpcal's own state folder cannot be written (the demo project is made there)."""

from __future__ import annotations

from apptest_support import errors, new_app, shown


def test_a_demo_project_the_full_disk_refuses_is_a_message_not_a_traceback(
    small_disk, fill_disk, monkeypatch
):
    monkeypatch.setenv("KPCAL_STATE_DIR", str(small_disk / "state"))
    monkeypatch.setenv("KPCAL_DEMO_DIR", str(small_disk / "demo"))
    fill_disk(small_disk)
    at = new_app().run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = errors(at)
    assert "demo" in error and str(small_disk) in error and "disk full" in error, error
    assert any("?project=" in info for info in shown(at.info))
