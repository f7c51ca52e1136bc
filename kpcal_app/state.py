"""Every ``st.session_state`` key, and the per-browser-session data the pages share.

Owns the keys (each a constant here) and this session's working data: the annotations
as last saved and the edits a refused save holds (:func:`records`, :func:`held`), the
recent click views (:func:`register_click_view`), the save message, the click view's
drawn size and the annotator's name. Where the session is (project, sample, zoom) is
:mod:`kpcal_app.address`; which project it works on, :mod:`kpcal_app.projects`.
"""

from __future__ import annotations

import getpass
import uuid

import streamlit as st

from kpcal_core import workflows

# st.session_state keys
PROJECT = "kpcal_project"  # str: project folder in use
RECORDS = "kpcal_records"  # {project: {sample_key: Annotation}}: as on disk at the last save
HELD = "kpcal_held"  # {project: {sample_key: Annotation}}: edits a refused save kept here
SAMPLE_INDEX = "kpcal_sample_index"  # {project: int}
CLICK_VIEWS = "kpcal_click_views"  # {view token: (project, sample_key, CropView)}, recent
CLICK_VIEW = "kpcal_click_view"  # the click component's key: one view for every sample
SAVE_MESSAGE = "kpcal_save_message"  # {project: str}
ANNOTATOR = "kpcal_annotator"  # str
LEASE_SESSION = "kpcal_lease_session"  # str: this page session's id, for its sample's lease
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


def view_size() -> int:
    """Pixels a side the click view's image is drawn at.

    The width the browser last said it shows it at
    (:func:`kpcal_core.clicks.parse_view_size`), else the default.
    """
    return int(st.session_state.get(VIEW_SIZE, workflows.DEFAULT_VIEW_PX))


def set_view_size(size: int) -> None:
    """Keep ``size``, the click view's width in pixels the browser says it shows."""
    st.session_state[VIEW_SIZE] = int(size)


def lease_session() -> str:
    """The browser session's id, which its lease on a sample is held under.

    Kept when the annotator's name is typed anew, so the sample shown stays this session's.
    """
    return st.session_state.setdefault(LEASE_SESSION, uuid.uuid4().hex)


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


# --------------------------------------------------------------------------- annotate page


def records(project: str) -> dict:
    """The session's view of the project's annotations ``{sample_key: Annotation}``.

    Read from the project's files the first time (a broken file raises
    :class:`KpcalError`); updated in place by every save.
    """
    from kpcal_core.workflows import load_working_annotations

    all_records = st.session_state.setdefault(RECORDS, {})
    if project not in all_records:
        all_records[project] = load_working_annotations(project)
    return all_records[project]


def held(project: str) -> dict:
    """Edits of this session not on disk yet ``{sample_key: Annotation}``.

    A save was refused (a full disk, the lock held elsewhere); the next save that works
    writes them.
    """
    return st.session_state.setdefault(HELD, {}).setdefault(project, {})


def init_annotate_state() -> None:
    """Make the annotate page's per-session stores (click views, save messages) if missing."""
    st.session_state.setdefault(CLICK_VIEWS, {})
    st.session_state.setdefault(SAVE_MESSAGE, {})


RECENT_VIEWS = 8  # views a late click can still be applied to


def register_click_view(zoom: str, project: str, key, view) -> str:
    """The view token of sample ``key`` at ``zoom``; remembers its crop for the clicks on it.

    The token is :func:`kpcal_core.clicks.view_token`. The last :data:`RECENT_VIEWS`
    views are kept, so a click made just before the image changed can be applied
    to the sample it was made on (:func:`kpcal_core.clicks.late_click` says when).
    """
    token = workflows.view_token(project, key, zoom, view.display_width)
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
    """Keep ``message``, what the last save of ``project`` did, to show on the next run."""
    st.session_state.setdefault(SAVE_MESSAGE, {})[project] = message


def save_message(project: str) -> str | None:
    """What the last save of ``project`` in this session did, or ``None`` before any."""
    return st.session_state.get(SAVE_MESSAGE, {}).get(project)
