"""Session-state keys and the small amount of per-browser state the pages share.

Every ``st.session_state`` key the app uses is a constant here. The project
in use is resolved in one place (:func:`project_dir`): the URL's ``project``
query parameter (typed on the setup page), else ``--project`` on the command
line, else ``KPCAL_PROJECT``, else the demo project. A project from the URL or
typed must lie inside ``KPCAL_DATA_ROOT`` on a shared server, or be this
user's own demo project, or the one the server was started with
(:func:`resolve_project`).

Where the person is lives in the address (:func:`address`, kept by
:func:`keep_address` on every run): the page (its path), ``project``,
``sample`` (1-based) and ``zoom`` (:data:`kpcal_core.views.ZOOMS`, left out at
the default), so a reload, a bookmark or a link opens the same place. The
address's sample and zoom are read once, when the browser session starts
(:func:`read_address`); from then on this session's state is the truth and the
address follows it (moving between pages clears the query, the next run writes
it back).
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

from kpcal_core import clicks, demo, statedir, views, workflows
from kpcal_core.atomic import atomic_write
from kpcal_core.errors import KpcalError
from kpcal_core.logs import log_event
from kpcal_core.paths import clean_user_path, resolve_user_path

from .text import code, literal

# st.session_state keys
PROJECT = "kpcal_project"  # str: project folder in use
RECORDS = "kpcal_records"  # {project: {sample_key: Annotation}}: as on disk at the last save
HELD = "kpcal_held"  # {project: {sample_key: Annotation}}: edits a refused save kept here
SAMPLE_INDEX = "kpcal_sample_index"  # {project: int}
CLICK_VIEWS = "kpcal_click_views"  # {view token: (project, sample_key, CropView)}, recent
CLICK_VIEW = "kpcal_click_view"  # the click component's key: one view for every sample
SAVE_MESSAGE = "kpcal_save_message"  # {project: str}
ANNOTATOR = "kpcal_annotator"  # str
ZOOM = "kpcal_zoom"  # str: one of kpcal_core.views.ZOOMS
VIEW_SIZE = "kpcal_view_size"  # int: px a side the click view's image is drawn at
ADDRESS_READ = "kpcal_address_read"  # bool: the address's sample and zoom were taken
FIT_THRESHOLD = "kpcal_fit_threshold"  # float
REFUSED = "kpcal_refused_project"  # str: why a project in the URL was not opened
PENDING_FOLDER = "kpcal_pending_folder"  # str: a project folder the user may create
SOURCE_NOTES = "kpcal_source_notes"  # list[str]: what loading the keypoint files noticed
# (project, note, anterior, posterior): the names did not say front or back; shown while the
# project's config.yml still holds the anterior/posterior bodyparts written then
ANATOMY_QUESTION = "kpcal_anatomy_question"
SAMPLE_REQUESTED = "kpcal_sample_requested"  # True: "Sample frames" was pressed (its callback)
START_ANNOTATING = "kpcal_start_annotating"  # the "Start annotating" button's key

# URL query parameters
QUERY_PROJECT = "project"
QUERY_SAMPLE = "sample"
QUERY_ZOOM = "zoom"
ADDRESS_KEYS = (QUERY_PROJECT, QUERY_SAMPLE, QUERY_ZOOM)  # the only ones the app reads
MAX_SAMPLE_DIGITS = 9

APP_SCRIPT = Path(__file__).resolve().parents[1] / "app.py"
# True while app.py's navigation runs a page (a plain context variable: per script run).
_STARTED_BY_APP: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "kpcal_started_by_app", default=False
)
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


def given_project() -> str | None:
    """The project the server was started with (``--project``, ``KPCAL_PROJECT``), if any."""
    given = command_line_project() or os.environ.get("KPCAL_PROJECT")
    return str(Path(given).expanduser().resolve()) if given else None


def default_project() -> str:
    """The project given at start-up, or the demo project (written on first use)."""
    return given_project() or demo_project()


def own_demo_project() -> Path:
    """Where this user's demo project is (it may not be written yet)."""
    return demo.default_demo_dir(user=signed_in_user()).expanduser().resolve()


def resolve_project(text: str) -> Path:
    """A project folder from the URL or typed, resolved and allowed.

    On a shared server (``KPCAL_DATA_ROOT``) it must lie inside the data root,
    or be exactly this user's own demo project (in the state folder), or the
    project the server was started with (:func:`given_project`, which every
    page shows when no other is chosen, so the address can name it): another
    user's demo project, or anything else in the state folder, is refused.

    Raises
    ------
    KpcalError
        The path cannot be used, or lies outside the data root.
    """
    try:
        return resolve_user_path(text, what="project folder")
    except KpcalError:
        try:
            path = Path(os.path.expanduser(clean_user_path(text))).resolve()
            allowed = [own_demo_project()]
            if given_project():
                allowed.append(Path(given_project()))
        except (KpcalError, OSError, RuntimeError):
            path, allowed = None, []
        if path is not None and path in allowed:
            return path
        raise


