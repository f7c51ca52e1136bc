"""Fit page: the scatter, the line and how far to trust it, the threshold, saving.

Everything shown is computed in ``kpcal_core`` (``fit_project`` and
``kpcal_core.diagnostics``), the same code path as ``python -m kpcal_core fit``.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from kpcal_app import cache, state
from kpcal_core.annotations import CLEARED, format_annotations, parse_annotations
from kpcal_core.config import load_config, save_params
from kpcal_core.diagnostics import (
    NotEnoughAnnotations,
    annotator_agreement,
    bootstrap_fit,
    fit_project,
    has_settled,
    largest_residuals,
    mean_click_annotations,
    per_bodypart_fits,
    robust_fit,
    running_fit,
)
from kpcal_core.errors import KpcalError
from kpcal_core.fitting import predicted_error_px
from kpcal_core.logs import log_event
from kpcal_core.project import load_working_annotations

state.ensure_app_navigation()

CHART_KEY = "kpcal_fit_chart"
LEAST_SQUARES, ROBUST = "Least squares (keypoint-MoSeq's choice)", "Robust (Theil–Sen)"

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

# --------------------------------------------------------------------- other annotators
with st.expander("Compare with other annotators"):
    uploads = st.file_uploader(
        "Other annotators' error_annotations.csv files of this project",
        type=["csv"],
        accept_multiple_files=True,
    )
    others = {}
    for upload in uploads or []:
        try:
            others[upload.name] = parse_annotations(upload.getvalue().decode("utf-8"), upload.name)
        except (KpcalError, UnicodeDecodeError) as error:
            st.error(f"{upload.name}: {error}")
    use_mean = False
    if others:
        everyone = {
            "this project": {k: v for k, v in records.items() if v.status != CLEARED},
            **others,
        }
        agreement = annotator_agreement(everyone)
        st.write(agreement["statement"])
        if agreement["n_shared_samples"]:
            distances = pd.DataFrame(
                {"distance_px": np.asarray(agreement["distances"], dtype=float)}
            )
            st.altair_chart(
                alt.Chart(distances)
                .mark_bar()
                .encode(
                    x=alt.X(
                        "distance_px:Q",
                        bin=alt.Bin(maxbins=30),
                        title="distance between clicks (px)",
                    ),
                    y=alt.Y("count():Q", title="samples"),
                )
                .properties(height=180),
                width="stretch",
            )
            use_mean = st.checkbox("Fit the mean of everyone's clicks", value=False)

fit_records = mean_click_annotations(everyone) if use_mean else records
try:
    result = fit_project(data=data, records=fit_records)
except NotEnoughAnnotations as error:
    st.info(f"No fit yet: {error}")
    st.page_link("pages/annotate.py", label="Annotate more", icon=":material/ads_click:")
    st.stop()
except KpcalError as error:
    state.show_error(error)
    st.stop()
points, fit = result.points, result.fit
if result.n_left_out:
    st.warning(
        f"{result.n_left_out} annotations are of recordings or bodyparts not loaded; left out of the fit."
    )


@st.cache_data(max_entries=8, show_spinner="Bootstrapping…")
def diagnostics(points: pd.DataFrame) -> dict:
    running = running_fit(points)
    return {
        "bootstrap": bootstrap_fit(points),
        "running": running,
        "settled": has_settled(running),
        "per_bodypart": per_bodypart_fits(points),
        "robust": robust_fit(points),
    }


diag = diagnostics(points)
boot, robust = diag["bootstrap"], diag["robust"]
settled, statement = diag["settled"]

st.markdown(
    f"**slope = {fit['slope']:.4f} · intercept = {fit['intercept']:.4f} · "
    f"R² = {fit['r2']:.3f} · n = {fit['n']}**"
)
st.caption(
    f"95% bootstrap intervals (1,000 resamples): slope {boot['slope_low']:.4f} to "
    f"{boot['slope_high']:.4f}, intercept {boot['intercept_low']:.4f} to {boot['intercept_high']:.4f}."
)
(st.success if settled else st.warning)(statement)
counts = result.counts
if counts.get("not_visible"):
    st.caption(
        f"{counts['not_visible']} samples marked not visible: kept in the CSV, left out of the fit."
    )

choice = st.radio(
    "Line to save",
    [LEAST_SQUARES, ROBUST],
    horizontal=True,
    help=f"Theil–Sen: slope {robust['slope']:.4f}, intercept {robust['intercept']:.4f}; "
    "it resists a few wild clicks. keypoint-MoSeq fits least squares.",
)
slope, intercept = (
    (fit["slope"], fit["intercept"])
    if choice == LEAST_SQUARES
    else (robust["slope"], robust["intercept"])
)

if state.FIT_THRESHOLD not in st.session_state:
    st.session_state[state.FIT_THRESHOLD] = float(config.get("conf_threshold", 0.5))


def threshold_from_chart() -> None:
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
share = cache.share_above(data, threshold)
st.caption(
    f"{share:.1f}% of all used keypoints have confidence above {threshold:.4f}; keypoint-MoSeq "
    "treats the rest as outliers to interpolate when it initialises a model."
)

# --------------------------------------------------------------------- chart
x_low, x_high = float(points["log10_confidence"].min()), float(points["log10_confidence"].max())
ends = np.array([x_low, x_high])
lines = [
    pd.DataFrame({"x": ends, "y": fit["slope"] * ends + fit["intercept"], "line": "least squares"}),
    pd.DataFrame(
        {"x": ends, "y": robust["slope"] * ends + robust["intercept"], "line": "Theil–Sen"}
    ),
]
show_parts = st.checkbox("Show each bodypart's own line")
per_part = diag["per_bodypart"]["table"]
part_lines = pd.concat(
    [
        pd.DataFrame({"x": ends, "y": r.slope * ends + r.intercept, "bodypart": r.bodypart})
        for r in per_part.itertuples()
        if np.isfinite(r.slope)
    ]
    or [pd.DataFrame(columns=["x", "y", "bodypart"])]
)
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
fitted = (
    alt.Chart(pd.concat(lines))
    .mark_line()
    .encode(
        x="x:Q",
        y="y:Q",
        strokeDash=alt.StrokeDash("line:N", title="fit", sort=["least squares", "Theil–Sen"]),
        color=alt.value("black"),
    )
)
rule = (
    alt.Chart(pd.DataFrame({"x": [np.log10(max(threshold, 1e-12))]}))
    .mark_rule(strokeDash=[6, 4], color="gray")
    .encode(x="x:Q")
)
layers = scatter + fitted + rule
if show_parts and len(part_lines):
    layers += (
        alt.Chart(part_lines).mark_line(opacity=0.6).encode(x="x:Q", y="y:Q", color="bodypart:N")
    )
st.altair_chart(
    layers.properties(height=420),
    width="stretch",
    key=CHART_KEY,
    on_select=threshold_from_chart,
    selection_mode="pick",
)

# --------------------------------------------------------------------- details
stability, parts, residuals, pixels = st.tabs(
    ["Has it settled?", "Per bodypart", "Largest residuals", "In pixels"]
)
with stability:
    running = diag["running"]
    band = (
        alt.Chart(running)
        .mark_area(opacity=0.25)
        .encode(
            x=alt.X("n:Q", title="annotations"),
            y=alt.Y("slope_low:Q", title="slope"),
            y2="slope_high:Q",
        )
    )
    st.altair_chart(
        band + alt.Chart(running).mark_line().encode(x="n:Q", y="slope:Q"), width="stretch"
    )
    st.caption(
        "The least-squares slope after each annotation, in the order they were made, with its 95% "
        "interval."
    )
with parts:
    differs = diag["per_bodypart"]["differs"]
    if differs:
        st.warning(
            "These bodyparts' own lines differ from the shared line beyond the intervals: "
            + ", ".join(differs)
        )
    else:
        st.write("No bodypart's own line differs from the shared line beyond the intervals.")
    st.dataframe(per_part, hide_index=True)
with residuals:
    worst = largest_residuals(points, fit, n=10)
    samples = data.session.sample_keys
    for row in worst.itertuples():
        key = (row.recording, int(row.frame), row.bodypart)
        cols = st.columns([4, 1])
        cols[0].write(
            f"`{row.recording}` frame {row.frame}, {row.bodypart}: error {row.error_px:.1f} px where "
            f"the line expects {row.line_error_px:.1f} px (residual {row.residual:+.3f})"
        )
        if key in samples and cols[1].button("Open", key=f"open-{key}"):
            st.session_state.setdefault(state.SAMPLE_INDEX, {})[project] = samples.index(key)
            st.query_params[state.QUERY_SAMPLE] = str(samples.index(key) + 1)
            st.switch_page("pages/annotate.py")
with pixels:
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
        "Error size = 10^(slope·log10(c) + intercept): keypoint-MoSeq's prior on keypoint noise "
        "has this standard deviation."
    )

if st.button("Save to config.yml", type="primary"):
    try:
        save_params(project, {"slope": slope, "intercept": intercept, "conf_threshold": threshold})
        log_event(
            "params", user=state.annotator(), project=project, slope=slope, intercept=intercept
        )
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
