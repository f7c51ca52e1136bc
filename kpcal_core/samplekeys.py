"""What a sample is: the ``(recording, frame, bodypart)`` key, and its one check.

A sample key names one keypoint of one keypoint frame, as keypoint-MoSeq's
calibration does: ``recording`` is the recording name, ``frame`` the index
into that recording's keypoint arrays (not the video frame), ``bodypart`` a
bodypart name. Every module takes its keys through :func:`check_sample_key`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from .errors import KpcalError

SampleKey = tuple[str, int, str]


def check_sample_key(key: object) -> SampleKey:
    """``key`` as a ``(str, int, str)`` tuple, or :class:`KpcalError` saying what is wrong.

    Accepts any 3-sequence whose frame is a whole number (an ``int``, a
    float without fraction, a numpy integer, or digits as text); refuses
    booleans, negative frames and empty names (the annotation file reader
    refuses them too, so they must never be written).
    """
    try:
        # Any 3-item iterable; anything else raises TypeError or ValueError here.
        recording, frame, bodypart = cast("Iterable[Any]", key)
    except (TypeError, ValueError):
        raise KpcalError(
            f"sample key {key!r} must be a (recording, frame, bodypart) tuple"
        ) from None
    try:
        whole = int(frame)
        exact = whole == frame if not isinstance(frame, str) else str(whole) == frame.strip()
    except (TypeError, ValueError, OverflowError):
        exact = False
    if not exact or isinstance(frame, bool):
        raise KpcalError(f"sample key {key!r}: frame must be a whole number")
    if whole < 0:
        raise KpcalError(f"sample key {key!r}: frame must not be negative")
    if str(recording) == "" or str(bodypart) == "":
        raise KpcalError(f"sample key {key!r}: empty recording name or bodypart")
    return (str(recording), whole, str(bodypart))
