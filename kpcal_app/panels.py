"""Self-contained sections of the pages: each reads its widgets and calls one workflow.

- :func:`project_picker`: open, create (after asking) or go back to a project folder;
- :func:`stop_status`: on the annotate page, whether the annotator can stop;
  :func:`draw_more_button`: draw more samples when the stop rule needs them;
- :func:`gross_errors_panel`: the fit page's likely gross errors, kept or left out;
- :func:`anatomy_form`: the front and back bodyparts in ``config.yml``;
- :func:`recordings_table`: which video each recording uses, readable at any width;
- :func:`video_form`: set the video of one recording;
- :func:`team_agreement`: this project's annotators: distance, bias and spread, who is flagged;
- :func:`annotator_comparison`: other annotators' CSV files, how far apart the clicks are;
- :func:`frame_fill_progress`: the frames being cached, with the button to start annotating;
- :func:`start_annotating_button`, :func:`follow_start_annotating`: that button, and following it
  (at the top of the setup page, so the annotate page opens without the rest of it running).
- on the fit page: :func:`trusted_panel` (where the line is trusted), :func:`model_prior_panel`
  (what the calibration does to the model), :func:`per_bodypart_panel` (each bodypart's own
  line), :func:`save_panel` (Save to config.yml, confirmed when the slope is flat or rising).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from kpcal_app import address, cache, error_display, history, projects, state, widgets
from kpcal_core import sentences, workflows
from kpcal_core.errors import KpcalError
from kpcal_core.workflows import (
    BackgroundJob,
    FittedLine,
    ModelPrior,
    ProjectData,
    band_chart,
    distances_chart,
    slope_check,
)

from .text import code, literal

DUPLICATE_LABELS = {
    "unfiltered": "keep one per video, unfiltered",
    "filtered": "keep one per video, filtered",
    "all": "keep all (each is a recording)",
}
ORDER_LABELS = {"planned": "Planned (fewest clicks)", "keypoint-moseq": "As keypoint-MoSeq"}


def open_folder(typed: str, *, create: bool = False) -> None:
    """Open (or, after the user said so, create) the project folder typed."""
    folder = projects.resolve_project(typed)
    workflows.project_folder(folder, create=create)
    projects.switch_project(str(folder))
    st.session_state.pop(state.PENDING_FOLDER, None)
    st.rerun()


def project_picker(project: str) -> None:
    """The project folder section: a typed or recent folder, the demo project."""
    with st.expander("Project folder", expanded=not Path(project).is_dir()):
        with st.form("project_form"):
            typed = st.text_input("Project folder", value=project, help="A keypoint-MoSeq project.")
            recent = history.recent_projects()
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
                error_display.show_error(error)
        pending = st.session_state.get(state.PENDING_FOLDER)
        if pending and st.button(sentences.create_folder(code(pending))):
            try:
                open_folder(pending, create=True)
            except KpcalError as error:
                error_display.show_error(error)
        st.caption(literal(workflows.describe_state_dir()))
        if st.button("Open the demo project"):
            projects.switch_project(str(projects.demo_project()))
            st.rerun()


def anatomy_form(project: str, data: ProjectData, *, expanded: bool = False) -> None:
    """Set ``anterior_bodyparts`` and ``posterior_bodyparts`` (keypoint-MoSeq's heading)."""
    with (
        st.expander(
            "Front and back bodyparts (anterior, posterior: keypoint-MoSeq's heading)",
            expanded=expanded,
        ),
        st.form("anatomy"),
    ):
        front = st.multiselect("Front", data.bodyparts, data.config.get("anterior_bodyparts"))
        back = st.multiselect("Back", data.bodyparts, data.config.get("posterior_bodyparts"))
        if st.form_submit_button("Save to config.yml"):
            try:
                workflows.set_anatomy(project, front, back)
                st.session_state.pop(state.ANATOMY_QUESTION, None)
                st.rerun()
            except KpcalError as error:
                error_display.show_error(error)


#: The recordings table's columns and their widths in pixels, 805 in all: the grid fits the
#: page's column at a 1280-pixel window (818 pixels) without scrolling sideways. What a
#: column cuts short (a long name) is in the details below the table, with the full video
#: path, the rule that found the video and the reason.
RECORDING_COLUMNS = {
    "status": st.column_config.TextColumn("status", width=100),
    "recording": st.column_config.TextColumn("recording", width=320),
    "video": st.column_config.TextColumn(
        "video file", width=180, help="Its full path is in the details below the table."
    ),
    "video_frames": st.column_config.TextColumn("video frames", width=95),
    "keypoint_frames": st.column_config.TextColumn("keypoint frames", width=110),
}


def recordings_table(table) -> None:
    """Show the recordings table (:func:`kpcal_core.workflows.recordings_report`).

    Readable at 1280 pixels: short columns (the video's file name), and one recording's
    name, full video path, rule and reason, as wrapped text, below it (the first needing
    attention).
    """
    shown = table.assign(
        video=[None if not v else os.path.basename(str(v)) for v in table["video"]],
        video_frames=[None if pd.isna(v) else f"{int(v):,}" for v in table["video_frames"]],
        keypoint_frames=[f"{int(v):,}" for v in table["keypoint_frames"]],
    )
    widgets.show_table(
        shown,
        width="stretch",
        column_order=list(RECORDING_COLUMNS),
        column_config=RECORDING_COLUMNS,
    )
    names = list(table["recording"])
    if not names:
        return
    first_problem = next((i for i, s in enumerate(table["status"]) if s != "ok"), 0)
    chosen = st.selectbox(
        "Details of recording",
        range(len(names)),
        index=first_problem,
        format_func=names.__getitem__,
    )
    row = table.iloc[chosen]
    video = row["video"]
    st.caption(
        f"**{literal(row['status'])}** · "
        + sentences.recording_video(
            code(video) if video else None, literal(row["rule"]) if row["rule"] else None
        )
    )
    st.caption(literal(row["reason"]))


def video_form(project: str, recordings: list[str]) -> None:
    """Use a video file for one recording (kept in the project's session)."""
    with st.expander("Set the video of a recording"), st.form("video_form"):
        recording = st.selectbox("Recording", recordings)
        video_path = st.text_input("Video file (empty: find it by name again)")
        if st.form_submit_button("Use this video"):
            try:
                workflows.set_video(project, recording, video_path.strip() or None)
                st.rerun()
            except KpcalError as error:
                error_display.show_error(error)


def stop_status(data: ProjectData, records: dict) -> None:
    """Show the stop rule's verdict in one line.

    The fit page's rule, computed once per change of the annotations: "Settled: ... you
    can stop" or about how many more are needed, with a button that draws more samples
    when the drawn ones are too few.
    """
    try:
        check = cache.stop_status(data, records)
    except KpcalError as error:
        st.caption(sentences.cannot_tell_stop(literal(error)))
        return
    line = sentences.stop_status_line(check)
    if check.settled:
        st.success(line, icon=":material/check_circle:")
    else:
        st.caption(line)
        draw_more_button(data, check, key="annotate-draw-more")


def draw_more_button(data: ProjectData, check, *, key: str) -> None:
    """Show "Draw N more samples" when the stop rule needs more than the drawn samples hold.

    Draws with the session's order and seed (:func:`kpcal_core.workflows.draw_more_samples`:
    every annotation is kept) and starts caching the new samples' frames.
    """
    if not check.draw_more:
        return
    label = sentences.draw_more_label(check.draw_more)
    if st.button(label, key=key, help="Same order and seed; every annotation is kept."):
        try:
            draw = workflows.draw_more_samples(data, check.draw_more)
        except (KpcalError, TimeoutError) as error:
            error_display.show_error(error)
            return
        st.success(literal(sentences.sample_draw_message(draw)))
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
        sentences.gross_errors_heading(len(flagged), left_out),
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
        for row, text in zip(flagged, sentences.gross_error_rows(check.gross_errors), strict=True):
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
                address.set_sample_index(project, index)
                st.switch_page("pages/annotate.py")


def _keep_gross_error(data: ProjectData, key, widget: str) -> None:
    try:
        workflows.set_kept_gross_errors(data, [key], bool(st.session_state[widget]))
    except (KpcalError, TimeoutError) as error:
        error_display.show_error(error)


def team_agreement(data: ProjectData, records: dict) -> None:
    """Show how the project's annotators agree.

    How far apart their clicks are, each one's bias and spread, who is flagged; the rule
    that makes one position per sample.
    """
    everyone = workflows.team_progress(data, records)
    if len(everyone.counts) < 2:
        return
    st.subheader("Annotators")
    st.caption(sentences.COMBINE_RULE)
    team = workflows.team_agreement(data, records)
    st.write(literal(sentences.agreement_statement(team.agreement)))
    if team.agreement.n_shared_samples:
        st.altair_chart(distances_chart(team.agreement.distances["distance_px"]), width="stretch")
    if len(team.bias):
        widgets.show_table(
            team.bias.rename(
                columns={
                    "n_shared": "shared samples",
                    "offset_px": "bias (px)",
                    "spread_px": "spread (px)",
                    "bias_log10": "bias (log10(error+1))",
                    "spread_log10": "spread (log10(error+1))",
                }
            ).drop(columns=["offset_x_px", "offset_y_px"])
        )
    if team.flagged:
        st.warning(sentences.systematically_off(literal(", ".join(team.flagged))))
    st.caption(sentences.flag_rule(team.rule))


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
        files = {upload.name: upload.getvalue() for upload in uploads or []}
        comparison = workflows.compare_with_files(records, files)
        for name, problem in comparison.problems.items():
            st.error(f"{literal(name)}: {literal(problem)}")
        agreement = comparison.agreement
        if agreement is not None:
            st.write(sentences.agreement_statement(agreement))
            if agreement.n_shared_samples:
                st.altair_chart(
                    distances_chart(agreement.distances["distance_px"]), width="stretch"
                )
                if st.checkbox("Fit the mean of everyone's clicks", value=False):
                    fit_records = comparison.mean_clicks()
    return fit_records


def start_annotating_button() -> None:
    """Show the button that opens the annotate page (one per page run, the same key).

    :func:`follow_start_annotating`, at the top of the page, follows it.
    """
    st.button(
        "Start annotating", type="primary", icon=":material/ads_click:", key=state.START_ANNOTATING
    )


def follow_start_annotating() -> None:
    """Open the annotate page at once when "Start annotating" was pressed.

    Its value is read from session state before the rest of the setup page runs (which
    would delay the first image by that page's run, 0.3–0.6 s with a project open).
    """
    if st.session_state.get(state.START_ANNOTATING):
        st.switch_page("pages/annotate.py", query_params=address.address())


def frame_fill_progress(data: ProjectData, fill: BackgroundJob, *, poll_s: float = 0.05) -> None:
    """Follow the frame cache filling, under the button that starts annotating.

    The button is usable at once: the first sample's frame is decoded first. The job goes
    on if the page is left.
    """
    start_annotating_button()
    status, bar = st.empty(), st.progress(0.0, text="Decoding frames…")
    status.caption("The first sample's frame is being decoded…")
    first = data.session.sample_keys[0] if data.session.sample_keys else None
    offered, shown = False, None
    while True:
        progress = fill.progress()
        if not progress.finished and not offered and first in progress.ready:
            status.caption("The first sample is ready: annotate while the others load.")
            offered = True
        if progress.finished:
            break
        percent = int(100 * progress.done / max(progress.total, 1))
        if percent != shown:  # a redraw only when the bar moves
            text = sentences.frames_ready(progress.done, progress.total)
            bar.progress(percent / 100, text=text)
            shown = percent
        time.sleep(poll_s)
    status.empty()
    if progress.error:
        bar.empty()
        st.error(sentences.frames_not_cached(literal(progress.error)))
    else:
        bar.progress(1.0, text="All frames ready.")
    st.caption(literal(workflows.frame_cache_summary(data)))


# --------------------------------------------------------------------------- the fit page


def trusted_panel(band, prior: ModelPrior) -> None:
    """Show "Where is it trusted?": the line's error and band over the confidences."""
    st.altair_chart(band_chart(band), width="stretch")
    text = (
        "The error the line predicts (blue, with its 95% band) over the confidences of your "
        "keypoints with a position (grey bars, right axis): the line is trusted where the band "
        "is narrow and the bars are tall."
    )
    st.caption(text + sentences.not_drawn_in_band(prior.n_zero))


def model_prior_panel(prior: ModelPrior) -> None:
    """Show "What this calibration does to your model": s0 per bodypart, and other lines."""
    st.subheader("What this calibration does to your model")
    lines = sentences.model_prior_lines(prior)
    st.write(literal(lines[0]))
    widgets.show_table(sentences.model_prior_table(prior))
    for line in lines[1:]:
        st.caption(literal(line))


def per_bodypart_panel(prior: ModelPrior, table) -> None:
    """The per-bodypart tab: whether each bodypart's own line follows the shared one."""
    statement = sentences.bodypart_line_statement(prior)
    (st.warning if prior.surely_not_following else st.write)(literal(statement))
    widgets.show_table(table)


def save_panel(
    data: ProjectData,
    points,
    line: FittedLine,
    method: str,
    threshold: float,
) -> None:
    """Save to config.yml: a flat or rising slope is written only after the user confirms it."""
    check = slope_check(points, line.slope)
    confirmed = True
    if not check.decreasing:
        st.warning(literal(sentences.slope_not_written(check.problem)))
        confirmed = st.checkbox(
            "Write this line to config.yml anyway",
            key=f"kpcal_confirm_slope-{method}-{line.slope:.9g}-{line.intercept:.9g}",
            help="Only if you have checked the clicks and trust the line as it is.",
        )
    if st.button("Save to config.yml", type="primary", disabled=not confirmed):
        try:
            saved = workflows.save_calibration(
                data,
                slope=line.slope,
                intercept=line.intercept,
                conf_threshold=threshold,
                method=method,
                user=state.annotator(),
                points=points,
                confirm_slope=confirmed,
            )
            st.success(literal(sentences.line_saved(saved)))
        except (KpcalError, TimeoutError) as error:
            error_display.show_error(error)
