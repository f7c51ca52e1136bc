"""The annotations file: ``{project_dir}/error_annotations.csv``.

An annotation is the position a person clicked as the true place of one
sampled keypoint, keyed by the sample ``(recording, frame, bodypart)``.

The file keeps keypoint-MoSeq's layout: six ``#`` comment lines, then the
columns ``key,coordinate_index,video_frame_index,bodypart,x,y``, then this
project's extra columns ``annotator,annotated_at,status,corrects`` (who
clicked, when in UTC ISO 8601, what kind of edit, and whose click a review
corrects). It is written with proper CSV quoting, so any recording name
survives, and always atomically. The reader also takes keypoint-MoSeq's own
file and its older ``key,frame,bodypart,x,y`` file.

Several annotators (issue 23): the file holds one row per sample *and*
annotator (:data:`RowKey`); within one annotator's rows of a sample the newer
edit wins (:func:`merge_records` on rows), and no annotator's row replaces
another's. What the fit and every count use is one annotation per sample
(:func:`combine_rows`): the mean of its annotators' positions, leaving out a
click a reviewer corrected (a row whose ``corrects`` names that annotator).
A file with one row per sample (every file written before) reads exactly as
before.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .errors import KpcalError
from .samplekeys import SampleKey, check_sample_key
from .textio import read_user_text

ANNOTATIONS_FILENAME = "error_annotations.csv"
HEADER_COMMENTS = (
    "# key: recording name",
    "# coordinate_index: index of the keypoint data in coordinates "
    "(same as video_frame_index if every frame was used)",
    "# video_frame_index: frame number in the video",
    "# bodypart: name of the bodypart that was annotated",
    "# x: x-coordinate of the annotated keypoint",
    "# y: y-coordinate of the annotated keypoint",
)
COLUMNS = ("key", "coordinate_index", "video_frame_index", "bodypart", "x", "y")
EXTRA_COLUMNS = ("annotator", "annotated_at", "status", "corrects")
#: ``status`` values: a clicked position, a bodypart marked not visible in its
#: frame, and a cleared annotation (kept only in the working copy, so that a
#: clear made in one session wins over an older click saved by another).
POSITION, NOT_VISIBLE, CLEARED = "", "not_visible", "cleared"
STATUSES = (POSITION, NOT_VISIBLE, CLEARED)
OLD_COLUMNS = ("key", "frame", "bodypart", "x", "y")


@dataclass(frozen=True)
class Annotation:
    """One annotation of a sample: a clicked position in full-frame video pixels.

    ``status`` is ``""`` for a position, ``"not_visible"`` when the person
    marked the bodypart as not visible (x and y are NaN), ``"cleared"`` when
    an earlier annotation was removed. ``video_frame`` is the video frame
    number read from a file, kept for recordings whose keypoints are not loaded.
    """

    x: float
    y: float
    annotator: str = ""
    annotated_at: str = ""
    status: str = POSITION
    video_frame: int | None = field(default=None, compare=False)
    #: the annotator whose click of this sample this one corrects (a review), or ""
    corrects: str = ""
    #: the rows one per annotator a combined annotation was made of (:func:`combine_rows`);
    #: empty for a sample with one row (the annotation is that row)
    rows: tuple[Annotation, ...] = field(default=(), compare=False, repr=False)

    @property
    def xy(self) -> tuple[float, float]:
        """``(x, y)``, the clicked position in video pixels (NaN when there is none)."""
        return (self.x, self.y)

    @property
    def has_position(self) -> bool:
        """Whether the annotation is a clicked position (not cleared, not "not visible")."""
        return self.status == POSITION

    @property
    def own_rows(self) -> tuple[Annotation, ...]:
        """Each annotator's row of the sample: :attr:`rows`, or this annotation itself."""
        return self.rows or (self,)

    def row_of(self, annotator: str) -> Annotation | None:
        """``annotator``'s own row of the sample, or ``None``."""
        return next((r for r in self.own_rows if r.annotator == annotator), None)

    def annotators(self) -> list[str]:
        """Who has a row (not cleared) for the sample, in name order."""
        return sorted({r.annotator for r in self.own_rows if r.status != CLEARED})


