"""The code stays as pyproject.toml asks: `ruff check`, `ruff format --check` and `mypy`.

Each runs from the repository's root with pyproject.toml's configuration (ruff: pyflakes,
bugbear, simplify, numpy-style docstrings and complexity at most 25; mypy: kpcal_core), with
the versions pinned in requirements-dev.txt. A failure shows the tool's own report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _pinned(name: str) -> str:
    """The version of `name` that requirements-dev.txt pins."""
    for line in (REPO / "requirements-dev.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"requirements-dev.txt pins no {name}")


def _run(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m ARGUMENTS` from the repository's root, with this interpreter."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
        env=env,
    )


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_the_checkers_are_the_pinned_versions(tool):
    run = _run(tool, "--version")
    assert run.returncode == 0, f"{tool} is in requirements-dev.txt: {run.stderr[-2000:]}"
    assert _pinned(tool) in run.stdout.split(), (
        f"{tool} {_pinned(tool)} is pinned in requirements-dev.txt, but this is {run.stdout!r}: "
        "another version may report other findings; pip install -r requirements-dev.txt"
    )


def test_ruff_check_is_clean():
    run = _run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def test_ruff_format_leaves_every_file_as_it_is():
    run = _run("ruff", "format", "--no-cache", "--check", ".")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def test_mypy_finds_no_error_in_kpcal_core():
    run = _run("mypy", "--config-file", str(REPO / "pyproject.toml"))
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Success: no issues found" in run.stdout, run.stdout[-2000:]
