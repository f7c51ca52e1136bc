"""The view's pixel convention, pinned to a fraction of a pixel.

kpcal's coordinates are pixel-centre based (the centre of the top-left pixel
is (0, 0)). These tests fail on a half-pixel slip anywhere between the frame,
the rendered view, the markers drawn on it and the click mapping:

- ``to_frame`` and ``to_display`` are exact inverses at every zoom and shown width;
- a browser offset rounded as Chromium rounds it maps back without bias;
- a one-pixel dot drawn into a frame is found in the rendered view at the display
  pixel that maps back to its video position (within 0.05 video px);
- the markers (annotation X, detected-position circle) are drawn centred on their
  position to a tenth of a display pixel;
- zoom is in video pixels (issue 21): a magnification is display pixels per video
  pixel whatever the keypoints, zoom out reaches the whole frame, and the sampled
  keypoint is in view at every zoom.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpcal_core.views import (
    FIT,
    FRAME,
    MAGNIFICATIONS,
    ZOOMS,
    CropView,
    crop_for_sample,
    parse_zoom,
    render_view,
    step_zoom,
    zoom_label,
)

FRAME_SHAPES = [(360, 480), (1024, 1280)]
SHOWN_WIDTHS = [None, 560.0, 300.0, 437.5, 700.0, 1123.0]


def demo_like_keypoints(center: np.ndarray, extent: float) -> np.ndarray:
    """``(4, 2)`` keypoints around ``center``, the farthest ``extent`` away."""
    return center + np.array([[0.0, 0.0], [extent, 0.0], [0.0, -0.6 * extent], [-0.3, 0.4]])


# --------------------------------------------------------------------------- click maths


@settings(max_examples=300, deadline=None)
@given(
    frame=st.sampled_from(FRAME_SHAPES),
    zoom=st.sampled_from(ZOOMS),
    shown_width=st.sampled_from(SHOWN_WIDTHS),
    display_size=st.sampled_from([560, 400, 733]),
    cx=st.floats(0, 1),
    cy=st.floats(0, 1),
    extent=st.floats(0, 300),
    px=st.floats(-0.2, 1.2),
    py=st.floats(-0.2, 1.2),
)
def test_to_frame_inverts_to_display_at_every_zoom_and_shown_width(
    frame, zoom, shown_width, display_size, cx, cy, extent, px, py
):
    height, width = frame
    center = np.array([cx * (width - 1), cy * (height - 1)])
    view = crop_for_sample(
        frame, center, demo_like_keypoints(center, extent), zoom=zoom, display_size=display_size
    )
    x, y = px * width, py * height
    u, v = view.to_display(x, y, shown_width)
    back = view.to_frame(u, v, shown_width)
    assert back[0] == pytest.approx(x, abs=1e-9)
    assert back[1] == pytest.approx(y, abs=1e-9)
    # and the other way round, from a browser offset
    fx, fy = view.to_frame(px * 500, py * 500, shown_width)
    again = view.to_display(fx, fy, shown_width)
    assert again[0] == pytest.approx(px * 500, abs=1e-9)
    assert again[1] == pytest.approx(py * 500, abs=1e-9)


@pytest.mark.parametrize("shown_width", [None, 560.0, 437.5, 1123.0])
def test_offsets_mean_pixel_corners_and_the_centre_pixel_is_the_keypoint(shown_width):
    """The browser's offset counts from the image's corner; display pixels from their centre."""
    view = crop_for_sample((360, 480), (200.3, 150.7), None, zoom=FIT)
    per = (shown_width or 560) / 560
    # the top-left corner of the image is half a display pixel before pixel (0, 0)'s centre
    corner = view.to_frame(0.0, 0.0, shown_width)
    assert corner[0] == pytest.approx(view.x0 - view.scale / 2, abs=1e-9)
    assert corner[1] == pytest.approx(view.y0 - view.scale / 2, abs=1e-9)
    # the centre of display pixel (3, 7) is at offset (3.5, 7.5) display pixels
    centre = view.to_frame(3.5 * per, 7.5 * per, shown_width)
    assert centre == pytest.approx(view.pixel_to_frame(3, 7), abs=1e-9)
    # the sampled keypoint is at the exact centre of the image
    assert view.to_display(200.3, 150.7, shown_width) == pytest.approx((280 * per, 280 * per))
    assert view.frame_to_pixel(200.3, 150.7) == pytest.approx((279.5, 279.5), abs=1e-9)


@pytest.mark.parametrize("zoom", ZOOMS)
@pytest.mark.parametrize("shown_width", [None, 437.5, 1123.0])
def test_clicks_rounded_as_chromium_rounds_them_have_no_mean_error(zoom, shown_width):
    """Chromium reports ``round(offset)``; spread clicks must come back unbiased.

    A +0.5 display pixel slip in :meth:`CropView.to_frame` gives a mean error of
    half a display pixel here.
    """
    view = crop_for_sample((360, 480), (211.37, 163.81), None, zoom=zoom)
    rng = np.random.default_rng(ZOOMS.index(zoom) + int(shown_width or 0))
    true_xy = rng.uniform([150, 100], [270, 220], size=(4000, 2))
    offsets = np.array([view.to_display(x, y, shown_width) for x, y in true_xy])
    reported = np.floor(offsets + 0.5)  # Chromium: nearest whole pixel, halves up
    saved = np.array([view.to_frame(u, v, shown_width) for u, v in reported])
    per = (shown_width or 560) / 560
    error_shown = (saved - true_xy) / view.scale * per  # in shown (CSS) pixels
    assert np.abs(error_shown).max() <= 0.5 + 1e-9  # each click: within its rounding
    assert np.abs(error_shown.mean(axis=0)).max() < 0.02  # no bias (SD of the mean 0.005)


def test_a_magnification_is_display_pixels_per_video_pixel_whatever_the_keypoints():
    """Issue 21: zoom was relative to a window sized from the keypoints, so with two
    keypoints close together "2x" showed 48 video pixels over 560 (11.7 display
    pixels per video pixel, a blur). Now 2x is 2 display pixels per video pixel."""
    center = np.array([240.25, 180.75])
    two_close = np.array([center, center + (6.0, 4.0)])
    spread = demo_like_keypoints(center, 150.0)
    for keypoints in (None, two_close, spread):
        sides = []
        for m in MAGNIFICATIONS:
            view = crop_for_sample((360, 480), center, keypoints, zoom=m, display_size=480)
            assert view.scale == pytest.approx(1 / m)
            sides.append(view.scale * view.display_width)
            # on the video pixel grid: display pixel centres sit symmetrically in video pixels
            assert (view.x0 - view.scale / 2 + 0.5) % 1 == pytest.approx(0, abs=1e-9)
            assert (view.y0 - view.scale / 2 + 0.5) % 1 == pytest.approx(0, abs=1e-9)
            # the keypoint within half a video pixel of the image's centre
            u, v = view.frame_to_pixel(*center)
            assert abs(u - 239.5) * view.scale <= 0.5 + 1e-9
            assert abs(v - 239.5) * view.scale <= 0.5 + 1e-9
        assert sides == [480 / m for m in MAGNIFICATIONS]
    one = crop_for_sample((360, 480), center, two_close, zoom="1", display_size=480)
    assert (one.x0, one.y0) == (one.x0 // 1, one.y0 // 1)  # 1x: each display pixel a video pixel


def test_fit_is_the_default_and_frames_the_animal():
    center = np.array([240.25, 180.75])
    view = crop_for_sample((360, 480), center, demo_like_keypoints(center, 60.0))
    assert view == crop_for_sample((360, 480), center, demo_like_keypoints(center, 60.0), FIT)
    assert view.scale * view.display_width == pytest.approx(150.0)  # 2.5 times the spread
    assert view.frame_to_pixel(*center) == pytest.approx((279.5, 279.5), abs=1e-9)


@pytest.mark.parametrize("frame", FRAME_SHAPES)
def test_zoom_out_reaches_the_whole_frame(frame):
    """Issue 21: there was no zoom below the animal's window; "frame" shows all of it."""
    height, width = frame
    center = np.array([0.1 * width, 0.9 * height])
    keypoints = np.array([center, center + (3.0, 2.0)])
    zoom = FIT
    for _ in range(len(ZOOMS)):
        zoom = step_zoom(zoom, -1, frame, center, keypoints, display_size=500)
    assert zoom == FRAME and step_zoom(FRAME, -1, frame, center, keypoints, 500) == FRAME
    view = crop_for_sample(frame, center, keypoints, FRAME, display_size=500)
    corner = view.to_frame(0, 0)
    far = view.to_frame(500, 500)
    assert corner[0] <= -0.5 + 1e-9 and corner[1] <= -0.5 + 1e-9
    assert far[0] >= width - 0.5 - 1e-9 and far[1] >= height - 0.5 - 1e-9
    assert max(far[0] - corner[0], far[1] - corner[1]) == pytest.approx(max(frame))


