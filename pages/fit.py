"""Fit page: the scatter, the line and how far to trust it, the threshold, saving.

Everything shown is computed by :mod:`kpcal_core.workflows` (the same steps as
``kpcal fit`` and ``kpcal export``) and drawn by :mod:`kpcal_core.charts`.
"""

from __future__ import annotations

import altair as alt
import streamlit as st

from kpcal_app import address, cache, error_display, panels, projects, startup, state
from kpcal_app.text import literal
from kpcal_core import sentences, workflows
from kpcal_core.errors import KpcalError, NotEnoughAnnotations
from kpcal_core.workflows import FIT_METHODS, fit_chart, running_chart

CHART_KEY = "kpcal_fit_chart"
METHOD_LABELS = {
    "least-squares": "Least squares (keypoint-MoSeq's choice)",
    "theil-sen": "Robust (Theil–Sen)",
    "huber": "Robust (Huber)",
}

startup.ensure_app_navigation()

st.title("Fit & save")
project = projects.project_dir()
try:
    data = cache.project_data(project)
    records = state.records(project)
except KpcalError as error:
    error_display.show_error(error, project)
    st.stop()
workflows.leave_samples(data, state.annotator(), state.lease_session())  # left annotating

if state.held(project):  # a full disk refused them on the annotate page
    st.warning(sentences.held_not_in_fit(sentences.held_status(state.held(project))))
panels.team_agreement(data, records)
fit_records = panels.annotator_comparison(records)

method = st.radio(
    "Line to save",
    FIT_METHODS,
    index=FIT_METHODS.index(data.session.fit_method),
    format_func=METHOD_LABELS.get,
    horizontal=True,
    help="Robust lines resist a few wild clicks. keypoint-MoSeq fits least squares. The line "
    "saved is also the one autosave fits from then on.",
)
try:
    result = workflows.calibration_fit(data, fit_records, method)
except NotEnoughAnnotations as error:
    st.info(sentences.no_fit_yet(literal(error)))
    st.page_link(
        "pages/annotate.py",
        label="Annotate more",
        icon=":material/ads_click:",
        query_params=address.address(project),
    )
    st.stop()
except KpcalError as error:
    error_display.show_error(error)
    st.stop()
points, fit, line = result.project.points, result.project.fit, result.line
if result.project.n_left_out:
    st.warning(sentences.not_loaded_left_out(result.project.n_left_out))
try:
    stop = cache.stop_status(data, fit_records)  # the annotate page's verdict, the same rule
except KpcalError as error:
    error_display.show_error(error)
    st.stop()
diag = cache.fit_diagnostics(data, result.project.line_points, stop)
boot = diag.bootstrap
settled, statement = diag.settled, diag.statement

st.markdown(
    f"**{sentences.fit_numbers(fit)}**"
    + ("" if method == "least-squares" else " · " + sentences.method_line(method, line))
)
st.caption(sentences.bootstrap_intervals(boot))
(st.success if settled else st.warning)(statement)
panels.draw_more_button(data, stop, key="fit-draw-more")
st.caption(sentences.how_the_stop_rule_judges(stop.held))
panels.gross_errors_panel(project, data, stop)
if result.project.counts.get("not_visible"):
    st.caption(sentences.not_visible_left_out(result.project.counts["not_visible"]))

if state.FIT_THRESHOLD not in st.session_state:
    st.session_state[state.FIT_THRESHOLD] = float(data.config.get("conf_threshold", 0.5))


def threshold_from_chart() -> None:
    """Use the confidence of the point picked on the chart as ``conf_threshold``."""
    selection = st.session_state[CHART_KEY].selection.get("pick") or []
    if selection and "confidence" in selection[0]:
        st.session_state[state.FIT_THRESHOLD] = float(selection[0]["confidence"])


threshold = st.number_input(
    "conf_threshold (or click a point on the chart to use its confidence)",
    min_value=0.0,
    max_value=float(max(1.0, points["confidence"].max())),
    key=state.FIT_THRESHOLD,
    format="%.4f",
    step=0.01,
)
st.caption(sentences.share_above_threshold(cache.share_above(data, threshold), threshold))
show_parts = st.checkbox("Show each bodypart's own line")
lines = [workflows.least_squares_line(fit)] + ([line] if method != "least-squares" else [])
chart = fit_chart(
    points,
    lines,
    threshold,
    bodyparts=data.bodyparts,
    part_lines=diag.part_lines if show_parts else None,
    selection=alt.selection_point(name="pick", fields=["confidence"], on="click", nearest=True),
    width="container",
    height=420,
)
st.altair_chart(
    chart, width="stretch", key=CHART_KEY, on_select=threshold_from_chart, selection_mode="pick"
)

# --------------------------------------------------------------------- details
trust, stability, parts, residuals, pixels = st.tabs(
    ["Where is it trusted?", "Has it settled?", "Per bodypart", "Largest residuals", "In pixels"]
)
prior = cache.model_prior(data, line, threshold, diag.per_bodypart)
with trust:
    panels.trusted_panel(diag.band, prior)
with stability:
    st.altair_chart(running_chart(diag.running), width="stretch")
    st.caption(
        "The least-squares slope after each annotation, in the order they were made, with its "
        "95% interval."
    )
with parts:
    panels.per_bodypart_panel(prior, diag.bodypart_table)
with residuals:
    samples = data.session.sample_keys
    for row in workflows.residual_rows(points, fit, samples):
        cols = st.columns([4, 1])
        cols[0].markdown(literal(row.text))
        if row.sample_index is not None and cols[1].button("Open", key=f"open-{row.key}"):
            address.set_sample_index(project, row.sample_index)
            st.switch_page("pages/annotate.py", query_params=address.address(project))
with pixels:
    st.dataframe(
        workflows.error_size_table(line, data.conf_pseudocount).style.format("{:.2f}"),
        hide_index=True,
    )
    st.caption(
        "Error size = 10^(slope·log10(c + pseudocount) + intercept) = √s0: the size of "
        "keypoint-MoSeq's prior on a keypoint's noise at confidence c."
    )

panels.model_prior_panel(prior)
panels.save_panel(data, result.project.line_points, line, method, threshold)
st.download_button(
    "Download annotations CSV",
    workflows.annotations_csv(data, records),
    file_name="error_annotations.csv",
    mime="text/csv",
)
