"""Everything the app needs about one project, and how its work is saved.

:func:`load_project_data` gathers a project's config, calibration session,
keypoints (from the keypoint files named in the session, or the arrays a
notebook stored) and the video of each recording (:mod:`kpcal_core.video.match`).

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
    POSITION,
    Annotation,
    RowKey,
    annotation_counts,
    annotations_path,
    combine_rows,
    expand_records,
    format_annotations,
    load_annotation_rows,
    merge_records,
    parse_annotation_rows,
    parse_annotations,
    save_annotations,
)
from .atomic import atomic_write, not_saved, together
from .config import config_path, load_config, save_params, update_config
from .errors import KpcalError, NotSaved
from .fitting import fit_by_method
from .formats import choose_anterior_posterior
from .keypoint_store import position_missing, read_project_keypoints, source_files, stat_entry
from .logs import log_event
from .paths import check_inside_root, check_no_link_out, data_root, resolve_user_path
from .prior import Line, SlopeCheck, saved_line, slope_check
from .samplekeys import SampleKey
from .session import (
    KEYPOINTS_FILENAME,
    CalibrationSession,
    load_session,
    load_session_keypoints,
    make_session_dir,
    session_dir,
    session_path,
)
from .textio import read_user_text
from .video import VideoChoice, resolve_videos
from .wording import count

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
    video_choices
        ``{recording: VideoChoice}``: the video, the rule that found it
        (:data:`kpcal_core.video.match.RULES`) and why.
    skeleton
        Edges stored in the keypoint files (SLEAP, NWB), ``[[a, b], ...]``.
    keypoint_warnings
        Sentences about the keypoint files (e.g. duplicate outputs left out).
    missing
        ``{recording: (T, K) bool}``: True where a keypoint has no position
        (x or y NaN); what sampling needs from the coordinates. Computed from
        ``coordinates`` for recordings not given.
    labelled
        ``{recording: (T, K) bool}``: True where a point was labelled by a person,
        not predicted (SLEAP user instances), for the recordings that have any.
        The arrays keep them (keypoint-MoSeq's, with confidence 1); sampling,
        the planned order and the population leave them out
        (:meth:`never_drawn`).

    Notes
    -----
    Loaded by :func:`load_project_data`, ``coordinates`` are read-only
    memory-mapped arrays (:mod:`kpcal_core.keypoint_store`): index them (one
    frame, a few keypoints) rather than reading them whole.
    """

    project_dir: Path
    config: dict
    session: CalibrationSession
    coordinates: dict[str, np.ndarray]
    confidences: dict[str, np.ndarray]
    bodyparts: list[str]
    video_frame_indexes: dict[str, np.ndarray]
    video_paths: dict[str, str | None] = field(default_factory=dict)
    video_choices: dict[str, VideoChoice] = field(default_factory=dict)
    skeleton: list[list[str]] = field(default_factory=list)
    keypoint_warnings: list[str] = field(default_factory=list)
    missing: dict[str, np.ndarray] = field(default_factory=dict)
    labelled: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, coords in self.coordinates.items():
            if name not in self.missing:
                self.missing[name] = position_missing(np.asarray(coords))

    def never_drawn(self) -> dict[str, np.ndarray]:
        """``{recording: (T, K) bool}``: True where a keypoint is never sampled nor counted.

        Such a keypoint is not in the population: no position, or a human label
        (:attr:`labelled`).

        The ``missing`` masks themselves where a recording has no human label
        (no copy); one combined mask per recording that has any.
        """
        return {
            name: (mask | self.labelled[name]) if name in self.labelled else mask
            for name, mask in self.missing.items()
        }

    def n_labelled(self, use_bodyparts: Sequence[str] | None = None) -> int:
        """Human-labelled points with a position among ``use_bodyparts`` (default: all)."""
        columns = [
            self.bodyparts.index(b)
            for b in (use_bodyparts or self.bodyparts)
            if b in self.bodyparts
        ]
        return sum(
            int((mask[:, columns] & ~self.missing[name][:, columns]).sum())
            for name, mask in self.labelled.items()
            if name in self.missing
        )

    @property
    def use_bodyparts(self) -> list[str]:
        """``config.yml``'s ``use_bodyparts`` that the keypoints have, else every bodypart."""
        use = self.config.get("use_bodyparts") or self.bodyparts
        return [b for b in use if b in self.bodyparts] or list(self.bodyparts)

    @property
    def conf_pseudocount(self) -> float:
        """The session's pseudocount added to every confidence before its log."""
        return float(self.session.conf_pseudocount)


