"""Several annotators: how far apart they click, and who is systematically off (issue 23).

This module owns agreement between annotators, on the one project file (rows
per sample and annotator, :func:`project_annotators`) as well as on separate
CSV files, one per annotator (:func:`load_annotator_files`):

- :func:`annotator_agreement`: distances between the clicks of different
  people on the same samples (the human error floor);
- :func:`annotator_bias`: per annotator, the bias and spread of their clicks
  against the median of everyone's on the samples they share, in pixels and in
  the line's units (``log10(error + 1)``), and the flag for an annotator whose
  clicks are systematically off (:data:`FLAG_MIN_SHARED`, :data:`FLAG_OFFSET_PX`,
  :data:`FLAG_LOG`; in words :data:`kpcal_core.sentences.FLAG_RULE`);
- :func:`disagreeing_samples`: shared samples whose clicks are far apart (to
  review);
- :func:`mean_click_annotations`: one annotation per sample at the mean of
  the clicks, ready to fit.

Only independent clicks count: a review (a row that corrects another's click,
:attr:`~kpcal_core.annotations.Annotation.corrects`) is left out of agreement.

Numbers and tables only: the sentences are :func:`kpcal_core.sentences.agreement_statement`
and :data:`kpcal_core.sentences.FLAG_RULE` (``lint-imports`` forbids this module
:mod:`kpcal_core.sentences` and :mod:`kpcal_core.wording`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from .annotations import (
    CLEARED,
    NOT_VISIBLE,
    POSITION,
    Annotation,
    RowKey,
    is_row_key,
    parse_annotation_rows,
)
from .errors import KpcalError
from .fitting import check_whole
from .samplekeys import SampleKey, check_sample_key
from .textio import read_user_text

#: What the agreement functions take: ``{annotator: records}``, ``{sample_key: Annotation}``,
#: ``{(sample_key, annotator): Annotation}`` rows, or ``(key, Annotation)`` pairs.
AnnotatorInput = (
    Mapping[str, Mapping[SampleKey, Annotation]]
    | Mapping[SampleKey, Annotation]
    | Mapping[RowKey, Annotation]
    | Iterable[tuple[SampleKey, Annotation]]
)
UNNAMED = "(unnamed)"


def load_annotator_files(
    paths: Sequence[str | os.PathLike],
) -> dict[str, dict[SampleKey, Annotation]]:
    """Read annotation CSV files: ``{annotator label: records}``.

    A file whose rows name two or more annotators (a project's
    ``error_annotations.csv`` kept by several people) gives one entry per
    annotator, labelled by name. A file of one annotator (each annotator
    annotated their own copy of the project and shared their CSV) gives one
    entry, labelled by the one annotator name its rows carry, or else its path.
    Labels that would repeat get the path added.

    Parameters
    ----------
    paths
        One or more CSV files in :func:`~kpcal_core.annotations.save_annotations`'s
        format (keypoint-MoSeq's files work too).
    """
    loaded = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise KpcalError(f"annotation file {str(path)!r} does not exist")
        rows = parse_annotation_rows(read_user_text(path), str(path))
        names = sorted({name for _, name in rows})
        if len(names) >= 2:
            for name in names:
                mine = {k: a for (k, n), a in rows.items() if n == name}
                loaded.append((name or UNNAMED, str(path), mine))
        else:
            label = names[0] if names and names[0] else str(path)
            loaded.append((label, str(path), {k: a for (k, _), a in rows.items()}))
    labels = [label for label, _, _ in loaded]
    out: dict[str, dict[SampleKey, Annotation]] = {}
    for label, path, records in loaded:
        if labels.count(label) > 1 and label != path:
            label = f"{label} ({path})"
        if label in out:
            raise KpcalError(f"annotation file {path!r} is given twice")
        out[label] = records
    return out


def project_annotators(project_dir: str | os.PathLike) -> dict[str, dict[SampleKey, Annotation]]:
    """``{annotator: {sample_key: Annotation}}`` of a project's annotations.

    Saved and the working copy, one entry per annotator name (unnamed rows:
    :data:`UNNAMED`).
    """
    from .project import load_working_rows

    return _group_by_annotator(load_working_rows(project_dir))


def _group_by_annotator(annotations: AnnotatorInput) -> dict[str, dict[SampleKey, Annotation]]:
    """``{annotator: {sample_key: Annotation}}``; within one annotator the newest edit wins.

    Takes ``{annotator: records}``, ``{sample_key: Annotation}`` (a combined
    annotation gives each of its rows), ``{(sample_key, annotator): Annotation}``
    rows, or ``(key, Annotation)`` pairs.
    """
    if isinstance(annotations, Mapping):
        values = list(annotations.values())
        if values and all(isinstance(v, Mapping) for v in values):
            by_name = cast("Mapping[str, Mapping[SampleKey, Annotation]]", annotations)
            return {
                str(name): {check_sample_key(k): _ann(k, a) for k, a in recs.items()}
                for name, recs in by_name.items()
            }
        pairs: Iterable = annotations.items()
    else:
        pairs = annotations
    grouped: dict[str, dict[SampleKey, Annotation]] = {}
    for item in pairs:
        try:
            key, ann = item
        except (TypeError, ValueError):
            raise KpcalError(
                f"expected (sample key, Annotation) pairs or {{annotator: records}}, got {item!r}"
            ) from None
        if is_row_key(key):
            key = key[0]
        key = check_sample_key(key)
        for row in _ann(key, ann).own_rows:
            mine = grouped.setdefault(row.annotator or UNNAMED, {})
            previous = mine.get(key)
            if previous is None or row.annotated_at >= previous.annotated_at:
                mine[key] = row
    return grouped


def _independent(
    grouped: Mapping[str, Mapping[SampleKey, Annotation]],
) -> dict[SampleKey, dict[str, Annotation]]:
    """``{sample_key: {annotator: click}}`` of the independent clicks.

    Not cleared, not a review of another's click.
    """
    clicks: dict[SampleKey, dict[str, Annotation]] = {}
    for name in sorted(grouped):
        for key, ann in grouped[name].items():
            if ann.status != CLEARED and not ann.corrects:
                clicks.setdefault(key, {})[name] = ann
    return clicks


def _ann(key, ann) -> Annotation:
    if not isinstance(ann, Annotation):
        raise KpcalError(f"annotation of sample {key!r} must be an Annotation, got {ann!r}")
    return ann


@dataclass(frozen=True)
class Agreement:
    """How far apart different people click on the same samples (:func:`annotator_agreement`).

    Attributes
    ----------
    distances
        One row per shared sample and pair of annotators: ``recording, frame,
        bodypart, annotator_a, annotator_b, distance_px``.
    by_pair
        ``annotator_a, annotator_b, n, median_px, p90_px``.
    n_annotators
        Annotators.
    n_shared_samples
        Samples positioned by two or more.
    n_pairs
        Rows of ``distances``.
    median_px, p90_px, mean_px, max_px
        Of the distances (NaN with no pairs).
    visibility_disagreements
        Samples one annotator positioned and another marked not visible.

    :func:`kpcal_core.sentences.agreement_statement` says it in words.
    """

    distances: pd.DataFrame
    by_pair: pd.DataFrame
    n_annotators: int
    n_shared_samples: int
    n_pairs: int
    median_px: float
    p90_px: float
    mean_px: float
    max_px: float
    visibility_disagreements: int

    def as_dict(self) -> dict:
        """The fields in order, as they are (the tables stay DataFrames)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def annotator_agreement(annotations: AnnotatorInput) -> Agreement:
    """How far apart different people click on the same samples: the human error floor.

    For every sample that two or more annotators positioned, the distance in
    pixels between each pair of their clicks. Errors the fit sees below this
    floor are annotation noise, not network error.

    Parameters
    ----------
    annotations
        ``{annotator: {sample_key: Annotation}}`` (e.g. :func:`load_annotator_files`
        of one CSV per annotator; the label names the annotator), or
        ``(sample_key, Annotation)`` pairs from several annotators, grouped
        by ``Annotation.annotator`` (e.g. an edit history; an annotator's
        newest edit of a sample counts).

    Returns
    -------
    Agreement
    """
    grouped = _group_by_annotator(annotations)
    names = sorted(grouped)
    clicks = _independent(grouped)
    rows = []
    shared = disagreements = 0
    for key in sorted(clicks):
        by_name = clicks[key]
        positioned = [n for n in sorted(by_name) if by_name[n].status == POSITION]
        if positioned and len(positioned) < len(by_name):
            disagreements += 1
        if len(positioned) < 2:
            continue
        shared += 1
        xy = np.array([[by_name[n].x, by_name[n].y] for n in positioned], dtype=float)
        a, b = np.triu_indices(len(positioned), k=1)
        distances = np.hypot(*(xy[a] - xy[b]).T)
        for i, j, d in zip(a.tolist(), b.tolist(), distances.tolist()):
            rows.append((*key, positioned[i], positioned[j], d))
    table = pd.DataFrame(
        rows,
        columns=["recording", "frame", "bodypart", "annotator_a", "annotator_b", "distance_px"],
    ).astype({"frame": "int64", "distance_px": "float64"})
    d = table["distance_px"].to_numpy()
    summary = {
        "median_px": float(np.median(d)) if d.size else math.nan,
        "p90_px": float(np.percentile(d, 90)) if d.size else math.nan,
        "mean_px": float(d.mean()) if d.size else math.nan,
        "max_px": float(d.max()) if d.size else math.nan,
    }
    if d.size:
        by_pair = (
            table.groupby(["annotator_a", "annotator_b"], sort=True)["distance_px"]
            .agg(n="size", median_px="median", p90_px=lambda s: float(np.percentile(s, 90)))
            .reset_index()
        )
    else:
        by_pair = pd.DataFrame(columns=["annotator_a", "annotator_b", "n", "median_px", "p90_px"])
    return Agreement(
        distances=table,
        by_pair=by_pair,
        n_annotators=len(names),
        n_shared_samples=shared,
        n_pairs=len(table),
        visibility_disagreements=disagreements,
        median_px=summary["median_px"],
        p90_px=summary["p90_px"],
        mean_px=summary["mean_px"],
        max_px=summary["max_px"],
    )


def mean_click_annotations(
    annotations: AnnotatorInput, min_annotators: int = 1
) -> dict[SampleKey, Annotation]:
    """One annotation per sample at the mean of the annotators' clicks, ready to fit.

    Parameters
    ----------
    annotations
        As for :func:`annotator_agreement`.
    min_annotators
        Keep only samples positioned by at least this many annotators (2:
        only the shared ones).

    Returns
    -------
    dict
        ``{sample_key: Annotation}``: the mean position of the clicks, with
        ``annotator`` the ``+``-joined names and ``annotated_at`` the latest
        click; a sample nobody positioned but someone marked not visible (and
        ``min_annotators`` is 1) is kept as not visible. Pass it as
        ``records`` to :func:`fit_project` or to
        :func:`~kpcal_core.annotations.save_annotations`.
    """
    min_annotators = check_whole(min_annotators, "min_annotators", 1)
    grouped = _group_by_annotator(annotations)
    by_key: dict[SampleKey, list[tuple[str, Annotation]]] = {}
    for name in sorted(grouped):
        for key, ann in grouped[name].items():
            if ann.status != CLEARED:
                by_key.setdefault(key, []).append((name, ann))
    out: dict[SampleKey, Annotation] = {}
    for key in sorted(by_key):
        entries = by_key[key]
        positioned = [(n, a) for n, a in entries if a.status == POSITION]
        video_frame = next((a.video_frame for _, a in entries if a.video_frame is not None), None)
        latest = max(a.annotated_at for _, a in entries)
        if len(positioned) >= min_annotators:
            xy = np.array([[a.x, a.y] for _, a in positioned], dtype=float).mean(axis=0)
            out[key] = Annotation(
                float(xy[0]),
                float(xy[1]),
                "+".join(n for n, _ in positioned),
                max(a.annotated_at for _, a in positioned),
                POSITION,
                video_frame,
            )
        elif not positioned and min_annotators == 1:
            out[key] = Annotation(
                math.nan,
                math.nan,
                "+".join(n for n, _ in entries),
                latest,
                NOT_VISIBLE,
                video_frame,
            )
    return out


# --------------------------------------------------------------------------- bias and flags

#: Shared samples an annotator needs before they can be flagged.
FLAG_MIN_SHARED = 5
#: Smallest mean offset (px) from the others' clicks that flags an annotator.
FLAG_OFFSET_PX = 3.0
#: Smallest mean difference in ``log10(error + 1)`` from the others' that flags an annotator.
FLAG_LOG = 0.1
#: A shared sample is worth a review when its clicks are this many times farther apart
#: than the median distance between annotators, and at least :data:`DISAGREE_MIN_PX`.
DISAGREE_FACTOR = 3.0
DISAGREE_MIN_PX = 5.0

BIAS_COLUMNS = (
    "annotator",
    "n_shared",
    "offset_x_px",
    "offset_y_px",
    "offset_px",
    "spread_px",
    "bias_log10",
    "spread_log10",
    "flagged",
)


def annotator_bias(
    annotations: AnnotatorInput,
    predictions: Mapping[SampleKey, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """Each annotator's bias and spread against the consensus of everyone's clicks.

    On every sample an annotator positioned with at least one other person:
    their click minus the median of all the sample's clicks (px; with two
    annotators, their midpoint), and ``log10(error + 1)`` of their click minus
    the median over the sample's clicks (the line's units; ``error`` is the
    distance to the network's prediction). With three or more annotators the
    median is the others' consensus, so one annotator off does not make the
    others look off.

    Parameters
    ----------
    annotations
        As for :func:`annotator_agreement`.
    predictions
        ``{sample_key: (x, y)}`` the network's position of each sample; without
        it the ``log10`` columns are NaN.

    Returns
    -------
    pandas.DataFrame
        One row per annotator with a shared sample, columns :data:`BIAS_COLUMNS`:
        ``n_shared``; ``offset_x_px``, ``offset_y_px``, ``offset_px`` the mean
        offset and its length; ``spread_px`` the root mean square distance
        from the others' mean after removing the offset; ``bias_log10`` and
        ``spread_log10`` the mean and standard deviation of the error
        difference; ``flagged`` when, over at least :data:`FLAG_MIN_SHARED`
        shared samples, ``offset_px >= FLAG_OFFSET_PX`` or ``|bias_log10| >=
        FLAG_LOG``, in either case by more than twice the standard error of the
        mean (:data:`kpcal_core.sentences.FLAG_RULE` says it in words).
    """
    clicks = _independent(_group_by_annotator(annotations))
    diffs: dict[str, list[tuple[float, float, float]]] = {}
    for key, by_name in clicks.items():
        positioned = {n: a for n, a in by_name.items() if a.status == POSITION}
        if len(positioned) < 2:
            continue
        prediction = None if predictions is None else predictions.get(key)
        mx = float(np.median([a.x for a in positioned.values()]))
        my = float(np.median([a.y for a in positioned.values()]))
        logs = {}
        if prediction is not None and all(map(math.isfinite, prediction)):
            px, py = prediction
            logs = {
                n: math.log10(math.hypot(a.x - px, a.y - py) + 1) for n, a in positioned.items()
            }
        middle = float(np.median(list(logs.values()))) if logs else math.nan
        for name, ann in positioned.items():
            dlog = logs[name] - middle if logs else math.nan
            diffs.setdefault(name, []).append((ann.x - mx, ann.y - my, dlog))
    rows = []
    for name in sorted(diffs):
        d = np.array(diffs[name], dtype=float)
        n = len(d)
        off = d[:, :2].mean(axis=0)
        centred = d[:, :2] - off
        spread = float(np.sqrt((centred**2).sum(axis=1).mean()))
        logs = d[:, 2][np.isfinite(d[:, 2])]
        bias_log = float(logs.mean()) if logs.size else math.nan
        spread_log = float(logs.std(ddof=1)) if logs.size > 1 else math.nan
        offset = float(np.hypot(*off))
        se_offset = spread / math.sqrt(n) if n > 1 else math.inf
        se_log = spread_log / math.sqrt(logs.size) if logs.size > 1 else math.inf
        flagged = n >= FLAG_MIN_SHARED and (
            (offset >= FLAG_OFFSET_PX and offset > 2 * se_offset)
            or (
                math.isfinite(bias_log) and abs(bias_log) >= FLAG_LOG and abs(bias_log) > 2 * se_log
            )
        )
        rows.append(
            (name, n, float(off[0]), float(off[1]), offset, spread, bias_log, spread_log, flagged)
        )
    return pd.DataFrame(rows, columns=list(BIAS_COLUMNS)).astype(
        {"n_shared": "int64", "flagged": "bool"}
    )


def disagreeing_samples(annotations: AnnotatorInput) -> list[SampleKey]:
    """Shared samples whose independent clicks are far apart: worth a review.

    Far: the largest distance between two clicks of the sample is at least
    :data:`DISAGREE_FACTOR` times the median distance over all shared samples
    and at least :data:`DISAGREE_MIN_PX`.
    """
    clicks = _independent(_group_by_annotator(annotations))
    widest: dict[SampleKey, float] = {}
    for key, by_name in clicks.items():
        xy = np.array([[a.x, a.y] for a in by_name.values() if a.status == POSITION], float)
        if len(xy) < 2:
            continue
        i, j = np.triu_indices(len(xy), k=1)
        widest[key] = float(np.hypot(*(xy[i] - xy[j]).T).max())
    if not widest:
        return []
    limit = max(DISAGREE_FACTOR * float(np.median(list(widest.values()))), DISAGREE_MIN_PX)
    return sorted(k for k, d in widest.items() if d >= limit)
