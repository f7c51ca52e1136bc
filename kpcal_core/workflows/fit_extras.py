"""The fit page's and ``kpcal fit``'s other views of the fit.

The model's prior under a line (:func:`project_model_prior`), flagged gross
errors kept in the line or left out again (:func:`set_kept_gross_errors`), the
annotations farthest from the line (:func:`residual_rows`) and the line in
pixels (:func:`error_size_table`). Their words come from
:mod:`kpcal_core.sentences`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..fitting import FittedLine, LineFit, predicted_error_px
from ..per_bodypart import PerBodypartFits, largest_residuals
from ..prior import (
    BodypartConfidences,
    Line,
    ModelPrior,
    bodypart_confidences,
    config_pseudocount,
    interpolated_counts,
    model_prior,
    saved_line,
)
from ..project import ProjectData, project_lock
from ..samplekeys import SampleKey
from ..sentences import residual_sentence
from ..session import load_session, save_session


def project_model_prior(
    data: ProjectData,
    line: FittedLine,
    conf_threshold: float | None = None,
    *,
    per_bodypart: PerBodypartFits | None = None,
    summaries: Sequence[BodypartConfidences] | None = None,
    interpolated: Mapping[str, int] | None = None,
) -> ModelPrior:
    """What ``line`` does to keypoint-MoSeq's model of this project (:func:`kpcal_core.prior.model_prior`).

    keypoint-MoSeq's settings come from ``config.yml`` (``conf_pseudocount``,
    and ``conf_threshold`` unless given); the saved line is ``config.yml``'s
    ``error_estimator``.

    Parameters
    ----------
    line
        The line that would be saved (:class:`~kpcal_core.fitting.FittedLine`).
    conf_threshold
        The threshold to judge (the fit page's control); default: ``config.yml``'s.
    per_bodypart
        :func:`~kpcal_core.per_bodypart.per_bodypart_fits` of the fitted points, for
        each bodypart's own line; None: no own lines.
    summaries, interpolated
        :func:`~kpcal_core.prior.bodypart_confidences` and
        :func:`~kpcal_core.prior.interpolated_counts` when the caller has them (the
        app caches them); computed otherwise.
    """
    pseudocount = config_pseudocount(data.config)
    threshold = float(
        data.config.get("conf_threshold", 0.5) if conf_threshold is None else conf_threshold
    )
    use = data.use_bodyparts
    if summaries is None:
        summaries = bodypart_confidences(data.confidences, data.missing, data.bodyparts, use)
    if interpolated is None:
        interpolated = interpolated_counts(
            data.confidences, data.missing, data.bodyparts, use, threshold, pseudocount
        )
    return model_prior(
        summaries,
        Line(float(line.slope), float(line.intercept), f"this fit ({line.method})"),
        conf_pseudocount=pseudocount,
        conf_threshold=threshold,
        interpolated=interpolated,
        saved=saved_line(data.config),
        own_lines=per_bodypart.table if per_bodypart is not None else None,
    )


def set_kept_gross_errors(
    data: ProjectData, keys: Sequence[SampleKey], keep: bool = True
) -> list[SampleKey]:
    """Keep (or leave out again) flagged annotations in the line; saved in the session.

    Returns the session's kept keys. The next save (autosave on a click, or
    Save to config.yml) fits with them.
    """
    keys = [(str(r), int(f), str(b)) for r, f, b in keys]
    with project_lock(data.project_dir):
        session = load_session(data.project_dir) or data.session
        kept = [k for k in session.kept_gross_errors if k not in keys]
        if keep:
            kept += keys
        session.kept_gross_errors = kept
        save_session(data.project_dir, session)
    data.session.kept_gross_errors = list(kept)
    return list(kept)


@dataclass(frozen=True)
class ResidualRow:
    """One annotation far from the line (:func:`residual_rows`).

    Attributes
    ----------
    key
        ``(recording, frame, bodypart)`` of the sample.
    sample_index
        0-based position in the session's samples, or ``None`` when it is not a
        sample now.
    text
        One plain-text sentence (the recording name in quotes), not Markdown.
    """

    key: SampleKey
    sample_index: int | None
    text: str


def residual_rows(
    points: pd.DataFrame,
    fit: LineFit | FittedLine,
    sample_keys: Sequence[SampleKey],
    n: int = 10,
) -> list[ResidualRow]:
    """The ``n`` annotations farthest from the line, as sentences, with their sample's index.

    Parameters
    ----------
    points
        The fitted points (:func:`~kpcal_core.diagnostics.project_points`).
    fit
        The line: ``{"slope", "intercept"}``.
    sample_keys
        The session's samples, to find each one's index.
    """
    where = {key: i for i, key in enumerate(sample_keys)}
    rows = []
    for row in largest_residuals(points, fit, n=n).to_dict("records"):
        key = (str(row["recording"]), int(row["frame"]), str(row["bodypart"]))
        text = residual_sentence(
            key, float(row["error_px"]), float(row["line_error_px"]), float(row["residual"])
        )
        rows.append(ResidualRow(key, where.get(key), text))
    return rows


def error_size_table(
    line: LineFit | FittedLine,
    conf_pseudocount: float,
    confidences: Sequence[float] = (0.01, 0.1, 0.3, 0.5, 0.9, 1.0),
) -> pd.DataFrame:
    """The line in pixels: the error size keypoint-MoSeq's prior expects at a few confidences."""
    confs = np.asarray(confidences, dtype=float)
    return pd.DataFrame(
        {
            "confidence": confs,
            "error size (px)": predicted_error_px(
                line.slope, line.intercept, confs + conf_pseudocount
            ),
        }
    )
