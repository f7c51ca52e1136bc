"""One colour per bodypart: 24 that can be told apart, the same on every view; and counts
written in the right number ("1 sample")."""

from __future__ import annotations

import itertools

import numpy as np

from kpcal_core.colours import PALETTE, bodypart_colours, hex_to_rgb
from kpcal_core.wording import count, verb


def cielab(colour: str) -> np.ndarray:
    """CIELAB (D65) of an sRGB ``"#rrggbb"``."""
    c = np.array(hex_to_rgb(colour), dtype=float) / 255
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = (
        np.array(
            [
                [0.4124564, 0.3575761, 0.1804375],
                [0.2126729, 0.7151522, 0.0721750],
                [0.0193339, 0.1191920, 0.9503041],
            ]
        )
        @ c
        / np.array([0.95047, 1.0, 1.08883])
    )
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def apart(a: str, b: str) -> float:
    """CIELAB distance with lightness counted half (a dot over video shows hue more)."""
    d = cielab(a) - cielab(b)
    return float(np.sqrt((d[0] / 2) ** 2 + d[1] ** 2 + d[2] ** 2))


def test_24_bodyparts_get_24_colours_that_are_told_apart():
    """Tableau 20, the palette before, gave two teals 3.5 apart (#76b7b2, #86bcb6)."""
    names = [f"part{i}" for i in range(24)]
    colours = list(bodypart_colours(names).values())
    assert len(set(colours)) == 24
    closest = min(apart(a, b) for a, b in itertools.combinations(colours, 2))
    assert closest >= 20, closest
    for colour in colours:  # neither lost on a dark frame nor washed out on a light one
        assert 40 <= cielab(colour)[0] <= 90, colour


def test_colours_are_stable_and_start_with_tableau_10():
    assert PALETTE[:3] == ("#4e79a7", "#f28e2b", "#e15759")
    assert bodypart_colours(["a", "b"]) == {"a": PALETTE[0], "b": PALETTE[1]}
    many = bodypart_colours([f"p{i}" for i in range(30)])
    assert many["p24"] == PALETTE[0]  # beyond 24 they repeat, in order


def test_counts_of_one_are_singular():
    assert count(1, "sample") == "1 sample" and count(0, "sample") == "0 samples"
    assert count(2500, "keypoint") == "2,500 keypoints"
    assert count(1, "more annotation") == "1 more annotation"
    assert count(3, "index", "indexes") == "3 indexes"
    assert verb(1, "has", "have") == "has" and verb(2, "has", "have") == "have"