def test_zoom_steps_go_through_the_magnifications_from_where_the_view_is():
    frame, center = (360, 480), np.array([200.0, 150.0])
    two_close = np.array([center, center + (20.0, 0.0)])  # fit: a 96 px window, 5.8x at 560
    assert 1 / crop_for_sample(frame, center, two_close, FIT).scale == pytest.approx(560 / 96)
    assert step_zoom(FIT, +1, frame, center, two_close) == "6"
    assert step_zoom(FIT, -1, frame, center, two_close) == "4"
    assert step_zoom("1", -1, frame, center, two_close) == FRAME  # 560 px: more than the frame
    assert step_zoom(FRAME, +1, frame, center, two_close) == "2"  # the frame is 1.17x
    assert step_zoom("16", +1, frame, center, two_close) == "16"  # the largest
    assert step_zoom("3", 0, frame, center, two_close) == "3"
    big = (1024, 1280)
    assert step_zoom("1", -1, big, center, two_close) == "0.5"
    assert step_zoom("0.5", -1, big, center, two_close) == FRAME  # 0.44x shows it all


@settings(max_examples=200, deadline=None)
@given(
    frame=st.sampled_from(FRAME_SHAPES),
    zoom=st.sampled_from(ZOOMS),
    display_size=st.sampled_from([240, 404, 560, 1600]),
    cx=st.floats(-0.3, 1.3),
    cy=st.floats(-0.3, 1.3),
    extent=st.floats(0, 600),
)
def test_the_sampled_keypoint_is_in_view_at_every_zoom(frame, zoom, display_size, cx, cy, extent):
    height, width = frame
    center = np.array([cx * width, cy * height])  # also off the frame
    view = crop_for_sample(
        frame, center, demo_like_keypoints(center, extent), zoom=zoom, display_size=display_size
    )
    u, v = view.to_display(*center)
    assert 0 <= u <= display_size and 0 <= v <= display_size, (zoom, view)


