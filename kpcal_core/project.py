"""Everything the app needs about one project, and how its work is saved.

:func:`load_project_data` gathers a project's config, calibration session,
keypoints (from the keypoint files named in the session, or the arrays a
notebook stored) and the video of each recording. :func:`draw_samples`
samples again while keeping every annotated sample.

Saving follows keypoint-MoSeq's autosave rule for the files keypoint-MoSeq
reads: nothing is written to ``error_annotations.csv`` or ``config.yml``
before :data:`AUTOSAVE_MIN_ANNOTATIONS` annotations; from then on every
change saves all annotations and the fitted parameters. So that no click is
ever lost before that, every change is also written at once to a working
copy, ``calibration/annotations_draft.csv`` (same format), which is merged
back in when the project is opened again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from filelock import FileLock

from .annotations import (
    CLEARED,
    NOT_VISIBLE,
    POSITION,
    Annotation,
    annotations_path,
    format_annotations,
    load_annotation_records,
    merge_records,
    parse_annotations,
    save_annotations,
)
from .atomic import atomic_write
from .calibration import merge_samples
from .config import load_config, save_params, update_config
from .errors import KpcalError
from .fitting import error_points, fit_points
from .keypoints import load_keypoints
from .logs import log_event
from .sampling import sample_error_frames
from .session import CalibrationSession, load_session, load_session_keypoints, session_dir
from .videos import match_videos

SampleKey = tuple[str, int, str]

AUTOSAVE_MIN_ANNOTATIONS = 20
DRAFT_FILENAME = "annotations_draft.csv"
LOCK_FILENAME = ".kpcal.lock"


@dataclass
class ProjectData:
    """A project's keypoints, videos and settings, ready to sample and annotate.

    Attributes
    ----------
    coordinates
        ``{recording: (T, K, 2)}``.
    confidences
        ``{recording: (T, K)}``.
    bodyparts
        The ``K`` names.
    video_frame_indexes
        ``{recording: (T,)}`` video frame of each keypoint frame.
    video_paths
        ``{recording: video path or None}``.
    """

    project_dir: Path
    config: dict
    session: CalibrationSession
    coordinates: dict[str, np.ndarray]
    confidences: dict[str, np.ndarray]
    bodyparts: list[str]
    video_frame_indexes: dict[str, np.ndarray]
    video_paths: dict[str, str | None] = field(default_factory=dict)

    @property
    def use_bodyparts(self) -> list[str]:
        use = self.config.get("use_bodyparts") or self.bodyparts
        return [b for b in use if b in self.bodyparts] or list(self.bodyparts)

    @property
    def conf_pseudocount(self) -> float:
        return float(self.session.conf_pseudocount)


def resolve(project_dir: str | os.PathLike, path: str | os.PathLike | None) -> Path | None:
    """``path`` as given, or relative to the project folder when it is relative."""
    if path in (None, ""):
        return None
    p = Path(os.path.expanduser(str(path)))
    return p if p.is_absolute() else Path(project_dir) / p


def video_dir_of(
    project_dir: str | os.PathLike, session: CalibrationSession, config: dict
) -> Path | None:
    """The video folder: the session's, else the config's ``video_dir``."""
    return resolve(project_dir, session.video_dir or config.get("video_dir") or None)


def load_project_data(
    project_dir: str | os.PathLike, session: CalibrationSession | None = None
) -> ProjectData:
    """Load a project's keypoints and match its videos.

    Raises :class:`KpcalError` when the project has no keypoints yet (no
    keypoint files in the session and none stored) or they cannot be read.
    """
    project_dir = Path(project_dir)
    config = load_config(project_dir)
    session = (
        session if session is not None else (load_session(project_dir) or CalibrationSession())
    )
    stored = load_session_keypoints(project_dir) if not session.keypoints_path else None
    if stored is not None:
        coordinates, confidences, bodyparts, indexes = stored
    elif session.keypoints_path:
        source = resolve(project_dir, session.keypoints_path)
        coordinates, confidences, bodyparts = load_keypoints(
            str(source), session.keypoints_format or None
        )
        indexes = {name: np.arange(len(c)) for name, c in coordinates.items()}
    else:
        raise KpcalError(
            f"project {str(project_dir)!r} has no keypoints yet: choose the keypoint files on the setup page"
        )
    video_dir = video_dir_of(project_dir, session, config)
    if video_dir is not None and video_dir.is_dir():
        matched = match_videos(
            coordinates,
            video_dir,
            recording_name_suffix=session.recording_name_suffix,
            video_extension=session.video_extension,
        )
    else:
        matched = dict.fromkeys(coordinates)
    video_paths = {k: (str(v) if v is not None else None) for k, v in matched.items()}
    for name, path in session.video_paths.items():
        if name in video_paths and path and Path(path).exists():
            video_paths[name] = str(path)
    return ProjectData(
        project_dir=project_dir,
        config=config,
        session=session,
        coordinates=coordinates,
        confidences=confidences,
        bodyparts=list(bodyparts),
        video_frame_indexes=indexes,
        video_paths=video_paths,
    )


def draw_samples(
    data: ProjectData,
    annotated: Sequence[SampleKey],
    *,
    use_bodyparts: Sequence[str],
    num_bins: int,
    num_samples: int,
    conf_pseudocount: float,
    seed: int | None,
) -> list[SampleKey]:
    """New samples, with every already annotated sample kept first in the list."""
    samples = sample_error_frames(
        data.confidences,
        data.bodyparts,
        use_bodyparts,
        num_bins,
        num_samples,
        conf_pseudocount,
        coordinates=data.coordinates,
        seed=seed,
    )
    return merge_samples(samples, [k for k in annotated if k[0] in data.coordinates])


# --------------------------------------------------------------------------- saving work


def draft_path(project_dir: str | os.PathLike) -> Path:
    return session_dir(project_dir) / DRAFT_FILENAME


def lock_path(project_dir: str | os.PathLike) -> Path:
    return Path(project_dir) / LOCK_FILENAME


def project_lock(project_dir: str | os.PathLike, timeout: float = 60.0) -> FileLock:
    """The lock every writer of a project's annotations and config takes (several sessions)."""
    return FileLock(str(lock_path(project_dir)), timeout=timeout)


