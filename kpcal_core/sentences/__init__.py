"""Words shown to people, built once for the pages and the command line.

Sentences from the engine's results: the stop rule's verdict
(:func:`stop_statement` for the fit page and ``kpcal fit``,
:func:`stop_status_line` for the annotate page), the model's prior panel
(:func:`model_prior_table`, :func:`model_prior_lines`,
:func:`bodypart_line_statement`), flagged and far annotations
(:func:`gross_error_rows`, :func:`residual_sentence`), edits held in memory
(:func:`held_status`, :func:`held_sentence`), why a bodypart's own line differs
(:func:`bodypart_reason`), how far apart annotators click and who is flagged
(:func:`agreement_statement`, :data:`FLAG_RULE`), the anatomy note, and the small
sentences the setup and fit pages and ``kpcal sample`` share. Plain text, never
Markdown: the pages show them as text. The grammar helpers :func:`count` and
:func:`verb` live in :mod:`kpcal_core.wording` (the engine's error messages use
them too) and are re-exported here for the app.

One module per page or part: ``stop_rule``, ``model_prior``, ``fit``, ``setup``,
``annotators``, ``annotate`` (the annotate page's sample lines, counts and
save messages) and ``pages`` (the other pages' and panels' sentences built
from values); every name is re-exported here.
"""

from __future__ import annotations

from ..wording import count, verb
from .annotators import (
    COMBINE_RULE,
    FLAG_RULE,
    agreement_statement,
    held_sentence,
    held_status,
    team_progress_lines,
)
from .fit import (
    bodypart_reason,
    bootstrap_intervals,
    fit_numbers,
    gross_error_rows,
    gross_errors_heading,
    line_saved,
    method_line,
    not_loaded_left_out,
    not_visible_left_out,
    residual_sentence,
    share_above_threshold,
)
from .model_prior import (
    bodypart_line_statement,
    model_prior_lines,
    model_prior_table,
    not_drawn_in_band,
)
from .setup import (
    anatomy_note,
    config_created,
    frame_cache_sentence,
    frames_ready,
    never_sampled,
    recordings_needing_attention,
    sample_draw_message,
    samples_drawn,
)
from .stop_rule import (
    draw_more_label,
    has_settled,
    how_the_stop_rule_judges,
    slope_settled_statement,
    stop_statement,
    stop_status_line,
)

__all__ = [
    "has_settled",
    "slope_settled_statement",
    "COMBINE_RULE",
    "FLAG_RULE",
    "agreement_statement",
    "anatomy_note",
    "bodypart_line_statement",
    "bodypart_reason",
    "bootstrap_intervals",
    "config_created",
    "count",
    "draw_more_label",
    "fit_numbers",
    "frame_cache_sentence",
    "frames_ready",
    "gross_error_rows",
    "gross_errors_heading",
    "held_sentence",
    "held_status",
    "how_the_stop_rule_judges",
    "line_saved",
    "method_line",
    "model_prior_lines",
    "model_prior_table",
    "never_sampled",
    "not_drawn_in_band",
    "not_loaded_left_out",
    "not_visible_left_out",
    "recordings_needing_attention",
    "residual_sentence",
    "sample_draw_message",
    "samples_drawn",
    "share_above_threshold",
    "stop_statement",
    "stop_status_line",
    "team_progress_lines",
    "verb",
]

# The pages' sentences built from values (``annotate``: the annotate page; ``pages``: the
# setup and fit pages and the app's panels). One block, after the others' exports.
from .annotate import (  # noqa: E402
    NOT_SAVED,
    annotated_by,
    annotation_counts_line,
    held_not_in_fit,
    held_on_this_page,
    kept_as_backup,
    late_click_saved,
    not_saved,
    recording_without_video,
    sample_caption,
    sample_not_loaded,
    sample_title,
    someone_else_is_working,
    zoom_caption,
)
from .pages import (  # noqa: E402
    bad_seed,
    cannot_tell_stop,
    create_folder,
    create_folder_and_load,
    demo_note,
    flag_rule,
    frames_not_cached,
    kept_broken_config,
    no_fit_yet,
    nothing_created_yet,
    project_refused,
    recording_video,
    slope_not_written,
    systematically_off,
)

__all__ += [
    "NOT_SAVED",
    "annotated_by",
    "annotation_counts_line",
    "held_not_in_fit",
    "held_on_this_page",
    "kept_as_backup",
    "late_click_saved",
    "not_saved",
    "recording_without_video",
    "sample_caption",
    "sample_not_loaded",
    "sample_title",
    "someone_else_is_working",
    "zoom_caption",
    "bad_seed",
    "cannot_tell_stop",
    "create_folder",
    "create_folder_and_load",
    "demo_note",
    "flag_rule",
    "frames_not_cached",
    "kept_broken_config",
    "no_fit_yet",
    "nothing_created_yet",
    "project_refused",
    "recording_video",
    "slope_not_written",
    "systematically_off",
]