def project_dir() -> str:
    """The project this browser session works on."""
    from_url = st.query_params.get(QUERY_PROJECT)
    if from_url:
        try:  # on a shared server, only inside KPCAL_DATA_ROOT (or this user's demo project)
            st.session_state[PROJECT] = str(resolve_project(from_url))
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
    keep_address(folder)
    remember_recent(folder)


# --------------------------------------------------------------------------- the address


def read_address() -> None:
    """Take the address's ``sample`` and ``zoom`` into this browser session, once.

    Called on every run before the page; acts on the session's first run only
    (a new tab, a reload, a link, a bookmark), for the project the address
    names. A value that is not a sample number or a zoom is ignored (and
    dropped from the address by the next :func:`keep_address`). Later runs
    follow this session's state: the address may lag it (a page switch clears
    the query; a rerun may carry the address from before the last click).
    """
    if st.session_state.get(ADDRESS_READ):
        return
    st.session_state[ADDRESS_READ] = True
    project = st.session_state.get(PROJECT)
    sample = st.query_params.get(QUERY_SAMPLE, "")
    if st.session_state.get(REFUSED):  # the address's project was refused: not its sample
        sample = ""
    if project and sample.isdigit() and len(sample) <= MAX_SAMPLE_DIGITS and int(sample) >= 1:
        st.session_state.setdefault(SAMPLE_INDEX, {})[project] = int(sample) - 1
    zoom = views.parse_zoom(st.query_params.get(QUERY_ZOOM))
    if zoom is not None:
        st.session_state[ZOOM] = zoom


def address(project: str | None = None) -> dict[str, str]:
    """Where this session is, as query parameters: ``project``, ``sample``, ``zoom``.

    ``sample`` (1-based) once the annotate page chose one for ``project`` (default:
    the session's project); ``zoom`` unless it is the default (fit). Pass it to
    ``st.page_link`` and ``st.switch_page`` (``query_params=``), which clear the
    query otherwise.
    """
    project = project or st.session_state.get(PROJECT)
    if not project:
        return {}
    place = {QUERY_PROJECT: str(project)}
    index = st.session_state.get(SAMPLE_INDEX, {}).get(project)
    if index is not None:
        place[QUERY_SAMPLE] = str(index + 1)
    if zoom() != views.FIT:
        place[QUERY_ZOOM] = zoom()
    return place


def keep_address(project: str | None = None) -> None:
    """Make the address say where this session is (:func:`address`); only the app's keys.

    Written only when it differs (each write is an entry in the browser's history).
    """
    wanted = address(project)
    if {k: st.query_params.get(k) for k in st.query_params} != wanted:
        st.query_params.from_dict(wanted)


def zoom() -> str:
    """The annotate page's zoom (one of :data:`kpcal_core.views.ZOOMS`; default: fit)."""
    return views.parse_zoom(st.session_state.get(ZOOM)) or views.FIT


def set_zoom(value: str) -> None:
    """Show the annotate page at zoom ``value`` from now on (on every sample); the address
    says so."""
    st.session_state[ZOOM] = views.parse_zoom(value) or views.FIT
    keep_address()


def view_size() -> int:
    """Pixels a side the click view's image is drawn at: the width the browser last said it
    shows it at (:func:`kpcal_core.clicks.parse_view_size`), else the default."""
    return int(st.session_state.get(VIEW_SIZE, clicks.DEFAULT_VIEW_PX))


def set_view_size(size: int) -> None:
    st.session_state[VIEW_SIZE] = int(size)


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


