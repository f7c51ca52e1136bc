"""Session-state keys and the small amount of per-browser state the pages share.

Every ``st.session_state`` key the app uses is a constant here. The project
in use is resolved in one place (:func:`project_dir`): the URL's ``project``
query parameter (typed on the setup page), else ``--project`` on the command
line, else ``KPCAL_PROJECT``, else the demo project.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

import streamlit as st

from kpcal_core import demo, statedir
from kpcal_core.atomic import atomic_write
from kpcal_core.errors import KpcalError
from kpcal_core.logs import log_event
from kpcal_core.paths import resolve_user_path

# st.session_state keys
PROJECT = "kpcal_project"  # str: project folder in use
RECORDS = "kpcal_records"  # {project: {sample_key: Annotation}}
SAMPLE_INDEX = "kpcal_sample_index"  # {project: int}
VIEW_NONCE = "kpcal_view_nonce"  # int: bumps to give the click component a fresh key
CLICK_VIEWS = "kpcal_click_views"  # {component key: (project, sample_key, CropView)}
SAVE_MESSAGE = "kpcal_save_message"  # {project: str}
ANNOTATOR = "kpcal_annotator"  # str
ZOOM = "kpcal_zoom"  # float
FIT_THRESHOLD = "kpcal_fit_threshold"  # float
REFUSED = "kpcal_refused_project"  # str: why a project in the URL was not opened

# URL query parameters
QUERY_PROJECT = "project"
QUERY_SAMPLE = "sample"

RECENT_FILE_NAME = "recent.json"  # in the state folder (per user when signed in)


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
    if given and os.environ.get(statedir.STATE_DIR_ENV) != str(Path(given).expanduser().resolve()):
        statedir.set_state_dir(given)


def signed_in_user() -> str | None:
    """The signed-in user's e-mail on a server with sign-in, else ``None``."""
    if not login_configured() or not st.user.is_logged_in:
        return None
    email = st.user.get("email")
    return str(email) if email else None


def recent_file() -> Path:
    """The recent-projects list of this user (the state folder's, or the signed-in user's)."""
    return statedir.user_state_dir(signed_in_user()) / RECENT_FILE_NAME


def demo_project() -> str:
    """The demo project of this user (one per signed-in user on a server), written on first use."""
    return str(demo.ensure_demo_project(user=signed_in_user()).resolve())


def default_project() -> str:
    """The project given at start-up, or the demo project (written on first use)."""
    given = command_line_project() or os.environ.get("KPCAL_PROJECT")
    if given:
        return str(Path(given).expanduser().resolve())
    return demo_project()


def project_dir() -> str:
    """The project this browser session works on."""
    from_url = st.query_params.get(QUERY_PROJECT)
    if from_url:
        try:  # on a shared server, only inside KPCAL_DATA_ROOT
            st.session_state[PROJECT] = str(resolve_user_path(from_url, what="project folder"))
        except KpcalError as error:  # shown by app.py on every page until another project opens
            st.query_params.pop(QUERY_PROJECT, None)
            st.session_state[REFUSED] = f"{error}. Still working on the previous project."
    if PROJECT not in st.session_state:
        st.session_state[PROJECT] = default_project()
    return st.session_state[PROJECT]


def switch_project(folder: str) -> None:
    """Work on another project from now on (remembered in the URL and the recent list)."""
    folder = str(Path(folder).expanduser().resolve())
    st.session_state[PROJECT] = folder
    st.session_state.pop(REFUSED, None)
    st.query_params[QUERY_PROJECT] = folder
    st.query_params.pop(QUERY_SAMPLE, None)
    remember_recent(folder)


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
    try:
        atomic_write(recent_file(), json.dumps(items[:10]))
    except (OSError, KpcalError):
        pass  # no writable state folder: recent projects are a convenience


def annotator() -> str:
    """Who is annotating: the signed-in user's e-mail, else the name typed (default: OS user)."""
    user = getattr(st, "user", None)
    if user is not None and getattr(user, "is_logged_in", False) and user.get("email"):
        return str(user.get("email"))
    if ANNOTATOR not in st.session_state:
        try:
            st.session_state[ANNOTATOR] = getpass.getuser()
        except (KeyError, OSError):
            st.session_state[ANNOTATOR] = "annotator"
    return st.session_state[ANNOTATOR]


def show_error(error: Exception) -> None:
    """A readable message for bad input; nothing else is shown as a traceback.

    Also writes one ``event=error`` line on stderr (:func:`kpcal_core.logs.log_event`).
    """
    message = str(error) if isinstance(error, KpcalError) else f"{type(error).__name__}: {error}"
    log_event(
        "error",
        user=annotator(),
        project=st.session_state.get(PROJECT, ""),
        page=_page_name(),
        kind=type(error).__name__,
        message=message,
    )
    st.error(message)


def _page_name() -> str:
    """The URL path of the page running (``setup``, ``annotate``, ``fit``), or ``""``."""
    try:
        return st.context.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    except Exception:  # no browser session (AppTest without a URL)
        return ""


def login_configured() -> bool:
    """True when the server's secrets configure an identity provider for ``st.login``."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets.toml: a laptop
        return False


def annotator_control() -> None:
    """The annotator's name in the sidebar (fixed to the signed-in e-mail on a server)."""
    name = annotator()
    if login_configured():
        st.caption(f"Annotator: {name}")
        if st.user.is_logged_in:
            st.button("Sign out", on_click=st.logout, key="kpcal_sign_out")
    else:
        st.text_input("Annotator", key=ANNOTATOR, help="Recorded with every annotation you make.")
    del name


def ensure_app_navigation() -> None:
    """Make sure the page runs under ``app.py``'s ``st.navigation``.

    A folder named ``pages/`` next to ``app.py`` makes Streamlit start in its
    older folder-based navigation, which runs a page script directly when the
    first request after a server start asks for its URL. Switching that mode
    off and rerunning hands the request to ``app.py`` (same URL, same page).

    The mode is a server-wide flag read when a run starts, so when several
    sessions start at once, one may run its page in the old mode after
    another session already switched it off: the test is whether this run
    came from the folder-based navigation, not the flag.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory or _run_by_folder_navigation():
        PagesManager.uses_pages_directory = False
        st.rerun()


def _run_by_folder_navigation() -> bool:
    """True when this page was started by Streamlit's folder-based navigation, not ``app.py``."""
    app = Path(__file__).resolve().parents[1] / "app.py"
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_mpa_v1" and "streamlit" in code.co_filename:
            return True
        if code.co_filename.endswith("app.py") and Path(code.co_filename).resolve() == app:
            return False
        frame = frame.f_back
    return False


if __name__ == "__main__":  # opened as a page by the folder-based navigation
    ensure_app_navigation()
