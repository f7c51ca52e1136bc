"""The one folder kpcal writes to outside projects: the state folder.

Everything the app keeps between runs that is not part of a project lives
here: the demo project, the recent-projects list, the click component's
assembled frontend, temporary files. The code folder and the user's home may
be read-only (a service account running a read-only install); only this
folder and the projects are written.

Where it is, first match wins:

1. ``KPCAL_STATE_DIR`` (set directly, or by ``--state-dir`` on the command
   line through :func:`set_state_dir`);
2. ``$XDG_STATE_HOME/kpcal``, else ``~/.local/state/kpcal`` (the XDG base
   directory for state);
3. when that cannot be created or written (a read-only home), a folder in the
   system's temporary folder, ``kpcal-state-<uid>``, with a warning on stderr
   and in :func:`state_dir_note` (it may be emptied at reboot).

On a server with sign-in, each signed-in user gets a subfolder
(:func:`user_state_dir`) named from the e-mail, so the demo project is never
one folder everyone writes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from .errors import KpcalError

STATE_DIR_ENV = "KPCAL_STATE_DIR"
_fallback_note: str | None = None


def set_state_dir(folder: str | os.PathLike) -> Path:
    """Use ``folder`` as the state folder from now on (also for child processes).

    Parameters
    ----------
    folder
        The state folder (``~`` is expanded); created when missing.

    Returns
    -------
    Path
        The resolved folder.
    """
    path = Path(folder).expanduser().resolve()
    os.environ[STATE_DIR_ENV] = str(path)
    return state_dir()


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def _default_dir() -> Path:
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "kpcal"
    return Path.home() / ".local" / "state" / "kpcal"


def state_dir() -> Path:
    """The state folder (created when missing); see the module docstring for where.

    Raises
    ------
    KpcalError
        When ``KPCAL_STATE_DIR`` names a folder that cannot be created or written.
    """
    global _fallback_note
    given = os.environ.get(STATE_DIR_ENV)
    if given:
        folder = Path(given).expanduser()
        if not _writable(folder):
            raise KpcalError(
                f"the state folder {str(folder)!r} ({STATE_DIR_ENV}) cannot be created or "
                "written: give a folder this account can write"
            )
        return folder
    folder = _default_dir()
    if _writable(folder):
        return folder
    fallback = Path(tempfile.gettempdir()) / f"kpcal-state-{os.getuid()}"
    if not _writable(fallback):
        raise KpcalError(
            f"no writable state folder: {folder} and {fallback} cannot be written; "
            f"set {STATE_DIR_ENV} to a folder this account can write"
        )
    if _fallback_note is None:
        _fallback_note = (
            f"{folder} cannot be written (read-only home?), so kpcal keeps its state in "
            f"{fallback}, which may be emptied at reboot: set {STATE_DIR_ENV} to keep it"
        )
        from .logs import log_event

        log_event("warning", message=_fallback_note)
    return fallback


def state_dir_note() -> str | None:
    """Why the state folder is a temporary one, or ``None`` when it is not."""
    return _fallback_note if not os.environ.get(STATE_DIR_ENV) else None


def safe_user_name(user: str) -> str:
    """A folder name for a user (e-mail): letters, digits, ``.``, ``_``, ``-``, ``@``, plus a hash.

    Two different e-mails never give the same name (the hash of the exact text
    is appended), and the name can never be ``..`` or contain a separator.

    Parameters
    ----------
    user
        The signed-in user's e-mail (any text).
    """
    text = str(user).strip()
    if not text:
        raise KpcalError("the user name for a per-user state folder is empty")
    readable = re.sub(r"[^A-Za-z0-9._@-]+", "_", text.lower()).strip("._")[:60] or "user"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{readable}-{digest}"


def user_state_dir(user: str | None) -> Path:
    """The state folder of one signed-in user, or the whole state folder when ``user`` is None."""
    if not user:
        return state_dir()
    folder = state_dir() / "users" / safe_user_name(user)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def temp_dir() -> Path:
    """The state folder's ``tmp`` subfolder, for kpcal's temporary files."""
    folder = state_dir() / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def describe_state_dir() -> str:
    """One line for the setup page: where the state folder is (and why, if temporary).

    Plain text (the page shows it as text, :func:`kpcal_app.text.literal`).
    """
    text = (
        f"State folder (demo project, recent projects, caches): {state_dir()} "
        f"(set {STATE_DIR_ENV} or --state-dir to move it)"
    )
    note = state_dir_note()
    return f"{text}. {note}" if note else text
