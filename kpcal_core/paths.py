"""Paths typed by a user or read from a file: read as meant, or refused.

A path is refused with a message naming it, and kept inside the data root on a shared
server.

A typed path loses surrounding spaces and one pair of quotes; an empty path, a NUL
character and a path longer than the system allows are refused (:class:`KpcalError`
naming the path) before anything touches the disk. With ``KPCAL_DATA_ROOT`` set,
every path kpcal opens is resolved (``~``, ``..``, every symbolic link) and
refused unless it lies inside that root, by one rule (:func:`is_within` of the
:func:`allowed_areas`) reached three ways:

- :func:`resolve_user_path`: a path a user typed (project, keypoint files, videos);
- :func:`check_inside_root`: a path read from a file (the video a SLEAP or NWB
  file stores, ``keypoints_path`` and ``video_dir`` in ``session.json``,
  ``video_dir`` in ``config.yml``, a video set by hand): the message names that file;
- :func:`check_no_link_out`: a file or folder kpcal reads or writes at a place
  inside the root (a project's ``config.yml``, ``calibration/`` and everything
  in it, the lock file, a file found in a searched folder): refused when a
  symbolic link on its way leads out of the root. A link whose target is inside
  the root is followed as usual.

The one folder outside the root a project may use is the project itself when it
lies outside the root: the user's own demo project in the state folder, or a
project the server's operator gave on the command line (both were allowed when
opened). Without ``KPCAL_DATA_ROOT`` nothing is checked, as on a laptop.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from .errors import KpcalError

DATA_ROOT_ENV = "KPCAL_DATA_ROOT"
#: Most files and folders a search of a typed folder looks through before refusing it
#: (someone typed "/" or a whole disk).
MAX_SEARCHED = 100_000


def data_root() -> Path | None:
    """The root every user path must lie in, or ``None`` when unrestricted."""
    root = os.environ.get(DATA_ROOT_ENV)
    return Path(root).expanduser().resolve() if root else None


def is_within(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies below it (both absolute; compared as written)."""
    return path == folder or folder in path.parents


def _lexical(path: str | os.PathLike) -> Path:
    """``path`` absolute, with ``~`` expanded and ``..`` folded, no link resolved."""
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def _real(path: str | os.PathLike) -> Path:
    """``path`` with every symbolic link resolved (what exists of it; a loop stays as is)."""
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def _names_root(path: Path, root: Path) -> bool:
    """True when ``path`` (lexical) lies in the root as resolved or as the variable spells it."""
    given = os.environ.get(DATA_ROOT_ENV) or ""
    return is_within(path, root) or (bool(given) and is_within(path, _lexical(given)))


def allowed_areas(project: str | os.PathLike | None = None) -> tuple[Path, ...] | None:
    """The folders paths may lead into: the data root, and ``project`` when it lies outside it.

    Parameters
    ----------
    project
        The project the path belongs to, or ``None``. A project outside the root
        (the user's own demo project, or one the operator gave at start-up) was
        allowed when it was opened; its own folder is then allowed too. A
        project inside the root adds nothing (a link from it out of the root
        stays refused).

    Returns
    -------
    tuple of Path or None
        Resolved folders, the root first; ``None`` without a data root.
    """
    root = data_root()
    if root is None:
        return None
    if project is None or _names_root(_lexical(project), root):
        return (root,)
    return (root, _real(project))


def outside_message(
    what: str,
    shown: str | os.PathLike,
    root: Path,
    *,
    source: str | os.PathLike | None = None,
    leads_to: Path | None = None,
) -> str:
    """The one sentence for a path outside the data root.

    ``the {what} {shown!r} is outside the data folder this server allows ({root})``;
    with ``source`` (the file the path was read from): ``the {what} stored in
    {source!r} ({shown!r}) is outside ...``; with ``leads_to``, where links take it.
    """
    shown = os.fspath(shown)
    where = f"{shown!r}"
    if leads_to is not None and str(leads_to) != shown:
        where += f", which leads to {str(leads_to)!r},"
    if source is not None:
        return (
            f"the {what} stored in {os.fspath(source)!r} ({where.rstrip(',')}) is outside the "
            f"data folder this server allows ({root})"
        )
    return f"the {what} {where} is outside the data folder this server allows ({root})"