#: One row of the file: ``(sample_key, annotator)``.
RowKey = tuple[SampleKey, str]


def is_row_key(key: object) -> bool:
    """True for a ``(sample_key, annotator)`` key, False for a sample key."""
    return isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], tuple)


def expand_records(records: Mapping) -> dict[RowKey, Annotation]:
    """``{(sample_key, annotator): Annotation}``: every annotator's row of ``records``.

    ``records`` may be keyed by sample (values combined by :func:`combine_rows`
    keep their rows; a plain ``(x, y)`` becomes an unnamed position) or by row.
    """
    out: dict[RowKey, Annotation] = {}
    for key, value in records.items():
        if is_row_key(key):
            sample, name = check_sample_key(key[0]), str(key[1])
            ann = _as_annotation(sample, value)
            if ann.annotator != name:
                raise KpcalError(
                    f"annotation of sample {sample} is keyed to annotator {name!r} "
                    f"but made by {ann.annotator!r}"
                )
            out[(sample, name)] = ann
            continue
        sample = check_sample_key(key)
        ann = _as_annotation(sample, value)
        for row in ann.own_rows:
            out[(sample, row.annotator)] = row
    return out


def combine_rows(rows: Mapping[RowKey, Annotation]) -> dict[SampleKey, Annotation]:
    """One annotation per sample from every annotator's rows: what the fit uses.

    The rule: the mean of the positions of the annotators who clicked the
    sample, leaving out a click a reviewer corrected (an older row of the
    annotator named in a reviewer's ``corrects``); with no position, "not
    visible" when someone marked it so, else cleared. A sample with one row is
    that row, unchanged; otherwise the annotation holds every row in
    :attr:`Annotation.rows` (name order), ``annotator`` the ``+``-joined names
    of those averaged and ``annotated_at`` the newest edit.
    """
    by_sample: dict[SampleKey, list[Annotation]] = {}
    for (sample, _), ann in rows.items():
        by_sample.setdefault(sample, []).append(ann)
    out: dict[SampleKey, Annotation] = {}
    for sample, anns in by_sample.items():
        if len(anns) == 1:
            out[sample] = replace(anns[0], rows=()) if anns[0].rows else anns[0]
            continue
        anns.sort(key=lambda a: a.annotator)
        out[sample] = _combined(anns)
    return out


def _combined(anns: list[Annotation]) -> Annotation:
    live = [a for a in anns if a.status != CLEARED]
    corrected_at: dict[str, str] = {}
    for a in live:
        if a.corrects and a.has_position:
            corrected_at[a.corrects] = max(corrected_at.get(a.corrects, ""), a.annotated_at)
    used = [
        a
        for a in live
        if not (a.annotator in corrected_at and a.annotated_at <= corrected_at[a.annotator])
    ]
    positions = [a for a in used if a.has_position]
    newest = max(a.annotated_at for a in anns)
    video_frame = next((a.video_frame for a in anns if a.video_frame is not None), None)
    if positions:
        x = float(np.mean([a.x for a in positions]))
        y = float(np.mean([a.y for a in positions]))
        names, status = [a.annotator for a in positions], POSITION
    elif used:
        x = y = math.nan
        names, status = [a.annotator for a in used], NOT_VISIBLE
    else:
        x = y = math.nan
        names, status = [max(anns, key=lambda a: a.annotated_at).annotator], CLEARED
    return Annotation(x, y, "+".join(names), newest, status, video_frame, rows=tuple(anns))


