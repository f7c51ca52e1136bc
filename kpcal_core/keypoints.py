"""keypoint-MoSeq's loader names, kept importable from ``kpcal_core.keypoints``.

The readers live in :mod:`kpcal_core.formats` (one module per format, a
registry, discovery); this module only re-exports what existed here.
"""

from .formats import (
    FORMAT_EXTENSIONS,
    FORMATS,
    detect_format,
    load_keypoints,
    read_keypoints,
    stored_skeleton,
    stored_video_paths,
)

__all__ = [
    "FORMATS",
    "FORMAT_EXTENSIONS",
    "detect_format",
    "load_keypoints",
    "read_keypoints",
    "stored_skeleton",
    "stored_video_paths",
]