def resolve(project_dir: str | os.PathLike, path: str | os.PathLike | None) -> Path | None:
    """``path`` as given, or relative to the project folder when it is relative.

    Unchecked: see :func:`keypoints_source` and :func:`video_dir_of` for paths read from
    the project's files.
    """
    if path in (None, ""):
        return None
    p = Path(os.path.expanduser(str(path)))
    return p if p.is_absolute() else Path(project_dir) / p


def keypoints_source(project_dir: str | os.PathLike, session: CalibrationSession) -> Path | None:
    """The session's keypoint files (file, folder or glob), relative to the project.

    With a data root, checked like a typed path (every link resolved, what a
    glob matches now included) against the root, the message naming
    ``session.json``; the path is returned as written (so the stored copy of the
    keypoints keeps its key).

    Raises
    ------
    KpcalError
        The path leads outside the data root (or the project, when the project
        lies outside the root: the demo project).
    """
    source = resolve(project_dir, session.keypoints_path)
    if source is not None and session.keypoints_path is not None and data_root() is not None:
        resolve_user_path(
            session.keypoints_path,
            project_dir,
            what="keypoint path",
            project=project_dir,
            source=session_path(project_dir),
        )
    return source


def video_dir_of(
    project_dir: str | os.PathLike, session: CalibrationSession, config: dict
) -> Path | None:
    """The video folder: the session's, else the config's ``video_dir``.

    Raises
    ------
    KpcalError
        With a data root, the folder leads outside it (the message names
        ``session.json`` or ``config.yml``, whichever holds it).
    """
    stored = session.video_dir or config.get("video_dir") or None
    path = resolve(project_dir, stored)
    if path is not None:
        source = session_path(project_dir) if session.video_dir else config_path(project_dir)
        check_inside_root(path, what="video folder", source=source, project=project_dir)
    return path


def source_fingerprint(
    project_dir: str | os.PathLike, session: CalibrationSession, config: dict | None = None
) -> tuple:
    """What a project's loaded keypoints and matched videos depend on, and nothing else.

    The keypoint files' paths, sizes and modification times (or the stored
    ``keypoints.npz``'s), the video folder's, and the session's source settings;
    not the samples or the session's time stamp, so drawing samples or saving
    annotations does not make the keypoints be read again. A path outside the
    data root is not looked at (loading the project says why it is refused).
    """
    files: list[tuple] = [stat_entry(session_dir(project_dir) / KEYPOINTS_FILENAME)]
    if session.keypoints_path:
        try:
            source = keypoints_source(project_dir, session)
        except KpcalError:
            files.append(("refused", session.keypoints_path))
        else:
            files += [stat_entry(f) for f in source_files(source)] if source else []
    if config is None:
        try:
            config = load_config(project_dir)
        except KpcalError:
            config = {}
    try:
        video_dir = video_dir_of(project_dir, session, config)
    except KpcalError:
        video_dir = None
    settings = (
        session.keypoints_path,
        session.keypoints_format,
        session.keypoints_duplicates,
        session.video_extension,
        session.recording_name_suffix,
        tuple(sorted(session.video_paths.items())),
    )
    return (str(project_dir), tuple(files), stat_entry(video_dir) if video_dir else None, settings)


