"""Setup page: the project, its keypoint files and videos, the recordings, the samples."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from kpcal_app import cache, panels, state
from kpcal_app.text import code, literal
from kpcal_core import workflows
from kpcal_core.charts import histogram_chart
from kpcal_core.errors import KpcalError
from kpcal_core.formats import DUPLICATE_CHOICES, FORMATS
from kpcal_core.session import CalibrationSession, load_session

state.ensure_app_navigation()


st.title("Set up & sample")
project = state.project_dir()
state.demo_banner(project)


panels.project_picker(project)

try:
    session = load_session(project) or CalibrationSession()
except KpcalError as error:
    state.show_error(error)
    st.stop()

# ----------------------------------------------------------------- sources
st.subheader("Keypoints and videos")
formats = ["auto", *FORMATS]
with st.form("sources"):
    left, right = st.columns(2)
    keypoints_text = left.text_input(
        "Keypoint files (file, folder or glob)",
        value=session.keypoints_path or "",
        help="Relative paths are taken from the project folder.",
    )
    fmt = right.selectbox(
        "Format",
        formats,
        index=formats.index(session.keypoints_format or "auto"),
        help="'auto' detects the format from each file's content.",
    )
    video_text = left.text_input("Video folder", value=session.video_dir or "")
    extension = right.text_input(
        "Video extension (empty: mp4, avi, mov)", value=session.video_extension or ""
    )
    suffix = left.text_input("Recording-name suffix", value=session.recording_name_suffix or "")
    duplicates = right.selectbox(
        "Several outputs of one video (e.g. DeepLabCut's .h5 and filtered .csv)",
        DUPLICATE_CHOICES,
        index=DUPLICATE_CHOICES.index(session.keypoints_duplicates),
        format_func=panels.DUPLICATE_LABELS.get,
    )
    applied = st.form_submit_button("Load keypoints", type="primary")
sources = workflows.Sources(
    keypoints_text, None if fmt == "auto" else fmt, video_text, extension, suffix, duplicates
)
create = st.session_state.get(state.PENDING_FOLDER) == project and st.button(
    f"Create the folder {code(project)} and load the keypoints"
)
if applied or create:
    try:
        chosen = workflows.choose_sources(project, sources, create=create)
        st.session_state.pop(state.PENDING_FOLDER, None)
        if chosen.created_config:
            st.toast(f"Created config.yml from the keypoints' {len(chosen.bodyparts)} bodyparts")
        st.session_state[state.SOURCE_NOTES] = chosen.warnings + (
            ["The bodypart names do not say which are front and back: set them below."]
            if chosen.ask_anatomy
            else []
        )
        st.rerun()
    except workflows.ProjectFolderMissing as error:
        st.session_state[state.PENDING_FOLDER] = project
        st.warning(f"{literal(error)}. Nothing was created yet.")
    except KpcalError as error:
        state.show_error(error)

if not (Path(project) / "config.yml").exists():
    st.info("This folder has no config.yml yet: load keypoint files to create it.")
    st.stop()

try:
    data = cache.project_data(project)
except KpcalError as error:
    state.show_error(error, project)
    st.stop()

for note in st.session_state.get(state.SOURCE_NOTES, []):
    st.warning(literal(note))
panels.anatomy_form(project, data)

# ----------------------------------------------------------------- recordings
st.subheader("Recordings")
table = cache.recordings(data)
problems = table[table["status"] != "ok"]
state.show_table(
    table,
    width="stretch",
    column_order=[
        "status",
        "recording",
        "video_frames",
        "keypoint_frames",
        "video",
        "rule",
        "reason",
    ],
    column_config={"reason": st.column_config.TextColumn("reason", width="large")},
)
if len(problems):
    st.warning(f"{len(problems)} of {len(table)} recordings need attention:")
    for row in problems.itertuples():
        st.markdown(f"- {code(row.recording)} ({literal(row.status)}): {literal(row.reason)}")
panels.video_form(project, list(table["recording"]))

# ----------------------------------------------------------------- sampling
st.subheader("Sampling")
use = st.multiselect(
    "Bodyparts to calibrate (use_bodyparts)", data.bodyparts, default=data.use_bodyparts
)
cols = st.columns(4)
num_bins = cols[0].number_input("num_bins", 1, 100, int(session.num_bins))
num_samples = cols[1].number_input("num_samples", 1, 10000, int(session.num_samples))
pseudocount = cols[2].number_input(
    "conf_pseudocount", 0.0, 1.0, float(session.conf_pseudocount), format="%.4g", step=1e-3
)
seed_text = cols[3].text_input(
    "seed (empty: random)", "" if session.seed is None else str(session.seed)
)
order = st.radio(
    "Order",
    workflows.SAMPLE_ORDERS,
    index=workflows.SAMPLE_ORDERS.index(session.sample_order),
    format_func=panels.ORDER_LABELS.get,
    horizontal=True,
    help="Planned: each next keypoint is the one that narrows the line most where your "
    "keypoints are (fewer clicks to a trustworthy line). As keypoint-MoSeq: equal numbers "
    "from each confidence bin, in random order.",
)
chart_slot = st.empty()  # drawn again after "Sample frames", with the new samples' counts


def confidence_chart() -> None:
    if use:
        box = chart_slot.container()
        histogram = cache.histogram(data, use, pseudocount, int(num_bins))
        box.altair_chart(histogram_chart(histogram), width="stretch")
        caption = "Red dashed lines: sampling bins; red numbers: samples drawn from each bin."
        if histogram["no_position"]:
            caption += (
                f" {histogram['no_position']:,} keypoints have a confidence but no position: "
                "not shown, never sampled."
            )
        if histogram.get("human_labelled"):
            caption += (
                f" {histogram['human_labelled']:,} keypoints were labelled by a person (SLEAP "
                "user instances), not predicted: never sampled."
            )
        box.caption(caption)


confidence_chart()
if st.button("Sample frames", type="primary", disabled=not use):
    seed = seed_text.strip()
    if seed and not seed.isdigit():
        st.error(f"seed must be a whole number >= 0 or empty, got {literal(repr(seed))}")
        st.stop()
    try:
        draw = workflows.draw_samples(
            data,
            use_bodyparts=use,
            num_bins=int(num_bins),
            num_samples=int(num_samples),
            conf_pseudocount=float(pseudocount),
            seed=int(seed) if seed else None,
            order=order,
            report=table,
        )
    except KpcalError as error:
        state.show_error(error)
        st.stop()
    state.start_at_first_sample(project)
    st.success(literal(draw.message))
    # The chart's new counts wait until the frames are in: drawing it busies the browser.
    panels.frame_fill_progress(data, cache.frame_fill(data, start=True), then=confidence_chart)
elif session.sample_keys:
    n = len(session.sample_keys)
    st.caption(f"{n} sample{'' if n == 1 else 's'} drawn (seed {session.seed}).")
    fill = cache.frame_fill(data)
    if fill is not None and not fill.progress().finished:
        panels.frame_fill_progress(data, fill)
    else:
        st.page_link("pages/annotate.py", label="Annotate", icon=":material/ads_click:")
