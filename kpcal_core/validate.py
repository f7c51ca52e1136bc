"""Checks on keypoint arrays shared by sampling, fitting and the session.

Loaders read files; these functions decide whether what was read (or what a
notebook passed in) can be calibrated, and raise :class:`KpcalError` naming
the recording or bodypart at fault. They never modify their inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .errors import KpcalError
from .wording import count, verb


def check_bodyparts(bodyparts: Sequence[str], use_bodyparts: Sequence[str] | None) -> list[str]:
    """Check ``use_bodyparts`` against ``bodyparts``; return it as a list.

    ``None`` means every bodypart.
    """
    bodyparts = [str(b) for b in bodyparts]
    if len(set(bodyparts)) != len(bodyparts):
        dupes = sorted({b for b in bodyparts if bodyparts.count(b) > 1})
        raise KpcalError(f"bodyparts are listed more than once: {dupes}")
    if use_bodyparts is None:
        return list(bodyparts)
    if isinstance(use_bodyparts, str):
        raise KpcalError(f"use_bodyparts must be a list of names, not the string {use_bodyparts!r}")
    unknown = [b for b in use_bodyparts if b not in bodyparts]
    if unknown:
        raise KpcalError(
            f"use_bodyparts entry {unknown[0]!r} is not one of the bodyparts {bodyparts}"
        )
    if not use_bodyparts:
        raise KpcalError("use_bodyparts is empty: choose at least one bodypart")
    return [str(b) for b in use_bodyparts]


def check_confidences(
    confidences: Mapping[str, np.ndarray], bodyparts: Sequence[str] | None = None
) -> None:
    """Check that each recording's confidences are a (T, K) array of non-negative numbers.

    Parameters
    ----------
    confidences
        ``{recording: (T, K) array}``.
    bodyparts
        If given, ``K`` must equal its length.
    """
    if not isinstance(confidences, Mapping) or len(confidences) == 0:
        raise KpcalError("confidences must be a non-empty dict {recording name: (T, K) array}")
    for name, conf in confidences.items():
        arr = np.asarray(conf)
        if arr.ndim != 2:
            raise KpcalError(
                f"recording {name!r}: confidences must have shape (T, K), got shape {arr.shape}"
            )
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise KpcalError(
                f"recording {name!r}: confidences must be real numbers, got {arr.dtype}"
            )
        if bodyparts is not None and arr.shape[1] != len(bodyparts):
            raise KpcalError(
                f"recording {name!r}: confidences have {count(arr.shape[1], 'keypoint')} "
                f"but {count(len(bodyparts), 'bodypart')} {verb(len(bodyparts), 'is', 'are')} named"
            )
        if arr.size:
            low = np.fmin.reduce(arr, axis=None)  # NaN ignored, no all-NaN warning
            if low < 0:
                frame, k = np.argwhere(arr < 0)[0]
                where = f"bodypart {bodyparts[k]!r}" if bodyparts is not None else f"keypoint {k}"
                raise KpcalError(
                    f"recording {name!r}: negative confidence {arr[frame, k]} at frame {frame}, {where}"
                )
            high = np.fmax.reduce(arr, axis=None)
            if np.isinf(high):
                frame, k = np.argwhere(np.isinf(arr))[0]
                raise KpcalError(f"recording {name!r}: infinite confidence at frame {frame}")


def check_coordinates(
    coordinates: Mapping[str, np.ndarray],
    confidences: Mapping[str, np.ndarray] | None = None,
    bodyparts: Sequence[str] | None = None,
) -> None:
    """Check 2-D coordinates ``{recording: (T, K, 2)}`` and their match with confidences."""
    if not isinstance(coordinates, Mapping) or len(coordinates) == 0:
        raise KpcalError("coordinates must be a non-empty dict {recording name: (T, K, 2) array}")
    for name, coords in coordinates.items():
        arr = np.asarray(coords)
        if arr.ndim != 3 or arr.shape[2] not in (2, 3):
            raise KpcalError(
                f"recording {name!r}: coordinates must have shape (T, K, 2), got shape {arr.shape}"
            )
        if arr.shape[2] == 3:
            raise KpcalError(
                f"recording {name!r}: coordinates are 3-D (shape {arr.shape}); "
                "error calibration works on 2-D keypoints in video frames"
            )
        if bodyparts is not None and arr.shape[1] != len(bodyparts):
            raise KpcalError(
                f"recording {name!r}: coordinates have {count(arr.shape[1], 'keypoint')} "
                f"but {count(len(bodyparts), 'bodypart')} {verb(len(bodyparts), 'is', 'are')} named"
            )
    if confidences is not None:
        missing = sorted(set(coordinates) ^ set(confidences))
        if missing:
            raise KpcalError(
                f"recording {missing[0]!r} is in only one of coordinates and confidences; "
                "both must hold the same recordings"
            )
        for name, coords in coordinates.items():
            c_shape = np.shape(confidences[name])
            if tuple(np.shape(coords)[:2]) != tuple(c_shape):
                raise KpcalError(
                    f"recording {name!r}: coordinates have shape {np.shape(coords)} but "
                    f"confidences have shape {c_shape}; they must agree on (T, K)"
                )


def check_video_frame_indexes(
    video_frame_indexes: Mapping[str, np.ndarray] | None,
    lengths: Mapping[str, int],
) -> dict[str, np.ndarray]:
    """Check (or build) ``{recording: (T,) int array}`` of video frame numbers.

    ``None`` means every keypoint frame is the video frame of the same number.
    """
    if video_frame_indexes is None:
        return {name: np.arange(n) for name, n in lengths.items()}
    if set(video_frame_indexes) != set(lengths):
        extra = sorted(set(video_frame_indexes) - set(lengths))
        missing = sorted(set(lengths) - set(video_frame_indexes))
        what = (
            f"has recording {extra[0]!r} that the keypoints do not"
            if extra
            else f"lacks recording {missing[0]!r}"
        )
        raise KpcalError(
            f"video_frame_indexes {what}; its keys must match the keypoints' recordings"
        )
    out = {}
    for name, n in lengths.items():
        idx = np.asarray(video_frame_indexes[name])
        if idx.ndim != 1 or len(idx) != n:
            raise KpcalError(
                f"recording {name!r}: video_frame_indexes has {idx.size} entries "
                f"but the keypoints have {count(n, 'frame')}"
            )
        if idx.size and (
            not np.issubdtype(idx.dtype, np.number) or np.issubdtype(idx.dtype, np.complexfloating)
        ):
            raise KpcalError(f"recording {name!r}: video_frame_indexes must be whole numbers")
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            if not np.all(np.isfinite(idx)) or not np.all(idx == np.round(idx)):
                raise KpcalError(f"recording {name!r}: video_frame_indexes must be whole numbers")
            idx = idx.astype(np.int64)
        if idx.size and idx.min() < 0:
            raise KpcalError(f"recording {name!r}: video_frame_indexes has a negative frame number")
        out[name] = idx.astype(np.int64, copy=False)
    return out