def load_project_data(
    project_dir: str | os.PathLike,
    session: CalibrationSession | None = None,
    *,
    duplicates: str | None = None,
) -> ProjectData:
    """Load a project's keypoints and choose each recording's video.

    Videos are chosen by :func:`kpcal_core.video.match.resolve_videos`:
    the session's per-recording ``video_paths`` (set by the user) win, then
    the video the keypoint file stores, then keypoint-MoSeq's prefix match in
    the video folder. ``duplicates`` (default: the session's
    ``keypoints_duplicates``, ``"unfiltered"``) is passed to
    :func:`kpcal_core.formats.read_keypoints`: which of several outputs for
    one video to load.

    With a data root, every path read from the project's files (the keypoint
    files and video folder in ``session.json``, ``video_dir`` in ``config.yml``,
    the videos the keypoint files store or that were set by hand) must lead
    inside it (:mod:`kpcal_core.paths`); a stored or hand-set video that does
    not is not used (its recording's reason says why).

    Keypoint files are read by
    :func:`kpcal_core.keypoint_store.read_project_keypoints`: one at a time,
    once per change of the files; coordinates are memory-mapped from the
    project's stored copy (in memory when the project folder cannot be
    written), confidences kept in memory as stored.

    Raises :class:`KpcalError` when the project has no keypoints yet (no
    keypoint files in the session and none stored) or they cannot be read.
    """
    project_dir = Path(project_dir)
    config = load_config(project_dir)
    session = (
        session if session is not None else (load_session(project_dir) or CalibrationSession())
    )
    stored = load_session_keypoints(project_dir) if not session.keypoints_path else None
    stored_videos: dict[str, str] = {}
    keypoint_files: dict[str, str] = {}
    skeleton: list[list[str]] = []
    warnings: list[str] = []
    missing: dict[str, np.ndarray] = {}
    labelled: dict[str, np.ndarray] = {}
    if stored is not None:
        coordinates, confidences, bodyparts, indexes = stored
    elif session.keypoints_path:
        source = keypoints_source(project_dir, session)
        loaded, missing, warnings = read_project_keypoints(
            project_dir,
            str(source),
            session.keypoints_format or None,
            duplicates=duplicates or session.keypoints_duplicates,
        )
        coordinates, confidences, bodyparts = (
            loaded.coordinates,
            loaded.confidences,
            loaded.bodyparts,
        )
        stored_videos, keypoint_files = loaded.stored_videos, loaded.files
        skeleton, labelled = loaded.skeleton, loaded.labelled
        indexes = {name: np.arange(len(c)) for name, c in coordinates.items()}
    else:
        raise KpcalError(
            f"project {str(project_dir)!r} has no keypoints yet: choose the keypoint files on the setup page"
        )
    video_dir = video_dir_of(project_dir, session, config)
    choices = resolve_videos(
        coordinates,
        video_dir=video_dir if video_dir is not None and video_dir.is_dir() else None,
        stored_videos=stored_videos,
        keypoint_files=keypoint_files,
        user_videos=session.video_paths,
        recording_name_suffix=session.recording_name_suffix,
        video_extension=session.video_extension,
        project=project_dir,
        user_videos_source=session_path(project_dir),
    )
    return ProjectData(
        project_dir=project_dir,
        config=config,
        session=session,
        coordinates=coordinates,
        confidences=confidences,
        bodyparts=list(bodyparts),
        video_frame_indexes=indexes,
        video_paths={name: choice.path for name, choice in choices.items()},
        video_choices=choices,
        skeleton=skeleton,
        keypoint_warnings=warnings,
        missing=missing,
        labelled=labelled,
    )


# --------------------------------------------------------------------------- saving work


def draft_path(project_dir: str | os.PathLike) -> Path:
    """The working copy of a project's annotations, in ``calibration/``."""
    return session_dir(project_dir) / DRAFT_FILENAME


def lock_path(project_dir: str | os.PathLike) -> Path:
    """The lock file of a project (:func:`project_lock`)."""
    return Path(project_dir) / LOCK_FILENAME


def project_lock(project_dir: str | os.PathLike, timeout: float = 60.0) -> FileLock:
    """The lock every writer of a project's annotations and config takes (several sessions).

    Raises
    ------
    KpcalError
        The lock file lies in the data root but a link leads it out (taking the
        lock opens and truncates the file).
    """
    path = check_no_link_out(lock_path(project_dir), what="lock file")
    return FileLock(str(path), timeout=timeout)


def load_working_annotations(project_dir: str | os.PathLike) -> dict[SampleKey, Annotation]:
    """Saved annotations merged with the working copy, one per sample.

    :func:`~kpcal_core.annotations.combine_rows` of :func:`load_working_rows`:
    the mean of the sample's annotators' positions (a sample one person
    annotated is their annotation). Includes cleared and not-visible entries
    (see :class:`Annotation`); a corrupt file raises :class:`KpcalError`
    naming it (nothing is replaced).
    """
    return combine_rows(load_working_rows(project_dir))


