"""Where the person is: the address (``?project=&sample=&zoom=``) and the session's place.

Owns the URL query parameters the app reads (:data:`ADDRESS_KEYS`) and the place they
stand for: the page (its path), ``project``, ``sample`` (1-based; :func:`sample_index`)
and ``zoom`` (:data:`kpcal_core.views.ZOOMS`, left out at the default; :func:`zoom`), so
a reload, a bookmark or a link opens the same place. The address's sample and zoom are
read once, when the browser session starts (:func:`read_address`); from then on this
session's state is the truth and the address follows it (:func:`keep_address`, on every
run; moving between pages clears the query, the next run writes it back).
"""

from __future__ import annotations

import streamlit as st

from kpcal_core import workflows

from .state import ADDRESS_READ, PROJECT, REFUSED, SAMPLE_INDEX, ZOOM

# URL query parameters
QUERY_PROJECT = "project"
QUERY_SAMPLE = "sample"
QUERY_ZOOM = "zoom"
ADDRESS_KEYS = (QUERY_PROJECT, QUERY_SAMPLE, QUERY_ZOOM)  # the only ones the app reads
MAX_SAMPLE_DIGITS = 9


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
    zoom = workflows.parse_zoom(st.query_params.get(QUERY_ZOOM))
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
    if zoom() != workflows.FIT:
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
    return workflows.parse_zoom(st.session_state.get(ZOOM)) or workflows.FIT


def set_zoom(value: str) -> None:
    """Show the annotate page at zoom ``value`` from now on, on every sample.

    The address says so.
    """
    st.session_state[ZOOM] = workflows.parse_zoom(value) or workflows.FIT
    keep_address()


def sample_index(project: str, samples: list, is_done) -> int:
    """The sample shown (0-based).

    This session's, or the address's ``?sample=`` when the session started there
    (:func:`read_address`; beyond the last: the last), else the first not done. The
    address says which.
    """
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