def _read_text(path: Path) -> str:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:  # as load_annotation_records
            return handle.read()
    except UnicodeDecodeError as error:
        raise KpcalError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def load_working_annotations(project_dir: str | os.PathLike) -> dict[SampleKey, Annotation]:
    """Saved annotations merged with the working copy (the newer edit of a sample wins).

    Includes cleared and not-visible entries (see :class:`Annotation`); a
    corrupt file raises :class:`KpcalError` naming it (nothing is replaced).
    """
    records = dict(load_annotation_records(project_dir))
    path = draft_path(project_dir)
    if path.exists():
        records = merge_records(records, parse_annotations(_read_text(path), str(path)))
    return records


def count_annotations(records: Mapping[SampleKey, Annotation]) -> tuple[int, int]:
    """``(positions, not visible)`` among the records (cleared ones are not counted)."""
    positions = sum(1 for a in records.values() if a.status == POSITION)
    hidden = sum(1 for a in records.values() if a.status == NOT_VISIBLE)
    return positions, hidden


def broken_annotation_files(project_dir: str | os.PathLike) -> list[Path]:
    """The project's annotation files (CSV, working copy) that cannot be read."""
    broken = []
    for path in (annotations_path(project_dir), draft_path(project_dir)):
        if path.exists():
            try:
                parse_annotations(_read_text(path), str(path))
            except KpcalError:
                broken.append(path)
    return broken


def backup_file(path: str | os.PathLike) -> Path:
    """Move a file the user chose to start over from aside, as ``NAME.broken-YYYYmmddTHHMMSS``."""
    path = Path(path)
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.broken-{stamp}-{n}")
        n += 1
    os.replace(path, target)
    return target


def usable_annotations(
    data: ProjectData, records: Mapping[SampleKey, Annotation]
) -> dict[SampleKey, Annotation]:
    """The annotations a fit uses: positions (not cleared, not "not visible") of loaded
    recordings and bodyparts."""
    return {
        key: ann
        for key, ann in records.items()
        if getattr(ann, "status", POSITION) == POSITION
        and key[0] in data.coordinates
        and key[2] in data.bodyparts
    }


@dataclass
class SaveResult:
    """What a save wrote.

    Attributes
    ----------
    records
        Every annotation of the project after merging with what other
        sessions saved: the caller shows these from now on.
    n_annotations
        Positions among them (what the fit uses).
    exported
        True when ``error_annotations.csv`` (and, with a fit, ``config.yml``) were written.
    fit
        The fit saved, or ``None``.
    message
        A sentence for the user.
    """

    records: dict[SampleKey, Annotation]
    n_annotations: int
    exported: bool
    fit: dict | None
    message: str


