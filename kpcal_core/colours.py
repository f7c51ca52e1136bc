"""One colour per bodypart, the same on the charts, the annotate view and the demo video."""

from __future__ import annotations

from collections.abc import Sequence

#: Categorical palette (Tableau 10, then 10 lighter tones): colour-blind aware, distinct.
PALETTE = (
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
    "#a0cbe8",
    "#ffbe7d",
    "#ff9d9a",
    "#86bcb6",
    "#8cd17d",
    "#f1ce63",
    "#d4a6c8",
    "#fabfd2",
    "#d7b5a6",
    "#79706e",
)


def bodypart_colours(bodyparts: Sequence[str]) -> dict[str, str]:
    """``{bodypart: "#rrggbb"}``, by position in the project's bodypart list (stable)."""
    return {str(b): PALETTE[i % len(PALETTE)] for i, b in enumerate(bodyparts)}


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` as an ``(r, g, b)`` tuple of 0–255 integers."""
    text = colour.lstrip("#")
    return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