def now_utc() -> str:
    """The current time as UTC ISO 8601 with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def annotations_path(project_dir: str | os.PathLike) -> Path:
    """``error_annotations.csv`` of a project."""
    return Path(project_dir) / ANNOTATIONS_FILENAME


def _as_annotation(key: SampleKey, value) -> Annotation:
    if isinstance(value, Annotation):
        ann = value
    else:
        try:
            x, y = value
            ann = Annotation(float(x), float(y))
        except (TypeError, ValueError):
            raise KpcalError(
                f"annotation of sample {key} must be an (x, y) pair of numbers, got {value!r}"
            ) from None
    if ann.status not in STATUSES:
        raise KpcalError(f"annotation of sample {key} has unknown status {ann.status!r}")
    if ann.has_position and not (math.isfinite(ann.x) and math.isfinite(ann.y)):
        raise KpcalError(f"annotation of sample {key} is not a finite position: ({ann.x}, {ann.y})")
    return ann


def format_annotations(
    annotations: Mapping[SampleKey, object] | Mapping[RowKey, object],
    video_frame_indexes: Mapping[str, np.ndarray] | None,
) -> str:
    """The CSV text :func:`save_annotations` writes (keyed by sample or by row)."""
    buffer = io.StringIO()
    buffer.write("\n".join(HEADER_COMMENTS) + "\n")
    writer = csv.writer(buffer, lineterminator="\n")
    # csv quotes "\n" but not a lone "\r" (not in the line terminator); a row holding one
    # is written fully quoted so the reader does not take the "\r" for a line end.
    quoted_writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(COLUMNS + EXTRA_COLUMNS)
    for (key, _), ann in expand_records(annotations).items():
        recording, frame, bodypart = key
        if video_frame_indexes is None:
            video_frame = frame if ann.video_frame is None else ann.video_frame
        elif recording not in video_frame_indexes and ann.video_frame is not None:
            video_frame = ann.video_frame  # a recording not loaded here: keep what was read
        else:
            if recording not in video_frame_indexes:
                raise KpcalError(f"recording {recording!r} has no entry in video_frame_indexes")
            indexes = video_frame_indexes[recording]
            if not 0 <= frame < len(indexes):
                raise KpcalError(
                    f"recording {recording!r}: annotated frame {frame} is outside its "
                    f"{len(indexes)} keypoint frames"
                )
            video_frame = int(indexes[frame])
        row = [
            recording,
            frame,
            video_frame,
            bodypart,
            repr(float(ann.x)) if ann.has_position else "",
            repr(float(ann.y)) if ann.has_position else "",
            ann.annotator,
            ann.annotated_at,
            ann.status,
            ann.corrects,
        ]
        if any("\r" in str(cell) for cell in row):
            quoted_writer.writerow(row)
        else:
            writer.writerow(row)
    return buffer.getvalue()


def save_annotations(
    project_dir: str | os.PathLike,
    annotations: Mapping[SampleKey, object] | Mapping[RowKey, object],
    video_frame_indexes: Mapping[str, np.ndarray] | None,
) -> Path:
    """Write ``{project_dir}/error_annotations.csv`` atomically.

    Parameters
    ----------
    project_dir
        Project folder (must exist).
    annotations
        ``{(recording, frame, bodypart): (x, y)}``; values may also be
        :class:`Annotation` records, whose annotator and time are kept (a
        combined one writes each of its rows), or keyed by
        ``(sample_key, annotator)`` rows (:data:`RowKey`).
    video_frame_indexes
        ``{recording: (T,) int array}`` giving the video frame of each keypoint
        frame; ``None`` when they are the same.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    folder = Path(project_dir)
    if not folder.is_dir():
        raise KpcalError(f"project folder {str(folder)!r} does not exist")
    text = format_annotations(annotations, video_frame_indexes)  # raises before writing
    return atomic_write(annotations_path(folder), text)


