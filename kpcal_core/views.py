"""The image a person clicks on: a window of the video frame around the sampled keypoint.

:func:`crop_for_sample` chooses the window for a zoom (:data:`FIT`: the animal
fills the view, the default; :data:`FRAME`: the whole frame; or a fixed
magnification, display pixels per video pixel, 1 meaning one video pixel per
display pixel; the sampled keypoint is always in view) and returns a
:class:`CropView` that converts between display pixels and full-frame video
pixels; :func:`step_zoom` is the next zoom in or out, :func:`parse_zoom` and
:func:`zoom_label` read and name a zoom. :func:`render_view` draws the window
with the detected position (yellow open circle), the other keypoints and
skeleton (faint) and the annotation (red X). Pure numpy/OpenCV: no Streamlit
here, so every conversion is testable.

Pixel convention (kpcal's, everywhere): positions are pixel-centre based, the
centre of a frame's top-left pixel is (0, 0), as in OpenCV, DeepLabCut and
SLEAP files of format 1.1 on. The view is resampled and its markers drawn in
that convention, and a click reported by the browser (its offset from the
image's corner, rounded to whole shown pixels) maps back to it without bias;
see :class:`CropView`. ``tests/engine/test_views.py`` and
``tests/browser/test_browser_click_accuracy.py`` pin it to a twentieth of a pixel.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

YELLOW = (255, 221, 0)
RED = (255, 40, 40)
FAINT = (120, 200, 255)
MIN_CROP_PX = 48.0
#: The default zoom: the animal fills the view (a window 2.5 times the keypoints' spread
#: around the sampled keypoint).
FIT = "fit"
#: The whole video frame in view (and the sampled keypoint, should it lie off the frame).
FRAME = "frame"
#: The fixed magnifications the annotate page offers: display pixels per video pixel.
MAGNIFICATIONS = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)
#: Every zoom :func:`parse_zoom` accepts, as text: the two modes, then the magnifications.
ZOOMS = (FIT, FRAME, *(f"{m:g}" for m in MAGNIFICATIONS))
#: Video pixels kept around a sampled keypoint that lies off the frame, at :data:`FRAME`.
FRAME_MARGIN_PX = 20.0
#: The two tones of the stripes drawn where the view extends past the video frame.
PADDING_TONES = ((58, 52, 70), (84, 76, 100))


@dataclass(frozen=True)
class CropView:
    """A window of a video frame shown at a display size.

    Coordinates follow one convention everywhere in kpcal: pixel-centre based,
    as OpenCV, DeepLabCut and current SLEAP files. In video coordinates the
    centre of the top-left pixel is (0, 0) and pixel ``i`` covers
    ``[i - 0.5, i + 0.5]``; in the rendered image likewise display pixel ``u``
    covers ``[u - 0.5, u + 0.5]``, and its centre shows video position
    ``x0 + u * scale`` (:meth:`pixel_to_frame`, :meth:`frame_to_pixel`, and
    what :func:`render_view` draws).

    The browser reports a click differently: as its offset from the image's
    top-left *corner*, in pixels of the image as shown (``shown_width`` wide),
    rounded by Chromium to the nearest whole pixel (offset ``k`` stands for a
    click anywhere in ``[k - 0.5, k + 0.5)``, on average at ``k``).
    :meth:`to_frame` and :meth:`to_display` convert between that offset and
    video positions, exactly inverse to each other at any zoom and shown width.

    Attributes
    ----------
    x0, y0
        Video position shown at the centre of display pixel (0, 0).
    scale
        Video pixels per display pixel (< 1 when zoomed in: sub-pixel precision).
    display_width, display_height
        Size of the rendered image in pixels.
    frame_width, frame_height
        Size of the video frame (0: unknown).
    """

    x0: float
    y0: float
    scale: float
    display_width: int
    display_height: int
    frame_width: int = 0
    frame_height: int = 0

    def _shown_per_display(self, shown_width: float | None) -> float:
        """Shown (CSS) pixels per display pixel: 1 unless the browser resized the image."""
        return float(shown_width) / self.display_width if shown_width else 1.0

    def pixel_to_frame(self, u: float, v: float) -> tuple[float, float]:
        """Video position shown at display position ``(u, v)`` (pixel-centre based)."""
        return (self.x0 + u * self.scale, self.y0 + v * self.scale)

    def contains(self, x: float, y: float) -> bool:
        """True when video position ``(x, y)`` lies on the frame (pixel centres at integers)."""
        if not (self.frame_width and self.frame_height):
            return True
        return -0.5 <= x <= self.frame_width - 0.5 and -0.5 <= y <= self.frame_height - 0.5

    def frame_to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """Display position (pixel-centre based) showing video position ``(x, y)``."""
        return ((x - self.x0) / self.scale, (y - self.y0) / self.scale)

    def to_frame(self, u: float, v: float, shown_width: float | None = None) -> tuple[float, float]:
        """Video position of a click the browser reported at offset ``(u, v)``.

        Parameters
        ----------
        u, v
            The click's offset from the image's top-left corner in shown pixels,
            a continuous position (the click view's ``x``, ``y``: where the
            pointer went down, see :mod:`kpcal_app.click`).
        shown_width
            The width the browser drew the image at (the component's
            ``width``); ``None``: the image's own width.

        Returns
        -------
        tuple of float
            ``(x, y)`` in video pixels, pixel-centre based.
        """
        per = self._shown_per_display(shown_width)
        # corner-based shown offset -> corner-based display -> centre-based display
        return self.pixel_to_frame(u / per - 0.5, v / per - 0.5)

    def to_display(
        self, x: float, y: float, shown_width: float | None = None
    ) -> tuple[float, float]:
        """Offset from the image's top-left corner, in shown pixels, of video position ``(x, y)``.

        The exact inverse of :meth:`to_frame`: where to click to mark ``(x, y)``.
        """
        per = self._shown_per_display(shown_width)
        u, v = self.frame_to_pixel(x, y)
        return ((u + 0.5) * per, (v + 0.5) * per)


def animal_extent(points: np.ndarray, center: np.ndarray) -> float:
    """Largest distance from ``center`` to any keypoint of ``points`` (``(K, 2)``, NaN ignored)."""
    valid = points[~np.isnan(points).any(axis=1)]
    if len(valid) == 0:
        return 0.0
    return float(np.sqrt(((valid - center) ** 2).sum(axis=1)).max())


def parse_zoom(text: object) -> str | None:
    """A zoom as the annotate page keeps it (one of :data:`ZOOMS`), or ``None``.

    Parameters
    ----------
    text
        ``"fit"``, ``"frame"``, or a magnification of :data:`MAGNIFICATIONS`
        (``"3"``, ``"3.0"``, ``"3x"``, ``3.0``); anything else (from an address
        anyone can write) is ``None``.
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        text = f"{float(text):g}"
    if not isinstance(text, str) or len(text) > 8:
        return None
    word = text.strip().lower().removesuffix("x").removesuffix("×")
    if word in (FIT, FRAME):
        return word
    try:
        number = float(word)
    except ValueError:
        return None
    return f"{number:g}" if number in MAGNIFICATIONS else None


