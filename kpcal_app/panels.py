"""Self-contained sections of the pages: each reads its widgets and calls one workflow.

- :func:`project_picker`: open, create (after asking) or go back to a project folder;
- :func:`stop_status`: on the annotate page, whether the annotator can stop;
  :func:`draw_more_button`: draw more samples when the stop rule needs them;
- :func:`gross_errors_panel`: the fit page's likely gross errors, kept or left out;
- :func:`anatomy_form`: the front and back bodyparts in ``config.yml``;
- :func:`video_form`: set the video of one recording;
- :func:`annotator_comparison`: other annotators' CSV files, how far apart the clicks are;
- :func:`frame_fill_progress`: the frames being cached, annotating offered once the first is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from kpcal_app import cache, state
from kpcal_core import statedir, workflows
from kpcal_core.annotations import CLEARED, parse_annotations
from kpcal_core.charts import distances_chart
from kpcal_core.diagnostics import annotator_agreement, mean_click_annotations
from kpcal_core.errors import KpcalError
from kpcal_core.prefetch import BackgroundJob
from kpcal_core.project import ProjectData
from kpcal_core.textio import decode_user_text

from .text import code, literal

DUPLICATE_LABELS = {
    "unfiltered": "keep one per video, unfiltered",
    "filtered": "keep one per video, filtered",
    "all": "keep all (each is a recording)",
}
ORDER_LABELS = {"planned": "Planned (fewest clicks)", "keypoint-moseq": "As keypoint-MoSeq"}


def open_folder(typed: str, *, create: bool = False) -> None:
    """Open (or, after the user said so, create) the project folder typed."""
    folder = state.resolve_project(typed)
    workflows.project_folder(folder, create=create)
    state.switch_project(str(folder))
    st.session_state.pop(state.PENDING_FOLDER, None)
    st.rerun()


def project_picker(project: str) -> None:
    """The project folder section: a typed or recent folder, the demo project."""
    with st.expander("Project folder", expanded=not Path(project).is_dir()):
        with st.form("project_form"):
            typed = st.text_input("Project folder", value=project, help="A keypoint-MoSeq project.")
            recent = state.recent_projects()
            chosen = st.selectbox("Or a recent project", ["–"] + recent) if recent else "–"
            opened = st.form_submit_button("Open project")
        if opened:
            target = chosen if chosen != "–" else typed
            try:
                open_folder(target)
            except workflows.ProjectFolderMissing as error:
                st.session_state[state.PENDING_FOLDER] = target
                st.warning(literal(error))
            except KpcalError as error:
                state.show_error(error)
        pending = st.session_state.get(state.PENDING_FOLDER)
        if pending and st.button(f"Create the folder {code(pending)}"):
            try:
                open_folder(pending, create=True)
            except KpcalError as error:
                state.show_error(error)
        st.caption(literal(statedir.describe_state_dir()))
        if st.button("Open the demo project"):
            state.switch_project(str(state.demo_project()))
            st.rerun()


def anatomy_form(project: str, data: ProjectData) -> None:
    """Set ``anterior_bodyparts`` and ``posterior_bodyparts`` (keypoint-MoSeq's heading)."""
    with st.expander("Front and back bodyparts (anterior, posterior: keypoint-MoSeq's heading)"):
        with st.form("anatomy"):
            front = st.multiselect("Front", data.bodyparts, data.config.get("anterior_bodyparts"))
            back = st.multiselect("Back", data.bodyparts, data.config.get("posterior_bodyparts"))
            if st.form_submit_button("Save to config.yml"):
                try:
                    workflows.set_anatomy(project, front, back)
                    st.session_state.pop(state.SOURCE_NOTES, None)
                    st.rerun()
                except KpcalError as error:
                    state.show_error(error)


def video_form(project: str, recordings: list[str]) -> None:
    """Use a video file for one recording (kept in the project's session)."""
    with st.expander("Set the video of a recording"):
        with st.form("video_form"):
            recording = st.selectbox("Recording", recordings)
            video_path = st.text_input("Video file (empty: find it by name again)")
            if st.form_submit_button("Use this video"):
                try:
                    workflows.set_video(project, recording, video_path.strip() or None)
                    st.rerun()
                except KpcalError as error:
                    state.show_error(error)


def stop_status(data: ProjectData, records: dict) -> None:
    """The stop rule's verdict in one line (the fit page's rule, computed once per change of
    the annotations): "Settled: ... you can stop" or about how many more are needed, with
    a button that draws more samples when the drawn ones are too few."""
    try:
        check = cache.stop_status(data, records)
    except KpcalError as error:
        st.caption(f"Cannot tell yet whether you can stop: {literal(error)}")
        return
    line = workflows.stop_status_line(check)
    if check.settled:
        st.success(line, icon=":material/check_circle:")
    else:
        st.caption(line)
        draw_more_button(data, check, key="annotate-draw-more")


def draw_more_button(data: ProjectData, check, *, key: str) -> None:
    """ "Draw N more samples" when the stop rule needs more than the drawn samples hold.

    Draws with the session's order and seed (:func:`kpcal_core.workflows.draw_more_samples`:
    every annotation is kept) and starts caching the new samples' frames.
    """
    if not check.draw_more:
        return
    label = f"Draw {check.draw_more:,} more sample{'' if check.draw_more == 1 else 's'}"
    if st.button(label, key=key, help="Same order and seed; every annotation is kept."):
        try:
            draw = workflows.draw_more_samples(data, check.draw_more)
        except (KpcalError, TimeoutError) as error:
            state.show_error(error)
            return
        st.success(literal(draw.message))
        frame_fill_progress(data, cache.frame_fill(data, start=True))


def gross_errors_panel(project: str, data: ProjectData, check) -> None:
    """The annotations flagged as likely gross errors: which, why, keep or leave out, open.

    Flagged annotations are out of the line unless kept
    (:func:`kpcal_core.workflows.set_kept_gross_errors`, saved in the session).
    """
    flagged = check.gross_errors.flagged
    if not flagged:
        return
    left_out = len(check.gross_errors.left_out)
    with st.expander(
        f"Likely gross errors: {len(flagged)} flagged, {left_out} left out of the line",
        expanded=bool(left_out),
    ):
        st.caption(
            "Each click is far from its keypoint's prediction: more than the rest of the "
            "annotations allow at its confidence, or nearer another bodypart's prediction "
            "(a swap). Left out of the line unless you keep it; keep the ones whose click is "
            "right (the network really was that far off). A kept one stays in the "
            "least-squares line; the robust lines under 'Line to save' resist it."
        )
        samples = data.session.sample_keys
        where = {key: i for i, key in enumerate(samples)}
        for row, text in zip(flagged, workflows.gross_error_rows(check.gross_errors), strict=True):
            cols = st.columns([5, 1, 1])
            cols[0].markdown(literal(text))
            cols[1].checkbox(
                "Keep",
                value=row.kept,
                key=f"keep-{row.key}",
                on_change=_keep_gross_error,
                args=(data, row.key, f"keep-{row.key}"),
            )
            index = where.get(row.key)
            if index is not None and cols[2].button("Open", key=f"open-gross-{row.key}"):
                state.set_sample_index(project, index)
                st.switch_page("pages/annotate.py")


def _keep_gross_error(data: ProjectData, key, widget: str) -> None:
    try:
        workflows.set_kept_gross_errors(data, [key], bool(st.session_state[widget]))
    except (KpcalError, TimeoutError) as error:
        state.show_error(error)


def annotator_comparison(records: dict) -> dict:
    """Other annotators' CSV files of this project: how far apart the clicks are.

    Returns the annotations to fit: ``records``, or the mean of everyone's clicks
    when the user asks for it.
    """
    fit_records = records
    with st.expander("Compare with other annotators"):
        uploads = st.file_uploader(
            "Other annotators' error_annotations.csv files of this project",
            type=["csv"],
            accept_multiple_files=True,
        )
        others = {}
        for upload in uploads or []:
            try:
                text = decode_user_text(upload.getvalue(), upload.name)
                others[upload.name] = parse_annotations(text, upload.name)
            except KpcalError as error:
                st.error(f"{literal(upload.name)}: {literal(error)}")
        if others:
            everyone = {"this project": {k: v for k, v in records.items() if v.status != CLEARED}}
            everyone.update(others)
            agreement = annotator_agreement(everyone)
            st.write(agreement["statement"])
            if agreement["n_shared_samples"]:
                st.altair_chart(distances_chart(agreement["distances"]), width="stretch")
                if st.checkbox("Fit the mean of everyone's clicks", value=False):
                    fit_records = mean_click_annotations(everyone)
    return fit_records


def frame_fill_progress(
    data: ProjectData,
    fill: BackgroundJob,
    *,
    then: Callable[[], None] | None = None,
    poll_s: float = 0.05,
) -> None:
    """Follow the frame cache filling: annotating is offered once the first sample's frame
    is ready; the job goes on if the page is left. ``then`` is drawn when the fill has
    ended: drawn earlier (a chart), it kept the browser from showing the offer for 0.4 s."""
    link, bar = st.empty(), st.progress(0.0, text="Decoding frames…")
    link.page_link("pages/annotate.py", label="Start annotating when its frame is ready")
    first = data.session.sample_keys[0] if data.session.sample_keys else None
    offered, shown = False, None
    while True:
        progress = fill.progress()
        if not progress.finished and not offered and first in progress.ready:
            link.page_link("pages/annotate.py", label="Start annotating (frames keep loading)")
            offered = True
        if progress.finished:
            break
        percent = int(100 * progress.done / max(progress.total, 1))
        if percent != shown:  # a redraw only when the bar moves
            text = f"{progress.done} of {progress.total} frames ready"
            bar.progress(percent / 100, text=text)
            shown = percent
        time.sleep(poll_s)
    if progress.error:
        bar.empty()
        st.error(f"Frames could not all be cached: {literal(progress.error)}")
    else:
        bar.progress(1.0, text="All frames ready.")
    link.page_link("pages/annotate.py", label="Start annotating", icon=":material/ads_click:")
    st.caption(literal(workflows.frame_cache_summary(data)))
    if then is not None:
        then()
