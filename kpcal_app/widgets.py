"""Small views the pages share: tables with blanks shown, the demo banner, the annotator.

Each draws one thing and computes nothing (larger page sections are in
:mod:`kpcal_app.panels`).
"""

from __future__ import annotations

import streamlit as st

from kpcal_core import sentences, workflows

from .signin import login_configured
from .state import ANNOTATOR, annotator
from .text import code


def show_table(frame, **kwargs) -> None:
    """``st.dataframe`` with blanks shown as "–" (columns holding a blank become text)."""
    shown = frame.copy()
    for column in shown.columns:
        blank = shown[column].isna()
        if blank.any():
            shown[column] = shown[column].astype(object).where(~blank, "–").astype(str)
    st.dataframe(shown, hide_index=True, **kwargs)


def demo_banner(project: str) -> None:
    """On the demo project, say in the sidebar what it is and what answer to expect."""
    truth = workflows.demo_truth(project)
    if truth is not None:
        st.sidebar.info(
            "**Demo project**: " + sentences.demo_note(truth["slope"], truth["intercept"]),
            icon=":material/school:",
        )


def bodypart_legend(bodyparts: list[str]) -> list[tuple[str, str]]:
    """Which dot colour is which bodypart, as on the charts: ``[(name, "#rrggbb"), ...]``.

    Shown by the click view below its image, as text (the target in bold).
    """
    from kpcal_core.workflows import bodypart_colours

    return list(bodypart_colours(bodyparts).items())


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