def magnification(zoom: str | float) -> float | None:
    """The fixed magnification of ``zoom`` (display pixels per video pixel).

    ``None`` for :data:`FIT` and :data:`FRAME` (theirs depends on the sample and the
    view's size).
    """
    parsed = parse_zoom(zoom) or _not_a_zoom(zoom)
    return None if parsed in (FIT, FRAME) else float(parsed)


def zoom_label(zoom: str | float, view: CropView | None = None) -> str:
    """``zoom`` in words: "fit (2.3×)", "whole frame (0.4×)", "3×".

    The magnification of ``view`` is in brackets, when given.
    """
    fixed = magnification(zoom)
    if fixed is not None:
        return f"{fixed:g}×"
    name = "fit" if parse_zoom(zoom) == FIT else "whole frame"
    return name if view is None else f"{name} ({1 / view.scale:.2g}×)"


def crop_for_sample(
    frame_shape: Sequence[int],
    center_xy: Sequence[float],
    keypoints_xy: np.ndarray | None = None,
    zoom: str | float = FIT,
    display_size: int = 560,
) -> CropView:
    """The window to show for one sample, square, ``display_size`` pixels a side.

    Parameters
    ----------
    frame_shape
        ``(H, W, ...)`` of the video frame.
    center_xy
        The sampled keypoint's detected position (the window's centre, but at
        :data:`FRAME`).
    keypoints_xy
        ``(K, 2)`` all keypoints of that frame: at :data:`FIT` the window is 2.5
        times their largest distance from the centre, so the animal fills the view.
    zoom
        :data:`FIT`; :data:`FRAME` (the whole frame, centred on it; the sampled
        keypoint too when it lies off the frame); or a magnification of
        :data:`MAGNIFICATIONS` (display pixels per video pixel), the window then
        placed on the video pixel grid so that at whole magnifications each video
        pixel is shown by whole display pixels (the keypoint within half a video
        pixel of the centre).
    display_size
        Side of the square rendered image in pixels.

    Returns
    -------
    CropView

    Raises
    ------
    ValueError
        ``zoom`` is none of these.
    """
    height, width = int(frame_shape[0]), int(frame_shape[1])
    zoom = parse_zoom(zoom) or _not_a_zoom(zoom)
    center = np.asarray(center_xy, dtype=float)
    if np.isnan(center).any():
        center = np.array([(width - 1) / 2, (height - 1) / 2])
    if zoom == FIT:
        extent = animal_extent(keypoints_xy, center) if keypoints_xy is not None else 0.0
        side = 2.5 * extent if extent > 0 else float(max(height, width))
        side = min(max(side, MIN_CROP_PX * 2), float(max(height, width)))
        scale = side / display_size
        x0, y0 = center - side / 2 + scale / 2
    elif zoom == FRAME:
        middle = np.array([(width - 1) / 2, (height - 1) / 2])
        side = float(max(height, width))
        if not np.isnan(np.asarray(center_xy, dtype=float)).any():  # a keypoint off the frame
            side = max(side, 2 * (float(np.abs(center - middle).max()) + FRAME_MARGIN_PX))
        scale = side / display_size
        x0, y0 = middle - side / 2 + scale / 2
    else:
        scale = 1 / float(zoom)
        side = display_size * scale
        # Display pixel u shows x0 + u * scale; x0 = k - 1/2 + scale/2 puts the display
        # pixels' centres symmetrically inside video pixels (k whole).
        x0, y0 = np.round(center - side / 2 + 0.5) - 0.5 + scale / 2
    # The window [x0 - scale/2, x0 + (display_size - 1/2) * scale] is ``side`` wide
    # (x0 is the centre of display pixel 0, half a pixel in).
    return CropView(
        x0=float(x0),
        y0=float(y0),
        scale=float(scale),
        display_width=int(display_size),
        display_height=int(display_size),
        frame_width=width,
        frame_height=height,
    )


