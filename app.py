"""kpcal: keypoint error calibration for keypoint-MoSeq, as a Streamlit app.

Run ``streamlit run app.py`` (the demo project), or
``streamlit run app.py -- --project DIR`` (or set ``KPCAL_PROJECT``); installed as a
package, ``kpcal app [DIR]`` runs this file (``kpcal_core.appfiles``).
"""

from __future__ import annotations

import streamlit as st

from kpcal_app import address, command_line, projects, signin, startup, state, widgets
from kpcal_app.text import code, literal
from kpcal_core.errors import KpcalError
from kpcal_core.workflows import load_session

# An emoji favicon is drawn in the browser; a :material/...: one is fetched from Google's servers.
st.set_page_config(page_title="kpcal: keypoint error calibration", page_icon="🎯", layout="wide")
command_line.use_command_line_state_dir()  # `-- --state-dir DIR`: where kpcal writes


URL_PATHS = ("setup", "annotate", "fit")  # the pages' url_path, below


def sign_in_page() -> None:
    """The only page before sign-in: any address shows it.

    The browser keeps the address to go back to after sign-in (:mod:`kpcal_app.signin`).
    """
    st.title("kpcal")
    st.write("This server records who made each annotation: please sign in.")
    st.button("Sign in", on_click=st.login, type="primary")
    signin.keep_wanted_address(list(URL_PATHS))


if signin.login_configured() and not st.user.is_logged_in:
    # Before sign-in nothing else runs: no other page (nor their names in the sidebar),
    # no ?project= or ?sample= is read, nothing is written.
    # The pages' addresses show the sign-in page too (not "page not found").
    st.navigation(
        [st.Page(sign_in_page, title="Sign in", default=True)]
        + [st.Page(sign_in_page, title="Sign in", url_path=path) for path in URL_PATHS],
        position="hidden",
    ).run()
    st.stop()

try:
    project = projects.project_dir()
except KpcalError as error:  # no project given and the demo project cannot be written
    st.error(literal(error))
    st.info(
        "Open a project of yours instead: add ?project=/path/to/project to the address, or "
        "start kpcal with `kpcal app /path/to/project` (from a checkout: "
        "`streamlit run app.py -- --project /path/to/project`)."
    )
    st.stop()
address.read_address()  # the sample and zoom of a link, once per browser session
address.keep_address(project)  # where this session is, in the address on every page
try:
    session = load_session(project)
except KpcalError as error:
    session = None
    st.error(literal(error))


def home() -> None:
    """The root address: the annotate page when samples are ready, else setup."""
    page = annotate if session and session.sample_keys else setup
    st.switch_page(page, query_params=address.address(project))


setup = st.Page("pages/setup.py", title="Set up & sample", icon=":material/tune:", url_path="setup")
annotate = st.Page(
    "pages/annotate.py", title="Annotate", icon=":material/ads_click:", url_path="annotate"
)
fit = st.Page("pages/fit.py", title="Fit & save", icon=":material/show_chart:", url_path="fit")
navigation = st.navigation(
    [st.Page(home, title="kpcal", default=True, visibility="hidden"), setup, annotate, fit]
)
if st.session_state.get(state.REFUSED):
    st.error(literal(st.session_state[state.REFUSED]))
with st.sidebar:
    if project:
        st.caption("Project: " + code(project))
    widgets.annotator_control()
    if signin.login_configured():
        signin.return_to_wanted_address(list(URL_PATHS))
startup.run_page(navigation)