def show_error(error: Exception, project: str | None = None) -> None:
    """A readable message for bad input; nothing else is shown as a traceback.

    Also writes one ``event=error`` line on stderr (:func:`kpcal_core.logs.log_event`).
    With ``project`` and a broken ``config.yml``, offers to keep it as a backup and
    start it over (the annotations are in other files and stay).
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
    st.error(literal(message))
    if project is not None and workflows.broken_config(project):
        st.write(
            "Your annotations are in other files and are not affected. Fix config.yml by hand, "
            "or start it over from the keypoint files: the broken file is kept beside it."
        )
        if st.button("Start config.yml over (keep the broken file as a backup)"):
            backup, _ = workflows.start_config_over(project)
            st.toast("Kept the broken config as " + literal(backup.name))
            st.rerun()


def _page_name() -> str:
    """The URL path of the page running (``setup``, ``annotate``, ``fit``), or ``""``."""
    try:
        return st.context.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    except Exception:  # no browser session (AppTest without a URL)
        return ""


def show_table(frame, **kwargs) -> None:
    """``st.dataframe`` with blanks shown as "–" (columns holding a blank become text)."""
    shown = frame.copy()
    for column in shown.columns:
        blank = shown[column].isna()
        if blank.any():
            shown[column] = shown[column].astype(object).where(~blank, "–").astype(str)
    st.dataframe(shown, hide_index=True, **kwargs)


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
        st.caption("Annotator: " + code(name))
        if st.user.is_logged_in:
            st.button("Sign out", on_click=st.logout, key="kpcal_sign_out")
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


# --------------------------------------------------------------------------- annotate page


def records(project: str) -> dict:
    """This session's view of the project's annotations ``{sample_key: Annotation}``.

    Read from the project's files the first time (a broken file raises
    :class:`KpcalError`); updated in place by every save.
    """
    from kpcal_core.project import load_working_annotations

    all_records = st.session_state.setdefault(RECORDS, {})
    if project not in all_records:
        all_records[project] = load_working_annotations(project)
    return all_records[project]


def held(project: str) -> dict:
    """Edits of this session not on disk yet ``{sample_key: Annotation}`` (a save was refused:
    a full disk, the lock held elsewhere); the next save that works writes them."""
    return st.session_state.setdefault(HELD, {}).setdefault(project, {})


def sample_index(project: str, samples: list, is_done) -> int:
    """The sample shown (0-based): this session's, or the address's ``?sample=`` when the
    session started there (:func:`read_address`; beyond the last: the last), else the
    first not done. The address says which."""
    positions = st.session_state.setdefault(SAMPLE_INDEX, {})
    if project not in positions:
        positions[project] = next((i for i, k in enumerate(samples) if not is_done(k)), 0)
    index = max(0, min(positions[project], len(samples) - 1))
    if index != positions[project] or st.query_params.get(QUERY_SAMPLE) != str(index + 1):
        positions[project] = index
        keep_address(project)
    return index


def set_sample_index(project: str, index: int) -> None:
    """Show sample ``index`` (0-based) next; the URL says which (``?sample=``, 1-based)."""
    st.session_state.setdefault(SAMPLE_INDEX, {})[project] = index
    keep_address(project)


def start_at_first_sample(project: str) -> None:
    """After new samples are drawn: the annotate page starts at the first one not done."""
    st.session_state.setdefault(SAMPLE_INDEX, {}).pop(project, None)
    keep_address(project)


def init_annotate_state() -> None:
    st.session_state.setdefault(CLICK_VIEWS, {})
    st.session_state.setdefault(SAVE_MESSAGE, {})


RECENT_VIEWS = 8  # views a late click can still be applied to


def register_click_view(zoom: str, project: str, key, view) -> str:
    """The view token of sample ``key`` at ``zoom``; remembers its crop for the clicks on it.

    The token is :func:`kpcal_core.clicks.view_token`. The last :data:`RECENT_VIEWS`
    views are kept, so a click made just before the image changed can be applied
    to the sample it was made on (:func:`kpcal_core.clicks.late_click` says when).
    """
    token = clicks.view_token(project, key, zoom, view.display_width)
    views = st.session_state.setdefault(CLICK_VIEWS, {})
    views.pop(token, None)
    views[token] = (project, key, view)
    while len(views) > RECENT_VIEWS:
        views.pop(next(iter(views)))
    return token


def click_view(token: str):
    """``(project, sample_key, CropView)`` of the view ``token``, if recent; else ``None``."""
    return st.session_state.get(CLICK_VIEWS, {}).get(token)


def set_save_message(project: str, message: str) -> None:
    st.session_state.setdefault(SAVE_MESSAGE, {})[project] = message


def save_message(project: str) -> str | None:
    return st.session_state.get(SAVE_MESSAGE, {}).get(project)


# --------------------------------------------------------------------------- small views


def demo_banner(project: str) -> None:
    """On the demo project, say in the sidebar what it is and what answer to expect."""
    truth = demo.demo_truth(project)
    if truth is not None:
        st.sidebar.info(
            "**Demo project**: synthetic videos of a moving animal whose network errors follow a "
            f"known line (slope {truth['slope']:g}, intercept {truth['intercept']:g}). Click the "
            "centre of the dot the yellow circle is meant for; after a few dozen clicks the fit "
            "page should find about that line.",
            icon=":material/school:",
        )


def bodypart_legend(bodyparts: list[str]) -> list[tuple[str, str]]:
    """Which dot colour is which bodypart, as on the charts: ``[(name, "#rrggbb"), ...]``.

    Shown by the click view below its image, as text (the target in bold).
    """
    from kpcal_core.colours import bodypart_colours

    return list(bodypart_colours(bodyparts).items())
