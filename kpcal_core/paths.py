"""Paths typed by a user, kept inside the data root on a shared server.

With ``KPCAL_DATA_ROOT`` set, every path the app takes from a user (project,
keypoint files, videos) is resolved (``~``, ``..``, symlinks) and refused
unless it lies inside that root. Without it, any path is allowed, as on a
laptop.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from .errors import KpcalError

DATA_ROOT_ENV = "KPCAL_DATA_ROOT"


def data_root() -> Path | None:
    """The root every user path must lie in, or ``None`` when unrestricted."""
    root = os.environ.get(DATA_ROOT_ENV)
    return Path(root).expanduser().resolve() if root else None


def resolve_user_path(
    text: str | os.PathLike, base: str | os.PathLike | None = None, *, what: str = "path"
) -> Path:
    """Resolve a typed path (relative to ``base`` when relative) and check it is allowed.

    Glob characters are allowed in the last parts; the check applies to the
    part before the first wildcard, and, with a data root, to what the
    pattern matches now (no ``..`` after a wildcard, no link leading out).
    """
    raw = os.path.expanduser(str(text).strip())
    if not raw:
        raise KpcalError(f"the {what} is empty")
    path = Path(raw)
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    parts = path.parts
    fixed = next((i for i, p in enumerate(parts) if any(c in p for c in "*?[")), len(parts))
    checked = Path(*parts[:fixed]).resolve() if fixed else Path.cwd().resolve()
    resolved = Path(checked, *parts[fixed:]) if fixed < len(parts) else checked
    root = data_root()
    if root is not None and checked != root and root not in checked.parents:
        raise KpcalError(
            f"the {what} {str(text)!r} is outside the data folder this server allows ({root})"
        )
    if root is not None and fixed < len(parts):
        # The wildcard part is not resolved above: refuse "..", and matches that are links
        # leading out of the root (checked now; a link made later is not seen).
        if ".." in parts[fixed:]:
            raise KpcalError(
                f"the {what} {str(text)!r} has '..' after a wildcard, which could lead outside "
                f"the data folder this server allows ({root})"
            )
        pattern = os.path.join(glob.escape(str(checked)), *parts[fixed:])
        for match in glob.iglob(pattern, recursive=True):
            real = Path(match).resolve()
            if real != root and root not in real.parents:
                raise KpcalError(
                    f"the {what} {str(text)!r} matches {match!r}, which leads to {str(real)!r}, "
                    f"outside the data folder this server allows ({root})"
                )
    return resolved
