"""How every page run starts: inside ``app.py``'s ``st.navigation``, however it was asked for.

Owns the guard the page scripts call first (:func:`ensure_app_navigation`) and the
marker ``app.py`` sets while it runs a page (:func:`run_page`). ``app.py`` is found as
``kpcal app`` finds it (:func:`kpcal_core.appfiles.app_script`), installed or in a checkout.
"""

from __future__ import annotations

import contextvars
import runpy

import streamlit as st

from kpcal_core.workflows import app_script

# True while app.py's navigation runs a page (a plain context variable: per script run).
_STARTED_BY_APP: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "kpcal_started_by_app", default=False
)


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
        runpy.run_path(str(app_script()))
        st.stop()
