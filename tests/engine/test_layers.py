"""The layers stay as docs/layout.md draws them: `lint-imports` with pyproject.toml's contracts.

The engine never imports Streamlit or the app; the format readers import no video code; the
statistics of the stop rule, the planned order and the sampling read and write no file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold():
    command = shutil.which("lint-imports")
    assert command, "import-linter is in requirements-dev.txt"
    run = subprocess.run(
        [command, "--config", str(REPO / "pyproject.toml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        env={"PYTHONPATH": str(REPO), "PATH": str(Path(sys.executable).parent)},
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "3 kept, 0 broken" in run.stdout


def test_each_project_file_name_is_spelled_in_one_module():
    """A project file's name appears as a string in one module of kpcal_core: its owner's."""
    import ast

    names = (
        "config.yml",
        "session.json",
        "error_annotations.csv",
        "annotations_draft.csv",
        "keypoints.npz",
        ".kpcal.lock",
        "error_points.csv",
        "calibration",
    )
    spelled: dict[str, set[str]] = {name: set() for name in names}
    for path in sorted((REPO / "kpcal_core").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and node.value in spelled
                and id(node) not in docstrings
            ):
                spelled[node.value].add(str(path.relative_to(REPO)))
    for name, modules in spelled.items():
        assert len(modules) == 1, (name, sorted(modules))
