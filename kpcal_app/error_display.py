"""Errors shown to people: one readable message, logged, never a traceback.

Owns :func:`show_error`, which every page calls for bad input, and the repair it
offers when the project's ``config.yml`` is broken (start it over, keeping a backup).
"""

from __future__ import annotations

import streamlit as st

from kpcal_core import sentences, workflows
from kpcal_core.errors import KpcalError
from kpcal_core.workflows import log_event

from .state import PROJECT, annotator
from .text import literal


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
            st.toast(sentences.kept_broken_config(literal(backup.name)))
            st.rerun()


def _page_name() -> str:
    """The URL path of the page running (``setup``, ``annotate``, ``fit``), or ``""``."""
    try:
        return st.context.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    except Exception:  # no browser session (AppTest without a URL)
        return ""