def parse_annotations(text: str, source: str = ANNOTATIONS_FILENAME) -> dict[SampleKey, Annotation]:
    """Parse annotation CSV text (this project's, keypoint-MoSeq's, or the older layout).

    One annotation per sample (:func:`combine_rows` of :func:`parse_annotation_rows`).
    Raises :class:`KpcalError` naming ``source`` and the line at fault.
    """
    return combine_rows(parse_annotation_rows(text, source))


def parse_annotation_rows(
    text: str, source: str = "error_annotations.csv"
) -> dict[RowKey, Annotation]:
    """``{(sample_key, annotator): Annotation}`` from annotation CSV text.

    Within one annotator's rows of a sample the newer edit wins. Raises
    :class:`KpcalError` naming ``source`` and the line at fault.
    """
    lines = text.splitlines(keepends=True)
    skipped = 0
    while skipped < len(lines) and (lines[skipped].startswith("#") or not lines[skipped].strip()):
        skipped += 1
    body = "".join(lines[skipped:])
    if not body.strip():
        raise KpcalError(f"{source}: no header line (expected columns {', '.join(COLUMNS)})")
    try:
        rows = list(csv.reader(io.StringIO(body, newline="")))
    except csv.Error as error:
        raise KpcalError(f"{source}: not a readable CSV file ({error})") from None
    if body.count('"') % 2:  # a quoted field may be open at the end: a truncated file
        try:
            list(csv.reader(io.StringIO(body, newline=""), strict=True))
        except csv.Error as error:
            if "unexpected end of data" in str(error):
                raise KpcalError(
                    f"{source}: the file ends inside a quoted field: it looks truncated"
                ) from None
    header = [h.strip() for h in rows[0]]
    if tuple(header[: len(COLUMNS)]) == COLUMNS:
        frame_col, has_video = "coordinate_index", True
    elif tuple(header[: len(OLD_COLUMNS)]) == OLD_COLUMNS:
        frame_col, has_video = "frame", False
    else:
        raise KpcalError(
            f"{source}: unexpected columns {header}; expected "
            f"{', '.join(COLUMNS)} (or the older {', '.join(OLD_COLUMNS)})"
        )
    out: dict[RowKey, Annotation] = {}
    line_of_row = (
        skipped + 2
    )  # 1-based line number of the first data row (approximate with quoted newlines)
    # Every writer ends each row with a line break: a last row without one and with
    # missing fields is a truncated file (its last value may be cut short), not data.
    unterminated = len(rows) - 2 if not body.endswith(("\n", "\r")) else -1
    for n, row in enumerate(rows[1:]):
        where = f"{source}, data row {n + 1} (near line {line_of_row + n})"
        if not row or all(not cell.strip() for cell in row):
            continue
        required = len(COLUMNS) if has_video else len(OLD_COLUMNS)
        if len(row) < required or len(row) > len(header):
            raise KpcalError(f"{where}: {len(row)} fields, expected {len(header)}")
        if n == unterminated and len(row) < len(header):
            raise KpcalError(
                f"{where}: {len(row)} fields, expected {len(header)}, and the file ends "
                "without a line break: it looks truncated"
            )
        cells = dict(zip(header, row))
        recording, bodypart = cells["key"], cells["bodypart"]
        if recording == "" or bodypart == "":
            raise KpcalError(f"{where}: empty recording name or bodypart")
        status = (cells.get("status") or "").strip()
        if status not in STATUSES:
            raise KpcalError(
                f"{where}: unknown status {status!r} (expected one of {STATUSES[1:]} or empty)"
            )
        try:
            frame = int(cells[frame_col])
            if status == POSITION:
                x, y = float(cells["x"]), float(cells["y"])
            else:
                x = float(cells["x"]) if cells["x"].strip() else math.nan
                y = float(cells["y"]) if cells["y"].strip() else math.nan
        except ValueError:
            raise KpcalError(
                f"{where}: frame must be a whole number and x, y numbers; got "
                f"{cells[frame_col]!r}, {cells['x']!r}, {cells['y']!r}"
            ) from None
        if frame < 0:
            raise KpcalError(f"{where}: negative frame {frame}")
        if status == POSITION and not (math.isfinite(x) and math.isfinite(y)):
            raise KpcalError(f"{where}: position ({x}, {y}) is not finite")
        video_frame = None
        if has_video:
            try:
                video_frame = int(cells["video_frame_index"])
            except ValueError:
                raise KpcalError(
                    f"{where}: video_frame_index {cells['video_frame_index']!r} is not a whole number"
                ) from None
        ann = Annotation(
            x,
            y,
            cells.get("annotator", "") or "",
            cells.get("annotated_at", "") or "",
            status,
            video_frame,
            (cells.get("corrects", "") or "").strip(),
        )
        key = ((recording, frame, bodypart), ann.annotator)
        previous = out.get(key)
        if previous is None or ann.annotated_at >= previous.annotated_at:
            out[key] = ann
    return out


