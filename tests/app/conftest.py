"""Fixtures of the page tests: temporary demo and state folders, a copy of the demo project."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from kpcal_core.demo import make_demo_project


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """One demo project written once; tests work on copies of it."""
    folder = tmp_path_factory.mktemp("demo-template") / "demo"
    make_demo_project(folder)
    return folder


@pytest.fixture(autouse=True)
def app_env(monkeypatch, tmp_path):
    """Temporary demo and state folders, no project from the outside."""
    monkeypatch.setenv("KPCAL_DEMO_DIR", str(tmp_path / "no-demo-here"))
    monkeypatch.setenv("KPCAL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("KPCAL_PROJECT", raising=False)
    monkeypatch.setattr(sys, "argv", ["streamlit"])


@pytest.fixture
def demo(tmp_path, demo_template, monkeypatch) -> Path:
    """A copy of the demo project, opened by the app as its demo project."""
    folder = tmp_path / "demo"
    shutil.copytree(demo_template, folder)
    monkeypatch.setenv("KPCAL_DEMO_DIR", str(folder))
    return folder
