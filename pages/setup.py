"""Setup page: choose the project, keypoints and videos; check recordings; draw samples."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from kpcal_app import cache, state
from kpcal_core.config import config_path, load_config, setup_project
from kpcal_core.errors import KpcalError
from kpcal_core.paths import resolve_user_path
from kpcal_core.project import (
    draw_samples,
    load_working_annotations,
    save_use_bodyparts,
    video_dir_of,
)
from kpcal_core.session import CalibrationSession, frame_cache_dir, load_session, save_session
from kpcal_core.videos import load_sampled_frames

state.ensure_app_navigation()

FORMATS = ["auto", "deeplabcut", "sleap", "lightning-pose", "nwb"]

st.title("Set up & sample")
project = state.project_dir()

# ----------------------------------------------------------------- project
with st.expander("Project folder", expanded=not Path(project).is_dir()):
    with st.form("project_form"):
        typed = st.text_input(
            "Project folder", value=project, help="A keypoint-MoSeq project folder."
        )
        recent = state.recent_projects()
        chosen = st.selectbox("Or a recent project", ["—"] + recent) if recent else "—"
        opened = st.form_submit_button("Open project")
    if opened:
        try:
            target = chosen if chosen != "—" else typed
            state.switch_project(str(resolve_user_path(target, what="project folder")))
            st.rerun()
        except KpcalError as error:
            state.show_error(error)
    if st.button("Open the demo project"):
        state.switch_project(state.demo_project())
        st.rerun()

try:
    session = load_session(project) or CalibrationSession()
except KpcalError as error:
    state.show_error(error)
    st.stop()

# ----------------------------------------------------------------- sources
st.subheader("Keypoints and videos")
with st.form("sources"):
    left, right = st.columns(2)
    keypoints_text = left.text_input(
        "Keypoint files (file, folder or glob)",
        value=session.keypoints_path or "",
        help="Relative paths are taken from the project folder.",
    )
    fmt = right.selectbox(
        "Format",
        FORMATS,
        index=FORMATS.index(session.keypoints_format or "auto"),
        help="'auto' detects the format from each file's content.",
    )
    video_text = left.text_input("Video folder", value=session.video_dir or "")
    extension = right.text_input(
        "Video extension (empty: mp4, avi, mov)", value=session.video_extension or ""
    )
    suffix = left.text_input("Recording-name suffix", value=session.recording_name_suffix or "")
    applied = st.form_submit_button("Load keypoints", type="primary")
if applied:
    try:
        keypoints_path = str(resolve_user_path(keypoints_text, project, what="keypoint path"))
        video_dir = (
            str(resolve_user_path(video_text, project, what="video folder")) if video_text else ""
        )
        from kpcal_core.keypoints import load_keypoints

        # Read them before saving anything: a wrong path must not replace a working one.
        _, _, bodyparts = load_keypoints(keypoints_path, None if fmt == "auto" else fmt)
        session.keypoints_path = keypoints_text.strip()
        session.keypoints_format = None if fmt == "auto" else fmt
        session.video_dir = video_text.strip()
        session.video_extension = extension.strip() or None
        session.recording_name_suffix = suffix
        Path(project).mkdir(parents=True, exist_ok=True)
        if not config_path(project).exists():
            setup_project(project, bodyparts=bodyparts, video_dir=video_dir)
            st.toast(f"Created {config_path(project)} from the keypoints' bodyparts")
        save_session(project, session)
        st.rerun()
    except KpcalError as error:
        state.show_error(error)

if not config_path(project).exists():
    st.info("This folder has no config.yml yet: load keypoint files to create it.")
    st.stop()

try:
    config = load_config(project)
    data = cache.project_data(project)
except KpcalError as error:
    state.show_error(error)
    st.stop()

# ----------------------------------------------------------------- recordings
st.subheader("Recordings")
video_dir = video_dir_of(project, session, config)
try:
    table = cache.recordings(data, str(video_dir)) if video_dir is not None else None
except KpcalError as error:
    table = None
    state.show_error(error)
if table is not None:
    problems = table[table["status"] != "ok"]

    def _highlight(row: pd.Series) -> list[str]:
        colour = {"ok": "", "length differs": "background-color: #fff3cd"}.get(
            row["status"], "background-color: #f8d7da"
        )
        return [colour] * len(row)

    st.dataframe(
        table.style.apply(_highlight, axis=1),
        hide_index=True,
        width="stretch",
        column_order=[
            "recording",
            "status",
            "reason",
            "video_frames",
            "keypoint_frames",
            "max_frame_needed",
            "video",
        ],
    )
    if len(problems):
        st.warning(
            f"{len(problems)} of {len(table)} recordings need attention: see the reason column."
        )
else:
    st.warning("Choose the video folder above.")

# ----------------------------------------------------------------- sampling
st.subheader("Sampling")
use = st.multiselect(
    "Bodyparts to calibrate (use_bodyparts)", data.bodyparts, default=data.use_bodyparts
)
if use and use != data.use_bodyparts:
    try:
        data.config = save_use_bodyparts(project, use)
        st.toast("use_bodyparts saved to config.yml")
    except KpcalError as error:
        state.show_error(error)
cols = st.columns(4)
num_bins = cols[0].number_input("num_bins", 1, 100, int(session.num_bins))
num_samples = cols[1].number_input("num_samples", 1, 10000, int(session.num_samples))
pseudocount = cols[2].number_input(
    "conf_pseudocount", 0.0, 1.0, float(session.conf_pseudocount), format="%.4g", step=1e-3
)
seed_text = cols[3].text_input(
    "seed (empty: random)", "" if session.seed is None else str(session.seed)
)

# Drawn again after "Sample frames", so its counts are those of the new samples.
chart_slot = st.empty()


def confidence_chart(sample_keys) -> None:
    """The histogram of confidences with the bin edges and the samples drawn from each bin."""
    if not use:
        return
    box = chart_slot.container()
    try:
        counts, hist_edges, sample_edges = cache.histogram(data, use, pseudocount, int(num_bins))
        hist = pd.DataFrame({"start": hist_edges[:-1], "end": hist_edges[1:], "keypoints": counts})
        sampled = [k for k in sample_keys if k[0] in data.confidences and k[2] in data.bodyparts]
        sample_logs = (
            np.log10(
                [
                    float(data.confidences[r][f, data.bodyparts.index(b)]) + pseudocount
                    for r, f, b in sampled
                ]
            )
            if sampled
            else np.array([])
        )
        per_bin = (
            np.bincount(
                np.clip(
                    np.searchsorted(sample_edges, sample_logs, side="right") - 1,
                    0,
                    len(sample_edges) - 2,
                ),
                minlength=len(sample_edges) - 1,
            )
            if len(sample_logs)
            else np.zeros(len(sample_edges) - 1, int)
        )
        bins = pd.DataFrame(
            {
                "edge": sample_edges[:-1],
                "mid": (sample_edges[:-1] + sample_edges[1:]) / 2,
                "samples": per_bin,
            }
        )
        bars = (
            alt.Chart(hist)
            .mark_bar(color="#4c78a8")
            .encode(
                x=alt.X("start:Q", title="log10(confidence + pseudocount)"),
                x2="end:Q",
                y=alt.Y(
                    "keypoints:Q", title="keypoints (symlog scale)", scale=alt.Scale(type="symlog")
                ),
                tooltip=["keypoints:Q"],
            )
        )
        rules = (
            alt.Chart(pd.DataFrame({"edge": sample_edges}))
            .mark_rule(color="#e45756", strokeDash=[4, 3])
            .encode(x="edge:Q")
        )
        labels = (
            alt.Chart(bins)
            .mark_text(dy=-6, color="#e45756")
            .encode(
                x="mid:Q",
                y=alt.value(12),
                text=alt.Text("samples:Q"),
                tooltip=[alt.Tooltip("samples:Q", title="samples in this bin")],
            )
        )
        box.altair_chart(bars + rules + labels, width="stretch")
        box.caption(
            "Red dashed lines: sampling bin edges; red numbers: samples drawn from each bin."
        )
    except KpcalError as error:
        box.error(str(error))


confidence_chart(session.sample_keys)

if st.button("Sample frames", type="primary", disabled=not use):
    try:
        seed = int(seed_text) if seed_text.strip() else int(np.random.default_rng().integers(2**31))
    except ValueError:
        st.error(f"seed must be a whole number, got {seed_text!r}")
        st.stop()
    try:
        annotated = list(load_working_annotations(project))
        samples = draw_samples(
            data,
            annotated,
            use_bodyparts=use,
            num_bins=int(num_bins),
            num_samples=int(num_samples),
            conf_pseudocount=float(pseudocount),
            seed=seed,
        )
        missing = sorted({r for r, _, _ in samples if not data.video_paths.get(r)})
        if missing:
            raise KpcalError(f"recording {missing[0]!r} has no video: fix the video folder first")
        session.num_bins, session.num_samples = int(num_bins), int(num_samples)
        session.conf_pseudocount, session.seed = float(pseudocount), seed
        session.sample_keys = samples
        save_session(project, session)
        confidence_chart(samples)
        st.session_state.setdefault(state.SAMPLE_INDEX, {})[project] = 0
        st.query_params.pop(state.QUERY_SAMPLE, None)
        st.success(f"Drew {len(samples)} samples ({len(annotated)} already annotated kept).")
        st.page_link(
            "pages/annotate.py",
            label="Start annotating (frames keep loading)",
            icon=":material/ads_click:",
        )
        bar = st.progress(0.0, text="Decoding frames…")
        load_sampled_frames(
            samples,
            "",
            data.video_frame_indexes,
            cache_dir=frame_cache_dir(project),
            video_paths={r: data.video_paths[r] for r in {s[0] for s in samples}},
            progress=lambda done, total: bar.progress(
                done / max(total, 1), text=f"Decoded {done} of {total} frames"
            ),
        )
        bar.progress(1.0, text="All frames ready.")
    except KpcalError as error:
        state.show_error(error)
elif session.sample_keys:
    st.caption(f"{len(session.sample_keys)} samples drawn (seed {session.seed}).")
    st.page_link("pages/annotate.py", label="Annotate", icon=":material/ads_click:")
