"""One colour per bodypart, the same on the charts, the annotate view and the demo video.

The palette is Tableau 10 (a qualitative palette made for charts, colour-blind
aware), then 14 colours picked one at a time as far as possible from every
colour before them (Glasbey's method): among the sRGB colours on a grid of step 4
with CIELAB lightness L* 45–85 and chroma 30–75 (neither too dark on a dark
video frame nor washed out on a light one), each next colour is the one whose
nearest colour already chosen is farthest, by CIELAB distance with lightness
counted half (on a dot drawn over the video, lightness differences show less than
hue ones). Any two of the 24 are at least 20 apart by that distance (the closest:
Tableau's brown and grey); in Tableau 20, the palette before, seven pairs were
closer than 12 (two teals 3.5 apart, two pinks 6.9). Projects with more bodyparts reuse the colours in order; the annotate view
marks the target bodypart by a yellow circle, whatever its colour.
"""

from __future__ import annotations

from collections.abc import Sequence

#: 24 distinct colours: Tableau 10, then 14 chosen as the module docstring says.
PALETTE = (
    # Tableau 10
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    # each as far as possible from all before it
    "#6c60e0",
    "#d0188c",
    "#00ecc4",
    "#f498fc",
    "#b8e048",
    "#0090f8",
    "#d8d894",
    "#00d0fc",
    "#28ec8c",
    "#906418",
    "#8070c0",
    "#6c7800",
    "#fc3c7c",
    "#fc9c70",
)


def bodypart_colours(bodyparts: Sequence[str]) -> dict[str, str]:
    """``{bodypart: "#rrggbb"}``, by position in the project's bodypart list (stable)."""
    return {str(b): PALETTE[i % len(PALETTE)] for i, b in enumerate(bodyparts)}


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` as an ``(r, g, b)`` tuple of 0–255 integers."""
    text = colour.lstrip("#")
    return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