def load_annotation_records(project_dir: str | os.PathLike) -> dict[SampleKey, Annotation]:
    """``{sample_key: Annotation}`` from the project's file; ``{}`` if there is none."""
    return combine_rows(load_annotation_rows(project_dir))


def load_annotation_rows(project_dir: str | os.PathLike) -> dict[RowKey, Annotation]:
    """``{(sample_key, annotator): Annotation}`` from the project's file; ``{}`` if none."""
    path = annotations_path(project_dir)
    if not path.exists():
        return {}
    return parse_annotation_rows(read_user_text(path), str(path))


def load_annotations(project_dir: str | os.PathLike) -> dict[SampleKey, tuple[float, float]]:
    """Reload saved annotations as keypoint-MoSeq does.

    Returns
    -------
    dict
        ``{(recording, frame, bodypart): (x, y)}``, the form
        :func:`save_annotations` takes; ``{}`` when the file does not exist.
    """
    records = load_annotation_records(project_dir)
    return {key: ann.xy for key, ann in records.items() if ann.has_position}


def annotation_counts(records: Mapping[SampleKey, object] | Iterable[object]) -> dict[str, int]:
    """How many annotations are positions, not visible, and cleared.

    Only positions enter the fit; samples marked not visible are kept in the
    CSV and counted here; cleared ones are edits that removed an annotation.

    Parameters
    ----------
    records
        ``{sample_key: Annotation}`` (e.g. :func:`~kpcal_core.project.load_working_annotations`)
        or an iterable of :class:`~kpcal_core.annotations.Annotation`;
        plain ``(x, y)`` values count as positions.

    Returns
    -------
    dict
        ``{"positions": int, "not_visible": int, "cleared": int}``.
    """
    values = records.values() if isinstance(records, Mapping) else records
    counts = {"positions": 0, "not_visible": 0, "cleared": 0}
    for value in values:
        status = getattr(value, "status", POSITION)
        if status == POSITION:
            counts["positions"] += 1
        elif status == NOT_VISIBLE:
            counts["not_visible"] += 1
        elif status == CLEARED:
            counts["cleared"] += 1
        else:
            raise KpcalError(f"annotation {value!r} has unknown status {status!r}")
    return counts


def merge_records(disk: Mapping, local: Mapping) -> dict:
    """Union of two sets of annotations; for a key in both, the newer edit wins.

    Keyed by row (``(sample_key, annotator)``, what the project's save merges:
    an annotator's newer edit wins over their own older one, never over
    another's) or by sample. Edits are compared by ``annotated_at`` (UTC ISO
    text sorts by time); on a tie the local edit wins. Cleared annotations take
    part like any edit, so a clear made after a click elsewhere removes it.
    """
    merged = dict(disk)
    for key, ann in local.items():
        other = merged.get(key)
        if other is None or ann.annotated_at >= other.annotated_at:
            merged[key] = ann
    return merged