def test_zooms_from_an_address_are_read_strictly():
    for text, zoom in [("fit", FIT), ("FRAME", FRAME), ("3", "3"), ("3.0", "3"), ("0.5", "0.5")]:
        assert parse_zoom(text) == zoom
    assert parse_zoom("2x") == "2" and parse_zoom(4.0) == "4"
    for junk in ["", "2.5", "0", "-1", "nan", "inf", "1e3", "3" * 50, "fit;", None, True, [3]]:
        assert parse_zoom(junk) is None, junk
    with pytest.raises(ValueError):
        crop_for_sample((360, 480), (1.0, 2.0), None, zoom="2.5")
    view = crop_for_sample((360, 480), (100.0, 100.0), None, FIT)
    assert zoom_label("3") == "3×" and zoom_label(FIT, view) == "fit (1.2×)"
    assert zoom_label(FRAME) == "whole frame"


# --------------------------------------------------------------------------- render


def dot_centroid(image: np.ndarray, channel: int = 0) -> tuple[float, float]:
    """Intensity-weighted centre ``(u, v)`` of the bright spot, display pixels, centre based."""
    values = image[..., channel].astype(float)
    values -= np.median(values)
    values[values < 0] = 0
    peak_v, peak_u = np.unravel_index(np.argmax(values), values.shape)
    window = 40
    v0, u0 = max(peak_v - window, 0), max(peak_u - window, 0)
    patch = values[v0 : peak_v + window + 1, u0 : peak_u + window + 1]
    vv, uu = np.mgrid[v0 : v0 + patch.shape[0], u0 : u0 + patch.shape[1]]
    total = patch.sum()
    assert total > 0, "no dot in the rendered view"
    return float((uu * patch).sum() / total), float((vv * patch).sum() / total)


