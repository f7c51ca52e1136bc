"""What the app was started with: ``-- --project DIR --state-dir DIR`` and ``KPCAL_PROJECT``.

Owns reading the arguments after ``--`` on the ``streamlit run app.py`` line (``kpcal
app PROJECT`` passes its project the same way, :mod:`kpcal_core.appfiles`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kpcal_core import workflows


def _command_line() -> argparse.Namespace:
    """``--project DIR`` and ``--state-dir DIR`` after ``--`` on the ``streamlit run`` line."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--project")
    parser.add_argument("--state-dir")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return known


def command_line_project() -> str | None:
    """``--project DIR`` after ``--`` on the ``streamlit run`` line, if given."""
    return _command_line().project


def use_command_line_state_dir() -> None:
    """Apply ``--state-dir DIR`` (after ``--`` on the ``streamlit run`` line), if given."""
    given = _command_line().state_dir
    if given and os.environ.get(workflows.STATE_DIR_ENV) != str(Path(given).expanduser().resolve()):
        workflows.set_state_dir(given)


def given_project() -> str | None:
    """The project the server was started with (``--project``, ``KPCAL_PROJECT``), if any."""
    given = command_line_project() or os.environ.get("KPCAL_PROJECT")
    return str(Path(given).expanduser().resolve()) if given else None
