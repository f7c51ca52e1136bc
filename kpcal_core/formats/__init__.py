"""Pose formats: reading DeepLabCut, SLEAP, Lightning Pose and NWB files.

Modules, one concern each:

- ``model``: what a reader returns (:class:`PoseFile`) and what a format is
  (:class:`PoseFormat`)
- ``registry``: the one list of formats (:data:`FORMATS`), detection by
  content (:func:`detect_format`)
- ``deeplabcut``, ``lightning_pose``, ``sleap``, ``nwb``: one module per
  format, each saying how to recognise its files, how to read them, and
  which pixel convention they store
- ``probe``: the first look at a file that recognisers share
- ``pickle_guard``: the safety check of every HDF5 file before anything reads it
  (no pickle that imports, no link to another file, a bounded walk)
- ``discovery``: files from a file, folder, glob or list; recording names;
  duplicate outputs for one video
- ``loading``: :func:`read_keypoints` (kpcal's loader) and
  :func:`load_keypoints` (keypoint-MoSeq's), checked together
- ``stored_video``: where the video a pose file stores is on this machine
  (paths only: formats import no video code)
- ``anatomy``: :func:`choose_anterior_posterior` from bodypart names

Coordinates are pixel-centre based: the centre of the top-left pixel is
(0, 0), as in OpenCV, DeepLabCut and SLEAP files of format 1.1 and later.
"""

from .anatomy import choose_anterior_posterior
from .discovery import DUPLICATE_CHOICES, DuplicateGroup
from .loading import (
    LoadedKeypoints,
    load_keypoints,
    read_keypoints,
    stored_skeleton,
    stored_video_paths,
)
from .model import PoseFile, PoseFormat
from .registry import FORMAT_EXTENSIONS, FORMATS, REGISTRY, detect_format, get_format

__all__ = [
    "DUPLICATE_CHOICES",
    "FORMATS",
    "FORMAT_EXTENSIONS",
    "REGISTRY",
    "DuplicateGroup",
    "LoadedKeypoints",
    "PoseFile",
    "PoseFormat",
    "choose_anterior_posterior",
    "detect_format",
    "get_format",
    "load_keypoints",
    "read_keypoints",
    "stored_skeleton",
    "stored_video_paths",
]