def check_inside_root(
    path: str | os.PathLike,
    *,
    what: str,
    source: str | os.PathLike | None = None,
    project: str | os.PathLike | None = None,
) -> Path:
    """A path read from a file (or made from one), refused unless it leads inside the data root.

    Parameters
    ----------
    path
        The path (absolute, or already joined to the folder it is relative to).
    what
        What it is, for the message (``"video path"``, ``"keypoint path"``...).
    source
        The file it was read from (``session.json``, ``config.yml``, a ``.slp``),
        named in the message.
    project
        The project it belongs to (see :func:`allowed_areas`).

    Returns
    -------
    Path
        With a data root: ``path`` with every link resolved. Without: ``path`` as given.

    Raises
    ------
    KpcalError
        After resolving every link, ``path`` lies outside the root (and outside
        ``project`` when that lies outside the root).
    """
    areas = allowed_areas(project)
    if areas is None:
        return Path(path)
    real = _real(path)
    if any(is_within(real, area) for area in areas):
        return real
    raise KpcalError(outside_message(what, path, areas[0], source=source, leads_to=real))


def refusal(
    path: str | os.PathLike,
    *,
    what: str = "video",
    source: str | os.PathLike | None = None,
    project: str | os.PathLike | None = None,
) -> str | None:
    """Why ``path`` may not be used on this server (:func:`check_inside_root`'s message), or ``None``."""
    try:
        check_inside_root(path, what=what, source=source, project=project)
    except KpcalError as error:
        return str(error)
    return None


def check_no_link_out(path: str | os.PathLike, *, what: str = "file") -> Path:
    """Refuse a file or folder inside the data root that a symbolic link leads out of it.

    Every file kpcal reads or writes in a project, and every file found in a
    folder it searches, passes here before it is opened: a link in the project
    (``calibration/``, ``config.yml``, the lock file...) or in a searched folder
    that leads out of the root is refused; one whose target is inside the root
    is fine. Paths that do not lie in the root as written (the state folder,
    where the demo project lives) are not checked here.

    Returns
    -------
    Path
        ``path`` as given.

    Raises
    ------
    KpcalError
        Naming the path and where it leads.
    """
    root = data_root()
    if root is None:
        return Path(path)
    lexical = _lexical(path)
    if not _names_root(lexical, root):
        return Path(path)
    real = _real(lexical)
    if is_within(real, root):
        return Path(path)
    raise KpcalError(
        f"the {what} {os.fspath(path)!r} leads to {str(real)!r}, outside the data folder this "
        f"server allows ({root}): nothing was read or written there; remove the link, or make "
        f"it point inside {root}"
    )


def check_video_to_open(path: str | os.PathLike) -> Path:
    """The last check before a decoder opens a video: inside the data root or kpcal's own folders.

    Videos reach the decoders only after :func:`check_inside_root` with their
    project (:mod:`kpcal_core.video.match`); this refuses anything else
    that would reach them. kpcal's own folders are the state folder (the demo
    projects) and ``KPCAL_DEMO_DIR``.

    Raises
    ------
    KpcalError
        Naming the video, when it leads outside them.
    """
    root = data_root()
    if root is None:
        return Path(path)
    real = _real(path)
    own = [root]
    try:
        from .statedir import state_dir

        own.append(_real(state_dir()))
    except KpcalError:
        pass
    if os.environ.get("KPCAL_DEMO_DIR"):
        own.append(_real(os.environ["KPCAL_DEMO_DIR"]))
    if any(is_within(real, folder) for folder in own):
        return real
    raise KpcalError(outside_message("video", path, root, leads_to=real))


QUOTES = ("'", '"')