def load_working_rows(project_dir: str | os.PathLike) -> dict[RowKey, Annotation]:
    """``{(sample_key, annotator): Annotation}``: the saved rows and the working copy's.

    An annotator's newer edit of a sample wins over their own older one.
    """
    rows = dict(load_annotation_rows(project_dir))
    path = draft_path(project_dir)
    if path.exists():
        rows = merge_records(rows, parse_annotation_rows(read_user_text(path), str(path)))
    return rows


def broken_annotation_files(project_dir: str | os.PathLike) -> list[Path]:
    """The project's annotation files (CSV, working copy) that cannot be read."""
    broken = []
    for path in (annotations_path(project_dir), draft_path(project_dir)):
        if path.exists():
            try:
                parse_annotations(read_user_text(path), str(path))
            except KpcalError:
                broken.append(path)
    return broken


def backup_file(path: str | os.PathLike) -> Path:
    """Move a file the user chose to start over from aside, as ``NAME.broken-YYYYmmddTHHMMSS``."""
    path = check_no_link_out(Path(path))
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.broken-{stamp}-{n}")
        n += 1
    try:
        os.replace(path, target)
    except OSError as error:  # a read-only disk...: said plainly, the file stays
        raise not_saved(target, error) from None
    return target


def usable_annotations(
    data: ProjectData, records: Mapping[SampleKey, Annotation]
) -> dict[SampleKey, Annotation]:
    """The annotations a fit uses.

    Positions (not cleared, not "not visible") of loaded recordings and bodyparts.
    """
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
        sessions saved: the caller shows these from now on. When nothing was
        saved (``saved`` False), what was on disk at the last save.
    n_annotations
        Positions among them (what the fit uses).
    exported
        True when ``error_annotations.csv`` (and, with a fit, ``config.yml``) were written.
    fit
        The fit saved, or ``None``.
    message
        A sentence for the user.
    saved
        False when nothing could be written (a full disk, the lock held
        elsewhere): the edits are in ``held``.
    held
        ``{sample_key: Annotation}``: edits kept in memory, not on disk yet;
        the next save writes them (:func:`kpcal_core.workflows.record_annotation`).
    withheld
        Why the fitted line was not written to ``config.yml`` (its slope does not
        show errors shrinking with confidence), or None.
    """

    records: dict[SampleKey, Annotation]
    n_annotations: int
    exported: bool
    fit: dict | None
    message: str
    saved: bool = True
    held: dict[SampleKey, Annotation] = field(default_factory=dict)
    withheld: str | None = None


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
    with ``records`` by sample and annotator (an annotator's newer edit wins
    over their own older one; no annotator's edit replaces another's), write
    the working copy, and from
    :data:`AUTOSAVE_MIN_ANNOTATIONS` positions on (or once the CSV exists)
    ``error_annotations.csv`` and the fitted slope and intercept. The files are
    written together (:func:`kpcal_core.atomic.together`): all of them, or,
    when the system refuses a write, none.

    Parameters
    ----------
    data
        The project.
    records
        This session's view of every annotation, ``{sample_key: Annotation}``
        (combined ones are saved as their rows) or ``{(sample_key, annotator):
        Annotation}``.
    conf_threshold
        Saved with the fit; default: the config's value.
    force_export
        Write ``error_annotations.csv`` (and the fit, if one can be made) even
        below the autosave minimum.
    user
        Who saved, for the log line (:func:`kpcal_core.logs.log_event`); default:
        the annotator of the newest record in ``records``.

    Raises
    ------
    NotSaved
        The disk is full (or read-only, ...): no file was changed.
    TimeoutError
        Another session held the project's lock for too long.
    """
    project_dir = data.project_dir
    make_session_dir(project_dir)
    fit, config_problem, new_config, exported = None, None, None, True
    withheld = None
    with project_lock(project_dir), together():
        rows = merge_records(load_working_rows(project_dir), expand_records(records))
        atomic_write(draft_path(project_dir), format_annotations(rows, data.video_frame_indexes))
        merged = combine_rows(rows)
        n = annotation_counts(merged)["positions"]
        # Once error_annotations.csv exists it is kept in step with every change (a
        # cleared sample must not come back from it); before that, only from 20 on.
        csv_exists = annotations_path(project_dir).exists()
        if n < AUTOSAVE_MIN_ANNOTATIONS and not force_export and not csv_exists:
            exported = False
        else:
            kept = {k: v for k, v in rows.items() if v.status != CLEARED}
            save_annotations(project_dir, kept, data.video_frame_indexes)
            fit, config_problem, new_config, withheld = _autosave_fit(data, merged, conf_threshold)
    if new_config is not None:
        data.config = new_config
    _log_save(project_dir, records, user, n, exported=exported)
    if not exported:
        remaining = AUTOSAVE_MIN_ANNOTATIONS - n
        return SaveResult(
            merged,
            n,
            False,
            None,
            f"Saved to the working copy ({draft_path(project_dir).name}). keypoint-MoSeq's "
            f"files are written from {AUTOSAVE_MIN_ANNOTATIONS} annotations on: "
            f"{remaining} more to go.",
        )
    when = datetime.now().strftime("%H:%M:%S")
    message = f"Saved {count(n, 'annotation')} to {annotations_path(project_dir).name}"
    if config_problem is not None:
        return SaveResult(
            merged,
            n,
            True,
            None,
            f"{message} at {when}, but config.yml was NOT updated: {config_problem}. Your "
            "annotations are safe; fix config.yml (or start it over on the setup page).",
        )
    if withheld is not None:
        return SaveResult(
            merged,
            n,
            True,
            None,
            f"{message} at {when} (in {project_dir}). {withheld}",
            withheld=withheld,
        )
    if fit is not None:
        message += f" and the {fit['method']} line to {config_path(project_dir).name}"
    return SaveResult(merged, n, True, fit, f"{message} at {when} (in {project_dir}).")


