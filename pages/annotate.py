"""Annotate page: click the true position of each sampled keypoint.

The whole annotator is one ``st.fragment``: a click or a button reruns only
it, and frames come from the in-memory or on-disk frame cache, never from the
video after the first decode. Every change is saved at once (merged with what
other sessions saved, see :func:`kpcal_core.project.save_work`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import streamlit as st

from kpcal_app import cache, state
from kpcal_app.click import click_image
from kpcal_core.annotations import CLEARED, NOT_VISIBLE, Annotation, now_utc
from kpcal_core.errors import KpcalError
from kpcal_core.project import (
    backup_file,
    broken_annotation_files,
    count_annotations,
    load_working_annotations,
    save_work,
)
from kpcal_core.views import crop_for_sample, render_view, skeleton_edges

state.ensure_app_navigation()

ZOOMS = [1.0, 1.5, 2.0, 3.0, 4.0, 6.0]

st.title("Annotate")
project = state.project_dir()
try:
    data = cache.project_data(project)
except KpcalError as error:
    state.show_error(error)
    st.page_link("pages/setup.py", label="Go to setup", icon=":material/tune:")
    st.stop()
samples = data.session.sample_keys
if not samples:
    st.info("No samples yet: draw them on the setup page.")
    st.page_link("pages/setup.py", label="Go to setup", icon=":material/tune:")
    st.stop()

all_records = st.session_state.setdefault(state.RECORDS, {})
if project not in all_records:
    try:
        all_records[project] = load_working_annotations(project)
    except KpcalError as error:
        state.show_error(error)
        st.write(
            "Nothing was changed. Fix the file by hand, or start over: the broken file is kept "
            "beside it as a timestamped backup."
        )
        if st.button("Start over (keep the broken file as a backup)"):
            for path in broken_annotation_files(project):
                st.toast(f"Kept {path.name} as {backup_file(path).name}")
            st.rerun()
        st.stop()
records: dict = all_records[project]


def is_done(key) -> bool:
    return key in records and records[key].status != CLEARED


positions = st.session_state.setdefault(state.SAMPLE_INDEX, {})
if project not in positions:
    from_url = st.query_params.get(state.QUERY_SAMPLE)
    if from_url and from_url.isdigit() and 1 <= int(from_url) <= len(samples):
        positions[project] = int(from_url) - 1
    else:
        positions[project] = next((i for i, k in enumerate(samples) if not is_done(k)), 0)
positions[project] = min(positions[project], len(samples) - 1)
st.session_state.setdefault(state.VIEW_NONCE, 0)
st.session_state.setdefault(state.CLICK_VIEWS, {})
st.session_state.setdefault(state.SAVE_MESSAGE, {})
st.session_state.setdefault(state.ZOOM, 1.0)
edges = skeleton_edges(data.bodyparts, data.config.get("skeleton") or [])


def go_to(index: int) -> None:
    positions[project] = max(0, min(index, len(samples) - 1))
    st.session_state[state.VIEW_NONCE] += 1
    st.query_params[state.QUERY_SAMPLE] = str(positions[project] + 1)


def next_unannotated() -> None:
    current = positions[project]
    order = list(range(current + 1, len(samples))) + list(range(0, current + 1))
    target = next((i for i in order if not is_done(samples[i])), None)
    if target is None:
        st.session_state[state.SAVE_MESSAGE][project] = "Every sample is annotated."
    else:
        go_to(target)


def record(key, annotation: Annotation) -> None:
    """Keep an edit and save at once; show what other sessions saved meanwhile."""
    records[key] = annotation
    try:
        result = save_work(data, records)
        records.clear()
        records.update(result.records)
        st.session_state[state.SAVE_MESSAGE][project] = result.message
    except KpcalError as error:
        st.session_state[state.SAVE_MESSAGE][project] = f"Not saved: {error}"
    except TimeoutError:
        st.session_state[state.SAVE_MESSAGE][project] = (
            "Not saved yet: another session holds the project's lock; your edit is kept here "
            "and saved with your next one."
        )


def clear() -> None:
    key = samples[positions[project]]
    if is_done(key):
        record(key, Annotation(math.nan, math.nan, state.annotator(), now_utc(), CLEARED))
    st.session_state[state.VIEW_NONCE] += 1


def not_visible() -> None:
    key = samples[positions[project]]
    record(key, Annotation(math.nan, math.nan, state.annotator(), now_utc(), NOT_VISIBLE))
    st.session_state[state.VIEW_NONCE] += 1


def on_click(component_key: str) -> None:
    """Apply a click to the sample it was made on, once."""
    value = st.session_state.get(component_key)
    entry = st.session_state[state.CLICK_VIEWS].get(component_key)
    if not value or entry is None or "x" not in value:
        return
    click_project, sample_key, view = entry
    if click_project != project:
        return
    x, y = view.to_frame(
        float(value["x"]), float(value["y"]), float(value.get("width") or 0) or None
    )
    record(sample_key, Annotation(float(x), float(y), state.annotator(), now_utc()))


@st.fragment
def annotator() -> None:
    index = positions[project]
    key = samples[index]
    recording, frame_number, bodypart = key
    known = recording in data.coordinates and bodypart in data.bodyparts
    video = data.video_paths.get(recording)

    nav = st.columns([1.1, 0.9, 1.7, 1.2, 1.3, 1.9], vertical_alignment="bottom")
    nav[0].button(
        "Previous",
        on_click=go_to,
        args=(index - 1,),
        shortcut="Left",
        disabled=index == 0,
        width="stretch",
    )
    nav[1].button(
        "Next",
        on_click=go_to,
        args=(index + 1,),
        shortcut="Right",
        disabled=index >= len(samples) - 1,
        width="stretch",
    )
    nav[2].button("Next unannotated", on_click=next_unannotated, shortcut="N", width="stretch")
    nav[3].button(
        "Clear", on_click=clear, shortcut="Delete", disabled=not is_done(key), width="stretch"
    )
    nav[4].button(
        "Not visible",
        on_click=not_visible,
        shortcut="V",
        width="stretch",
        help="The bodypart cannot be seen in this frame (kept, left out of the fit).",
    )
    zoom = nav[5].select_slider("Zoom", ZOOMS, key=state.ZOOM, format_func=lambda z: f"{z:g}×")

    if not known:
        st.error(f"Sample {key} is not in the loaded keypoints (were they changed?): press Next.")
        return
    if video is None:
        st.error(f"Recording {recording!r} has no video: fix the video folder on the setup page.")
        return
    k = data.bodyparts.index(bodypart)
    done, hidden = count_annotations(records)
    confidence = float(data.confidences[recording][frame_number, k])
    st.markdown(
        f"**Target bodypart = {bodypart} | confidence = {confidence:.4f} | "
        f"Completed annotations = {done}**"
    )
    video_frame = int(data.video_frame_indexes[recording][frame_number])
    st.caption(
        f"Sample {index + 1} of {len(samples)} · recording `{recording}` · keypoint frame "
        f"{frame_number} (video frame {video_frame}) · "
        f"{sum(is_done(s) for s in samples)} of these samples done · {hidden} marked not visible"
    )
    try:
        image = cache.frame(project, video, video_frame)
    except KpcalError as error:
        state.show_error(error)
        return
    keypoints = np.asarray(data.coordinates[recording][frame_number], dtype=float)
    view = crop_for_sample(image.shape, keypoints[k], keypoints, zoom=zoom)
    annotation = records.get(key)
    rendered = render_view(
        image,
        view,
        target_xy=keypoints[k],
        keypoints_xy=keypoints,
        edges=edges,
        annotation_xy=annotation.xy if annotation and annotation.has_position else None,
    )
    component_key = f"click|{index}|{zoom:g}|{st.session_state[state.VIEW_NONCE]}"
    st.session_state[state.CLICK_VIEWS] = {component_key: (project, key, view)}
    click_image(rendered, key=component_key, on_click=functools.partial(on_click, component_key))
    if annotation is not None and annotation.status == NOT_VISIBLE:
        st.info("Marked not visible in this frame. Click the image to place it anyway.")
    message = st.session_state[state.SAVE_MESSAGE].get(project)
    if message:
        st.caption(message)
    st.caption(
        "Click the true position of the target bodypart (yellow circle: the network's guess; "
        "red X: your annotation). Keys: ← previous, → next, N next unannotated, Delete clear, "
        "V not visible."
    )


annotator()