@pytest.mark.parametrize("zoom", [FIT, "1", "2", "3", "4", "6", "16"])
@pytest.mark.parametrize(
    "center, extent",
    [((240.3, 180.6), 40.0), ((101.77, 250.21), 70.0), ((333.5, 77.25), 0.0)],
)
def test_a_one_pixel_dot_is_found_where_the_view_maps_it(zoom, center, extent):
    """Draw one bright pixel at video (i, j); the view must show it at the display
    position that maps back to (i, j) (the pixel's centre) within 0.05 video px."""
    frame = np.zeros((360, 480, 3), np.uint8)
    i, j = round(center[0]) + 3, round(center[1]) - 2  # near the centre, off the grid
    frame[j, i] = 255
    view = crop_for_sample(
        frame.shape, center, demo_like_keypoints(np.array(center), extent), zoom=zoom
    )
    assert view.scale <= 1  # the demo's frames: these zooms magnify
    rendered = render_view(frame, view, target_xy=(math.nan, math.nan))
    u, v = dot_centroid(rendered)
    found = view.pixel_to_frame(u, v)
    assert abs(found[0] - i) < 0.05 and abs(found[1] - j) < 0.05, (found, (i, j), view)
    # and a click on that spot (its offset from the image's corner) lands there too
    for shown in (None, 437.5):
        per = (shown or view.display_width) / view.display_width
        clicked = view.to_frame((u + 0.5) * per, (v + 0.5) * per, shown)
        assert abs(clicked[0] - i) < 0.05 and abs(clicked[1] - j) < 0.05


@pytest.mark.parametrize("zoom", [FIT, FRAME, "0.5"])
def test_a_spot_is_found_where_the_view_maps_it_when_the_view_shrinks_the_frame(zoom):
    """Zoomed out on a large frame (more than one video pixel per display pixel) a
    one-pixel dot can fall between samples, so a smooth spot stands in for it."""
    height, width = 1024, 1280
    cx, cy = 612.0, 498.0
    yy, xx = np.mgrid[0:height, 0:width]
    spot = 255 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 4.0**2))
    frame = np.repeat(spot.round().astype(np.uint8)[..., None], 3, axis=2)
    view = crop_for_sample(
        frame.shape, (640.4, 512.8), demo_like_keypoints(np.array([640.4, 512.8]), 500), zoom
    )
    assert view.scale > 1
    u, v = dot_centroid(render_view(frame, view, target_xy=(math.nan, math.nan)))
    found = view.pixel_to_frame(u, v)
    assert abs(found[0] - cx) < 0.05 and abs(found[1] - cy) < 0.05, (found, view)


@pytest.mark.parametrize("zoom", [1.0, 3.0, 6.0])
def test_markers_are_drawn_centred_on_their_position(zoom):
    """The red X (the click) and the yellow circle (the detection) are centred on
    their video positions to 0.1 display pixel."""
    frame = np.zeros((360, 480, 3), np.uint8)
    center = (240.37, 180.81)
    view = crop_for_sample(frame.shape, center, None, zoom=zoom)
    clicked = (243.13, 178.58)
    image = render_view(frame, view, target_xy=(math.nan, math.nan), annotation_xy=clicked)
    red = image.copy()
    red[..., 0][image[..., 1] > 100] = 0  # keep red only (the X's colour has little green)
    expected = view.frame_to_pixel(*clicked)
    assert dot_centroid(red) == pytest.approx(expected, abs=0.1)

    image = render_view(frame, view, target_xy=center)
    centroid = dot_centroid(image, channel=1)  # yellow: strong green
    assert centroid == pytest.approx(view.frame_to_pixel(*center), abs=0.1)


def test_crop_view_constructed_by_hand_follows_the_same_rule():
    """``x0`` is the video position at the centre of display pixel 0 (OpenCV's rule)."""
    frame = np.zeros((50, 50, 3), np.uint8)
    frame[20, 30] = 255
    view = CropView(x0=25.0, y0=15.0, scale=0.25, display_width=40, display_height=40)
    image = render_view(frame, view, target_xy=(math.nan, math.nan))
    # video (30, 20) is display ((30 - 25) / 0.25, (20 - 15) / 0.25) = (20, 20)
    assert np.unravel_index(np.argmax(image[..., 0]), image.shape[:2]) == (20, 20)
    assert image[20, 20, 0] == 255
    assert dot_centroid(image) == pytest.approx((20.0, 20.0), abs=0.02)
