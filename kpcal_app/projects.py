"""The project this browser session works on, and which folders it may open.

Resolved in one place (:func:`project_dir`): the address's ``project`` (typed on the
setup page, or from a link), else ``--project`` on the command line, else
``KPCAL_PROJECT``, else this user's demo project. A project from the address or typed
must lie inside ``KPCAL_DATA_ROOT`` on a shared server, or be this user's own demo
project, or the one the server was started with (:func:`resolve_project`).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from kpcal_core import sentences, workflows
from kpcal_core.errors import KpcalError
from kpcal_core.workflows import clean_user_path, resolve_user_path

from .address import QUERY_PROJECT, keep_address
from .command_line import given_project
from .history import remember_recent
from .signin import signed_in_user
from .state import PROJECT, REFUSED


def own_demo_project() -> Path:
    """Where this user's demo project is (it may not be written yet)."""
    return workflows.default_demo_dir(user=signed_in_user()).expanduser().resolve()


def demo_project() -> str:
    """The demo project of this user (one per signed-in user on a server), written on first use."""
    return str(workflows.ensure_demo_project(user=signed_in_user()).resolve())


def default_project() -> str:
    """The project given at start-up, or the demo project (written on first use)."""
    return given_project() or demo_project()


def resolve_project(text: str) -> Path:
    """A project folder from the URL or typed, resolved and allowed.

    On a shared server (``KPCAL_DATA_ROOT``) it must lie inside the data root,
    or be exactly this user's own demo project (in the state folder), or the
    project the server was started with (:func:`kpcal_app.command_line.given_project`, which every
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
            st.session_state[REFUSED] = sentences.project_refused(error)
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
