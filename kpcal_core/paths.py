"""Paths typed by a user: read as meant, refused with a message naming them, kept inside
the data root on a shared server.

A typed path loses surrounding spaces and one pair of quotes; an empty path, a NUL
character and a path longer than the system allows are refused (:class:`KpcalError`
naming the path) before anything touches the disk. With ``KPCAL_DATA_ROOT`` set,
every path the app takes from a user (project, keypoint files, videos) is
resolved (``~``, ``..``, symlinks) and refused unless it lies inside that root.
Without it, any path is allowed, as on a laptop.
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
    text: str | os.PathLike, base: str | os.PathLike | None = None, *, what: str = "path"
) -> Path:
    """Resolve a typed path (relative to ``base`` when relative) and check it is allowed.

    Glob characters are allowed in the last parts; the check applies to the
    part before the first wildcard, and, with a data root, to what the
    pattern matches now (no ``..`` after a wildcard, no link leading out).
    Surrounding spaces and one pair of quotes are dropped (:func:`clean_user_path`).

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
    root = data_root()
    if root is not None and checked != root and root not in checked.parents:
        raise KpcalError(
            f"the {what} {typed!r} is outside the data folder this server allows ({root})"
        )
    if root is not None and fixed < len(parts):
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
            if real != root and root not in real.parents:
                raise KpcalError(
                    f"the {what} {typed!r} matches {match!r}, which leads to {str(real)!r}, "
                    f"outside the data folder this server allows ({root})"
                )
    return resolved
