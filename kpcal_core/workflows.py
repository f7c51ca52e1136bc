"""The steps a person or a script takes on a project, each written once.

The app's pages and the command line (:mod:`kpcal_core.cli`) call these
functions and nothing lower for the same jobs, so both give the same numbers
and write the same files:

- :func:`choose_sources`: point a project at its keypoint files and videos
  (checked by reading them before anything is written; creates ``config.yml``);
- :func:`open_project`: the project's config, keypoints and videos;
  :func:`recordings_report`: which video each recording uses and whether it fits;
- :func:`draw_samples`: the samples to annotate (annotated ones kept, recordings
  that cannot be annotated left out and named), saved in the session;
  :func:`fill_frame_cache`: decode their frames into the project's frame cache
  without keeping them in memory;
- :func:`record_annotation`: keep one click (or clear / not visible) and save
  under the project lock (keypoint-MoSeq's files from 20 annotations on); when
  the disk refuses (full, read-only...) or the lock is held elsewhere, the edit
  is held in memory and saved with the next save that works
  (:func:`save_held_edits`);
- several annotators (:mod:`kpcal_core.team`): :func:`next_sample` (the next
  sample nobody has done or is doing, leased), :func:`hold_sample`,
  :func:`leave_samples`, :func:`second_look`, :func:`shown_annotation`,
  :func:`team_progress`, :func:`review_samples`; :func:`record_annotation`
  saves a click on a sample someone else did as a review of theirs;
- :func:`stop_status`: whether the annotator can stop (the fit page's stop rule,
  without the bootstrap), :func:`stop_status_line` its sentence;
- :func:`calibration_fit` and :func:`save_calibration`: the line (least squares
  or robust) and saving it to ``config.yml`` under the lock; the method saved is
  remembered, so autosave keeps using it;
- :func:`export`: the annotations CSV, the error table and the chart as PNG.

Every problem a user can fix raises :class:`~kpcal_core.errors.KpcalError`
naming what is at fault, before anything is written. A save the system
refuses raises :class:`~kpcal_core.errors.NotSaved` (one of them), and the
files that belong together (a new ``config.yml`` and the session; the
session and ``use_bodyparts``; the line and the session) are written all or
none (:func:`kpcal_core.atomic.together`).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import team
from .annotations import (
    ANNOTATIONS_FILENAME,
    CLEARED,
    Annotation,
    annotation_counts,
    expand_records,
    format_annotations,
)
from .atomic import atomic_write, together
from .charts import chart_png, fit_chart
from .colours import bodypart_colours, hex_to_rgb
from .config import config_path, load_config, save_params, setup_project, update_config
from .diagnostics import (
    GrossErrors,
    ProjectFit,
    StopCheck,
    bootstrap_fit,
    fit_project,
    has_settled,
    largest_residuals,
    per_bodypart_fits,
    prediction_band,
    project_points,
    project_population,
    running_fit,
    screen_gross_errors,
    stop_rule,
)
from .errors import KpcalError, NotSaved
from .fitting import FIT_METHODS, fit_by_method, predicted_error_px
from .formats import choose_anterior_posterior
from .keypoint_store import read_project_keypoints
from .logs import log_event
from .paths import clean_user_path, resolve_user_path
from .planning import Population, plan_annotation_order
from .prior import (
    OWN_LINE_SURE,
    BodypartConfidences,
    Line,
    ModelPrior,
    SlopeCheck,
    bodypart_confidences,
    config_pseudocount,
    interpolated_counts,
    model_prior,
    saved_line,
    slope_check,
)
from .project import (
    ProjectData,
    SaveResult,
    backup_file,
    load_project_data,
    load_working_annotations,
    project_lock,
    resolve,
    save_use_bodyparts,
    save_work,
    video_dir_of,
)
from .samplekeys import SampleKey
from .sampling import confidence_histogram, sample_error_frames
from .session import (
    KEYPOINTS_FILENAME,
    CalibrationSession,
    frame_cache_dir,
    load_session,
    save_session,
    session_dir,
)
from .video import (
    DEFAULT_MAX_BYTES,
    BackgroundJob,
    cache_size,
    check_videos,
    fill_cache,
    frame_rate,
    index_videos,
    list_videos,
    resolve_videos,
    sample_video_frames,
)
from .views import FIT, CropView, crop_for_sample, render_view, skeleton_edges
from .wording import count

#: ``recordings_report`` statuses that make a recording impossible to annotate.
BLOCKING_STATUSES = ("no video", "video too short", "video unreadable")
#: How the samples are chosen: the planned order (default) or keypoint-MoSeq's equal bins.
SAMPLE_ORDERS = ("planned", "keypoint-moseq")

Progress = Callable[[int, int], None]


class ProjectFolderMissing(KpcalError):
    """The project folder does not exist yet (the caller may offer to create it)."""


class SlopeNotConfirmed(KpcalError):
    """A flat or rising line was not written: a person must confirm it (``check`` says why)."""

    def __init__(self, message: str, check: SlopeCheck):
        super().__init__(message)
        self.check = check


# --------------------------------------------------------------------------- opening


def project_folder(project_dir: str | os.PathLike, *, create: bool = False) -> Path:
    """The project folder, checked: a folder that exists (or is created when ``create``).

    Raises
    ------
    ProjectFolderMissing
        It does not exist and ``create`` is false.
    KpcalError
        It is a file, or it cannot be created or written.
    """
    folder = Path(os.path.expanduser(str(project_dir)))
    try:
        exists, is_dir = folder.exists(), folder.is_dir()
    except OSError as error:  # e.g. a name too long for the disk, no permission to look
        raise KpcalError(
            f"cannot open the project folder {str(folder)!r}: {error.strerror or error}"
        ) from None
    if exists and not is_dir:
        raise KpcalError(
            f"project folder {str(folder)!r} is a file, not a folder: give the folder that "
            "holds (or will hold) config.yml"
        )
    if not exists:
        blocker = _cannot_create(folder)
        if blocker:
            raise KpcalError(f"project folder {str(folder)!r} cannot be created: {blocker}")
        if not create:
            raise ProjectFolderMissing(
                f"project folder {str(folder)!r} does not exist: check the path, or create it"
            )
        try:
            folder.mkdir(parents=True)
        except OSError as error:
            raise KpcalError(
                f"cannot create the project folder {str(folder)!r}: {error.strerror or error}"
            ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise KpcalError(
            f"project folder {str(folder)!r} cannot be written (permissions or a read-only "
            "disk): choose a folder you can write to"
        )
    return folder


def _cannot_create(folder: Path) -> str | None:
    """Why ``folder`` (which does not exist) cannot be created, or ``None`` when it can."""
    parent = folder.parent
    while True:
        try:
            if parent.exists():
                break
        except OSError as error:
            return f"{str(parent)!r} cannot be read ({error.strerror or error})"
        if parent == parent.parent:
            return None
        parent = parent.parent
    if not parent.is_dir():
        return f"{str(parent)!r} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{str(parent)!r} cannot be written (permissions or a read-only disk)"
    return None


@dataclass
class Sources:
    """Where a project's keypoints and videos are, as the user typed them.

    Relative paths are taken from the project folder, as keypoint-MoSeq does.
    """

    keypoints: str
    format: str | None = None
    video_dir: str = ""
    video_extension: str | None = None
    recording_name_suffix: str = ""
    duplicates: str = "unfiltered"


@dataclass
class SourcesChosen:
    """What :func:`choose_sources` did.

    Attributes
    ----------
    session
        The session saved.
    bodyparts
        The bodyparts the keypoint files name.
    created_config
        ``config.yml`` was created (skeleton from the files, front and back
        bodyparts from their names where they say so, ``fps`` from the videos).
    ask_anatomy
        The names do not say which bodyparts are front and back (or one of
        them): ask the user.
    anatomy_note
        With ``ask_anatomy``, the sentence saying which of the two the names do
        not tell and what ``config.yml`` has instead (the caller says where to set it).
    anatomy
        With ``ask_anatomy``, ``(anterior_bodyparts, posterior_bodyparts)`` as
        written: while the config still holds these, the question stands.
    fps
        The ``fps`` written to a new ``config.yml`` (``None``: none written, or
        keypoint-MoSeq's default because no video could be read).
    warnings
        Sentences about the files (e.g. outputs of one video left out, videos
        whose frame rates differ).
    """

    session: CalibrationSession
    bodyparts: list[str]
    created_config: bool
    ask_anatomy: bool = False
    anatomy_note: str | None = None
    anatomy: tuple[list[str], list[str]] | None = None
    fps: int | float | None = None
    warnings: list[str] = field(default_factory=list)


def choose_sources(
    project_dir: str | os.PathLike, sources: Sources, *, create: bool = False
) -> SourcesChosen:
    """Point a project at its keypoint files and video folder, after reading them.

    The keypoint files are read first (a wrong path never replaces a working
    one); then the session is saved and, when the project has none,
    ``config.yml`` is created from the keypoints' bodyparts.

    Parameters
    ----------
    project_dir
        The project folder.
    sources
        The keypoint files (file, folder or glob), format, video folder and
        matching options.
    create
        Create the project folder when it does not exist (else
        :class:`ProjectFolderMissing`).
    """
    folder = project_folder(project_dir, create=create)
    keypoints_typed = clean_user_path(sources.keypoints, what="keypoint path")
    resolve_user_path(sources.keypoints, folder, what="keypoint path", project=folder)  # allowed?
    video_typed, video_dir = "", None
    if sources.video_dir.strip():
        video_typed = clean_user_path(sources.video_dir, what="video folder")
        video_dir = resolve_user_path(
            sources.video_dir, folder, what="video folder", project=folder
        )
        if not video_dir.is_dir():
            raise KpcalError(
                f"video folder {video_typed!r} is not a folder"
                + (
                    " (it is a file: give the folder that holds it)"
                    if video_dir.exists()
                    else f" (nothing is at {str(video_dir)!r})"
                )
            )
        list_videos(video_dir, sources.video_extension or None)  # refuses a whole disk
    # Read (and checked) through the project's keypoint store under the path the
    # session will hold, so that opening the project next reuses the stored copy.
    loaded, _, keypoint_warnings = read_project_keypoints(
        folder,
        str(resolve(folder, keypoints_typed)),
        sources.format or None,
        duplicates=sources.duplicates,
    )
    bodyparts = list(loaded.bodyparts)
    anterior, posterior = choose_anterior_posterior(bodyparts)
    rate = None
    if not config_path(folder).exists():  # a new config takes fps from the videos
        previous = load_session(folder)
        rate = frame_rate(
            resolve_videos(
                loaded.coordinates,
                video_dir=video_dir,
                stored_videos=loaded.stored_videos,
                keypoint_files=loaded.files,
                user_videos=previous.video_paths if previous else None,
                recording_name_suffix=sources.recording_name_suffix,
                video_extension=(sources.video_extension or "").strip().lstrip(".") or None,
                project=folder,
            )
        )
    with project_lock(folder), together():  # a new config.yml and the session, or neither
        session = load_session(folder) or CalibrationSession()
        session.keypoints_path = keypoints_typed
        session.keypoints_format = sources.format or None
        session.keypoints_duplicates = sources.duplicates
        session.video_dir = video_typed
        session.video_extension = (sources.video_extension or "").strip().lstrip(".") or None
        session.recording_name_suffix = sources.recording_name_suffix
        created = not config_path(folder).exists()
        front = [anterior or bodyparts[0]]
        back = [posterior or next((b for b in reversed(bodyparts) if b != front[0]), front[0])]
        fps = rate.fps if created and rate is not None else None
        if created:
            setup_project(
                folder,
                bodyparts=bodyparts,
                skeleton=loaded.skeleton or None,
                video_dir=str(video_dir) if video_dir else "",
                anterior_bodyparts=front,
                posterior_bodyparts=back,
                **({} if fps is None else {"fps": fps}),
            )
        save_session(folder, session)
    ask = created and (anterior is None or posterior is None)
    notes = list(keypoint_warnings)
    if created and rate is not None and rate.note:
        notes.append(rate.note)
    return SourcesChosen(
        session=session,
        bodyparts=bodyparts,
        created_config=created,
        ask_anatomy=ask,
        anatomy_note=_anatomy_note(anterior, posterior, front[0], back[0]) if ask else None,
        anatomy=(front, back) if ask else None,
        fps=fps,
        warnings=notes,
    )


def _anatomy_note(anterior: str | None, posterior: str | None, front: str, back: str) -> str:
    """What the bodypart names do not say about front and back, and what config.yml has."""
    if anterior is None and posterior is None:
        return (
            "The bodypart names do not say which are the front and the back of the animal: "
            f"config.yml has {front!r} as the front and {back!r} as the back for now."
        )
    if anterior is None:
        return (
            f"The bodypart names say which is the back ({posterior!r}) but not which is the "
            f"front: config.yml has {front!r} as the front for now."
        )
    return (
        f"The bodypart names say which is the front ({anterior!r}) but not which is the back: "
        f"config.yml has {back!r} as the back for now."
    )


def set_anatomy(
    project_dir: str | os.PathLike, anterior: Sequence[str], posterior: Sequence[str]
) -> dict:
    """Set ``anterior_bodyparts`` and ``posterior_bodyparts`` in ``config.yml``."""
    if not anterior or not posterior:
        raise KpcalError("choose at least one front (anterior) and one back (posterior) bodypart")
    with project_lock(project_folder(project_dir)):
        return update_config(
            project_dir, anterior_bodyparts=list(anterior), posterior_bodyparts=list(posterior)
        )


def broken_config(project_dir: str | os.PathLike) -> str | None:
    """Why the project's ``config.yml`` cannot be read, or ``None`` (fine, or absent)."""
    if not config_path(project_dir).is_file():
        return None
    try:
        load_config(project_dir)
    except KpcalError as error:
        return str(error)
    return None


def start_config_over(project_dir: str | os.PathLike) -> tuple[Path, bool]:
    """Keep a broken ``config.yml`` as ``config.yml.broken-TIMESTAMP`` and write a new one.

    The new config is made from the session's keypoint files (as when they
    were first chosen); without them the project simply has no config yet.

    Returns
    -------
    tuple
        ``(backup path, True when a new config.yml was written)``.
    """
    folder = project_folder(project_dir)
    with project_lock(folder):
        backup = backup_file(config_path(folder))
    session = load_session(folder)
    if session is None or not session.keypoints_path:
        return backup, False
    choose_sources(
        folder,
        Sources(
            session.keypoints_path,
            session.keypoints_format,
            session.video_dir,
            session.video_extension,
            session.recording_name_suffix,
            session.keypoints_duplicates,
        ),
    )
    return backup, True


def open_project(
    project_dir: str | os.PathLike, session: CalibrationSession | None = None
) -> ProjectData:
    """The project's config, keypoints and videos, or a message saying what is missing."""
    folder = project_folder(project_dir)
    if not config_path(folder).exists():
        raise KpcalError(
            f"{config_path(folder)} does not exist: choose the keypoint files (setup page, or "
            "`kpcal sample PROJECT --keypoints FILES --video-dir VIDEOS`) to create it"
        )
    session = session if session is not None else (load_session(folder) or CalibrationSession())
    if not session.keypoints_path and not (session_dir(folder) / KEYPOINTS_FILENAME).exists():
        raise KpcalError(
            f"project {str(folder)!r} has no keypoints yet: choose the keypoint files on the "
            "setup page, or pass --keypoints to `kpcal sample`"
        )
    return load_project_data(folder, session)


def recordings_report(data: ProjectData) -> pd.DataFrame:
    """Per recording, the video it uses and whether the video fits the keypoints.

    See :func:`kpcal_core.video.recordings.check_videos` for the columns; recordings
    whose ``status`` is in :data:`BLOCKING_STATUSES` cannot be annotated.
    """
    session = data.session
    video_dir = video_dir_of(data.project_dir, session, data.config)
    return check_videos(
        data.coordinates,
        video_dir if video_dir is not None and video_dir.is_dir() else None,
        data.video_frame_indexes,
        video_extension=session.video_extension,
        recording_name_suffix=session.recording_name_suffix,
        video_choices=data.video_choices,
    )


def set_video(project_dir: str | os.PathLike, recording: str, video: str | None) -> None:
    """Use ``video`` for ``recording`` from now on (``None`` or ``""``: back to matching)."""
    folder = project_folder(project_dir)
    with project_lock(folder):
        session = load_session(folder) or CalibrationSession()
        if video:
            path = resolve_user_path(
                video, folder, what=f"video of recording {recording!r}", project=folder
            )
            if not path.is_file():
                raise KpcalError(f"video {video!r} for recording {recording!r} is not a file")
            session.video_paths[recording] = str(path)
        else:
            session.video_paths.pop(recording, None)
        save_session(folder, session)


# --------------------------------------------------------------------------- sampling


@dataclass
class SampleDraw:
    """What :func:`draw_samples` did, with the counts a user is told.

    Attributes
    ----------
    sample_keys
        The project's samples from now on: annotated ones kept first, then new ones.
    asked
        ``num_samples`` as asked.
    kept
        Annotated samples kept (positions and "not visible"; cleared ones are not).
    new
        Samples drawn now.
    available
        Keypoints that could be drawn (a position, a used bodypart, a usable video,
        not already annotated, not labelled by a person).
    left_out
        ``{recording: status}`` of recordings left out (no usable video).
    left_out_keypoints
        Keypoints of the used bodyparts in those recordings.
    seed
        The seed used.
    order
        ``"planned"`` or ``"keypoint-moseq"``.
    human_labelled
        Keypoints of the used bodyparts labelled by a person (SLEAP user
        instances): never drawn.
    """

    sample_keys: list[SampleKey]
    asked: int
    kept: int
    new: int
    available: int
    left_out: dict[str, str] = field(default_factory=dict)
    left_out_keypoints: int = 0
    seed: int = 0
    order: str = "planned"
    human_labelled: int = 0

    @property
    def message(self) -> str:
        """One paragraph: asked, kept, drawn, and why the total differs from what was asked."""
        total = len(self.sample_keys)
        text = (
            f"Asked for {count(self.asked, 'sample')}: kept {self.kept} already annotated, "
            f"drew {self.new} new; {count(total, 'sample')} in all (seed {self.seed}, "
            f"{'planned order' if self.order == 'planned' else 'as keypoint-MoSeq'})."
        )
        if self.kept > self.asked:
            text += " More samples are annotated than asked for: all of them are kept."
        elif total < self.asked:
            text += (
                f" Only {count(self.available, 'keypoint')} could be drawn (a position, a "
                "bodypart in use_bodyparts, a usable video, not annotated yet, not labelled "
                "by a person)."
            )
        if self.human_labelled:
            text += (
                f" {count(self.human_labelled, 'keypoint')} labelled by a person (SLEAP user "
                "instances) are never drawn: they are not the network's predictions."
            )
        if self.left_out:
            names = ", ".join(f"{name!r} ({status})" for name, status in self.left_out.items())
            text += (
                f" Left out {count(len(self.left_out), 'recording')} with "
                f"{count(self.left_out_keypoints, 'keypoint')} that cannot be annotated: {names}."
            )
        return text


def draw_samples(
    data: ProjectData,
    *,
    use_bodyparts: Sequence[str] | None = None,
    num_bins: int | None = None,
    num_samples: int | None = None,
    conf_pseudocount: float | None = None,
    seed: int | None = None,
    order: str | None = None,
    report: pd.DataFrame | None = None,
    second_look_share: float | None = None,
) -> SampleDraw:
    """Draw the samples to annotate and save them in the project's session.

    Annotated samples (positions and "not visible") are kept and count towards
    ``num_samples``; the rest are drawn by
    :func:`~kpcal_core.sampling.sample_error_frames` among keypoints not
    annotated yet, of recordings whose video can be used (a recording whose
    status in :func:`recordings_report` is blocking is left out and named).
    ``use_bodyparts`` is saved to ``config.yml`` when it changes. Parameters
    left ``None`` come from the session (``seed``: a new random one).

    Parameters
    ----------
    order
        ``"planned"`` (default): :func:`~kpcal_core.planning.plan_annotation_order`,
        the order that teaches the line most, annotated in that order;
        ``"keypoint-moseq"``: keypoint-MoSeq's equal numbers per confidence bin
        (:func:`~kpcal_core.sampling.sample_error_frames`). Recorded in the session.
    report
        :func:`recordings_report` of ``data`` when the caller has it already.
    second_look_share
        Share of the samples a second annotator sees too (0 to 1; default: the
        session's, 0.1 for a new one). Recorded in the session.
    """
    session = data.session
    share = session.second_look_share if second_look_share is None else second_look_share
    try:
        share = float(share)
    except (TypeError, ValueError):
        raise KpcalError(f"second_look_share must be a number, got {share!r}") from None
    if not 0.0 <= share <= 1.0:  # NaN too
        raise KpcalError(f"second_look_share must be between 0 and 1, got {share!r}")
    use = list(use_bodyparts) if use_bodyparts else data.use_bodyparts
    num_bins = int(session.num_bins if num_bins is None else num_bins)
    asked = int(session.num_samples if num_samples is None else num_samples)
    pseudocount = float(session.conf_pseudocount if conf_pseudocount is None else conf_pseudocount)
    order = session.sample_order if order is None else order
    if order not in SAMPLE_ORDERS:
        raise KpcalError(f"unknown sample order {order!r}: use one of {', '.join(SAMPLE_ORDERS)}")
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
    report = recordings_report(data) if report is None else report
    blocked = report[report["status"].isin(BLOCKING_STATUSES)]
    left_out = dict(zip(blocked["recording"], blocked["status"], strict=True))
    if len(left_out) == len(data.coordinates):
        raise KpcalError(
            f"no recording can be annotated ({len(left_out)} of {len(left_out)} have no usable "
            "video): fix the video folder or set each recording's video first"
        )
    columns = [data.bodyparts.index(b) for b in use if b in data.bodyparts]
    if len(columns) != len(use):
        unknown = [b for b in use if b not in data.bodyparts]
        raise KpcalError(f"bodypart(s) {unknown} are not in the keypoints ({data.bodyparts})")
    records = load_working_annotations(data.project_dir)
    kept = [k for k, a in records.items() if a.status != CLEARED and k[0] in data.coordinates]
    never = data.never_drawn()  # no position, or labelled by a person
    confidences, excluded = _sampleable(data, left_out, kept, never)
    left_out_keypoints = sum(int((~data.missing[r][:, columns]).sum()) for r in left_out)
    # a confidence and a position, not a human label, not annotated yet
    available = sum(
        int((np.isfinite(c[:, columns]) & ~excluded[r][:, columns]).sum())
        for r, c in confidences.items()
    )
    wanted = max(0, asked - len(kept))
    new = []
    if wanted and available:
        if order == "planned":  # the annotations made count in the design
            draw = functools.partial(
                plan_annotation_order,
                annotated=kept,
                missing={r: never[r] for r in confidences},  # never reads coordinates
            )
        else:
            draw = functools.partial(sample_error_frames, missing=excluded)
        new = draw(
            confidences,
            data.bodyparts,
            use,
            num_bins,
            wanted,
            pseudocount,
            seed=seed,
        )
    sample_keys = list(dict.fromkeys([*kept, *new]))
    new_config = None
    with project_lock(data.project_dir), together():  # use_bodyparts and the samples, or neither
        if use != data.use_bodyparts:
            new_config = save_use_bodyparts(data.project_dir, use)
        on_disk = load_session(data.project_dir) or session
        on_disk.num_bins, on_disk.num_samples = num_bins, asked
        on_disk.conf_pseudocount, on_disk.seed = pseudocount, int(seed)
        on_disk.sample_keys, on_disk.sample_order = sample_keys, order
        on_disk.second_look_share = share
        save_session(data.project_dir, on_disk)
    if new_config is not None:
        data.config = new_config
    data.session.num_bins, data.session.num_samples = num_bins, asked
    data.session.conf_pseudocount, data.session.seed = pseudocount, int(seed)
    data.session.sample_keys, data.session.sample_order = sample_keys, order
    data.session.second_look_share = share
    return SampleDraw(
        sample_keys=sample_keys,
        asked=asked,
        kept=len(kept),
        new=len(new),
        available=available,
        left_out=left_out,
        left_out_keypoints=left_out_keypoints,
        seed=int(seed),
        order=order,
        human_labelled=data.n_labelled(use),
    )


def _sampleable(
    data: ProjectData,
    left_out: Mapping[str, str],
    annotated: Sequence[SampleKey],
    never: Mapping[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Confidences of the recordings that can be annotated, and what may not be drawn.

    Returns ``({recording: (T, K) confidences}, {recording: (T, K) bool})``:
    the confidences as loaded (never copied) and a mask, True where a keypoint
    has no position, was labelled by a person (``never``:
    :meth:`~kpcal_core.project.ProjectData.never_drawn`) or is annotated
    already (only recordings holding an annotated sample get a copy of the
    mask: 1 byte per keypoint).
    """
    by_recording: dict[str, list[tuple[int, int]]] = {}
    for recording, frame, bodypart in annotated:
        if bodypart in data.bodyparts and frame < len(data.confidences[recording]):
            by_recording.setdefault(recording, []).append((frame, data.bodyparts.index(bodypart)))
    confidences, excluded = {}, {}
    for recording, conf in data.confidences.items():
        if recording in left_out:
            continue
        mask = never[recording]
        if recording in by_recording:
            mask = mask.copy()
            frames, parts = zip(*by_recording[recording], strict=True)
            mask[list(frames), list(parts)] = True
        confidences[recording], excluded[recording] = conf, mask
    return confidences, excluded


def fill_frame_cache(
    data: ProjectData,
    sample_keys: Sequence[SampleKey] | None = None,
    *,
    progress: Callable[[int, int, list[SampleKey]], object] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Decode the samples' frames into the project's frame cache; keep none in memory.

    The first sample's frame comes first, so annotating can start at once;
    at most a few frames per video are in memory at any time
    (:func:`kpcal_core.video.source.fill_cache`).

    Parameters
    ----------
    sample_keys
        Default: the session's samples. Samples of recordings without a video are skipped.
    progress
        Called as ``progress(done, total, ready)``: video frames cached so far, of
        ``total``, and the sample keys whose frame just became ready.
    should_stop
        Checked between frames; ``True`` stops (frames cached so far stay).

    Returns
    -------
    int
        Distinct video frames now in the cache.
    """
    keys = list(data.session.sample_keys if sample_keys is None else sample_keys)
    keys = [k for k in keys if data.video_paths.get(k[0])]
    if not keys:
        return 0
    video_of = sample_video_frames(
        keys,
        "",
        data.video_frame_indexes,
        video_paths={r: p for r, p in data.video_paths.items() if p},
    )
    summary = fill_cache(
        frame_cache_dir(data.project_dir), video_of, progress=progress, should_stop=should_stop
    )
    return summary.cached_before + summary.written


def start_frame_fill(
    data: ProjectData, sample_keys: Sequence[SampleKey] | None = None
) -> BackgroundJob:
    """:func:`fill_frame_cache` in a background thread: it goes on when the page is left.

    The job's :meth:`~kpcal_core.video.prefetch.BackgroundJob.progress` gives the
    frames cached so far and the sample keys whose frame is ready (the first
    sample's comes first), so a page can offer annotating at once.
    """
    keys = list(data.session.sample_keys if sample_keys is None else sample_keys)
    return BackgroundJob(
        lambda progress, should_stop: fill_frame_cache(
            data, keys, progress=progress, should_stop=should_stop
        ),
        name="kpcal-fill-frames",
    )


def start_video_indexing(data: ProjectData) -> BackgroundJob:
    """Index the project's videos in the background (:func:`kpcal_core.video.source.index_videos`).

    Started when a project is opened, so that the first "Sample frames" does not
    wait for a scan of each video's packets (about 0.75 s for 21,000 frames of
    1280×1024 H.264).
    """
    videos = sorted({str(p) for p in data.video_paths.values() if p})
    cache_dir = frame_cache_dir(data.project_dir)
    return BackgroundJob(
        lambda progress, should_stop: index_videos(
            cache_dir, videos, progress=progress, should_stop=should_stop
        ),
        name="kpcal-index-videos",
    )


def frame_cache_summary(data: ProjectData) -> str:
    """One sentence: where the project's frame cache is, its size and its cap."""
    folder = frame_cache_dir(data.project_dir)
    size = cache_size(folder)
    cap = DEFAULT_MAX_BYTES / 2**30
    return (
        f"Frame cache: {count(size.frames, 'frame')}, {size.bytes / 2**20:,.0f} MB of {cap:g} GiB "
        f"(least recently used frames go first) in {folder}."
    )


def sampling_histogram(
    data: ProjectData,
    use_bodyparts: Sequence[str],
    conf_pseudocount: float,
    num_bins: int,
    sample_keys: Sequence[SampleKey] = (),
) -> dict:
    """The confidence histogram of the used bodyparts, the sampling bins, samples per bin.

    Returns
    -------
    dict
        ``bars``: DataFrame ``start, end, keypoints`` (log10 units; keypoints
        with a position only);
        ``bins``: DataFrame ``start, end, mid, samples`` (one row per sampling bin);
        ``no_position``: keypoints with a confidence but no position (never sampled);
        ``human_labelled``: keypoints labelled by a person (SLEAP user instances,
        never sampled).
    """
    counts, hist_edges, sample_edges = confidence_histogram(
        data.confidences,
        data.bodyparts,
        use_bodyparts,
        conf_pseudocount,
        int(num_bins),
        missing=data.missing,
    )
    columns = [data.bodyparts.index(b) for b in use_bodyparts if b in data.bodyparts]
    no_position = sum(
        int((data.missing[r][:, columns] & ~np.isnan(c[:, columns])).sum())
        for r, c in data.confidences.items()
    )
    sampled = [k for k in sample_keys if k[0] in data.confidences and k[2] in use_bodyparts]
    logs = np.array(
        [
            math.log10(float(data.confidences[r][f, data.bodyparts.index(b)]) + conf_pseudocount)
            for r, f, b in sampled
        ],
        dtype=float,
    )
    per_bin = np.zeros(len(sample_edges) - 1, dtype=int)
    if logs.size:
        index = np.clip(np.searchsorted(sample_edges, logs, side="right") - 1, 0, len(per_bin) - 1)
        per_bin = np.bincount(index, minlength=len(per_bin))
    bars = pd.DataFrame({"start": hist_edges[:-1], "end": hist_edges[1:], "keypoints": counts})
    bins = pd.DataFrame(
        {
            "start": sample_edges[:-1],
            "end": sample_edges[1:],
            "mid": (sample_edges[:-1] + sample_edges[1:]) / 2,
            "samples": per_bin,
        }
    )
    return {
        "bars": bars,
        "bins": bins,
        "no_position": no_position,
        "human_labelled": data.n_labelled(use_bodyparts),
    }


# --------------------------------------------------------------------------- annotating


def samples_ahead(
    sample_keys: Sequence[SampleKey], index: int, is_done: Callable[[SampleKey], bool], n: int = 3
) -> list[SampleKey]:
    """The samples a user may open next from sample ``index``: the next ``n``, the previous
    one and the next not done (what the annotate page prepares in the background)."""
    after = list(sample_keys[index + 1 : index + 1 + n])
    ahead = [*after, *sample_keys[max(0, index - 1) : index]]
    later = (k for k in [*sample_keys[index + 1 :], *sample_keys[:index]] if not is_done(k))
    ahead.append(next(later, sample_keys[index]))
    return list(dict.fromkeys(ahead))


def record_annotation(
    data: ProjectData,
    records: dict[SampleKey, Annotation],
    key: SampleKey,
    annotation: Annotation,
    *,
    held: dict[SampleKey, Annotation] | None = None,
) -> SaveResult:
    """Keep one edit and save at once (merged with what other sessions saved).

    Parameters
    ----------
    records
        ``{sample_key: Annotation}``: the project's annotations as last saved;
        updated in place to the merged annotations on disk after a save.
    key, annotation
        The edit.
    held
        Edits not saved yet (see below), ``{sample_key: Annotation}``; the
        edit joins them and all are saved now. Updated in place (emptied by a
        save that works). Default: a new dict, returned in ``result.held``.

    Returns
    -------
    SaveResult
        When the disk refuses the save (full, quota, read-only, permissions,
        I/O error) or another session holds the project's lock for too long,
        nothing is written and ``records`` stays what is on disk: the result
        has ``saved`` False, the edits in ``held`` and a message saying they are
        held (an ``event=error`` log line is written for the disk); they are
        saved with the next save that works (:func:`save_held_edits`).
    """
    held = {} if held is None else held
    held[key] = team.edit_for(records, key, annotation, second_look(data))
    return save_held_edits(data, records, held)


# --------------------------------------------------------------------------- several annotators


def second_look(data: ProjectData) -> set[SampleKey]:
    """The samples offered to a second annotator (:func:`kpcal_core.team.second_look_samples`
    of the session's samples and ``second_look_share``)."""
    keys = [
        k
        for k in data.session.sample_keys
        if k[0] in data.confidences
        and k[2] in data.bodyparts
        and k[1] < len(data.confidences[k[0]])
    ]
    confidences = [float(data.confidences[r][f, data.bodyparts.index(b)]) for r, f, b in keys]
    return team.second_look_samples(keys, confidences, data.session.second_look_share)


def next_sample(
    data: ProjectData,
    annotator: str,
    current: int | None,
    *,
    unannotated: bool,
    session: str = "",
) -> int | None:
    """The index of ``annotator``'s next sample, leased to them (:func:`kpcal_core.team.claim_next`):
    in the planned order, one nobody has done or is doing (or a second look offered to
    them); "Next" (``unannotated`` False) may also go to their own. ``None``: none left.
    ``session``: the page session asking (its lease stays its own when the name changes)."""
    return team.claim_next(
        data.project_dir,
        data.session.sample_keys,
        annotator,
        current,
        unannotated=unannotated,
        second_look=second_look(data),
        session=session,
    )


def not_for(
    data: ProjectData,
    records: Mapping[SampleKey, Annotation],
    annotator: str,
    session: str = "",
    *,
    second_looks: bool = True,
) -> Callable[[SampleKey], bool]:
    """``is_done(key)`` for ``annotator``: True for a sample done by anyone or held by
    someone else, unless (``second_looks``) it is a second look offered to them (leases
    read once, now). Where a session starts uses ``second_looks=False``: the first sample
    nobody has done (a second look comes with "Next unannotated")."""
    leases = team.read_leases(data.project_dir)
    looks = second_look(data) if second_looks else frozenset()
    return lambda key: not team.wanted_by(annotator, key, records, leases, looks, session)


def hold_sample(data: ProjectData, key: SampleKey, annotator: str, session: str = "") -> str | None:
    """Lease the sample shown to ``annotator`` in page session ``session`` (renewed while
    shown). Returns who else is working on it, or ``None``."""
    return team.take_lease(data.project_dir, key, annotator, session=session)


def leave_samples(data: ProjectData, annotator: str, session: str = "") -> bool:
    """``annotator`` (page session ``session``) left the annotate page: their lease is released.

    The setup and fit pages call this on every run, so a sample someone was shown is free for
    the others as soon as they go to another page (a closed browser's lease lapses after
    :data:`kpcal_core.team.LEASE_SECONDS`). Returns False when the lease file could not be
    written or locked (a full disk, a busy lock): the lease then lapses by itself.
    """
    try:
        team.release_leases(data.project_dir, annotator, session=session)
    except KpcalError:
        return False
    return True


def shown_annotation(
    data: ProjectData, records: Mapping[SampleKey, Annotation], key: SampleKey, annotator: str
) -> Annotation | None:
    """What the annotate page draws on ``key`` for ``annotator``
    (:func:`kpcal_core.team.shown_annotation`: never another's click on a second look)."""
    return team.shown_annotation(records, key, annotator, second_look(data))


@dataclass
class TeamProgress:
    """Who did what on a project.

    Attributes
    ----------
    counts
        ``{annotator: samples done}``, most first.
    samples_done
        Samples done by anyone (what the stop rule counts).
    samples
        Samples drawn.
    second_look_done, second_look
        Second-look samples done by two or more people, and how many there are.
    working
        ``{annotator: sample index (0-based)}`` of the leases held now.
    """

    counts: dict[str, int]
    samples_done: int
    samples: int
    second_look_done: int
    second_look: int
    working: dict[str, int]

    def lines(self) -> list[str]:
        """Plain sentences (names are data: show them as text)."""
        out = [
            f"Team: {self.samples_done} of {count(self.samples, 'sample')} done by "
            f"{count(len(self.counts), 'annotator')}; second looks {self.second_look_done} of "
            f"{self.second_look}."
        ]
        out += [f"{name or '(unnamed)'}: {count(n, 'sample')}" for name, n in self.counts.items()]
        return out


def team_progress(data: ProjectData, records: Mapping[SampleKey, Annotation]) -> TeamProgress:
    """Each annotator's count, the team's samples done and who works on which sample now."""
    samples = list(data.session.sample_keys)
    looks = second_look(data)
    index = {k: i for i, k in enumerate(samples)}
    return TeamProgress(
        counts=team.annotator_counts(records),
        samples_done=sum(1 for k in samples if team.done_by(records.get(k))),
        samples=len(samples),
        second_look_done=sum(1 for k in looks if len(team.done_by(records.get(k))) >= 2),
        second_look=len(looks),
        working={
            lease.annotator: index[k]
            for k, lease in team.read_leases(data.project_dir).items()
            if k in index
        },
    )


#: How the fit combines several annotators' clicks of one sample (said on the fit page).
COMBINE_RULE = (
    "The fit uses one position per sample: the mean of its annotators' clicks; a click "
    "another person corrected in review is replaced by the reviewer's."
)


@dataclass
class TeamAgreement:
    """How far apart the project's annotators click, and who is off.

    Attributes
    ----------
    agreement
        :func:`kpcal_core.agreement.annotator_agreement` of the project's rows.
    bias
        :func:`kpcal_core.agreement.annotator_bias`: one row per annotator, px and
        log10(error + 1) against the network's positions.
    flagged
        Names of the annotators flagged (:data:`kpcal_core.agreement.FLAG_RULE`).
    rule
        The flag rule in words.
    """

    agreement: dict
    bias: pd.DataFrame
    flagged: list[str]
    rule: str


def team_agreement(data: ProjectData, records: Mapping[SampleKey, Annotation]) -> TeamAgreement:
    """Agreement of the project's own annotators (second looks and reviews of one file)."""
    from .agreement import FLAG_RULE, annotator_agreement, annotator_bias

    predictions = {}
    for key in records:
        recording, frame, bodypart = key
        coords = data.coordinates.get(recording)
        if coords is not None and bodypart in data.bodyparts and frame < len(coords):
            x, y = coords[frame, data.bodyparts.index(bodypart)]
            predictions[key] = (float(x), float(y))
    agreement = annotator_agreement(records)
    bias = annotator_bias(records, predictions)
    flagged = bias.loc[bias["flagged"], "annotator"].tolist()
    return TeamAgreement(agreement, bias, flagged, FLAG_RULE)


def review_samples(
    data: ProjectData, records: Mapping[SampleKey, Annotation], annotator: str
) -> list[int]:
    """Indexes of samples whose click ``annotator`` may review: another person's click
    flagged as a likely gross error by the fit, or one of a second look whose two
    clicks are far apart (:func:`kpcal_core.agreement.disagreeing_samples`)."""
    from .agreement import disagreeing_samples

    flagged: set[SampleKey] = set(disagreeing_samples(records))
    try:
        flagged |= {g.key for g in fit_project(data=data, records=records).gross_errors.flagged}
    except KpcalError:
        pass
    out = []
    for i, key in enumerate(data.session.sample_keys):
        ann = records.get(key)
        if key in flagged and ann is not None and any(n != annotator for n in ann.annotators()):
            out.append(i)
    return out


def save_held_edits(
    data: ProjectData,
    records: dict[SampleKey, Annotation],
    held: dict[SampleKey, Annotation],
) -> SaveResult:
    """Save the edits ``held`` in memory (merged with the annotations on disk).

    What :func:`record_annotation` does after keeping its edit; also what a
    "save again" button calls. ``records`` and ``held`` are updated in place:
    after a save that works ``records`` holds the merged annotations on disk
    and ``held`` is empty; otherwise both stay as they were.
    """
    user = max(held.values(), key=lambda r: r.annotated_at or "").annotator if held else None
    try:
        result = save_work(data, {**records, **held}, user=user)
    except TimeoutError:
        return _held_result(
            records,
            held,
            "Not saved yet: another session holds the project's lock. " + _held_sentence(len(held)),
        )
    except NotSaved as error:
        log_event(
            "error",
            user=user or "",
            project=data.project_dir,
            kind="NotSaved",
            held=len(held),
            message=str(error),
        )
        return _held_result(records, held, f"N{str(error)[1:]}. " + _held_sentence(len(held)))
    records.clear()
    records.update(result.records)
    held.clear()
    return result


def _held_sentence(n: int) -> str:
    """What happens to ``n`` held edits, for the message."""
    edits = count(n, "edit")
    them = "it" if n == 1 else "them"
    return (
        f"Your {edits} {'is' if n == 1 else 'are'} kept on this page, not on disk yet, and "
        f"saved with the next save that works (your next click, or Save held edits); closing "
        f"this page loses {them}."
    )


def _held_result(
    records: Mapping[SampleKey, Annotation], held: Mapping[SampleKey, Annotation], message: str
) -> SaveResult:
    """The :class:`SaveResult` of a save that wrote nothing: what is on disk, and the held edits."""
    return SaveResult(
        dict(records),
        annotation_counts(records)["positions"],
        False,
        None,
        message,
        saved=False,
        held=dict(held),
    )


def held_status(held: Mapping[SampleKey, Annotation]) -> str | None:
    """``"2 edits held, not saved"``, or ``None`` when nothing is held."""
    return f"{count(len(held), 'edit')} held, not saved" if held else None


def sample_view(
    data: ProjectData,
    key: SampleKey,
    frame_rgb: np.ndarray,
    zoom: str | float = FIT,
    annotation: Annotation | None = None,
    display_size: int = 560,
) -> tuple[CropView, np.ndarray]:
    """The view of one sample: the crop window and the marked-up image to click on.

    Parameters
    ----------
    frame_rgb
        ``(H, W, 3)`` uint8 video frame of the sample.
    zoom
        One of :data:`kpcal_core.views.ZOOMS` (see :func:`~kpcal_core.views.crop_for_sample`).
    annotation
        The sample's annotation, drawn as a red X when it has a position.

    Returns
    -------
    tuple
        ``(CropView, (display_size, display_size, 3) uint8 RGB image)``.
    """
    recording, frame, bodypart = key
    keypoints = np.asarray(data.coordinates[recording][frame], dtype=float)
    target = keypoints[data.bodyparts.index(bodypart)]
    view = crop_for_sample(frame_rgb.shape, target, keypoints, zoom, display_size)
    colours = [hex_to_rgb(c) for c in bodypart_colours(data.bodyparts).values()]
    image = render_view(
        frame_rgb,
        view,
        target_xy=target,
        keypoints_xy=keypoints,
        edges=skeleton_edges(data.bodyparts, data.config.get("skeleton") or []),
        annotation_xy=annotation.xy if annotation is not None and annotation.has_position else None,
        colours=colours,
    )
    return view, image


# --------------------------------------------------------------------------- fitting


@dataclass
class CalibrationFit:
    """The project's fit and the line of the chosen method.

    Attributes
    ----------
    project
        :class:`~kpcal_core.diagnostics.ProjectFit` (least squares, points, counts).
    method
        One of :data:`~kpcal_core.fitting.FIT_METHODS`.
    line
        ``{"method", "slope", "intercept"}`` of that method.
    """

    project: ProjectFit
    method: str
    line: dict


def calibration_fit(
    data: ProjectData,
    records: Mapping[SampleKey, Annotation] | None = None,
    method: str = "least-squares",
) -> CalibrationFit:
    """Fit the project's annotations; the line of ``method`` is what would be saved."""
    result = fit_project(data=data, records=records)
    line = fit_by_method(result.line_points, method)
    return CalibrationFit(project=result, method=line["method"], line=line)


def fit_diagnostics(
    points: pd.DataFrame, population: Population | None = None, stop: StopCheck | None = None
) -> dict:
    """How far to trust the fit: what the fit page shows beside the line.

    Parameters
    ----------
    points
        The points the line is fitted to (:attr:`ProjectFit.line_points`).
    population
        The project's keypoints (:func:`~kpcal_core.diagnostics.project_population`).
    stop
        The stop rule's verdict when the caller has it (:func:`stop_status`);
        default: :func:`~kpcal_core.diagnostics.stop_rule` of ``points``.

    Returns
    -------
    dict
        ``bootstrap`` (:func:`~kpcal_core.diagnostics.bootstrap_fit`), ``running``
        (:func:`~kpcal_core.diagnostics.running_fit`), ``settled`` (``(bool, sentence)``
        of the stop rule), ``stop`` (the :class:`~kpcal_core.diagnostics.StopCheck`
        over ``population``: the project's keypoints), ``band``
        (:func:`~kpcal_core.diagnostics.prediction_band`), ``per_bodypart``
        (:func:`~kpcal_core.diagnostics.per_bodypart_fits`) and ``part_lines``
        (``bodypart, x, y``: each bodypart's own line over the points' confidences).
    """
    running = running_fit(points)
    per_bodypart = per_bodypart_fits(points)
    ends = [float(points["log10_confidence"].min()), float(points["log10_confidence"].max())]
    part_lines = pd.DataFrame(
        [
            {"bodypart": row.bodypart, "x": x, "y": row.slope * x + row.intercept}
            for row in per_bodypart["table"].itertuples()
            if np.isfinite(row.slope)
            for x in ends
        ],
        columns=["bodypart", "x", "y"],
    )
    if stop is None and population is not None:
        stop = stop_rule(points, population)
    return {
        "bootstrap": bootstrap_fit(points),
        "running": running,
        "settled": (stop.settled, stop_statement(stop))
        if stop is not None
        else has_settled(running),
        "stop": stop,
        "band": prediction_band(points, population) if population is not None else None,
        "per_bodypart": per_bodypart,
        "part_lines": part_lines,
    }


def stop_status(
    data: ProjectData,
    records: Mapping[SampleKey, Annotation],
    population: Population | None = None,
    *,
    level: float = 0.95,
) -> StopCheck:
    """Can the annotator stop? The one stop rule of the annotate page, the fit page and ``kpcal fit``.

    :func:`~kpcal_core.diagnostics.stop_rule` of the usable positions in
    ``records`` (those :func:`calibration_fit` fits) over the project's
    keypoints, with the likely gross errors of
    :func:`~kpcal_core.diagnostics.screen_gross_errors` (kept as the session
    says), the confidences of the drawn samples not annotated yet (to say how
    many of them are still needed) and the keypoints left to annotate. Cheap
    enough for every click (no resampling). Works from zero annotations on.

    Parameters
    ----------
    records
        ``{sample_key: Annotation}``: the session's annotations (cleared and
        "not visible" ones, and samples of recordings or bodyparts not loaded,
        are left out as in the fit).
    population
        :func:`~kpcal_core.diagnostics.project_population` of ``data`` when the
        caller has it already (the app caches it).
    level
        Coverage of the intervals.

    Returns
    -------
    StopCheck

    Raises
    ------
    KpcalError
        An annotated keypoint's log10 confidence is not finite (confidence 0
        with ``conf_pseudocount`` 0).
    """
    points = project_points(data, records)
    population = project_population(data) if population is None else population
    x = points["log10_confidence"].to_numpy(dtype=float)
    if not np.isfinite(x).all():
        fit_project(data=data, records=records)  # names the annotation at fault
    gross = screen_gross_errors(data, points, records, data.session.kept_gross_errors)
    annotated = {k for k, a in records.items() if a.status != CLEARED}
    used = set(data.use_bodyparts)
    remaining = []
    for recording, frame, bodypart in data.session.sample_keys:
        if (recording, frame, bodypart) in annotated or bodypart not in used:
            continue
        conf = data.confidences.get(recording)
        if conf is None or not 0 <= frame < len(conf) or bodypart not in data.bodyparts:
            continue
        value = float(conf[frame, data.bodyparts.index(bodypart)]) + data.conf_pseudocount
        if value > 0:
            remaining.append(math.log10(value))
    done = sum(1 for r, _, b in annotated if r in data.confidences and b in used)
    return stop_rule(
        points,
        population,
        level=level,
        gross_errors=gross,
        remaining=np.array(remaining, dtype=float),
        candidates=max(population.n - done, 0),
    )


# --------------------------------------------------------------------------- the stop rule in words


def _factor(half_width: float) -> str:
    """The factor a half-width in log10(error + 1) is on keypoint-MoSeq's s0 = (error + 1)^2."""
    return f"{10 ** (2 * half_width):.2f}"


def _stop_numbers(check: StopCheck) -> str:
    """The verdict's numbers, once: both half-widths, their targets, the annotations."""
    text = (
        f"the line is known to ±{check.rms_half_width:.3f} over your keypoints (target "
        f"±{check.rms_target}: keypoint-MoSeq's noise scale s0 to within a factor "
        f"{_factor(check.rms_half_width)}) and the slope {check.slope:.3f} to "
        f"±{check.slope_half_width:.3f} (target ±{check.slope_target}"
    )
    if check.slope_by_reach:
        text += (
            f", or a change of s0 within the line's target at the edges of your keypoints' "
            f"confidences: here ±{check.slope_reach:.3f}"
        )
    text += f"), {check.level:.0%} intervals from {count(check.n_used, 'annotation')}"
    return text


def _left_out_sentence(check: StopCheck) -> str:
    n = check.n_left_out
    if not n:
        return ""
    return (
        f" {count(n, 'annotation')} far from {'its' if n == 1 else 'their'} keypoint's "
        f"prediction {'is' if n == 1 else 'are'} left out of the line as likely "
        "swaps or wrong clicks (the fit page lists them: keep any that are right)."
    )


_UNMET = {
    "min-annotations": "at least {min} annotations in the line",
    "rms": "the line over your keypoints within its target",
    "slope": "the slope within its target",
    "negative": "a negative slope",
    "held": "the targets met after {held} annotations in a row",
}


def _unmet(check: StopCheck) -> str:
    return "; ".join(
        _UNMET[u].format(min=check.min_annotations, held=check.held) for u in check.unmet
    )


def _as_it_stands(check: StopCheck) -> str:
    """What the line is good for now, in one sentence."""
    if not check.share_within_target > 0:
        return "As it stands the line is not within its target for any of your keypoints."
    return (
        f"As it stands the line is within its target for {check.share_within_target:.0%} of "
        f"your keypoints (confidence + pseudocount {check.within_low:.3g} to "
        f"{check.within_high:.3g}), and within a factor {_factor(check.rms_half_width)} on "
        "s0 over all of them (RMS)."
    )


def stop_statement(check: StopCheck, draw_hint: str = "Draw more samples on the fit page") -> str:
    """The stop rule's verdict for the fit page and ``kpcal fit``: the numbers once, what to do.

    Parameters
    ----------
    check
        :func:`stop_status` (or :func:`~kpcal_core.diagnostics.stop_rule`).
    draw_hint
        How to draw more samples where the reader is (the fit page's button,
        or the ``kpcal sample`` command).
    """
    left_out = _left_out_sentence(check)
    if check.settled:
        text = f"Settled: {_stop_numbers(check)}."
        if check.slope_by_reach:
            text += (
                " The slope itself is not pinned down, but over your keypoints' confidences it "
                "barely changes s0; it would for confidences outside that range."
            )
        return text + left_out
    if check.blocker == "one-confidence":
        return (
            "Cannot settle: every keypoint of the used bodyparts has the same confidence, so "
            "there is no slope to measure and none that changes s0 from one keypoint to "
            "another. More annotations will not change that; keep the line in config.yml."
        )
    if check.blocker == "positive-slope":
        return (
            f"Not settled: {_stop_numbers(check)}. The error grows with confidence here, which "
            "more annotations will not change: check that the clicks are on the true "
            "positions and that the confidences belong to these keypoints." + left_out
        )
    if check.blocker == "no-line":
        text = (
            f"Not settled yet: no line yet ({count(check.n_used, 'annotation')} in the line; "
            "a line needs annotations at three or more confidences)."
        )
        return text + _more_advice(check, draw_hint) + left_out
    text = f"Not settled yet: {_stop_numbers(check)}. Still missing: {_unmet(check)}."
    if check.blocker == "too-few-keypoints":
        return (
            text + f" It would take about {count(check.more_needed, 'more annotation')}, and only "
            f"{count(check.candidates, 'keypoint')} of the used bodyparts are left to "
            "annotate: this project cannot reach the targets (too few keypoints). "
            + _as_it_stands(check)
            + left_out
        )
    return text + _more_advice(check, draw_hint) + left_out


def _more_advice(check: StopCheck, draw_hint: str) -> str:
    more = check.more_needed
    if check.samples_left is None:
        return f" Annotate about {count(more, 'more annotation')}."
    left = check.samples_left
    if not check.draw_more:
        return (
            f" Annotate about {more:,} more of your {count(left, 'drawn sample')} "
            "not annotated yet."
        )
    have = (
        "no drawn sample is left to annotate"
        if not left
        else f"only {count(left, 'drawn sample')} {'is' if left == 1 else 'are'} not annotated yet"
    )
    return (
        f" That takes about {count(more, 'more annotation')}, and {have}: draw "
        f"{count(check.draw_more, 'more sample')} ({draw_hint}; every annotation is kept)."
    )


def stop_status_line(check: StopCheck) -> str:
    """One short sentence for the annotator from :func:`stop_status`'s verdict.

    ``"Settled: the line is trusted — you can stop (n annotations)."`` or
    ``"About N more annotations needed (...)"`` with the two half-widths and
    their targets, and how many samples to draw when the drawn ones are too
    few; when more annotations would not help, it says why.
    """
    if check.settled:
        return f"Settled: the line is trusted — you can stop ({count(check.n, 'annotation')})."
    if check.blocker == "one-confidence":
        return (
            f"Not settled ({count(check.n, 'annotation')}): every keypoint has the same "
            "confidence, so there is no slope to measure; more annotations will not change "
            "that: see the fit page."
        )
    if check.blocker == "positive-slope":
        return (
            f"Not settled ({count(check.n, 'annotation')}): the slope {check.slope:.3f} is "
            "not negative, and more annotations will not change that: see the fit page."
        )
    if check.blocker == "too-few-keypoints":
        return (
            f"Not settled ({count(check.n, 'annotation')}): this project has too few "
            "keypoints left to reach the targets: see the fit page for what the line is good for."
        )
    text = f"About {count(check.more_needed, 'more annotation')} needed ({check.n} so far"
    if math.isfinite(check.rms_half_width) and math.isfinite(check.slope_half_width):
        text += (
            f": the line ±{check.rms_half_width:.3f} where your keypoints are, target "
            f"≤ {check.rms_target}; the slope ±{check.slope_half_width:.3f}, target "
            f"≤ {check.slope_target}"
        )
    text += ")."
    if check.draw_more:
        left = (
            "No drawn sample is left"
            if not check.samples_left
            else f"Only {count(check.samples_left, 'drawn sample')} left"
        )
        text += f" {left}: draw {count(check.draw_more, 'more sample')}."
    if check.n_left_out:
        text += f" {count(check.n_left_out, 'likely gross error')} left out: see the fit page."
    return text


def draw_more_samples(data: ProjectData, more: int) -> SampleDraw:
    """Draw ``more`` samples beyond the session's, keeping every annotation.

    :func:`draw_samples` with the session's settings, order and seed and
    ``num_samples`` raised by ``more``: annotated samples are kept (and, in
    the planned order, count in the design), and the samples not annotated yet
    come back first where the order gives them again (the planned order with
    the same seed continues its plan).
    """
    if not is_whole_number(more) or more < 1:
        raise KpcalError(f"the number of samples to draw must be a whole number >= 1, got {more!r}")
    session = data.session
    return draw_samples(
        data,
        num_samples=len(session.sample_keys) + int(more),
        seed=session.seed,
        order=session.sample_order,
    )


def is_whole_number(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


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


def gross_error_rows(gross_errors: GrossErrors) -> list[str]:
    """One plain sentence per flagged annotation (:class:`~kpcal_core.diagnostics.GrossErrors`).

    Plain text (the recording name in quotes), not Markdown.
    """
    rows = []
    for g in gross_errors.flagged:
        recording, frame, bodypart = g.key
        text = (
            f"{recording!r} frame {frame}, {bodypart}: error {g.error_px:.1f} px where the line "
            f"expects {g.line_error_px:.1f} px"
        )
        if g.nearer_bodypart is not None:
            text += (
                f"; the click is {g.nearer_px:.1f} px from {g.nearer_bodypart}'s prediction, "
                "nearer than its own (a swap?)"
            )
        text += " — kept in the line." if g.kept else " — left out of the line."
        rows.append(text)
    return rows


def residual_rows(
    points: pd.DataFrame, fit: Mapping, sample_keys: Sequence[SampleKey], n: int = 10
) -> list[dict]:
    """The annotations farthest from the line, as sentences, with their sample's index.

    The sentences are plain text (the recording name in quotes), not Markdown.

    Returns
    -------
    list of dict
        ``key`` (sample key), ``text`` (one sentence), ``sample_index`` (0-based
        position in ``sample_keys``, or ``None`` when it is not a sample now).
    """
    where = {key: i for i, key in enumerate(sample_keys)}
    rows = []
    for row in largest_residuals(points, fit, n=n).itertuples():
        key = (str(row.recording), int(row.frame), str(row.bodypart))
        rows.append(
            {
                "key": key,
                "sample_index": where.get(key),
                "text": f"{key[0]!r} frame {row.frame}, {row.bodypart}: error "
                f"{row.error_px:.1f} px where the line expects {row.line_error_px:.1f} px "
                f"(residual {row.residual:+.3f})",
            }
        )
    return rows


def error_size_table(
    line: Mapping,
    conf_pseudocount: float,
    confidences: Sequence[float] = (0.01, 0.1, 0.3, 0.5, 0.9, 1.0),
) -> pd.DataFrame:
    """The line in pixels: the error size keypoint-MoSeq's prior expects at a few confidences."""
    confs = np.asarray(confidences, dtype=float)
    return pd.DataFrame(
        {
            "confidence": confs,
            "error size (px)": predicted_error_px(
                line["slope"], line["intercept"], confs + conf_pseudocount
            ),
        }
    )


# --------------------------------------------------------------------------- the model's prior


def project_model_prior(
    data: ProjectData,
    line: Mapping,
    conf_threshold: float | None = None,
    *,
    per_bodypart: Mapping | None = None,
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
        ``{"slope", "intercept"}`` (and ``"method"``): the line that would be saved.
    conf_threshold
        The threshold to judge (the fit page's control); default: ``config.yml``'s.
    per_bodypart
        :func:`~kpcal_core.diagnostics.per_bodypart_fits` of the fitted points, for
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
    method = str(line.get("method", "least-squares"))
    return model_prior(
        summaries,
        Line(float(line["slope"]), float(line["intercept"]), f"this fit ({method})"),
        conf_pseudocount=pseudocount,
        conf_threshold=threshold,
        interpolated=interpolated,
        saved=saved_line(data.config),
        own_lines=per_bodypart["table"] if per_bodypart is not None else None,
    )


def _px2(value: float) -> str:
    """An s0 in px², to 3 significant figures (``"–"`` when there is none)."""
    if not math.isfinite(value):
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _same_line(a: Line | None, b: Line | None) -> bool:
    return a is not None and b is not None and (a.slope, a.intercept) == (b.slope, b.intercept)


def _saved_differs(prior: ModelPrior) -> bool:
    """``config.yml``'s line is neither keypoint-MoSeq's default nor this fit's."""
    saved = prior.saved
    return saved is not None and not (
        _same_line(saved, prior.default) or _same_line(saved, prior.line)
    )


def model_prior_table(prior: ModelPrior) -> pd.DataFrame:
    """The panel's table: one row per bodypart, each number once, as text for people.

    The column of ``config.yml``'s line is there only when that line is neither
    keypoint-MoSeq's default nor this fit's (:func:`model_prior_lines` says which).
    """
    rows = []
    for b in prior.bodyparts:
        row = {
            "bodypart": b.bodypart,
            "keypoints with a position": f"{b.n_positioned:,}",
            "s0 median (px²)": _px2(b.s0_median),
            "s0 range (px²)": f"{_px2(b.s0_low)} to {_px2(b.s0_high)}",
            "s0 median, keypoint-MoSeq's default line": _px2(b.default_s0_median),
        }
        if _saved_differs(prior):
            row["s0 median, config.yml's line"] = _px2(b.saved_s0_median)
        row["no position (s0 at confidence 0)"] = f"{b.n_zero:,}"
        row["interpolated by conf_threshold"] = (
            f"{b.interpolated_share:.1%}" if math.isfinite(b.interpolated_share) else "–"
        )
        if b.follows_pooled is None:
            row["own line"] = f"too few annotations ({b.own_n})"
        else:
            row["own line"] = f"slope {b.own_slope:.3f}, intercept {b.own_intercept:.3f}" + (
                "" if b.follows_pooled else ": does not follow the shared line"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def model_prior_lines(prior: ModelPrior) -> list[str]:
    """The panel's sentences: s0 at confidence 0 under each line, missing and interpolated
    keypoints. Plain text, each number once."""
    line, default, saved = prior.line, prior.default, prior.saved
    zero = (
        f"s0 = (predicted error + 1)² px² is keypoint-MoSeq's prior on each keypoint's noise, "
        f"from its confidence plus conf_pseudocount ({prior.conf_pseudocount:g}). A keypoint "
        f"with no position gets confidence 0: s0 {_px2(prior.s0_zero)} px² with this fit "
        f"(slope {line.slope:.4f}, intercept {line.intercept:.4f}), "
        f"{_px2(prior.default_s0_zero)} px² with keypoint-MoSeq's default line (slope "
        f"{default.slope:g}, intercept {default.intercept:g})"
    )
    if _saved_differs(prior):
        zero += (
            f", {_px2(prior.saved_s0_zero)} px² with the line config.yml holds now (slope "
            f"{saved.slope:.4f}, intercept {saved.intercept:.4f})."
        )
    elif _same_line(saved, line):
        zero += "; config.yml holds this fit's line now."
    elif _same_line(saved, default):
        zero += "; config.yml still holds keypoint-MoSeq's default line."
    else:
        zero += "."
    lines = [zero]
    if prior.n_positioned + prior.n_zero:
        missing = (
            f"{prior.n_zero:,} keypoints of the used bodyparts have no position (s0 at "
            "confidence 0, above), and "
            if prior.n_zero
            else "Every keypoint of the used bodyparts has a position; "
        )
        lines.append(
            missing
            + f"{prior.n_interpolated:,} of the {prior.n_positioned:,} with one have confidence "
            f"+ pseudocount at or below conf_threshold {prior.conf_threshold:g}: keypoint-MoSeq "
            "treats these as outliers and interpolates them when it initialises a model."
        )
    return lines


def bodypart_line_statement(prior: ModelPrior) -> str:
    """Sentences on the bodyparts' own lines: none possible yet, all follow, or which do not
    and what to do (more annotations; then leave it out of ``use_bodyparts`` or retrain)."""
    if not prior.with_own_line:
        return (
            "No bodypart has enough annotations for its own line yet (5 at two or more "
            "confidences each), so whether each follows the shared line cannot be told."
        )
    apart = [b for b in prior.bodyparts if b.follows_pooled is False]
    if not apart:
        some = len(prior.with_own_line) < len(prior.bodyparts)
        return (
            f"The own lines of {len(prior.with_own_line)} bodyparts follow the shared line within "
            "their 95% intervals"
            + ("; the others have too few annotations for one." if some else ".")
        )
    sure = set(prior.surely_not_following)
    parts = []
    groups = (
        ([b for b in apart if b.bodypart in sure], True),
        ([b for b in apart if b.bodypart not in sure], False),
    )
    for group, known in groups:
        if not group:
            continue
        names = ", ".join(f"{b.bodypart!r} ({count(b.own_n, 'annotation')})" for b in group)
        one = len(group) == 1
        it, its = ("it", "its") if one else ("them", "their")
        if known:
            parts.append(
                f"{names}: {its} own line{'' if one else 's'} {'does' if one else 'do'} not follow "
                f"the shared line (see the table), so one line gives {it} the wrong prior. Leave "
                f"{it} out of use_bodyparts, or retrain the network with more labels of {it}."
            )
        else:
            parts.append(
                f"{names}: {its} own line{'' if one else 's'} may not follow the shared line (see "
                f"the table), but {count(OWN_LINE_SURE, 'annotation')} of each are needed to be "
                f"sure: annotate more of {it}. If {it} still {'stays' if one else 'stay'} apart, "
                f"leave {it} out of use_bodyparts, or retrain the network with more labels of {it}."
            )
    return " ".join(parts)


def save_calibration(
    data: ProjectData,
    *,
    slope: float,
    intercept: float,
    conf_threshold: float,
    method: str = "least-squares",
    user: str = "",
    points: pd.DataFrame | None = None,
    confirm_slope: bool = False,
) -> dict:
    """Save the line and threshold to ``config.yml`` under the project lock.

    The method is remembered in the session, so autosave after the next click
    fits with it too (until another method is saved). A line whose slope does
    not show errors shrinking as confidence grows (its 95% interval reaches 0:
    :func:`kpcal_core.prior.slope_check`) is written only with ``confirm_slope``.

    Parameters
    ----------
    points
        The :func:`~kpcal_core.diagnostics.project_points` table the line was
        fitted to (the fit page's, e.g. the mean of several annotators'
        clicks); default: the project's saved annotations.
    confirm_slope
        A person confirmed writing a line that is flat or rising.

    Returns
    -------
    dict
        ``path, method, slope, intercept, conf_threshold``.

    Raises
    ------
    SlopeNotConfirmed
        The slope is flat or positive and ``confirm_slope`` is False; nothing is written.
    """
    if method not in FIT_METHODS:
        raise KpcalError(f"unknown fit method {method!r}: use one of {', '.join(FIT_METHODS)}")
    for name, value in (
        ("slope", slope),
        ("intercept", intercept),
        ("conf_threshold", conf_threshold),
    ):
        if not math.isfinite(float(value)):
            raise KpcalError(f"{name} must be a finite number, got {value!r}")
    if points is None:
        points = project_points(data, load_working_annotations(data.project_dir))
    check = slope_check(points, float(slope))
    if not check.decreasing and not confirm_slope:
        raise SlopeNotConfirmed(
            f"Not saved to {config_path(data.project_dir)}: {check.problem} Confirm to write it "
            "anyway (the fit page's checkbox, or `kpcal fit --save --confirm-slope`).",
            check,
        )
    with project_lock(data.project_dir), together():  # the line and its method, or neither
        new_config = save_params(
            data.project_dir,
            {
                "slope": float(slope),
                "intercept": float(intercept),
                "conf_threshold": float(conf_threshold),
            },
        )
        session = load_session(data.project_dir) or data.session
        session.fit_method = method
        save_session(data.project_dir, session)
    data.config = new_config
    data.session.fit_method = method
    log_event(
        "params",
        user=user,
        project=str(data.project_dir),
        method=method,
        slope=float(slope),
        intercept=float(intercept),
        conf_threshold=float(conf_threshold),
    )
    return {
        "path": str(config_path(data.project_dir)),
        "method": method,
        "slope": float(slope),
        "intercept": float(intercept),
        "conf_threshold": float(conf_threshold),
    }


def export(
    data: ProjectData,
    out_dir: str | os.PathLike | None = None,
    *,
    records: Mapping[SampleKey, Annotation] | None = None,
    conf_threshold: float | None = None,
    png: bool = True,
) -> dict[str, Path]:
    """Write the annotations CSV, the error table (with residuals) and the chart PNG.

    The annotations are always written; the error table and chart need a fit
    (else :class:`~kpcal_core.errors.NotEnoughAnnotations`, after the CSV).

    Returns
    -------
    dict
        ``{"annotations": path, "points": path, "chart": path}`` (what was written).
    """
    records = load_working_annotations(data.project_dir) if records is None else dict(records)
    folder = Path(out_dir) if out_dir else session_dir(data.project_dir) / "export"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise KpcalError(f"cannot create the export folder {str(folder)!r}: {error}") from None
    kept = {k: v for k, v in expand_records(records).items() if v.status != CLEARED}
    written = {
        "annotations": atomic_write(
            folder / ANNOTATIONS_FILENAME, format_annotations(kept, data.video_frame_indexes)
        )
    }
    result = fit_project(data=data, records=records)
    written["points"] = atomic_write(
        folder / "error_points.csv", exported_points(data, result).to_csv(index=False)
    )
    if png:
        threshold = (
            float(conf_threshold)
            if conf_threshold is not None
            else float(load_config(data.project_dir).get("conf_threshold", 0.5))
        )
        chart = fit_chart(result.points, [least_squares_line(result.fit)], threshold)
        written["chart"] = atomic_write(folder / "error_fit.png", chart_png(chart))
    return written


#: ``error_points.csv``'s columns, each named for what it holds.
EXPORTED_POINT_COLUMNS = (
    "recording",
    "frame",
    "bodypart",
    "confidence",
    "confidence_plus_pseudocount",
    "error_px",
    "log10_confidence_plus_pseudocount",
    "log10_error_plus_1",
    "residual",
    "annotator",
    "annotated_at",
)


def exported_points(data: ProjectData, result: ProjectFit) -> pd.DataFrame:
    """``error_points.csv``: one row per fitted annotation, each column named for what it holds.

    ``confidence`` is the keypoint file's own value; ``confidence_plus_pseudocount``
    and ``log10_confidence_plus_pseudocount`` are what the line is fitted on
    (x), ``log10_error_plus_1`` its y; ``residual`` is y minus the least-squares
    line. Columns :data:`EXPORTED_POINT_COLUMNS`.
    """
    points = result.points
    fit = result.fit
    raw = [
        float(data.confidences[r][int(f), data.bodyparts.index(b)])
        for r, f, b in zip(points["recording"], points["frame"], points["bodypart"], strict=True)
    ]
    table = pd.DataFrame(
        {
            "recording": points["recording"],
            "frame": points["frame"],
            "bodypart": points["bodypart"],
            "confidence": raw,
            "confidence_plus_pseudocount": points["confidence"],
            "error_px": points["error_px"],
            "log10_confidence_plus_pseudocount": points["log10_confidence"],
            "log10_error_plus_1": points["log10_error"],
            "residual": points["log10_error"]
            - (fit["slope"] * points["log10_confidence"] + fit["intercept"]),
        }
    )
    for column in ("annotator", "annotated_at"):
        table[column] = points[column] if column in points else ""
    return table[list(EXPORTED_POINT_COLUMNS)]


def least_squares_line(fit: Mapping) -> dict:
    """``{"method": "least-squares", "slope", "intercept"}`` of a :func:`fit_points` result."""
    return {"method": "least-squares", "slope": fit["slope"], "intercept": fit["intercept"]}