def save_work(
    data: ProjectData,
    records: Mapping[SampleKey, Annotation],
    *,
    conf_threshold: float | None = None,
    force_export: bool = False,
    user: str | None = None,
) -> SaveResult:
    """Save after a change, merging with what other sessions saved meanwhile.

    Under the project's file lock: read the annotations on disk, merge them
    with ``records`` by sample (the newer edit wins; each keeps its annotator
    and time), write the working copy, and from
    :data:`AUTOSAVE_MIN_ANNOTATIONS` positions on (or once the CSV exists)
    ``error_annotations.csv`` and the fitted slope and intercept.

    Parameters
    ----------
    data
        The project.
    records
        This session's view of every annotation, ``{sample_key: Annotation}``.
    conf_threshold
        Saved with the fit; default: the config's value.
    force_export
        Write ``error_annotations.csv`` (and the fit, if one can be made) even
        below the autosave minimum.
    user
        Who saved, for the log line (:func:`kpcal_core.logs.log_event`); default:
        the annotator of the newest record in ``records``.
    """
    project_dir = data.project_dir
    session_dir(project_dir).mkdir(parents=True, exist_ok=True)
    with project_lock(project_dir):
        merged = merge_records(load_working_annotations(project_dir), records)
        atomic_write(draft_path(project_dir), format_annotations(merged, data.video_frame_indexes))
        n, _ = count_annotations(merged)
        # Once error_annotations.csv exists it is kept in step with every change (a
        # cleared sample must not come back from it); before that, only from 20 on.
        csv_exists = annotations_path(project_dir).exists()
        if n < AUTOSAVE_MIN_ANNOTATIONS and not force_export and not csv_exists:
            remaining = AUTOSAVE_MIN_ANNOTATIONS - n
            _log_save(project_dir, records, user, n, exported=False)
            return SaveResult(
                merged,
                n,
                False,
                None,
                f"Saved to the working copy ({draft_path(project_dir).name}). keypoint-MoSeq's "
                f"files are written from {AUTOSAVE_MIN_ANNOTATIONS} annotations on: "
                f"{remaining} more to go.",
            )
        exported = {k: v for k, v in merged.items() if v.status != CLEARED}
        save_annotations(project_dir, exported, data.video_frame_indexes)
        usable = usable_annotations(data, merged)
        try:
            fit = fit_points(
                error_points(
                    data.coordinates,
                    data.confidences,
                    usable,
                    data.bodyparts,
                    data.conf_pseudocount,
                )
            )
        except KpcalError:
            fit = None
        if fit is not None:
            config = load_config(project_dir)
            threshold = (
                conf_threshold if conf_threshold is not None else config.get("conf_threshold", 0.5)
            )
            data.config = save_params(
                project_dir,
                {"slope": fit["slope"], "intercept": fit["intercept"], "conf_threshold": threshold},
            )
    _log_save(project_dir, records, user, n, exported=True)
    when = datetime.now().strftime("%H:%M:%S")
    return SaveResult(
        merged, n, True, fit, f"Annotations saved to {annotations_path(project_dir)} at {when}"
    )


def _log_save(
    project_dir: Path,
    records: Mapping[SampleKey, Annotation],
    user: str | None,
    n: int,
    *,
    exported: bool,
) -> None:
    """The ``event=save`` log line of :func:`save_work`."""
    if user is None and records:
        user = max(records.values(), key=lambda r: r.annotated_at or "").annotator
    log_event("save", user=user or "", project=project_dir, annotations=n, exported=exported)


def save_use_bodyparts(project_dir: str | os.PathLike, use_bodyparts: Sequence[str]) -> dict:
    """Set ``use_bodyparts`` in the config, keeping anterior/posterior valid."""
    config = load_config(project_dir)
    use = list(use_bodyparts)
    updates: dict = {"use_bodyparts": use}
    for key, default in (("anterior_bodyparts", use[:1]), ("posterior_bodyparts", use[-1:])):
        kept = [b for b in config.get(key) or [] if b in use]
        updates[key] = kept or default
    return update_config(project_dir, **updates)
