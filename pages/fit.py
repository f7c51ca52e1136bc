"""Fit page: the error-vs-confidence scatter, the regression line, the threshold, saving."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from kpcal_core.annotations import CLEARED, NOT_VISIBLE, format_annotations
from kpcal_core.config import load_config, save_params
from kpcal_core.errors import KpcalError
from kpcal_core.fitting import error_points, fit_points, predicted_error_px
from kpcal_core.project import load_working_annotations
from pages import cache, state

state.ensure_app_navigation()

CHART_KEY = "kpcal_fit_chart"

st.title("Fit & save")
project = state.project_dir()
try:
    data = cache.project_data(project)
    config = load_config(project)
    all_records = st.session_state.setdefault(state.RECORDS, {})
    if project not in all_records:
        all_records[project] = load_working_annotations(project)
    records = all_records[project]
except KpcalError as error:
    state.show_error(error)
    st.stop()

positioned = {k: v for k, v in records.items() if v.has_position}
usable = {
    k: v for k, v in positioned.items() if k[0] in data.coordinates and k[2] in data.bodyparts
}
if len(usable) < len(positioned):
    st.warning(
        f"{len(positioned) - len(usable)} annotations are of recordings or bodyparts not loaded; "
        "left out of the fit."
    )
hidden = sum(1 for v in records.values() if v.status == NOT_VISIBLE)
if hidden:
    st.caption(f"{hidden} samples marked not visible: kept in the CSV, left out of the fit.")
try:
    points = error_points(
        data.coordinates, data.confidences, usable, data.bodyparts, data.conf_pseudocount
    )
    fit = fit_points(points)
except KpcalError as error:
    st.info(f"No fit yet: {error}")
    st.page_link("pages/annotate.py", label="Annotate more", icon=":material/ads_click:")
    st.stop()

if state.FIT_THRESHOLD not in st.session_state:
    st.session_state[state.FIT_THRESHOLD] = float(config.get("conf_threshold", 0.5))


def threshold_from_chart() -> None:
    selection = st.session_state[CHART_KEY].selection.get("pick") or []
    if selection and "confidence" in selection[0]:
        st.session_state[state.FIT_THRESHOLD] = float(selection[0]["confidence"])


slope, intercept = fit["slope"], fit["intercept"]
st.markdown(
    f"**slope = {slope:.4f} · intercept = {intercept:.4f} · R² = {fit['r2']:.3f} · n = {fit['n']}**"
)
threshold = st.number_input(
    "conf_threshold (click a point on the chart to use its confidence)",
    min_value=0.0,
    max_value=float(max(1.0, points["confidence"].max())),
    key=state.FIT_THRESHOLD,
    format="%.4f",
    step=0.01,
)
share = cache.share_above(data, threshold)
st.caption(
    f"{share:.1f}% of all used keypoints have confidence above {threshold:.4f}; keypoint-MoSeq "
    "treats the rest as outliers to interpolate when it initialises a model."
)

x_low, x_high = float(points["log10_confidence"].min()), float(points["log10_confidence"].max())
line = pd.DataFrame({"log10_confidence": [x_low, x_high]})
line["log10_error"] = slope * line["log10_confidence"] + intercept
pick = alt.selection_point(name="pick", fields=["confidence"], on="click", nearest=True)
scatter = (
    alt.Chart(points)
    .mark_circle(size=60, opacity=0.8)
    .encode(
        x=alt.X("log10_confidence:Q", title="log10(confidence)"),
        y=alt.Y("log10_error:Q", title="log10(error + 1)"),
        color=alt.Color("bodypart:N"),
        tooltip=[
            "recording:N",
            "frame:Q",
            "bodypart:N",
            alt.Tooltip("confidence:Q", format=".4f"),
            alt.Tooltip("error_px:Q", title="error (px)", format=".2f"),
        ],
    )
    .add_params(pick)
)
regression = (
    alt.Chart(line).mark_line(color="black").encode(x="log10_confidence:Q", y="log10_error:Q")
)
rule = (
    alt.Chart(pd.DataFrame({"x": [np.log10(max(threshold, 1e-12))]}))
    .mark_rule(strokeDash=[6, 4], color="gray")
    .encode(x="x:Q")
)
st.altair_chart(
    (scatter + regression + rule).properties(height=420),
    width="stretch",
    key=CHART_KEY,
    on_select=threshold_from_chart,
    selection_mode="pick",
)

left, right = st.columns(2)
with left:
    st.markdown("**What the fit means in pixels**")
    confs = np.array([0.01, 0.1, 0.3, 0.5, 0.9, 1.0])
    st.dataframe(
        pd.DataFrame(
            {
                "confidence": confs,
                "error size (px)": predicted_error_px(
                    slope, intercept, confs + data.conf_pseudocount
                ),
            }
        ).style.format({"confidence": "{:.2f}", "error size (px)": "{:.2f}"}),
        hide_index=True,
    )
    st.caption(
        "Error size = 10^(slope·log10(c) + intercept): keypoint-MoSeq's prior on keypoint noise."
    )
with right:
    st.markdown("**Per bodypart**")
    st.dataframe(
        pd.DataFrame(
            [
                {"bodypart": b, **{k: v for k, v in e.items()}}
                for b, e in fit["per_bodypart"].items()
            ]
        ),
        hide_index=True,
    )

if st.button("Save to config.yml", type="primary"):
    try:
        save_params(project, {"slope": slope, "intercept": intercept, "conf_threshold": threshold})
        st.success(
            f"Saved slope {slope:.4f}, intercept {intercept:.4f}, conf_threshold {threshold:.4f} "
            f"to {project}/config.yml"
        )
    except KpcalError as error:
        state.show_error(error)
st.download_button(
    "Download annotations CSV",
    format_annotations(
        {k: v for k, v in records.items() if v.status != CLEARED}, data.video_frame_indexes
    ),
    file_name="error_annotations.csv",
    mime="text/csv",
)
