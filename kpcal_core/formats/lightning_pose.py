"""Lightning Pose output: a ``.csv`` in DeepLabCut's layout.

Owns the ``lightning-pose`` format. Recognised by DeepLabCut's header rows
with every scorer ending in ``_tracker`` (``heatmap_tracker``,
``heatmap_mhcrnn_tracker``, ``ensemble-kalman_tracker``, ...); read by
:func:`kpcal_core.formats.deeplabcut.read_csv`. Being a variant of
``deeplabcut``, either format name reads these files.

Pixel convention: Lightning Pose stores pixel-centre coordinates as
DeepLabCut does (kpcal's convention): values are returned as stored, float64.
"""

from __future__ import annotations

from . import deeplabcut
from .model import PoseFile, PoseFormat, ReadOptions
from .probe import FileProbe

NAME = "lightning-pose"


def recognise(probe: FileProbe) -> bool:
    """DeepLabCut's CSV header whose scorers all end with ``_tracker``."""
    if probe.is_hdf5 or deeplabcut.header_levels(probe.header) is None:
        return False
    scorers = {s for s in probe.header[0][1:] if s}
    return bool(scorers) and all(s.endswith("_tracker") for s in scorers)


def read(probe: FileProbe, options: ReadOptions) -> PoseFile:
    """Read a Lightning Pose CSV."""
    return deeplabcut.read_csv(probe, options, NAME)


FORMAT = PoseFormat(
    name=NAME,
    label="Lightning Pose (.csv)",
    extensions=(".csv",),
    recognise=recognise,
    read=read,
    variant_of=deeplabcut.NAME,
)
