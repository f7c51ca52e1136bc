"""The recent-projects list: the last ten project folders opened, per user.

Owns ``recent.json`` in the state folder (the signed-in user's own on a server); a
convenience, so a list that cannot be read or written is treated as empty.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from kpcal_core import workflows
from kpcal_core.errors import KpcalError
from kpcal_core.workflows import atomic_write

from .signin import signed_in_user

RECENT_FILE_NAME = "recent.json"  # in the state folder (per user when signed in)


def recent_file() -> Path:
    """The recent-projects list of this user (the state folder's, or the signed-in user's)."""
    return workflows.user_state_dir(signed_in_user()) / RECENT_FILE_NAME


def recent_projects() -> list[str]:
    """The last ten projects opened (newest first); empty when the list cannot be read."""
    try:
        items = json.loads(recent_file().read_text())
        return [str(p) for p in items if isinstance(p, str)][:10]
    except (OSError, ValueError):
        return []


def remember_recent(folder: str) -> None:
    """Put ``folder`` first in the recent-projects list."""
    items = [folder] + [p for p in recent_projects() if p != folder]
    # No writable state folder: recent projects are a convenience.
    with contextlib.suppress(OSError, KpcalError):
        atomic_write(recent_file(), json.dumps(items[:10]))
