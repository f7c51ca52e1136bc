"""Annotate page: click the true position of each sampled keypoint.

The annotator is one ``st.fragment``: a click or a button reruns only it.
Frames come from the project's frame cache; every change is saved at once by
:func:`kpcal_core.workflows.record_annotation` (merged with other sessions).
The counts shown are what is on disk; an edit whose save was refused (a full
disk) is held on this page, drawn on the image and saved with the next save
that works.

Several annotators (:mod:`kpcal_core.team`): the sample shown is leased to
this annotator while it is shown; Next and Next unannotated take the next sample
in the planned order nobody else has done or is doing (or a second look offered
to them); a second-look sample never shows another's click before this
annotator's own; a click on another's sample outside the second look reviews it.
The team's counts are shown beside the image.

Layout: the buttons, then the image with, beside it, the counts, the zoom, what
the last action did (a refused click, "Marked not visible", the save), the stop
status and the keys, so all of it is in view with the image (1280x800 and up; a
narrow window puts them below).
"""

from __future__ import annotations

import math

import streamlit as st

from kpcal_app import address, cache, error_display, panels, projects, startup, state, widgets
from kpcal_app.click import (
    ZOOM_IN_KEY,
    ZOOM_KEYS,
    ZOOM_OUT_KEY,
    SampleLines,
    click_image,
    give_keys_back_to_the_page,
)
from kpcal_app.text import code, literal
from kpcal_core import sentences, workflows
from kpcal_core.errors import KpcalError
from kpcal_core.workflows import (
    CLEARED,
    FIT,
    FRAME,
    NOT_VISIBLE,
    POSITION,
    Annotation,
    annotation_counts,
    backup_file,
    broken_annotation_files,
    log_event,
    now_utc,
    step_zoom,
    zoom_label,
)

startup.ensure_app_navigation()

st.title("Annotate")
project = projects.project_dir()
try:
    data = cache.project_data(project)
except KpcalError as error:
    error_display.show_error(error, project)
    st.page_link(
        "pages/setup.py",
        label="Go to setup",
        icon=":material/tune:",
        query_params=address.address(project),
    )
    st.stop()
widgets.demo_banner(project)
samples = data.session.sample_keys
if not samples:
    st.info("No samples yet: draw them on the setup page.")
    st.page_link(
        "pages/setup.py",
        label="Go to setup",
        icon=":material/tune:",
        query_params=address.address(project),
    )
    st.stop()
try:
    records = state.records(project)
except KpcalError as error:
    error_display.show_error(error)
    st.write(
        "Nothing was changed. Fix the file by hand, or start over: the broken file is kept "
        "beside it as a timestamped backup."
    )
    if st.button("Start over (keep the broken file as a backup)"):
        for path in broken_annotation_files(project):
            st.toast(sentences.kept_as_backup(literal(path.name), literal(backup_file(path).name)))
        st.rerun()
    st.stop()


held = state.held(project)  # edits a refused save kept here (a full disk), not counted
me = state.annotator()
session = state.lease_session()  # this page session, for its lease


def is_done(key) -> bool:
    """Done by anyone (what the team's counts say)."""
    return key in records and records[key].status != CLEARED


def mine(key) -> Annotation | None:
    """The annotator's own edit of ``key``: held here, else saved."""
    if key in held:
        return held[key]
    return records[key].row_of(me) if key in records else None


#: Done by anyone or held by someone else (where a session starts: the first sample nobody
#: has done; second looks come with Next unannotated).
not_for_me = workflows.not_for(data, records, me, session, second_looks=False)


index = address.sample_index(project, samples, not_for_me)
state.init_annotate_state()


def go_to(target: int) -> None:
    """Show sample ``target`` (0-based, kept within the samples) from the next run on."""
    address.set_sample_index(project, max(0, min(target, len(samples) - 1)))


def next_sample(unannotated: bool) -> None:
    """Next (or next unannotated) in the planned order that nobody else has done or is doing."""
    current = address.sample_index(project, samples, not_for_me)
    try:
        target = workflows.next_sample(data, me, current, unannotated=unannotated, session=session)
    except (KpcalError, TimeoutError):  # the lock held too long...: choose without a lease
        order = range(current + 1, len(samples))
        if unannotated:
            order = [*order, *range(0, current + 1)]
        target = next((i for i in order if not unannotated or not not_for_me(samples[i])), None)
    if target is not None:
        go_to(target)
    elif unannotated:
        state.set_save_message(
            project, "Every sample is done or being done by someone: nothing left to annotate."
        )
    else:
        state.set_save_message(
            project, "No later sample is free (the others are done or being done by someone)."
        )