def clean_user_path(text: str | os.PathLike, *, what: str = "path") -> str:
    """The path a user typed, as meant: without surrounding spaces and one pair of quotes.

    A path copied from a file manager or a shell often comes quoted
    (``'/data/my project'``); the quotes are not part of it.

    Raises
    ------
    KpcalError
        It is empty, or holds a NUL character (no path can).
    """
    raw = os.fspath(text).strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in QUOTES:
        raw = raw[1:-1].strip()
    if not raw:
        raise KpcalError(f"the {what} is empty")
    if "\x00" in raw:
        raise KpcalError(
            f"the {what} {raw!r} contains a NUL character (\\x00), which no path can hold: "
            "type the path again"
        )
    return raw


def check_path_length(path: Path, typed: str, *, what: str = "path") -> None:
    """Refuse a path longer than the system allows (whole or one of its names).

    Raises
    ------
    KpcalError
        Naming the path as typed and the part that is too long.
    """
    try:
        name_max = os.pathconf("/", "PC_NAME_MAX")
        path_max = os.pathconf("/", "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows): the common limits
        name_max, path_max = 255, 4096
    longest = max(path.parts, key=lambda part: len(os.fsencode(part)), default="")
    if len(os.fsencode(longest)) > name_max:
        raise KpcalError(
            f"the {what} {typed[:80]!r}{'…' if len(typed) > 80 else ''} has a name of "
            f"{len(os.fsencode(longest))} bytes ({longest[:40]!r}…); names can have at most "
            f"{name_max}: check the path"
        )
    if len(os.fsencode(str(path))) >= path_max:
        raise KpcalError(
            f"the {what} {typed[:80]!r}… is {len(os.fsencode(str(path)))} bytes long; paths "
            f"can have at most {path_max - 1}: check the path"
        )


def resolve_user_path(
    text: str | os.PathLike,
    base: str | os.PathLike | None = None,
    *,
    what: str = "path",
    project: str | os.PathLike | None = None,
    source: str | os.PathLike | None = None,
) -> Path:
    """Resolve a typed path (relative to ``base`` when relative) and check it is allowed.

    Glob characters are allowed in the last parts; the check applies to the
    part before the first wildcard, and, with a data root, to what the
    pattern matches now (no ``..`` after a wildcard, no link leading out).
    Surrounding spaces and one pair of quotes are dropped (:func:`clean_user_path`).
    ``project``: the project the path is for (its folder is allowed when it lies
    outside the root, see :func:`allowed_areas`); ``source``: the file the path
    was read from, named in the message (e.g. ``session.json``).

    Raises
    ------
    KpcalError
        The path is empty, holds a NUL character, is too long, cannot be
        resolved, or lies outside the data root.
    """
    typed = clean_user_path(text, what=what)
    path = Path(os.path.expanduser(typed))
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    check_path_length(path, typed, what=what)
    parts = path.parts
    fixed = next((i for i, p in enumerate(parts) if any(c in p for c in "*?[")), len(parts))
    try:
        checked = Path(*parts[:fixed]).resolve() if fixed else Path.cwd().resolve()
    except (OSError, RuntimeError) as error:  # a link loop, a folder removed under us
        raise KpcalError(
            f"the {what} {typed!r} cannot be used: {getattr(error, 'strerror', None) or error}"
        ) from None
    resolved = Path(checked, *parts[fixed:]) if fixed < len(parts) else checked
    areas = allowed_areas(project)
    root = areas[0] if areas is not None else None
    if areas is not None and not any(is_within(checked, area) for area in areas):
        raise KpcalError(outside_message(what, typed, areas[0], source=source))
    if areas is not None and fixed < len(parts):
        # The wildcard part is not resolved above: refuse "..", and matches that are links
        # leading out of the root (checked now; a link made later is not seen).
        if ".." in parts[fixed:]:
            raise KpcalError(
                f"the {what} {typed!r} has '..' after a wildcard, which could lead outside "
                f"the data folder this server allows ({root})"
            )
        pattern = os.path.join(glob.escape(str(checked)), *parts[fixed:])
        for match in glob.iglob(pattern, recursive=True):
            real = Path(match).resolve()
            if not any(is_within(real, area) for area in areas):
                raise KpcalError(
                    f"the {what} {typed!r} matches {match!r}, which leads to {str(real)!r}, "
                    f"outside the data folder this server allows ({root})"
                )
    return resolved