def _autosave_fit(
    data: ProjectData, merged: Mapping[SampleKey, Annotation], conf_threshold: float | None
) -> tuple[dict | None, str | None, dict | None, str | None]:
    """Fit the annotations and write the line to ``config.yml`` (inside :func:`save_work`).

    A line whose slope's 95% interval reaches 0 (errors not shown to shrink as
    confidence grows: :func:`kpcal_core.prior.slope_check`) is not written:
    ``config.yml`` keeps its line until a person saves one on the fit page (or
    ``kpcal fit --save --confirm-slope``).

    Returns
    -------
    tuple
        ``(fit or None, why config.yml was not updated or None, the new config or None,
        why the line was withheld or None)``.

    Raises
    ------
    NotSaved
        ``config.yml`` could not be written: the whole save is given up.
    """
    from .diagnostics import fit_project  # the one path to the line (it imports this module)

    project_dir = data.project_dir
    saved_session = load_session(project_dir)
    method = saved_session.fit_method if saved_session else "least-squares"
    try:
        # likely gross errors the user has not kept are left out, as on the fit page
        line_points = fit_project(data=data, records=merged).line_points
        fit = fit_by_method(line_points, method)  # type: ignore[arg-type]  # TEMPORARY: removed at merge (line_points is never None)
        check = slope_check(line_points, fit["slope"])  # type: ignore[arg-type]  # TEMPORARY: removed at merge (line_points is never None)
    except KpcalError:
        return None, None, None, None
    try:
        config = load_config(project_dir)
        if not check.decreasing:  # never written without a person confirming it
            return None, None, None, _withheld_sentence(check, saved_line(config))
        threshold = (
            conf_threshold if conf_threshold is not None else config.get("conf_threshold", 0.5)
        )
        new_config = save_params(
            project_dir,
            {"slope": fit["slope"], "intercept": fit["intercept"], "conf_threshold": threshold},
        )
    except NotSaved:
        raise
    except KpcalError as error:  # the annotations are saved; say so plainly
        return None, str(error), None, None
    return fit, None, new_config, None


def _withheld_sentence(check: SlopeCheck, saved: Line | None) -> str:
    """Why autosave did not write the fitted line, and what ``config.yml`` keeps."""
    kept = (
        f"config.yml keeps its line (slope {saved.slope:.4f}, intercept {saved.intercept:.4f})"
        if saved is not None
        else "config.yml's line is unchanged"
    )
    return (
        f"{kept}: {check.problem} Check the clicks and annotate more; to write this line "
        "anyway, save it on the fit page and confirm."
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
    anterior, posterior = choose_anterior_posterior(use)
    defaults = ([anterior] if anterior else use[:1], [posterior] if posterior else use[-1:])
    for key, default in zip(("anterior_bodyparts", "posterior_bodyparts"), defaults, strict=True):
        kept = [b for b in config.get(key) or [] if b in use]
        updates[key] = kept or default
    return update_config(project_dir, **updates)