def review_next() -> None:
    """Go to the next sample whose (another person's) click is flagged for review."""
    current = address.sample_index(project, samples, not_for_me)
    flagged = workflows.review_samples(data, records, me)
    later = [i for i in flagged if i > current] or flagged
    if later:
        go_to(later[0])
    else:
        state.set_save_message(project, "No flagged click of another annotator to review.")


def record(key, status: str = POSITION, xy=(math.nan, math.nan)) -> None:
    """Keep an edit and save at once; show what other sessions saved meanwhile."""
    annotation = Annotation(float(xy[0]), float(xy[1]), me, now_utc(), status)
    try:
        result = workflows.record_annotation(data, records, key, annotation, held=held)
        state.set_save_message(project, result.message)
    except KpcalError as error:
        state.set_save_message(project, sentences.not_saved(error))


def save_held() -> None:
    """Try again to save the edits held on this page."""
    try:
        result = workflows.save_held_edits(data, records, held)
        state.set_save_message(project, result.message)
    except KpcalError as error:
        state.set_save_message(project, sentences.not_saved(error))


def on_click() -> None:
    """Apply a new click to the sample whose image it was made on, if it may be.

    The rules are :mod:`kpcal_core.clicks`: a value of another shape than the click
    view's is refused quietly (a log line); a click on a sample no longer shown is
    saved there only while that sample has no annotation.
    """
    value = st.session_state.get(state.CLICK_VIEW)
    size = workflows.parse_view_size(value)
    if size is not None:  # not a click: the width the browser shows the image at
        state.set_view_size(size)
        return
    click = workflows.parse_click(value)
    if click is None:
        if value is not None:
            log_event(
                "warning",
                user=me,
                project=project,
                message="click value refused: not a click",
            )
        return
    entry = state.click_view(click.view)
    if entry is None or entry[0] != project:
        state.set_save_message(project, workflows.NO_LONGER_SHOWN)
        return
    _, key, view = entry
    shown = samples[address.sample_index(project, samples, not_for_me)]
    # An edit a refused save holds here is an annotation too; another's click is not mine.
    rule = workflows.late_click(key, shown, samples, mine(key))
    if not rule.save:
        state.set_save_message(project, rule.message)
        return
    xy = view.to_frame(click.x, click.y, click.width)
    if not view.contains(*xy):
        state.set_save_message(project, "That click was outside the video frame: not saved.")
        return
    record(key, xy=xy)
    said = state.save_message(project) or ""
    if rule.message and not said.startswith(sentences.NOT_SAVED):
        state.set_save_message(project, sentences.late_click_saved(rule.message, said))


def zoom_control(view, zoom_in: str, zoom_out: str) -> None:
    """The zoom shown and its buttons (keys: + in, - out, 0 fit)."""
    zoom = address.zoom()
    st.caption(sentences.zoom_caption(zoom_label(zoom, view)))
    with st.container(key=ZOOM_KEYS):
        cols = st.columns([0.8, 0.8, 1.1, 1.3], gap="small")
        with cols[0].container(key=ZOOM_OUT_KEY):
            st.button(
                "−",
                on_click=address.set_zoom,
                args=(zoom_out,),
                disabled=zoom == FRAME,
                width="stretch",
                help="Zoom out (key -), down to the whole frame.",
            )
        with cols[1].container(key=ZOOM_IN_KEY):
            st.button(
                "+",
                on_click=address.set_zoom,
                args=(zoom_in,),
                disabled=zoom_in == zoom,
                width="stretch",
                help="Zoom in (key +): 1× is one video pixel per screen pixel.",
            )
        cols[2].button(
            "Fit",
            on_click=address.set_zoom,
            args=(FIT,),
            shortcut="0",
            disabled=zoom == FIT,
            width="stretch",
            help="The animal fills the view.",
        )
        cols[3].button(
            "Frame",
            on_click=address.set_zoom,
            args=(FRAME,),
            disabled=zoom == FRAME,
            width="stretch",
            help="The whole video frame.",
        )


def last_action(key) -> None:
    """What the last action did: the save, a refused click, a sample marked not visible."""
    annotation = mine(key)
    if annotation is not None and annotation.status == NOT_VISIBLE:
        st.info("Marked not visible in this frame. Click the image to place it anyway.")
    message = state.save_message(project)
    if message:
        refused = message.startswith((sentences.NOT_SAVED, "That click"))
        (st.warning if refused else st.caption)(literal(message))
    if held:
        st.warning(sentences.held_on_this_page(sentences.held_status(held)))
        st.button("Save held edits", on_click=save_held)


