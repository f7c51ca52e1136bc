"""Session-state keys and the small amount of per-browser state the pages share.

Every ``st.session_state`` key the app uses is a constant here. The project
in use is resolved in one place (:func:`project_dir`): the URL's ``project``
query parameter (typed on the setup page), else ``--project`` on the command
line, else ``KPCAL_PROJECT``, else the demo project.
"""

from __future__ import annotations

import argparse
import contextvars
import getpass
import json
import os
import runpy
import sys
from pathlib import Path

import streamlit as st

from kpcal_core import demo
from kpcal_core.errors import KpcalError
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

APP_SCRIPT = Path(__file__).resolve().parents[1] / "app.py"
# True while app.py's navigation runs a page (a plain context variable: per script run).
_STARTED_BY_APP: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "kpcal_started_by_app", default=False
)


def state_dir() -> Path:
    """Where the app keeps its own files: ``KPCAL_STATE_DIR``, else ``~/.config/kpcal``."""
    return Path(os.environ.get("KPCAL_STATE_DIR", Path.home() / ".config" / "kpcal"))


RECENT_FILE = state_dir() / "recent.json"


def command_line_project() -> str | None:
    """``--project DIR`` after ``--`` on the ``streamlit run`` line, if given."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--project")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return known.project


def default_project() -> str:
    """The project given at start-up, or the demo project (written on first use)."""
    given = command_line_project() or os.environ.get("KPCAL_PROJECT")
    if given:
        return str(Path(given).expanduser().resolve())
    return str(demo.ensure_demo_project().resolve())


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
    try:
        items = json.loads(RECENT_FILE.read_text())
        return [str(p) for p in items if isinstance(p, str)][:10]
    except (OSError, ValueError):
        return []


def remember_recent(folder: str) -> None:
    items = [folder] + [p for p in recent_projects() if p != folder]
    try:
        RECENT_FILE.parent.mkdir(parents=True, exist_ok=True)
        from kpcal_core.atomic import atomic_write

        atomic_write(RECENT_FILE, json.dumps(items[:10]))
    except OSError:
        pass  # a read-only home: recent projects are a convenience


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
    """A readable message for bad input; nothing else is shown as a traceback."""
    if isinstance(error, KpcalError):
        st.error(str(error))
    else:
        st.error(f"{type(error).__name__}: {error}")


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
    else:
        st.text_input("Annotator", key=ANNOTATOR, help="Recorded with every annotation you make.")
    del name


def run_page(page: st.Page) -> None:
    """Run the page ``app.py``'s ``st.navigation`` chose, marked as started by ``app.py``."""
    token = _STARTED_BY_APP.set(True)
    try:
        page.run()
    finally:
        _STARTED_BY_APP.reset(token)


def ensure_app_navigation() -> None:
    """Show the calling page inside ``app.py``'s navigation, however its run started.

    Called first by every page script. With a folder named ``pages/`` beside
    ``app.py``, Streamlit starts in its folder-based navigation: until a
    session calls ``st.navigation``, a request for a page's URL (the first one
    after a server start, for example ``/annotate``) runs that page script
    alone, without ``app.py``. Streamlit documents that once ``st.navigation``
    is called, in any session, the ``pages/`` folder is ignored in all
    sessions. So a page that finds it was not started by ``app.py`` (see
    :func:`run_page`) runs ``app.py`` instead and stops: ``app.py``'s
    ``st.navigation`` picks the same page from the URL (same ``url_path``, same
    query parameters) and runs it inside the app's frame, in this same run (no
    rerun, so a button press of this run is not lost), and every later run
    starts from ``app.py``. Sessions that start at the same moment each do
    the same, whichever mode their run started in.
    """
    if not _STARTED_BY_APP.get():
        runpy.run_path(str(APP_SCRIPT))
        st.stop()
