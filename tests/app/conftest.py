"""Fixtures of the page tests: temporary demo and state folders, a copy of the demo project."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager

from kpcal_core.demo import make_demo_project


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """One demo project written once; tests work on copies of it."""
    folder = tmp_path_factory.mktemp("demo-template") / "demo"
    make_demo_project(folder)
    return folder


@pytest.fixture(autouse=True)
def app_env(monkeypatch, tmp_path):
    """Temporary demo and state folders, no project from the outside, and AppTest's page mode.

    AppTest resets ``PagesManager.uses_pages_directory`` to ``None`` before
    every run, so with a ``pages/`` folder beside ``app.py`` each run first
    starts in Streamlit's folder-based navigation and the page's
    :func:`kpcal_app.state.ensure_app_navigation` reruns it, which drops button
    clicks. A real server leaves that mode for good on its first request; the
    wrapper below does the same for AppTest.
    """
    monkeypatch.setenv("KPCAL_DEMO_DIR", str(tmp_path / "no-demo-here"))
    monkeypatch.setenv("KPCAL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("KPCAL_PROJECT", raising=False)
    monkeypatch.setattr(sys, "argv", ["streamlit"])
    from kpcal_app import state

    monkeypatch.setattr(state, "RECENT_FILE", tmp_path / "state" / "recent.json")
    original_init = PagesManager.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def demo(tmp_path, demo_template, monkeypatch) -> Path:
    """A copy of the demo project, opened by the app as its demo project."""
    folder = tmp_path / "demo"
    shutil.copytree(demo_template, folder)
    monkeypatch.setenv("KPCAL_DEMO_DIR", str(folder))
    return folder