def team_lines(key, other: str | None) -> None:
    """Who else works here: each annotator's count, the team's progress, this sample's state."""
    if other is not None and mine(key) is None:
        st.warning(sentences.someone_else_is_working(literal(other)))
    own = mine(key)
    ann = records.get(key)
    if own is None and ann is not None and ann.status != CLEARED and ann.annotators():
        if key in workflows.second_look(data):
            st.info("Second look: click where you see it (the first click is not shown).")
        else:
            st.info(sentences.annotated_by(literal(", ".join(ann.annotators()))))
    progress = workflows.team_progress(data, records)
    if (progress.counts.keys() | progress.working.keys()) - {me, ""}:  # someone else works here
        with st.container(key="team-progress"):
            for line in sentences.team_progress_lines(progress):
                st.caption(literal(line))
        st.button(
            "Review flagged clicks",
            on_click=review_next,
            help="Go to another annotator's click that the fit flags or a second look far off; "
            "your click there corrects it.",
        )


@st.fragment
def annotator() -> None:
    """The sample shown, its buttons and its click view: rerun alone on a click."""
    current = address.sample_index(project, samples, not_for_me)
    key = samples[current]
    recording, frame_number, bodypart = key
    try:
        other = workflows.hold_sample(data, key, me, session)
        if other is not None and not is_done(key):  # someone else just started it
            target = workflows.next_sample(data, me, current, unannotated=True, session=session)
            if target is not None:
                go_to(target)
                current, key, other = target, samples[target], None
                recording, frame_number, bodypart = key
    except (KpcalError, TimeoutError):
        other = None  # the lease only steers the work; annotating goes on
    nav = st.columns([1.1, 0.9, 1.7, 1.2, 1.3], vertical_alignment="bottom")
    nav[0].button(
        "Previous",
        on_click=go_to,
        args=(current - 1,),
        shortcut="Left",
        disabled=current == 0,
        width="stretch",
    )
    nav[1].button(
        "Next",
        on_click=next_sample,
        args=(False,),
        shortcut="Right",
        disabled=current >= len(samples) - 1,
        width="stretch",
    )
    nav[2].button(
        "Next unannotated", on_click=next_sample, args=(True,), shortcut="N", width="stretch"
    )
    nav[3].button(
        "Clear",
        on_click=record,
        args=(key, CLEARED),
        shortcut="Delete",
        disabled=mine(key) is None or mine(key).status == CLEARED,
        width="stretch",
    )
    nav[4].button(
        "Not visible",
        on_click=record,
        args=(key, NOT_VISIBLE),
        shortcut="V",
        width="stretch",
        help="The bodypart cannot be seen in this frame (kept, left out of the fit).",
    )
    video = data.video_paths.get(recording)
    if recording not in data.coordinates or bodypart not in data.bodyparts:
        st.error(sentences.sample_not_loaded(literal(key)))
        return
    if video is None:
        st.error(sentences.recording_without_video(code(recording)))
        return
    counts = annotation_counts(records)
    k = data.bodyparts.index(bodypart)
    video_frame = int(data.video_frame_indexes[recording][frame_number])
    # What identifies the sample is shown by the click view with its image (never before it).
    lines = SampleLines(
        title=sentences.sample_title(bodypart, float(data.confidences[recording][frame_number, k])),
        caption=sentences.sample_caption(
            current + 1, len(samples), recording, frame_number, video_frame
        ),
        legend=widgets.bodypart_legend(data.bodyparts),
        target=bodypart,
    )
    frames = cache.frames(data)
    try:
        image = frames.get(key)
    except KpcalError as error:
        error_display.show_error(error)
        return
    frames.prepare(workflows.samples_ahead(samples, current, not_for_me))
    # a held click stays drawn; another's click only outside the second look
    annotation = held.get(key) or workflows.shown_annotation(data, records, key, me)
    zoom, size = address.zoom(), state.view_size()
    view, rendered = workflows.sample_view(data, key, image, zoom, annotation, size)
    token = state.register_click_view(zoom, project, key, view)
    keypoints = data.coordinates[recording][frame_number]
    steps = [
        step_zoom(zoom, direction, image.shape, keypoints[k], keypoints, size)
        for direction in (+1, -1)
    ]
    picture, beside = st.columns([5, 3], gap="medium")
    with picture:
        click_image(rendered, key=state.CLICK_VIEW, view=token, sample=lines, on_click=on_click)
    with beside:
        st.caption(
            sentences.annotation_counts_line(
                counts["positions"], sum(is_done(s) for s in samples), counts["not_visible"]
            )
        )
        team_lines(key, other)
        zoom_control(view, *steps)
        last_action(key)
        panels.stop_status(data, records)
        st.caption(
            "Keys: ← previous, → next, N next unannotated, Delete clear, "
            "V not visible, + zoom in, − zoom out, 0 fit."
        )
        st.caption(
            "Click the true position of the target bodypart (yellow circle: the network's "
            "guess; coloured dots: the other bodyparts; red X: your annotation; striped: "
            "outside the video)."
        )


annotator()
give_keys_back_to_the_page()
