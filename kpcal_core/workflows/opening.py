"""Opening a project: its folder, its sources (keypoint files and videos), its anatomy and config, and the recordings report."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import together
from ..config import config_path, load_config, setup_project, update_config
from ..errors import KpcalError
from ..formats import choose_anterior_posterior
from ..keypoint_store import read_project_keypoints
from ..paths import clean_user_path, resolve_user_path
from ..project import (
    ProjectData,
    backup_file,
    load_project_data,
    project_lock,
    resolve,
    video_dir_of,
)
from ..sentences import anatomy_note
from ..session import (
    KEYPOINTS_FILENAME,
    CalibrationSession,
    load_session,
    save_session,
    session_dir,
)
from ..video import check_videos, frame_rate, list_videos, resolve_videos


class ProjectFolderMissing(KpcalError):
    """The project folder does not exist yet (the caller may offer to create it)."""


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
        options: dict[str, Any] = {} if fps is None else {"fps": fps}
        if created:
            setup_project(
                folder,
                bodyparts=bodyparts,
                skeleton=loaded.skeleton or None,
                video_dir=str(video_dir) if video_dir else "",
                anterior_bodyparts=front,
                posterior_bodyparts=back,
                **options,
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
        anatomy_note=anatomy_note(anterior, posterior, front[0], back[0]) if ask else None,
        anatomy=(front, back) if ask else None,
        fps=fps,
        warnings=notes,
    )


def set_anatomy(
    project_dir: str | os.PathLike, anterior: Sequence[str], posterior: Sequence[str]
) -> dict[str, Any]:
    """Set ``anterior_bodyparts`` and ``posterior_bodyparts`` in ``config.yml``.

    Returns the project's config as written (:func:`kpcal_core.config.update_config`).
    """
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
