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