def _not_a_zoom(zoom: object) -> str:
    raise ValueError(f"not a zoom: {zoom!r} (one of {', '.join(ZOOMS)})")


def step_zoom(
    zoom: str | float,
    direction: int,
    frame_shape: Sequence[int],
    center_xy: Sequence[float],
    keypoints_xy: np.ndarray | None = None,
    display_size: int = 560,
) -> str:
    """The zoom one step in (``direction`` > 0) or out (< 0) from ``zoom`` for this sample.

    In: the smallest magnification of :data:`MAGNIFICATIONS` above the one shown
    now (``zoom`` itself at the largest). Out: the largest one below it that still
    shows less than the whole frame, else :data:`FRAME` (the farthest out).
    From :data:`FIT` or :data:`FRAME`, the magnification they have for this sample
    and view size counts.

    Returns
    -------
    str
        One of :data:`ZOOMS`.
    """
    zoom = parse_zoom(zoom) or _not_a_zoom(zoom)
    shown = 1 / crop_for_sample(frame_shape, center_xy, keypoints_xy, zoom, display_size).scale
    whole = 1 / crop_for_sample(frame_shape, center_xy, keypoints_xy, FRAME, display_size).scale
    tolerance = 1e-6
    if direction > 0:
        larger = [m for m in MAGNIFICATIONS if m > shown * (1 + tolerance)]
        return f"{larger[0]:g}" if larger else zoom
    if direction < 0:
        smaller = [
            m for m in MAGNIFICATIONS if whole * (1 + tolerance) < m < shown * (1 - tolerance)
        ]
        return f"{smaller[-1]:g}" if smaller else FRAME
    return zoom


def _pt(view: CropView, xy, shift: int) -> tuple[int, int]:
    """``xy`` (video) as OpenCV's fixed-point drawing coordinates (``shift`` fractional bits).

    OpenCV draws pixel-centre based, as :meth:`CropView.frame_to_pixel` counts.
    """
    u, v = view.frame_to_pixel(float(xy[0]), float(xy[1]))
    return (int(round(u * (1 << shift))), int(round(v * (1 << shift))))


