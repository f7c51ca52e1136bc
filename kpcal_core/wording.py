"""How counts are written in sentences shown to people: "1 sample", "2 samples"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` in the right number, with thousands separators.

    Parameters
    ----------
    n
        How many.
    noun
        The singular (``"sample"``, ``"more annotation"``).
    plural
        The plural when it is not ``noun + "s"``.

    Examples
    --------
    >>> count(1, "sample"), count(1200, "keypoint"), count(0, "edit")
    ('1 sample', '1,200 keypoints', '0 edits')
    """
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def verb(n: int, singular: str, plural: str) -> str:
    """The verb that agrees with ``n``: ``verb(1, "has", "have") == "has"``."""
    return singular if n == 1 else plural
