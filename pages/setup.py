"""Setup page: the project, its keypoint files and videos, the recordings, the samples."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from kpcal_app import address, cache, error_display, panels, projects, startup, state, widgets
from kpcal_app.text import code, literal
from kpcal_core import sentences, workflows
from kpcal_core.errors import KpcalError
from kpcal_core.workflows import (
    DUPLICATE_CHOICES,
    FORMATS,
    CalibrationSession,
    histogram_chart,
    load_session,
)

startup.ensure_app_navigation()
panels.follow_start_annotating()


st.title("Set up & sample")
project = projects.project_dir()
widgets.demo_banner(project)


panels.project_picker(project)

try:
    session = load_session(project) or CalibrationSession()
except KpcalError as error:
    error_display.show_error(error)
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
    sentences.create_folder_and_load(code(project))
)
if applied or create:
    try:
        chosen = workflows.choose_sources(project, sources, create=create)
        st.session_state.pop(state.PENDING_FOLDER, None)
        if chosen.created_config:
            st.toast(sentences.config_created(len(chosen.bodyparts), chosen.fps))
        st.session_state[state.SOURCE_NOTES] = chosen.warnings
        if chosen.anatomy_note and chosen.anatomy:
            st.session_state[state.ANATOMY_QUESTION] = (
                project,
                chosen.anatomy_note,
                *chosen.anatomy,
            )
        else:
            st.session_state.pop(state.ANATOMY_QUESTION, None)
        st.rerun()
    except workflows.ProjectFolderMissing as error:
        st.session_state[state.PENDING_FOLDER] = project
        st.warning(sentences.nothing_created_yet(literal(error)))
    except KpcalError as error:
        error_display.show_error(error)

if not (Path(project) / "config.yml").exists():
    st.info("This folder has no config.yml yet: load keypoint files to create it.")
    st.stop()

try:
    data = cache.project_data(project)
except KpcalError as error:
    error_display.show_error(error, project)
    st.stop()
cache.start_video_indexing(data)  # ready before the first "Sample frames"
workflows.leave_samples(data, state.annotator(), state.lease_session())  # left annotating

for note in st.session_state.get(state.SOURCE_NOTES, []):
    st.warning(literal(note))
question = st.session_state.get(state.ANATOMY_QUESTION)
written = (data.config.get("anterior_bodyparts"), data.config.get("posterior_bodyparts"))
asked = question is not None and question[0] == project and tuple(question[2:]) == written
if asked:  # until front and back are chosen (here, or in config.yml by hand)
    st.warning(
        literal(question[1]) + " Choose them under **Front and back bodyparts** below "
        "(keypoint-MoSeq uses them to find the animal's heading)."
    )
panels.anatomy_form(project, data, expanded=asked)

# ----------------------------------------------------------------- recordings
st.subheader("Recordings")
table = cache.recordings(data)
problems = table[table["status"] != "ok"]
panels.recordings_table(table)
if len(problems):
    st.warning(sentences.recordings_needing_attention(len(problems), len(table)))
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
second_look = st.number_input(
    "Seen twice (% of samples)",
    0,
    100,
    int(round(100 * session.second_look_share)),
    help="With several annotators on this project, this share of the samples (spread over "
    "the confidences) is offered to a second person, who does not see the first click: the "
    "fit page then shows how well the annotators agree. Alone, nothing changes.",
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


def request_sampling() -> None:
    """The "Sample frames" button's callback.

    The samples are drawn before the page is drawn again, so the histogram above the
    button shows their counts at once.
    """
    st.session_state[state.SAMPLE_REQUESTED] = True


draw, problem = None, None
if st.session_state.pop(state.SAMPLE_REQUESTED, False) and use:
    seed = seed_text.strip()
    if seed and not seed.isdigit():
        problem = sentences.bad_seed(literal(repr(seed)))
    else:
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
                second_look_share=int(second_look) / 100,
            )
            address.start_at_first_sample(project)
        except KpcalError as error:
            problem = error

if use:
    histogram = cache.histogram(data, use, pseudocount, int(num_bins))
    st.altair_chart(histogram_chart(histogram.bars, histogram.bins), width="stretch")
    caption = "Bars: keypoints with a position, by confidence. Red dashed lines: sampling bins; "
    caption += "red numbers: samples drawn from each bin."
    caption += sentences.never_sampled(histogram.no_position, histogram.human_labelled)
    st.caption(caption)
st.button("Sample frames", type="primary", disabled=not use, on_click=request_sampling)
if isinstance(problem, KpcalError):
    error_display.show_error(problem)
elif problem is not None:
    st.error(problem)
elif draw is not None:
    st.success(literal(sentences.sample_draw_message(draw)))
    panels.frame_fill_progress(data, cache.frame_fill(data, start=True))
elif session.sample_keys:
    st.caption(sentences.samples_drawn(len(session.sample_keys), session.seed))
    fill = cache.frame_fill(data)
    if fill is not None and not fill.progress().finished:
        panels.frame_fill_progress(data, fill)
    else:
        panels.start_annotating_button()