def render_view(
    frame_rgb: np.ndarray,
    view: CropView,
    *,
    target_xy: Sequence[float],
    keypoints_xy: np.ndarray | None = None,
    edges: Sequence[tuple[int, int]] = (),
    annotation_xy: Sequence[float] | None = None,
    colours: Sequence[tuple[int, int, int]] | None = None,
) -> np.ndarray:
    """Render the crop with its markers.

    Parameters
    ----------
    frame_rgb
        ``(H, W, 3)`` uint8 video frame.
    view
        The window (:func:`crop_for_sample`).
    target_xy
        Detected position of the sampled keypoint: a yellow open circle.
    keypoints_xy
        ``(K, 2)`` every keypoint of the frame, drawn faintly with ``edges``
        (index pairs) as the skeleton.
    annotation_xy
        The clicked position, if any: a red X.
    colours
        ``K`` RGB colours of the keypoints (default: one faint blue), e.g. from
        :func:`kpcal_core.charts.bodypart_colours`, so a dot has its bodypart's
        colour on the charts too.

    Returns
    -------
    numpy.ndarray
        ``(display_height, display_width, 3)`` uint8 RGB image.
    """
    # Display pixel (u, v) samples the frame at video position (x0 + u*scale, y0 + v*scale):
    # that map given as is (WARP_INVERSE_MAP), both sides pixel-centre based as OpenCV counts.
    # warpAffine interpolates bilinearly (it has no area averaging: INTER_AREA would be
    # taken as INTER_LINEAR), with source positions rounded to 1/32 pixel.
    inverse = np.array([[view.scale, 0.0, view.x0], [0.0, view.scale, view.y0]])
    image = cv2.warpAffine(
        frame_rgb,
        inverse,
        (view.display_width, view.display_height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    _stripe_padding(image, view, frame_rgb.shape)
    shift = 4
    if keypoints_xy is not None:
        overlay = image.copy()
        valid = ~np.isnan(keypoints_xy).any(axis=1)
        for i, j in edges:
            if valid[i] and valid[j]:
                cv2.line(
                    overlay,
                    _pt(view, keypoints_xy[i], shift),
                    _pt(view, keypoints_xy[j], shift),
                    FAINT,
                    1,
                    cv2.LINE_AA,
                    shift,
                )
        for k in np.flatnonzero(valid):
            cv2.circle(
                overlay,
                _pt(view, keypoints_xy[k], shift),
                3 << shift,
                FAINT if colours is None else tuple(int(c) for c in colours[int(k)]),
                -1,
                cv2.LINE_AA,
                shift,
            )
        image = cv2.addWeighted(overlay, 0.6, image, 0.4, 0)
    if not np.isnan(np.asarray(target_xy, dtype=float)).any():
        cv2.circle(image, _pt(view, target_xy, shift), 9 << shift, YELLOW, 2, cv2.LINE_AA, shift)
    if annotation_xy is not None:
        cx, cy = _pt(view, annotation_xy, shift)
        arm = 7 << shift
        for dx, dy in ((arm, arm), (arm, -arm)):
            cv2.line(image, (cx - dx, cy - dy), (cx + dx, cy + dy), RED, 2, cv2.LINE_AA, shift)
    return image


def _stripe_padding(image: np.ndarray, view: CropView, frame_shape: Sequence[int]) -> None:
    """Draw diagonal stripes on display pixels that show no video (off the frame), in place."""
    height, width = int(frame_shape[0]), int(frame_shape[1])
    x = view.x0 + np.arange(image.shape[1]) * view.scale
    y = view.y0 + np.arange(image.shape[0]) * view.scale
    off_x = (x < -0.5) | (x > width - 0.5)
    off_y = (y < -0.5) | (y > height - 0.5)
    if off_x.any() or off_y.any():
        rows, cols = np.nonzero(off_y[:, None] | off_x[None, :])
        stripe = ((rows + cols) // 6) % 2
        image[rows, cols] = np.asarray(PADDING_TONES, dtype=np.uint8)[stripe]


def encode_jpeg(image_rgb: np.ndarray, quality: int = 85) -> bytes:
    """JPEG bytes of an RGB image (what the browser receives)."""
    buffer = io.BytesIO()
    Image.fromarray(image_rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def skeleton_edges(
    bodyparts: Sequence[str], skeleton: Sequence[Sequence[str]]
) -> list[tuple[int, int]]:
    """Index pairs of the skeleton's edges whose two bodyparts are both known."""
    index = {b: i for i, b in enumerate(bodyparts)}
    return [(index[a], index[b]) for a, b in skeleton if a in index and b in index]
